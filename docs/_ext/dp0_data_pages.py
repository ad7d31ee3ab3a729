"""Directives that turn the data files under ``docs/_data`` (and the shipped queues.yaml) into reference pages.

``dp0-dataset-types``, ``dp0-collections``, ``dp0-milestones``, ``dp0-milestone-timeline`` (an SVG drawn at
build time), ``dp0-glossary`` and ``dp0-queues``.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from dp0_common import DATA_DIR, ROOT_DIR, build_table, data, literal, load_yaml, paragraph, section, text_or_dash
from sphinx.application import Sphinx
from sphinx.domains.std import Glossary
from sphinx.util.docutils import SphinxDirective

QUEUES_FILE = ROOT_DIR / "helpdesk" / "data" / "queues.yaml"


class DatasetTypes(SphinxDirective):
    """Every dataset type of the DP0.1 Butler repository with its count, collections and purpose."""

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(DATA_DIR / "butler-dataset-types.yaml"))
        spec = data("butler-dataset-types.yaml")
        origins = spec["origins"]
        rows = []
        for item in spec["dataset_types"]:
            where: list[nodes.Node] = []
            for i, key in enumerate(item["origin"]):
                if i:
                    where.append(nodes.Text("; "))
                origin = origins[key]
                where.append(literal(origin["gen3"]) if "gen3" in origin else nodes.Text(origin["label"]))
            rows.append([literal(item["name"]), f"{item['count']:,}", where, item["purpose"]])
        total = sum(item["count"] for item in spec["dataset_types"])
        return [
            paragraph(
                f"{len(rows)} dataset types, {total:,} datasets in all. Counts are as registered when DP0.1 was served."
            ),
            build_table(
                ["Dataset type", "Count", "Collection(s)", "What it is for"],
                rows,
                widths=[24, 10, 30, 36],
                classes=["dp0-dataset-types"],
            ),
        ]


class Collections(SphinxDirective):
    """The reruns (Gen2) and collections (Gen3) the repository was converted from."""

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(DATA_DIR / "butler-dataset-types.yaml"))
        spec = data("butler-dataset-types.yaml")
        counts: dict[str, int] = {}
        for item in spec["dataset_types"]:
            for key in item["origin"]:
                counts[key] = counts.get(key, 0) + 1
        rows = [
            [
                origin["label"],
                literal(origin["gen2"]) if "gen2" in origin else "—",
                literal(origin["gen3"]) if "gen3" in origin else "—",
                str(counts.get(key, 0)),
            ]
            for key, origin in spec["origins"].items()
        ]
        return [build_table(["Stage", "Gen2 rerun", "Gen3 collection", "Dataset types"], rows, widths=[34, 30, 30, 10])]


STATUS_COLOURS = {"Done": "#2f855a", "In Progress": "#dd6b20", "To Do": "#718096", "Won't Fix": "#c53030"}


def milestones() -> list[dict[str, Any]]:
    return sorted(data("milestones.yaml")["milestones"], key=lambda m: (m["due"], m["rubin"]))


class Milestones(SphinxDirective):
    """Milestone table; ``:table: open`` or ``achieved`` selects one of the planning note's two tables."""

    option_spec = {"table": lambda arg: directives.choice(arg, ("open", "achieved"))}

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(DATA_DIR / "milestones.yaml"))
        wanted = self.options.get("table")
        rows = [
            [
                m["title"],
                literal(m["rubin"]),
                literal(m["jira"]),
                m["due"].isoformat(),
                text_or_dash(m["level"]),
                m["status"],
                m["team"],
            ]
            for m in milestones()
            if wanted is None or m["table"] == wanted
        ]
        return [
            build_table(
                ["Milestone", "Rubin id", "Jira id", "Due", "Level", "Status", "Team"],
                rows,
                widths=[34, 12, 12, 11, 6, 10, 20],
                classes=["dp0-milestones"],
            )
        ]


def timeline_svg(items: list[dict[str, Any]]) -> str:
    """One lane per team, one dot per milestone at its due date, coloured by status."""
    esc = html.escape
    teams = sorted({m["team"] for m in items})
    start = min(m["due"] for m in items).replace(day=1)
    end = max(m["due"] for m in items)
    end = (end.replace(day=28) + dt.timedelta(days=5)).replace(day=1)
    label_w, lane_h, top, plot_w = 290, 26, 40, 760
    width, height = label_w + plot_w + 30, top + lane_h * len(teams) + 60
    span = (end - start).days or 1

    def x_of(day: dt.date) -> float:
        return label_w + plot_w * (day - start).days / span

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dp0-timeline" viewBox="0 0 {width} {height}" width="{width}" '
        f'role="img" aria-label="Timeline of {len(items)} DP0 milestones by team and due date">',
        "<style>.dp0-timeline text{font-family:system-ui,sans-serif;font-size:12px;fill:#1d2430}"
        ".dp0-timeline .grid{stroke:#e2e8f0}.dp0-timeline .lane{stroke:#cbd5e0}</style>",
    ]
    # Quarter grid lines with labels.
    month = start
    while month <= end:
        if month.month in (1, 4, 7, 10):
            x = x_of(month)
            out.append(
                f'<line class="grid" x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{top + lane_h * len(teams)}"/>'
            )
            out.append(f'<text x="{x:.1f}" y="{top - 14}" text-anchor="middle">{month:%Y-%m}</text>')
        month = (month.replace(day=28) + dt.timedelta(days=5)).replace(day=1)
    for i, team in enumerate(teams):
        y = top + lane_h * i + lane_h / 2
        out.append(f'<text x="{label_w - 10}" y="{y + 4:.1f}" text-anchor="end">{esc(team)}</text>')
        out.append(f'<line class="lane" x1="{label_w}" y1="{y:.1f}" x2="{label_w + plot_w}" y2="{y:.1f}"/>')
    stacked: dict[tuple[str, dt.date], int] = {}
    for m in items:
        lane = teams.index(m["team"])
        n = stacked.get((m["team"], m["due"]), 0)
        stacked[(m["team"], m["due"])] = n + 1
        x = x_of(m["due"]) + 9 * n
        y = top + lane_h * lane + lane_h / 2
        colour = STATUS_COLOURS.get(m["status"], "#000")
        title = f"{m['rubin']} / {m['jira']} ({m['due'].isoformat()}, {m['status']}): {m['title']}"
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{colour}" stroke="#fff">'
            f"<title>{esc(title)}</title></circle>"
        )
    legend_y = top + lane_h * len(teams) + 30
    x = label_w
    for status, colour in STATUS_COLOURS.items():
        out.append(f'<circle cx="{x}" cy="{legend_y}" r="6" fill="{colour}"/>')
        out.append(f'<text x="{x + 10}" y="{legend_y + 4}">{esc(status)}</text>')
        x += 120
    out.append("</svg>")
    return "\n".join(out)


class MilestoneTimeline(SphinxDirective):
    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(DATA_DIR / "milestones.yaml"))
        container = nodes.container(classes=["dp0-timeline-figure"])
        container += nodes.raw("", timeline_svg(milestones()), format="html")
        container += paragraph(
            "Drawn at build time from docs/_data/milestones.yaml: one lane per team, one dot per milestone at its "
            "due date (hover a dot for its ids and title)."
        )
        return [container]


class DP0Glossary(SphinxDirective):
    """A Sphinx glossary (so the {term} role works) with one term per acronym of the data file."""

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(DATA_DIR / "acronyms.yaml"))
        self.env.note_dependency(str(DATA_DIR / "terms.yaml"))
        acronyms: dict[str, str] = {**data("acronyms.yaml")["acronyms"], **data("terms.yaml")["terms"]}
        lines = StringList()
        source = str(DATA_DIR / "acronyms.yaml")
        for i, (term, meaning) in enumerate(sorted(acronyms.items(), key=lambda kv: kv[0].lower())):
            if i:
                lines.append("", source, i)
            lines.append(term, source, i)
            lines.append(f"   {meaning}", source, i)
        glossary = Glossary(
            "glossary",
            [],
            {"sorted": None},
            lines,
            self.lineno,
            self.content_offset,
            self.block_text,
            self.state,
            self.state_machine,
        )
        return glossary.run()


def queues() -> list[dict[str, Any]]:
    return load_yaml(QUEUES_FILE)["queues"]


class Queues(SphinxDirective):
    """The tier-two queues from the helpdesk's shipped queues.yaml, one section each."""

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(QUEUES_FILE))
        document = self.state.document
        items = queues()
        summary = build_table(
            ["Queue", "Slug", "Team", "First response within"],
            [[q["name"], literal(q["slug"]), q["team"], f"{q['first_response_hours']} hours"] for q in items],
            widths=[30, 16, 34, 20],
            classes=["dp0-queues"],
        )
        result: list[nodes.Node] = [
            paragraph(f"{len(items)} queues, read at build time from helpdesk/data/queues.yaml."),
            summary,
        ]
        for q in items:
            sec = section(document, q["name"], f"queue-{q['slug']}")
            fields = nodes.field_list()
            for label, value in (
                ("Slug", literal(q["slug"])),
                ("Team", nodes.Text(q["team"])),
                ("First response target", nodes.Text(f"{q['first_response_hours']} hours")),
                ("Open tickets per assignee", nodes.Text(str(q.get("wip_limit_per_assignee", "—")))),
            ):
                fields += nodes.field("", nodes.field_name(label, label), nodes.field_body("", paragraph(value)))
            sec += fields
            sec += paragraph("Covers: ", " ".join(str(q["covers"]).split()))
            result.append(sec)
        return result


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("dp0-dataset-types", DatasetTypes)
    app.add_directive("dp0-collections", Collections)
    app.add_directive("dp0-milestones", Milestones)
    app.add_directive("dp0-milestone-timeline", MilestoneTimeline)
    app.add_directive("dp0-glossary", DP0Glossary)
    app.add_directive("dp0-queues", Queues)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
