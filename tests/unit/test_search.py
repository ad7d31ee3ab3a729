"""The search service on a temporary index built from three fixture articles and one built page."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpdesk.exceptions import InvalidInputError
from helpdesk.search.documents import Document, iter_built_docs, iter_kb, read_built_page, read_kb_article
from helpdesk.search.services import (
    QUERY_MAX,
    TERMS_MAX,
    SearchService,
    SearchUnavailableError,
    _question_query,
    _question_terms,
)

KB = Path(__file__).resolve().parent.parent / "data" / "kb"

PAGE = """<html><head><title>Object (DP0.2) &#8212; DP0 Support Desk</title></head><body>
<nav>Navigation Object Source</nav>
<article><h1>Object (DP0.2)<a class="headerlink" href="#">#</a></h1>
<p>The Object table holds coadd measurements; query it through TAP with a cone.</p>
<svg><title>diagram label</title><text>Object</text></svg></article>
<footer>footer words</footer></body></html>"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    page = tmp_path / "site" / "docs" / "reference" / "object.html"
    page.parent.mkdir(parents=True)
    page.write_text(PAGE)
    return tmp_path / "site"


@pytest.fixture
def service(tmp_path: Path, site: Path) -> SearchService:
    service = SearchService(tmp_path / "index")
    assert service.rebuild([*iter_kb(KB), *iter_built_docs(site)]) == 4
    return service


def test_kb_article_front_matter_and_url() -> None:
    article = read_kb_article(KB / "tap-timeouts.md", KB)
    assert article.title == "TAP query times out"
    assert article.tags == ["tap", "timeout"] and article.queues == ["catalogs"]
    assert article.path == "/docs/kb/tap-timeouts.html"
    assert "title:" not in article.body


def test_built_page_text_skips_navigation_and_markup(site: Path) -> None:
    (page,) = list(iter_built_docs(site))
    assert page.title == "Object (DP0.2)"
    assert page.path == "/docs/docs/reference/object.html"
    assert "coadd measurements" in page.body
    for noise in ("Navigation", "footer words", "diagram label", "#"):
        assert noise not in page.body


def test_best_match_first_with_snippet(service: SearchService) -> None:
    hits = service.query("tap timeout", limit=5)
    assert hits[0].title == "TAP query times out" and hits[0].kind == "kb"
    assert hits[0].url == "/docs/kb/tap-timeouts.html"
    assert "cone" in hits[0].snippet
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_docs_pages_are_found_too(service: SearchService) -> None:
    hits = service.query("coadd measurements")
    assert [(h.kind, h.title) for h in hits] == [("docs", "Object (DP0.2)")]


def test_stemming_and_tags(service: SearchService) -> None:
    assert service.query("invitations")[0].title == "GitHub sign-in refused"
    assert service.query("storage")[0].title == "Scratch space is not backed up"
    assert service.query("github")[0].title == "GitHub sign-in refused"


def test_limit_is_respected(service: SearchService) -> None:
    # Three words, together in all four pages: four matches, of which limit keeps the best.
    assert len(service.query("tap github scratch", limit=5)) == 4
    assert len(service.query("tap github scratch", limit=2)) == 2


def test_stop_words_alone_match_nothing(service: SearchService) -> None:
    assert service.query("the and of") == []


QUESTION = """Hello, I hope this is the right place to ask.

I have been trying since yesterday to run a query from the notebook aspect. It worked last week, but now
every time I submit it the TAP service just sits there and after a while I get a timeout. I am selecting
objects in a small cone around a position, nothing huge, and I tried both the synchronous and asynchronous
endpoints. My colleague says hers works fine. Is there a limit I am hitting?

Thanks a lot for any help, and sorry if this was asked before. Best wishes, Dana"""


def test_a_whole_question_finds_its_answer(service: SearchService) -> None:
    question = (QUESTION + "\n\n") * (QUERY_MAX // (len(QUESTION) + 2))
    assert 2000 < len(question.strip()) <= QUERY_MAX
    hits = service.query(question)
    assert hits[0].title == "TAP query times out"


def test_a_question_becomes_a_bounded_query(service: SearchService, tmp_path: Path) -> None:
    words = [f"word{i}" for i in range(200)]
    many = SearchService(tmp_path / "many")
    many.rebuild([Document("kb", f"/kb/{w}.html", w, f"{w} {w}") for w in words])
    searcher = many._open().searcher
    assert len(_question_terms(searcher, " ".join(words), {})) == TERMS_MAX
    assert _question_query(searcher, " ".join(words)) is not None
    assert _question_query(searcher, "nothing indexed here") is None
    assert len(many.query(" ".join(words), limit=50)) == TERMS_MAX


OPERATOR_PAGE = """<html><head><title>Install &#8212; DP0 Support Desk</title></head><body>
<article><h1>Install</h1><p>Set HELPDESK_SECRET_KEY and run gunicorn behind the proxy.</p></article></body></html>"""


def test_operator_pages_are_for_staff_only(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for relative in ("docs/operator/install.html", "docs/reference/settings.html", "docs/reference/queues.html"):
        page = site / relative
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(OPERATOR_PAGE.replace("Install", page.stem))
    service = SearchService(tmp_path / "index")
    service.rebuild(iter_built_docs(site))
    staff = {h.url for h in service.query("gunicorn secret key", audience="staff")}
    delegates = {h.url for h in service.query("gunicorn secret key")}
    assert staff == {"/docs/docs/operator/install.html", "/docs/docs/reference/settings.html",
                     "/docs/docs/reference/queues.html"}
    assert delegates == {"/docs/docs/reference/queues.html"}
    assert read_built_page(site / "docs/operator/install.html", site) is not None


def test_no_match_is_an_empty_list(service: SearchService) -> None:
    assert service.query("xylophone") == []


@pytest.mark.parametrize(("text", "limit"), [("", 5), ("   ", 5), ("x" * (QUERY_MAX + 1), 5), ("tap", 0),
                                             ("tap", 51)])
def test_bad_queries_are_refused(service: SearchService, text: str, limit: int) -> None:
    with pytest.raises(InvalidInputError):
        service.query(text, limit)


def test_unknown_audience_is_refused(service: SearchService) -> None:
    with pytest.raises(InvalidInputError):
        service.query("tap", audience="everyone")


def test_query_syntax_characters_do_not_crash(service: SearchService) -> None:
    for text in ('"unbalanced', "AND OR NOT", "coord_ra:(", "*", "tap)"):
        service.query(text)


def test_missing_index_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(SearchUnavailableError, match="helpdesk kb index"):
        SearchService(tmp_path / "nothing").query("tap")


def test_rebuild_replaces_the_index_whole(service: SearchService, tmp_path: Path) -> None:
    service.rebuild([read_kb_article(KB / "github-login.md", KB)])
    assert service.query("tap timeout") == []
    assert service.query("github")[0].kind == "kb"


def test_kb_body_does_not_repeat_the_heading() -> None:
    article = read_kb_article(KB / "github-login.md", KB)
    assert article.body.strip().startswith("Accept the invitation")


def test_kb_snippets_are_plain_text(tmp_path: Path) -> None:
    article = tmp_path / "kb" / "a.md"
    article.parent.mkdir()
    article.write_text("# Title\n\nServed **in order**, see `Object`.\n")
    assert read_kb_article(article, article.parent).body.strip() == "Served in order, see Object."
