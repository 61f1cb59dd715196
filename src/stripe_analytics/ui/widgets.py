"""The widgets pages are made of: KPI tiles, tables (filter, sort, column choice, CSV /
Parquet / Excel downloads), charts (PNG / SVG / HTML / data CSV downloads), and the empty
and error states. Downloads are produced only when clicked (Streamlit calls the function
then), so drawing a page never renders an image or writes a workbook."""

from __future__ import annotations

import hashlib
import json
import pickle
import types
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from textwrap import dedent
from typing import Any, Callable, Iterator, Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from .. import exports
from ..charts import SPARK_HEIGHT, mark_notes, slim, sparkline_svg, symbol, vega_lite, with_hover_note
from ..money import decimals
from ..tiles import Sparkline, row_html, tile_html
from . import definitions, first_paint, notes
from .data import function_name
from .. import formatting as fmt
from .filters import Filters

URL_COLUMNS = {"receipt_url", "hosted_invoice_url", "url"}
# How the trial and recovery tables show their rates and durations.
RATE_DAY_COLUMNS = {
    **{c: st.column_config.NumberColumn(c.replace("_", " ").capitalize(), format="percent")
       for c in ("trial_conversion_rate", "recovery_rate", "involuntary_churn_share")},
    **{c: st.column_config.NumberColumn(c.replace("_", " ").capitalize(), format="%.1f")
       for c in ("median_days_to_convert", "median_days_to_recover")},
}
JSON_COLUMNS = {"metadata"}
_DT_FORMAT = "YYYY-MM-DD HH:mm"


# ----------------------------------------------------------------------------- states

def empty_state(title: str, body: str, *, icon: str = ":material/inbox:") -> None:
    with st.container(border=True):
        st.markdown(f"#### {title}")
        st.markdown(body)


def error_state(message: str, *, hint: str | None = None) -> None:
    st.error(message + (f"\n\n{hint}" if hint else ""), icon=":material/error:")


SEARCH_PARAM = "q"


def search_box(container, label: str, *, key: str, **kwargs) -> str:
    """A page's search box, kept in the URL (`?q=…`) so a search can be bookmarked and shared:
    the URL fills the box on arrival (and after *back*), and typing updates the URL."""
    state = st.session_state
    in_url = st.query_params.get(SEARCH_PARAM, "")
    seen = f"_{key}_url"
    if state.get(seen) != in_url:  # arrived with (or went back to) a URL: it wins
        state[key] = in_url
    value = container.text_input(label, key=key, **kwargs)
    if value.strip() != in_url:
        if value.strip():
            st.query_params[SEARCH_PARAM] = value.strip()
        else:
            del st.query_params[SEARCH_PARAM]
    state[seen] = value.strip()
    return value


def page_header(title: str, subtitle: str | None = None) -> None:
    st.markdown(f"## {title}")
    if subtitle:
        st.caption(subtitle)


# ----------------------------------------------------------------------------- KPI tiles

@dataclass(frozen=True)
class MonthComparison:
    """The latest month of a monthly table and the month before it (None for the first)."""

    last: pd.Series
    prev: pd.Series | None
    vs: str | None  # "vs March 2026", the tiles' delta description
    to_date: bool = False  # the last month is not over: its flows (volumes) are partial

    def previous(self, column: str) -> Any:
        return None if self.prev is None else self.prev[column]


    @property
    def caption(self) -> str:
        """'**November 2026** (month to date), compared with October 2026' (Markdown)."""
        return (f"**{fmt.month_name(self.last['month'])}**" + (" (month to date)" if self.to_date else "")
                + (f", compared with {fmt.month_name(self.prev['month'])}" if self.prev is not None else ""))


def compare_months(monthly: pd.DataFrame, month_to_date: int) -> MonthComparison:
    """The last two months of `monthly` (`month_to_date`: the month number of the as-of month,
    which is incomplete)."""
    last = monthly.iloc[-1]
    prev = monthly.iloc[-2] if len(monthly) > 1 else None
    return MonthComparison(last, prev, f"vs {fmt.month_name(prev['month'])}" if prev is not None else None,
                           to_date=bool(last["m"] == month_to_date))


def month_comparison(monthly: pd.DataFrame, month_to_date: int) -> MonthComparison:
    """`compare_months`, saying which months they are in a caption."""
    compared = compare_months(monthly, month_to_date)
    st.caption(compared.caption)
    return compared


@dataclass(frozen=True)
class SameDays:
    """A month's cash figures against the same days of the month before and of the same month a
    year earlier (metrics.md "Comparing a month to date"; `MetricsEngine.depth`): `previous`
    and `last_year` hold the cash columns and their rates for those windows (None: nothing to
    compare with)."""

    month: str
    period_days: int
    to_date: bool  # the month is not over: its days so far
    previous: pd.Series | None
    previous_days: tuple | None
    last_year: pd.Series | None
    last_year_days: tuple | None

    def _current(self) -> str:
        year, month = (int(x) for x in self.month.split("-"))
        return fmt.day_range(date(year, month, 1), date(year, month, self.period_days))

    @property
    def vs(self) -> str | None:
        if self.previous_days is None:
            return None
        return f"vs {fmt.day_range(*self.previous_days)}" if self.to_date \
            else f"vs {fmt.month_name(f'{self.previous_days[0]:%Y-%m}')}"

    def compared_label(self, window: str) -> str:
        """'Gross volume 1–29 Oct' / 'Gross volume 1–29 Nov 2025': a chart mark's name."""
        days = self.previous_days if window == "previous" else self.last_year_days
        return f"Gross volume {fmt.day_range(*days, year=window == 'last_year')}"

    def caption(self, current: bool, last_year_delta: Callable[[str], Any]) -> str:
        """'**1–29 Nov vs 1–29 Oct** (month to date, against the same days of the month before) ·
        gross volume +50.0% vs 1–29 Nov 2025'."""
        if self.to_date:
            text = f"**{self._current()}" + (f" {self.vs}**" if self.vs else "**") \
                + (" (month to date, against the same days of the month before)" if current else "")
        else:
            text = f"**{fmt.month_name(self.month)}**" + (
                f", compared with {fmt.month_name(f'{self.previous_days[0]:%Y-%m}')}" if self.previous_days else "")
        delta = last_year_delta("gross_volume")
        if self.last_year_days is not None and delta:
            days = fmt.day_range(*self.last_year_days, year=True) if self.to_date \
                else fmt.month_name(f"{self.last_year_days[0]:%Y-%m}")
            text += f" · gross volume {delta} vs {days}"
        return text


def _frame_digest(frame: pd.DataFrame) -> bytes:
    """A small table by its pickle, for Streamlit's caches: several times quicker than its own
    hash of a frame, and equal pickles are equal tables (a table equal but laid out otherwise
    is only a miss)."""
    return hashlib.blake2b(pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL), digest_size=16).digest()


@st.cache_data(show_spinner=False, max_entries=64, hash_funcs={pd.DataFrame: _frame_digest})
def same_days(depth: pd.DataFrame, month: str, to_date: bool) -> SameDays | None:
    """The same-days comparison of `month` from a `data.same_days` frame (None when it is
    absent); `to_date`: the month is the current one, not over yet. Kept per frame and month:
    its rates are pandas work each run would repeat."""
    from ..metrics.cash import CASH_COLUMNS, cash_rates

    rows = depth[depth["month"] == month]
    if rows.empty:
        return None
    row = rows.iloc[0]

    def window(name: str) -> tuple[pd.Series | None, tuple | None]:
        if row[f"{name}_start"] is None or pd.isna(row[f"{name}_start"]):
            return None, None
        figures = pd.DataFrame([{c: int(row[f"{name}_{c}"]) for c in CASH_COLUMNS}])
        return cash_rates(figures).iloc[0], (row[f"{name}_start"], row[f"{name}_end"])

    previous, previous_days = window("previous")
    last_year, last_year_days = window("last_year")
    return SameDays(month, int(row["period_days"]), to_date, previous, previous_days, last_year, last_year_days)


@dataclass
class TileCell:
    """One place of a `tile_row`: the tiles `tile` and `kpi` put in it (their `container`)."""
    tiles: list[str] = field(default_factory=list)

    def html(self, markup: str) -> None:
        self.tiles.append(markup)


@contextmanager
def tile_row(cells: int) -> Iterator[list[TileCell]]:
    """A row of `cells` places for tiles, used as `st.columns(cells)` is by `tile` and `kpi`
    (`row[i]`, or zipped with what goes in them), drawn as one HTML element when the block ends.
    One element instead of a horizontal block, its columns and a tile in each: a filter change
    sends the browser, which styles and lays out each anew, one message a row instead of 7-9
    (README, *Benchmarks*: *Since then a row of tiles…*)."""
    row = [TileCell() for _ in range(cells)]
    yield row
    st.html(row_html([cell.tiles for cell in row]))


def tile(container, label: str, value: str, **options) -> None:
    """A bordered tile, Streamlit's metric drawn as one HTML element (`tile_markup`: on a
    visit's first run it is on screen as soon as it arrives)."""
    container.html(tile_markup(label, value, **options))


def tile_markup(label: str, value: str, *, delta: str | None = None, delta_color: str = "normal",
                arrow: bool = True, help: str | None = None, description: str | None = None,
                trend: Sequence[float] | None = None, chart_type: str = "area", inline: bool = False) -> str:
    """A tile's HTML (`tiles.tile_html`): `delta_color` as `st.metric`'s ("normal", "inverse",
    "off"), `arrow` False for a delta that is no change (a count beside the value), `help` on the
    label's "?", `trend` a sparkline coloured like the delta (`inline`: as an SVG element, for a
    page Streamlit does not sanitise)."""
    tone = _tone(delta, delta_color)
    direction = ("down" if _falling(delta) else "up") if delta and arrow else None
    trend_drawn = Sparkline(sparkline_svg(trend, chart_type, tone), trend, SPARK_HEIGHT) \
        if trend is not None and len(trend) > 1 else None
    return tile_html(label, value, delta=delta, tone=tone, arrow=direction, description=description, help=help,
                     sparkline=trend_drawn, inline=inline)


def kpi(container, key: str, value: str, **options) -> None:
    """A metric's tile (`kpi_markup`)."""
    container.html(kpi_markup(key, value, **options))


def kpi_markup(key: str, value: str, *, delta: str | None = None, inverse: bool = False,
               trend: Sequence[float] | None = None, label: str | None = None,
               delta_description: str | None = None, chart_type: str = "area", note: str | None = None,
               partial: bool = False, inline: bool = False) -> str:
    """A metric's tile (`tile_markup`) with its definition on hover and an optional sparkline;
    `note` (e.g. how a converted figure was converted) is added to the hover text. The delta (and
    the sparkline, coloured like it) is grey, not red or green, when it is nil (`0.0 pp`) or
    `partial` (a month-to-date flow against a whole month). The sparkline is an SVG image
    (`charts.sparkline_svg`) in the tile, not Streamlit's chart_data (a Vega view per tile,
    redrawn on every rerun)."""
    data = [float(v) for v in trend if v is not None and not pd.isna(v)] if trend is not None else None
    help_text = "\n\n".join(t for t in (definitions.help_text(key), note) if t)
    neutral = partial or bool(getattr(delta, "flat", False))
    return tile_markup(label or definitions.label(key), value, delta=delta,
                       delta_color="off" if neutral else ("inverse" if inverse else "normal"),
                       help=help_text or None, description=delta_description, trend=data, chart_type=chart_type,
                       inline=inline)


def _tone(delta: str | None, delta_color: str) -> str:
    """The delta's and its sparkline's colour, as Streamlit colours a metric's delta: "up" (green),
    "down" (red), "off"."""
    if delta_color == "off" or not str(delta or "").strip():
        return "off"
    return "down" if _falling(delta) != (delta_color == "inverse") else "up"


def _falling(delta: str) -> bool:
    """Streamlit's own test of a falling delta: its text starts with a minus."""
    return dedent(str(delta)).startswith("-")


# ----------------------------------------------------------------------------- money columns

def major(frame: pd.DataFrame, columns: Sequence[str], currency: str | None = None,
          currency_column: str = "currency") -> pd.DataFrame:
    """Minor-unit amount columns to major units (exact to the minor unit), using one currency
    or each row's currency column."""
    out = frame.copy()
    for column in columns:
        if column not in out.columns:
            continue
        values = pd.to_numeric(out[column], errors="coerce").astype("float64")
        if currency:
            out[column] = (values / 10 ** decimals(currency)).round(decimals(currency))
        elif currency_column in out.columns:
            scale = out[currency_column].fillna("usd").map(lambda c: 10 ** decimals(str(c)))
            out[column] = values / scale
        else:
            out[column] = values / 100
    return out


def money_config(label: str, currency: str | None, *, help: str | None = None):
    """A money column in one currency (its symbol and decimals); with no currency, each row's
    amount is already text in its own currency (`display_frame`)."""
    if currency:
        places = decimals(currency)
        return st.column_config.NumberColumn(label, format=f"{symbol(currency)}%,.{places}f", help=help)
    return st.column_config.TextColumn(label, help=help, alignment="right")


def display_frame(frame: pd.DataFrame, money: Sequence[str] = (), currency: str | None = None,
                  currency_column: str = "currency") -> pd.DataFrame:
    """What the grid shows (downloads keep the numbers): money in major units of mixed
    currencies as text in each row's own currency ('¥5,800', '€0.36'), and empty text and
    times instead of Streamlit's literal "None"."""
    out = frame.copy()
    if not currency and currency_column in out.columns:
        for column in money:
            if column in out.columns:
                out[column] = [fmt.money_major(v, str(c)) if isinstance(c, str) and c else ("" if fmt.is_missing(v)
                               else f"{float(v):,.2f}") for v, c in zip(out[column], out[currency_column])]
    for column in out.columns:
        if column in money and not currency:
            continue
        dtype = out[column].dtype
        if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype):
            if out[column].isna().any():
                out[column] = out[column].dt.strftime("%Y-%m-%d %H:%M").fillna("")
        elif dtype == object or pd.api.types.is_string_dtype(dtype):
            out[column] = out[column].astype(object).where(out[column].notna(), "")
    return out


# Stripe's amount columns (minor units in the cache), as the SQL console finds them in a result.
MINOR_UNIT_COLUMNS = {"amount", "amount_captured", "amount_refunded", "amount_received", "amount_paid", "amount_due",
                      "amount_remaining", "unit_amount", "total", "subtotal", "tax", "balance", "mrr", "lifetime_paid",
                      "invoiced", "fee", "net"}


def minor_unit_columns(frame: pd.DataFrame, currency_column: str = "currency") -> list[str]:
    """The columns of a query result that are Stripe amounts of each row's currency: named like
    one (`MINOR_UNIT_COLUMNS`) and holding whole numbers, next to a currency column (an
    `amount / 100.0` is a number of the analyst's own, left as it is)."""
    if currency_column not in frame.columns:
        return []
    found = []
    for column in frame.columns:
        values = frame[column]
        if str(column).lower() not in MINOR_UNIT_COLUMNS or pd.api.types.is_bool_dtype(values.dtype):
            continue
        numbers = pd.to_numeric(values, errors="coerce")  # sums arrive as decimals
        if numbers.isna().sum() > values.isna().sum():
            continue  # not numbers
        numbers = numbers.dropna().astype("float64")
        if bool((numbers == numbers.round()).all()):
            found.append(column)
    return found


_ACRONYMS = {"mrr", "arr", "arpa", "ltv", "nrr", "grr", "id", "url", "sql", "fx"}


def column_label(column: str) -> str:
    """'new_mrr' -> 'New MRR', 'arr' -> 'ARR', 'unit_amount' -> 'Unit amount'."""
    words = [w.upper() if w.lower() in _ACRONYMS else w for w in str(column).split("_") if w]
    if not words:
        return str(column)
    first = words[0]
    return " ".join([first if first.isupper() else first.capitalize()] + words[1:])


def _auto_config(frame: pd.DataFrame, given: Mapping[str, Any]) -> dict:
    config: dict[str, Any] = {}
    for column in frame.columns:
        if column in given:
            continue
        dtype = frame[column].dtype
        label = column_label(column)
        if column in URL_COLUMNS:
            config[column] = st.column_config.LinkColumn(label, display_text="Open ↗")
        elif isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype):
            config[column] = st.column_config.DatetimeColumn(label, format=_DT_FORMAT, timezone="UTC")
        elif pd.api.types.is_float_dtype(dtype):
            config[column] = st.column_config.NumberColumn(label, format="localized")
        elif pd.api.types.is_bool_dtype(dtype):
            config[column] = st.column_config.CheckboxColumn(label)
        elif pd.api.types.is_integer_dtype(dtype):
            config[column] = st.column_config.NumberColumn(label, format="%,d")
        else:
            config[column] = st.column_config.Column(label)
    config.update(given)
    return config


def _searchable(frame: pd.DataFrame, text: str) -> pd.Series:
    needle = text.strip().lower()
    mask = pd.Series(False, index=frame.index)
    for column in frame.columns:
        series = frame[column]
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            mask |= series.astype("string").str.lower().str.contains(needle, regex=False, na=False)
        elif pd.api.types.is_numeric_dtype(series.dtype) and needle.replace(".", "", 1).isdigit():
            mask |= series.astype("string").str.contains(needle, regex=False, na=False)
    return mask


def _exported(frame: pd.DataFrame | None, filters: Filters | None) -> pd.DataFrame | None:
    """What a download holds: in a converted view, each row also says which reporting currency
    and which rates date its amounts are in."""
    if frame is None or filters is None or not filters.converted:
        return frame
    out = frame.copy()
    out["reporting_currency"] = filters.currency
    out["rates_as_of"] = filters.rates_date.isoformat() if filters.rates_date else None
    return out


def _file_namer(view: str, filters: Filters | None, dates_in_name: bool) -> Callable[[str], str]:
    """Export file names after the view and the filters (`mrr_usd_2025-01_2026-06.png`)."""
    def name(ext: str) -> str:
        return filters.filename(view, ext, dates=dates_in_name) if filters else exports.export_filename(view, ext)
    return name


def _download_buttons(frame_fn: Callable[[], pd.DataFrame], *, key: str, name: Callable[[str], str],
                      sheet: str, money: Sequence[str] = (), currency: str | None = None,
                      percent: Sequence[str] = ()) -> None:
    for file_format, (label, mime) in exports.TABLE_FORMATS.items():
        st.download_button(
            label, data=(lambda f=file_format: exports.table_bytes(frame_fn(), f, sheet=sheet, money=money,
                                                                   currency=currency, percent=percent)),
            file_name=name(file_format), mime=mime, key=f"{key}_dl_{file_format}", icon=":material/download:", width="stretch", on_click="ignore")


def table(frame: pd.DataFrame, *, key: str, view: str, filters: Filters | None = None, money: Sequence[str] = (),
          currency: str | None = None, column_config: Mapping[str, Any] | None = None,
          columns: Sequence[str] | None = None, selectable: bool = False, height: int | str = "auto",
          truncated_at: int | None = None, dates_in_name: bool = True, search: bool = True,
          empty: str = "Nothing matches these filters.") -> pd.Series | None:
    """A table with row filter, sort, column choice and downloads of what is shown.

    `money`: columns in minor units, shown and exported in major units of `currency` (or of
    each row's `currency` column). `columns`: the columns shown by default (others can be
    added). `truncated_at`: the query's row limit, to say when more rows exist. Returns the
    selected row when `selectable`."""
    truncated = truncated_at is not None and len(frame) > truncated_at
    frame = (frame.head(truncated_at) if truncated else frame).reset_index(drop=True)
    data = _table_data(frame, tuple(money), currency)
    config = {c: money_config(column_label(c), currency) for c in money if c in data.columns}
    config.update(column_config or {})
    all_columns = list(data.columns)
    default_columns = [c for c in (columns or all_columns) if c in all_columns]

    if frame.empty:
        st.info(empty, icon=":material/filter_alt_off:")
        return None
    bar = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
    query = bar.text_input("Filter rows", key=f"{key}_q", placeholder="Filter rows…",
                           label_visibility="collapsed", width="stretch") if search else ""
    if not search:
        bar.space("stretch")
    with bar.popover("Columns", icon=":material/view_column:", width="content"):
        chosen = st.multiselect("Columns shown", all_columns, default=default_columns, key=f"{key}_cols",
                                format_func=column_label)
        sort_by = st.selectbox("Sort by", ["(as listed)"] + all_columns, key=f"{key}_sort",
                               format_func=lambda c: c if c == "(as listed)" else column_label(c))
        descending = st.toggle("Descending", value=True, key=f"{key}_desc")
    shown = data
    if query:
        shown = shown[_searchable(shown[chosen or all_columns], query)]
    if sort_by and sort_by != "(as listed)":
        shown = shown.sort_values(sort_by, ascending=not descending, na_position="last", kind="stable")
    visible = chosen or default_columns

    def current() -> pd.DataFrame:
        out = shown[visible].reset_index(drop=True)
        if currency and any(c in out.columns for c in money) and "currency" not in out.columns:
            out.insert(0, "currency", currency)  # a file's amounts must say their currency
        return _exported(out, filters)

    name = _file_namer(view, filters, dates_in_name)
    percent = [c for c, conf in config.items()
               if isinstance(conf, Mapping) and (conf.get("type_config") or {}).get("format") == "percent"]

    with bar.popover("Download", icon=":material/download:", width="content"):
        _download_buttons(current, key=key, name=name, sheet=view, money=[c for c in money if c in data.columns],
                          currency=currency, percent=percent)
        st.caption("Every matching row (all pages) with the columns shown; amounts in major units.")

    if shown.empty:
        st.info(empty, icon=":material/filter_alt_off:")
        return None
    grid = st.container()
    footer = st.container(horizontal=True, vertical_alignment="center", gap="small")
    note = f"{len(shown):,} row{'s' if len(shown) != 1 else ''}"
    if truncated:
        note += f" (the first {truncated_at:,}; narrow the filters or search to see others)"
    if selectable:
        note += " · select a row to open it"
    rows_shown, page, pages = _page_of(shown, footer, key=key, order=(query, sort_by, descending))
    if pages > 1:
        first = (page - 1) * PAGE_ROWS + 1
        note += (f" · rows {first:,}–{first + len(rows_shown) - 1:,} shown, page {page:,} of {pages:,}"
                 " (Columns → Sort by orders every page)")
    footer.caption(note, width="stretch")
    # Only the page sent is made displayable (each row's amount as text in its currency): the
    # other pages' rows would be formatted on every run for nothing.
    display = display_frame(data.loc[rows_shown.index], money, currency)[visible]
    event = grid.dataframe(
        display, hide_index=True, column_config=_auto_config(display, config), key=key, height=height,
        on_select="rerun" if selectable else "ignore", selection_mode="single-row", width="stretch")
    if selectable and event is not None:
        rows = event.selection.rows if hasattr(event, "selection") else []
        if rows:
            return rows_shown.iloc[rows[0]]
    return None


@st.cache_data(show_spinner=False, max_entries=32, hash_funcs={pd.DataFrame: _frame_digest})
def _table_data(frame: pd.DataFrame, money: tuple[str, ...], currency: str | None) -> pd.DataFrame:
    """A table's rows as it searches, sorts and exports them: amounts in major units, JSON
    compacted. Kept per table: every run of the page would redo it for every row."""
    data = major(frame, list(money), currency) if money else frame.copy()
    for column in JSON_COLUMNS & set(data.columns):
        data[column] = data[column].map(_compact_json)
    return data


# Rows a table sends the browser at once: the grid draws what it is sent, so a 20,000-row
# table (3.4 MB) is sent a page at a time instead; downloads still hold every row.
PAGE_ROWS = 200


def _page_of(shown: pd.DataFrame, container, *, key: str, order: tuple) -> tuple[pd.DataFrame, int, int]:
    """(rows, page number, pages): the page of `shown` the table's pager (drawn in `container`
    when there is more than one page) points at; back to the first page whenever the rows or
    their order change."""
    pages = -(-len(shown) // PAGE_ROWS)
    if pages <= 1:
        return shown, 1, 1
    state, page_key = st.session_state, f"{key}_page"
    signature = (len(shown), order)
    if state.get(f"_{page_key}_of") != signature or not 1 <= int(state.get(page_key) or 1) <= pages:
        state[page_key] = 1
    state[f"_{page_key}_of"] = signature
    number = int(container.number_input("Page", min_value=1, max_value=pages, step=1, key=page_key, width=150))
    start = (number - 1) * PAGE_ROWS
    return shown.iloc[start:start + PAGE_ROWS], number, pages


def _compact_json(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
    else:
        parsed = value
    if isinstance(parsed, dict):
        return ", ".join(f"{k}={v}" for k, v in parsed.items())
    return json.dumps(parsed)


def tabs(labels: Sequence[str], *, key: str):
    """`st.tabs` whose open tab the page knows (`tab.open`), so it draws that tab's content only:
    a click on another tab reruns the page. Every element of a page, hidden in a closed tab or
    not, costs the browser a redraw on each run."""
    return st.tabs(list(labels), key=key, on_change="rerun")


def sections(drawers: Mapping[str, Callable[[], None]], *, key: str) -> None:
    """A page's sections as `tabs`, the first open: each label's function draws its section,
    only the open one runs (every chart on a page, hidden or not, is sent and redrawn on each
    filter change)."""
    for tab, draw in zip(tabs(list(drawers), key=key), drawers.values()):
        with tab:
            if tab.open:
                draw()


def expander(label: str, *, key: str, icon: str | None = None):
    """`st.expander` whose content the page draws only while it is open (`box.open`); opening it
    reruns the page."""
    return st.expander(label, key=key, icon=icon, on_change="rerun")


# ----------------------------------------------------------------------------- charts

def chart(figure: go.Figure | Callable[[], go.Figure], data: pd.DataFrame | None, *, key: str, view: str,
          filters: Filters | None = None, selectable: bool = False, title: str | None = None,
          dates_in_name: bool = True, light: bool = False, note: str | None = None):
    """A Plotly chart with a Download menu (PNG, SVG, interactive HTML, data CSV). Returns
    the selection event when `selectable` (click a bar; `selected_points` reads it). `note`: a line every hover text ends
    with (a converted view's rates, `page.conversion_note`). `light` draws the same chart with
    Vega-Lite (`charts.vega_lite`), which the page loads anyway for the KPI sparklines, so the
    browser does not parse Plotly's 4.7 MB bundle before the page is usable; the downloads
    are the Plotly figure's either way.

    `figure` is the figure, or a `charts` builder bound to its arguments
    (`functools.partial(charts.lines, frame, ...)`): a light chart's drawing is then kept for the
    next run with the same arguments, so a rerun that does not change the chart builds no
    figure; the downloads build it when clicked."""
    name = _file_namer(view, filters, dates_in_name)
    marks = notes.for_charts()  # the account's notes on its time axis
    select = PICKED if selectable else None
    if light and _keepable(figure):
        drawing = _kept_light_drawing(figure, note, marks, select)
    else:
        drawing = _drawing(figure() if callable(figure) else figure, note, marks, light, select)
    data = exports.with_notes(data, drawing.placed)

    event = None
    if not first_paint.charts_now():
        first_paint.hold(drawing.height, key)
    elif light:
        event = st.vega_lite_chart(drawing.frame, drawing.spec, key=key, width="stretch", theme=None,
                                   on_select="rerun" if selectable else "ignore", selection_mode=select)
    else:
        event = st.plotly_chart(
            drawing.figure, key=key, on_select="rerun" if selectable else "ignore",
            selection_mode=("points",) if selectable else ("points", "box", "lasso"),
            config={"displaylogo": False, "displayModeBar": "hover",
                    "modeBarButtonsToRemove": ["toImage"] if selectable else ["lasso2d", "select2d", "toImage"]})

    def exported_figure() -> go.Figure:  # every point at full precision, built when a download is clicked
        return _annotated(figure() if callable(figure) else figure, note, marks)[0]

    with st.popover("Download chart", icon=":material/download:", type="tertiary"):
        for file_format, (label, mime) in exports.CHART_FORMATS.items():
            st.download_button(
                label, data=(lambda f=file_format: exports.chart_bytes(
                    exported_figure(), _exported(data, filters), f, title=title or column_label(view),
                    subtitle=" · ".join(x for x in (filters.describe() if filters else None, "Stripe Analytics") if x))),
                file_name=name(file_format), mime=mime, key=f"{key}_dl_{file_format}", icon=":material/download:",
                width="stretch", on_click="ignore")
    return event if selectable else None


@dataclass(frozen=True)
class Drawing:
    """What the browser is sent of a chart: its height, the notes placed on it ({x: texts}), and
    either the slimmed Plotly figure or the Vega-Lite frame and spec (`light`)."""
    height: int
    placed: dict[str, list[str]]
    figure: go.Figure | None = None
    frame: pd.DataFrame | None = None
    spec: dict | None = None


def _annotated(fig: go.Figure, note: str | None, marks: list[tuple[date, str]]) -> tuple[go.Figure, dict]:
    """`fig` with the hover note and the notes' markers (new figures; `fig` is left as it is)."""
    return mark_notes(with_hover_note(fig, note) if note else fig, marks)


def _drawing(fig: go.Figure, note: str | None, marks: list[tuple[date, str]], light: bool,
             select: str | None) -> Drawing:
    annotated, placed = _annotated(fig, note, marks)
    drawn = slim(annotated)  # the exports render the figure itself, every point at full precision
    height = int(drawn.layout.height or 450)
    if not light:
        return Drawing(height, placed, figure=drawn)
    frame, spec = vega_lite(drawn, select=select)
    return Drawing(height, placed, frame=frame, spec=spec)


def _keepable(figure) -> bool:
    """A builder whose drawing may be kept: a module's function bound to all it reads, so its name
    and arguments say which figure it builds (a function defined in a page reads the page's
    variables too)."""
    return isinstance(figure, partial) and "<locals>" not in getattr(figure.func, "__qualname__", "<locals>")


@st.cache_data(show_spinner=False, max_entries=256,
               hash_funcs={pd.DataFrame: _frame_digest, types.FunctionType: function_name})
def _kept_light_drawing(figure: partial, note: str | None, marks: list[tuple[date, str]],
                        select: str | None) -> Drawing:
    """`_drawing` of a light chart, kept per builder (by name, as `data.browse` keeps a query) and
    arguments, which Streamlit hashes (data frames by content)."""
    return _drawing(figure(), note, marks, True, select)


# The name of a light (Vega-Lite) chart's click selection: its points carry the bar's `x` and `series`.
PICKED = "picked"


def selected_points(event) -> list[dict]:
    """The clicked points of a chart's selection event (kept in session state under the chart's
    key): Plotly's `points`, or a Vega-Lite chart's `PICKED` selection."""
    for name in ("points", PICKED):
        try:
            found = event["selection"][name]
        except (KeyError, TypeError, AttributeError):
            found = getattr(getattr(event, "selection", None), name, None)
        if found:
            return list(found)
    return []
