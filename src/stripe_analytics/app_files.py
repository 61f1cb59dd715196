"""Where the dashboard's own files are: `app.py`, `serve.py`, `pages/`, `docs/metrics.md` and
`.streamlit/config.toml`.

In a checkout they are the repository's top-level files (what `streamlit run app.py` runs);
an installed package carries the same files as package data under `stripe_analytics/webapp/`
(`pyproject.toml` maps that package onto the repository's root). There is one copy of each in
the repository; this module only says which folder holds them.
"""

from __future__ import annotations

import functools
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


class AppFilesMissing(RuntimeError):
    """Neither an installed copy nor a checkout holds the dashboard's files."""


@functools.cache
def app_root() -> Path:
    """The folder holding `app.py`, `serve.py`, `pages/` and `docs/`."""
    installed = _PACKAGE / "webapp"
    checkout = _PACKAGE.parents[1]  # src/stripe_analytics -> the repository's root (editable installs)
    for folder in (installed, checkout):
        if (folder / "serve.py").is_file() and (folder / "docs" / "metrics.md").is_file():
            return folder
    raise AppFilesMissing(f"the dashboard's files (serve.py, pages/, docs/metrics.md) are not in {installed} or "
                          f"{checkout}: reinstall the package (pip install .)")


def metrics_doc() -> Path:
    """docs/metrics.md, the metric definitions the pages show."""
    return app_root() / "docs" / "metrics.md"


def server_script() -> Path:
    """serve.py, what `make run` and `stripe-analytics serve` start."""
    return app_root() / "serve.py"
