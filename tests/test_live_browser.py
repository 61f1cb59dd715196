"""Live data end to end in headless Chromium: localstripe sends signed webhooks to the served
app (a third-party sender), and the open pages update by themselves, filters kept."""

from __future__ import annotations

import contextlib
import json
import re
import time
from datetime import datetime, timezone

import pytest
import requests
import stripe

from stripe_analytics.cache import SCHEMA_VERSION
from stripe_analytics.config import Settings
from stripe_analytics.sync import UNKNOWN_ACCOUNT, sync_account
from tests.app_support import ARTIFACTS, no_exception, require_chromium, wait_for_text
from tests.fake_stripe import FakeStripe
from tests.sync_accounts import build_account, template
from tests.test_browser import browser, choose, go, page, settle  # noqa: F401 - browser and page are fixtures
from tests.webhook_support import (ACCOUNT, KEY, SECRET, customer_event, live_env, live_server, post, query,
                                   wait_until)

pytestmark = pytest.mark.browser

LOCAL_KEY = "sk_test_localstripe_live_0001"


@pytest.fixture(scope="module", autouse=True)
def chromium_here():
    require_chromium()


def pay(client, email: str, amount: int) -> str:
    customer = client.v1.customers.create({"email": email})
    card = client.v1.payment_methods.create({"type": "card", "card": {
        "number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}})
    client.v1.payment_methods.attach(card.id, {"customer": customer.id})
    client.v1.payment_intents.create({"amount": amount, "currency": "usd", "customer": customer.id,
                                      "payment_method": card.id, "confirm": True})
    return customer.id


def caption_rows(tab) -> str:
    return " ".join(tab.locator("[data-testid='stCaptionContainer']").all_inner_texts())


def test_localstripe_webhooks_reach_the_cache_and_the_open_page(localstripe, tmp_path, page):
    client = stripe.StripeClient(LOCAL_KEY, base_addresses={"api": localstripe})
    pay(client, "first.live@example.com", 1500)
    data_dir = tmp_path / "data"
    cache = data_dir / f"{UNKNOWN_ACCOUNT}.duckdb"  # localstripe has no /v1/account
    settings = Settings(stripe_api_key=LOCAL_KEY, stripe_api_base=localstripe, data_dir=data_dir)
    sync_account(settings, db_path=cache, slices=1, resources=["customers", "payment_intents", "charges"])
    env = live_env(data_dir, tmp_path, localstripe, STRIPE_API_KEY=LOCAL_KEY)
    with live_server(env, tmp_path / "server.log") as app:
        registered = requests.post(f"{localstripe}/_config/webhooks/stripe_analytics_e2e",
                                   data={"url": f"{app.url}/webhooks/stripe", "secret": SECRET}, timeout=10)
        assert registered.status_code == 200
        email = f"live.{int(time.time())}@example.com"
        go(page, app.url, "customers")
        box = page.get_by_placeholder("Email, name, id, phone or metadata…")
        box.fill(email)
        box.press("Enter")
        page.get_by_text("Nothing matches these filters.").wait_for(timeout=30_000)
        # A second tab open on Payments (the payment intents, searched by the same e-mail address).
        payments = page.context.new_page()
        go(payments, app.url, "payments")
        search = payments.get_by_placeholder("Id, customer email or name, description…")
        search.fill(email)
        search.press("Enter")
        settle(payments)
        payments.get_by_role("tab", name="Payment intents").click()
        intents = payments.get_by_role("tabpanel", name="Payment intents")
        intents.get_by_text("Nothing matches these filters.").wait_for(timeout=30_000)

        customer_id = pay(client, email, 4200)  # localstripe sends customer.created, payment_intent.succeeded

        rows = wait_until(lambda: query(cache, "SELECT email FROM customers WHERE id = ?", [customer_id]),
                          timeout=30, what="the customer in the cache")
        assert rows == [(email,)]
        wait_until(lambda: query(cache, "SELECT amount, status FROM payment_intents WHERE customer = ?",
                                 [customer_id]), timeout=30, what="the payment in the cache")
        # The open page shows it by itself, the search kept.
        wait_until(lambda: "1 row" in caption_rows(page), timeout=20, what="the page to show the new customer")
        assert box.input_value() == email
        no_exception(page)
        wait_until(lambda: "1 row" in caption_rows(intents), timeout=20, what="the Payments tab to show the payment")
        assert search.input_value() == email
        no_exception(payments)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "live_customers_localstripe.png"), full_page=True)
        assert app.account_health(UNKNOWN_ACCOUNT)["last_webhook_applied_at"]


def gross_volume(tab) -> str:
    tile = tab.locator("[data-testid='saTile']").filter(has_text="Gross volume").first
    return tile.locator("[data-testid='saTileValue']").inner_text()


def gross_volume_changes(tab, app, before: str) -> None:
    """Waits for the open Overview to show another Gross volume; says what the server and the
    page's watcher knew when it does not."""
    try:
        wait_until(lambda: gross_volume(tab) != before, timeout=15, interval=0.1, what="the Gross volume tile to change")
    except AssertionError as error:
        watcher = tab.evaluate("""() => ({askedAt: window.__saLiveAskedAt || null, now: Date.now(),
            poller: window.__saLiveWatch || null,
            state: document.querySelector("[data-testid='stApp']")?.dataset.testScriptState,
            dialogs: document.querySelectorAll("[role='dialog']").length})""")
        raise AssertionError(f"{error}\nwatcher: {watcher}\n{app.state()}") from None


@contextlib.contextmanager
def synced_fake(data_dir, customers: int):
    """The fake Stripe serving a small account, synced once into `data_dir`."""
    acct, objects = build_account(int(time.time()), customers=customers)
    with FakeStripe() as fake:
        fake.add_account(acct, key=KEY)
        fake.add_many(objects)
        sync_account(Settings(stripe_api_key=KEY, stripe_api_base=fake.url, data_dir=data_dir,
                              stripe_max_requests_per_second=1000))
        yield fake


def charge_event(name: str, amount: int) -> dict:
    """A signed-ready `charge.succeeded` of `amount` cents for cus_0001, created now."""
    now = int(time.time())
    charge = template("charge", id=f"ch_{name}", customer="cus_0001", payment_intent=None, amount=amount,
                      amount_captured=amount, amount_refunded=0, currency="usd", status="succeeded",
                      captured=True, paid=True, refunded=False, created=now, balance_transaction=None)
    return {"id": f"evt_{name}", "object": "event", "type": "charge.succeeded", "created": now,
            "data": {"object": charge}, "livemode": False, "api_version": "2025-01-01"}


def test_the_open_overview_updates_after_a_webhook(tmp_path, page):
    data_dir = tmp_path / "data"
    with synced_fake(data_dir, customers=8) as fake:
        with live_server(live_env(data_dir, tmp_path, fake.url), tmp_path / "server.log") as app:
            go(page, app.url)
            no_exception(page)
            before = gross_volume(page)
            marker = page.get_by_text("Live · updated")
            marker.wait_for(timeout=10_000)
            # While nothing changes the page does not run at all (the browser asks the server).
            page.evaluate("""() => { window.__runs = 0; const app = document.querySelector("[data-testid='stApp']");
                new MutationObserver(() => { if (app.dataset.testScriptState === "running") window.__runs++; })
                    .observe(app, {attributes: true, attributeFilter: ["data-test-script-state"]}); }""")
            polls = page.evaluate("window.__saLiveWatch.polls")
            page.wait_for_timeout(3_000)
            assert page.evaluate("window.__runs") == 0
            # ... but it keeps asking (Streamlit's cleanups during the first visit once left it no poller)
            assert page.evaluate("window.__saLiveWatch.polls") > polls, page.evaluate("window.__saLiveWatch")
            started = time.monotonic()
            assert post(app.url, charge_event("live_big", 987_600)).status_code == 200
            gross_volume_changes(page, app, before)
            print(f"webhook to screen: {time.monotonic() - started:.2f} s ({before} -> {gross_volume(page)})")
            assert "updated" in marker.inner_text()
            # Once the page shows the new data it runs no more: one run per change, and one
            # question a second to the server, however many runs the page has had.
            settle(page)
            choose(page, "Granularity", "Week")
            choose(page, "Granularity", "Month")
            asked: list[str] = []
            page.on("request", lambda request: asked.append(request.url) if "/live/" in request.url else None)
            page.evaluate("window.__runs = 0")
            page.wait_for_timeout(7_000)  # longer than the 5 s between two reruns the page may ask for
            assert page.evaluate("window.__runs") == 0
            assert 4 <= len(asked) <= 9, asked
            no_exception(page)
            page.screenshot(path=str(ARTIFACTS / "live_overview_after_webhook.png"), full_page=True)
            go(page, app.url, "data")  # the same facts as /healthz
            # under load a run's last elements can reach the screen after the run has ended
            text = wait_for_text(page, "Events queued", timeout=15_000)
            assert "Live updates" in text and "Last webhook applied" in text and "Events queued" in text
            assert "Health" in text and "OK" in text
            no_exception(page)


def test_a_failing_scheduled_sync_shows_in_healthz_and_on_the_data_page(tmp_path, page):
    """The schedule's failure is reported (not a crash loop), /healthz turns 503 once the last
    good sync is older than HEALTH_MAX_SYNC_AGE_MINUTES, the Data page shows the same facts,
    and the next good run clears it all."""
    data_dir = tmp_path / "data"
    with synced_fake(data_dir, customers=4) as fake:
        env = live_env(data_dir, tmp_path, fake.url, SYNC_INTERVAL_MINUTES="0.05", HEALTH_MAX_SYNC_AGE_MINUTES="0.1",
                       STRIPE_MAX_NETWORK_RETRIES="0")
        with live_server(env, tmp_path / "server.log") as app:
            wait_until(lambda: any(a["account"] == ACCOUNT for a in app.health().json()["accounts"]),
                       what="the configured account in /healthz")
            fake.inject("server_error", times=None, path="/v1/events")
            body = wait_until(lambda: (b := app.health().json())["schedule"]["consecutive_failures"] >= 2 and b,
                              timeout=90, what="two failed scheduled syncs")
            schedule = body["schedule"]
            assert schedule["running"] and schedule["last_error"]
            # Retried after the back-off, capped at the interval (3 s here): not at once, not given up.
            retry_in = (datetime.fromisoformat(schedule["next_run_at"]) - datetime.now(timezone.utc)).total_seconds()
            assert retry_in <= 3.5
            entry = next(a for a in body["accounts"] if a["account"] == ACCOUNT)
            assert entry["last_error"].startswith("scheduled sync:")
            unhealthy = wait_until(lambda: (r := app.health()).status_code == 503 and r.json(), timeout=30,
                                   what="a 503 once the last good sync is older than 6 s")
            entry = next(a for a in unhealthy["accounts"] if a["account"] == ACCOUNT)
            assert entry["problems"] == ["last successful sync is older than 0.1 minutes"]
            assert KEY not in json.dumps(unhealthy)

            go(page, app.url, "data")
            main = page.locator("[data-testid='stMain']")
            main.get_by_text("The scheduled sync failed").wait_for(timeout=30_000)
            text = main.inner_text()
            assert "Unhealthy" in text and "last successful sync is older than 0.1 minutes" in text
            assert f"schema version {SCHEMA_VERSION}" in text and "Cache readable" in text
            no_exception(page)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "live_data_page_schedule_failing.png"), full_page=True)

            fake.clear_faults()
            # (the cache says so as soon as the sync child committed; the schedule once the child exited)
            wait_until(lambda: (r := app.health()).status_code == 200 and r.json()["schedule"]["last_ok_at"]
                       and r.json()["schedule"]["consecutive_failures"] == 0, timeout=60,
                       what="healthy after a good run")
            schedule = app.health().json()["schedule"]
            assert schedule["last_error"] is None


def row_count(tab) -> int:
    """The rows the Customers table says it has ("9 rows")."""
    found = re.search(r"\b([\d,]+) rows?\b", caption_rows(tab))
    assert found, caption_rows(tab)
    return int(found.group(1).replace(",", ""))


def _scroll_top(tab) -> float:
    """How far the page's content is scrolled (Streamlit scrolls its main block, not the window)."""
    return tab.evaluate("""() => Math.max(window.scrollY, ...[...document.querySelectorAll('*')]
        .filter((e) => e.scrollHeight > e.clientHeight + 10).map((e) => e.scrollTop))""")


def test_a_refresh_keeps_the_scroll_position_and_an_open_dialog(tmp_path, page):
    data_dir = tmp_path / "data"
    with synced_fake(data_dir, customers=8) as fake:
        cache = data_dir / f"{ACCOUNT}.duckdb"
        with live_server(live_env(data_dir, tmp_path, fake.url), tmp_path / "server.log") as app:
            # Scrolled down the Overview: the figures change, the place on the page stays.
            go(page, app.url)
            page.get_by_text("Live · updated").wait_for(timeout=10_000)
            before = gross_volume(page)
            page.mouse.move(900, 600)
            page.mouse.wheel(0, 900)
            page.wait_for_timeout(500)
            scrolled = _scroll_top(page)
            assert scrolled > 150  # the Overview of 8 customers scrolls ~230 px here; a jump back would be seen
            assert post(app.url, charge_event("live_scroll", 123_400)).status_code == 200
            gross_volume_changes(page, app, before)
            settle(page)
            assert abs(_scroll_top(page) - scrolled) < 50, (scrolled, _scroll_top(page))
            no_exception(page)

            # A form's dialog open on Customers: a webhook does not close it or lose what was typed;
            # the page refreshes once it is closed.
            go(page, app.url, "customers")
            rows_before = row_count(page)
            page.get_by_role("button", name="New customer").click()
            dialog = page.get_by_role("dialog")
            dialog.wait_for(timeout=30_000)
            email_box = dialog.get_by_label("Email")
            email_box.fill("typing.in.progress@example.com")
            assert post(app.url, customer_event("dialog")).status_code == 200
            wait_until(lambda: query(cache, "SELECT 1 FROM customers WHERE id = 'cus_hook_dialog'"),
                       what="the webhook's customer in the cache")
            page.wait_for_timeout(4_000)  # longer than the pages take to refresh
            assert dialog.is_visible() and email_box.input_value() == "typing.in.progress@example.com"
            assert row_count(page) == rows_before
            dialog.locator("[data-testid^='stBaseButton']", has_text="Close").click()  # the form's own button
            wait_until(lambda: row_count(page) == rows_before + 1, timeout=15, what="the page to refresh")
            no_exception(page)
