"""Sphinx configuration for the DP0 Support Desk documentation (``docs/``) and knowledge base (``kb/``).

Build from the repository root: ``sphinx-build -n -W --keep-going -b html . OUT``.
Reference pages are generated at build time by the extensions in ``docs/_ext`` from the data in ``docs/_data``,
the helpdesk's ``queues.yaml``, its settings model, its CLI and its OpenAPI description.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# The helpdesk package (settings, CLI, OpenAPI are documented from the code) and the local extensions.
sys.path[:0] = [str(ROOT), str(ROOT / "docs" / "_ext")]

project = "DP0 Support Desk"
author = "DP0 Support Desk contributors"
copyright = "2026, DP0 Support Desk contributors"  # noqa: A001 - Sphinx's own name

root_doc = "docs/index"
# conf.py sits at the root, so only the documentation and the knowledge base are sources.
include_patterns = ["docs/**", "kb/**"]
exclude_patterns = [
    "**/_build",
    "**/README.md",
    "docs/_data/**",
    "docs/_ext/**",
    "docs/_templates/**",
    "docs/_static/**",
]

extensions = [
    "myst_parser",
    "dp0_site",
    "dp0_catalogs",
    "dp0_data_pages",
    "dp0_helpdesk_ref",
    "dp0_kb",
]
myst_enable_extensions = ["colon_fence", "deflist", "fieldlist", "substitution"]
myst_heading_anchors = 3
myst_substitutions = {
    # The Rubin Science Platform, where DP0 is used.
    "rsp": "[data.lsst.cloud](https://data.lsst.cloud)",
}

nitpicky = True

templates_path = ["docs/_templates"]
html_static_path = ["docs/_static"]
html_css_files = ["dp0.css"]

html_theme = "pydata_sphinx_theme"
html_title = "DP0 Support Desk"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "article_footer_items": ["ask-about-page"],
    "secondary_sidebar_items": ["page-toc", "ask-about-page"],
    # Back to the helpdesk that serves this site (same host): its home page and the reader's tickets.
    "external_links": [
        {"name": "Support desk", "url": "/"},
        {"name": "My tickets", "url": "/tickets/"},
    ],
}
html_sidebars = {"docs/index": []}

# Where the helpdesk serves this site; the "Ask about this page" link is built from it.
dp0_docs_url_prefix = "/docs/"
