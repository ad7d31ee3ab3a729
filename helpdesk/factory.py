"""One place that wires services to the request's session and the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from helpdesk.accounts.services import AccountService
from helpdesk.config import Settings
from helpdesk.tickets.services import TicketService

if TYPE_CHECKING:
    from helpdesk.channels.base import Channel
    from helpdesk.tickets.inbound import InboundService
    from helpdesk.tickets.outbox import OutboxService


@dataclass
class Factory:
    session: Session
    settings: Settings
    _channels: dict[str, Channel] = field(default_factory=dict, repr=False)

    def create_account_service(self) -> AccountService:
        return AccountService(self.session)

    def create_ticket_service(self) -> TicketService:
        return TicketService(self.session)

    def create_outbox_service(self) -> OutboxService:
        from helpdesk.tickets.outbox import OutboxService

        return OutboxService(self.session)

    def create_inbound_service(self) -> InboundService:
        from helpdesk.tickets.inbound import InboundService

        return InboundService(self.session, self.settings)

    def create_channel(self, name: str) -> Channel:
        """The channel called ``name``, chosen by settings: Slack and the forum are on when their secrets are set.

        Raises
        ------
        UnknownChannelError
            No such channel, or it is not configured (404 on the webhook routes).
        """
        if name not in self._channels:
            self._channels[name] = build_channel(self.settings, name)
        return self._channels[name]


def build_channel(settings: Settings, name: str) -> Channel:
    from helpdesk.channels.base import UnknownChannelError

    if name == "slack":
        if not settings.slack_enabled:
            raise UnknownChannelError("Slack is not connected (set HELPDESK_SLACK_SIGNING_SECRET).")
        from helpdesk.channels.slack import SlackChannel

        return SlackChannel(settings)
    if name == "discourse":
        if not settings.discourse_enabled:
            raise UnknownChannelError("The forum is not connected (set HELPDESK_DISCOURSE_WEBHOOK_SECRET).")
        from helpdesk.channels.discourse import DiscourseChannel

        return DiscourseChannel(settings)
    if name in ("web", "api"):
        from helpdesk.channels.web import WebChannel

        return WebChannel()
    raise UnknownChannelError(f"No channel called {name!r}.")
