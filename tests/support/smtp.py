"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it was sent, for the email-notification tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Mailbox:
    """The handler: accepts mail (or refuses recipients with ``refuse``, e.g. ``"550 no such user"``)."""

    messages: list[EmailMessage] = field(default_factory=list)
    #: For each message, whether its sender had logged in.
    authenticated: list[bool] = field(default_factory=list)
    refuse: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802 - aiosmtpd's name
                          rcpt_options: list[str]) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.authenticated.append(bool(session.authenticated))
        return "250 Message accepted for delivery"


class SmtpServer:
    """With ``login``, the server offers AUTH (PLAIN, over plain text: loopback only) and accepts only
    that login and password."""

    def __init__(self, login: tuple[str, str] | None = None) -> None:
        self.mailbox = Mailbox()
        self.port = _free_port()
        options: dict[str, Any] = {}
        if login is not None:
            def authenticate(_server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any) -> AuthResult:
                given = (data.login.decode(), data.password.decode()) if isinstance(data, LoginPassword) else None
                return AuthResult(success=given == login)

            # AUTH offered over plain text (loopback, a throwaway password); ``authenticated`` records who logged in.
            options = {"authenticator": authenticate, "auth_require_tls": False, "auth_exclude_mechanism": ["LOGIN"]}
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **options)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop serving (a test may stop it early to see the worker retry; the fixture's stop is then a no-op)."""
        if self.controller.server is not None:
            self.controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        with self.mailbox.lock:
            return list(self.mailbox.messages)

    def settings(self) -> dict[str, object]:
        return {"smtp_host": "127.0.0.1", "smtp_port": self.port, "smtp_starttls": False,
                "smtp_from": "DP0 Support <support@help.test>", "public_url": "https://help.test"}


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A running server for one test (import this fixture by name into a conftest or test module)."""
    server = SmtpServer().start()
    yield server
    server.stop()
