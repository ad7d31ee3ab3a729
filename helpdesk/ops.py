"""Operations: request ids and access logs, /healthz, /metrics, and the built docs at /docs/."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify, redirect, request, send_from_directory
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from helpdesk.web import csrf, get_session, get_settings

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
        finally:
            session.close()
        yield filed
        yield depth


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
        self.registry.register(DatabaseCollector(app))


@bp.get("/healthz")
@csrf.exempt
def healthz() -> tuple[Response, int]:
    """Liveness and readiness: the database answers a trivial query."""
    try:
        get_session().execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.error("health check failed: %s", exc)
        return jsonify({"status": "error", "database": "unreachable"}), 503
    return jsonify({"status": "ok", "database": "ok"}), 200


@bp.get("/metrics")
def metrics() -> Response:
    registry = current_app.extensions["helpdesk_metrics"].registry
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


@bp.get("/docs/")
@bp.get("/docs/<path:path>")
def docs(path: str = "") -> Response:
    """The Sphinx site built by ``make run`` (or into the Docker image)."""
    root = Path(get_settings().docs_dir).resolve()
    if not (root / "docs" / "index.html").is_file():
        abort(404, description="The documentation has not been built; run `make docs`.")
    if path == "" or path.endswith("/"):
        if (root / path / "index.html").is_file():
            path += "index.html"
        elif path == "":
            return redirect("/docs/docs/index.html")
    return send_from_directory(root, path, max_age=300)


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
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.path.startswith("/docs/"):
            response.headers.setdefault("X-Frame-Options", "DENY")
        log.info(
            "%s %s %s", request.method, request.path, response.status_code,
            extra={"method": request.method, "path": request.path, "status": response.status_code,
                   "duration_ms": round(elapsed * 1000, 2)},
        )
        return response
