"""The lean intake write (helpdesk.tickets.intake) stores what the general path stores, in fewer statements.

A Slack question from a person the desk knows goes through one statement on PostgreSQL (INSERT ... SELECT
of the requester, with the audit event, the ledger keys, the search row and the outbox items chained on the
new id) and one INSERT per table on SQLite; a first-time asker goes through the general path, which creates
the person. Both must leave the same rows behind.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.audit import AuditEvent
from helpdesk.config import Settings
from helpdesk.tickets.models import InboundDelivery, OutboxItem, Ticket
from tests.support.reading import fresh
from tests.support.signing import SLACK_SECRET
from tests.support.slack import EVENTS, SUPPORT_CHANNEL, message_event, send


@pytest.fixture(params=[True, False], ids=["triage-in-worker", "triage-in-request"])
def settings(make_settings: Callable[..., Settings], request: pytest.FixtureRequest) -> Settings:
    return make_settings(slack_signing_secret=SLACK_SECRET, slack_bot_token="xoxb-test-token",
                         slack_channel_ids=SUPPORT_CHANNEL, slack_profile_lookup=False, triage_enabled=True,
                         incident_checks=True, triage_in_worker=request.param)


def statements_of(app: Flask) -> list[str]:
    seen: list[str] = []
    event.listen(app.extensions["helpdesk"].engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: seen.append(statement))
    return seen


def rows_of(session: Session, ticket: Ticket) -> dict[str, object]:
    """What one filing left behind, with ids and times taken out."""
    filed = session.scalars(select(AuditEvent).where(AuditEvent.ticket_id == ticket.id)).one()
    ledger = sorted(key.split(":")[0] for key in session.scalars(
        select(InboundDelivery.external_id).where(InboundDelivery.ticket_id == ticket.id)))
    outbox = sorted((o.kind, o.dedupe_key.split(":")[0], o.status.value, o.attempts, o.payload)
                    for o in session.scalars(select(OutboxItem).where(OutboxItem.ticket_id == ticket.id)))
    if session.get_bind().dialect.name == "postgresql":
        indexed = session.execute(text("SELECT count(*) FROM ticket_search WHERE ticket_id = :id "
                                       "AND document @@ plainto_tsquery('english', 'butler')"),
                                  {"id": ticket.id}).scalar()
    else:
        indexed = session.execute(text("SELECT count(*) FROM ticket_search WHERE rowid = :id "
                                       "AND ticket_search MATCH 'butler'"), {"id": ticket.id}).scalar()
    return {
        "ticket": (ticket.subject, ticket.body, ticket.source.value, ticket.status.value, ticket.priority.value,
                   ticket.queue.slug if ticket.queue else None, ticket.thread_key is not None,
                   sorted(ticket.external), ticket.triage, ticket.first_response_due_at is not None,
                   ticket.created_at == ticket.updated_at),
        "audit": (filed.action, filed.actor_id == ticket.requester_id, filed.data),
        "ledger": ledger, "outbox": outbox, "indexed": indexed,
    }


def test_a_known_asker_takes_the_lean_path_and_it_stores_what_the_general_path_stores(
    app: Flask, client: FlaskClient, db_session: Session, settings: Settings,
) -> None:
    question = "Butler cannot find calexp\nbutler.get('calexp') says the DP0.2 collection is missing"
    # A first question: the person is new, so the general path files it (and creates the person).
    assert send(client, EVENTS, message_event(question, event_id="Ev1", ts="1700000001.000100")).status_code == 200
    statements = statements_of(app)
    # The same person asks again: the lean path.
    assert send(client, EVENTS, message_event(question, event_id="Ev2", ts="1700000002.000100")).status_code == 200
    sent = list(statements)
    fresh(db_session)
    general, lean = db_session.scalars(select(Ticket).order_by(Ticket.id)).all()
    assert general.requester_id == lean.requester_id
    general_rows, lean_rows = rows_of(db_session, general), rows_of(db_session, lean)
    outbox = [("ack", "ack", "pending", 0, {}), ("incident_check", "incident", "pending", 0, {})]
    if settings.triage_in_worker:  # stored unsorted, sorted by the worker's item
        assert lean_rows["ticket"][3] == "new" and lean_rows["ticket"][8] is None
        outbox.append(("triage", "triage", "pending", 0, {}))
    else:
        assert lean_rows["ticket"][3] == "triaged"
    assert lean_rows["outbox"] == outbox and lean_rows["indexed"] == 1
    # external_id in the audit event differs (each message's own ts); everything else is equal.
    general_rows["audit"][2].pop("external_id"), lean_rows["audit"][2].pop("external_id")
    assert lean_rows == general_rows

    writes = [s for s in sent if not s.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE"))]
    if db_session.get_bind().dialect.name == "postgresql":
        assert len(writes) == 1 and writes[0].lstrip().startswith("WITH new_ticket AS")
    else:  # ticket (with the person looked up inside it), audit, ledger, search row, outbox
        assert len(writes) == 5


def test_a_retried_event_from_a_known_asker_is_stored_once(client: FlaskClient, db_session: Session) -> None:
    first = message_event("Where is the TAP service?", event_id="Ev10", ts="1700000010.000100")
    assert send(client, EVENTS, first).status_code == 200  # the person becomes known
    again = message_event("Is TAP down?", event_id="Ev11", ts="1700000011.000100")
    for retry in (None, 1, 2):
        assert send(client, EVENTS, again, retry_num=retry).status_code == 200
    fresh(db_session)
    assert db_session.scalar(select(Ticket).where(Ticket.subject == "Is TAP down?").with_only_columns(
        Ticket.id).order_by(None)) is not None
    assert len(db_session.scalars(select(Ticket.id)).all()) == 2
    assert len(db_session.scalars(select(OutboxItem.id).where(OutboxItem.kind == "ack")).all()) == 2


def test_a_question_never_files_for_a_person_merged_away(
    client: FlaskClient, db_session: Session, make_person: Callable[..., Person],
) -> None:
    """The lean path reads the requester from the identity, checking the person is not merged: an identity left
    on a merged person (merges move identities, but a record can lag) files for the survivor, through the
    general path, never for the merged record."""
    first = message_event("Where is the TAP service?", event_id="Ev20", ts="1700000020.000100")
    assert send(client, EVENTS, first).status_code == 200
    fresh(db_session)
    asker = db_session.scalars(select(Ticket)).one().requester
    survivor = make_person("survivor")
    asker.merged_into_id = survivor.id
    db_session.commit()
    again = message_event("The TAP service answers 503", event_id="Ev21", ts="1700000021.000100")
    assert send(client, EVENTS, again).status_code == 200
    fresh(db_session)
    second = db_session.scalars(select(Ticket).where(Ticket.subject == "The TAP service answers 503")).one()
    assert second.requester_id == survivor.id


def test_on_postgresql_a_known_askers_ticket_is_one_round_trip(
    app: Flask, client: FlaskClient, db_session: Session, settings: Settings, tmp_path: pytest.TempPathFactory,
) -> None:
    """The lean statement is the whole transaction (no owner to assign here): PostgreSQL gets it in autocommit,
    so the wire carries the statement alone, not BEGIN, the statement and COMMIT (three round trips). The trace
    starts once the pool has handed the connection out, after its liveness ping."""
    if db_session.get_bind().dialect.name != "postgresql":
        pytest.skip("round trips are PostgreSQL's: SQLite runs in the process")
    from psycopg import pq

    question = "Butler cannot find calexp in the DP0.2 collection"
    assert send(client, EVENTS, message_event(question, event_id="Ev30", ts="1700000030.000100")).status_code == 200
    trace = tmp_path / "wire.trace"  # libpq's own trace of every protocol message the desk sends
    traced = []
    with trace.open("w") as sink:

        def on_checkout(dbapi_connection, _record, _proxy) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.pgconn.trace(sink.fileno())
            dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
            traced.append(dbapi_connection)

        engine = app.extensions["helpdesk"].engine
        event.listen(engine, "checkout", on_checkout)
        try:
            response = send(client, EVENTS, message_event(question, event_id="Ev31", ts="1700000031.000100"))
        finally:
            event.remove(engine, "checkout", on_checkout)
            for connection in traced:
                connection.pgconn.untrace()
    assert response.status_code == 200
    sent = [line.split("\t") for line in trace.read_text().splitlines() if line.startswith("F\t")]
    # A round trip ends with a simple Query or with the Sync after Parse/Bind/Execute.
    trips = [fields[3] if fields[2] == "Query" else "extended" for fields in sent if fields[2] in ("Query", "Sync")]
    assert trips == ["extended"], trips
    fresh(db_session)
    assert len(db_session.scalars(select(Ticket.id).where(Ticket.subject == question)).all()) == 2
