"""Shared helpers for the documentation's build-time generators: data paths and docutils builders."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from docutils import nodes
from sphinx import addnodes

DOCS_DIR = Path(__file__).resolve().parent.parent
ROOT_DIR = DOCS_DIR.parent
DATA_DIR = DOCS_DIR / "_data"
SCHEMA_DIR = DATA_DIR / "schemas"

Cell = str | int | float | nodes.Node | Sequence[nodes.Node] | None


@cache
def load_yaml(path: Path) -> Any:
    """Parse a YAML file once per build process."""
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def data(name: str) -> Any:
    """A YAML file under ``docs/_data/``."""
    return load_yaml(DATA_DIR / name)


def literal(text: str) -> nodes.literal:
    return nodes.literal(text, text)


def text_or_dash(value: object) -> str:
    return "—" if value is None or value == "" else str(value)


def _cell(value: Cell) -> nodes.entry:
    entry = nodes.entry()
    if isinstance(value, nodes.Element) and not isinstance(value, nodes.TextElement | nodes.Inline):
        entry += value
        return entry
    para = nodes.paragraph()
    if value is None:
        para += nodes.Text("")
    elif isinstance(value, nodes.Node):
        para += value
    elif isinstance(value, list | tuple):
        for child in value:
            para += child
    else:
        para += nodes.Text(str(value))
    entry += para
    return entry


def build_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    widths: Sequence[int] | None = None,
    classes: Sequence[str] = (),
    caption: str | None = None,
) -> nodes.table:
    """A docutils table whose cells are plain text (never parsed as markup) or prebuilt nodes."""
    table = nodes.table(classes=["dp0-table", *classes])
    if caption:
        table += nodes.title(caption, caption)
    group = nodes.tgroup(cols=len(headers))
    table += group
    for width in widths or [1] * len(headers):
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    header_row = nodes.row()
    for header in headers:
        header_row += _cell(header)
    head += header_row
    body = nodes.tbody()
    group += body
    for row in rows:
        body_row = nodes.row()
        for value in row:
            body_row += _cell(value)
        body += body_row
    return table


def ref(label: str, text: str) -> addnodes.pending_xref:
    """A ``{ref}`` to a label, resolved (and checked by nitpicky mode) when pages are written."""
    node = addnodes.pending_xref(
        "", refdomain="std", reftype="ref", reftarget=label.lower(), refexplicit=True, refwarn=True
    )
    node += nodes.inline(text, text)
    return node


def section(document: nodes.document, title: str, key: str) -> nodes.section:
    """A section with a title and a stable id, registered with the document."""
    node = nodes.section(ids=[nodes.make_id(key)], names=[nodes.fully_normalize_name(key)])
    node += nodes.title(title, title)
    document.note_implicit_target(node, node)
    return node


def paragraph(*parts: str | nodes.Node) -> nodes.paragraph:
    para = nodes.paragraph()
    for part in parts:
        para += nodes.Text(part) if isinstance(part, str) else part
    return para


def write_if_changed(path: Path, text: str) -> None:
    """Write a generated file atomically, and only when its content changed (keeps rebuilds incremental)."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
