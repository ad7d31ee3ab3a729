"""The knowledge base: front matter rules (each problem at its file and line), the strict build failing on them,
every shipped article passing them, the index pages by queue and tag, and the facts the articles must get right."""

from __future__ import annotations

import datetime as dt
import re
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[2]
KB = ROOT / "kb"
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import dp0_kb  # noqa: E402 - the extension module lives beside the docs, not in a package

QUEUES = [q["slug"] for q in yaml.safe_load((ROOT / "helpdesk" / "data" / "queues.yaml").read_text())["queues"]]
TODAY = dt.date(2026, 12, 1)

GOOD = """\
---
title: My TAP query is slow
release: DP0.2
queues: [catalogs]
tags: [tap, qserv]
reviewed: 2026-11-30
---
# My TAP query is slow

Constrain position; see {ref}`howto-query-tap`.
"""


def problems(text: str) -> list[tuple[int, str]]:
    return [(p.line, p.message) for p in dp0_kb.check_article(text, QUEUES, today=TODAY).problems]


def articles() -> list[Path]:
    return sorted(p for p in KB.glob("*.md") if p.name != "index.md")


# --- the rules ------------------------------------------------------------------------------------


def test_a_good_article_has_no_problem_and_gives_its_fields() -> None:
    article = dp0_kb.check_article(GOOD, QUEUES, today=TODAY)
    assert article.problems == []
    assert (article.title, article.release, article.queues, article.tags) == (
        "My TAP query is slow", "DP0.2", ["catalogs"], ["tap", "qserv"])
    assert article.reviewed == dt.date(2026, 11, 30)


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("queues: [catalogs]", "queues: [catalog]", 4, "unknown queue 'catalog'"),
        ("queues: [catalogs]", "queues: catalogs", 4, "must be a list"),
        ("queues: [catalogs]", "queues: []", 4, "at least one"),
        ("release: DP0.2", "release: DP0.3", 3, "'release' must be one of"),
        ("tags: [tap, qserv]", "tags: [tap, Qserv]", 5, "must be lower case"),
        ("tags: [tap, qserv]", "tags: [tap, tap]", 5, "listed twice"),
        ("reviewed: 2026-11-30", "reviewed: 2027-01-01", 6, "in the future"),
        ("reviewed: 2026-11-30", "reviewed: last week", 6, "YYYY-MM-DD"),
        ("title: My TAP query is slow\n", "", 6, "missing field 'title'"),  # the closing '---' moved up
        ("reviewed: 2026-11-30\n", "reviewed: 2026-11-30\nqueue: [catalogs]\n", 7, "unknown field 'queue'"),
        ("tags: [tap, qserv]", "tags: [tap, qserv", 6, "not valid YAML"),
        ("# My TAP query is slow", "# My query is slow", 8, "differs from the title"),
        ("see {ref}`howto-query-tap`.", "see the how-to page.", 8, "links no page"),
        ("see {ref}`howto-query-tap`.", "see [the guide](https://dp0-2.lsst.io).\n\n# Second", 12, "only one '# '"),
    ],
)
def test_each_rule_names_the_line(old: str, new: str, line: int, words: str) -> None:
    assert old in GOOD
    found = problems(GOOD.replace(old, new, 1))
    assert any(n == line and words in message for n, message in found), found


def test_front_matter_must_open_and_close() -> None:
    assert problems("# Just a heading\n") == [(1, problems("# Just a heading\n")[0][1])]
    assert "not closed" in problems("---\ntitle: x\n# x\n")[0][1]


def test_headings_inside_code_blocks_do_not_count() -> None:
    text = GOOD + "\n```bash\n# a shell comment, not a heading\n```\n"
    assert problems(text) == []


# --- the strict build fails on a bad article, at its file and line ----------------------------------


def test_strict_build_fails_with_the_file_and_line(tmp_path: Path) -> None:
    from sphinx.cmd.build import build_main

    src = tmp_path / "src"
    (src / "kb").mkdir(parents=True)
    (src / "conf.py").write_text(
        textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {str(ROOT / "docs" / "_ext")!r})
            extensions = ["myst_parser", "dp0_kb"]
            root_doc = "kb/index"
            exclude_patterns = ["out/**"]
        """)
    )
    (src / "kb" / "index.md").write_text("# Knowledge base\n\n```{toctree}\n:glob:\n\n*\n```\n")
    (src / "kb" / "good.md").write_text(GOOD.replace("{ref}`howto-query-tap`", "<https://dp0.lsst.io>"))
    (src / "kb" / "bad.md").write_text(GOOD.replace("queues: [catalogs]", "queues: [tap]").replace(
        "{ref}`howto-query-tap`", "<https://dp0.lsst.io>"))
    warnings = tmp_path / "warnings.txt"
    status = build_main(["-W", "--keep-going", "-q", "-w", str(warnings), "-b", "html", str(src), str(tmp_path / "out")])
    text = warnings.read_text()
    assert status != 0
    assert re.search(r"kb/bad\.md:4: WARNING: knowledge-base front matter: unknown queue 'tap'", text), text
    assert "good.md" not in text


# --- the shipped articles -------------------------------------------------------------------------


def test_every_article_passes_and_there_are_at_least_thirty() -> None:
    found = articles()
    assert len(found) >= 30
    for path in found:
        article = dp0_kb.check_article(path.read_text(encoding="utf-8"), QUEUES)
        assert article.problems == [], (path.name, article.problems)
        assert article.release in ("DP0.1", "DP0.2", "both") and article.reviewed is not None


def test_search_reads_the_same_front_matter_and_skips_the_index_pages() -> None:
    from helpdesk.search.documents import iter_kb

    documents = list(iter_kb(KB))
    assert len(documents) == len(articles())
    assert not any("index" in d.path for d in documents)
    by_path = {d.path: d for d in documents}
    doc = by_path["/docs/kb/extendedness.html"]
    assert doc.title == "Telling stars from galaxies with extendedness"
    assert doc.queues == ["pipelines", "catalogs"] and "refextendedness" in doc.tags


def test_index_pages_list_every_article_under_each_queue_and_tag(built_docs: Path) -> None:
    queues_page = BeautifulSoup((built_docs / "kb" / "queues" / "index.html").read_text(), "html.parser")
    tags_page = BeautifulSoup((built_docs / "kb" / "tags" / "index.html").read_text(), "html.parser")

    def listed(page: BeautifulSoup, label: str) -> set[str]:
        section = page.find(id=label)
        assert section is not None, label
        return {a["href"].split("#")[0].rsplit("/", 1)[-1] for a in section.select("li a")}

    for path in articles():
        article = dp0_kb.check_article(path.read_text(encoding="utf-8"), QUEUES)
        page = path.with_suffix(".html").name
        for slug in article.queues:
            assert page in listed(queues_page, f"kb-queue-{slug}"), (page, slug)
        for tag in article.tags:
            assert page in listed(tags_page, dp0_kb.nodes.make_id(f"kb-tag-{tag}")), (page, tag)
    for slug in QUEUES:
        assert queues_page.find(id=f"kb-queue-{slug}") is not None


def test_article_pages_show_release_queues_tags_and_review_date(built_docs: Path) -> None:
    page = BeautifulSoup((built_docs / "kb" / "truth-matching.html").read_text(), "html.parser")
    meta = page.select_one("article .dp0-kb-meta")
    text = meta.get_text(" ", strip=True)
    assert "Applies to" in text and "DP0.1 and DP0.2" in text and "Reviewed" in text and "2026-12-01" in text
    hrefs = [a["href"] for a in meta.select("a")]
    assert "queues/index.html#kb-queue-catalogs" in hrefs
    assert "tags/index.html#kb-tag-truth" in hrefs


# --- facts the articles and pages must get right ----------------------------------------------------


def kb_text(name: str) -> str:
    return (KB / name).read_text(encoding="utf-8")


def page_text(built: Path, page: str) -> str:
    return BeautifulSoup((built / page).read_text(encoding="utf-8"), "html.parser").select_one("article").get_text(" ")


def test_articles_state_the_corrected_facts() -> None:
    assert "quasar" not in kb_text("extendedness.md").split("no quasars")[0]
    assert "no active galactic nuclei" in kb_text("extendedness.md")
    assert "2024" in kb_text("dp01-or-dp02.md") and "science-ready" in kb_text("dp01-or-dp02.md")
    login = kb_text("login-refused-not-authorized.md")
    assert "authorized groups" in login and "CILogon" in login and "authorised" not in login
    assert "5 days" in kb_text("notebook-server-stopped.md") and "25 days" in kb_text("notebook-server-stopped.md")
    seats = kb_text("seats-and-waitlist.md")
    assert "weighted random draw" in seats and "every petition was accepted" in seats
    assert "is_unique_truth_entry" in kb_text("truth-matching.md")
    assert "community.lsst.org/c/support/dp0/49" in kb_text("where-to-ask-for-help.md")
    assert "github.com/rubin-dp0/Support" in kb_text("reporting-a-bug.md")


def test_pages_state_the_corrected_facts(built_docs: Path) -> None:
    portal = page_text(built_docs, "docs/how-to/use-portal.html")
    assert "ObsTAP" in portal and "no image search or cutouts" not in portal
    releases = page_text(built_docs, "docs/reference/releases.html")
    assert "SODA" in releases and "2024" in releases and "src" in releases
    services = page_text(built_docs, "docs/explanation/services.html")
    assert "ObsTAP" in services and "CILogon" in services and "the only way to reach the images" not in services
    limits = page_text(built_docs, "docs/reference/limits.html")
    assert "5 GB" in limits and "2 GB" in limits and "5 days" in limits and "25 days" in limits
    assert "/project" in limits and "engineering data, not\n  science-ready releases" not in limits
    assert "qserv.lsst.io" in limits
    help_page = BeautifulSoup((built_docs / "docs/how-to/get-help.html").read_text(), "html.parser")
    links = {a["href"] for a in help_page.select("article a")}
    assert "https://community.lsst.org/c/support/dp0/49" in links
    assert "DP0 workspace" not in help_page.get_text()
    assert "rubin-dp0/Support" in page_text(built_docs, "docs/how-to/report-a-bug.html")
    sign_in = page_text(built_docs, "docs/how-to/sign-in-github.html")
    assert "CILogon" in sign_in and "authorized groups" in sign_in
    access = page_text(built_docs, "docs/explanation/access.html")
    assert "weighted random draw" in access and "every petition was accepted" in " ".join(access.split())
    milestones = page_text(built_docs, "docs/reference/milestones.html")
    assert "name the milestone's level" not in milestones and "L2-DP-0030" in milestones
    glossary = page_text(built_docs, "docs/reference/glossary.html")
    assert "Lens 2" in glossary and "System Performance" in glossary and "Community Engagement" in glossary
    truth_match = page_text(built_docs, "docs/reference/catalogs/dp01/truth_match.html")
    assert "is_unique_truth_entry" in truth_match.split("How it joins")[0]
    butler = page_text(built_docs, "docs/reference/butler-dp02.html")
    assert "2.2i/runs/DP0.2" in butler and "goodSeeingDiff_differenceExp" in butler and "objectTable" in butler
    api = page_text(built_docs, "docs/how-to/use-api-remotely.html")
    assert "TOPCAT" in api and "PyVO" in api and "token" in api and "SODA" in api
