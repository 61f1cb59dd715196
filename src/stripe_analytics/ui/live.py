"""Pages that refresh themselves, and the Data page's live-data facts.

`watch` checks the open account's cache every `POLL_SECONDS` and reruns the page when its data
version moved on (a webhook was applied, a sync finished); the page then reads the new figures
through the caches keyed by that version; filters live in the session and the URL, the scroll
position and an open dialog stay. Under `serve.py` the browser asks the server's
`GET /live/<token>` (`live_state`): while nothing changes no script runs and nothing is sent
or redrawn, the sidebar's "updated … ago" line is kept current by the browser. Under a plain
`streamlit run app.py` (no such route) a small fragment of the sidebar does the same check
with a script run each time: a `stat` of the file, its data version read only when it changed.
"""

from __future__ import annotations

import functools
import time
from datetime import datetime

import streamlit as st

from ..cache import CacheError
from ..connection import CONNECTED_DIR
from .. import formatting as fmt
from . import data, forms, live_state, widgets

POLL_SECONDS = 1.0
HELP = "This page refreshes by itself within seconds when the account's data changes (a webhook, a sync)."


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
    from . import live_server

    if live_server.current() is not None:
        _watch_from_browser(ctx)
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
        changed = live_state.changed_at(path)
        if changed is not None:
            st.caption(f":material/bolt: Live · updated {since(time.time() - changed)} ago", help=HELP)

    with st.sidebar:
        live_marker()


# The browser's side of the check under serve.py: it asks the server once a second and reruns
# the page (a trigger, as a widget would) only when the version differs from the one drawn, and
# not under an open dialog (the page refreshes once it is closed). A failed request is retried.
_WATCHER_JS = """
const since = (seconds) => {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
};
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  // Streamlit calls this again with each run's new `data` but calls the returned cleanup only
  // when the element goes away: stop the previous call's poller here, or every run would leave
  // one more poller behind, still comparing with the version drawn back then.
  window.__saLiveWatchStop?.();
  // What the poller last saw, for whoever asks why a page did not refresh (the tests do).
  const seen = window.__saLiveWatch = { drawn: data.drawn, asked: 0, polls: 0, at: null, status: null, answer: null,
                                        stopped: null, cleanupsKept: 0 };
  const line = parentElement.querySelector(".live");
  const text = parentElement.querySelector(".text");
  line.title = data.help;
  if (data.age !== null) { text.textContent = `Live · updated ${since(data.age)} ago`; line.hidden = false; }
  // a dialog on screen (a form), not one kept hidden in the page
  const dialogOpen = () => [...document.querySelectorAll("[role='dialog']")].some((e) => e.getClientRects().length);
  let timer = null, stopped = false;
  const ask = (value) => {
    // At most one rerun asked for every 5 s, whichever call asked last: a burst of webhooks
    // refreshes the page now and then, not after every event.
    if (Date.now() - (window.__saLiveAskedAt || 0) < 5000) return;
    // A run under way or asked for (the user's own change) would be cut short and restarted
    // with what the page held before it: ask next time.
    const app = document.querySelector("[data-testid='stApp']");
    if (app && app.dataset.testScriptState !== "notRunning") return;
    window.__saLiveAskedAt = Date.now();
    setTriggerValue("moved", value);
  };
  const poll = async () => {
    if (!parentElement.isConnected) { stop(); return; }  // the page no longer shows it
    seen.asked += 1;
    try {
      const response = await fetch(data.url, { cache: "no-store", credentials: "same-origin" });
      if (stopped) return;  // a newer call took over while this answer was on its way
      seen.polls += 1;
      seen.at = Date.now();
      seen.status = response.status;
      if (response.status === 404) ask("register");  // the server forgot this page: rerun to register it again
      else if (response.ok) {
        const now = await response.json();
        if (stopped) return;
        seen.answer = now;
        if (now.age !== null) { text.textContent = `Live · updated ${since(now.age)} ago`; line.hidden = false; }
        if (now.version !== null && now.version !== data.drawn && !now.busy && !dialogOpen()) ask(now.version);
      }
    } catch (error) { seen.error = String(error); /* the server is restarting: asked again next time */ }
    if (!stopped) timer = setTimeout(poll, data.every_ms);
  };
  timer = setTimeout(poll, data.every_ms);
  const stop = () => { stopped = true; seen.stopped = Date.now(); clearTimeout(timer); };
  window.__saLiveWatchStop = stop;
  // Streamlit also calls a cleanup while this element stays on the page (seen in the first
  // visit's runs: the newest call's cleanup, with no call after it), which left the page with no
  // poller at all. So a cleanup stops the poller only once the element has left the page, and
  // the poller stops by itself when it finds it gone.
  return () => { if (parentElement.isConnected) seen.cleanupsKept += 1; else stop(); };
}
"""
_WATCHER_HTML = ('<p class="live" hidden><svg viewBox="0 0 24 24" aria-hidden="true"><path d="M11 21h-1l1-7H7.5c-.88 '
                 '0-.33-.75-.31-.78C8.48 10.94 10.42 7.54 13.01 3h1l-1 7h3.51c.4 0 .62.19.4.66C12.97 17.55 11 21 11 21z"/>'
                 '</svg><span class="text"></span></p>')
_WATCHER_CSS = """
.live { margin: 0; font-family: var(--st-font, inherit); font-size: 0.875rem; line-height: 1.6;
        color: var(--st-text-color, inherit); opacity: 0.6; display: flex; align-items: center; gap: 0.25rem; }
.live[hidden] { display: none; }
.live svg { width: 1.1em; height: 1.1em; fill: currentColor; flex: none; }
"""


@functools.cache
def _watcher():
    return st.components.v2.component("stripe_analytics.live_watch", html=_WATCHER_HTML, css=_WATCHER_CSS,
                                      js=_WATCHER_JS)


def _watch_from_browser(ctx) -> None:
    path = ctx.account.path
    tokens = st.session_state.setdefault("_live_tokens", {})
    tokens[str(path)] = live_state.token_for(path, tokens.get(str(path)))
    changed = live_state.changed_at(path)
    with st.sidebar:
        _watcher()(data={"url": f"live/{tokens[str(path)]}", "drawn": live_state.version_of(ctx.key),
                         "every_ms": int(POLL_SECONDS * 1000), "help": HELP,
                         "age": None if changed is None else time.time() - changed},
                   key="live_watch", on_moved_change=lambda: None)


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
    with widgets.tile_row(4) as cols:
        widgets.tile(cols[0], "Health", "OK" if status == 200 else "Unhealthy",
                     help="What GET /healthz answers (200 or 503).")
        if entry is not None:
            widgets.tile(cols[1], "Last webhook received", _when(entry["last_webhook_received_at"]))
            widgets.tile(cols[2], "Last webhook applied", _when(entry["last_webhook_applied_at"]))
            widgets.tile(cols[3], "Events queued", entry["events_queued"])
    if entry is not None:
        # The rest of /healthz's facts for this account, in the same words.
        readable = "readable" if entry["cache_readable"] else "not readable"
        schema = entry["schema_version"] if entry["schema_version"] is not None else "unknown"
        st.caption(f"Cache {readable} · schema version {schema} · last successful sync "
                   f"{_when(entry['last_sync_at'])}")
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
