"""charts.py: the house-style figures, and their Vega-Lite form for the Overview (the same
numbers, series, colours and stacking as the Plotly figure the exports render)."""

from __future__ import annotations

import pandas as pd
import pytest

from stripe_analytics import charts

MONTHLY = pd.DataFrame({
    "month": ["2026-01", "2026-02", "2026-03"], "currency": ["usd"] * 3, "mrr": [1000.0, 1200.5, 1150.25],
    "new_mrr": [300.0, 250.0, 100.0], "reactivation_mrr": [0.0, 20.0, 0.0], "expansion_mrr": [50.0, 0.0, 10.0],
    "contraction_mrr": [10.0, 5.0, 60.0], "churned_mrr": [40.0, 64.5, 100.25], "net_new_mrr": [300.0, 200.5, -50.25],
    "gross_volume": [900.0, 1300.0, 1250.0], "net_volume": [850.0, 1210.0, 1190.0],
})


def _layer(spec: dict, mark: str) -> dict:
    return next(layer for layer in spec["layer"] if layer["mark"]["type"] == mark)


def test_an_area_chart_keeps_its_values_colour_title_and_money_axis():
    fig = charts.lines(MONTHLY, "month", {"mrr": "MRR"}, currency="usd", title="MRR", area=True, height=300)
    frame, spec = charts.vega_lite(fig)
    assert frame[["x", "series", "y"]].values.tolist() == [
        ["2026-01", "MRR", 1000.0], ["2026-02", "MRR", 1200.5], ["2026-03", "MRR", 1150.25]]
    assert spec["title"] == "MRR" and spec["height"] == 300 - 56
    area = _layer(spec, "area")
    assert area["encoding"]["color"]["scale"] == {"domain": ["MRR"], "range": [charts.PRIMARY]}
    assert area["encoding"]["x"]["sort"] == ["2026-01", "2026-02", "2026-03"]
    axis = area["encoding"]["y"]["axis"]
    assert axis["format"] == "~s" and "'$'" in axis["labelExpr"]
    hover = _layer(spec, "rule")  # one tooltip per period, like Plotly's unified hover
    assert hover["transform"] == [{"pivot": "series", "value": "y", "groupby": ["x"]}]
    assert [(t["field"], t.get("format")) for t in hover["encoding"]["tooltip"]] == [("x", None), ("MRR", ",.2f")]
    _, yen = charts.vega_lite(charts.lines(MONTHLY, "month", {"mrr": "MRR"}, currency="jpy"))
    assert _layer(yen, "rule")["encoding"]["tooltip"][1]["format"] == ",.0f"  # the yen has no decimals


def test_movements_stack_gains_up_losses_down_with_the_net_line():
    frame, spec = charts.vega_lite(charts.movements(MONTHLY, "usd"))
    churn = frame[frame["series"] == "Churn"]["y"].tolist()
    assert churn == [-40.0, -64.5, -100.25]
    bars = _layer(spec, "bar")
    assert bars["encoding"]["y"]["stack"] == "zero" and "xOffset" not in bars["encoding"]
    assert bars["transform"][0]["filter"]["oneOf"] == ["New", "Reactivation", "Expansion", "Contraction", "Churn"]
    line = _layer(spec, "line")
    assert line["transform"][0]["filter"]["oneOf"] == ["Net new MRR"]
    assert [t["field"] for t in _layer(spec, "rule")["encoding"]["tooltip"]] == [
        "x", "New", "Reactivation", "Expansion", "Contraction", "Churn", "Net new MRR"]
    colours = dict(zip(bars["encoding"]["color"]["scale"]["domain"], bars["encoding"]["color"]["scale"]["range"]))
    assert colours["Churn"] == charts.MOVEMENT_COLORS["churn"] and colours["Net new MRR"] == charts.SECONDARY


def test_grouped_bars_sit_side_by_side_and_counts_have_no_currency():
    fig = charts.bars(MONTHLY, "month", {"gross_volume": "Gross volume", "net_volume": "Net volume"}, currency="eur")
    _, spec = charts.vega_lite(fig)
    bars = _layer(spec, "bar")
    assert bars["encoding"]["y"]["stack"] is None and bars["encoding"]["xOffset"]["field"] == "series"
    assert "'€'" in bars["encoding"]["y"]["axis"]["labelExpr"]
    counts = pd.DataFrame({"month": ["2026-01", "2026-02"], "n": [3, 4]})
    _, spec = charts.vega_lite(charts.lines(counts, "month", {"n": "Active customers"}, kind="count"))
    axis = _layer(spec, "line")["encoding"]["y"]["axis"]
    assert axis["format"] == ",d" and "labelExpr" not in axis


def test_figures_without_a_vega_form_say_so():
    row = MONTHLY.iloc[-1]
    with pytest.raises(ValueError, match="waterfall"):
        charts.vega_lite(charts.waterfall(row, "usd"))
