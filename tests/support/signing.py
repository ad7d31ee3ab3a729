"""Sign test requests the way Slack (v0) and Discourse (X-Discourse-Event-Signature) sign theirs."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

SLACK_SECRET = "slack-test-signing-secret-0123"
DISCOURSE_SECRET = "helpdesk-test-secret-0123"  # the secret the recorded payloads were signed with


def _bytes(body: bytes | str | dict[str, Any]) -> bytes:
    if isinstance(body, dict):
        return json.dumps(body, separators=(",", ":")).encode()
    return body.encode() if isinstance(body, str) else body


def slack_signature(secret: str, timestamp: int | str, body: bytes) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_slack_request(
    body: bytes | str | dict[str, Any], *, secret: str = SLACK_SECRET, timestamp: int | str | None = None,
    form: bool = False, retry_num: int | None = None,
) -> tuple[dict[str, str], bytes]:
    """Headers and raw body of a signed Slack request; a dict body is JSON unless ``form`` (then urlencoded)."""
    raw = urlencode(body).encode() if isinstance(body, dict) and form else _bytes(body)
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/x-www-form-urlencoded" if form else "application/json",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": slack_signature(secret, ts, raw),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers, raw


def slack_interaction(payload: dict[str, Any], **kwargs: Any) -> tuple[dict[str, str], bytes]:
    """An interactivity request: one form field ``payload`` holding the JSON."""
    return signed_slack_request({"payload": json.dumps(payload)}, form=True, **kwargs)


def signed_discourse_request(
    body: bytes | str | dict[str, Any], *, secret: str = DISCOURSE_SECRET, event_type: str = "post",
    event: str = "post_created", event_id: int = 1,
) -> tuple[dict[str, str], bytes]:
    """Headers and raw body of a Discourse webhook delivery, as ``emit_web_hook_event`` sends them."""
    raw = _bytes(body)
    return {
        "Content-Type": "application/json",
        "User-Agent": "Discourse/3.2.0",
        "X-Discourse-Instance": "http://forum.test",
        "X-Discourse-Event-Id": str(event_id),
        "X-Discourse-Event-Type": event_type,
        "X-Discourse-Event": event,
        "X-Discourse-Event-Signature": "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest(),
    }, raw
