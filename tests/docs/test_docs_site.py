"""The documentation site: generated pages hold every fact of their data files, and every page can be asked about."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "docs" / "_data"
SCHEMAS = DATA / "schemas"
CATALOG_RELEASES = {
    "dp01": (
        "dp01_dc2.yaml",
        "dp01_dc2_catalogs",
        {"object", "truth_match", "position", "reference", "forced_photometry"},
    ),
    "dp02": (
        "dp02_dc2.yaml",
        "dp02_dc2_catalogs",
        {
            "Object",
            "Source",
            "ForcedSource",
            "DiaObject",
            "DiaSource",
            "ForcedSourceOnDiaObject",
            "Visit",
            "CcdVisit",
            "CoaddPatches",
            "TruthSummary",
            "MatchesTruth",
        },
    ),
}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def soup(built: Path, page: str) -> BeautifulSoup:
    return BeautifulSoup((built / page).read_text(encoding="utf-8"), "html.parser")


def article(built: Path, page: str) -> BeautifulSoup:
    return soup(built, page).select_one("article.bd-article")


def first_column(table) -> list[str]:
    return [row.find("td").get_text(strip=True) for row in table.select("tbody tr")]


# --- the data files -------------------------------------------------------------------------------


def test_data_files_hold_every_fact_of_the_planning_note() -> None:
    dataset_types = load(DATA / "butler-dataset-types.yaml")["dataset_types"]
    assert len(dataset_types) == 40
    assert len({d["name"] for d in dataset_types}) == 40
    origins = load(DATA / "butler-dataset-types.yaml")["origins"]
    assert all(d["count"] > 0 and d["origin"] and set(d["origin"]) <= set(origins) for d in dataset_types)

    milestones = load(DATA / "milestones.yaml")["milestones"]
    assert len(milestones) == 32
    assert len({m["jira"] for m in milestones}) == 32 and len({m["rubin"] for m in milestones}) == 32
    assert sum(m["table"] == "open" for m in milestones) == 22
    assert sum(m["table"] == "achieved" for m in milestones) == 10

    acronyms = load(DATA / "acronyms.yaml")["acronyms"]
    assert len(acronyms) == 53
    assert all(isinstance(v, str) and v.strip() for v in acronyms.values())


def test_schema_files_ship_with_their_licence() -> None:
    for name in ("dp01_dc2.yaml", "dp02_dc2.yaml", "dp02_dc2.mmd", "LICENSE", "COPYRIGHT"):
        assert (SCHEMAS / name).is_file(), name
    assert "GNU GENERAL PUBLIC LICENSE" in (SCHEMAS / "LICENSE").read_text()
    for release, (filename, tap_schema, tables) in CATALOG_RELEASES.items():
        schema = load(SCHEMAS / filename)
        assert schema["name"] == tap_schema
        assert {t["name"] for t in schema["tables"]} == tables, release


def test_catalog_key_columns_exist() -> None:
    keys = load(DATA / "catalog-keys.yaml")["releases"]
    for release, info in keys.items():
        schema = {t["name"]: {c["name"] for c in t["columns"]} for t in load(SCHEMAS / info["schema_file"])["tables"]}
        assert set(info["tables"]) == set(schema)
        for table, spec in info["tables"].items():
            assert set(spec["key"]) <= schema[table], (release, table)
        for join in info.get("joins", []):
            assert join["columns"][0] in schema[join["left"]] and join["columns"][1] in schema[join["right"]]


# --- the built site -------------------------------------------------------------------------------


def test_every_dataset_type_appears_with_its_count(built_docs: Path) -> None:
    table = article(built_docs, "docs/reference/butler-datasets.html").select_one("table.dp0-dataset-types")
    shown = {}
    for row in table.select("tbody tr"):
        cells = [td.get_text(" ", strip=True) for td in row.find_all("td")]
        shown[cells[0]] = int(cells[1].replace(",", ""))
    expected = {d["name"]: d["count"] for d in load(DATA / "butler-dataset-types.yaml")["dataset_types"]}
    assert shown == expected
    assert shown["raw"] == 3652567 and shown["deepCoadd_det_schema"] == 3


def test_every_milestone_appears(built_docs: Path) -> None:
    page = article(built_docs, "docs/reference/milestones.html")
    text = page.get_text(" ")
    rows = page.select("table.dp0-milestones tbody tr")
    assert len(rows) == 32
    for m in load(DATA / "milestones.yaml")["milestones"]:
        assert m["jira"] in text and m["rubin"] in text, m
    svg = page.select_one(".dp0-timeline-figure svg")
    assert svg is not None and len(svg.find_all("circle")) >= 32


def test_every_acronym_is_a_glossary_term(built_docs: Path) -> None:
    page = article(built_docs, "docs/reference/glossary.html")
    terms = {dt.get_text(strip=True).rstrip("¶#") for dt in page.select("dl.glossary dt")}
    acronyms = load(DATA / "acronyms.yaml")["acronyms"]
    assert set(acronyms) <= terms
    # Pages link terms with the {term} role.
    home = soup(built_docs, "docs/index.html")
    assert home.select('a[href$="reference/glossary.html#term-DP0"]')


@pytest.mark.parametrize("release", sorted(CATALOG_RELEASES))
def test_every_table_and_column_appears(built_docs: Path, release: str) -> None:
    filename, tap_schema, tables = CATALOG_RELEASES[release]
    schema = load(SCHEMAS / filename)
    index = article(built_docs, f"docs/reference/catalogs/{release}/index.html")
    assert tap_schema in index.get_text()
    for table in schema["tables"]:
        page = article(built_docs, f"docs/reference/catalogs/{release}/{table['name'].lower()}.html")
        assert table["name"] in page.find("h1").get_text()
        assert f"{tap_schema}.{table['name']}" in page.get_text()
        columns = first_column(page.select_one("table.dp0-columns"))
        assert columns == [c["name"] for c in table["columns"]], table["name"]


def test_relationship_diagram_is_rendered_without_javascript(built_docs: Path) -> None:
    page = soup(built_docs, "docs/reference/catalogs/index.html")
    svg = page.select_one(".dp0-er-diagram svg")
    assert svg is not None
    names = {t.get_text() for t in svg.find_all("text")}
    assert {"Object", "DiaObject", "CcdVisit", "TruthSummary"} <= names
    assert not page.find("script", src=re.compile("mermaid"))


def test_queue_page_lists_the_six_queues(built_docs: Path) -> None:
    queues = load(ROOT / "helpdesk" / "data" / "queues.yaml")["queues"]
    assert len(queues) == 6
    page = article(built_docs, "docs/reference/queues.html")
    rows = page.select("table.dp0-queues tbody tr")
    assert len(rows) == 6
    text = page.get_text(" ")
    for queue in queues:
        assert queue["name"] in text and queue["slug"] in text
        assert f"{queue['first_response_hours']} hours" in text


def test_settings_cli_and_api_pages_come_from_the_code(built_docs: Path) -> None:
    from helpdesk.api.openapi import build_openapi
    from helpdesk.cli import cli
    from helpdesk.config import Settings

    settings = article(built_docs, "docs/reference/settings.html").get_text(" ")
    for name in Settings.model_fields:
        assert f"HELPDESK_{name.upper()}" in settings

    import click

    cli_text = article(built_docs, "docs/reference/cli.html").get_text(" ")

    def walk(group: click.Group, prefix: str) -> None:
        ctx = click.Context(group, info_name=prefix)
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert f"{prefix} {name}" in cli_text
            if isinstance(command, click.Group):
                walk(command, f"{prefix} {name}")

    walk(cli, "helpdesk")

    api_text = article(built_docs, "docs/reference/http-api.html").get_text(" ")
    for path, item in build_openapi()["paths"].items():
        for method in item:
            if method in {"get", "post", "put", "patch", "delete"}:
                assert f"{method.upper()} /api/v1{path}" in api_text


def test_every_page_has_an_ask_link_with_the_right_target(built_docs: Path) -> None:
    pages = sorted((built_docs / "docs").rglob("*.html"))
    assert len(pages) > 40
    for path in pages:
        html = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
        links = html.select("a.dp0-ask-link")
        assert links, path
        title = html.find("h1").get_text().rstrip("#¶").strip()
        for link in links:
            assert link.get_text(strip=True) == "Ask about this page"
            url = urlsplit(link["href"])
            assert url.path == "/tickets/new"
            query = parse_qs(url.query)
            assert query["page"] == ["/docs/" + path.relative_to(built_docs).as_posix()]
            assert query["subject"] == [f"Question about: {title}"]
    diaobject = soup(built_docs, "docs/reference/catalogs/dp02/diaobject.html").select_one("a.dp0-ask-link")
    assert diaobject["href"] == (
        "/tickets/new?page=%2Fdocs%2Fdocs%2Freference%2Fcatalogs%2Fdp02%2Fdiaobject.html"
        "&subject=Question%20about%3A%20DiaObject%20%28DP0.2%29"
    )


def test_site_root_redirects_to_the_home_page(built_docs: Path) -> None:
    root = (built_docs / "index.html").read_text(encoding="utf-8")
    assert 'http-equiv="refresh"' in root and "url=docs/index.html" in root
    assert (built_docs / "docs" / "index.html").is_file()


def test_search_index_knows_the_tables(built_docs: Path) -> None:
    index = (built_docs / "searchindex.js").read_text(encoding="utf-8")
    for name in ("DiaObject (DP0.2)", "truth_match (DP0.1)", "Support queues"):
        assert name in index


def test_slack_manifest_matches_the_routes() -> None:
    manifest = load(ROOT / "docs" / "_static" / "slack-app-manifest.yaml")
    assert manifest["settings"]["event_subscriptions"]["request_url"].endswith("/integrations/slack/events")
    assert manifest["settings"]["interactivity"]["request_url"].endswith("/integrations/slack/interactions")
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/dp0-help" and command["url"].endswith("/integrations/slack/commands")
    assert manifest["features"]["shortcuts"][0]["callback_id"] == "file_ticket"
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "chat:write",
        "commands",
        "channels:history",
        "groups:history",
        "im:history",
        "app_mentions:read",
        "users:read",
        "users:read.email",
    }


# --- the ADQL examples use real tables and columns -----------------------------------------------

ADQL_WORDS = {
    "select",
    "from",
    "where",
    "and",
    "or",
    "as",
    "join",
    "on",
    "order",
    "by",
    "top",
    "contains",
    "point",
    "circle",
    "polygon",
    "scisql_nanojanskytoabmag",
    "asc",
    "desc",
    "not",
    "null",
    "is",
}


def adql_blocks(markdown: str) -> list[str]:
    return re.findall(r"```sql\n(.*?)```", markdown, flags=re.S)


def test_adql_examples_use_real_column_names() -> None:
    columns = {}
    for filename, tap_schema, _tables in CATALOG_RELEASES.values():
        for table in load(SCHEMAS / filename)["tables"]:
            columns[f"{tap_schema}.{table['name']}"] = {c["name"] for c in table["columns"]}
    sources = [ROOT / "docs" / "how-to" / "query-tap.md", ROOT / "docs" / "tutorials" / "first-query.md"]
    blocks = [b for s in sources for b in adql_blocks(s.read_text())]
    blocks += re.findall(r'query = """\n(.*?)"""', (ROOT / "docs" / "tutorials" / "first-query.md").read_text(), re.S)
    assert len(blocks) >= 7
    for block in blocks:
        code = re.sub(r"'[^']*'", "", block)
        tables = dict(re.findall(r"(dp0[12]_dc2_catalogs\.\w+)(?:\s+AS\s+(\w+))?", code))
        assert tables and set(tables) <= set(columns), block
        aliases = {alias: name for name, alias in tables.items() if alias}
        everything = set().union(*(columns[t] for t in tables))
        for token in re.findall(r"[A-Za-z_][\w.]*", code):
            if token in tables or token.lower() in ADQL_WORDS or token in aliases:
                continue
            if "." in token:
                alias, column = token.split(".", 1)
                assert column in columns[aliases[alias]], (token, block)
            else:
                assert token in everything, (token, block)


def test_access_pages_link_to_the_signup_form(built_docs: Path) -> None:
    for page in ("docs/how-to/get-access.html", "docs/explanation/access.html"):
        assert article(built_docs, page).select('a[href="/signup"]'), page
