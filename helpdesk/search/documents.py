"""Reading what gets indexed: knowledge-base articles (MyST with front matter) and built doc pages."""

from __future__ import annotations

import hashlib
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
SUBHEADING = re.compile(r"^#{2,6}\s+(.+?)\s*#*\s*$", re.M)

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
    "/docs/docs/reference/search.html",
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
    #: The section headings below the title, one a line: indexed as their own field, ranked between the
    #: title and the body (a page with a "Columns" section answers "... columns" better than a mention).
    headings: str = ""


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
    headings = "\n".join(MARKUP.sub("", ROLE.sub(r"\1", h)) for h in SUBHEADING.findall(text))
    relative = path.relative_to(kb_root.parent).with_suffix(".html").as_posix()
    return Document(
        kind="kb", path=f"/docs/{relative}", title=title, body=body,
        tags=[str(t) for t in _as_list(meta.get("tags"))], queues=[str(q) for q in _as_list(meta.get("queues"))],
        headings=headings,
    )


def iter_kb(kb_root: Path) -> Iterator[Document]:
    for path in sorted(kb_root.glob("**/*.md")):
        if path.name not in ("index.md", "README.md"):
            yield read_kb_article(path, kb_root)


class _ArticleText(HTMLParser):
    """Collects the page title and the text of the main article, skipping scripts and navigation."""

    SKIP = {"script", "style", "nav", "header", "footer", "aside", "button"}
    #: Section headings (the page's h1 is its title, indexed on its own).
    HEADINGS = {"h2", "h3", "h4", "h5", "h6"}

    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.parts: list[str] = []
        self.headings: list[str] = []
        self._heading: list[str] | None = None
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
        elif self._in_article and tag in self.HEADINGS:
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self.HEADINGS and self._heading is not None:
            if text := " ".join(self._heading).strip():
                self.headings.append(text)
            self._heading = None
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
            if self._heading is not None:
                self._heading.append(data.strip())


def read_built_page(path: Path, site_root: Path) -> Document | None:
    parser = _ArticleText()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    body = " ".join(parser.parts)
    if not body:
        return None
    title = re.sub(r"\s+[—–-]+\s+DP0 Support Desk\s*$", "", parser.title.replace("\u00b6", "")).strip()
    return Document(kind="docs", path="/docs/" + path.relative_to(site_root).as_posix(), title=title, body=body,
                    headings="\n".join(parser.headings))


def iter_built_docs(site_root: Path) -> Iterator[Document]:
    """Pages of the built Sphinx site under ``docs/`` (the knowledge base is indexed from its sources)."""
    for path in sorted((site_root / "docs").glob("**/*.html")):
        if path.name in ("genindex.html", "search.html"):
            continue
        document = read_built_page(path, site_root)
        if document is not None:
            yield document


@dataclass(frozen=True)
class SourceFile:
    """One file the index is built from; ``key`` names it in the index's manifest (kind and relative path)."""

    key: str
    path: Path
    kind: str  # "kb" (a MyST article) or "docs" (a built HTML page)
    root: Path

    def documents(self) -> list[Document]:
        if self.kind == "kb":
            return [read_kb_article(self.path, self.root)]
        page = read_built_page(self.path, self.root)
        return [page] if page is not None else []

    def digest(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def iter_sources(kb_root: Path, site_root: Path | None) -> Iterator[SourceFile]:
    """The files ``helpdesk kb index`` reads: the articles, then the built documentation's pages."""
    for path in sorted(kb_root.glob("**/*.md")):
        if path.name not in ("index.md", "README.md"):
            yield SourceFile("kb:" + path.relative_to(kb_root).as_posix(), path, "kb", kb_root)
    if site_root is not None:
        for path in sorted((site_root / "docs").glob("**/*.html")):
            if path.name not in ("genindex.html", "search.html"):
                yield SourceFile("docs:" + path.relative_to(site_root).as_posix(), path, "docs", site_root)


#: The glossary whose acronyms search treats as synonyms of their expansions, in a source checkout.
GLOSSARY = Path("docs/_data/acronyms.yaml")
_EXPANSION_END = re.compile(r"[,.;(]")
_MINOR = {"of", "the", "and", "for", "a", "an", "in", "on", "to"}


def load_acronyms(path: Path | None = None) -> dict[str, str]:
    """``{"TAP": "Table Access Protocol", ...}`` from the glossary: the expansion is the text before the first
    comma, period or parenthesis, kept only when its words' initials spell the acronym's first letter (entries
    that explain rather than expand, such as one quoting the planning note, are left out). Empty when the
    glossary is absent (an installed package without the documentation sources)."""
    candidates = [path] if path is not None else [GLOSSARY, Path(__file__).resolve().parents[2] / GLOSSARY]
    for candidate in candidates:
        if candidate.is_file():
            data = yaml.safe_load(candidate.read_text(encoding="utf-8")) or {}
            break
    else:
        return {}
    pairs = {}
    for acronym, text in (data.get("acronyms") or {}).items():
        expansion = _EXPANSION_END.split(str(text), maxsplit=1)[0].strip()
        words = [w for w in expansion.split() if w.lower() not in _MINOR]
        if len(words) >= 2 and words[0][:1].lower() == str(acronym)[:1].lower():
            pairs[str(acronym)] = expansion
    return pairs


def _first_heading(text: str) -> str | None:
    match = re.search(r"^#\s+(.+)$", text, re.M)
    return match.group(1).strip() if match else None


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
