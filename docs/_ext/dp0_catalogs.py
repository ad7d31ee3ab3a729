"""Catalog reference pages generated at build time from the Felis schema files in ``docs/_data/schemas``.

* At ``builder-inited`` one page per release and one per table are written under
  ``docs/reference/catalogs/dp01/`` and ``.../dp02/`` (git-ignored); each holds only a title and a directive.
* ``catalog-release`` and ``catalog-table`` turn the YAML into tables of columns (type, unit, UCD, description),
  the identifying key and the joins.
* ``er-diagram`` renders a Mermaid ``erDiagram`` file to inline SVG in pure Python, so the site needs no
  JavaScript renderer and no network to show it.
"""

from __future__ import annotations

import html
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from dp0_common import (
    DOCS_DIR,
    SCHEMA_DIR,
    build_table,
    data,
    literal,
    load_yaml,
    paragraph,
    ref,
    section,
    write_if_changed,
)
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective

CATALOG_DIR = DOCS_DIR / "reference" / "catalogs"

# --------------------------------------------------------------------------------------------------
# Schema access


def releases() -> dict[str, dict[str, Any]]:
    return data("catalog-keys.yaml")["releases"]


def schema(release: str) -> dict[str, Any]:
    info = releases()[release]
    return load_yaml(SCHEMA_DIR / info["schema_file"])


def tables(release: str) -> list[dict[str, Any]]:
    return sorted(schema(release)["tables"], key=lambda t: t.get("tap:table_index", 0))


def table(release: str, name: str) -> dict[str, Any]:
    for candidate in tables(release):
        if candidate["name"] == name:
            return candidate
    raise ExtensionError(f"catalog table {name!r} is not in {releases()[release]['schema_file']}")


def table_label(release: str, name: str) -> str:
    return f"catalog-{release}-{name}".lower()


def table_docname(release: str, name: str) -> str:
    return name.lower()


def primary_key(release: str, tab: dict[str, Any]) -> list[str]:
    """The identifying column(s): the Felis ``primaryKey`` when present, else the project's key file."""
    declared = tab.get("primaryKey")
    if declared:
        keys = declared if isinstance(declared, list) else [declared]
        return [str(k).split(".")[-1].lstrip("#") for k in keys]
    try:
        return list(releases()[release]["tables"][tab["name"]]["key"])
    except KeyError as exc:
        raise ExtensionError(f"no key known for {release} table {tab['name']}; add it to catalog-keys.yaml") from exc


def column_unit(column: dict[str, Any]) -> str:
    for key in ("fits:tunit", "ivoa:unit", "fits.tunit", "fits:tunits"):
        value = column.get(key)
        if value not in (None, ""):
            return str(value)
    return ""


def column_type(column: dict[str, Any]) -> str:
    datatype = str(column.get("datatype", ""))
    size = column.get("votable:arraysize") or column.get("length")
    return f"{datatype}({size})" if size and datatype in {"char", "string", "unicode", "text"} else datatype


# --------------------------------------------------------------------------------------------------
# Mermaid erDiagram: parse and render to SVG

CARDINALITY = {"||": "exactly one", "o|": "zero or one", "o{": "zero or more", "|{": "one or more"}
CARD_SHORT = {"||": "1", "o|": "0..1", "o{": "0..n", "|{": "1..n"}
_REL = re.compile(r"^(\w+)\s+([|}o]{2})(--|\.\.)([|{o]{2})\s+(\w+)\s*:\s*(.+)$")
_ENTITY = re.compile(r"^(\w+)\s*\{$")


@dataclass
class Relation:
    left: str
    right: str
    left_card: str  # normalised to the right-hand form: ||, o|, o{, |{
    right_card: str
    identifying: bool
    label: str

    def sentence(self) -> str:
        return (
            f"{self.left} {self.label} {self.right}: each {self.left} row has {CARDINALITY[self.right_card]} "
            f"{self.right} rows; each {self.right} row has {CARDINALITY[self.left_card]} {self.left} rows."
        )


@dataclass
class ERDiagram:
    title: str = ""
    entities: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)

    def relations_of(self, name: str) -> list[Relation]:
        return [r for r in self.relations if name in (r.left, r.right)]


def parse_er(text: str) -> ERDiagram:
    diagram = ERDiagram()
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        end = lines.index("---", 1)
        for line in lines[1:end]:
            if line.strip().startswith("title:"):
                diagram.title = line.split(":", 1)[1].strip()
        lines = lines[end + 1 :]
    current: str | None = None
    seen_header = False
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("%%"):
            continue
        if not seen_header:
            if line != "erDiagram":
                raise ExtensionError(f"only Mermaid erDiagram is supported, got {line!r}")
            seen_header = True
            continue
        if current is not None:
            if line == "}":
                current = None
                continue
            parts = line.split()
            if len(parts) < 2:
                raise ExtensionError(f"bad attribute line in entity {current}: {line!r}")
            diagram.entities[current].append((parts[0], parts[1], " ".join(parts[2:])))
            continue
        if match := _ENTITY.match(line):
            current = match.group(1)
            diagram.entities.setdefault(current, [])
            continue
        if match := _REL.match(line):
            left, lcard, style, rcard, right, label = match.groups()
            diagram.entities.setdefault(left, [])
            diagram.entities.setdefault(right, [])
            diagram.relations.append(
                Relation(
                    left=left,
                    right=right,
                    left_card=lcard[::-1].replace("}", "{"),
                    right_card=rcard,
                    identifying=style == "--",
                    label=label.strip().strip('"'),
                )
            )
            continue
        raise ExtensionError(f"unsupported Mermaid erDiagram line: {line!r}")
    for rel in diagram.relations:
        for card in (rel.left_card, rel.right_card):
            if card not in CARDINALITY:
                raise ExtensionError(f"unknown cardinality {card!r} in {rel}")
    return diagram


def load_er(path: Path) -> ERDiagram:
    return parse_er(path.read_text(encoding="utf-8"))


# Layers run left to right (one column per layer, boxes stacked in it): the widest layer of DP0.2 has six tables,
# which side by side made a 1500-pixel drawing that a laptop's content column (about 700 pixels) shrank to
# unreadable text. Three columns of 188 fit a 620-pixel column (a 1280-pixel screen) at 85 % of full size.
BOX_W, HEAD_H, ROW_H, GAP_X, GAP_Y, MARGIN = 188, 26, 17, 78, 28, 12


def _layers(diagram: ERDiagram) -> list[list[str]]:
    """Longest-path layering along relation direction, then one barycentre pass to reduce crossings."""
    names = list(diagram.entities)
    preds: dict[str, list[str]] = defaultdict(list)
    for rel in diagram.relations:
        if rel.left != rel.right:
            preds[rel.right].append(rel.left)
    depth: dict[str, int] = {}

    def level(name: str, stack: tuple[str, ...] = ()) -> int:
        if name in depth:
            return depth[name]
        if name in stack:
            return 0
        depth[name] = max((level(p, (*stack, name)) + 1 for p in preds[name]), default=0)
        return depth[name]

    for name in names:
        level(name)
    layers: list[list[str]] = [[] for _ in range(max(depth.values(), default=0) + 1)]
    for name in names:
        layers[depth[name]].append(name)
    neighbours: dict[str, set[str]] = defaultdict(set)
    for rel in diagram.relations:
        neighbours[rel.left].add(rel.right)
        neighbours[rel.right].add(rel.left)
    for i in range(1, len(layers)):
        order = {n: k for k, n in enumerate(layers[i - 1])}

        def bary(name: str, order: dict[str, int] = order, i: int = i) -> float:
            linked = [order[n] for n in neighbours[name] if n in order]
            return sum(linked) / len(linked) if linked else float(layers[i].index(name))

        layers[i].sort(key=bary)
    return layers


def _clip(cx: float, cy: float, w: float, h: float, tx: float, ty: float) -> tuple[float, float]:
    """Where the segment from a box's centre towards (tx, ty) leaves the box."""
    dx, dy = tx - cx, ty - cy
    if dx == 0 and dy == 0:
        return cx, cy
    scale = min((w / 2) / abs(dx) if dx else math.inf, (h / 2) / abs(dy) if dy else math.inf)
    return cx + dx * scale, cy + dy * scale


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float], pad: float = 3) -> bool:
    return not (
        a[0] + a[2] + pad < b[0] or b[0] + b[2] + pad < a[0] or a[1] + a[3] + pad < b[1] or b[1] + b[3] + pad < a[1]
    )


def _place_label(
    x1: float,
    y1: float,
    x2: float,
    y2: float,
    width: float,
    boxes: list[tuple[float, float, float, float]],
    placed: list[tuple[float, float, float, float]],
) -> tuple[float, float]:
    """The first point along the edge where the label hides no box and no other label (else the midpoint)."""
    for t in (0.5, 0.4, 0.6, 0.3, 0.7, 0.35, 0.65, 0.25, 0.75, 0.2, 0.8):
        x, y = x1 + (x2 - x1) * t, y1 + (y2 - y1) * t
        rect = (x - width / 2, y - 10, width, 15)
        if not any(_overlaps(rect, other) for other in [*boxes, *placed]):
            return x, y
    return (x1 + x2) / 2, (y1 + y2) / 2


def render_er_svg(diagram: ERDiagram, highlight: str | None = None) -> str:
    esc = html.escape
    layers = _layers(diagram)
    heights = {n: HEAD_H + ROW_H * max(len(a), 1) + 6 for n, a in diagram.entities.items()}
    column_h = [sum(heights[n] for n in layer) + GAP_Y * (len(layer) - 1) for layer in layers]
    top = MARGIN + (24 if diagram.title else 0)
    width = len(layers) * (BOX_W + GAP_X) - GAP_X + 2 * MARGIN
    height = top + max(column_h, default=0) + MARGIN
    boxes: dict[str, tuple[float, float, float, float]] = {}
    for i, layer in enumerate(layers):
        x = MARGIN + i * (BOX_W + GAP_X)
        y = top + (max(column_h) - column_h[i]) / 2  # centre each column vertically
        for name in layer:
            boxes[name] = (x, y, BOX_W, heights[name])
            y += heights[name] + GAP_Y
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dp0-er" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" role="img" aria-label="{esc(diagram.title or "Entity relationship diagram")}">',
        "<style>.dp0-er text{font-family:system-ui,sans-serif;font-size:12px;fill:#1d2430}"
        ".dp0-er .head{font-weight:600;font-size:13px}.dp0-er .box{fill:#fff;stroke:#4a5568}"
        ".dp0-er .hl{fill:#fff7d6;stroke:#b7791f;stroke-width:2}.dp0-er .edge{stroke:#4a5568;fill:none}"
        ".dp0-er .lbl{fill:#fff}.dp0-er .key{fill:#6b46c1;font-size:10px}.dp0-er .card{font-size:11px;fill:#2b6cb0}"
        "</style>",
    ]
    if diagram.title:
        out.append(
            f'<text x="{width / 2:.0f}" y="{MARGIN + 8}" text-anchor="middle" class="head">{esc(diagram.title)}</text>'
        )
    labels: list[str] = []
    placed: list[tuple[float, float, float, float]] = []
    for rel in diagram.relations:
        (ax, ay, aw, ah), (bx, by, bw, bh) = boxes[rel.left], boxes[rel.right]
        acx, acy, bcx, bcy = ax + aw / 2, ay + ah / 2, bx + bw / 2, by + bh / 2
        x1, y1 = _clip(acx, acy, aw, ah, bcx, bcy)
        x2, y2 = _clip(bcx, bcy, bw, bh, acx, acy)
        dash = "" if rel.identifying else ' stroke-dasharray="6 4"'
        out.append(f'<line class="edge" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"{dash}/>')
        length = math.hypot(x2 - x1, y2 - y1) or 1.0
        ux, uy = (x2 - x1) / length, (y2 - y1) / length
        for (px, py), card, sign in (((x1, y1), rel.left_card, 1), ((x2, y2), rel.right_card, -1)):
            cx, cy = px + sign * ux * 16 - uy * 9, py + sign * uy * 16 + ux * 9 + 4
            labels.append(
                f'<text class="card" x="{cx:.1f}" y="{cy:.1f}" text-anchor="middle">{CARD_SHORT[card]}</text>'
            )
        text_w = 6.6 * len(rel.label) + 8
        mx, my = _place_label(x1, y1, x2, y2, text_w, list(boxes.values()), placed)
        placed.append((mx - text_w / 2, my - 10, text_w, 15))
        labels.append(
            f'<rect class="lbl" x="{mx - text_w / 2:.1f}" y="{my - 10:.1f}" width="{text_w:.1f}" height="15" rx="3"/>'
        )
        labels.append(f'<text x="{mx:.1f}" y="{my + 1:.1f}" text-anchor="middle">{esc(rel.label)}</text>')
    for name, (x, y0, w, h) in boxes.items():
        klass = "hl" if name == highlight else "box"
        out.append(
            f"<g><title>{esc(name)}</title>"
            f'<rect class="{klass}" x="{x:.1f}" y="{y0:.1f}" width="{w}" height="{h}" rx="4"/>'
        )
        out.append(f'<line class="edge" x1="{x:.1f}" y1="{y0 + HEAD_H:.1f}" x2="{x + w:.1f}" y2="{y0 + HEAD_H:.1f}"/>')
        out.append(f'<text class="head" x="{x + w / 2:.1f}" y="{y0 + 17:.1f}" text-anchor="middle">{esc(name)}</text>')
        for k, (kind, attr, keys) in enumerate(diagram.entities[name]):
            ty = y0 + HEAD_H + ROW_H * (k + 1) - 3
            out.append(f'<text x="{x + 8:.1f}" y="{ty:.1f}">{esc(kind)} {esc(attr)}</text>')
            if keys:
                out.append(f'<text class="key" x="{x + w - 8:.1f}" y="{ty:.1f}" text-anchor="end">{esc(keys)}</text>')
        out.append("</g>")
    out.extend(labels)
    out.append("</svg>")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------
# Page generation


def generate_pages(app: Sphinx) -> None:
    """Write one index page per release and one page per table; remove pages of tables that went away."""
    for release, info in releases().items():
        outdir = CATALOG_DIR / release
        names = [t["name"] for t in tables(release)]
        expected = {"index.md"}
        toc = "\n".join(table_docname(release, n) for n in names)
        write_if_changed(
            outdir / "index.md",
            f"% Generated at build time by docs/_ext/dp0_catalogs.py from docs/_data/schemas/{info['schema_file']}.\n\n"
            f"(catalogs-{release})=\n# {info['label']} catalogs: `{info['tap_schema']}`\n\n"
            f"```{{catalog-release}} {release}\n```\n\n"
            f"```{{toctree}}\n:maxdepth: 1\n:hidden:\n\n{toc}\n```\n",
        )
        for name in names:
            filename = f"{table_docname(release, name)}.md"
            expected.add(filename)
            write_if_changed(
                outdir / filename,
                f"% Generated at build time by docs/_ext/dp0_catalogs.py "
                f"from docs/_data/schemas/{info['schema_file']}.\n\n"
                f"({table_label(release, name)})=\n# {name} ({info['label']})\n\n"
                f"```{{catalog-table}} {release} {name}\n```\n",
            )
        for stale in outdir.glob("*.md"):
            if stale.name not in expected:
                stale.unlink()


# --------------------------------------------------------------------------------------------------
# Directives


class CatalogRelease(SphinxDirective):
    """Summary of one release's schema: description and one row per table."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        release = self.arguments[0]
        if release not in releases():
            raise self.error(f"unknown release {release!r}")
        info = releases()[release]
        self.env.note_dependency(str(SCHEMA_DIR / info["schema_file"]))
        self.env.note_dependency(str(SCHEMA_DIR.parent / "catalog-keys.yaml"))
        sch = schema(release)
        rows = []
        for tab in tables(release):
            rows.append(
                [
                    ref(table_label(release, tab["name"]), tab["name"]),
                    literal(f"{info['tap_schema']}.{tab['name']}"),
                    str(len(tab["columns"])),
                    ", ".join(primary_key(release, tab)),
                    tab.get("description", ""),
                ]
            )
        total = sum(len(t["columns"]) for t in tables(release))
        return [
            paragraph(sch.get("description", "").strip()),
            paragraph(
                f"{len(rows)} tables and {total} columns, served through TAP in the schema ",
                literal(info["tap_schema"]),
                ". The text below comes from the Felis schema file ",
                literal(info["schema_file"]),
                " (GPL-3.0-or-later, shipped in docs/_data/schemas with its LICENSE and COPYRIGHT).",
            ),
            build_table(["Table", "TAP name", "Columns", "Key", "Description"], rows, widths=[14, 22, 8, 14, 42]),
        ]


class CatalogTable(SphinxDirective):
    """Reference for one table: description, key, joins, then every column."""

    required_arguments = 2

    def run(self) -> list[nodes.Node]:
        release, name = self.arguments
        info = releases()[release]
        self.env.note_dependency(str(SCHEMA_DIR / info["schema_file"]))
        self.env.note_dependency(str(SCHEMA_DIR.parent / "catalog-keys.yaml"))
        tab = table(release, name)
        document = self.state.document
        columns = tab["columns"]
        column_names = {c["name"] for c in columns}
        key = primary_key(release, tab)
        for k in key:
            if k not in column_names:
                raise self.error(f"key column {k} is not a column of {name}")
        result: list[nodes.Node] = [
            paragraph(tab.get("description", "").strip()),
            paragraph(
                "Query it as ",
                literal(f"{info['tap_schema']}.{name}"),
                f" ({len(columns)} columns). Part of the ",
                ref(f"catalogs-{release}", f"{info['label']} catalogs"),
                ".",
            ),
        ]
        note = info.get("notes", {}).get(name)
        if note:
            admonition = nodes.note()
            admonition += paragraph(note)
            result.append(admonition)

        key_section = section(document, "Key", f"{release}-{name}-key")
        key_section += paragraph(
            "Each row is identified by ",
            *_join_literals(key),
            "."
            if tab.get("primaryKey")
            else ". (The Felis file does not declare a primary key; this is the column that identifies a row.)",
        )
        # A key column that is not unique on its own (DP0.1 truth_match) says so, and which column tells repeats.
        if key_note := info["tables"].get(name, {}).get("key_note"):
            key_section += paragraph(key_note)
        result.append(key_section)

        join_section = section(document, "How it joins", f"{release}-{name}-joins")
        items = nodes.bullet_list()
        if diagram_file := info.get("diagram"):
            diagram = load_er(SCHEMA_DIR / diagram_file)
            self.env.note_dependency(str(SCHEMA_DIR / diagram_file))
            for rel in diagram.relations_of(name):
                items += nodes.list_item("", paragraph(rel.sentence()))
            fks = [attr for _kind, attr, keys in diagram.entities.get(name, []) if "FK" in keys.split(",")]
            if fks:
                join_section += paragraph("Columns that point at other tables: ", *_join_literals(fks), ".")
        for join in info.get("joins", []):
            if name in (join["left"], join["right"]):
                lcol, rcol = join["columns"]
                items += nodes.list_item(
                    "",
                    paragraph(
                        literal(f"{join['left']}.{lcol}"),
                        " = ",
                        literal(f"{join['right']}.{rcol}"),
                        f": {join['text']}.",
                    ),
                )
        if len(items):
            join_section += items
        else:
            join_section += paragraph("This table has no declared relationship to the other tables.")
        if diagram_file:
            join_section += paragraph(
                "See the ", ref(f"catalogs-{release}-diagram", f"{info['label']} relationship diagram"), "."
            )
            join_section += nodes.raw(
                "", render_er_svg(load_er(SCHEMA_DIR / diagram_file), highlight=name), format="html"
            )
        result.append(join_section)

        col_section = section(document, "Columns", f"{release}-{name}-columns")
        rows = [
            [
                literal(c["name"]),
                column_type(c),
                column_unit(c),
                literal(c["ivoa:ucd"]) if c.get("ivoa:ucd") else "",
                str(c.get("description", "") or "").strip(),
            ]
            for c in columns
        ]
        col_section += build_table(
            ["Column", "Type", "Unit", "UCD", "Description"], rows, widths=[22, 9, 9, 18, 42], classes=["dp0-columns"]
        )
        result.append(col_section)
        return result


def _join_literals(names: list[str]) -> list[nodes.Node]:
    parts: list[nodes.Node] = []
    for i, n in enumerate(names):
        if i:
            parts.append(nodes.Text(" and " if i == len(names) - 1 else ", "))
        parts.append(literal(n))
    return parts


class ERDiagramDirective(SphinxDirective):
    """Render a Mermaid erDiagram file (path relative to docs/_data/schemas) as inline SVG, plus its source."""

    required_arguments = 1
    option_spec = {"highlight": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        path = SCHEMA_DIR / self.arguments[0]
        if not path.is_file():
            raise self.error(f"no diagram file {path}")
        self.env.note_dependency(str(path))
        diagram = load_er(path)
        svg = render_er_svg(diagram, highlight=self.options.get("highlight"))
        container = nodes.container(classes=["dp0-er-diagram"])
        container += nodes.raw("", svg, format="html")
        source = path.read_text(encoding="utf-8")
        container += paragraph(
            f"Rendered at build time from the Mermaid file {path.name}: solid lines are identifying relationships, "
            "dashed ones non-identifying; numbers give how many rows on that end match one row on the other."
        )
        container += nodes.raw("", "<details><summary>Mermaid source</summary>", format="html")
        container += nodes.literal_block(source, source, language="text")
        container += nodes.raw("", "</details>", format="html")
        return [container]


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", generate_pages)
    app.add_directive("catalog-release", CatalogRelease)
    app.add_directive("catalog-table", CatalogTable)
    app.add_directive("er-diagram", ERDiagramDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
