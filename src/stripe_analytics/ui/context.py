"""What every page needs, worked out once per rerun by `app.py`: the settings, the account
shown (the demo or a synced account's cache), the cache's state key, the filter options
and the filters chosen in the sidebar.

Who: sign-in first when it is configured (`signin.gate`). Accounts (`accounts.py`): the
account this user or browser connected on the Connect page (`connection_state.py`) comes
first and is selected when it connects. With STRIPE_API_KEY set, the configured
account's cache (`DATA_DIR/acct_….duckdb`, created by `stripe-analytics sync` or the Data
page's "Sync now") is shown first; before its first sync the pages say so and offer to sync.
The demo account (`DATA_DIR/demo.duckdb`) is always one click away and is what opens when
no key is set; the server builds it on first start (`demo_build`, started by `ui.warmup`), and a
visit before it is ready watches the build's progress.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path

import streamlit as st

from ..accounts import DEMO_ID, PENDING_ID, Account, default_account, discover, visible_accounts  # noqa: F401
from ..cache import CacheError, CachePlaceError, check_readable_folder
from ..connection import Connection
from .. import access
from ..config import Settings, SettingsError, current_settings
from ..queries import FilterOptions
from . import connection_state, data, signin, widget_state
from .filters import Filters, render_sidebar

log = logging.getLogger(__name__)


# Above every page of the demo account (app.py, and the Overview's first view).
DEMO_NOTICE = "**Demo data.** A generated account; connect yours on the **Connect** page."

@dataclass
class AppContext:
    settings: Settings | None = None
    fatal: str | None = None  # settings cannot be loaded: nothing else can work
    account: Account | None = None
    accounts: list[Account] = field(default_factory=list)
    key: data.CacheKey | None = None
    busy: bool = False  # a sync is writing this cache; results are the last ones seen
    error: str | None = None  # the cache cannot be read
    options: FilterOptions | None = None
    filters: Filters | None = None
    today: date = field(default_factory=lambda: datetime.now(timezone.utc).date())
    connection: Connection | None = None  # this user's (or browser's) own Stripe connection
    principal: access.Principal | None = None  # who uses this run (sign-in, role)

    @property
    def ready(self) -> bool:
        """The cache can be read and has data."""
        return self.key is not None and self.error is None and self.options is not None and not self.options.empty

    @property
    def mode(self) -> str:
        if self.account is None or self.account.demo:
            return "test"
        if self.connection is not None and self.account.id == self.connection.account_id:
            return self.connection.mode
        return (self.settings.mode if self.settings else None) or "test"

    @property
    def product_names(self) -> dict[str, str]:
        return dict(self.options.products) if self.options else {}


def _with_session_account(settings: Settings, own: Connection | None) -> list[Account]:
    """The picker's accounts with this user's connected one first; after Connect or
    Disconnect (`connection_state.select_account`) the picker moves to the account asked for."""
    accounts = visible_accounts(settings, own)
    wanted = st.session_state.pop(connection_state.SELECT_KEY, None)
    if wanted is not None and wanted in {a.id for a in accounts}:
        st.session_state["account"] = wanted
    return accounts


def build_demo(path: Path, customers: int) -> None:
    """Wait for the demo account's cache, showing the build's progress. The build belongs to
    the server (`demo_build`): closing this tab stops the watching, not the build."""
    from .. import demo_build

    job = demo_build.start(path, customers=customers)
    if job.running:
        with st.status("Building the demo account (first start only)…", expanded=True) as status:
            # The time counts up even while the bar cannot move (the generator's processes start).
            bar = st.progress(job.fraction, text=f"{job.message} · {job.elapsed:.0f} s")
            while job.running:
                time.sleep(0.25)
                bar.progress(job.fraction, text=f"{job.message} · {job.elapsed:.0f} s")
            if job.error is None:
                status.update(label=f"Demo account ready ({job.seconds:.0f} s)", state="complete", expanded=False)
    if job.error is not None:
        raise RuntimeError(job.error)
    data.clear_all()


def _account_picker(settings: Settings, accounts: list[Account], own: Connection | None) -> Account:
    state = st.session_state
    ids = [a.id for a in accounts]
    if state.get("account") not in ids:
        state["account"] = default_account(settings, accounts, own).id
    widget_state.resend(state, ["account"])
    by_id = {a.id: a for a in accounts}
    st.sidebar.selectbox("Account", ids, key="account", format_func=lambda i: by_id[i].label,
                         help="The demo account, or a Stripe account synced into DATA_DIR.")
    return by_id[state["account"]]


def setup(admitted: signin.Admission | None = None, *, filters: bool = True) -> AppContext:
    """Run by app.py on every rerun, before the page (after `signin.admission`). `filters=False`
    for a page the filters do not apply to (Connect): the sidebar then shows no filters."""
    ctx = AppContext()
    try:
        ctx.settings = current_settings()
        check_readable_folder(ctx.settings.data_dir, "DATA_DIR")  # missing is fine: the demo build makes it
    except (SettingsError, CachePlaceError) as error:
        ctx.fatal = str(error)
        st.session_state["_ctx"] = ctx
        return ctx
    ctx.principal = signin.gate(admitted or signin.admission(ctx.settings))
    ctx.connection = connection_state.current(ctx.settings)
    ctx.accounts = _with_session_account(ctx.settings, ctx.connection)
    ctx.account = _account_picker(ctx.settings, ctx.accounts, ctx.connection)
    account = ctx.account
    if account.demo and account.path and not account.path.exists():
        try:
            build_demo(account.path, ctx.settings.demo_customers)
        except Exception as error:  # noqa: BLE001 - shown plainly, never as a traceback; logged whole
            log.exception("building the demo account at %s failed", account.path)
            ctx.error = f"The demo account could not be built: {error}"
    if account.path is not None and ctx.error is None:
        try:
            ctx.key, ctx.busy = data.cache_key(account.path)
            if not ctx.busy:
                data.warm_metrics(ctx.key)  # in the background, while the sidebar and page draw
            ctx.options = data.filter_options(ctx.key)
        except data.CacheBusy as error:
            ctx.error = str(error)
        except CacheError as error:
            ctx.error = str(error)
        except Exception as error:  # noqa: BLE001 - a damaged file can fail in many ways; logged whole
            log.exception("the cache at %s cannot be read", account.path)
            ctx.error = (f"The cache at {account.path} cannot be read ({type(error).__name__}); it may be "
                         "damaged: delete it and sync again.")
    if filters and ctx.options is not None and not ctx.options.empty:
        ctx.filters = _with_rates_date(ctx, render_sidebar(ctx.options, ctx.today, scope_id=account.id,
                                                           page_only=_page_only))
    st.session_state["_ctx"] = ctx
    return ctx


def _with_rates_date(ctx: AppContext, filters: Filters) -> Filters:
    """Exports of a converted view name the rates' date (none while a sync holds the cache)."""
    if not filters.converted or ctx.busy:
        return filters
    try:
        return replace(filters, rates_date=data.rates_date(ctx.key, filters.currency))
    except (CacheError, ValueError) as error:  # exports then name no rates' date
        log.warning("the exchange rates' date of %s is unknown: %s", ctx.account.path, error)
        return filters


def _page_only(filters: Filters) -> bool:
    """After a filter change (its callback): whether the page may run alone (`filter_runs`) with
    `filters`, which the context then holds. Not when the account's data moved on since the
    whole run (a webhook, a sync): the whole app runs, as for any change of the cache."""
    ctx = st.session_state.get("_ctx")
    if not isinstance(ctx, AppContext) or ctx.account is None or ctx.account.path is None or ctx.key is None:
        return False
    try:
        if data.cache_key(ctx.account.path) != (ctx.key, ctx.busy):
            return False
    except (data.CacheBusy, CacheError):
        return False
    ctx.filters = _with_rates_date(ctx, filters)
    return True


def current() -> AppContext:
    """The context app.py prepared for this rerun (or a fresh one when a page runs alone)."""
    ctx = st.session_state.get("_ctx")
    if isinstance(ctx, AppContext):
        return ctx
    return setup()
