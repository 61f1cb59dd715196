"""Pages that refresh themselves, and the Data page's live-data facts.

`watch` polls the open account's cache every `POLL_SECONDS` in a small fragment of the
sidebar: a `stat` of the file, and a read of its data version only when the file changed
(`data.cache_key`). When the version moved on (a webhook was applied, a sync finished) it
reruns the page, which reads the new figures through the caches keyed by that version; filters
live in the session and the URL, the scroll position and an open dialog stay. While nothing
changes nothing is recomputed: the fragment only redraws its "updated … ago" line.
"""

from __future__ import annotations

import contextlib
import os
import time
from datetime import datetime
from pathlib import Path

import streamlit as st

from ..cache import CacheError
from ..connection import CONNECTED_DIR
from . import data, format as fmt, forms

POLL_SECONDS = 1.0


def _changed_at(path: Path) -> float | None:
    """When the cache file was last written (its WAL included)."""
    times = []
    for candidate in (path, Path(str(path) + ".wal")):
        with contextlib.suppress(OSError):
            times.append(os.stat(candidate).st_mtime)
    return max(times) if times else None


def since(seconds: float) -> str:
    """'3 s', '4 min', '2 h', '3 d'."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


# Pages that show figures and tables refresh themselves; the others hold what the user just did
# (the SQL console's result, a sync's progress, a connection step), which a rerun would clear.
LIVE_PAGES = frozenset({"", "overview", "revenue", "mrr", "retention", "customers", "payments", "subscriptions",
                        "products", "customer", "payment"})


def watch(ctx, page_path: str = "") -> None:
    """In the sidebar: refresh the page when its account's data changes, and say how fresh it is."""
    if page_path not in LIVE_PAGES:
        return
    if ctx.account is None or ctx.account.path is None or ctx.key is None or ctx.error:
        return
    drawn = ctx.key
    path = ctx.account.path

    @st.fragment(run_every=POLL_SECONDS)
    def live_marker() -> None:
        try:
            key, busy = data.cache_key(path)
        except CacheError:
            return
        if not busy and key != drawn and not forms.dialog_open():
            # An open form is left alone; the page refreshes once it is closed.
            st.rerun(scope="app")
        changed = _changed_at(path)
        if changed is not None:
            st.caption(f":material/bolt: Live · updated {since(time.time() - changed)} ago",
                       help="This page refreshes by itself within seconds when the account's data changes "
                            "(a webhook, a sync).")

    with st.sidebar:
        live_marker()


def _when(iso: str | None) -> str:
    if not iso:
        return "never"
    return fmt.ago(datetime.fromisoformat(iso))


def status_panel(ctx) -> None:
    """The Data page's "Live updates": webhooks, the schedule and the health check of this account."""
    from . import live_server

    st.subheader("Live updates")
    server = live_server.current()
    if server is None:
        st.caption("Webhooks (`POST /webhooks/stripe`), the scheduled sync and `GET /healthz` run when the app is "
                   "served by `make run` (serve.py); this server was started without them.")
        return
    status, body = server.health()
    connected = ctx.account is not None and ctx.account.path is not None and ctx.account.path.parent.name == CONNECTED_DIR
    entry = next((a for a in body["accounts"] if ctx.account is not None and a["account"] == ctx.account.id
                  and a.get("connected", False) == connected), None)
    schedule = body["connected_schedule"] if connected else body["schedule"]
    cols = st.columns(4)
    cols[0].metric("Health", "OK" if status == 200 else "Unhealthy", help="What GET /healthz answers (200 or 503).")
    if entry is not None:
        cols[1].metric("Last webhook received", _when(entry["last_webhook_received_at"]))
        cols[2].metric("Last webhook applied", _when(entry["last_webhook_applied_at"]))
        cols[3].metric("Events queued", entry["events_queued"])
    if not body["webhooks"]["secret_configured"]:
        st.caption("No STRIPE_WEBHOOK_SECRET is set: the endpoint refuses every event. "
                   "Run `stripe-analytics webhooks` for what to configure in Stripe.")
    if schedule.get("running"):
        line = f"Scheduled sync every {schedule['interval_minutes']:g} min"
        if schedule.get("sync_in_progress"):
            line += "; running now"
        elif schedule["next_run_at"]:
            wait = datetime.fromisoformat(schedule["next_run_at"]).timestamp() - time.time()
            line += f"; next run in {since(wait)}"
        if schedule.get("last_ok_at"):
            line += f"; last succeeded {_when(schedule['last_ok_at'])}"
        if connected and entry is not None and not entry["scheduled_sync"]:
            line += " (this account joins the round once it was synced here and its connection may sync it)"
        st.caption(line)
        if schedule.get("last_error"):
            st.warning(f"The scheduled sync failed {schedule['consecutive_failures']} time(s) in a row and is retried "
                       f"with back-off: {schedule['last_error']}", icon=":material/sync_problem:")
    else:
        st.caption(f"Scheduled sync: {schedule.get('reason', 'off')}.")
    for problem in (entry or {}).get("problems", []):
        st.error(problem, icon=":material/error:")
    if entry is not None and entry.get("last_error"):
        st.caption(f"Last error: {entry['last_error']}")
