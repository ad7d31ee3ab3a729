"""GitHub's REST API for one organisation's team memberships, as the roster sync calls it."""

from __future__ import annotations

from typing import Any

from tests.support.fakes import FakeServer, Recorded

TEAM_TOKEN = "ghp_team_sync_test"  # noqa: S105 - a test fixture's token
ORG, TEAM = "rubin-dp0", "delegates"


class FakeGitHubTeam(FakeServer):
    """``PUT`` and ``DELETE /orgs/{org}/teams/{team}/memberships/{username}``; ``members`` is the team."""

    def __init__(self) -> None:
        super().__init__()
        self.members: set[str] = set()

    def endpoint(self, path: str) -> str:
        prefix = f"/orgs/{ORG}/teams/{TEAM}/memberships/"
        return "membership" if path.startswith(prefix) else path

    def changes(self) -> list[tuple[str, str]]:
        return [(r.method, r.path.rsplit("/", 1)[1]) for r in self.calls("membership")]

    def handle(self, record: Recorded) -> tuple[int, Any]:
        if record.headers.get("Authorization") != f"Bearer {TEAM_TOKEN}":
            return 401, {"message": "Bad credentials", "status": "401"}
        if self.endpoint(record.path) != "membership":
            return 404, {"message": "Not Found", "status": "404"}
        login = record.path.rsplit("/", 1)[1]
        with self.lock:
            if record.method == "PUT":
                self.members.add(login.lower())
                return 200, {"url": f"{self.url}{record.path}", "role": (record.json or {}).get("role", "member"),
                             "state": "active"}
            if record.method == "DELETE":
                if login.lower() not in self.members:
                    return 404, {"message": "Not Found", "status": "404"}
                self.members.discard(login.lower())
                return 204, b""
        return 405, {"message": "Method Not Allowed"}
