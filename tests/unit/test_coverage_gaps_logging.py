"""Operators' logs: one JSON object a line with the request id, extra fields and tracebacks; or plain text."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
from flask import Flask, g

from helpdesk.logging import JsonFormatter, TextFormatter, configure_logging


def record(message: str = "delivered %s", *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("slack unreachable")
        except RuntimeError:
            exc_info = sys.exc_info()
    made = logging.LogRecord("helpdesk.worker", logging.WARNING, __file__, 1, message, args or ("item 7",), exc_info)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


@pytest.fixture
def flask_app() -> Flask:
    return Flask(__name__)


def test_json_line_carries_level_logger_message_and_extra_fields() -> None:
    line = JsonFormatter().format(record(outbox_id=7, channel="slack"))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "warning" and entry["logger"] == "helpdesk.worker"
    assert entry["message"] == "delivered item 7"
    assert entry["outbox_id"] == 7 and entry["channel"] == "slack"
    assert entry["time"].endswith("+00:00")  # UTC, whatever the host's zone
    assert "request_id" not in entry and "exception" not in entry


def test_json_line_keeps_the_traceback_and_unserialisable_extras() -> None:
    entry = json.loads(JsonFormatter().format(record(exc=True, when=object())))
    assert "RuntimeError: slack unreachable" in entry["exception"]
    assert entry["when"].startswith("<object object")


def test_request_id_is_in_json_and_text_lines_inside_a_request(flask_app: Flask) -> None:
    with flask_app.test_request_context("/"):
        g.request_id = "4f1c0ffee"
        assert json.loads(JsonFormatter().format(record()))["request_id"] == "4f1c0ffee"
        assert TextFormatter().format(record()) == "WARNING helpdesk.worker: [4f1c0ffee] delivered item 7"
    with flask_app.test_request_context("/"):  # a request without an id yet
        assert TextFormatter().format(record()) == "WARNING helpdesk.worker: delivered item 7"
    assert TextFormatter().format(record()) == "WARNING helpdesk.worker: delivered item 7"


@pytest.fixture
def helpdesk_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("helpdesk")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield logger
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


def test_configuring_twice_leaves_one_handler_of_ours(helpdesk_logger: logging.Logger,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    foreign = logging.NullHandler()  # someone else's handler (pytest's, a library's) stays
    helpdesk_logger.addHandler(foreign)
    configure_logging("debug", "json")
    configure_logging("info", "text")
    ours = [h for h in helpdesk_logger.handlers if getattr(h, "_helpdesk", False)]
    assert len(ours) == 1 and isinstance(ours[0].formatter, TextFormatter)
    assert foreign in helpdesk_logger.handlers
    assert helpdesk_logger.level == logging.INFO and helpdesk_logger.propagate is False

    stream = io.StringIO()
    monkeypatch.setattr(ours[0], "stream", stream)
    logging.getLogger("helpdesk.tickets").info("filed %s", "#3")
    logging.getLogger("helpdesk.tickets").debug("not shown at info")
    assert stream.getvalue() == "INFO    helpdesk.tickets: filed #3\n"
