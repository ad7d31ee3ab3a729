"""Keep the GitHub team of the roster in step with who holds an active seat (``HELPDESK_GITHUB_TEAM``).

Whenever an application becomes active or stops being active (approved, reclaimed, withdrawn, merged into
another person), or a person links a GitHub account, a ``team_sync`` outbox item is queued in the same
flush, so it commits (or rolls back) with the change. It names only the person: the worker reads what is
true *when it delivers* (an active seat in any programme: a member; none: not a member) and makes the
team say so through :class:`~helpdesk.channels.github_team.GitHubTeam`. Delivering an item twice, or
two items out of order, therefore ends in the same state.

The hook is a ``before_flush`` listener, so every path that changes a seat queues the sync without each
having to remember it; it does nothing unless the session was made by a
:class:`~helpdesk.factory.Factory` whose settings name a team (``session.info["github_team"]``).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from helpdesk.accounts.models import Identity, Person, Provider
from helpdesk.db import utcnow
from helpdesk.programs.models import Application, ApplicationStatus
from helpdesk.tickets.models import OutboxItem, OutboxKind, OutboxStatus

#: The session flag the factory sets when team sync is configured.
INFO_KEY = "github_team"


def enable(session: Session, team: str | None) -> None:
    """Turn team sync on (or off) for ``session``."""
    if team:
        session.info[INFO_KEY] = team
    else:
        session.info.pop(INFO_KEY, None)


@event.listens_for(Session, "before_flush")
def _queue_changes(session: Session, _context: Any, _instances: Any) -> None:
    if not session.info.get(INFO_KEY):
        return
    people: set[int] = set()
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Application):
            state = inspect(obj)
            status, owner = state.attrs.status.history, state.attrs.person_id.history
            before = status.deleted[0] if status.deleted else (None if obj in session.new else obj.status)
            if (before is ApplicationStatus.ACTIVE) != (obj.status is ApplicationStatus.ACTIVE):
                people.add(obj.person_id)
            if owner.has_changes() and ApplicationStatus.ACTIVE in (obj.status, before):
                people.update(p for p in (*owner.deleted, obj.person_id) if p)
        elif isinstance(obj, Identity) and obj in session.new and obj.provider is Provider.GITHUB \
                and obj.external_id.isdigit() and obj.person_id:
            people.add(obj.person_id)
    now = utcnow()
    for person_id in sorted(p for p in people if p):
        session.add(OutboxItem(
            dedupe_key=f"team-sync:{person_id}:{uuid.uuid4().hex}", channel="github", kind=OutboxKind.TEAM_SYNC.value,
            payload={"person_id": person_id}, status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now,
            created_at=now,
        ))


def github_logins(session: Session, person_id: int) -> list[str]:
    """The GitHub logins of a person's claimed GitHub accounts (keyed by GitHub's numeric id)."""
    return [login for external_id, login in session.execute(
        select(Identity.external_id, Identity.username)
        .where(Identity.person_id == person_id, Identity.provider == Provider.GITHUB).order_by(Identity.id))
        if external_id.isdigit() and login]


def holds_active_seat(session: Session, person_id: int) -> bool:
    return session.scalar(select(Application.id).where(
        Application.person_id == person_id, Application.status == ApplicationStatus.ACTIVE).limit(1)) is not None


def deliver(session: Session, team: Any, person_id: int) -> str:
    """Make the team agree with the person's seats now; what was done, for the outbox's remote id.

    ``team`` is a :class:`~helpdesk.channels.github_team.GitHubTeam`. A merged person's survivor is synced
    (their identities moved there); someone with no GitHub account has nothing to sync.
    """
    person = session.get(Person, person_id)
    seen = set()
    while person is not None and person.merged_into_id is not None and person.id not in seen:
        seen.add(person.id)
        person = session.get(Person, person.merged_into_id)
    if person is None:
        return "skipped: no such person"
    logins = github_logins(session, person.id)
    if not logins:
        return "skipped: no GitHub account"
    member = holds_active_seat(session, person.id)
    session.rollback()  # no transaction stays open across the network calls
    results = [f"{login}:{team.add(login) if member else team.remove(login)}" for login in logins]
    return " ".join(results)[:255]
