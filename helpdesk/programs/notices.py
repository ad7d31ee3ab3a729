"""Delivering programme notices (outbox kind ``programme_notice``) from the worker: a Slack direct message
to a linked account, or an email through the SMTP transport of helpdesk.channels.email.

The programme service queues one item per way of reaching the person (``channel`` ``email`` or ``slack``)
whenever an application changes state; the item's payload carries the words, so a later change never
rewrites what an earlier notice said.
"""

from __future__ import annotations

import hashlib
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.channels.base import PermanentDeliveryError, ThreadRef
from helpdesk.tickets.models import OutboxItem

if TYPE_CHECKING:
    from helpdesk.worker import OutboxWorker, Stats


def deliver(worker: OutboxWorker, session: Session, item: OutboxItem, attempted_before: bool, stats: Stats) -> None:
    """Send one notice; failures are read by the worker's one rule (retry with backoff, or bury)."""
    item_id, channel_name, payload = item.id, item.channel, dict(item.payload or {})
    try:
        to, text = str(payload.get("to") or ""), str(payload.get("text") or "")
        if not to or not text:
            raise PermanentDeliveryError("The programme notice names nobody or says nothing.")
        send = _email(worker, session, item_id, payload) if channel_name == "email" else None
    except Exception as exc:  # noqa: BLE001 - classified by _retry_or_bury
        worker._retry_or_bury(session, item_id, exc, stats)
        return
    session.rollback()  # no transaction stays open across the network call
    try:
        if channel_name == "email":
            remote_id = send() if send else ""
        else:
            channel = worker.channel(channel_name)
            thread = ThreadRef(channel_name, to)
            key = f"outbox-{item_id}"
            remote_id = (worker._already_posted(channel, thread, key) if attempted_before else None) or \
                channel.reply(thread, text, idempotency_key=key)
    except Exception as exc:  # noqa: BLE001 - classified by _retry_or_bury
        worker._retry_or_bury(session, item_id, exc, stats)
        return
    worker._delivered(session, item_id, remote_id or "", stats)


def _email(worker: OutboxWorker, session: Session, item_id: int, payload: dict[str, Any]):  # type: ignore[no-untyped-def]
    """The email to send (a callable), or None when the person unsubscribed from the desk's emails."""
    from helpdesk.channels.email import EmailTransport, Notification, unsubscribe_token
    from helpdesk.programs.models import Application
    from helpdesk.tickets.workspace import EmailOptOut

    settings = worker.settings
    transport = EmailTransport(settings)  # PermanentDeliveryError when email is not configured
    application = session.get(Application, int(payload.get("application_id") or 0))
    if application is None:
        raise PermanentDeliveryError("The application of this notice is gone.")
    if session.scalar(select(EmailOptOut.id).where(EmailOptOut.person_id == application.person_id)) is not None:
        return None
    secret = settings.resolved_secret_key(Path("var").resolve())
    base = settings.public_url.rstrip("/")
    domain = parseaddr(settings.smtp_from or "")[1].rpartition("@")[2] or "helpdesk.invalid"
    digest = hashlib.sha256(f"{item_id}:programme:{secret}".encode()).hexdigest()[:16]
    unsubscribe = f"{base}/notifications/unsubscribe/{unsubscribe_token(secret, application.person_id)}"
    text = (f"Hello {application.name},\n\n{payload['text']}\n\n"
            f"Where your application stands: {base}/signup?program={application.program.slug}\n\n"
            f"--\nDP0 Support Desk. To stop these emails: {unsubscribe}\n")
    note = Notification(to=str(payload["to"]), subject=str(payload.get("subject") or "Your application"),
                        text=text, message_id=f"<outbox-{item_id}.{digest}@{domain}>", unsubscribe_url=unsubscribe)
    return lambda: transport.send(note)
