"""Every table and chart the app shows can leave it: tables as CSV, Parquet or Excel,
charts as PNG, SVG, a standalone interactive HTML file, or the chart's data as CSV.

File names say what the file holds: the view, then the filters that shaped it
(`mrr_usd_2025-01_2026-06.png`). Nothing here touches Streamlit, so the CLI and tests can
use it too. PNG/SVG go through kaleido, which drives the system Chromium; one kaleido
server is kept per process (started on first use) so an export takes a fraction of a
second instead of a browser start each time.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Iterable

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

LOG = logging.getLogger(__name__)


class ExportError(Exception):
    """An export could not be produced; the message says why in plain words."""


TABLE_FORMATS = {
    "csv": ("CSV", "text/csv"),
    "parquet": ("Parquet", "application/vnd.apache.parquet"),
    "xlsx": ("Excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}
CHART_FORMATS = {
    "png": ("PNG image", "image/png"),
    "svg": ("SVG image", "image/svg+xml"),
    "html": ("Interactive HTML", "text/html"),
    "csv": ("Chart data (CSV)", "text/csv"),
}
IMAGE_WIDTH = 1200
IMAGE_HEIGHT = 600
IMAGE_SCALE = 2


# ----------------------------------------------------------------------------- names

def _slug(value: Any) -> str:
    text = str(value).strip().lower()
    text = re.sub(r"[^a-z0-9._-]+", "-", text)
    text = re.sub(r"-{2,}", "-", text).strip("-.")
    return text[:40]


def _month(value: date | datetime | str | None) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value.year:04d}-{value.month:02d}"


def export_filename(view: str, ext: str, *, currency: str | None = None, start: Any = None, end: Any = None,
                    granularity: str | None = None, extra: Iterable[Any] = ()) -> str:
    """`mrr_usd_2025-01_2026-06.png`: the view, the currency, the date range by month, then
    any other non-default filter (granularity other than month, product, segment...)."""
    parts = [_slug(view) or "export"]
    if currency:
        parts.append(_slug(currency))
    first, last = _month(start), _month(end)
    if first:
        parts.append(first)
    if last and last != first:
        parts.append(last)
    if granularity and granularity != "month":
        parts.append(_slug(granularity))
    parts.extend(_slug(x) for x in extra if x not in (None, ""))
    name = "_".join(p for p in parts if p)
    return f"{name}.{ext.lstrip('.')}"


# ----------------------------------------------------------------------------- tables

def _plain_cell(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, separators=(",", ":"))
    return value


def _portable(df: pd.DataFrame) -> pd.DataFrame:
    """Columns any writer can take: nested values as JSON text, no index surprises."""
    out = df.copy()
    out.columns = [str(c) for c in out.columns]
    for name in out.columns:
        column = out[name]
        if column.dtype == object:
            if column.map(lambda v: isinstance(v, (dict, list, tuple))).any():
                out[name] = column.map(_plain_cell)
    return out.reset_index(drop=True)


def to_csv(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a header row; timestamps in ISO 8601."""
    return _portable(df).to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S%z").encode("utf-8")


def to_parquet(df: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame = _portable(df)
    for name in frame.columns:
        if frame[name].dtype == object:
            # Mixed Python objects (a number next to a text) become text rather than failing.
            import pyarrow as pa

            try:
                pa.array(frame[name])
            except pa.ArrowException:  # no one Arrow type holds them all
                frame[name] = frame[name].map(lambda v: None if v is None else str(v))
    frame.to_parquet(buffer, index=False, engine="pyarrow")
    return buffer.getvalue()


_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


_MONTH = re.compile(r"^\d{4}-\d{2}$")


def _money_format(currency: str) -> str:
    from .money import SYMBOLS, decimals

    places = decimals(currency)
    symbol = SYMBOLS.get(currency.lower(), currency.upper() + " ").replace('"', "")
    number = "#,##0" + ("." + "0" * places if places else "")
    return f'"{symbol}"{number};-"{symbol}"{number}'


def to_xlsx(df: pd.DataFrame, *, sheet: str = "data", money: Iterable[str] = (), currency: str | None = None,
            percent: Iterable[str] = ()) -> bytes:
    """An .xlsx workbook (openpyxl) whose cells keep their meaning: `money` columns (major
    units) in their currency's format (`currency`, or each row's `currency` column), `percent`
    columns (fractions) as percentages, timestamps and months ("2026-03") as dates. Excel has
    no time zones, so timestamps are written in UTC without zone and the header says so."""
    frame = _portable(df)
    renames = {}
    formats: dict[str, str] = {}
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            frame[name] = column.dt.tz_convert("UTC").dt.tz_localize(None)
            renames[name] = f"{name} (UTC)"
            formats[name] = "yyyy-mm-dd hh:mm"
        elif pd.api.types.is_datetime64_any_dtype(column.dtype):
            formats[name] = "yyyy-mm-dd hh:mm"
        elif column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            values = column.dropna()
            if len(values) and values.map(lambda v: isinstance(v, str) and bool(_MONTH.match(v))).all():
                frame[name] = pd.to_datetime(column, format="%Y-%m", errors="coerce")
                formats[name] = "mmm yyyy"
            elif len(values) and values.map(lambda v: isinstance(v, date) and not isinstance(v, datetime)).all():
                frame[name] = pd.to_datetime(column, errors="coerce")
                formats[name] = "yyyy-mm-dd"
            else:
                frame[name] = column.map(lambda v: _ILLEGAL_XLSX.sub("", v) if isinstance(v, str) else v)
    for name in percent:
        if name in frame.columns:
            formats[name] = "0.0%"
    row_currency = None if currency else (frame["currency"] if "currency" in frame.columns else None)
    for name in money:
        if name in frame.columns and currency:
            formats[name] = _money_format(currency)
    frame = frame.rename(columns=renames)
    buffer = io.BytesIO()
    sheet_name = re.sub(r"[\[\]:*?/\\]", " ", sheet)[:31] or "data"
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        frame.to_excel(writer, index=False, sheet_name=sheet_name)
        worksheet = writer.sheets[sheet_name]
        worksheet.freeze_panes = "A2"
        for index, name in enumerate(frame.columns, start=1):
            sample = [len(str(name))] + [len(str(v)) for v in frame[name].head(200).tolist()]
            letter = worksheet.cell(row=1, column=index).column_letter
            worksheet.column_dimensions[letter].width = min(60, max(8, max(sample) + 2))
            original = next((k for k, v in renames.items() if v == name), name)
            if original in formats:
                for (cell,) in worksheet.iter_rows(min_row=2, min_col=index, max_col=index):
                    cell.number_format = formats[original]
            elif original in money and row_currency is not None:
                for row, (cell,) in enumerate(worksheet.iter_rows(min_row=2, min_col=index, max_col=index)):
                    code = row_currency.iloc[row]
                    if isinstance(code, str) and code:
                        cell.number_format = _money_format(code)
    return buffer.getvalue()


def table_bytes(df: pd.DataFrame, fmt: str, *, sheet: str = "data", money: Iterable[str] = (),
                currency: str | None = None, percent: Iterable[str] = ()) -> bytes:
    """A table in one of TABLE_FORMATS; `money`, `currency` and `percent` give Excel its cell
    formats (see `to_xlsx`)."""
    if fmt == "csv":
        return to_csv(df)
    if fmt == "parquet":
        return to_parquet(df)
    if fmt == "xlsx":
        return to_xlsx(df, sheet=sheet, money=list(money), currency=currency, percent=list(percent))
    raise ExportError(f"unknown table format {fmt!r}; choose csv, parquet or xlsx")


# ----------------------------------------------------------------------------- charts

_KALEIDO_LOCK = threading.Lock()
_KALEIDO_STARTED = False


def _ensure_kaleido_server() -> None:
    """Start kaleido's persistent browser once per process. Its sync server is not safe for
    concurrent callers, so every image is made under one lock."""
    global _KALEIDO_STARTED
    if _KALEIDO_STARTED:
        return
    try:
        import kaleido

        kaleido.start_sync_server(silence_warnings=True)
        _KALEIDO_STARTED = True
    except Exception as error:  # noqa: BLE001 - kaleido fails in many ways; each image then starts its own browser
        LOG.warning("kaleido's shared browser could not start (%s: %s); each image starts its own",
                    type(error).__name__, error)
        _KALEIDO_STARTED = False


def _chromium() -> str | None:
    """The browser kaleido will use, found the way kaleido finds it, so a missing browser is
    told apart before rendering instead of by reading an error's words."""
    import os

    from choreographer.browsers.chromium import Chromium

    found = Chromium.find_browser(skip_local=False)
    return found if found and os.access(found, os.X_OK) else None


def chart_image(fig: "go.Figure", fmt: str, *, width: int = IMAGE_WIDTH, height: int = IMAGE_HEIGHT,
                scale: float = IMAGE_SCALE) -> bytes:
    """PNG or SVG bytes of a figure, rendered by kaleido in the system Chromium."""
    if fmt not in ("png", "svg"):
        raise ExportError(f"unknown image format {fmt!r}; choose png or svg")
    import warnings

    if _chromium() is None:
        raise ExportError("Images need Chromium, which was not found: install it "
                          "(Debian: apt-get install chromium) and try again.")
    with _KALEIDO_LOCK:
        _ensure_kaleido_server()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return fig.to_image(format=fmt, width=width, height=height,
                                    scale=scale if fmt == "png" else 1)
        except Exception as error:  # noqa: BLE001 - kaleido and its browser fail in many ways; all say so plainly
            LOG.warning("a %s image could not be drawn", fmt, exc_info=True)
            text = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ExportError(f"The image could not be drawn: {text}") from None


def chart_html(fig: "go.Figure", *, title: str | None = None) -> bytes:
    """A standalone, interactive HTML file: plotly.js is embedded, so it opens offline."""
    html = fig.to_html(full_html=True, include_plotlyjs=True, config={"displaylogo": False, "responsive": True})
    if title:
        safe = (title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
        html = html.replace("<head>", f"<head><title>{safe}</title>", 1)
    return html.encode("utf-8")


def standalone(fig: "go.Figure", title: str | None, subtitle: str | None) -> "go.Figure":
    """A copy of the figure that says what it shows without the page around it (for a deck):
    its title, and under it the filters it was drawn with."""
    import plotly.graph_objects as go

    out = go.Figure(fig)
    shown = (fig.layout.title.text if fig.layout.title is not None else None) or title or ""
    safe = [str(x).replace("<", "&lt;").replace(">", "&gt;") for x in (shown, subtitle or "")]
    text = f"<b>{safe[0]}</b>" + (f"<br><span style='font-size:13px;color:#5b6779'>{safe[1]}</span>"
                                  if safe[1] else "")
    top = max(int(out.layout.margin.t or 0), 90 if subtitle else 60)
    out.update_layout(title=dict(text=text, x=0.01, xanchor="left", y=0.97, yanchor="top", font=dict(size=18)),
                      margin=dict(t=top))
    return out


def chart_bytes(fig: "go.Figure", data: pd.DataFrame | None, fmt: str, *, title: str | None = None,
                subtitle: str | None = None) -> bytes:
    """A chart in one of CHART_FORMATS. Images carry the title and `subtitle` (the filters)."""
    if fmt in ("png", "svg"):
        return chart_image(standalone(fig, title, subtitle), fmt)
    if fmt == "html":
        return chart_html(standalone(fig, title, subtitle), title=title)
    if fmt == "csv":
        if data is None:
            raise ExportError("This chart has no data table to export.")
        return to_csv(data)
    raise ExportError(f"unknown chart format {fmt!r}; choose png, svg, html or csv")


def with_notes(data: pd.DataFrame | None, placed: dict[str, list[str]]) -> pd.DataFrame | None:
    """A chart's data with a `notes` column: the analysts' notes of each row's period
    (`charts.mark_notes`'s placement, joined with " | "), on the rows of the column that holds
    the chart's periods. Unchanged when no note was placed or no column holds the periods."""
    if data is None or not placed or data.empty:
        return data
    for column in data.columns:
        labels = data[column].astype(str)
        if set(placed) <= set(labels):
            out = data.copy()
            out["notes"] = [" | ".join(placed[label]) if label in placed else None for label in labels]
            return out
    return data
