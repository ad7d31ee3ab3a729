"""Questions with pasted code: the engine sorts what the person asks, not the notebook cell under it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from helpdesk.exceptions import InvalidInputError
from helpdesk.triage.decide import TriageEngine, build_engine
from helpdesk.triage.model import TriageModel, model_text
from helpdesk.triage.rules import load_rules, split_code
from tests.triage.test_engine import TOY

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


@pytest.mark.parametrize(("title", "body", "queue"), [
    ("Cannot log in to data.lsst.cloud", "I accepted the rubin-dp0 invitation but the login page says I am not "
     "authorized. My GitHub username is jdoe.", "accounts"),
    ("Kernel dies when I open a notebook", "Every time I open any notebook in JupyterLab the kernel dies after "
     "a minute, even on a large server.", "science-platform"),
    ("How was extendedness measured for DP0.2 objects?", "Is refExtendedness computed from the PSF and cModel "
     "fluxes, and in which band?", "pipelines"),
    ("Where is the citation text for DP0?", "I am writing a paper with DP0.2 data; what should I cite and "
     "acknowledge?", "general"),
])
def test_a_pasted_set_up_cell_does_not_move_a_question_to_another_queue(title: str, body: str, queue: str) -> None:
    engine = build_engine()
    assert engine.decide(title, body).queue == queue
    pasted = engine.decide(title, body + SETUP_CELL)
    assert pasted.queue == queue, pasted.reasons


def test_terms_found_only_in_code_weigh_less_and_say_so() -> None:
    rules = build_engine(use_model=False).rules
    catalogs = next(s for s in rules.score("Question", SETUP_CELL) if s.slug == "catalogs")
    assert ("term 'get_tap_service' in code", 3.0 * rules.code_weight) in catalogs.hits
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
    assert 0 < rules.rules_share < 1 and 0 < rules.code_weight < 1
    assert dataclasses.replace(rules, rules_share=0.0).rules_share == 0.0
