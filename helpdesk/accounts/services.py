"""Finding and creating people, their identities, staff roles and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, joinedload, lazyload

from helpdesk import audit
from helpdesk.accounts.models import ApiToken, Identity, Person, Provider, Role, WebSession
from helpdesk.db import utcnow
from helpdesk.exceptions import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError

#: GitHub's own rule for logins: alphanumerics and single hyphens, at most 39 characters.
GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
TOKEN_PREFIX = "hd_"  # noqa: S105 - a label, not a secret
#: Recording every use of a token would turn each API read into a write; once a minute is enough.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
#: The same for web sessions: last-seen (for the idle timeout) is exact to a minute.
SESSION_TOUCH_INTERVAL = timedelta(minutes=1)
#: A person's last activity (for idle-seat reminders) is exact to an hour: one write an hour at most.
ACTIVITY_TOUCH_INTERVAL = timedelta(hours=1)

# A GitHub identity's external_id is GitHub's numeric user id, which never changes, whereas a login can be
# renamed and, once freed, registered by someone else. Before the id is known it is one of two forms that no
# number can be mistaken for:
#: ``login:<login>``: made by ``helpdesk staff create LOGIN`` (and by migration 0003 from the old login-keyed
#: identities); the first GitHub sign-in with that login claims it and records its id.
PENDING_PREFIX = "login:"
#: ``dev:<login>``: a person made by the development sign-in form, which has no id; GitHub never claims it.
DEV_PREFIX = "dev:"


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
        """The person whose GitHub identity carries this login (case-insensitive), or None.

        GitHub identities are keyed by GitHub's user id; the login is the username last seen at sign-in (or
        given to ``helpdesk staff create``). A GitHub sign-in takes its login off any other claimed identity,
        since GitHub gives a login to one account at a time. Should two identities still carry it, a claimed
        one wins over a pending one, then the newest. An impossible login finds nobody.
        """
        login = login.strip()
        if not GITHUB_LOGIN.match(login):
            return None
        identity = self.session.scalars(
            select(Identity)
            .where(Identity.provider == Provider.GITHUB, func.lower(Identity.username) == login.lower())
            .order_by(Identity.external_id.startswith(PENDING_PREFIX), Identity.id.desc())
            .limit(1)
        ).first()
        return self._survivor(identity.person) if identity else None

    def _github_identity(self, external_id: str) -> Identity | None:
        return self.session.scalar(
            select(Identity).where(Identity.provider == Provider.GITHUB, Identity.external_id == external_id)
        )

    # -- sign-in ---------------------------------------------------------------------------------

    def sign_in_github(
        self, login: str, *, github_id: int | None = None, display_name: str | None = None,
        email: str | None = None,
    ) -> Person:
        """The person behind a GitHub account, found by GitHub's numeric user id; commits.

        A known id signs in its person and records the login it now has (renames are harmless). An unknown
        id claims the pending identity of its login (made by ``helpdesk staff create``) if there is one;
        otherwise it joins the plain user who owns the same verified email, or becomes a new plain user.
        Nothing here ever raises a role: a verified email owned by staff joins nobody (an administrator
        can merge the two), and a login re-registered by someone else meets the old identity's different id.

        Parameters
        ----------
        login
            The login GitHub reports now.
        github_id
            GitHub's user id. ``None`` is the development sign-in form, which has no id: see :meth:`sign_in_dev`.
        display_name, email
            GitHub's name, and its verified primary email (stored lower-cased and verified).

        Raises
        ------
        InvalidInputError
            An impossible login or id.
        """
        if github_id is None:
            return self.sign_in_dev(login, email=email)
        key = normalise_login(login)
        login = login.strip()
        if isinstance(github_id, bool) or not isinstance(github_id, int) or github_id <= 0:
            raise InvalidInputError("A GitHub user id is a positive whole number.")
        external_id = str(github_id)
        email = email.strip().lower() if email else None
        identity = self._github_identity(external_id) or self._claim_pending(key, external_id, login)
        if identity is not None:
            person = self._survivor(identity.person)
            if identity.username != login:
                identity.username = login
            if display_name and person.display_name.lower() == key:  # still the login staff create gave it
                person.display_name = display_name[:200]
            if email and not person.email:
                person.email, person.email_verified = email, True
            elif email and person.email == email and not person.email_verified:
                person.email_verified = True
        else:
            person = self._join_or_create_github(external_id, login, display_name, email)
        # GitHub gives a login to one account at a time: any other claimed identity showing it is out of date.
        self.session.execute(
            update(Identity)
            .where(Identity.provider == Provider.GITHUB, func.lower(Identity.username) == key,
                   Identity.external_id != external_id, ~Identity.external_id.startswith(PENDING_PREFIX))
            .values(username=None)
            .execution_options(synchronize_session=False)
        )
        self.session.commit()
        return person

    def _claim_pending(self, key: str, external_id: str, login: str) -> Identity | None:
        """Turn the pending identity of ``key`` into the identity of GitHub user ``external_id``, if there is one."""
        pending = self._github_identity(PENDING_PREFIX + key)
        if pending is None:
            return None
        try:
            with self.session.begin_nested():
                # Conditional, so that of two sign-ins racing for one pending identity exactly one claims it.
                claimed = self.session.execute(
                    update(Identity).where(Identity.id == pending.id, Identity.external_id == PENDING_PREFIX + key)
                    .values(external_id=external_id, username=login)
                    .execution_options(synchronize_session=False)
                ).rowcount
        except IntegrityError:  # the same account signing in twice at once: the other request recorded the id
            return self._github_identity(external_id)
        if not claimed:
            return self._github_identity(external_id)
        self.session.refresh(pending)
        audit.record(self.session, "identity.claimed", actor_id=None, person_id=pending.person_id,
                     provider="github", github_id=external_id, login=login)
        return pending

    def _join_or_create_github(
        self, external_id: str, login: str, display_name: str | None, email: str | None,
    ) -> Person:
        owner = self._verified_email_owner(email) if email else None
        if owner is not None and owner.role is Role.USER:
            identity = Identity(person_id=owner.id, provider=Provider.GITHUB, external_id=external_id, username=login)
            if (existing := self._insert_identity(identity, Provider.GITHUB, external_id)) is not None:
                return self._survivor(existing)
            self.session.expire(owner, ["identities"])
            audit.record(self.session, "identity.joined", actor_id=None, person_id=owner.id, provider="github",
                         reason="verified email")
            return owner
        person = Person(display_name=(display_name or login)[:200], email=email, email_verified=bool(email),
                        role=Role.USER)
        person.identities.append(Identity(provider=Provider.GITHUB, external_id=external_id, username=login))
        if (existing := self._insert_identity(person, Provider.GITHUB, external_id)) is not None:
            return self._survivor(existing)
        audit.record(self.session, "person.created", actor_id=None, person_id=person.id, provider="github")
        if owner is not None:
            self._refuse_join(person, owner)
        return person

    # -- OpenID Connect (CILogon and the like) -----------------------------------------------------

    def sign_in_oidc(
        self, issuer: str, subject: str, *, email: str | None = None, email_verified: bool = False,
        display_name: str | None = None, username: str | None = None,
    ) -> Person:
        """The person behind an OpenID Connect account, keyed by (issuer, subject); commits.

        A known (issuer, sub) signs in its person. An unknown one joins the plain user who owns the same
        email only when the provider says the email is verified (``email_verified`` true in the ID token);
        staff are never joined so (audited as ``identity.join_refused``: an administrator merges them), and
        an unverified email joins nobody. Otherwise a new plain user is made. Nothing here raises a role.

        Raises
        ------
        InvalidInputError
            An empty issuer or subject, or a pair too long to store.
        """
        external_id = oidc_external_id(issuer, subject)
        email = email.strip().lower()[:320] if email else None
        person = self.find_by_identity(Provider.OIDC, external_id)
        if person is not None:
            person = self._survivor(person)
            if email and not person.email:
                person.email, person.email_verified = email, email_verified
        else:
            person = self.identify(Provider.OIDC, external_id, username=(username or None) and username[:200],
                                   display_name=display_name or username or email or "CILogon user",
                                   email=email, email_verified=email_verified)[0]
        self.session.commit()
        return person

    def link_identity(self, person: Person, provider: Provider, external_id: str, *,
                      username: str | None = None) -> Person:
        """Add an account to the signed-in ``person`` (their explicit link action); commits.

        The one way to join a sign-in to an existing person besides the verified-email rule. Linking never
        changes a role, and never takes an account another person already has (that is a merge, which is
        an administrator's decision). Linking an account the person already has changes nothing.

        Raises
        ------
        ConflictError
            The account belongs to another person on the desk.
        """
        owner = self.find_by_identity(provider, external_id)
        if owner is not None:
            if self._survivor(owner).id == person.id:
                self.session.rollback()
                return person
            raise ConflictError(
                "That account is already someone else's on the desk; nothing was linked. If both are yours, ask "
                "an administrator to merge the two records.", code="identity_taken")
        identity = Identity(person_id=person.id, provider=provider, external_id=external_id,
                            username=username[:200] if username else None)
        if (existing := self._insert_identity(identity, provider, external_id)) is not None \
                and existing.id != person.id:
            raise ConflictError("That account was linked to someone else a moment ago; nothing was linked.",
                                code="identity_taken")
        self.session.expire(person, ["identities"])
        audit.record(self.session, "identity.linked", actor_id=person.id, person_id=person.id,
                     provider=provider.value, external_id=external_id)
        self.session.commit()
        return person

    def _refuse_join(self, person: Person, owner: Person) -> None:
        audit.record(self.session, "identity.join_refused", actor_id=None, person_id=person.id, owner_id=owner.id,
                     reason=f"the verified email belongs to a {owner.role.value}; only an administrator merges them")

    def sign_in_dev(self, login: str, *, email: str | None = None) -> Person:
        """The development sign-in form (``HELPDESK_AUTH=dev``): trusts the login typed; commits.

        It finds whoever carries that GitHub login (including a pending staff member), else makes a person
        whose identity is ``dev:<login>``, which no GitHub sign-in ever claims.
        """
        key = normalise_login(login)
        login = login.strip()
        person = self.find_by_login(key)
        if person is None:
            person = self._create_with_identity(
                Provider.GITHUB, DEV_PREFIX + key, username=login, display_name=login, email=email,
            )
            audit.record(self.session, "person.created", actor_id=None, person_id=person.id, provider="dev")
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

        An identity whose verified email matches a plain user's verified email joins that person, so
        someone who signed in with GitHub and asks in Slack is one person with two identities. A staff
        member's email joins nobody (audited as ``identity.join_refused``): that would hand them the role.
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
        owner = self._verified_email_owner(email) if email and email_verified else None
        # Joining a staff member by email would give whoever holds this identity their rights: plain users only.
        if owner is not None and owner.role is Role.USER:
            identity = Identity(person_id=owner.id, provider=provider, external_id=external_id, username=username)
            if (existing := self._insert_identity(identity, provider, external_id)) is not None:
                return self._survivor(existing), False
            self.session.expire(owner, ["identities"])
            audit.record(self.session, "identity.joined", actor_id=None, person_id=owner.id,
                         provider=provider.value, reason="verified email")
            return owner, False
        person = Person(display_name=(display_name or username or external_id)[:200], email=email,
                        email_verified=bool(email and email_verified), role=Role.USER)
        person.identities.append(Identity(provider=provider, external_id=external_id, username=username))
        if (existing := self._insert_identity(person, provider, external_id)) is not None:
            return self._survivor(existing), False
        audit.record(self.session, "person.created", actor_id=None, person_id=person.id, provider=provider.value)
        if owner is not None:
            self._refuse_join(person, owner)
        return person, True

    def apply_profile(
        self, provider: Provider, external_id: str, *, display_name: str | None = None,
        email: str | None = None, email_verified: bool = False,
    ) -> Person:
        """Fill in a channel identity's name and email (looked up later by the worker), then commit.

        When the email is verified and another person already owns it verified, this person is merged
        into that one (audited as a merge by the system), so the two identities become one person. Only
        plain users are merged so: a merge involving staff is an administrator's decision (refused and
        audited as ``person.merge_refused``), since it would hand this identity the staff member's rights.

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
                if owner.role is Role.USER and person.role is Role.USER:
                    self.session.commit()
                    return self.merge(None, person.id, owner.id)
                audit.record(self.session, "person.merge_refused", actor_id=None, person_id=person.id,
                             owner_id=owner.id, reason="staff records are merged by an administrator")
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
        """Merge person ``source_id`` into ``target_id``: identities, tickets, messages and applications move over.

        A merge never raises anyone's role: the target keeps its own, and the merged record drops to a
        plain user. Because the source's identities then act as the target, a merge that involves a staff
        member or an administrator is an administrator's decision, and a staff or admin record is merged
        only into a record of the same role (change the roles first otherwise). The system (``actor`` None:
        the worker's merge by verified email) merges plain users only. The source's API tokens are revoked,
        not moved (whoever held them would otherwise act as the target), and its web sessions end. Where
        both applied to one programme, the application further along is kept and the other deleted (its
        freed seat goes to the head of the waitlist). The merged person stays, marked ``merged_into``, so
        the audit trail keeps pointing at a row.

        Raises
        ------
        PermissionDeniedError
            The actor is not staff, or not an administrator when a staff or admin record is involved.
        InvalidInputError
            The same person twice, one already merged, or a staff or admin record of another role than the target.
        NotFoundError
            Either person does not exist.
        """
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
        if source.role.is_staff or target.role.is_staff:
            if actor is None or not actor.is_admin:
                raise PermissionDeniedError(
                    "Only an administrator can merge the record of a staff member or administrator."
                )
            if source.role.is_staff and source.role is not target.role:
                raise InvalidInputError(
                    f"Person {source.id} is {source.role.value} and person {target.id} is {target.role.value}; "
                    "a merge never changes anyone's role. Give both the same role first "
                    "(helpdesk staff create or helpdesk staff demote), then merge."
                )
        moved = {"identities": [f"{i.provider.value}:{i.external_id}" for i in source.identities]}
        for identity in list(source.identities):
            identity.person = target
        counts = {}
        for column, model in ((Ticket.requester_id, Ticket), (Ticket.assignee_id, Ticket),
                              (Message.author_id, Message)):
            result = self.session.execute(
                update(model).where(column == source.id).values({column.key: target.id})
                .execution_options(synchronize_session=False)
            )
            counts[f"{model.__tablename__}.{column.key}"] = result.rowcount
        applications = self._merge_applications(actor, source, target)
        actor_id = actor.id if actor else None
        revoked = self._revoke_tokens(source.id, actor_id, reason="merged")
        counts["web_session.ended"] = self._end_sessions(source.id, "merged")
        if source.email and not target.email:
            target.email, target.email_verified = source.email, source.email_verified
        source_role = source.role
        source.role = Role.USER
        source.merged_into_id = target.id
        audit.record(self.session, "person.merged", actor_id=actor_id, person_id=target.id,
                     merged_id=source.id, merged_name=source.display_name, merged_role=source_role.value,
                     moved=moved, counts=counts, tokens_revoked=revoked, applications=applications)
        self.session.commit()
        self.session.expire_all()
        return target

    def _merge_applications(self, actor: Person | None, source: Person, target: Person) -> dict[str, list[object]]:
        """Move the source's programme applications to the target; of two for one programme keep the further one."""
        from helpdesk.programs.models import Application, Program
        from helpdesk.programs.services import ProgramService

        theirs = {a.program_id: a for a in self.session.scalars(
            select(Application).where(Application.person_id == source.id))}
        summary: dict[str, list[object]] = {"moved": [], "kept": [], "promoted": []}
        if not theirs:
            return summary
        # Lock the programmes (in id order, so two merges cannot deadlock) before reading who holds which seat.
        programs = list(self.session.scalars(
            select(Program).where(Program.id.in_(theirs)).order_by(Program.id).with_for_update()))
        ours = {a.program_id: a for a in self.session.scalars(
            select(Application).where(Application.person_id == target.id, Application.program_id.in_(theirs)))}
        for program in programs:
            source_app, target_app = theirs[program.id], ours.get(program.id)
            self.session.refresh(source_app)
            if target_app is None:
                source_app.person_id = target.id
                summary["moved"].append(source_app.id)
                continue
            self.session.refresh(target_app)
            keep, drop = sorted((source_app, target_app), key=_application_rank)
            summary["kept"].append({"program": program.slug, "kept": keep.id, "kept_status": keep.status.value,
                                    "dropped": drop.id, "dropped_status": drop.status.value,
                                    "dropped_pool": drop.pool.value})
            freed = drop.status.holds_seat
            self.session.delete(drop)
            self.session.flush()
            if keep is source_app:
                source_app.person_id = target.id
                self.session.flush()
            if freed:
                # The person held two seats; the one given back goes to the waitlist's head, as any freed seat does.
                summary["promoted"].extend(ProgramService(self.session, self.clock)._promote(program, actor))
        self.session.flush()
        return summary

    # -- staff -----------------------------------------------------------------------------------

    def create_staff(self, login: str, role: Role, *, with_token: bool = False) -> tuple[Person, str | None]:
        """Create or update a staff member; optionally issue a new API token (returned once).

        Someone who never signed in gets a pending identity (``login:<login>``) that their first GitHub
        sign-in with that login claims. Lowering admin to staff ends their web sessions.
        """
        if role is Role.USER:
            raise InvalidInputError("Staff accounts take the role staff or admin.")
        key = normalise_login(login)
        person = self.find_by_login(key)
        if person is None:
            person = self._create_with_identity(
                Provider.GITHUB, PENDING_PREFIX + key, username=login.strip(), display_name=login.strip(), role=role
            )
        previous = person.role
        person.role = role
        if previous is Role.ADMIN and role is not Role.ADMIN:
            self._end_sessions(person.id, "demoted")
        audit.record(
            self.session, "person.role_changed", actor_id=None, person_id=person.id,
            previous=previous.value if previous else None, role=role.value,
        )
        token = self._issue_token(person) if with_token else None
        self.session.commit()
        return person, token

    def demote(self, login: str) -> tuple[Person, list[str], int]:
        """Take a staff member's rights away: role back to user, every API token revoked, every web session
        ended, audited; commits. Returns the person, the prefixes of the tokens revoked and the sessions ended.

        Raises
        ------
        InvalidInputError
            An impossible login.
        NotFoundError
            Nobody carries that login.
        """
        person = self._existing_login(login)
        previous = person.role
        person.role = Role.USER
        revoked = self._revoke_tokens(person.id, None, reason="demoted")
        ended = self._end_sessions(person.id, "demoted")
        audit.record(self.session, "person.role_changed", actor_id=None, person_id=person.id,
                     previous=previous.value, role=Role.USER.value, tokens_revoked=revoked, sessions_ended=ended)
        self.session.commit()
        return person, revoked, ended

    def _existing_login(self, login: str) -> Person:
        """The person carrying ``login``; InvalidInputError for an impossible login, NotFoundError for nobody."""
        person = self.find_by_login(normalise_login(login))
        if person is None:
            raise NotFoundError(f"Nobody has the GitHub login {login.strip()!r}.")
        return person

    # -- tokens ----------------------------------------------------------------------------------

    def _issue_token(self, person: Person) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.session.add(ApiToken(person_id=person.id, token_hash=hash_token(token), prefix=token[:10]))
        audit.record(self.session, "token.issued", actor_id=None, person_id=person.id, prefix=token[:10])
        return token

    def tokens_of(self, login: str) -> tuple[Person, list[ApiToken]]:
        """A person's API tokens, oldest first, revoked ones included.

        Raises
        ------
        InvalidInputError
            An impossible login.
        NotFoundError
            Nobody carries that login.
        """
        person = self._existing_login(login)
        tokens = list(self.session.scalars(
            select(ApiToken).where(ApiToken.person_id == person.id).order_by(ApiToken.created_at, ApiToken.id)))
        return person, tokens

    def revoke_token(self, prefix: str) -> tuple[ApiToken, bool]:
        """Revoke the token shown with this prefix (as ``tokens_of`` lists it); commits.

        Returns the token and whether this call revoked it (False: it was already revoked).

        Raises
        ------
        NotFoundError
            No token has that prefix.
        InvalidInputError
            More than one token has it; nothing is revoked.
        """
        prefix = prefix.strip()
        matches = list(self.session.scalars(select(ApiToken).where(ApiToken.prefix == prefix)))
        if not matches:
            raise NotFoundError(f"No API token has the prefix {prefix!r} (helpdesk staff tokens LOGIN lists them).")
        live = [t for t in matches if t.revoked_at is None]
        if not live:
            self.session.rollback()
            return matches[0], False
        if len(matches) > 1:
            # Which one was meant cannot be known; revoking the wrong one would leave the leaked one working.
            raise InvalidInputError(
                f"{len(matches)} tokens share the prefix {prefix!r}; nothing was revoked. "
                "`helpdesk staff demote LOGIN` revokes every token of a person."
            )
        token = live[0]
        token.revoked_at = self.clock()
        audit.record(self.session, "token.revoked", actor_id=None, person_id=token.person_id,
                     prefixes=[token.prefix], reason="revoked by an operator")
        self.session.commit()
        return token, True

    def _revoke_tokens(self, person_id: int, actor_id: int | None, *, reason: str) -> list[str]:
        """Revoke every live token of a person (audited); does not commit. Returns their prefixes."""
        prefixes = list(self.session.scalars(
            select(ApiToken.prefix).where(ApiToken.person_id == person_id, ApiToken.revoked_at.is_(None))))
        if prefixes:
            self.session.execute(
                update(ApiToken).where(ApiToken.person_id == person_id, ApiToken.revoked_at.is_(None))
                .values(revoked_at=self.clock()).execution_options(synchronize_session=False)
            )
            audit.record(self.session, "token.revoked", actor_id=actor_id, person_id=person_id, prefixes=prefixes,
                         reason=reason)
        return prefixes

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

    # -- web sessions ----------------------------------------------------------------------------

    def start_session(self, person: Person, *, lifetime: timedelta, replacing: str | None = None) -> str:
        """Open a web session for a person who has just signed in; commits. Returns the session id for the cookie.

        ``replacing`` is the id the browser carried before (ended, so that a session id planted before the
        sign-in is worthless). This person's sessions that ended or outlived ``lifetime`` are deleted.
        """
        now = self.clock()
        if replacing:
            self.session.execute(
                update(WebSession).where(WebSession.session_hash == hash_token(replacing),
                                         WebSession.ended_at.is_(None))
                .values(ended_at=now, end_reason="replaced").execution_options(synchronize_session=False)
            )
        self.session.execute(
            delete(WebSession).where(WebSession.person_id == person.id,
                                     or_(WebSession.ended_at.is_not(None), WebSession.created_at < now - lifetime))
            .execution_options(synchronize_session=False)
        )
        session_id = secrets.token_urlsafe(32)
        self.session.add(WebSession(person_id=person.id, session_hash=hash_token(session_id), created_at=now,
                                    last_seen_at=now))
        person.last_active_at = now  # signing in is activity (helpdesk.programs.inactivity)
        self.session.commit()
        return session_id

    def authenticate_session(self, session_id: str, *, idle: timedelta, lifetime: timedelta) -> Person | None:
        """The person a web session belongs to, or None when it is unknown, ended, idle too long or too old.

        One statement (this runs on every signed-in request); last-seen is written at most once a minute.
        """
        now = self.clock()
        row = self.session.execute(
            select(Person, WebSession.id, WebSession.last_seen_at)
            .join(WebSession, WebSession.person_id == Person.id)
            .where(WebSession.session_hash == hash_token(session_id), WebSession.ended_at.is_(None),
                   WebSession.last_seen_at > now - idle, WebSession.created_at > now - lifetime,
                   Person.merged_into_id.is_(None))
            .options(joinedload(Person.identities))
        ).unique().first()
        if row is None:
            return None
        person, row_id, last_seen_at = row
        if now - last_seen_at > SESSION_TOUCH_INTERVAL:
            try:
                self.session.execute(update(WebSession).where(WebSession.id == row_id).values(last_seen_at=now))
                if person.last_active_at is None or now - person.last_active_at > ACTIVITY_TOUCH_INTERVAL:
                    self.session.execute(update(Person).where(Person.id == person.id).values(last_active_at=now)
                                         .execution_options(synchronize_session=False))
                self.session.commit()
            except OperationalError:
                # Best effort, as for tokens: a busy database must not sign anyone out.
                self.session.rollback()
        return person

    def end_session(self, session_id: str, reason: str = "signed out") -> None:
        """End one web session (signing out); commits. An unknown or ended session is left alone."""
        self.session.execute(
            update(WebSession).where(WebSession.session_hash == hash_token(session_id), WebSession.ended_at.is_(None))
            .values(ended_at=self.clock(), end_reason=reason).execution_options(synchronize_session=False)
        )
        self.session.commit()

    def _end_sessions(self, person_id: int, reason: str) -> int:
        """End every open web session of a person; does not commit. Returns how many were open."""
        return self.session.execute(
            update(WebSession).where(WebSession.person_id == person_id, WebSession.ended_at.is_(None))
            .values(ended_at=self.clock(), end_reason=reason).execution_options(synchronize_session=False)
        ).rowcount


def _application_rank(application: object) -> tuple[int, int]:
    """Sort key putting the application further along first: active, pending, waitlisted, declined, withdrawn;
    of two alike the older (its place in the waitlist is earlier)."""
    from helpdesk.programs.models import ApplicationStatus

    order = [ApplicationStatus.ACTIVE, ApplicationStatus.PENDING, ApplicationStatus.WAITLISTED,
             ApplicationStatus.DECLINED, ApplicationStatus.WITHDRAWN]
    return order.index(application.status), application.id  # type: ignore[attr-defined]


#: Room for an OpenID Connect identity's ``<issuer> <sub>`` (the identity column's width).
OIDC_EXTERNAL_ID_MAX = 200


def oidc_external_id(issuer: str, subject: str) -> str:
    """The identity key of an OpenID Connect account: its issuer and subject, which OIDC makes unique together.

    An issuer is a URL, which holds no space, so the pair cannot be read two ways.
    """
    issuer, subject = (issuer or "").strip(), (subject or "").strip()
    if not issuer or not subject or " " in issuer:
        raise InvalidInputError("An OpenID Connect identity needs its issuer and subject.")
    key = f"{issuer} {subject}"
    if len(key) > OIDC_EXTERNAL_ID_MAX:
        raise InvalidInputError(f"This provider's account id is too long to store ({len(key)} characters).")
    return key


def normalise_login(login: str) -> str:
    """GitHub logins are case-insensitive; store them lower-cased. Raises on an impossible login."""
    login = login.strip()
    if not GITHUB_LOGIN.match(login):
        raise InvalidInputError(
            "A login is 1 to 39 letters, digits or single hyphens, not starting or ending with a hyphen."
        )
    return login.lower()
