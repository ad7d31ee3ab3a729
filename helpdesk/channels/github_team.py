"""The GitHub team of the roster (``HELPDESK_GITHUB_TEAM``, e.g. ``rubin-dp0/delegates``), over GitHub's REST API.

DP0 access was membership of a GitHub team, so the desk can keep one in step with its roster: the worker
adds a delegate whose seat became active and removes one whose seat was released (outbox kind
``team_sync``; the domain side is :mod:`helpdesk.programs.roster_sync`). Like the channels, this never
touches the database.

``PUT /orgs/{org}/teams/{team_slug}/memberships/{username}`` (role ``member``) adds, or invites someone
not yet in the organisation; ``DELETE`` of the same path removes. Both are idempotent on GitHub's side, and a
404 on removal (not a member) counts as done. Errors map as the trackers' do: 429, or a 403 with no requests
left, waits for ``Retry-After``; other 4xx are permanent (a bad token, an unknown team); 5xx and timeouts
are retried.
"""

from __future__ import annotations

from urllib.parse import quote

import requests

from helpdesk.channels.base import DeliveryError, PermanentDeliveryError, RateLimitedError
from helpdesk.channels.trackers import _error_text, _retry_after
from helpdesk.config import Settings

USER_AGENT = "dp0-helpdesk-roster"


class GitHubTeam:
    """One GitHub team's memberships."""

    def __init__(self, settings: Settings) -> None:
        if not settings.github_team or settings.github_team_token is None:
            raise PermanentDeliveryError("Team sync needs HELPDESK_GITHUB_TEAM and HELPDESK_GITHUB_TEAM_TOKEN.")
        self.org, self.team = settings.github_team.split("/", 1)
        self.base = settings.github_api_url.rstrip("/")
        self.timeout = settings.channel_timeout_seconds
        self.http = requests.Session()
        self.http.headers.update({
            "User-Agent": USER_AGENT, "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
            "Authorization": f"Bearer {settings.github_team_token.get_secret_value()}",
        })

    def _url(self, login: str) -> str:
        return (f"{self.base}/orgs/{quote(self.org, safe='')}/teams/{quote(self.team, safe='')}"
                f"/memberships/{quote(login, safe='')}")

    def add(self, login: str) -> str:
        """Make ``login`` a member (GitHub invites them to the organisation first if need be); their state."""
        response = self._request("PUT", self._url(login), json={"role": "member"})
        try:
            return str(response.json().get("state") or "active")
        except ValueError:
            return "active"

    def remove(self, login: str) -> str:
        """Take ``login`` off the team; "removed", or "absent" when they were not on it."""
        response = self._request("DELETE", self._url(login), allow_404=True)
        return "absent" if response.status_code == 404 else "removed"

    def _request(self, method: str, url: str, *, allow_404: bool = False, **kwargs: object) -> requests.Response:
        try:
            response = self.http.request(method, url, timeout=self.timeout, **kwargs)  # type: ignore[arg-type]
        except requests.RequestException as exc:
            raise DeliveryError(f"GitHub unreachable: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status < 400 or (allow_404 and status == 404):
            return response
        detail = _error_text(response)
        if status == 429 or (status == 403 and response.headers.get("X-RateLimit-Remaining") == "0"):
            raise RateLimitedError(f"GitHub rate limit ({status}): {detail}", retry_after=_retry_after(response))
        if status >= 500:
            raise DeliveryError(f"GitHub answered {status}: {detail}")
        raise PermanentDeliveryError(f"GitHub refused the team change ({status}): {detail}")
