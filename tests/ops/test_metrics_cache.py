"""/metrics counts the big tables at most once per HELPDESK_METRICS_CACHE_SECONDS in each process, and says how
old its figures are; 0 reads them on every scrape."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from helpdesk import create_app
from helpdesk.config import Settings


def filed(text: str) -> float:
    match = re.search(r'^helpdesk_tickets_filed\{source="api"\} ([0-9.e+]+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def age(text: str) -> float:
    return float(re.search(r"^helpdesk_metrics_database_age_seconds ([0-9.e+-]+)$", text, re.M).group(1))


def file_ticket(client: FlaskClient, token: str) -> None:
    response = client.post("/api/v1/tickets", json={"subject": "s", "body": "b"},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201


def count_statements(app: Flask) -> list[str]:
    seen: list[str] = []
    event.listen(app.extensions["helpdesk"].engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: seen.append(statement))
    return seen


def test_a_scrape_inside_the_window_reads_no_table_and_a_later_one_does(
    app: Flask, client: FlaskClient, staff_token: str,
) -> None:
    collector = app.extensions["helpdesk_metrics"].database
    now = [1000.0]
    collector.clock = lambda: now[0]
    file_ticket(client, staff_token)
    first = client.get("/metrics").get_data(as_text=True)
    assert filed(first) == 1 and age(first) == 0

    file_ticket(client, staff_token)
    statements = count_statements(app)
    now[0] += 10  # inside the default 30 s
    cached = client.get("/metrics").get_data(as_text=True)
    assert filed(cached) == 1 and age(cached) == 10  # the same figures, and how old they are
    assert not [s for s in statements if "GROUP BY" in s.upper()]

    now[0] += 25
    fresh = client.get("/metrics").get_data(as_text=True)
    assert filed(fresh) == 2 and age(fresh) == 0
    assert [s for s in statements if "GROUP BY" in s.upper()]


def test_zero_reads_the_database_on_every_scrape(make_settings: Callable[..., Settings], staff_token: str,
                                                 app: Flask) -> None:
    # A second app on the same database, with the cache off.
    uncached = create_app(make_settings(metrics_cache_seconds=0))
    client = uncached.test_client()
    try:
        assert filed(client.get("/metrics").get_data(as_text=True)) == 0
        file_ticket(client, staff_token)
        assert filed(client.get("/metrics").get_data(as_text=True)) == 1
    finally:
        uncached.extensions["helpdesk"].engine.dispose()
