"""Recall at k of the search service on a labelled set of delegate questions (the benchmark and its test).

The questions are the triage seed set's (``tests/data/triage/``: title and body as people wrote them, each
with its source); ``tests/data/search/relevance.yaml`` says which article or page answers each, or that none
does. Questions with no answer in the corpus are left out of recall and used instead to check the "low
score" line of the staff gap report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from helpdesk.search.services import LOW_SCORE, SearchService


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    answers: tuple[str, ...]
    source: str


@dataclass
class Recall:
    k: int
    answered: int = 0
    found: int = 0
    first: int = 0
    misses: list[tuple[str, list[str]]] = field(default_factory=list)
    #: Best scores of the questions the corpus answers (found in the top k) and of those it does not.
    answered_scores: list[float] = field(default_factory=list)
    unanswered_scores: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.answered if self.answered else 0.0

    @property
    def top1(self) -> float:
        return self.first / self.answered if self.answered else 0.0

    def low_share(self, scores: list[float]) -> float:
        return sum(1 for s in scores if s < LOW_SCORE) / len(scores) if scores else 0.0


def load_questions(labels: Path, seed_dir: Path) -> list[Question]:
    """Every labelled question, its text (subject, blank line, body) and the URLs that answer it."""
    answers = (yaml.safe_load(labels.read_text(encoding="utf-8")) or {})["labels"]
    questions = []
    for file in sorted(seed_dir.glob("seed-*.yaml")):
        for item in yaml.safe_load(file.read_text(encoding="utf-8")) or []:
            if item["id"] in answers:
                text = f"{item['title']}\n\n{item.get('body') or ''}".strip()
                questions.append(Question(item["id"], text, tuple(answers[item["id"]] or ()), item["source"]))
    missing = set(answers) - {q.id for q in questions}
    if missing:
        raise ValueError(f"labels without a question: {', '.join(sorted(missing))}")
    return questions


def recall_at(service: SearchService, questions: list[Question], k: int = 3) -> Recall:
    result = Recall(k)
    for question in questions:
        hits = service.query(question.text, limit=k)
        best = hits[0].score if hits else 0.0
        if not question.answers:
            result.unanswered_scores.append(best)
            continue
        result.answered += 1
        urls = [hit.url for hit in hits]
        if set(urls) & set(question.answers):
            result.found += 1
            result.answered_scores.append(best)
            result.first += urls[:1] == [u for u in urls[:1] if u in question.answers] and bool(urls)
        else:
            result.misses.append((question.id, urls))
    return result
