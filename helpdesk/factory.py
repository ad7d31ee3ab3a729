"""One place that wires services to the request's session and the settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from helpdesk.accounts.services import AccountService
from helpdesk.config import Settings
from helpdesk.tickets.services import TicketService


@dataclass
class Factory:
    session: Session
    settings: Settings

    def create_account_service(self) -> AccountService:
        return AccountService(self.session)

    def create_ticket_service(self) -> TicketService:
        return TicketService(self.session)
