"""``helpdesk triage``: classify JSON lines, and retrain the model from what staff sorted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from helpdesk.cli.context import cli_context

#: Where the labelled seed set lives in a checkout of the project.
DEFAULT_SEED_DIR = Path("tests/data/triage")


@click.group("triage")
def triage() -> None:
    """Sort questions into the tier-two queues (rules and a learned model)."""


def _engine(use_model: bool = True):  # type: ignore[no-untyped-def]
    from helpdesk.exceptions import InvalidInputError
    from helpdesk.tickets.queues import load_queue_config
    from helpdesk.triage.decide import build_engine
    from helpdesk.triage.model import ModelFileError

    settings = cli_context().settings
    try:
        slugs = [q.slug for q in load_queue_config(settings.queues_file)]
        return build_engine(settings.triage_rules_file, settings.triage_model_file,
                            threshold=settings.triage_confidence_threshold, queue_slugs=slugs, use_model=use_model)
    except (InvalidInputError, ModelFileError) as exc:
        raise click.ClickException(str(exc)) from exc


@triage.command()
def classify() -> None:
    """Read JSON lines {"id", "title", "body"} on standard input; write one JSON line per input line.

    Each output line is {"id", "queue", "priority", "confidence", "reasons", "needs_person", "guesses"}, in the
    input's order. A line that is not such an object gets {"line": N, "error": "..."} instead, the run goes on,
    and the exit status is 1 at the end. Blank lines are skipped.
    """
    engine = _engine()
    bad = 0
    out = sys.stdout
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        item: object = None
        try:
            item = json.loads(line)
            title, body = _fields(item)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            bad += 1
            ident = item.get("id") if isinstance(item, dict) else None
            out.write(json.dumps({"line": number, "id": ident, "error": f"line {number}: {exc}"}) + "\n")
            continue
        assert isinstance(item, dict)
        decision = engine.decide(title, body, source=item.get("source"), channel_hint=item.get("channel"))
        out.write(json.dumps({
            "id": item.get("id"), "queue": decision.queue, "priority": decision.priority,
            "confidence": round(decision.confidence, 3), "reasons": decision.reasons + decision.priority_reasons,
            "needs_person": decision.needs_person,
            "guesses": [{"queue": g.queue, "confidence": round(g.confidence, 3)} for g in decision.guesses],
        }) + "\n")
    out.flush()
    if bad:
        click.echo(f"{bad} line(s) could not be classified.", err=True)
        sys.exit(1)


def _fields(item: object) -> tuple[str, str]:
    if not isinstance(item, dict):
        raise ValueError("expected a JSON object")
    title, body = item.get("title", ""), item.get("body", "")
    if not isinstance(title, str) or not isinstance(body, str):
        raise ValueError("title and body must be strings")
    if not title and not body:
        raise ValueError("a title or a body is required")
    return title, body


@triage.command()
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the model; default: HELPDESK_TRIAGE_MODEL_FILE, else the shipped model's path.")
@click.option("--seed", "seed_dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_SEED_DIR,
              show_default=True, help="The labelled seed set (its train split is used; skipped when absent).")
@click.option("--kb-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("kb"), show_default=True,
              help="Knowledge-base articles whose `queues:` tags become examples.")
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True,
              help="Folds of the stratified cross-validation.")
def retrain(output: Path | None, seed_dir: Path, kb_dir: Path, folds: int) -> None:
    """Rebuild the model from sorted tickets and corrections, the KB's queue tags and the seed set.

    Prints the examples per source and the cross-validated accuracy per queue, then writes the model file.
    """
    from helpdesk.tickets.queues import load_queue_config
    from helpdesk.triage.model import TriageModel, default_model_path
    from helpdesk.triage.training import cross_validate, iter_kb_examples, iter_seed, iter_sorted_tickets

    context = cli_context()
    settings = context.settings
    slugs = [q.slug for q in load_queue_config(settings.queues_file)]
    with context.session() as session:
        tickets = list(iter_sorted_tickets(session, slugs))
    kb = list(iter_kb_examples(kb_dir, slugs))
    seed = list(iter_seed(seed_dir, "train", slugs)) if seed_dir.is_dir() else []
    examples = tickets + kb + seed
    click.echo(f"Examples: {len(tickets)} sorted tickets, {len(kb)} knowledge-base tags, {len(seed)} seed questions.")
    if len({queue for _, _, queue in examples}) < 2:
        raise click.ClickException("Too few labelled examples to train (need at least two queues).")
    result = cross_validate(examples, folds=folds)
    click.echo(f"Cross-validated accuracy ({result['folds']}-fold, stratified): {result['accuracy']:.3f}")
    for queue, accuracy in result["per_queue"].items():  # type: ignore[union-attr]
        click.echo(f"  {queue:<18} {accuracy:.3f}  ({result['examples'][queue]} examples)")  # type: ignore[index]
    minimum = _minimum_examples(settings)
    thin = [q for q in slugs if result["examples"].get(q, 0) < minimum]  # type: ignore[union-attr]
    if thin:
        click.echo(f"Fewer than {minimum} examples for {', '.join(thin)}: the rules will decide alone until more "
                   "tickets are sorted.")
    model = TriageModel.train(examples)
    path = output or settings.triage_model_file or default_model_path()
    size = model.save(path)
    click.echo(f"Model written to {path} ({size / 1024:.0f} KiB).")


def _minimum_examples(settings) -> int:  # type: ignore[no-untyped-def]
    from helpdesk.triage.rules import default_rules_path, load_rules

    return load_rules(settings.triage_rules_file or default_rules_path()).min_examples_per_queue
