"""Bulk actions on the tickets ticked in a list: assign, move to a queue, change status or priority, tag or untag,
merge into one ticket, close.

There is no second write path: each ticket goes through the same service method a single change uses
(:meth:`TicketService.update`, ``add_tags``/``remove_tags``, :meth:`DuplicateService.merge`), one ticket at a
time, each in its own transaction, so each gets the audit event a single change gets, and the queue's limit per
person refuses an assignment exactly as it does on the ticket page (an administrator may override it, audited).
A ticket the action cannot change is refused with the reason and the others go ahead; the result says which
were changed, which already were as asked, and which were refused. The action as a whole is audited once more
as ``tickets.bulk`` (no ticket), with the counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from helpdesk import audit
from helpdesk.accounts.models import Person
from helpdesk.db import ID_MAX
from helpdesk.exceptions import HelpdeskError, InvalidInputError, PermissionDeniedError
from helpdesk.tickets import tags as tag_rules
from helpdesk.tickets.duplicates import DuplicateService
from helpdesk.tickets.models import Priority, Status, Ticket
from helpdesk.tickets.services import TicketService

ACTIONS = ("assign", "queue", "status", "priority", "tag", "untag", "merge", "close")
#: Actions that cannot be undone with one click: the console asks to confirm them.
CONFIRM = frozenset({"merge", "close"})
#: At most this many tickets in one bulk action (a page of the list).
BULK_MAX = 100


@dataclass
class BulkResult:
    action: str
    changed: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    #: (ticket id, why) for each ticket the action could not change.
    refused: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One sentence for people: ``Assign: 3 tickets changed, 1 already so; refused #12: …``."""
        words = [f"{len(self.changed)} ticket{'s' if len(self.changed) != 1 else ''} changed"]
        if self.unchanged:
            words.append(f"{len(self.unchanged)} already so")
        text = f"{self.action.capitalize()}: {', '.join(words)}."
        if self.refused:
            text += " Refused: " + "; ".join(f"#{ticket_id}: {why}" for ticket_id, why in self.refused)
        return text


class BulkActions:
    """Applies one action to many tickets through the ticket and duplicate services. Never imports Flask."""

    def __init__(self, tickets: TicketService, duplicates: DuplicateService) -> None:
        self.tickets = tickets
        self.duplicates = duplicates

    def apply(self, actor: Person, action: str, ticket_ids: Sequence[int], *, value: str | None = None,
              override_limit: bool = False) -> BulkResult:
        """Apply ``action`` to each ticket; ``value`` is the assignee login (``me``, or empty for nobody), the
        queue slug (empty: unsorted), the status, the priority, the tags (comma-separated) or the ticket number
        to merge into.

        Raises
        ------
        PermissionDeniedError
            Not staff.
        InvalidInputError
            An unknown action, no tickets or too many, or a value the action cannot take (nothing is changed).
        """
        if not actor.is_staff:
            raise PermissionDeniedError("Only staff change tickets.")
        if action not in ACTIONS:
            raise InvalidInputError.for_field("action", f"Unknown action {action!r}; use one of: {', '.join(ACTIONS)}.")
        ids = list(dict.fromkeys(i for i in ticket_ids if 0 < i <= ID_MAX))
        if not ids:
            raise InvalidInputError.for_field("ticket", "Tick at least one ticket.")
        if len(ids) > BULK_MAX:
            raise InvalidInputError.for_field("ticket", f"At most {BULK_MAX} tickets at once.")
        change, state = self._plan(actor, action, (value or "").strip(), override_limit)
        if action == "merge":
            into = int((value or "").strip().lstrip("#"))
            if into in ids:
                ids.remove(into)
            self.tickets.get(actor, into)  # the survivor exists (404 otherwise), before anything changes
        result = BulkResult(action)
        for ticket_id in ids:
            try:
                before = state(self.tickets.get(actor, ticket_id))
                change(ticket_id)
                after = state(self.tickets.get(actor, ticket_id))
            except HelpdeskError as exc:
                # Nothing of a refused change may be committed with the next ticket's.
                self.tickets.session.rollback()
                result.refused.append((ticket_id, exc.message))
                continue
            (result.changed if after != before else result.unchanged).append(ticket_id)
        audit.record(self.tickets.session, "tickets.bulk", actor_id=actor.id, bulk_action=action, value=value,
                     changed=result.changed, unchanged=result.unchanged,
                     refused=[ticket_id for ticket_id, _ in result.refused])
        self.tickets.session.commit()
        return result

    def _plan(self, actor: Person, action: str, value: str, override: bool
              ) -> tuple[Callable[[int], Any], Callable[[Ticket], Any]]:
        """The change to make to one ticket, and what of a ticket it changes (to tell changed from unchanged)."""
        tickets = self.tickets
        if action == "assign":
            login = actor.handle if value == "me" else value or None
            return (lambda i: tickets.update(actor, i, {"assignee": login, "override_limit": override}),
                    lambda t: t.assignee_id)
        if action == "queue":
            return lambda i: tickets.update(actor, i, {"queue": value or None}), lambda t: t.queue_id
        if action in ("status", "close"):
            target = Status.CLOSED.value if action == "close" else value
            if target not in {s.value for s in Status}:
                raise InvalidInputError.for_field("status", f"Unknown status {value!r}.")
            return lambda i: tickets.update(actor, i, {"status": target}), lambda t: t.status
        if action == "priority":
            if value not in {p.value for p in Priority}:
                raise InvalidInputError.for_field("priority", f"Unknown priority {value!r}.")
            return lambda i: tickets.update(actor, i, {"priority": value}), lambda t: t.priority
        if action in ("tag", "untag"):
            names = tag_rules.normalise_all(value)
            if not names:
                raise InvalidInputError.for_field("tags", "Name the tags, separated by commas.")
            method = tickets.add_tags if action == "tag" else tickets.remove_tags
            return (lambda i: method(actor, i, names),
                    lambda t: tuple(tickets.tags_of([t.id]).get(t.id, [])))
        # merge
        into = value.lstrip("#")
        if not into.isdigit() or not 0 < int(into) <= ID_MAX:
            raise InvalidInputError.for_field("into", f"Give the number of the ticket to merge into (1 to {ID_MAX}).")
        return lambda i: self.duplicates.merge(actor, i, int(into)), lambda t: t.merged_into_id
