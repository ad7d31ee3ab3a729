"""Search speed at 10,000 synthetic articles: build time, and query p50/p95/p99 of the search service
(Whoosh) against SQLite FTS5 and tantivy on the same corpus and the same questions, in the same run.

The corpus is made here, seeded: articles whose words are drawn (Zipf-like) from the vocabulary of the
shipped knowledge base, with a title, two headings and a body of 150-400 words. The questions are the
198 delegate questions of the relevance set (subject and body, as written). The search service reduces each
question itself (its 24 rarest known words, acronyms, boosts); FTS5 and tantivy get an OR of the question's
first 24 distinct words of three letters or more, a plain BM25 search of title and body. Target: the
service's p95 under 20 ms.
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.harness import ROOT, progress, report
from helpdesk.search.documents import Document, iter_kb
from helpdesk.search.relevance import load_questions
from helpdesk.search.services import SearchService

ARTICLES = int(os.environ.get("BENCH_SEARCH_ARTICLES", "10000"))
TARGET_P95_MS = 20.0
REPEAT = int(os.environ.get("BENCH_SEARCH_REPEAT", "1"))
_WORD = re.compile(r"[a-z][a-z0-9_]{2,}")


def corpus(count: int, seed: int = 7) -> list[Document]:
    words: dict[str, int] = {}
    for article in iter_kb(ROOT / "kb"):
        for word in _WORD.findall(f"{article.title} {article.body}".lower()):
            words[word] = words.get(word, 0) + 1
    vocabulary = sorted(words, key=lambda w: (-words[w], w))
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    rng = random.Random(seed)

    def text(n: int) -> str:
        return " ".join(rng.choices(vocabulary, weights, k=n))

    return [Document("kb" if i % 3 else "docs", f"/docs/synthetic/{i}.html", text(6).capitalize(),
                     text(rng.randint(150, 400)), headings=f"{text(3)}\n{text(3)}") for i in range(count)]


def _terms(question: str) -> list[str]:
    return list(dict.fromkeys(_WORD.findall(question.lower())))[:24]


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    return f"p50 {at(50):6.2f} ms   p95 {at(95):6.2f} ms   p99 {at(99):6.2f} ms"


def _time(function, questions: list[str], repeat: int = REPEAT) -> list[float]:  # type: ignore[no-untyped-def]
    function(questions[0])  # warm up: open the index, fill caches
    samples = []
    for _ in range(repeat):
        for question in questions:
            started = time.perf_counter()
            function(question)
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def _fts5(documents: list[Document], where: Path) -> tuple[float, object]:
    started = time.perf_counter()
    db = sqlite3.connect(where / "fts.sqlite3")
    db.execute("CREATE VIRTUAL TABLE pages USING fts5(path UNINDEXED, title, headings, body, tokenize='porter')")
    db.executemany("INSERT INTO pages VALUES (?, ?, ?, ?)",
                   [(d.path, d.title, d.headings, d.body) for d in documents])
    db.commit()
    built = time.perf_counter() - started

    def search(question: str) -> list[str]:
        match = " OR ".join(f'"{t}"' for t in _terms(question)) or '""'
        return [row[0] for row in db.execute(
            "SELECT path FROM pages WHERE pages MATCH ? ORDER BY bm25(pages, 0, 4.0, 2.0, 1.0) LIMIT 5", (match,))]

    return built, search


def _tantivy(documents: list[Document], where: Path) -> tuple[float, object] | None:
    try:
        import tantivy
    except ImportError:
        return None
    started = time.perf_counter()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("path", stored=True, tokenizer_name="raw")
    for name in ("title", "headings", "body"):
        builder.add_text_field(name, stored=False, tokenizer_name="en_stem")
    schema = builder.build()
    (where / "tantivy").mkdir()
    ix = tantivy.Index(schema, path=str(where / "tantivy"))
    writer = ix.writer()
    for d in documents:
        writer.add_document(tantivy.Document(path=d.path, title=d.title, headings=d.headings, body=d.body))
    writer.commit()
    writer.wait_merging_threads()
    ix.reload()
    built = time.perf_counter() - started
    searcher = ix.searcher()

    def search(question: str) -> list[str]:
        terms = _terms(question)
        if not terms:
            return []
        query = ix.parse_query(" OR ".join(terms), ["title", "headings", "body"],
                               field_boosts={"title": 4.0, "headings": 2.0})
        return [searcher.doc(address)["path"][0] for _, address in searcher.search(query, 5).hits]

    return built, search


def main() -> dict[str, float]:
    questions = [q.text for q in load_questions(ROOT / "tests/data/search/relevance.yaml", ROOT / "tests/data/triage")]
    progress(f"making {ARTICLES} synthetic articles")
    documents = corpus(ARTICLES)
    figures: dict[str, float] = {}
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        progress("building the Whoosh index (the search service)")
        service = SearchService(where / "index")
        started = time.perf_counter()
        service.rebuild(documents)
        figures["whoosh_build_s"] = time.perf_counter() - started
        whoosh = _time(lambda q: service.query(q, 5), questions)
        progress("building SQLite FTS5")
        fts_built, fts_search = _fts5(documents, where)
        fts = _time(fts_search, questions)
        progress("building tantivy")
        tv = _tantivy(documents, where)
        tv_times = _time(tv[1], questions) if tv else None
    ordered = sorted(whoosh)
    figures["whoosh_p95_ms"] = ordered[int(round(0.95 * (len(ordered) - 1)))]
    rows.append(("corpus", f"{ARTICLES} synthetic articles, {len(questions)} questions x {REPEAT}"))
    rows.append(("build: service (Whoosh)", f"{figures['whoosh_build_s']:.1f} s"))
    rows.append(("build: SQLite FTS5", f"{fts_built:.1f} s"))
    rows.append(("build: tantivy", f"{tv[0]:.1f} s" if tv else "not installed (pip install tantivy)"))
    rows.append(("query: service (Whoosh)", _percentiles(whoosh)))
    rows.append(("query: SQLite FTS5", _percentiles(fts)))
    rows.append(("query: tantivy", _percentiles(tv_times) if tv_times else "not installed"))
    met = figures["whoosh_p95_ms"] < TARGET_P95_MS
    rows.append(("target", f"service p95 < {TARGET_P95_MS:.0f} ms: {'met' if met else 'NOT met'}"))
    report("Search speed", rows)
    return figures


if __name__ == "__main__":
    main()
