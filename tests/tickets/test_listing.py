"""Ticket lists (helpdesk.tickets.listing) on SQLite and PostgreSQL: filters, full-text search over subjects and
messages, every sort order with keyset pages both ways, capped counts, tags, and search text of any shape."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person, Role
from helpdesk.accounts.services import AccountService
from helpdesk.audit import AuditEvent
from helpdesk.db import make_engine, make_session_factory
from helpdesk.exceptions import InvalidInputError, PermissionDeniedError
from helpdesk.tickets.listing import ListQuery, TicketListing, decode_cursor, encode_cursor
from helpdesk.tickets.models import Priority, Source, Ticket, Visibility
from helpdesk.tickets.queues import load_queue_config, sync_queues
from helpdesk.tickets.services import TicketService
from helpdesk.tickets.sla import SlaPolicy
from tests.tickets.support import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_session(database_url: str) -> Iterator[Session]:
    """A session on the test database with the shipped queues (no app: the listing knows no Flask)."""
    engine = make_engine(database_url)
    session = make_session_factory(engine, read_mostly=True)()
    sync_queues(session, load_queue_config())
    yield session
    session.close()
    engine.dispose()


@pytest.fixture
def desk(db_session: Session, clock: Clock):  # type: ignore[no-untyped-def]
    accounts = AccountService(db_session)
    sam, _ = accounts.create_staff("sam", Role.STAFF)
    kim, _ = accounts.create_staff("kim", Role.ADMIN)
    dana = accounts.sign_in_github("delegate-dana")
    tickets = TicketService(db_session, clock)
    return sam, kim, dana, tickets


def file(tickets: TicketService, who: Person, subject: str, body: str = "details", clock: Clock | None = None) -> int:
    if clock is not None:
        clock.advance(minutes=1)
    return tickets.file(who, subject, body, Source.WEB).ticket.id


def ids(page) -> list[int]:  # type: ignore[no-untyped-def]
    return [t.id for t in page.items]


def listing(db_session: Session, clock: Clock, **kw) -> TicketListing:  # type: ignore[no-untyped-def]
    return TicketListing(db_session, clock=clock, policy=SlaPolicy(), **kw)


class TestSearch:
    def test_subject_body_and_later_messages_are_searched(self, db_session: Session, desk, clock: Clock) -> None:
        sam, _kim, dana, tickets = desk
        tap = file(tickets, dana, "TAP query times out", "ADQL on the Object table")
        butler = file(tickets, dana, "Butler calexp missing", "butler.get fails")
        tickets.reply(dana, butler, "It also mentions a deepCoadd cutout")
        tickets.reply(sam, tap, "Internal: looks like the qserv outage", Visibility.INTERNAL)
        lists = listing(db_session, clock)
        assert ids(lists.page(sam, ListQuery(q="adql"))) == [tap]
        assert ids(lists.page(sam, ListQuery(q="deepcoadd"))) == [butler]  # a message, not the subject
        assert ids(lists.page(sam, ListQuery(q="qserv outage"))) == [tap]  # staff find internal notes
        assert ids(lists.page(sam, ListQuery(q="butler missing"))) == [butler]  # every word required
        assert ids(lists.page(sam, ListQuery(q="butler adql"))) == []
        assert ids(lists.page(sam, ListQuery(q="queries"))) == [tap]  # stemmed: "queries" finds "query"

    def test_requesters_never_match_on_a_staff_note(self, db_session: Session, desk, clock: Clock) -> None:
        sam, _kim, dana, tickets = desk
        tap = file(tickets, dana, "TAP query times out")
        tickets.reply(sam, tap, "qserv outage suspected", Visibility.INTERNAL)
        lists = listing(db_session, clock)
        assert ids(lists.page(dana, ListQuery(q="qserv"))) == []
        assert ids(lists.page(dana, ListQuery(q="tap"))) == [tap]
        assert ids(lists.page(sam, ListQuery(q="qserv"))) == [tap]

    @pytest.mark.parametrize("text", [
        '"', '""', "'", "a AND", "OR", "NOT x", "(", ")", "*", "x*", "-", "--", "-tap", 'tap "', "col:tap",
        "NEAR(tap butler)", "{document}: tap", "^tap", "tap & | ! <->", "\\", "%", "_", "🙂", "'; DROP TABLE ticket;--",
        "tap " * 100, "a:b:c", "!!!", "ß", "İ",
    ])
    def test_any_search_text_is_read_without_error(self, db_session: Session, desk, clock: Clock,
                                                   text: str) -> None:
        sam, _kim, dana, tickets = desk
        file(tickets, dana, "TAP query times out")
        query = ListQuery.parse({"q": text})
        page = listing(db_session, clock).page(sam, query)
        assert page.count is not None and page.count.value == len(page.items)


class TestFilters:
    def test_queue_status_assignee_priority_source_and_tag(self, db_session: Session, desk, clock: Clock) -> None:
        sam, kim, dana, tickets = desk
        a = file(tickets, dana, "one", clock=clock)
        b = file(tickets, dana, "two", clock=clock)
        c = file(tickets, dana, "three", clock=clock)
        tickets.update(sam, a, {"queue": "butler", "assignee": "sam", "priority": "high"})
        tickets.update(sam, b, {"queue": "catalogs", "status": "resolved"})
        tickets.set_tags(sam, c, ["tap", "Needs Docs"])
        lists = listing(db_session, clock)

        def found(**args: str) -> list[int]:
            return ids(lists.page(sam, ListQuery.parse(args)))

        assert found() == [c, b, a]
        assert found(queue="butler") == [a]
        assert found(queue="unsorted") == [c]
        assert found(status="open") == [c, a]
        assert found(status="resolved,closed") == [b]
        assert found(assignee="me") == [a]
        assert found(assignee="none") == [c, b]
        assert found(assignee="sam") == [a]
        assert ids(lists.page(kim, ListQuery(assignee="me"))) == []
        assert found(priority="high") == [a]
        assert found(priority="normal,low") == [c, b]
        assert found(source="web") == [c, b, a]
        assert found(source="slack") == []
        assert found(tag="needs-docs") == [c]
        assert found(tag="unknown") == []
        assert ids(lists.page(dana, ListQuery())) == [c, b, a]  # a requester: their own

    def test_sla_states(self, db_session: Session, desk, clock: Clock) -> None:
        sam, _kim, dana, tickets = desk
        late = file(tickets, dana, "late", clock=clock)
        tickets.update(sam, late, {"queue": "butler"})  # butler answers within its first_response_hours
        hours = tickets.find(late).queue.first_response_hours
        clock.advance(hours=hours + 1)
        soon = file(tickets, dana, "soon", clock=clock)
        tickets.update(sam, soon, {"queue": "butler"})
        db_session.execute(update(Ticket).where(Ticket.id == soon).values(
            first_response_due_at=clock.now + timedelta(minutes=5)))
        fine = file(tickets, dana, "fine", clock=clock)
        tickets.update(sam, fine, {"queue": "butler"})
        met = file(tickets, dana, "met", clock=clock)
        tickets.update(sam, met, {"queue": "butler"})
        tickets.reply(sam, met, "Here is the answer")
        waiting = file(tickets, dana, "waiting", clock=clock)
        tickets.update(sam, waiting, {"queue": "butler", "status": "waiting_on_user"})
        db_session.commit()
        lists = listing(db_session, clock)

        def found(state: str) -> list[int]:
            return ids(lists.page(sam, ListQuery(sla=state)))

        assert found("breached") == [late]
        assert found("due_soon") == [soon]
        assert found("on_time") == [fine]
        assert found("met") == [met]
        assert found("paused") == [waiting]

    @pytest.mark.parametrize(("args", "field"), [
        ({"sort": "best"}, "sort"), ({"priority": "huge"}, "priority"), ({"status": "done"}, "status"),
        ({"sla": "late"}, "sla"), ({"source": "email"}, "source"), ({"source": "web,api"}, "source"),
        ({"assignee": "not a login!"}, "assignee"), ({"tag": "no spaces?"}, "tag"), ({"q": "x" * 501}, "q"),
        ({"queue": "Not A Slug"}, "queue"),
    ])
    def test_unknown_values_name_their_parameter(self, args: dict[str, str], field: str) -> None:
        with pytest.raises(InvalidInputError) as raised:
            ListQuery.parse(args)
        assert raised.value.field == field

    def test_unknown_queue_or_assignee_is_refused(self, db_session: Session, desk, clock: Clock) -> None:
        sam, _kim, dana, _tickets = desk
        lists = listing(db_session, clock)
        for query, field in ((ListQuery(queue="nope"), "queue"), (ListQuery(assignee="delegate-dana"), "assignee"),
                             (ListQuery(assignee="nobody-here"), "assignee")):
            with pytest.raises(InvalidInputError) as raised:
                lists.page(sam, query)
            assert raised.value.field == field

    def test_query_strings_round_trip(self) -> None:
        query = ListQuery.parse({"q": "  tap   timeout ", "status": "open", "assignee": "me", "priority": "high,urgent",
                                 "sort": "due", "tag": "TAP"})
        assert query.query_string() == "q=tap+timeout&status=open&assignee=me&priority=high%2Curgent&tag=tap&sort=due"
        from urllib.parse import parse_qsl

        assert ListQuery.parse(dict(parse_qsl(query.query_string()))) == query


class TestPages:
    @pytest.mark.parametrize("sort", ["newest", "oldest", "updated", "due"])
    def test_every_sort_pages_forward_and_back_over_the_same_tickets(self, db_session: Session, desk, clock: Clock,
                                                                      sort: str) -> None:
        sam, _kim, dana, tickets = desk
        made = [file(tickets, dana, f"ticket {i}", clock=clock) for i in range(7)]
        for i, ticket_id in enumerate(made):
            if i % 3:  # some get a queue (and a due time), the others keep none: they sort last by due time
                tickets.update(sam, ticket_id, {"queue": "butler"})
        # Ties in the sort key are broken by ticket number: give two tickets the same last-update time.
        db_session.execute(update(Ticket).where(Ticket.id.in_(made[2:4])).values(updated_at=clock.now))
        db_session.commit()
        lists = listing(db_session, clock)
        query = ListQuery(sort=sort)
        everything = ids(lists.page(sam, query, limit=50))
        assert sorted(everything) == sorted(made)

        pages, cursor = [], None
        while True:
            page = lists.page(sam, query, cursor=cursor, limit=3)
            pages.append(page)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert [i for p in pages for i in ids(p)] == everything
        assert [len(p.items) for p in pages] == [3, 3, 1]
        assert pages[0].prev_cursor is None and pages[1].prev_cursor is not None

        back = lists.page(sam, query, cursor=pages[2].prev_cursor, limit=3)
        assert ids(back) == ids(pages[1]) and back.next_cursor is not None
        first = lists.page(sam, query, cursor=back.prev_cursor, limit=3)
        assert ids(first) == ids(pages[0]) and first.prev_cursor is None
        assert ids(lists.page(sam, query, cursor=first.next_cursor, limit=3)) == ids(pages[1])

    def test_newest_and_oldest_orders(self, db_session: Session, desk, clock: Clock) -> None:
        sam, _kim, dana, tickets = desk
        made = [file(tickets, dana, f"t{i}", clock=clock) for i in range(3)]
        lists = listing(db_session, clock)
        assert ids(lists.page(sam, ListQuery())) == made[::-1]
        assert ids(lists.page(sam, ListQuery(sort="oldest"))) == made

    def test_counts_are_capped(self, db_session: Session, desk, clock: Clock) -> None:
        sam, _kim, dana, tickets = desk
        for i in range(4):
            file(tickets, dana, f"t{i}")
        page = listing(db_session, clock, count_cap=3).page(sam, ListQuery(), limit=2)
        assert (page.count.value, page.count.capped, str(page.count)) == (3, True, "3+")
        exact = listing(db_session, clock, count_cap=10).page(sam, ListQuery(), limit=2)
        assert str(exact.count) == "4" and not exact.count.capped
        counts = listing(db_session, clock).counts(sam, {"all": ListQuery(), "mine": ListQuery(assignee="me")})
        assert (counts["all"].value, counts["mine"].value) == (4, 0)

    def test_cursors_are_checked(self, db_session: Session, desk, clock: Clock) -> None:
        sam, _kim, dana, tickets = desk
        ticket = tickets.find(file(tickets, dana, "t"))
        lists = listing(db_session, clock)
        for sort in ("newest", "oldest", "updated", "due"):
            cursor = encode_cursor(sort, True, ticket)
            assert decode_cursor(cursor, sort).ticket_id == ticket.id
        legacy = base64.urlsafe_b64encode(f"t:{ticket.id}".encode()).decode().rstrip("=")
        assert decode_cursor(legacy, "newest").forward
        forged = [encode_cursor("updated", True, ticket), "x" * 65, "%%%", "", "bjo6MQ",
                  base64.urlsafe_b64encode(b"n>:99999999999").decode(), base64.urlsafe_b64encode(b"u>:5").decode(),
                  base64.urlsafe_b64encode(b"d>99999999999999999:5").decode(), base64.urlsafe_b64encode(b"\xff").decode()]
        for cursor in forged:
            with pytest.raises(InvalidInputError) as raised:
                lists.page(sam, ListQuery(), cursor=cursor or "=")
            assert raised.value.field == "cursor"
        with pytest.raises(InvalidInputError):
            lists.page(sam, ListQuery(), limit=101)


class TestTags:
    def test_set_add_remove_are_audited(self, db_session: Session, desk) -> None:
        sam, _kim, dana, tickets = desk
        ticket = file(tickets, dana, "t")
        assert tickets.set_tags(sam, ticket, "tap, Needs Docs,tap") == ["needs-docs", "tap"]
        assert tickets.add_tags(sam, ticket, ["dp0.2"]) == ["dp0.2", "needs-docs", "tap"]
        assert tickets.remove_tags(sam, ticket, ["tap", "absent"]) == ["dp0.2", "needs-docs"]
        assert tickets.set_tags(sam, ticket, ["dp0.2"]) == ["dp0.2"]
        events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.tagged")
                                    .order_by(AuditEvent.id)).all()
        assert [(e.data["added"], e.data["removed"]) for e in events] == [
            (["tap", "needs-docs"], []), (["dp0.2"], []), ([], ["tap"]), ([], ["needs-docs"])]
        assert all(e.actor_id == sam.id and e.ticket_id == ticket for e in events)

    def test_requesters_cannot_tag_and_bad_names_are_refused(self, db_session: Session, desk) -> None:
        sam, _kim, dana, tickets = desk
        ticket = file(tickets, dana, "t")
        with pytest.raises(PermissionDeniedError):
            tickets.add_tags(dana, ticket, ["tap"])
        with pytest.raises(InvalidInputError):
            tickets.add_tags(sam, ticket, ["no/slash"])
        with pytest.raises(InvalidInputError):
            tickets.set_tags(sam, ticket, [f"t{i}" for i in range(21)])
        assert tickets.tags_of([ticket]) == {}


def test_list_page_uses_a_fixed_number_of_statements(db_session: Session, desk, clock: Clock) -> None:
    from sqlalchemy import event

    sam, _kim, dana, tickets = desk
    for i in range(24):
        ticket = file(tickets, dana, f"t{i}")
        tickets.set_tags(sam, ticket, ["tap"])
        tickets.update(sam, ticket, {"queue": "butler", "priority": Priority.HIGH.value,
                                     "assignee": "sam" if i % 2 else "kim"})
    engine = db_session.get_bind()

    def selects(limit: int) -> list[str]:
        seen: list[str] = []

        def listener(*args: object) -> None:
            if str(args[2]).lstrip().upper().startswith("SELECT"):
                seen.append(str(args[2]))

        event.listen(engine, "before_cursor_execute", listener)
        try:
            page = listing(db_session, clock).page(sam, ListQuery(status="open", q="details", sort="due", tag="tap"),
                                                   limit=limit)
            assert all(t.queue.slug == "butler" and t.requester.handle == "delegate-dana" and t.assignee.handle
                       for t in page.items)
            assert len(page.items) == min(limit, 24) and page.tags[page.items[0].id] == ["tap"]
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        db_session.expunge_all()
        return seen

    # The page, the people's identities (one read per role: requester, assignee), the count and the tags,
    # however many rows: no statement per row.
    assert len(selects(2)) == len(selects(25)) <= 5


def test_channel_intake_is_searchable_too(db_session: Session, desk, clock: Clock) -> None:
    """Slack and forum questions take the intake's own fast path (helpdesk.tickets.intake): it writes the index too."""
    from helpdesk.tickets.inbound import Author, InboundMessage, ThreadRef

    sam, _kim, _dana, tickets = desk

    def slack(ts: str, text: str, *, opens: bool) -> None:
        thread = ThreadRef("slack", "C1", "1700000000.000100")
        tickets.receive(InboundMessage(
            channel="slack", delivery_ids=(f"msg:C1:{ts}",), author=Author("U1", username="dana"), thread=thread,
            text=text, message_id=ts, thread_key=thread.key, opens_thread=opens, starts_ticket=opens))

    slack("1700000000.000100", "Butler registry refuses my collection", opens=True)
    slack("1700000000.000200", "It names a deepCoadd dataset type", opens=False)
    lists = listing(db_session, clock)
    (found,) = lists.page(sam, ListQuery(q="registry collection")).items
    assert found.source is Source.SLACK
    assert ids(lists.page(sam, ListQuery(q="deepcoadd"))) == [found.id]
