"""The tier-two queues: reading queues.yaml and keeping the queue table in step with it."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.exceptions import InvalidInputError
from helpdesk.tickets.models import Queue
from helpdesk.tickets.queue_cache import QUEUE_CACHE


class QueueConfig(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    slug: str = Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=64)
    name: str
    team: str
    covers: str
    first_response_hours: int = Field(gt=0)
    wip_limit_per_assignee: int = Field(gt=0)


def default_queues_path() -> Path:
    return Path(str(resources.files("helpdesk") / "data" / "queues.yaml"))


def load_queue_config(path: Path | None = None) -> list[QueueConfig]:
    """Parse and validate a queues.yaml; raises InvalidInputError naming the problem."""
    path = path or default_queues_path()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        queues = [QueueConfig.model_validate(item) for item in document["queues"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValidationError) as exc:
        raise InvalidInputError(f"Cannot read the queues from {path}: {exc}") from exc
    slugs = [q.slug for q in queues]
    if len(set(slugs)) != len(slugs):
        raise InvalidInputError(f"{path} names a queue slug twice.")
    if not queues:
        raise InvalidInputError(f"{path} defines no queue.")
    return queues


def sync_queues(session: Session, configs: list[QueueConfig]) -> tuple[int, int]:
    """Insert new queues and update existing ones by slug; returns (created, updated).

    Queues missing from the file are kept: tickets still point at them.
    """
    QUEUE_CACHE.clear()  # this process sees the new queues at once; others within a minute
    existing = {q.slug: q for q in session.scalars(select(Queue))}
    created = updated = 0
    for position, config in enumerate(configs):
        fields = config.model_dump()
        queue = existing.get(config.slug)
        if queue is None:
            session.add(Queue(position=position, **fields))
            created += 1
            continue
        changed = False
        for name, value in {**fields, "position": position}.items():
            if getattr(queue, name) != value:
                setattr(queue, name, value)
                changed = True
        updated += changed
    session.commit()
    return created, updated
