"""Where training examples come from: staff-sorted tickets, the knowledge base's queue tags, the seed set.

Each source yields ``(title, body, queue)``. The database source reads what people decided: a ticket counts
when a person (an audit event with an actor) set its queue, through ``ticket.updated`` (the PATCH or the
console) or a triage correction (``triage.corrected``, recorded by the triage view); the ticket's queue now
is the label, so a later correction wins.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.triage.model import Example, TriageModel
from helpdesk.triage.rules import RuleSet

if TYPE_CHECKING:
    from helpdesk.triage.decide import Decision

#: Audit actions whose ``changes.queue`` (or ``queue``) records a person choosing a ticket's queue.
SORTING_ACTIONS = ("ticket.updated", "triage.corrected")


def iter_sorted_tickets(session: Session, queues: Iterable[str] | None = None) -> Iterator[Example]:
    """Tickets whose queue a person set (and that still have one), oldest first."""
    from helpdesk.audit import AuditEvent
    from helpdesk.tickets.models import Ticket

    known = set(queues) if queues is not None else None
    sorted_ids: set[int] = set()
    events = select(AuditEvent.ticket_id, AuditEvent.data).where(
        AuditEvent.action.in_(SORTING_ACTIONS), AuditEvent.actor_id.is_not(None), AuditEvent.ticket_id.is_not(None))
    for ticket_id, data in session.execute(events.execution_options(yield_per=1000)):
        changes = (data or {}).get("changes") or {}
        if "queue" in changes or "queue" in (data or {}):
            sorted_ids.add(ticket_id)
    ids = sorted(sorted_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for ticket in session.scalars(select(Ticket).where(Ticket.id.in_(chunk)).order_by(Ticket.id)):
            if ticket.queue is not None and (known is None or ticket.queue.slug in known):
                yield ticket.subject, ticket.body, ticket.queue.slug


def iter_kb_examples(kb_dir: Path, queues: Iterable[str] | None = None) -> Iterator[Example]:
    """Knowledge-base articles, once per queue in their front matter's ``queues:``."""
    from helpdesk.search.documents import iter_kb

    if not kb_dir.is_dir():
        return
    known = set(queues) if queues is not None else None
    for document in iter_kb(kb_dir):
        for queue in document.queues:
            if known is None or queue in known:
                yield document.title, document.body, queue


#: The ``split`` of a question held out of training: the original seed split, and the real-questions one.
HELD_OUT = ("test", "real-test")


def load_seed(path: Path) -> list[dict]:
    """The labelled questions of a folder (or one file) with their fixed splits.

    A folder holds the seed set (``seed-*.yaml``) and the real questions (``real*.yaml``), and ``split.yaml``
    lists the held-out ids: ``test`` (of the seed set, split ``"test"``) and ``real_test`` (of the real
    questions, split ``"real-test"``). Every other question is ``"train"``. Each item also gets ``set``:
    ``"seed"`` or ``"real"`` (from its file), and ``file``, the file's name.
    """
    files = sorted([*path.glob("seed-*.yaml"), *path.glob("real*.yaml")]) if path.is_dir() else [path]
    items: list[dict] = []
    for file in files:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8")) or []
        for item in loaded:
            item["set"] = "real" if file.name.startswith("real") else "seed"
            item["file"] = file.name
        items.extend(loaded)
    split_file = (path if path.is_dir() else path.parent) / "split.yaml"
    splits = (yaml.safe_load(split_file.read_text(encoding="utf-8")) or {}) if split_file.exists() else {}
    test, real_test = set(splits.get("test") or []), set(splits.get("real_test") or [])
    for item in items:
        item["split"] = "test" if item["id"] in test else "real-test" if item["id"] in real_test else "train"
    return items


def draw_split(items: Iterable[dict], share: float) -> list[str]:
    """The ids to hold out: per queue, the ``share`` (rounded) of ids whose SHA-256 sorts first.

    How both splits in ``split.yaml`` were drawn, once; call it to draw a new split, never to redraw one.
    """
    by_queue: dict[str, list[str]] = {}
    for item in items:
        by_queue.setdefault(item["queue"], []).append(item["id"])
    held: list[str] = []
    for ids in by_queue.values():
        ordered = sorted(ids, key=lambda i: hashlib.sha256(i.encode()).hexdigest())
        held.extend(ordered[:round(len(ordered) * share)])
    return sorted(held)


def iter_seed(path: Path, split: str = "train", queues: Iterable[str] | None = None) -> Iterator[Example]:
    known = set(queues) if queues is not None else None
    for item in load_seed(path):
        if item["split"] == split and (known is None or item["queue"] in known):
            yield item["title"], item.get("body") or "", item["queue"]


def cross_validate(examples: list[Example], folds: int = 5, seed: int = 0) -> dict[str, object]:
    """Stratified k-fold accuracy, overall and per queue (the share of each queue's examples put back in it)."""
    from sklearn.model_selection import StratifiedKFold

    labels = [queue for _, _, queue in examples]
    smallest = min(Counter(labels).values())
    folds = max(2, min(folds, smallest))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    right: Counter[str] = Counter()
    total: Counter[str] = Counter(labels)
    for train_index, test_index in splitter.split(examples, labels):
        model = TriageModel.train([examples[i] for i in train_index])
        for i in test_index:
            title, body, queue = examples[i]
            predicted = model.predict(title, body)[0][0][0]
            right[queue] += predicted == queue
    per_queue = {queue: right[queue] / total[queue] for queue in sorted(total)}
    return {"folds": folds, "accuracy": sum(right.values()) / len(examples), "per_queue": per_queue,
            "examples": dict(sorted(total.items()))}


@dataclass(frozen=True)
class Outcome:
    """One question of a cross-validation: its label and what each part decided without having seen it."""

    id: str
    queue: str
    kind: str
    #: The whole engine (rules when sure, the model otherwise), at threshold 0 so that ``confidence`` is kept.
    engine: Decision
    #: The model alone: its best queue and probability.
    model_queue: str
    model_confidence: float
    #: The rules alone (as when there is no model): their best queue and confidence.
    rules_queue: str
    rules_confidence: float


def engine_cross_validation(items: list[dict], extra: list[Example], rules: RuleSet, *,
                            pool: list[dict] | None = None, folds: int = 5, seed: int = 0) -> list[Outcome]:
    """k-fold cross-validation of the whole engine, the model alone and the rules alone on labelled questions.

    ``items`` are the labelled questions that may be trained on (the train split only: a held-out one is
    refused); the questions tested are ``pool`` (default: all of ``items``), shuffled with ``seed`` and dealt
    into ``folds``. Each fold's model is trained on every item outside the fold plus ``extra`` (e.g. the
    knowledge base's tags), so a question is never decided by a model that saw it. Deterministic.
    """
    from helpdesk.triage.decide import TriageEngine  # decide imports this module's neighbours, not this one

    if held := [i["id"] for i in items if i.get("split", "train") in HELD_OUT]:
        raise ValueError(f"held-out questions must not be cross-validated on: {', '.join(held[:5])}")
    shuffled = list(items if pool is None else pool)
    random.Random(seed).shuffle(shuffled)
    alone = TriageEngine(rules, None, threshold=0.0)
    outcomes: list[Outcome] = []
    for fold in range(folds):
        test = shuffled[fold::folds]
        ids = {i["id"] for i in test}
        model = TriageModel.train([(i["title"], i.get("body") or "", i["queue"]) for i in items
                                   if i["id"] not in ids] + list(extra))
        engine = TriageEngine(rules, model, threshold=0.0)
        for item in test:
            title, body = item["title"], item.get("body") or ""
            (model_queue, model_confidence), *_ = model.predict(title, body)[0]
            by_rules = alone.decide(title, body)
            outcomes.append(Outcome(item["id"], item["queue"], str(item.get("kind", "")), engine.decide(title, body),
                                    model_queue, model_confidence, by_rules.queue, by_rules.confidence))
    return outcomes


def threshold_table(items: list[dict], extra: list[Example], rules: RuleSet, *, folds: int = 5, seed: int = 0,
                    thresholds: tuple[float, ...] = (0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60),
                    outcomes: list[Outcome] | None = None) -> list[tuple[float, float, float]]:
    """How the whole engine (rules, then the model) would do at each confidence threshold.

    Cross-validation over ``items`` (labelled questions; pass the train split only, never the held-out one):
    each fold's model is trained on the other folds plus ``extra`` (e.g. the knowledge base's tags). Returns
    ``(threshold, share held for a person, accuracy of the rest)`` rows, to choose the threshold honestly.
    ``outcomes`` of :func:`engine_cross_validation` on the same items are reused instead of training again.
    """
    if outcomes is None:
        outcomes = engine_cross_validation(items, extra, rules, folds=folds, seed=seed)
    rows = []
    for threshold in thresholds:
        kept = [o.engine.queue == o.queue for o in outcomes if o.engine.confidence >= threshold]
        rows.append((threshold, 1 - len(kept) / len(outcomes), sum(kept) / len(kept) if kept else 0.0))
    return rows
