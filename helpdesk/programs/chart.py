"""The seat-use chart: an inline SVG drawn on the server (no script, no CDN, allowed by the page's CSP)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from markupsafe import Markup, escape

from helpdesk.programs.services import SeatPoint

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 28
SERIES = (("cap", "#5b6770", "6 4"), ("held", "#0b5cad", ""), ("active", "#1b7a3d", ""),
          ("waitlisted", "#a35a00", "2 3"))


def seat_chart(points: Sequence[SeatPoint], now: datetime) -> Markup:
    """Step lines of the cap, seats held, seats active and people waiting, from the first application to now."""
    if not points:
        return Markup('<p class="muted">No applications yet: nothing to chart.</p>')  # noqa: S704 - constant
    start, end = points[0].at, max(now, points[-1].at)
    span = max((end - start).total_seconds(), 1.0)
    top = max(max(max(p.cap, p.held, p.waitlisted) for p in points), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(at: datetime) -> float:
        return LEFT + plot_w * (at - start).total_seconds() / span

    def y(value: int) -> float:
        return TOP + plot_h * (1 - value / top)

    parts = [f'<svg class="seatchart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
             f'aria-labelledby="seatchart-title seatchart-desc" xmlns="http://www.w3.org/2000/svg">']
    last = points[-1]
    parts.append('<title id="seatchart-title">Seat use over time</title>')
    parts.append(f'<desc id="seatchart-desc">From {start:%Y-%m-%d} to {end:%Y-%m-%d}: now {last.held} seats held '
                 f'({last.active} active) of a cap of {last.cap}, {last.waitlisted} waiting.</desc>')
    for value in sorted({0, top // 2, top}):
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
                     f'stroke="#d5dde3" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#333">{value}</text>')
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 8}" font-size="11" fill="#333">{start:%Y-%m-%d}</text>')
    parts.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end" font-size="11" '
                 f'fill="#333">{end:%Y-%m-%d}</text>')
    for name, colour, dash in SERIES:
        coords: list[str] = []
        previous: int | None = None
        for point in points:
            value = getattr(point, name)
            if previous is not None:
                coords.append(f"{x(point.at):.1f},{y(previous):.1f}")
            coords.append(f"{x(point.at):.1f},{y(value):.1f}")
            previous = value
        coords.append(f"{x(end):.1f},{y(previous or 0):.1f}")
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<polyline data-series="{name}" fill="none" stroke="{colour}" stroke-width="2"{dash_attr} '
                     f'points="{" ".join(coords)}"/>')
    parts.append("</svg>")
    legend = " · ".join(
        f'<span class="legend" data-series="{name}"><svg width="18" height="8" aria-hidden="true" '
        f'focusable="false" xmlns="http://www.w3.org/2000/svg"><line x1="0" y1="4" x2="18" y2="4" stroke="{colour}" '
        f'stroke-width="2"{f" stroke-dasharray={chr(34)}{dash}{chr(34)}" if dash else ""}/></svg> {escape(name)}</span>'
        for name, colour, dash in SERIES)
    # Safe: every value written above is a number, a date or one of the fixed names in SERIES.
    return Markup("".join(parts) + f'<p class="muted small">Lines: {legend} (cap dashed, waiting dotted).</p>')  # noqa: S704
