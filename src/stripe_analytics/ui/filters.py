"""The global filters (date range, currency, granularity, product, segment): one frozen
`Filters` value per rerun, rendered in the sidebar and kept in the URL's query
parameters, so a view can be bookmarked and shared and survives a reload.

URL keys: `from`, `to` (YYYY-MM-DD), `currency` (usd, or `all`: every currency converted into the
account's default, docs/specs/fx.md; `in`: another reporting currency), `granularity`
(day/week/month), `product` (prod_…),
`segment` (metadata key=value), `plan` (prod_…), `price` (price_…), `interval` (billing interval),
`country` (FR), `by` (the breakdown: plan, price, interval, country or metadata:<key>;
docs/metrics.md "Segments"). Only values that differ from the defaults are written, so a
default view has a clean URL.

How the URL and the widgets stay in step: on a session's first run the URL wins; when the
URL later changes by itself (the user edited it, or went back in history) it wins again;
when it lost its filter keys (a page switch) the session's values are written back; when a
drill-down (`st.switch_page`) dropped the widgets' own values, the last run's filters are
restored. Drill-down links carry the filters (`link_params`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable, Mapping

from ..exports import export_filename
from ..queries import FilterOptions, Scope
from . import widget_state

GRANULARITIES = ("day", "week", "month")
URL_KEYS = ("from", "to", "currency", "in", "granularity", "product", "segment", "plan", "price", "interval",
            "country", "by")
# The month-by-month and customer segments beside the metadata one (docs/metrics.md "Segments").
SEGMENT_FIELDS = ("plan", "price", "interval", "country")
BY_LABELS = {"plan": "Plan", "price": "Price", "interval": "Billing interval", "country": "Country"}
DEFAULT_MONTHS = 12
_W = {  # widget keys in st.session_state
    "reporting": "f_reporting",
    "dates": "f_dates", "currency": "f_currency", "granularity": "f_granularity", "product": "f_product",
    "segment_key": "f_segment_key", "segment_value": "f_segment_value",
    "plan": "f_plan", "price": "f_price", "interval": "f_interval", "country": "f_country", "by": "f_by",
}
SEGMENTS_OPEN = "f_segments_open"  # the sidebar's "Plan, price, interval, country" box is open
ALL = ""  # the "no restriction" option of product / segment selects
ALL_CURRENCIES = "all"  # the currency picker's "All currencies in <default>" option (URL: currency=all)


@dataclass(frozen=True)
class Filters:
    """`currency` is the currency shown: one of the account's, or with `converted` the reporting
    currency every currency is converted into; `rates_date` is then the last rate date in use
    (for export names)."""

    start: date
    end: date
    currency: str
    granularity: str = "month"
    product: str | None = None
    segment_key: str | None = None
    segment_value: str | None = None
    converted: bool = False
    rates_date: date | None = None
    plan: str | None = None
    price: str | None = None
    interval: str | None = None
    country: str | None = None
    by: str | None = None  # the breakdown dimension of the MRR and Retention pages

    @property
    def reporting_currency(self) -> str | None:
        """The reporting currency of a converted view, None for a single-currency view."""
        return self.currency if self.converted else None

    @property
    def picked(self) -> str:
        """The currency picker's value (`all` for the converted view)."""
        return ALL_CURRENCIES if self.converted else self.currency

    # -- what the library layers take
    def metric_filters(self, *, dates: bool = True, currency: bool = True):
        from ..metrics import MetricFilters

        return MetricFilters(
            date_from=self.start if dates else None, date_to=self.end if dates else None,
            currencies=(self.currency,) if currency and self.currency and not self.converted else None,
            products=(self.product,) if self.product else None,
            segment_key=self.segment_key if self.segment_value is not None else None,
            segment_value=self.segment_value if self.segment_key else None,
            country=self.country, plan=self.plan, price=self.price, billing_interval=self.interval,
        )

    def metric_json(self, **kwargs) -> str:
        return self.metric_filters(**kwargs).model_dump_json()

    def scope(self, *, dates: bool = True, listing: bool = False) -> Scope:
        """The filters as browse queries take them. `listing`: a list of objects (payments,
        subscriptions) shown each in its own currency, which in the converted view lists every
        currency's; sums in one currency keep the shown currency."""
        return Scope(start=self.start if dates else None, end=self.end if dates else None,
                     currency=None if listing and self.converted else self.currency,
                     product=self.product, segment_key=self.segment_key, segment_value=self.segment_value,
                     country=self.country)

    @property
    def segment(self) -> str | None:
        return f"{self.segment_key}={self.segment_value}" if self.segment_key and self.segment_value is not None else None

    def filename(self, view: str, ext: str, *, dates: bool = True) -> str:
        """`mrr_usd_2025-01_2026-06.png`; a converted view names its reporting currency and rates
        date: `mrr_all-in-usd_2025-01_2026-06_rates-2026-10-30.png`."""
        rates = [f"rates-{self.rates_date.isoformat()}"] if self.converted and self.rates_date else []
        return export_filename(view, ext, currency=f"all-in-{self.currency}" if self.converted else self.currency,
                               start=self.start if dates else None, end=self.end if dates else None,
                               granularity=self.granularity,
                               extra=[self.product, self.segment, *[getattr(self, k) for k in SEGMENT_FIELDS], *rates])

    def describe(self, product_names: Mapping[str, str] | None = None) -> str:
        parts = [currency_label(self.picked, self.currency) if self.currency else "all currencies",
                 f"{self.start:%b %Y} – {self.end:%b %Y}"]
        if self.product:
            parts.append("product " + (product_names or {}).get(self.product, self.product))
        if self.segment:
            parts.append("segment " + self.segment)
        if self.plan:
            parts.append("plan " + (product_names or {}).get(self.plan, self.plan))
        parts += [f"{name} {getattr(self, name)}" for name in ("price", "interval", "country") if getattr(self, name)]
        return " · ".join(parts)

    # -- URL
    def to_params(self, defaults: "Filters", reporting: str | None = None) -> dict[str, str]:
        """The URL keys that differ from `defaults` (`reporting`: the default reporting currency)."""
        params: dict[str, str] = {}
        if self.start != defaults.start:
            params["from"] = self.start.isoformat()
        if self.end != defaults.end:
            params["to"] = self.end.isoformat()
        if self.picked != defaults.picked:
            params["currency"] = self.picked
        if self.converted and self.currency != (reporting or defaults.currency):
            params["in"] = self.currency
        if self.granularity != defaults.granularity:
            params["granularity"] = self.granularity
        if self.product:
            params["product"] = self.product
        if self.segment:
            params["segment"] = self.segment
        for name in (*SEGMENT_FIELDS, "by"):
            if getattr(self, name):
                params[name] = getattr(self, name)
        return params


def default_filters(options: FilterOptions, today: date) -> Filters:
    """The last 12 months up to today (or the data's last day), in the account's main currency."""
    end = max(today, options.last_day) if options.last_day else today
    first_of_month = date(end.year, end.month, 1)
    month_index = first_of_month.year * 12 + first_of_month.month - 1 - (DEFAULT_MONTHS - 1)
    start = date(month_index // 12, month_index % 12 + 1, 1)
    if options.first_day and options.first_day > start:
        start = date(options.first_day.year, options.first_day.month, 1)
    return Filters(start=start, end=end, currency=options.default_currency or "usd")


def currency_label(option: str, reporting: str) -> str:
    """What the currency picker shows: 'USD', or 'All currencies in USD'."""
    return f"All currencies in {reporting.upper()}" if option == ALL_CURRENCIES else option.upper()


def currency_options(options: FilterOptions) -> list[str]:
    """The picker's choices: "All currencies in <default>" first when the account has more than
    one currency, then each currency."""
    return ([ALL_CURRENCIES] if len(options.currencies) > 1 else []) + list(options.currencies)


def _covered(options: FilterOptions) -> list[str]:
    """The currencies the rate table covers: the ECB's and the user's own."""
    from ..metrics.rates import ecb_currencies

    return sorted(set(ecb_currencies()) | {"eur"} | set(options.imported_rate_currencies))


def reporting_default(options: FilterOptions) -> str:
    """The converted view's reporting currency unless one is picked: the account's default
    currency when the rate table covers it, else USD (`metrics.default_reporting_currency`)."""
    from ..metrics.rates import default_reporting_currency

    return default_reporting_currency(options.account_currency, _covered(options))


def reporting_options(options: FilterOptions, default: str) -> list[str]:
    """The currencies a converted view can report in: the default, the account's others, then
    every other currency the rate table covers (the ECB's and the user's own)."""
    covered = _covered(options)
    first = [default] + [c for c in options.currencies if c != default and c in covered]
    return first + [c for c in covered if c not in first]


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def from_params(params: Mapping[str, str], options: FilterOptions, defaults: Filters) -> Filters:
    """Filters from URL values; anything invalid or unknown falls back to the default."""
    start = _parse_date(params.get("from")) or defaults.start
    end = _parse_date(params.get("to")) or defaults.end
    if start > end:
        start, end = defaults.start, defaults.end
    currency = (params.get("currency") or "").lower()
    converted = currency == ALL_CURRENCIES and ALL_CURRENCIES in currency_options(options)
    if converted:
        wanted, reporting = (params.get("in") or "").lower(), reporting_default(options)
        currency = wanted if wanted in reporting_options(options, reporting) else reporting
    elif currency not in options.currencies:
        currency, converted = defaults.currency, defaults.converted
    granularity = params.get("granularity") or defaults.granularity
    if granularity not in GRANULARITIES:
        granularity = defaults.granularity
    product = params.get("product") or None
    if product and product not in {p for p, _ in options.products}:
        product = None
    seg_key = seg_value = None
    segment = params.get("segment") or ""
    if "=" in segment:
        key, value = segment.split("=", 1)
        if value in options.segments.get(key, []):
            seg_key, seg_value = key, value
    offered = segment_values(options)
    given = dict(params, country=(params.get("country") or "").upper())   # ?country=fr works too
    chosen = {name: given.get(name) if given.get(name) in offered[name] else None for name in SEGMENT_FIELDS}
    by = params.get("by") if params.get("by") in by_options(options) else None
    return Filters(start, end, currency, granularity, product, seg_key, seg_value, converted, by=by, **chosen)


def segment_values(options: FilterOptions) -> dict[str, list[str]]:
    """The values each plan / price / interval / country segment can take in this account."""
    return {"plan": [p for p, _ in options.products], "price": [p for p, _ in options.prices],
            "interval": list(options.intervals), "country": list(options.countries)}


def by_options(options: FilterOptions) -> list[str]:
    """The breakdowns offered: plan, price, billing interval, country, then each metadata key."""
    return list(BY_LABELS) + [f"metadata:{key}" for key in options.segments]


def by_label(by: str) -> str:
    return BY_LABELS.get(by) or by.removeprefix("metadata:")


def valid(filters: Filters, options: FilterOptions, defaults: Filters) -> Filters:
    """The same filters with anything this account does not have reset to the default."""
    return from_params({"from": filters.start.isoformat(), "to": filters.end.isoformat(),
                        "currency": filters.picked, "in": filters.currency, "granularity": filters.granularity,
                        "product": filters.product or "", "segment": filters.segment or "",
                        **{name: getattr(filters, name) or "" for name in (*SEGMENT_FIELDS, "by")}}, options, defaults)


# ----------------------------------------------------------------------------- Streamlit

def link_params(**extra: str) -> dict[str, str]:
    """The URL parameters of the filters in effect plus `extra` (e.g. `id=cus_…`), for the
    links and page switches of drill-downs: `st.switch_page(..., query_params=...)` replaces
    the whole query string, so a link without them would drop the analyst's view."""
    import streamlit as st

    params = dict(st.session_state.get("_filters_url") or {})
    params.update(extra)
    return params


def _url_filter_params(query_params) -> dict[str, str]:
    return {k: query_params.get(k) for k in URL_KEYS if k in query_params}


def _set_widgets(state, filters: Filters) -> None:
    state[_W["dates"]] = (filters.start, filters.end)
    state[_W["currency"]] = filters.picked
    if filters.converted:
        state[_W["reporting"]] = filters.currency
    state[_W["granularity"]] = filters.granularity
    state[_W["product"]] = filters.product or ALL
    state[_W["segment_key"]] = filters.segment_key or ALL
    state[_W["segment_value"]] = filters.segment_value or ALL
    for name in (*SEGMENT_FIELDS, "by"):
        state[_W[name]] = getattr(filters, name) or ALL


def _from_widgets(state, previous: Filters, reporting: str) -> Filters:
    dates = state.get(_W["dates"])
    start, end = previous.start, previous.end
    if isinstance(dates, (tuple, list)) and len(dates) == 2 and all(dates):
        start, end = dates
    seg_key = state.get(_W["segment_key"]) or None
    seg_value = state.get(_W["segment_value"]) or None
    picked = state.get(_W["currency"]) or previous.picked
    converted = picked == ALL_CURRENCIES
    if converted:
        reporting = state.get(_W["reporting"]) or reporting
    return Filters(start, end, reporting if converted else picked,
                   state.get(_W["granularity"]) or previous.granularity, state.get(_W["product"]) or None,
                   seg_key if seg_value else None, seg_value if seg_key else None, converted,
                   **{name: state.get(_W[name]) or None for name in (*SEGMENT_FIELDS, "by")})


def _preset(key: str, first: date | None, today: date) -> tuple[date, date] | None:
    end = today
    if key == "ytd":
        return date(end.year, 1, 1), end
    if key == "all":
        return (first or end - timedelta(days=365)), end
    months = {"3m": 3, "6m": 6, "12m": 12, "24m": 24}.get(key)
    if not months:
        return None
    index = end.year * 12 + end.month - 1 - (months - 1)
    start = date(index // 12, index % 12 + 1, 1)
    if first and first > start:
        start = date(first.year, first.month, 1)
    return start, end


PRESETS = {"3m": "Last 3 months", "6m": "Last 6 months", "12m": "Last 12 months", "24m": "Last 24 months",
           "ytd": "Year to date", "all": "All time"}


def show_only(state, by: str, value: str) -> None:
    """Set the sidebar's segment filter of dimension `by` to `value` (a breakdown row's drill-down;
    call from a widget callback, before the sidebar is drawn)."""
    if by.startswith("metadata:"):
        state[_W["segment_key"]], state[_W["segment_value"]] = by.removeprefix("metadata:"), value
    else:
        state[_W[by]] = value


def _segment_widgets(sidebar, state, options: FilterOptions, product_names: Mapping[str, str],
                     changed: Callable[[], None]) -> None:
    """Break down by, then the plan / price / interval / country segments (docs/metrics.md "Segments")."""
    sidebar.selectbox("Break down by", [ALL] + by_options(options), key=_W["by"], on_change=changed,
                      format_func=lambda b: "No breakdown" if b == ALL else by_label(b),
                      help="MRR movements and churn per plan, price, billing interval, country or metadata value "
                           "on the MRR and Retention pages.")
    offered = segment_values(options)
    chosen = any(state.get(_W[name]) for name in SEGMENT_FIELDS)
    price_names = dict(options.prices)
    labels = {"plan": ("Plan", "All plans", lambda v: product_names.get(v, v),
                       "Customers whose main plan (the product bringing most of their MRR) is this one, with all "
                       "their MRR; a plan change moves them between plans."),
              "price": ("Price", "All prices", lambda v: price_names.get(v, v),
                        "Customers whose main price is this one, month by month."),
              "interval": ("Billing interval", "All intervals", str.capitalize,
                           "Customers whose MRR is mostly billed at this interval, month by month."),
              "country": ("Country", "All countries", str,
                          "Customers of this country: the address, else the card of the latest payment.")}
    for name in SEGMENT_FIELDS:
        if state.get(_W[name]) not in [ALL] + offered[name]:
            state[_W[name]] = ALL
    # Drawn only while open (opening it reruns the page): four pickers fewer to send and redraw on
    # every run of every page. A closed box keeps its choices (`widget_state.resend`).
    box = sidebar.expander("Plan, price, interval, country", expanded=chosen, key=SEGMENTS_OPEN, on_change="rerun")
    if not box.open:
        return
    for name in SEGMENT_FIELDS:
        label, everything, show, help_text = labels[name]
        box.selectbox(label, [ALL] + offered[name], key=_W[name], help=help_text, on_change=changed,
                      format_func=lambda v, everything=everything, show=show: everything if v == ALL else show(v))


def _keeps_sidebar(before: Filters, after: Filters) -> bool:
    """Whether the sidebar shows `after` as drawn for `before`: the same pickers, options and
    labels (the *Report in* picker and the currency's label follow the converted view; a
    segment's values follow its key)."""
    return (after.converted == before.converted and (not after.converted or after.currency == before.currency)
            and after.segment_key == before.segment_key)


def _commit(state, filters: Filters, defaults: Filters, reporting: str) -> None:
    """The filters in effect: remembered for the next run and written in the URL."""
    import streamlit as st

    state["_filters_value"] = filters
    params = filters.to_params(defaults, reporting)
    current = st.query_params.to_dict()
    wanted = {k: v for k, v in current.items() if k not in URL_KEYS} | params
    if wanted != current:
        # One update, so the browser's history gains one entry (each change of the query
        # string is one entry: *back* would step through half-written filters).
        st.query_params.from_dict(wanted)
    state["_filters_url"] = params


def _reset_button(defaults: Filters) -> None:
    """*Reset filters*, while a filter differs from its default (drawn as a part, `filter_runs`)."""
    import streamlit as st

    state = st.session_state
    if state.get("_filters_url"):
        def reset() -> None:
            _set_widgets(state, defaults)
            st.rerun()  # the whole app: the pickers show the defaults (a button of a fragment reruns only it)

        st.button("Reset filters", on_click=reset, type="tertiary", icon=":material/restart_alt:")


def render_sidebar(options: FilterOptions, today: date, *, scope_id: str,
                   page_only: Callable[[Filters], bool] | None = None) -> Filters:
    """Draw the filters in the sidebar and return them; keeps the URL in step.
    `scope_id` identifies the account: switching accounts revalidates every value.
    `page_only(filters)`, after a filter change that leaves the sidebar as drawn: whether the
    page may run alone with these filters (`filter_runs`); else the whole app runs."""
    import streamlit as st

    from . import filter_runs

    state = st.session_state
    defaults = default_filters(options, today)
    reporting = reporting_default(options)
    url_now = _url_filter_params(st.query_params)
    last_written = state.get("_filters_url")
    first_run = state.get("_filters_scope") != scope_id
    previous = state.get("_filters_value") or defaults
    if first_run:
        _set_widgets(state, from_params(url_now, options, defaults))
    elif url_now and url_now != last_written:
        _set_widgets(state, from_params(url_now, options, defaults))
    elif state.get(_W["currency"]) is None or state.get(_W["granularity"]) is None:
        # A page switched from inside a page (a drill-down's st.switch_page) starts without the
        # widgets' values; the filters of the run before are the analyst's view.
        _set_widgets(state, previous)
    if not first_run:
        # Values the account no longer offers (after a sync) fall back to defaults.
        checked = valid(_from_widgets(state, previous, reporting), options, defaults)
        if checked != _from_widgets(state, previous, reporting):
            _set_widgets(state, checked)
    state["_filters_scope"] = scope_id
    widget_state.resend(state, _W.values())

    low = min(options.first_day or defaults.start, defaults.start)
    high = max(options.last_day or defaults.end, defaults.end, today)
    sidebar = st.sidebar
    sidebar.markdown("**Filters**")

    def changed() -> None:
        before = state.get("_filters_value") or defaults
        after = _from_widgets(state, before, reporting)
        if page_only is None or not filter_runs.can_rerun_alone() or not _keeps_sidebar(before, after):
            return  # the whole app runs and draws the sidebar anew
        _commit(state, after, defaults, reporting)
        if page_only(after):
            filter_runs.rerun_parts()

    def apply_preset() -> None:
        choice = state.get("f_preset")
        span = _preset(choice, options.first_day, today) if choice else None
        if span:
            state[_W["dates"]] = span
        state["f_preset"] = None

    sidebar.date_input("Date range", key=_W["dates"], min_value=low, max_value=high, format="YYYY-MM-DD",
                       on_change=changed,
                       help="Months shown in charts and tables (MRR snapshots are taken at each month's end).")
    sidebar.selectbox("Quick range", list(PRESETS), index=None, key="f_preset", format_func=PRESETS.get,
                      placeholder="Quick range…", on_change=apply_preset, label_visibility="collapsed")
    # Full width: "All currencies in USD" does not fit in half the sidebar.
    reporting_now = state.get(_W["reporting"]) or reporting
    sidebar.selectbox("Currency", currency_options(options) or [defaults.currency], key=_W["currency"],
                      on_change=changed,
                      format_func=lambda c: currency_label(c, reporting_now),
                      help="A single currency shows its own figures. \"All currencies\" converts every currency "
                           "into the account's default at the ECB reference rate of the day before (MRR at each "
                           "month's end), with exchange-rate moves shown apart as FX impact.")
    # A slot for each picker or button that comes and goes, so that what follows keeps its place
    # in the sidebar: the browser redraws an element moved by one place as a new one.
    report_in = sidebar.empty()
    if state.get(_W["currency"]) == ALL_CURRENCIES:
        choices = reporting_options(options, reporting)
        if state.get(_W["reporting"]) not in choices:
            state[_W["reporting"]] = reporting
        report_in.selectbox("Report in", choices, key=_W["reporting"], format_func=str.upper, on_change=changed,
                          help="The reporting currency every currency is converted into (any currency the ECB "
                               "publishes, and those of the rates you import on the Data page or with "
                               "`stripe-analytics fx import`).")
    sidebar.selectbox("Granularity", GRANULARITIES, key=_W["granularity"], format_func=str.capitalize,
                      on_change=changed,
                      help="Buckets of the payment (cash) charts. MRR is always a month-end snapshot.")
    product_names = dict(options.products)
    sidebar.selectbox("Product", [ALL] + [p for p, _ in options.products], key=_W["product"], on_change=changed,
                      format_func=lambda p: "All products" if p == ALL else product_names.get(p, p),
                      help="MRR counts only the subscription items of this product; payments are not tied "
                           "to a product, so cash figures ignore it.")
    keys = list(options.segments)
    seg_cols = sidebar.columns(2)
    seg_cols[0].selectbox("Segment", [ALL] + keys, key=_W["segment_key"], on_change=changed,
                          format_func=lambda k: "All customers" if k == ALL else k,
                          help="Customers whose metadata has this key = value.")
    chosen_key = state.get(_W["segment_key"]) or ALL
    values = options.segments.get(chosen_key, []) if chosen_key else []
    if state.get(_W["segment_value"]) not in [ALL] + values:
        state[_W["segment_value"]] = ALL
    seg_cols[1].selectbox("Value", [ALL] + values, key=_W["segment_value"], disabled=not chosen_key, on_change=changed,
                          format_func=lambda v: "any" if v == ALL else v)
    _segment_widgets(sidebar, state, options, product_names, changed)

    filters = _from_widgets(state, previous, reporting)
    _commit(state, filters, defaults, reporting)
    with sidebar:
        filter_runs.part("filters_reset")(_reset_button)(defaults)
    return filters


def adopt_url() -> None:
    """The next run takes every filter from the URL (an opened saved view): a filter the URL
    leaves out is the default, not the session's value."""
    import streamlit as st

    st.session_state.pop("_filters_scope", None)
