"""Typed settings: defaults, parsing, and production refusing unsafe settings."""

from __future__ import annotations

import pytest

from helpdesk import create_app
from helpdesk.config import Settings, UnsafeSettingsError

GOOD_KEY = "k" * 48


def test_development_defaults_to_dev_sign_in() -> None:
    assert Settings(env="development").auth == "dev"


def test_production_defaults_to_github_sign_in() -> None:
    assert Settings(env="production").auth == "github"


def test_comma_separated_lists_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPDESK_DISCOURSE_CATEGORY_IDS", "4, 7")
    monkeypatch.setenv("HELPDESK_SLACK_CHANNEL_IDS", "C1,C2")
    settings = Settings(env="testing")
    assert settings.discourse_category_ids == [4, 7]
    assert settings.slack_channel_ids == ["C1", "C2"]


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="extra"):
        Settings(env="testing", not_a_setting=1)  # type: ignore[call-arg]


def test_secret_is_hidden_in_repr() -> None:
    settings = Settings(env="testing", secret_key=GOOD_KEY)
    assert GOOD_KEY not in repr(settings)


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({}, "HELPDESK_SECRET_KEY"),
        ({"secret_key": "short"}, "HELPDESK_SECRET_KEY"),
        ({"secret_key": GOOD_KEY, "auth": "dev"}, "HELPDESK_AUTH=dev"),
        ({"secret_key": GOOD_KEY, "auth": "github"}, "HELPDESK_GITHUB_CLIENT_ID"),
    ],
)
def test_production_refuses_unsafe_settings(overrides: dict[str, str], complaint: str) -> None:
    with pytest.raises(UnsafeSettingsError, match=complaint):
        create_app(Settings(env="production", **overrides))  # type: ignore[arg-type]


def test_production_starts_with_safe_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        env="production", secret_key=GOOD_KEY, auth="github", github_client_id="id",
        github_client_secret="secret", database_url=f"sqlite:///{tmp_path}/db.sqlite3",
    )
    app = create_app(settings)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    app.extensions["helpdesk"].engine.dispose()


def test_development_keeps_a_generated_secret_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(env="development")
    first = settings.resolved_secret_key(tmp_path)
    assert len(first) >= 32
    assert settings.resolved_secret_key(tmp_path) == first
