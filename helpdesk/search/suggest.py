"""Knowledge-base suggestions for a question, offered before (or while) it reaches staff."""

from __future__ import annotations

import logging

from helpdesk.search.services import QUERY_MAX, SearchService

log = logging.getLogger("helpdesk.search")


class Suggester:
    """The best articles for a question, as absolute links; empty, never an error, when search is down."""

    def __init__(self, search: SearchService, public_url: str) -> None:
        self.search = search
        self.base = public_url.rstrip("/")

    def for_text(self, text: str, limit: int = 3) -> list[dict[str, str]]:
        try:
            hits = self.search.query(" ".join(text.split())[:QUERY_MAX], limit=limit)
        except Exception as exc:  # noqa: BLE001 - suggestions are a courtesy; filing must not fail for them
            log.warning("knowledge-base search failed: %s", exc)
            return []
        return [{"title": hit.title, "url": hit.url if "://" in hit.url else f"{self.base}/{hit.url.lstrip('/')}"}
                for hit in hits]
