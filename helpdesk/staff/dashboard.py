"""The staff dashboard (``/staff/dashboard``): charts of the desk's work, and the numbers of each as CSV.

Tickets in and out per day per queue, time to first response against each queue's target, first-response
breaches, the share answered by articles, how often triage was corrected, and seats in use. The numbers come
from :class:`helpdesk.tickets.reporting.ReportingService` (one bounded statement per chart); the charts are
inline SVG drawn by :mod:`helpdesk.staff.charts`. ``?from=YYYY-MM-DD&to=YYYY-MM-DD`` picks the days.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, abort, render_template, request
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from helpdesk.exceptions import InvalidInputError
from helpdesk.staff.charts import Series, bar_chart, hbar_chart, legend
from helpdesk.staff.routes import bp
from helpdesk.tickets.reporting import DAYS_MAX, Period, ReportingService, Table
from helpdesk.web import get_factory, staff_required

#: A spreadsheet runs a cell that starts with one of these as a formula: such cells get a leading quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Chart:
    slug: str
    title: str
    lead: str
    table: Table
    svg: Markup
    key: Markup | None = None


def _sum(table: Table, column: str) -> int:
    index = table.columns.index(column)
    return sum(int(row[index] or 0) for row in table.rows)


def _per_day(table: Table, period: Period, column: str) -> list[float | None]:
    index, totals = table.columns.index(column), dict.fromkeys(period.days(), 0)
    for row in table.rows:
        totals[row[0]] = totals.get(row[0], 0) + int(row[index] or 0)
    return list(totals.values())


def _daily(name: str, title: str, summary: str, table: Any, chart_title: str, desc: str, period: Period,
           series: list[Series]) -> Chart:
    """A chart of bars per day with its legend: the shape of every daily chart on the dashboard."""
    chart_id = "chart-" + name.replace("_", "-")
    return Chart(name, title, summary, table, bar_chart(chart_id, chart_title, desc, period.days(), series),
                 legend(chart_id, series))


def _flow(service: ReportingService, period: Period) -> Chart:
    table = service.flow(period)
    series = [Series("Filed (in)", _per_day(table, period, "in")),
              Series("Resolved (out)", _per_day(table, period, "out"))]
    n_in, n_out = _sum(table, "in"), _sum(table, "out")
    desc = (f"From {period.first} to {period.last}: {n_in} tickets filed and {n_out} resolved, all queues "
            "together; the table and the CSV give each queue.")
    return _daily("flow", "Tickets in and out per day", f"{n_in} in, {n_out} out. Per queue in the numbers.", table,
                  "Tickets in and out per day", desc, period, series)


def _first_response(service: ReportingService, period: Period) -> Chart:
    table = service.first_response(period)
    labels = [row[0] for row in table.rows]
    means = [row[4] for row in table.rows]
    targets = [row[1] for row in table.rows]
    answered = _sum(table, "answered")
    within = _sum(table, "within_target")
    desc = (f"Mean hours from filing to the first public staff answer, per queue, for tickets filed from "
            f"{period.first} to {period.last}, each beside its queue's target (dashed mark). {answered} answered, "
            f"{within} of them by their due time.")
    return Chart("first_response", "Time to first response against each queue's target",
                 f"{within} of {answered} first answers on time.", table,
                 hbar_chart("chart-first-response", "Hours to first response per queue", desc, labels, means,
                            targets),
                 Markup('<ul class="chart-legend"><li><span class="swatch solid" aria-hidden="true"></span> mean hours'
                        '</li><li><span class="swatch target" aria-hidden="true"></span> the queue\'s target'
                        '</li></ul>'))


def _breaches(service: ReportingService, period: Period) -> Chart:
    table = service.breaches(period)
    series = [Series("Answered late", [a - b for a, b in zip(_per_day(table, period, "breached"),
                                                             _per_day(table, period, "still_unanswered"),
                                                             strict=True)]),
              Series("Not answered yet", _per_day(table, period, "still_unanswered"))]
    total = _sum(table, "breached")
    desc = (f"First responses due each day from {period.first} to {period.last} that came late or have not come: "
            f"{total} in all, {_sum(table, 'still_unanswered')} still unanswered.")
    return _daily("breaches", "First-response breaches (SLA)", f"{total} breaches.", table,
                  "First-response breaches per day", desc, period, series)


def _self_served(service: ReportingService, period: Period) -> Chart:
    table = service.self_served(period)
    filed, served = _sum(table, "filed"), _sum(table, "self_served")
    share = f"{100 * served / filed:.1f}%" if filed else "no tickets"
    series = [Series("Answered by an article", _per_day(table, period, "self_served")),
              Series("Needed a person", [f - s for f, s in zip(_per_day(table, period, "filed"),
                                                               _per_day(table, period, "self_served"),
                                                               strict=True)])]
    desc = (f"Of {filed} tickets filed from {period.first} to {period.last}, {served} ({share}) were answered by a "
            "suggested article (the requester said so).")
    return _daily("self_served", "Share answered by articles", f"{served} of {filed} ({share}).", table,
                  "Tickets answered by articles per day", desc, period, series)


def _triage(service: ReportingService, period: Period) -> Chart:
    table = service.triage_corrections(period)
    filed, corrected = _sum(table, "filed"), _sum(table, "corrected")
    share = f"{100 * corrected / filed:.1f}%" if filed else "no tickets"
    series = [Series("Triage corrected", _per_day(table, period, "corrected"))]
    desc = (f"From {period.first} to {period.last}, a person sorted {corrected} tickets otherwise than triage "
            f"decided, against {filed} tickets filed ({share}).")
    return _daily("triage", "How often triage was corrected", f"{corrected} corrections, {share} of tickets filed.",
                  table, "Triage corrections per day", desc, period, series)


def _seats(service: ReportingService, period: Period) -> Chart:
    table = service.seats()
    labels = [row[0] for row in table.rows]
    series = [Series("Active", [row[2] for row in table.rows]), Series("Pending", [row[3] for row in table.rows]),
              Series("Cap", [row[1] for row in table.rows])]
    desc = "Seats of each programme now: " + "; ".join(
        f"{row[0]}: {row[4]} in use ({row[2]} active, {row[3]} pending) of {row[1]}, {row[5]} waiting"
        for row in table.rows) + "." if table.rows else "No programmes."
    return Chart("seats", "Seats in use", "Now, whatever the days chosen.", table,
                 bar_chart("chart-seats", "Seats in use per programme", desc, labels, series),
                 legend("chart-seats", series))


CHARTS: dict[str, Callable[[ReportingService, Period], Chart]] = {
    "flow": _flow, "first_response": _first_response, "breaches": _breaches, "self_served": _self_served,
    "triage": _triage, "seats": _seats,
}


def _period() -> Period:
    factory = get_factory()
    return Period.parse(request.args.get("from"), request.args.get("to"), factory.clock().date())


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


@bp.get("/dashboard")
@staff_required
def dashboard() -> ResponseReturnValue:
    """Every chart for the chosen days (default: the last 30), each with its numbers and a CSV link."""
    factory = get_factory()
    service = ReportingService(factory.session, factory.clock)
    try:
        period = _period()
    except InvalidInputError as exc:
        period = Period.parse(None, None, factory.clock().date())
        charts = [build(service, period) for build in CHARTS.values()]
        return render_template("staff/dashboard.html", charts=charts, period=period, error=exc,
                               days_max=DAYS_MAX, query=""), 422
    charts = [build(service, period) for build in CHARTS.values()]
    query = f"?from={period.first}&to={period.last}"
    return render_template("staff/dashboard.html", charts=charts, period=period, error=None, days_max=DAYS_MAX,
                           query=query)


@bp.get("/dashboard/<chart>.csv")
@staff_required
def dashboard_csv(chart: str) -> ResponseReturnValue:
    """The numbers behind one chart, as CSV (spreadsheet formulas neutralised)."""
    build = CHARTS.get(chart)
    if build is None:
        abort(404)
    factory = get_factory()
    try:
        period = _period()
    except InvalidInputError as exc:
        return Response(exc.message + "\n", status=422, mimetype="text/plain")
    table = build(ReportingService(factory.session, factory.clock), period).table
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.columns)
    writer.writerows([_cell(v) for v in row] for row in table.rows)
    name = f"dashboard-{chart}-{period.first}-{period.last}.csv"
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
