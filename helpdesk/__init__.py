"""The DP0 Support Desk: helpdesk, knowledge base and documentation portal for Rubin's Data Preview 0."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from helpdesk.config import Settings

__all__ = ["create_app"]


@dataclass
class HelpdeskState:
    """What the app keeps in ``app.extensions["helpdesk"]``."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    #: For GET and HEAD requests: on SQLite these do not queue behind writers.
    read_session_factory: sessionmaker[Session]


def create_app(settings: Settings | None = None) -> Flask:
    """Build the WSGI application. Production refuses unsafe settings here, before serving anything."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    from helpdesk import errors, ops, templating
    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.logging import configure_logging
    from helpdesk.web import close_session, csrf, limit_api_writes, limiter

    settings = settings or Settings()
    settings.check_safe_for_production()
    configure_logging(settings.log_level, settings.log_format)

    app = Flask(__name__, instance_path=str(Path("var").resolve()))
    app.config.update(
        SECRET_KEY=settings.resolved_secret_key(Path(app.instance_path)),
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        # The cookie lives no longer than the server-side session it names (helpdesk.accounts).
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_lifetime_hours),
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        # In production the cookie is `__Host-` prefixed: browsers then only accept it over HTTPS, for the
        # whole host (Path=/) and never from a sibling domain (no Domain), so a subdomain cannot plant one.
        SESSION_COOKIE_NAME="__Host-session" if settings.is_production else "session",
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_DOMAIN=None,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        RATELIMIT_ENABLED=settings.rate_limit_enabled,
        RATELIMIT_STORAGE_URI=settings.rate_limit_storage_url,
        RATELIMIT_HEADERS_ENABLED=True,
        TESTING=settings.env == "testing",
    )
    if settings.proxy_count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_count, x_proto=settings.proxy_count,
                                x_host=settings.proxy_count)

    engine = make_engine(settings.database_url)
    app.extensions["helpdesk"] = HelpdeskState(
        settings, engine, make_session_factory(engine), make_session_factory(engine, read_mostly=True)
    )
    app.teardown_appcontext(close_session)

    ops.init_app(app)  # first, so that request ids and timings cover the CSRF and rate-limit checks too
    csrf.init_app(app)
    limiter.init_app(app)
    templating.init_app(app)
    errors.init_app(app)

    from helpdesk.accounts.routes import bp as auth_bp
    from helpdesk.api.routes import bp as api_bp
    from helpdesk.api.routes import openapi as api_openapi
    from helpdesk.channels.routes import bp as integrations_bp
    from helpdesk.deflection.routes import bp as deflection_bp

    # Modules that add routes to another package's blueprint are imported here, not at the bottom of
    # that blueprint's module, so that no import cycle ties the two packages together.
    from helpdesk.programs import admin as _programme_admin  # noqa: F401 - programme pages, on programs_bp
    from helpdesk.programs import api as _programme_api  # noqa: F401 - the applications API, on api_bp
    from helpdesk.programs.routes import bp as programs_bp
    from helpdesk.staff import dashboard as _dashboard  # noqa: F401 - charts and their CSV (issue #9)
    from helpdesk.staff import delegates as _delegates  # noqa: F401 - idle seats and held questions (issue #10)
    from helpdesk.staff import knowledge as _knowledge  # noqa: F401 - knowledge gaps and drafts, on the staff blueprint
    from helpdesk.staff import lists as _lists  # noqa: F401 - the board, ticket lists, bulk actions, saved views
    from helpdesk.staff import macros as _macros  # noqa: F401 - canned replies, on the staff blueprint
    from helpdesk.staff import ticket_actions as _ticket_actions  # noqa: F401 - the ticket page's actions
    from helpdesk.staff.routes import bp as staff_bp
    from helpdesk.tickets.routes import bp as tickets_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(tickets_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(deflection_bp)
    limit_api_writes(api_bp)  # HELPDESK_RATE_LIMIT_API_WRITES, from outside the API blueprint
    app.register_blueprint(api_bp)
    app.register_blueprint(programs_bp)
    app.register_blueprint(integrations_bp)
    app.add_url_rule("/openapi.json", "openapi", api_openapi)
    return app
