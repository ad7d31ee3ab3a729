"""Accounts security in the service: merges that never raise a role, GitHub identities keyed by user id,
server-side web sessions, demotion and token revocation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import ApiToken, Identity, Person, Provider, Role, WebSession
from helpdesk.accounts.services import AccountService
from helpdesk.audit import AuditEvent
from helpdesk.exceptions import InvalidInputError, NotFoundError, PermissionDeniedError
from helpdesk.programs.models import Application, ApplicationStatus, Program
from helpdesk.programs.services import ApplicationForm, ProgramService

IDLE, LIFETIME = timedelta(minutes=120), timedelta(hours=24)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def accounts(db_session: Session) -> AccountService:
    return AccountService(db_session)


def events(db_session: Session, action: str) -> list[AuditEvent]:
    return list(db_session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def fresh(db_session: Session, person: Person) -> Person:
    db_session.expire_all()
    found = db_session.get(Person, person.id)
    assert found is not None
    return found


# -- merging -----------------------------------------------------------------------------------------


class TestMergeNeverRaisesARole:
    def test_staff_cannot_merge_an_admin_into_their_own_plain_account(
        self, accounts: AccountService, db_session: Session, make_person: Callable[..., Person]
    ) -> None:
        admin, _ = accounts.create_staff("root", Role.ADMIN, with_token=True)
        mallory = make_person("mallory", "staff")
        sock = make_person("mallory-sock")
        with pytest.raises(PermissionDeniedError, match="administrator"):
            accounts.merge(mallory, admin.id, sock.id)
        assert fresh(db_session, sock).role is Role.USER
        assert fresh(db_session, admin).merged_into_id is None

    def test_even_an_admin_cannot_merge_a_staff_record_into_another_role(
        self, accounts: AccountService, db_session: Session, make_person: Callable[..., Person]
    ) -> None:
        admin, helper, plain = make_person("root", "admin"), make_person("helper", "staff"), make_person("plain")
        with pytest.raises(InvalidInputError, match="never changes anyone's role"):
            accounts.merge(admin, helper.id, plain.id)
        other_admin = make_person("root2", "admin")
        with pytest.raises(InvalidInputError):
            accounts.merge(admin, other_admin.id, helper.id)
        assert (fresh(db_session, plain).role, fresh(db_session, helper).role) == (Role.USER, Role.STAFF)

    def test_staff_cannot_merge_a_plain_record_into_staff(
        self, accounts: AccountService, make_person: Callable[..., Person]
    ) -> None:
        # The plain record's identities would then act as the staff member: an administrator's decision.
        helper, plain = make_person("helper", "staff"), make_person("plain")
        with pytest.raises(PermissionDeniedError):
            accounts.merge(helper, plain.id, helper.id)

    def test_an_admin_merges_records_of_the_same_role_and_the_target_keeps_its_own(
        self, accounts: AccountService, db_session: Session, make_person: Callable[..., Person]
    ) -> None:
        admin = make_person("root", "admin")
        old, new = make_person("helper-old", "staff"), make_person("helper", "staff")
        accounts.merge(admin, old.id, new.id)
        merged, survivor = fresh(db_session, old), fresh(db_session, new)
        assert (survivor.role, merged.role, merged.merged_into_id) == (Role.STAFF, Role.USER, new.id)
        event = events(db_session, "person.merged")[-1]
        assert event.actor_id == admin.id and event.data["merged_role"] == "staff"

    def test_staff_still_merge_plain_users(
        self, accounts: AccountService, db_session: Session, make_person: Callable[..., Person]
    ) -> None:
        helper, a, b = make_person("helper", "staff"), make_person("ann"), make_person("ann-too")
        assert accounts.merge(helper, a.id, b.id).role is Role.USER


class TestMergeEndsTheMergedPersonsCredentials:
    def test_tokens_are_revoked_not_moved(
        self, accounts: AccountService, db_session: Session, make_person: Callable[..., Person]
    ) -> None:
        admin = make_person("root", "admin")
        source, token = accounts.create_staff("helper-old", Role.STAFF, with_token=True)
        target = make_person("helper", "staff")
        assert token and accounts.authenticate_token(token) is not None
        accounts.merge(admin, source.id, target.id)
        assert accounts.authenticate_token(token) is None
        (row,) = db_session.scalars(select(ApiToken).where(ApiToken.prefix == token[:10]))
        assert row.person_id == source.id and row.revoked_at is not None
        revoked = events(db_session, "token.revoked")[-1]
        assert (revoked.data["prefixes"], revoked.data["reason"], revoked.actor_id) == ([token[:10]], "merged", admin.id)

    def test_web_sessions_of_the_merged_person_end(
        self, accounts: AccountService, make_person: Callable[..., Person]
    ) -> None:
        helper, a, b = make_person("helper", "staff"), make_person("ann"), make_person("ann-too")
        session_id = accounts.start_session(a, lifetime=LIFETIME)
        kept = accounts.start_session(b, lifetime=LIFETIME)
        accounts.merge(helper, a.id, b.id)
        assert accounts.authenticate_session(session_id, idle=IDLE, lifetime=LIFETIME) is None
        assert accounts.authenticate_session(kept, idle=IDLE, lifetime=LIFETIME).id == b.id


def form(name: str) -> ApplicationForm:
    return ApplicationForm(name=name, email=f"{name}@example.edu", institution="Example U", data_rights=True)


class TestMergeMovesApplications:
    @pytest.fixture
    def programs(self, db_session: Session) -> ProgramService:
        db_session.add_all([Program(slug="tiny", name="Tiny", cap=2, reserved=0),
                            Program(slug="other", name="Other", cap=5, reserved=0)])
        db_session.commit()
        return ProgramService(db_session)

    def test_a_lone_application_moves_to_the_target(
        self, accounts: AccountService, programs: ProgramService, db_session: Session,
        make_person: Callable[..., Person],
    ) -> None:
        helper, a, b = make_person("helper", "staff"), make_person("ann"), make_person("ann-too")
        application, _ = programs.apply(a, "other", form("ann"))
        accounts.merge(helper, a.id, b.id)
        assert db_session.get(Application, application.id).person_id == b.id

    def test_of_two_the_one_further_along_is_kept_and_the_freed_seat_promotes_the_waitlist(
        self, accounts: AccountService, programs: ProgramService, db_session: Session,
        make_person: Callable[..., Person],
    ) -> None:
        helper, a, b, c = make_person("helper", "staff"), make_person("ann"), make_person("ann-too"), make_person("cy")
        target_app, _ = programs.apply(b, "tiny", form("ann-too"))   # pending
        source_app, _ = programs.apply(a, "tiny", form("ann"))       # pending: the two seats are taken
        waiting, _ = programs.apply(c, "tiny", form("cy"))           # waitlisted
        programs.decide(helper, source_app.id, "approve",           # the source's is now further along
                        checks=["identity", "rights_list", "email"])
        assert waiting.status is ApplicationStatus.WAITLISTED
        accounts.merge(helper, a.id, b.id)
        db_session.expire_all()
        kept = db_session.scalars(select(Application).where(Application.person_id == b.id)).one()
        assert (kept.id, kept.status) == (source_app.id, ApplicationStatus.ACTIVE)
        assert db_session.get(Application, target_app.id) is None
        assert db_session.get(Application, waiting.id).status is ApplicationStatus.PENDING
        data = events(db_session, "person.merged")[-1].data["applications"]
        assert data["kept"] == [{"program": "tiny", "kept": source_app.id, "kept_status": "active",
                                 "dropped": target_app.id, "dropped_status": "pending", "dropped_pool": "open"}]
        assert data["promoted"] == [waiting.id]

    def test_the_targets_application_wins_when_it_is_further_along(
        self, accounts: AccountService, programs: ProgramService, db_session: Session,
        make_person: Callable[..., Person],
    ) -> None:
        helper, a, b, c, d = (make_person(n) if n != "helper" else make_person(n, "staff")
                              for n in ("helper", "ann", "ann-too", "cy", "di"))
        programs.apply(c, "tiny", form("cy"))
        target_app, _ = programs.apply(b, "tiny", form("ann-too"))  # pending, the last open seat
        source_app, _ = programs.apply(a, "tiny", form("ann"))      # waitlisted
        later, _ = programs.apply(d, "tiny", form("di"))            # waitlisted behind it
        accounts.merge(helper, a.id, b.id)
        db_session.expire_all()
        assert db_session.get(Application, source_app.id) is None
        assert db_session.get(Application, target_app.id).status is ApplicationStatus.PENDING
        assert db_session.get(Application, later.id).status is ApplicationStatus.WAITLISTED  # no seat was freed


class TestAutomaticMergeByVerifiedEmail:
    def test_the_worker_never_merges_a_slack_user_into_staff(
        self, accounts: AccountService, db_session: Session, make_person: Callable[..., Person]
    ) -> None:
        helper = make_person("helper", "staff")
        helper.email, helper.email_verified = "helper@example.org", True
        db_session.commit()
        slack = accounts.resolve_identity(Provider.SLACK, "U1")
        db_session.commit()
        result = accounts.apply_profile(Provider.SLACK, "U1", email="Helper@Example.org", email_verified=True)
        assert result.id == slack.id and fresh(db_session, result).merged_into_id is None
        assert fresh(db_session, result).role is Role.USER
        assert events(db_session, "person.merge_refused")[-1].data["owner_id"] == helper.id

    def test_the_worker_still_merges_plain_users(self, accounts: AccountService, db_session: Session) -> None:
        known = accounts.sign_in_github("vera", github_id=77, email="vera@example.org")
        accounts.resolve_identity(Provider.SLACK, "U1")
        db_session.commit()
        assert accounts.apply_profile(Provider.SLACK, "U1", email="vera@example.org", email_verified=True).id == known.id

    def test_a_new_identity_never_joins_staff_by_email(
        self, accounts: AccountService, db_session: Session, make_person: Callable[..., Person]
    ) -> None:
        helper = make_person("helper", "staff")
        helper.email, helper.email_verified = "helper@example.org", True
        db_session.commit()
        forum = accounts.resolve_identity(Provider.DISCOURSE, "9", email="helper@example.org", email_verified=True)
        db_session.commit()
        assert forum.id != helper.id and forum.role is Role.USER


# -- GitHub identities ---------------------------------------------------------------------------


class TestGitHubIdentities:
    def test_keyed_by_the_numeric_id_and_a_rename_keeps_the_person(
        self, accounts: AccountService, db_session: Session
    ) -> None:
        first = accounts.sign_in_github("Octo-Cat", github_id=583231, display_name="Octo Cat",
                                        email="Octo@Example.org")
        identity = db_session.scalars(select(Identity)).one()
        assert identity.external_id == "583231"
        assert (first.email, first.email_verified) == ("octo@example.org", True)
        renamed = accounts.sign_in_github("octo-renamed", github_id=583231)
        assert renamed.id == first.id
        assert accounts.find_by_login("OCTO-RENAMED").id == first.id
        assert accounts.find_by_login("octo-cat") is None

    def test_staff_create_makes_a_pending_identity_that_the_first_sign_in_claims(
        self, accounts: AccountService, db_session: Session
    ) -> None:
        staff, _ = accounts.create_staff("Alice", Role.STAFF)
        assert db_session.scalars(select(Identity.external_id)).one() == "login:alice"
        signed_in = accounts.sign_in_github("alice", github_id=10, display_name="Alice A.")
        assert (signed_in.id, signed_in.role, signed_in.display_name) == (staff.id, Role.STAFF, "Alice A.")
        assert db_session.scalars(select(Identity.external_id)).one() == "10"
        assert events(db_session, "identity.claimed")[-1].data["github_id"] == "10"

    def test_a_login_re_registered_by_someone_else_does_not_inherit_the_role(
        self, accounts: AccountService, db_session: Session
    ) -> None:
        staff, _ = accounts.create_staff("alice", Role.ADMIN)
        accounts.sign_in_github("alice", github_id=10)
        # Alice renames her account (and has not signed in since); someone registers the freed login.
        stranger = accounts.sign_in_github("alice", github_id=20)
        assert stranger.id != staff.id and stranger.role is Role.USER
        assert accounts.find_by_login("alice").id == stranger.id
        assert fresh(db_session, staff).role is Role.ADMIN
        assert accounts.sign_in_github("alice-elsewhere", github_id=10).id == staff.id

    def test_a_verified_email_joins_a_plain_user_but_never_staff(
        self, accounts: AccountService, db_session: Session, make_person: Callable[..., Person]
    ) -> None:
        slack = accounts.resolve_identity(Provider.SLACK, "U1", email="vera@example.org", email_verified=True)
        db_session.commit()
        assert accounts.sign_in_github("vrubin", github_id=5, email="VERA@example.org").id == slack.id
        helper = make_person("helper", "staff")
        helper.email, helper.email_verified = "helper@example.org", True
        db_session.commit()
        other = accounts.sign_in_github("not-helper", github_id=6, email="helper@example.org")
        assert other.id != helper.id and other.role is Role.USER
        assert events(db_session, "identity.join_refused")[-1].data["owner_id"] == helper.id

    def test_dev_sign_in_has_its_own_key_that_github_never_claims(
        self, accounts: AccountService, db_session: Session
    ) -> None:
        dev = accounts.sign_in_dev("Bob")
        assert db_session.scalars(select(Identity.external_id)).one() == "dev:bob"
        assert accounts.sign_in_dev("bob").id == dev.id
        assert accounts.sign_in_github("bob", github_id=42).id != dev.id

    def test_dev_sign_in_finds_a_pending_staff_member(self, accounts: AccountService) -> None:
        staff, _ = accounts.create_staff("sam", Role.STAFF)
        assert accounts.sign_in_dev("Sam").id == staff.id

    def test_impossible_ids_and_logins(self, accounts: AccountService) -> None:
        with pytest.raises(InvalidInputError):
            accounts.sign_in_github("alice", github_id=0)
        with pytest.raises(InvalidInputError):
            accounts.sign_in_github("not a login", github_id=3)
        assert accounts.find_by_login("not a login") is None


# -- web sessions ------------------------------------------------------------------------------------


class TestWebSessions:
    def test_only_a_hash_is_stored_and_ending_it_signs_out(
        self, db_session: Session, make_person: Callable[..., Person]
    ) -> None:
        accounts = AccountService(db_session)
        person = make_person("ann")
        session_id = accounts.start_session(person, lifetime=LIFETIME)
        row = db_session.scalars(select(WebSession)).one()
        assert session_id not in row.session_hash and len(row.session_hash) == 64
        assert accounts.authenticate_session(session_id, idle=IDLE, lifetime=LIFETIME).id == person.id
        accounts.end_session(session_id)
        assert accounts.authenticate_session(session_id, idle=IDLE, lifetime=LIFETIME) is None

    def test_idle_timeout_lifetime_and_last_seen_once_a_minute(
        self, db_session: Session, make_person: Callable[..., Person]
    ) -> None:
        clock = Clock()
        accounts = AccountService(db_session, clock=clock)
        person = make_person("ann")
        session_id = accounts.start_session(person, lifetime=LIFETIME)
        started = clock.now
        clock.now += timedelta(seconds=30)
        assert accounts.authenticate_session(session_id, idle=IDLE, lifetime=LIFETIME) is not None
        assert db_session.scalars(select(WebSession.last_seen_at)).one() == started  # not touched within a minute
        for _ in range(12):  # active every 119 minutes: never idle too long, but 24 hours pass
            clock.now += timedelta(minutes=119)
            assert accounts.authenticate_session(session_id, idle=IDLE, lifetime=LIFETIME) is not None
        assert db_session.scalars(select(WebSession.last_seen_at)).one() == clock.now
        clock.now += timedelta(minutes=119)
        assert accounts.authenticate_session(session_id, idle=IDLE, lifetime=LIFETIME) is None  # lifetime over
        other = accounts.start_session(person, lifetime=LIFETIME)
        clock.now += IDLE + timedelta(seconds=1)
        assert accounts.authenticate_session(other, idle=IDLE, lifetime=LIFETIME) is None  # idle too long

    def test_a_new_sign_in_replaces_the_session_it_came_with(
        self, accounts: AccountService, db_session: Session, make_person: Callable[..., Person]
    ) -> None:
        person = make_person("ann")
        planted = accounts.start_session(person, lifetime=LIFETIME)
        fresh_id = accounts.start_session(person, lifetime=LIFETIME, replacing=planted)
        assert accounts.authenticate_session(planted, idle=IDLE, lifetime=LIFETIME) is None
        assert accounts.authenticate_session(fresh_id, idle=IDLE, lifetime=LIFETIME) is not None
        # Ended sessions are cleared away at the next sign-in.
        accounts.start_session(person, lifetime=LIFETIME)
        assert len(db_session.scalars(select(WebSession)).all()) == 2


# -- staff credentials ---------------------------------------------------------------------------------


class TestDemoteAndRevoke:
    def test_demote_takes_role_tokens_and_sessions(self, accounts: AccountService, db_session: Session) -> None:
        person, token = accounts.create_staff("helper", Role.ADMIN, with_token=True)
        session_id = accounts.start_session(person, lifetime=LIFETIME)
        demoted, revoked, ended = accounts.demote("Helper")
        assert (demoted.role, revoked, ended) == (Role.USER, [token[:10]], 1)
        assert accounts.authenticate_token(token) is None
        assert accounts.authenticate_session(session_id, idle=IDLE, lifetime=LIFETIME) is None
        assert events(db_session, "person.role_changed")[-1].data["role"] == "user"
        with pytest.raises(NotFoundError):
            accounts.demote("nobody")

    def test_revoke_by_prefix_and_ambiguity(self, accounts: AccountService, db_session: Session) -> None:
        _, first = accounts.create_staff("helper", Role.STAFF, with_token=True)
        _, second = accounts.create_staff("helper", Role.STAFF, with_token=True)
        token, newly = accounts.revoke_token(first[:10])
        assert newly and accounts.authenticate_token(first) is None and accounts.authenticate_token(second)
        assert accounts.revoke_token(first[:10])[1] is False
        db_session.execute(ApiToken.__table__.update().values(prefix="hd_same"))
        db_session.commit()
        with pytest.raises(InvalidInputError, match="share the prefix"):
            accounts.revoke_token("hd_same")
        assert accounts.authenticate_token(second) is not None
        with pytest.raises(NotFoundError):
            accounts.revoke_token("hd_nothing")


# -- migration 0003 --------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path):  # type: ignore[no-untyped-def]
    """A database with no tables at all, for running the migrations themselves."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from helpdesk.db import make_engine
    from tests.support.database import SERVER_URL

    server = make_url(SERVER_URL)
    name = f"{server.database}_accounts_migration"
    admin = make_engine(SERVER_URL, pool=False).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_migration_turns_login_keyed_identities_into_pending_ones(empty_database: str) -> None:
    from alembic import command
    from sqlalchemy import text

    from helpdesk.db import make_engine
    from helpdesk.migrations import alembic_config

    config = alembic_config(empty_database)
    command.upgrade(config, "0002")
    engine = make_engine(empty_database, pool=False)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    people = {}
    with engine.begin() as conn:
        for name, is_demo, role in (("alice", False, "admin"), ("demo", True, "staff")):
            conn.execute(text("INSERT INTO person (display_name, email_verified, role, is_demo, created_at) "
                              "VALUES (:name, false, :role, :demo, :now)"),
                         {"name": name, "role": role, "demo": is_demo, "now": now})
            people[name] = conn.execute(text("SELECT id FROM person WHERE display_name = :name"),
                                        {"name": name}).scalar_one()
        conn.execute(text("INSERT INTO identity (person_id, provider, external_id, username, created_at) VALUES "
                          "(:alice, 'github', 'alice', 'Alice', :now), "
                          "(:demo, 'github', 'demo-staff', 'demo-staff', :now), (:alice, 'slack', 'U1', NULL, :now)"),
                     {"now": now, **people})
    command.upgrade(config, "0003_accounts")
    with engine.connect() as conn:
        ids = dict(conn.execute(text("SELECT username, external_id FROM identity WHERE username IS NOT NULL")).all())
        slack = conn.execute(text("SELECT external_id FROM identity WHERE provider = 'slack'")).scalar_one()
    assert ids == {"Alice": "login:alice", "demo-staff": "dev:demo-staff"} and slack == "U1"
    command.upgrade(config, "head")  # the models below are today's: later columns must exist
    # The first GitHub sign-in with the login claims the converted record; a demo person is never claimed.
    with Session(engine) as session:
        accounts = AccountService(session)
        assert accounts.sign_in_github("alice", github_id=7).id == people["alice"]
        assert accounts.sign_in_github("demo-staff", github_id=8).id not in people.values()
    command.downgrade(config, "0002")
    with engine.connect() as conn:
        ids = dict(conn.execute(text("SELECT username, external_id FROM identity WHERE username IS NOT NULL")).all())
    assert ids["alice"] == "alice" and ids["demo-staff"] == "demo-staff"
    engine.dispose()
