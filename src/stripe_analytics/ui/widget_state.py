"""Widget values the browser must not lose."""

from __future__ import annotations

from typing import Iterable, MutableMapping


def resend(state: MutableMapping, keys: Iterable[str]) -> None:
    """Have this run send each of these widgets' values (from `st.session_state`) to the browser,
    not only the runs that change them. The browser loads each kind of widget's code on its first
    use in a page; a widget still loading when a later run arrives is otherwise drawn at its first
    option and sends that back with the next run (the analyst's filters silently became "All
    currencies" by "Day"). Call before the widgets are drawn."""
    for key in keys:
        if key in state:
            state[key] = state[key]
