"""Plotly figures for the app and the exports, built from metric frames (amounts already in
major units). One visual language: the product's purple for MRR, green/red families for
movements, thin gridlines, amounts with the currency's symbol and its own decimals."""

from __future__ import annotations

import base64
import html
import json
import math
import re
from datetime import date, datetime, timedelta
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .money import SYMBOLS, decimals

PRIMARY = "#635bff"
SECONDARY = "#0a2540"
MUTED = "#8792a2"
GRID = "#e6ebf1"
MOVEMENT_COLORS = {
    "new": "#2e9e6a", "expansion": "#7fd3a8", "reactivation": "#3fa7d6",
    "contraction": "#f5a524", "churn": "#df1b41",
}
# The exchange-rate part of a converted view's MRR change (docs/specs/fx.md "FX impact").
FX_LABEL = "FX impact"
FX_COLOR = MUTED
MOVEMENT_LABELS = {"new": "New", "expansion": "Expansion", "reactivation": "Reactivation",
                   "contraction": "Contraction", "churn": "Churn"}
SERIES_COLORS = [PRIMARY, "#00a3ff", "#2e9e6a", "#f5a524", "#df1b41", "#8d7ffa", "#0a2540", "#ff7a59"]
FONT = "Inter, -apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, sans-serif"


def symbol(currency: str | None) -> str:
    if not currency:
        return ""
    return SYMBOLS.get(currency.lower(), currency.upper() + " ")


def money_format(currency: str | None) -> str:
    """d3 format of an amount in major units of this currency."""
    return f",.{decimals(currency) if currency else 2}f"


def layout(*, title: str | None = None, height: int = 360, currency: str | None = None, y_kind: str = "money",
           show_legend: bool = True, **extra) -> dict:
    """The house style as one layout dict (template "none": building a figure stays cheap).
    y_kind: money, count, percent, ratio, none."""
    yaxis = dict(gridcolor=GRID, zerolinecolor="#c1c9d2", rangemode="tozero", showgrid=True, zeroline=True,
                 automargin=True, ticks="", showline=False)
    if y_kind == "money":
        yaxis.update(tickprefix=symbol(currency), tickformat="~s" if currency else ",")
    elif y_kind == "percent":
        yaxis.update(tickformat=".0%", rangemode="normal")
    elif y_kind == "count":
        yaxis.update(tickformat=",d")
    out = dict(
        template="none", height=height, font=dict(family=FONT, size=12, color=SECONDARY),
        title=dict(text=title, x=0, xanchor="left", font=dict(size=14)) if title else None,
        margin=dict(l=8, r=8, t=48 if title else 16, b=8), hovermode="x unified", showlegend=show_legend,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1, title=None),
        plot_bgcolor="white", paper_bgcolor="white", bargap=0.25, colorway=SERIES_COLORS,
        hoverlabel=dict(bgcolor="white", bordercolor=GRID, font=dict(family=FONT, color=SECONDARY)),
        xaxis=dict(showgrid=False, linecolor=GRID, showline=True, ticks="outside", tickcolor=GRID, automargin=True,
                   zeroline=False, type="category"),
        yaxis=yaxis,
    )
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def style(fig: go.Figure, **kwargs) -> go.Figure:
    fig.update_layout(layout(**kwargs))
    return fig


def _hover(label: str, currency: str | None, kind: str) -> str:
    if kind == "money":
        return f"{label}: {symbol(currency)}%{{y:{money_format(currency)}}}<extra></extra>"
    if kind == "percent":
        return f"{label}: %{{y:.1%}}<extra></extra>"
    if kind == "ratio":
        return f"{label}: %{{y:.2f}}<extra></extra>"
    return f"{label}: %{{y:,}}<extra></extra>"


def lines(frame: pd.DataFrame, x: str, series: dict[str, str], *, currency: str | None = None,
          kind: str = "money", title: str | None = None, height: int = 340, area: bool = False) -> go.Figure:
    """One line per column in `series` ({column: label})."""
    traces = []
    for i, (column, label) in enumerate(series.items()):
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        traces.append(go.Scatter(
            x=list(frame[x]), y=list(frame[column]), name=label,
            mode="lines+markers" if len(frame) <= 36 else "lines",
            line=dict(color=color, width=2.4), marker=dict(size=5),
            fill="tozeroy" if area and i == 0 else None,
            fillcolor="rgba(99, 91, 255, 0.08)" if area and i == 0 else None,
            hovertemplate=_hover(label, currency, kind)))
    return go.Figure(traces, layout(title=title, height=height, currency=currency, y_kind=kind,
                                    show_legend=len(series) > 1))


def bars(frame: pd.DataFrame, x: str, series: dict[str, str], *, currency: str | None = None, kind: str = "money",
         title: str | None = None, height: int = 340, stacked: bool = False, colors: Sequence[str] | None = None,
         horizontal: bool = False) -> go.Figure:
    traces = []
    for i, (column, label) in enumerate(series.items()):
        color = (colors or SERIES_COLORS)[i % len(colors or SERIES_COLORS)]
        if horizontal:
            traces.append(go.Bar(y=list(frame[x]), x=list(frame[column]), name=label, orientation="h",
                                 marker_color=color,
                                 hovertemplate=_hover(label, currency, kind).replace("%{y", "%{x")))
        else:
            traces.append(go.Bar(x=list(frame[x]), y=list(frame[column]), name=label, marker_color=color,
                                 hovertemplate=_hover(label, currency, kind)))
    extra: dict = {}
    if stacked:
        extra["barmode"] = "relative"
    if horizontal:
        extra["hovermode"] = "y unified"
        extra["yaxis"] = dict(autorange="reversed", showgrid=False, tickprefix=None, tickformat=None,
                              rangemode="normal", zeroline=False, type="category")
        extra["xaxis"] = dict(gridcolor=GRID, showgrid=True, showline=False, ticks="", type="linear",
                              tickprefix=symbol(currency) if kind == "money" else None,
                              tickformat="~s" if kind == "money" else (".0%" if kind == "percent" else ","))
    return go.Figure(traces, layout(title=title, height=height, currency=currency, y_kind=kind,
                                    show_legend=len(series) > 1, **extra))


def compared_with(fig: go.Figure, x: str, values: dict[str, float], *, currency: str | None = None,
                  kind: str = "money") -> go.Figure:
    """Marks on a bar chart the figures a month to date is compared with ({label: value} at
    category `x`, e.g. "1–29 Oct (same days)"), so the partial last bar is read against them."""
    for i, (label, value) in enumerate(values.items()):
        fig.add_trace(go.Scatter(x=[x], y=[value], name=label, mode="markers",
                                 marker=dict(symbol="line-ew", size=34, line=dict(width=3, color=MUTED if i else "#0a2540")),
                                 hovertemplate=_hover(label, currency, kind)))
    fig.update_layout(showlegend=True)
    return fig


def movements(frame: pd.DataFrame, currency: str, *, title: str | None = "MRR movements",
              height: int = 380) -> go.Figure:
    """Stacked bars per month: gains up (new, reactivation, expansion), losses down
    (contraction, churn), with the net new MRR line. Each bar carries its movement name
    in customdata so a click can show the customers behind it. A converted view's table
    (with `fx_mrr`) adds the FX impact as its own bar, never inside a movement."""
    traces = []
    for movement, column, sign in (("new", "new_mrr", 1), ("reactivation", "reactivation_mrr", 1),
                                   ("expansion", "expansion_mrr", 1), ("contraction", "contraction_mrr", -1),
                                   ("churn", "churned_mrr", -1)):
        values = list(frame[column].astype(float) * sign)
        traces.append(go.Bar(
            x=list(frame["month"]), y=values, name=MOVEMENT_LABELS[movement], marker_color=MOVEMENT_COLORS[movement],
            customdata=[[movement, month] for month in frame["month"]],
            hovertemplate=f"{MOVEMENT_LABELS[movement]}: {symbol(currency)}%{{y:{money_format(currency)}}}<extra></extra>"))
    if "fx_mrr" in frame.columns:
        traces.append(go.Bar(
            x=list(frame["month"]), y=list(frame["fx_mrr"].astype(float)), name=FX_LABEL, marker_color=FX_COLOR,
            customdata=[["fx", month] for month in frame["month"]],
            hovertemplate=f"{FX_LABEL}: {symbol(currency)}%{{y:{money_format(currency)}}}<extra></extra>"))
    traces.append(go.Scatter(
        x=list(frame["month"]), y=list(frame["net_new_mrr"]), name="Net new MRR", mode="lines+markers",
        line=dict(color=SECONDARY, width=2), marker=dict(size=5),
        hovertemplate=f"Net new: {symbol(currency)}%{{y:{money_format(currency)}}}<extra></extra>"))
    return go.Figure(traces, layout(title=title, height=height, currency=currency, barmode="relative",
                                    yaxis=dict(rangemode="normal"), hovermode="closest"))


def segment_movements(frame: pd.DataFrame, currency: str, *, label: str = "name", title: str | None = None,
                      height: int = 360) -> go.Figure:
    """One month's movements per segment value (docs/metrics.md "Segments"), one bar per value:
    gains up, losses down, and the MRR that moved in or out between values in grey."""
    moved = {"moved_in_mrr": ("Moved in", 1, "#c1c9d2"), "moved_out_mrr": ("Moved out", -1, MUTED)}
    traces = []
    for column, name, sign, color in [
            *((c, MOVEMENT_LABELS[m], g, MOVEMENT_COLORS[m]) for m, c, g in (
                ("new", "new_mrr", 1), ("reactivation", "reactivation_mrr", 1), ("expansion", "expansion_mrr", 1),
                ("contraction", "contraction_mrr", -1), ("churn", "churned_mrr", -1))),
            *((c, n, g, col) for c, (n, g, col) in moved.items())]:
        traces.append(go.Bar(x=list(frame[label]), y=list(frame[column].astype(float) * sign), name=name,
                             marker_color=color, hovertemplate=_hover(name, currency, "money")))
    return go.Figure(traces, layout(title=title, height=height, currency=currency, barmode="relative",
                                    yaxis=dict(rangemode="normal"), xaxis=dict(type="category"), hovermode="closest"))


def waterfall(row: pd.Series, currency: str, *, title: str | None = None, height: int = 360) -> go.Figure:
    """From last month's MRR to this month's, movement by movement (one row of the monthly
    table in major units; previous MRR = mrr - net_new_mrr, less the FX impact in a converted
    view, which is then its own step before the end of the month)."""
    fx = float(row["fx_mrr"]) if "fx_mrr" in row.index else None
    previous = float(row["mrr"]) - float(row["net_new_mrr"]) - (fx or 0.0)
    steps = [("Start of month", previous, "absolute"), ("New", float(row["new_mrr"]), "relative"),
             ("Reactivation", float(row["reactivation_mrr"]), "relative"),
             ("Expansion", float(row["expansion_mrr"]), "relative"),
             ("Contraction", -float(row["contraction_mrr"]), "relative"),
             ("Churn", -float(row["churned_mrr"]), "relative")]
    if fx is not None:
        steps.append((FX_LABEL, fx, "relative"))
    steps.append(("End of month", float(row["mrr"]), "total"))
    fmt = money_format(currency)
    fig = go.Figure(go.Waterfall(
        x=[s[0] for s in steps], y=[s[1] for s in steps], measure=[s[2] for s in steps],
        increasing=dict(marker=dict(color=MOVEMENT_COLORS["new"])),
        decreasing=dict(marker=dict(color=MOVEMENT_COLORS["churn"])),
        totals=dict(marker=dict(color=PRIMARY)), connector=dict(line=dict(color=GRID)),
        text=[f"{symbol(currency)}{abs(s[1]):{fmt}}" for s in steps], textposition="outside",
        textfont=dict(size=12), cliponaxis=False,
        hovertemplate=f"%{{x}}: {symbol(currency)}%{{y:{fmt}}}<extra></extra>"))
    fig.update_layout(layout(title=title or f"MRR bridge, {row['month']}", height=height, currency=currency,
                             show_legend=False, hovermode="closest"))
    # One readable size for every label: Plotly otherwise shrinks each to fit its bar, unevenly.
    fig.update_layout(uniformtext=dict(minsize=12, mode="show"))
    # Zoom on the movements: the axis starts near the lower of the two totals (a bridge, not a bar chart).
    running, levels = previous, [previous]
    for _, value, measure in steps[1:-1]:
        running += value
        levels.append(running)
    levels.append(float(row["mrr"]))
    low, high = min(levels), max(levels)
    span = max(high - low, abs(high) * 0.02, 1.0)
    fig.update_yaxes(range=[max(0.0, low - span * 1.2) if low >= 0 else low - span * 0.2, high + span * 0.6],
                     rangemode="normal")
    return fig


def cohort_heatmap(frame: pd.DataFrame, value: str, *, title: str | None = None, height: int | None = None,
                   max_age: int | None = None) -> go.Figure:
    """Cohorts (rows) × months since start (columns), coloured by a retention fraction."""
    data = frame if max_age is None else frame[frame["age"] <= max_age]
    grid = data.pivot_table(index="cohort", columns="age", values=value, aggfunc="first").sort_index()
    sizes = data.groupby("cohort")["cohort_customers"].first().reindex(grid.index)
    labels = [f"{c} ({int(n):,})" for c, n in zip(grid.index, sizes)]
    text = [[("" if pd.isna(v) else f"{v:.0%}") for v in row] for row in grid.to_numpy()]
    heatmap = go.Heatmap(
        z=grid.to_numpy(), x=[f"M{a}" for a in grid.columns], y=labels, text=text, texttemplate="%{text}",
        textfont=dict(size=10), colorscale=[[0, "#f6f8fa"], [0.5, "#b9b5ff"], [1, PRIMARY]], zmin=0,
        zmax=max(1.0, float(pd.Series(grid.to_numpy().ravel()).max(skipna=True) or 1)),
        colorbar=dict(tickformat=".0%", thickness=10), xgap=1, ygap=1,
        hovertemplate="Cohort %{y}<br>%{x}: %{z:.1%}<extra></extra>")
    return go.Figure(heatmap, layout(title=title, height=height or max(320, 22 * len(labels) + 80), y_kind="none",
                             show_legend=False, hovermode="closest",
                             yaxis=dict(autorange="reversed", showgrid=False, tickprefix=None, rangemode="normal",
                                        type="category", zeroline=False),
                             xaxis=dict(side="top", type="category", showline=False, ticks="")))


def donut(labels: Iterable[str], values: Iterable[float], *, title: str | None = None, currency: str | None = None,
          height: int = 300) -> go.Figure:
    fig = go.Figure(go.Pie(labels=list(labels), values=list(values), hole=0.6, sort=False,
                           marker=dict(colors=SERIES_COLORS), textinfo="percent",
                           hovertemplate=f"%{{label}}: {symbol(currency)}%{{value:{money_format(currency)}}}<extra></extra>"
                           if currency else "%{label}: %{value:,}<extra></extra>"))
    fig.update_layout(layout(title=title, height=height, y_kind="none", hovermode="closest",
                             legend=dict(orientation="v", x=1, xanchor="left", y=0.5)))
    return fig


# ----------------------------------------------------------------------------- what the browser gets

# Decimals a drawn value keeps: hovers and axes show at most 3 decimals of an amount (KWD) or
# 0.1 % of a rate, so 9 change no shown digit while the doubles' 17-digit tails are not sent.
DRAWN_DECIMALS = 9
# A line with more points than this (a wide chart's pixels) is thinned before it is sent.
MAX_LINE_POINTS = 1200


# The key of `layout.meta` holding a chart's hover note (`with_hover_note`), read by `vega_lite`.
HOVER_NOTE = "hover_note"


def with_hover_note(fig: go.Figure, note: str) -> go.Figure:
    """A copy of `fig` whose every hover text ends with `note` on its own line: a converted
    view's charts say which rates they were converted at (docs/specs/fx.md "Every converted
    figure is labelled"). The note is kept in `layout.meta` for `vega_lite`'s tooltip."""
    out = go.Figure(fig)
    line = f"<br><i>{html.escape(note)}</i>"
    for trace in out.data:
        template = getattr(trace, "hovertemplate", None)
        if template:
            head, extra, tail = template.partition("<extra>")
            trace.hovertemplate = head + line + extra + tail
    meta = out.layout.meta if isinstance(out.layout.meta, dict) else {}
    out.layout.meta = {**meta, HOVER_NOTE: note}
    return out


def slim(fig: go.Figure, *, max_points: int = MAX_LINE_POINTS) -> go.Figure:
    """What the browser draws of `fig`, and no more: values rounded to DRAWN_DECIMALS, traces
    with nothing to draw left out, and lines longer than `max_points` thinned to the first, last,
    lowest and highest point of each stretch (the drawn shape keeps its peaks). A new figure;
    `fig` (which the exports render) keeps every point at full precision."""
    spec = fig.to_dict()
    traces = []
    for trace in spec.get("data", []):
        if any(not _has_value(trace[axis]) for axis in ("x", "y", "z", "values") if axis in trace):
            continue  # a legend entry with no point: no value on one of its axes
        for axis in ("x", "y", "z", "values"):
            if axis in trace:
                trace[axis] = _rounded(trace[axis])
        if trace.get("type") == "scatter" and "lines" in str(trace.get("mode", "lines")) \
                and len(trace.get("y", ())) > max_points and not trace.get("customdata"):
            keep = _thinned(np.asarray(trace["y"], dtype="float64"), max_points)
            for axis in ("x", "y", "text", "hovertext"):
                if isinstance(trace.get(axis), (list, tuple)):
                    trace[axis] = [trace[axis][i] for i in keep]
        traces.append(trace)
    spec["data"] = traces
    # already valid (it is `fig`'s own); validating it again would cost as much as building it
    return go.Figure(spec, _validate=False)


def _has_value(values) -> bool:
    array = np.asarray(values, dtype=object).ravel()
    return any(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in array)


def _rounded(values):
    """Floats rounded to DRAWN_DECIMALS (nested lists too: heatmap rows); anything else as is."""
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if isinstance(values, (list, tuple)):
        return [_rounded(v) for v in values]
    if isinstance(values, float) and math.isfinite(values):
        return round(values, DRAWN_DECIMALS)
    return values


def _thinned(y: np.ndarray, max_points: int) -> list[int]:
    """Indexes of a long line to draw: per stretch of ~4·len/max_points points its first, last,
    lowest and highest (min-max decimation), in order."""
    buckets = max(1, max_points // 4)
    keep: set[int] = set()
    for chunk in np.array_split(np.arange(len(y)), buckets):
        if not len(chunk):
            continue
        part = y[chunk]
        keep.update({int(chunk[0]), int(chunk[-1])})
        if not np.isnan(part).all():
            keep.update({int(chunk[np.nanargmin(part)]), int(chunk[np.nanargmax(part)])})
    return sorted(keep)


# ----------------------------------------------------------------------------- Vega-Lite

# A money chart's currency symbol travels in its data (column UNIT, the same on every row), not in
# its spec: a change of currency then changes the chart's data only, which Streamlit applies to
# the chart on screen in place instead of building a new Vega view for it.
UNIT = "unit"


def _first_row(field: str, otherwise: str = "''") -> str:
    """A Vega expression: `field` of the first row of the chart's data ("source": Streamlit's
    name for it), `otherwise` while it has none."""
    return f"(length(data('source')) ? data('source')[0].{field} : {otherwise})"


_UNIT_EXPR = _first_row(UNIT)


def _with_unit(frame: pd.DataFrame, prefix: str | None) -> pd.DataFrame:
    """`frame` with the currency symbol (a Plotly tick prefix, "$", "CHF ") in column UNIT."""
    return frame.assign(**{UNIT: prefix}) if prefix else frame


def _value_tooltip(layer: dict, field: str, value_format: str, title: str, *, money: bool, shown_as: str) -> dict:
    """A tooltip entry of `field` in `value_format`. On a money chart it is written with the
    chart's currency symbol ("$1,234.00", "-€5.00") as `shown_as`, a transform added to `layer`."""
    if not money:
        return {"field": field.replace(".", "\\."), "type": "quantitative", "format": value_format, "title": title}
    value = f"datum[{json.dumps(field)}]"
    layer.setdefault("transform", []).append({
        "calculate": f"isValid({value}) ? ({value} < 0 ? '-' : '') + {_UNIT_EXPR} + "
                     f"format(abs({value}), {json.dumps(value_format)}) : ''", "as": shown_as})
    return {"field": shown_as, "title": title}


def _vega_axis_format(axis) -> dict:
    """Vega-Lite axis settings equivalent to a Plotly y axis of `layout()`; a money axis's
    symbol comes from the chart's data (UNIT)."""
    out: dict = {"grid": True, "gridColor": GRID, "domain": False, "ticks": False, "title": None}
    tickformat = axis.tickformat if axis is not None else None
    prefix = (axis.tickprefix or "") if axis is not None else ""
    if tickformat:
        out["format"] = tickformat
    if prefix:
        # "-$5k" for negatives, as Plotly writes it (d3 writes its own minus sign, U+2212); d3's SI
        # "G" reads as billions ("B")
        out["labelExpr"] = (f"(datum.value < 0 ? '-' : '') + {_UNIT_EXPR} + "
                            "replace(replace(replace(datum.label, '-', ''), '\u2212', ''), 'G', 'B')")
    return out


def vega_lite(fig: go.Figure, *, select: str | None = None) -> tuple[pd.DataFrame, dict]:
    """The same chart as a Vega-Lite spec with its data in long form (x, series, y, order):
    lines, areas and bars (grouped, or stacked when the figure's barmode is relative/stack),
    with the figure's colours, title, height and axis format. For pages where Plotly's
    4.7 MB browser bundle would delay the first paint (the Overview); exports still render
    the Plotly figure. Horizontal bars, heatmaps and donuts have their own forms
    (`_vega_hbars`, `_vega_heatmap`, `_vega_donut`); a scatter drawn as markers only
    (`compared_with`) becomes ticks; a waterfall is drawn as floating bars (`_vega_waterfall`).

    `select`: the name of a click selection on the bars (`st.vega_lite_chart(on_select=...)`
    returns the clicked bar's `x` and `series`); each bar and point then has its own tooltip,
    as the Plotly figure's closest-point hover, instead of one per period over the bars."""
    kinds = {trace.type for trace in fig.data}
    if kinds == {"waterfall"}:
        return _vega_waterfall(fig)
    if kinds == {"heatmap"}:
        return _vega_heatmap(fig)
    if kinds == {"pie"}:
        return _vega_donut(fig)
    if fig.data and all(t.type == "bar" and t.orientation == "h" for t in fig.data):
        return _vega_hbars(fig)
    rows: list[dict] = []
    colors: dict[str, str] = {}
    marks: dict[str, str] = {}
    for trace in fig.data:
        if trace.type not in ("bar", "scatter") or getattr(trace, "orientation", None) == "h":
            raise ValueError(f"{trace.type} traces have no Vega-Lite form here")
        name = trace.name or "value"
        if trace.type == "bar":
            color, mark = trace.marker.color, "bar"
        elif trace.mode == "markers":  # a mark to read a bar against (`compared_with`)
            color, mark = trace.marker.line.color, "tick"
        else:
            color = trace.line.color
            mark = "area" if trace.fill == "tozeroy" else "line"
        colors[name] = color or SERIES_COLORS[len(colors) % len(SERIES_COLORS)]
        marks[name] = mark
        for order, (x, y) in enumerate(zip(trace.x, trace.y)):
            rows.append({"x": str(x), "series": name, "y": None if y is None or pd.isna(y) else float(y),
                         "order": order})
    frame = pd.DataFrame(rows, columns=["x", "series", "y", "order"])
    layout_ = fig.layout
    x_order = list(dict.fromkeys(frame["x"]))
    y_axis = _vega_axis_format(layout_.yaxis)
    # Three entries a row at most: on one row, six series run off a phone-wide chart ("Chu…").
    legend = {"orient": "top", "title": None, "labelFontSize": 11, "columns": min(3, len(colors)),
              "labelLimit": 0} if layout_.showlegend is not False else None
    color = {"field": "series", "type": "nominal", "scale": {"domain": list(colors), "range": list(colors.values())},
             "legend": legend}
    prefix = (layout_.yaxis.tickprefix or "") if layout_.yaxis is not None else ""
    # the hover format of the figure's first trace (",.0f" for JPY, ".1%" for rates, ...)
    value_format = _hover_format(fig, "y", ".1%" if y_axis.get("format", "").endswith("%") else ",")
    x_enc = {"field": "x", "type": "ordinal", "sort": x_order, "title": None,
             "axis": {"labelAngle": 0, "labelOverlap": True, "domainColor": GRID, "tickColor": GRID}}
    stacked = layout_.barmode in ("relative", "stack")
    layers = []
    bar_series = [s for s, m in marks.items() if m == "bar"]
    if bar_series:
        bar: dict = {"mark": {"type": "bar", "cornerRadiusEnd": 0},
                     "transform": [{"filter": {"field": "series", "oneOf": bar_series}}],
                     "encoding": {"x": x_enc, "y": {"field": "y", "type": "quantitative", "axis": y_axis,
                                                    "stack": "zero" if stacked else None},
                                  "color": color}}
        if not stacked and len(bar_series) > 1:
            bar["encoding"]["xOffset"] = {"field": "series", "sort": bar_series}
        if select:
            bar["params"] = [{"name": select, "select": {"type": "point", "fields": ["x", "series"], "on": "click",
                                                         "clear": "dblclick"}}]
            bar["mark"]["cursor"] = "pointer"
        layers.append(bar)
    ticks = [s for s, m in marks.items() if m == "tick"]
    if ticks:
        layers.append({"mark": {"type": "tick", "orient": "horizontal", "thickness": 3, "bandSize": 34},
                       "transform": [{"filter": {"field": "series", "oneOf": ticks}}],
                       "encoding": {"x": x_enc, "y": {"field": "y", "type": "quantitative", "axis": y_axis},
                                    "color": color}})
    for mark in ("area", "line"):
        series = [s for s, m in marks.items() if m == mark]
        if not series:
            continue
        spec_mark: dict = {"type": mark, "point": len(x_order) <= 36, "strokeWidth": 2.4}
        if mark == "area":
            spec_mark.update({"line": {"strokeWidth": 2.4}, "opacity": 0.9, "fillOpacity": 0.08})
        layers.append({"mark": spec_mark,
                       "transform": [{"filter": {"field": "series", "oneOf": series}}],
                       "encoding": {"x": x_enc, "y": {"field": "y", "type": "quantitative", "axis": y_axis,
                                                      "stack": None},
                                    "color": color, "order": {"field": "order"}}})
    if select:  # a tooltip per bar and point: a rule over the bars would take their clicks
        for layer in layers:
            layer["encoding"]["tooltip"] = [
                {"field": "x", "type": "ordinal", "title": "Period"}, {"field": "series", "title": "Series"},
                _value_tooltip(layer, "y", value_format, "Value", money=bool(prefix), shown_as="y_text")]
            _with_rates(fig, layer)
        return _with_unit(frame, prefix), _vega_spec(fig, layers + _vega_notes(layout_, x_enc))
    # One tooltip per period listing every series, like Plotly's "x unified" hover: an
    # invisible rule per period, shown faintly under the pointer.
    rule: dict = {
        "transform": [{"pivot": "series", "value": "y", "groupby": ["x"]}],
        "mark": {"type": "rule", "color": MUTED, "strokeWidth": 1},
        "params": [{"name": "period_hover", "select": {"type": "point", "fields": ["x"], "nearest": True,
                                                      "on": "pointerover", "clear": "pointerout"}}],
        "encoding": {"x": x_enc,
                     "opacity": {"condition": {"param": "period_hover", "empty": False, "value": 0.5}, "value": 0}}}
    rule["encoding"]["tooltip"] = [{"field": "x", "type": "ordinal", "title": "Period"}] + [
        _value_tooltip(rule, name, value_format, name, money=bool(prefix), shown_as=f"shown_{i}")
        for i, name in enumerate(colors)]
    layers.append(rule)
    _with_rates(fig, layers[-1])  # a converted chart: its rates in the tooltip, as in Plotly's hover
    return _with_unit(frame, prefix), _vega_spec(fig, layers + _vega_notes(layout_, x_enc))


def _vega_notes(layout_, x_enc: dict) -> list[dict]:
    """The account's notes placed on the figure (`mark_notes`): a dashed rule at each note's
    period and the same ✎ as the Plotly figure's above it, the note's text on hover."""
    notes = [{"x": str(a.x), "note": (a.hovertext or "").replace("<br>", " · "), "mark": a.text}
             for a in (layout_.annotations or ()) if a.name == NOTE_SHAPE]
    if not notes:
        return []
    tip = [{"field": "note", "title": "Note"}]
    return [{"data": {"values": notes}, "mark": {"type": "rule", "color": NOTE_COLOR, "strokeDash": [3, 3]},
             "encoding": {"x": x_enc, "tooltip": tip}},
            # above the line (pixel 0 is the plot's top)
            {"data": {"values": notes},
             "mark": {"type": "text", "color": NOTE_COLOR, "fontSize": 12, "baseline": "bottom", "dy": -2},
             "encoding": {"x": x_enc, "y": {"value": 0}, "text": {"field": "mark"}, "tooltip": tip}}]


def _vega_waterfall(fig: go.Figure) -> tuple[pd.DataFrame, dict]:
    """A bridge (`waterfall`): each step a bar floating from the running total before it to the
    one after it; the start and end totals from zero in the primary colour, gains green, losses
    red; each step's amount written above its bar in one size; the y axis as the figure's
    (zoomed on the movements)."""
    trace = fig.data[0]
    rows, running = [], 0.0
    texts = list(trace.text) if trace.text is not None else [""] * len(trace.x)
    for order, (x, y, measure, text) in enumerate(zip(trace.x, trace.y, trace.measure, texts)):
        y = float(y)
        if measure == "relative":
            start, end, kind = running, running + y, "gain" if y >= 0 else "loss"
        else:  # "absolute" sets the total, "total" shows it
            start, end, kind = 0.0, (y if measure == "absolute" else running), "total"
        running = end
        rows.append({"x": str(x), "start": start, "end": end, "value": y, "kind": kind, "text": text or "",
                     "top": max(start, end), "order": order})
    frame = pd.DataFrame(rows, columns=["x", "start", "end", "value", "kind", "text", "top", "order"])
    axis = _vega_axis_format(fig.layout.yaxis)
    y_scale: dict = {"zero": False}
    if fig.layout.yaxis.range is not None:  # zoomed on the movements: the bounds in the data, as the symbol
        frame["domain_low"], frame["domain_high"] = (float(v) for v in fig.layout.yaxis.range)
        y_scale.update({"domainMin": {"expr": _first_row("domain_low", "0")},
                        "domainMax": {"expr": _first_row("domain_high", "1")}, "clamp": True})
    x_enc = {"field": "x", "type": "ordinal", "sort": list(frame["x"]), "title": None,
             "axis": {"labelAngle": 0, "labelOverlap": True, "domainColor": GRID, "tickColor": GRID}}
    colors = {"total": PRIMARY, "gain": MOVEMENT_COLORS["new"], "loss": MOVEMENT_COLORS["churn"]}
    bars = {"mark": {"type": "bar"},
            "encoding": {"x": x_enc, "y": {"field": "start", "type": "quantitative", "axis": axis, "scale": y_scale},
                         "y2": {"field": "end"},
                         "color": {"field": "kind", "type": "nominal", "legend": None,
                                   "scale": {"domain": list(colors), "range": list(colors.values())}},
                         "tooltip": [{"field": "x", "type": "ordinal", "title": " "}]}}
    prefix = fig.layout.yaxis.tickprefix or ""
    bars["encoding"]["tooltip"].append(
        _value_tooltip(bars, "value", _hover_format(fig, "y"), "Amount", money=bool(prefix), shown_as="value_text"))
    labels = {"name": "step_amounts",  # the SVG group's class: where a reader (or a test) finds the amounts
              "mark": {"type": "text", "baseline": "bottom", "dy": -4, "fontSize": 12, "color": SECONDARY},
              "encoding": {"x": x_enc, "y": {"field": "top", "type": "quantitative", "scale": y_scale},
                           "text": {"field": "text"}}}
    return _with_unit(frame, prefix), _vega_spec(fig, [_with_rates(fig, bars), labels])


def _vega_spec(fig: go.Figure, layers: list[dict]) -> dict:
    """The house style around `layers`: the figure's title and height, font and colours."""
    layout_ = fig.layout
    title = layout_.title.text if layout_.title is not None and layout_.title.text else None
    spec = {"height": int(layout_.height or 340) - (56 if title else 24), "layer": layers,
            "config": {"font": FONT, "view": {"stroke": None}, "axis": {"labelColor": SECONDARY},
                       "title": {"anchor": "start", "fontSize": 14, "fontWeight": 600, "color": SECONDARY}}}
    if title:
        spec["title"] = title
    return spec


def _hover_format(fig: go.Figure, axis: str, default: str = ",") -> str:
    """The d3 format of the first trace's hover value on `axis` (",.0f" for JPY, ".1%" ...)."""
    found = re.search(r"%\{" + axis + r":([^}]+)\}", fig.data[0].hovertemplate or "") if fig.data else None
    return found.group(1) if found else default


def _with_rates(fig: go.Figure, layer: dict) -> dict:
    """`layer` whose tooltip also names a converted chart's rates (`with_hover_note`)."""
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    if meta.get(HOVER_NOTE):
        layer.setdefault("transform", []).append({"calculate": json.dumps(meta[HOVER_NOTE]), "as": "rates"})
        layer["encoding"]["tooltip"].append({"field": "rates", "title": "Rates"})
    return layer


def _vega_hbars(fig: go.Figure) -> tuple[pd.DataFrame, dict]:
    """Horizontal bars (a ranking: products, statuses), first row on top, one bar per series
    and row, the value axis formatted as the figure's."""
    rows = [{"y": str(y), "series": trace.name or "value", "x": None if x is None or pd.isna(x) else float(x)}
            for trace in fig.data for y, x in zip(trace.y, trace.x)]
    frame = pd.DataFrame(rows, columns=["y", "series", "x"])
    colors = {trace.name or "value": trace.marker.color or SERIES_COLORS[i % len(SERIES_COLORS)]
              for i, trace in enumerate(fig.data)}
    # a tick every 70 px or so: on a phone, "$8k$9k" would otherwise run together
    axis = {**_vega_axis_format(fig.layout.xaxis), "labelOverlap": True, "tickCount": {"expr": "ceil(width / 70)"}}
    prefix = fig.layout.xaxis.tickprefix or ""
    legend = {"orient": "top", "title": None, "labelLimit": 0} if len(colors) > 1 else None
    encoding = {
        "y": {"field": "y", "type": "ordinal", "sort": list(dict.fromkeys(frame["y"])), "title": None,
              "axis": {"labelLimit": 180, "domainColor": GRID, "ticks": False}},
        "x": {"field": "x", "type": "quantitative", "axis": axis, "stack": None},
        "color": {"field": "series", "type": "nominal", "legend": legend,
                  "scale": {"domain": list(colors), "range": list(colors.values())}},
        "tooltip": [{"field": "y", "type": "ordinal", "title": " "}]}
    if len(colors) > 1:
        encoding["yOffset"] = {"field": "series", "sort": list(colors)}
    layer = {"mark": {"type": "bar"}, "encoding": encoding}
    # the series' own name as the value's title ("Invoiced"), else "Value" after the series
    title = next(iter(colors)) if len(colors) == 1 else "Value"
    if len(colors) > 1:
        encoding["tooltip"].append({"field": "series", "title": "Series"})
    encoding["tooltip"].append(
        _value_tooltip(layer, "x", _hover_format(fig, "x"), title, money=bool(prefix), shown_as="x_text"))
    return _with_unit(frame, prefix), _vega_spec(fig, [_with_rates(fig, layer)])


def _array(values) -> np.ndarray:
    """A trace's values as an array, also when a figure's dict form carries them as Plotly's
    typed array ({"dtype", "bdata", "shape"}: what `to_dict` makes of a numpy grid)."""
    if isinstance(values, dict) and "bdata" in values:
        flat = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
        shape = [int(n) for n in str(values.get("shape") or len(flat)).split(",")]
        return flat.reshape(shape)
    return np.asarray(values, dtype="float64")


def _vega_heatmap(fig: go.Figure) -> tuple[pd.DataFrame, dict]:
    """A cohort grid: one cell per (row, column) coloured on the figure's scale, its text in
    the cell, rows top to bottom and the columns' labels on top, as in the Plotly figure."""
    trace = fig.data[0]
    xs, ys = [str(x) for x in trace.x], [str(y) for y in trace.y]
    texts = trace.text if trace.text is not None else [[""] * len(xs) for _ in ys]
    rows = [{"x": x, "y": y, "z": float(z), "text": text}
            for y, z_row, text_row in zip(ys, _array(trace.z), texts)
            for x, z, text in zip(xs, z_row, text_row) if z is not None and not pd.isna(z)]
    frame = pd.DataFrame(rows, columns=["x", "y", "z", "text"])
    stops = [color for _, color in trace.colorscale]
    zmax = float(trace.zmax if trace.zmax is not None else (frame["z"].max() if len(frame) else 1.0))
    zmin = float(trace.zmin or 0.0)
    x_enc = {"field": "x", "type": "ordinal", "sort": xs, "title": None,
             "axis": {"orient": "top", "labelAngle": 0, "domain": False, "ticks": False, "labelOverlap": True}}
    # Rows listed in the spec (their labels carry the cohorts' sizes, so a filter that changes a
    # size draws the grid anew): Vega's in-place update of a chart's data appends new labels after
    # those that stay, whatever the sort, and would put a cohort out of order.
    y_enc = {"field": "y", "type": "ordinal", "sort": ys, "title": None,
             "axis": {"domain": False, "ticks": False, "labelLimit": 200}}
    hover = _hover_format(fig, "z")
    cells = {"mark": {"type": "rect", "stroke": "white", "strokeWidth": 1},
             "encoding": {"x": x_enc, "y": y_enc,
                          "color": {"field": "z", "type": "quantitative",
                                    "scale": {"domain": [zmin, (zmin + zmax) / 2, zmax], "range": stops},
                                    "legend": {"title": None, "format": ".0%", "gradientThickness": 10,
                                               "orient": "bottom", "direction": "horizontal"}},
                          "tooltip": [{"field": "y", "title": "Cohort"}, {"field": "x", "title": "Months since start"},
                                      {"field": "z", "type": "quantitative", "format": hover, "title": "Retention"}]}}
    # dark cells get white text, as Plotly's automatic contrast does; the text shrinks with its
    # cell (a phone's twelve columns) and is left out where it could not be read
    cell = f"(width / {max(len(xs), 1)} / 3)"
    text = {"mark": {"type": "text", "fontSize": {"expr": f"min(10, {cell})"},
                     "opacity": {"expr": f"{cell} < 6 ? 0 : 1"}},
            "encoding": {"x": x_enc, "y": y_enc, "text": {"field": "text"},
                         "color": {"condition": {"test": f"datum.z > {zmin + (zmax - zmin) * 0.55}",
                                                 "value": "white"}, "value": SECONDARY}}}
    return frame, _vega_spec(fig, [_with_rates(fig, cells), text])


def _vega_donut(fig: go.Figure) -> tuple[pd.DataFrame, dict]:
    """A donut: each slice's share written on it, its amount on hover, the legend beside it."""
    trace = fig.data[0]
    frame = pd.DataFrame({"label": [str(x) for x in trace.labels], "value": [float(v) for v in trace.values]})
    total = float(frame["value"].sum()) or 1.0
    frame["share"] = frame["value"] / total
    # each slice's share written on it, as Plotly's textinfo="percent" (none on a sliver)
    frame["share_text"] = [f"{s:.0%}" if s >= 0.03 else "" for s in frame["share"]]
    frame["order"] = range(len(frame))
    labels = list(frame["label"])
    palette = list(trace.marker.colors or SERIES_COLORS)
    value = re.search(r"%\{value:([^}]+)\}", trace.hovertemplate or "")
    prefix = re.match(r"%\{label\}: ([^%]*)%", trace.hovertemplate or "")
    color = {"field": "label", "type": "nominal", "sort": labels,
             "scale": {"domain": labels, "range": [palette[i % len(palette)] for i in range(len(labels))]},
             "legend": {"title": None, "orient": "right", "labelLimit": 0}}
    theta = {"field": "value", "type": "quantitative", "stack": True}
    arcs = {"mark": {"type": "arc", "innerRadius": {"expr": "min(width, height) * 0.3"},
                     "outerRadius": {"expr": "min(width, height) / 2"}, "stroke": "white"},
            "encoding": {"theta": theta, "color": color, "order": {"field": "order"},
                         "tooltip": [{"field": "label", "title": " "}]}}
    symbol_ = prefix.group(1) if prefix else ""
    arcs["encoding"]["tooltip"] += [
        _value_tooltip(arcs, "value", value.group(1) if value else ",", "Amount", money=bool(symbol_),
                       shown_as="value_text"),
        {"field": "share", "type": "quantitative", "format": ".1%", "title": "Share"}]
    shares = {"mark": {"type": "text", "radius": {"expr": "min(width, height) * 0.4"}, "fill": "white",
                       "fontSize": 11},
              "encoding": {"theta": theta, "order": {"field": "order"},
                           "text": {"field": "share_text"}}}
    return _with_unit(frame, symbol_), _vega_spec(fig, [_with_rates(fig, arcs), shares])


# ----------------------------------------------------------------------------- analysts' notes

NOTE_COLOR = "#b3610b"
NOTE_SHAPE = "note"  # the name of a note's marker line (`vega_lite` draws the same rules)


def _period_start(x) -> "date | None":
    if isinstance(x, datetime):
        return x.date()
    if isinstance(x, date):
        return x
    text = str(x)
    try:
        if re.fullmatch(r"\d{4}-\d{2}", text):
            return date.fromisoformat(text + "-01")
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text[:10]):
            return date.fromisoformat(text[:10])
    except ValueError:
        return None
    return None


def _periods(xs: Sequence) -> list[tuple[object, date, date]] | None:
    """(x, first day, day after the last) of each period of a time axis, None when the axis is
    not one (products, cohorts' ages). Months are calendar months; days and weeks take the step
    between the first two periods."""
    starts = [_period_start(x) for x in xs]
    if not starts or any(s is None for s in starts) or starts != sorted(starts):
        return None
    monthly = all(re.fullmatch(r"\d{4}-\d{2}", str(x)) for x in xs)
    step = (starts[1] - starts[0]) if len(starts) > 1 else timedelta(days=1)
    out = []
    for i, (x, start) in enumerate(zip(xs, starts)):
        if i + 1 < len(starts):
            end = starts[i + 1]
        elif monthly:
            end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        else:
            end = start + step
        out.append((x, start, end))
    return out


def mark_notes(fig: go.Figure, notes: Iterable[tuple[date, str]]) -> tuple[go.Figure, dict[str, list[str]]]:
    """The figure with a dotted marker at each period of its time axis that holds a note's
    day (hover: the notes), and {x: [note texts]} of what was placed. A figure without a
    time axis, or without notes in its range, comes back unchanged (the same object)."""
    notes = list(notes)
    vertical = [t for t in fig.data if t.type in ("bar", "scatter") and getattr(t, "orientation", None) != "h"]
    if not notes or not vertical or len(vertical) != len(fig.data) or vertical[0].x is None:
        return fig, {}
    periods = _periods(list(dict.fromkeys(vertical[0].x)))
    if periods is None:
        return fig, {}
    placed: dict[str, list[str]] = {}
    for day, text in sorted(notes, key=lambda n: n[0]):
        for x, start, end in periods:
            if start <= day < end:
                placed.setdefault(str(x), []).append(f"{day:%d %b %Y}: {text}")
                break
    if not placed:
        return fig, {}
    fig = go.Figure(fig)  # figures may be shared between reruns: never change the caller's
    by_key = {str(x): x for x, _, _ in periods}
    for key, texts in placed.items():
        fig.add_shape(type="line", xref="x", yref="paper", x0=by_key[key], x1=by_key[key], y0=0, y1=1,
                      name=NOTE_SHAPE, line=dict(color=NOTE_COLOR, width=1.2, dash="dot"), layer="below")
        fig.add_annotation(x=by_key[key], xref="x", y=1, yref="paper", yanchor="bottom", showarrow=False,
                           text="✎" if len(texts) == 1 else f"✎{len(texts)}", font=dict(color=NOTE_COLOR, size=12),
                           hovertext="<br>".join(texts), name=NOTE_SHAPE)
    return fig, placed


# ----------------------------------------------------------------------------- KPI sparklines

# The colours Streamlit gives a metric's delta and its own sparkline (line, area tint).
SPARK_COLORS = {"up": ("#079464", "#F1FBF6"), "down": ("#D94A57", "#FDF2F3"), "off": ("#6B7280", "#F3F4F6")}
SPARK_HEIGHT = 56


def sparkline_svg(values: Sequence[float], kind: str = "area", tone: str = "off") -> str:
    """A KPI tile's small trend as one SVG (line, area or bars over the tile's width), shown as
    an image in the tile, which gives each point's value on hover itself (`tiles.tile_html`).
    Drawn by the browser itself: no chart library to start per tile (Streamlit's own sparkline
    is a Vega view per tile, redrawn on every rerun)."""
    ys = [float(v) for v in values]
    line, tint = SPARK_COLORS[tone]
    width, height, pad = 100.0, float(SPARK_HEIGHT), 3.0
    low, high = min(ys + [0.0] if kind == "bar" else ys), max(ys + [0.0] if kind == "bar" else ys)
    span = (high - low) or 1.0

    def y_of(value: float) -> float:
        return round(height - pad - (value - low) / span * (height - 2 * pad), 2)

    slot = width / len(ys)
    parts = []
    if kind == "bar":
        base = y_of(0.0)
        for i, value in enumerate(ys):
            top = y_of(value)
            parts.append(f'<rect x="{i * slot + slot * 0.15:.2f}" y="{min(top, base)}" width="{slot * 0.7:.2f}" '
                         f'height="{max(abs(base - top), 0.5):.2f}" fill="{line}"/>')
    else:
        xs = [round(i * width / (len(ys) - 1), 2) for i in range(len(ys))]
        points = " ".join(f"{x},{y_of(v)}" for x, v in zip(xs, ys))
        if kind == "area":
            parts.append(f'<polygon points="0,{height} {points} {width},{height}" fill="{tint}"/>')
        parts.append(f'<polyline points="{points}" fill="none" stroke="{line}" stroke-width="2" '
                     'vector-effect="non-scaling-stroke" stroke-linejoin="round"/>')
    return (f'<svg class="sa-spark" viewBox="0 0 {width:g} {height:g}" preserveAspectRatio="none" '
            f'width="100%" height="{height:g}" role="img" aria-label="trend">{"".join(parts)}</svg>')
