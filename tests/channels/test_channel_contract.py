"""One contract, every channel: replies land in the thread, their markers are found again, errors are typed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from helpdesk.channels.base import (
    Channel,
    DeliveryError,
    PermanentDeliveryError,
    RateLimitedError,
    ThreadRef,
    UnknownChannelError,
)
from helpdesk.config import Settings
from helpdesk.factory import build_channel
from tests.channels.conftest import channel_overrides
from tests.support.fakes import FakeDiscourse, FakeSlack, Scripted

EXTERNAL = {
    "slack": {"channel": "C111", "thread_ts": "1596183880.004200", "ts": "1596183880.004200"},
    "discourse": {"topic_id": 11, "post_id": 14},
}


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakeDiscourse]]:
    slack, forum = FakeSlack().start(), FakeDiscourse().start()
    yield slack, forum
    slack.stop()
    forum.stop()


@pytest.fixture
def contract_settings(fakes: tuple[FakeSlack, FakeDiscourse]) -> Settings:
    return Settings(env="testing", database_url="sqlite://", **channel_overrides(fakes[0].api_url, fakes[1].url))


@pytest.mark.parametrize("name", ["slack", "discourse"])
class TestPostingChannels:
    def channel(self, settings: Settings, name: str) -> Channel:
        return build_channel(settings, name)

    def test_reply_lands_in_the_thread_and_is_found_by_its_marker(self, contract_settings: Settings, name: str,
                                                                  fakes: Any) -> None:
        channel = self.channel(contract_settings, name)
        thread = channel.thread_from_external(EXTERNAL[name])
        assert channel.find_reply(thread, "outbox-7") is None
        remote_id = channel.reply(thread, "Here is the answer.", idempotency_key="outbox-7")
        assert remote_id
        assert channel.find_reply(thread, "outbox-7") == remote_id
        assert channel.find_reply(thread, "outbox-8") is None

    @pytest.mark.parametrize(("status", "error"), [(503, DeliveryError), (401, PermanentDeliveryError)])
    def test_errors_are_typed(self, contract_settings: Settings, name: str, fakes: Any, status: int,
                              error: type[Exception]) -> None:
        slack, forum = fakes
        if name == "slack":
            body = {"ok": False, "error": "fatal_error" if status == 503 else "invalid_auth"}
            slack.script("chat.postMessage", Scripted(status if status == 503 else 200, body))
        else:
            forum.script("/posts", Scripted(status, {"errors": ["nope"]}))
        channel = self.channel(contract_settings, name)
        with pytest.raises(error):
            channel.reply(channel.thread_from_external(EXTERNAL[name]), "text", idempotency_key="outbox-1")

    def test_missing_thread_is_permanent(self, contract_settings: Settings, name: str) -> None:
        with pytest.raises(PermanentDeliveryError):
            self.channel(contract_settings, name).thread_from_external({})


def test_slack_429_carries_retry_after(contract_settings: Settings, fakes: Any) -> None:
    fakes[0].script("chat.postMessage", Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "3"}))
    channel = build_channel(contract_settings, "slack")
    with pytest.raises(RateLimitedError) as caught:
        channel.reply(ThreadRef("slack", "C111", "1.2"), "text")
    assert caught.value.retry_after == 3.0


def test_unreachable_server_is_a_retryable_error(contract_settings: Settings) -> None:
    settings = contract_settings.model_copy(update={"slack_api_url": "http://127.0.0.1:9/api/",
                                                    "discourse_url": "http://127.0.0.1:9"})
    for name, external in EXTERNAL.items():
        channel = build_channel(settings, name)
        with pytest.raises(DeliveryError):
            channel.reply(channel.thread_from_external(external), "text")


@pytest.mark.parametrize("name", ["web", "api"])
def test_web_and_api_tickets_post_nothing_anywhere_and_have_no_webhook(contract_settings: Settings, name: str,
                                                                      fakes: Any) -> None:
    # The real channel the factory picks for a web or API ticket, with Slack and the forum both connected
    # and listening: a reply is read on the helpdesk, so neither of them may hear about it.
    slack, forum = fakes
    channel = build_channel(contract_settings, name)
    thread = channel.thread_from_external({"channel": "C111", "thread_ts": "1.2", "topic_id": 11})
    assert channel.reply(thread, "seen on the web", idempotency_key="outbox-3") == ""
    assert channel.find_reply(thread, "outbox-3") is None
    assert channel.thread_started_by("") is None
    assert slack.requests == [] and forum.requests == []
    with pytest.raises(UnknownChannelError):
        channel.parse({"Content-Type": "application/json"}, b"{}")


def test_unconfigured_and_unknown_channels(contract_settings: Settings) -> None:
    bare = Settings(env="testing", database_url="sqlite://")
    for name in ("slack", "discourse", "email"):
        with pytest.raises(UnknownChannelError):
            build_channel(bare if name != "email" else contract_settings, name)


def test_slack_docs_example_signature_verifies_with_a_pinned_clock() -> None:
    import json
    from pathlib import Path

    from slack_sdk.signature import Clock

    from helpdesk.channels.slack import SlackChannel

    example = json.loads((Path(__file__).parent.parent / "data/slack/signature_docs_example.json").read_text())

    class Pinned(Clock):
        def now(self) -> float:
            return 1531420618.0

    settings = Settings(env="testing", database_url="sqlite://", slack_signing_secret=example["signing_secret"])
    channel = SlackChannel(settings, clock=Pinned())
    headers = {**example["headers"], "Content-Type": "application/x-www-form-urlencoded"}
    result = channel.parse(headers, example["body"].encode())
    assert type(result).__name__ == "ModalRequest"  # /webhook-collect with empty text opens the form
