"""Triage accuracy and speed on the held-out splits (never trained on): the seed set's, and the real questions'.

For each split: accuracy, per-queue precision and recall, the share sent to the triage view (below the
threshold) and the accuracy on the rest, priority agreement; then the time per ticket of the full decision
against two baselines measured in the same run: the rules alone, and a trivial matcher (first queue slug word
in the text). The engine is the shipped one: rules.yaml plus model.joblib, trained on the train parts only.

Then cross-validation on the train split only (fixed folds and seed): over its real questions (kind forum or
github-issue), each fold's model trained on every other train question and the knowledge base's tags, and over
the whole train split; for the engine, the model alone and the rules alone. The threshold table comes from the
second.
"""

from __future__ import annotations

import random
import re
import statistics
import time
from collections import Counter

from bench.harness import ROOT, report
from helpdesk.triage.decide import build_engine
from helpdesk.triage.model import default_model_path
from helpdesk.triage.training import Outcome, engine_cross_validation, iter_kb_examples, load_seed, threshold_table

SEED_DIR = ROOT / "tests" / "data" / "triage"
REPEAT = 20  # timing passes over the held-out questions
REAL_KINDS = ("forum", "github-issue")
REAL_FOLDS = 10  # k-fold over the real questions of the train split (36 on 2026-12-01): about 4 per fold
TRAIN_FOLDS = 5
CV_SEED = 0


def _trivial(title: str, body: str) -> str:
    text = f"{title} {body}".lower()
    for word, queue in (("butler", "butler"), ("tap", "catalogs"), ("account", "accounts"),
                        ("notebook", "science-platform"), ("pipeline", "pipelines")):
        if word in text:
            return queue
    return "general"


#: A notebook's usual set-up cell, pasted under a question as people do: it names the TAP service and the
#: Butler whatever the question asks. The engine should sort the question, not the cell.
SETUP_CELL = """

This is the cell I ran:

```
import numpy as np
import matplotlib.pyplot as plt
from lsst.rsp import get_tap_service, retrieve_query
from lsst.daf.butler import Butler
import lsst.afw.display as afwDisplay
service = get_tap_service("tap")
butler = Butler("dp02", collections="2.2i/runs/DP0.2")
```
"""


#: The same cell as people paste it: in a Markdown fence (the forum, the web form), with no fence at all, and as
#: Slack writes a code block (the fences on the first and last lines of code).
PASTED_SHAPES = {
    "fenced": SETUP_CELL,
    "unfenced": SETUP_CELL.replace("```\n", ""),
    "Slack": SETUP_CELL.replace("```\n", "```", 1).replace("\n```\n", "```\n"),
}


def _pasted_cell_rows(engine, items: list[dict]) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    plain = [engine.decide(i["title"], i["body"]) for i in items]
    right = sum(d.queue == i["queue"] for d, i in zip(plain, items, strict=True))
    rows = [
        ("questions", f"{len(items)}: every held-out question, as asked and with a set-up cell pasted under it"),
        ("accuracy as asked", f"{right / len(items):.3f}"),
    ]
    for shape, cell in PASTED_SHAPES.items():
        pasted = [engine.decide(i["title"], i["body"] + cell) for i in items]
        right_pasted = sum(d.queue == i["queue"] for d, i in zip(pasted, items, strict=True))
        moved = sum(a.queue != b.queue for a, b in zip(plain, pasted, strict=True))
        rows.append((f"with the cell, {shape}", f"{right_pasted / len(items):.3f}   ({moved} moved to another "
                                                f"queue, {sum(d.needs_person for d in pasted)} held for a person)"))
    return rows


def _with_typos(text: str, rng: random.Random, rate: float = 0.3) -> str:
    """``text`` with a typo in about ``rate`` of its words of five letters or more: a letter dropped, two
    swapped or one doubled, as people type."""
    def edit(match: re.Match[str]) -> str:
        word = match[0]
        if len(word) < 5 or rng.random() > rate:
            return word
        i = rng.randrange(1, len(word) - 1)
        return (word[:i] + word[i + 1:], word[:i] + word[i + 1] + word[i] + word[i + 2:], word[:i + 1] + word[i:])[
            rng.randrange(3)]
    return re.sub(r"[A-Za-z]+", edit, text)


def _typo_rows(engine, rules_only, items: list[dict]) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    rng = random.Random(CV_SEED)
    typed = [(_with_typos(i["title"], rng), _with_typos(i["body"], rng), i["queue"]) for i in items]
    right = sum(engine.decide(t, b).queue == q for t, b, q in typed)
    rules_right = sum(rules_only.decide(t, b).queue == q for t, b, q in typed)
    return [
        ("questions", f"{len(items)}: every held-out question, a typo in about 3 of 10 words of 5 letters or more"),
        ("accuracy with typos", f"{right / len(items):.3f}   (rules alone {rules_right / len(items):.3f})"),
    ]


def _times(function, items) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(REPEAT):
        for item in items:
            started = time.perf_counter()
            function(item["title"], item["body"])
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def _percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _evaluate(engine, rules_only, items: list[dict], label: str  # type: ignore[no-untyped-def]
              ) -> tuple[list[tuple[str, str]], dict[str, float]]:
    """Accuracy, per-queue precision and recall, and the share held for a person, on ``items``."""
    decisions = [engine.decide(i["title"], i["body"]) for i in items]
    truth = [i["queue"] for i in items]
    right = [d.queue == q for d, q in zip(decisions, truth, strict=True)]
    held = [d.needs_person for d in decisions]
    auto = [r for r, h in zip(right, held, strict=True) if not h]
    by = Counter(d.decided_by for d in decisions)
    kinds = Counter(i.get("kind", "?") for i in items)
    rules_right = sum(rules_only.decide(i["title"], i["body"]).queue == i["queue"] for i in items)
    trivial_right = sum(_trivial(i["title"], i["body"]) == i["queue"] for i in items)
    priority_right = sum(d.priority == i["priority"] for d, i in zip(decisions, items, strict=True))
    rows = [
        ("questions", f"{len(items)}: {label} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}); "
                      "the model never saw them"),
        ("accuracy", f"{sum(right) / len(items):.3f}   (rules alone {rules_right / len(items):.3f}, "
                     f"trivial matcher {trivial_right / len(items):.3f})"),
        ("sent to the triage view", f"{sum(held) / len(items):.3f}   (confidence < {engine.threshold})"),
        ("accuracy when not sent", f"{sum(auto) / len(auto):.3f}   ({len(auto)} tickets)" if auto else "n/a"),
        ("decided by", ", ".join(f"{k} {v}" for k, v in sorted(by.items()))),
        ("priority agreement", f"{priority_right / len(items):.3f}   (labels low/normal/high/urgent)"),
    ]
    for queue in engine.rules.slugs:
        predicted = [d.queue == queue for d in decisions]
        actual = [q == queue for q in truth]
        tp = sum(p and a for p, a in zip(predicted, actual, strict=True))
        precision = tp / sum(predicted) if sum(predicted) else float("nan")
        recall = tp / sum(actual) if sum(actual) else float("nan")
        rows.append((f"  {queue}", f"precision {precision:.2f}  recall {recall:.2f}  (n={sum(actual)})"))
    return rows, {"accuracy": sum(right) / len(items), "to_person": sum(held) / len(items)}


def _cv_rows(outcomes: list[Outcome], threshold: float, slugs: list[str]) -> tuple[list[tuple[str, str]], dict]:
    """The engine, the model alone and the rules alone on cross-validated ``outcomes``, at ``threshold``."""
    rows: list[tuple[str, str]] = []
    figures: dict[str, float] = {}
    parts = (("engine", lambda o: (o.engine.queue, o.engine.confidence)),
             ("model alone", lambda o: (o.model_queue, o.model_confidence)),
             ("rules alone", lambda o: (o.rules_queue, o.rules_confidence)))
    for name, pick in parts:
        chosen = [pick(o) for o in outcomes]
        right = [queue == o.queue for (queue, _), o in zip(chosen, outcomes, strict=True)]
        held = [confidence < threshold for _, confidence in chosen]
        auto = [r for r, h in zip(right, held, strict=True) if not h]
        figures[name] = sum(right) / len(outcomes)
        figures[f"{name} held"] = sum(held) / len(outcomes)
        rows.append((name, f"accuracy {sum(right) / len(outcomes):.3f}   held for a person {sum(held) / len(outcomes):.3f}"
                           f"   accuracy when not held {sum(auto) / len(auto) if auto else float('nan'):.3f}"
                           f" ({len(auto)})"))
        if name == "engine":
            by = Counter(o.engine.decided_by for o in outcomes)
            by_right = Counter(o.engine.decided_by for o, r in zip(outcomes, right, strict=True) if r)
            rows.append(("  decided by", ", ".join(f"{k} {v} ({by_right[k]} right)" for k, v in sorted(by.items()))))
        recall = []
        for queue in slugs:
            mine = [r for r, o in zip(right, outcomes, strict=True) if o.queue == queue]
            if mine:
                recall.append(f"{queue} {sum(mine) / len(mine):.2f} (n={len(mine)})")
        rows.append(("  recall per queue", ", ".join(recall)))
    return rows, figures


def main() -> dict[str, float]:
    everything = load_seed(SEED_DIR)
    for item in everything:
        item["body"] = item.get("body") or ""
    items = [i for i in everything if i["split"] == "test"]
    real_items = [i for i in everything if i["split"] == "real-test"]
    engine = build_engine()
    rules_only = build_engine(use_model=False)
    assert engine.model is not None, "the shipped model file is missing"
    seen_ids = {i["id"] for i in everything if i["split"] == "train"}
    assert not seen_ids & {i["id"] for i in items + real_items}

    rows, old = _evaluate(engine, rules_only, items, "the seed set's held-out split (split.yaml `test`)")
    report("Triage on the held-out seed split (rules + model) vs rules alone and a trivial matcher", rows)
    real_in_old = [i for i in items if i.get("kind") in ("forum", "github-issue")]
    if real_in_old:
        rows, _ = _evaluate(engine, rules_only, real_in_old, "the real questions within that split")
        report("Triage on the real questions of the held-out seed split only", rows)
    figures = {"accuracy": old["accuracy"], "to_person": old["to_person"]}
    if real_items:
        rows, real = _evaluate(engine, rules_only, real_items,
                               "the real-questions held-out split (split.yaml `real_test`)")
        report("Triage on the held-out split of real questions (real*.yaml)", rows)
        figures.update(real_accuracy=real["accuracy"], real_to_person=real["to_person"])

    report("Triage with a notebook's set-up cell pasted under each held-out question",
           _pasted_cell_rows(engine, items + real_items))

    report("Triage with typos in each held-out question", _typo_rows(engine, rules_only, items + real_items))

    full = _times(engine.decide, items)
    rules = _times(rules_only.decide, items)
    trivial = _times(_trivial, items)
    rows = [
        ("time per ticket, full", f"p50 {statistics.median(full):.3f} ms  p95 {_percentile(full, 95):.3f} ms"),
        ("time per ticket, rules", f"p50 {statistics.median(rules):.3f} ms  p95 {_percentile(rules, 95):.3f} ms"),
        ("time per ticket, trivial", f"p50 {statistics.median(trivial):.4f} ms  p95 {_percentile(trivial, 95):.4f} ms"),
    ]
    long_body = "\n".join(i["body"] for i in items) * 3  # a ~50 kB paste with code and errors
    long_times = _times(lambda t, b: engine.decide(t, long_body), items[:5])
    rows.append(("time, 50 kB body", f"p50 {statistics.median(long_times):.3f} ms  ({len(long_body)} characters)"))
    rows.append(("model file", f"{default_model_path().stat().st_size / 1024:.0f} KiB, trained "
                               f"{engine.model.trained_at}, {sum(engine.model.examples_per_queue.values())} examples"))
    report("Classification time per ticket (the seed set's held-out questions)", rows)
    # Cross-validation on the train split only (never the held-out ones): each question is decided by an
    # engine whose model was trained on every other train question and the knowledge base's tags.
    train = [i for i in everything if i["split"] == "train"]
    kb = list(iter_kb_examples(ROOT / "kb"))
    real_train = [i for i in train if i.get("kind") in REAL_KINDS]
    outcomes = engine_cross_validation(train, kb, engine.rules, pool=real_train, folds=REAL_FOLDS, seed=CV_SEED)
    rows, real_cv = _cv_rows(outcomes, engine.threshold, engine.rules.slugs)
    report(f"Cross-validated on the real questions ({len(real_train)} of the train split, kind forum/github-issue, "
           f"{REAL_FOLDS}-fold, threshold {engine.threshold})", rows)
    outcomes = engine_cross_validation(train, kb, engine.rules, folds=TRAIN_FOLDS, seed=CV_SEED)
    rows, train_cv = _cv_rows(outcomes, engine.threshold, engine.rules.slugs)
    report(f"Cross-validated on the whole train split ({len(train)} questions, {TRAIN_FOLDS}-fold, "
           f"threshold {engine.threshold})", rows)
    figures.update(cv_real_accuracy=real_cv["engine"], cv_real_to_person=real_cv["engine held"],
                   cv_train_accuracy=train_cv["engine"], cv_train_to_person=train_cv["engine held"])
    # How the threshold was chosen: the same cross-validation on the train split, at each threshold.
    table = threshold_table(train, kb, engine.rules, outcomes=outcomes)
    report("Threshold by 5-fold cross-validation of the whole engine on the train split", [
        (f"threshold {t:.2f}", f"held for a person {held_share:.3f}  accuracy of the rest {accuracy:.3f}"
         + ("   <- the setting's value" if abs(t - engine.threshold) < 1e-9 else ""))
        for t, held_share, accuracy in table
    ])
    return {**figures, "p50_ms": statistics.median(full)}


if __name__ == "__main__":
    main()
