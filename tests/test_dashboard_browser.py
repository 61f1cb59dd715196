"""The dashboard as an analyst sees it, in headless Debian Chromium (Playwright) against one
served app on the small demo: every URL opens without a false "Page not found", drill-downs
keep the filters, progress is shown, empty filter combinations say so, money is formatted in
its own currency, charts and exports stand alone, searches are shareable, the demo banner and
phone layout, the Connect page, and no request leaves the app's own server. Screenshots of
the fixed pages go to test-artifacts/."""

from __future__ import annotations

import base64
import re
import time

import duckdb
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout, expect

from tests.app_support import ARTIFACTS, app_env, serve_app
# The served demo, the browser and a desktop tab: the same fixtures as test_browser.py (one app per module).
from tests.app_support import no_exception, require_chromium
from tests.test_browser import browser, choose, go, open_tab, page, server, settle  # noqa: F401
from tests.test_deeplinks import _url_paths

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
EUR_VIEW = {"currency": "eur", "from": "2026-01-02", "to": "2026-06-30"}


@pytest.fixture
def phone(browser):
    """A phone-sized tab (390 x 844), on which the sidebar starts collapsed."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, has_touch=True)
    tab = context.new_page()
    yield tab
    context.close()


def shot(tab, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def query(view: dict[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in view.items())


def url_params(url: str) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(url).query))


def sidebar_dates(tab) -> str:
    """The sidebar's date range as shown, e.g. '2026-01-02 – 2026-06-30'."""
    text = tab.locator("[data-testid='stSidebar'] [data-testid='stDateInput']").inner_text()
    return re.sub(r"\s*-\s*", "-", re.sub(r"Date range|\n", " ", text)).strip()


def no_page_not_found(tab) -> None:
    tab.wait_for_timeout(300)
    assert "Page not found" not in tab.locator("body").inner_text(), tab.url


# ----------------------------------------------------------------------------- 1. every URL opens

def test_every_url_the_app_has_opens_without_page_not_found(server, page):
    """/overview (the default page's own name) and every other URL path, with and without
    query parameters, open their page without the "Page not found" dialog."""
    go(page, server["url"], "overview")
    no_page_not_found(page)
    assert re.search(r"/$", page.url) and page.get_by_role("heading", name="Overview").count() == 1
    go(page, server["url"], "overview", "currency=eur&granularity=week")
    no_page_not_found(page)
    assert url_params(page.url) == {"currency": "eur", "granularity": "week"}
    expect(page.locator("[data-testid='saTileValue']").first).to_contain_text("€", timeout=60_000)
    shot(page, "overview_from_overview_url")
    for path in sorted(p for p, default in _url_paths().items() if p != "overview" and not default):
        # The dialog comes with the run's first messages: no need to wait for the whole page.
        page.goto(f"{server['url']}/{path}?currency=eur")
        page.wait_for_function("document.querySelector(\"[data-testid='stMain']\")?.innerText.length > 40")
        no_page_not_found(page)
        assert f"/{path}?" in page.url and url_params(page.url).get("currency") == "eur", page.url


# ----------------------------------------------------------------------------- 2. drill-downs keep the view

def test_opening_a_payment_keeps_the_filters_and_back_returns_to_the_view(server, page):
    go(page, server["url"], "payments", query(EUR_VIEW))
    assert sidebar_dates(page) == "2026-01-02 – 2026-06-30"
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 12, box["y"] + 52)  # the first row's first cell
    settle(page)
    settle(page)
    assert "/payment?" in page.url
    params = url_params(page.url)
    assert params.pop("id").startswith(("ch_", "pi_"))
    assert params == EUR_VIEW
    assert sidebar_dates(page) == "2026-01-02 – 2026-06-30"
    assert page.get_by_role("combobox", name="Currency", exact=True).input_value() == "EUR"
    assert page.get_by_role("combobox", name="Granularity", exact=True).input_value() == "Month"
    shot(page, "drilldown_payment_keeps_filters")

    page.go_back()  # one step back: the list, as it was, its URL too (no payment id left on it)
    expect(page).to_have_url(re.compile(r"/payments\?"), timeout=30_000)
    expect(page).not_to_have_url(re.compile(r"[?&]id="), timeout=30_000)
    settle(page)
    assert url_params(page.url) == EUR_VIEW
    assert sidebar_dates(page) == "2026-01-02 – 2026-06-30"
    assert page.get_by_role("combobox", name="Currency", exact=True).input_value() == "EUR"

    page.get_by_role("link", name="Revenue").click()  # later pages keep the view too
    settle(page)
    assert "/revenue" in page.url and url_params(page.url) == EUR_VIEW
    assert sidebar_dates(page) == "2026-01-02 – 2026-06-30"


def test_opening_a_customer_and_its_back_link_keep_the_filters(server, page):
    go(page, server["url"], "customers", query(EUR_VIEW))
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 12, box["y"] + 52)
    settle(page)
    settle(page)
    assert "/customer?" in page.url
    params = url_params(page.url)
    assert params.pop("id").startswith("cus_") and params == EUR_VIEW
    page.go_back()  # the browser's back: the list's own URL, as it was
    expect(page).to_have_url(re.compile(r"/customers\?"), timeout=30_000)
    expect(page).not_to_have_url(re.compile(r"[?&]id="), timeout=30_000)
    settle(page)
    assert url_params(page.url) == EUR_VIEW
    page.go_forward()
    expect(page).to_have_url(re.compile(r"/customer\?.*id=cus_"), timeout=30_000)
    settle(page)
    page.get_by_role("link", name="All customers").click()
    settle(page)
    assert re.search(r"/customers\?", page.url) and url_params(page.url) == EUR_VIEW
    assert sidebar_dates(page) == "2026-01-02 – 2026-06-30"


# ----------------------------------------------------------------------------- 5. tables

def grid_rows(tab, grid=None) -> list[dict[str, str]]:
    """The rows a data grid shows (its accessible table: the rendered rows), header -> cell text."""
    grid = grid or tab.locator("[data-testid='stDataFrame']").last
    grid.scroll_into_view_if_needed()
    tab.wait_for_timeout(300)
    headers = grid.locator("[role=columnheader]").all_inner_texts()
    rows = []
    for row in grid.locator("[role=row]").all()[1:]:
        cells = row.locator("[role=gridcell]").all_inner_texts()
        if cells:
            rows.append(dict(zip(headers, cells)))
    return rows


def filter_rows(tab, text: str) -> None:
    box = tab.get_by_placeholder("Filter rows…").last
    box.fill(text)
    box.press("Enter")
    settle(tab)


def test_tables_show_money_in_its_own_currency_with_readable_headers(server, page):
    demo = str(server["data_dir"] / "demo.duckdb")
    go(page, server["url"], "products")
    filter_rows(page, "jpy")
    prices = grid_rows(page)
    assert prices and {r["Currency"] for r in prices} == {"jpy"}
    assert all(re.fullmatch(r"¥[\d,]+", r["Unit amount"]) for r in prices), prices  # no decimals, a symbol
    filter_rows(page, "eur")
    assert all(re.fullmatch(r"€[\d,]+\.\d\d", r["Unit amount"]) for r in grid_rows(page) if r["Currency"] == "eur")
    shot(page, "table_prices_jpy_eur")

    go(page, server["url"], "mrr")
    open_tab(page, "Monthly table")
    grid = page.locator("[data-testid='stDataFrame']").last
    grid.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    headers = grid.locator("[role=columnheader]").all_inner_texts()
    assert {"MRR", "ARR", "New MRR", "Churned MRR"} <= set(headers) and "Mrr" not in headers, headers

    with duckdb.connect(demo, read_only=True) as con:
        email, paid = con.execute(
            "SELECT c.email, sum(ch.amount_captured - coalesce(ch.amount_refunded, 0)) FROM customers c "
            "JOIN charges ch ON ch.customer = c.id AND ch.status = 'succeeded' AND lower(ch.currency) = 'eur' "
            "WHERE lower(c.currency) = 'eur' AND NOT c.deleted GROUP BY c.email ORDER BY 2 DESC LIMIT 1").fetchone()
    go(page, server["url"], "customers")  # the view is in USD; this customer pays in EUR
    page.get_by_placeholder("Email, name, id, phone or metadata…").fill(email)
    page.get_by_placeholder("Email, name, id, phone or metadata…").press("Enter")
    page.get_by_text(re.compile(r"^1 row · select a row")).wait_for(timeout=60_000)
    settle(page)
    [row] = grid_rows(page)
    assert row["Lifetime paid"] == f"€{paid / 100:,.2f}" and row["MRR"].startswith("€"), row
    shot(page, "table_customer_own_currency")

    go(page, server["url"], "payments")
    charges = grid_rows(page, page.locator("[data-testid='stDataFrame']").first)  # the Charges tab
    assert charges and not [r for r in charges if "None" in r.values()], charges[:3]

    go(page, server["url"], "explore")
    page.get_by_role("tab", name="SQL console").click()
    page.locator("textarea").first.fill("SELECT currency, count(*) AS n, sum(amount) AS amount FROM charges "
                                        "GROUP BY currency ORDER BY currency")
    page.get_by_role("button", name="Run query").click()
    settle(page)
    result = {r["Currency"]: r for r in grid_rows(page)}
    assert re.fullmatch(r"¥[\d,]+", result["jpy"]["Amount"]) and re.fullmatch(r"€[\d,]+\.\d\d", result["eur"]["Amount"])
    shot(page, "sql_console_money")


# ----------------------------------------------------------------------------- 4. nothing matches

def test_a_filter_combination_with_no_data_says_so_and_which_filter_to_loosen(server, page, phone):
    """JPY for a channel of customers who never paid or subscribed in JPY, by week: a plain
    "nothing matches" naming the segment to loosen, not zeros and odd axes."""
    with duckdb.connect(str(server["data_dir"] / "demo.duckdb"), read_only=True) as con:
        channel = con.execute("""
            SELECT json_extract_string(cu.metadata, '$.channel') AS channel FROM customers cu
            LEFT JOIN charges ch ON ch.customer = cu.id AND lower(ch.currency) = 'jpy'
            LEFT JOIN subscriptions s ON s.customer = cu.id AND lower(s.currency) = 'jpy'
            GROUP BY 1 HAVING count(ch.id) = 0 AND count(s.id) = 0 ORDER BY 1 LIMIT 1""").fetchone()[0]
    view = f"currency=jpy&granularity=week&segment=channel={channel}"
    for path in ("", "mrr", "revenue"):
        go(page, server["url"], path, view)
        no_exception(page)
        main = page.locator("[data-testid='stMain']").inner_text()
        assert "Nothing matches these filters" in main, (path, main[:500])
        assert f"segment channel={channel}" in main and "Segment: All customers" in main
        assert page.locator("[data-testid='stVegaLiteChart'], [data-testid='stPlotlyChart']").count() == 0
        assert page.locator("[data-testid='saTileValue']").count() == 0  # no ¥0 tiles
    shot(page, "nothing_matches_revenue")
    go(phone, server["url"], "", view)
    assert "Nothing matches these filters" in phone.locator("[data-testid='stMain']").inner_text()
    shot(phone, "nothing_matches_overview_phone")


def test_payments_but_no_mrr_say_which_filter_brings_the_mrr_back(server, page):
    """The issue's own case: a product filter (payments are not tied to a product) leaves the
    payments but no MRR. MRR & growth and Retention say nothing matches and name the product; the
    Overview shows the payments and says that no MRR matches, instead of €0.00 tiles and flat
    charts whose axes read "€500m" and "€1"."""
    with duckdb.connect(str(server["data_dir"] / "demo.duckdb"), read_only=True) as con:
        product, name = con.execute(  # billed by usage only: no MRR (docs/metrics.md), payments all the same
            "SELECT p.id, p.name FROM products p JOIN prices pr ON pr.product = p.id GROUP BY p.id, p.name "
            "HAVING bool_and(pr.usage_type = 'metered') ORDER BY p.id LIMIT 1").fetchone()
    loosen = f"the product {name} (Product: All products)"
    for path in ("mrr", "retention"):
        go(page, server["url"], path, f"product={product}")
        no_exception(page)
        main = page.locator("[data-testid='stMain']").inner_text()
        assert "Nothing matches these filters" in main and "no MRR to chart" in main and loosen in main, main[:800]
        assert page.locator("[data-testid='stVegaLiteChart'], [data-testid='stPlotlyChart']").count() == 0
        assert page.locator("[data-testid='saTileValue']").count() == 0  # no $0.00 tiles
    shot(page, "no_mrr_retention")
    go(page, server["url"], "", f"product={product}")
    no_exception(page)
    main = page.locator("[data-testid='stMain']").inner_text()
    assert "No MRR matches these filters" in main and loosen in main, main[:800]
    charts = page.locator("[data-testid='stMain'] [data-testid='stVegaLiteChart']")
    charts.first.locator("g.role-title text").first.wait_for(timeout=30_000)
    titles = [t.strip() for t in charts.locator("g.role-title text").all_text_contents()]
    assert titles == ["Gross and net volume"], titles  # the payments (which no product filters), no flat MRR lines
    shot(page, "no_mrr_overview")


# ----------------------------------------------------------------------------- 3. progress

# Every change of the run state, as it happens: [time in s, a script run is under way, time of
# the browser's next frame (an animation starts with a frame; a busy browser draws none)]; and
# every ~10 ms (fewer when the browser is busy): [time in s, the "Updating…" pill is visible, the
# time of the browser's last frame]. Animations run on the frames' clock, which stands still while
# the browser is too busy to draw: the pill's 0.3 s are counted on that clock.
WATCH_RUNS = """() => {
    const app = document.querySelector("[data-testid='stApp']");
    const running = () => app.getAttribute("data-test-script-state") === "running";
    const record = () => {
        const event = [performance.now() / 1000, running(), null];
        window.saEvents.push(event);
        requestAnimationFrame((frame) => { event[2] = frame / 1000; });
    };
    window.saEvents = [];
    record();
    new MutationObserver(record).observe(app, {attributes: true, attributeFilter: ["data-test-script-state"]});
    window.saSamples = [];
    window.saSampler = setInterval(() => window.saSamples.push([performance.now() / 1000,
        getComputedStyle(app, "::after").visibility === "visible"
            && getComputedStyle(app, "::after").content.includes("Updating"),
        document.timeline.currentTime / 1000]), 10);
}"""


def runs_seen(events: list[list], samples: list[list]) -> list[dict]:
    """The script runs (from the state changes): how long each took and, for each sample taken
    during it, the time since the run started, the frames' time since the first frame drawn in
    it, and whether the pill showed."""
    runs, current = [], None
    for t, running, frame in events + [[float("inf"), False, None]]:
        if running and current is None:
            current = {"start": t, "frame": frame if frame is not None else float("inf")}
        elif not running and current is not None:
            runs.append({**current, "end": t, "samples": []})
            current = None
    for t, shown, frame in samples:
        for run in runs:
            if run["start"] <= t < run["end"]:
                run["samples"].append((round(t - run["start"], 3), round(frame - run["frame"], 3), shown))
    last = samples[-1][0] if samples else 0.0
    return [{"seconds": round(min(r["end"], last) - r["start"], 3), "samples": r["samples"]} for r in runs]


def between_runs(events: list[list], samples: list[list]) -> list[list]:
    """The samples that showed the pill while no run was under way."""
    def running_at(t):
        state = False
        for when, running, _ in events:
            if when > t:
                break
            state = running
        return state
    return [s for s in samples if s[1] and not running_at(s[0])]


LONG_RUN = 0.45  # seconds: a run long enough for the pill (shown from 0.3 s) to be seen, on a quiet machine too


@pytest.fixture(scope="module")
def larger_server(tmp_path_factory):
    """The app on a 5,000-customer demo, where a new filter combination takes a while: on the
    small demo every run may now end before the "Updating…" pill is due."""
    from stripe_analytics.demo_cache import build_demo_cache

    require_chromium()
    work = tmp_path_factory.mktemp("larger")
    (work / "data").mkdir()
    build_demo_cache(work / "data" / "demo.duckdb", seed=0, customers=5000)
    with serve_app(app_env(work / "data", work), work / "streamlit.log") as url:
        yield {"url": url, "data_dir": work / "data"}


@pytest.mark.serial  # it times the page's frames: other tests' load would delay them
def test_a_filter_change_that_takes_a_while_says_the_page_is_updating(larger_server, page):
    """A filter change whose run takes over ~0.3 s shows an "Updating…" spinner right away (not
    only Streamlit's cache spinners, which wait 0.5 s), and nothing flashes for a quick one."""
    go(page, larger_server["url"], "mrr")
    page.evaluate(WATCH_RUNS)
    # New filter combinations (nothing cached yet) until one of them takes over half a second.
    changes = [("Currency", "EUR"), ("Granularity", "Week"), ("Break down by", "Country"), ("Currency", "JPY"),
               ("Break down by", "Billing interval"), ("Granularity", "Day"), ("Currency", "GBP")]
    long_runs: list[dict] = []
    pictured = False
    for label, option in changes:
        for _ in range(3):  # (a rerun still drawing the sidebar may close the list as it opens)
            page.get_by_role("combobox", name=label, exact=True).click()
            try:
                page.get_by_role("option", name=option, exact=True).click(timeout=5_000)
                break
            except PlaywrightTimeout:
                settle(page)
        if not pictured:
            try:  # a screenshot of it, as the analyst sees it (kept once the run outlasted the shot)
                page.wait_for_function("getComputedStyle(document.querySelector(\"[data-testid='stApp']\"), "
                                       "'::after').visibility === 'visible'", timeout=2_000, polling=20)
                shot(page, "filter_change_updating", full_page=False)
                pictured = page.evaluate("document.querySelector(\"[data-testid='stApp']\")"
                                         ".getAttribute('data-test-script-state') === 'running'")
            except PlaywrightTimeout:  # a quick run: no pill (the samples check that too)
                pass
        settle(page)
        runs = runs_seen(page.evaluate("window.saEvents"), page.evaluate("window.saSamples"))
        long_runs = [r for r in runs if r["seconds"] > LONG_RUN]
        if len(long_runs) >= 2 and pictured:
            break
    samples = page.evaluate("clearInterval(window.saSampler), window.saSamples")
    events = page.evaluate("window.saEvents")
    runs = runs_seen(events, samples)
    no_exception(page)
    assert between_runs(events, samples) == []  # never shown between runs
    long_runs = [r for r in runs if r["seconds"] > LONG_RUN]
    assert long_runs, runs  # (5,000 customers: a new filter combination takes over 0.45 s here)
    for run in runs:  # not in a run's first 0.3 s: nothing flashes for a quick one
        assert [t for t, _, shown in run["samples"] if shown and t < 0.25] == [], run
    # From ~0.3 s of frames after the run's first one on, until the run ends. The pill's 0.3 s
    # delay counts from the frame its animation starts in, which on a loaded machine (frames of
    # 33-67 ms) can be two frames after the run's first: a sample at 0.4 s was seen without it.
    for run in long_runs:
        assert [t for t, since_frame, shown in run["samples"] if since_frame >= 0.5 and not shown] == [], run
    assert any(shown for run in long_runs for *_, shown in run["samples"]), long_runs  # and it was seen


SLOW_SQL = "SELECT sum(a.range * b.range) AS s FROM range(300000) a, range(300000) b"

def test_a_running_query_shows_its_elapsed_time_and_can_be_cancelled(server, page):
    go(page, server["url"], "explore")
    page.get_by_role("tab", name="SQL console").click()
    page.locator("textarea").first.fill(SLOW_SQL)
    page.get_by_role("button", name="Run query").click()
    running = page.get_by_text(re.compile(r"Running the query… [\d.]+ s"))
    running.wait_for(timeout=15_000)
    first = float(re.search(r"([\d.]+) s", running.inner_text()).group(1))
    page.wait_for_timeout(1200)
    later = float(re.search(r"([\d.]+) s", running.inner_text()).group(1))
    assert later > first  # the time counts up while the query runs
    shot(page, "sql_console_running", full_page=False)
    page.get_by_role("button", name="Cancel").click()
    page.get_by_text(re.compile(r"The query was cancelled after [\d.]+ s")).wait_for(timeout=30_000)
    settle(page)
    shot(page, "sql_console_cancelled", full_page=False)
    warning = page.locator("[data-testid='stAlert']").last.inner_text()
    assert re.search(r"The query was cancelled after [\d.]+ s", warning), warning
    assert page.get_by_text(re.compile(r"Running the query…")).count() == 0
    shot(page, "sql_console_cancelled", full_page=False)
    page.locator("textarea").first.fill("SELECT 1 AS one")  # the console still works afterwards
    page.get_by_role("button", name="Run query").click()
    page.get_by_text(re.compile(r"1 rows in [\d.]+ s")).wait_for(timeout=60_000)



# ----------------------------------------------------------------------------- 12. offline

def test_the_app_makes_no_request_outside_its_own_server(server, browser):
    """In a browser context that blocks every other host, the pages load without one failed
    or blocked request (the page icon used to come from a font host)."""
    from urllib.parse import urlsplit

    own = urlsplit(server["url"]).netloc
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    blocked: list[str] = []
    failed: list[str] = []

    def only_own(route):
        if urlsplit(route.request.url).netloc == own or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_own)
    tab = context.new_page()
    # (a request of our own cut short by the next navigation is not a failure)
    tab.on("requestfailed", lambda request: None if urlsplit(request.url).netloc == own
           and "ABORTED" in (request.failure or "") else failed.append(f"{request.url}: {request.failure}"))
    try:
        for path in ("", "mrr", "customers"):
            go(tab, server["url"], path)
            no_exception(tab)
            tab.locator("[data-testid='stVegaLiteChart'], [data-testid='stPlotlyChart'], "
                        "[data-testid='stDataFrame']").first.wait_for(timeout=30_000)
            tab.wait_for_timeout(500)
        shot(tab, "offline_customers")
        icon = tab.locator("link[rel~='icon']").first.get_attribute("href")
        assert icon and not icon.startswith("http") or urlsplit(icon).netloc == own, icon
    finally:
        context.close()
    assert blocked == [] and failed == [], (blocked, failed)


# ----------------------------------------------------------------------------- 10. Connect page

def test_the_connect_page_has_no_filter_sidebar_and_the_filters_survive_it(server, page):
    go(page, server["url"], "overview", "currency=eur")
    sidebar = page.locator("[data-testid='stSidebar']")
    # (under load the first run may still be drawing the sidebar when the page settles)
    expect(sidebar.get_by_text("Date range")).to_have_count(1, timeout=30_000)
    page.get_by_role("link", name="Connect").click()
    expect(page).to_have_url(re.compile(r"/connect"), timeout=30_000)
    settle(page)
    expect(sidebar.get_by_text("Account").first).to_be_visible(timeout=30_000)  # the account picker stays
    no_exception(page)
    assert sidebar.get_by_text("Filters", exact=True).count() == 0
    assert sidebar.get_by_text("Date range").count() == 0
    assert page.get_by_role("combobox", name="Currency", exact=True).count() == 0
    shot(page, "connect_without_filters")
    page.get_by_role("link", name="Revenue").click()
    expect(page).to_have_url(re.compile(r"/revenue\?currency=eur$"), timeout=30_000)
    settle(page)
    expect(page.get_by_role("combobox", name="Currency", exact=True)).to_have_value("EUR", timeout=30_000)


# ----------------------------------------------------------------------------- 9. demo banner, phone width

def legend_labels_outside(tab, chart) -> list[str]:
    """Legend labels of a Vega-Lite chart (SVG) that do not fit inside the chart."""
    box = chart.bounding_box()
    outside = []
    for label in chart.locator("g.role-legend text").all():
        text, own = label.text_content(), label.bounding_box()
        if own and (own["x"] < box["x"] - 1 or own["x"] + own["width"] > box["x"] + box["width"] + 1):
            outside.append(text)
    return outside


def test_the_demo_banner_and_the_overview_on_a_phone(server, page, phone):
    go(page, server["url"])
    banner = page.locator("[data-testid='stAlert']").filter(has_text="Demo data").inner_text()
    assert "Sync now" not in banner and "Connect" in banner  # the demo has no Sync now

    go(phone, server["url"])
    no_exception(phone)
    charts = phone.locator("[data-testid='stMain'] [data-testid='stVegaLiteChart']")
    charts.nth(3).locator("g.role-legend text, g.mark-line path").first.wait_for(timeout=30_000)  # drawn
    phone.wait_for_timeout(500)
    header = phone.locator("[data-testid='stHeader']").bounding_box()
    banner_box = phone.locator("[data-testid='stAlert']").filter(has_text="Demo data").bounding_box()
    assert banner_box["y"] >= header["y"] + header["height"], (banner_box, header)  # not under the header
    tiles = phone.locator("[data-testid='saTile']")
    tiles.nth(7).wait_for(timeout=30_000)
    assert tiles.count() == 8
    first, second = tiles.nth(0).bounding_box(), tiles.nth(1).bounding_box()
    assert abs(first["y"] - second["y"]) < 2 and second["x"] > first["x"] + first["width"] - 1  # two a row
    charts.nth(1).locator("g.role-legend text").first.wait_for(timeout=30_000)
    assert charts.first.bounding_box()["y"] < 1.1 * PHONE["height"]  # a chart right after the first screen
    for i in range(charts.count()):
        chart = charts.nth(i)
        assert chart.bounding_box()["width"] <= PHONE["width"]
        assert legend_labels_outside(phone, chart) == [], i
    labels = charts.nth(1).locator("g.role-legend text").all_text_contents()
    assert "Churn" in labels, labels  # whole words, not "Chu"
    shot(phone, "phone_overview")


def test_the_mrr_page_on_a_phone(server, phone):
    go(phone, server["url"], "mrr")
    no_exception(phone)
    plots = phone.locator("[data-testid='stMain'] [data-testid='stVegaLiteChart']")
    plots.first.locator("svg").first.wait_for(timeout=30_000)
    phone.wait_for_timeout(500)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width  # nothing wider than the screen
    tiles = phone.locator("[data-testid='saTile']")
    first, second = tiles.nth(0).bounding_box(), tiles.nth(1).bounding_box()
    assert abs(first["y"] - second["y"]) < 2, (first, second)  # two a row
    for i in range(plots.count()):
        box = plots.nth(i).bounding_box()
        assert box is None or box["width"] <= PHONE["width"], (i, box)
    shot(phone, "phone_mrr")


def test_revenue_retention_products_and_subscriptions_draw_without_plotly(server, page, phone):
    """Every chart of these pages (horizontal bars, cohort heatmaps, the donut) is drawn with
    Vega-Lite, so the browser never fetches Plotly's bundle for them; on a phone nothing is
    wider than the screen."""
    fetched: list[str] = []
    for tab in (page, phone):
        tab.on("request", lambda request: fetched.append(request.url) if "PlotlyChart" in request.url else None)
    for path, tabs, drawn in (("revenue", ("Breakdowns", "By product", "By payment method"),
                               "path.mark-arc path, g.mark-arc path"),
                              ("retention", ("Revenue retention",), "g.mark-rect path"),
                              ("products", (), "g.mark-rect path"),
                              ("subscriptions", (), "g.mark-rect path")):
        for tab in (page, phone):
            go(tab, server["url"], path)
            no_exception(tab)
            charts = tab.locator("[data-testid='stMain'] [data-testid='stVegaLiteChart']")
            charts.first.locator("canvas, svg").first.wait_for(timeout=30_000)
            for name in tabs:
                tab.get_by_role("tab", name=name).click()
                settle(tab)
            # the chart of the open tab (Products has no tabs: its one chart)
            panel = "" if path == "products" else " [role='tabpanel']:visible"
            shown = tab.locator(f"[data-testid='stMain']{panel} [data-testid='stVegaLiteChart']").first
            shown.scroll_into_view_if_needed()
            shown.locator(drawn).first.wait_for(timeout=30_000)
            assert tab.locator("[data-testid='stPlotlyChart']").count() == 0, path
            width = tab.evaluate("document.documentElement.scrollWidth")
            assert tab is page or width <= PHONE["width"], (path, width)
    shot(phone, "phone_retention", full_page=False)
    assert fetched == []


# ----------------------------------------------------------------------------- 8. search in the URL

def test_a_search_is_kept_in_the_url_and_can_be_shared(server, page, browser):
    with duckdb.connect(str(server["data_dir"] / "demo.duckdb"), read_only=True) as con:
        email = con.execute(  # someone with payments in the default view (USD, the last 12 months)
            "SELECT email FROM customers WHERE email IS NOT NULL AND NOT deleted AND id IN (SELECT customer FROM "
            "charges WHERE lower(currency) = 'usd' AND created > (SELECT max(created) FROM charges) - INTERVAL 60 DAY) "
            "ORDER BY id LIMIT 1").fetchone()[0]
    go(page, server["url"], "customers", "currency=eur")
    box = page.get_by_placeholder("Email, name, id, phone or metadata…")
    box.fill(email)
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]q="), timeout=30_000)
    settle(page)
    assert url_params(page.url) == {"currency": "eur", "q": email}
    shared = page.url

    other = browser.new_context(viewport={"width": 1440, "height": 1000})  # someone the link was sent to
    try:
        tab = other.new_page()
        tab.goto(shared)
        settle(tab)
        expect(tab.get_by_placeholder("Email, name, id, phone or metadata…")).to_have_value(email, timeout=15_000)
        assert "1 row" in tab.locator("[data-testid='stCaptionContainer']").all_inner_texts()[-1]
        shot(tab, "search_from_shared_link")
    finally:
        other.close()

    box.fill("")
    box.press("Enter")
    expect(page).not_to_have_url(re.compile(r"[?&]q="), timeout=30_000)
    go(page, server["url"], "explore", "q=" + email)
    expect(page.locator("input[placeholder^='An id']")).to_have_value(email, timeout=15_000)
    assert re.search(r"\d+ rows? · select a row", page.locator("[data-testid='stMain']").inner_text())  # it searched
    go(page, server["url"], "payments", "q=" + email)  # the third search box
    expect(page.get_by_placeholder("Id, customer email or name, description…")).to_have_value(email, timeout=15_000)
    emails = {r["Customer email"] for r in grid_rows(page, page.locator("[data-testid='stDataFrame']").first)}
    assert emails == {email}, emails


# ----------------------------------------------------------------------------- 11. first start


# Large enough that the build outlasts a tab's visit on a quiet machine (the staged build makes
# about 300 customers a second on 2 cores).
FIRST_START_CUSTOMERS = 3000
BUILD_STARTED = re.compile(rf"^\s*building the demo account \({FIRST_START_CUSTOMERS:,} customers\) in the background$", re.M)


def test_the_first_start_builds_the_demo_in_the_server_and_a_closed_tab_does_not_stop_it(tmp_path, browser):
    """With no demo yet, the server starts building it before any visit; a visitor watches the
    progress, closes the tab, and the next visit finds the same build finished (one build in
    the server's log, not a restart from zero)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    log = tmp_path / "streamlit.log"
    with serve_app(app_env(data_dir, tmp_path, DEMO_CUSTOMERS=str(FIRST_START_CUSTOMERS)), log) as url:
        assert f"building the demo account ({FIRST_START_CUSTOMERS:,} customers) in the background" in log.read_text()
        first = browser.new_context(viewport={"width": 1440, "height": 1000})
        tab = first.new_page()
        tab.goto(url)
        tab.get_by_text("Building the demo account (first start only)…").first.wait_for(timeout=60_000)
        progress = tab.locator("[data-testid='stProgress']")  # what it does, and for how long so far

        def seconds_so_far() -> int:
            return int(re.search(r"· (\d+) s", progress.inner_text()).group(1))

        progress.wait_for(timeout=30_000)
        before = seconds_so_far()
        tab.wait_for_timeout(1_500)
        assert seconds_so_far() > before, progress.inner_text()  # it counts up, even while the bar cannot move
        shot(tab, "first_start_building", full_page=False)
        assert "built in" not in log.read_text()
        first.close()  # the visitor leaves while the demo is being built

        deadline = time.monotonic() + 240
        while "built in" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        text = log.read_text()
        assert len(BUILD_STARTED.findall(text)) == 1, text[-2000:]
        assert re.search(rf"demo account \({FIRST_START_CUSTOMERS:,} customers\) built in [\d.]+ s", text), text[-2000:]
        assert (data_dir / "demo.duckdb").exists()

        second = browser.new_context(viewport={"width": 1440, "height": 1000})
        try:
            tab = second.new_page()
            go(tab, url)
            no_exception(tab)
            assert tab.get_by_role("heading", name="Overview").count() == 1
            assert tab.locator("[data-testid='saTileValue']").count() >= 4
        finally:
            second.close()
        assert len(BUILD_STARTED.findall(log.read_text())) == 1  # never started again


# ----------------------------------------------------------------------------- 6. charts

def reddish(colours: list[str]) -> list[str]:
    out = []
    for colour in colours:
        rgb = re.match(r"rgba?\((\d+), (\d+), (\d+)", colour or "")
        hexa = re.fullmatch(r"#([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})", colour or "")
        if rgb or hexa:
            r, g, b = (int(x) for x in rgb.groups()) if rgb else (int(x, 16) for x in hexa.groups())
            if r > 150 and g < 110 and b < 120:
                out.append(colour)
    return out


COLOURS_OF = """e => [...e.querySelectorAll('*')].flatMap(x => {
    const s = getComputedStyle(x); return [s.stroke, s.fill, s.color]; })"""


def test_charts_read_right(server, page):
    go(page, server["url"])
    page.locator("img.sa-spark").first.wait_for(timeout=30_000)
    # a tile: the value, its change and its sparkline (an SVG image) in one bordered block
    gross = page.locator("[data-testid='saTile']:has(img.sa-spark)").filter(has_text="Gross volume")
    drawn = base64.b64decode(gross.locator("img.sa-spark").get_attribute("src").split(",", 1)[1]).decode()
    assert reddish(re.findall(r'(?:fill|stroke)="([^"]+)"', drawn)) == []  # not a red verdict
    assert "month to date" in gross.inner_text()
    # a tile's definition on its "?", on hover and on keyboard focus alike
    mark = page.locator("[data-testid='saTile']").filter(has_text="Active customers").locator(".sa-tile-help")
    tip = "e => getComputedStyle(e, '::after').content"
    assert mark.evaluate(tip) == "none"
    mark.hover()
    assert "Definitions: docs/metrics.md" in mark.evaluate(tip)
    page.mouse.move(0, 0)
    mark.focus()
    assert "Definitions: docs/metrics.md" in mark.evaluate(tip)
    mark.blur()
    for tile in page.locator("[data-testid='saTile']").all():  # a nil change is never red or green
        delta = tile.locator("[data-testid='saTileDelta']")
        if delta.count() and re.fullmatch(r"[+-]?0\.0( pp|%)", delta.inner_text().strip()):
            assert not delta.inner_text().strip().startswith(("+", "-"))
            assert reddish(delta.evaluate(COLOURS_OF)) == [], tile.inner_text()

    # up to the last whole month: on a month's first days "Who moved" (the last month's) may list nobody
    from datetime import date, timedelta
    go(page, server["url"], "mrr", f"to={date.today().replace(day=1) - timedelta(days=1)}")
    plots = page.locator("[data-testid='stMain'] [data-testid='stVegaLiteChart']")  # every chart, the bridge too
    page.locator("[data-testid='stVegaLiteChart'] g.role-title text").last.wait_for(timeout=30_000)
    assert page.locator("[data-testid='stPlotlyChart']").count() == 0

    bridge = plots.filter(has=page.locator("g.role-title text", has_text="From the start to the end"))
    bridge.scroll_into_view_if_needed()
    sizes = bridge.locator("g[class*='step_amounts'] text").evaluate_all(
        "els => els.map(e => getComputedStyle(e).fontSize)")
    assert len(sizes) == 7 and len(set(sizes)) == 1 and float(sizes[0].rstrip("px")) >= 12, sizes

    movers = page.locator("[data-testid='stDataFrame']").first  # "Who moved", half the page wide
    movers.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    headers = movers.locator("[role=columnheader]").all_inner_texts()
    assert headers == ["Customer", "Amount", "Previous MRR", "MRR"], headers  # the amount needs no scrolling
    shot(page, "mrr_charts")

    open_tab(page, "Growth")
    page.locator("[data-testid='stVegaLiteChart'] g.role-title text", has_text="LTV").first.wait_for(timeout=30_000)
    titles = [t.strip() for t in page.locator("[data-testid='stVegaLiteChart'] g.role-title text").all_text_contents()]
    assert "ARPA" in titles and "LTV" in titles and "ARPA and LTV" not in titles, titles
    assert page.locator("[data-testid='stPlotlyChart']").count() == 0
    shot(page, "mrr_growth_charts")


# ----------------------------------------------------------------------------- 7. exports

def test_exports_stand_alone(server, page):
    import csv
    import io
    from pathlib import Path

    import openpyxl

    from tests.test_browser import click_download, open_popover, open_tab

    go(page, server["url"], "mrr")
    open_tab(page, "Monthly table")
    open_popover(page, "Download", last=True)  # the monthly table's
    with page.expect_download(timeout=60_000) as info:
        click_download(page, "CSV")
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))
    assert rows and {r["currency"] for r in rows} == {"usd"}, rows[:1]  # the amounts say their currency

    with page.expect_download(timeout=60_000) as info:
        click_download(page, "Excel")
    sheet = openpyxl.load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).active
    header = [c.value for c in sheet[1]]
    first = {name: cell for name, cell in zip(header, sheet[2])}
    assert first["month"].is_date and first["month"].number_format == "mmm yyyy"
    assert '"$"#,##0.00' in first["mrr"].number_format and isinstance(first["mrr"].value, float)
    assert first["mrr_growth_rate"].number_format == "0.0%"
    assert sheet.cell(row=2, column=header.index("mrr_growth_rate") + 1).number_format == "0.0%"

    go(page, server["url"])
    open_popover(page, "Download chart")
    with page.expect_download(timeout=60_000) as info:
        click_download(page, "SVG image")
    svg = Path(info.value.path()).read_text()
    assert ">MRR<" in svg and re.search(r"USD · \w{3} \d{4} – \w{3} \d{4} · Stripe Analytics", svg), svg[:500]
    with page.expect_download(timeout=60_000) as info:
        click_download(page, "PNG image")
    png = Path(info.value.path()).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    (ARTIFACTS / "export_mrr_with_title.png").write_bytes(png)

    # Revenue's totals by currency: each amount a number in its row's currency, not text
    go(page, server["url"], "revenue")
    open_tab(page, "Breakdowns")
    open_popover(page, "Download", last=True)
    with page.expect_download(timeout=60_000) as info:
        click_download(page, "CSV")
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))
    with duckdb.connect(str(server["data_dir"] / "demo.duckdb"), read_only=True) as con:
        codes = {c.upper() for (c,) in con.execute("SELECT DISTINCT currency FROM charges").fetchall()}
    assert len(rows) > 1 and {r["currency"] for r in rows} <= codes, rows
    for row in rows:
        for column in ("gross_volume", "net_volume", "refunds", "fees"):
            assert re.fullmatch(r"-?\d+(\.\d+)?", row[column]), row  # 1234.5, not "$1,234.50"


ROW_LABELS = """chart => { const axes = chart.querySelectorAll("g.role-axis-label");
    return [...axes[axes.length - 1].querySelectorAll("text")]
        .map(t => [t.getBoundingClientRect().y, t.textContent]).sort((a, b) => a[0] - b[0]).map(x => x[1]); }"""


def test_a_change_of_currency_keeps_the_cohort_grid_in_order(server, page):
    """After a change of currency the cohort grid on screen lists its cohorts oldest first, each
    with its size in the new currency (its rows stay listed in its spec: Vega's in-place update
    would keep a label that stays in its old place)."""
    go(page, server["url"], "retention")
    grid = page.locator("[data-testid='stMain'] [data-testid='stVegaLiteChart']").first
    grid.locator("g.mark-rect path").first.wait_for(timeout=30_000)
    before = grid.evaluate(ROW_LABELS)
    choose(page, "Currency", "EUR")
    after, deadline = before, time.monotonic() + 30
    while after == before and time.monotonic() < deadline:  # the chart is drawn just after the run
        page.wait_for_timeout(200)
        after = grid.evaluate(ROW_LABELS)
    periods = [label.split(" ")[0] for label in after]
    assert periods == sorted(periods) and len(periods) > 3, after  # oldest on top
    assert after != before and all(re.fullmatch(r"\d{4}-\d{2} \(\d+\)", label) for label in after), after
