"""The workspace's settings: production refuses an email set-up that would leak or cannot send."""

from __future__ import annotations

import pytest

from helpdesk.config import Settings, UnsafeSettingsError

SAFE = {"env": "production", "secret_key": "k" * 40, "auth": "github", "github_client_id": "id",
        "github_client_secret": "secret"}


@pytest.mark.parametrize(("overrides", "complaint"), [
    ({"smtp_host": "mail.example.org"}, "HELPDESK_SMTP_HOST needs HELPDESK_SMTP_FROM"),
    ({"smtp_host": "mail.example.org", "smtp_from": "a@example.org", "smtp_user": "desk", "smtp_password": "pw",
      "smtp_starttls": False}, "HELPDESK_SMTP_PASSWORD would be sent unencrypted"),
])
def test_production_refuses_unsafe_email(overrides: dict[str, object], complaint: str) -> None:
    with pytest.raises(UnsafeSettingsError, match=complaint):
        Settings(**SAFE, **overrides).check_safe_for_production()  # type: ignore[arg-type]


def test_email_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPDESK_SMTP_HOST", "mail.example.org")
    monkeypatch.setenv("HELPDESK_SMTP_FROM", "DP0 Support <support@example.org>")
    monkeypatch.setenv("HELPDESK_SMTP_PASSWORD", "from-the-environment")
    monkeypatch.setenv("HELPDESK_AUTO_CLOSE_DAYS", "3")
    settings = Settings(**SAFE)  # type: ignore[arg-type]
    settings.check_safe_for_production()
    assert settings.email_enabled and settings.auto_close_days == 3 and settings.smtp_port == 587
    assert "from-the-environment" not in repr(settings)  # a secret, never printed
    assert not Settings(env="testing", smtp_host=None).email_enabled  # no host: no email


def test_auto_close_days_are_bounded() -> None:
    with pytest.raises(ValueError, match="auto_close_days"):
        Settings(env="testing", auto_close_days=-1)
