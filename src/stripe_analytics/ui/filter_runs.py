"""A filter change runs again only what shows the filters: the page and the sidebar's parts that
carry them (the *Reset filters* button, the *Notes* link), not the whole app.

Why: a whole run sends and redraws the sidebar too (the page list, the account, a dozen filter
pickers, the saved views): on the Account page that was about a third of a click's wait
(`make bench-app`, README *Benchmarks*). Each part that shows the filters is a keyed fragment
(`part`); a filter's callback reruns them with `rerun_parts`. Streamlit ends the callback's own
run at once (it draws nothing), then runs those fragments alone.

A change that alters the sidebar itself (a picker that comes or goes, a picker's options or
labels) is not done this way; nor one made while the account's data moved on (`context`), nor
one without a browser: after a fragment's run, Streamlit's AppTest holds only that fragment's
elements, so tests drive the whole app.

The page being a fragment, a click inside it runs the page alone too, and Streamlit lets a run in
progress end before it (a whole-app rerun stops it). A page whose runs a click must stop (the
SQL console's *Cancel*) is drawn as no part (app.py's `PAGES_RUN_WHOLE`): its filter changes
run the whole app.
"""

from __future__ import annotations

import functools
from typing import Callable, TypeVar

import streamlit as st

PAGE = "page"  # the page's own elements (app.py)
_PARTS = "_filter_parts"  # the parts the last whole run drew, in order

F = TypeVar("F", bound=Callable[..., None])


def start() -> None:
    """At the start of a whole run: no part drawn yet (a page without filters draws none)."""
    st.session_state[_PARTS] = []


def part(key: str) -> Callable[[F], F]:
    """A decorator: the function draws a part that shows the filters, a fragment keyed `key`,
    run again after a filter change."""

    def decorate(func: F) -> F:
        fragment = st.fragment(func, key=key)

        @functools.wraps(func)
        def draw(*args, **kwargs) -> None:
            parts = st.session_state.setdefault(_PARTS, [])
            if key not in parts:
                parts.append(key)
            fragment(*args, **kwargs)

        return draw  # type: ignore[return-value]

    return decorate


def can_rerun_alone() -> bool:
    """Whether a filter change can run the parts alone: the page is among the parts of the last
    whole run, and a browser draws this session (Streamlit's AppTest has none)."""
    return PAGE in (st.session_state.get(_PARTS) or []) and st.context.url is not None


def rerun_parts() -> None:
    """From a filter's callback: end it; the next run draws only the parts."""
    st.rerun(list(st.session_state[_PARTS]))
