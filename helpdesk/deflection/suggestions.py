"""The articles offered for a question: the best few above a score floor, from the delegates' pages only.

They are worked out once per ticket, in the worker when it sends a Slack or forum acknowledgement (never in
the webhook request, which Slack gives three seconds) or when the web form files, and kept on the ticket
(:meth:`helpdesk.tickets.services.TicketService.record_suggestions`): a redelivered acknowledgement and the
requester's page then show the same ones, and the knowledge-gap report reads the stored best score.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from helpdesk.config import Settings
from helpdesk.search.documents import STAFF_ONLY_URLS
from helpdesk.search.services import LOW_SCORE, QUERY_MAX, SearchService

log = logging.getLogger("helpdesk.deflection")

#: At most this many articles are offered.
OFFERED_MAX = 3


def suggestion_floor(settings: Settings) -> float:
    """The score an article must reach to be offered (HELPDESK_SUGGESTION_SCORE_FLOOR, else the engine's line)."""
    return settings.suggestion_score_floor if settings.suggestion_score_floor is not None else LOW_SCORE


def gap_floor(settings: Settings) -> float:
    """A ticket whose best match scored below this is a knowledge-gap candidate (HELPDESK_GAP_SCORE_FLOOR)."""
    return settings.gap_score_floor if settings.gap_score_floor is not None else suggestion_floor(settings)


@dataclass(frozen=True)
class Article:
    title: str
    url: str
    score: float

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "url": self.url, "score": round(self.score, 3)}


@dataclass(frozen=True)
class Looked:
    """What a search for one question found: the articles to offer and the best score (None: search was down)."""

    articles: tuple[Article, ...]
    best_score: float | None

    def to_json(self) -> dict[str, Any]:
        return {"articles": [a.to_json() for a in self.articles]}


class Deflector:
    """Searches the delegates' pages for a question and keeps the best articles above the floor."""

    def __init__(self, search: SearchService, public_url: str, floor: float, limit: int = OFFERED_MAX) -> None:
        self.search = search
        self.base = public_url.rstrip("/")
        self.floor = floor
        self.limit = limit

    @classmethod
    def from_settings(cls, settings: Settings) -> Deflector:
        return cls(SearchService(settings.index_dir), settings.public_url, suggestion_floor(settings))

    def look_up(self, subject: str, body: str) -> Looked:
        """Never raises: with search down, nothing is offered and the score is unknown."""
        # The subject on a line of its own: the search weighs a question's first line as its summary.
        text = f"{' '.join(subject.split())}\n{' '.join(body.split())}"[:QUERY_MAX].strip()
        if not text:
            return Looked((), 0.0)
        try:
            hits = self.search.query(text, limit=self.limit, audience="delegates")
        except Exception as exc:  # noqa: BLE001 - suggestions are a courtesy; nothing fails for want of them
            log.warning("knowledge-base search failed: %s", exc)
            return Looked((), None)
        # The delegates' audience already leaves out the operator pages; checked again, as this goes out.
        hits = [hit for hit in hits if not hit.url.startswith(STAFF_ONLY_URLS)]
        best = max((hit.score for hit in hits), default=0.0)
        articles = tuple(Article(hit.title, self.absolute(hit.url), hit.score) for hit in hits
                         if hit.score >= self.floor)
        return Looked(articles[: self.limit], best)

    def absolute(self, url: str) -> str:
        return url if "://" in url else f"{self.base}/{url.lstrip('/')}"


def stored_articles(suggestions: dict[str, Any] | None) -> list[Article]:
    """The articles kept on a ticket (``Ticket.suggestions``), in the order they were offered."""
    found = []
    for entry in (suggestions or {}).get("articles") or []:
        if isinstance(entry, dict) and isinstance(entry.get("title"), str) and isinstance(entry.get("url"), str):
            found.append(Article(entry["title"], entry["url"], float(entry.get("score") or 0)))
    return found
