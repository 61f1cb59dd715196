"""The Overview's first view (ui/first_view.py): the header and KPI tiles the server writes into
the Overview's page are exactly those the app's first run draws, and it is written only where
they are (the Overview's own address, no filter in the URL, the default account, no sign-in),
never cached by the browser, and removed once the app has drawn its tiles."""

from __future__ import annotations

import gzip
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import streamlit
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import FileResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from streamlit.testing.v1 import AppTest

from stripe_analytics.cache import Cache
from stripe_analytics.config import load_settings
from stripe_analytics.connection_store import ConnectionStore, holder_for_browser, new_session_id
from stripe_analytics.server_session import COOKIE, SessionCookieMiddleware
from stripe_analytics.ui import first_view, warmup
from tests.app_support import APP, app_env, data_dir_with_demo, kpi_tiles, parse_tiles
from tests.test_browser import browser, page, server  # noqa: F401 - fixtures
from tests.test_live_server import key_connection
from tests.test_server_session import sign_in_required  # noqa: F401 - fixture
from tests.test_warmup import _clean_caches

# Streamlit's own page, as its server sends it for every address of the app.
INDEX = Path(streamlit.__file__).parent / "static" / "index.html"


@pytest.fixture
def demo_env(tmp_path, monkeypatch):
    """The small demo as the default account, with no setting of the developer's."""
    for name in [n for n in list(os.environ) if n.startswith(("STRIPE_", "SYNC_", "SECRET_KEY", "SESSION_"))]:
        monkeypatch.delenv(name, raising=False)
    data_dir = data_dir_with_demo(tmp_path / "data")
    for name, value in app_env(data_dir, tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    _clean_caches()
    yield data_dir
    _clean_caches()


def view_tiles(html: str):
    return [(t.label, t.value, t.delta, t.help, t.tone, t.sparkline)
            for t in parse_tiles(html, first_view.TILE_TEST_ID)]


def test_the_first_view_shows_the_tiles_the_overview_draws(demo_env):
    view = first_view.markup(load_settings())
    assert view is not None
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception
    drawn = [(t.label, t.value, t.delta, t.help, t.tone, t.sparkline) for t in kpi_tiles(at)]
    assert len(drawn) == 8
    assert view_tiles(view) == drawn
    # the header's lines too: the filters and freshness, and which months are compared
    for caption in at.caption[:2]:
        plain = caption.value.replace("**", "")
        assert plain in view.replace("<strong>", "").replace("</strong>", ""), plain
    assert "Demo data." in view and "<h2>Overview</h2>" in view
    assert 'data-testid="saTile' not in view  # nothing in it passes for the app's own tiles


def test_the_first_view_follows_the_data_at_once(demo_env):
    """Made again when the cache changed (a sync, a webhook), not only each minute."""
    settings = load_settings()
    before = first_view.markup(settings)
    with Cache.open(demo_env / "demo.duckdb") as cache, cache.transaction() as con:
        con.execute("UPDATE subscriptions SET deleted = true WHERE id IN "
                    "(SELECT id FROM subscriptions ORDER BY id LIMIT 40)")
    after = first_view.markup(settings)
    assert view_tiles(after) != view_tiles(before)
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert view_tiles(after) == [(t.label, t.value, t.delta, t.help, t.tone, t.sparkline) for t in kpi_tiles(at)]


def test_each_load_says_how_long_ago_the_data_was_made(demo_env):
    settings = load_settings()
    now = datetime.now(timezone.utc)
    first, later = first_view.markup(settings, now=now), first_view.markup(settings, now=now + timedelta(days=3))
    assert view_tiles(first) == view_tiles(later)
    ages = [re.search(r"generated ([^<]+)</p>", view).group(1) for view in (first, later)]
    assert ages[0] != ages[1] and ages[1].endswith("days ago"), ages


def test_no_first_view_for_an_account_without_data(demo_env, monkeypatch):
    monkeypatch.setenv("STRIPE_API_KEY", "rk_test_configured_but_never_synced_01")
    assert first_view.markup(load_settings()) is None


def test_texts_are_escaped_bold_kept_and_icons_left_out():
    html = first_view.view_html("Overview", ["**March** <b>", ":material/currency_exchange: ECB rates"],
                                [["<div>tile</div>"]], [("info", "**Demo data.** <script>x</script>")])
    assert "<strong>March</strong> &lt;b&gt;" in html
    assert "ECB rates" in html and ":material" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and '<div class="sa-fv-info"><strong>Demo data.</strong>' in html
    page = INDEX.read_bytes()
    assert first_view.with_view(page, html).count(b'<div id="sa-first-view"') == 1
    assert first_view.with_view(b"<html>no root</html>", html) == b"<html>no root</html>"


# ----------------------------------------------------------------------------- the middleware

@pytest.fixture
def client(demo_env):
    """Streamlit's page on every address, behind the app's session cookie and first view, after
    the server's warm-up (which leaves the view's data in the caches, as `serve.py` does)."""
    settings = load_settings()
    warmup.warm()
    app = Starlette(routes=[Route("/{path:path}", lambda request: FileResponse(INDEX))],
                    middleware=[Middleware(SessionCookieMiddleware, settings=settings),
                                Middleware(first_view.FirstViewMiddleware, settings=settings)])
    with TestClient(app) as test_client:
        yield test_client


def has_view(response) -> bool:
    return response.status_code == 200 and b'id="sa-first-view"' in response.content


def test_the_overview_page_carries_the_first_view_and_is_never_cached(client):
    plain = client.get("/", headers={"Accept-Encoding": "identity"})
    assert has_view(plain) and plain.headers["cache-control"] == "no-store"
    assert "etag" not in plain.headers and "last-modified" not in plain.headers
    assert int(plain.headers["content-length"]) == len(plain.content)
    # a browser holding an earlier page gets the page again, with today's view
    again = client.get("/", headers={"If-None-Match": "anything", "Accept-Encoding": "identity"})
    assert again.status_code == 200 and has_view(again)
    zipped = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and has_view(zipped)
    assert parse_tiles(zipped.text, first_view.TILE_TEST_ID) == parse_tiles(plain.text, first_view.TILE_TEST_ID)
    assert len(gzip.compress(plain.content)) < len(plain.content) / 2


def test_other_addresses_filters_and_a_browsers_own_connection_get_the_plain_page(client):
    assert not has_view(client.get("/revenue"))
    assert not has_view(client.get("/?currency=eur"))  # a filter in the URL: not the default view
    assert not has_view(client.post("/"))
    settings = load_settings()
    store = ConnectionStore(settings)
    session_id = new_session_id()
    store.save(holder_for_browser(session_id), key_connection("acct_first_view_01"))
    client.cookies.set(COOKIE, store.keys.sign_session_id(session_id))
    assert not has_view(client.get("/"))
    client.cookies.set(COOKIE, store.keys.sign_session_id(new_session_id()))  # a browser with none
    assert has_view(client.get("/"))


def test_no_first_view_when_sign_in_is_configured(client, sign_in_required):  # noqa: F811
    assert not has_view(client.get("/"))


# ----------------------------------------------------------------------------- in the browser

@pytest.mark.browser
def test_the_first_view_is_on_screen_first_and_gives_way_to_the_same_tiles(server, page):  # noqa: F811
    served = server["url"]
    page.goto(served, wait_until="commit")
    # The view's HTML and its tiles' places read in one go: the app may replace it at any moment.
    html, boxes = page.wait_for_function(
        """(id) => { const view = document.getElementById("sa-first-view");
            if (!view || !view.querySelector(`[data-testid='${id}Value']`)) return null;
            return [view.innerHTML, [...view.querySelectorAll(`[data-testid='${id}']`)]
                .map((t) => t.getBoundingClientRect().x)]; }""",
        arg=first_view.TILE_TEST_ID, polling="raf", timeout=30_000).json_value()
    shown = view_tiles(html)
    page.wait_for_selector("#root [data-testid='saTileValue']", timeout=60_000)
    page.wait_for_selector("#sa-first-view", state="detached", timeout=5_000)
    drawn = [(t.label, t.value, t.delta, t.help, t.tone, t.sparkline)
             for t in parse_tiles(page.inner_html("#root [data-testid='stMain']"))]
    assert len(shown) == 8 and shown == drawn
    # where the app then draws them: the same columns
    app_boxes = page.eval_on_selector_all("#root [data-testid='saTile']",
                                          "tiles => tiles.map(t => t.getBoundingClientRect().x)")
    assert [round(x) for x in boxes] == [round(x) for x in app_boxes]
    # another page of the app has none
    page.goto(f"{served}/revenue")
    page.wait_for_selector("#root [data-testid='saTileValue']", timeout=60_000)
    assert page.locator("#sa-first-view").count() == 0
