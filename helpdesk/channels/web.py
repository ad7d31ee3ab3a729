"""The web form and the JSON API: tickets filed there are answered there, so nothing is posted out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from helpdesk.channels.base import Channel, ThreadRef, UnknownChannelError


class WebChannel(Channel):
    """Web and API tickets: the requester reads replies on the helpdesk itself."""

    name: ClassVar[str] = "web"

    def parse(self, headers: Mapping[str, str], body: bytes) -> Any:
        raise UnknownChannelError("The web channel has no webhook; file tickets through the form or the API.")

    def reply(self, thread: ThreadRef, text: str, *, idempotency_key: str | None = None) -> str:
        return ""

    def thread_from_external(self, external: Mapping[str, Any]) -> ThreadRef:
        return ThreadRef(self.name, "web")
