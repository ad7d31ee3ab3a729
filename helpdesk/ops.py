"""Operations: request ids, access logs and security headers, /healthz, /metrics, and the built docs at /docs/."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify, redirect, request, send_from_directory
from markupsafe import escape
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from helpdesk.db import SQLITE_BUSY_TIMEOUT_MS
from helpdesk.web import csrf, get_settings

log = logging.getLogger("helpdesk.access")
bp = Blueprint("ops", __name__)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class DatabaseCollector(Collector):
    """Figures read from the database at scrape time, so every process reports the same totals."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from helpdesk.tickets.models import OutboxItem, OutboxStatus, Ticket

        filed = GaugeMetricFamily("helpdesk_tickets_filed", "Tickets filed, by source", labels=["source"])
        depth = GaugeMetricFamily("helpdesk_outbox_depth", "Outbox deliveries by status", labels=["status"])
        self_served = GaugeMetricFamily(
            "helpdesk_tickets_self_served",
            "Tickets resolved by their requester saying an offered article answered them, by where they said it",
            labels=["via"])
        session = self.app.extensions["helpdesk"].session_factory()
        try:
            for source, count in session.execute(select(Ticket.source, func.count()).group_by(Ticket.source)):
                filed.add_metric([source.value], count)
            for status, count in session.execute(
                select(OutboxItem.status, func.count()).group_by(OutboxItem.status)
            ):
                depth.add_metric([status.value], count)
            if not any(s.labels["status"] == OutboxStatus.PENDING.value for s in depth.samples):
                depth.add_metric([OutboxStatus.PENDING.value], 0)
            # Only the self-served rows are read (through ix_ticket_self_served_via), not the whole table.
            counted = dict(session.execute(
                select(Ticket.self_served_via, func.count()).where(Ticket.self_served_via.is_not(None))
                .group_by(Ticket.self_served_via)
            ).all())
            for via in ("web", "slack", "discourse", *sorted(set(counted) - {"web", "slack", "discourse"})):
                self_served.add_metric([via], counted.get(via, 0))
        finally:
            session.close()
        yield filed
        yield depth
        yield self_served


class CachedCollector(Collector):
    """Another collector's figures, read at most once per ``ttl`` seconds in this process.

    The database figures count whole tables (65-85 ms at a million tickets on PostgreSQL); a scraper every
    15 s on each of several processes would run those scans all the time. Concurrent scrapes wait for one
    read instead of each running it. The figures' age is exported beside them, so staleness is visible.
    """

    def __init__(self, inner: Collector, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.inner, self.ttl, self.clock = inner, ttl, clock
        self._lock = threading.Lock()
        self._families: list[Any] | None = None
        self._read_at = 0.0

    def collect(self) -> Iterator[Any]:
        with self._lock:
            now = self.clock()
            if self._families is None or now - self._read_at >= self.ttl:
                self._families = list(self.inner.collect())
                self._read_at = now
            families, age = self._families, now - self._read_at
        yield from families
        yield GaugeMetricFamily("helpdesk_metrics_database_age_seconds",
                                "Age of the figures read from the database (kept per process for "
                                "HELPDESK_METRICS_CACHE_SECONDS)", value=age)


class Metrics:
    def __init__(self, app: Flask) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "helpdesk_http_requests", "HTTP requests handled by this process",
            ["method", "endpoint", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "helpdesk_http_request_seconds", "Time to answer a request", ["endpoint"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        ttl = app.extensions["helpdesk"].settings.metrics_cache_seconds
        self.database = CachedCollector(DatabaseCollector(app), ttl)
        self.registry.register(self.database)


@bp.get("/healthz")
@csrf.exempt
def healthz() -> tuple[Response, int]:
    """Liveness and readiness: the database answers and would take a write."""
    engine = current_app.extensions["helpdesk"].engine
    try:
        writable = _database_takes_writes(engine)
    except (SQLAlchemyError, sqlite3.Error) as exc:
        if not _is_read_only_error(exc):
            log.error("health check failed: %s", exc)
            return jsonify({"status": "error", "database": "unreachable"}), 503
        writable = False
    if not writable:
        log.error("health check failed: the database is read-only")
        return jsonify({"status": "error", "database": "read-only"}), 503
    return jsonify({"status": "ok", "database": "ok"}), 200


#: How long the health check waits for another SQLite writer's lock; a held lock proves writes happen.
_HEALTH_SQLITE_BUSY_MS = 1000


def _database_takes_writes(engine: Engine) -> bool:
    """True when a write would be accepted, found without writing anything.

    PostgreSQL reports it: ``transaction_read_only`` is on under ``default_transaction_read_only`` (set on the
    server, the database or the role) and on a hot standby. SQLite has no such flag, so the check takes the
    write lock and rewrites the header's ``user_version`` with its own value, which a file opened read-only
    (or that the process may not write) refuses, then rolls back: nothing reaches the file.
    """
    if engine.dialect.name != "sqlite":
        with engine.connect() as connection:
            read_only = connection.execute(text("SELECT current_setting('transaction_read_only')")).scalar()
            connection.rollback()
        return read_only != "on"
    raw = engine.raw_connection()  # autocommit (helpdesk.db): the statements below are the whole transaction
    try:
        connection = raw.driver_connection
        if connection.execute("PRAGMA query_only").fetchone()[0]:
            return False
        connection.execute(f"PRAGMA busy_timeout={_HEALTH_SQLITE_BUSY_MS}")
        try:
            connection.execute("BEGIN IMMEDIATE")
            version = int(connection.execute("PRAGMA user_version").fetchone()[0])
            connection.execute(f"PRAGMA user_version = {version}")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
                return True  # another writer holds the lock: the database is taking writes
            raise
        finally:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        raw.close()
    return True


def _is_read_only_error(exc: BaseException) -> bool:
    original = getattr(exc, "orig", exc)
    if getattr(original, "sqlstate", None) == "25006":  # PostgreSQL read_only_sql_transaction
        return True
    code = getattr(original, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_READONLY  # and its extended codes


# -- /metrics: loopback (or HELPDESK_METRICS_ALLOW) or a bearer token -------------------------------


def _metrics_refusal() -> tuple[Response, int] | None:
    """None when this request may read the metrics; else the 401 or 403 answer."""
    settings = get_settings()
    if _address_allowed(request.remote_addr, tuple(settings.metrics_allow)):
        return None
    expected = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    if expected and scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), expected.encode()):
        return None
    if not expected:
        body = {"error": {"code": "forbidden", "message": "The metrics are only served to the addresses in "
                          "HELPDESK_METRICS_ALLOW (or with the bearer token HELPDESK_METRICS_TOKEN, unset here)."}}
        return jsonify(body), 403
    body = {"error": {"code": "unauthenticated",
                      "message": "Send the metrics token as 'Authorization: Bearer <HELPDESK_METRICS_TOKEN>'."}}
    response = jsonify(body)
    response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response, 401


@lru_cache(maxsize=32)
def _networks(allow: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in allow)


def _address_allowed(address: str | None, allow: tuple[str, ...]) -> bool:
    if not address or not allow:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)  # ::ffff:127.0.0.1 from a dual-stack listener
    return any(candidate in network for candidate in candidates for network in _networks(allow)
               if candidate.version == network.version)


@bp.get("/metrics")
def metrics() -> Response | tuple[Response, int]:
    refusal = _metrics_refusal()
    if refusal is not None:
        return refusal
    registry = current_app.extensions["helpdesk_metrics"].registry
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


# -- /docs/ -----------------------------------------------------------------------------------------

#: The home page of the built site (conf.py's root_doc is ``docs/index``), served at /docs/ itself.
DOCS_HOME = "docs/index.html"
#: Addresses of the home page besides /docs/; they redirect there, so the site has one clean address for it.
_DOCS_HOME_ALIASES = {"index.html", "docs/", DOCS_HOME}


@bp.get("/docs/")
@bp.get("/docs/<path:path>")
def docs(path: str = "") -> Response:
    """The Sphinx site built by ``make run`` (or into the Docker image)."""
    root = Path(get_settings().docs_dir).resolve()
    if not (root / DOCS_HOME).is_file():
        abort(404, description="The documentation has not been built; run `make docs`.")
    if path == "":
        return _docs_home(root)
    if path in _DOCS_HOME_ALIASES:
        query = request.query_string.decode("latin-1")
        return redirect(f"{request.script_root}/docs/" + (f"?{query}" if query else ""), code=302)
    if path.endswith("/") and (root / path / "index.html").is_file():
        path += "index.html"
    response = send_from_directory(root, path, max_age=300)
    if path.endswith(".html"):
        file = root / path  # send_from_directory found it inside root, so it exists
        stat = file.stat()
        response.headers["Content-Security-Policy"] = _docs_csp(str(file), stat.st_mtime_ns, stat.st_size)
    return response


def _docs_home(root: Path) -> Response:
    """The home page, at /docs/ rather than /docs/docs/index.html.

    Its relative links (``../_static/…``, ``reference/…``) are written for its own folder, so a ``<base>`` set
    to its built address makes the browser resolve them, the theme's scripts and the search form as there.
    """
    file = root / DOCS_HOME
    stat = file.stat()
    html, policy = _docs_home_page(str(file), stat.st_mtime_ns, stat.st_size, request.script_root)
    response = Response(html, mimetype="text/html")
    response.cache_control.public = True
    response.cache_control.max_age = 300
    response.headers["Content-Security-Policy"] = policy
    return response


@lru_cache(maxsize=8)
def _docs_home_page(file: str, _mtime_ns: int, _size: int, script_root: str) -> tuple[bytes, str]:
    base = f'<base href="{escape(script_root)}/docs/{DOCS_HOME}">'.encode()
    html = re.sub(rb"<head[^>]*>", lambda m: m.group(0) + b"\n" + base, Path(file).read_bytes(), count=1)
    return html, _policy_for(html)


_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\ssrc=)[^>]*>(.*?)</script>", re.S | re.I)


@lru_cache(maxsize=1024)
def _docs_csp(file: str, _mtime_ns: int, _size: int) -> str:
    """The policy of one built page, cached until the file changes (a rebuild)."""
    return _policy_for(Path(file).read_bytes())


def _policy_for(html: bytes) -> str:
    """The documentation's policy: scripts only from the site and the exact inline scripts of this one page.

    Sphinx and its theme write a few small inline scripts into every page (the colour mode, the page name for
    search); each is allowed by its SHA-256 hash, so no other inline script could run. Styles may be inline
    (``'unsafe-inline'``): the search page reads every hit's page, with its inline ``<style>``, to show a
    summary, and the theme's menus position themselves with inline styles; a style cannot run code. Pages may
    still be framed (no frame-ancestors), as before.
    """
    hashes = sorted({base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode()
                     for m in _INLINE_SCRIPT.finditer(html)})
    return (
        "default-src 'self'; script-src 'self'" + "".join(f" 'sha256-{h}'" for h in hashes) + "; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "base-uri 'self'; form-action 'self'; object-src 'none'"
    )


# -- headers on every answer ------------------------------------------------------------------------

#: The helpdesk's own pages: scripts, styles, images and fetches only from this origin, nothing inline.
APP_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
#: Paths whose answers are the same for everyone and may be kept by browsers and proxies.
_CACHEABLE_PREFIXES = ("/static/", "/docs/")


def _security_headers(response: Response) -> None:
    settings = get_settings()
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    is_docs = request.path.startswith("/docs/")
    if not is_docs:
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Content-Security-Policy", APP_CSP)
    if settings.is_production:
        headers.setdefault("Strict-Transport-Security", f"max-age={settings.hsts_max_age}")
    # Everything the app itself answers may carry personal data (who is signed in, tickets, the roster, the
    # sign-up form's answers, API results): never stored. Static files and the documentation stay cacheable.
    if not request.path.startswith(_CACHEABLE_PREFIXES) and "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"


def init_app(app: Flask) -> None:
    app.extensions["helpdesk_metrics"] = state = Metrics(app)
    app.register_blueprint(bp)

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        state.requests.labels(request.method, endpoint, str(response.status_code)).inc()
        state.latency.labels(endpoint).observe(elapsed)
        response.headers["X-Request-ID"] = g.get("request_id", "")
        _security_headers(response)
        log.info(
            "%s %s %s", request.method, request.path, response.status_code,
            extra={"method": request.method, "path": request.path, "status": response.status_code,
                   "duration_ms": round(elapsed * 1000, 2)},
        )
        return response
