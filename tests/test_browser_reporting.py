"""The all-currencies view in headless Debian Chromium (Playwright) against `streamlit run app.py`
on the small demo (USD, EUR, GBP, JPY): picked from the currency picker, kept in the URL, every
metric page shows converted figures labelled with their rates and no error, and a chart's data
download names and carries the reporting currency and rates date."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import duckdb
import pytest

from tests.app_support import ARTIFACTS, main_text, no_exception
from tests.test_browser import browser, choose, click_download, go, open_popover, page, server, settle  # noqa: F401

pytestmark = pytest.mark.browser

CONVERTED_PAGES = {"Revenue": "revenue", "MRR & growth": "mrr", "Retention": "retention", "Customers": "customers",
                   "Products": "products"}
LABEL = re.compile(r"Converted to USD at ECB reference rates as of \d{4}-\d{2}-\d{2}")


def labelled(tab) -> str:
    """The page's text once its conversion caption is drawn (a loaded machine draws slowly)."""
    tab.locator("[data-testid='stMain']").get_by_text(LABEL).first.wait_for(timeout=60_000)
    return main_text(tab)


def test_every_metric_page_in_the_converted_view(server, page):  # noqa: F811 - fixtures
    ARTIFACTS.mkdir(exist_ok=True)
    go(page, server["url"])
    per_currency = page.locator("[data-testid='saTileValue']").first.inner_text()
    choose(page, "Currency", "All currencies in USD")
    page.wait_for_url(re.compile(r"currency=all"), timeout=60_000)
    assert LABEL.search(labelled(page))
    no_exception(page)
    converted = page.locator("[data-testid='saTileValue']").first.inner_text()
    assert converted.startswith("$") and converted != per_currency
    page.screenshot(path=str(ARTIFACTS / "converted_overview.png"), full_page=True)
    for link, name in CONVERTED_PAGES.items():
        page.get_by_role("link", name=link).click()
        settle(page)
        page.wait_for_url(re.compile(r"currency=all"), timeout=60_000)
        text = labelled(page)
        no_exception(page)
        assert LABEL.search(text), name
        assert "This page could not be shown" not in text, name
        page.screenshot(path=str(ARTIFACTS / f"converted_{name}.png"), full_page=True)
    # The MRR page's bridge and movements have the FX step; the customers table its own currency.
    page.get_by_role("link", name="MRR & growth").click()
    settle(page)
    page.locator("[data-testid='stVegaLiteChart'] svg").first.wait_for(timeout=30_000)
    assert "FX impact" in main_text(page)


def test_reload_keeps_the_converted_view_and_the_chart_data_says_its_rates(server, page):  # noqa: F811
    page.set_viewport_size({"width": 1440, "height": 1800})  # the chart's download menu opens below it
    go(page, server["url"], "", "currency=all")
    assert LABEL.search(labelled(page))
    no_exception(page)
    open_popover(page, "Download chart")
    with page.expect_download(timeout=60_000) as info:
        click_download(page, "Chart data (CSV)")
    download = info.value
    match = re.fullmatch(r"mrr_all-in-usd_\d{4}-\d{2}_\d{4}-\d{2}_rates-(\d{4}-\d{2}-\d{2})\.csv",
                         download.suggested_filename)
    assert match, download.suggested_filename
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    assert rows and {r["currency"] for r in rows} == {"usd"}
    assert {(r["reporting_currency"], r["rates_as_of"]) for r in rows} == {("usd", match.group(1))}


def test_every_page_works_in_the_converted_view(server, page):  # noqa: F811 - fixtures
    """Every page of the app, opened in the all-currencies view: no error, the view kept in the URL,
    and the pages that list objects list every currency's, each in its own currency."""
    from tests.test_browser import PAGES

    ARTIFACTS.mkdir(exist_ok=True)
    with duckdb.connect(str(server["data_dir"] / "demo.duckdb"), read_only=True) as con:
        customer_id = con.execute("SELECT customer FROM subscriptions WHERE currency = 'eur' AND NOT deleted "
                                  "ORDER BY id LIMIT 1").fetchone()[0]
        charge_id = con.execute("SELECT id FROM charges WHERE currency = 'jpy' AND NOT deleted "
                                "ORDER BY id LIMIT 1").fetchone()[0]
    every = {**{path: name for path, name in PAGES.items()}, "notes": "notes", "connect": "connect",
             f"customer?id={customer_id}": "customer", f"payment?id={charge_id}": "payment"}
    for path, name in every.items():
        where, _, query = path.partition("?")
        go(page, server["url"], where, "&".join(q for q in (query, "currency=all") if q))
        no_exception(page)
        text = main_text(page)
        assert text.strip(), name
        assert "This page could not be shown" not in text, (name, text[:500])
        if name != "connect":  # the Connect page has no filters
            assert "currency=all" in page.url, (name, page.url)
        listed = {"payments": "Every currency's payments, each in its own currency",
                  "subscriptions": "Every currency's subscriptions"}.get(name)
        assert listed is None or listed in text, (name, text[:500])
        page.screenshot(path=str(ARTIFACTS / f"converted_all_{name}.png"), full_page=True)


def test_a_converted_charts_hover_names_its_rates(server, page):  # noqa: F811 - fixtures
    go(page, server["url"], "mrr", "currency=all")
    label = LABEL.search(labelled(page)).group(0)
    chart = page.locator("[data-testid='stVegaLiteChart']").first  # the movements, drawn with Vega-Lite
    bars = chart.locator("path[aria-roledescription='bar']")
    bars.first.wait_for(timeout=60_000)
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    box = max((bars.nth(i).bounding_box() for i in range(bars.count())), key=lambda b: b["height"] if b else 0)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    hover = page.locator("#vg-tooltip-element")  # Vega's tooltip, drawn over the page
    hover.get_by_text(label).first.wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "converted_hover.png"))
