"""Site-wide behaviour: the "Ask about this page" link on every page and the root redirect.

The helpdesk serves the built site under ``dp0_docs_url_prefix`` (``/docs/``), so a page's address is that
prefix plus its target URI; the link opens the helpdesk's ticket form with the page and a subject filled in.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from docutils import nodes
from sphinx.application import Sphinx

ASK_ROUTE = "/tickets/new"


def page_path(app: Sphinx, pagename: str) -> str:
    prefix = app.config.dp0_docs_url_prefix
    if not prefix.endswith("/"):
        prefix += "/"
    return prefix + app.builder.get_target_uri(pagename)


def ask_url(app: Sphinx, pagename: str, title: str) -> str:
    query = urlencode([("page", page_path(app, pagename)), ("subject", f"Question about: {title}")], quote_via=quote)
    return f"{ASK_ROUTE}?{query}"


def _page_title(app: Sphinx, pagename: str, context: dict[str, Any]) -> str:
    node = app.env.titles.get(pagename)
    if node is not None:
        return node.astext().strip()
    raw = context.get("title") or app.config.project
    return html.unescape(re.sub(r"<[^>]+>", "", str(raw))).strip()


def add_ask_link(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    context["dp0_ask_url"] = ask_url(app, pagename, _page_title(app, pagename, context))


def app_role(name, rawtext, text, lineno, inliner, options=None, content=None):  # noqa: ARG001 - docutils API
    """``{app}`/signup``` or ``{app}`sign-up page </signup>```: a link to a route of the helpdesk serving this site."""
    match = re.fullmatch(r"(.*?)\s*<(/[^>]*)>", text.strip(), flags=re.S)
    label, target = (match.group(1), match.group(2)) if match else (text.strip(), text.strip())
    if not target.startswith("/"):
        msg = inliner.reporter.error(f"{{app}} needs an absolute path on the helpdesk, got {target!r}", line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    node = nodes.reference(rawtext, label or target, refuri=target, classes=["dp0-app-link"])
    return [node], []


REDIRECT = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<meta http-equiv="refresh" content="0; url={target}">
<link rel="canonical" href="{target}">
</head>
<body><p>The documentation starts at <a href="{target}">{target}</a>.</p></body>
</html>
"""


def write_root_redirect(app: Sphinx, exception: BaseException | None) -> None:
    """Emit OUT/index.html pointing at the root document when that document is not itself index.html."""
    if exception is not None or app.builder.format != "html":
        return
    target = app.builder.get_target_uri(app.config.root_doc)
    if target in ("", "index.html"):
        return
    Path(app.outdir, "index.html").write_text(
        REDIRECT.format(title=html.escape(app.config.project), target=html.escape(target)), encoding="utf-8"
    )


def add_knowledge_base(app: Sphinx, docname: str, source: list[str]) -> None:
    """Put the knowledge base (``kb/``, written separately) in the home page's navigation when it exists.

    ``kb/index`` is linked when present (it then carries its own toctree); otherwise every ``kb/`` article is.
    """
    if docname != app.config.root_doc:
        return
    kb_docs = sorted(d for d in app.env.found_docs if d.startswith("kb/"))
    if not kb_docs:
        return
    entry = "/kb/index" if "kb/index" in kb_docs else "/kb/*"
    source[0] += f"\n\n```{{toctree}}\n:caption: Knowledge base\n:hidden:\n:glob:\n\n{entry}\n```\n"


def reread_home_with_kb(app: Sphinx, env: Any, added: set[str], changed: set[str], removed: set[str]) -> list[str]:
    """Articles come and go in kb/, so the home page (which lists them) is read again whenever kb/ exists."""
    return [app.config.root_doc] if any(d.startswith("kb/") for d in env.found_docs) else []


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("dp0_docs_url_prefix", "/docs/", "html", types=[str])
    app.add_role("app", app_role)
    app.connect("source-read", add_knowledge_base)
    app.connect("env-get-outdated", reread_home_with_kb)
    app.connect("html-page-context", add_ask_link)
    app.connect("build-finished", write_root_redirect)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
