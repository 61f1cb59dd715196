"""Analysts' notes (notes.py): validated, stored in their own table of the cache, edited and
deleted, kept across full and incremental syncs and across the demo's rebuild."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date

import pytest

from stripe_analytics import notes
from stripe_analytics.cache import Cache
from stripe_analytics.config import Settings
from stripe_analytics.demo_cache import build_demo_cache
from stripe_analytics.sync import sync_account
from tests.fake_stripe import FakeStripe
from tests.stripe_builders import customer, make_cache
from tests.sync_accounts import build_account

KEY = "sk_test_notes_tests_key_0001"


def _notes(path) -> list[tuple[date, str]]:
    with Cache.open(path, read_only=True) as cache:
        frame = notes.list_notes(cache.con)
    return [(d.date() if hasattr(d, "date") else d, t) for d, t in zip(frame["day"], frame["text"])]


@pytest.fixture
def cache_path(tmp_path):
    cache = make_cache(tmp_path, [customer("cus_1")], name="acct_1Notes.duckdb", account_id="acct_1Notes")
    cache.close()
    return tmp_path / "acct_1Notes.duckdb"


def test_add_edit_delete(cache_path):
    with notes.writing(cache_path) as con:
        first = notes.add(con, notes.parse(date(2024, 3, 1), "  Price change  "), "ana@example.com")
        notes.add(con, notes.parse("2024-01-15", "Launch in EU"), None)
    assert _notes(cache_path) == [(date(2024, 1, 15), "Launch in EU"), (date(2024, 3, 1), "Price change")]
    with notes.writing(cache_path) as con:
        notes.edit(con, first, notes.parse("2024-03-02", "Price change (Pro +10 %)"))
    assert _notes(cache_path)[1] == (date(2024, 3, 2), "Price change (Pro +10 %)")
    with Cache.open(cache_path, read_only=True) as cache:
        row = notes.list_notes(cache.con).set_index("id").loc[first]
    assert row["created_by"] == "ana@example.com" and row["updated_at"] is not None
    with notes.writing(cache_path) as con:
        notes.delete(con, first)
    assert _notes(cache_path) == [(date(2024, 1, 15), "Launch in EU")]


@pytest.mark.parametrize("day, text, message", [
    ("2024-02-30", "x", "Date must be a date (YYYY-MM-DD)"),
    ("1999-12-31", "x", "Date must be between 2000-01-01 and 2099-12-31"),
    ("2024-01-01", "   ", "Note must not be empty"),
    ("2024-01-01", "x" * 201, "Note must be at most 200 characters"),
    ("2024-01-01", "two\nlines", "Note must be one line of text"),
    (None, None, "Date"),
])
def test_bad_input_gets_a_clear_message_and_changes_nothing(cache_path, day, text, message):
    with pytest.raises(notes.NoteError) as refused:
        notes.parse(day, text)
    assert message in str(refused.value) and "Nothing was saved" in str(refused.value)
    assert _notes(cache_path) == []


def test_editing_or_deleting_a_missing_note_says_so_and_changes_nothing(cache_path):
    with notes.writing(cache_path) as con:
        notes.add(con, notes.parse("2024-01-15", "Launch"), None)
    for change in (lambda con: notes.edit(con, "note_gone", notes.parse("2024-01-01", "x")),
                   lambda con: notes.delete(con, "note_gone")):
        with pytest.raises(notes.NoteNotFoundError, match="no note 'note_gone'"):
            with notes.writing(cache_path) as con:
                change(con)
    assert _notes(cache_path) == [(date(2024, 1, 15), "Launch")]


def test_a_failed_write_leaves_the_table_as_it_was(cache_path):
    with notes.writing(cache_path) as con:
        notes.add(con, notes.parse("2024-01-15", "Kept"), None)
    with pytest.raises(RuntimeError):
        with notes.writing(cache_path) as con:
            notes.add(con, notes.parse("2024-02-01", "Half-way"), None)
            raise RuntimeError("the process failed after the insert")
    assert _notes(cache_path) == [(date(2024, 1, 15), "Kept")]


def test_a_note_write_leaves_the_data_version_alone(cache_path):
    """The metrics cached for a data version stay valid: notes are not the synced data."""
    with Cache.open(cache_path, read_only=True) as cache:
        before = cache.data_version
    with notes.writing(cache_path) as con:
        notes.add(con, notes.parse("2024-01-15", "Launch"), None)
    with Cache.open(cache_path, read_only=True) as cache:
        assert cache.data_version == before


def test_a_cache_made_before_notes_gets_the_table_with_its_first_note(cache_path):
    with Cache.open(cache_path) as cache:
        cache.con.execute("DROP TABLE annotations")
    assert _notes(cache_path) == []  # read as no notes, not an error
    with notes.writing(cache_path) as con:
        notes.add(con, notes.parse("2024-01-15", "Launch"), None)
    assert _notes(cache_path) == [(date(2024, 1, 15), "Launch")]


def test_a_sync_holding_the_cache_refuses_the_write_plainly(cache_path):
    """Another process (a sync) holds the file for writing: the note is refused with a plain
    message once the patience runs out, and nothing is written."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time, duckdb; con = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(30)"),
        str(cache_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(notes.NoteError, match="A sync is writing this account's cache right now"):
            with notes.writing(cache_path, patience=0.5) as con:
                notes.add(con, notes.parse("2024-01-15", "Launch"), None)
    finally:
        holder.kill()
        holder.wait()
    assert _notes(cache_path) == []


def test_notes_survive_full_and_incremental_syncs(tmp_path):
    acct, objects = build_account(int(time.time()))
    with FakeStripe() as fake:
        fake.add_account(acct, key=KEY)
        fake.add_many(objects)
        settings = Settings(stripe_api_key=KEY, stripe_api_base=fake.url, data_dir=tmp_path,
                            stripe_max_requests_per_second=1000, sync_concurrency=4)
        report = sync_account(settings)
        with notes.writing(report.db_path) as con:
            notes.add(con, notes.parse("2024-05-01", "Price change"), None)
        assert sync_account(settings).kind == "incremental"
        assert sync_account(settings, full=True).kind == "full"
    assert _notes(report.db_path) == [(date(2024, 5, 1), "Price change")]


def test_notes_survive_the_demo_rebuild(tmp_path):
    path = tmp_path / "demo.duckdb"
    build_demo_cache(path, seed=1, customers=20)
    with notes.writing(path) as con:
        notes.add(con, notes.parse("2025-06-01", "Launch in EU"), "ana@example.com")
    build_demo_cache(path, seed=2, customers=25)  # a rebuild writes a new file and renames it into place
    assert _notes(path) == [(date(2025, 6, 1), "Launch in EU")]
    with Cache.open(path, read_only=True) as cache:
        assert cache.con.execute("SELECT count(*) FROM customers").fetchone()[0] == 25
