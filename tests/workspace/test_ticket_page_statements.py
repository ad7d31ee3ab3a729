"""The staff ticket page sends at most a handful of SQL statements (issue #12), however much the ticket holds:
a ticket with one of everything and a ticket with thirty of everything cost the same number, and each page still
shows all it holds."""

from __future__ import annotations

import uuid

from helpdesk.accounts.models import Person, Role
from helpdesk.programs.models import Application, ApplicationStatus, Program
from helpdesk.tickets.attachments import Attachment
from helpdesk.tickets.models import Direction, Escalation, Incident, IncidentTicket, Message, Source, Ticket, Visibility
from helpdesk.tickets.tags import TAGS_PER_TICKET_MAX
from helpdesk.tickets.workspace import Macro, PresenceAction, TicketPresence, TicketRating
from tests.support.statements import counting
from tests.workspace.conftest import requester_with_email, staff

#: The page's budget: the signed-in person, the ticket, and the page's few reads (issue #12).
MAX_STATEMENTS = 8


def _ticket_with(desk, session, sam: Person, login: str, n: int) -> int:  # type: ignore[no-untyped-def]
    """A ticket with ``n`` of everything the page shows: replies, notes, events, tags, attachments, escalations,
    other tickets and seats of the requester, merged tickets, incident reports, colleagues viewing it, macros."""
    service = desk.factory(session).create_ticket_service()
    requester = requester_with_email(session, login, f"{login}@example.org")
    target = service.file(
        requester, f"TAP query times out for {login}", "The TAP service times out.", Source.WEB
    ).ticket.id
    incident = Incident(title=f"TAP outage seen by {login}")
    session.add(incident)
    session.flush()
    session.add(IncidentTicket(incident_id=incident.id, ticket_id=target))
    for i in range(n):
        service.reply(sam, target, f"Answer {i} for {login}.")
        service.reply(sam, target, f"Note {i} for {login}.", Visibility.INTERNAL)
        service.update(sam, target, {"priority": "high" if i % 2 == 0 else "normal"})
        other = service.file(requester, f"Other question {i} of {login}", "Another one.", Source.WEB).ticket
        merged = service.file(requester, f"Merged question {i} of {login}", "Same as before.", Source.WEB).ticket
        session.add(
            Message(
                ticket_id=merged.id,
                author_id=sam.id,
                body=f"Merged answer {i}",
                visibility=Visibility.PUBLIC,
                direction=Direction.OUTBOUND,
            )
        )
        session.execute(Ticket.__table__.update().where(Ticket.id == merged.id).values(merged_into_id=target))
        session.add(IncidentTicket(incident_id=incident.id, ticket_id=other.id))
        session.add(
            Attachment(
                ticket_id=target,
                filename=f"shot-{i}.png",
                stored_name=uuid.uuid4().hex,
                content_type="image/png",
                size=100 + i,
                sha256="0" * 64,
            )
        )
        session.add(
            Escalation(
                ticket_id=target,
                tracker="github",
                remote_key=str(100 + i),
                summary=f"Bug {i}",
                url=f"https://github.com/lsst/example/issues/{100 + i}",
                created_by_id=sam.id,
            )
        )
        program = Program(slug=f"{login}-cycle-{i}", name=f"{login} cycle {i}", cap=10)
        session.add(program)
        session.flush()
        session.add(
            Application(
                program_id=program.id,
                person_id=requester.id,
                name="Dana",
                email="d@example.org",
                institution="Rubin",
                data_rights_statement=True,
                status=ApplicationStatus.PENDING,
            )
        )
        colleague = staff(session, f"{login}-colleague-{i}", Role.STAFF)
        session.add(
            TicketPresence(
                ticket_id=target, person_id=colleague.id, action=PresenceAction.VIEWING, last_seen_at=desk.clock()
            )
        )
        session.add(
            Macro(title=f"{login} macro {i}", body="Hello {requester_name}", shared=True, owner_id=colleague.id)
        )
    session.add(TicketRating(ticket_id=target, person_id=requester.id, score=4, comment="quick"))
    session.commit()
    service.set_tags(sam, target, ", ".join(f"{login}-tag-{i}" for i in range(min(n, TAGS_PER_TICKET_MAX))))
    return target


def test_ticket_page_statements_do_not_grow_with_what_the_ticket_holds(desk, client, login, app) -> None:  # type: ignore[no-untyped-def]
    signed_in = login("sam", "staff")
    session = desk.session()
    sam = session.get(Person, signed_in.id)
    small = _ticket_with(desk, session, sam, "dana", 1)
    large = _ticket_with(desk, session, sam, "lee", 30)
    session.close()

    counts, pages = {}, {}
    for ticket_id in (small, large):
        assert client.get(f"/staff/tickets/{ticket_id}").status_code == 200  # the first view scores duplicates
        with counting(app.extensions["helpdesk"].engine) as seen:
            response = client.get(f"/staff/tickets/{ticket_id}")
        assert response.status_code == 200
        counts[ticket_id], pages[ticket_id] = len(seen), response.get_data(as_text=True)

    # Everything is on the page: the count is not low because something was left out.
    page = pages[large]
    assert page.count("data-message=") == 60  # 30 replies and 30 notes
    assert page.count('data-event="ticket.updated"') == 30
    assert page.count("data-attachment=") == 30 and page.count("data-escalation=") == 30
    assert page.count('class="badge">lee-tag-') == TAGS_PER_TICKET_MAX
    assert page.count("data-merged-ticket=") == 30 and "Merged answer 29" in page
    assert "Other question 29 of lee" in page and "Other question 19 of lee" not in page  # the latest ten
    assert "lee cycle 29 — pending" in page
    assert page.count(" is viewing this ticket.") == 30
    assert page.count('<template id="macro-text-') == 31  # both tickets' shared macros
    assert "31 reports" in page and "4 of 5" in page
    assert pages[small].count("data-message=") == 2

    assert counts[small] == counts[large], counts
    assert counts[large] <= MAX_STATEMENTS, counts
