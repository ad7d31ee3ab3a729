"""The triage decision: rules when sure, the model otherwise, the rules alone with too little data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sklearn

from helpdesk.exceptions import InvalidInputError
from helpdesk.tickets.queues import load_queue_config
from helpdesk.triage.decide import TriageEngine, build_engine
from helpdesk.triage.model import ModelFileError, TriageModel, load_model
from helpdesk.triage.rules import load_rules
from helpdesk.triage.training import HELD_OUT, draw_split, iter_kb_examples, iter_seed, load_seed

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "tests" / "data" / "triage"
SLUGS = [q.slug for q in load_queue_config()]

# Rules that are never sure on their own (one weak term per queue), to show the model deciding.
WEAK_RULES = """
decide: {min_score: 100, min_ratio: 2}
model: {min_examples_per_queue: 3}
queues:
  catalogs: {terms: {query: 1}}
  butler: {terms: {butler: 1}}
"""

TOY = [
    ("ADQL cone search", "SELECT coord_ra FROM dp02_dc2_catalogs.Object WHERE CONTAINS(...)", "catalogs"),
    ("TAP times out", "my TAP query on ForcedSource takes an hour", "catalogs"),
    ("Qserv error", "Qserv says query processing error on GROUP BY", "catalogs"),
    ("TOPCAT", "How do I connect TOPCAT to the TAP service", "catalogs"),
    ("calexp not found", "butler.get('calexp', visit=1, detector=2) DatasetNotFoundError", "butler"),
    ("deepCoadd cutout", "cutout of a deepCoadd with bbox from the butler", "butler"),
    ("collections", "MissingCollectionError for 2.2i/runs/DP0.2 in the registry", "butler"),
    ("dataset types", "how to list dataset types like calexp and deepCoadd", "butler"),
]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_rules_decide_a_clear_case_and_name_the_rule() -> None:
    engine = build_engine()
    decision = engine.decide("butler.get raises DatasetNotFoundError for calexp",
                             "butler.get('calexp', visit=192350, detector=175) fails in collection 2.2i/runs/DP0.2")
    assert decision.decided_by == "rules"
    assert decision.queue == "butler"
    assert not decision.needs_person
    assert any("datasetnotfounderror" in reason for reason in decision.reasons)
    assert any("butler" in reason and reason.startswith("rule ") for reason in decision.reasons)


def test_model_decides_when_the_rules_are_unsure(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, "rules.yaml", WEAK_RULES))
    engine = TriageEngine(rules, TriageModel.train(TOY), threshold=0.0)
    decision = engine.decide("TOPCAT and ADQL", "my Qserv query on dp02_dc2_catalogs.Object is slow")
    assert decision.decided_by == "model"
    assert decision.queue == "catalogs"
    assert any(reason.startswith("model term") for reason in decision.reasons)


def test_too_little_training_data_falls_back_to_the_rules(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, "rules.yaml", WEAK_RULES.replace("min_examples_per_queue: 3",
                                                                       "min_examples_per_queue: 50")))
    engine = TriageEngine(rules, TriageModel.train(TOY), threshold=0.0)
    assert not engine.model_usable
    decision = engine.decide("a butler question", "it is about the butler")
    assert decision.decided_by == "rules-only"
    assert decision.queue == "butler"
    assert decision.reasons == ["rule term 'butler' (+2)"]  # in the title: counted once, twice the weight


def test_below_the_threshold_a_person_decides_between_two_guesses() -> None:
    engine = build_engine(use_model=False)
    decision = engine.decide("question", "hello, I have a question about something")
    assert decision.needs_person
    assert decision.confidence < engine.threshold
    assert len(decision.guesses) == 2
    assert decision.guesses[0].queue == decision.queue
    assert {g.queue for g in decision.guesses} <= set(SLUGS)


def test_a_channel_mapped_to_a_queue_counts(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, "rules.yaml", WEAK_RULES + "channels: {'slack:C0DAX': catalogs}\n"))
    engine = TriageEngine(rules, None)
    decision = engine.decide("help", "something is odd", source="slack", channel_hint="C0DAX")
    assert decision.queue == "catalogs"
    assert decision.reasons[0].startswith("rule channel C0DAX")
    assert engine.decide("help", "something is odd", source="discourse", channel_hint="C0DAX").confidence == 0


def test_priority_from_urgency_signals_with_reasons() -> None:
    engine = build_engine(use_model=False)
    outage = engine.decide("Portal gives 500 Internal Server Error", "for all of us at the workshop, 40 people")
    assert outage.priority == "urgent"
    assert "a server error" in outage.priority_reasons and "several people report it" in outage.priority_reasons
    login = engine.decide("cannot log in", "GitHub login takes me back to the start")
    assert (login.priority, login.priority_reasons) == ("high", ["cannot log in"])
    assert engine.decide("TAP columns", "which columns hold the PSF flux?").priority == "normal"


def test_long_bodies_with_code_and_typos() -> None:
    engine = build_engine()
    body = ("Traceback (most recent call last):\n  File \"<ipython-input-3>\", line 1\n" * 2000
            + "\nmy ADQL qeury on dp02_dc2_catalogs.DiaObject times out in Qserv")
    decision = engine.decide("qeury timeout", body)
    assert decision.queue == "catalogs"


def test_rules_naming_an_unknown_queue_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "rules.yaml", "queues:\n  nosuchqueue: {terms: {x: 1}}\n")
    with pytest.raises(InvalidInputError, match="nosuchqueue"):
        load_rules(path, SLUGS)
    with pytest.raises(InvalidInputError, match="bad.yaml"):
        load_rules(write(tmp_path, "bad.yaml", "queues: [unclosed"))


def test_a_mismatched_model_file_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    TriageModel.train(TOY).save(path)
    assert load_model(path).classes == ["butler", "catalogs"]
    header, rest = path.read_bytes().split(b"\n", 1)
    data = json.loads(header)
    data["sklearn_version"] = "0.1.0"
    path.write_bytes(json.dumps(data).encode() + b"\n" + rest)
    with pytest.raises(ModelFileError, match=rf"scikit-learn 0\.1\.0.*{sklearn.__version__}.*retrain"):
        load_model(path)
    data["sklearn_version"], data["format_version"] = sklearn.__version__, 99
    path.write_bytes(json.dumps(data).encode() + b"\n" + rest)
    with pytest.raises(ModelFileError, match="format 99"):
        build_engine(model_file=path)
    path.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="not a triage model"):
        load_model(path)


def test_the_seed_set_is_labelled_split_and_sourced() -> None:
    items = load_seed(SEED)
    assert len(items) >= 180
    for item in items:
        assert item["queue"] in SLUGS
        assert item["priority"] in ("low", "normal", "high", "urgent")
        assert item["source"].startswith("https://")
    for slug in SLUGS:
        queue = [i for i in items if i["queue"] == slug and i["set"] == "seed"]
        assert len(queue) >= 20
        assert 0.25 <= sum(i["split"] == "test" for i in queue) / len(queue) <= 0.35
    # the seed split is the one draw_split makes: 30 % per queue by SHA-256 order of the ids
    assert draw_split([i for i in items if i["set"] == "seed"], 0.3) == sorted(
        i["id"] for i in items if i["split"] == "test")


def test_the_real_questions_are_real_and_their_held_out_split_is_kept_apart() -> None:
    items = load_seed(SEED)
    real = [i for i in items if i["set"] == "real"]
    assert real, "tests/data/triage/real.yaml holds the real questions"
    assert {i["kind"] for i in real} <= {"forum", "github-issue"}, "only a person's own question is real"
    assert len({i["id"] for i in items}) == len(items), "ids are unique across the seed set and the real questions"
    for item in real:
        assert item["queue"] in SLUGS and item["priority"] in ("low", "normal", "high", "urgent")
        assert item["source"].startswith(("https://community.lsst.org/", "https://github.com/"))
    # the fresh test sets (ids fresh-*) are held out whole; every other file of real questions keeps the split
    # drawn for it, a third per queue by SHA-256 order (each file on its own, so adding one moves nothing)
    fresh = [i for i in real if i["id"].startswith("fresh-")]
    assert fresh and all(i["split"] == "real-test" for i in fresh), "every fresh question is held out"
    drawn_files = sorted({i["file"] for i in real if not i["id"].startswith("fresh-")})
    assert "real.yaml" in drawn_files
    for name in drawn_files:
        drawn = [i for i in real if i["file"] == name]
        assert not any(i["id"].startswith("fresh-") for i in drawn), f"{name} mixes fresh and drawn questions"
        held = sorted(i["id"] for i in drawn if i["split"] == "real-test")
        assert held == draw_split(drawn, 1 / 3), f"real_test holds a third per queue of {name} by SHA-256 order"
    assert not {i["split"] for i in items if i["set"] == "seed"} & {"real-test"}
    trained_on = {(t, b) for t, b, _ in iter_seed(SEED, "train")}
    assert not any((i["title"], i.get("body") or "") in trained_on for i in items if i["split"] in HELD_OUT)
    assert any((i["title"], i.get("body") or "") in trained_on for i in real if i["split"] == "train")


def test_shipped_model_never_saw_the_held_out_split_and_clears_a_sanity_floor() -> None:
    engine = build_engine()
    assert engine.model is not None and engine.model_usable
    train = list(iter_seed(SEED, "train")) + list(iter_kb_examples(ROOT / "kb"))
    assert sum(engine.model.examples_per_queue.values()) == len(train), (
        "The shipped model was trained on other data than the seed's train split and today's kb/: rebuild it with "
        "`helpdesk triage retrain --output helpdesk/triage/data/model.joblib` on an empty database.")
    held_out = [i for i in load_seed(SEED) if i["split"] == "test"]
    right = sum(engine.decide(i["title"], i["body"]).queue == i["queue"] for i in held_out)
    assert right / len(held_out) > 0.7  # a floor only; `make bench` reports the real figure
