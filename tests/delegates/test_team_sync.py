"""The roster's GitHub team kept in step through the outbox, against a local fake of GitHub's REST API."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.config import Settings
from helpdesk.db import utcnow
from helpdesk.factory import Factory
from helpdesk.tickets.models import OutboxItem, OutboxStatus
from helpdesk.worker import OutboxWorker
from tests.support.fake_github_team import FakeGitHubTeam
from tests.support.fakes import Scripted
from tests.support.reading import fresh


def work(app: Flask, settings: Settings) -> None:
    OutboxWorker(app.extensions["helpdesk"].session_factory, settings, rng=lambda: 0.5).run_once()


def team_items(db_session: Session) -> list[OutboxItem]:
    fresh(db_session)
    return list(db_session.scalars(select(OutboxItem).where(OutboxItem.kind == "team_sync").order_by(OutboxItem.id)))


def test_an_active_seat_joins_the_team_and_a_reclaimed_one_leaves(
    app: Flask, settings: Settings, db_session: Session, factory: Factory, seat, admin: Person,  # type: ignore[no-untyped-def]
    github_team: FakeGitHubTeam,
) -> None:
    application = seat("Vera-R", 1001)
    assert application.status.value == "active"
    assert len(team_items(db_session)) == 1  # applying (pending) changes nothing; approving queues one
    work(app, settings)
    assert github_team.members == {"vera-r"}
    assert github_team.changes() == [("PUT", "Vera-R")]
    assert team_items(db_session)[0].status is OutboxStatus.DELIVERED
    factory.create_program_service().decide(admin, application.id, "reclaim", note="idle for months")
    work(app, settings)
    assert github_team.members == set()
    assert github_team.changes()[-1] == ("DELETE", "Vera-R")


def test_a_pending_seat_is_not_on_the_team(app: Flask, settings: Settings, db_session: Session, seat,  # type: ignore[no-untyped-def]
                                           github_team: FakeGitHubTeam) -> None:
    seat("waiting", 1002, approve=False)
    work(app, settings)
    assert team_items(db_session) == [] and github_team.changes() == []


def test_delivery_is_idempotent_and_reads_the_state_now(
    app: Flask, settings: Settings, db_session: Session, factory: Factory, seat, admin: Person,  # type: ignore[no-untyped-def]
    github_team: FakeGitHubTeam,
) -> None:
    application = seat("twice", 1003)
    factory.create_program_service().decide(admin, application.id, "withdraw", note="left the field")
    # Two items (add, then remove) delivered after both changes: each reads today's truth, not its own moment.
    assert len(team_items(db_session)) == 2
    work(app, settings)
    assert github_team.members == set()
    assert [method for method, _ in github_team.changes()] == ["DELETE", "DELETE"]
    assert [i.remote_id for i in team_items(db_session)] == ["twice:absent", "twice:absent"]


def test_a_github_outage_is_retried_and_a_bad_token_is_dead(
    app: Flask, settings: Settings, db_session: Session, seat, github_team: FakeGitHubTeam,  # type: ignore[no-untyped-def]
) -> None:
    github_team.script("membership", Scripted(status=502, body={"message": "Bad Gateway"}))
    seat("flaky", 1004)
    work(app, settings)
    (item,) = team_items(db_session)
    assert item.status is OutboxStatus.PENDING and "502" in (item.last_error or "")
    assert github_team.members == set()

    bad = settings.model_copy(update={"github_team_token": SecretStr("wrong")})
    later = utcnow() + timedelta(minutes=10)  # past the backoff
    OutboxWorker(app.extensions["helpdesk"].session_factory, bad, rng=lambda: 0.5, clock=lambda: later).run_once()
    (item,) = team_items(db_session)
    assert item.status is OutboxStatus.DEAD and "401" in (item.last_error or "")


def test_someone_without_a_github_account_is_skipped(
    app: Flask, settings: Settings, db_session: Session, factory: Factory, admin: Person,  # type: ignore[no-untyped-def]
    github_team: FakeGitHubTeam,
) -> None:
    from helpdesk.programs.services import DATA_RIGHTS_CHECKS, ApplicationForm

    person = factory.create_account_service().sign_in_oidc("https://cilogon.org", "http://cilogon.org/u/1",
                                                           email="c@example.edu", email_verified=True)
    programs = factory.create_program_service()
    application, _ = programs.apply(person, "dp0", ApplicationForm(name="C", email="c@example.edu",
                                                                   institution="U", data_rights=True))
    programs.decide(admin, application.id, "approve", checks=[k for k, _ in DATA_RIGHTS_CHECKS])
    work(app, settings)
    (item,) = team_items(db_session)
    assert item.status is OutboxStatus.DELIVERED and item.remote_id == "skipped: no GitHub account"
    assert github_team.changes() == []


def test_without_a_team_nothing_is_queued(make_settings, db_session: Session, admin: Person) -> None:  # type: ignore[no-untyped-def]
    from helpdesk.programs.services import DATA_RIGHTS_CHECKS, ApplicationForm

    plain = Factory(db_session, make_settings())
    person = plain.create_account_service().sign_in_github("solo", github_id=1010)
    programs = plain.create_program_service()
    application, _ = programs.apply(person, "dp0", ApplicationForm(name="S", email="s@example.edu",
                                                                   institution="U", data_rights=True))
    programs.decide(admin, application.id, "approve", checks=[k for k, _ in DATA_RIGHTS_CHECKS])
    assert team_items(db_session) == []
