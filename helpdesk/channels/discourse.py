"""The Community Forum (Discourse): outgoing webhooks in, posts in the topic out.

A webhook is verified by ``X-Discourse-Event-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``
(Discourse's ``emit_web_hook_event`` job). Replies go through pydiscourse's ``create_post``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydiscourse import DiscourseClient
from pydiscourse.exceptions import (
    DiscourseClientError,
    DiscourseError,
    DiscourseRateLimitedError,
)

from helpdesk.channels.base import (
    Author,
    Channel,
    Control,
    DeliveryError,
    Ignored,
    InboundMessage,
    PermanentDeliveryError,
    RateLimitedError,
    ThreadRef,
)
from helpdesk.config import Settings
from helpdesk.exceptions import HelpdeskError, InvalidSignatureError

log = logging.getLogger("helpdesk.channels.discourse")

#: Events that may carry a new post. ``post_edited`` and topic events file nothing.
POST_EVENTS = frozenset({"post_created", "post_recovered"})
REGULAR_POST = 1
MARKER = "<!-- helpdesk:{key} -->"


class InvalidRequestError(HelpdeskError):
    status_code = 400
    code = "invalid_request"


class DiscourseChannel(Channel):
    """The forum: topics in the support categories become tickets; replies are posts in the topic."""

    name: ClassVar[str] = "discourse"

    def __init__(self, settings: Settings) -> None:
        if settings.discourse_webhook_secret is None:
            raise ValueError("HELPDESK_DISCOURSE_WEBHOOK_SECRET is not set")
        self.secret = settings.discourse_webhook_secret.get_secret_value().encode()
        self.settings = settings
        self.categories = frozenset(settings.discourse_category_ids)
        self.api_username = (settings.discourse_api_username or "").lower()
        self._client: DiscourseClient | None = None

    @property
    def client(self) -> DiscourseClient:
        if self._client is None:
            if not self.settings.discourse_url:
                raise PermanentDeliveryError("HELPDESK_DISCOURSE_URL is not set.")
            key = self.settings.discourse_api_key.get_secret_value() if self.settings.discourse_api_key else ""
            self._client = DiscourseClient(
                self.settings.discourse_url.rstrip("/"), api_username=self.settings.discourse_api_username or "",
                api_key=key, timeout=self.settings.channel_timeout_seconds,
            )
        return self._client

    # -- intake ----------------------------------------------------------------------------------

    def parse(self, headers: Mapping[str, str], body: bytes) -> Any:
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
        expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(lowered.get("x-discourse-event-signature", "").encode(), expected.encode()):
            raise InvalidSignatureError("The forum webhook signature is missing or wrong.")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise InvalidRequestError("The body is not JSON.") from exc
        if not isinstance(payload, dict):
            raise InvalidRequestError("The body is not a JSON object.")
        event_type = lowered.get("x-discourse-event-type", "")
        event = lowered.get("x-discourse-event", "")
        if event_type == "ping" or "ping" in payload:
            return Control({"ping": "OK"})
        if event_type == "topic":
            # topic_created carries no text: the first post's post_created files the ticket.
            return Ignored(f"topic event {event or '?'}")
        if event_type != "post":
            return Ignored(f"event type {event_type or '?'}")
        post = payload.get("post")
        if not isinstance(post, dict):
            raise InvalidRequestError("A post event without a post.")
        if event not in POST_EVENTS:
            return Ignored(f"post event {event or '?'} (edits file nothing new)")
        return self.message_from_post(post)

    def message_from_post(self, post: Mapping[str, Any]) -> InboundMessage | Ignored:
        """Build the inbound message for one post (from a webhook or from the sync poll)."""
        try:
            post_id, topic_id = int(post["id"]), int(post["topic_id"])
            post_number = int(post.get("post_number") or 0)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequestError("A post without a numeric id or topic_id.") from exc
        username = str(post.get("username") or "")
        if self.api_username and username.lower() == self.api_username:
            return Ignored("our own post")
        if post.get("post_type", REGULAR_POST) != REGULAR_POST:
            return Ignored("not a regular post (whisper, moderator action, small action)")
        if post.get("deleted_at") or post.get("hidden"):
            return Ignored("deleted or hidden post")
        if post.get("topic_archetype") == "private_message":
            return Ignored("private message")
        category = post.get("category_id")
        if self.categories and (not isinstance(category, int) or category not in self.categories):
            return Ignored(f"category {category!r} is not a support category")
        text = str(post.get("raw") or "").strip() or str(post.get("cooked") or "").strip() or "(no text)"
        title = str(post.get("topic_title") or "").strip() or f"Forum topic {topic_id}"
        url = None
        if self.settings.discourse_url:
            slug = post.get("topic_slug") or "topic"
            url = f"{self.settings.discourse_url.rstrip('/')}/t/{slug}/{topic_id}/{post_number or 1}"
        external = {"topic_id": topic_id, "post_id": post_id, "post_number": post_number,
                    "topic_slug": post.get("topic_slug"), "username": username, "url": url,
                    "category_id": category if isinstance(category, int) else None}
        return InboundMessage(
            channel=self.name,
            delivery_ids=(f"post:{post_id}",),
            author=Author(external_id=str(post.get("user_id") or username), username=username or None,
                          display_name=str(post.get("name") or username) or None),
            thread=ThreadRef(self.name, str(topic_id)),
            text=text, message_id=str(post_id), starts_ticket=post_number == 1, thread_key=str(topic_id),
            subject=title, external=external,
        )

    def recent_posts(self, pages: int) -> Iterator[Mapping[str, Any]]:
        """The forum's latest posts (``/posts.json``), newest first, up to ``pages`` pages."""
        before: int | None = None
        for _ in range(pages):
            try:
                response = self.client.latest_posts(before=before) or {}
            except DiscourseError as exc:
                raise DeliveryError(f"The forum did not answer /posts.json: {exc}") from exc
            posts = response.get("latest_posts") or []
            if not posts:
                return
            yield from posts
            before = min(int(p["id"]) for p in posts)
            if before <= 1:
                return

    # -- outbound --------------------------------------------------------------------------------

    def acknowledgement(self, ticket_id: int, link: str, thread: ThreadRef) -> str:
        return (f"Thanks! Your question is ticket #{ticket_id} in the DP0 Support Desk ({link}). "
                "Someone from the support team will answer in this topic.")

    def thread_from_external(self, external: Mapping[str, Any]) -> ThreadRef:
        topic = external.get("topic_id")
        if topic is None:
            raise PermanentDeliveryError("The ticket has no forum topic to reply in.")
        return ThreadRef(self.name, str(topic))

    def reply(self, thread: ThreadRef, text: str, *, idempotency_key: str | None = None) -> str:
        raw = f"{text}\n\n{MARKER.format(key=idempotency_key)}" if idempotency_key else text
        response = self._call(self.client.create_post, raw, topic_id=int(thread.conversation))
        return str((response or {}).get("id") or "")

    def find_reply(self, thread: ThreadRef, idempotency_key: str) -> str | None:
        """Look for a post by our API user in the topic whose raw text carries the marker."""
        marker = MARKER.format(key=idempotency_key)
        response = self._call(self.client.topic_posts, thread.conversation, include_raw="true") or {}
        for post in (response.get("post_stream") or {}).get("posts") or []:
            if str(post.get("username") or "").lower() != self.api_username:
                continue
            raw = post.get("raw")
            if raw is None:
                raw = (self._call(self.client.post_by_id, post["id"]) or {}).get("raw") or ""
            if marker in raw:
                return str(post["id"])
        return None

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except DiscourseRateLimitedError as exc:
            raise RateLimitedError("Forum rate limit (429)", retry_after=_retry_after(exc.response)) from exc
        except DiscourseClientError as exc:
            status = getattr(exc.response, "status_code", None)
            if status == 429:  # pragma: no cover - pydiscourse handles 429 itself
                raise RateLimitedError("Forum rate limit (429)", retry_after=_retry_after(exc.response)) from exc
            if status in (408, 409, 425):
                raise DeliveryError(f"Forum answered {status}: {exc}") from exc
            raise PermanentDeliveryError(f"Forum refused the request ({status}): {exc}") from exc
        except PermanentDeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - 5xx, timeouts, refused connections, bad content type
            raise DeliveryError(f"Forum unreachable: {type(exc).__name__}: {exc}") from exc


@dataclass
class SyncResult:
    """What ``helpdesk discourse sync`` did."""

    filed: int = 0
    joined: int = 0
    already: int = 0
    ignored: int = 0

    def __str__(self) -> str:
        return (f"{self.filed} tickets filed, {self.joined} replies added, {self.already} already stored, "
                f"{self.ignored} ignored")


def sync_missed_posts(channel: DiscourseChannel, receive: Callable[[InboundMessage], Any], pages: int) -> SyncResult:
    """File the forum posts the webhooks missed, oldest first, each exactly once.

    Reads the latest posts (``/posts.json``, ``pages`` pages) and hands each to ``receive`` (the ticket
    service's), which skips posts already stored by the same ledger keys the webhook uses, so running
    this next to live webhooks is safe.
    """
    result = SyncResult()
    posts = {int(post["id"]): post for post in channel.recent_posts(pages) if "id" in post}
    for post_id in sorted(posts):
        try:
            inbound = channel.message_from_post(posts[post_id])
        except HelpdeskError as exc:
            log.warning("forum post %s skipped: %s", post_id, exc.message)
            result.ignored += 1
            continue
        if not isinstance(inbound, InboundMessage):
            result.ignored += 1
            continue
        try:
            received = receive(inbound)
        except HelpdeskError as exc:  # refused as stored (an id too long): the rest still go in
            log.warning("forum post %s refused: %s", post_id, exc.message)
            result.ignored += 1
            continue
        if received.duplicate:
            result.already += 1
        elif received.created:
            result.filed += 1
        elif received.message_id is not None:
            result.joined += 1
        else:
            result.ignored += 1
    return result


def _retry_after(response: Any) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    try:
        return float(response.json()["extras"]["wait_seconds"])
    except (ValueError, KeyError, TypeError):
        return None
