"""A local stand-in for GitHub's OAuth token endpoint and REST API, speaking their real wire format."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlencode

from tests.support.local_http import JsonHandler, serving


class FakeGitHub:
    """What the fake answers; change ``login``, ``user_id`` or ``email`` between sign-ins to play a rename
    or another account."""

    def __init__(self, login: str, email: str | None, user_id: int = 583231) -> None:
        self.login = login
        self.email = email
        self.user_id = user_id
        self.requests: list[tuple[str, str, dict[str, str], str]] = []
        self.url = ""


@contextmanager
def fake_github(
    login: str = "Octo-Cat", email: str | None = "octo@example.org", user_id: int = 583231,
) -> Iterator[FakeGitHub]:
    state = FakeGitHub(login, email, user_id)

    class Handler(JsonHandler):
        content_type = "application/json; charset=utf-8"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            state.requests.append(("POST", self.path, dict(self.headers), raw))
            form = parse_qs(raw)
            if self.path == "/login/oauth/access_token" and form.get("code") == ["good-code"]:
                self._send(200, {"access_token": "gho_test", "token_type": "bearer", "scope": "read:user,user:email"})
            else:
                self._send(200, {"error": "bad_verification_code",
                                 "error_description": "The code passed is incorrect or expired."})

        def do_GET(self) -> None:
            state.requests.append(("GET", self.path, dict(self.headers), ""))
            if self.path.startswith("/login/oauth/authorize?"):
                # The authorization page, as for someone already signed in to GitHub who approved the app.
                query = parse_qs(self.path.split("?", 1)[1])
                back = f"{query['redirect_uri'][0]}?{urlencode({'code': 'good-code', 'state': query['state'][0]})}"
                self.send_response(302)
                self.send_header("Location", back)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.headers.get("Authorization") != "Bearer gho_test":
                self._send(401, {"message": "Requires authentication"})
            elif self.path == "/user":
                self._send(200, {"login": state.login, "id": state.user_id, "name": "Octo Cat"})
            elif self.path == "/user/emails":
                emails = [{"email": state.email, "primary": True, "verified": True}] if state.email else []
                self._send(200, emails + [{"email": "other@example.org", "primary": False, "verified": True}])
            else:
                self._send(404, {"message": "Not Found"})

    with serving(Handler) as url:
        state.url = url
        yield state
