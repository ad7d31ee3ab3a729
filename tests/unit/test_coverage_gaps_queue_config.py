"""An operator's queues.yaml: refused with a message naming the file and the fault; reloads update in place."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.exceptions import InvalidInputError
from helpdesk.tickets.models import Queue
from helpdesk.tickets.queues import load_queue_config, sync_queues


def queue(slug: str, **changes: object) -> dict[str, object]:
    return {"slug": slug, "name": slug.title(), "team": "Tier two", "covers": "Questions about " + slug,
            "first_response_hours": 24, "wip_limit_per_assignee": 10, **changes}


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "queues.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document), encoding="utf-8")
    return path


def test_shipped_file_loads_with_unique_slugs() -> None:
    slugs = [q.slug for q in load_queue_config()]
    assert "catalogs" in slugs and len(slugs) == len(set(slugs))


@pytest.mark.parametrize(("document", "complaint"), [
    ({"queues": [queue("butler"), queue("butler", name="Again")]}, "names a queue slug twice"),
    ({"queues": []}, "defines no queue"),
    ({"queues": [queue("Bad Slug")]}, "Cannot read the queues"),
    ({"queues": [queue("butler", first_response_hours=0)]}, "first_response_hours"),
    ({"queues": [{"slug": "butler"}]}, "team"),
    ({"lanes": [queue("butler")]}, "Cannot read the queues"),
    ("queues: [unclosed", "Cannot read the queues"),
    ("just text", "Cannot read the queues"),
])
def test_a_broken_file_is_refused_naming_it(tmp_path: Path, document: object, complaint: str) -> None:
    path = write(tmp_path, document)
    with pytest.raises(InvalidInputError, match=complaint) as caught:
        load_queue_config(path)
    assert str(path) in str(caught.value)


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="nowhere.yaml"):
        load_queue_config(tmp_path / "nowhere.yaml")


def test_fields_the_helpdesk_does_not_know_are_ignored(tmp_path: Path) -> None:
    (config,) = load_queue_config(write(tmp_path, {"queues": [queue("butler", colour="teal")]}))
    assert config.slug == "butler" and not hasattr(config, "colour")


def test_reloading_updates_in_place_and_keeps_queues_the_file_dropped(tmp_path: Path, db_session: Session) -> None:
    first = load_queue_config(write(tmp_path, {"queues": [queue("zeta"), queue("alpha")]}))
    before = {q.slug: q.id for q in db_session.scalars(select(Queue))}
    assert sync_queues(db_session, first) == (2, 0)
    assert sync_queues(db_session, first) == (0, 0)  # nothing changed, nothing written

    second = load_queue_config(write(tmp_path, {"queues": [queue("alpha", name="Alpha team", first_response_hours=4),
                                                           queue("zeta")]}))
    assert sync_queues(db_session, second) == (0, 2)  # alpha renamed and moved up, zeta moved down
    db_session.expire_all()
    queues = {q.slug: q for q in db_session.scalars(select(Queue))}
    assert queues["alpha"].name == "Alpha team" and queues["alpha"].first_response_hours == 4
    assert queues["alpha"].position == 0 and queues["zeta"].position == 1
    # The shipped queues this file leaves out are kept, with their ids: tickets still point at them.
    assert all(queues[slug].id == queue_id for slug, queue_id in before.items())
