"""The search service: one writer (``rebuild``, run from the CLI) and read-only queries.

Whoosh stays inside this module, so replacing the engine touches nothing else.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from whoosh import highlight, index, scoring
from whoosh.analysis import StemmingAnalyzer
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema
from whoosh.qparser import MultifieldParser, OrGroup

from helpdesk.exceptions import HelpdeskError, InvalidInputError
from helpdesk.search.documents import Document

QUERY_MAX = 300
LIMIT_MAX = 50

_analyzer = StemmingAnalyzer()
SCHEMA = Schema(
    path=ID(stored=True, unique=True),
    kind=ID(stored=True),
    title=TEXT(stored=True, analyzer=_analyzer, field_boost=3.0),
    tags=KEYWORD(stored=True, commas=True, lowercase=True, scorable=True, field_boost=2.0),
    queues=KEYWORD(stored=True, commas=True),
    body=TEXT(stored=True, analyzer=_analyzer),
    body_excerpt=STORED(),
)
#: Knowledge-base answers are short and written for exactly these questions: rank them a little higher.
KB_BOOST = 1.5


class SearchUnavailableError(HelpdeskError):
    status_code = 503
    code = "search_unavailable"


@dataclass(frozen=True)
class SearchHit:
    title: str
    url: str
    kind: str
    score: float
    snippet: str

    def to_dict(self) -> dict[str, object]:
        return {"title": self.title, "url": self.url, "kind": self.kind, "score": round(self.score, 3),
                "snippet": self.snippet}


class SearchService:
    """Searches the knowledge base and the documentation together."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)

    def rebuild(self, documents: Iterable[Document], progress: Callable[[Document], None] | None = None) -> int:
        """Build a new index beside the old one and swap it in, so searches never see half an index."""
        self.index_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".index-", dir=self.index_dir.parent))
        count = 0
        try:
            ix = index.create_in(staging, SCHEMA)
            writer = ix.writer()
            for document in documents:
                writer.update_document(
                    path=document.path, kind=document.kind, title=document.title, tags=",".join(document.tags),
                    queues=",".join(document.queues), body=document.body, body_excerpt=document.body[:400],
                )
                count += 1
                if progress:
                    progress(document)
            writer.commit()
            ix.close()
            old = self.index_dir.with_name(self.index_dir.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            if self.index_dir.exists():
                self.index_dir.rename(old)
            staging.rename(self.index_dir)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return count

    def query(self, text: str, limit: int = 5) -> list[SearchHit]:
        """The best matches for ``text``, knowledge base and documentation together, best first.

        Raises
        ------
        InvalidInputError
            An empty or overlong query, or a limit out of range.
        SearchUnavailableError
            The index has not been built (``helpdesk kb index``).
        """
        text = (text or "").strip()
        if not text:
            raise InvalidInputError("Type something to search for.")
        if len(text) > QUERY_MAX:
            raise InvalidInputError(f"Search for at most {QUERY_MAX} characters.")
        if not 1 <= limit <= LIMIT_MAX:
            raise InvalidInputError(f"limit must be between 1 and {LIMIT_MAX}.")
        if not index.exists_in(self.index_dir):
            raise SearchUnavailableError("The search index has not been built yet; run `helpdesk kb index`.")
        ix = index.open_dir(self.index_dir)
        try:
            parser = MultifieldParser(["title", "tags", "body"], schema=ix.schema, group=OrGroup.factory(0.9))
            query = parser.parse(text)
            with ix.searcher(weighting=scoring.BM25F()) as searcher:
                results = searcher.search(query, limit=max(limit * 3, 10), terms=True)
                results.fragmenter = highlight.ContextFragmenter(maxchars=200, surround=60)
                results.formatter = highlight.NullFormatter()
                hits = []
                for hit in results:
                    boost = KB_BOOST if hit["kind"] == "kb" else 1.0
                    snippet = hit.highlights("body", top=1) or hit["body_excerpt"][:200]
                    hits.append(SearchHit(hit["title"], hit["path"], hit["kind"], hit.score * boost,
                                          " ".join(snippet.split())))
        finally:
            ix.close()
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[:limit]
