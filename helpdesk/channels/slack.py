"""Slack: Events API, the /dp0-help slash command, the "File a support ticket" shortcut, threaded replies.

Every request is verified with slack-sdk's :class:`~slack_sdk.signature.SignatureVerifier` on the raw
body (v0 signature, five-minute window; https://api.slack.com/authentication/verifying-requests-from-slack).
Only ``ssl_check`` pings are answered before verification, as Bolt does.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qs

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from helpdesk.channels.base import (
    Acknowledgement,
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

log = logging.getLogger("helpdesk.channels.slack")

#: Message subtypes that are new messages; edits, deletions, joins and the rest are not.
#: Since 2021 most bot messages carry only ``bot_id``, so that is checked separately.
NEW_MESSAGE_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})
#: The shortcut's and the modal's callback id (also in the app manifest).
FILE_TICKET_CALLBACK = "file_ticket"
#: ``action_id`` of the acknowledgement's "This answered my question" button; its value is the ticket's token.
SELF_SERVED_ACTION = "self_served"
#: ``metadata.event_type`` of every message the helpdesk posts; its payload names the outbox item.
METADATA_EVENT_TYPE = "helpdesk_reply"
#: Slack API errors retrying cannot fix.
PERMANENT_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed", "account_inactive",
    "token_revoked", "no_permission", "missing_scope", "msg_too_long", "no_text", "thread_not_found",
    "invalid_arguments", "restricted_action", "cannot_dm_bot", "user_not_found",
})
SUBJECT_MAX = 80
#: views.open runs inside the request, which Slack abandons after three seconds.
MODAL_TIMEOUT_SECONDS = 2
LEADING_MENTIONS = re.compile(r"^(?:\s*<@[A-Z0-9]+(?:\|[^>]*)?>)+[\s:,]*")


class InvalidRequestError(HelpdeskError):
    status_code = 400
    code = "invalid_request"


@dataclass(frozen=True)
class CommandRequest:
    """A slash command with text: file ``message``, then answer privately."""

    message: InboundMessage
    command: str


@dataclass(frozen=True)
class SelfServedRequest:
    """A click on "This answered my question" (a ``block_actions`` interaction) by Slack user ``user``.

    ``token`` is the button's value (the ticket's signed token); ``response_url`` is where Slack takes the
    private answer to the person who clicked.
    """

    token: str
    user: str
    response_url: str | None


@dataclass(frozen=True)
class ModalRequest:
    """Open ``view`` with ``trigger_id`` (which Slack honours for three seconds only)."""

    trigger_id: str
    view: Mapping[str, Any]


def subject_from(text: str) -> str:
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(first_line) > SUBJECT_MAX:
        first_line = first_line[: SUBJECT_MAX - 1].rstrip() + "…"
    return first_line or "Question from Slack"


def strip_mentions(text: str) -> str:
    return LEADING_MENTIONS.sub("", text or "").strip()


#: Slack escapes these three in a message's text (its "Formatting text" guide): a pasted ``x > 1`` or ``>>>``
#: prompt arrives as ``&gt;``. The ticket keeps what the person typed; ``&amp;`` is undone last.
SLACK_ESCAPES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def message_text(text: str) -> str:
    """A message's text as the person typed it: leading mentions removed and Slack's escapes undone."""
    text = strip_mentions(text)
    for escaped, plain in SLACK_ESCAPES:
        text = text.replace(escaped, plain)
    return text


def permalink(team_domain: str | None, channel: str, ts: str, thread_ts: str | None = None) -> str | None:
    """The message's web link, built the way Slack builds it (no API call needed)."""
    if not team_domain:
        return None
    link = f"https://{team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts:
        link += f"?thread_ts={thread_ts}&cid={channel}"
    return link


class SlackChannel(Channel):
    """Slack through its Events API, a slash command, a message shortcut, and chat.postMessage."""

    name: ClassVar[str] = "slack"

    def __init__(self, settings: Settings, *, clock: Any = None) -> None:
        if settings.slack_signing_secret is None:
            raise ValueError("HELPDESK_SLACK_SIGNING_SECRET is not set")
        secret = settings.slack_signing_secret.get_secret_value()
        self.verifier = SignatureVerifier(secret, clock) if clock is not None else SignatureVerifier(secret)
        self.settings = settings
        self.support_channels = frozenset(settings.slack_channel_ids)
        #: Events carry only a user id: the worker asks users.info for the name and verified email.
        self.looks_up_profiles = bool(settings.slack_profile_lookup and settings.slack_bot_token)
        self._client: WebClient | None = None

    @property
    def client(self) -> WebClient:
        """The Web API client, made on first use (intake never needs it)."""
        if self._client is None:
            token = self.settings.slack_bot_token.get_secret_value() if self.settings.slack_bot_token else None
            self._client = WebClient(
                token=token, base_url=self.settings.slack_api_url, timeout=int(self.settings.channel_timeout_seconds)
            )
        return self._client

    # -- intake ----------------------------------------------------------------------------------

    def parse(self, headers: Mapping[str, str], body: bytes) -> Any:
        headers = _lower(headers)  # once: the form check and the signature both read them
        form = _form(body, headers)
        if form is not None and form.get("ssl_check") == "1":
            return Control()
        self._verify(headers, body)
        if form is None:
            return self._parse_event(_json_object(body))
        if "command" in form:
            return self._parse_command(form)
        if "payload" in form:
            try:
                payload = json.loads(form["payload"])
            except ValueError as exc:
                raise InvalidRequestError("The interaction payload is not JSON.") from exc
            if not isinstance(payload, dict):
                raise InvalidRequestError("The interaction payload is not a JSON object.")
            return self._parse_interaction(payload)
        raise InvalidRequestError("Neither a command nor an interaction payload.")

    def _verify(self, headers: Mapping[str, str], body: bytes) -> None:
        try:
            valid = self.verifier.is_valid_request(body, headers)  # lower-cased names (parse)
        except (ValueError, TypeError):  # a non-numeric timestamp makes the SDK raise
            valid = False
        if not valid:
            raise InvalidSignatureError("The Slack request signature is missing, wrong or too old.")

    def _parse_event(self, payload: dict[str, Any]) -> Any:
        kind = payload.get("type")
        if kind == "url_verification":
            challenge = payload.get("challenge")
            if not isinstance(challenge, str):
                raise InvalidRequestError("url_verification without a challenge.")
            return Control({"challenge": challenge})
        if kind != "event_callback":
            return Ignored(f"envelope type {kind!r}")
        event, event_id = payload.get("event"), payload.get("event_id")
        if not isinstance(event, dict) or not isinstance(event_id, str):
            raise InvalidRequestError("event_callback without an event or event_id.")
        subtype = event.get("subtype")
        if event.get("bot_id") or not (subtype is None or isinstance(subtype, str)) \
                or subtype not in NEW_MESSAGE_SUBTYPES:
            return Ignored("bot message, edit or other subtype")
        event_type = event.get("type")
        channel, ts, user = event.get("channel"), event.get("ts"), event.get("user")
        if not (isinstance(channel, str) and isinstance(ts, str) and isinstance(user, str)):
            return Ignored("event without channel, ts or user")
        thread_ts = event.get("thread_ts") if isinstance(event.get("thread_ts"), str) else None
        in_thread = thread_ts is not None and thread_ts != ts
        if event_type == "app_mention":
            starts = True
        elif event_type == "message":
            if event.get("channel_type") == "im" or channel in self.support_channels:
                starts = not in_thread
            elif in_thread:
                starts = False  # may be a reply in the thread of a ticket filed by a mention
            else:
                return Ignored("message outside the support channels")
        else:
            return Ignored(f"event type {event_type!r}")
        root = thread_ts or ts
        text = message_text(_text(event.get("text"))) or "(no text)"
        external = {"channel": channel, "thread_ts": root, "ts": ts, "user": user,
                    "team": event.get("team") or payload.get("team_id")}
        return InboundMessage(
            channel=self.name,
            delivery_ids=(f"msg:{channel}:{ts}", f"event:{event_id}"),
            author=Author(external_id=user),
            thread=ThreadRef(self.name, channel, root),
            text=text, message_id=ts, starts_ticket=starts, thread_key=f"{channel}:{root}",
            opens_thread=root == ts, subject=subject_from(text), external=external,
            lookup_profile=self.looks_up_profiles,
        )

    def _parse_command(self, form: dict[str, str]) -> Any:
        user, trigger_id = form.get("user_id"), form.get("trigger_id")
        if not user or not trigger_id:
            raise InvalidRequestError("A slash command without user_id or trigger_id.")
        text = message_text(form.get("text") or "")
        if not text:
            meta = {"origin": "command", "channel": form.get("channel_id"), "user": user}
            return ModalRequest(trigger_id, ticket_modal(meta))
        external = {"channel": user, "user": user, "origin": "command", "from_channel": form.get("channel_id"),
                    "team": form.get("team_id")}
        message = InboundMessage(
            channel=self.name, delivery_ids=(f"command:{trigger_id}",),
            author=Author(external_id=user, username=form.get("user_name")),
            thread=ThreadRef(self.name, user, None), text=text, message_id=trigger_id,
            subject=subject_from(text), external=external, lookup_profile=self.looks_up_profiles,
        )
        return CommandRequest(message, form.get("command") or "/dp0-help")

    def _parse_interaction(self, payload: dict[str, Any]) -> Any:
        kind = payload.get("type")
        user = _dict(payload.get("user")).get("id")
        user = user if isinstance(user, str) else None
        if kind == "message_action" and payload.get("callback_id") == FILE_TICKET_CALLBACK:
            message = _dict(payload.get("message"))
            channel = _dict(payload.get("channel")).get("id")
            trigger_id, ts = payload.get("trigger_id"), message.get("ts") or payload.get("message_ts")
            if not all(isinstance(v, str) and v for v in (trigger_id, channel, ts)):
                raise InvalidRequestError("A message shortcut without trigger_id, channel or message.")
            meta = {
                "origin": "shortcut", "channel": channel, "ts": ts, "thread_ts": message.get("thread_ts") or ts,
                "user": message.get("user") or user, "filed_by": user,
                "team_domain": _dict(payload.get("team")).get("domain"),
            }
            return ModalRequest(trigger_id, ticket_modal(meta, text=message_text(_text(message.get("text")))))
        if kind == "block_actions":
            return self._block_action(payload, user)
        if kind == "view_submission":
            view = _dict(payload.get("view"))
            if view.get("callback_id") != FILE_TICKET_CALLBACK:
                return Ignored(f"view {view.get('callback_id')!r}")
            return self._submission(view, user)
        return Ignored(f"interaction {kind!r}")

    def _block_action(self, payload: dict[str, Any], user: str | None) -> Any:
        actions = payload.get("actions")
        action = next((a for a in actions if isinstance(a, dict) and a.get("action_id") == SELF_SERVED_ACTION),
                      None) if isinstance(actions, list) else None
        if action is None:
            return Ignored("block action of another button")
        token, response_url = action.get("value"), payload.get("response_url")
        if not isinstance(token, str) or not token or not user:
            raise InvalidRequestError("A button click without its value or user.")
        return SelfServedRequest(token, user, response_url if isinstance(response_url, str) else None)

    def _submission(self, view: dict[str, Any], user: str | None) -> InboundMessage:
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            values = view["state"]["values"]
            subject = (values["subject"]["subject"].get("value") or "").strip()
            text = (values["body"]["body"].get("value") or "").strip()
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidRequestError("The form submission is missing its fields.") from exc
        if not isinstance(meta, dict) or not user or not view.get("id"):
            raise InvalidRequestError("The form submission has no user or view id.")
        text = text or subject
        if meta.get("origin") == "shortcut" and meta.get("channel") and meta.get("ts"):
            channel, root = meta["channel"], meta.get("thread_ts") or meta["ts"]
            link = permalink(meta.get("team_domain"), channel, meta["ts"], root)
            if link:
                text = f"{text}\n\n[The message in Slack]({link})"
            requester = meta.get("user") or user
            external = {"channel": channel, "thread_ts": root, "ts": meta["ts"], "user": requester,
                        "filed_by": user, "permalink": link, "origin": "shortcut"}
            return InboundMessage(
                channel=self.name, delivery_ids=(f"view:{view['id']}",), author=Author(external_id=requester),
                thread=ThreadRef(self.name, channel, root), text=text or "(no text)", message_id=meta["ts"],
                thread_key=f"{channel}:{root}", subject=subject or subject_from(text), external=external,
                lookup_profile=self.looks_up_profiles,
            )
        external = {"channel": user, "user": user, "origin": "modal", "from_channel": meta.get("channel")}
        return InboundMessage(
            channel=self.name, delivery_ids=(f"view:{view['id']}",), author=Author(external_id=user),
            thread=ThreadRef(self.name, user, None), text=text or "(no text)", message_id=view["id"],
            subject=subject or subject_from(text), external=external, lookup_profile=self.looks_up_profiles,
        )

    # -- outbound --------------------------------------------------------------------------------

    def open_modal(self, trigger_id: str, view: Mapping[str, Any]) -> None:
        """Open the ticket form (views.open); must happen within three seconds of the request."""
        # A client of its own with a short timeout: Slack gives the whole request three seconds.
        token = self.settings.slack_bot_token.get_secret_value() if self.settings.slack_bot_token else None
        client = WebClient(token=token, base_url=self.settings.slack_api_url, timeout=MODAL_TIMEOUT_SECONDS)
        try:
            client.views_open(trigger_id=trigger_id, view=dict(view))
        except Exception as exc:  # noqa: BLE001 - reported to the person, never a 500
            raise DeliveryError(f"views.open failed: {exc}") from exc

    def profile(self, external_id: str) -> Author | None:
        """users.info: the display name and the email (Slack confirms emails, so it counts as verified)."""
        user = (self._call(self.client.users_info, user=external_id).get("user") or {})
        if not user or user.get("is_bot"):
            return None
        profile = user.get("profile") or {}
        email = profile.get("email") or None
        return Author(
            external_id=external_id, username=user.get("name"),
            display_name=profile.get("real_name") or profile.get("display_name") or user.get("real_name"),
            email=email, email_verified=bool(email),
        )

    def acknowledgement(self, ticket_id: int, link: str, thread: ThreadRef) -> str:
        where = "in this thread" if thread.thread else "here"
        return (f"Thanks! Your question is ticket #{ticket_id} in the DP0 Support Desk ({link}). "
                f"Someone from the support team will answer {where}.")

    def acknowledgement_text(self, ack: Acknowledgement, thread: ThreadRef) -> str:
        """The acknowledgement in mrkdwn: the articles as ``<url|title>`` links (also the notification's text)."""
        text = self.acknowledgement(ack.ticket_id, ack.link, thread)
        if not ack.articles:
            return text
        links = "\n".join(f"• {mrkdwn_link(title, url)}" for title, url in ack.articles)
        return f"{text}\n\nWhile you wait, these articles may answer your question:\n{links}"

    def post_acknowledgement(self, thread: ThreadRef, ack: Acknowledgement, *, idempotency_key: str | None = None
                             ) -> str:
        """The acknowledgement with its articles and, under them, the "This answered my question" button."""
        text = self.acknowledgement_text(ack, thread)
        if not ack.articles or not ack.token:
            return self.reply(thread, text, idempotency_key=idempotency_key)
        blocks = [
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
            {"type": "actions", "block_id": SELF_SERVED_ACTION, "elements": [{
                "type": "button", "action_id": SELF_SERVED_ACTION, "style": "primary", "value": ack.token,
                "text": {"type": "plain_text", "text": "This answered my question"},
            }]},
        ]
        return self.reply(thread, text, idempotency_key=idempotency_key, blocks=blocks)

    def answer_click(self, response_url: str | None, text: str) -> None:
        """Tell the person who clicked, privately, what their click did (within the request's three seconds).

        Only Slack's own response URLs (or the configured API's host, in tests) are called.
        """
        if not response_url or not _is_slack_url(response_url, self.settings.slack_api_url):
            return
        try:
            WebhookClient(response_url, timeout=MODAL_TIMEOUT_SECONDS).send(
                text=text, response_type="ephemeral", replace_original=False)
        except Exception as exc:  # noqa: BLE001 - the click itself was recorded; the note is a courtesy
            log.warning("could not answer the button click: %s", exc)

    def thread_from_external(self, external: Mapping[str, Any]) -> ThreadRef:
        channel = external.get("channel")
        if not channel:
            raise PermanentDeliveryError("The ticket has no Slack channel to reply in.")
        return ThreadRef(self.name, str(channel), external.get("thread_ts"))

    def reply(self, thread: ThreadRef, text: str, *, idempotency_key: str | None = None,
              blocks: list[dict[str, Any]] | None = None) -> str:
        kwargs: dict[str, Any] = {"channel": thread.conversation, "text": text}
        if blocks:
            kwargs["blocks"] = blocks
        if thread.thread:
            kwargs["thread_ts"] = thread.thread
        if idempotency_key:
            kwargs["metadata"] = {"event_type": METADATA_EVENT_TYPE, "event_payload": {"key": idempotency_key}}
        response = self._call(self.client.chat_postMessage, **kwargs)
        ts = str(response.get("ts") or "")
        if not thread.thread and ts:
            # A message to a person (no thread yet) lands in a direct message whose id only the answer
            # tells: "D…:ts" lets the ticket adopt the new thread (see thread_started_by).
            return f"{response.get('channel') or thread.conversation}:{ts}"
        return ts

    def thread_started_by(self, remote_id: str) -> dict[str, str] | None:
        channel, _, ts = remote_id.partition(":")
        return {"channel": channel, "thread_ts": ts} if channel and ts else None

    def find_reply(self, thread: ThreadRef, idempotency_key: str) -> str | None:
        """Look for our earlier message in the thread (or the DM) by its metadata."""
        if thread.thread:
            response = self._call(self.client.conversations_replies, channel=thread.conversation,
                                  ts=thread.thread, include_all_metadata=True, limit=200)
        else:
            response = self._call(self.client.conversations_history, channel=thread.conversation,
                                  include_all_metadata=True, limit=100)
        for message in response.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (metadata.get("event_type") == METADATA_EVENT_TYPE
                    and (metadata.get("event_payload") or {}).get("key") == idempotency_key):
                return str(message.get("ts"))
        return None

    def _call(self, method: Any, **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except SlackApiError as exc:
            status = getattr(exc.response, "status_code", None)
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            if status == 429 or error == "ratelimited":
                retry_after = _seconds(exc.response.headers.get("Retry-After") or exc.response.headers.get(
                    "retry-after"))
                raise RateLimitedError(f"Slack rate limit (429); Retry-After {retry_after}",
                                       retry_after=retry_after) from exc
            if error in PERMANENT_ERRORS:
                raise PermanentDeliveryError(f"Slack refused: {error}") from exc
            raise DeliveryError(f"Slack API error: HTTP {status} {error or ''}".strip()) from exc
        except Exception as exc:  # noqa: BLE001 - timeouts, refused connections, garbled answers
            raise DeliveryError(f"Slack unreachable: {type(exc).__name__}: {exc}") from exc


def command_answer(ticket_id: int, subject: str, link: str, suggestions: list[dict[str, str]]) -> str:
    """The private answer to ``/dp0-help <question>``: the ticket's number and knowledge-base matches."""
    lines = [f"Filed ticket #{ticket_id}: {subject} ({link}). The support team will answer you in a direct message."]
    if suggestions:
        lines.append("Meanwhile, these knowledge-base articles may help:")
        lines.extend(f"• {mrkdwn_link(s['title'], s['url'])}" for s in suggestions)
    return "\n".join(lines)


def mrkdwn_escape(text: str) -> str:
    """Slack's three control characters, escaped as Slack asks (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn_link(title: str, url: str) -> str:
    """``<url|title>``, both escaped; a ``|`` in the URL would end it early, so it is percent-encoded."""
    label = mrkdwn_escape(" ".join(title.split())) or mrkdwn_escape(url)
    return f"<{mrkdwn_escape(url.replace('|', '%7C'))}|{label}>"


def _is_slack_url(url: str, api_url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts, api = urlsplit(url), urlsplit(api_url)
    except ValueError:
        return False
    if parts.scheme == "https" and parts.netloc == "hooks.slack.com":
        return True
    return bool(parts.netloc) and (parts.scheme, parts.netloc) == (api.scheme, api.netloc)


def ticket_modal(meta: Mapping[str, Any], *, text: str = "") -> dict[str, Any]:
    """The "File a support ticket" modal; ``meta`` travels in private_metadata to the submission."""
    body_input: dict[str, Any] = {"type": "plain_text_input", "action_id": "body", "multiline": True}
    if text:
        body_input["initial_value"] = text[:3000]
    return {
        "type": "modal",
        "callback_id": FILE_TICKET_CALLBACK,
        "title": {"type": "plain_text", "text": "DP0 support ticket"},
        "submit": {"type": "plain_text", "text": "File ticket"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps(dict(meta), separators=(",", ":")),
        "blocks": [
            {"type": "input", "block_id": "subject", "label": {"type": "plain_text", "text": "Subject"},
             "element": {"type": "plain_text_input", "action_id": "subject", "max_length": 200,
                         **({"initial_value": subject_from(text)} if text else {})}},
            {"type": "input", "block_id": "body", "label": {"type": "plain_text", "text": "Your question"},
             "element": body_input},
        ],
    }


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items()}


def _form(body: bytes, headers: Mapping[str, str]) -> dict[str, str] | None:
    """The form fields of a form-encoded body; None for a JSON body (the Events API)."""
    content_type = headers.get("content-type", "")  # lower-cased names (parse)
    if "application/x-www-form-urlencoded" not in content_type:
        return None
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        return {}
    return {key: values[0] for key, values in fields.items()}


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise InvalidRequestError("The body is not JSON.") from exc
    if not isinstance(payload, dict):
        raise InvalidRequestError("The body is not a JSON object.")
    return payload


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
