"""The write forms (issue 7) end to end in headless Debian Chromium (Playwright) against
`streamlit run app.py` on a free loopback port, with STRIPE_API_KEY / STRIPE_API_BASE pointing
at an in-process FakeStripe holding a small account that was synced into DATA_DIR before the
app started (so the app opens that account, not the demo).

Through the browser: create a customer with the Customers page's form, then a payment for
that customer with the Payments page's form (pm_card_visa, confirmed now); find both in the
Customers and Payments tables (search, then the table's CSV download); and check the fake
server holds each exactly once. Screenshots go to test-artifacts/."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path

import pytest

from stripe_analytics.config import Settings
from stripe_analytics.sync import sync_account
from tests.app_support import ARTIFACTS, app_env, no_exception, require_chromium, serve_app
from tests.fake_stripe import FakeStripe
from tests.sync_accounts import build_account
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, click_download, go, open_popover, settle

pytestmark = pytest.mark.browser

KEY = "sk_test_forms_browser_0001"
EMAIL = "browser-ann@example.com"
NAME = "Browser Ann"
TIMEOUT = 90_000


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A FakeStripe account with a few objects, synced into DATA_DIR, and the app on it."""
    require_chromium()
    work = tmp_path_factory.mktemp("forms_browser")
    data_dir = work / "data"
    data_dir.mkdir()
    with FakeStripe() as fake:
        account, objects = build_account(int(time.time()), customers=6, seed=7)
        fake.add_account(account, key=KEY)
        fake.add_many(objects)
        report = sync_account(Settings(stripe_api_key=KEY, stripe_api_base=fake.url, data_dir=data_dir))
        assert report.account_id == account["id"]
        assert (data_dir / f"{account['id']}.duckdb").exists()
        env = app_env(data_dir, work, STRIPE_API_KEY=KEY, STRIPE_API_BASE=fake.url)
        with serve_app(env, work / "streamlit.log") as url:
            yield {"url": url, "fake": fake, "account": account["id"], "data_dir": data_dir,
                   "log": work / "streamlit.log"}


@pytest.fixture(scope="module")
def page(world):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = chromium.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
        context.set_default_timeout(TIMEOUT)
        yield context.new_page()
        context.close()
        chromium.close()


def _objects(fake: FakeStripe, kind: str) -> list[dict]:
    return list(fake.account_store().objects[kind].values())


def _dialog(tab):
    dialog = tab.get_by_role("dialog")
    dialog.wait_for()
    return dialog


def _close_dialog(tab) -> None:
    _dialog(tab).locator("button[data-testid^='stBaseButton']").filter(has_text=re.compile(r"Close$")).click()
    settle(tab, TIMEOUT)
    assert tab.get_by_role("dialog").count() == 0


def _search(tab, placeholder: str, text: str) -> None:
    box = tab.get_by_placeholder(placeholder)
    box.fill(text)
    box.press("Enter")
    settle(tab, TIMEOUT)


def _table_csv(tab) -> list[dict]:
    """The visible table's rows, through its CSV download (the grid is drawn on a canvas)."""
    open_popover(tab, "Download")
    with tab.expect_download(timeout=TIMEOUT) as info:
        click_download(tab, "CSV")
    tab.keyboard.press("Escape")
    return list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8-sig"))))


def _captions(tab) -> list[str]:
    return tab.locator("[data-testid='stCaptionContainer']:visible").all_inner_texts()


def test_create_a_customer_and_a_payment_in_the_browser(world, page):
    ARTIFACTS.mkdir(exist_ok=True)
    fake, base = world["fake"], world["url"]
    customers_before = len(_objects(fake, "customer"))

    # ---- the app opened the synced account (not the demo), so the forms are enabled
    go(page, base)  # the overview first: a deep link right after the server starts can show a false
    page.get_by_role("link", name="Customers").click()  # "Page not found" dialog (see app.py)
    settle(page, TIMEOUT)
    no_exception(page)
    assert page.get_by_text("Demo data.").count() == 0
    new_customer = page.get_by_role("button", name="New customer")
    assert new_customer.is_enabled()

    # ---- a customer through the Customers page's form
    new_customer.click()
    dialog = _dialog(page)
    dialog.get_by_role("textbox", name="Email", exact=True).fill(EMAIL)
    dialog.get_by_role("textbox", name="Name", exact=True).fill(NAME)
    dialog.get_by_role("textbox", name="Metadata", exact=True).fill("source=browser")
    dialog.get_by_role("button", name="Create customer").click()
    settle(page, TIMEOUT)
    dialog = _dialog(page)
    success = dialog.locator("[data-testid='stAlertContentSuccess']")
    success.wait_for()
    assert NAME in success.inner_text() and "created" in success.inner_text()
    page.screenshot(path=str(ARTIFACTS / "forms_customer_created.png"), full_page=True)
    # a second click on the same submission creates nothing more (same idempotency key)
    dialog.get_by_role("button", name="Create customer").click()
    settle(page, TIMEOUT)
    _close_dialog(page)

    created = [c for c in _objects(fake, "customer") if c.get("email") == EMAIL]
    assert len(created) == 1, created
    assert len(_objects(fake, "customer")) == customers_before + 1
    customer = created[0]
    assert customer["name"] == NAME and customer["metadata"] == {"source": "browser"}

    # ---- it is in the Customers table at once (written to the cache, no sync)
    _search(page, "Email, name, id, phone or metadata…", EMAIL)
    no_exception(page)
    assert any(re.match(r"^1 row\b", c) for c in _captions(page)), _captions(page)
    assert page.get_by_role("link", name=f"Open {NAME}").count() == 1
    rows = _table_csv(page)
    assert [(r["id"], r["email"], r["name"]) for r in rows] == [(customer["id"], EMAIL, NAME)]
    page.screenshot(path=str(ARTIFACTS / "forms_customer_in_table.png"), full_page=True)

    # ---- a payment for that customer through the Payments page's form
    intents_before = len(_objects(fake, "payment_intent"))
    page.get_by_role("link", name="Payments").click()
    settle(page, TIMEOUT)
    no_exception(page)
    page.get_by_role("button", name="New payment").click()
    dialog = _dialog(page)
    dialog.get_by_role("combobox", name="Customer", exact=True).click()
    page.get_by_role("option", name=re.compile(re.escape(customer["id"]))).click()
    settle(page, TIMEOUT)
    dialog = _dialog(page)
    dialog.get_by_role("textbox", name="Amount", exact=True).fill("19.99")
    currency = dialog.get_by_role("combobox", name="Currency", exact=True)
    if not currency.input_value().startswith("USD"):
        currency.click()
        page.get_by_role("option", name=re.compile(r"^USD ")).click()
    dialog.get_by_role("textbox", name="Description", exact=True).fill("Browser order")
    dialog.get_by_role("combobox", name="Payment method", exact=True).click()
    page.get_by_role("option", name="Test card: Visa, succeeds").click()
    assert dialog.get_by_role("checkbox", name=re.compile("^Confirm now")).is_checked()
    dialog.get_by_role("button", name="Create payment").click()
    settle(page, TIMEOUT)
    dialog = _dialog(page)
    success = dialog.locator("[data-testid='stAlertContentSuccess']")
    success.wait_for()
    message = success.inner_text()
    assert "succeeded" in message and "$19.99" in message and NAME in message, message
    page.screenshot(path=str(ARTIFACTS / "forms_payment_created.png"), full_page=True)
    _close_dialog(page)

    intents = [pi for pi in _objects(fake, "payment_intent") if pi.get("customer") == customer["id"]]
    assert len(intents) == 1, intents
    assert len(_objects(fake, "payment_intent")) == intents_before + 1
    intent = intents[0]
    assert intent["status"] == "succeeded" and intent["amount"] == 1999 and intent["currency"] == "usd"
    charges = [ch for ch in _objects(fake, "charge") if ch.get("payment_intent") == intent["id"]]
    assert len(charges) == 1 and charges[0]["id"] == intent["latest_charge"]

    # ---- it is in the Payments tables: charges, then payment intents
    _search(page, "Id, customer email or name, description…", EMAIL)
    no_exception(page)
    rows = _table_csv(page)
    assert [(r["id"], r["status"], r["amount"], r["customer_email"]) for r in rows] == [
        (charges[0]["id"], "succeeded", "19.99", EMAIL)], rows
    page.screenshot(path=str(ARTIFACTS / "forms_payment_in_charges.png"), full_page=True)
    page.get_by_role("tab", name="Payment intents").click()
    page.wait_for_timeout(500)
    rows = _table_csv(page)
    assert [(r["id"], r["status"], r["amount"]) for r in rows] == [(intent["id"], "succeeded", "19.99")], rows
    page.screenshot(path=str(ARTIFACTS / "forms_payment_in_intents.png"), full_page=True)

    # ---- and back on Customers, the customer's lifetime paid counts the payment
    page.get_by_role("link", name="Customers").click()
    settle(page, TIMEOUT)
    _search(page, "Email, name, id, phone or metadata…", EMAIL)
    rows = _table_csv(page)
    assert [(r["id"], r["lifetime_paid"], r["payments"]) for r in rows] == [(customer["id"], "19.99", "1")], rows

    # ---- exactly once in the fake server, whatever the reruns and double clicks did
    assert sum(c.get("email") == EMAIL for c in _objects(fake, "customer")) == 1
    assert sum(pi.get("customer") == customer["id"] for pi in _objects(fake, "payment_intent")) == 1
    posts = [r for r in fake.requests if r.method == "POST"]
    assert sum(r.path == "/v1/customers" for r in posts) >= 1
    assert "Traceback" not in world["log"].read_text(errors="replace")
