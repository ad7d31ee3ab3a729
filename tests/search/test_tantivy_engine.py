"""The tantivy engine behind SearchService: stemming, synonyms, spelling, hostile input, the swap seen from a
reader in another process, and what an incremental build reads."""

from __future__ import annotations

import os
import random
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpdesk.search import services
from helpdesk.search.documents import Document, SourceFile, iter_sources
from helpdesk.search.services import QUERY_MAX, SearchService, _distance

ROOT = Path(__file__).resolve().parents[2]


def _service(tmp_path: Path, documents: list[Document], acronyms: dict[str, str] | None = None) -> SearchService:
    service = SearchService(tmp_path / "index")
    service.rebuild(documents, acronyms=acronyms or {})
    return service


def test_english_stems_match_other_forms_of_a_word(tmp_path: Path) -> None:
    service = _service(tmp_path, [
        Document("kb", "/galaxies.html", "Selecting galaxies", "Galaxies are extended; running the cut helps."),
        Document("kb", "/other.html", "Stars", "Point sources."),
    ])
    assert [h.url for h in service.query("galaxy")] == ["/galaxies.html"]
    assert [h.url for h in service.query("how do I run a selection")] == ["/galaxies.html"]
    assert service.query("point source")[0].url == "/other.html"


def test_an_expansion_with_small_words_is_matched_as_written(tmp_path: Path) -> None:
    service = _service(tmp_path, [
        Document("docs", "/lsst.html", "Survey", "The Legacy Survey of Space and Time starts soon."),
        Document("docs", "/acronym.html", "Cadence", "LSST cadence notes."),
        Document("docs", "/apart.html", "Words", "A legacy of time, a survey, and space."),
    ], acronyms={"LSST": "Legacy Survey of Space and Time"})
    assert {h.url for h in service.query("lsst")} == {"/lsst.html", "/acronym.html"}
    found = [h.url for h in service.query("when does the Legacy Survey of Space and Time start")]
    assert found[0] == "/lsst.html" and "/acronym.html" in found  # the spelled-out name finds the acronym too


def test_spelling_finds_swapped_missing_and_extra_letters(tmp_path: Path) -> None:
    service = _service(tmp_path, [Document("kb", "/t.html", "TAP timeout", "Queries time out on the TAP service; "
                                           "notebooks restart. Photometry of galaxies.")])
    assert service.search("tap timout").suggestion == "tap timeout"  # a letter missing
    assert service.search("notebokos").suggestion == "notebooks"  # two letters swapped: one edit
    assert service.search("photommetry").suggestion == "photometry"  # one extra
    assert service.search("Galaxeis").suggestion == "galaxies"
    assert service.search("xqzvwk").suggestion is None  # nothing close
    assert service.search("tpa").suggestion is None  # short words are taken as typed
    assert service.query("tap timout")  # the known word still finds the page


def test_edit_distance() -> None:
    assert _distance("timout", "timeout") == 1
    assert _distance("galaxeis", "galaxies") == 1
    assert _distance("kitten", "sitting") == 3
    assert _distance("", "abc") == 3 and _distance("same", "same") == 0


def _hostile(rng: random.Random) -> str:
    pieces = ['"', "'", ":", "(", ")", "[", "]", "{", "}", "^", "~", "*", "?", "\\", "/", "+", "-", "!", "&&", "||",
              "AND", "OR", "NOT", "title:", "IN [", "TO", "<>", "=", ";", "`", "$", "%", "@", "#",
              "SELECT * FROM dp02_dc2_catalogs.Object WHERE CONTAINS(POINT('ICRS', ra, dec), CIRCLE(...))=1",
              "Traceback (most recent call last):\n  File \"x.py\", line 3", "é", "ß", "İ", "ﬁ", "日本語", "مرحبا",
              "\u200b", "\u202e", "e\u0301", "🔭🌌", "\ufeff", "\t", "\n\n", "x" * 300, "9" * 50, "a.b.c.d.e" * 20]
    text = ""
    while len(text) < QUERY_MAX - 400:
        text += rng.choice(pieces) + rng.choice(["", " ", "  "])
    return text + "".join(chr(rng.randint(1, 0x2FFFF)) for _ in range(300)).replace("\ud800", "")


def test_hostile_long_questions_never_raise(tmp_path: Path) -> None:
    service = _service(tmp_path, [Document("kb", "/o.html", "Object table", "SELECT from the Object table; CONTAINS "
                                           "and POINT and CIRCLE select a cone.")],
                       acronyms={"TAP": "Table Access Protocol"})
    rng = random.Random(11)
    for _ in range(25):
        text = _hostile(rng)
        text = "".join(c for c in text if not 0xD800 <= ord(c) <= 0xDFFF)[:QUERY_MAX]
        result = service.search(text, limit=50, audience="staff")
        assert isinstance(result.hits, list)
        service.search(text[:60])  # short enough for a spelling suggestion
    assert service.query("SELECT * FROM Object WHERE CONTAINS(POINT('ICRS', ra, dec), CIRCLE(...))=1")[0].url == \
        "/o.html"
    for text in ("title:Object", "Object^5", "Object~2", "(Object", "*", '"', "NOT", "\0Object\0"):
        service.search(text)


def test_generations_are_readable_by_another_user(tmp_path: Path) -> None:
    service = _service(tmp_path, [Document("kb", "/a.html", "Alpha", "alpha")])
    generation = (tmp_path / "index").resolve()
    assert stat.S_IMODE(generation.stat().st_mode) == 0o755
    for path in generation.iterdir():
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o444 == 0o444, path.name
    # tantivy locks this file even to read: a reader that is not the builder must be able to open it.
    assert stat.S_IMODE((generation / ".tantivy-meta.lock").stat().st_mode) == 0o666
    assert not (generation / ".tantivy-writer.lock").exists()
    assert service.query("alpha")


READER = textwrap.dedent("""
    import os, sys, time
    import tantivy
    from helpdesk.search.services import SearchService
    service = SearchService(sys.argv[1])
    held = service._open()  # the generation as it is now, kept open through the swaps
    print("opened", held.searcher.num_docs, flush=True)
    errors, seen, deadline = 0, set(), time.monotonic() + 60
    while time.monotonic() < deadline and not os.path.exists(sys.argv[2]):
        try:
            seen.add(tuple(h.url for h in service.query("alphawords betawords gammawords", limit=10)))
        except Exception as exc:
            errors += 1
            print("error", repr(exc), flush=True)
    old = held.searcher.search(tantivy.Query.all_query(), 10)
    print("old", len(old.hits), "errors", errors, "seen", len(seen), flush=True)
""")


def test_a_reader_in_another_process_keeps_working_through_swaps(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    for name in ("alpha", "beta", "gamma"):
        (kb / f"{name}.md").write_text(f"---\ntitle: {name}\n---\n{name}words\n")
    service = SearchService(tmp_path / "ix")
    service.refresh(iter_sources(kb, None), acronyms={})
    first = (tmp_path / "ix").resolve()
    done = tmp_path / "done"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(tmp_path / "ix"), str(done)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None
        assert reader.stdout.readline().split() == ["opened", "3"]
        for round_ in range(6):  # each build swaps; two builds on, the generation the reader holds is deleted
            (kb / "alpha.md").write_text(f"---\ntitle: alpha\n---\nalphawords round{round_}\n")
            (kb / f"extra{round_}.md").write_text(f"---\ntitle: extra\n---\nbetawords {round_}\n")
            assert service.refresh(iter_sources(kb, None), acronyms={}).swapped
            time.sleep(0.05)
        assert not first.exists()
        done.touch()
        out, err = reader.communicate(timeout=90)
    finally:
        reader.kill()
    assert reader.returncode == 0, err
    words = out.split()
    assert words[words.index("old") + 1] == "3"  # the deleted generation still answers from its open files
    assert words[words.index("errors") + 1] == "0", out
    assert int(words[words.index("seen") + 1]) >= 2  # it saw the new generations as they came


def test_an_incremental_build_reads_only_what_changed_and_equals_a_full_one(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    for number in range(12):
        (kb / f"a{number}.md").write_text(f"---\ntitle: Article {number}\ntags: [tag{number}]\nqueues: [catalogs]\n"
                                          f"---\n# Article {number}\n\n## Heading{number}\n\nBody{number} words "
                                          f"shared by all {'and more ' * number}.\n")
    service = SearchService(tmp_path / "ix")
    service.refresh(iter_sources(kb, None), acronyms={})
    (kb / "a3.md").write_text("---\ntitle: Article 3\n---\n# Article 3\n\nChanged words shared by all.\n")

    opened: list[str] = []
    parsed: list[str] = []
    real_digest, real_documents = SourceFile.digest, SourceFile.documents
    monkeypatch.setattr(SourceFile, "digest", lambda self: opened.append(self.path.name) or real_digest(self))
    monkeypatch.setattr(SourceFile, "documents", lambda self: parsed.append(self.path.name) or real_documents(self))
    report = service.refresh(iter_sources(kb, None), acronyms={})
    assert (report.read, report.unchanged, report.documents, report.swapped) == (1, 11, 12, True)
    assert opened == ["a3.md"] and parsed == ["a3.md"]

    full = SearchService(tmp_path / "full")
    monkeypatch.undo()
    full.refresh(iter_sources(kb, None), acronyms={})
    for question in ("shared words", "heading7", "tag5", "changed", "article"):
        assert [h.to_dict() for h in service.query(question, limit=20, audience="staff")] == \
            [h.to_dict() for h in full.query(question, limit=20, audience="staff")], question


def test_an_index_of_the_previous_engine_means_a_full_build(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "a.md").write_text("---\ntitle: A\n---\nomegawords\n")
    service = SearchService(tmp_path / "ix")
    service.refresh(iter_sources(kb, None), acronyms={})
    manifest = (tmp_path / "ix" / "manifest.json")
    manifest.write_text(manifest.read_text().replace(f'"version": {services.INDEX_VERSION}', '"version": 2'))
    report = service.refresh(iter_sources(kb, None), acronyms={})
    assert report.full and report.read == 1 and service.query("omegawords")


def test_searches_in_threads_share_one_open_generation(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    service = _service(tmp_path, [Document("kb", f"/{i}.html", f"Page {i}", f"word{i} common") for i in range(50)])
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: service.query(f"word{i % 50} common", limit=3), range(200)))
    assert all(r[0].url == f"/{i % 50}.html" for i, r in enumerate(results))
    assert len([g for g in services._OPEN if g.parent == tmp_path]) == 1
    assert os.path.islink(tmp_path / "index")


def test_question_words_are_not_what_a_question_is_about(tmp_path: Path) -> None:
    service = _service(tmp_path, [
        Document("kb", "/how.html", "How and why", "How, why, what, which, where: how why what which where."),
        Document("kb", "/cutout.html", "Cutouts", "Make a cutout image."),
    ])
    assert service.query("how why what which where") == []
    assert [h.url for h in service.query("How do I make a cutout, and why?")] == ["/cutout.html"]


def test_a_camel_case_column_also_finds_what_it_names(tmp_path: Path) -> None:
    service = _service(tmp_path, [
        Document("kb", "/ext.html", "Extendedness", "Stars have extendedness 0, galaxies 1."),
        Document("docs", "/object.html", "Object", "Columns: refBand, detect_isPrimary."),
        Document("kb", "/run.html", "Running", "Run a job, async or not."),
    ])
    assert {h.url for h in service.query("refExtendedness")} == {"/ext.html"}
    assert service.query("what is detect_isPrimary")[0].url == "/object.html"  # the name as written, first
    assert [h.url for h in service.query("run_async")] == []  # snake_case is not split into common words


def test_the_snippet_is_where_the_searched_words_are_on_a_long_page(tmp_path: Path) -> None:
    filler = " ".join(f"filler{i}" for i in range(3000))
    body = f"Opening words. {filler} The coadd photometry of galaxies is measured here. {filler} Galaxies again."
    service = _service(tmp_path, [Document("docs", "/long.html", "Long page", body)])
    (hit,) = service.query("galaxy photometry")
    assert "coadd photometry of galaxies" in hit.snippet and len(hit.snippet) <= services.SNIPPET_CHARS
    assert "\n" not in hit.snippet
    (plain,) = service.query("opening")
    assert plain.snippet.startswith("Opening words.")
    assert services._snippet("İstanbul ﬁle 日本語", ["istanbul"]).startswith("İstanbul")
    assert services._snippet("", ["x"]) == ""


def test_a_generation_that_cannot_be_opened_is_a_503_not_a_crash(tmp_path: Path) -> None:
    service = _service(tmp_path, [Document("kb", "/a.html", "Alpha", "alpha")])
    services._OPEN.clear()
    generation = (tmp_path / "index").resolve()
    for path in generation.iterdir():
        if path.suffix in (".store", ".term", ".idx"):
            path.unlink()  # half gone, as if a cleanup ran under it
    with pytest.raises(services.SearchUnavailableError, match="helpdesk kb index"):
        service.query("alpha")


def test_ise_and_ize_spellings_find_each_other(tmp_path: Path) -> None:
    service = _service(tmp_path, [
        Document("docs", "/uk.html", "Sign in", "Authorise the application once; the organisation remembers."),
        Document("docs", "/us.html", "Tokens", "Tokens are authorized per organization."),
    ])
    assert {h.url for h in service.query("authorize")} == {"/uk.html", "/us.html"}
    assert {h.url for h in service.query("authorise")} == {"/uk.html", "/us.html"}
    assert {h.url for h in service.query("organization")} == {"/uk.html", "/us.html"}
    assert {h.url for h in service.query("organisation")} == {"/uk.html", "/us.html"}
    assert service.query("precise") == []  # a word that only looks like one: its other spelling is unknown
