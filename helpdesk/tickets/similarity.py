"""How alike two tickets read: TF-IDF cosine over subject and body, for incidents and possible duplicates.

Words, not characters: on a labelled check of reports of one failure written by different people (and unrelated
DP0 questions beside them, ``tests/incidents/test_similarity.py``) word unigrams without English stop words, after
folding the common ways of saying the same thing ("log in", "sign in", "login"; "can't", "unable to"; "HTTP 503",
"503"), separated the two better than character n-grams or word bigrams. The IDF is fitted on the tickets being
compared (the new one and its candidates), so words every recent ticket uses weigh little. Scores run from 0
(nothing in common) to 1 (the same words); reports of the same failure in other words score about 0.2 to 0.5.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

#: Only the start of a long body is compared: the failure is described first, and a pasted log stays cheap.
TEXT_LIMIT = 2_000

#: Different words for the same thing, folded into one before comparing (applied in this order).
SYNONYMS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(pattern), word) for pattern, word in (
    (r"\b(?:log(?:ging)?|sign(?:ing)?)[ -]?(?:in|on)\b|\blogin\b|\bsignin\b", "login"),
    (r"\b(?:can'?t|cannot|can not|unable to|not able to)\b", "cannot"),
    (r"\b(?:unavailable|outage|down)\b", "down"),
    (r"\b(?:errors?|fail(?:s|ed|ing|ure)?|broken)\b", "fail"),
    (r"\bhttp ?(\d{3})\b", r"\1"),
))
STOP_WORDS = sorted(ENGLISH_STOP_WORDS)
#: Words of letters and digits, keeping dotted names whole (``data.lsst.cloud``, ``dp02_dc2_catalogs.Object``).
WORD_PATTERN = r"(?u)\b\w[\w.]*\w\b|\b\w\b"


def ticket_text(subject: str, body: str) -> str:
    """What is compared: the subject twice (the requester's own summary weighs most), then the body's start."""
    text = f"{subject}\n{subject}\n{(body or '')[:TEXT_LIMIT]}".lower()
    for pattern, word in SYNONYMS:
        text = pattern.sub(word, text)
    return text


def _vectors(texts: Sequence[str]) -> Any:
    """L2-normalised TF-IDF rows, so that a dot product is the cosine; None when no text has a content word."""
    vectorizer = TfidfVectorizer(analyzer="word", token_pattern=WORD_PATTERN, stop_words=STOP_WORDS,
                                 sublinear_tf=True, lowercase=False)
    try:
        return vectorizer.fit_transform(texts)
    except ValueError:  # nothing but stop words and punctuation: nothing in common to measure
        return None


def similarities(target: str, others: Sequence[str]) -> list[float]:
    """Cosine similarity of ``target`` with each of ``others`` (texts from :func:`ticket_text`), in order."""
    if not others:
        return []
    matrix = _vectors([target, *others])
    if matrix is None:
        return [0.0] * len(others)
    scores = (matrix[1:] @ matrix[0].T).toarray().ravel()
    return [round(float(score), 4) for score in scores]


def similarity_matrix(texts: Sequence[str]) -> np.ndarray:
    """Every pair's cosine similarity, ``texts`` × ``texts`` (1 on the diagonal for texts with content words)."""
    matrix = _vectors(texts) if texts else None
    if matrix is None:
        return np.zeros((len(texts), len(texts)))
    return (matrix @ matrix.T).toarray()
