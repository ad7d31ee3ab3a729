"""Applications: states that say what they mean, the data-rights checklist, declines and reclaims with a
reason that stays on the record, promotion from the waitlist in order, reserved pools and windows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.audit import AuditEvent
from helpdesk.exceptions import InvalidInputError, InvalidTransitionError, PermissionDeniedError
from helpdesk.programs.models import Application, ApplicationStatus, Program
from helpdesk.programs.services import ChecksIncompleteError, ProgramService, WindowClosedError
from tests.programs.conftest import ALL_CHECKS, apply_all, form
from tests.support.clock import Clock

S = ApplicationStatus


def statuses(db_session: Session, apps: list[Application]) -> list[ApplicationStatus]:
    for app in apps:
        db_session.refresh(app)
    return [a.status for a in apps]


def test_pending_means_being_checked_not_accepted() -> None:
    assert S.PENDING.label == "being checked"
    assert {s.label for s in S} >= {"entered in the draw", "active", "waitlisted", "declined", "seat reclaimed"}
    assert S.PENDING.holds_seat and not S.ENTERED.holds_seat and S.ENTERED.is_live


@pytest.mark.parametrize(("cap", "expected"), [
    (2, [S.PENDING, S.PENDING, S.WAITLISTED]),  # three applicants at cap + 1
    (3, [S.PENDING, S.PENDING, S.PENDING]),     # at the cap
    (4, [S.PENDING, S.PENDING, S.PENDING]),     # below it (cap - 1 taken)
])
def test_the_cap_at_its_edges(service: ProgramService, make_program: Callable[..., Program], people: list[Person],
                              cap: int, expected: list[ApplicationStatus]) -> None:
    make_program("edge", cap=cap, pools={})
    assert [a.status for a in apply_all(service, people[:3], "edge")] == expected
    assert service.counts("edge").open_seats == max(0, cap - 3)


class TestChecklist:
    def test_approval_needs_every_check(self, service: ProgramService, make_program: Callable[..., Program],
                                        people: list[Person], admin: Person, db_session: Session) -> None:
        make_program()
        (app,) = apply_all(service, people[:1])
        with pytest.raises(ChecksIncompleteError, match="data-rights holders list"):
            service.decide(admin, app.id, "approve", checks=["identity", "email"])
        db_session.refresh(app)
        assert app.status is S.PENDING
        service.record_checks(admin, app.id, ["identity", "email"])
        with pytest.raises(ChecksIncompleteError):
            service.decide(admin, app.id, "approve")
        service.record_checks(admin, app.id, ALL_CHECKS)
        assert service.decide(admin, app.id, "approve").status is S.ACTIVE
        event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "signup.approve"))
        assert event.data["checks"] == dict.fromkeys(ALL_CHECKS, True) and event.actor_id == admin.id

    def test_unknown_checks_are_refused(self, service: ProgramService, make_program: Callable[..., Program],
                                        people: list[Person], admin: Person) -> None:
        make_program()
        (app,) = apply_all(service, people[:1])
        with pytest.raises(InvalidInputError, match="Unknown checks"):
            service.record_checks(admin, app.id, ["looks-fine"])

    def test_requesters_do_not_tick_checks(self, service: ProgramService, make_program: Callable[..., Program],
                                           people: list[Person]) -> None:
        make_program()
        (app,) = apply_all(service, people[:1])
        with pytest.raises(PermissionDeniedError):
            service.record_checks(people[1], app.id, ALL_CHECKS)


class TestDecline:
    def test_needs_a_reason_and_keeps_it(self, service: ProgramService, make_program: Callable[..., Program],
                                         people: list[Person], admin: Person, db_session: Session) -> None:
        make_program(cap=2, pools={})
        first, second, third = apply_all(service, people[:3])
        with pytest.raises(InvalidInputError, match="reason"):
            service.decide(admin, first.id, "decline", "   ")
        assert statuses(db_session, [first, third]) == [S.PENDING, S.WAITLISTED]
        service.decide(admin, first.id, "decline", "Not on the data-rights holders list")
        assert statuses(db_session, [first, second, third]) == [S.DECLINED, S.PENDING, S.PENDING]
        assert first.reason == "Not on the data-rights holders list"
        assert [h["status"] for h in first.history] == ["pending", "declined"]
        assert first.history[-1]["reason"] == first.reason and first.history[-1]["by"] == admin.id
        assert [a.id for a in service.roster("small").closed] == [first.id]  # still on the record
        assert third.history[-1]["event"] == "promoted"

    def test_a_declined_applicant_may_apply_again_and_the_decline_stays(
        self, service: ProgramService, make_program: Callable[..., Program], people: list[Person], admin: Person,
        db_session: Session,
    ) -> None:
        make_program(cap=3, pools={})
        first, second = apply_all(service, people[:2])
        service.decide(admin, first.id, "decline", "Affiliation not found")
        again, created = service.apply(people[0], "small", form("Vera Again"))
        assert created and again.id == first.id and again.status is S.PENDING and again.reason is None
        assert [h["status"] for h in again.history] == ["pending", "declined", "pending"]
        assert again.history[1]["reason"] == "Affiliation not found"
        assert again.position > second.position  # the back of the line

    def test_waitlisted_and_entered_can_be_declined_active_cannot(
        self, service: ProgramService, make_program: Callable[..., Program], people: list[Person], admin: Person,
    ) -> None:
        make_program(cap=1, pools={})
        first, second = apply_all(service, people[:2])
        assert service.decide(admin, second.id, "decline", "duplicate account").status is S.DECLINED
        service.decide(admin, first.id, "approve", checks=ALL_CHECKS)
        with pytest.raises(InvalidTransitionError, match="active"):
            service.decide(admin, first.id, "decline", "too late")


class TestPromotion:
    def test_freed_seats_promote_in_order(self, service: ProgramService, make_program: Callable[..., Program],
                                          people: list[Person], admin: Person, db_session: Session) -> None:
        make_program(cap=2, pools={})
        apps = apply_all(service, people[:6])
        service.decide(admin, apps[0].id, "approve", checks=ALL_CHECKS)
        service.decide(admin, apps[0].id, "reclaim", "Idle for six months after three reminders")
        assert statuses(db_session, apps[:4]) == [S.RECLAIMED, S.PENDING, S.PENDING, S.WAITLISTED]
        service.decide(admin, apps[1].id, "withdraw")
        assert statuses(db_session, apps[3:]) == [S.PENDING, S.WAITLISTED, S.WAITLISTED]
        assert [service.waitlist_position(a) for a in apps[4:]] == [1, 2]

    def test_raising_promotes_lowering_evicts_nobody(self, service: ProgramService,
                                                     make_program: Callable[..., Program], people: list[Person],
                                                     admin: Person, db_session: Session) -> None:
        make_program(cap=2, pools={})
        apps = apply_all(service, people[:5])
        service.set_cap(admin, "small", 4)
        assert statuses(db_session, apps) == [S.PENDING] * 4 + [S.WAITLISTED]
        counts = service.set_cap(admin, "small", 1)
        assert statuses(db_session, apps) == [S.PENDING] * 4 + [S.WAITLISTED]
        assert (counts.held, counts.over_cap, counts.open_seats) == (4, 3, 0)
        service.decide(admin, apps[0].id, "withdraw")  # still over the cap: nobody moves up
        assert statuses(db_session, apps[4:]) == [S.WAITLISTED]

    def test_reclaim_needs_an_active_seat_and_a_reason(self, service: ProgramService,
                                                       make_program: Callable[..., Program], people: list[Person],
                                                       admin: Person) -> None:
        make_program()
        (app,) = apply_all(service, people[:1])
        with pytest.raises(InvalidTransitionError):
            service.decide(admin, app.id, "reclaim", "idle")
        service.decide(admin, app.id, "approve", checks=ALL_CHECKS)
        with pytest.raises(InvalidInputError):
            service.decide(admin, app.id, "reclaim", "")


class TestPools:
    def test_staff_hand_out_pool_seats_and_they_are_not_promoted(
        self, service: ProgramService, make_program: Callable[..., Program], people: list[Person], admin: Person,
        db_session: Session,
    ) -> None:
        make_program(cap=4, pools={"collaborations": 1, "plus-ones": 1})
        apps = apply_all(service, people[:5])
        assert [a.status for a in apps] == [S.PENDING, S.PENDING, S.WAITLISTED, S.WAITLISTED, S.WAITLISTED]
        admitted = service.decide(admin, apps[4].id, "admit", pool="plus-ones")
        assert admitted.status is S.PENDING and admitted.reserved_pool.slug == "plus-ones"
        with pytest.raises(InvalidTransitionError, match="reserved seat"):
            service.decide(admin, apps[3].id, "admit", pool="plus-ones")
        with pytest.raises(InvalidInputError, match="No pool"):
            service.decide(admin, apps[3].id, "admit", pool="nope")
        counts = service.counts("small")
        assert (counts.reserved_left, counts.open_seats, counts.held) == (1, 0, 3)
        service.decide(admin, admitted.id, "withdraw")  # a pool seat freed stays in the pool
        assert statuses(db_session, apps[2:4]) == [S.WAITLISTED, S.WAITLISTED]
        assert service.counts("small").reserved_left == 2

    def test_pools_are_edited_and_a_pool_in_use_stays(
        self, service: ProgramService, make_program: Callable[..., Program], people: list[Person], admin: Person,
    ) -> None:
        from helpdesk.programs.services import PoolConfig, ProgramSettings

        make_program(cap=3, pools={"collaborations": 1})
        apps = apply_all(service, people[:3])
        service.decide(admin, apps[2].id, "admit")
        with pytest.raises(InvalidTransitionError, match="holds 1"):
            service.configure(admin, "small", ProgramSettings(pools=[]))
        counts = service.configure(admin, "small", ProgramSettings(cap=5, pools=[
            PoolConfig(slug="collaborations", name="Science Collaborations", seats=2),
            PoolConfig(slug="in-kind", name="In-kind", seats=1)]))
        assert (counts.program.reserved, counts.reserved_left, counts.open_seats) == (3, 2, 0)
        with pytest.raises(InvalidInputError, match="more than the cap"):
            service.configure(admin, "small", ProgramSettings(cap=2))
        with pytest.raises(PermissionDeniedError):
            service.configure(people[0], "small", ProgramSettings(cap=9))


class TestWindow:
    def test_applications_only_inside_the_window(self, service: ProgramService, clock: Clock,
                                                 make_program: Callable[..., Program], people: list[Person],
                                                 db_session: Session) -> None:
        make_program(opens_at=clock.now + timedelta(days=1), closes_at=clock.now + timedelta(days=8))
        with pytest.raises(WindowClosedError, match="open on"):
            service.apply(people[0], "small", form())
        clock.advance(86_400)
        assert service.apply(people[0], "small", form())[0].status is S.PENDING
        clock.advance(7 * 86_400)
        with pytest.raises(WindowClosedError, match="closed on"):
            service.apply(people[1], "small", form())
        assert len(service.roster("small").pending) == 1
        # Someone already in keeps their application when they come back after the window.
        assert service.apply(people[0], "small", form())[1] is False


def test_programmes_load_with_pools_a_lottery_and_a_window(service: ProgramService, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from helpdesk.programs.services import load_program_config

    path = tmp_path / "programs.yaml"
    path.write_text("programs:\n  - {slug: round, name: Round, cap: 10, selection: lottery,\n"
                    "     groups: {general: 1, early-career: 2}, opens_at: 2027-03-01T00:00:00Z,\n"
                    "     pools: [{slug: science-collaborations, name: Science Collaborations, seats: 3}]}\n")
    assert service.sync(load_program_config(path)) == (1, 0)
    program = service.program("round")
    assert (program.reserved, [p.slug for p in program.pools], program.groups) == (
        3, ["science-collaborations"], {"general": 1, "early-career": 2})
    assert program.selection.value == "lottery" and program.opens_at.isoformat() == "2027-03-01T00:00:00+00:00"
    path.write_text("programs:\n  - {slug: round, name: Round, cap: 10, opens_at: 2027-03-01T00:00:00}\n")
    with pytest.raises(InvalidInputError, match="needs a time zone"):
        load_program_config(path)
    path.write_text("programs:\n  - {slug: round, name: Round, cap: 10, reserved: 2,\n"
                    "     pools: [{slug: a, name: A, seats: 3}]}\n")
    with pytest.raises(InvalidInputError, match="either reserved or pools"):
        load_program_config(path)


def test_a_pool_lowered_below_what_it_holds_frees_no_open_seat(
    service: ProgramService, make_program: Callable[..., Program], people: list[Person], admin: Person,
) -> None:
    from helpdesk.programs.services import PoolConfig, ProgramSettings

    make_program(cap=3, pools={"collaborations": 1})
    apps = apply_all(service, people[:3])
    service.decide(admin, apps[2].id, "admit")  # the pool's one seat: the programme is full
    counts = service.configure(admin, "small", ProgramSettings(pools=[
        PoolConfig(slug="collaborations", name="Collaborations", seats=0)]))
    assert (counts.held, counts.open_seats, counts.reserved_left) == (3, 0, 0)
    assert service.apply(people[3], "small", form("Late"))[0].status is S.WAITLISTED


def test_no_admission_past_a_lowered_cap(service: ProgramService, make_program: Callable[..., Program],
                                         people: list[Person], admin: Person) -> None:
    make_program(cap=3, pools={"collaborations": 1})
    apps = apply_all(service, people[:3])  # two open seats held, one waiting
    service.set_cap(admin, "small", 2)
    with pytest.raises(InvalidTransitionError, match="cap of 2"):
        service.decide(admin, apps[2].id, "admit")
    assert service.counts("small").held == 2
