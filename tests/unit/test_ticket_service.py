"""The ticket core: filing once per delivery, status changes, replies, visibility, paging."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.audit import AuditEvent
from helpdesk.exceptions import (
    ConflictError,
    InvalidInputError,
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
)
from helpdesk.tickets.models import Direction, OutboxItem, Source, Status, Ticket, Visibility
from helpdesk.tickets.services import DeliveryKey, TicketService, decode_cursor


@pytest.fixture
def service(db_session: Session) -> TicketService:
    return TicketService(db_session)


@pytest.fixture
def requester(make_person: Callable[..., Person]) -> Person:
    return make_person("delegate")


@pytest.fixture
def staff(make_person: Callable[..., Person]) -> Person:
    return make_person("sam", "staff")


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_filing_starts_new_and_unsorted(service: TicketService, requester: Person, db_session: Session) -> None:
    filed = service.file(requester, "  Query times out ", "Details", Source.WEB)
    assert filed.created
    assert filed.ticket.subject == "Query times out"
    assert filed.ticket.status is Status.NEW
    assert filed.ticket.queue is None
    assert db_session.scalar(select(AuditEvent.action).where(AuditEvent.ticket_id == filed.ticket.id)) == "ticket.filed"


def test_filing_into_a_queue_is_triaged(service: TicketService, requester: Person) -> None:
    filed = service.file(requester, "s", "b", Source.API, queue_slug="catalogs")
    assert filed.ticket.status is Status.TRIAGED
    assert filed.ticket.queue.slug == "catalogs"


def test_same_delivery_files_once(service: TicketService, requester: Person, db_session: Session) -> None:
    key = DeliveryKey.for_request("api", "1:abc", {"subject": "s", "body": "b"})
    first = service.file(requester, "s", "b", Source.API, delivery=key)
    again = service.file(requester, "s", "b", Source.API, delivery=key)
    assert first.created and not again.created
    assert again.ticket.id == first.ticket.id
    assert count(db_session, Ticket) == 1


def test_reused_key_for_another_request_is_a_conflict(service: TicketService, requester: Person) -> None:
    service.file(requester, "s", "b", Source.API, delivery=DeliveryKey.for_request("api", "k", {"body": "b"}))
    with pytest.raises(ConflictError):
        service.file(requester, "s", "other", Source.API, delivery=DeliveryKey.for_request("api", "k", {"body": "x"}))


@pytest.mark.parametrize(("subject", "body"), [("", "b"), ("s", "   "), ("x" * 201, "b"), ("s", "y" * 20_001)])
def test_bad_text_is_refused_and_nothing_stored(
    service: TicketService, requester: Person, db_session: Session, subject: str, body: str
) -> None:
    with pytest.raises(InvalidInputError):
        service.file(requester, subject, body, Source.WEB)
    assert count(db_session, Ticket) == 0


def test_unknown_queue_names_the_known_ones(service: TicketService, requester: Person) -> None:
    with pytest.raises(InvalidInputError, match="catalogs"):
        service.file(requester, "s", "b", Source.WEB, queue_slug="nope")


def test_full_status_path(service: TicketService, requester: Person, staff: Person) -> None:
    ticket = service.file(requester, "s", "b", Source.WEB).ticket
    service.update(staff, ticket.id, {"queue": "butler"})
    assert ticket.status is Status.TRIAGED
    service.update(staff, ticket.id, {"status": "in_progress", "assignee": "sam"})
    assert ticket.assignee_id == staff.id
    service.reply(staff, ticket.id, "Try this collection.")
    assert ticket.status is Status.WAITING_ON_USER
    assert ticket.first_response_at is not None
    service.reply(requester, ticket.id, "Still failing.")
    assert ticket.status is Status.IN_PROGRESS
    service.update(staff, ticket.id, {"status": "resolved"})
    assert ticket.resolved_at is not None
    service.update(staff, ticket.id, {"status": "closed"})
    service.reply(requester, ticket.id, "It broke again.")
    assert ticket.status is Status.IN_PROGRESS


def test_impossible_transition_is_refused(service: TicketService, requester: Person, staff: Person) -> None:
    ticket = service.file(requester, "s", "b", Source.WEB).ticket
    service.update(staff, ticket.id, {"status": "closed"})
    with pytest.raises(InvalidTransitionError, match="in_progress"):
        service.update(staff, ticket.id, {"status": "waiting_on_user"})


def test_triaged_needs_a_queue(service: TicketService, requester: Person, staff: Person) -> None:
    ticket = service.file(requester, "s", "b", Source.WEB).ticket
    with pytest.raises(InvalidTransitionError, match="queue"):
        service.update(staff, ticket.id, {"status": "triaged"})


def test_only_staff_change_tickets(service: TicketService, requester: Person) -> None:
    ticket = service.file(requester, "s", "b", Source.WEB).ticket
    with pytest.raises(PermissionDeniedError):
        service.update(requester, ticket.id, {"status": "closed"})


def test_assignee_must_be_staff(service: TicketService, requester: Person, staff: Person) -> None:
    ticket = service.file(requester, "s", "b", Source.WEB).ticket
    with pytest.raises(InvalidInputError, match="staff"):
        service.update(staff, ticket.id, {"assignee": "delegate"})


def test_changes_are_audited_with_before_and_after(
    service: TicketService, requester: Person, staff: Person, db_session: Session
) -> None:
    ticket = service.file(requester, "s", "b", Source.WEB).ticket
    service.update(staff, ticket.id, {"queue": "catalogs", "priority": "high"})
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "ticket.updated"))
    assert event.actor_id == staff.id
    assert event.data["changes"] == {"queue": [None, "catalogs"], "status": ["new", "triaged"],
                                     "priority": ["normal", "high"]}


def test_requester_sees_only_own_tickets_and_public_messages(
    service: TicketService, requester: Person, staff: Person, make_person: Callable[..., Person]
) -> None:
    other = make_person("someone-else")
    theirs = service.file(other, "their own", "b", Source.WEB).ticket
    ticket = service.file(requester, "s", "b", Source.WEB).ticket
    service.reply(staff, ticket.id, "internal thought", Visibility.INTERNAL)
    service.reply(staff, ticket.id, "public answer")
    with pytest.raises(NotFoundError):
        service.get(other, ticket.id)
    assert [m.body for m in service.visible_messages(requester, ticket)] == ["public answer"]
    assert len(service.visible_messages(staff, ticket)) == 2
    assert [t.id for t in service.list(other).items] == [theirs.id]
    assert {t.id for t in service.list(staff).items} == {theirs.id, ticket.id}


def test_requester_cannot_write_internal_notes(service: TicketService, requester: Person) -> None:
    ticket = service.file(requester, "s", "b", Source.WEB).ticket
    with pytest.raises(PermissionDeniedError):
        service.reply(requester, ticket.id, "psst", Visibility.INTERNAL)


def test_public_staff_reply_to_slack_goes_to_the_outbox_once(
    service: TicketService, requester: Person, staff: Person, db_session: Session
) -> None:
    external = {"channel": "C111", "thread_ts": "1700000000.000100"}
    ticket = service.file(
        requester, "s", "b", Source.SLACK, external=external, thread_key="C111:1700000000.000100"
    ).ticket
    message = service.reply(staff, ticket.id, "Here is how.")
    service.reply(staff, ticket.id, "note to self", Visibility.INTERNAL)
    items = list(db_session.scalars(select(OutboxItem)))
    assert len(items) == 1
    assert items[0].channel == "slack" and items[0].message_id == message.id
    # Where and what to post are read at delivery time: the ticket's thread, the message's text.
    assert items[0].kind == "reply" and items[0].ticket_id == ticket.id and items[0].payload == {}
    assert message.direction is Direction.OUTBOUND


def test_web_ticket_reply_needs_no_outbox(
    service: TicketService, requester: Person, staff: Person, db_session: Session
) -> None:
    ticket = service.file(requester, "s", "b", Source.WEB).ticket
    service.reply(staff, ticket.id, "Answer")
    assert count(db_session, OutboxItem) == 0


def test_pages_newest_first_without_gaps(service: TicketService, requester: Person, staff: Person) -> None:
    ids = [service.file(requester, f"t{i}", "b", Source.API).ticket.id for i in range(7)]
    seen: list[int] = []
    cursor = None
    while True:
        page = service.list(staff, cursor=cursor, limit=3)
        seen += [t.id for t in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(ids, reverse=True)


def test_filters_combine(service: TicketService, requester: Person, staff: Person) -> None:
    a = service.file(requester, "a", "b", Source.API, queue_slug="catalogs").ticket
    service.file(requester, "b", "b", Source.WEB, queue_slug="catalogs")
    service.file(requester, "c", "b", Source.API, queue_slug="butler")
    unsorted = service.file(requester, "d", "b", Source.API).ticket
    page = service.list(staff, queue="catalogs", source=Source.API, status=[Status.TRIAGED])
    assert [t.id for t in page.items] == [a.id]
    # The unsorted view is the triage inbox: exactly the tickets no queue has claimed yet.
    assert [t.id for t in service.list(staff, unsorted=True).items] == [unsorted.id]
    assert [t.id for t in service.list(staff, unsorted=True, source=Source.WEB).items] == []


@pytest.mark.parametrize("cursor", ["garbage", "dDpub3RhbnVtYmVy", "eDox"])
def test_foreign_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidInputError):
        decode_cursor(cursor)


def test_queue_summaries_count_open_tickets(service: TicketService, requester: Person, staff: Person) -> None:
    service.file(requester, "a", "b", Source.API, queue_slug="catalogs")
    closed = service.file(requester, "b", "b", Source.API, queue_slug="catalogs").ticket
    service.file(requester, "c", "b", Source.API)
    service.update(staff, closed.id, {"status": "closed"})
    counts = {(s.queue.slug if s.queue else None): s.open_count for s in service.queue_summaries()}
    assert counts[None] == 1 and counts["catalogs"] == 1 and counts["butler"] == 0
    assert len(counts) == 7


def test_filing_queues_an_incident_check_for_the_worker_when_asked(
    db_session: Session, requester: Person,
) -> None:
    checked = TicketService(db_session, incident_checks=True)
    ticket = checked.file(requester, "Portal down", "The Portal answers 503 for everyone", Source.WEB).ticket
    TicketService(db_session).file(requester, "Another", "b", Source.WEB)
    kinds = [(i.kind, i.ticket_id) for i in db_session.scalars(select(OutboxItem))]
    assert kinds == [("incident_check", ticket.id)]
