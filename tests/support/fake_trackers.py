"""Local fake Jira and GitHub issue servers that speak their REST wire formats and record every request.

Built on :class:`tests.support.fakes.FakeServer` (threaded, on 127.0.0.1, scriptable per endpoint), like the
fake Slack and forum. Each keeps its issues in memory; tests move them through their workflows with
:meth:`FakeJira.transition` and :meth:`FakeGitHubIssues.close`, as engineers would.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from tests.support.fakes import FakeServer, Recorded

JIRA_USER = "helpdesk-bot@example.org"
JIRA_TOKEN = "jira-test-token"
GITHUB_TOKEN = "ghp_escalation_test_token"
GITHUB_REPO = "lsst-dm/dp0-bugs"

_JIRA_STATUS = {"To Do": "new", "In Progress": "indeterminate", "Done": "done"}


class FakeJira(FakeServer):
    """Jira's REST API v2: create an issue, read one, and JQL search on labels (Cloud's ``search/jql`` or, as
    ``server=True``, Server/Data Center's ``search``)."""

    def __init__(self, project: str = "DM", *, server: bool = False, issue_types: tuple[str, ...] = ("Bug", "Task"),
                 pat: str | None = None) -> None:
        super().__init__()
        self.project = project
        self.server_mode = server
        self.issue_types = issue_types
        #: Accept this bearer personal access token (Server/DC) instead of basic authentication.
        self.pat = pat
        self.issues: dict[str, dict[str, Any]] = {}
        self._next = 0

    def endpoint(self, path: str) -> str:
        if path == "/rest/api/2/issue":
            return "create"
        if path.startswith("/rest/api/2/issue/"):
            return "issue"
        if path.startswith("/rest/api/2/search"):
            return "search"
        return path

    def created(self) -> list[Recorded]:
        return [r for r in self.calls("create") if r.method == "POST"]

    def transition(self, key: str, status: str, resolution: str | None = None) -> None:
        """Move an issue as an engineer would (``Done`` with resolution ``Done``, ``Won't Do`` …)."""
        with self.lock:
            fields = self.issues[key]["fields"]
            fields["status"] = _jira_status(status)
            fields["resolution"] = {"name": resolution} if resolution else None

    def _authorised(self, record: Recorded) -> bool:
        header = record.headers.get("Authorization", "")
        if self.pat is not None:
            return header == f"Bearer {self.pat}"
        expected = base64.b64encode(f"{JIRA_USER}:{JIRA_TOKEN}".encode()).decode()
        return header == f"Basic {expected}"

    def handle(self, record: Recorded) -> tuple[int, Any]:
        if not self._authorised(record):
            return 401, {"errorMessages": ["You are not authenticated. Authentication required to perform this "
                                           "operation."], "errors": {}}
        endpoint = self.endpoint(record.path)
        if endpoint == "create" and record.method == "POST":
            return self._create((record.json or {}).get("fields") or {})
        if endpoint == "issue" and record.method == "GET":
            key = record.path.rsplit("/", 1)[1]
            with self.lock:
                issue = self.issues.get(key)
            if issue is None:
                return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."],
                             "errors": {}}
            return 200, issue
        if endpoint == "search" and record.method == "GET":
            new = record.path == "/rest/api/2/search/jql"
            if new and self.server_mode:
                return 404, {"errorMessages": ["null for uri: /rest/api/2/search/jql"], "errors": {}}
            if not new and not self.server_mode:
                return 410, {"errorMessages": ["The requested API has been removed. Please migrate to the "
                                               "/rest/api/3/search/jql API."], "errors": {}}
            match = re.fullmatch(r'labels = "([^"]+)"(?: ORDER BY .*)?', record.query.get("jql", ""))
            if match is None:
                return 400, {"errorMessages": ["Error in the JQL Query."], "errors": {}}
            with self.lock:
                found = [i for i in self.issues.values() if match.group(1) in i["fields"]["labels"]]
            found = found[: int(record.query.get("maxResults") or 50)]
            if new:
                return 200, {"issues": found, "isLast": True}
            return 200, {"startAt": 0, "maxResults": 50, "total": len(found), "issues": found}
        return 404, {"errorMessages": ["null for uri"], "errors": {}}

    def _create(self, fields: dict[str, Any]) -> tuple[int, Any]:
        errors: dict[str, str] = {}
        if (fields.get("project") or {}).get("key") != self.project:
            errors["project"] = "valid project is required"
        if (fields.get("issuetype") or {}).get("name") not in self.issue_types:
            errors["issuetype"] = "Specify a valid issue type"
        if not str(fields.get("summary") or "").strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(fields["summary"]) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        if any(" " in label for label in fields.get("labels") or []):
            errors["labels"] = "The label can't contain spaces."
        if errors:
            return 400, {"errorMessages": [], "errors": errors}
        with self.lock:
            self._next += 1
            key = f"{self.project}-{self._next}"
            issue_id = str(10_000 + self._next)
            self.issues[key] = {
                "id": issue_id, "key": key, "self": f"{self.url}/rest/api/2/issue/{issue_id}",
                "fields": {"summary": fields["summary"], "description": fields.get("description"),
                           "labels": list(fields.get("labels") or []), "issuetype": fields["issuetype"],
                           "status": _jira_status("To Do"), "resolution": None},
            }
        return 201, {"id": issue_id, "key": key, "self": f"{self.url}/rest/api/2/issue/{issue_id}"}


def _jira_status(name: str) -> dict[str, Any]:
    category = _JIRA_STATUS.get(name, "indeterminate")
    return {"name": name, "id": str(len(name)), "statusCategory": {"key": category, "name": category.title()}}


class FakeGitHubIssues(FakeServer):
    """GitHub's REST API for issues of one repository: create, read, list by label, and search."""

    def __init__(self, repo: str = GITHUB_REPO, *, push_access: bool = True) -> None:
        super().__init__()
        self.repo = repo
        #: Without push access GitHub silently drops the labels of a new issue.
        self.push_access = push_access
        #: The search index lags behind in real life; False hides every issue from /search/issues.
        self.search_indexed = True
        self.issues: dict[int, dict[str, Any]] = {}
        self._next = 0

    def endpoint(self, path: str) -> str:
        if path == f"/repos/{self.repo}/issues":
            return "issues"
        if path.startswith(f"/repos/{self.repo}/issues/"):
            return "issue"
        if path == "/search/issues":
            return "search"
        return path

    def created(self) -> list[Recorded]:
        return [r for r in self.calls("issues") if r.method == "POST"]

    def close(self, number: int, reason: str = "completed") -> None:
        with self.lock:
            self.issues[number].update(state="closed", state_reason=reason)

    def handle(self, record: Recorded) -> tuple[int, Any]:
        if record.headers.get("Authorization") != f"Bearer {GITHUB_TOKEN}":
            return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest",
                         "status": "401"}
        endpoint = self.endpoint(record.path)
        if endpoint == "issues" and record.method == "POST":
            return self._create(record.json or {})
        if endpoint == "issues" and record.method == "GET":
            wanted = [w for w in record.query.get("labels", "").split(",") if w]
            state = record.query.get("state", "open")
            with self.lock:
                listed = [i for i in sorted(self.issues.values(), key=lambda i: -i["number"])
                          if all(w in {label["name"] for label in i["labels"]} for w in wanted)
                          and (state == "all" or i["state"] == state)]
            return 200, listed
        if endpoint == "issue" and record.method == "GET":
            number = record.path.rsplit("/", 1)[1]
            with self.lock:
                issue = self.issues.get(int(number)) if number.isdigit() else None
            return (200, issue) if issue else (404, {"message": "Not Found", "status": "404"})
        if endpoint == "search" and record.method == "GET":
            query = record.query.get("q", "")
            phrase = re.search(r'"([^"]+)"', query)
            repo = re.search(r"repo:(\S+)", query)
            with self.lock:
                items = [i for i in self.issues.values() if self.search_indexed and phrase and repo
                         and repo.group(1) == self.repo and phrase.group(1) in (i["body"] or "")]
            return 200, {"total_count": len(items), "incomplete_results": False, "items": items}
        return 404, {"message": "Not Found", "status": "404"}

    def _create(self, data: dict[str, Any]) -> tuple[int, Any]:
        if not str(data.get("title") or "").strip():
            return 422, {"message": "Validation Failed", "errors": [{"resource": "Issue", "code": "missing_field",
                                                                     "field": "title"}], "status": "422"}
        with self.lock:
            self._next += 1
            number = self._next
            labels = [{"name": name} for name in data.get("labels") or []] if self.push_access else []
            issue = {
                "number": number, "id": 900_000 + number, "title": data["title"], "body": data.get("body"),
                "state": "open", "state_reason": None, "labels": labels,
                "html_url": f"https://github.test/{self.repo}/issues/{number}",
                "url": f"{self.url}/repos/{self.repo}/issues/{number}",
            }
            self.issues[number] = issue
        return 201, issue
