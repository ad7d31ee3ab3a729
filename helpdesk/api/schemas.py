"""Request bodies of the JSON API (validated strictly: unknown fields and wrong types are refused)
and the JSON shapes of tickets and messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import has_app_context
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, model_validator

from helpdesk.db import utcnow
from helpdesk.tickets import sla
from helpdesk.tickets.models import Message, Priority, Status, Ticket, Visibility
from helpdesk.tickets.services import BODY_MAX, SUBJECT_MAX

IDEMPOTENCY_KEY_MAX = 200
#: The cap and the reserved seats of a programme, at most (a number, not a row id: keeps clients honest).
SEATS_MAX = 1_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TicketCreate(_Strict):
    subject: StrictStr = Field(min_length=1, max_length=SUBJECT_MAX, description="One line on what is wrong.")
    body: StrictStr = Field(min_length=1, max_length=BODY_MAX, description="The question, in Markdown.")


class ReplyCreate(_Strict):
    body: StrictStr = Field(min_length=1, max_length=BODY_MAX)
    visibility: Visibility = Field(
        Visibility.PUBLIC, description="`public` goes back to the requester; `internal` is a staff note."
    )

    model_config = ConfigDict(extra="forbid", strict=False)  # enums arrive as strings


class TicketUpdate(_Strict):
    queue: StrictStr | None = Field(None, description="A queue slug, or null for unsorted.")
    status: Status | None = None
    priority: Priority | None = None
    assignee: StrictStr | None = Field(None, description="A staff member's login, or null for nobody.")
    override_limit: StrictBool = Field(
        False, description="Administrators: assign beyond the queue's limit of open tickets per person (audited "
        "as `ticket.assignment_overridden`). Staff who send `true` for an assignee at the limit get 403.")

    model_config = ConfigDict(extra="forbid", strict=False)

    @model_validator(mode="after")
    def _something_to_change(self) -> TicketUpdate:
        if not self.model_fields_set - {"override_limit"}:
            raise ValueError("send at least one of queue, status, priority, assignee")
        for field in ("status", "priority"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


class ProgramUpdate(_Strict):
    cap: int = Field(ge=0, le=SEATS_MAX, description="Seats in all, held or active.")
    reserved: int | None = Field(None, ge=0, le=SEATS_MAX,
                                 description="Seats of the cap kept for staff to assign by hand; at most the cap.")


class EscalationCreate(_Strict):
    summary: StrictStr | None = Field(None, min_length=1, max_length=250,
                                      description="The issue's title; default: the ticket's subject.")
    description: StrictStr | None = Field(None, min_length=1, max_length=BODY_MAX,
                                          description="The issue's description; default: the ticket's question. "
                                          "A link back to the ticket is added; the requester's name is not.")


def person_json(person: Any) -> dict[str, Any] | None:
    if person is None:
        return None
    return {"id": person.id, "name": person.display_name, "login": person.handle}


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "body": message.body,
        "visibility": message.visibility.value,
        "direction": message.direction.value,
        "author": person_json(message.author),
        "created_at": message.created_at.isoformat(),
    }


def sla_json(ticket: Ticket, now: datetime, policy: sla.SlaPolicy) -> dict[str, Any]:
    """The first-response clock: its state at ``now`` (null when none runs), due time and first answer."""
    clock = sla.clock_of(ticket, now, policy)
    return {
        "state": clock.state.value if clock else None,
        "due_at": ticket.first_response_due_at.isoformat() if ticket.first_response_due_at else None,
        "first_response_at": ticket.first_response_at.isoformat() if ticket.first_response_at else None,
    }


def _now_and_policy() -> tuple[datetime, sla.SlaPolicy]:
    """The request's clock and the configured warning window (defaults outside a request)."""
    if has_app_context():
        from helpdesk.web import get_factory

        factory = get_factory()
        return factory.clock(), sla.SlaPolicy.from_settings(factory.settings)
    return utcnow(), sla.SlaPolicy()


def ticket_json(ticket: Ticket, messages: list[Message] | None = None, *, now: datetime | None = None,
                policy: sla.SlaPolicy | None = None) -> dict[str, Any]:
    if now is None or policy is None:
        default_now, default_policy = _now_and_policy()
        now, policy = now or default_now, policy or default_policy
    data: dict[str, Any] = {
        "id": ticket.id,
        "subject": ticket.subject,
        "body": ticket.body,
        "source": ticket.source.value,
        "queue": ticket.queue.slug if ticket.queue else None,
        "status": ticket.status.value,
        "priority": ticket.priority.value,
        "requester": person_json(ticket.requester),
        "assignee": person_json(ticket.assignee),
        "external": ticket.external or None,
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
        "sla": sla_json(ticket, now, policy),
    }
    if messages is not None:
        data["messages"] = [message_json(m) for m in messages]
    return data


def escalation_json(escalation: Any) -> dict[str, Any]:
    return {
        "id": escalation.id,
        "ticket_id": escalation.ticket_id,
        "tracker": escalation.tracker,
        "state": escalation.state.value,
        "key": escalation.remote_key,
        "url": escalation.url,
        "remote_status": escalation.remote_status,
        "summary": escalation.summary,
        "created_by": person_json(escalation.created_by),
        "created_at": escalation.created_at.isoformat(),
        "last_synced_at": escalation.last_synced_at.isoformat() if escalation.last_synced_at else None,
    }
