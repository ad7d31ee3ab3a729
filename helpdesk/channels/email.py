"""Email notifications over SMTP: the requester of a web or API ticket hears of a public reply.

The worker (``helpdesk.worker``) sends one email per outbox item of kind ``email_reply``. The Message-ID is
derived from the item (``<outbox-42.<digest>@host>``), so the same item always yields the same email: the
worker never sends a delivered item again, and should a crash come between the server's acceptance and
the worker recording it, the copy sent on the next attempt carries the same Message-ID, which mail
systems use to fold duplicates together.

Every email links back to the ticket and carries an unsubscribe link (and ``List-Unsubscribe``) with an
HMAC-signed token naming the person; the link opens a confirmation page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from helpdesk.channels.base import DeliveryError, PermanentDeliveryError
from helpdesk.config import Settings

_TOKEN_PURPOSE = b"helpdesk-email-unsubscribe:"


def unsubscribe_token(secret: str, person_id: int) -> str:
    """A URL-safe token naming ``person_id``, signed with the secret key (HMAC-SHA256)."""
    payload = str(person_id).encode()
    digest = hmac.new(secret.encode(), _TOKEN_PURPOSE + payload, hashlib.sha256).digest()[:18]
    return f"{person_id}.{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"


def read_unsubscribe_token(secret: str, token: str) -> int | None:
    """The person an unsubscribe token names, or None when it is malformed or not signed by us."""
    person, _, _ = (token or "").partition(".")
    if not person.isdigit() or len(person) > 12:
        return None
    expected = unsubscribe_token(secret, int(person))
    return int(person) if hmac.compare_digest(expected.encode(), token.encode()) else None


@dataclass(frozen=True)
class Notification:
    """One email: to whom, what, and the ids that make it the same email however often it is built."""

    to: str
    subject: str
    text: str
    message_id: str
    unsubscribe_url: str


def reply_notification(settings: Settings, secret: str, *, item_id: int, ticket_id: int, subject: str,
                       requester_id: int, requester_name: str, to: str, agent: str, body: str) -> Notification:
    """The email telling a requester that ``agent`` answered their ticket, with the answer in it."""
    base = settings.public_url.rstrip("/")
    ticket_url = f"{base}/tickets/{ticket_id}"
    unsubscribe_url = f"{base}/notifications/unsubscribe/{unsubscribe_token(secret, requester_id)}"
    domain = parseaddr(settings.smtp_from or "")[1].rpartition("@")[2] or "helpdesk.invalid"
    digest = hashlib.sha256(f"{item_id}:{ticket_id}:{secret}".encode()).hexdigest()[:16]
    text = (
        f"Hello {requester_name},\n\n"
        f"{agent} answered your ticket #{ticket_id} ({subject}):\n\n"
        f"{body}\n\n"
        f"Read the whole conversation and answer at {ticket_url}\n"
        "(replying to this email does not reach us; please answer on the ticket page).\n\n"
        "--\n"
        f"DP0 Support Desk. To stop these emails: {unsubscribe_url}\n"
    )
    return Notification(to=to, subject=f"[DP0 Support #{ticket_id}] {subject}", text=text,
                        message_id=f"<outbox-{item_id}.{digest}@{domain}>", unsubscribe_url=unsubscribe_url)


class EmailTransport:
    """Sends notifications with smtplib: STARTTLS and login when configured."""

    def __init__(self, settings: Settings) -> None:
        if not settings.email_enabled:
            raise PermanentDeliveryError("Email is not configured (set HELPDESK_SMTP_HOST and HELPDESK_SMTP_FROM).")
        self.settings = settings

    def build(self, note: Notification) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = note.to
        message["Subject"] = note.subject
        message["Message-ID"] = note.message_id
        message["Date"] = formatdate(usegmt=True)
        message["List-Unsubscribe"] = f"<{note.unsubscribe_url}>"
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(note.text)
        return message

    def send(self, note: Notification) -> str:
        """Hand the email to the mail server; returns its Message-ID.

        Raises
        ------
        PermanentDeliveryError
            The server refused the recipient or the message for good (5xx), or refused our login.
        DeliveryError
            The server is unreachable or answered "try later" (4xx): the worker retries.
        """
        settings = self.settings
        try:
            with smtplib.SMTP(settings.smtp_host or "", settings.smtp_port,
                              timeout=settings.smtp_timeout_seconds) as smtp:
                if settings.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.smtp_user and settings.smtp_password is not None:
                    smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
                refused = smtp.send_message(self.build(note))
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentDeliveryError(f"The mail server refused the login: {exc.smtp_code}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {code for code, _ in exc.recipients.values()}
            if all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"The mail server refused the recipient ({sorted(codes)}).") from exc
            raise DeliveryError(f"The mail server deferred the recipient ({sorted(codes)}).") from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                raise PermanentDeliveryError(f"The mail server refused the email: {exc.smtp_code}") from exc
            raise DeliveryError(f"The mail server answered {exc.smtp_code}; trying again later.") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"Could not reach the mail server: {exc}") from exc
        if refused:  # pragma: no cover - one recipient: refusing it raises SMTPRecipientsRefused instead
            raise PermanentDeliveryError(f"The mail server refused {sorted(refused)}.")
        return note.message_id
