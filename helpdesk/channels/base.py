"""The channel interface: turn a verified request into an inbound message; post a reply into a thread.

Channels never touch the database. A webhook route calls :meth:`Channel.parse`, hands the result to
one service method, and acknowledges; the worker calls :meth:`Channel.reply` for each outbox item.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from helpdesk.exceptions import HelpdeskError, InvalidSignatureError

__all__ = [
    "Author", "Channel", "Control", "DeliveryError", "Ignored", "InboundMessage",
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
class ThreadRef:
    """Where a conversation lives outside: a Slack channel and thread, or a forum topic.

    ``conversation`` is the Slack channel id or the forum topic id; ``thread`` the Slack ``thread_ts``
    (None for a forum topic, or for a Slack direct message that has no thread yet).
    """

    channel: str
    conversation: str
    thread: str | None = None

    @property
    def key(self) -> str:
        """A ``thread_key`` for tickets: later messages in the same thread join the thread's ticket."""
        return f"{self.conversation}:{self.thread}" if self.thread else self.conversation


@dataclass(frozen=True)
class Author:
    """Who wrote an inbound message, as the channel knows them."""

    external_id: str
    username: str | None = None
    display_name: str | None = None
    email: str | None = None
    email_verified: bool = False


@dataclass(frozen=True)
class InboundMessage:
    """One verified message from a channel, ready for the intake service.

    ``delivery_ids`` are the idempotency keys recorded in the inbound ledger in the same transaction
    that stores the message (for Slack: the event id and ``channel:ts``; for the forum: the post id).
    With ``starts_ticket`` the message files a ticket unless its thread already has one; without it,
    the message only joins the ticket of its thread and is dropped when there is none. ``thread_key``
    is None for tickets that no later message can join (a slash command answered in a direct message).
    """

    channel: str
    delivery_ids: tuple[str, ...]
    author: Author
    thread: ThreadRef
    text: str
    message_id: str
    starts_ticket: bool = True
    thread_key: str | None = None
    #: The message is the first of its thread (a new Slack message, a topic's first post), so the
    #: intake need not look for the thread's ticket; a racing filer is caught by the unique thread key.
    opens_thread: bool = False
    subject: str | None = None
    external: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ignored:
    """A verified request that needs no work (a bot's own message, an edit, another channel)."""

    reason: str


@dataclass(frozen=True)
class Control:
    """A verified protocol request answered directly: Slack's url_verification, a forum ping."""

    response: Mapping[str, Any] | None = None


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
        """The thread a ticket's ``external`` data points at."""
        raise PermanentDeliveryError(f"The {self.name} channel has no thread to reply to.")
