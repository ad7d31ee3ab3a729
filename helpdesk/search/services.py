"""The search service: one writer (``refresh``/``rebuild``, run from the CLI) and read-only queries.

tantivy (tantivy-py, a Rust engine) stays inside this module, so replacing the engine touches nothing else.
It replaced Whoosh, which the design first asked for: Whoosh's pure-Python scoring took seconds per whole
question at 10,000 articles, against a target of 20 ms at p95 (``docs/reference/search.md``).

On disk, ``index_dir`` is a symbolic link to one *generation* directory beside it (``<name>.gen-<n>``) that
holds the tantivy files, ``manifest.json`` (which source file gave which pages, with its modification time,
size and SHA-256, so the next build re-reads only what changed) and ``synonyms.json`` (the glossary's
acronyms). A build writes a new generation in full, then replaces the link with one ``rename``: a reader in
another process opens either the old generation or the new one, never a half-written one. A generation is
never written again once it is linked; the previous one is kept one more build, for readers that opened it
just before the swap (and a reader that still holds one after that keeps its open files: POSIX keeps the
data of a removed file until the last reader lets go).

No text a person typed reaches tantivy's query parser: questions are split into words here and the query is
built from term and phrase queries, so quotes, colons, brackets and operators are plain text.
"""

from __future__ import annotations

import functools
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

import tantivy
from tantivy import Filter, Occur, Query, TextAnalyzerBuilder, Tokenizer

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
#: A word: letters, digits and underscores, with inner dots kept ("dp0.2", "coord_ra"); the same pattern
#: tokenizes what is indexed (tantivy's regex tokenizer) and what is asked (Python's ``re``).
WORD_PATTERN = r"\w+(?:\.\w+)*"
_WORD = re.compile(WORD_PATTERN)
_ALPHA = re.compile(r"^[a-z]{4,}$")
#: Longer tokens (base64, hashes, pasted URLs without spaces) are not words anyone searches for.
WORD_LENGTH_MAX = 40
#: Bump when the schema or what is indexed changes: a manifest of another version means a full build.
#: 3: tantivy (2 was the Whoosh index).
INDEX_VERSION = 3
GENERATION = ".gen-"
#: Words too common in questions to tell pages apart, dropped from a question before it is searched (they are
#: still indexed, so a glossary expansion that contains one is matched as written).
_STOP_WORDS = """
a an and are as at be by can for from have if in is it may not of on or tbd that the this to us we when will
with yet you your i me my our am was were been being do does did doing has had having what which who whom whose
why how where there here these those then than so but also just any some all about into out up get got
please thanks thank hello hi dear would could should im ive dont cant its
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
#: Field weights: a word's score in a title is multiplied by 1.7, in a section heading or an article's tags by
#: 1.4. (Whoosh counted a title word four times and a heading or tag twice inside BM25, whose term frequency
#: saturates: with k1 = 1.2 that came to about these factors on the score, which is what tantivy boosts.)
TITLE_BOOST = 1.7
HEADINGS_BOOST = 1.4
TAGS_BOOST = 1.4
#: Knowledge-base answers are short and written for exactly these questions, while a long reference page
#: matches more of a whole question's words in passing: articles rank higher by this factor.
KB_BOOST = 1.6
#: DP0.1's catalogs left the TAP service in 2024 and its pages are kept for the record: unless a question
#: names DP0.1, the DP0.2 page on the same subject ranks first ("Object table columns" -> Object (DP0.2)).
DP01_PENALTY = 0.7
_DP01_URL = "/dp01/"
_DP01_WORDS = {"dp0.1", "dp01", "dp0_1"}
#: A page whose every title word is in the question is the page the question names ("Object table columns"
#: names Object (DP0.2); "DiaObject columns" names DiaObject): ranked up by this factor. A long reference page
#: otherwise loses to a short page that mentions the words in passing (BM25's length normalisation).
TITLE_NAMED = 1.8
#: ... but only when one of those title words tells pages apart: a word found in more than this share of the pages
#: names none of them. "Who may use DP0?" and "Should I use DP0.1 or DP0.2?" are left with *use* once the release
#: words are set aside, and *use* is in two pages of three and in most questions: without this, every question
#: that said "use" named both articles. Only in an index of at least NAMING_PAGES_MIN pages: in a handful of pages
#: on one subject every word is in half of them, and the share says nothing about the word.
NAMING_SHARE_MAX = 0.5
NAMING_PAGES_MIN = 20
#: A question's first line, when more follow, is its subject as the person summed it up: its words weigh more.
SUBJECT_BOOST = 2.0
#: Pages that list or define everything (the site's index pages, the glossary) match any question's words and
#: answer none: ranked down by this factor, still found when nothing else matches.
HUB_PENALTY = 0.5
_HUB_URLS = ("/index.html", "/reference/glossary.html")
#: Words of titles that say which release or what kind of page, not what it is about.
_TITLE_NOISE = {"dp0.1", "dp0.2", "dp0.3", "dp0", "dp01", "dp02"}
#: A best match scoring below this is "low": the question may have no article yet (the staff gap report).
#: From the relevance benchmark (``bench/search_relevance.py`` prints the shares): 30 % of the questions no page
#: answers score below it, and 6 % of those whose answer was found. A coarse line (BM25 scores grow with the
#: question's length), for sorting candidates for staff to read, not for deciding anything on its own.
LOW_SCORE = 40.0
#: Candidates fetched from the index before the boosts above reorder them.
CANDIDATES_MIN = 20
SNIPPET_CHARS = 200
#: Matches of each searched word looked at to place a snippet (a long page's first ones are enough).
SNIPPET_MATCHES_MAX = 50

#: How text is cut into terms. Titles, headings and bodies: words, lowercased, English (Snowball) stems.
#: Tags: each tag whole, lowercased. ``words``: the words as written, lowercased: the spelling vocabulary.
_STEMMED = "helpdesk_en"
_LOWER = "helpdesk_words"
_TAG = "helpdesk_tag"


def _analyzers() -> dict[str, tantivy.TextAnalyzer]:
    def words() -> TextAnalyzerBuilder:
        return TextAnalyzerBuilder(Tokenizer.regex(WORD_PATTERN)).filter(
            Filter.remove_long(WORD_LENGTH_MAX + 1)).filter(Filter.lowercase())

    return {
        _STEMMED: words().filter(Filter.stemmer("english")).build(),
        _LOWER: words().build(),
        _TAG: TextAnalyzerBuilder(Tokenizer.raw()).filter(Filter.lowercase()).build(),
    }


_ANALYZERS = _analyzers()


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("path", stored=True, tokenizer_name="raw")
    builder.add_text_field("kind", stored=True, tokenizer_name="raw")
    builder.add_text_field("title", stored=True, tokenizer_name=_STEMMED)
    builder.add_text_field("headings", stored=True, tokenizer_name=_STEMMED)
    builder.add_text_field("tags", stored=True, tokenizer_name=_TAG, index_option="freq")
    builder.add_text_field("queues", stored=True, tokenizer_name=_TAG, index_option="basic")
    builder.add_text_field("body", stored=True, tokenizer_name=_STEMMED)
    builder.add_text_field("words", stored=False, tokenizer_name=_LOWER, index_option="freq")
    return builder.build()


SCHEMA = _schema()


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


class _Generation:
    """One open generation: its index and searcher (a snapshot: a generation never changes once linked), its
    synonyms, and the spelling vocabulary, read from the term dictionary the first time a suggestion needs it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.index = _open_index(path)
        self.searcher = self.index.searcher()
        synonyms = _read_json(path / "synonyms.json") or []
        self.synonyms: dict[str, list[str]] = {acronym: list(words) for acronym, words in synonyms}
        self._vocabulary: _Vocabulary | None = None
        self._lock = threading.Lock()

    def vocabulary(self) -> _Vocabulary:
        with self._lock:
            if self._vocabulary is None:
                self._vocabulary = _Vocabulary(self.searcher.terms_with_prefix("words", ""))
            return self._vocabulary


#: Open generations by directory, shared by every SearchService of the process (opening one maps its files
#: and builds a searcher: done once per generation, not once per search).
_OPEN: dict[Path, _Generation] = {}
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
            count = _write(staging, documents, progress)
            self._finish(staging, {}, acronyms)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return count

    def refresh(self, sources: Iterable[SourceFile], progress: Callable[[SourceFile, str], None] | None = None,
                acronyms: dict[str, str] | None = None) -> RefreshReport:
        """Bring the index up to date with ``sources``, reading only the files that changed since the last build.

        A file whose modification time and size match the manifest is not opened; one whose time changed
        but whose content hash did not is not parsed again. The pages of unchanged files are carried over from
        the current index's stored fields, the changed files' pages are parsed again, and the whole is written
        as a new generation and swapped in. ``progress(source, "read" | "unchanged")`` is called per file.
        """
        report = RefreshReport()
        current = self._generation()
        manifest = _read_json(current / "manifest.json") if current else None
        if not manifest or manifest.get("version") != INDEX_VERSION or not _is_index(current):
            manifest, report.full = None, True
        old_sources: dict[str, dict[str, Any]] = dict(manifest["sources"]) if manifest else {}
        new_sources: dict[str, dict[str, Any]] = {}
        parsed: list[Document] = []
        kept: set[str] = set()  # pages to carry over from the current index
        changed = False
        for source in sources:
            stat = source.path.stat()
            entry = old_sources.pop(source.key, None)
            if entry and entry["mtime_ns"] == stat.st_mtime_ns and entry["size"] == stat.st_size:
                new_sources[source.key] = entry
                status = "unchanged"
            else:
                digest = source.digest()
                if entry and entry["sha256"] == digest:
                    new_sources[source.key] = {**entry, "mtime_ns": stat.st_mtime_ns, "size": stat.st_size}
                    status = "unchanged"
                else:
                    documents = source.documents()
                    parsed.extend(documents)
                    new_sources[source.key] = {"mtime_ns": stat.st_mtime_ns, "size": stat.st_size,
                                               "sha256": digest, "documents": [d.path for d in documents]}
                    changed = True
                    status = "read"
            if status == "unchanged":
                kept.update(new_sources[source.key]["documents"])
                report.unchanged += 1
            else:
                report.read += 1
            if progress:
                progress(source, status)
        report.removed = len(old_sources)  # files that are gone: their pages are not carried over
        changed = changed or bool(old_sources)
        report.documents = sum(len(e["documents"]) for e in new_sources.values())
        synonyms_changed = current is None or _read_json(current / "synonyms.json") != _synonym_table(acronyms)
        if not (changed or report.full or synonyms_changed):
            return report
        carried = _stored_documents(current, kept) if kept and current else []
        staging = self._staging()
        try:
            _write(staging, [*carried, *parsed])
            self._finish(staging, new_sources, acronyms)
            report.swapped = True
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return report

    def _staging(self) -> Path:
        self.index_dir.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{self.index_dir.name}.staging-", dir=self.index_dir.parent))

    def _finish(self, staging: Path, sources: dict[str, Any], acronyms: dict[str, str] | None) -> None:
        """Write the manifest and synonyms into ``staging``, make it a generation and point the link at it."""
        (staging / "manifest.json").write_text(json.dumps({"version": INDEX_VERSION, "sources": sources}))
        (staging / "synonyms.json").write_text(json.dumps(_synonym_table(acronyms)))
        _readable_by_all(staging)
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
        text = (text or "").replace("\0", " ").strip()
        if not text:
            raise InvalidInputError("Type something to search for.")
        if len(text) > QUERY_MAX:
            raise InvalidInputError(f"Search for at most {QUERY_MAX} characters.")
        if not 1 <= limit <= LIMIT_MAX:
            raise InvalidInputError(f"limit must be between 1 and {LIMIT_MAX}.")
        if audience not in AUDIENCES:
            raise InvalidInputError(f"audience must be one of: {', '.join(AUDIENCES)}.")
        generation = self._open()
        searcher = generation.searcher
        suggestion = _spelling(generation, text) if suggest else None
        chosen = _question_terms(searcher, text, generation.synonyms)
        if not chosen:
            return SearchResult([], suggestion)
        query = _build_query(chosen, generation.synonyms)
        if audience == "delegates":
            query = Query.boolean_query([(Occur.Must, query), *((Occur.MustNot, q) for q in _STAFF_ONLY)])
        found = searcher.search(query, max(limit * 3, CANDIDATES_MIN), count=False).hits
        names_dp01 = bool(_DP01_WORDS & set(text.lower().split())) or "dp0.1" in text.lower()
        asked = set(_stems(text))
        scored = []
        for score, address in found:
            document = searcher.doc(address)
            path, kind, title = document.get_first("path"), document.get_first("kind"), document.get_first("title")
            boost = KB_BOOST if kind == "kb" else 1.0
            if _DP01_URL in path and not names_dp01:
                boost *= DP01_PENALTY
            if path.endswith(_HUB_URLS):
                boost *= HUB_PENALTY
            named = set(_stems(title)) - _TITLE_NOISE
            if named and named <= asked and any(_names(searcher, stem) for stem in named):
                boost *= TITLE_NAMED
            scored.append((score * boost, path, kind, title, document))
        scored.sort(key=lambda item: (-item[0], item[1]))
        marked = [stem for stem, _, _ in chosen]
        marked += [w for stem, word, _ in chosen if word is None for w in generation.synonyms[stem] if _stem(w)]
        hits = []
        for score, path, kind, title, document in scored[:limit]:  # snippets cost: only for what is shown
            snippet = _snippet(document.get_first("body") or "", marked)
            hits.append(SearchHit(title, path, kind, score, snippet))
        return SearchResult(hits, suggestion)

    def _open(self) -> _Generation:
        for attempt in (1, 2):
            generation = self._generation()
            if generation is None or not _is_index(generation):
                break
            with _OPEN_LOCK:
                if generation in _OPEN:
                    return _OPEN[generation]
                try:
                    opened = _Generation(generation)
                except (OSError, ValueError):
                    # Removed between reading the link and opening it (two builds went by): read the link again.
                    if attempt == 2:
                        raise SearchUnavailableError("The search index could not be opened; run "
                                                     "`helpdesk kb index`.") from None
                    continue
                for stale in [g for g in _OPEN if g.parent == generation.parent]:
                    del _OPEN[stale]  # a newer generation replaced it (searches still running keep theirs)
                _OPEN[generation] = opened
                return opened
        raise SearchUnavailableError("The search index has not been built yet; run `helpdesk kb index`.")


_STAFF_ONLY = [Query.regex_query(SCHEMA, "path", re.escape(url) + ".*") for url in STAFF_ONLY_URLS]


def _is_index(path: Path | None) -> bool:
    return path is not None and (path / "meta.json").is_file() and tantivy.Index.exists(str(path))


def _open_index(path: Path) -> tantivy.Index:
    index = tantivy.Index.open(str(path))
    for name, analyzer in _ANALYZERS.items():
        index.register_tokenizer(name, analyzer)
    index.config_reader("manual")  # a generation never changes: no watcher thread, no reloads
    return index


def _write(directory: Path, documents: Iterable[Document],
           progress: Callable[[Document], None] | None = None) -> int:
    """A new index in ``directory`` holding ``documents``; their number."""
    index = tantivy.Index(SCHEMA, path=str(directory), reuse=False)
    for name, analyzer in _ANALYZERS.items():
        index.register_tokenizer(name, analyzer)
    writer = index.writer()
    count = 0
    for document in documents:
        writer.add_document(tantivy.Document(
            path=document.path, kind=document.kind, title=document.title, headings=document.headings,
            tags=[t.lower() for t in document.tags], queues=list(document.queues), body=document.body,
            words=f"{document.title}\n{document.headings}\n{' '.join(document.tags)}\n{document.body}",
        ))
        count += 1
        if progress:
            progress(document)
    writer.commit()
    writer.wait_merging_threads()
    del writer  # releases the writer's lock file
    return count


def _stored_documents(generation: Path, paths: set[str]) -> list[Document]:
    """The pages of ``paths`` as the index at ``generation`` stored them (to carry them into a new build)."""
    searcher = _open_index(generation).searcher()
    documents = []
    for _, address in searcher.search(Query.all_query(), max(searcher.num_docs, 1), count=False).hits:
        stored = searcher.doc(address)
        path = stored.get_first("path")
        if path in paths:
            documents.append(Document(
                kind=stored.get_first("kind"), path=path, title=stored.get_first("title") or "",
                body=stored.get_first("body") or "", tags=[str(t) for t in stored.get_all("tags")],
                queues=[str(q) for q in stored.get_all("queues")], headings=stored.get_first("headings") or "",
            ))
    return documents


def _readable_by_all(directory: Path) -> None:
    """The web server may read the index as another user than the one who built it. tantivy takes a lock on
    ``.tantivy-meta.lock`` even to read, so that file must be writable by every reader (it holds nothing)."""
    (directory / ".tantivy-writer.lock").unlink(missing_ok=True)
    lock = directory / ".tantivy-meta.lock"
    lock.touch()
    for path in directory.iterdir():
        path.chmod(0o644)
    lock.chmod(0o666)
    directory.chmod(0o755)  # mkdtemp makes it private


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str | None:
    """The index's stem of one lowercased word, or None for a stop word or a one-letter word."""
    if len(word) < 2 or word in STOP_WORDS:
        return None
    stems = _ANALYZERS[_STEMMED].analyze(word)
    return stems[0] if stems else None


def _names(searcher: Any, stem: str) -> bool:
    """Whether a title word can name its page: it is in at most :data:`NAMING_SHARE_MAX` of the pages."""
    pages = searcher.num_docs
    return pages < NAMING_PAGES_MIN or searcher.doc_freq("body", stem) <= NAMING_SHARE_MAX * pages


def _stems(text: str) -> list[str]:
    return [s for s in (_stem(w.lower()) for w in _WORD.findall(text)) if s]


#: The humps of a camelCase identifier ("refExtendedness": ref, Extendedness), of two letters or more.
_PARTS = re.compile(r"[A-Z]?[a-z]{2,}|[A-Z]{3,}(?![a-z])")


#: Words spelt -ise or -ize (-isation, -ised, -ising ...): each is also searched in the other spelling.
_ISE = re.compile(r"^(\w{3,}[iy])([sSzZ])(e|es|ed|ing|ation|ations|er|ers)$")


def _words(text: str) -> list[str]:
    """The words of a question, each camelCase identifier followed by its humps: a column name
    (``refExtendedness``, ``detect_isPrimary``) also finds the pages about what it names. (snake_case is not
    split: ``run_async``'s pieces are common words that would crowd out the rarer ones.)"""
    words = []
    for word in _WORD.findall(text):
        words.append(word)
        if not word.islower() and not word.isupper() and not word.istitle():
            words.extend(p for p in _PARTS.findall(word) if p.lower() != word.lower())
        if match := _ISE.match(word):  # authorise / authorize: the pages are in British spelling, many askers not
            stem, letter, ending = match.groups()
            words.append(f"{stem}{'z' if letter in 'sS' else 's'}{ending}")
    return words


def _synonym_table(acronyms: dict[str, str] | None) -> list[list[Any]]:
    """``[[acronym stem, [expansion stems]], ...]``; None means the glossary of the source checkout. The
    expansion's words are stemmed as indexed, stop words included, so it is matched as a phrase as written."""
    pairs = load_acronyms() if acronyms is None else acronyms
    table = []
    for acronym, expansion in sorted(pairs.items()):
        stem, words = _stems(acronym), _ANALYZERS[_STEMMED].analyze(expansion)
        if len(stem) == 1 and len(words) >= 2:
            table.append([stem[0], words])
    return table


def _term(field_name: str, value: str, boost: float = 1.0) -> Query:
    query = Query.term_query(SCHEMA, field_name, value)
    return Query.boost_query(query, boost) if boost != 1.0 else query


def _group(stem: str, word: str) -> list[Query]:
    return [_term("title", stem, TITLE_BOOST), _term("headings", stem, HEADINGS_BOOST),
            _term("tags", word, TAGS_BOOST), _term("body", stem)]


def _phrase(words: list[str]) -> list[Query]:
    return [Query.boost_query(Query.phrase_query(SCHEMA, "title", words), TITLE_BOOST),
            Query.boost_query(Query.phrase_query(SCHEMA, "headings", words), HEADINGS_BOOST),
            Query.phrase_query(SCHEMA, "body", words)]


def _should(queries: list[Query]) -> Query:
    return Query.boolean_query([(Occur.Should, q) for q in queries])


def _question_query(searcher: Any, text: str, synonyms: dict[str, list[str]] | None = None) -> Query | None:
    """An OR of the question's most distinctive words over title, headings, tags and body; None when none is
    indexed. An acronym's group also matches its expansion as a phrase; an expansion in the question adds
    the acronym."""
    expansions = synonyms or {}
    chosen = _question_terms(searcher, text, expansions)
    return _build_query(chosen, expansions) if chosen else None


def _build_query(chosen: list[tuple[str, str | None, float]], expansions: dict[str, list[str]]) -> Query:
    groups = []
    for stem, word, boost in chosen:
        if word is None:
            group = _should([*_group(stem, stem), *_phrase(expansions[stem])])
        else:
            group = _should(_group(stem, word))
        groups.append(Query.boost_query(group, boost) if boost != 1.0 else group)
    return _should(groups)


def _question_terms(searcher: Any, text: str, expansions: dict[str, list[str]]) -> list[tuple[str, str | None, float]]:
    """The words of ``text`` that are searched, rarest first: ``(stem, word as written or None for an acronym,
    boost)``, at most :data:`TERMS_MAX`."""
    seen: dict[str, tuple[int, int, str]] = {}  # stem -> (documents containing it, first position, word)
    written: list[str] = []  # the question's stems in order, to find expansions in it
    for position, word in enumerate(_words(text)):
        lower = word.lower()
        stem = _stem(lower)
        if stem is None:
            continue  # a stop word
        written.append(stem)
        if stem in seen:
            continue  # said before
        # A two-letter acronym (AP, PR, VO) only when written in capitals; longer ones (tap, lsst) in any case.
        is_acronym = stem in expansions and (len(stem) > 2 or word.isupper())
        frequency = (searcher.doc_freq("title", stem) + searcher.doc_freq("body", stem)
                     + searcher.doc_freq("tags", lower))
        if frequency or is_acronym:
            seen[stem] = (frequency, position, lower if not is_acronym else "\0acronym")
    first_line = set(_stems(text.split("\n", 1)[0])) if "\n" in text.strip() else set()
    joined = " " + " ".join(_stems(text) if expansions else []) + " "
    for acronym, words in expansions.items():
        plain = [w for w in words if _stem(w) is not None]  # as a question's stems would be: no stop words
        if acronym not in seen and plain and f" {' '.join(plain)} " in joined:
            seen[acronym] = (0, len(written), "\0acronym")  # the expansion was written out: the acronym too
    rarest = sorted(seen.items(), key=lambda item: item[1][:2])[:TERMS_MAX]
    return [(stem, None if word == "\0acronym" else word, SUBJECT_BOOST if stem in first_line else 1.0)
            for stem, (_, _, word) in rarest]


def _snippet(body: str, stems: list[str]) -> str:
    """About SNIPPET_CHARS characters of ``body`` around the stretch where most of the searched words appear
    close together (the start of the page when none does), as plain text on one line. A word counts when it
    begins with a searched stem (an English stem is the start of the words it stands for: "galaxi" of
    "galaxies"). Worked out here rather than by tantivy's snippet generator, which tokenizes the whole page
    again: on the long catalog pages that cost more than the search."""
    lower = body.lower()
    found: list[tuple[int, int]] = []  # (position, which stem)
    for number, stem in enumerate(stems):
        at, seen = lower.find(stem), 0
        while at >= 0 and seen < SNIPPET_MATCHES_MAX:
            if at == 0 or not lower[at - 1].isalnum():
                found.append((at, number))
                seen += 1
            at = lower.find(stem, at + len(stem))
    start = 0
    if found:
        found.sort()
        best, left, counts = (0, 0), 0, {}  # (distinct stems, start) over a window sliding along the matches
        for position, number in found:
            counts[number] = counts.get(number, 0) + 1
            while position - found[left][0] > SNIPPET_CHARS - 40:
                counts[found[left][1]] -= 1
                if not counts[found[left][1]]:
                    del counts[found[left][1]]
                left += 1
            if len(counts) > best[0]:
                best = (len(counts), found[left][0])
        start = min(max(0, best[1] - 40), len(body))
        if start:
            space = body.find(" ", start, best[1])
            start = space + 1 if space >= 0 else start
    piece = body[start:start + SNIPPET_CHARS]
    if start + SNIPPET_CHARS < len(body) and " " in piece[SNIPPET_CHARS // 2:]:
        piece = piece[:piece.rindex(" ")]
    return " ".join(piece.split())


class _Vocabulary:
    """The index's words as written (lowercased), with the number of pages each is in, and a table of their
    one-letter deletions: a word within two edits of a typo shares a key with one of the typo's deletions."""

    def __init__(self, terms: list[tuple[str, int]]) -> None:
        self.frequency = {word: count for word, count in terms if _ALPHA.match(word)}
        self.deletions: dict[str, list[str]] = {}
        for word in self.frequency:
            for key in {word, *_deletions(word)}:
                self.deletions.setdefault(key, []).append(word)

    def closest(self, word: str) -> str | None:
        """The known word nearest to ``word``: fewest edits first (two only for words over five letters), then the
        one in most pages; the first letter is taken as typed (few typos are there)."""
        most = 2 if len(word) > 5 else 1
        keys = {word, *_deletions(word)}
        if most == 2:
            keys |= {d for k in list(keys) for d in _deletions(k)}
        candidates = {w for k in keys for w in self.deletions.get(k, ()) if w != word and w[0] == word[0]}
        ranked = [(_distance(word, w), -self.frequency[w], w) for w in candidates]
        ranked = [r for r in ranked if r[0] <= most]
        return min(ranked)[2] if ranked else None


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def _distance(a: str, b: str) -> int:
    """Edits from ``a`` to ``b``: insertions, deletions, substitutions, and swaps of two neighbours."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, previous2[j - 2] + 1)
            current.append(value)
        previous2, previous = previous, current
    return previous[-1]


def _spelling(generation: _Generation, text: str) -> str | None:
    """``text`` with each word the index does not know replaced by the closest one it knows; None when every
    word is known, none has a close match, or the search is a whole question (over SUGGEST_WORDS_MAX words)."""
    words = _WORD.findall(text)
    if not words or len(words) > SUGGEST_WORDS_MAX:
        return None
    corrected = text
    changed = False
    for word in dict.fromkeys(words):
        lower = word.lower()
        if not _ALPHA.match(lower) or generation.searcher.doc_freq("words", lower):
            continue
        if best := generation.vocabulary().closest(lower):
            corrected = re.sub(rf"\b{re.escape(word)}\b", best, corrected)
            changed = True
    return corrected if changed else None
