"""The decision: queue, confidence, reasons, priority, the two best guesses, and whether a person must look.

The rules decide when they are sure (a clear margin, see ``decide:`` in the rules file); the learned model
decides otherwise; with too little training data (fewer than ``model.min_examples_per_queue`` examples in any
queue) or no model file, the rules decide alone. Below the confidence threshold a person chooses
(``needs_person``), shown the two best guesses.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpdesk.triage.model import ModelFileError, TriageModel, default_model_path, load_model
from helpdesk.triage.rules import QueueScore, RuleSet, default_rules_path, load_rules, read_parts

if TYPE_CHECKING:
    from helpdesk.config import Settings

log = logging.getLogger(__name__)

#: Chosen by cross-validation on the seed set's train split (bench/triage_accuracy.py prints the table): 0.35
#: is about as accurate on the rest as 0.40 and holds fewer; real questions, longer than the seed's, score lower.
DEFAULT_THRESHOLD = 0.35


@dataclass(frozen=True)
class Guess:
    queue: str
    confidence: float


@dataclass(frozen=True)
class Decision:
    queue: str
    confidence: float
    #: What decided: the rules and terms that matched, or the model's most weighted terms.
    reasons: list[str]
    priority: str
    priority_reasons: list[str]
    #: The two best queues with their confidences, best first.
    guesses: list[Guess]
    needs_person: bool
    #: "rules", "model" or "rules-only" (the model was missing or had too little data).
    decided_by: str
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["confidence"] = round(self.confidence, 3)
        data["guesses"] = [{"queue": g.queue, "confidence": round(g.confidence, 3)} for g in self.guesses]
        data.pop("extra")
        return data


class TriageEngine:
    """Rules plus an optional model; :meth:`decide` is pure and thread-safe (nothing is mutated)."""

    def __init__(self, rules: RuleSet, model: TriageModel | None = None, *,
                 threshold: float = DEFAULT_THRESHOLD) -> None:
        self.rules = rules
        self.threshold = threshold
        self.model = model
        #: The model is used only with enough examples of every queue the rules know.
        self.model_usable = model is not None and model.has_enough_data(rules.min_examples_per_queue, rules.slugs) \
            and set(rules.slugs) <= set(model.classes)

    def decide(self, title: str, body: str, *, source: str | None = None,
               channel_hint: str | None = None) -> Decision:
        title, body = title or "", body or ""
        # Read once (the body split into the person's words and pasted code), for the rules and the model both.
        text = read_parts(title, body)
        ranked = self.rules.score_text(text, source=source, channel_hint=channel_hint)
        priority, priority_reasons = self.rules.priority(title, body)
        if self.rules.is_sure(ranked):
            guesses = _rule_guesses(ranked)
            return self._decision(guesses, _rule_reasons(ranked[0]), priority, priority_reasons, "rules")
        if self.model_usable:
            assert self.model is not None
            probabilities, terms = self.model.predict_text(text)
            # The model's probability, with the rules' share of their points beside it (``rules_share``): a
            # term the rules know still counts when it was not enough to decide alone.
            # With no rule matched every share is 0 and the blend is the model's probability times 1 - rules_share:
            # a question without one known term ("please help me") needs a surer model to skip the triage view.
            shares = self.rules.shares(ranked)
            weight = self.rules.rules_share
            blended = sorted(((q, (1 - weight) * p + weight * shares.get(q, 0.0)) for q, p in probabilities
                              if q in self.rules.queues), key=lambda guess: -guess[1])
            guesses = [Guess(q, p) for q, p in blended[:2]]
            # The model's terms explain its own best queue: shown only when the blend kept that queue.
            reasons = [f"model term '{term}'" for term in terms] if probabilities[0][0] == guesses[0].queue else []
            winner = next(score for score in ranked if score.slug == guesses[0].queue)
            if winner.score > 0:
                reasons += _rule_reasons(winner, limit=3)
            return self._decision(guesses, reasons or ["model (no strong terms)"], priority, priority_reasons,
                                  "model")
        guesses = _rule_guesses(ranked)
        reasons = _rule_reasons(ranked[0]) if ranked[0].score > 0 else ["no rule matched"]
        return self._decision(guesses, reasons, priority, priority_reasons, "rules-only")

    def _decision(self, guesses: list[Guess], reasons: list[str], priority: str, priority_reasons: list[str],
                  decided_by: str) -> Decision:
        best = guesses[0]
        return Decision(queue=best.queue, confidence=best.confidence, reasons=reasons, priority=priority,
                        priority_reasons=priority_reasons, guesses=guesses,
                        needs_person=best.confidence < self.threshold, decided_by=decided_by)


def _rule_guesses(ranked: list[QueueScore]) -> list[Guess]:
    """Confidence from the scores: the best queue's share, shrunk when little matched at all.

    With nothing matched every queue gets 0, so such a ticket always goes to a person.
    """
    total = sum(max(s.score, 0.0) for s in ranked)
    if total <= 0:
        return [Guess(ranked[0].slug, 0.0), Guess(ranked[1].slug, 0.0)]
    strength = total / (total + 2.0)
    return [Guess(s.slug, max(s.score, 0.0) / total * strength) for s in ranked[:2]]


def _rule_reasons(score: QueueScore, limit: int = 6) -> list[str]:
    return [f"rule {what} (+{points:g})" for what, points in score.hits[:limit]]


# -- building the engine -------------------------------------------------------------------------


def build_engine(rules_file: Path | None = None, model_file: Path | None = None, *,
                 threshold: float = DEFAULT_THRESHOLD, queue_slugs: list[str] | None = None,
                 use_model: bool = True) -> TriageEngine:
    """Rules from ``rules_file`` (default: the shipped rules) and the model from ``model_file``.

    An explicitly named model file that cannot be used is an error (ModelFileError); the shipped default
    model, when absent or unusable, only means the rules decide alone (logged).
    """
    rules = load_rules(rules_file or default_rules_path(), queue_slugs)
    model = None
    if use_model:
        path = model_file or default_model_path()
        if model_file is not None or path.exists():
            try:
                model = load_model(path)
            except ModelFileError:
                if model_file is not None:
                    raise
                log.warning("The shipped triage model cannot be used; the rules decide alone.", exc_info=True)
    return TriageEngine(rules, model, threshold=threshold)


def engine_from_settings(settings: Settings, queue_slugs: list[str] | None = None) -> TriageEngine:
    """The engine the settings describe (``HELPDESK_TRIAGE_*``); build it once and keep it."""
    return build_engine(settings.triage_rules_file, settings.triage_model_file,
                        threshold=settings.triage_confidence_threshold, queue_slugs=queue_slugs)


@lru_cache(maxsize=1)
def default_engine() -> TriageEngine:
    return build_engine()


def decide(title: str, body: str, *, source: str | None = None, channel_hint: str | None = None) -> Decision:
    """Triage with the shipped rules and model (callers with settings use :func:`engine_from_settings`)."""
    return default_engine().decide(title, body, source=source, channel_hint=channel_hint)
