"""Analysts' dated notes on an account ("price change", "launch in EU").

They live in the account's cache, in a table of their own (`annotations`: created with the
other support tables of a new cache by `cache._migrate`, and by the first note in a cache made
before notes existed), which no sync writes: a sync (full or incremental)
only writes the Stripe objects' tables, and the demo's rebuild carries them into the new file
(`carry_over`). A write changes nothing else: it does not bump the cache's data version, so
the metrics computed from the synced tables stay valid.

Every input is validated (`NoteInput`); a refused input raises NoteError with a plain message
and leaves the table unchanged. Who may write is `access.may_annotate`'s decision, taken by
the caller.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from . import schema
from .plain_input import one_line, problems
from .cache import Cache, CacheError, CacheInUseError, check_existing, open_waiting

TABLE = "annotations"
TEXT_MAX = 200
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
COLUMNS = ["id", "day", "text", "created_at", "created_by", "updated_at"]


class NoteError(Exception):
    """A note could not be written; the message says why in plain words. Nothing was changed."""


class NoteNotFoundError(NoteError):
    """No note with that id (deleted meanwhile, or another account's)."""


class NoteInput(BaseModel):
    """What an analyst writes: the day the note is about and its text (one line)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    day: date
    text: str = Field(min_length=1, max_length=TEXT_MAX)

    @field_validator("day")
    @classmethod
    def _plausible_day(cls, value: date) -> date:
        if not FIRST_DAY <= value <= LAST_DAY:
            raise ValueError(f"must be between {FIRST_DAY} and {LAST_DAY}")
        return value

    @field_validator("text")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return one_line(value)


def parse(day, text) -> NoteInput:
    """A validated note, or NoteError naming what is wrong (`day`, `text`)."""
    try:
        return NoteInput(day=day, text=text if text is not None else "")
    except ValidationError as error:
        said = [f"{'Date' if field == 'day' else 'Note'} {message}"
                for field, message in problems(error, max_lengths={"text": TEXT_MAX})]
        raise NoteError("; ".join(said) + ". Nothing was saved.") from None


def _has_table(con) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                            "AND table_name = ?", [TABLE]).fetchone()[0])


def list_notes(con) -> pd.DataFrame:
    """Every note of the account (COLUMNS), by day then creation; empty for a cache of an older
    schema that has no notes yet."""
    if not _has_table(con):
        return pd.DataFrame(columns=COLUMNS)
    return con.execute(f"SELECT {', '.join(COLUMNS)} FROM {TABLE} ORDER BY day, created_at, id").df()


def add(con, note: NoteInput, author: str | None) -> str:
    """Store a new note; returns its id."""
    note_id = "note_" + secrets.token_hex(8)
    con.execute(f"INSERT INTO {TABLE} (id, day, text, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
                [note_id, note.day, note.text, datetime.now(timezone.utc), author])
    return note_id


def edit(con, note_id: str, note: NoteInput) -> None:
    """Change a note's day and text; NoteNotFoundError when there is no such note."""
    _require(con, note_id)
    con.execute(f"UPDATE {TABLE} SET day = ?, text = ?, updated_at = ? WHERE id = ?",
                [note.day, note.text, datetime.now(timezone.utc), note_id])


def delete(con, note_id: str) -> None:
    """Remove a note; NoteNotFoundError when there is no such note."""
    _require(con, note_id)
    con.execute(f"DELETE FROM {TABLE} WHERE id = ?", [note_id])


def _require(con, note_id: str) -> None:
    if not con.execute(f"SELECT count(*) FROM {TABLE} WHERE id = ?", [note_id]).fetchone()[0]:
        raise NoteNotFoundError(f"There is no note {note_id!r} in this account (it may have been deleted "
                                "meanwhile). Nothing was changed.")


@contextlib.contextmanager
def writing(path: str | Path, *, patience: float = 5.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection on the account's cache for one note write, inside a transaction (all or
    nothing). Waits `patience` seconds while a reader holds the file for a moment; a sync that
    keeps it longer gets a NoteError saying to try again."""
    try:
        cache = open_waiting(path, patience=patience)
    except CacheInUseError:
        raise NoteError("A sync is writing this account's cache right now; try again when it finishes. "
                        "Nothing was changed.") from None
    except CacheError as error:
        raise NoteError(f"{error} Nothing was changed.") from None
    try:
        cache.con.execute(schema.ANNOTATIONS_TABLE_SQL)  # a cache made before notes existed
        cache.con.execute("BEGIN TRANSACTION")
        try:
            yield cache.con
            cache.con.execute("COMMIT")
        except BaseException:
            cache.con.execute("ROLLBACK")
            raise
    finally:
        cache.close()


def carry_over(old_path: str | Path, con) -> int:
    """Copy the notes of the cache at `old_path` (if any) into the cache open on `con` (a
    rebuilt demo, before it replaces the old file); returns how many. The old file is only read."""
    try:
        if check_existing(old_path) is None:
            return 0
        with Cache.open(old_path, read_only=True) as old:
            rows = list_notes(old.con)
    except CacheError:
        return 0  # an old file of another schema or kind has no notes to keep
    if rows.empty:
        return 0
    con.register("_old_notes", rows)
    try:
        con.execute(f"INSERT OR REPLACE INTO {TABLE} ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)} "
                    "FROM _old_notes")
    finally:
        con.unregister("_old_notes")
    return len(rows)
