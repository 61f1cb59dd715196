"""Connecting a Stripe account, end to end in headless Debian Chromium (Playwright) against
`streamlit run app.py` on a free loopback port, with the OAuth endpoints pointed at the local
OAuth test server and STRIPE_API_BASE at a FakeStripe holding the accounts' data.

Click "Connect with Stripe", follow streamlit-oauth's popup to the local authorize page,
approve, come back connected and see the account's data synced from the fake server; then
Disconnect. Also: deny, state mismatch, expired code, refresh after expiry and refresh
failure (short-lived tokens), Connect OAuth with deauthorization, a restricted key in live
mode with missing permissions, two browser contexts connected to two accounts at once each
seeing only their own numbers, and a final scan of the logs, caches, exports, cookies and the
encrypted connection store for any key or token. The OAuth settings live in the app's secrets file, so the tests switch the mode
without restarting the app."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest

from tests.app_support import (ARTIFACTS, app_env, data_dir_with_demo, free_port, main_text, no_exception,
                               require_chromium, serve_app, settle_run, wait_for_first_run, wait_for_text)
from tests.fake_stripe import FakeStripe
from tests.oauth_server import APPS_TOKEN, CONNECT_TOKEN, DEAUTHORIZE, OAuthTestServer
from tests.sync_accounts import build_account

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SECRET = "sk_test_app_secret_000001"  # the Stripe app's / Connect platform's secret key
ALPHA, BETA, GAMMA, PLATFORM = "acct_alpha", "acct_beta", "acct_gamma", "acct_platform"
ALPHA_CUSTOMERS, BETA_CUSTOMERS, GAMMA_CUSTOMERS = 12, 30, 5
GAMMA_LIVE_KEY = "rk_live_gamma_no_disputes_01"
BETA_KEY = "rk_test_beta_full_access_01"
DELTA, DELTA_CUSTOMERS = "acct_delta", 4  # written to by a test: no other test reads it
DELTA_KEY = "rk_test_delta_read_write_01"
TIMEOUT = 90_000


def _account_objects(account_id: str, name: str, customers: int, seed: int) -> tuple[dict, list[dict]]:
    account, objects = build_account(int(time.time()), customers=customers, seed=seed)
    account = {**account, "id": account_id, "email": f"owner@{name.split()[0].lower()}.example",
               "business_profile": {**(account.get("business_profile") or {}), "name": name}}
    prefix = name.split()[0].lower()
    for obj in objects:
        if obj.get("object") == "customer" and obj.get("email"):
            obj["email"] = f"{prefix}-{obj['email']}"
    return account, objects


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """FakeStripe (three accounts, all Connect accounts of the platform), the OAuth test
    server, and the app served by `streamlit run` with its OAuth settings in a secrets file."""
    require_chromium()
    work = tmp_path_factory.mktemp("connect")
    data_dir = data_dir_with_demo(work / "data")
    downloads = work / "downloads"
    downloads.mkdir()
    accounts: dict[str, dict] = {}
    with FakeStripe() as fake:
        fake.add_account({"id": PLATFORM, "business_profile": {"name": "Analytics Platform"}}, key=SECRET)
        for account_id, name, n, seed in ((ALPHA, "Alpha Co", ALPHA_CUSTOMERS, 1), (BETA, "Beta Ltd", BETA_CUSTOMERS, 2),
                                          (GAMMA, "Gamma Live", GAMMA_CUSTOMERS, 3)):
            account, objects = _account_objects(account_id, name, n, seed)
            accounts[account_id] = account
            fake.add_account(account, connected_to=PLATFORM)
            fake.add_many(objects, account=account_id)
        fake.add_key(BETA_KEY, BETA)
        delta, delta_objects = _account_objects(DELTA, "Delta Inc", DELTA_CUSTOMERS, 4)
        accounts[DELTA] = delta
        fake.add_account(delta)
        fake.add_many(delta_objects, account=DELTA)
        fake.add_key(DELTA_KEY, DELTA)
        fake.add_key(GAMMA_LIVE_KEY, GAMMA, denied={"disputes"})
        with OAuthTestServer(fake=fake, secret_key=SECRET) as oauth:
            oauth.add_account(ALPHA, "Alpha Co")
            oauth.add_account(BETA, "Beta Ltd")
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            secrets_file = work / "secrets.toml"
            world = {"url": url, "fake": fake, "accounts": accounts, "oauth": oauth, "data_dir": data_dir, "work": work,
                     "downloads": downloads, "secrets_file": secrets_file, "log": work / "streamlit.log"}
            use_mode(world, "stripe_apps")
            env = app_env(data_dir, work, STRIPE_API_BASE=fake.url, STREAMLIT_SECRETS_FILE=str(secrets_file))
            with serve_app(env, world["log"], port=port):
                yield world


def use_mode(world: dict, mode: str) -> None:
    """Point the app's OAuth settings at the test server in this mode (read on every run)."""
    settings = {**world["oauth"].env(mode), "STRIPE_REDIRECT_URI": f"{world['url']}/connect"}
    world["secrets_file"].write_text("".join(f'{k} = "{v}"\n' for k, v in settings.items()))


@pytest.fixture(autouse=True)
def reset_switches(world):
    oauth = world["oauth"]
    yield
    oauth.deny = oauth.expire_codes = oauth.fail_refresh = oauth.tamper_state = oauth.mode_mismatch = False
    oauth.token_error = None
    oauth.access_ttl = 3600
    use_mode(world, "stripe_apps")


@pytest.fixture(scope="module")
def browser(world):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def new_tab(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    return context, context.new_page()


@pytest.fixture
def tab(browser):
    context, page = new_tab(browser)
    yield page
    context.close()


# ----------------------------------------------------------------------------- helpers

def settle(tab, timeout: float = TIMEOUT) -> None:
    """Wait until the script run caused by the last action has finished (`settle_run`)."""
    settle_run(tab, timeout)


def go(tab, base: str, path: str = "") -> None:
    tab.goto(f"{base}/{path}")
    tab.wait_for_selector("[data-testid='stApp']")
    wait_for_first_run(tab, TIMEOUT)
    # A fresh server answers a session's very first page with a "Page not found" dialog
    # (before its first st.navigation run); it is not this page's doing.
    if tab.locator("[data-testid='stDialog']").count():
        tab.keyboard.press("Escape")
        settle(tab)


def nav(tab, title: str) -> None:
    """Open a page through the sidebar, as a user does."""
    tab.locator("[data-testid='stSidebarNav']").get_by_role("link", name=title, exact=True).click()
    settle(tab)


def click_connect(tab, account_label: str | None = "Alpha Co", decision: str = "approve") -> None:
    """Click "Connect with Stripe", approve (or deny) in the popup, and wait until the popup
    is closed and the app has handled Stripe's answer."""
    button = tab.frame_locator("iframe[title='streamlit_oauth.authorize_button']").get_by_role(
        "button", name="Connect with Stripe")
    with tab.expect_popup() as info:
        button.click()
    popup = info.value
    popup.wait_for_load_state()
    assert "/oauth/" in popup.url and "state=" in popup.url
    ARTIFACTS.mkdir(exist_ok=True)
    popup.screenshot(path=str(ARTIFACTS / "connect_authorize_popup.png"))
    if decision == "approve":
        popup.get_by_role("button", name=f"Approve {account_label}").click()
    else:
        popup.get_by_role("button", name="Deny").click()
    deadline = time.monotonic() + 30
    while not popup.is_closed():
        assert time.monotonic() < deadline, "streamlit-oauth did not close the popup"
        tab.wait_for_timeout(200)
    settle(tab)


def wait_synced(tab, customers: int) -> None:
    wait_for_text(tab, rf"Synced: {customers} customers")
    settle(tab)


def assert_clean_url(tab) -> None:
    assert not re.search(r"[?&](code|state|error)=", tab.url), tab.url


def picker_options(tab) -> list[str]:
    tab.get_by_role("combobox", name="Account", exact=True).click()
    options = [o.inner_text() for o in tab.get_by_role("option").all()]
    tab.keyboard.press("Escape")
    return options


def customers_csv(world, tab) -> list[dict]:
    """The Customers page's table as the CSV export a user downloads (saved for the scan)."""
    nav(tab, "Customers")
    no_exception(tab)
    download = download_csv(tab)
    target = world["downloads"] / f"{len(list(world['downloads'].iterdir()))}_{download.suggested_filename}"
    download.save_as(target)
    tab.keyboard.press("Escape")
    return list(csv.DictReader(io.StringIO(target.read_text())))


def download_csv(tab):
    """The open page's first table as CSV, through its Download popover. A rerun (the page's
    once-a-second live check, on a busy machine) can close the popover: open it again."""
    csv_button = tab.locator("[data-testid='stDownloadButton']:visible button").filter(has_text="CSV").first
    for attempt in range(4):
        tab.locator("button[data-testid='stPopoverButton']:visible").filter(has_text="Download").first.click()
        try:
            csv_button.wait_for(state="visible", timeout=15_000)
            with tab.expect_download(timeout=60_000) as info:
                csv_button.click(timeout=15_000)
            return info.value
        except Exception:  # noqa: BLE001 - closed by a rerun: try again
            if attempt == 3:
                raise
            tab.keyboard.press("Escape")
            settle(tab)


def key_field(tab):
    return tab.get_by_placeholder("rk_live_… or rk_test_…")


def submit_key(tab, key: str) -> None:
    field = key_field(tab)
    field.fill(key)
    tab.wait_for_timeout(300)  # let the form register the value before it is submitted
    tab.get_by_role("button", name="Check and connect").click()
    settle(tab)


def connected(tab) -> bool:
    return tab.get_by_role("button", name="Disconnect").count() > 0


def disconnect(tab) -> None:
    tab.get_by_role("button", name="Disconnect").click()
    # On a busy machine the rerun may start after settle's first look: wait for the button to go.
    tab.get_by_role("button", name="Disconnect").wait_for(state="detached", timeout=TIMEOUT)
    settle(tab)


# ----------------------------------------------------------------------------- Stripe Apps OAuth

def test_connect_with_stripe_sees_the_account_then_disconnects(world, tab):
    oauth = world["oauth"]
    before = len(oauth.requests(APPS_TOKEN))
    go(tab, world["url"], "connect")
    no_exception(tab)
    # the Connect with Stripe button (a component) reports itself once loaded, which reruns the page
    text = wait_for_text(tab, r"Use a restricted key[\s\S]*Use the demo account")
    assert "Use a restricted key" in text and "Use the demo account" in text
    tab.screenshot(path=str(ARTIFACTS / "connect_page.png"), full_page=True)
    click_connect(tab, "Alpha Co")
    wait_synced(tab, ALPHA_CUSTOMERS)
    no_exception(tab)
    text = main_text(tab)
    assert "Alpha Co" in text and "acct_alpha" in text and "Test mode" in text
    assert_clean_url(tab)
    (exchange,) = oauth.requests(APPS_TOKEN)[before:]
    assert exchange.form["grant_type"] == "authorization_code" and exchange.auth_user == SECRET
    tab.screenshot(path=str(ARTIFACTS / "connect_connected.png"), full_page=True)

    # the app's pages show the connected account's data, synced from the fake server
    rows = customers_csv(world, tab)
    assert len(rows) == ALPHA_CUSTOMERS and all(r["email"].startswith("alpha-") for r in rows)
    assert any("Alpha Co" in o for o in picker_options(tab))
    nav(tab, "Account")
    assert "acct_alpha" in main_text(tab) and "Alpha Co" in main_text(tab)
    assert world["data_dir"].joinpath("connected", "acct_alpha.duckdb").exists()

    nav(tab, "Connect")
    disconnect(tab)
    text = main_text(tab)
    assert "Disconnected from Alpha Co" in text and "Connect with Stripe" in text
    assert not any("Alpha Co" in o for o in picker_options(tab))
    nav(tab, "Account")
    assert "acct_alpha" not in main_text(tab)


def test_deny_connects_nothing(world, tab):
    oauth = world["oauth"]
    before = len(oauth.requests(APPS_TOKEN))
    go(tab, world["url"], "connect")
    click_connect(tab, decision="deny")
    text = wait_for_text(tab, "You declined the connection on Stripe")
    assert "nothing was connected" in text and not connected(tab)
    assert_clean_url(tab)
    assert len(oauth.requests(APPS_TOKEN)) == before


def test_state_mismatch_is_refused(world, tab):
    oauth = world["oauth"]
    oauth.tamper_state = True
    before = len(oauth.requests(APPS_TOKEN))
    go(tab, world["url"], "connect")
    click_connect(tab, "Alpha Co")
    text = wait_for_text(tab, "does not belong to a connection started in this browser tab")
    assert "nothing was connected" in text and not connected(tab)
    assert len(oauth.requests(APPS_TOKEN)) == before  # refused before any exchange
    # a new attempt works
    oauth.tamper_state = False
    click_connect(tab, "Alpha Co")
    wait_synced(tab, ALPHA_CUSTOMERS)
    disconnect(tab)


def test_expired_code_is_refused(world, tab):
    world["oauth"].expire_codes = True
    go(tab, world["url"], "connect")
    click_connect(tab, "Alpha Co")
    text = wait_for_text(tab, "did not accept the authorization code")
    assert "expired" in text and not connected(tab)


def test_a_callback_url_opened_by_hand_is_refused_and_cleaned(world, tab):
    oauth = world["oauth"]
    before = len(oauth.requests(APPS_TOKEN))
    tab.goto(f"{world['url']}/connect?code=ac_forged123&state=forged-state")
    tab.wait_for_selector("[data-testid='stApp']")
    wait_for_text(tab, "does not belong to a connection started in this browser tab", timeout=30_000)
    settle(tab)
    assert_clean_url(tab)
    assert len(oauth.requests(APPS_TOKEN)) == before


@pytest.mark.serial  # 4-second tokens: under other tests' load a page can outlive one between two steps
def test_refresh_after_expiry_then_refresh_failure(world, tab):
    oauth = world["oauth"]
    oauth.access_ttl = 4  # tokens live 4 s: refreshed from 3 s on
    go(tab, world["url"], "connect")
    click_connect(tab, "Beta Ltd")
    wait_synced(tab, BETA_CUSTOMERS)
    grant = next(g for g in reversed(oauth.grants) if g.account == BETA)
    first_access = grant.access_token
    tab.wait_for_timeout(4000)
    tab.get_by_role("button", name="Sync now").click()
    settle(tab)
    wait_synced(tab, BETA_CUSTOMERS)
    refreshes = [r for r in oauth.requests(APPS_TOKEN, "refresh_token") if r.form["refresh_token"] in grant.history]
    assert len(refreshes) >= 1 and refreshes[0].form["refresh_token"] == grant.history[0]
    assert grant.access_token != first_access  # the sync ran on the new token (the old one is dead)
    assert "The sync failed" not in main_text(tab)

    oauth.fail_refresh = True
    tab.wait_for_timeout(4000)
    tab.get_by_role("button", name="Sync now").click()
    settle(tab)
    text = wait_for_text(tab, "Stripe no longer accepts this connection")
    assert "Connect with Stripe" in text and not connected(tab)


# ----------------------------------------------------------------------------- Connect OAuth

def test_connect_oauth_uses_the_platform_key_and_deauthorizes(world, tab):
    oauth = world["oauth"]
    use_mode(world, "connect")
    go(tab, world["url"], "connect")
    assert "Stripe Connect OAuth" in main_text(tab)
    click_connect(tab, "Beta Ltd")
    wait_synced(tab, BETA_CUSTOMERS)
    assert "Stripe Connect (OAuth)" in main_text(tab)
    assert oauth.requests(CONNECT_TOKEN)[-1].auth_user == SECRET
    disconnect(tab)
    (call,) = oauth.requests(DEAUTHORIZE)
    assert call.form == {"client_id": oauth.client_id, "stripe_user_id": BETA} and call.auth_user == SECRET
    assert "Disconnected from Beta Ltd" in main_text(tab)
    world["fake"].add_account(world["accounts"][BETA], connected_to=PLATFORM)  # link it again for later tests


# ----------------------------------------------------------------------------- restricted keys

def test_restricted_key_live_mode_and_missing_permissions(world, tab):
    go(tab, world["url"], "connect")
    submit_key(tab, "sk_live_0123456789abcdefgh")
    wait_for_text(tab, "That is a secret key")
    assert key_field(tab).input_value() == ""  # the field is cleared after every check

    submit_key(tab, GAMMA_LIVE_KEY)
    wait_synced(tab, GAMMA_CUSTOMERS)
    text = main_text(tab)
    assert "Gamma Live" in text and "Live mode" in text and "Restricted key" in text
    assert "Disputes: Read is needed for disputes on the Revenue page" in text
    assert GAMMA_LIVE_KEY not in tab.content()
    tab.screenshot(path=str(ARTIFACTS / "connect_restricted_live.png"), full_page=True)
    nav(tab, "Overview")
    assert tab.locator("[data-testid='stSidebar']").get_by_text("Live mode").count() >= 1
    nav(tab, "Connect")
    disconnect(tab)


def test_a_connected_key_syncs_from_the_data_page_and_writes_through_the_forms(world, tab):
    """Without STRIPE_API_KEY, the Data page's Sync now and the create forms use this tab's own
    connection (here a restricted key)."""
    fake = world["fake"]
    go(tab, world["url"], "connect")
    submit_key(tab, DELTA_KEY)
    wait_synced(tab, DELTA_CUSTOMERS)
    nav(tab, "Data")
    no_exception(tab)
    assert "Syncing needs a Stripe key" not in main_text(tab)
    tab.get_by_role("button", name="Sync now").click()
    wait_for_text(tab, "Sync finished")
    no_exception(tab)

    email = "connected-form@delta.example"
    nav(tab, "Customers")
    new_customer = tab.get_by_role("button", name="New customer")
    assert new_customer.is_enabled()
    new_customer.click()
    dialog = tab.get_by_role("dialog")
    dialog.wait_for()
    dialog.get_by_role("textbox", name="Email", exact=True).fill(email)
    dialog.get_by_role("button", name="Create customer").click()
    settle(tab)
    dialog.locator("[data-testid='stAlertContentSuccess']").wait_for(timeout=TIMEOUT)
    created = [c for c in fake.account_store(DELTA).objects["customer"].values() if c.get("email") == email]
    assert len(created) == 1
    assert not [c for store in (fake.account_store(ALPHA), fake.account_store(BETA), fake.account_store(GAMMA))
                for c in store.objects["customer"].values() if c.get("email") == email]
    tab.keyboard.press("Escape")
    settle(tab)
    nav(tab, "Connect")
    disconnect(tab)
    nav(tab, "Customers")
    assert tab.get_by_role("button", name="New customer").is_disabled()


# ----------------------------------------------------------------------------- isolation

def test_two_browsers_each_see_only_their_own_account(world, browser):
    (ctx_a, a), (ctx_b, b) = new_tab(browser), new_tab(browser)
    try:
        go(a, world["url"], "connect")
        click_connect(a, "Alpha Co")
        go(b, world["url"], "connect")
        submit_key(b, BETA_KEY)
        wait_synced(a, ALPHA_CUSTOMERS)
        wait_synced(b, BETA_CUSTOMERS)

        rows_a, rows_b = customers_csv(world, a), customers_csv(world, b)
        assert len(rows_a) == ALPHA_CUSTOMERS and all(r["email"].startswith("alpha-") for r in rows_a)
        assert len(rows_b) == BETA_CUSTOMERS and all(r["email"].startswith("beta-") for r in rows_b)
        options_a, options_b = picker_options(a), picker_options(b)
        assert any("Alpha Co" in o for o in options_a) and not any("Beta" in o for o in options_a)
        assert any("Beta Ltd" in o for o in options_b) and not any("Alpha" in o for o in options_b)

        # The SQL console reads this session's cache only and cannot attach the other's.
        other = world["data_dir"] / "connected" / "acct_beta.duckdb"
        nav(a, "Explore")
        a.get_by_role("tab", name="SQL console").click()
        a.locator("textarea").first.fill("SELECT count(*) AS n FROM customers")
        a.get_by_role("button", name="Run query").click()
        settle(a)
        assert re.search(r"1 rows? in", main_text(a))
        a.locator("textarea").first.fill(f"ATTACH '{other}' AS other")
        a.get_by_role("button", name="Run query").click()
        settle(a)
        assert a.locator("[data-testid='stAlert']").count() >= 1

        # Nothing in A's URL lets another browser reuse A's connection, and A's cookies hold no
        # secret (only an opaque session id): a third browser given A's exact URL is not connected.
        nav(a, "Connect")
        assert_clean_url(a)
        cookies = ctx_a.cookies()
        assert {c["name"] for c in cookies} >= {"sa_session"}
        assert all(secret not in c["value"] for c in cookies
                   for secret in world["oauth"].secrets_issued() + [SECRET, BETA_KEY])
        ctx_c, c = new_tab(browser)
        try:
            c.goto(a.url)
            c.wait_for_selector("[data-testid='stApp']")
            settle(c)
            if c.locator("[data-testid='stDialog']").count():
                c.keyboard.press("Escape")
                settle(c)
            assert "Connect with Stripe" in main_text(c) and not connected(c)
            assert not any("Alpha" in o for o in picker_options(c))
        finally:
            ctx_c.close()
        disconnect(a)
        nav(b, "Connect")
        disconnect(b)
    finally:
        ctx_a.close()
        ctx_b.close()


# ----------------------------------------------------------------------------- leaks

def test_no_key_or_token_in_logs_caches_or_exports(world, tab):
    """Runs last: everything the tests above produced on disk holds no key or token. Run on
    its own, it first connects and exports once itself, so there is always something to scan."""
    oauth = world["oauth"]
    if not oauth.grants:
        go(tab, world["url"], "connect")
        click_connect(tab, "Alpha Co")
        wait_synced(tab, ALPHA_CUSTOMERS)
        customers_csv(world, tab)
    secrets = oauth.secrets_issued() + list(oauth.codes) + [SECRET, GAMMA_LIVE_KEY, BETA_KEY, DELTA_KEY]
    files = [world["log"]] + [p for p in world["data_dir"].rglob("*") if p.is_file()] + \
        [p for p in world["downloads"].rglob("*") if p.is_file()]
    assert any(p.suffix == ".duckdb" and p.parent.name == "connected" for p in files)
    assert any(p.name == "connections.store" for p in files)  # the encrypted store: its bytes too
    cookies = tab.context.cookies()
    assert all(secret not in c["value"] for c in cookies for secret in secrets)
    assert any(p.suffix == ".csv" for p in files)
    for path in files:
        blob = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in blob, f"a key or token leaked into {path.name}"
