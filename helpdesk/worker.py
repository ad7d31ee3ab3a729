"""``helpdesk worker``: deliver the outbox (replies and acknowledgements) to Slack and the forum.

How a delivery happens exactly once, as seen from outside
----------------------------------------------------------
1. **Claim.** A worker takes due items with a lease: ``locked_until = now + lease`` and
   ``attempts + 1``, guarded by ``status = 'pending' AND (locked_until IS NULL OR locked_until < now)``.
   On PostgreSQL the candidates are read with ``SELECT … FOR UPDATE SKIP LOCKED`` so workers never wait
   on each other; on SQLite the claim runs under ``BEGIN IMMEDIATE``, which serialises writers. The claim
   commits before any network call.
2. **Post with a marker.** Each message carries the item's key invisibly: Slack message ``metadata``
   (``event_type: helpdesk_reply``, ``event_payload.key``), or an HTML comment at the end of the forum
   post's raw text (Discourse keeps raw, hides the comment).
3. **Record.** The remote id (Slack ``ts``, forum post id) and ``delivered`` are committed.

A crash between 2 and 3 leaves the item pending with an expired lease. Whoever claims it next sees
that it was attempted before (``attempts > 1``, or a recorded error) and first *looks* for a message with
its marker (``conversations.replies`` in the thread; ``/t/<topic>/posts.json`` by our API user). If one is
there it records that id instead of posting again. The lease (default 120 s) is far longer than the HTTP
timeout (default 10 s), so a live worker's request has always ended before another may take the item.

Failures back off exponentially with jitter (``base * 2**(attempt-1)``, ±20 %, capped); a 429 waits
for its ``Retry-After``. After ``worker_max_attempts`` the item is ``dead``; staff see it in the console
and can send it again.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from helpdesk.channels.base import (
    Acknowledgement,
    Channel,
    DeliveryError,
    PermanentDeliveryError,
    RateLimitedError,
    ThreadRef,
)
from helpdesk.config import Settings
from helpdesk.db import utcnow
from helpdesk.factory import Factory
from helpdesk.tickets.escalation import SyncResult
from helpdesk.tickets.models import Message, OutboxItem, OutboxKind, OutboxStatus, Ticket

log = logging.getLogger("helpdesk.worker")
#: Seconds between two sweeps for idle delegates by one worker.
IDLE_SWEEP_SECONDS = 600


@dataclass
class Stats:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.delivered} delivered, {self.retried} to retry, {self.dead} dead"


def backoff_delay(settings: Settings, attempts: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: exponential, ±20 % jitter, capped."""
    base = settings.worker_backoff_base_seconds * 2 ** max(0, attempts - 1)
    return min(settings.worker_backoff_cap_seconds, base * (0.8 + 0.4 * rng()))


class OutboxWorker:
    """Claims due outbox items, posts them through their channel, and records the outcome."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: Settings,
        channel_for: Callable[[str], Channel] | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        rng: Callable[[], float] = random.random,
    ) -> None:
        from helpdesk.factory import build_channel

        self.session_factory = session_factory
        self.settings = settings
        self.clock = clock
        self.rng = rng
        self._channels: dict[str, Channel] = {}
        self._build = channel_for or (lambda name: build_channel(settings, name))
        self.stopping = threading.Event()
        self._idle_swept_at: float | None = None
        self._statistics_at: float | None = None

    def channel(self, name: str) -> Channel:
        if name not in self._channels:
            self._channels[name] = self._build(name)
        return self._channels[name]

    # -- loop ------------------------------------------------------------------------------------

    def run_once(self) -> Stats:
        """Warn of first responses coming due, deliver everything due now, then return (``helpdesk worker --once``)."""
        stats = Stats()
        self.sweep_sla()
        self.sweep_idle()
        self.sweep_auto_close()
        self.sweep_attachments()
        self.refresh_statistics()
        while not self.stopping.is_set():
            claimed = self.claim()
            if not claimed:
                break
            for item_id in claimed:
                self.deliver(item_id, stats)
        return stats

    def run_forever(self) -> None:
        """Deliver until SIGTERM or SIGINT, polling every ``worker_poll_seconds`` when idle.

        A database outage does not end the worker: it logs, waits (doubling up to the backoff cap) and
        tries again on a fresh connection. A delivery interrupted by the outage keeps its lease, and the
        next attempt looks for the earlier post before posting again.
        """
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        self.run_forever_in_thread()

    def run_forever_in_thread(self) -> None:
        """:meth:`run_forever` without signal handlers (which only the main thread may set); stop with ``stopping``."""
        log.info("worker started")
        syncing = self.start_escalation_sync()
        outages = 0
        while not self.stopping.is_set():
            try:
                stats = self.run_once()
            except DBAPIError as exc:
                outages += 1
                delay = backoff_delay(self.settings, outages, self.rng)
                log.error("database unavailable (%s); retrying in %.1fs", exc.orig, delay)
                self.stopping.wait(delay)
                continue
            if outages:
                log.info("database reachable again after %s failed attempts", outages)
                outages = 0
            if stats.delivered or stats.retried or stats.dead:
                log.info("outbox: %s", stats)
            self.stopping.wait(self.settings.worker_poll_seconds)
        if syncing is not None:
            syncing.join(timeout=self.settings.channel_timeout_seconds + 1)
        log.info("worker stopped")

    def sweep_idle(self) -> None:
        """Queue reminders to delegates idle for ``HELPDESK_IDLE_DAYS`` (helpdesk.programs.inactivity), at most
        once every ten minutes per worker: reminders are days apart, the query need not run every poll."""
        if self.settings.idle_days <= 0:
            return
        now = time.monotonic()
        if self._idle_swept_at is not None and now - self._idle_swept_at < IDLE_SWEEP_SECONDS:
            return
        self._idle_swept_at = now
        from helpdesk.programs.inactivity import IdlePolicy, sweep

        session = self.session_factory()
        try:
            sweep(session, IdlePolicy.from_settings(self.settings), self.clock)
        except DBAPIError as exc:  # two workers sweeping at once: one queues, the other tries next time
            session.rollback()
            log.warning("idle sweep skipped: %s", exc.orig)
        finally:
            session.close()

    def refresh_statistics(self) -> list[str] | None:
        """Analyse the tables whose planner statistics went stale where nothing else does (helpdesk.maintenance),
        every ``HELPDESK_STATISTICS_INTERVAL_SECONDS``; returns what was analysed, None when it was not time."""
        interval = self.settings.statistics_interval_seconds
        now = time.monotonic()
        if interval <= 0 or (self._statistics_at is not None and now - self._statistics_at < interval):
            return None
        self._statistics_at = now
        from helpdesk.maintenance import refresh_statistics

        try:
            session = self.session_factory()  # any factory the worker was given: the engine is its session's bind
            try:
                engine = session.get_bind()
            finally:
                session.close()
            return refresh_statistics(engine)
        except DBAPIError as exc:  # a lock held too long, an outage: the next round tries again
            log.warning("statistics refresh skipped: %s", exc.orig)
            return None

    def sweep_sla(self) -> None:
        """Queue the warnings of first responses that entered their warning window (each once; see sla_warnings)."""
        from helpdesk.tickets.sla_warnings import SlaService

        session = self.session_factory()
        try:
            SlaService.from_settings(session, self.settings, self.clock).sweep()
        finally:
            session.close()

    # -- escalation sync (its own thread: a slow or failing tracker never holds up deliveries) ------

    def start_escalation_sync(self) -> threading.Thread | None:
        """Start the thread that syncs escalations every ``worker_escalation_sync_seconds`` (None when 0)."""
        interval = self.settings.worker_escalation_sync_seconds
        if interval <= 0:
            return None
        thread = threading.Thread(target=self._escalation_sync_loop, args=(interval,),
                                  name="helpdesk-escalation-sync", daemon=True)
        thread.start()
        return thread

    def _escalation_sync_loop(self, interval: float) -> None:
        while not self.stopping.is_set():
            self.sync_escalations()
            self.stopping.wait(interval)

    def sync_escalations(self) -> SyncResult | None:
        """One sync of open escalations (``helpdesk escalations sync``); any error is logged, never raised."""
        session: Session | None = None
        try:
            session = self.session_factory()
            result = Factory(session, self.settings, self.clock).create_escalation_service().sync()
        except Exception as exc:  # noqa: BLE001 - the worker outlives a tracker or database failure
            log.error("escalation sync failed: %s", exc)
            return None
        finally:
            if session is not None:
                session.close()
        if result.checked:
            log.log(logging.WARNING if result.failed else logging.INFO, "escalations: %s", result)
        return result

    # -- claim -----------------------------------------------------------------------------------

    def claim(self) -> list[int]:
        """Lease up to ``worker_batch_size`` due items; returns their ids (committed before returning)."""
        session = self.session_factory()
        try:
            now = self.clock()
            lease = now + timedelta(seconds=self.settings.worker_lease_seconds)
            due = (OutboxItem.status == OutboxStatus.PENDING, OutboxItem.next_attempt_at <= now,
                   or_(OutboxItem.locked_until.is_(None), OutboxItem.locked_until < now))
            candidates = list(session.scalars(
                select(OutboxItem.id).where(*due).order_by(OutboxItem.next_attempt_at, OutboxItem.id)
                .limit(self.settings.worker_batch_size).with_for_update(skip_locked=True)
            ))
            claimed = []
            for item_id in candidates:
                result = session.execute(
                    update(OutboxItem).where(OutboxItem.id == item_id, *due)
                    .values(locked_until=lease, attempts=OutboxItem.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:
                    claimed.append(item_id)
            session.commit()
            return claimed
        finally:
            session.close()

    # -- deliver ---------------------------------------------------------------------------------

    def deliver(self, item_id: int, stats: Stats | None = None) -> None:
        stats = stats if stats is not None else Stats()
        session = self.session_factory()
        try:
            item = session.get(OutboxItem, item_id)
            if item is None or item.status is not OutboxStatus.PENDING:
                return
            channel_name, kind, payload = item.channel, OutboxKind(item.kind), dict(item.payload or {})
            attempted_before = item.attempts > 1 or item.last_error is not None
            if kind is OutboxKind.PROFILE:
                session.rollback()
                self._profile(session, item_id, channel_name, payload, stats)
                return
            if kind is OutboxKind.ESCALATION:
                session.rollback()
                self._escalation(session, item_id, attempted_before, stats)
                return
            if kind is OutboxKind.INCIDENT_CHECK:
                session.rollback()
                self._incident_check(session, item_id, item.ticket_id, stats)
                return
            if kind is OutboxKind.TRIAGE:
                session.rollback()
                self._triage(session, item_id, item.ticket_id, stats)
                return
            if kind is OutboxKind.TEAM_SYNC:
                session.rollback()
                self._team_sync(session, item_id, payload, stats)
                return
            if kind is OutboxKind.EMAIL_REPLY:
                self._email_reply(session, item, stats)
                return
            if kind is OutboxKind.PROGRAMME_NOTICE:
                from helpdesk.programs.notices import deliver as deliver_programme_notice

                deliver_programme_notice(self, session, item, attempted_before, stats)
                return
            try:
                channel = self.channel(channel_name)
                # Where to post is read from the ticket now, not from when the item was queued: a
                # ticket that adopted a thread since then is answered in that thread.
                thread, text = self._what_and_where(session, item, channel)
            except Exception as exc:  # noqa: BLE001 - an unknown channel, a ticket without a thread
                session.rollback()
                permanent = isinstance(exc, PermanentDeliveryError)
                self._failed(session, item_id, exc, None if permanent else self._backoff(session, item_id), stats,
                             permanent=permanent)
                return
            session.rollback()  # no transaction stays open across the network call

            key = f"outbox-{item_id}"
            try:
                remote_id = None
                if attempted_before:
                    remote_id = self._already_posted(channel, thread, key)
                    if remote_id:
                        log.info("outbox %s was posted before (%s); recording it", item_id, remote_id)
                if not remote_id:
                    remote_id = (channel.post_acknowledgement(thread, text, idempotency_key=key)
                                 if isinstance(text, Acknowledgement) else
                                 channel.reply(thread, text, idempotency_key=key))
            except Exception as exc:  # noqa: BLE001 - classified by _retry_or_bury
                self._retry_or_bury(session, item_id, exc, stats)
            else:
                self._delivered(session, item_id, remote_id or "", stats)
        finally:
            session.close()

    def _what_and_where(self, session: Session, item: OutboxItem, channel: Channel
                        ) -> tuple[ThreadRef, str | Acknowledgement]:
        """The thread (from the ticket) and the text (from the message, or the channel's acknowledgement)."""
        if OutboxKind(item.kind) is OutboxKind.LIMIT_NOTICE:
            # Someone past a ticket limit (helpdesk.tickets.limits): their question was held, not filed.
            payload = item.payload or {}
            if not payload.get("text"):
                raise PermanentDeliveryError("The limit notice has no text.")
            return channel.thread_from_external(payload.get("external") or {}), str(payload["text"])
        if OutboxKind(item.kind) is OutboxKind.SLA_WARNING:
            # A warning for staff (helpdesk.tickets.sla_warnings), posted into their channel, not a ticket's thread.
            payload = item.payload or {}
            if not payload.get("conversation") or not payload.get("text"):
                raise PermanentDeliveryError("The SLA warning names no channel or text.")
            return ThreadRef(channel.name, str(payload["conversation"])), str(payload["text"])
        ticket = session.get(Ticket, item.ticket_id) if item.ticket_id else None
        if ticket is None:
            raise PermanentDeliveryError("The ticket of this delivery is gone.")
        thread = channel.thread_from_external(ticket.external or {})
        if OutboxKind(item.kind) is OutboxKind.ACK:
            link = f"{self.settings.public_url.rstrip('/')}/tickets/{ticket.id}"
            return thread, self._acknowledgement(session, ticket, link)
        message = session.get(Message, item.message_id) if item.message_id else None
        if message is None:
            raise PermanentDeliveryError("The message of this delivery is gone.")
        return thread, message.body

    def _acknowledgement(self, session: Session, ticket: Ticket, link: str) -> Acknowledgement:
        """The acknowledgement with the articles that may answer the question (helpdesk.deflection).

        They are looked for here, at delivery, not in the webhook request, and kept on the ticket before
        anything is posted: a redelivery (after a timeout, or sent again by staff) says exactly the same.
        """
        from helpdesk.deflection.suggestions import Deflector, stored_articles
        from helpdesk.deflection.tokens import desk_secret, make_token

        ticket_id, suggestions = ticket.id, ticket.suggestions
        if suggestions is None:
            looked = Deflector.from_settings(self.settings).look_up(ticket.subject, ticket.body)
            Factory(session, self.settings, self.clock).create_ticket_service().record_suggestions(
                ticket_id, looked.to_json(), looked.best_score)
            # What was kept: ours, or another worker's that came first.
            suggestions = session.scalar(select(Ticket.suggestions).where(Ticket.id == ticket_id))
        articles = tuple((a.title, a.url) for a in stored_articles(suggestions))
        if not articles:
            return Acknowledgement(ticket_id, link)
        token = make_token(desk_secret(self.settings), ticket_id)
        return Acknowledgement(ticket_id, link, articles, token=token,
                               answered_url=f"{self.settings.public_url.rstrip('/')}/answered/{token}")

    def sweep_attachments(self) -> None:
        """Remove attachment files that no row names and that are over an hour old (left by a crash between
        the file's rename and its transaction's commit; helpdesk.tickets.attachments), every ten minutes."""
        now = time.monotonic()
        swept_at = getattr(self, "_attachments_swept_at", None)
        if swept_at is not None and now - swept_at < IDLE_SWEEP_SECONDS:
            return
        self._attachments_swept_at = now
        from helpdesk.tickets.attachments import AttachmentStore

        session = self.session_factory()
        try:
            removed = AttachmentStore(self.settings.resolved_attachment_dir).sweep_orphans(session)
            if removed:
                log.info("removed %s attachment files without a row", len(removed))
        except OSError as exc:
            log.warning("attachment sweep skipped: %s", exc)
        finally:
            session.close()

    def sweep_auto_close(self) -> None:
        """Close the tickets resolved more than ``HELPDESK_AUTO_CLOSE_DAYS`` ago, through the ticket service."""
        if self.settings.auto_close_days <= 0:
            return
        session = self.session_factory()
        try:
            cutoff = self.clock() - timedelta(days=self.settings.auto_close_days)
            closed = Factory(session, self.settings, self.clock).create_ticket_service().close_resolved(cutoff)
            if closed:
                log.info("auto-closed %s resolved tickets", len(closed))
        finally:
            session.close()

    def _email_reply(self, session: Session, item: OutboxItem, stats: Stats) -> None:
        """Email a public staff answer to the requester of a web or API ticket (helpdesk.channels.email)."""
        from pathlib import Path

        from helpdesk.channels.email import EmailTransport, reply_notification
        from helpdesk.tickets.workspace import EmailOptOut

        item_id = item.id
        try:
            ticket = session.get(Ticket, item.ticket_id) if item.ticket_id else None
            message = session.get(Message, item.message_id) if item.message_id else None
            if ticket is None or message is None:
                raise PermanentDeliveryError("The ticket or message of this email is gone.")
            requester = ticket.requester
            if not requester.email:
                raise PermanentDeliveryError("The requester has no email address.")
            opted_out = session.scalar(select(EmailOptOut.id).where(EmailOptOut.person_id == requester.id))
            secret = self.settings.resolved_secret_key(Path("var").resolve())
            note = reply_notification(
                self.settings, secret, item_id=item_id, ticket_id=ticket.id, subject=ticket.subject,
                requester_id=requester.id, requester_name=requester.display_name, to=requester.email,
                agent=message.author.handle if message.author else "Support", body=message.body,
            )
            transport = EmailTransport(self.settings)
        except Exception as exc:  # noqa: BLE001 - classified by _retry_or_bury
            self._retry_or_bury(session, item_id, exc, stats)
            return
        session.rollback()  # no transaction stays open across the network call
        if opted_out is not None:  # unsubscribed after the reply was queued: nothing to send
            self._delivered(session, item_id, "", stats)
            return
        try:
            remote_id = transport.send(note)
        except Exception as exc:  # noqa: BLE001 - classified by _retry_or_bury
            self._retry_or_bury(session, item_id, exc, stats)
        else:
            self._delivered(session, item_id, remote_id, stats)

    def _profile(self, session: Session, item_id: int, channel_name: str, payload: dict[str, Any],
                 stats: Stats) -> None:
        """Look up a channel user's name and verified email; the same email may join two people."""
        from helpdesk.accounts.models import Provider

        user = str(payload.get("user") or "")
        try:
            author = self.channel(channel_name).profile(user)
        except Exception as exc:  # noqa: BLE001 - classified by _retry_or_bury
            self._retry_or_bury(session, item_id, exc, stats)
            return
        if author is not None:
            Factory(session, self.settings, self.clock).create_account_service().apply_profile(
                Provider(channel_name), user, display_name=author.display_name, email=author.email,
                email_verified=author.email_verified,
            )
        self._delivered(session, item_id, user, stats)

    def _escalation(self, session: Session, item_id: int, attempted_before: bool, stats: Stats) -> None:
        """File a confirmed bug in the engineering tracker (helpdesk.tickets.escalation): an attempted item
        first looks for the issue by its marker, so a crash never files two."""
        service = Factory(session, self.settings, self.clock).create_escalation_service()
        try:
            service.deliver(item_id, attempted_before=attempted_before)
        except Exception as exc:  # noqa: BLE001 - outages, an unconfigured tracker, surprises: classified
            self._retry_or_bury(session, item_id, exc, stats)
        else:
            stats.delivered += 1
            return
        service.failed(item_id)  # a dead item leaves its escalation failed, so staff may escalate again

    def _team_sync(self, session: Session, item_id: int, payload: dict[str, Any], stats: Stats) -> None:
        """Make the roster's GitHub team agree with the person's seats as they are now
        (helpdesk.programs.roster_sync): idempotent, so a retry or an item out of order does no harm."""
        from helpdesk.channels.github_team import GitHubTeam
        from helpdesk.programs.roster_sync import deliver

        try:
            done = deliver(session, GitHubTeam(self.settings), int(payload.get("person_id") or 0))
        except Exception as exc:  # noqa: BLE001 - classified by _retry_or_bury
            self._retry_or_bury(session, item_id, exc, stats)
            return
        self._delivered(session, item_id, done, stats)

    def _incident_check(self, session: Session, item_id: int, ticket_id: int | None, stats: Stats) -> None:
        """Group a newly filed ticket with reports of the same failure (helpdesk.tickets.incidents).

        The links commit with the item's ``delivered``; a concurrent check that linked a ticket first makes
        this one fail and try again (then joining that incident).
        """
        from helpdesk.tickets.incidents import IncidentPolicy, link_to_incident

        try:
            if ticket_id is not None:
                link_to_incident(session, ticket_id, IncidentPolicy.from_settings(self.settings), clock=self.clock)
                session.flush()
        except Exception as exc:  # noqa: BLE001 - a concurrent link, an outage: try again later
            session.rollback()
            self._failed(session, item_id, exc, self._backoff(session, item_id), stats)
            return
        self._delivered(session, item_id, "", stats)

    def _triage(self, session: Session, item_id: int, ticket_id: int | None, stats: Stats) -> None:
        """Sort a Slack or forum ticket after its acknowledgement (TicketService.triage_filed); the item is done
        when the ticket is sorted, or was sorted by a person meanwhile."""
        try:
            if ticket_id is not None:
                Factory(session, self.settings, self.clock).create_ticket_service().triage_filed(ticket_id)
        except Exception as exc:  # noqa: BLE001 - an outage, a lock: try again later
            session.rollback()
            self._failed(session, item_id, exc, self._backoff(session, item_id), stats)
            return
        self._delivered(session, item_id, "", stats)

    def _retry_or_bury(self, session: Session, item_id: int, exc: BaseException, stats: Stats) -> None:
        """The one reading of a failed delivery: a 429 waits its Retry-After, a permanent refusal is dead at
        once, anything else (an outage, a timeout, a bug) is retried with backoff."""
        session.rollback()
        if isinstance(exc, RateLimitedError):
            delay = exc.retry_after if exc.retry_after is not None else self._backoff(session, item_id)
            self._failed(session, item_id, exc, delay, stats)
        elif isinstance(exc, PermanentDeliveryError):
            self._failed(session, item_id, exc, None, stats, permanent=True)
        else:
            if not isinstance(exc, DeliveryError):
                log.error("outbox %s: unexpected error", item_id, exc_info=exc)
            self._failed(session, item_id, exc, self._backoff(session, item_id), stats)

    def _already_posted(self, channel: Channel, thread: Any, key: str) -> str | None:
        try:
            return channel.find_reply(thread, key)
        except PermanentDeliveryError as exc:
            # The lookup itself is impossible here (e.g. a direct message we cannot list): post.
            log.warning("cannot check for an earlier post (%s); posting", exc)
            return None

    def _backoff(self, session: Session, item_id: int) -> float:
        attempts = session.scalar(select(OutboxItem.attempts).where(OutboxItem.id == item_id)) or 1
        session.rollback()
        return backoff_delay(self.settings, attempts, self.rng)

    def _delivered(self, session: Session, item_id: int, remote_id: str, stats: Stats) -> None:
        now = self.clock()
        item = session.get(OutboxItem, item_id)
        if item is None or item.status is not OutboxStatus.PENDING:  # pragma: no cover - staff changed it
            session.rollback()
            return
        item.status, item.remote_id, item.delivered_at, item.locked_until = (
            OutboxStatus.DELIVERED, remote_id[:255], now, None)
        started = self._started_thread(session, item, remote_id) if item.ticket_id and remote_id else None
        Factory(session, self.settings, self.clock).create_ticket_service().record_delivery(item, remote_id, started)
        session.commit()
        stats.delivered += 1
        log.info("outbox %s delivered to %s as %s", item_id, item.channel, remote_id)

    def _started_thread(self, session: Session, item: OutboxItem, remote_id: str) -> dict[str, str] | None:
        """The thread a first message to a thread-less ticket (a slash command's) started, if any."""
        ticket = session.get(Ticket, item.ticket_id)
        if ticket is None or ticket.thread_key is not None:
            return None
        try:
            return self.channel(item.channel).thread_started_by(remote_id)
        except Exception:  # noqa: BLE001 - adopting a thread is a convenience, never a failure
            return None

    def _failed(self, session: Session, item_id: int, exc: BaseException, delay: float | None, stats: Stats,
                *, permanent: bool = False) -> None:
        now = self.clock()
        item = session.get(OutboxItem, item_id)
        if item is None or item.status is not OutboxStatus.PENDING:  # pragma: no cover - staff changed it
            session.rollback()
            return
        item.last_error = f"attempt {item.attempts}: {exc}"[:2000]
        item.locked_until = None
        if permanent or delay is None or item.attempts >= self.settings.worker_max_attempts:
            item.status = OutboxStatus.DEAD
            stats.dead += 1
            log.error("outbox %s is dead after %s attempts: %s", item_id, item.attempts, exc)
        else:
            item.next_attempt_at = now + timedelta(seconds=delay)
            stats.retried += 1
            log.warning("outbox %s failed (attempt %s), retrying in %.1fs: %s", item_id, item.attempts, delay, exc)
        stats.errors.append(str(exc))
        session.commit()


def run_worker(settings: Settings, *, once: bool = False) -> Stats | None:
    """Entry point of ``helpdesk worker``."""
    from helpdesk.db import make_engine, make_session_factory

    engine = make_engine(settings.database_url)
    try:
        worker = OutboxWorker(make_session_factory(engine), settings)
        if once:
            return worker.run_once()
        worker.run_forever()
        return None
    finally:
        engine.dispose()

