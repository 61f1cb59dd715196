"""A visit's first run puts the KPI tiles on screen before the charts.

On a visit's first run (a new tab, a reload) the browser loads the code of each kind of element
when the element first arrives, and it shows the elements of a run only once the code of all of
them is ready: the tiles, which are the page's answer, waited for the charts' code (Vega,
Plotly) and their drawing. So that run holds the charts back, each as a space of its height,
and ends with a small element that, once the browser has painted the run, starts the next run
(of the page alone: the element is in the page's fragment, `filter_runs`), which draws the
charts. Later runs draw everything at once (their code is loaded by then)."""

from __future__ import annotations

import functools

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

_SHOWN = "_first_paint_done"  # this visit has drawn its charts (or the run that will is asked for)
_HELD = "_first_paint_held"  # this run held a chart back


def charts_now() -> bool:
    """Whether this run draws its charts; False on a visit's first run that has any (the run then
    draws a space instead, and `SecondRun` asks for the run that draws them). A run with no
    browser to paint it (Streamlit's AppTest) draws them at once."""
    state = st.session_state
    if state.get(_SHOWN) or st.context.url is None:
        return True
    state[_HELD] = True
    return False


HOLD_KEY = "first_paint_hold"  # a held chart's space carries the CSS class st-key-first_paint_hold_<chart key>
HELD_SELECTOR = f"[class*='st-key-{HOLD_KEY}_']"  # the page's held charts, for a browser that waits for them


def hold(height: int, key: str) -> None:
    """The space of a chart held back, so that the page does not move when the chart comes."""
    st.container(height=height, border=False, key=f"{HOLD_KEY}_{key}")


class SecondRun:
    """Around a run of the page: when the run held charts back, it ends with the element that
    starts the next run once the browser has painted this one (a page ended by `st.stop()`
    too). A switch to another page, or a rerun the page asked for, goes on: that run draws
    its charts."""

    def __enter__(self) -> "SecondRun":
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        state = st.session_state
        if state.pop(_HELD, False):
            state[_SHOWN] = True
            if kind is None or issubclass(kind, StopException):
                _painted()(key="first_paint", on_painted_change=lambda: None)
        return False


# Two frames after the element is shown, the run it belongs to has been painted.
_PAINTED_JS = """
export default function ({ setTriggerValue }) {
  requestAnimationFrame(() => setTimeout(() => setTriggerValue("painted", true), 0));
}
"""


@functools.cache
def _painted():
    return st.components.v2.component("stripe_analytics.first_paint", html="<span hidden></span>", js=_PAINTED_JS)
