"""Fixtures of the delegate tests: a fake GitHub team, and delegates with seats."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person, Role
from helpdesk.accounts.services import AccountService
from helpdesk.config import Settings
from helpdesk.factory import Factory
from helpdesk.programs.models import Application
from helpdesk.programs.services import DATA_RIGHTS_CHECKS, ApplicationForm
from tests.support.fake_github_team import ORG, TEAM, TEAM_TOKEN, FakeGitHubTeam


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def github_team() -> Iterator[FakeGitHubTeam]:
    fake = FakeGitHubTeam()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(make_settings: Callable[..., Settings], github_team: FakeGitHubTeam) -> Settings:
    return make_settings(github_team=f"{ORG}/{TEAM}", github_team_token=TEAM_TOKEN,
                         github_api_url=f"{github_team.url}/", idle_days=30, idle_reminder_days=7,
                         idle_reminders_before_reclaim=2, channel_timeout_seconds=5)


@pytest.fixture
def factory(db_session: Session, settings: Settings) -> Factory:
    return Factory(db_session, settings)


@pytest.fixture
def admin(db_session: Session) -> Person:
    person, _ = AccountService(db_session).create_staff("boss", Role.ADMIN)
    return person


@pytest.fixture
def seat(factory: Factory, admin: Person) -> Callable[..., Application]:
    """A delegate (GitHub user ``login`` with id ``github_id``) who applied; ``approve`` makes the seat active."""

    def make(login: str, github_id: int, *, approve: bool = True) -> Application:
        person = factory.create_account_service().sign_in_github(login, github_id=github_id,
                                                                 email=f"{login}@example.edu")
        programs = factory.create_program_service()
        application, _ = programs.apply(person, "dp0", ApplicationForm(
            name=login, email=f"{login}@example.edu", institution="Example University", data_rights=True))
        if approve and application.status.value == "pending":
            application = programs.decide(admin, application.id, "approve", checks=[k for k, _ in DATA_RIGHTS_CHECKS])
        return application

    return make
