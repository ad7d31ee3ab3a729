"""Reading what gets indexed: knowledge-base articles (MyST with front matter) and built doc pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import yaml

FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
MYST_NOISE = re.compile(r"^(\(.+\)=|```.*|:::.*|:\w+:.*)$", re.M)
MARKUP = re.compile(r"\*\*|`")
ROLE = re.compile(r"\{\w+\}`([^`<]*?)(?:\s*<[^>]+>)?`")

#: Pages for the people who run the helpdesk, not for delegates asking a question: the operator guide, the
#: helpdesk's settings, commands and HTTP API, its benchmark figures, and the contributor guide. Search
#: leaves them out of what delegates are offered (``audience="delegates"``); staff still find them.
#: URL prefixes, as ``read_built_page`` names pages.
STAFF_ONLY_URLS = (
    "/docs/docs/operator/",
    "/docs/docs/reference/settings.html",
    "/docs/docs/reference/cli.html",
    "/docs/docs/reference/http-api.html",
    "/docs/docs/reference/performance.html",
    "/docs/docs/contributing.html",
)


@dataclass(frozen=True)
class Document:
    kind: str  # "kb" or "docs"
    path: str  # unique: the site URL
    title: str
    body: str
    tags: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)


def read_kb_article(path: Path, kb_root: Path) -> Document:
    """A knowledge-base article: front matter (title, tags, queues) then MyST Markdown."""
    text = path.read_text(encoding="utf-8")
    meta: dict[str, object] = {}
    if match := FRONT_MATTER.match(text):
        meta = yaml.safe_load(match.group(1)) or {}
        text = text[match.end():]
    title = str(meta.get("title") or _first_heading(text) or path.stem.replace("-", " "))
    # The heading repeats the title, which is indexed (and shown) on its own.
    body = ROLE.sub(r"\1", MYST_NOISE.sub("", re.sub(r"^#\s+.+$", "", text, count=1, flags=re.M)))
    body = MARKUP.sub("", body)  # snippets are shown as plain text
    relative = path.relative_to(kb_root.parent).with_suffix(".html").as_posix()
    return Document(
        kind="kb", path=f"/docs/{relative}", title=title, body=body,
        tags=[str(t) for t in _as_list(meta.get("tags"))], queues=[str(q) for q in _as_list(meta.get("queues"))],
    )


def iter_kb(kb_root: Path) -> Iterator[Document]:
    for path in sorted(kb_root.glob("**/*.md")):
        if path.name not in ("index.md", "README.md"):
            yield read_kb_article(path, kb_root)


class _ArticleText(HTMLParser):
    """Collects the page title and the text of the main article, skipping scripts and navigation."""

    SKIP = {"script", "style", "nav", "header", "footer", "aside", "button"}

    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.parts: list[str] = []
        self._in_title = False
        self._in_body = False
        self._in_article = 0
        self._skip = 0
        self._skip_stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "body":
            self._in_body = True
        elif tag == "title" and not self._in_body:  # not the <title> of an inline SVG
            self._in_title = True
        elif tag in self.SKIP or "headerlink" in classes or tag == "svg":
            self._skip += 1
            self._skip_stack.append(tag)
        elif tag == "article" or (self._in_article and tag in ("article", "div", "section")):
            self._in_article += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif self._skip_stack and tag == self._skip_stack[-1]:
            self._skip_stack.pop()
            self._skip -= 1
        elif self._in_article and tag in ("article", "div", "section"):
            self._in_article -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif self._in_article and not self._skip and data.strip():
            self.parts.append(data.strip())


def read_built_page(path: Path, site_root: Path) -> Document | None:
    parser = _ArticleText()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    body = " ".join(parser.parts)
    if not body:
        return None
    title = re.sub(r"\s+[—–-]+\s+DP0 Support Desk\s*$", "", parser.title.replace("\u00b6", "")).strip()
    return Document(kind="docs", path="/docs/" + path.relative_to(site_root).as_posix(), title=title, body=body)


def iter_built_docs(site_root: Path) -> Iterator[Document]:
    """Pages of the built Sphinx site under ``docs/`` (the knowledge base is indexed from its sources)."""
    for path in sorted((site_root / "docs").glob("**/*.html")):
        if path.name in ("genindex.html", "search.html"):
            continue
        document = read_built_page(path, site_root)
        if document is not None:
            yield document


def _first_heading(text: str) -> str | None:
    match = re.search(r"^#\s+(.+)$", text, re.M)
    return match.group(1).strip() if match else None


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
