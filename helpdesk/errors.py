"""Error handlers: JSON ``{"error": {"code", "message"}}`` for the API and webhooks, a page otherwise."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from helpdesk.exceptions import HelpdeskError
from helpdesk.web import wants_json

log = logging.getLogger("helpdesk.errors")

# Codes for HTTP errors raised by Flask itself, so clients can branch on them.
HTTP_CODES = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
    422: "invalid", 429: "rate_limited", 503: "unavailable",
}


def _respond(status: int, code: str, message: str, details: object = None) -> tuple[Response | str, int]:
    if wants_json():
        error: dict[str, object] = {"code": code, "message": message}
        if details is not None:
            error["details"] = details
        return jsonify({"error": error}), status
    return render_template("errors/error.html", status=status, code=code, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(HelpdeskError)
    def _helpdesk_error(exc: HelpdeskError):  # type: ignore[no-untyped-def]
        return _respond(exc.status_code, exc.code, exc.message, exc.details)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):  # type: ignore[no-untyped-def]
        return _respond(
            400, "csrf_failed",
            f"{exc.description} Reload the page and try again; API clients send an X-CSRFToken header "
            "or use a bearer token.",
        )

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(exc: RateLimitExceeded):  # type: ignore[no-untyped-def]
        body, status = _respond(429, "rate_limited", f"Too many requests ({exc.description}); wait a minute.")
        return body, status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        status = exc.code or 500
        messages = {
            413: f"The request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes.",
            404: "Nothing here. Check the address.",
            405: "This address does not accept that method.",
        }
        return _respond(status, HTTP_CODES.get(status, "error"), messages.get(status, exc.description or ""))

    @app.errorhandler(OperationalError)
    def _database_down(exc: OperationalError):  # type: ignore[no-untyped-def]
        log.error("database unavailable: %s", exc.orig)
        return _respond(503, "unavailable", "The database is unavailable; try again shortly.")
