"""Template helpers: safe Markdown for user content, timestamps, who is signed in."""

from __future__ import annotations

from datetime import datetime

import nh3
from flask import Flask
from markdown_it import MarkdownIt
from markupsafe import Markup

from helpdesk.links import safe_link
from helpdesk.web import current_user, get_settings

# html=False: raw HTML typed by a user is shown as text; nh3 then guards what Markdown produced.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_ALLOWED_TAGS = {"p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h1", "h2",
                 "h3", "h4", "table", "thead", "tbody", "tr", "th", "td", "hr"}


def render_markdown(text: str) -> Markup:
    html = _markdown.render(text or "")
    clean = nh3.clean(html, tags=_ALLOWED_TAGS, attributes={"a": {"href", "title"}},
                      link_rel="nofollow noopener noreferrer")
    return Markup(clean)  # noqa: S704 - sanitised by nh3 just above


def format_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def init_app(app: Flask) -> None:
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.filters["time"] = format_time
    app.jinja_env.filters["safe_link"] = safe_link

    @app.context_processor
    def _globals() -> dict[str, object]:
        return {"current_user": current_user(), "settings": get_settings()}
