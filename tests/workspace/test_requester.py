"""The requester's side: marking a ticket solved, a thank-you that is no new work, auto-close, the one rating
question, and My tickets with the last reply."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from helpdesk.audit import AuditEvent
from helpdesk.exceptions import ConflictError, InvalidInputError, InvalidTransitionError, PermissionDeniedError
from helpdesk.tickets.gratitude import is_gratitude_only
from helpdesk.tickets.inbound import Author, InboundMessage, ThreadRef
from helpdesk.tickets.models import Source, Status, Ticket, Visibility
from helpdesk.tickets.services import status_after_message
from helpdesk.tickets.workspace import TicketRating
from helpdesk.worker import OutboxWorker
from tests.conftest import csrf_token_from
from tests.workspace.conftest import requester_with_email, staff, web_ticket

GRATITUDE = ["Thanks!", "thank you so much, that works :tada:", "Thanks 🙏", "thx", "Great, thanks a lot!",
             "Thank you, it's working now.", "Cheers, much appreciated"]
NEW_WORK = ["thanks, but it still fails", "Thanks! Could you also check the TAP query", "thanks, one more question?",
            "ok", "thanks, not working", "Thanks. Now I get error 503", "Thanks, see `butler.get('calexp')`",
            "thanks " * 20, "Great", ""]


@pytest.mark.parametrize("text", GRATITUDE)
def test_gratitude_only(text: str) -> None:
    assert is_gratitude_only(text)


@pytest.mark.parametrize("text", NEW_WORK)
def test_anything_more_is_new_work(text: str) -> None:
    assert not is_gratitude_only(text)


@pytest.mark.parametrize("status", [Status.RESOLVED, Status.WAITING_ON_USER, Status.CLOSED])
def test_the_rule_keeps_a_thanked_ticket_where_it_is(status: Status) -> None:
    kwargs = {"public": True, "by_requester": True, "by_staff": False}
    assert status_after_message(status, body="Thanks!", **kwargs) is status
    assert status_after_message(status, body="thanks, but it still fails", **kwargs) is Status.IN_PROGRESS


def _resolved_ticket(desk, session):  # type: ignore[no-untyped-def]
    dana, sam = requester_with_email(session), staff(session)
    service = desk.factory(session).create_ticket_service()
    ticket = web_ticket(desk, session, dana)
    service.reply(sam, ticket.id, "Use the DP0.2 collection.", status=Status.RESOLVED)
    return service, dana, ticket


def test_thank_you_on_the_web_does_not_reopen(desk) -> None:  # type: ignore[no-untyped-def]
    session = desk.session()
    service, dana, ticket = _resolved_ticket(desk, session)
    service.reply(dana, ticket.id, "Thank you, that works!")
    assert service.find(ticket.id).status is Status.RESOLVED
    service.reply(dana, ticket.id, "Thanks, but now the query times out.")
    assert service.find(ticket.id).status is Status.IN_PROGRESS
    session.close()


def test_thank_you_in_a_slack_thread_does_not_reopen(desk) -> None:  # type: ignore[no-untyped-def]
    session = desk.session()
    service = desk.factory(session).create_ticket_service()
    sam = staff(session)
    thread = ThreadRef("slack", "C0SUPPORT", "1700000000.000100")

    def slack(text: str, ts: str, *, first: bool = False) -> InboundMessage:
        return InboundMessage(channel="slack", delivery_ids=(f"msg:C0SUPPORT:{ts}",), author=Author("U0DANA", "dana"),
                              thread=thread, text=text, message_id=ts, thread_key="C0SUPPORT:1700000000.000100",
                              opens_thread=first, starts_ticket=first,
                              external={"channel": "C0SUPPORT", "thread_ts": "1700000000.000100"})

    ticket_id = service.receive(slack("How do I query TAP?", "1700000000.000100", first=True)).ticket_id
    service.reply(sam, ticket_id, "Like this.", status=Status.RESOLVED)
    service.receive(slack("thanks!! :raised_hands:", "1700000001.000100"))
    assert service.find(ticket_id).status is Status.RESOLVED
    service.receive(slack("thanks, but it still fails", "1700000002.000100"))
    assert service.find(ticket_id).status is Status.IN_PROGRESS
    session.close()


def test_delegate_marks_solved_through_the_page(desk, client, login) -> None:  # type: ignore[no-untyped-def]
    dana = login("dana")
    session = desk.session()
    ticket = web_ticket(desk, session, session.get(type(dana), dana.id))
    session.close()
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "Mark as solved" in page
    assert client.post(f"/tickets/{ticket.id}/solved").status_code == 400  # no CSRF token
    response = client.post(f"/tickets/{ticket.id}/solved", data={"csrf_token": csrf_token_from(page)})
    assert response.status_code == 302
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "Marked as solved" in page and "How well did we help?" in page and "Mark as solved" not in page
    with desk.read() as read:
        assert read.get(Ticket, ticket.id).status is Status.RESOLVED
        (solved,) = read.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.updated"))
        assert (solved.actor_id, solved.data["solved_by"]) == (dana.id, "requester")
    again = client.post(f"/tickets/{ticket.id}/solved", data={"csrf_token": csrf_token_from(page)})
    assert "already resolved" in client.get(again.headers["Location"]).get_data(as_text=True)


def test_someone_elses_ticket_cannot_be_solved(desk, client, login) -> None:  # type: ignore[no-untyped-def]
    session = desk.session()
    ticket = web_ticket(desk, session, requester_with_email(session))
    session.close()
    login("mallory")
    page = client.get("/tickets/").get_data(as_text=True)
    response = client.post(f"/tickets/{ticket.id}/solved", data={"csrf_token": csrf_token_from(page)})
    assert response.status_code == 404
    with desk.read() as read:
        assert read.get(Ticket, ticket.id).status is Status.NEW


def test_rating_once_after_solving(desk, client, login) -> None:  # type: ignore[no-untyped-def]
    dana = login("dana")
    session = desk.session()
    service = desk.factory(session).create_ticket_service()
    ticket = web_ticket(desk, session, session.get(type(dana), dana.id))
    with pytest.raises(InvalidTransitionError):
        service.rate(session.get(type(dana), dana.id), ticket.id, 5)  # not solved yet
    service.mark_solved(session.get(type(dana), dana.id), ticket.id)
    with pytest.raises(PermissionDeniedError):
        service.rate(staff(session), ticket.id, 5)
    session.close()
    token = csrf_token_from(client.get(f"/tickets/{ticket.id}").get_data(as_text=True))
    bad = client.post(f"/tickets/{ticket.id}/rating", data={"csrf_token": token, "score": "9"})
    assert "Choose a rating from 1 to 5" in client.get(bad.headers["Location"]).get_data(as_text=True)
    client.post(f"/tickets/{ticket.id}/rating", data={"csrf_token": token, "score": "4", "comment": "Quick, thanks"})
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "You rated this ticket 4 of 5" in page and "How well did we help?" not in page
    with desk.read() as read:
        rating = read.scalar(select(TicketRating))
        assert (rating.score, rating.comment, rating.person_id) == (4, "Quick, thanks", dana.id)
    session = desk.session()
    with pytest.raises(ConflictError):
        desk.factory(session).create_ticket_service().rate(session.get(type(dana), dana.id), ticket.id, 1)
    session.close()


def test_staff_see_the_rating(desk, client, login) -> None:  # type: ignore[no-untyped-def]
    login("sam", "staff")
    session = desk.session()
    service, dana, ticket = _resolved_ticket(desk, session)
    service.rate(dana, ticket.id, 2, "Took long")
    session.close()
    assert "Requester's rating: <strong>2 of 5</strong> · “Took long”" in client.get(
        f"/staff/tickets/{ticket.id}").get_data(as_text=True)


def test_rating_can_be_switched_off(desk, make_settings, smtp) -> None:  # type: ignore[no-untyped-def]
    from helpdesk import create_app

    session = desk.session()
    _service, _dana, ticket = _resolved_ticket(desk, session)
    session.close()
    app = create_app(make_settings(**smtp.settings(), satisfaction_rating=False))
    client = app.test_client()
    form = client.get("/auth/login").get_data(as_text=True)
    client.post("/auth/login", data={"login": "dana", "csrf_token": csrf_token_from(form)})
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "resolved" in page and "How well did we help?" not in page
    response = client.post(f"/tickets/{ticket.id}/rating", data={"csrf_token": csrf_token_from(page), "score": "5"})
    assert response.status_code == 404
    app.extensions["helpdesk"].engine.dispose()


def test_bad_rating_input_is_refused_by_the_service(desk) -> None:  # type: ignore[no-untyped-def]
    session = desk.session()
    service, dana, ticket = _resolved_ticket(desk, session)
    for score in ("0", "six", None, 6):
        with pytest.raises(InvalidInputError):
            service.rate(dana, ticket.id, score)
    assert service.rating_of(ticket.id) is None
    session.close()


def test_resolved_tickets_close_after_the_configured_days(desk, make_settings, smtp) -> None:  # type: ignore[no-untyped-def]
    session = desk.session()
    service, dana, ticket = _resolved_ticket(desk, session)
    reopened = web_ticket(desk, session, dana)
    service.mark_solved(dana, reopened.id)
    service.reply(dana, reopened.id, "It broke again after the upgrade.")  # back to in progress: stays open
    session.close()
    settings = make_settings(**smtp.settings(), auto_close_days=7)
    factory = desk.app.extensions["helpdesk"].session_factory

    def sweep(after: timedelta) -> None:
        OutboxWorker(factory, settings, clock=lambda: desk.clock() + after).run_once()

    sweep(timedelta(days=6, hours=23))
    with desk.read() as read:
        assert read.get(Ticket, ticket.id).status is Status.RESOLVED
    sweep(timedelta(days=7, minutes=1))
    with desk.read() as read:
        assert read.get(Ticket, ticket.id).status is Status.CLOSED
        assert read.get(Ticket, reopened.id).status is Status.IN_PROGRESS
        (closed,) = read.scalars(select(AuditEvent).where(AuditEvent.ticket_id == ticket.id,
                                                          AuditEvent.data["reason"].as_string() == "auto_close"))
        assert closed.actor_id is None and closed.data["changes"] == {"status": ["resolved", "closed"]}
    OutboxWorker(factory, make_settings(auto_close_days=0)).run_once()  # off: nothing happens, nothing fails


def test_my_tickets_show_status_and_last_reply(desk, client, login, app) -> None:  # type: ignore[no-untyped-def]
    from tests.support.statements import counting

    dana = login("dana")
    session = desk.session()
    me, sam = session.get(type(dana), dana.id), staff(session)
    service = desk.factory(session).create_ticket_service()
    answered, quiet = web_ticket(desk, session, me), web_ticket(desk, session, me, "second")
    service.reply(sam, answered.id, "Try the DP0.2 collection, it has calexp.")
    service.reply(sam, answered.id, "Internal: she may need a seat.", Visibility.INTERNAL)
    for n in range(5):
        service.reply(me, web_ticket(desk, session, me, f"more {n}").id, f"Follow-up {n}")
    session.close()
    with counting(app.extensions["helpdesk"].engine) as statements:
        html = client.get("/tickets/").get_data(as_text=True)
    rows = html[html.index("<tbody>"):]
    assert "Try the DP0.2 collection" in rows and "Internal: she may need" not in rows
    assert "waiting on user" in rows and f"/tickets/{quiet.id}" in rows and "no reply yet" in rows
    assert "You, " in rows and "Follow-up 4" in rows
    assert sum("FROM message" in s for s in statements) == 1  # the last replies in one query


def test_docs_header_links_to_the_desk_and_my_tickets(built_docs) -> None:  # type: ignore[no-untyped-def]
    html = (built_docs / "docs" / "index.html").read_text()
    assert 'href="/tickets/"' in html and 'href="/"' in html
    assert Source.WEB  # the web requester's desk is what the links lead to
