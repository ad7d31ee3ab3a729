"""Rules in configuration: terms, patterns and channels per queue, and the urgency signals of priority.

The rules file is YAML (the shipped default is ``helpdesk/triage/data/rules.yaml``; the setting
``HELPDESK_TRIAGE_RULES_FILE`` names another). Everything is compiled once at load, so scoring a ticket is
a handful of regular-expression scans.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from helpdesk.exceptions import InvalidInputError

PRIORITY_ORDER = ("low", "normal", "high", "urgent")
#: Enough of a long body for the rules: a 200 kB log paste adds nothing but time.
RULES_TEXT_LIMIT = 20_000


def clip(text: str, limit: int) -> str:
    """The start and the end of a long text: people paste a traceback, then say what they wanted at the end."""
    if len(text) <= limit:
        return text
    tail = limit // 4
    return f"{text[:limit - tail]}\n{text[-tail:]}"


def default_rules_path() -> Path:
    return Path(str(resources.files("helpdesk.triage") / "data" / "rules.yaml"))


@dataclass(frozen=True)
class QueueRules:
    slug: str
    term_weights: dict[str, float]
    patterns: list[tuple[re.Pattern[str], str, float]]


#: Text is split into lower-case word tokens once; terms are token sequences, so matching is a dictionary
#: look-up per token (linear in the text, whatever the number of terms; a regex alternation was 100x slower).
TOKEN = re.compile(r"[a-z0-9_]+")


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


# -- prose and pasted code ---------------------------------------------------------------------------

#: How much of a body is split into prose and code: the start and the end of a longer paste (``clip``). The
#: parts are then clipped to what the rules and the model read, so a long code block cannot crowd out the words.
SPLIT_TEXT_LIMIT = 100_000
#: A fence: three or more backticks anywhere (Slack writes ```code``` on one line, or opens a block mid-line and
#: closes it at the end of the last code line), or three or more tildes at the start of a line (Markdown).
BACKTICKS = re.compile(r"`{3,}")
TILDES = re.compile(r"^\s*~{3,}")
#: A prompt or a traceback frame: code wherever it stands (``>>>``, ``In [3]:``, IPython's ``---->`` arrows).
PROMPT_LINE = re.compile(r"^\s*(?:>>>|In \[\d*\]:|-{2,}>|Traceback \(most recent call last\)|File \"|Cell In\[)")
#: An indented line (four spaces or a tab): code when it starts after a blank line or continues code, as in
#: Markdown; an indented line right under a sentence or a list item continues that prose.
INDENTED = re.compile(r"^(?:\t| {4})")
#: Code written without a fence: an assignment from a call, a lone call, or a Python block header.
CODE_SHAPED = re.compile(
    r"^\s*(?:[A-Za-z_][\w.]*(?:\[[^\]\n]{0,80}\])?\s*=\s*[\w.]+\s*[(\[]"
    r"|[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+\(.*\)\s*$"
    r"|(?:for|if|elif|while|with|def|class|try|except)\b[^\n]{0,200}:\s*$)")
#: A whole import line, also behind a prompt or an IPython traceback's line-number gutter: every notebook starts
#: with the same few, whatever it goes on to ask. A sentence that begins "import lsst.daf.butler fails" is not one.
IMPORT_LINE = re.compile(
    r"^\s*(?:>>>\s*|In \[\d*\]:\s*|-*>?\s*\d+\s+)?"
    r"(?:from\s+[\w.]+\s+import\s+(?:\(?\s*[\w*]+(?:\s+as\s+\w+)?(?:\s*,\s*\w+(?:\s+as\s+\w+)?)*\s*,?\s*\)?)"
    r"|import\s+[\w.]+(?:\s+as\s+\w+)?(?:\s*,\s*[\w.]+(?:\s+as\s+\w+)?)*)\s*(?:#.*)?$")
#: The line that says what failed (``DatasetNotFoundError: ...``, ``pyvo.dal.DALQueryError: ...``): it names
#: the part that broke, so it counts as the person's words even inside a traceback.
ERROR_LINE = re.compile(r"^\s*(?:[\w.]*\.)?\w*(?:Error|Exception|Warning|Exit)\b(?::|\s*$)")


def split_code(text: str) -> tuple[str, str]:
    """``(prose, code)``: the person's own words with the error lines, and the code and tracebacks they pasted
    without its import lines.

    A pasted notebook cell imports and sets up every service the notebook uses (``get_tap_service``,
    ``lsst.daf.butler``) whatever the question is about: the imports are left out, and a term found only in the
    rest of the code weighs less than one the person wrote (the rules' ``code_weight``). Code is what stands
    between fences (backticks anywhere on a line, tildes at its start), an indented block after a blank line,
    prompts and traceback frames, and lines shaped like code (an assignment from a call, a lone call, a block
    header). A fence left open runs to the end, as Markdown renders it.
    """
    prose: list[str] = []
    code: list[str] = []
    fence = ""  # "`" or "~" while inside a fenced block
    previous_blank, previous_code = True, False
    for line in text.splitlines():
        if fence != "`" and TILDES.match(line):
            fence = "" if fence == "~" else "~"
            previous_blank, previous_code = False, True
            continue
        pieces = BACKTICKS.split(line) if fence != "~" else [line]
        if len(pieces) > 1:
            # Backtick fences on this line: the pieces alternate between outside and inside a block.
            inside = fence == "`"
            for number, piece in enumerate(pieces):
                if number:
                    inside = not inside
                if piece.strip():
                    _sort_line(piece, inside, prose, code)
            fence = "`" if inside else ""
            previous_blank, previous_code = False, True
            continue
        if fence:
            _sort_line(line, True, prose, code)
            previous_blank, previous_code = False, True
            continue
        blank = not line.strip()
        is_code = not blank and (PROMPT_LINE.match(line) is not None or CODE_SHAPED.match(line) is not None
                                 or (INDENTED.match(line) is not None and (previous_blank or previous_code)))
        _sort_line(line, is_code, prose, code)
        previous_blank, previous_code = blank, is_code
    return "\n".join(prose), "\n".join(code)


def _sort_line(line: str, is_code: bool, prose: list[str], code: list[str]) -> None:
    if IMPORT_LINE.match(line):
        return
    if ERROR_LINE.match(line) or not is_code:
        prose.append(line)
    else:
        code.append(line)


class TicketText(NamedTuple):
    """A ticket as triage reads it (:func:`read_parts`): made once per decision, read by the rules and the model."""

    title: str
    prose: str
    code: str


def read_parts(title: str, body: str) -> TicketText:
    """The ticket as triage reads it: the body split (``split_code``), and the title without fence marks (Slack's
    first line, the subject, may open a code block)."""
    prose, code = split_code(clip(body or "", SPLIT_TEXT_LIMIT))
    return TicketText(BACKTICKS.sub(" ", title or ""), prose, code)


@dataclass(frozen=True)
class TermIndex:
    """Every queue's terms: exact token sequences, and prefix terms ("deblend*") by their last token's prefix."""

    exact: dict[tuple[str, ...], list[tuple[str, str, float]]]  # tokens -> [(queue, term, weight)]
    prefix: dict[tuple[tuple[str, ...], int], dict[str, list[tuple[str, str, float]]]]
    lengths: tuple[int, ...]
    #: ``prefix`` by the words before the prefix, so that each position looks up only the tables that can match.
    prefix_by_head: dict[tuple[str, ...], list[tuple[int, dict[str, list[tuple[str, str, float]]]]]] = field(
        default_factory=dict)

    def matches(self, words: list[str]) -> set[tuple[str, str, float]]:
        found: set[tuple[str, str, float]] = set()
        count = len(words)
        exact, by_head = self.exact, self.prefix_by_head
        for i in range(count):
            for n in self.lengths:
                if i + n > count:
                    break
                key = tuple(words[i:i + n])
                if (hit := exact.get(key)) is not None:
                    found.update(hit)
                if (tables := by_head.get(key[:-1])) is not None:
                    last = key[-1]
                    for size, table in tables:
                        if (hit := table.get(last[:size])) is not None:
                            found.update(hit)
        return found


def build_index(queues: dict[str, dict[str, float]]) -> TermIndex:
    exact: dict[tuple[str, ...], list[tuple[str, str, float]]] = {}
    prefix: dict[tuple[tuple[str, ...], int], dict[str, list[tuple[str, str, float]]]] = {}
    lengths: set[int] = set()
    for slug, weights in queues.items():
        for term, weight in weights.items():
            parts = tokens(term.rstrip("*"))
            if not parts:
                raise ValueError(f"term {term!r} has no words")
            lengths.add(len(parts))
            if term.endswith("*"):
                table = prefix.setdefault((tuple(parts[:-1]), len(parts[-1])), {})
                table.setdefault(parts[-1], []).append((slug, term, weight))
            else:
                exact.setdefault(tuple(parts), []).append((slug, term, weight))
    by_head: dict[tuple[str, ...], list[tuple[int, dict[str, list[tuple[str, str, float]]]]]] = {}
    for (head, size), table in prefix.items():
        by_head.setdefault(head, []).append((size, table))
    return TermIndex(exact, prefix, tuple(sorted(lengths)), by_head)


@dataclass(frozen=True)
class PrioritySignal:
    level: str  # low, high, urgent, or "many" (raises high to urgent)
    reason: str
    pattern: re.Pattern[str]


@dataclass
class QueueScore:
    slug: str
    score: float = 0.0
    hits: list[tuple[str, float]] = field(default_factory=list)  # (what matched, points)


@dataclass(frozen=True)
class RuleSet:
    queues: dict[str, QueueRules]
    index: TermIndex
    channels: dict[str, str]
    title_weight: float
    #: A term or pattern found only in pasted code counts this share of its weight (``code_weight``).
    code_weight: float
    channel_weight: float
    min_score: float
    min_ratio: float
    #: When the model decides, each queue's share of the rules' points still counts this much beside the
    #: model's probability (``decide: rules_share``): the rules' terms are evidence even when not decisive.
    rules_share: float
    min_examples_per_queue: int
    default_priority: str
    signals: list[PrioritySignal]
    source: str

    @property
    def slugs(self) -> list[str]:
        return list(self.queues)

    # -- scoring ---------------------------------------------------------------------------------

    def score(self, title: str, body: str, *, source: str | None = None,
              channel_hint: str | None = None) -> list[QueueScore]:
        """Every queue's score, best first; ties keep the file's order."""
        return self.score_text(read_parts(title, body), source=source, channel_hint=channel_hint)

    def score_text(self, text: TicketText, *, source: str | None = None,
                   channel_hint: str | None = None) -> list[QueueScore]:
        """:meth:`score` of a ticket already read (:func:`read_parts`)."""
        title = text.title
        prose, code = clip(text.prose, RULES_TEXT_LIMIT), clip(text.code, RULES_TEXT_LIMIT)
        scores = {slug: QueueScore(slug) for slug in self.queues}
        # Each term counts once, where it weighs most: in the title, in the person's words, or only in code.
        in_title = self.index.matches(tokens(title))
        in_prose = self.index.matches(tokens(prose)) - in_title
        in_code = self.index.matches(tokens(code)) - in_title - in_prose if self.code_weight else set()
        for found, factor, where in ((in_title, self.title_weight, ""), (in_prose, 1.0, ""),
                                     (in_code, self.code_weight, " in code")):
            for slug, term, weight in found:
                points = weight * factor
                scores[slug].score += points
                scores[slug].hits.append((f"term '{term}'{where}", points))
        for slug, rules in self.queues.items():
            result = scores[slug]
            for pattern, label, weight in rules.patterns:
                if pattern.search(title):
                    points, where = weight * self.title_weight, ""
                elif pattern.search(prose):
                    points, where = weight, ""
                elif self.code_weight and pattern.search(code):
                    points, where = weight * self.code_weight, " in code"
                else:
                    continue
                result.score += points
                result.hits.append((f"pattern {label}{where}", points))
        if (queue := self.channel_queue(source, channel_hint)) is not None:
            scores[queue].score += self.channel_weight
            scores[queue].hits.insert(0, (f"channel {channel_hint}", self.channel_weight))
        for result in scores.values():
            result.hits.sort(key=lambda hit: -hit[1])
        order = {slug: i for i, slug in enumerate(self.queues)}
        return sorted(scores.values(), key=lambda s: (-s.score, order[s.slug]))

    @staticmethod
    def shares(ranked: list[QueueScore]) -> dict[str, float]:
        """Each queue's share of all the points the rules gave (all 0 when nothing matched)."""
        total = sum(max(s.score, 0.0) for s in ranked)
        return {s.slug: (max(s.score, 0.0) / total if total > 0 else 0.0) for s in ranked}

    def channel_queue(self, source: str | None, channel_hint: str | None) -> str | None:
        if not channel_hint:
            return None
        if source and (queue := self.channels.get(f"{source}:{channel_hint}")):
            return queue
        return self.channels.get(str(channel_hint))

    def is_sure(self, ranked: list[QueueScore]) -> bool:
        """A clear margin: the best is strong enough and well ahead of the runner-up."""
        best = ranked[0].score
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        return best >= self.min_score and best >= self.min_ratio * runner_up

    # -- priority --------------------------------------------------------------------------------

    def priority(self, title: str, body: str) -> tuple[str, list[str]]:
        """The priority and the urgency signals that set it (none: the default)."""
        text = f"{title or ''}\n{clip(body or '', RULES_TEXT_LIMIT)}"
        found: dict[str, list[str]] = {}
        for signal in self.signals:
            if signal.pattern.search(text):
                found.setdefault(signal.level, []).append(signal.reason)
        level = self.default_priority
        reasons: list[str] = []
        for candidate in ("urgent", "high"):
            if candidate in found:
                level, reasons = candidate, list(found[candidate])
                break
        if level == "high" and "many" in found:
            level, reasons = "urgent", reasons + found["many"]
        elif level == self.default_priority and "low" in found:
            level, reasons = "low", list(found["low"])
        return level, reasons


# -- loading -------------------------------------------------------------------------------------


def load_rules(path: Path | None = None, queue_slugs: Iterable[str] | None = None) -> RuleSet:
    """Read and compile a rules file; raises InvalidInputError naming the file and the problem.

    With ``queue_slugs`` (the configured queues) every queue and channel in the file must be one of them.
    """
    path = path or default_rules_path()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        return _compile(document, str(path), set(queue_slugs) if queue_slugs is not None else None)
    except InvalidInputError:
        raise
    except (OSError, yaml.YAMLError, re.error, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInputError(f"Cannot read the triage rules from {path}: {exc}") from exc


def _compile(document: Any, source: str, known: set[str] | None) -> RuleSet:
    if not isinstance(document, dict) or not isinstance(document.get("queues"), dict) or not document["queues"]:
        raise InvalidInputError(f"{source}: a rules file needs a `queues:` mapping of queue slug to rules.")
    queues: dict[str, QueueRules] = {}
    for slug, spec in document["queues"].items():
        if known is not None and slug not in known:
            raise InvalidInputError(f"{source}: queue {slug!r} is not in the queues configuration.")
        spec = spec or {}
        weights = {str(term).lower(): float(weight) for term, weight in (spec.get("terms") or {}).items()}
        patterns = [(re.compile(str(p), re.IGNORECASE), str(p), float(w))
                    for p, w in (spec.get("patterns") or {}).items()]
        queues[str(slug)] = QueueRules(str(slug), weights, patterns)
    channels = {str(k): str(v) for k, v in (document.get("channels") or {}).items()}
    for channel, slug in channels.items():
        if slug not in queues:
            raise InvalidInputError(f"{source}: channel {channel!r} maps to {slug!r}, which has no rules.")
    priority = document.get("priority") or {}
    default_priority = str(priority.get("default", "normal"))
    if default_priority not in PRIORITY_ORDER:
        raise InvalidInputError(f"{source}: priority default must be one of {', '.join(PRIORITY_ORDER)}.")
    signals = []
    for item in priority.get("signals") or []:
        level = str(item["level"])
        if level not in ("low", "high", "urgent", "many"):
            raise InvalidInputError(f"{source}: priority signal level {level!r} is not low, high, urgent or many.")
        signals.append(PrioritySignal(level, str(item["reason"]), re.compile(str(item["pattern"]), re.IGNORECASE)))
    decide = document.get("decide") or {}
    model = document.get("model") or {}
    return RuleSet(
        queues=queues, index=build_index({slug: q.term_weights for slug, q in queues.items()}), channels=channels,
        title_weight=float(document.get("title_weight", 2.0)),
        code_weight=_share(document.get("code_weight", 0.25), source, "code_weight"),
        channel_weight=float(document.get("channel_weight", 6.0)),
        min_score=float(decide.get("min_score", 4.0)), min_ratio=float(decide.get("min_ratio", 2.5)),
        rules_share=_share(decide.get("rules_share", 0.3), source, "decide: rules_share"),
        min_examples_per_queue=int(model.get("min_examples_per_queue", 15)),
        default_priority=default_priority, signals=signals, source=source,
    )


def _share(value: Any, source: str, name: str) -> float:
    share = float(value)
    if not 0.0 <= share <= 1.0:
        raise InvalidInputError(f"{source}: {name} must be between 0 and 1, not {share:g}.")
    return share
