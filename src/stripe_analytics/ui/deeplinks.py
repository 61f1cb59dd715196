"""Why `pages/` holds a small file per URL path (`pages/mrr.py`, `pages/revenue.py`, ...).

Streamlit decides, once per server process and *before* app.py runs, whether the app is a
legacy multipage app: `PagesManager.uses_pages_directory` starts as "a `pages/` folder exists
next to the main script", and only the first `st.navigation` call turns it off. So the very
first script run after the server starts goes through Streamlit's legacy path
(`script_runner._mpa_v1`): it lists `pages/*.py`, names each page after its file
(`mrr_page.py` -> `/mrr_page`), and resolves the requested URL against those names. A deep
link such as `/mrr` matches no file name, so Streamlit sends "Page not found" (a dialog in the
browser) and falls back to app.py -- which then calls `st.navigation` and shows the right page
anyway. Later runs never take the legacy path, so only the first deep link after a start is
hit. No config option or `st.Page` path form avoids it: the decision is taken before app.py
(and its `st.Page` list) runs.

A file named after each URL path makes that legacy lookup succeed; the file only runs app.py
(`run_app`), whose `st.navigation` then picks the real page, exactly as the fallback did, minus
the false dialog. `tests/test_deeplinks.py` checks that every `url_path` in app.py has its file.
"""

from __future__ import annotations

import runpy
from pathlib import Path


def run_app(shim_file: str) -> None:
    """Run the app's main script (app.py, next to the `pages/` folder holding `shim_file`)."""
    runpy.run_path(str(Path(shim_file).resolve().parents[1] / "app.py"), run_name="__main__")
