"""Engineering trackers: file a confirmed bug as a Jira or GitHub issue, find it again, read its state.

The transport side of escalation (:mod:`helpdesk.tickets.escalation` is the domain side). Like the channels,
trackers never touch the database. Every issue carries a *marker* (``helpdesk-escalation-<id>``) twice: as a
label, and as a line of text in its description. Before retrying a delivery that may have reached the tracker
(the worker crashed, or the answer was lost), the worker asks :meth:`Tracker.find` for the marker, so one
escalation never makes two issues.

Errors map onto the outbox's: :class:`RateLimitedError` (429, or GitHub's 403 with no requests left) waits for
the tracker's ``Retry-After``; :class:`PermanentDeliveryError` (a bad token, an unknown project or repository,
a refused field) makes the delivery dead at once, since retrying cannot help; anything else (5xx, timeouts,
refused connections) is a :class:`DeliveryError` to retry with backoff.

Jira: ``POST /rest/api/2/issue`` (v2 takes a plain-text description on Cloud and on Server/Data Center alike),
``GET /rest/api/2/issue/<key>``, and the JQL search ``/rest/api/2/search/jql`` (Jira Cloud, which removed the
older ``/rest/api/2/search``), falling back to ``/rest/api/2/search`` where the new one is missing (Server/DC).
GitHub: ``POST /repos/<owner>/<name>/issues``, ``GET …/issues/<number>``, ``GET …/issues?labels=<marker>``
(read from the database, so an issue just created is listed at once) and, when a token without push access had
its labels dropped, the search API on the marker line.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from helpdesk.channels.base import DeliveryError, PermanentDeliveryError, RateLimitedError, UnknownChannelError
from helpdesk.config import Settings
from helpdesk.tickets.escalation import IssueDraft, RemoteIssue
from helpdesk.tickets.models import EscalationState

__all__ = ["GitHubTracker", "JiraTracker", "Tracker", "TrackerError", "build_tracker"]

#: Longest issue title both trackers take without complaint (Jira's summary limit is 255).
TITLE_MAX = 250
#: Longest description sent: Jira Cloud refuses more than 32 767 characters in a text field.
DESCRIPTION_MAX = 30_000
USER_AGENT = "dp0-helpdesk-escalation"


class TrackerError(PermanentDeliveryError):
    """The tracker refused the request for good (bad credentials, unknown project, a field it will not take)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Tracker(ABC):
    """An engineering issue tracker, spoken to over its REST API with one :class:`requests.Session`."""

    name: ClassVar[str]
    #: What people call it, in messages to the requester and on the ticket page.
    label: ClassVar[str]

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers["User-Agent"] = USER_AGENT

    @abstractmethod
    def create(self, draft: IssueDraft) -> RemoteIssue:
        """File ``draft``; the issue it made. Raises RateLimitedError, DeliveryError or PermanentDeliveryError."""

    @abstractmethod
    def find(self, marker: str) -> RemoteIssue | None:
        """The issue an earlier attempt filed with ``marker``, if the tracker has one."""

    @abstractmethod
    def fetch(self, key: str) -> RemoteIssue:
        """The issue ``key`` as it is now (its state, for ``helpdesk escalations sync``)."""

    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.http.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise DeliveryError(f"{self.label} unreachable: {type(exc).__name__}: {exc}") from exc
        self._raise_for(response)
        return response

    def _raise_for(self, response: requests.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        detail = _error_text(response)
        if status == 429:
            raise RateLimitedError(f"{self.label} rate limit (429): {detail}", retry_after=_retry_after(response))
        if status >= 500 or status in (408, 409, 425):
            raise DeliveryError(f"{self.label} answered {status}: {detail}")
        raise TrackerError(f"{self.label} refused the request ({status}): {detail}", status=status)

    @staticmethod
    def _json(response: requests.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:  # a proxy's HTML error page, a truncated answer
            raise DeliveryError(f"{what}: the answer is not JSON") from exc


class JiraTracker(Tracker):
    name = "jira"
    label = "Jira"

    def __init__(self, base_url: str, project: str, token: str, *, user: str | None = None,
                 issue_type: str = "Bug", timeout: float = 10.0) -> None:
        super().__init__(timeout)
        self.base = base_url.rstrip("/")
        self.project = project
        self.issue_type = issue_type
        if user:
            self.http.auth = (user, token)  # Jira Cloud: the account's email and an API token
        else:
            self.http.headers["Authorization"] = f"Bearer {token}"  # Server/Data Center personal access token
        self.http.headers["Accept"] = "application/json"
        #: False once the site answered 404 to the Cloud search (a Server/DC site): use the older one from then on.
        self._new_search: bool = True

    def create(self, draft: IssueDraft) -> RemoteIssue:
        description = _bounded(draft.description, DESCRIPTION_MAX) + f"\n\n{draft.marker}"
        fields = {
            "project": {"key": self.project},
            "issuetype": {"name": self.issue_type},
            "summary": _bounded(_one_line(draft.title), TITLE_MAX),
            "description": description,
            # Jira labels take no spaces; ours never have any.
            "labels": sorted({*draft.labels, draft.marker}),
        }
        answer = self._json(self._request("POST", f"{self.base}/rest/api/2/issue", json={"fields": fields}),
                            "Jira issue create")
        key = str(answer.get("key") or "") if isinstance(answer, dict) else ""
        if not key:
            raise DeliveryError("Jira created an issue but did not say its key")
        # A new issue is in its workflow's first status; read it, but a failed read must not fail the delivery.
        try:
            return self.fetch(key)
        except DeliveryError:
            return RemoteIssue(key, self.browse_url(key), EscalationState.OPEN, "")

    def find(self, marker: str) -> RemoteIssue | None:
        params = {"jql": f'labels = "{marker}" ORDER BY created ASC', "fields": "status,resolution",
                  "maxResults": "1"}
        response = None
        if self._new_search:
            try:
                response = self._request("GET", f"{self.base}/rest/api/2/search/jql", params=params)
            except TrackerError as exc:
                if exc.status != 404:
                    raise
                self._new_search = False
        if response is None:
            response = self._request("GET", f"{self.base}/rest/api/2/search", params=params)
        issues = (self._json(response, "Jira search") or {}).get("issues") or []
        return self._issue(issues[0]) if issues else None

    def fetch(self, key: str) -> RemoteIssue:
        response = self._request("GET", f"{self.base}/rest/api/2/issue/{quote(key, safe='')}",
                                 params={"fields": "status,resolution"})
        return self._issue(self._json(response, "Jira issue"))

    def browse_url(self, key: str) -> str:
        return f"{self.base}/browse/{key}"

    def _issue(self, data: Any) -> RemoteIssue:
        if not isinstance(data, dict) or not data.get("key"):
            raise DeliveryError("Jira described an issue without a key")
        key = str(data["key"])
        fields = data.get("fields") or {}
        status = fields.get("status") or {}
        category = str((status.get("statusCategory") or {}).get("key") or "")
        resolution = str((fields.get("resolution") or {}).get("name") or "")
        # Done is "done" in every workflow; a resolution other than a fix ("Won't Do", "Duplicate") is a close.
        if category == "done":
            fixed = resolution.lower() in ("", "done", "fixed", "resolved")
            state = EscalationState.RESOLVED if fixed else EscalationState.CLOSED
        else:
            state = EscalationState.OPEN
        name = str(status.get("name") or "")
        return RemoteIssue(key, self.browse_url(key), state, f"{name}: {resolution}" if resolution else name)


class GitHubTracker(Tracker):
    name = "github"
    label = "GitHub"

    def __init__(self, api_url: str, repo: str, token: str, *, timeout: float = 10.0) -> None:
        super().__init__(timeout)
        self.api = api_url.rstrip("/")
        self.repo = repo
        self.http.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                                  "X-GitHub-Api-Version": "2022-11-28"})

    def create(self, draft: IssueDraft) -> RemoteIssue:
        body = _bounded(draft.description, DESCRIPTION_MAX) + f"\n\n<sub>{draft.marker}</sub>"
        payload = {"title": _bounded(_one_line(draft.title), TITLE_MAX), "body": body,
                   "labels": sorted({*draft.labels, draft.marker})}
        answer = self._json(self._request("POST", f"{self.api}/repos/{self.repo}/issues", json=payload),
                            "GitHub issue create")
        return self._issue(answer)

    def find(self, marker: str) -> RemoteIssue | None:
        # The issue list is read from the database, so an issue made a moment ago is there already.
        response = self._request("GET", f"{self.api}/repos/{self.repo}/issues",
                                 params={"labels": marker, "state": "all", "per_page": "10"})
        listed = [i for i in self._json(response, "GitHub issues") or [] if isinstance(i, dict)
                  and "pull_request" not in i]
        if listed:
            return self._issue(min(listed, key=lambda i: int(i.get("number") or 0)))
        # A token without push access has its labels dropped silently: look for the marker line instead.
        query = f'repo:{self.repo} is:issue in:body "{marker}"'
        response = self._request("GET", f"{self.api}/search/issues", params={"q": query, "per_page": "10"})
        found = [i for i in (self._json(response, "GitHub search") or {}).get("items") or []
                 if isinstance(i, dict) and _has_marker(str(i.get("body") or ""), marker)]
        return self._issue(min(found, key=lambda i: int(i.get("number") or 0))) if found else None

    def fetch(self, key: str) -> RemoteIssue:
        if not key.isdigit():
            raise TrackerError(f"{key!r} is not a GitHub issue number")
        return self._issue(self._json(self._request("GET", f"{self.api}/repos/{self.repo}/issues/{key}"),
                                      "GitHub issue"))

    def _raise_for(self, response: requests.Response) -> None:
        # GitHub says "rate limited" with a 403 (primary limit: no requests left) as often as with a 429.
        if response.status_code == 403 and (response.headers.get("Retry-After")
                                            or response.headers.get("X-RateLimit-Remaining") == "0"):
            raise RateLimitedError(f"GitHub rate limit (403): {_error_text(response)}",
                                   retry_after=_retry_after(response))
        super()._raise_for(response)

    def _issue(self, data: Any) -> RemoteIssue:
        if not isinstance(data, dict) or not data.get("number"):
            raise DeliveryError("GitHub described an issue without a number")
        number = str(data["number"])
        url = str(data.get("html_url") or f"https://github.com/{self.repo}/issues/{number}")
        reason = str(data.get("state_reason") or "")
        if data.get("state") == "closed":
            state = EscalationState.CLOSED if reason in ("not_planned", "duplicate") else EscalationState.RESOLVED
            status = f"closed: {reason}" if reason else "closed"
        else:
            state, status = EscalationState.OPEN, "open"
        return RemoteIssue(number, url, state, status)


def build_tracker(settings: Settings, name: str) -> Tracker:
    """The tracker called ``name`` as the settings configure it.

    Raises
    ------
    UnknownChannelError
        It is not configured: the message names the settings it still needs.
    """
    if name not in ("jira", "github"):
        raise UnknownChannelError(f"No engineering tracker called {name!r}; use jira or github.")
    checked = settings.model_copy(update={"escalation_tracker": name})
    if missing := checked.escalation_missing():
        raise UnknownChannelError(f"Escalation to {name} needs " + ", ".join(missing) + ".")
    timeout = settings.channel_timeout_seconds
    if name == "jira":
        assert settings.jira_url and settings.jira_project and settings.jira_token  # checked above
        return JiraTracker(settings.jira_url, settings.jira_project, settings.jira_token.get_secret_value(),
                           user=settings.jira_user, issue_type=settings.jira_issue_type, timeout=timeout)
    assert settings.github_escalation_repo and settings.github_escalation_token  # checked above
    return GitHubTracker(settings.github_escalation_api_url, settings.github_escalation_repo,
                         settings.github_escalation_token.get_secret_value(), timeout=timeout)


def _has_marker(text: str, marker: str) -> bool:
    """Whether ``text`` names ``marker`` itself (``helpdesk-escalation-3`` is not in ``…-31``)."""
    return re.search(rf"(?<![\w-]){re.escape(marker)}(?![\w-])", text) is not None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_text(response: requests.Response) -> str:
    """Jira's ``errorMessages``/``errors`` or GitHub's ``message``, else the start of the body."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict):
        parts = [str(m) for m in data.get("errorMessages") or []]
        errors = data.get("errors")
        if isinstance(errors, dict):
            parts += [f"{field}: {message}" for field, message in errors.items()]
        if data.get("message"):
            parts.append(str(data["message"]))
        if parts:
            return "; ".join(parts)[:500]
    return str(data)[:200]


def _retry_after(response: requests.Response) -> float | None:
    """Seconds to wait: ``Retry-After`` (seconds or an HTTP date), else GitHub's ``X-RateLimit-Reset``."""
    value = response.headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    reset = response.headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            pass
    return None
