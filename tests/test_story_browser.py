"""Issue 18's customer story, notes and saved views in headless Debian Chromium (Playwright)
against one served app on the small demo (its own DATA_DIR, since these tests write notes and
views): the customer page's timeline, MRR history and lifetime paid; notes added, refused,
edited and deleted, shown on the charts and in the charts' data; views saved, opened from the
sidebar with exactly their filters, renamed and deleted. Screenshots go to test-artifacts/."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import expect

from tests.app_support import ARTIFACTS, app_env, data_dir_with_demo, main_text, no_exception, require_chromium, serve_app
from tests.test_browser import browser, click_download, go, open_popover, open_tab, page, settle  # noqa: F401
from tests.test_dashboard_browser import grid_rows, url_params

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    work = tmp_path_factory.mktemp("story")
    data_dir = data_dir_with_demo(work / "data")
    with serve_app(app_env(data_dir, work), work / "streamlit.log") as url:
        yield {"url": url, "data_dir": data_dir, "db": str(data_dir / "demo.duckdb")}


def shot(tab, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def read_only(server):
    return duckdb.connect(server["db"], read_only=True)


# ----------------------------------------------------------------------------- the customer's story

def test_the_customer_page_tells_what_happened(server, page):
    with read_only(server) as con:
        # a customer one of whose payments failed and then went through (the same PaymentIntent)
        customer, = con.execute("""
            SELECT f.customer FROM charges f JOIN charges s ON s.payment_intent = f.payment_intent
            WHERE f.status = 'failed' AND s.status = 'succeeded' AND s.created > f.created
            GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""").fetchone()
        paid = con.execute("""SELECT lower(currency), sum(amount_captured - amount_refunded) FROM charges
                              WHERE customer = ? AND status = 'succeeded' GROUP BY 1""", [customer]).fetchall()
        failed = con.execute("SELECT count(*) FROM charges WHERE customer = ? AND status = 'failed'",
                             [customer]).fetchone()[0]
    go(page, server["url"], "customer", f"id={customer}")
    no_exception(page)
    assert page.get_by_role("heading", name="Timeline").count() == 1
    title = page.locator("[data-testid='stPlotlyChart'] .gtitle").first
    title.wait_for(timeout=30_000)
    assert (title.text_content() or "").startswith("MRR history (")
    (currency, amount), = paid  # the demo's customers pay in one currency
    symbol = {"usd": "$", "eur": "€", "gbp": "£"}.get(currency, "")
    tile = page.locator("[data-testid='saTile']").filter(has_text="Lifetime paid").inner_text()
    assert f"{symbol}{amount / 100:,.2f}" in tile

    def only(text: str) -> list[dict[str, str]]:
        box = page.get_by_placeholder("Filter rows…").first
        box.fill(text)
        box.press("Enter")
        settle(page)
        return grid_rows(page, page.locator("[data-testid='stDataFrame']").first)

    only("Payment failed")
    assert f"{failed} row{'s' if failed != 1 else ''}" in main_text(page)  # the table's count, beyond the rows drawn
    recovered = only("Payment recovered")
    assert recovered and {r["Event"] for r in recovered} == {"Payment recovered"}
    assert all(re.fullmatch(r"after \d+ failed attempts?, \d+ days? after the first", r["Detail"]) for r in recovered)
    shot(page, "customer_story")

    only("")
    page.get_by_role("button", name="Payments", exact=True).first.click()  # the pill: hide payments
    settle(page)
    events = {r["Event"] for r in grid_rows(page, page.locator("[data-testid='stDataFrame']").first)}
    assert not events & {"Payment", "Payment failed", "Payment recovered"}
    page.get_by_role("button", name="Invoices", exact=True).first.click()  # and invoices: the rest fits in view
    settle(page)
    events = {r["Event"] for r in grid_rows(page, page.locator("[data-testid='stDataFrame']").first)}
    assert not any(e.startswith(("Payment", "Invoice")) for e in events)
    assert "Subscription started" in events and events & {"New MRR", "Expansion", "Contraction", "Churn"}


# ----------------------------------------------------------------------------- notes

def _notes(server) -> list[tuple[str, str]]:
    with read_only(server) as con:
        has = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'annotations'").fetchone()[0]
        if not has:
            return []
        return [(str(d), t) for d, t in con.execute("SELECT day, text FROM annotations ORDER BY day").fetchall()]


def _type_date(tab, container, day: str) -> None:
    container.get_by_role("group", name="Date").first.get_by_role("spinbutton").first.click()
    tab.keyboard.type(day.replace("-", ""))


def test_notes_are_added_refused_edited_deleted_and_marked_on_the_charts(server, page):
    go(page, server["url"], "revenue", "currency=eur")
    page.get_by_role("link", name="Notes on this account").click()  # the sidebar's way there
    settle(page)
    assert re.search(r"/notes\?", page.url) and url_params(page.url) == {"currency": "eur"}
    main = page.locator("[data-testid='stMain']")
    main.get_by_role("button", name="Add note").click()  # no text
    settle(page)
    expect(main).to_contain_text("Note must not be empty. Nothing was saved.", timeout=30_000)
    assert _notes(server) == []

    _type_date(page, main, "2026-03-14")
    main.get_by_role("textbox", name="Note").first.fill("Price change")
    main.get_by_role("button", name="Add note").click()
    settle(page)
    assert _notes(server) == [("2026-03-14", "Price change")]
    expect(main).to_contain_text("14 Mar 2026", timeout=30_000)
    expect(main).to_contain_text("Price change")

    # every time chart marks it; a chart's data download carries it on its month's row
    go(page, server["url"], "mrr", "from=2026-01-02&to=2026-06-30")
    no_exception(page)
    open_tab(page, "Growth")  # five charts over time
    marks = page.locator("[data-testid='stPlotlyChart'] text, [data-testid='stVegaLiteChart'] text", has_text="✎")
    expect(marks.nth(1)).to_be_attached(timeout=30_000)  # Plotly's charts and Vega-Lite's alike
    assert marks.count() >= 2
    shot(page, "notes_on_mrr")
    open_popover(page, "Download chart")
    with page.expect_download(timeout=60_000) as info:
        click_download(page, "Chart data (CSV)")
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))
    marked = {r["month"]: r["notes"] for r in rows if r.get("notes")}
    assert marked == {"2026-03": "14 Mar 2026: Price change"}

    go(page, server["url"], "notes")
    main = page.locator("[data-testid='stMain']")
    main.get_by_text("Edit", exact=True).first.click()
    settle(page)
    box = main.get_by_role("textbox", name="Note").last
    box.fill("Price change (Pro +10 %)")
    main.get_by_role("button", name="Save changes").click()
    settle(page)
    assert _notes(server) == [("2026-03-14", "Price change (Pro +10 %)")]
    shot(page, "notes_page")
    main.get_by_role("button", name="Delete").first.click()
    settle(page)
    expect(main).to_contain_text("No notes yet", timeout=30_000)
    assert _notes(server) == []


# ----------------------------------------------------------------------------- saved views

def _views(server) -> list[dict]:
    path = server["data_dir"] / "demo.views.json"
    return json.loads(path.read_text())["views"] if path.exists() else []


def _save_view(tab, name: str) -> None:
    side = tab.locator("[data-testid='stSidebar']")
    side.get_by_role("button", name="Save", exact=True).click()
    # Opening the popover reruns the page; submitting before that run ends cuts it short, and a
    # run cut short can lose the sidebar's filters (see the issue notes): wait for it, as the
    # form is drawn by that run anyway.
    settle(tab)
    body = tab.locator("[data-testid='stPopoverBody']:visible")
    expect(body.get_by_role("textbox", name="Name")).to_be_visible(timeout=30_000)
    body.get_by_role("textbox", name="Name").fill(name)
    body.get_by_role("button", name="Save").click()
    settle(tab)


def test_views_are_saved_opened_renamed_and_deleted_from_the_sidebar(server, page):
    go(page, server["url"], "mrr", "currency=eur&from=2026-01-02")
    _save_view(page, "EU MRR 2026")
    side = page.locator("[data-testid='stSidebar']")
    expect(side.get_by_role("button", name="EU MRR 2026")).to_have_count(1, timeout=30_000)
    expect(page.locator("[data-testid='stPopoverBody']:visible")).to_have_count(0, timeout=30_000)  # closed
    assert [(v["name"], v["page"], v["query"]) for v in _views(server)] == [
        ("EU MRR 2026", "mrr", "currency=eur&from=2026-01-02")]
    _save_view(page, "eu mrr 2026")  # a taken name (case aside)
    expect(page.locator("[data-testid='stPopoverBody']:visible")).to_contain_text(
        "A view named 'EU MRR 2026' already exists", timeout=30_000)
    assert len(_views(server)) == 1
    page.keyboard.press("Escape")

    # another page with other filters, in the same session; the view brings back exactly its own
    go(page, server["url"], "revenue", "currency=usd&granularity=week")
    side.get_by_role("button", name="EU MRR 2026").click()
    settle(page)
    settle(page)
    assert re.search(r"/mrr\?", page.url) and url_params(page.url) == {"currency": "eur", "from": "2026-01-02"}
    assert page.get_by_role("combobox", name="Granularity", exact=True).input_value() == "Month"
    assert page.get_by_role("combobox", name="Currency", exact=True).input_value() == "EUR"
    shot(page, "saved_view_opened")

    side.get_by_role("button", name="Manage").click()
    page.wait_for_timeout(400)
    body = page.locator("[data-testid='stPopoverBody']:visible")
    body.get_by_role("textbox", name="New name").fill("   ")
    body.get_by_role("button", name="Rename").click()
    settle(page)
    expect(page.locator("[data-testid='stPopoverBody']:visible")).to_contain_text(
        "The view's name must not be empty", timeout=30_000)
    assert [v["name"] for v in _views(server)] == ["EU MRR 2026"]
    body = page.locator("[data-testid='stPopoverBody']:visible")
    body.get_by_role("textbox", name="New name").fill("Europe")
    body.get_by_role("button", name="Rename").click()
    settle(page)
    assert [v["name"] for v in _views(server)] == ["Europe"]
    expect(side.get_by_role("button", name="Europe")).to_have_count(1, timeout=30_000)

    side.get_by_role("button", name="Manage").click()
    page.wait_for_timeout(400)
    page.locator("[data-testid='stPopoverBody']:visible").get_by_role("button", name="Delete").click()
    settle(page)
    expect(side.get_by_role("button", name="Europe")).to_have_count(0, timeout=30_000)
    assert _views(server) == []


# ----------------------------------------------------------------------------- who may change them

def test_on_a_shared_address_without_sign_in_notes_and_views_are_read_only(tmp_path, page):
    """access.may_annotate refuses (unguarded): the Notes page says why and its buttons are
    disabled; the saved views still open, but Save and Manage are disabled; nothing is written."""
    require_chromium()
    data_dir = data_dir_with_demo(tmp_path / "data")
    (data_dir / "demo.views.json").write_text(json.dumps({"format": 1, "account_id": None, "views": [
        {"name": "EU", "page": "mrr", "query": "currency=eur", "saved_at": "2026-11-01T00:00:00+00:00"}]}))
    with serve_app(app_env(data_dir, tmp_path), tmp_path / "shared.log", address="0.0.0.0") as url:
        go(page, url, "notes")
        main = page.locator("[data-testid='stMain']")
        expect(main).to_contain_text("notes and saved views cannot be changed from it", timeout=30_000)
        assert main.get_by_role("button", name="Add note").is_disabled()
        side = page.locator("[data-testid='stSidebar']")
        assert side.get_by_role("button", name="Save", exact=True).is_disabled()
        assert side.get_by_role("button", name="Manage").is_disabled()
        side.get_by_role("button", name="EU").click()
        settle(page)
        settle(page)
        assert re.search(r"/mrr\?", page.url) and url_params(page.url) == {"currency": "eur"}
    with duckdb.connect(str(data_dir / "demo.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM annotations").fetchone()[0] == 0
    assert [v["name"] for v in json.loads((data_dir / "demo.views.json").read_text())["views"]] == ["EU"]
