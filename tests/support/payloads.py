"""The recorded Slack and forum payloads under ``tests/data`` (their sources are in tests/data/SOURCES.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data"


def load(name: str) -> Any:
    """A fresh copy of ``tests/data/<name>`` each call, so a test may change it freely."""
    return json.loads((DATA / name).read_text())
