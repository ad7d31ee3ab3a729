"""Local fake Slack Web API and Discourse servers that speak the real protocols and record every request.

Both run an ``http.server`` on 127.0.0.1 in a thread. Responses can be scripted per method (a 503, a
429 with Retry-After, a stall that never answers) before the fake's normal behaviour resumes.
"""

from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    form: dict[str, str]
    json: Any


@dataclass
class Scripted:
    """One scripted answer: a status with a body and headers, or a stall of ``stall`` seconds first."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0
    #: Do the normal work (store the post) before stalling: the remote side has it, the caller never hears.
    then_normal: bool = False


class FakeServer(ABC):
    """Base: a threaded HTTP server with request recording and per-endpoint scripts."""

    content_type = "application/json; charset=utf-8"

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.scripts: dict[str, list[Scripted]] = {}
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                fake._dispatch(self)

            do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def script(self, endpoint: str, *answers: Scripted) -> None:
        with self.lock:
            self.scripts.setdefault(endpoint, []).extend(answers)

    def calls(self, endpoint: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if self.endpoint(r.path) == endpoint]

    def endpoint(self, path: str) -> str:
        return path

    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        content_type = handler.headers.get("Content-Type", "")
        form: dict[str, str] = {}
        body_json: Any = None
        if "json" in content_type and raw:
            body_json = json.loads(raw)
        elif raw:
            form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        record = Recorded(handler.command, parts.path, dict(handler.headers.items()), query, form, body_json)
        endpoint = self.endpoint(parts.path)
        with self.lock:
            self.requests.append(record)
            queue = self.scripts.get(endpoint) or []
            scripted = queue.pop(0) if queue else None
        if scripted is not None and not scripted.then_normal:
            if scripted.stall:
                time.sleep(scripted.stall)
            self._send(handler, scripted.status, scripted.body if scripted.body is not None else {},
                       scripted.headers)
            return
        status, body = self.handle(record)
        if scripted is not None and scripted.stall:
            time.sleep(scripted.stall)
        self._send(handler, status, body, {})

    def _send(self, handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", headers.pop("Content-Type", self.content_type))
            handler.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (or was killed)
            pass

    @abstractmethod
    def handle(self, record: Recorded) -> tuple[int, Any]:
        """The status and body the fake answers ``record`` with."""


class FakeSlack(FakeServer):
    """The parts of the Slack Web API the helpdesk uses, under ``/api/``."""

    content_type = "application/json; charset=utf-8"

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []
        self.users: dict[str, dict[str, Any]] = {}
        self._ts = 1_700_000_000

    def add_user(self, user_id: str, name: str, email: str | None = None, **extra: Any) -> None:
        """A workspace member as users.info describes them."""
        profile = {"real_name": name, "display_name": name.split()[0]}
        if email:
            profile["email"] = email
        self.users[user_id] = {"id": user_id, "name": name.lower().replace(" ", "."), "real_name": name,
                               "is_bot": False, "profile": profile, **extra}

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def endpoint(self, path: str) -> str:
        return path.removeprefix("/api/")

    def args(self, record: Recorded) -> dict[str, Any]:
        return {**record.query, **record.form, **(record.json or {})}

    def posted(self) -> list[dict[str, Any]]:
        return [self.args(r) for r in self.calls("chat.postMessage")]

    def handle(self, record: Recorded) -> tuple[int, Any]:
        if record.headers.get("Authorization", "") != "Bearer xoxb-test-token":
            return 200, {"ok": False, "error": "invalid_auth"}
        method, args = self.endpoint(record.path), self.args(record)
        if method == "chat.postMessage":
            channel = str(args.get("channel") or "")
            if channel[:1] in ("U", "W"):  # posting to a person lands in the app's direct message with them
                channel = "D" + channel[1:]
            with self.lock:
                self._ts += 1
                ts = f"{self._ts}.000100"
                message = {"type": "message", "ts": ts, "text": args.get("text"), "bot_id": "B0HELPDESK",
                           "channel": channel, "thread_ts": args.get("thread_ts")}
                metadata = args.get("metadata")
                if isinstance(metadata, str):
                    metadata = json.loads(metadata)
                if metadata:
                    message["metadata"] = metadata
                self.messages.append(message)
            return 200, {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method == "conversations.replies":
            with self.lock:
                found = [m for m in self.messages
                         if m["channel"] == args.get("channel") and m.get("thread_ts") == args.get("ts")]
            include = str(args.get("include_all_metadata")).lower() in ("1", "true")
            return 200, {"ok": True, "messages": [m if include else {k: v for k, v in m.items() if k != "metadata"}
                                                  for m in found], "has_more": False}
        if method == "conversations.history":
            with self.lock:
                found = [m for m in self.messages if m["channel"] == args.get("channel")]
            return 200, {"ok": True, "messages": list(reversed(found)), "has_more": False}
        if method == "users.info":
            user = self.users.get(str(args.get("user")))
            if user is None:
                return 200, {"ok": False, "error": "user_not_found"}
            return 200, {"ok": True, "user": user}
        if method == "views.open":
            return 200, {"ok": True, "view": {"id": "V0FAKE", **(args.get("view") if isinstance(
                args.get("view"), dict) else {})}}
        return 200, {"ok": False, "error": "unknown_method"}


class FakeDiscourse(FakeServer):
    """The parts of the Discourse API the helpdesk uses; answers ``application/json; charset=utf-8``."""

    content_type = "application/json; charset=utf-8"

    def __init__(self, api_username: str = "dp0-support-bot") -> None:
        super().__init__()
        self.api_username = api_username
        self.posts: list[dict[str, Any]] = []
        self._next_id = 1000

    def add_post(self, **post: Any) -> dict[str, Any]:
        """Put a post on the forum (as if a person wrote it) without any webhook."""
        with self.lock:
            self._next_id += 1
            post.setdefault("id", self._next_id)
            post.setdefault("post_type", 1)
            post.setdefault("cooked", f"<p>{post.get('raw', '')}</p>")
            self.posts.append(post)
        return post

    def created(self) -> list[Recorded]:
        return [r for r in self.calls("/posts") if r.method == "POST"]

    def handle(self, record: Recorded) -> tuple[int, Any]:
        if record.headers.get("Api-Key") != "test-api-key" or not record.headers.get("Api-Username"):
            return 403, {"errors": ["You are not permitted to view the requested resource."]}
        path = record.path
        if record.method == "POST" and path in ("/posts", "/posts.json"):
            topic_id = int(record.form["topic_id"])
            with self.lock:
                numbers = [p["post_number"] for p in self.posts if p["topic_id"] == topic_id]
            post = self.add_post(
                topic_id=topic_id, raw=record.form["raw"], username=record.headers["Api-Username"],
                post_number=max(numbers, default=0) + 1, user_id=-1, name="DP0 Support",
            )
            return 200, post
        if record.method == "GET" and path == "/posts.json":
            before = int(record.query.get("before") or 10**9)
            with self.lock:
                latest = sorted((p for p in self.posts if p["id"] < before), key=lambda p: -p["id"])[:50]
            return 200, {"latest_posts": latest}
        if record.method == "GET" and path.startswith("/t/") and path.endswith("/posts.json"):
            topic_id = int(path.split("/")[2])
            include_raw = record.query.get("include_raw") in ("true", "1")
            with self.lock:
                posts = [p if include_raw else {k: v for k, v in p.items() if k != "raw"}
                         for p in self.posts if p["topic_id"] == topic_id]
            return 200, {"post_stream": {"posts": posts}, "id": topic_id}
        if record.method == "GET" and path.startswith("/posts/") and path.endswith(".json"):
            post_id = int(path.split("/")[2].removesuffix(".json"))
            with self.lock:
                post = next((p for p in self.posts if p["id"] == post_id), None)
            return (200, post) if post else (404, {"errors": ["not found"]})
        return 404, {"errors": ["The requested URL or resource could not be found."]}
