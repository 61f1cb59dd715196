"""The account's notes in the app: read for every time chart (`for_charts`), listed, added,
edited and deleted on the Notes page (`editor`). Who may change them is
`access.may_annotate`'s decision; the rules of a note are `stripe_analytics.notes`."""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path

import logging

import pandas as pd
import streamlit as st

from .. import access, notes
from ..cache import CacheError
from . import data, signin

_log = logging.getLogger(__name__)
_LAST_STAMP: dict[str, tuple] = {}  # cache file -> the stamp of the last notes read from it


@st.cache_data(show_spinner=False, max_entries=32)
def _read(key: data.CacheKey, stamp: tuple) -> pd.DataFrame:
    """The notes of one state of the file (`stamp`: its size and times change with every write,
    also a note's, which leaves the data version and so the cached metrics alone)."""
    return data._read(key, notes.list_notes)


def account_notes(ctx) -> pd.DataFrame:
    """The open account's notes (empty when it has no readable cache). Raises CacheError when
    the cache cannot be read now (a sync holds it and this state was never read)."""
    state = _state(ctx)
    return pd.DataFrame(columns=notes.COLUMNS) if state is None else notes_of(*state)


def _state(ctx) -> tuple[data.CacheKey, tuple] | None:
    """(key, stamp) of the open account's notes to show; None without a readable cache."""
    key = getattr(ctx, "key", None)
    if key is None or getattr(ctx, "error", None):
        return None
    # While a sync writes the file, its stamp changes with every batch: the notes are those of
    # the last state read (a sync never changes them).
    stamp = _LAST_STAMP.get(key.path) if getattr(ctx, "busy", False) else None
    return key, stamp or data._signature(Path(key.path))


def notes_of(key: data.CacheKey, stamp: tuple | None = None) -> pd.DataFrame:
    """The notes of a cache file in the state `stamp` (the file as it is now when None); that
    state is the one read while a sync holds the file. The server's warm-up reads them too."""
    if stamp is None:
        stamp = data._signature(Path(key.path))
    frame = _read(key, stamp)
    _LAST_STAMP[key.path] = stamp
    return frame


def for_charts() -> list[tuple[date, str]]:
    """(day, text) of the open account's notes, for the markers of every time chart. While a
    sync holds a cache whose notes were never read, the charts are drawn without them (logged)."""
    from .context import AppContext

    ctx = st.session_state.get("_ctx")
    if not isinstance(ctx, AppContext):
        return []
    try:
        state = _state(ctx)
        return [] if state is None else list(_marks(*state))
    except (CacheError, OSError) as error:
        _log.warning("the charts are drawn without the notes: %s", error)
        return []


@functools.lru_cache(maxsize=16)
def _marks(key: data.CacheKey, stamp: tuple) -> tuple[tuple[date, str], ...]:
    """The notes of one state of the file as chart markers, made once for all of a page's charts
    (each would otherwise hash its key and copy the notes out of Streamlit's cache)."""
    frame = notes_of(key, stamp)
    return tuple((pd.Timestamp(d).date(), str(t)) for d, t in zip(frame["day"], frame["text"]))


def decision(ctx) -> access.Decision:
    who = getattr(ctx, "principal", None) or signin.principal_or_anonymous()
    return access.may_annotate(who, ctx.settings, signin.exposure())


def _write(ctx, action, *args) -> bool:
    """Run one write (`notes.add` / `edit` / `delete` with `args`); shows the plain reason of a
    refusal and returns False (nothing changed)."""
    allowed = decision(ctx)
    if not allowed.allowed:
        st.error(allowed.reason, icon=":material/block:")
        return False
    try:
        with notes.writing(ctx.account.path) as con:
            action(con, *args)
    except notes.NoteError as error:
        st.error(str(error), icon=":material/error:")
        return False
    return True


def editor(ctx) -> None:
    """The Notes page's body: add a note, then every note with Edit and Delete."""
    try:
        frame = account_notes(ctx)
    except (CacheError, OSError) as error:
        st.info(f"The notes cannot be read right now: {error}", icon=":material/sync:")
        return
    allowed = decision(ctx)
    if not allowed.allowed:
        st.info(allowed.reason, icon=":material/lock:")
    who = getattr(ctx, "principal", None)
    with st.form("note_add", clear_on_submit=True, border=True):
        st.markdown("**Add a note**")
        left, right = st.columns([1, 3])
        day = left.date_input("Date", value=ctx.today, min_value=notes.FIRST_DAY, max_value=notes.LAST_DAY,
                              format="YYYY-MM-DD", key="note_add_day")
        text = right.text_input("Note", placeholder="Price change, launch in EU, …", max_chars=notes.TEXT_MAX,
                                key="note_add_text")
        if st.form_submit_button("Add note", type="primary", disabled=not allowed.allowed):
            try:
                note = notes.parse(day, text)
            except notes.NoteError as error:
                st.error(str(error), icon=":material/error:")
            else:
                if _write(ctx, notes.add, note, who.email if who else None):
                    st.toast("Note added.", icon=":material/check:")
                    st.rerun()
    if frame.empty:
        st.caption("No notes yet. A note shows as a dotted marker on every time chart of this account, and in "
                   "the charts' data downloads.")
        return
    st.markdown(f"**{len(frame)} note{'s' if len(frame) != 1 else ''}**")
    for row in frame.sort_values(["day", "created_at"], ascending=False).itertuples():
        with st.container(border=True, key=f"note_{row.id}"):
            cols = st.columns([1, 4, 1, 1], vertical_alignment="center")
            cols[0].markdown(f"**{pd.Timestamp(row.day):%d %b %Y}**")
            cols[1].markdown(row.text)
            editing = cols[2].toggle("Edit", key=f"note_edit_{row.id}", disabled=not allowed.allowed)
            if cols[3].button("Delete", key=f"note_delete_{row.id}", type="tertiary", icon=":material/delete:",
                              disabled=not allowed.allowed):
                if _write(ctx, notes.delete, row.id):
                    st.toast("Note deleted.", icon=":material/check:")
                    st.rerun()
            if editing:
                with st.form(f"note_form_{row.id}", border=False):
                    left, right = st.columns([1, 3])
                    new_day = left.date_input("Date", value=pd.Timestamp(row.day).date(), min_value=notes.FIRST_DAY,
                                              max_value=notes.LAST_DAY, format="YYYY-MM-DD")
                    new_text = right.text_input("Note", value=row.text, max_chars=notes.TEXT_MAX)
                    if st.form_submit_button("Save changes", type="primary"):
                        try:
                            note = notes.parse(new_day, new_text)
                        except notes.NoteError as error:
                            st.error(str(error), icon=":material/error:")
                        else:
                            if _write(ctx, notes.edit, row.id, note):
                                st.session_state.pop(f"note_edit_{row.id}", None)
                                st.toast("Note saved.", icon=":material/check:")
                                st.rerun()
            if row.created_by:
                st.caption(f"by {row.created_by}")
