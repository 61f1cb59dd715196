"""What an open page's once-a-second question (`GET /live/<token>`) answers: the version moves
only when the account's data does, an unknown token learns nothing, and the route serves it."""

from __future__ import annotations

import time

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from stripe_analytics.ui import live_server, live_state
from tests.stripe_builders import add_objects, customer, make_cache


@pytest.fixture
def cache(tmp_path):
    made = make_cache(tmp_path, [customer("cus_1")])
    made.close()
    return tmp_path / "test.duckdb"


def test_the_version_moves_when_data_is_written_and_only_then(cache):
    token = live_state.token_for(cache)
    first = live_state.state(token)
    assert first["version"] is not None and first["busy"] is False
    assert 0 <= first["age"] < 60
    assert live_state.state(token)["version"] == first["version"]  # nothing written: the same answer

    from stripe_analytics.cache import Cache

    writer = Cache.open(cache)
    add_objects(writer, [customer("cus_2")], source="event")
    writer.close()
    assert live_state.state(token)["version"] != first["version"]


def test_a_write_just_after_the_version_was_read_is_seen_by_the_next_question(cache, monkeypatch):
    """The server's webhook applier can write between the moment a question read the version
    and the moment it remembered the file: the next question must still see the write."""
    from stripe_analytics.cache import Cache
    from stripe_analytics.ui import data

    token = live_state.token_for(cache)
    first = live_state.state(token)["version"]
    writer = Cache.open(cache)
    add_objects(writer, [customer("cus_2")], source="event")
    writer.close()

    class WrittenRightAfter(Cache):
        def close(self):
            super().close()
            monkeypatch.setattr(data, "Cache", Cache)  # once
            late = Cache.open(cache)
            add_objects(late, [customer("cus_3")], source="webhook")
            late.close()

    monkeypatch.setattr(data, "Cache", WrittenRightAfter)
    second = live_state.state(token)["version"]  # reads the version, then the write lands
    assert second != first
    third = live_state.state(token)["version"]
    assert third != second  # the late write is not hidden
    assert live_state.state(token)["version"] == third


def test_a_page_keeps_its_token_and_an_unknown_token_learns_nothing(cache):
    token = live_state.token_for(cache)
    assert live_state.token_for(cache, token) == token
    assert len(token) >= 20 and str(cache.parent) not in token and "test" not in token
    assert live_state.state("not-a-token") is None


def test_the_oldest_tokens_are_forgotten_first(cache, monkeypatch):
    monkeypatch.setattr(live_state, "_TOKENS_LIMIT", 2)
    old, kept, new = (live_state.token_for(cache) for _ in range(3))
    assert live_state.state(old) is None
    assert live_state.state(kept) is not None and live_state.state(new) is not None


def test_the_route_answers_json_not_cached_and_404_for_an_unknown_page(cache):
    client = TestClient(Starlette(routes=live_server.ROUTES))
    token = live_state.token_for(cache)
    answer = client.get(f"/live/{token}")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    assert answer.json()["version"] == live_state.state(token)["version"]
    missing = client.get("/live/unknown")
    assert missing.status_code == 404 and "acct" not in missing.text


def test_age_counts_from_the_last_write(cache):
    written = live_state.changed_at(cache)
    assert written is not None and abs(time.time() - written) < 60
    assert live_state.changed_at(cache.parent / "absent.duckdb") is None


def test_the_route_is_served_under_the_base_url_path_too(cache):
    """Under `server.baseUrlPath` (behind a reverse proxy's sub-path) the page asks
    `<base>/live/<token>`; Streamlit mounts only its own routes there."""
    from starlette.middleware import Middleware
    from streamlit import config

    before = config.get_option("server.baseUrlPath")
    config.set_option("server.baseUrlPath", "analytics")
    try:
        client = TestClient(Starlette(routes=live_server.ROUTES, middleware=[Middleware(live_server.UnderBasePath)]))
        token = live_state.token_for(cache)
        answer = client.get(f"/analytics/live/{token}")
        assert answer.status_code == 200 and answer.json()["version"] == live_state.state(token)["version"]
        assert client.get(f"/live/{token}").status_code == 200  # the root keeps working
        assert client.get(f"/analyticsmore/live/{token}").status_code == 404  # only the base path itself
        assert client.get(f"/analytics/other/live/{token}").status_code == 404
    finally:
        config.set_option("server.baseUrlPath", before)
