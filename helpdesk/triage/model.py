"""The learned classifier: TF-IDF (word 1-2 grams and character 3-5 grams) and a logistic regression.

The word features are read for real questions (``analyze``): identifiers in code and tracebacks also give the
words inside them, and what only adds noise (query strings, hex, long numbers, user names in paths) is dropped.

A model is a file the operator ships; it is never fetched at run time. The file starts with one line of JSON
(format, format version, scikit-learn version, classes, examples per queue), then the joblib pickle, so a
mismatched file is refused from its header alone, before anything is unpickled. Unpickling runs code: load
only model files you made (``helpdesk triage retrain``) or that came with the helpdesk.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from helpdesk.triage.rules import TicketText, clip, read_parts

FORMAT = "dp0-helpdesk-triage-model"
#: 2: words of identifiers and noise removal (``analyze``), the title three times. 3: the body's pasted code
#: left out (``model_text``). A file of another format is refused.
FORMAT_VERSION = 3
#: The model reads the start of a body: enough for the question, and it keeps a 200 kB paste fast.
MODEL_TEXT_LIMIT = 4_000

Example = tuple[str, str, str]  # (title, body, queue)


class ModelFileError(RuntimeError):
    """A model file that cannot be used: missing, not a triage model, or made by another version."""


def default_model_path() -> Path:
    return Path(str(resources.files("helpdesk.triage") / "data" / "model.joblib"))


#: How many times the title is read: it is the requester's own summary and carries more signal per word than
#: the body (3 rather than 2: chosen by cross-validation on the train split, real questions and all).
TITLE_REPEAT = 3


def model_text(title: str, body: str) -> str:
    """What the model reads: the title, then the person's own words and error lines, without pasted code.

    The code of a notebook cell names the services it set up whatever the question is about: with a typical
    set-up cell pasted under each held-out question, the engine that read code moved 37 of 81 to another queue
    (bench/triage_accuracy.py, "with a notebook's set-up cell pasted"). The rules still read the code, at a
    lower weight, and the error line that says what failed is kept.
    """
    return text_for_model(read_parts(title, body))


def text_for_model(text: TicketText) -> str:
    """:func:`model_text` of a ticket already read (:func:`helpdesk.triage.rules.read_parts`)."""
    return "\n".join([text.title] * TITLE_REPEAT + [clip(text.prose, MODEL_TEXT_LIMIT)])


# -- reading real text: code, tracebacks, identifiers ------------------------------------------------

#: A word as the model reads it: letters, digits and underscores, with inner dots kept (``lsst.daf.butler``,
#: ``dp02_dc2_catalogs.Object.coord_ra``, ``DP0.2`` are one word each).
WORD = re.compile(r"(?u)\b\w[\w.]*\w\b|\b\w\b")
#: Noise in pasted text: a URL's query string or fragment, hexadecimal addresses and hashes, long numbers
#: (visit and object ids, timestamps, line numbers), and the user's own part of a path.
URL = re.compile(r"https?://\S+")  # each URL read once: a lazy match up to "?" or "#" was quadratic on long runs
HEX = re.compile(r"\b0x[0-9a-f]+\b|\b(?=[a-f]*\d)(?=\d*[a-f])[0-9a-f]{8,}\b", re.IGNORECASE)
LONG_NUMBER = re.compile(r"\b\d{5,}\b")
USER_PATH = re.compile(r"(/(?:home|Users|scratch|project|nb/user))/[\w.@-]+", re.IGNORECASE)
#: The pieces of an identifier: camelCase humps (digits stay with their letters: ``DP02``, ``dc2``).
HUMP = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+\d*|[A-Z]+\d*|\d+")


def clean(text: str) -> str:
    """Pasted text without the parts that only add noise (query strings, hex, long numbers, user names)."""
    text = URL.sub(lambda url: re.split(r"[?#]", url[0], maxsplit=1)[0], text)
    text = USER_PATH.sub(r"\1", text)
    return LONG_NUMBER.sub(" ", HEX.sub(" ", text))


def identifier_parts(word: str) -> list[str]:
    """The words inside an identifier, lower-cased: ``lsst.daf.butler`` gives lsst, daf, butler;
    ``get_tap_service`` gives get, tap, service; ``deepCoadd_calexp`` gives deep, coadd, calexp;
    ``DatasetNotFoundError`` gives dataset, not, found, error. A plain word gives nothing."""
    pieces = [hump.lower() for part in re.split(r"[._]+", word) for hump in HUMP.findall(part)]
    return pieces if len(pieces) > 1 else []


def analyze(text: str) -> list[str]:
    """The model's word features: each word and each pair of neighbouring words, as written (lower-cased),
    plus the words inside every identifier, so that ``deepCoadd`` in a traceback meets "deep coadd" in a
    question, and ``lsst.daf.butler.DatasetNotFoundError`` meets "butler" and "dataset". Module level, so
    that the pickled model refers to it by name."""
    text = clean(text)
    words = WORD.findall(text.lower())
    features = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    for word in WORD.findall(text):
        features.extend(p for p in identifier_parts(word) if len(p) > 1 and not p.isdigit())
    return features


def _readable(term: str) -> bool:
    """A term worth showing staff as a reason: not only common words ("on my") or numbers ("0.2")."""
    return any(word not in ENGLISH_STOP_WORDS and not word.replace(".", "").isdigit() for word in term.split())


#: The regularisation of the logistic regression: 50 rather than 20 made the probabilities sharper (fewer
#: questions held for a person) at the same cross-validated accuracy (bench/triage_accuracy.py).
CLASSIFIER_C = 50.0


def build_pipeline() -> Pipeline:
    words = TfidfVectorizer(analyzer=analyze, sublinear_tf=True, min_df=1, max_features=20_000,
                            dtype=np.float32)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=2, lowercase=True,
                            max_features=30_000, dtype=np.float32)
    return Pipeline([
        ("features", FeatureUnion([("words", words), ("chars", chars)])),
        ("classifier", LogisticRegression(C=CLASSIFIER_C, max_iter=2000, class_weight="balanced")),
    ])


@dataclass
class TriageModel:
    pipeline: Pipeline
    classes: list[str]
    examples_per_queue: dict[str, int]
    trained_at: str
    sklearn_version: str = sklearn.__version__

    @classmethod
    def train(cls, examples: Iterable[Example]) -> TriageModel:
        rows = [(model_text(title, body), queue) for title, body, queue in examples]
        if len({queue for _, queue in rows}) < 2:
            raise ValueError("Training needs labelled examples of at least two queues.")
        pipeline = build_pipeline()
        pipeline.fit([text for text, _ in rows], [queue for _, queue in rows])
        counts = Counter(queue for _, queue in rows)
        return cls(pipeline, [str(c) for c in pipeline.classes_], dict(sorted(counts.items())),
                   datetime.now(UTC).isoformat(timespec="seconds"))

    def has_enough_data(self, minimum: int, queues: Iterable[str]) -> bool:
        return all(self.examples_per_queue.get(queue, 0) >= minimum for queue in queues)

    def predict(self, title: str, body: str) -> tuple[list[tuple[str, float]], list[str]]:
        """Queues with probabilities (best first), and the terms that weighed most for the best one."""
        return self.predict_text(read_parts(title, body))

    def predict_text(self, text: TicketText) -> tuple[list[tuple[str, float]], list[str]]:
        """:meth:`predict` of a ticket already read (:func:`helpdesk.triage.rules.read_parts`)."""
        features = self.pipeline.named_steps["features"].transform([text_for_model(text)])
        classifier: LogisticRegression = self.pipeline.named_steps["classifier"]
        probabilities = classifier.predict_proba(features)[0]
        order = np.argsort(-probabilities)
        ranked = [(self.classes[i], float(probabilities[i])) for i in order]
        return ranked, self._top_terms(features, int(order[0]))

    def _top_terms(self, features: Any, class_index: int, limit: int = 5) -> list[str]:
        """Words (not character grams, which read badly) that pushed most towards the chosen queue."""
        union: FeatureUnion = self.pipeline.named_steps["features"]
        words: TfidfVectorizer = union.transformer_list[0][1]
        vocabulary_size = len(words.vocabulary_)
        row = features.tocsr()[0]
        coefficients = self.pipeline.named_steps["classifier"].coef_
        if coefficients.shape[0] == 1:  # two classes: one row of coefficients, for classes[1]
            coefficients = np.vstack([-coefficients[0], coefficients[0]])
        contributions = []
        names = self._word_names(words)
        for index, value in zip(row.indices, row.data, strict=True):
            if index < vocabulary_size:
                contributions.append((float(value * coefficients[class_index, index]), names[index]))
        contributions.sort(reverse=True)
        readable = [name for weight, name in contributions if weight > 0 and _readable(name)]
        return readable[:limit]

    def _word_names(self, words: TfidfVectorizer) -> Any:
        cached = getattr(self, "_names", None)
        if cached is None:
            cached = words.get_feature_names_out()
            object.__setattr__(self, "_names", cached)
        return cached

    # -- the file --------------------------------------------------------------------------------

    def save(self, path: Path) -> int:
        """Write the model file (header line + compressed pickle); returns its size in bytes."""
        header = {"format": FORMAT, "format_version": FORMAT_VERSION, "sklearn_version": self.sklearn_version,
                  "classes": self.classes, "examples_per_queue": self.examples_per_queue,
                  "trained_at": self.trained_at}
        buffer = io.BytesIO()
        joblib.dump(self.pipeline, buffer, compress=("zlib", 6))
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_bytes(json.dumps(header).encode() + b"\n" + buffer.getvalue())
        temporary.replace(path)  # never leave a half-written model where the desk would load it
        return path.stat().st_size


def read_header(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            line = handle.readline(64 * 1024)
    except OSError as exc:
        raise ModelFileError(f"Cannot read the triage model {path}: {exc.strerror or exc}.") from exc
    try:
        header = json.loads(line)
        if not isinstance(header, dict):
            raise ValueError
    except ValueError as exc:
        raise ModelFileError(f"{path} is not a triage model file (no header line).") from exc
    return header


def load_model(path: Path) -> TriageModel:
    """Load a model file; raises ModelFileError (with what to do) on any mismatch."""
    header = read_header(path)
    if header.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a triage model file (format {header.get('format')!r}).")
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} is triage model format {header.get('format_version')!r}; this helpdesk reads format "
            f"{FORMAT_VERSION}. Rebuild it with `helpdesk triage retrain`.")
    if header.get("sklearn_version") != sklearn.__version__:
        raise ModelFileError(
            f"{path} was trained with scikit-learn {header.get('sklearn_version')}, but scikit-learn "
            f"{sklearn.__version__} is installed; a pickled model only loads safely in the version that made it. "
            "Rebuild it with `helpdesk triage retrain`, or install the matching scikit-learn.")
    raw = path.read_bytes()
    try:
        pipeline = joblib.load(io.BytesIO(raw[raw.index(b"\n") + 1:]))
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing: unusable file
        raise ModelFileError(f"{path} is damaged and cannot be loaded ({exc.__class__.__name__}).") from exc
    if not isinstance(pipeline, Pipeline):
        raise ModelFileError(f"{path} does not hold a triage pipeline.")
    return TriageModel(pipeline, [str(c) for c in header["classes"]],
                       {str(k): int(v) for k, v in header.get("examples_per_queue", {}).items()},
                       str(header.get("trained_at", "")), str(header["sklearn_version"]))
