"""The weighted lottery: entries wait for the draw, the draw is run once with a recorded seed, and anyone can
replay it from the audit trail; heavier groups come first more often."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Person
from helpdesk.audit import AuditEvent
from helpdesk.exceptions import InvalidInputError, InvalidTransitionError, PermissionDeniedError
from helpdesk.programs.models import ApplicationStatus, Program, SelectionMode
from helpdesk.programs.services import DRAW_ALGORITHM, ProgramService, replay_draw, weighted_order
from tests.programs.conftest import apply_all, form

S = ApplicationStatus


@pytest.fixture
def lottery(make_program: Callable[..., Program]) -> Program:
    return make_program("draw", cap=4, pools={"collaborations": 1}, selection=SelectionMode.LOTTERY,
                        groups={"general": 1, "early-career": 3})


def test_the_same_inputs_give_the_same_order() -> None:
    entries = [(i, 1.0 + (i % 3)) for i in range(1, 40)]
    assert weighted_order(entries, 7) == weighted_order(list(entries), 7)
    assert weighted_order(entries, 7) != weighted_order(entries, 8)
    assert sorted(weighted_order(entries, 7)) == [i for i, _ in entries]


def test_heavier_groups_come_first_more_often() -> None:
    # One entry of weight 3 against three of weight 1: drawn first about half of the time (3 / 6).
    firsts = [weighted_order([(1, 1.0), (2, 1.0), (3, 1.0), (4, 3.0)], seed)[0] for seed in range(2000)]
    assert 0.45 < firsts.count(4) / len(firsts) < 0.55


def test_entries_wait_then_the_draw_fills_open_seats_and_orders_the_waitlist(
    service: ProgramService, lottery: Program, people: list[Person], admin: Person, db_session: Session,
) -> None:
    apps = apply_all(service, people[:4], "draw") + apply_all(service, people[4:7], "draw", group="early-career")
    assert {a.status for a in apps} == {S.ENTERED}
    assert service.counts("draw").entered == 7 and service.counts("draw").held == 0
    result = service.draw(admin, "draw", seed=20210430)
    assert result.seed == 20210430 and len(result.selected) == 3  # cap 4, one seat reserved
    for app in apps:
        db_session.refresh(app)
    by_id = {a.id: a for a in apps}
    assert [by_id[i].status for i in result.order] == [S.PENDING] * 3 + [S.WAITLISTED] * 4
    assert [service.waitlist_position(by_id[i]) for i in result.order[3:]] == [1, 2, 3, 4]
    with pytest.raises(InvalidTransitionError, match="run once"):
        service.draw(admin, "draw", seed=1)
    # After the draw a late applicant (the window is open) joins the back of the waitlist.
    late = service.apply(people[7], "draw", form("Late"))[0]
    assert late.status is S.WAITLISTED and service.waitlist_position(late) == 5


def test_the_draw_is_replayed_from_its_audit_event(
    service: ProgramService, lottery: Program, people: list[Person], admin: Person, db_session: Session,
) -> None:
    apply_all(service, people[:3], "draw")
    apply_all(service, people[3:6], "draw", group="early-career")
    result = service.draw(admin, "draw")  # a random seed, recorded
    db_session.expire_all()
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "signup.draw"))
    data = event.data
    assert data["algorithm"] == DRAW_ALGORITHM and data["seed"] == result.seed
    assert data["order"] == result.order and data["selected"] == result.order[:3]
    weights = dict(data["entries"])
    assert sorted(weights.values()) == [1.0, 1.0, 1.0, 3.0, 3.0, 3.0]
    assert replay_draw(data) == data["order"]
    assert str(result.seed) == db_session.get(Program, lottery.id).draw_seed
    tampered = {**data, "entries": [[app_id, 1.0] for app_id, _ in data["entries"]]}
    assert any(replay_draw({**tampered, "seed": s}) != replay_draw({**data, "seed": s}) for s in range(5))
    with pytest.raises(InvalidInputError, match="replays"):
        replay_draw({**data, "algorithm": "something-else"})
    with pytest.raises(InvalidInputError, match="not readable"):
        replay_draw({**data, "entries": [["x", "y"]]})


def test_only_admins_draw_and_only_lotteries(service: ProgramService, lottery: Program,
                                             make_program: Callable[..., Program], people: list[Person],
                                             make_person: Callable[..., Person], admin: Person) -> None:
    make_program("fcfs")
    with pytest.raises(PermissionDeniedError):
        service.draw(make_person("helper", "staff"), "draw")
    with pytest.raises(InvalidTransitionError, match="first come"):
        service.draw(admin, "fcfs")
    with pytest.raises(InvalidInputError, match="seed"):
        service.draw(admin, "draw", seed=-1)


def test_an_unknown_group_is_refused(service: ProgramService, lottery: Program, people: list[Person]) -> None:
    with pytest.raises(InvalidInputError, match="general, early-career"):
        service.apply(people[0], "draw", form(group="vip"))
    assert service.apply(people[0], "draw", form())[0].group == "general"  # the first group is the default
