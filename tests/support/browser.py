"""Driving the helpdesk in the real browser the way a person does."""

from __future__ import annotations

from typing import Any


def sign_in(page: Any, base: str, login: str, then: str) -> None:
    """Open ``then``, get sent to the dev sign-in form, sign in as ``login``, and land back on ``then``."""
    page.goto(f"{base}{then}")
    assert "/auth/login" in page.url, f"{then} did not ask for a sign-in"
    page.get_by_label("GitHub login").fill(login)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}{then}")
