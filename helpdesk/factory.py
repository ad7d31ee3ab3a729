"""One place that builds every service, wired to a session and the settings.

Requests get a factory on the request's session (``helpdesk.web.get_factory``); commands get one from
``helpdesk.cli.context.CliContext.factory``; the worker builds one per delivery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from helpdesk.config import Settings
from helpdesk.db import utcnow

if TYPE_CHECKING:
    from helpdesk.accounts.services import AccountService
    from helpdesk.channels.base import Channel
    from helpdesk.programs.services import ProgramService
    from helpdesk.search.services import SearchService
    from helpdesk.search.suggest import Suggester
    from helpdesk.tickets.escalation import EscalationService
    from helpdesk.tickets.listing import TicketListing
    from helpdesk.tickets.outbox import OutboxService
    from helpdesk.tickets.services import TicketService
    from helpdesk.triage import TriageEngine


#: Triage engines by the settings that shape them: loading the model costs more than a request.
_TRIAGE_ENGINES: dict[tuple[object, ...], TriageEngine] = {}


@dataclass
class Factory:
    session: Session
    settings: Settings
    #: What services take as "now" (the worker's tests freeze it).
    clock: Callable[[], datetime] = utcnow
    _channels: dict[str, Channel] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.settings.github_team:
            # Seats that start or stop being active queue a GitHub team sync in their own flush.
            from helpdesk.programs.roster_sync import enable

            enable(self.session, self.settings.github_team)

    def create_account_service(self) -> AccountService:
        from helpdesk.accounts.services import AccountService

        return AccountService(self.session, clock=self.clock)

    def create_ticket_service(self) -> TicketService:
        """Every write of a ticket or a message goes through this service, whichever channel it came from."""
        from helpdesk.tickets.attachments import AttachmentPolicy
        from helpdesk.tickets.limits import TicketLimits
        from helpdesk.tickets.services import TicketService

        return TicketService(self.session, self.clock, acknowledge=self.settings.channel_acknowledge,
                             triage=self.create_triage_engine() if self.settings.triage_enabled else None,
                             owner_strategy=self.settings.assignment,
                             incident_checks=self.settings.incident_checks,
                             limits=TicketLimits.from_settings(self.settings),
                             email_replies=self.settings.email_enabled,
                             attachments=AttachmentPolicy.from_settings(self.settings),
                             triage_in_worker=self.settings.triage_in_worker)

    def create_ticket_listing(self) -> TicketListing:
        """Ticket lists (staff console and API): filters, search, sorts, pages and counts; reads only."""
        from helpdesk.tickets.listing import TicketListing
        from helpdesk.tickets.sla import SlaPolicy

        return TicketListing(self.session, clock=self.clock, policy=SlaPolicy.from_settings(self.settings))

    def create_triage_engine(self) -> TriageEngine:
        """The triage engine the settings describe, built once per process (the model file loads once)."""
        key = (self.settings.triage_rules_file, self.settings.triage_model_file,
               self.settings.triage_confidence_threshold, self.settings.queues_file)
        engine = _TRIAGE_ENGINES.get(key)
        if engine is None:
            from helpdesk.tickets.queues import load_queue_config
            from helpdesk.triage import engine_from_settings

            slugs = [queue.slug for queue in load_queue_config(self.settings.queues_file)]
            engine = _TRIAGE_ENGINES[key] = engine_from_settings(self.settings, slugs)
        return engine

    def create_escalation_service(self) -> EscalationService:
        """Escalation to the engineering tracker the settings choose (Jira or GitHub; its clients are built when
        first used, so a page that only shows escalations makes no tracker)."""
        from helpdesk.channels.trackers import build_tracker
        from helpdesk.tickets.escalation import EscalationService

        settings = self.settings
        return EscalationService(
            self.session, self.create_ticket_service(), tracker=settings.escalation_tracker,
            missing=settings.escalation_missing(), tracker_for=lambda name: build_tracker(settings, name),
            public_url=settings.public_url, clock=self.clock,
        )

    def create_outbox_service(self) -> OutboxService:
        from helpdesk.tickets.outbox import OutboxService

        return OutboxService(self.session, clock=self.clock)

    def create_program_service(self) -> ProgramService:
        from helpdesk.programs.services import ProgramService

        return ProgramService(self.session, clock=self.clock,
                              email=bool(getattr(self.settings, "email_enabled", False)),
                              slack=self.settings.slack_bot_token is not None)

    def create_search_service(self) -> SearchService:
        from helpdesk.search.services import SearchService

        return SearchService(self.settings.index_dir)

    def create_suggester(self) -> Suggester:
        from helpdesk.search.suggest import Suggester

        return Suggester(self.create_search_service(), self.settings.public_url)

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
