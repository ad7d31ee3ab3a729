"""Structured logs: one JSON object a line, carrying the request id."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from flask import g, has_request_context

_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context() and "request_id" in g:
            entry["request_id"] = g.request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        request_id = g.get("request_id") if has_request_context() else None
        prefix = f"[{request_id}] " if request_id else ""
        return f"{record.levelname:<7} {record.name}: {prefix}{record.getMessage()}"


def configure_logging(level: str, fmt: str) -> None:
    """Configure the ``helpdesk`` logger once; repeated app creation (tests) does not stack handlers."""
    logger = logging.getLogger("helpdesk")
    logger.setLevel(level.upper())
    for handler in list(logger.handlers):
        if getattr(handler, "_helpdesk", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._helpdesk = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.propagate = False
