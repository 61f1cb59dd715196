"""Saved views (saved_views.py): a page and its URL query under a name, in a file of the
account's own beside its cache; rename, delete, clear refusals that change nothing."""

from __future__ import annotations

import json
import os
import stat

import pytest

from stripe_analytics import saved_views
from stripe_analytics.accounts import discover
from stripe_analytics.config import Settings

ACCOUNT = "acct_1Views"


@pytest.fixture
def cache_path(tmp_path):
    path = tmp_path / f"{ACCOUNT}.duckdb"
    path.write_bytes(b"")  # the views never open the cache itself
    return path


def names(cache_path) -> list[str]:
    return [v.name for v in saved_views.list_views(cache_path, ACCOUNT)]


def test_save_list_open_rename_delete(cache_path):
    view = saved_views.parse("  EU, last 6 months ", "mrr", "?currency=eur&from=2026-01-01&segment=plan%3Dpro")
    saved = saved_views.save(cache_path, ACCOUNT, view)
    assert saved.name == "EU, last 6 months" and saved.page == "mrr"
    # the query round-trips whole, filters this version does not know included (e.g. segments)
    assert saved.params == {"currency": "eur", "from": "2026-01-01", "segment": "plan=pro"}
    saved_views.save(cache_path, ACCOUNT, saved_views.parse("a customer", "customer", "id=cus_1&currency=usd"))
    saved_views.save(cache_path, ACCOUNT, saved_views.parse("Overview", "", ""))
    assert names(cache_path) == ["a customer", "EU, last 6 months", "Overview"]
    saved_views.rename(cache_path, ACCOUNT, "eu, LAST 6 months", "Europe")
    assert names(cache_path) == ["a customer", "Europe", "Overview"]
    europe = next(v for v in saved_views.list_views(cache_path, ACCOUNT) if v.name == "Europe")
    assert europe.page == "mrr" and europe.params["segment"] == "plan=pro"
    saved_views.delete(cache_path, ACCOUNT, "Overview")
    assert names(cache_path) == ["a customer", "Europe"]


def test_the_file_sits_beside_the_cache_owner_only_and_is_not_an_account(cache_path, tmp_path):
    saved_views.save(cache_path, ACCOUNT, saved_views.parse("v", "mrr", "currency=eur"))
    path = tmp_path / f"{ACCOUNT}.views.json"
    assert saved_views.views_path(cache_path) == path and path.exists()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text())["account_id"] == ACCOUNT
    found = discover(Settings(data_dir=tmp_path))
    assert [a.id for a in found if not a.demo] == [ACCOUNT]  # one account: the views file is not another


@pytest.mark.parametrize("name, page, query, message", [
    ("", "mrr", "", "The view's name must not be empty"),
    ("   ", "mrr", "", "The view's name must not be empty"),
    ("x" * 61, "mrr", "", "The view's name must be at most 60 characters"),
    ("tab\there", "mrr", "", "The view's name must be one line of text"),
    ("ok", "../etc", "", "The view's page is not a page of the app"),
    ("ok", "mrr", "a=1&&&=", "The view's query is not a URL query string"),
])
def test_bad_input_gets_a_clear_message_and_saves_nothing(cache_path, name, page, query, message):
    with pytest.raises(saved_views.ViewError) as refused:
        saved_views.save(cache_path, ACCOUNT, saved_views.parse(name, page, query))
    assert message in str(refused.value) and "Nothing was saved" in str(refused.value)
    assert not saved_views.views_path(cache_path).exists()


def test_names_are_unique_case_aside_unless_replaced(cache_path):
    saved_views.save(cache_path, ACCOUNT, saved_views.parse("Weekly", "revenue", "granularity=week"))
    with pytest.raises(saved_views.ViewError, match="A view named 'Weekly' already exists"):
        saved_views.save(cache_path, ACCOUNT, saved_views.parse("WEEKLY", "mrr", ""))
    assert [(v.name, v.page) for v in saved_views.list_views(cache_path, ACCOUNT)] == [("Weekly", "revenue")]
    saved_views.save(cache_path, ACCOUNT, saved_views.parse("weekly", "mrr", "currency=eur"), replace=True)
    assert [(v.name, v.page, v.query) for v in saved_views.list_views(cache_path, ACCOUNT)] == [
        ("weekly", "mrr", "currency=eur")]


def test_rename_and_delete_refusals_change_nothing(cache_path):
    saved_views.save(cache_path, ACCOUNT, saved_views.parse("A", "mrr", ""))
    saved_views.save(cache_path, ACCOUNT, saved_views.parse("B", "mrr", ""))
    before = saved_views.views_path(cache_path).read_bytes()
    with pytest.raises(saved_views.ViewError, match="A view named 'B' already exists"):
        saved_views.rename(cache_path, ACCOUNT, "A", "b")
    with pytest.raises(saved_views.ViewError, match="name must not be empty"):
        saved_views.rename(cache_path, ACCOUNT, "A", " ")
    with pytest.raises(saved_views.ViewNotFoundError, match="no saved view named 'C'"):
        saved_views.rename(cache_path, ACCOUNT, "C", "D")
    with pytest.raises(saved_views.ViewNotFoundError):
        saved_views.delete(cache_path, ACCOUNT, "C")
    assert saved_views.views_path(cache_path).read_bytes() == before


def test_another_accounts_file_and_a_foreign_file_are_refused_untouched(cache_path):
    path = saved_views.views_path(cache_path)
    path.write_text(json.dumps({"format": 1, "account_id": "acct_1Other", "views": []}))
    with pytest.raises(saved_views.ViewError, match="holds the saved views of account acct_1Other"):
        saved_views.save(cache_path, ACCOUNT, saved_views.parse("v", "mrr", ""))
    assert json.loads(path.read_text())["account_id"] == "acct_1Other"
    path.write_text("not json")
    with pytest.raises(saved_views.ViewError, match="is not a saved-views file"):
        saved_views.list_views(cache_path, ACCOUNT)
    assert path.read_text() == "not json"
