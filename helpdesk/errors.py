"""Error handlers: JSON ``{"error": {"code", "message"}}`` for the API and webhooks, a page otherwise.

Also the HTTP-layer guards that every blueprint shares, run before any view: :func:`check_url` refuses ids
in paths beyond what the database can hold and NUL characters in the path or the query string;
:func:`limit_streamed_body` holds chunked bodies to the same size limit as declared ones.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from helpdesk.db import ID_MAX
from helpdesk.exceptions import HelpdeskError, InvalidInputError, NotFoundError
from helpdesk.tickets.limits import TicketLimitError
from helpdesk.web import wants_json

log = logging.getLogger("helpdesk.errors")

# Codes for HTTP errors raised by Flask itself, so clients can branch on them.
HTTP_CODES = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
    422: "invalid", 429: "rate_limited", 503: "unavailable",
}
# Headers of werkzeug's own error responses that the rebuilt response keeps (Allow on a 405 says what to use).
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


def check_url() -> None:
    """Refuse what no route can serve before any view runs: see :func:`reject_nul_in_url` and ids too large.

    An ``<int:...>`` beyond :data:`ID_MAX` cannot name a row, and handing it to the database overflows
    (SQLite raises OverflowError, PostgreSQL NumericValueOutOfRange): a 404. (Not a converter ``max``:
    werkzeug then answers 405 when another method's rule shares the path.)
    """
    reject_nul_in_url()
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and not isinstance(value, bool) and value > ID_MAX:
            raise NotFoundError(f"Nothing here: ids are whole numbers up to {ID_MAX}.")


def limit_streamed_body() -> None:
    """A chunked body (no Content-Length) over MAX_CONTENT_LENGTH is a 413, as a declared one is.

    Werkzeug stops reading such a stream at the limit without complaint, so the view would see a body cut
    short: invalid JSON at best, a shorter valid one at worst. Read it here (cached for the view, at most the
    limit), and if the client sent more than that, refuse the request.
    """
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is None or request.content_length is not None:
        return
    if "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
        return
    data = request.get_data(cache=True)
    if len(data) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()


def reject_nul_in_url() -> None:
    """Refuse a NUL character anywhere in the path (404) or the query string (422).

    No slug, id or filter value contains one, SQLite and PostgreSQL disagree about storing it, and
    PostgreSQL refuses it in text parameters with an error; so it is stopped here, before any view.
    Request bodies are checked where they are parsed (the ticket text policy).
    """
    if "\x00" in request.path:
        raise NotFoundError("Nothing here: the address contains a NUL character.")
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            shown = name.replace("\x00", "\\x00")
            raise InvalidInputError(f"The query parameter {shown!r} contains a NUL character.",
                                    details=[{"field": shown, "message": "contains a NUL character"}])


def _respond(status: int, code: str, message: str, details: object = None) -> tuple[Response | str, int]:
    if wants_json():
        error: dict[str, object] = {"code": code, "message": message}
        if details is not None:
            error["details"] = details
        return jsonify({"error": error}), status
    return render_template("errors/error.html", status=status, code=code, message=message), status


def _rollback() -> None:
    """After a failed statement PostgreSQL refuses the rest of the transaction; the error page may still read."""
    db_session = g.get("db_session")
    if db_session is not None:
        db_session.rollback()


def init_app(app: Flask) -> None:
    # First of all before-request functions: the CSRF check reads the form, which must not be a cut stream.
    app.before_request_funcs.setdefault(None, [])[:0] = [check_url, limit_streamed_body]

    @app.errorhandler(HelpdeskError)
    def _helpdesk_error(exc: HelpdeskError):  # type: ignore[no-untyped-def]
        return _respond(exc.status_code, exc.code, exc.message, exc.details)

    @app.errorhandler(TicketLimitError)
    def _ticket_limit(exc: TicketLimitError):  # type: ignore[no-untyped-def]
        # Past a per-person ticket limit (helpdesk.tickets.limits): 429, and when to try again.
        body, status = _respond(exc.status_code, exc.code, exc.message, exc.details)
        return body, status, {"Retry-After": str(exc.retry_after)}

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):  # type: ignore[no-untyped-def]
        return _respond(
            400, "csrf_failed",
            f"{exc.description} Reload the page and try again; API clients send an X-CSRFToken header "
            "or use a bearer token.",
        )

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(exc: RateLimitExceeded):  # type: ignore[no-untyped-def]
        # Flask-Limiter adds Retry-After and the X-RateLimit headers to this response after the handler.
        from helpdesk.web import limiter

        current = limiter.current_limit
        wait = max(1, int(current.reset_at - time.time())) if current is not None else None
        when = f"try again in {wait} seconds" if wait else "try again shortly"
        body, status = _respond(429, "rate_limited", f"Too many requests ({exc.description}); {when}.")
        return body, status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        status = exc.code or 500
        messages = {
            413: f"The request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes.",
            404: "Nothing here. Check the address.",
            405: "This address does not accept that method.",
        }
        body, status = _respond(status, HTTP_CODES.get(status, "error"), messages.get(status, exc.description or ""))
        kept = [(name, value) for name, value in exc.get_headers() if name in _KEPT_HEADERS]
        return body, status, kept

    @app.errorhandler(OperationalError)
    def _database_down(exc: OperationalError):  # type: ignore[no-untyped-def]
        log.error("database unavailable: %s", exc.orig)
        return _respond(503, "unavailable", "The database is unavailable; try again shortly.")

    @app.errorhandler(DataError)
    @app.errorhandler(OverflowError)
    def _value_out_of_range(exc: Exception):  # type: ignore[no-untyped-def]
        # A safety net: a number beyond 64 bits (PostgreSQL NumericValueOutOfRange, SQLite's OverflowError
        # when binding it) or a value the database refuses reached a query. Routes should check first.
        log.warning("value refused by the database: %s", getattr(exc, "orig", exc))
        _rollback()
        return _respond(422, "invalid", "A value in the request is out of range or not allowed here "
                                         "(ids are at most 2147483647; text contains no NUL character).")

    @app.errorhandler(RecursionError)
    def _too_deep(exc: RecursionError):  # type: ignore[no-untyped-def]
        if not request.is_json:
            raise exc
        return _respond(400, "invalid_json", "The JSON body is nested too deeply.")
