"""The session cookie middleware (server_session.py) on a small Starlette app: issued on
pages only, with the right attributes, refused when forged, rotated by a one-time ticket the
issuing browser alone can redeem, and renewed after a sign-in."""

from __future__ import annotations

import os
import time

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from stripe_analytics import server_session
from stripe_analytics.config import load_settings
from stripe_analytics.connection_store import Keys, new_session_id
from stripe_analytics.server_session import COOKIE, ROTATE_PATH, SessionCookieMiddleware


@pytest.fixture
def settings(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith(("STRIPE_", "DATA_DIR", "SECRET_KEY", "SESSION_"))]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STREAMLIT_SECRETS_FILE", str(tmp_path / "none.toml"))
    return load_settings(data_dir=tmp_path, session_idle_days=3)


@pytest.fixture
def client(settings):
    routes = [Route("/", lambda r: HTMLResponse("<html>app</html>")),
              Route("/healthz", lambda r: JSONResponse({"ok": True})),
              Route("/oauth2callback", lambda r: RedirectResponse("/", status_code=302))]
    app = Starlette(routes=routes, middleware=[Middleware(SessionCookieMiddleware, settings=settings)])
    return TestClient(app, follow_redirects=False)


def keys(settings) -> Keys:
    return Keys.of(settings)


def test_a_page_without_a_cookie_gets_a_signed_one(client, settings):
    response = client.get("/")
    header = response.headers["set-cookie"]
    assert header.startswith(f"{COOKIE}=") and "HttpOnly" in header and "SameSite=Lax" in header
    assert "Max-Age=259200" in header and "Path=/" in header and "Secure" not in header
    assert keys(settings).session_id_from_cookie(response.cookies[COOKIE]) is not None


def test_no_cookie_on_other_responses(client):
    assert "set-cookie" not in client.get("/healthz").headers


def test_https_cookies_are_secure(client):
    header = client.get("/", headers={"X-Forwarded-Proto": "https"}).headers["set-cookie"]
    assert "; Secure" in header


def test_a_valid_cookie_is_kept_and_a_forged_one_replaced(client, settings):
    good = keys(settings).sign_session_id(new_session_id())
    kept = client.get("/", headers={"Cookie": f"{COOKIE}={good}"})
    assert kept.cookies[COOKIE] == good
    for forged in (good[:-2] + "xx", new_session_id(), "", Keys(b"x" * 32).sign_session_id(new_session_id())):
        response = client.get("/", headers={"Cookie": f"{COOKIE}={forged}"})
        assert response.cookies[COOKIE] not in (forged, good)


def test_each_visit_renews_the_cookie_so_daily_use_keeps_it(client, settings):
    """The cookie lasts SESSION_IDLE_DAYS (3 here) from the last page load, not from when it was
    first set: an analyst who reloads every day keeps the same id (and so the connection)."""
    good = keys(settings).sign_session_id(new_session_id())
    for _ in range(3):
        header = client.get("/", headers={"Cookie": f"{COOKIE}={good}"}).headers["set-cookie"]
        assert header.startswith(f"{COOKIE}={good};") and "Max-Age=259200" in header and "HttpOnly" in header
    assert "set-cookie" not in client.get("/healthz", headers={"Cookie": f"{COOKIE}={good}"}).headers


def test_a_page_loaded_while_its_id_is_rotated_does_not_set_the_old_id_again(client, settings):
    old = new_session_id()
    old_cookie = keys(settings).sign_session_id(old)
    new, ticket = server_session.issue_rotation(old)
    rotated = client.get(f"{ROTATE_PATH}?ticket={ticket}", headers={"Cookie": f"{COOKIE}={old_cookie}"})
    assert keys(settings).session_id_from_cookie(rotated.cookies[COOKIE]) == new
    late = client.get("/", headers={"Cookie": f"{COOKIE}={old_cookie}"})  # sent before the rotation landed
    assert "set-cookie" not in late.headers


def test_a_sign_in_callback_renews_the_id(client, settings):
    good = keys(settings).sign_session_id(new_session_id())
    response = client.get("/oauth2callback?code=x&state=y", headers={"Cookie": f"{COOKIE}={good}"})
    assert response.status_code == 302 and response.cookies[COOKIE] != good


def test_rotation_tickets_work_once_for_their_browser_only(client, settings):
    old = new_session_id()
    old_cookie = keys(settings).sign_session_id(old)
    new, ticket = server_session.issue_rotation(old)
    stranger = keys(settings).sign_session_id(new_session_id())
    assert client.get(f"{ROTATE_PATH}?ticket={ticket}", headers={"Cookie": f"{COOKIE}={stranger}"}).status_code == 403
    assert client.get(f"{ROTATE_PATH}?ticket={ticket}").status_code == 403  # no cookie at all
    assert client.get(f"{ROTATE_PATH}?ticket=forged", headers={"Cookie": f"{COOKIE}={old_cookie}"}).status_code == 403
    response = client.get(f"{ROTATE_PATH}?ticket={ticket}", headers={"Cookie": f"{COOKIE}={old_cookie}"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/gif"
    assert keys(settings).session_id_from_cookie(response.cookies[COOKIE]) == new
    replay = client.get(f"{ROTATE_PATH}?ticket={ticket}", headers={"Cookie": f"{COOKIE}={old_cookie}"})
    assert replay.status_code == 403 and "set-cookie" not in replay.headers


def test_rotation_tickets_expire():
    old = new_session_id()
    _, ticket = server_session.issue_rotation(old)
    assert server_session.redeem(ticket, old, now=lambda: time.time() + server_session.TICKET_TTL + 1) is None


# ----------------------------------------------------------------------------- routes that need sign-in

@pytest.fixture
def sign_in_required(tmp_path):
    """Streamlit's sign-in configured (an `[auth]` section in its secrets file)."""
    from streamlit import config
    from streamlit.runtime.secrets import secrets_singleton

    secrets = tmp_path / "auth.toml"
    secrets.write_text('[auth]\nredirect_uri = "http://127.0.0.1:8501/oauth2callback"\n'
                       'cookie_secret = "a-cookie-secret-for-the-tests-only"\nclient_id = "analytics"\n'
                       'client_secret = "not-a-real-secret"\n'
                       'server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"\n')
    before = config.get_option("secrets.files")
    config.set_option("secrets.files", [str(secrets)])
    secrets_singleton._reset()
    try:
        assert server_session.sign_in_configured()
        yield
    finally:
        config.set_option("secrets.files", before)
        secrets_singleton._reset()


@pytest.fixture
def base_url_path():
    """The app served under a path prefix (`server.baseUrlPath`, e.g. behind a reverse proxy)."""
    from streamlit import config

    before = config.get_option("server.baseUrlPath")
    config.set_option("server.baseUrlPath", "analytics")
    try:
        yield "/analytics"
    finally:
        config.set_option("server.baseUrlPath", before)


@pytest.fixture
def served_files(settings):
    """Routes standing in for Streamlit's downloads and uploads, and the app's own open ones."""
    def served(request):
        return JSONResponse({"file": request.url.path})

    routes = [Route("/{prefix:path}/media/{name}", served), Route("/media/{name}", served),
              Route("/{prefix:path}/_stcore/upload_file/{a}/{b}", served, methods=["GET", "PUT"]),
              Route("/_stcore/upload_file/{a}/{b}", served, methods=["GET", "PUT"]),
              Route("/healthz", served), Route("/webhooks/stripe", served, methods=["POST"])]
    app = Starlette(routes=routes, middleware=[Middleware(SessionCookieMiddleware, settings=settings)])
    return TestClient(app, follow_redirects=False)


def test_downloads_and_uploads_need_sign_in(served_files, sign_in_required):
    for forged in (None, "forged", "2|1:0|10:1700000000|15:_streamlit_user|8:e30=|abc"):
        headers = {"Cookie": f"_streamlit_user={forged}"} if forged else {}
        for path in ("/media/export.csv", "/_stcore/upload_file/s/f"):
            response = served_files.get(path, headers=headers)
            assert response.status_code == 403 and "Sign in" in response.text, (path, forged)
    assert served_files.get("/healthz").status_code == 200
    assert served_files.post("/webhooks/stripe").status_code == 200


def test_downloads_need_sign_in_under_a_base_url_path_too(served_files, sign_in_required, base_url_path):
    for path in (f"{base_url_path}/media/export.csv", f"{base_url_path}/_stcore/upload_file/s/f"):
        response = served_files.get(path)
        assert response.status_code == 403 and "Sign in" in response.text, path
    assert server_session.app_path(f"{base_url_path}/media/x") == "/media/x"
    assert server_session.app_path("/analyticsmore/media/x") == "/analyticsmore/media/x"


def test_without_sign_in_downloads_stay_open(served_files):
    assert served_files.get("/media/export.csv").status_code == 200
