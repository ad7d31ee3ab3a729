"""The channel interface: turn a verified request into an inbound message; post a reply into a thread.

Channels never touch the database. A webhook route calls :meth:`Channel.parse`, hands the resulting
:class:`~helpdesk.tickets.inbound.InboundMessage` (a type of the ticket domain, which knows no transport)
to the ticket service, and acknowledges; the worker calls :meth:`Channel.reply` for each outbox item.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from helpdesk.exceptions import HelpdeskError, InvalidSignatureError
from helpdesk.tickets.inbound import Author, InboundMessage, ThreadRef

__all__ = [
    "Acknowledgement", "Author", "Channel", "Control", "DeliveryError", "Ignored", "InboundMessage",
    "InvalidSignatureError", "PermanentDeliveryError", "RateLimitedError", "ThreadRef", "UnknownChannelError",
]


class UnknownChannelError(HelpdeskError):
    """The channel does not exist or is not configured (its settings are missing)."""

    status_code = 404
    code = "unknown_channel"


class DeliveryError(Exception):
    """Posting a reply failed in a way worth retrying (timeouts, 5xx)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitedError(DeliveryError):
    """The remote API answered 429; try again no sooner than ``retry_after`` seconds."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (bad token, channel gone, thread deleted): the delivery is dead at once."""


@dataclass(frozen=True)
class Ignored:
    """A verified request that needs no work (a bot's own message, an edit, another channel)."""

    reason: str


@dataclass(frozen=True)
class Control:
    """A verified protocol request answered directly: Slack's url_verification, a forum ping."""

    response: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Acknowledgement:
    """What an acknowledgement says: the ticket, the articles that may answer it, and how to say one did.

    Built by the worker from what the ticket keeps (helpdesk.deflection), so a redelivery says the same.
    """

    ticket_id: int
    #: The ticket's page on the desk.
    link: str
    #: ``(title, absolute URL)`` of the best articles, best first; empty when none scored high enough.
    articles: tuple[tuple[str, str], ...] = ()
    #: The ticket's signed "this answered my question" token (helpdesk.deflection.tokens).
    token: str | None = None
    #: The desk's page that takes that token (a link for channels without buttons, such as the forum).
    answered_url: str | None = None


class Channel(ABC):
    """A place tickets come from and replies go back to."""

    name: ClassVar[str]

    @abstractmethod
    def parse(self, headers: Mapping[str, str], body: bytes) -> Any:
        """Verify the signature on the raw body, then build what the request asks for.

        Returns
        -------
        InboundMessage, Ignored or Control (Slack adds its command and interaction types).

        Raises
        ------
        InvalidSignatureError
            The request is forged, stale, or its signature cannot be read (401).
        HelpdeskError
            The request is signed but its body cannot be understood (4xx).
        """

    @abstractmethod
    def reply(self, thread: ThreadRef, text: str, *, idempotency_key: str | None = None) -> str:
        """Post ``text`` into ``thread`` and return the remote id of the new message.

        ``idempotency_key`` is embedded in the message invisibly so that :meth:`find_reply` can tell
        whether an earlier, interrupted attempt already posted it.

        Raises
        ------
        RateLimitedError, DeliveryError, PermanentDeliveryError
        """

    def find_reply(self, thread: ThreadRef, idempotency_key: str) -> str | None:
        """The remote id of a reply already posted with ``idempotency_key``, if any."""
        return None

    def thread_started_by(self, remote_id: str) -> dict[str, str] | None:
        """When a reply to a ticket without a thread started one, the ``external`` fields that point at it."""
        return None

    def profile(self, external_id: str) -> Author | None:
        """The name and email of one of the channel's users, when the channel can tell."""
        return None

    def thread_from_external(self, external: Mapping[str, Any]) -> ThreadRef:
        """The thread a ticket's ``external`` data points at (read from the ticket at delivery time)."""
        raise PermanentDeliveryError(f"The {self.name} channel has no thread to reply to.")

    def acknowledgement(self, ticket_id: int, link: str, thread: ThreadRef) -> str:
        """The message that tells a requester their question is ticket ``ticket_id``, in the channel's words."""
        return (f"Thanks! Your question is ticket #{ticket_id} in the DP0 Support Desk ({link}). "
                "Someone from the support team will answer here.")

    def acknowledgement_text(self, ack: Acknowledgement, thread: ThreadRef) -> str:
        """The whole acknowledgement as text: :meth:`acknowledgement`, then the articles as Markdown links."""
        text = self.acknowledgement(ack.ticket_id, ack.link, thread)
        if not ack.articles:
            return text
        lines = [text, "", "While you wait, these articles may answer your question:"]
        lines += [f"- {markdown_link(title, url)}" for title, url in ack.articles]
        if ack.answered_url:
            lines += ["", f"If one of them answered it, {markdown_link('tell us here', ack.answered_url)} and we "
                      "will close the ticket."]
        return "\n".join(lines)

    def post_acknowledgement(self, thread: ThreadRef, ack: Acknowledgement, *, idempotency_key: str | None = None
                             ) -> str:
        """Post the acknowledgement (as :meth:`reply` posts; Slack adds a button) and return its remote id."""
        return self.reply(thread, self.acknowledgement_text(ack, thread), idempotency_key=idempotency_key)


_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()<>#!|~"})


def markdown_link(title: str, url: str) -> str:
    """``[title](url)`` with the title's Markdown and HTML characters escaped and the URL's breaking ones encoded."""
    safe_url = "".join(ch if ch not in " ()<>[]\"'`" else f"%{ord(ch):02X}" for ch in url)
    label = " ".join(title.split()).translate(_MARKDOWN_SPECIAL).replace("&", "&amp;")
    return f"[{label}]({safe_url})"
