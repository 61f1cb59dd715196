"""Helpers every page starts with: the context, the guards that turn "no data" and "cannot
read" into plain messages, and the metrics of the current filters."""

from __future__ import annotations

from typing import Callable

import streamlit as st

from ..cache import CacheError
from . import data
from .. import formatting as fmt
from .context import AppContext, current
from .widgets import empty_state, error_state

# What the demo account offers instead of a sync (the demo has no Sync now: it is generated).
DEMO_HINT = ("To see your own numbers, connect your Stripe account on the **Connect** page (Stripe OAuth or a "
             "restricted key), or set `STRIPE_API_KEY` and run `stripe-analytics sync`.")


def context(*, need_data: bool = True) -> AppContext:
    """The rerun's context; stops the page with a plain message when it cannot show data."""
    ctx = current()
    if ctx.fatal:
        error_state("The app's settings are invalid, so nothing can be shown:\n\n" + ctx.fatal,
                    hint="Fix the setting (environment, .env or .streamlit/secrets.toml) and reload the page.")
        st.stop()
    if not need_data:
        return ctx
    if ctx.error:
        error_state(ctx.error, hint="Open the Data page for the cache's location, or switch to the demo account "
                                    "in the sidebar.")
        st.stop()
    if ctx.account is not None and ctx.account.pending:
        empty_state("No data yet", "This Stripe account has not been synced yet. Open the **Data** page and click "
                                   "**Sync now** (or run `stripe-analytics sync`), or look around the demo account "
                                   "from the sidebar meanwhile.")
        st.stop()
    if not ctx.ready:
        empty_state("No data yet", "This account's cache has no customers, subscriptions or payments yet. "
                                   "If a sync is running, this page fills in when it finishes; otherwise use "
                                   "**Sync now** on the Data page (or run `stripe-analytics sync`), or open the "
                                   "demo account from the sidebar.")
        st.stop()
    return ctx


def metrics(ctx: AppContext, *, dates: bool = True, currency: bool = True, **overrides):
    """The metrics bundle of the current filters (see data.metrics_bundle), with any
    MetricFilters field overridden; stops the page with a plain message when it cannot be
    computed."""
    filters = ctx.filters
    assert filters is not None and ctx.key is not None
    if overrides:
        return metrics_for(ctx, filters.metric_filters(dates=dates, currency=currency).model_copy(update=overrides))
    return _or_stop(data.filtered_metrics, ctx.key, filters, dates=dates, currency=currency, filters_apply=True)


def stop_without_months(monthly, ctx: AppContext | None = None, *, mrr_only: bool = False) -> None:
    """Ends a metrics page with a plain message when the date range holds no month, or (given
    the context) when the filters match no subscription and no payment at all; `mrr_only` (a
    page of MRR alone: MRR & growth, Retention): when they match no MRR, whatever the payments."""
    if monthly.empty:
        empty_state("No months in this range", "Widen the date range in the sidebar.")
        st.stop()
    if ctx is not None and not (has_mrr(monthly) if mrr_only else has_activity(monthly)):
        stop_nothing_matches(ctx, mrr_only=mrr_only)


# Columns that are not zero when anything at all matches: MRR, customers and payments.
_ACTIVITY_COLUMNS = ("mrr", "active_customers", "gross_volume", "successful_payments", "failed_payments",
                     "churned_mrr", "churned_customers")
# Those of the subscriptions alone (payments are not tied to a product: a product filter can
# leave payments and no MRR at all).
_MRR_COLUMNS = ("mrr", "active_customers", "churned_mrr", "churned_customers")


def has_activity(frame, columns: tuple[str, ...] = _ACTIVITY_COLUMNS) -> bool:
    """Whether a monthly (or cash) table has any MRR, customer or payment in it."""
    columns = [c for c in columns if c in frame.columns]
    return bool(frame.empty is False and (frame[columns].fillna(0) != 0).to_numpy().any())


def has_mrr(frame) -> bool:
    """Whether a monthly table has any MRR or subscribed customer in it (payments aside)."""
    return has_activity(frame, _MRR_COLUMNS)


def _loosenings(ctx: AppContext) -> list[tuple[str, dict]]:
    """Each filter the analyst set, with the MetricFilters change that drops it (alone)."""
    f = ctx.filters
    out: list[tuple[str, dict]] = []
    if f.segment:
        out.append((f"the segment **{f.segment}** (Segment: All customers)",
                    {"segment_key": None, "segment_value": None}))
    if f.product:
        out.append((f"the product **{ctx.product_names.get(f.product, f.product)}** (Product: All products)",
                    {"products": None}))
    for name, field, everything in (("plan", "plan", "All plans"), ("price", "price", "All prices"),
                                    ("interval", "billing_interval", "All intervals"),
                                    ("country", "country", "All countries")):
        if getattr(f, name):
            shown = ctx.product_names.get(f.plan, f.plan) if name == "plan" else getattr(f, name)
            out.append((f"the {name} **{shown}** ({name.capitalize()}: {everything})", {field: None}))
    others = [c for c in (ctx.options.currencies if ctx.options else []) if c != f.currency]
    if others:
        out.append((f"the currency **{f.currency.upper()}** (this selection has data in another currency)",
                    {"currencies": None}))
    out.append((f"the date range **{f.start:%b %Y} – {f.end:%b %Y}** (Quick range: All time)",
                {"date_from": None, "date_to": None}))
    return out


def _loosen_advice(ctx: AppContext, matches: Callable) -> str:
    """Which filter, loosened on its own, brings back data that `matches` (a monthly table)."""
    base = ctx.filters.metric_filters()
    helpful = []
    with st.spinner("Nothing matches these filters; looking for the one to loosen…"):
        for words, change in _loosenings(ctx):
            try:
                monthly = data.metrics_bundle(ctx.key, base.model_copy(update=change).model_dump_json()).monthly
            except (CacheError, ValueError):  # busy or unreadable now, or filters that do not apply: no suggestion
                continue
            if matches(monthly):
                helpful.append(words)
    if helpful:
        return "Loosen " + ("one of these filters in the sidebar: " if len(helpful) > 1 else "this filter: ") \
            + "; ".join(helpful) + "."
    return "Even with any one filter loosened nothing matches: use **Reset filters** in the sidebar."


def stop_nothing_matches(ctx: AppContext, *, mrr_only: bool = False) -> None:
    """Ends the page saying plainly that nothing matches the filters, and which filter, loosened
    on its own, brings data back (instead of zeros everywhere and meaningless axes)."""
    view = ctx.filters.describe(ctx.product_names)
    if mrr_only:
        empty_state("Nothing matches these filters",
                    f"No subscription of this account brings MRR in {view}, so there is no MRR to chart. "
                    + _loosen_advice(ctx, has_mrr), icon=":material/filter_alt_off:")
    else:
        empty_state("Nothing matches these filters",
                    f"No subscription, customer or payment of this account falls in {view}, so there is nothing "
                    f"to chart. {_loosen_advice(ctx, has_activity)}", icon=":material/filter_alt_off:")
    st.stop()


def no_mrr_note(ctx: AppContext) -> None:
    """On a page of MRR and payments (Overview) whose filters match payments but no MRR: says
    so, and which filter to loosen, in place of the MRR figures."""
    empty_state("No MRR matches these filters",
                f"No subscription of this account brings MRR in {ctx.filters.describe(ctx.product_names)}; the "
                f"payments below still match. {_loosen_advice(ctx, has_mrr)}", icon=":material/filter_alt_off:")


def _or_stop(read, *args, filters_apply: bool = False, **kwargs):
    """`read(*args)`, or a plain message and the end of the page when the cache is busy or
    unreadable (or, for metric reads, when the filters cannot be applied)."""
    try:
        return read(*args, **kwargs)
    except data.CacheBusy as error:
        st.info(str(error), icon=":material/sync:")
        st.stop()
    except CacheError as error:
        error_state(str(error))
        st.stop()
    except ValueError as error:  # e.g. a currency the account never used
        if not filters_apply:
            raise
        error_state(f"These filters cannot be applied: {error}")
        st.stop()


def metrics_for(ctx: AppContext, mf):
    """The metrics bundle of explicit MetricFilters (converted into the reporting currency when
    the sidebar says "All currencies"); stops the page on a plain message."""
    return _or_stop(data.metrics_bundle, ctx.key, mf.model_dump_json(), reporting=ctx.filters.reporting_currency,
                    filters_apply=True)


def segment_breakdown(ctx: AppContext):
    """(breakdown, names) by the sidebar's *Break down by* under the current filters (see
    data.segment_breakdown); stops the page on a plain message."""
    f = ctx.filters
    return _or_stop(data.segment_breakdown, ctx.key, f.metric_json(), f.by, filters_apply=True)


def cash(ctx: AppContext, period: str | None = None, *, dates: bool = True, currency: bool = True):
    """Cash metrics of the current filters per day / week / month (`period`, default the
    sidebar's granularity; see data.cash), converted in the all-currencies view (`currency=False`:
    every currency in its own); stops the page with a plain message when they cannot be computed."""
    filters = ctx.filters
    assert filters is not None and ctx.key is not None
    mf = filters.metric_filters(dates=dates, currency=currency)
    return _or_stop(data.cash, ctx.key, mf.model_dump_json(), period or filters.granularity,
                    reporting=filters.reporting_currency if currency else None, filters_apply=True)


def depth(ctx: AppContext, view: str = "depth"):
    """Trials, payment recovery and same-days comparisons of the current filters (one of
    data.DEPTH_VIEWS), converted in the all-currencies view; stops the page with a plain message
    when they cannot be computed."""
    return _or_stop(data.filtered_depth, ctx.key, ctx.filters, view, filters_apply=True)


def cash_conversion(ctx: AppContext, period: str | None = None, *, dates: bool = True):
    """How the cash figures of a converted view were converted (a `metrics.ReportingInfo`), or
    None for a single-currency view."""
    filters = ctx.filters
    if not filters.converted:
        return None
    mf = filters.metric_filters(dates=dates)
    return _or_stop(data.converted_cash, ctx.key, mf.model_dump_json(), period or filters.granularity, "all",
                    filters.reporting_currency, filters_apply=True)[1]


def conversion_note(info, *, cash: bool = False) -> str | None:
    """In a converted view, say so under the page header: the rates' source and last date, a
    plain warning when the rate table is out of date, and what could not be converted (left out
    of every figure, never converted at 0). Returns the label for the figures' hover text; None
    (and nothing drawn) in a single-currency view."""
    if info is None:
        return None
    st.caption(conversion_caption(info, cash=cash))
    if info.stale:
        st.warning(f"The exchange rate table is out of date: its last rate is from {info.last_rate_date:%d %b %Y}, "
                   "so later days use that rate. Import newer rates on the Data page or with "
                   "`stripe-analytics fx import FILE`.", icon=":material/history:")
    missing = info.unconverted_cash if cash else info.unconverted
    if len(missing):
        column = "gross_volume" if cash else "mrr"
        totals = missing.groupby("currency")[column].sum()
        listed = ", ".join(f"{c.upper()} ({'gross volume' if cash else 'MRR'} {fmt.money(v, c)} in the range)"
                           for c, v in totals.items())
        st.warning(f"No exchange rate for {listed}: left out of the converted figures. Add rates on the Data page "
                   "or with `stripe-analytics fx import FILE`.", icon=":material/currency_exchange:")
    return info.label(staleness=False)


def conversion_caption(info, *, cash: bool = False) -> str:
    """How a converted view was converted, in a caption (Markdown)."""
    return f":material/currency_exchange: {info.label(staleness=False)}. " + (
        "Each payment, refund and fee at the rate of the day before it." if cash else
        "MRR at each month's end rate; movements at constant currency, exchange-rate changes shown as FX impact.")


def warned(info, *, cash: bool = False) -> bool:
    """Whether `conversion_note` warns under the caption (rates out of date, or a currency with no rate)."""
    return info is not None and (bool(info.stale) or bool(len(info.unconverted_cash if cash else info.unconverted)))


def browse(ctx: AppContext, query: Callable, *args, **kwargs):
    """A cached browse query (a function of `queries`); stops the page with a plain message when
    the cache is busy."""
    return _or_stop(data.browse, ctx.key, query, *args, **kwargs)
