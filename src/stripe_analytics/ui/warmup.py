"""Server start-up work done before the first visitor arrives (`serve.py`'s lifespan hook):
import what every page imports and compute the default account's Overview for the default
filters, so the first page view reads warm caches instead of paying for them.

Measured on the 2,000-customer demo (`bench/bench_app.py`): a fresh `streamlit run app.py`
spends about 0.9 s importing Streamlit, pandas, DuckDB and our modules and 0.6 s computing
the Overview in the first visitor's script run; after this warm-up the first run only draws.
What the warm-up made then stays out of Python's full collections (`gc.freeze`): they walk only
what the script runs made since.

When the demo account is the default and has no cache yet, it starts the demo's build in the
background (`demo_build`: a job of the server, which no closed tab can stop; visitors meanwhile
see its progress, `context.build_demo`) instead of warming up. It never fails the server: any
problem is logged and left for the page, which shows it in plain words.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

LOG = logging.getLogger("stripe_analytics.warmup")


@dataclass
class WarmupReport:
    account: str | None = None
    steps: dict[str, float] = field(default_factory=dict)  # step -> seconds
    skipped: str | None = None

    def __str__(self) -> str:
        done = ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in self.steps.items())
        if self.skipped:
            return f"warm-up: {done}; {self.skipped}"
        return f"warm-up of {self.account}: {done}"


@contextlib.contextmanager
def _timed(report: WarmupReport, step: str):
    start = time.perf_counter()
    yield
    report.steps[step] = time.perf_counter() - start


def warm() -> WarmupReport:
    """Import the pages' modules, then read through the app's own cached functions what the
    Overview reads for the default account and filters. Never raises."""
    report = WarmupReport()
    try:
        from .data import quiet_streamlit  # with Streamlit and pandas: the bulk of the imports

        with quiet_streamlit():
            _warm(report)
    except Exception as error:  # noqa: BLE001 - the page shows the same problem in plain words
        LOG.warning("the warm-up stopped early; the first page load does its work", exc_info=True)
        report.skipped = f"stopped early ({type(error).__name__}: {str(error)[:200]})"
    return report


def _warm(report: WarmupReport) -> None:
    with _timed(report, "imports"):
        import plotly.graph_objects  # noqa: F401

        from .. import charts, connection_store, exports, metrics  # noqa: F401
        from . import context, data, filters, forms, page, widgets  # noqa: F401
    from ..cache import CachePlaceError, check_readable_folder
    from ..config import SettingsError, load_settings
    from .context import default_account, discover
    from .filters import default_filters

    try:
        settings = load_settings()
        check_readable_folder(settings.data_dir, "DATA_DIR")
    except (SettingsError, CachePlaceError):
        report.skipped = "the settings are invalid (the page says why)"
        return
    account = default_account(settings, discover(settings))
    report.account = account.label
    if account.demo and account.path is not None and not account.path.exists():
        from .. import demo_build

        demo_build.start(account.path, customers=settings.demo_customers)
        report.skipped = (f"building the demo account ({settings.demo_customers:,} customers) in the background; "
                          "visitors see its progress")
        return
    if account.path is None or not account.path.exists():
        report.skipped = f"no cache yet for {account.label}"
        return
    with _timed(report, "cache"):
        key, busy = data.cache_key(account.path)
        if busy:
            report.skipped = "a sync holds the cache"
            return
        data.warm_metrics(key)
        options = data.filter_options(key)
        data.account_info(key)
    if options.empty:
        report.skipped = f"{account.label} has no data yet"
        return
    chosen = default_filters(options, datetime.now(timezone.utc).date())
    with _timed(report, "overview metrics"):
        bundle = data.filtered_metrics(key, chosen)
        # the rest the Overview reads: its same-days comparison and the notes its charts mark
        data.filtered_depth(key, chosen, "same_days")
        from . import notes
        notes.notes_of(key)
    with _timed(report, "charts"):
        # Plotly builds its validators on a figure's first use; Streamlit serialises to JSON.
        major = bundle.major  # the table the Overview's run then reads
        charts.lines(major, "month", {"mrr": "MRR"}, currency=chosen.currency, title="MRR", area=True).to_json()
        charts.movements(major, chosen.currency, title="MRR movements").to_json()
    with _timed(report, "first view"):
        from . import first_view
        first_view.markup(settings)  # what is left to fill: the tiles' markup and sparklines
    with _timed(report, "streamlit"):
        _streamlit_first_element()


def _streamlit_first_element() -> None:
    """Streamlit's first element of a process checks, once, whether it runs in a Python shell by
    walking the whole call stack with `inspect.stack()` (about 0.1 s, in the first visitor's run).
    Done here instead; a Streamlit without that check skips this."""
    from streamlit import delta_generator

    check = getattr(delta_generator, "_maybe_print_use_warning", None)
    if callable(check):
        check()


@contextlib.asynccontextmanager
async def lifespan(_app):
    """st.App lifespan: warm up before the server accepts its first connection."""
    import asyncio

    report = await asyncio.to_thread(warm)
    # What the warm-up imported and computed lives as long as the server: Python's full
    # collections (every few dozen script runs) then leave it out and walk only what the runs
    # made since, about 80 ms instead of 150-250 ms on the 2-CPU machine.
    gc.freeze()
    LOG.info("%s", report)
    print(f"  {report}", flush=True)  # the terminal of `make run`, under Streamlit's URL lines
    yield
