"""``helpdesk kb``: rebuild and query the search index."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from helpdesk.exceptions import HelpdeskError
from helpdesk.search.documents import GLOSSARY

#: Where `make run`, CI and the Docker image build the documentation and keep the articles.
DEFAULT_KB_DIR = Path("kb")


@click.group("kb")
def kb() -> None:
    """The knowledge base and documentation search."""


@kb.command("index")
@click.option("--kb-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_KB_DIR,
              show_default=True, help="Knowledge-base articles (MyST Markdown with front matter).")
@click.option("--docs-dir", type=click.Path(file_okay=False, path_type=Path),
              help="The built documentation; default HELPDESK_DOCS_DIR.")
@click.option("--glossary", type=click.Path(dir_okay=False, path_type=Path), default=GLOSSARY, show_default=True,
              help="The glossary whose acronyms are searched as synonyms of their expansions.")
@click.option("--full", is_flag=True, help="Read every file again instead of only those that changed.")
def kb_index(kb_dir: Path, docs_dir: Path | None, glossary: Path, full: bool) -> None:
    """Bring the search index up to date with kb/ and the built documentation.

    Only files changed since the last build are read again (a manifest of their times, sizes and hashes is
    kept with the index); the new index is built beside the old one and swapped in at once.
    """
    from helpdesk.cli.context import cli_context
    from helpdesk.search.documents import iter_sources, load_acronyms
    from helpdesk.search.services import SearchService

    settings = cli_context().settings
    docs_dir = docs_dir or settings.docs_dir
    if not kb_dir.is_dir():
        raise click.ClickException(f"No knowledge base at {kb_dir}; pass --kb-dir.")
    if not (docs_dir / "docs").is_dir():
        raise click.ClickException(f"No built documentation at {docs_dir}; run `make docs` first.")
    acronyms = load_acronyms(glossary) if glossary.is_file() else {}
    if not acronyms:
        click.echo(f"No glossary at {glossary}: acronyms are searched as plain words.", err=True)
    sources = list(iter_sources(kb_dir, docs_dir))
    service = SearchService(settings.index_dir)
    if full:
        service.rebuild([])  # an empty index without a manifest: the refresh below reads every file
    with click.progressbar(length=len(sources), label="Indexing", file=sys.stderr,
                           item_show_func=lambda key: key) as bar:
        def step(source, _status) -> None:  # type: ignore[no-untyped-def]
            bar.update(1, source.key)

        report = service.refresh(sources, progress=step, acronyms=acronyms)
    kb_count = sum(1 for s in sources if s.kind == "kb")
    click.echo(f"Indexed {report.documents} pages ({kb_count} knowledge-base articles) into {settings.index_dir}: "
               f"{report.read} files read, {report.unchanged} unchanged, {report.removed} removed"
               + ("" if report.swapped else "; nothing changed, the index is as it was") + ".")


@kb.command("search")
@click.argument("query")
@click.option("--limit", default=5, show_default=True, type=click.IntRange(1, 50), help="How many results.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {title, url, kind, score, snippet}.")
@click.option("--audience", type=click.Choice(["staff", "delegates"]), default="staff", show_default=True,
              help="Whose results: `delegates` leaves out the operator pages, as the API does for non-staff.")
def kb_search(query: str, limit: int, as_json: bool, audience: str) -> None:
    """Search the knowledge base and the documentation (QUERY may be a whole question)."""
    from helpdesk.cli.context import cli_context
    from helpdesk.search.services import SearchService

    try:
        result = SearchService(cli_context().settings.index_dir).search(query, limit, audience)
    except HelpdeskError as exc:
        raise click.ClickException(exc.message) from exc
    hits = result.hits
    if result.suggestion and not as_json:
        click.echo(f"Did you mean: {result.suggestion}")
    if as_json:
        click.echo(json.dumps([hit.to_dict() for hit in hits], indent=2))
        return
    if not hits:
        click.echo("No matches.")
    for number, hit in enumerate(hits, 1):
        click.echo(f"{number}. [{hit.kind}] {hit.title}  ({hit.score:.2f})\n   {hit.url}\n   {hit.snippet}")
