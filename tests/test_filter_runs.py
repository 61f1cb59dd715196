"""A filter change runs the page alone (`ui/filter_runs.py`), in headless Chromium: the page, the
URL and the sidebar's parts that carry the filters follow it, and a change that alters the
sidebar itself runs the whole app."""

from __future__ import annotations

import pytest

from tests.app_support import app_env, data_dir_with_demo, no_exception, require_chromium, serve_app
from tests.test_browser import browser, choose, go, page, settle  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser

TILE = "[data-testid='saTileValue']"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on the small demo, writing one line per script run (whole, or the page alone)."""
    require_chromium()
    work = tmp_path_factory.mktemp("filter_runs")
    runs = work / "runs.tsv"
    env = app_env(data_dir_with_demo(work / "data"), work, STRIPE_ANALYTICS_TIMING=str(runs))
    with serve_app(env, work / "streamlit.log") as url:
        yield {"url": url, "runs": runs}


def runs_since(server, seen: int) -> list[str]:
    """The kinds of the script runs after the first `seen` ("whole" or "page alone")."""
    lines = server["runs"].read_text().splitlines() if server["runs"].exists() else []
    return [line.split("\t")[2] for line in lines[seen:]]


def run_count(server) -> int:
    return len(server["runs"].read_text().splitlines()) if server["runs"].exists() else 0


def sidebar_parts(tab) -> dict[str, str | None]:
    """The sidebar's Reset button (shown or not) and the Notes link's address."""
    sidebar = tab.locator("[data-testid='stSidebar']")
    notes = sidebar.get_by_role("link", name="Notes on this account")
    return {"reset": sidebar.get_by_role("button", name="Reset filters").count() == 1,
            "notes": notes.get_attribute("href") if notes.count() else None}


def test_a_filter_change_runs_the_page_alone_with_the_url_and_sidebar_in_step(server, page):
    go(page, server["url"])
    dollars = page.locator(TILE).first.inner_text()
    assert "$" in dollars and sidebar_parts(page) == {"reset": False, "notes": "notes"}

    seen = run_count(server)
    choose(page, "Currency", "EUR")
    assert runs_since(server, seen) == ["page alone"]
    euros = page.locator(TILE).first.inner_text()
    assert "€" in euros and euros != dollars
    assert "currency=eur" in page.url
    assert sidebar_parts(page) == {"reset": True, "notes": "notes?currency=eur"}

    seen = run_count(server)
    choose(page, "Granularity", "Week")
    assert runs_since(server, seen) == ["page alone"]
    assert "currency=eur" in page.url and "granularity=week" in page.url
    assert sidebar_parts(page)["notes"] == "notes?currency=eur&granularity=week"
    assert page.locator(TILE).first.inner_text() == euros  # MRR is a month-end figure: the same

    # "All currencies" brings the "Report in" picker: the sidebar changes, the whole app runs.
    seen = run_count(server)
    choose(page, "Currency", "All currencies in USD")
    assert "whole" in runs_since(server, seen)
    assert page.get_by_role("combobox", name="Report in", exact=True).count() == 1
    assert "currency=all" in page.url and "$" in page.locator(TILE).first.inner_text()

    seen = run_count(server)
    page.get_by_role("button", name="Reset filters").click()
    settle(page)
    assert "whole" in runs_since(server, seen)
    assert sidebar_parts(page) == {"reset": False, "notes": "notes"}
    assert page.get_by_role("combobox", name="Report in", exact=True).count() == 0
    assert "currency=" not in page.url and "granularity=" not in page.url
    assert page.locator(TILE).first.inner_text() == dollars
    no_exception(page)


def euros_on(server, tab, path: str) -> list[str]:
    """Open the page at `path`, pick EUR: the kinds of the runs that the change started."""
    go(tab, server["url"], path)
    seen = run_count(server)
    choose(tab, "Currency", "EUR")
    return runs_since(server, seen)


def test_the_filters_of_a_page_run_alone_survive_a_reload_and_a_page_switch(server, page):
    assert euros_on(server, page, "revenue") == ["page alone"]
    page.reload()
    settle(page)
    assert "currency=eur" in page.url and "€" in page.locator(TILE).first.inner_text()
    page.get_by_role("link", name="Overview").click()
    settle(page)
    assert "currency=eur" in page.url and "€" in page.locator(TILE).first.inner_text()
    page.get_by_role("link", name="Notes on this account").click()
    settle(page)
    assert "/notes" in page.url and "currency=eur" in page.url
    no_exception(page)


def test_a_page_whose_runs_a_click_must_stop_runs_whole_after_a_filter_change(server, page):
    """Explore (the SQL console's Cancel stops the run that waits for the query): the whole app."""
    assert euros_on(server, page, "explore") == ["whole"]
    assert "currency=eur" in page.url and sidebar_parts(page) == {"reset": True, "notes": "notes?currency=eur"}
