"""Fixtures for the ticket-workspace tests: a real local SMTP server, the helpdesk set up to email through it,
and a web ticket from a requester who has an email address."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person, Role
from helpdesk.accounts.services import AccountService
from helpdesk.config import Settings
from helpdesk.db import utcnow
from helpdesk.factory import Factory
from helpdesk.tickets.models import Source, Ticket
from helpdesk.worker import OutboxWorker
from tests.support import smtp as mail
from tests.support.smtp import SmtpServer

smtp = mail.smtp  # the local SMTP server fixture, shared by name


@pytest.fixture
def settings(make_settings: Callable[..., Settings], smtp: SmtpServer) -> Settings:
    return make_settings(**smtp.settings())


@dataclass
class Desk:
    app: Flask
    settings: Settings
    #: The real clock: audit events are stamped with it too, so the timeline's order is the real one.
    clock: Callable[[], datetime]

    def session(self) -> Session:
        return self.app.extensions["helpdesk"].session_factory()

    def read(self) -> Session:
        return self.app.extensions["helpdesk"].read_session_factory()

    def factory(self, session: Session) -> Factory:
        return Factory(session, self.settings, self.clock)

    def worker(self) -> OutboxWorker:
        return OutboxWorker(self.app.extensions["helpdesk"].session_factory, self.settings, clock=self.clock)


@pytest.fixture
def desk(app: Flask, settings: Settings) -> Desk:
    return Desk(app, settings, utcnow)


def requester_with_email(session: Session, login: str = "dana", email: str | None = "dana@example.org") -> Person:
    person = AccountService(session).sign_in_github(login)
    person.display_name = "Dana Delegate"
    person.email = email
    session.commit()
    return person


def staff(session: Session, login: str = "sam", role: Role = Role.STAFF) -> Person:
    person, _ = AccountService(session).create_staff(login, role)
    return person


def web_ticket(desk: Desk, session: Session, requester: Person, body: str = "butler.get fails") -> Ticket:
    return desk.factory(session).create_ticket_service().file(
        requester, "Butler cannot find calexp", body, Source.WEB).ticket
