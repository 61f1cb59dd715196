"""Deep links right after the server starts (stripe_analytics.ui.deeplinks): every URL path of
app.py has its `pages/<path>.py` file that only runs app.py, and in a real browser the first
request after a start, a deep link, opens its page without a false "Page not found" dialog."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.app_support import APP, ARTIFACTS, app_env, data_dir_with_demo, require_chromium, serve_app

PAGES_DIR = APP.parent / "pages"


def _url_paths() -> dict[str, bool]:
    """{url_path: is the default page} of the st.Page calls in app.py."""
    out = {}
    for node in ast.walk(ast.parse(APP.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Page":
            keywords = {k.arg: k.value for k in node.keywords}
            if "url_path" in keywords:
                default = "default" in keywords and getattr(keywords["default"], "value", False) is True
                out[keywords["url_path"].value] = default
    return out


def test_every_url_path_has_its_shim_and_the_shims_only_run_the_app():
    paths = _url_paths()
    assert {"mrr", "revenue", "customers", "customer"} <= set(paths)
    for path, default in paths.items():
        shim = PAGES_DIR / f"{path}.py"
        if default:  # the default page lives at "/", which the legacy lookup already serves
            continue
        assert shim.exists(), f"pages/{path}.py is missing (see stripe_analytics/ui/deeplinks.py)"
        code = [line for line in shim.read_text().splitlines() if line.strip() and not line.startswith('"""')]
        assert code == ["from stripe_analytics.ui.deeplinks import run_app", "run_app(__file__)"], shim
    shims = {p.stem for p in PAGES_DIR.glob("*.py") if not p.stem.endswith("_page")}
    assert shims <= set(paths), f"shims for URL paths app.py no longer has: {shims - set(paths)}"


@pytest.mark.browser
@pytest.mark.parametrize("path, heading, landed", [
    ("mrr?currency=eur", "MRR & growth", r"/mrr\?currency=eur$"),
    ("overview?currency=eur", "Overview", r"/\?currency=eur$"),  # the default page's own name goes to "/"
])
def test_first_request_after_a_start_can_be_a_deep_link(tmp_path, path, heading, landed):
    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, settle

    require_chromium()
    from playwright.sync_api import sync_playwright

    data_dir = data_dir_with_demo(tmp_path / "data")
    with serve_app(app_env(data_dir, tmp_path), tmp_path / "streamlit.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1440, "height": 1000})
            tab.goto(f"{url}/{path}")  # the server's very first script run
            tab.wait_for_selector("[data-testid='stApp']")
            settle(tab)
            tab.wait_for_timeout(500)
            body = tab.locator("body").inner_text()
            assert "Page not found" not in body
            assert tab.get_by_role("heading", name=heading).count() >= 1
            assert re.search(landed, tab.url), tab.url
            assert "€" in tab.locator("[data-testid='saTileValue']").first.inner_text()
            ARTIFACTS.mkdir(exist_ok=True)
            tab.screenshot(path=str(ARTIFACTS / f"deeplink_first_request_{path.split('?')[0]}.png"))
        finally:
            browser.close()
