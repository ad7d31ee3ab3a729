"""``helpdesk kb``: rebuild and query the search index."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from helpdesk.exceptions import HelpdeskError

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
def kb_index(kb_dir: Path, docs_dir: Path | None) -> None:
    """Rebuild the search index from kb/ and the built documentation."""
    from helpdesk.cli.context import cli_context
    from helpdesk.search.documents import iter_built_docs, iter_kb
    from helpdesk.search.services import SearchService

    settings = cli_context().settings
    docs_dir = docs_dir or settings.docs_dir
    if not kb_dir.is_dir():
        raise click.ClickException(f"No knowledge base at {kb_dir}; pass --kb-dir.")
    if not (docs_dir / "docs").is_dir():
        raise click.ClickException(f"No built documentation at {docs_dir}; run `make docs` first.")
    documents = [*iter_kb(kb_dir), *iter_built_docs(docs_dir)]
    with click.progressbar(length=len(documents), label="Indexing", file=sys.stderr) as bar:
        count = SearchService(settings.index_dir).rebuild(documents, progress=lambda _doc: bar.update(1))
    kb_count = sum(1 for d in documents if d.kind == "kb")
    click.echo(f"Indexed {count} pages ({kb_count} knowledge-base articles) into {settings.index_dir}.")


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
        hits = SearchService(cli_context().settings.index_dir).query(query, limit, audience)
    except HelpdeskError as exc:
        raise click.ClickException(exc.message) from exc
    if as_json:
        click.echo(json.dumps([hit.to_dict() for hit in hits], indent=2))
        return
    if not hits:
        click.echo("No matches.")
    for number, hit in enumerate(hits, 1):
        click.echo(f"{number}. [{hit.kind}] {hit.title}  ({hit.score:.2f})\n   {hit.url}\n   {hit.snippet}")
