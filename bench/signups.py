"""Sign-ups per second under contention, on SQLite and on PostgreSQL, with the cap checked exact.

``APPLICANTS`` people apply from ``THREADS`` threads at once (each thread its own connection) for ``SEATS``
seats, through ProgramService.apply: the programme row is locked, the seats counted, the application, its
audit event and its waitlist position written, in one transaction. Two figures in the same run give the
scale: the same applications made one at a time from one thread (no contention), and a baseline of the
same threads inserting bare application rows with no cap, no lock and no audit (what the rules cost).
After each contended run the seats held must be exactly ``SEATS`` and the waitlist one unbroken order.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from sqlalchemy import func, insert, select

from bench.harness import DatabaseUnavailableError, bench_database

APPLICANTS = int(os.environ.get("BENCH_SIGNUP_APPLICANTS", "400"))
SEATS = int(os.environ.get("BENCH_SIGNUP_SEATS", "100"))
THREADS = int(os.environ.get("BENCH_SIGNUP_THREADS", "16"))


def _prepare(url: str, slug: str) -> tuple[object, list[int]]:
    import helpdesk.models  # noqa: F401 - every table on the metadata
    from helpdesk.accounts.models import Person
    from helpdesk.db import Base, make_engine, make_session_factory
    from helpdesk.programs.models import Program

    engine = make_engine(url)
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        session.add(Program(slug=slug, name=slug, cap=SEATS, reserved=0))
        people = [Person(display_name=f"{slug}-{i}") for i in range(APPLICANTS)]
        session.add_all(people)
        session.commit()
        ids = [p.id for p in people]
    return factory, ids


def _run(calls: list[Callable[[], None]], threads: int) -> float:
    """Run ``calls`` from ``threads`` threads pulling from one queue; returns the seconds it took."""
    lock, index, errors = threading.Lock(), [0], []

    def work() -> None:
        while True:
            with lock:
                if index[0] >= len(calls):
                    return
                call = calls[index[0]]
                index[0] += 1
            try:
                call()
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} sign-ups failed, first: {errors[0]!r}")
    return elapsed


def _signups(factory: object, slug: str, ids: list[int]) -> list[Callable[[], None]]:
    from helpdesk.accounts.models import Person
    from helpdesk.programs.services import ApplicationForm, ProgramService

    def one(person_id: int) -> Callable[[], None]:
        def call() -> None:
            with factory() as session:  # type: ignore[operator]
                person = session.get(Person, person_id)
                ProgramService(session).apply(person, slug, ApplicationForm(
                    name=f"P {person_id}", email=f"p{person_id}@example.edu", institution="U", data_rights=True))
        return call

    return [one(i) for i in ids]


def _bare_inserts(factory: object, slug: str, ids: list[int]) -> list[Callable[[], None]]:
    from helpdesk.db import utcnow
    from helpdesk.programs.models import Application, Program

    with factory() as session:  # type: ignore[operator]
        program_id = session.scalar(select(Program.id).where(Program.slug == slug))

    def one(person_id: int) -> Callable[[], None]:
        def call() -> None:
            with factory() as session:  # type: ignore[operator]
                session.execute(insert(Application).values(
                    program_id=program_id, person_id=person_id, name="P", email="p@example.edu", institution="U",
                    data_rights_statement=True, status="pending", pool="open", created_at=utcnow(), position=0,
                    checks={}, history=[]))
                session.commit()
        return call

    return [one(i) for i in ids]


def _check_exact(factory: object, slug: str) -> str:
    from helpdesk.programs.models import Application, ApplicationStatus, Program

    with factory() as session:  # type: ignore[operator]
        program_id = session.scalar(select(Program.id).where(Program.slug == slug))
        held = session.scalar(select(func.count()).select_from(Application).where(
            Application.program_id == program_id, Application.status.in_(
                [ApplicationStatus.PENDING, ApplicationStatus.ACTIVE])))
        positions = list(session.scalars(select(Application.position).where(Application.program_id == program_id)
                                         .order_by(Application.position)))
    if held != SEATS or positions != list(range(1, APPLICANTS + 1)):
        raise AssertionError(f"{slug}: {held} seats held of {SEATS}, or the waitlist order is broken")
    return f"cap exact: {held} of {SEATS} held, {APPLICANTS - held} waiting in one order"


def measure(kind: str) -> None:
    with bench_database(f"helpdesk_bench_signups_{kind}", kind) as url:
        factory, contended_ids = _prepare(url, "contended")
        _, serial_ids = _prepare_more(factory, "serial")
        _, bare_ids = _prepare_more(factory, "bare")
        serial = _run(_signups(factory, "serial", serial_ids), 1)
        contended = _run(_signups(factory, "contended", contended_ids), THREADS)
        exact = _check_exact(factory, "contended")
        bare = _run(_bare_inserts(factory, "bare", bare_ids), THREADS)
        factory.kw["bind"].dispose()  # type: ignore[attr-defined]
    print(f"  {kind:10} {APPLICANTS / contended:8.0f} sign-ups/s with {THREADS} threads for {SEATS} seats "
          f"({exact})")
    print(f"  {'':10} {APPLICANTS / serial:8.0f} sign-ups/s one at a time (no contention)")
    print(f"  {'':10} {APPLICANTS / bare:8.0f} bare application inserts/s with {THREADS} threads "
          "(baseline: no cap, lock or audit)")


def _prepare_more(factory: object, slug: str) -> tuple[object, list[int]]:
    from helpdesk.accounts.models import Person
    from helpdesk.programs.models import Program

    with factory() as session:  # type: ignore[operator]
        session.add(Program(slug=slug, name=slug, cap=SEATS, reserved=0))
        people = [Person(display_name=f"{slug}-{i}") for i in range(APPLICANTS)]
        session.add_all(people)
        session.commit()
        return factory, [p.id for p in people]


def main() -> None:
    print(f"Sign-ups: {APPLICANTS} applicants for {SEATS} seats")
    for kind in ("sqlite", "postgresql"):
        try:
            measure(kind)
        except DatabaseUnavailableError as exc:
            print(f"  {kind:10} skipped: {exc}")


if __name__ == "__main__":
    main()
