"""Import every model so that ``Base.metadata`` is complete (Alembic, tests, create_all)."""

from helpdesk.accounts.models import ApiToken, Identity, Person, Provider, Role
from helpdesk.audit import AuditEvent
from helpdesk.db import Base
from helpdesk.programs.inactivity import IdleReminder
from helpdesk.programs.models import Application, ApplicationStatus, Pool, Program
from helpdesk.tickets import fulltext as _fulltext  # noqa: F401 - the search index is made with the ticket table
from helpdesk.tickets.attachments import Attachment
from helpdesk.tickets.limits import HeldDelivery
from helpdesk.tickets.models import (
    Direction,
    Escalation,
    InboundDelivery,
    Message,
    OutboxItem,
    OutboxStatus,
    Priority,
    Queue,
    Source,
    Status,
    Ticket,
    Visibility,
)
from helpdesk.tickets.saved_views import SavedView
from helpdesk.tickets.tags import Tag, TicketTag
from helpdesk.tickets.workspace import EmailOptOut, Macro, TicketPresence, TicketRating

__all__ = [
    "Application", "ApplicationStatus", "Pool", "Program",
    "ApiToken", "AuditEvent", "Base", "Direction", "Escalation", "Identity", "InboundDelivery", "Message", "OutboxItem",
    "OutboxStatus", "Person", "Priority", "Provider", "Queue", "Role", "Source", "Status", "Ticket", "Visibility",
    "EmailOptOut", "Macro", "TicketPresence", "TicketRating",
    "SavedView", "Tag", "TicketTag",
    "HeldDelivery", "IdleReminder",
    "Attachment",
]
