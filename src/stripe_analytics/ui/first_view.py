"""The Overview's first view: the server writes the page's header and KPI tiles into the HTML
of the Overview's address, so that they are on screen as soon as the page is, while the browser
loads and starts the app (`serve.py` adds `FirstViewMiddleware`).

Why: a visit's first tile drawn by the app comes only after the browser has loaded Streamlit's
code, opened its connection and received the first run: about 2 s on a fresh browser of the
2-CPU machine for even a one-tile Streamlit app (`bench/bench_app.py`, "minimal app").

The view is exactly what the app's first run draws there, or nothing: the tiles come from the
same functions (`overview.kpi_rows`) and cache entries as the page's, for the default account and
filters. It is written only for a `GET` of the Overview's address with no query (a query is a
filter or a link into the app), from a browser with no connection of its own, with sign-in not
configured (whoever reaches such a server sees the Overview anyway), and when the page would
start with its header, captions and tiles (no warning, no empty state, no busy cache). It covers
the app until the app has drawn its own tiles, or ended its first run without them (an error, a
changed cache), and is then removed; it is never served from the browser's cache. When it cannot
be ready within `BUDGET_SECONDS` the page is served without it.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from html import escape
from typing import Callable

from ..config import Settings, SettingsError, load_settings
from ..connection_store import ConnectionStore, StoreKeyError, holder_for_browser
from ..server_session import COOKIE, app_path, request_cookies, sign_in_configured
from ..tiles import row_html
from . import theme

LOG = logging.getLogger("stripe_analytics.first_view")

BUDGET_SECONDS = 0.3  # the longest a page waits for its first view (it is cached data: ~20 ms)
SHOWN_AT_MOST_MS = 30_000  # removed by then whatever happens (e.g. the app's connection failed)
ELEMENT_ID = "sa-first-view"
TEST_ID = "saFirstView"
# Its tiles are the page's tiles under their own test ids, so that nothing mistakes them for the app's.
TILE_TEST_ID = "saFirstViewTile"
_ROOT = b'<div id="root"></div>'


def markup(settings: Settings, *, now: datetime | None = None) -> str | None:
    """The first view's HTML for the default account and filters, or None when the app's first
    run would not start with the header and tiles (or it cannot be known)."""
    from . import data
    from .context import default_account, discover

    account = default_account(settings, discover(settings))
    if account.pending or account.path is None or not account.path.exists():
        return None
    key, busy = data.cache_key(account.path)
    if busy:
        return None
    now = now or datetime.now(timezone.utc)
    view = _worked_out(account, key, now.date())
    return None if view is None else view.html(now)


@dataclass(frozen=True)
class _View:
    notices: list[tuple[str, str]]
    subtitle: Callable[..., str]  # the header's line, given `now` ("synced 5 minutes ago")
    captions: list[str]  # the captions under it
    rows: list[list[str]]  # the tiles' HTML

    def html(self, now: datetime) -> str:
        return view_html("Overview", [self.subtitle(now=now), *self.captions], self.rows, self.notices)


# Worked out again when the data (the cache key) or the day changed; each load only writes how
# long ago the data was synced, so a load on a busy server waits for no computation.
@functools.lru_cache(maxsize=1)
def _worked_out(account, key, day: date) -> _View | None:
    from . import data, overview, page, signin, widgets
    from .context import DEMO_NOTICE
    from .filters import default_filters

    options = data.filter_options(key)
    if options.empty:
        return None
    chosen = default_filters(options, day)
    bundle = data.filtered_metrics(key, chosen)
    monthly, reporting = bundle.monthly, bundle.result.reporting
    if not page.has_mrr(monthly) or page.warned(reporting):  # the page would say so first
        return None
    note = reporting.label(staleness=False) if reporting is not None else None
    compared = widgets.compare_months(monthly, bundle.result.calendar.last)
    rows = overview.kpi_rows(bundle, compared, lambda: data.filtered_depth(key, chosen, "same_days"),
                             chosen.currency, note)
    subtitle = functools.partial(overview.subtitle, chosen, dict(options.products), bundle.result.as_of_date,
                                 account.demo, data.account_info(key)["last_synced_at"])
    captions = [*([page.conversion_caption(reporting)] if reporting is not None else []), compared.caption]
    warning = signin.exposure().warning()
    notices = [*([("warning", warning)] if warning else []), *([("info", DEMO_NOTICE)] if account.demo else [])]
    return _View(notices, subtitle, captions, [[kpi.markup(inline=True) for kpi in row] for row in rows])


def view_html(title: str, captions: list[str], rows: list[list[str]], notices: list[tuple[str, str]] = ()) -> str:
    """The view: the notices above every page (("info" or "warning", text)), the title, its
    captions and rows of tiles' HTML, over the page, and the script that removes it. Texts are
    Markdown of which bold runs are kept and icons left out."""
    tiles = "".join(row_html([[tile] for tile in row]) for row in rows)  # the app's own rows
    tiles = tiles.replace('data-testid="saTile', f'data-testid="{TILE_TEST_ID}')
    lines = "".join(f'<p class="sa-fv-caption">{_caption(text)}</p>' for text in captions)
    above = "".join(f'<div class="sa-fv-{kind}">{_caption(text)}</div>' for kind, text in notices)
    return (f'<div id="{ELEMENT_ID}" data-testid="{TEST_ID}" aria-busy="true">{theme.CSS}<style>{_LAYOUT}</style>'
            f'<div class="sa-fv-side"></div><div class="sa-fv-main">{above}<h2>{escape(title)}</h2>{lines}{tiles}</div>'
            f'</div><script>{_REMOVE_JS % {"id": ELEMENT_ID, "ms": SHOWN_AT_MOST_MS}}</script>')


def _caption(text: str) -> str:
    plain = escape(re.sub(r":material/[a-z0-9_]+:\s*", "", text))
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", plain)


# Where the app puts them (wide layout, `theme.CSS`'s block container), on a white page.
_LAYOUT = """
#sa-first-view {position: fixed; inset: 0; z-index: 1000; overflow: hidden; display: flex; background: #ffffff;
  font-family: "Source Sans", sans-serif; color: #31333f; -webkit-font-smoothing: antialiased;}
#sa-first-view .sa-fv-side {flex: 0 0 300px; background: #f0f2f6;}
#sa-first-view .sa-fv-main {flex: 1 1 auto; max-width: 1480px; margin: 0 auto; padding: 2.2rem 5rem 0 5rem;
  box-sizing: border-box; min-width: 0;}
#sa-first-view h2 {font-size: 2.25rem; font-weight: 600; line-height: 1.2; margin: 0 0 1rem 0; padding: 0.75rem 0 0.7rem 0;
  color: #31333f;}
#sa-first-view .sa-fv-info, #sa-first-view .sa-fv-warning {padding: 1rem; border-radius: 0.5rem; margin-bottom: 1rem;
  line-height: 1.6;}
#sa-first-view .sa-fv-info {background: rgba(28, 131, 225, 0.1); color: #004280;}
#sa-first-view .sa-fv-warning {background: rgba(255, 227, 18, 0.1); color: #926c05;}
#sa-first-view .sa-fv-caption {font-size: 0.875rem; color: rgba(49, 51, 63, 0.6); margin: 0 0 1rem 0;}
#sa-first-view .sa-tile-row {margin-bottom: 1rem;}  /* the gap Streamlit puts between elements */
@media (max-width: 860px) {  /* Streamlit's narrow main area (measured: 1rem at 850 px wide, 5rem at 870) */
  #sa-first-view .sa-fv-main {padding: 2.2rem 1rem 0 1rem;}
}
@media (max-width: 768px) {  /* where Streamlit starts with the sidebar closed */
  #sa-first-view .sa-fv-side {display: none;}
  #sa-first-view .sa-fv-main {padding: 2.2rem 1rem 0 1rem;}
}
@media (max-width: 640px) {  /* theme.CSS's phone layout */
  #sa-first-view .sa-fv-main {padding: 4.4rem 0.8rem 0 0.8rem;}
}
"""

# Removes the view once the app shows its own tiles, or has ended a run without them.
_REMOVE_JS = """
(() => {
  const view = document.getElementById("%(id)s"), root = document.getElementById("root");
  if (!view || !root) return;
  let ran = false;
  const remove = () => { observer.disconnect(); clearTimeout(timer); view.remove(); };
  const observer = new MutationObserver((changes) => {
    const app = root.querySelector("[data-testid='stApp']"), state = app && app.dataset.testScriptState;
    if (state === "running" || changes.some((c) => c.oldValue === "running")) ran = true;
    if (root.querySelector("[data-testid='saTileValue']") || (ran && state === "notRunning")) remove();
  });
  observer.observe(root, {subtree: true, childList: true, attributes: true,
                          attributeFilter: ["data-test-script-state"], attributeOldValue: true});
  const timer = setTimeout(remove, %(ms)d);
})();
"""


def with_view(page: bytes, view: str) -> bytes:
    """Streamlit's index page with the view after its root element (the page as it is when it
    has no root element)."""
    return page.replace(_ROOT, _ROOT + view.encode("utf-8"), 1)


class FirstViewMiddleware:
    """Pure ASGI middleware: writes the first view into the Overview's page (see the module)."""

    def __init__(self, app, settings: Settings | None = None):
        self.app = app
        self._settings = settings
        self._store: ConnectionStore | None = None

    def _setup(self) -> tuple[Settings, ConnectionStore | None] | None:
        try:
            settings = self._settings = self._settings or load_settings()
        except SettingsError:
            return None  # the page says why
        if self._store is None:
            try:
                self._store = ConnectionStore(settings)
            except StoreKeyError:
                pass
        return settings, self._store

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "GET" or scope.get("query_string") \
                or app_path(scope.get("path") or "/") != "/":
            return await self.app(scope, receive, send)
        view = await self._view(scope)
        if view is None:
            return await self.app(scope, receive, send)
        accepts_gzip = b"gzip" in dict(scope.get("headers") or []).get(b"accept-encoding", b"")
        # The page whole and plain (no 304 from an earlier view, no compression), to write the view into.
        inner = {**scope, "headers": [(name, value) for name, value in scope.get("headers") or []
                                      if name not in (b"accept-encoding", b"if-none-match", b"if-modified-since")]}
        start: dict | None = None
        body: list[bytes] = []

        async def capture(message):
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            await self._send(send, start, b"".join(body), view, accepts_gzip)

        return await self.app(inner, receive, capture)

    @staticmethod
    async def _send(send, start: dict, page: bytes, view: str, accepts_gzip: bool) -> None:
        kind = dict(start.get("headers") or []).get(b"content-type", b"")
        if start.get("status") != 200 or not kind.startswith(b"text/html"):
            await send(start)
            await send({"type": "http.response.body", "body": page})
            return
        headers = [(name, value) for name, value in start.get("headers") or []
                   if name not in (b"content-length", b"etag", b"last-modified", b"cache-control")]
        page = with_view(page, view)
        headers.append((b"cache-control", b"no-store"))
        if accepts_gzip:
            page = gzip.compress(page, compresslevel=6)
            headers += [(b"content-encoding", b"gzip"), (b"vary", b"Accept-Encoding")]
        headers.append((b"content-length", str(len(page)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": page})

    async def _view(self, scope) -> str | None:
        setup = self._setup()
        if setup is None or sign_in_configured():
            return None
        settings, store = setup
        if store is not None:
            session_id = store.keys.session_id_from_cookie(request_cookies(scope).get(COOKIE))
            if session_id is not None and store.has_entry(holder_for_browser(session_id)):
                return None  # this browser's own connection: its account, not the default
        try:
            return await asyncio.wait_for(asyncio.to_thread(_markup_quietly, settings), BUDGET_SECONDS)
        except TimeoutError:
            LOG.info("the Overview's first view took over %.1f s; served without it", BUDGET_SECONDS)
            return None


def _markup_quietly(settings: Settings) -> str | None:
    from .data import quiet_streamlit

    try:
        with quiet_streamlit():
            return markup(settings)
    except Exception:  # noqa: BLE001 - the page itself shows any problem in plain words
        LOG.warning("the Overview's first view could not be made; served without it", exc_info=True)
        return None
