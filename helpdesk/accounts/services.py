"""Finding and creating people, their identities, staff roles and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, joinedload, lazyload

from helpdesk import audit
from helpdesk.accounts.models import ApiToken, Identity, Person, Provider, Role
from helpdesk.db import utcnow
from helpdesk.exceptions import InvalidInputError, NotFoundError

#: GitHub's own rule for logins: alphanumerics and single hyphens, at most 39 characters.
GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
TOKEN_PREFIX = "hd_"  # noqa: S105 - a label, not a secret
#: Recording every use of a token would turn each API read into a write; once a minute is enough.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: str
    record: ApiToken


class AccountService:
    """People and credentials. Each public method ends its use case with one commit."""

    def __init__(self, session: Session, clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.clock = clock

    # -- lookups ---------------------------------------------------------------------------------

    def get(self, person_id: int) -> Person | None:
        return self.session.get(Person, person_id)

    def find_by_identity(self, provider: Provider, external_id: str) -> Person | None:
        identity = self.session.scalar(
            select(Identity).where(Identity.provider == provider, Identity.external_id == external_id)
        )
        return identity.person if identity else None

    def find_by_login(self, login: str) -> Person | None:
        return self.find_by_identity(Provider.GITHUB, normalise_login(login))

    # -- sign-in ---------------------------------------------------------------------------------

    def sign_in_github(self, login: str, *, display_name: str | None = None, email: str | None = None) -> Person:
        """The person behind a GitHub login, created on first sign-in.

        The dev sign-in form calls this too, so a development login behaves like a GitHub one.
        """
        key = normalise_login(login)
        person = self.find_by_login(key)
        if person is None:
            person = self._create_with_identity(
                Provider.GITHUB, key, username=login.strip(), display_name=display_name or login.strip(),
                email=email,
            )
            audit.record(self.session, "person.created", actor_id=None, person_id=person.id, provider="github")
        elif email and not person.email:
            person.email = email
        self.session.commit()
        return person

    def _create_with_identity(
        self, provider: Provider, external_id: str, *, username: str | None, display_name: str,
        email: str | None = None, role: Role = Role.USER,
    ) -> Person:
        person = Person(display_name=display_name[:200], email=email, role=role)
        person.identities.append(Identity(provider=provider, external_id=external_id, username=username))
        return self._insert_identity(person, provider, external_id) or person

    def _insert_identity(self, new: Person | Identity, provider: Provider, external_id: str) -> Person | None:
        """Insert a new person (with its identity) or a new identity, unless someone was quicker.

        Returns None when the rows went in, or the person who got this identity first when two
        deliveries raced (the loser waited for the winner's commit, then hit the unique key).
        """
        try:
            # Added inside the savepoint, so that a lost race takes the new rows out of the session too.
            with self.session.begin_nested():
                self.session.add(new)
                self.session.flush()
        except IntegrityError:
            existing = self.find_by_identity(provider, external_id)
            if existing is None:  # pragma: no cover - the constraint that fired guarantees a row
                raise
            return existing
        return None

    # -- channel identities ----------------------------------------------------------------------

    def resolve_identity(
        self, provider: Provider, external_id: str, *, username: str | None = None,
        display_name: str | None = None, email: str | None = None, email_verified: bool = False,
    ) -> Person:
        """The person behind a Slack or forum account, created on first sight; does not commit.

        An identity whose verified email matches a person's verified email joins that person, so
        someone who signed in with GitHub and asks in Slack is one person with two identities.
        Called inside the intake's transaction, which commits.
        """
        return self.identify(provider, external_id, username=username, display_name=display_name, email=email,
                             email_verified=email_verified)[0]

    def identify(
        self, provider: Provider, external_id: str, *, username: str | None = None,
        display_name: str | None = None, email: str | None = None, email_verified: bool = False,
    ) -> tuple[Person, bool]:
        """Like :meth:`resolve_identity`, and whether a new person was created for the identity."""
        # One query on the hot path (every Slack message): the person through the identity, identities
        # not loaded unless asked for.
        person = self.session.scalar(
            select(Person).join(Identity, Identity.person_id == Person.id)
            .where(Identity.provider == provider, Identity.external_id == external_id)
            .options(lazyload(Person.identities))
        )
        if person is not None:
            return self._survivor(person), False
        email = email.strip().lower() if email else None
        if email and email_verified and (match := self._verified_email_owner(email)) is not None:
            identity = Identity(person_id=match.id, provider=provider, external_id=external_id, username=username)
            if (existing := self._insert_identity(identity, provider, external_id)) is not None:
                return self._survivor(existing), False
            self.session.expire(match, ["identities"])
            audit.record(self.session, "identity.joined", actor_id=None, person_id=match.id,
                         provider=provider.value, reason="verified email")
            return match, False
        person = Person(display_name=(display_name or username or external_id)[:200], email=email,
                        email_verified=bool(email and email_verified), role=Role.USER)
        person.identities.append(Identity(provider=provider, external_id=external_id, username=username))
        if (existing := self._insert_identity(person, provider, external_id)) is not None:
            return self._survivor(existing), False
        audit.record(self.session, "person.created", actor_id=None, person_id=person.id, provider=provider.value)
        return person, True

    def apply_profile(
        self, provider: Provider, external_id: str, *, display_name: str | None = None,
        email: str | None = None, email_verified: bool = False,
    ) -> Person:
        """Fill in a channel identity's name and email (looked up later by the worker), then commit.

        When the email is verified and another person already owns it verified, this person is merged
        into that one (audited as a merge by the system), so the two identities become one person.

        Raises
        ------
        NotFoundError
            No person has this identity.
        """
        person = self.find_by_identity(provider, external_id)
        if person is None:
            raise NotFoundError(f"No person with the {provider.value} identity {external_id}.")
        person = self._survivor(person)
        if display_name and person.display_name in (external_id, *(i.username for i in person.identities)):
            person.display_name = display_name[:200]
        email = email.strip().lower() if email else None
        if email:
            owner = self._verified_email_owner(email) if email_verified else None
            if owner is not None and owner.id != person.id:
                self.session.commit()
                return self.merge(None, person.id, owner.id)
            if not person.email:
                person.email, person.email_verified = email, email_verified
        self.session.commit()
        return person

    def _verified_email_owner(self, email: str) -> Person | None:
        return self.session.scalars(
            select(Person).where(Person.email == email, Person.email_verified.is_(True),
                                 Person.merged_into_id.is_(None)).order_by(Person.id).limit(1)
        ).first()

    def _survivor(self, person: Person) -> Person:
        seen = {person.id}
        while person.merged_into_id is not None:
            survivor = self.session.get(Person, person.merged_into_id)
            if survivor is None or survivor.id in seen:  # pragma: no cover - defensive against cycles
                break
            seen.add(survivor.id)
            person = survivor
        return person

    def merge(self, actor: Person | None, source_id: int, target_id: int) -> Person:
        """Merge person ``source_id`` into ``target_id``: identities, tickets, messages and tokens move over.

        The merged person stays, marked ``merged_into``, so the audit trail keeps pointing at a row.

        Raises
        ------
        PermissionDeniedError
            The actor is not staff.
        InvalidInputError
            The same person twice, or one already merged.
        NotFoundError
            Either person does not exist.
        """
        from helpdesk.exceptions import PermissionDeniedError
        from helpdesk.tickets.models import Message, Ticket

        if actor is not None and not actor.is_staff:
            raise PermissionDeniedError("Only staff can merge people.")
        if source_id == target_id:
            raise InvalidInputError("Choose two different people to merge.")
        source, target = self.get(source_id), self.get(target_id)
        if source is None or target is None:
            raise NotFoundError(f"No person with id {source_id if source is None else target_id}.")
        if source.merged_into_id is not None or target.merged_into_id is not None:
            raise InvalidInputError("One of them was already merged into someone else; merge into the survivor.")
        moved = {"identities": [f"{i.provider.value}:{i.external_id}" for i in source.identities]}
        for identity in list(source.identities):
            identity.person = target
        counts = {}
        for column, model in ((Ticket.requester_id, Ticket), (Ticket.assignee_id, Ticket),
                              (Message.author_id, Message), (ApiToken.person_id, ApiToken)):
            result = self.session.execute(
                update(model).where(column == source.id).values({column.key: target.id})
                .execution_options(synchronize_session=False)
            )
            counts[f"{model.__tablename__}.{column.key}"] = result.rowcount
        if source.role.is_staff and not target.role.is_staff:
            target.role = source.role
        if source.email and not target.email:
            target.email, target.email_verified = source.email, source.email_verified
        source.merged_into_id = target.id
        audit.record(self.session, "person.merged", actor_id=actor.id if actor else None, person_id=target.id,
                     merged_id=source.id, merged_name=source.display_name, moved=moved, counts=counts)
        self.session.commit()
        self.session.expire_all()
        return target

    # -- staff -----------------------------------------------------------------------------------

    def create_staff(self, login: str, role: Role, *, with_token: bool = False) -> tuple[Person, str | None]:
        """Create or update a staff member; optionally issue a new API token (returned once)."""
        if role is Role.USER:
            raise InvalidInputError("Staff accounts take the role staff or admin.")
        key = normalise_login(login)
        person = self.find_by_login(key)
        if person is None:
            person = self._create_with_identity(
                Provider.GITHUB, key, username=login.strip(), display_name=login.strip(), role=role
            )
        previous = person.role
        person.role = role
        audit.record(
            self.session, "person.role_changed", actor_id=None, person_id=person.id,
            previous=previous.value if previous else None, role=role.value,
        )
        token = self._issue_token(person) if with_token else None
        self.session.commit()
        return person, token

    # -- tokens ----------------------------------------------------------------------------------

    def _issue_token(self, person: Person) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.session.add(ApiToken(person_id=person.id, token_hash=hash_token(token), prefix=token[:10]))
        audit.record(self.session, "token.issued", actor_id=None, person_id=person.id, prefix=token[:10])
        return token

    def authenticate_token(self, token: str) -> Person | None:
        """The person a bearer token belongs to, or None for an unknown or revoked token."""
        # One statement for the person, their identities and the token: this runs on every API call.
        row = self.session.execute(
            select(Person, ApiToken.id, ApiToken.last_used_at)
            .join(ApiToken, ApiToken.person_id == Person.id)
            .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
            .options(joinedload(Person.identities))
        ).unique().first()
        if row is None:
            return None
        person, token_id, last_used_at = row
        now = self.clock()
        if last_used_at is None or now - last_used_at > TOKEN_TOUCH_INTERVAL:
            try:
                self.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
                self.session.commit()
            except OperationalError:
                # Best effort: a busy database must not refuse a valid token.
                self.session.rollback()
        return person


def normalise_login(login: str) -> str:
    """GitHub logins are case-insensitive; store them lower-cased. Raises on an impossible login."""
    login = login.strip()
    if not GITHUB_LOGIN.match(login):
        raise InvalidInputError(
            "A login is 1 to 39 letters, digits or single hyphens, not starting or ending with a hyphen."
        )
    return login.lower()
