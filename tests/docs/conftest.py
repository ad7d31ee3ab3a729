"""Docs-only fixtures: the documentation site built once per test session with the strict flags."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def built_docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the whole site as `make test` does (nitpicky, warnings are errors) and return the output folder."""
    from sphinx.cmd.build import build_main

    out = tmp_path_factory.mktemp("docs-html")
    status = build_main(["-n", "-W", "--keep-going", "-q", "-b", "html", str(ROOT), str(out)])
    assert status == 0, "the strict documentation build failed; run `make docs` to see the warnings"
    return out
