"""The pure parts of deflection: which articles are offered, how links are escaped, the signed token."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpdesk.channels.base import markdown_link
from helpdesk.channels.slack import mrkdwn_link
from helpdesk.deflection.suggestions import Deflector, stored_articles
from helpdesk.deflection.tokens import InvalidTokenError, make_token, read_token
from helpdesk.search.services import SearchHit, SearchService

SECRET = "unit-secret-" + "z" * 32


class FakeSearch(SearchService):
    """The public query() of the search service, answering a fixed list (or failing like a missing index)."""

    def __init__(self, hits: list[SearchHit] | None) -> None:
        super().__init__(Path("/nonexistent"))
        self.hits, self.asked = hits, []

    def query(self, text: str, limit: int = 5, audience: str = "delegates") -> list[SearchHit]:
        self.asked.append((text, limit, audience))
        if self.hits is None:
            raise RuntimeError("index missing")
        return self.hits[:limit]


def hit(title: str, url: str, score: float) -> SearchHit:
    return SearchHit(title, url, "kb", score, "")


def test_only_articles_reaching_the_floor_are_offered_as_absolute_links_and_the_best_score_is_kept() -> None:
    search = FakeSearch([hit("Good", "/docs/kb/good.html", 30.0), hit("Weak", "/docs/kb/weak.html", 4.0)])
    looked = Deflector(search, "https://help.test/", floor=10.0).look_up("Subject  line", "the\nbody  text")
    assert [(a.title, a.url) for a in looked.articles] == [("Good", "https://help.test/docs/kb/good.html")]
    assert looked.best_score == 30.0
    assert search.asked == [("Subject line\nthe body text", 3, "delegates")]  # the subject on its own line
    assert stored_articles(looked.to_json()) == list(looked.articles)


def test_operator_pages_are_never_offered_even_if_the_engine_returned_one() -> None:
    search = FakeSearch([hit("Settings", "/docs/docs/reference/settings.html", 90.0), hit("Ok", "/docs/kb/a.html", 20)])
    looked = Deflector(search, "https://help.test", floor=10.0).look_up("s", "b")
    assert [a.title for a in looked.articles] == ["Ok"] and looked.best_score == 20


def test_search_down_offers_nothing_and_leaves_the_score_unknown_nothing_found_scores_zero() -> None:
    assert Deflector(FakeSearch(None), "https://h", 1.0).look_up("s", "b").best_score is None
    assert Deflector(FakeSearch([]), "https://h", 1.0).look_up("s", "b").best_score == 0.0


def test_slack_links_escape_its_three_control_characters() -> None:
    assert mrkdwn_link("Q&A <fast> | slow", "https://h/a?x=1&y=<2>|") == (
        "<https://h/a?x=1&amp;y=&lt;2&gt;%7C|Q&amp;A &lt;fast&gt; | slow>")


def test_markdown_links_keep_titles_as_text() -> None:
    assert markdown_link("See [this] <b>*now*</b>", "https://h/a b(1)") == (
        r"[See \[this\] \<b\>\*now\*\</b\>](https://h/a%20b%281%29)")


def test_tokens_name_their_ticket_and_nothing_else_is_accepted() -> None:
    token = make_token(SECRET, 42)
    assert token == make_token(SECRET, 42)  # the same every time: a redelivered acknowledgement is identical
    assert read_token(SECRET, token) == 42
    for bad in (make_token("other-" + SECRET, 42), token[:-2] + "xx", "", "42"):
        with pytest.raises(InvalidTokenError):
            read_token(SECRET, bad)


def test_click_answers_go_to_slack_only_and_a_failure_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    from helpdesk.channels.slack import SlackChannel, _is_slack_url
    from helpdesk.config import Settings

    assert _is_slack_url("https://hooks.slack.com/actions/T1/2/abc", "https://slack.com/api/")
    assert not _is_slack_url("http://hooks.slack.com/actions/T1/2/abc", "https://slack.com/api/")
    assert not _is_slack_url("https://evil.test/actions", "https://slack.com/api/")
    assert not _is_slack_url("http://[::1", "https://slack.com/api/")
    channel = SlackChannel(Settings(env="testing", slack_signing_secret="s" * 20, slack_api_url="http://127.0.0.1:9/api/"))
    channel.answer_click("http://127.0.0.1:9/hook", "Glad it helped!")  # nothing listens there: logged, not raised
    assert "could not answer the button click" in caplog.text
    channel.answer_click(None, "ignored")
