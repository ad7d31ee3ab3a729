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


@pytest.fixture
def make_settings(make_settings, built_docs: Path):  # noqa: ANN001, ANN201 - wraps the suite's fixture
    """The suite's settings, serving the site built above (not whatever var/docs/html holds from an earlier build)."""

    def make(**overrides: object):  # noqa: ANN202
        overrides.setdefault("docs_dir", built_docs)
        return make_settings(**overrides)

    return make
