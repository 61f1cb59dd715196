"""End to end in headless Debian Chromium (Playwright) against `streamlit run app.py` on a
free loopback port, on a small demo account: every page, filters in the URL across a
reload, customer search, the SQL console, CSV and PNG downloads, and a screenshot of every
page in test-artifacts/."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import duckdb
import pytest

from tests.app_support import (ARTIFACTS, app_env, data_dir_with_demo, no_exception, require_chromium, serve_app,
                               settle_run, wait_for_first_run)

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PAGES = {"": "overview", "revenue": "revenue", "mrr": "mrr", "retention": "retention", "customers": "customers",
         "payments": "payments", "subscriptions": "subscriptions", "products": "products", "explore": "explore",
         "data": "data", "account": "account"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app, served by `streamlit run` on a free loopback port, on the small demo."""
    require_chromium()
    work = tmp_path_factory.mktemp("browser")
    data_dir = data_dir_with_demo(work / "data")
    env = app_env(data_dir, work)
    with serve_app(env, work / "streamlit.log") as url:
        yield {"url": url, "data_dir": data_dir}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    tab = context.new_page()
    yield tab
    context.close()


def settle(tab, timeout: float = 60_000) -> None:
    """Wait until the script run caused by the last action has finished (`settle_run`)."""
    settle_run(tab, timeout)


def go(tab, base: str, path: str = "", query: str = "") -> None:
    tab.goto(f"{base}/{path}" + (f"?{query}" if query else ""))
    tab.wait_for_selector("[data-testid='stApp']")
    wait_for_first_run(tab, 60_000)


def choose(tab, label: str, option: str) -> None:
    box = tab.get_by_role("combobox", name=label, exact=True)
    # A picker low in the sidebar: a click that scrolls it into view opens its list and the
    # scroll closes it again. Scroll first, as a user's eye would.
    box.scroll_into_view_if_needed()
    tab.wait_for_timeout(200)
    box.click()
    tab.get_by_role("option", name=option, exact=True).click()
    settle(tab)


def _labelled(tab, selector: str, label: str):
    return tab.locator(selector).filter(
        has=tab.locator("[data-testid='stMarkdownContainer']", has_text=re.compile(rf"^{re.escape(label)}$")))


def open_popover(tab, label: str, *, last: bool = False) -> None:
    buttons = _labelled(tab, "button[data-testid='stPopoverButton']:visible", label)
    button = buttons.last if last else buttons.first
    # Charts draw when scrolled to and take their height then, moving what is below them:
    # scroll until the button stays where it is, as a user's eye would.
    where = None
    for _ in range(10):
        button.scroll_into_view_if_needed()
        tab.wait_for_timeout(200)
        if (box := button.bounding_box()) == where:
            break
        where = box
    button.click()
    tab.wait_for_timeout(300)


def open_tab(tab, name: str) -> None:
    """Open one of a page's tabs; only the open one is drawn, so wait for the rerun it starts."""
    tab.get_by_role("tab", name=name, exact=True).click()
    settle(tab)


def click_download(tab, label: str) -> None:
    _labelled(tab, "[data-testid='stDownloadButton']:visible button", label).first.click()


def test_every_page_renders_with_screenshots(server, page):
    ARTIFACTS.mkdir(exist_ok=True)
    for path, name in PAGES.items():
        go(page, server["url"], path)
        no_exception(page)
        assert page.locator("[data-testid='stMain']").inner_text().strip()
        page.screenshot(path=str(ARTIFACTS / f"page_{name}.png"), full_page=True)
    # a narrow window (phone-sized) still renders the overview
    page.set_viewport_size({"width": 420, "height": 900})
    go(page, server["url"])
    no_exception(page)
    page.screenshot(path=str(ARTIFACTS / "page_overview_narrow.png"), full_page=True)


def test_overview_draws_its_charts_without_plotly(server, page):
    """The Overview's four charts are drawn with Vega-Lite (loaded anyway for the KPI
    sparklines), so the browser never fetches Plotly's bundle for the first page."""
    plotly_bundles: list[str] = []
    page.on("request", lambda request: plotly_bundles.append(request.url) if "PlotlyChart" in request.url else None)
    go(page, server["url"])
    no_exception(page)
    charts = page.locator("[data-testid='stVegaLiteChart']")
    charts.nth(3).locator("canvas, svg").first.wait_for(timeout=30_000)
    assert charts.count() == 4
    for i in range(4):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 200 and box["height"] > 150, (i, box)
    assert page.locator("[data-testid='stPlotlyChart']").count() == 0
    assert plotly_bundles == []
    go(page, server["url"], "mrr", "by=plan")  # a breakdown by plan keeps Plotly (zoom)
    page.locator("[data-testid='stPlotlyChart']").first.wait_for(timeout=30_000)
    assert plotly_bundles


def money_axis(page) -> str:
    """The value labels of the Overview's MRR chart (its first), e.g. "$0k $50k $100k"."""
    labels = page.locator("[data-testid='stVegaLiteChart']").first.locator("g.role-axis-label")
    labels.nth(1).locator("text").first.wait_for(timeout=30_000)
    return " ".join(labels.nth(1).locator("text").evaluate_all("texts => texts.map(t => t.textContent)"))


def test_filter_goes_to_the_url_and_survives_reload_and_navigation(server, page):
    go(page, server["url"])
    mrr_before = page.locator("[data-testid='saTileValue']").first.inner_text()
    money_axis_before = money_axis(page)
    choose(page, "Currency", "EUR")
    assert "currency=eur" in page.url
    mrr_after = page.locator("[data-testid='saTileValue']").first.inner_text()
    assert mrr_after != mrr_before and "€" in mrr_after
    # the MRR chart's axis too: only its data changed (the symbol is in it), the chart on screen took it
    assert "$" in money_axis_before and "$" not in money_axis(page) and "€" in money_axis(page)
    page.reload()
    settle(page)
    assert "currency=eur" in page.url
    assert page.locator("[data-testid='saTileValue']").first.inner_text() == mrr_after
    page.get_by_role("link", name="Revenue").click()
    settle(page)
    assert "/revenue" in page.url and "currency=eur" in page.url
    assert "€" in page.locator("[data-testid='saTileValue']").first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "filter_eur_revenue.png"))


def test_filters_survive_a_run_that_arrives_while_the_pickers_are_still_loading(server, page):
    """The browser loads each kind of widget's code on its first use. A run that reaches the page
    while the pickers' code is still on its way (a slow link, a busy machine, a quick click) must
    not put them back to their first options: the analyst's view stays EUR by month."""
    from playwright.sync_api import expect

    held = []
    page.route(re.compile(r"/static/js/Selectbox\.[^/]+\.js$"), lambda route: held.append(route))
    page.goto(f"{server['url']}/mrr?currency=eur&from=2026-01-02")
    page.wait_for_selector("[data-testid='saTileValue']", timeout=60_000)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
    skeletons = page.locator("[data-testid='stSidebar'] [data-testid='stElementContainer'] [data-testid='stSkeleton']")
    assert held and skeletons.count() > 0  # the pickers are not drawn yet
    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.get_by_role("button", name="Save", exact=True).click()  # opening the popover reruns the page
    page.wait_for_timeout(300)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
    for route in held:
        route.continue_()
    page.unroute(re.compile(r"/static/js/Selectbox\.[^/]+\.js$"))
    expect(skeletons).to_have_count(0, timeout=30_000)
    sidebar.get_by_role("button", name="Save", exact=True).click()  # and a run after they are drawn
    settle(page)
    assert re.search(r"/mrr\?", page.url) and dict(re.findall(r"[?&]([^=&]+)=([^&]*)", page.url)) == {
        "currency": "eur", "from": "2026-01-02"}
    assert page.get_by_role("combobox", name="Currency", exact=True).input_value() == "EUR"
    assert page.get_by_role("combobox", name="Granularity", exact=True).input_value() == "Month"
    no_exception(page)


def test_search_a_customer_by_email_and_open_it(server, page):
    with duckdb.connect(str(server["data_dir"] / "demo.duckdb"), read_only=True) as con:
        customer_id, email, name = con.execute(
            "SELECT id, email, name FROM customers WHERE email IS NOT NULL AND name IS NOT NULL "
            "ORDER BY id LIMIT 1").fetchone()
    go(page, server["url"], "customers")
    box = page.get_by_placeholder("Email, name, id, phone or metadata…")
    box.fill(email)
    box.press("Enter")
    settle(page)
    # Under load the search's rerun may start after settle's first look: wait for its result.
    from playwright.sync_api import expect

    expect(page.locator("[data-testid='stCaptionContainer']").last).to_contain_text("1 row", timeout=60_000)
    page.get_by_role("link", name=re.compile(r"^Open ")).click()
    settle(page)
    assert "/customer" in page.url and f"id={customer_id}" in page.url
    no_exception(page)
    assert page.get_by_role("heading", name=name).count() >= 1
    assert email in page.locator("[data-testid='stMain']").inner_text()
    page.screenshot(path=str(ARTIFACTS / "customer_detail.png"), full_page=True)


def test_sql_console_runs_a_query_and_downloads_csv(server, page):
    go(page, server["url"], "explore")
    page.get_by_role("tab", name="SQL console").click()
    page.locator("textarea").first.fill(
        "SELECT status, count(*) AS n FROM subscriptions GROUP BY status ORDER BY status")
    page.get_by_role("button", name="Run query").click()
    settle(page)
    no_exception(page)
    main = page.locator("[data-testid='stMain']").inner_text()
    assert re.search(r"\d+ rows in [\d.]+ s", main)
    with duckdb.connect(str(server["data_dir"] / "demo.duckdb"), read_only=True) as con:
        expected = dict(con.execute("SELECT status, count(*) FROM subscriptions GROUP BY status").fetchall())
    open_popover(page, "Download", last=True)
    with page.expect_download() as info:
        click_download(page, "CSV")
    download = info.value
    assert download.suggested_filename == "query.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    assert {r["status"]: int(r["n"]) for r in rows} == expected
    page.screenshot(path=str(ARTIFACTS / "sql_console.png"), full_page=True)

    page.locator("textarea").first.fill("SELECT * FROM read_csv('/etc/passwd')")
    page.get_by_role("button", name="Run query").click()
    settle(page)
    assert "cannot read or write files" in page.locator("[data-testid='stAlert']").last.inner_text()


def test_chart_png_download(server, page):
    go(page, server["url"])
    open_popover(page, "Download chart")
    with page.expect_download(timeout=60_000) as info:
        click_download(page, "PNG image")
    download = info.value
    assert re.fullmatch(r"mrr_usd_\d{4}-\d{2}_\d{4}-\d{2}\.png", download.suggested_filename)
    data = Path(download.path()).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    (ARTIFACTS / "download_mrr.png").write_bytes(data)


def test_click_a_movement_bar_to_see_who_moved(server, page):
    go(page, server["url"])
    page.get_by_role("link", name="MRR & growth").click()
    settle(page)
    month_box = page.get_by_role("combobox", name="Month", exact=True)
    before = month_box.input_value()
    chart = page.locator("[data-testid='stVegaLiteChart']").first  # drawn with Vega-Lite; each bar says what it is
    new_bars = chart.locator("path[aria-roledescription='bar'][aria-label*='series: New;']")
    new_bars.first.wait_for()
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    boxes = [new_bars.nth(i).bounding_box() for i in range(new_bars.count() - 1)]  # not the current month
    box = max((b for b in boxes if b), key=lambda b: b["height"])  # the tallest "new" bar
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    settle(page)
    after = month_box.input_value()
    assert after != before and re.fullmatch(r"\d{4}-\d{2}", after)
    assert page.get_by_role("combobox", name="Movement", exact=True).input_value() == "New"
    no_exception(page)
    page.screenshot(path=str(ARTIFACTS / "mrr_who_moved.png"), full_page=True)
