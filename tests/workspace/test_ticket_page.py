"""The staff ticket page: one timeline with delivery states, reply and status in one step, macros,
knowledge-base links, the requester panel and colleague presence."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpdesk.accounts.models import Person, Role
from helpdesk.audit import AuditEvent
from helpdesk.exceptions import InvalidTransitionError, PermissionDeniedError
from helpdesk.programs.models import Application, ApplicationStatus, Program
from helpdesk.tickets.models import Message, OutboxItem, OutboxStatus, Source, Status, Visibility
from helpdesk.tickets.workspace import Macro, MacroService, PresenceAction, PresenceService, render_placeholders
from tests.conftest import csrf_token_from
from tests.support.clock import Clock
from tests.support.statements import counting
from tests.workspace.conftest import requester_with_email, staff, web_ticket


def _slack_ticket(desk, session, requester, ts: str = "1700000000.000100"):  # type: ignore[no-untyped-def]
    external = {"channel": "C0SUPPORT", "thread_ts": ts, "team_domain": "rubin-dp0"}
    return desk.factory(session).create_ticket_service().file(
        requester, "Slack question", "How do I query TAP?", Source.SLACK, external=external,
        thread_key=f"C0SUPPORT:{ts}").ticket


def test_timeline_shows_events_and_each_delivery_state(desk, client, login) -> None:  # type: ignore[no-untyped-def]
    signed_in = login("sam", "staff")
    session = desk.session()
    sam = session.get(Person, signed_in.id)
    dana = requester_with_email(session)
    ticket = _slack_ticket(desk, session, dana)
    service = desk.factory(session).create_ticket_service()
    service.reply(sam, ticket.id, "First answer.")  # stays queued
    delivered = service.reply(sam, ticket.id, "Second answer.")
    failed = service.reply(sam, ticket.id, "Third answer.")
    service.reply(sam, ticket.id, "A note for staff.", Visibility.INTERNAL)
    service.update(sam, ticket.id, {"priority": "high"})
    items = {i.message_id: i for i in session.scalars(select(OutboxItem).where(OutboxItem.ticket_id == ticket.id))}
    items[delivered.id].status, items[delivered.id].remote_id = OutboxStatus.DELIVERED, "1700000001.000100"
    items[delivered.id].delivered_at = desk.clock()
    items[failed.id].status, items[failed.id].last_error = OutboxStatus.DEAD, "attempt 8: channel_not_found"
    session.commit()
    failed_item = items[failed.id].id
    session.close()

    html = client.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    assert html.index("First answer.") < html.index("Second answer.") < html.index("priority normal → high")
    assert "Queued for the Slack thread" in html
    assert ('href="https://rubin-dp0.slack.com/archives/C0SUPPORT/p1700000001000100'
            '?thread_ts=1700000000.000100&amp;cid=C0SUPPORT"') in html
    assert "Failed: Slack thread · attempt 8: channel_not_found" in html
    assert f'action="/staff/tickets/{ticket.id}/deliveries/{failed_item}/retry"' in html
    assert html.count('data-delivery="') == 3  # the internal note is delivered nowhere

    token = csrf_token_from(html)
    response = client.post(f"/staff/tickets/{ticket.id}/deliveries/{failed_item}/retry", data={"csrf_token": token})
    assert response.status_code == 302
    with desk.read() as read:
        item = read.get(OutboxItem, failed_item)
        assert item.status is OutboxStatus.PENDING and item.attempts == 0
        assert read.scalar(select(AuditEvent).where(AuditEvent.action == "outbox.retried")).actor_id == sam.id
    assert client.post(f"/staff/tickets/{ticket.id}/deliveries/{failed_item}/retry").status_code == 400  # no CSRF


def test_the_page_reads_a_bounded_number_of_queries(desk, client, login, app) -> None:  # type: ignore[no-untyped-def]
    signed_in = login("sam", "staff")

    def queries_for(replies: int) -> int:
        session = desk.session()
        sam = session.get(Person, signed_in.id)
        ticket = _slack_ticket(desk, session, requester_with_email(session, f"r{replies}"), f"17000000{replies:02}.0001")
        service = desk.factory(session).create_ticket_service()
        for n in range(replies):
            service.reply(sam, ticket.id, f"Answer {n}.")
            service.update(sam, ticket.id, {"priority": ["high", "low"][n % 2]})
        session.close()
        with counting(app.extensions["helpdesk"].engine) as statements:
            assert client.get(f"/staff/tickets/{ticket.id}").status_code == 200
        return statements

    queries_for(1)  # the first page of a process warms per-process caches
    few, many = queries_for(2), queries_for(12)
    assert len(few) == len(many), set(many) - set(few)


def test_reply_and_set_status_in_one_step(desk, client, login) -> None:  # type: ignore[no-untyped-def]
    login("sam", "staff")
    session = desk.session()
    ticket = web_ticket(desk, session, requester_with_email(session))
    session.close()
    token = csrf_token_from(client.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True))
    response = client.post(f"/staff/tickets/{ticket.id}/reply", data={
        "csrf_token": token, "body": "Fixed in the new release.", "visibility": "public", "status": "resolved"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Reply sent; the ticket is now resolved." in page
    with desk.read() as read:
        stored = read.get(type(ticket), ticket.id)
        assert stored.status is Status.RESOLVED and stored.resolved_at is not None
        assert [m.body for m in stored.messages] == ["Fixed in the new release."]
        changes = [e.data["changes"] for e in read.scalars(select(AuditEvent).where(
            AuditEvent.ticket_id == ticket.id, AuditEvent.action == "ticket.updated"))]
        assert changes == [{"status": ["waiting_on_user", "resolved"]}]

    # An impossible status stores neither the reply nor the change.
    response = client.post(f"/staff/tickets/{ticket.id}/reply", data={
        "csrf_token": token, "body": "Back to triage?", "visibility": "public", "status": "triaged"})
    assert response.status_code == 409 and "cannot go from" in response.get_data(as_text=True)
    with desk.read() as read:
        assert read.scalar(select(Message.id).where(Message.body == "Back to triage?")) is None
        assert read.get(type(ticket), ticket.id).status is Status.RESOLVED


def test_reply_with_status_is_for_staff_only(desk) -> None:  # type: ignore[no-untyped-def]
    session = desk.session()
    dana = requester_with_email(session)
    ticket = web_ticket(desk, session, dana)
    service = desk.factory(session).create_ticket_service()
    with pytest.raises(PermissionDeniedError):
        service.reply(dana, ticket.id, "I close it myself", status=Status.CLOSED)
    with pytest.raises(InvalidTransitionError):
        service.reply(staff(session), ticket.id, "note", Visibility.INTERNAL, status=Status.TRIAGED)
    session.close()


def test_placeholders_are_filled_from_a_whitelist_only() -> None:
    values = {"requester_name": "{agent_name} {0.__class__}", "ticket_id": "7", "agent_name": "Sam"}
    text = "Hi {requester_name}, #{ticket_id} by {agent_name}. {unknown} {0} {ticket_id!r} {{ticket_id}}"
    assert render_placeholders(text, values) == (
        "Hi {agent_name} {0.__class__}, #7 by Sam. {unknown} {0} {ticket_id!r} {7}")


def test_macros_staff_own_admins_share(desk, client, login) -> None:  # type: ignore[no-untyped-def]
    session = desk.session()
    ana, boss = staff(session, "ana"), staff(session, "boss", Role.ADMIN)
    service = MacroService(session)
    shared = service.save(boss, None, "Collections", "Hello {requester_name}, see {ticket_url}.", shared=True)
    with pytest.raises(PermissionDeniedError):
        service.save(ana, shared.id, "Mine now", "x", shared=False)  # staff do not edit shared macros
    with pytest.raises(PermissionDeniedError):
        service.save(ana, None, "Shared by staff", "x", shared=True)
    ticket = web_ticket(desk, session, requester_with_email(session))
    session.close()

    sam = login("sam", "staff")
    page = client.get("/staff/macros").get_data(as_text=True)
    assert "Collections" in page and f'/staff/macros/{shared.id}"' not in page  # sam may not edit it
    token = csrf_token_from(page)
    assert client.post("/staff/macros", data={"csrf_token": token, "title": "", "body": ""}).status_code == 400
    response = client.post("/staff/macros", data={"csrf_token": token, "title": "Thanks",
                                                  "body": "Thanks {requester_name}! — {agent_name}, ticket {ticket_id}"})
    assert response.status_code == 302
    with desk.read() as read:
        mine = read.scalar(select(Macro).where(Macro.title == "Thanks"))
        assert (mine.owner_id, mine.shared) == (sam.id, False)
    assert client.post(f"/staff/macros/{shared.id}", data={"csrf_token": token, "title": "Taken", "body": "x"}
                       ).status_code == 403
    assert client.post(f"/staff/macros/{mine.id}", data={"csrf_token": token, "title": "Thanks!", "body": "Ta"}
                       ).status_code == 302

    detail = client.get(f"/staff/tickets/{ticket.id}?macro={shared.id}").get_data(as_text=True)
    # Without JavaScript, choosing a macro fills the reply box with the placeholders filled in.
    assert f"Hello Dana Delegate, see https://help.test/tickets/{ticket.id}." in detail
    assert f'<template id="macro-text-{mine.id}">Ta</template>' in detail

    # Another staff member sees the shared macro but not sam's own.
    with desk.read() as read:
        ana = read.get(type(ana), ana.id)
        assert [m.title for m in MacroService(read).visible(ana)] == ["Collections"]
    assert client.post(f"/staff/macros/{mine.id}/delete", data={"csrf_token": token}).status_code == 302
    with desk.read() as read:
        assert read.get(Macro, mine.id) is None
        assert {e.action for e in read.scalars(select(AuditEvent))} >= {"macro.created", "macro.updated",
                                                                          "macro.deleted"}


def test_macro_pages_are_for_staff(client, login) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/staff/macros").status_code == 302  # anonymous: sign in first
    login("dana")
    assert client.get("/staff/macros").status_code == 403
    assert client.get("/staff/kb.json?q=butler").status_code == 403


def test_requester_panel_lists_other_tickets_identities_and_seat(desk, client, login) -> None:  # type: ignore[no-untyped-def]
    login("sam", "staff")
    session = desk.session()
    dana = requester_with_email(session)
    older = web_ticket(desk, session, dana, "older question")
    ticket = web_ticket(desk, session, dana)
    program = session.scalar(select(Program).where(Program.slug == "dp0"))
    session.add(Application(program_id=program.id, person_id=dana.id, name="Dana Delegate", email="dana@example.org",
                            institution="Rubin", data_rights_statement=True, status=ApplicationStatus.ACTIVE))
    session.commit()
    session.close()
    html = client.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    panel = html[html.index("data-requester-panel"):]
    assert f"#{older.id} Butler cannot find calexp" in panel and f"#{ticket.id} " not in panel
    assert "GitHub: dana" in panel and "dana@example.org" in panel
    assert "Seat: Data Preview 0 delegates — active" in panel


def test_presence_shows_colleagues_for_a_minute(desk) -> None:  # type: ignore[no-untyped-def]
    session = desk.session()
    ana, sam = staff(session, "ana"), staff(session, "sam")
    ticket = web_ticket(desk, session, requester_with_email(session))
    clock = Clock()
    service = PresenceService(session, clock)
    assert service.beat(ana, ticket.id, PresenceAction.REPLYING) == []
    (colleague,) = service.beat(sam, ticket.id, PresenceAction.VIEWING)
    assert (colleague.name, colleague.action) == ("ana", PresenceAction.REPLYING)
    clock.advance(61)
    assert service.beat(sam, ticket.id, PresenceAction.VIEWING) == []  # ana's heartbeat is too old
    service.beat(ana, ticket.id, PresenceAction.VIEWING)
    service.leave(ana, ticket.id)
    assert service.others(sam, ticket.id) == []
    session.close()


def test_presence_endpoint(desk, client, login) -> None:  # type: ignore[no-untyped-def]
    login("sam", "staff")
    session = desk.session()
    ana = staff(session, "ana")
    ticket = web_ticket(desk, session, requester_with_email(session))
    PresenceService(session).beat(ana, ticket.id, PresenceAction.REPLYING)
    session.close()
    html = client.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    assert "ana is replying to this ticket." in html and 'aria-live="polite"' in html
    token = csrf_token_from(html)
    url = f"/staff/tickets/{ticket.id}/presence"
    assert client.post(url, json={"action": "viewing"}).status_code == 400  # no CSRF header
    answer = client.post(url, json={"action": "viewing"}, headers={"X-CSRFToken": token})
    assert answer.get_json() == {"others": [{"name": "ana", "action": "replying"}]}
    assert client.post(url, json={"action": "dancing"}, headers={"X-CSRFToken": token}).status_code == 422
    assert client.post("/staff/tickets/999/presence", json={}, headers={"X-CSRFToken": token}).status_code == 404


def test_knowledge_base_links_for_the_reply_box(desk, client, login, app) -> None:  # type: ignore[no-untyped-def]
    from helpdesk.search.documents import Document

    login("sam", "staff")
    desk.factory(desk.session()).create_search_service().rebuild([
        Document("kb", "/docs/kb/butler-collections.html", "Butler collections for DP0.2",
                 "Use the butler with the 2.2i/runs/DP0.2 collection."),
        Document("kb", "/docs/kb/tap.html", "Querying TAP", "The Table Access Protocol service."),
    ])
    session = desk.session()
    ticket = web_ticket(desk, session, requester_with_email(session))
    session.close()
    hits = client.get("/staff/kb.json?q=butler").get_json()
    assert hits and all(h["markdown"] == f"[{h['title']}]({h['url']})" for h in hits)
    assert all(h["url"].startswith("https://help.test/") for h in hits)
    page = client.get(f"/staff/tickets/{ticket.id}?kb=butler").get_data(as_text=True)
    assert hits[0]["markdown"] in page  # the list without JavaScript
    assert client.get("/staff/kb.json?q=").get_json() == []


def test_tags_on_the_ticket_page(desk, client, login) -> None:  # type: ignore[no-untyped-def]
    login("sam", "staff")
    session = desk.session()
    ticket = web_ticket(desk, session, requester_with_email(session))
    session.close()
    token = csrf_token_from(client.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True))
    client.post(f"/staff/tickets/{ticket.id}/tags", data={"csrf_token": token, "tags": "Butler, dp0.2 , butler"})
    html = client.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    assert 'value="butler, dp0.2"' in html and "sam: tagged butler, dp0.2" in html
    bad = client.post(f"/staff/tickets/{ticket.id}/tags", data={"csrf_token": token, "tags": "no/slashes"})
    assert bad.status_code == 302
    html = client.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    assert 'class="flash error"' in html and 'value="butler, dp0.2"' in html  # refused, nothing changed
    client.post(f"/staff/tickets/{ticket.id}/tags", data={"csrf_token": token, "tags": "dp0.2"})
    assert "sam: untagged butler" in client.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)


def test_the_timeline_shows_status_moved_by_messages_and_other_events(desk, client, login) -> None:  # type: ignore[no-untyped-def]
    signed_in = login("sam", "staff")
    session = desk.session()
    sam, dana = session.get(Person, signed_in.id), requester_with_email(session)
    ticket = web_ticket(desk, session, dana)
    service = desk.factory(session).create_ticket_service()
    service.reply(sam, ticket.id, "Try this.", status=Status.RESOLVED)
    service.reply(dana, ticket.id, "It fails again with a new error.")  # the requester reopens it
    service.update(sam, ticket.id, {"assignee": "sam", "queue": "butler"})
    service.mark_solved(dana, ticket.id)
    service.rate(dana, ticket.id, 3)
    session.close()
    events = client.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    assert "sam: status new → waiting on user (by the message)" in events
    assert "sam: status waiting on user → resolved" in events
    assert "dana: status resolved → in progress (by the message)" in events
    assert "assignee none → sam" in events and "queue none → butler" in events
    assert "dana: status in progress → resolved (marked solved by the requester)" in events
    assert "dana: rated 3 of 5 by the requester" in events


@pytest.mark.parametrize(("action", "data", "words"), [
    ("ticket.updated", {"changes": {"status": ["resolved", "closed"]}, "reason": "auto_close"},
     "status resolved → closed (closed automatically)"),
    ("ticket.assigned", {"assignee": "ana", "strategy": "least_loaded"}, "assigned to ana automatically (least loaded)"),
    ("ticket.merged", {"into": 9}, "merged into #9"),
    ("ticket.merged", {"merged": 4}, "#4 merged into this ticket"),
    ("ticket.escalated", {"tracker": "jira", "summary": "Butler bug"}, "escalated to jira: Butler bug"),
    ("escalation.filed", {"key": "DM-1"}, "escalation filed as DM-1"),
    ("escalation.state_changed", {"state": ["open", "resolved"]}, "escalation state open → resolved"),
    ("escalation.failed", {}, "escalation could not be filed"),
    ("incident.linked", {"incident_id": 3}, "linked to incident 3"),
    ("incident.unlinked", {"incident_id": 3}, "unlinked from incident 3"),
    ("outbox.retried", {"outbox_id": 12}, "delivery outbox-12 sent again"),
    ("ticket.sla_warning", {"state": "due_soon"}, "first response due soon"),
    ("ticket.assignment_overridden", {}, "queue limit overridden for the assignee"),
    ("ticket.tagged", {"added": [], "removed": []}, "tags unchanged"),
    ("something.new", {}, "something new"),
])
def test_system_events_in_words(action, data, words) -> None:  # type: ignore[no-untyped-def]
    from helpdesk.staff.ticket_page import describe

    assert describe(AuditEvent(action=action, data=data)) == words


def test_macro_edit_page_and_refusals(desk, client, login) -> None:  # type: ignore[no-untyped-def]
    session = desk.session()
    boss = staff(session, "boss", Role.ADMIN)
    shared = MacroService(session).save(boss, None, "Shared hint", "Hello {requester_name}", shared=True)
    session.close()
    login("sam", "staff")
    assert client.get("/staff/macros/999").status_code == 404
    page = client.get("/staff/macros").get_data(as_text=True)
    token = csrf_token_from(page)
    client.post("/staff/macros", data={"csrf_token": token, "title": "Mine", "body": "Text"})
    with desk.read() as read:
        mine = read.scalar(select(Macro).where(Macro.title == "Mine"))
    edit = client.get(f"/staff/macros/{mine.id}").get_data(as_text=True)
    assert "Edit the macro" in edit and 'value="Mine"' in edit
    assert "Shared with all staff" not in edit  # staff cannot share; the box is for administrators
    refused = client.post("/staff/macros", data={"csrf_token": token, "title": "Mine too", "body": "x", "shared": "y"})
    assert refused.status_code == 403 and "Only administrators share" in refused.get_data(as_text=True)
    assert client.post(f"/staff/macros/{mine.id}/delete", data={}).status_code == 400  # no CSRF token
    other = client.post(f"/staff/macros/{shared.id}/delete", data={"csrf_token": token})
    assert "Only administrators delete shared macros" in client.get(other.headers["Location"]).get_data(as_text=True)
    with desk.read() as read:
        assert read.get(Macro, shared.id) is not None and read.get(Macro, mine.id) is not None
    assert client.post("/staff/macros/999/delete", data={"csrf_token": token}).status_code == 404
