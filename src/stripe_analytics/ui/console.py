"""The SQL console's run: the query runs in its own process (`sql_console.SqlConsole`) while the
page shows how long it has been running and a Cancel button.

Why a thread and a loop: Streamlit can only act on a click while the script talks to the
browser. The script waits for the query in short steps, updating the elapsed time each step;
a click on Cancel (or any other widget) makes Streamlit stop the script at that update
(StopException, while a new run starts), and the `finally` below stops the query's process, so
a long query never keeps running unseen. The new run learns of the cancellation through a plain
dict in the session (`_outbox`).
"""

from __future__ import annotations

import threading
import time

import streamlit as st

from ..sql_console import ConsoleResult, SqlConsole

CANCELLED_KEY = "_sql_cancelled"
_TICK = 0.1  # seconds between updates of the elapsed time
_STOP_WAIT = 6.0  # at most this long for an interrupted run to stop its query


def run_query(console: SqlConsole, sql: str) -> ConsoleResult:
    """The query's result, showing "Running… 3.2 s" and a Cancel button meanwhile. When the
    run is interrupted (Cancel, or any other interaction), the query is stopped and
    `cancelled_result()` returns what to show on the next run."""
    cancel = threading.Event()
    outcome: dict[str, ConsoleResult] = {}
    worker = threading.Thread(target=lambda: outcome.setdefault("result", console.run(sql, cancel=cancel)),
                              name="sql-console-query", daemon=True)
    started = time.perf_counter()
    outbox = _outbox()
    outbox.pop("cancelled", None)
    finished = outbox["finished"] = threading.Event()
    slot = st.empty()
    running = slot.container(horizontal=True, vertical_alignment="center", gap="small")
    elapsed = running.empty()
    running.button("Cancel", key="sql_cancel", icon=":material/stop_circle:")
    worker.start()
    try:
        while worker.is_alive():
            elapsed.markdown(f":material/hourglass_top: Running the query… **{time.perf_counter() - started:.1f} s**")
            worker.join(_TICK)
    finally:
        if worker.is_alive():  # the script was stopped by a click: stop the query too
            cancel.set()
            worker.join(_STOP_WAIT - 1)
            seconds = time.perf_counter() - started
            outbox["cancelled"] = (sql, ConsoleResult(
                error=f"The query was cancelled after {seconds:.1f} s.", cancelled=True, seconds=seconds,
                max_rows=console.max_rows))
        finished.set()
    slot.empty()
    return outcome["result"]


def cancelled_result() -> tuple[str, ConsoleResult] | None:
    """The (query, result) of a run the analyst cancelled, once. Streamlit starts the next run
    while the interrupted one is still stopping its query, so this waits for that first."""
    outbox = _outbox()
    finished = outbox.get("finished")
    if finished is not None:
        finished.wait(_STOP_WAIT)
    return outbox.pop("cancelled", None)


def _outbox() -> dict:
    """A plain dict in the session: written in `run_query`'s `finally`, where the interrupted
    script may no longer write to st.session_state itself."""
    return st.session_state.setdefault(CANCELLED_KEY, {})
