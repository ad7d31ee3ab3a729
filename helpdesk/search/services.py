"""The search service: one writer (``refresh``/``rebuild``, run from the CLI) and read-only queries.

Whoosh stays inside this module, so replacing the engine touches nothing else.

On disk, ``index_dir`` is a symbolic link to one *generation* directory beside it (``<name>.gen-<n>``) that
holds the Whoosh files, ``manifest.json`` (which source file gave which pages, with its modification time,
size and SHA-256, so the next build re-reads only what changed) and ``synonyms.json`` (the glossary's
acronyms). A build writes a new generation in full, then replaces the link with one ``rename``: a reader in
another process opens either the old generation or the new one, never a half-written one. The previous
generation is kept one more build, for readers that opened it just before the swap.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whoosh import highlight, index, scoring
from whoosh.analysis import LowercaseFilter, RegexTokenizer, StemmingAnalyzer
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema
from whoosh.query import Or, Phrase, Prefix, Query, Term

from helpdesk.exceptions import HelpdeskError, InvalidInputError
from helpdesk.search.documents import STAFF_ONLY_URLS, Document, SourceFile, load_acronyms

#: A whole question, several paragraphs as people write them; longer is refused (422), not cut.
QUERY_MAX = 4000
#: The distinct words of a question that are searched: the rarest in the index, so the query stays small
#: and the words that tell pages apart decide (common words would match everything anyway).
TERMS_MAX = 24
LIMIT_MAX = 50
#: Who is asking: delegates do not get operator pages (STAFF_ONLY_URLS); staff get everything.
AUDIENCES = ("delegates", "staff")
#: Spelling suggestions are offered for searches of up to this many words: a short search with a typo is
#: worth a "did you mean"; a whole question is searched by its known words anyway.
SUGGEST_WORDS_MAX = 12
_WORD = re.compile(r"\w+")
_ALPHA = re.compile(r"^[a-z]{4,}$")
#: Bump when the schema or what is indexed changes: a manifest of another version means a full build.
INDEX_VERSION = 2
GENERATION = ".gen-"

_analyzer = StemmingAnalyzer()
#: Words as written (lowercased, unstemmed): the vocabulary spelling suggestions are drawn from.
_words = RegexTokenizer() | LowercaseFilter()
SCHEMA = Schema(
    path=ID(stored=True, unique=True),
    kind=ID(stored=True),
    title=TEXT(stored=True, analyzer=_analyzer, field_boost=4.0),
    headings=TEXT(analyzer=_analyzer, field_boost=2.0),
    tags=KEYWORD(stored=True, commas=True, lowercase=True, scorable=True, field_boost=2.0),
    queues=KEYWORD(stored=True, commas=True),
    body=TEXT(stored=True, analyzer=_analyzer),
    words=TEXT(analyzer=_words, phrase=False),
    body_excerpt=STORED(),
)
#: Knowledge-base answers are short and written for exactly these questions: rank them a little higher.
KB_BOOST = 1.3
#: DP0.1's catalogs left the TAP service in 2024 and its pages are kept for the record: unless a question
#: names DP0.1, the DP0.2 page on the same subject ranks first ("Object table columns" -> Object (DP0.2)).
DP01_PENALTY = 0.7
_DP01_URL = "/dp01/"
_DP01_WORDS = {"dp0.1", "dp01", "dp0_1"}
#: A page whose every title word is in the question is the page the question names ("Object table columns"
#: names Object (DP0.2); "DiaObject columns" names DiaObject): ranked up by this factor. A long reference page
#: otherwise loses to a short page that mentions the words in passing (BM25's length normalisation).
TITLE_NAMED = 1.8
#: A question's first line, when more follow, is its subject as the person summed it up: its words weigh more.
SUBJECT_BOOST = 2.0
#: Pages that list or define everything (the site's index pages, the glossary) match any question's words and
#: answer none: ranked down by this factor, still found when nothing else matches.
HUB_PENALTY = 0.5
_HUB_URLS = ("/index.html", "/reference/glossary.html")
#: Words of titles that say which release or what kind of page, not what it is about.
_TITLE_NOISE = {"dp0.1", "dp0.2", "dp0.3", "dp0", "dp01", "dp02"}
#: A best match scoring below this is "low": the question may have no article yet (the staff gap report).
#: From the relevance benchmark: 36 % of the questions no page answers score below it, and 11 % of those
#: whose answer was found. A coarse line (BM25 scores grow with the question's length), for sorting
#: candidates for staff to read, not for deciding anything on its own.
LOW_SCORE = 60.0


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


@dataclass(frozen=True)
class SearchResult:
    """The hits, best first, and a spelling suggestion (the whole search, corrected) or None."""

    hits: list[SearchHit]
    suggestion: str | None = None


@dataclass
class RefreshReport:
    """What ``refresh`` did: source files read again, left as they were, and gone; pages in the index."""

    read: int = 0
    unchanged: int = 0
    removed: int = 0
    documents: int = 0
    full: bool = False
    swapped: bool = False
    errors: list[str] = field(default_factory=list)


#: Open indexes by generation directory, shared by every SearchService of the process (opening an index
#: reads its table of contents: done once per generation, not once per search).
_OPEN: dict[Path, tuple[Any, list[tuple[str, list[str]]]]] = {}
_OPEN_LOCK = threading.Lock()


class SearchService:
    """Searches the knowledge base and the documentation together."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)

    # -- building ----------------------------------------------------------------------------------

    def rebuild(self, documents: Iterable[Document], progress: Callable[[Document], None] | None = None,
                acronyms: dict[str, str] | None = None) -> int:
        """Build a whole new index from ``documents`` and swap it in (no manifest: the next refresh is full)."""
        staging = self._staging()
        try:
            ix = index.create_in(staging, SCHEMA)
            writer = ix.writer()
            count = 0
            for document in documents:
                _add(writer, document)
                count += 1
                if progress:
                    progress(document)
            writer.commit()
            ix.close()
            self._finish(staging, {}, acronyms)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return count

    def refresh(self, sources: Iterable[SourceFile], progress: Callable[[SourceFile, str], None] | None = None,
                acronyms: dict[str, str] | None = None) -> RefreshReport:
        """Bring the index up to date with ``sources``, reading only the files that changed since the last build.

        A file whose modification time and size match the manifest is not opened; one whose time changed
        but whose content hash did not is not parsed again. The new index is written into a copy of the
        current one and swapped in whole. ``progress(source, "read" | "unchanged")`` is called per file.
        """
        report = RefreshReport()
        current = self._generation()
        manifest = _read_json(current / "manifest.json") if current else None
        if not manifest or manifest.get("version") != INDEX_VERSION:
            manifest, report.full = None, True
        old_sources: dict[str, dict[str, Any]] = dict(manifest["sources"]) if manifest else {}
        new_sources: dict[str, dict[str, Any]] = {}
        staging = self._staging()
        try:
            if manifest and current:
                shutil.copytree(current, staging, dirs_exist_ok=True)
                ix = index.open_dir(staging)
            else:
                ix = index.create_in(staging, SCHEMA)
            writer = ix.writer()
            changed = False
            for source in sources:
                stat = source.path.stat()
                entry = old_sources.pop(source.key, None)
                if entry and entry["mtime_ns"] == stat.st_mtime_ns and entry["size"] == stat.st_size:
                    new_sources[source.key] = entry
                    report.unchanged += 1
                    status = "unchanged"
                else:
                    digest = source.digest()
                    if entry and entry["sha256"] == digest:
                        new_sources[source.key] = {**entry, "mtime_ns": stat.st_mtime_ns, "size": stat.st_size}
                        report.unchanged += 1
                        status = "unchanged"
                    else:
                        for url in (entry or {}).get("documents", []):
                            writer.delete_by_term("path", url)
                        documents = source.documents()
                        for document in documents:
                            _add(writer, document)
                        new_sources[source.key] = {"mtime_ns": stat.st_mtime_ns, "size": stat.st_size,
                                                   "sha256": digest, "documents": [d.path for d in documents]}
                        report.read += 1
                        changed = True
                        status = "read"
                if progress:
                    progress(source, status)
            for entry in old_sources.values():  # files that are gone: their pages go too
                for url in entry.get("documents", []):
                    writer.delete_by_term("path", url)
                report.removed += 1
                changed = True
            report.documents = sum(len(e["documents"]) for e in new_sources.values())
            synonyms_changed = current is None or _read_json(current / "synonyms.json") != _synonym_table(acronyms)
            if not (changed or report.full or synonyms_changed):
                writer.cancel()
                ix.close()
                return report
            writer.commit()
            ix.close()
            self._finish(staging, new_sources, acronyms)
            report.swapped = True
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return report

    def _staging(self) -> Path:
        self.index_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self.index_dir.name}.staging-", dir=self.index_dir.parent))
        staging.chmod(0o755)  # mkdtemp makes it private; the web server may read as another user
        return staging

    def _finish(self, staging: Path, sources: dict[str, Any], acronyms: dict[str, str] | None) -> None:
        """Write the manifest and synonyms into ``staging``, make it a generation and point the link at it."""
        (staging / "manifest.json").write_text(json.dumps({"version": INDEX_VERSION, "sources": sources}))
        (staging / "synonyms.json").write_text(json.dumps(_synonym_table(acronyms)))
        generation = self.index_dir.with_name(f"{self.index_dir.name}{GENERATION}{time.time_ns()}")
        staging.rename(generation)
        previous = self._generation()
        if self.index_dir.exists() and not self.index_dir.is_symlink():
            # An index from before generations (a plain directory): moved aside once, then linked like the rest.
            legacy = self.index_dir.with_name(f"{self.index_dir.name}{GENERATION}0")
            shutil.rmtree(legacy, ignore_errors=True)
            self.index_dir.rename(legacy)
            previous = legacy
        link = self.index_dir.with_name(f".{self.index_dir.name}.link-{os.getpid()}")
        link.unlink(missing_ok=True)
        link.symlink_to(generation.name)
        os.replace(link, self.index_dir)  # the swap: atomic on POSIX
        keep = {generation.name, previous.name if previous else None}
        for old in self.index_dir.parent.glob(f"{self.index_dir.name}{GENERATION}*"):
            if old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)

    def _generation(self) -> Path | None:
        """The generation directory the link points at now (or a plain pre-generation index directory)."""
        if not self.index_dir.exists():
            return None
        return self.index_dir.resolve()

    # -- searching ---------------------------------------------------------------------------------

    def query(self, text: str, limit: int = 5, audience: str = "delegates") -> list[SearchHit]:
        """The best matches for ``text``; see :meth:`search` (this is its list of hits)."""
        return self.search(text, limit, audience, suggest=False).hits

    def search(self, text: str, limit: int = 5, audience: str = "delegates", *, suggest: bool = True) -> SearchResult:
        """The best matches for ``text``, knowledge base and documentation together, best first.

        ``text`` may be a whole question: its words are stemmed, stop words dropped, and the
        :data:`TERMS_MAX` rarest of those the index knows are searched in titles (ranked highest), section
        headings, tags and bodies; a page matching more of them ranks higher. An acronym of the glossary
        also finds its expansion, and the expansion the acronym. No query syntax: quotes, colons and
        operators are plain text. ``audience="delegates"`` leaves out the operator pages. With ``suggest``,
        a short search with words the index does not know gets a corrected spelling in ``suggestion``.

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
        ix, synonyms = self._open()
        with ix.searcher(weighting=scoring.BM25F()) as searcher:
            suggestion = _spelling(searcher, text) if suggest else None
            query = _question_query(searcher, text, synonyms)
            if query is None:
                return SearchResult([], suggestion)
            mask = Or([Prefix("path", url) for url in STAFF_ONLY_URLS]) if audience == "delegates" else None
            results = searcher.search(query, limit=max(limit * 3, 20), mask=mask)
            results.fragmenter = highlight.ContextFragmenter(maxchars=200, surround=60)
            results.formatter = highlight.NullFormatter()
            names_dp01 = bool(_DP01_WORDS & set(text.lower().split())) or "dp0.1" in text.lower()
            asked = set(_stems(text))
            scored = []
            for hit in results:
                boost = KB_BOOST if hit["kind"] == "kb" else 1.0
                if _DP01_URL in hit["path"] and not names_dp01:
                    boost *= DP01_PENALTY
                if hit["path"].endswith(_HUB_URLS):
                    boost *= HUB_PENALTY
                title = set(_stems(hit["title"])) - _TITLE_NOISE
                if title and title <= asked:
                    boost *= TITLE_NAMED
                scored.append((hit.score * boost, hit))
            scored.sort(key=lambda pair: pair[0], reverse=True)
            hits = []
            for score, hit in scored[:limit]:  # highlighting costs: only for what is shown
                snippet = hit.highlights("body", top=1) or hit["body_excerpt"][:200]
                hits.append(SearchHit(hit["title"], hit["path"], hit["kind"], score, " ".join(snippet.split())))
        return SearchResult(hits, suggestion)

    def _open(self) -> tuple[Any, list[tuple[str, list[str]]]]:
        generation = self._generation()
        if generation is None or not index.exists_in(generation):
            raise SearchUnavailableError("The search index has not been built yet; run `helpdesk kb index`.")
        with _OPEN_LOCK:
            if generation not in _OPEN:
                for stale in [g for g in _OPEN if g.parent == generation.parent]:
                    _OPEN.pop(stale)[0].close()  # a newer generation replaced it
                synonyms = _read_json(generation / "synonyms.json") or []
                _OPEN[generation] = (index.open_dir(generation), [(a, list(e)) for a, e in synonyms])
            return _OPEN[generation]


def _add(writer: Any, document: Document) -> None:
    writer.update_document(
        path=document.path, kind=document.kind, title=document.title, headings=document.headings,
        tags=",".join(document.tags), queues=",".join(document.queues), body=document.body,
        words=f"{document.title}\n{document.headings}\n{' '.join(document.tags)}\n{document.body}",
        body_excerpt=document.body[:400],
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _stems(text: str) -> list[str]:
    return [token.text for token in _analyzer(text, mode="query")]


def _synonym_table(acronyms: dict[str, str] | None) -> list[list[Any]]:
    """``[[acronym stem, [expansion stems]], ...]``; None means the glossary of the source checkout."""
    pairs = load_acronyms() if acronyms is None else acronyms
    table = []
    for acronym, expansion in sorted(pairs.items()):
        stem, words = _stems(acronym), _stems(expansion)
        if len(stem) == 1 and len(words) >= 2:
            table.append([stem[0], words])
    return table


def _group(stem: str, word: str) -> list[Query]:
    return [Term("title", stem), Term("headings", stem), Term("tags", word), Term("body", stem)]


def _phrase(words: list[str]) -> list[Query]:
    return [Phrase("title", words), Phrase("headings", words), Phrase("body", words)]


def _question_query(searcher: Any, text: str, synonyms: list[tuple[str, list[str]]] | None = None) -> Query | None:
    """An OR of the question's most distinctive words over title, headings, tags and body; None when none is
    indexed. An acronym's group also matches its expansion as a phrase; an expansion in the question adds
    the acronym."""
    reader = searcher.reader()
    expansions = {acronym: words for acronym, words in (synonyms or [])}
    seen: dict[str, tuple[int, int, str]] = {}  # stem -> (documents containing it, first position, word)
    written: list[str] = []  # the question's stems in order, to find expansions in it
    for position, word in enumerate(_WORD.findall(text)):
        lower = word.lower()
        stems = _stems(lower)
        if not stems:
            continue  # a stop word
        stem = stems[0]
        written.append(stem)
        if stem in seen:
            continue  # said before
        # A two-letter acronym (AP, PR, VO) only when written in capitals; longer ones (tap, lsst) in any case.
        is_acronym = stem in expansions and (len(stem) > 2 or word.isupper())
        frequency = sum(reader.doc_frequency(name, value) for name, value in
                        (("title", stem), ("body", stem), ("tags", lower)))
        if frequency or is_acronym:
            seen[stem] = (frequency, position, lower if not is_acronym else "\0acronym")
    first_line = set(_stems(text.split("\n", 1)[0])) if "\n" in text.strip() else set()
    joined = " " + " ".join(written) + " "
    for acronym, words in expansions.items():
        if acronym not in seen and f" {' '.join(words)} " in joined:
            seen[acronym] = (0, len(written), "\0acronym")  # the expansion was written out: the acronym too
    if not seen:
        return None
    rarest = sorted(seen.items(), key=lambda item: item[1][:2])[:TERMS_MAX]
    groups = []
    for stem, (_, _, word) in rarest:
        if word == "\0acronym":
            groups.append(Or([*_group(stem, stem), *_phrase(expansions[stem])]))
        else:
            groups.append(Or(_group(stem, word)))
        if stem in first_line:
            groups[-1] = groups[-1].with_boost(SUBJECT_BOOST)
    return Or(groups, scale=0.9)


def _spelling(searcher: Any, text: str) -> str | None:
    """``text`` with each word the index does not know replaced by the closest one it knows; None when every
    word is known, none has a close match, or the search is a whole question (over SUGGEST_WORDS_MAX words)."""
    words = _WORD.findall(text)
    if not words or len(words) > SUGGEST_WORDS_MAX:
        return None
    reader = searcher.reader()
    corrected = text
    changed = False
    for word in dict.fromkeys(words):
        lower = word.lower()
        if not _ALPHA.match(lower) or reader.doc_frequency("words", lower):
            continue
        if best := _closest(reader, lower):
            corrected = re.sub(rf"\b{re.escape(word)}\b", best, corrected)
            changed = True
    return corrected if changed else None


def _closest(reader: Any, word: str) -> str | None:
    """The known word nearest to ``word``: fewest edits first (two only for words over five letters), then the
    one in most pages; the first letter is taken as typed (few typos are there, and it keeps this fast)."""
    for distance in (1, 2) if len(word) > 5 else (1,):
        options = [w for w in reader.terms_within("words", word, distance, prefix=1) if w != word]
        if options:
            return max(options, key=lambda w: (reader.doc_frequency("words", w), w))
    return None
