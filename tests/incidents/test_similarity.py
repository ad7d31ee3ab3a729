"""Text similarity: reports of one failure in other words score above the threshold, other questions below."""

from __future__ import annotations

import pytest

from helpdesk.tickets.similarity import similarities, ticket_text
from tests.incidents.conftest import TAP_DOWN, UNRELATED

LOGIN_DOWN = [
    ("cannot log in to data.lsst.cloud", "Since this morning I cannot log in, after GitHub authorize I get a 500 "
     "error page."),
    ("Login broken", "The RSP login page gives me an internal server error after I authorize with GitHub."),
    ("can't sign in to the science platform", "login to the Rubin science platform fails - error 500 after github"),
]
OTHERS = [
    UNRELATED,
    ("Which table has the light curves?", "I want forced photometry over time for one object in DP0.2."),
    ("Notebook kernel keeps dying", "My notebook kernel restarts when I load a big dataframe with pandas."),
    ("Citing DP0 in a paper", "What is the acknowledgement text I should put in my paper that uses DP0.2 data?"),
]
THRESHOLD = 0.2


def _scores(target: tuple[str, str], others: list[tuple[str, str]]) -> list[float]:
    return similarities(ticket_text(*target), [ticket_text(*o) for o in others])


@pytest.mark.parametrize("group", [TAP_DOWN, LOGIN_DOWN], ids=["tap-503", "login-500"])
def test_each_report_of_a_failure_is_like_another_one_and_unlike_other_questions(group) -> None:  # type: ignore[no-untyped-def]
    everything = [*TAP_DOWN, *LOGIN_DOWN, *OTHERS]
    for report in group:
        rest = [doc for doc in everything if doc is not report]
        scores = dict(zip(map(id, rest), _scores(report, rest), strict=True))
        same = [scores[id(doc)] for doc in group if doc is not report]
        assert max(same) >= THRESHOLD, (report, same)
        assert all(scores[id(doc)] < THRESHOLD for doc in OTHERS), report


def test_other_words_for_the_same_thing_count_as_the_same() -> None:
    assert "login" in ticket_text("Can't sign in", "") and "cannot" in ticket_text("Can't sign in", "")
    assert "503" in ticket_text("HTTP 503", "") and "http" not in ticket_text("HTTP 503", "")


def test_identical_texts_score_one_and_nothing_in_common_scores_zero() -> None:
    text = ticket_text(*TAP_DOWN[0])
    assert _scores(TAP_DOWN[0], [TAP_DOWN[0], UNRELATED])[0] == pytest.approx(1.0)
    assert similarities(text, []) == []
    assert similarities("the and of", ["a the"]) == [0.0]  # only stop words: nothing to compare
