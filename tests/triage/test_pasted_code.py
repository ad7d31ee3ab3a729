"""Questions with pasted code: the engine sorts what the person asks, not the notebook cell under it."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpdesk.exceptions import InvalidInputError
from helpdesk.triage.decide import TriageEngine, build_engine
from helpdesk.triage.model import TriageModel, model_text
from helpdesk.triage.rules import load_rules, split_code
from helpdesk.triage.training import load_seed
from tests.triage.test_engine import TOY

SEED = Path(__file__).resolve().parents[2] / "tests" / "data" / "triage"

#: A notebook's usual set-up: it names the TAP service and the Butler whatever the question asks.
SETUP_CELL = """

This is my notebook:

```
import numpy as np
from lsst.rsp import get_tap_service
from lsst.daf.butler import Butler
service = get_tap_service("tap")
butler = Butler("dp02", collections="2.2i/runs/DP0.2")
```
"""

TRACEBACK = """I ran the cell and got this:

    Traceback (most recent call last):
      File "/opt/lsst/software/stack/python/lsst/daf/butler/_butler.py", line 1200, in get
        ref = self._findDatasetRef(datasetRefOrType, dataId, collections=collections)
    lsst.daf.butler.registry.MissingCollectionError: No collection with name '2.2i/runs/DP0.1'.

What collection should I use?"""


def test_split_code_keeps_the_persons_words_and_the_error_line_and_leaves_out_imports() -> None:
    prose, code = split_code(TRACEBACK + SETUP_CELL)
    assert "What collection should I use?" in prose and "This is my notebook:" in prose
    assert "MissingCollectionError: No collection" in prose  # says what failed: the person's words
    assert "_findDatasetRef" in code and 'File "/opt/lsst' in code
    assert 'service = get_tap_service("tap")' in code  # fenced
    assert "import" not in prose + code  # every notebook imports the same few things
    assert "```" not in prose + code


@pytest.mark.parametrize(("text", "prose", "code"), [
    # Slack: a one-line block, and a block opened mid-line and closed at the end of its last line
    ("```results = service.search(query)```\nThe Portal shows a blank page in Firefly",
     ["The Portal shows a blank page in Firefly"], ["results = service.search(query)"]),
    ("Here is my code ```x = butler.get('calexp')\ny = 2```\nWhy does it fail?",
     ["Here is my code ", "Why does it fail?"], ["x = butler.get('calexp')", "y = 2"]),
    ("Tried this:\n~~~\nservice.search(q)\n~~~\nNo rows.", ["Tried this:", "No rows."], ["service.search(q)"]),
    ("Look:\n```\nbutler.get('raw')\nstill open", ["Look:"], ["butler.get('raw')", "still open"]),  # runs to the end
    # a wrapped list item and a line under a sentence continue the prose; after a blank line, indented is code
    ("- my first point wraps\n    onto a second line\n\n    tap = get_tap_service()",
     ["- my first point wraps", "    onto a second line", ""], ["    tap = get_tap_service()"]),
    # imports go, behind a prompt or an IPython gutter too; a sentence that starts with "import" stays
    ("      3 from astropy.table import Table\n----> 5 import slsim.Pipelines as pipelines\n>>> import numpy as np",
     [], []),
    ("import lsst.daf.butler fails with ModuleNotFoundError on my laptop",
     ["import lsst.daf.butler fails with ModuleNotFoundError on my laptop"], []),
    # code without a fence: an assignment from a call, a lone call, a block header
    ('service = get_tap_service("tap")\nresults.to_table()\nfor row in rows:\nIt never returns.',
     ["It never returns."], ['service = get_tap_service("tap")', "results.to_table()", "for row in rows:"]),
    ("Error: no such table\n```\nError: no such table\n```", ["Error: no such table", "Error: no such table"], []),
])
def test_split_code_reads_the_shapes_people_paste(text: str, prose: list[str], code: list[str]) -> None:
    assert split_code(text) == ("\n".join(prose), "\n".join(code))


def test_a_pasted_set_up_cell_moves_no_held_out_question_to_another_queue() -> None:
    """The held-out seed questions, each with a notebook's set-up cell under it, fenced, bare and as Slack sends
    it: the engine that read code like prose moved 37 of 81 held-out questions (bench/triage_accuracy.py)."""
    from bench.triage_accuracy import PASTED_SHAPES

    engine = build_engine()
    items = [i for i in load_seed(SEED) if i["split"] == "test"]
    plain = [engine.decide(i["title"], i.get("body") or "").queue for i in items]
    for shape, cell in PASTED_SHAPES.items():
        pasted = [engine.decide(i["title"], (i.get("body") or "") + cell).queue for i in items]
        moved = [i["id"] for i, a, b in zip(items, plain, pasted, strict=True) if a != b]
        assert len(moved) <= 2, (shape, moved)


def test_terms_found_only_in_code_weigh_less_and_say_so() -> None:
    rules = build_engine(use_model=False).rules
    catalogs = next(s for s in rules.score("Question", SETUP_CELL) if s.slug == "catalogs")
    assert ("term 'get_tap_service' in code", 0.75) in catalogs.hits  # weight 3, at the shipped code_weight 0.25
    assert ("term 'get_tap_service'", 3.0) in next(
        s for s in rules.score("Question", "I call get_tap_service and it fails") if s.slug == "catalogs").hits
    assert rules.code_weight < 1


def test_the_model_reads_the_question_without_its_code() -> None:
    text = model_text("A title", TRACEBACK + SETUP_CELL)
    assert text.startswith("A title\nA title\nA title\n")
    assert "MissingCollectionError" in text and "What collection should I use?" in text
    assert "get_tap_service" not in text and "_findDatasetRef" not in text


TWO_QUEUES = """
decide: {min_score: 100, min_ratio: 2, rules_share: %s}
model: {min_examples_per_queue: 3}
queues:
  catalogs: {terms: {table: 1}}
  butler: {terms: {collection: 5}}
"""



def test_when_the_model_decides_the_rules_points_still_count(tmp_path: Path) -> None:
    """A question the model leans to one queue but whose strongest rule term names another."""
    title, body = "table or collection?", "Which table lists the TAP service's collection?"
    decisions = {}
    for share in ("0.0", "0.8"):
        path = tmp_path / f"rules-{share}.yaml"
        path.write_text(TWO_QUEUES % share)
        engine = TriageEngine(load_rules(path), TriageModel.train(TOY), threshold=0.0)
        decisions[share] = engine.decide(title, body)
    assert decisions["0.0"].decided_by == decisions["0.8"].decided_by == "model"
    assert decisions["0.0"].queue == "catalogs"  # the model alone: TAP and table
    assert decisions["0.8"].queue == "butler"  # with the rules' share: 'collection' weighs most
    assert "rule term 'collection' (+10)" in decisions["0.8"].reasons  # in the title: twice its weight


@pytest.mark.parametrize("line", ["decide: {rules_share: 1.5}", "code_weight: -0.1"])
def test_shares_outside_zero_to_one_are_refused_with_the_setting_named(tmp_path: Path, line: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(line + "\nqueues:\n  catalogs: {terms: {table: 1}}\n")
    with pytest.raises(InvalidInputError, match="between 0 and 1"):
        load_rules(path)


def test_the_shipped_rules_use_both_shares() -> None:
    rules = build_engine(use_model=False).rules
    assert (rules.rules_share, rules.code_weight) == (0.3, 0.25)


def test_a_rules_file_without_the_shares_gets_the_shipped_defaults(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("queues:\n  catalogs: {terms: {table: 1}}\n")
    rules = load_rules(path)
    assert (rules.rules_share, rules.code_weight) == (0.3, 0.25)


def test_with_no_rule_matched_the_model_needs_to_be_surer(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(TWO_QUEUES % "0.3")
    model = TriageModel.train(TOY)
    decision = TriageEngine(load_rules(path), model, threshold=0.0).decide("cone search", "Qserv cone search")
    (queue, probability), *_ = model.predict("cone search", "Qserv cone search")[0]
    assert (decision.decided_by, decision.queue) == ("model", queue)
    assert decision.confidence == pytest.approx(0.7 * probability)  # no rule's share to add


def test_a_question_without_one_known_term_waits_for_a_person() -> None:
    decision = build_engine().decide("help", "please help me")
    assert decision.decided_by == "model" and decision.needs_person
