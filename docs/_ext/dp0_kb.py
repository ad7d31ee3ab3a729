"""The knowledge base (``kb/``): front matter checked at build time, shown on each article, and index pages.

Every article starts with YAML front matter between two ``---`` lines. The fields (all required, no others):

``title``
    The question or answer in one line; it must be the article's ``#`` heading too (search shows the title).
``release``
    Which data preview the answer is about: ``DP0.1``, ``DP0.2`` or ``both``.
``queues``
    One or more queue slugs of ``helpdesk/data/queues.yaml``: the teams whose questions the article answers.
``tags``
    One or more lower-case words (letters, digits, ``.``, ``_``, ``-``), no repeats.
``reviewed``
    The date (``YYYY-MM-DD``) someone last checked the article against the facts; not in the future.

The body must link at least one page it relies on (a ``{ref}`` or ``{doc}`` role, or a Markdown or bare link).

A problem is a Sphinx warning located at the article's file and line, so the strict build (``-W``) fails on it.
Search (``helpdesk/search/documents.py``) reads ``title``, ``tags`` and ``queues`` from the same front matter.

``kb-index`` (``:by: queue`` or ``:by: tag``) lists the articles in one section per queue or tag; each section
carries the label ``kb-queue-<slug>`` or ``kb-tag-<tag>``, which the article pages link to.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from docutils import nodes
from docutils.parsers.rst import directives
from dp0_common import ROOT_DIR, load_yaml, paragraph, ref
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

QUEUES_FILE = ROOT_DIR / "helpdesk" / "data" / "queues.yaml"
KB_PREFIX = "kb/"
RELEASES = ("DP0.1", "DP0.2", "both")
FIELDS = ("title", "release", "queues", "tags", "reviewed")
TAG = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
LINK = re.compile(r"\{(?:ref|doc)\}`[^`]+`|\]\([^)\s]+\)|<https?://[^>\s]+>")
MAX_TITLE = 120
#: Index pages of the knowledge base: not articles, so they carry no front matter.
INDEX_DOCS = ("kb/index", "kb/queues/index", "kb/tags/index")
RELEASE_TEXT = {"DP0.1": "DP0.1", "DP0.2": "DP0.2", "both": "DP0.1 and DP0.2"}


@dataclass
class Problem:
    line: int  # 1-based line in the article file
    message: str


@dataclass
class Article:
    title: str = ""
    release: str = ""
    queues: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    reviewed: dt.date | None = None
    problems: list[Problem] = field(default_factory=list)


def known_queues() -> list[str]:
    return [q["slug"] for q in load_yaml(QUEUES_FILE)["queues"]]


def is_article(docname: str) -> bool:
    return docname.startswith(KB_PREFIX) and docname not in INDEX_DOCS and not docname.endswith("/README")


def _strings(value: Any, node: yaml.Node, name: str, offset: int, problems: list[Problem]) -> list[str]:
    """A non-empty YAML list of strings (one bare string is not accepted: say ``[a]``)."""
    if not isinstance(value, list) or not isinstance(node, yaml.SequenceNode):
        problems.append(Problem(node.start_mark.line + offset, f"{name!r} must be a list, for example [{name[:-1]}]"))
        return []
    if not value:
        problems.append(Problem(node.start_mark.line + offset, f"{name!r} must name at least one"))
    out: list[str] = []
    for item, item_node in zip(value, node.value, strict=True):
        line = item_node.start_mark.line + offset
        if not isinstance(item, str):
            problems.append(Problem(line, f"{name!r} entries must be words, got {item!r}"))
        elif item in out:
            problems.append(Problem(line, f"{item!r} is listed twice in {name!r}"))
        else:
            out.append(item)
    return out


def _items(value: Any, node: yaml.Node) -> list[tuple[Any, yaml.Node]]:
    if isinstance(value, list) and isinstance(node, yaml.SequenceNode):
        return list(zip(value, node.value, strict=True))
    return []


def check_article(text: str, queues: list[str], today: dt.date | None = None) -> Article:
    """Parse and check one article's source; every problem carries the line it is on."""
    today = today or dt.date.today()
    article = Article()
    problems = article.problems
    lines = text.splitlines()
    if not lines or lines[0].rstrip() != "---":
        problems.append(Problem(1, "an article must start with front matter: a line '---', the fields, a line '---'"))
        return article
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].rstrip() == "---")
    except StopIteration:
        problems.append(Problem(1, "the front matter is not closed by a second '---' line"))
        return article
    offset = 2  # YAML line 0 is file line 2
    source = "\n".join(lines[1:end])
    try:
        loader = yaml.SafeLoader(source)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + offset if mark else 2
        problems.append(Problem(line, f"the front matter is not valid YAML: {getattr(exc, 'problem', exc)}"))
        return article
    if not isinstance(node, yaml.MappingNode):
        problems.append(Problem(2, "the front matter must be fields ('name: value'), one per line"))
        return article

    seen: dict[str, tuple[Any, yaml.Node]] = {}
    for key_node, value_node in node.value:
        key, line = key_node.value, key_node.start_mark.line + offset
        if key not in FIELDS:
            problems.append(Problem(line, f"unknown field {key!r}; the fields are {', '.join(FIELDS)}"))
            continue
        if key in seen:
            problems.append(Problem(line, f"field {key!r} is given twice"))
            continue
        constructor = yaml.SafeLoader("")
        try:
            seen[key] = (constructor.construct_object(value_node, deep=True), value_node)
        finally:
            constructor.dispose()
    for key in FIELDS:
        if key not in seen:
            problems.append(Problem(end + 1, f"missing field {key!r}"))

    if "title" in seen:
        value, vnode = seen["title"]
        line = vnode.start_mark.line + offset
        if not isinstance(value, str) or not value.strip():
            problems.append(Problem(line, "'title' must be text"))
        elif len(value) > MAX_TITLE:
            problems.append(Problem(line, f"'title' is longer than {MAX_TITLE} characters"))
        else:
            article.title = value.strip()
    if "release" in seen:
        value, vnode = seen["release"]
        if value not in RELEASES:
            choices = ", ".join(RELEASES)
            line = vnode.start_mark.line + offset
            problems.append(Problem(line, f"'release' must be one of {choices}, got {value!r}"))
        else:
            article.release = value
    if "queues" in seen:
        value, vnode = seen["queues"]
        slugs = _strings(value, vnode, "queues", offset, problems)
        for item, item_node in _items(value, vnode):
            if isinstance(item, str) and item not in queues:
                problems.append(
                    Problem(item_node.start_mark.line + offset, f"unknown queue {item!r}; known: {', '.join(queues)}")
                )
        article.queues = [q for q in slugs if q in queues]
    if "tags" in seen:
        value, vnode = seen["tags"]
        tags = _strings(value, vnode, "tags", offset, problems)
        for item, item_node in _items(value, vnode):
            if isinstance(item, str) and not TAG.match(item):
                problems.append(
                    Problem(
                        item_node.start_mark.line + offset,
                        f"tag {item!r} must be lower case: letters, digits, '.', '_' or '-'",
                    )
                )
        article.tags = [t for t in tags if TAG.match(t)]
    if "reviewed" in seen:
        value, vnode = seen["reviewed"]
        line = vnode.start_mark.line + offset
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = dt.date.fromisoformat(value)
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            problems.append(Problem(line, f"'reviewed' must be a date written YYYY-MM-DD, got {value!r}"))
        elif value > today:
            problems.append(Problem(line, f"'reviewed' is in the future ({value.isoformat()})"))
        else:
            article.reviewed = value

    _check_body(lines, end, article)
    return article


def _check_body(lines: list[str], end: int, article: Article) -> None:
    headings: list[tuple[int, str]] = []
    fence: str | None = None  # the backticks or colons that opened the code block or directive we are in
    for i in range(end + 1, len(lines)):
        stripped = lines[i].strip()
        marker = re.match(r"^(`{3,}|:{3,})", stripped)
        if marker and fence is None:
            fence = marker.group(1)
            continue
        if fence is not None:
            if stripped == fence:
                fence = None
            continue
        if re.match(r"^#\s+\S", lines[i]):
            headings.append((i + 1, lines[i][1:].strip()))
    if not headings:
        article.problems.append(Problem(end + 2, "the article needs a '# ' heading (the same text as 'title')"))
    else:
        line, heading = headings[0]
        if article.title and heading != article.title:
            article.problems.append(Problem(line, f"the heading {heading!r} differs from the title {article.title!r}"))
        for line, _heading in headings[1:]:
            article.problems.append(Problem(line, "only one '# ' heading per article; use '##' for sections"))
    body = "\n".join(lines[end + 1 :])
    if not LINK.search(body):
        article.problems.append(
            Problem(end + 2, "the article links no page it relies on (use {ref}, {doc} or a link to an official page)")
        )


# --------------------------------------------------------------------------------------------------
# Build hooks


def check_source(app: Sphinx, docname: str, source: list[str]) -> None:
    if not is_article(docname):
        return
    article = check_article(source[0], known_queues())
    for problem in article.problems:
        logger.warning(
            f"knowledge-base front matter: {problem.message}",
            location=(docname, problem.line),
            type="dp0",
            subtype="kb",
        )


def _articles(env: Any) -> list[tuple[str, Article]]:
    """Every article of the source tree, read from disk (index pages are re-read whenever one changes)."""
    queues = known_queues()
    found = []
    for docname in sorted(env.found_docs):
        if is_article(docname):
            path = Path(env.doc2path(docname))
            found.append((docname, check_article(path.read_text(encoding="utf-8"), queues)))
            env.note_dependency(str(path))
    return found


def queue_label(slug: str) -> str:
    return f"kb-queue-{slug}"


def tag_label(tag: str) -> str:
    return f"kb-tag-{tag}"


def _section(document: nodes.document, title: str, label: str) -> nodes.section:
    """A section that {ref} can reach by ``label`` (an explicit target, as a ``(label)=`` line would make)."""
    node = nodes.section(ids=[nodes.make_id(label)], names=[label])
    node += nodes.title(title, title)
    document.note_explicit_target(node, node)
    return node


class KBIndex(SphinxDirective):
    """The articles in one section per queue (``:by: queue``) or per tag (``:by: tag``)."""

    option_spec = {"by": lambda arg: directives.choice(arg, ("queue", "tag"))}

    def run(self) -> list[nodes.Node]:
        by = self.options.get("by", "queue")
        self.env.note_dependency(str(QUEUES_FILE))
        articles = [(d, a) for d, a in _articles(self.env) if a.title]
        document = self.state.document
        result: list[nodes.Node] = []
        if by == "queue":
            groups = [
                (q["slug"], f"{q['name']} ({q['slug']})", queue_label(q["slug"]))
                for q in load_yaml(QUEUES_FILE)["queues"]
            ]
            members = {slug: [(d, a) for d, a in articles if slug in a.queues] for slug, _, _ in groups}
        else:
            tags = sorted({t for _, a in articles for t in a.tags})
            groups = [(t, t, tag_label(t)) for t in tags]
            members = {t: [(d, a) for d, a in articles if t in a.tags] for t in tags}
        result.append(
            paragraph(f"{len(articles)} articles in {len(groups)} {'queues' if by == 'queue' else 'tags'}.")
        )
        for key, title, label in groups:
            sec = _section(document, title, label)
            listed = sorted(members[key], key=lambda da: da[1].title.lower())
            if not listed:
                sec += paragraph("No article yet.")
            else:
                items = nodes.bullet_list()
                for docname, article in listed:
                    link = ref_doc(docname, article.title)
                    items += nodes.list_item("", paragraph(link, f" ({RELEASE_TEXT[article.release]})"
                                                           if article.release else ""))
                sec += items
            result.append(sec)
        return result


def ref_doc(docname: str, text: str) -> nodes.Node:
    from sphinx import addnodes

    node = addnodes.pending_xref(
        "", refdomain="std", reftype="doc", reftarget="/" + docname, refexplicit=True, refwarn=True
    )
    node += nodes.inline(text, text)
    return node


def add_article_meta(app: Sphinx, doctree: nodes.document) -> None:
    """Under an article's title: the release, queues and tags (linked to the index pages) and the review date."""
    docname = app.env.docname
    if not is_article(docname):
        return
    article = check_article(Path(app.env.doc2path(docname)).read_text(encoding="utf-8"), known_queues())
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None or not article.title:
        return
    fields = nodes.field_list()

    def add(label: str, *parts: str | nodes.Node) -> None:
        fields.append(nodes.field("", nodes.field_name(label, label), nodes.field_body("", paragraph(*parts))))

    if article.release:
        add("Applies to", RELEASE_TEXT[article.release])
    # Linked to the index pages when the site has them (a site without them still builds, unlinked).
    by_queue, by_tag = (d in app.env.found_docs for d in ("kb/queues/index", "kb/tags/index"))
    for label, values, linked, make_label in (
        ("Queues", article.queues, by_queue, queue_label),
        ("Tags", article.tags, by_tag, tag_label),
    ):
        if values:
            parts: list[str | nodes.Node] = []
            for i, value in enumerate(values):
                parts += ([", "] if i else []) + [ref(make_label(value), value) if linked else value]
            add(label, *parts)
    if article.reviewed:
        add("Reviewed", article.reviewed.isoformat())
    box = nodes.container(classes=["dp0-kb-meta"])
    box += fields
    title_index = section.first_child_matching_class(nodes.title)
    section.insert((title_index or 0) + 1, box)


def reread_indexes(app: Sphinx, env: Any, added: set[str], changed: set[str], removed: set[str]) -> list[str]:
    """An article added, changed or removed changes the index pages, which are read again."""
    if any(is_article(d) for d in added | changed | removed):
        return [d for d in INDEX_DOCS if d in env.found_docs]
    return []


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("source-read", check_source)
    app.connect("doctree-read", add_article_meta)
    app.connect("env-get-outdated", reread_indexes)
    app.add_directive("kb-index", KBIndex)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
