"""Live data end to end in headless Chromium: localstripe sends signed webhooks to the served
app (a third-party sender), and the open pages update by themselves, filters kept."""

from __future__ import annotations

import time

import pytest
import requests
import stripe

from stripe_analytics.config import Settings
from stripe_analytics.sync import UNKNOWN_ACCOUNT, sync_account
from tests.app_support import ARTIFACTS, require_chromium
from tests.fake_stripe import FakeStripe
from tests.sync_accounts import build_account, template
from tests.test_browser import browser, go, no_exception, page  # noqa: F401 - browser and page are fixtures
from tests.webhook_support import KEY, SECRET, live_env, live_server, post, query, wait_until

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
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "live_customers_localstripe.png"), full_page=True)
        assert app.account_health(UNKNOWN_ACCOUNT)["last_webhook_applied_at"]


def gross_volume(tab) -> str:
    tile = tab.locator("[data-testid='stMetric']").filter(has_text="Gross volume").first
    return tile.locator("[data-testid='stMetricValue']").inner_text()


def test_the_open_overview_updates_after_a_webhook(tmp_path, page):
    acct, objects = build_account(int(time.time()), customers=8)
    with FakeStripe() as fake:
        fake.add_account(acct, key=KEY)
        fake.add_many(objects)
        data_dir = tmp_path / "data"
        sync_account(Settings(stripe_api_key=KEY, stripe_api_base=fake.url, data_dir=data_dir,
                              stripe_max_requests_per_second=1000))
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
            page.wait_for_timeout(3_000)
            assert page.evaluate("window.__runs") == 0
            now = int(time.time())
            charge = template("charge", id="ch_live_big", customer="cus_0001", payment_intent=None, amount=987_600,
                              amount_captured=987_600, amount_refunded=0, currency="usd", status="succeeded",
                              captured=True, paid=True, refunded=False, created=now, balance_transaction=None)
            event = {"id": "evt_live_charge", "object": "event", "type": "charge.succeeded", "created": now,
                     "data": {"object": charge}, "livemode": False, "api_version": "2025-01-01"}
            started = time.monotonic()
            assert post(app.url, event).status_code == 200
            wait_until(lambda: gross_volume(page) != before, timeout=15, interval=0.1,
                       what="the Gross volume tile to change")
            print(f"webhook to screen: {time.monotonic() - started:.2f} s ({before} -> {gross_volume(page)})")
            assert "updated" in marker.inner_text()
            no_exception(page)
            page.screenshot(path=str(ARTIFACTS / "live_overview_after_webhook.png"), full_page=True)
            go(page, app.url, "data")  # the same facts as /healthz
            text = page.inner_text("[data-testid='stMain']")
            assert "Live updates" in text and "Last webhook applied" in text and "Events queued" in text
            assert "Health" in text and "OK" in text
            no_exception(page)
