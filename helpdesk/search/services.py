"""The search service: one writer (``rebuild``, run from the CLI) and read-only queries.

Whoosh stays inside this module, so replacing the engine touches nothing else.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from whoosh import highlight, index, scoring
from whoosh.analysis import StemmingAnalyzer
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema
from whoosh.query import Or, Prefix, Query, Term

from helpdesk.exceptions import HelpdeskError, InvalidInputError
from helpdesk.search.documents import STAFF_ONLY_URLS, Document

#: A whole question, several paragraphs as people write them; longer is refused (422), not cut.
QUERY_MAX = 4000
#: The distinct words of a question that are searched: the rarest in the index, so the query stays small
#: and the words that tell pages apart decide (common words would match everything anyway).
TERMS_MAX = 24
LIMIT_MAX = 50
#: Who is asking: delegates do not get operator pages (STAFF_ONLY_URLS); staff get everything.
AUDIENCES = ("delegates", "staff")
_WORD = re.compile(r"\w+")

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

    def query(self, text: str, limit: int = 5, audience: str = "delegates") -> list[SearchHit]:
        """The best matches for ``text``, knowledge base and documentation together, best first.

        ``text`` may be a whole question: its words are stemmed, stop words dropped, and the
        :data:`TERMS_MAX` rarest of those the index knows are searched in titles, tags and bodies; a page
        matching more of them ranks higher. No query syntax: quotes, colons and operators are plain text.
        ``audience="delegates"`` leaves out the operator pages.

        Raises
        ------
        InvalidInputError
            An empty or overlong query, a limit out of range, or an unknown audience.
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
        if audience not in AUDIENCES:
            raise InvalidInputError(f"audience must be one of: {', '.join(AUDIENCES)}.")
        if not index.exists_in(self.index_dir):
            raise SearchUnavailableError("The search index has not been built yet; run `helpdesk kb index`.")
        ix = index.open_dir(self.index_dir)
        try:
            with ix.searcher(weighting=scoring.BM25F()) as searcher:
                query = _question_query(searcher, text)
                if query is None:
                    return []
                mask = Or([Prefix("path", url) for url in STAFF_ONLY_URLS]) if audience == "delegates" else None
                results = searcher.search(query, limit=max(limit * 3, 10), terms=True, mask=mask)
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


def _question_query(searcher: object, text: str) -> Query | None:
    """An OR of the question's most distinctive words over title, tags and body; None when none is indexed."""
    reader = searcher.reader()  # type: ignore[attr-defined]
    seen: dict[str, tuple[int, int, str]] = {}  # stem -> (documents containing it, first position, word)
    for position, word in enumerate(_WORD.findall(text.lower())):
        stems = [token.text for token in _analyzer(word, mode="query")]
        if not stems or stems[0] in seen:
            continue  # a stop word, or said before
        stem = stems[0]
        frequency = sum(reader.doc_frequency(field, value) for field, value in
                        (("title", stem), ("body", stem), ("tags", word)))
        if frequency:
            seen[stem] = (frequency, position, word)
    if not seen:
        return None
    rarest = sorted(seen.items(), key=lambda item: item[1][:2])[:TERMS_MAX]
    return Or([Or([Term("title", stem), Term("tags", word), Term("body", stem)])
               for stem, (_, _, word) in rarest], scale=0.9)
