"""Inline SVG charts for the dashboard, drawn on the server: no script, no CDN, allowed by the page's CSP.

Accessible by construction: every chart is ``role="img"`` named by its ``<title>`` and ``<desc>`` (which says
the totals in words), each series differs by fill *pattern* as well as colour (solid, hatched, dotted) and is
named in a legend, every colour reaches 3:1 against white (WCAG 1.4.11) and every text 4.5:1, and the
numbers are beside each chart as a table and a CSV download.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
TEXT = "#1d2733"  # 14.9:1 on white
GRID = "#767f88"  # 4.0:1 on white: grid lines are non-text (3:1 needed)
#: Series fills: colour and pattern; each colour is at least 4.5:1 against white.
FILLS = (("#005f61", "solid"), ("#8a4500", "hatch"), ("#3b3f99", "dots"), ("#6b2d6b", "cross"))


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]


def _defs(chart_id: str) -> str:
    parts = ["<defs>"]
    for index, (colour, pattern) in enumerate(FILLS):
        pid = f"{chart_id}-p{index}"
        if pattern == "hatch":
            parts.append(f'<pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse" '
                         f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
                         f'<rect width="3" height="6" fill="{colour}"/></pattern>')
        elif pattern == "dots":
            parts.append(f'<pattern id="{pid}" width="5" height="5" patternUnits="userSpaceOnUse">'
                         f'<rect width="5" height="5" fill="{colour}"/><circle cx="2.5" cy="2.5" r="1.2" '
                         f'fill="#fff"/></pattern>')
        elif pattern == "cross":
            parts.append(f'<pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse">'
                         f'<rect width="6" height="6" fill="{colour}"/><path d="M0 3H6M3 0V6" stroke="#fff" '
                         f'stroke-width="1"/></pattern>')
    parts.append("</defs>")
    return "".join(parts)


def _fill(chart_id: str, index: int) -> str:
    colour, pattern = FILLS[index % len(FILLS)]
    return colour if pattern == "solid" else f"url(#{chart_id}-p{index % len(FILLS)})"


def legend(chart_id: str, series: Sequence[Series]) -> Markup:
    """The key, in HTML: a swatch of each fill (drawn in SVG, so the pattern shows) and the series' name."""
    items = []
    for index, s in enumerate(series):
        colour = FILLS[index % len(FILLS)][0]
        items.append(
            f'<li><svg width="18" height="14" aria-hidden="true" focusable="false">{_defs(f"{chart_id}-k{index}")}'
            f'<rect width="18" height="14" fill="{_fill(f"{chart_id}-k{index}", index)}" stroke="{colour}"/></svg> '
            f"{escape(s.name)}</li>")
    return Markup(f'<ul class="chart-legend">{"".join(items)}</ul>')  # noqa: S704 - every value escaped


def bar_chart(chart_id: str, title: str, desc: str, labels: Sequence[str], series: Sequence[Series], *,
              height: int = 220, unit: str = "") -> Markup:
    """Grouped vertical bars: one group per label (a day), one bar per series, with a labelled value axis."""
    left, right, top, bottom = 40, 8, 10, 34
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    peak = max([v or 0 for s in series for v in s.values] + [1])
    scale = _nice(peak)
    group_w = plot_w / max(len(labels), 1)
    bar_w = max(group_w * 0.8 / max(len(series), 1), 1.0)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(desc)}</desc>',
             _defs(chart_id)]
    for tick in (0, scale / 2, scale):
        y = top + plot_h * (1 - tick / scale)
        parts.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}" '
                     f'stroke-width="{1 if tick == 0 else 0.5}"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="{TEXT}">'
                     f'{_fmt(tick)}{escape(unit)}</text>')
    step = max(1, round(len(labels) / 8))
    for i, label in enumerate(labels):
        x0 = left + i * group_w + group_w * 0.1
        for j, s in enumerate(series):
            value = s.values[i] or 0
            h = plot_h * value / scale
            if h > 0:
                parts.append(f'<rect x="{x0 + j * bar_w:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" '
                             f'height="{h:.1f}" fill="{_fill(chart_id, j)}" stroke="{FILLS[j % len(FILLS)][0]}" '
                             f'stroke-width="0.5" data-series="{escape(s.name)}"><title>{escape(label)}: '
                             f'{escape(s.name)} {_fmt(value)}{escape(unit)}</title></rect>')
        if i % step == 0 or i == len(labels) - 1 and len(labels) <= 8:
            parts.append(f'<text x="{left + (i + 0.5) * group_w:.1f}" y="{height - bottom + 16}" '
                         f'text-anchor="middle" font-size="11" fill="{TEXT}">{escape(_short(label))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value escaped


def hbar_chart(chart_id: str, title: str, desc: str, labels: Sequence[str], values: Sequence[float | None],
               targets: Sequence[float | None], *, unit: str = " h") -> Markup:
    """One horizontal bar per label with its target as a dashed mark: hours to first response per queue."""
    left, right, top, row_h = 150, 70, 8, 28
    height = top * 2 + row_h * max(len(labels), 1) + 16
    plot_w = WIDTH - left - right
    peak = max([v or 0 for v in values] + [t or 0 for t in targets] + [1])
    scale = _nice(peak)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(desc)}</desc>']
    for i, label in enumerate(labels):
        y = top + i * row_h
        parts.append(f'<text x="{left - 6}" y="{y + 17}" text-anchor="end" font-size="12" fill="{TEXT}">'
                     f'{escape(label[:22])}</text>')
        value, target = values[i], targets[i]
        if value is not None:
            w = plot_w * value / scale
            parts.append(f'<rect x="{left}" y="{y + 5}" width="{max(w, 1):.1f}" height="16" fill="{FILLS[0][0]}">'
                         f'<title>{escape(label)}: {_fmt(value)}{escape(unit)}</title></rect>')
        parts.append(f'<text x="{left + (plot_w * (value or 0) / scale) + 4:.1f}" y="{y + 17}" font-size="12" '
                     f'fill="{TEXT}">{_fmt(value) + unit if value is not None else "no answers"}</text>')
        if target is not None:
            tx = left + plot_w * target / scale
            parts.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{y + 1}" y2="{y + 25}" stroke="{FILLS[1][0]}" '
                         f'stroke-width="2.5" stroke-dasharray="4 2"><title>target {_fmt(target)}{escape(unit)}'
                         f'</title></line>')
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - 16}" stroke="{GRID}"/>')
    parts.append(f'<text x="{left}" y="{height - 3}" font-size="11" fill="{TEXT}">0</text>'
                 f'<text x="{left + plot_w:.0f}" y="{height - 3}" text-anchor="end" font-size="11" fill="{TEXT}">'
                 f'{_fmt(scale)}{escape(unit)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value escaped


def _nice(peak: float) -> float:
    """A round top for the value axis at or above ``peak``."""
    for power in range(0, 9):
        for base in (1, 2, 2.5, 5):
            top = base * 10 ** power
            if top >= peak:
                return top
    return peak


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _short(label: str) -> str:
    """``2026-12-01`` -> ``12-01`` on the axis (the table and the title carry the year)."""
    return label[5:] if len(label) == 10 and label[4] == "-" else label
