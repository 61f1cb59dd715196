"""A visit's first run puts the KPI tiles on screen before the charts, which follow on their own
(stripe_analytics.ui.first_paint); a run with no browser (AppTest) draws them at once."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.app_support import HELD_CHART, no_exception
from tests.test_browser import browser, server  # noqa: F401 - the served small demo and Chromium

# When the first KPI value and the first chart were added to the page (the page's own clock).
FIRST_SEEN = """
(() => {
  const seen = window.__saSeen = {};
  const check = () => {
    for (const [name, selector] of [["tile", "[data-testid='saTileValue']"],
                                    ["chart", "[data-testid='stVegaLiteChart']"]]) {
      if (!(name in seen) && document.querySelector(selector)) seen[name] = performance.now();
    }
  };
  document.addEventListener("DOMContentLoaded", () =>
    new MutationObserver(check).observe(document.body, {subtree: true, childList: true}));
})();
"""


@pytest.mark.browser
def test_a_visit_shows_the_tiles_first_and_the_charts_follow_without_a_click(server, browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    tab = context.new_page()
    tab.add_init_script(FIRST_SEEN)
    try:
        for visit in ("first visit", "reload"):
            if visit == "first visit":
                tab.goto(server["url"])
            else:
                tab.reload()
            charts = tab.locator("[data-testid='stVegaLiteChart']")
            expect(charts.first).to_be_attached(timeout=90_000)  # nobody clicked
            expect(tab.locator(HELD_CHART)).to_have_count(0, timeout=30_000)  # every chart's space is filled
            seen = tab.evaluate("window.__saSeen")
            # in a run of their own, after the tiles: not in the same pass of the browser
            assert seen["tile"] < seen["chart"], (visit, seen)
            no_exception(tab)
        # Later runs draw the charts with the tiles: a change of currency holds nothing back.
        tab.get_by_role("combobox", name="Currency", exact=True).click()
        tab.get_by_role("option", name="EUR", exact=True).click()
        expect(tab.locator("[data-testid='saTileValue']").first).to_contain_text("€", timeout=60_000)
        expect(charts.first).to_be_attached()
        expect(tab.locator(HELD_CHART)).to_have_count(0)
    finally:
        context.close()


def test_a_run_with_no_browser_draws_its_charts_at_once(tmp_path, monkeypatch):
    """AppTest has no browser to paint the tiles and start the next run: the first run has it all."""
    from streamlit.testing.v1 import AppTest

    from tests.app_support import APP, app_env, data_dir_with_demo

    data_dir = data_dir_with_demo(tmp_path / "data")
    for name, value in app_env(data_dir, tmp_path).items():
        monkeypatch.setenv(name, value)
    for name in [n for n in __import__("os").environ if n.startswith("STRIPE_")]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == 4
