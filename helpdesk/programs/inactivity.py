"""Idle delegates: reminders, then an administrator may reclaim the seat for the waitlist.

A person's ``last_active_at`` moves at every sign-in and, at most once an hour, on signed-in requests
(:meth:`helpdesk.accounts.services.AccountService.authenticate_session`). The worker's sweep
(:func:`sweep`) looks at every active seat whose holder has been idle for ``HELPDESK_IDLE_DAYS`` and sends
a reminder through the outbox (a programme notice: by email, and by Slack when they linked it), then another
every ``HELPDESK_IDLE_REMINDER_DAYS`` while they stay idle. Any activity after a reminder answers it: the
count starts again. Once ``HELPDESK_IDLE_REMINDERS_BEFORE_RECLAIM`` reminders went unanswered, an
administrator may reclaim the seat (:func:`reclaim_seat`), which the programme service records, audits
and fills from the head of the waitlist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from helpdesk import audit
from helpdesk.accounts.models import Identity, Person, Provider
from helpdesk.db import Base, utcnow
from helpdesk.exceptions import InvalidTransitionError, NotFoundError, PermissionDeniedError
from helpdesk.programs.models import Application, ApplicationStatus
from helpdesk.tickets.models import OutboxKind
from helpdesk.tickets.outbox import outbox_insert


class IdleReminder(Base):
    """The reminders sent to the holder of one active seat since they were last active."""

    __tablename__ = "idle_reminder"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id", ondelete="CASCADE"), unique=True)
    #: Reminders sent and not answered by any activity since.
    unanswered: Mapped[int] = mapped_column(default=0)
    last_reminded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class IdlePolicy:
    idle_days: int
    every_days: int
    before_reclaim: int

    @property
    def enabled(self) -> bool:
        return self.idle_days > 0

    @classmethod
    def from_settings(cls, settings: object) -> IdlePolicy:
        return cls(settings.idle_days, settings.idle_reminder_days,  # type: ignore[attr-defined]
                   settings.idle_reminders_before_reclaim)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class IdleSeat:
    """One active seat whose holder is idle, for the staff list."""

    application: Application
    last_active_at: datetime | None
    unanswered: int
    last_reminded_at: datetime | None
    reclaimable: bool


def _last_active(application: Application, person_last_active: datetime | None) -> datetime:
    """When the holder was last seen: their last activity, else when the seat was given (or applied for)."""
    candidates = [t for t in (person_last_active, application.decided_at, application.created_at) if t is not None]
    return max(candidates)


def sweep(session: Session, policy: IdlePolicy, clock: Callable[[], datetime] = utcnow) -> list[int]:
    """Queue the reminders that are due; commits. Returns the applications reminded.

    Idempotent per reminder: each one's outbox key names the application and its number, so two workers
    sweeping at once queue it once (the second insert hits the unique key and that sweep rolls back).
    """
    if not policy.enabled:
        return []
    now = clock()
    idle_since = now - timedelta(days=policy.idle_days)
    rows = session.execute(
        select(Application, Person.last_active_at, IdleReminder)
        .join(Person, Person.id == Application.person_id)
        .outerjoin(IdleReminder, IdleReminder.application_id == Application.id)
        .where(Application.status == ApplicationStatus.ACTIVE,
               func.coalesce(Person.last_active_at, Application.decided_at, Application.created_at) < idle_since)
        .order_by(Application.id)
    ).unique().all()
    reminded = []
    for application, last_active, reminder in rows:
        seen = _last_active(application, last_active)
        if seen >= idle_since:
            continue
        if reminder is None:
            reminder = IdleReminder(application_id=application.id, unanswered=0, created_at=now)
            session.add(reminder)
        elif reminder.last_reminded_at is not None and seen > reminder.last_reminded_at:
            reminder.unanswered = 0  # active again after the last reminder, and idle again since
        if reminder.last_reminded_at is not None and reminder.unanswered > 0 \
                and now - reminder.last_reminded_at < timedelta(days=policy.every_days):
            continue
        reminder.unanswered += 1
        reminder.last_reminded_at = now
        _queue_reminder(session, application, reminder.unanswered, policy, seen, now)
        audit.record(session, "signup.idle_reminded", actor_id=None, program=application.program.slug,
                     application_id=application.id, reminder=reminder.unanswered)
        reminded.append(application.id)
    session.commit()
    return reminded


def _queue_reminder(session: Session, application: Application, number: int, policy: IdlePolicy,
                    seen: datetime, now: datetime) -> None:
    days = (now - seen).days
    left = policy.before_reclaim - number
    subject = f"Are you still using your {application.program.name} seat?"
    text = (f"Hello {application.name},\n\nWe have not seen you on the DP0 Support Desk for {days} days. Seats in "
            f"{application.program.name} are limited and others are waiting for one. If you still use yours, "
            "simply sign in to the desk and nothing more is needed. ")
    text += (f"If we hear nothing after {left} more reminder{'s' if left != 1 else ''}, your seat may be "
             "given to the next person on the waitlist." if left > 0 else
             "If we hear nothing, your seat may now be given to the next person on the waitlist; you can "
             "apply again at any time.")
    targets = [("email", application.email)]
    slack = session.scalar(select(Identity.external_id).where(
        Identity.person_id == application.person_id, Identity.provider == Provider.SLACK))
    if slack:
        targets.append(("slack", slack))
    for channel, to in targets:
        session.execute(outbox_insert(
            OutboxKind.PROGRAMME_NOTICE, channel,
            f"idle-reminder:{application.id}:{application.decided_at.isoformat() if application.decided_at else ''}"
            f":{number}:{channel}", now,
            payload={"application_id": application.id, "to": to, "subject": subject, "text": text},
        ))


def idle_seats(session: Session, policy: IdlePolicy) -> list[IdleSeat]:
    """Active seats with reminders outstanding, most reminded first: what an administrator may reclaim."""
    rows = session.execute(
        select(Application, Person.last_active_at, IdleReminder)
        .join(Person, Person.id == Application.person_id)
        .join(IdleReminder, IdleReminder.application_id == Application.id)
        .where(Application.status == ApplicationStatus.ACTIVE, IdleReminder.unanswered > 0)
        .order_by(IdleReminder.unanswered.desc(), Application.id)
    ).unique().all()
    return [IdleSeat(application, last_active, reminder.unanswered, reminder.last_reminded_at,
                     _reclaimable(application, last_active, reminder, policy))
            for application, last_active, reminder in rows]


def _reclaimable(application: Application, last_active: datetime | None, reminder: IdleReminder | None,
                 policy: IdlePolicy) -> bool:
    if reminder is None or reminder.last_reminded_at is None or reminder.unanswered < policy.before_reclaim:
        return False
    return _last_active(application, last_active) <= reminder.last_reminded_at


def reclaim_seat(session: Session, actor: Person, application_id: int, policy: IdlePolicy,
                 clock: Callable[[], datetime] = utcnow) -> Application:
    """An administrator reclaims an idle delegate's seat; commits.

    Allowed only once the configured number of reminders went unanswered (any activity since answers them).
    The programme service records the reclaim with its reason (shown to the delegate), audits it, tells the
    delegate and promotes the head of the waitlist onto the freed seat.

    Raises
    ------
    PermissionDeniedError
        The actor is not an administrator.
    NotFoundError
        No such application.
    InvalidTransitionError
        The seat is not active, or not enough reminders went unanswered.
    """
    from helpdesk.programs.services import ProgramService

    if not actor.is_admin:
        raise PermissionDeniedError("Only an administrator reclaims a seat.")
    application = session.get(Application, application_id)
    if application is None:
        raise NotFoundError(f"No application {application_id}.")
    if application.status is not ApplicationStatus.ACTIVE:
        raise InvalidTransitionError(f"Only an active seat can be reclaimed; this one is {application.status.value}.")
    last_active = session.scalar(select(Person.last_active_at).where(Person.id == application.person_id))
    reminder = session.scalar(select(IdleReminder).where(IdleReminder.application_id == application.id))
    if not _reclaimable(application, last_active, reminder, policy):
        sent = reminder.unanswered if reminder else 0
        raise InvalidTransitionError(
            f"This delegate has {sent} unanswered reminder{'s' if sent != 1 else ''}; a seat is reclaimed only "
            f"after {policy.before_reclaim} (HELPDESK_IDLE_REMINDERS_BEFORE_RECLAIM) with no activity since.")
    assert reminder is not None and reminder.last_reminded_at is not None
    audit.record(session, "signup.idle_reclaimed", actor_id=actor.id, program=application.program.slug,
                 application_id=application.id, unanswered=reminder.unanswered,
                 last_active_at=_last_active(application, last_active).isoformat())
    days = (clock() - _last_active(application, last_active)).days
    reason = (f"no activity for {days} days and no answer to {reminder.unanswered} reminders; the seat went to "
              "the next person on the waitlist")
    session.delete(reminder)
    try:
        return ProgramService(session, clock).decide(actor, application.id, "reclaim", note=reason)
    except Exception:
        session.rollback()  # neither the audit event nor the reminders' removal stays without the reclaim
        raise
