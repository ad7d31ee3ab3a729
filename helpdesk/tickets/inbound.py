"""What reaches the desk from outside, in the desk's own terms: an inbound message and where it lives.

Channels (``helpdesk.channels``) build these from verified requests; the intake
(:mod:`helpdesk.tickets.intake`) stores them. Nothing here knows Slack or the forum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Author", "InboundMessage", "ThreadRef"]


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
    """One verified message from a channel, ready for the intake.

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
    #: The channel can tell more about a new author later (Slack's users.info): the worker asks it.
    lookup_profile: bool = False
