"""Who may see and change what, end to end in headless Debian Chromium (Playwright) against
`streamlit run serve.py` (as `make run`), FakeStripe as Stripe and, for sign-in, a local
OpenID provider (`tests/oidc_server.py`: discovery, JWKS, authorization code flow).

- Connections last: a restricted key connected in one tab survives a reload and a second
  tab of the same browser; another browser does not see it; an altered cookie or the id a
  browser had before connecting gets nothing; Disconnect deletes the stored key.
- A shared address without sign-in: the console and every page warn, and the forms refuse
  to write with the configured STRIPE_API_KEY.
- Sign-in (`st.login`): nobody sees a page before signing in; an unlisted address, a domain
  not allowed, a token without e-mail, an unverified e-mail and an expired sign-in are
  refused in plain words; viewers see the forms disabled, editors can use them; downloads
  are refused to anyone not signed in; the connection belongs to the signed-in user in any
  browser; sign out.
- A final scan: no key or token in the logs, caches, cookies or the store file's bytes."""

from __future__ import annotations

import json
import time

import pytest

from stripe_analytics.config import Settings
from stripe_analytics.connection_store import STORE_FILE, ConnectionStore
from stripe_analytics.sync import sync_account
from tests.app_support import ARTIFACTS, app_env, data_dir_with_demo, require_chromium, serve_app
from tests.fake_stripe import FakeStripe
from tests.oidc_server import OIDCTestServer
from tests.sync_accounts import build_account
from tests.test_connect_browser import browser  # noqa: F401 - the module's Chromium (on this module's world)
from tests.app_support import main_text, wait_for_text
from tests.test_connect_browser import connected, disconnect, download_csv, go, settle, submit_key

pytestmark = pytest.mark.browser

KEY = "rk_test_sessions_read_write_01"  # a user's restricted key, connected on the Connect page
CONFIGURED = "sk_test_sessions_operator_01"  # the operator's STRIPE_API_KEY
TEAM = "team.example"
EDITOR, VIEWER, GUEST, OUTSIDER = "ed@team.example", "vic@team.example", "guest@other.example", "eve@evil.example"
CUSTOMERS = 4


def _account(account_id: str, name: str, seed: int) -> tuple[dict, list[dict]]:
    account, objects = build_account(int(time.time()), customers=CUSTOMERS, seed=seed)
    return {**account, "id": account_id, "business_profile": {"name": name}}, objects


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    require_chromium()
    work = tmp_path_factory.mktemp("sessions")
    with FakeStripe() as fake, OIDCTestServer() as idp:
        user_account, objects = _account("acct_sessions_user", "Session Co", 11)
        fake.add_account(user_account)
        fake.add_many(objects, account=user_account["id"])
        fake.add_key(KEY, user_account["id"])
        operator, objects = _account("acct_sessions_operator", "Operator Ltd", 12)
        fake.add_account(operator, key=CONFIGURED)
        fake.add_many(objects, account=operator["id"])
        for email in (EDITOR, VIEWER, GUEST, OUTSIDER):
            idp.add_user(email)
        idp.add_user("nomail@team.example", email=None)
        idp.add_user("unverified@team.example", email_verified=False)
        idp.add_user("old@team.example", iat=int(time.time()) - 20 * 86400)
        yield {"work": work, "fake": fake, "idp": idp, "operator": operator["id"], "logs": [], "data_dirs": []}


def _synced_data_dir(world, name: str):
    data_dir = data_dir_with_demo(world["work"] / name)
    sync_account(Settings(stripe_api_key=CONFIGURED, stripe_api_base=world["fake"].url, data_dir=data_dir))
    world["data_dirs"].append(data_dir)
    return data_dir


def new_context(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(90_000)
    return context


def session_cookie(context) -> dict:
    return next(c for c in context.cookies() if c["name"] == "sa_session")


# ----------------------------------------------------------------------------- connections that last

@pytest.fixture(scope="module")
def plain(world):
    """The app on loopback, no sign-in, no configured key."""
    data_dir = data_dir_with_demo(world["work"] / "plain")
    world["data_dirs"].append(data_dir)
    log = world["work"] / "plain.log"
    world["logs"].append(log)
    env = app_env(data_dir, world["work"], STRIPE_API_BASE=world["fake"].url)
    with serve_app(env, log) as url:
        yield {"url": url, "data_dir": data_dir, "log": log}


def test_a_connection_survives_reloads_and_new_tabs_but_not_other_browsers(plain, browser):
    context = new_context(browser)
    try:
        tab = context.new_page()
        go(tab, plain["url"], "connect")
        before = session_cookie(context)
        assert before["httpOnly"] and before["sameSite"] == "Lax" and not before["secure"]
        assert before["expires"] > time.time() + 13 * 86400  # SESSION_IDLE_DAYS (14) unused
        submit_key(tab, KEY)
        wait_for_text(tab, rf"Synced: {CUSTOMERS} customers")
        after = session_cookie(context)
        assert after["value"] != before["value"], "connecting must issue a new session id"

        tab.reload()
        tab.wait_for_selector("[data-testid='stApp']")
        settle(tab)
        assert connected(tab) and "Session Co" in main_text(tab)
        second = context.new_page()
        go(second, plain["url"], "connect")
        assert connected(second) and "Session Co" in main_text(second)

        # Another browser, with nothing, with an altered cookie, or with the id this browser
        # had before it connected: not connected, and handed a fresh cookie of its own.
        for cookie in (None, {**after, "value": after["value"][:-2] + ("AA" if after["value"][-2:] != "AA" else "BB")},
                       {**after, "value": after["value"].split(".")[0] + ".forged"}, before):
            other = new_context(browser)
            try:
                if cookie is not None:
                    other.add_cookies([{k: cookie[k] for k in ("name", "value", "domain", "path")}])
                page = other.new_page()
                go(page, plain["url"], "connect")
                assert not connected(page) and "Use a restricted key" in main_text(page)
                assert session_cookie(other)["value"] != after["value"]
            finally:
                other.close()

        # Disconnect deletes the stored key: the store no longer decrypts to it.
        store = ConnectionStore(Settings(data_dir=plain["data_dir"]))
        raw = (plain["data_dir"] / STORE_FILE).read_text()
        assert KEY not in raw and any(KEY in store._decrypt(t)["connection"].get("key", "")
                                      for t in json.loads(raw)["entries"].values())
        disconnect(tab)
        assert not connected(tab)
        entries = json.loads((plain["data_dir"] / STORE_FILE).read_text())["entries"]
        assert all(KEY not in json.dumps(store._decrypt(t)) for t in entries.values())
        tab.reload()
        tab.wait_for_selector("[data-testid='stApp']")
        settle(tab)
        assert not connected(tab)
    finally:
        context.close()


def test_under_a_base_url_path_the_new_id_still_reaches_the_browser(world, browser):
    """Served under a path prefix (`server.baseUrlPath`, as behind a reverse proxy's sub-path):
    the one-time rotation after connecting is asked for under that prefix (a proxy forwards
    nothing else to the app), so a reload keeps the connection."""
    data_dir = data_dir_with_demo(world["work"] / "based")
    world["data_dirs"].append(data_dir)
    log = world["work"] / "based.log"
    world["logs"].append(log)
    env = app_env(data_dir, world["work"], STRIPE_API_BASE=world["fake"].url)
    with serve_app(env, log, base_path="analytics") as url:
        assert url.endswith("/analytics")
        context = new_context(browser)
        try:
            tab = context.new_page()
            rotations = []
            tab.on("request", lambda request: rotations.append(request.url) if "/_sa/session" in request.url else None)
            go(tab, url, "connect")
            before = session_cookie(context)
            submit_key(tab, KEY)
            wait_for_text(tab, rf"Synced: {CUSTOMERS} customers")
            assert rotations and all(r.startswith(f"{url}/_sa/session?ticket=") for r in rotations), rotations
            assert session_cookie(context)["value"] != before["value"]
            tab.reload()
            tab.wait_for_selector("[data-testid='stApp']")
            settle(tab)
            assert connected(tab) and "Session Co" in main_text(tab)
            disconnect(tab)
        finally:
            context.close()


# ----------------------------------------------------------------------------- a shared address, no sign-in

def test_a_shared_address_without_sign_in_warns_and_refuses_configured_writes(world, browser):
    data_dir = _synced_data_dir(world, "exposed")
    log = world["work"] / "exposed.log"
    world["logs"].append(log)
    env = app_env(data_dir, world["work"], STRIPE_API_KEY=CONFIGURED, STRIPE_API_BASE=world["fake"].url)
    with serve_app(env, log, address="0.0.0.0") as url:
        context = new_context(browser)
        try:
            tab = context.new_page()
            go(tab, url)
            tab.get_by_role("link", name="Customers").click()
            settle(tab)
            text = main_text(tab)
            assert "listens on 0.0.0.0 without sign-in" in text
            assert tab.get_by_role("button", name="New customer").is_disabled()
            ARTIFACTS.mkdir(exist_ok=True)
            tab.screenshot(path=str(ARTIFACTS / "sessions_shared_without_sign_in.png"), full_page=True)
        finally:
            context.close()
    assert "WARNING: This app listens on 0.0.0.0 without sign-in" in log.read_text()


def test_loopback_is_the_default_listening_address():
    import tomllib

    from tests.app_support import ROOT

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"


# ----------------------------------------------------------------------------- sign-in

@pytest.fixture(scope="module")
def signed(world):
    """The app on every interface with sign-in: team.example may sign in (and one guest),
    ed@ is an editor, the others viewers; STRIPE_API_KEY is configured."""
    from tests.app_support import free_port

    data_dir = _synced_data_dir(world, "signed")
    log = world["work"] / "signed.log"
    world["logs"].append(log)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    secrets_file = world["work"] / "auth-secrets.toml"
    auth = world["idp"].auth_section(url)
    secrets_file.write_text("[auth]\n" + "".join(f'{k} = "{v}"\n' for k, v in auth.items()))
    env = app_env(data_dir, world["work"], STRIPE_API_KEY=CONFIGURED, STRIPE_API_BASE=world["fake"].url,
                  ALLOWED_DOMAINS=TEAM, ALLOWED_USERS=GUEST, EDITORS=EDITOR)
    with serve_app(env, log, port=port, address="0.0.0.0", secrets_files=[secrets_file]) as served:
        yield {"url": served, "data_dir": data_dir, "log": log}


def sign_in(browser, url: str, email: str):
    context = new_context(browser)
    tab = context.new_page()
    go(tab, url)
    assert "Sign in to see this app" in main_text(tab)
    assert tab.locator("[data-testid='stSidebarNav']").count() == 0 or "Customers" not in main_text(tab)
    before = session_cookie(context)["value"]
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_selector("#email")
    tab.fill("#email", email)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_selector("[data-testid='stApp']")
    settle(tab)
    assert session_cookie(context)["value"] != before, "signing in must issue a new session id"
    return context, tab


def test_nobody_sees_a_page_before_signing_in(signed, browser):
    context = new_context(browser)
    try:
        tab = context.new_page()
        for path in ("", "customers", "connect", "explore"):
            go(tab, signed["url"], path)
            text = main_text(tab)
            assert "Sign in to see this app" in text and "Operator Ltd" not in text and "MRR" not in text
    finally:
        context.close()


@pytest.mark.parametrize("email, words", [
    (OUTSIDER, "eve@evil.example may not use this app"),
    ("nomail@team.example", "did not include an e-mail address"),
    ("unverified@team.example", "has not verified unverified@team.example"),
    ("old@team.example", "has expired: sign in again"),
])
def test_refused_identities_see_only_why(signed, browser, email, words):
    context, tab = sign_in(browser, signed["url"], email)
    try:
        text = main_text(tab)
        assert words in text, text
        assert tab.get_by_role("link", name="Customers").count() == 0
        go(tab, signed["url"], "customers")
        assert words in main_text(tab)
    finally:
        context.close()


def test_viewers_read_editors_write_and_connections_follow_the_user(signed, browser):
    viewer, vtab = sign_in(browser, signed["url"], VIEWER)
    editor, etab = sign_in(browser, signed["url"], EDITOR)
    guest, gtab = sign_in(browser, signed["url"], GUEST)
    try:
        for tab, role in ((vtab, "viewer"), (etab, "editor"), (gtab, "viewer")):
            assert f"· {role}" in tab.locator("[data-testid='stSidebar']").inner_text()
            assert "without sign-in" not in main_text(tab)
            tab.get_by_role("link", name="Customers").click()
            settle(tab)
            button = tab.get_by_role("button", name="New customer")
            assert button.is_disabled() == (role == "viewer"), role
            if role == "viewer":  # the reason, on the disabled button's help
                tab.get_by_test_id("stTooltipHoverTarget").filter(has=button).hover()
                tip = tab.get_by_test_id("stTooltipContent")
                tip.wait_for()
                assert "signed in as a viewer" in tip.inner_text() and "EDITORS" in tip.inner_text()
            go(tab, signed["url"], "data")
            assert tab.get_by_role("button", name="Sync now").is_disabled() == (role == "viewer"), role
        ARTIFACTS.mkdir(exist_ok=True)
        vtab.screenshot(path=str(ARTIFACTS / "sessions_viewer_forms_disabled.png"), full_page=True)

        # A download (Streamlit's /media/ route) is for signed-in, allowed users only.
        media = download_csv(etab).url
        etab.keyboard.press("Escape")
        # The signed-in editor passes the gate (Streamlit may already have dropped the file after a
        # rerun: 404 then); a browser that is not signed in is stopped by it.
        assert "/media/" in media and etab.context.request.get(media).status in (200, 404)
        stranger = new_context(browser)
        try:
            refused = stranger.request.get(media)
            assert refused.status == 403 and "Sign in" in refused.text()
        finally:
            stranger.close()

        # The editor connects a key in one browser; signed in elsewhere, the connection follows them.
        go(etab, signed["url"], "connect")
        submit_key(etab, KEY)
        wait_for_text(etab, rf"Synced: {CUSTOMERS} customers")
        assert f"kept for you ({EDITOR})" in main_text(etab)
        elsewhere, other_tab = sign_in(browser, signed["url"], EDITOR)
        try:
            go(other_tab, signed["url"], "connect")
            assert connected(other_tab) and "Session Co" in main_text(other_tab)
        finally:
            elsewhere.close()
        go(vtab, signed["url"], "connect")
        assert not connected(vtab)
        disconnect(etab)

        # Sign out: back to the sign-in screen, and the pages are closed again.
        etab.get_by_role("button", name="Sign out").click()
        etab.wait_for_selector("[data-testid='stApp']")
        settle(etab)
        assert "Sign in to see this app" in main_text(etab)
    finally:
        for context in (viewer, editor, guest):
            context.close()


# ----------------------------------------------------------------------------- leaks

def test_no_key_or_token_in_logs_caches_cookies_or_the_store(world, plain, browser):
    """Runs last: every file the servers wrote (logs, caches, the store) holds no key, token
    or ID token in plain text."""
    secrets = [KEY, CONFIGURED, world["idp"].client_secret] + world["idp"].id_tokens
    files = [p for p in world["logs"] if p.exists()]
    for data_dir in world["data_dirs"]:
        files += [p for p in data_dir.rglob("*") if p.is_file() and p.name != ".secret_key"]
    assert any(p.name == STORE_FILE for p in files)
    for path in files:
        blob = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in blob, f"a key or token leaked into {path.name}"
