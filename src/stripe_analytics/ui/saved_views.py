"""Saved views in the sidebar: open one (its page with its filters), save the view on screen
under a name, rename or delete one. The rules and the file are `stripe_analytics.saved_views`;
who may change them is `access.may_annotate`'s decision."""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from .. import saved_views
from . import filter_runs, filters
from .notes import decision

NEW_NAME_KEY = "sv_new_name"
POPOVERS = ("sv_save_popover", "sv_manage_popover")
_CLOSE = "_sv_close_popovers"


def _current_query() -> str:
    return urlencode(st.query_params.to_dict())


@filter_runs.part("notes_link")  # the link carries the filters
def _notes_link(page) -> None:
    st.page_link(page, label="Notes on this account", icon=":material/sticky_note_2:",
                 query_params=filters.link_params())


def sidebar(ctx, current_page: str, pages: dict) -> None:
    """The sidebar's link to the account's notes, then *Saved views*: a button per view of the
    open account, then *Save* and *Manage*. `pages` maps a page's URL path ("" for the Overview) to its st.Page."""
    account = getattr(ctx, "account", None)
    if account is None or account.path is None or account.pending or ctx.settings is None:
        return
    side = st.sidebar
    if "notes" in pages:
        with side:
            _notes_link(pages["notes"])
    side.markdown("**Saved views**")
    try:
        views = saved_views.list_views(account.path, account.id)
    except saved_views.ViewError as error:
        side.caption(str(error))
        return
    for view in views:
        page = pages.get(view.page)
        if side.button(view.name, key=f"sv_open_{view.name}", type="tertiary", icon=":material/bookmark:",
                       disabled=page is None, help=f"/{view.page}?{view.query}" if view.query else f"/{view.page}"):
            filters.adopt_url()
            st.switch_page(page, query_params=view.params)
    if not views:
        side.caption("None yet: save the page and filters on screen under a name.")
    allowed = decision(ctx)
    if st.session_state.pop(_CLOSE, False):  # the last run saved, renamed or deleted: close the popover
        for key in POPOVERS:
            st.session_state[key] = False
    cols = side.columns(2)
    with cols[0].popover("Save", icon=":material/bookmark_add:", width="stretch", key=POPOVERS[0],
                         on_change="rerun", disabled=not allowed.allowed, help=allowed.reason):
        with st.form("sv_save", clear_on_submit=True, border=False):
            name = st.text_input("Name", max_chars=saved_views.NAME_MAX, key=NEW_NAME_KEY,
                                 placeholder="EU customers, last 6 months")
            replace = st.checkbox("Replace a view of the same name", key="sv_replace")
            if st.form_submit_button("Save", type="primary"):
                try:
                    view = saved_views.parse(name, current_page, _current_query())
                    saved_views.save(account.path, account.id, view, replace=replace)
                except saved_views.ViewError as error:
                    st.error(str(error), icon=":material/error:")
                else:
                    st.toast(f"Saved view “{view.name}”.", icon=":material/check:")
                    _done()
    with cols[1].popover("Manage", icon=":material/edit:", width="stretch", key=POPOVERS[1], on_change="rerun",
                         disabled=not views or not allowed.allowed, help=allowed.reason):
        chosen = st.selectbox("View", [v.name for v in views], key="sv_chosen")
        new_name = st.text_input("New name", max_chars=saved_views.NAME_MAX, key="sv_rename")
        left, right = st.columns(2)
        try:
            if left.button("Rename", key="sv_rename_go", width="stretch") and chosen:
                saved_views.rename(account.path, account.id, chosen, new_name)
                st.toast(f"Renamed to “{new_name.strip()}”.", icon=":material/check:")
                _done()
            if right.button("Delete", key="sv_delete_go", width="stretch", icon=":material/delete:") and chosen:
                saved_views.delete(account.path, account.id, chosen)
                st.toast(f"Deleted “{chosen}”.", icon=":material/check:")
                _done()
        except saved_views.ViewError as error:
            st.error(str(error), icon=":material/error:")


def _done() -> None:
    """After a change: run again with the sidebar's list up to date and the popover closed."""
    st.session_state[_CLOSE] = True
    st.rerun()
