"""charts.py: the house-style figures, and their Vega-Lite form for the Overview (the same
numbers, series, colours and stacking as the Plotly figure the exports render)."""

from __future__ import annotations

import pandas as pd

from stripe_analytics import charts

MONTHLY = pd.DataFrame({
    "month": ["2026-01", "2026-02", "2026-03"], "currency": ["usd"] * 3, "mrr": [1000.0, 1200.5, 1150.25],
    "new_mrr": [300.0, 250.0, 100.0], "reactivation_mrr": [0.0, 20.0, 0.0], "expansion_mrr": [50.0, 0.0, 10.0],
    "contraction_mrr": [10.0, 5.0, 60.0], "churned_mrr": [40.0, 64.5, 100.25], "net_new_mrr": [300.0, 200.5, -50.25],
    "gross_volume": [900.0, 1300.0, 1250.0], "net_volume": [850.0, 1210.0, 1190.0],
})


def _layer(spec: dict, mark: str) -> dict:
    return next(layer for layer in spec["layer"] if layer["mark"]["type"] == mark)


def _shown(layer: dict, title: str) -> str:
    """The expression that writes the money value a tooltip entry titled `title` shows (with the
    chart's currency symbol, read from its data)."""
    entry = next(t for t in layer["encoding"]["tooltip"] if t["title"] == title)
    return next(t["calculate"] for t in layer["transform"] if t.get("as") == entry["field"])


UNIT_OF_DATA = f"data('source')[0].{charts.UNIT}"


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
    # the currency symbol comes from the data, so that a change of currency changes the data only
    assert axis["format"] == "~s" and UNIT_OF_DATA in axis["labelExpr"] and set(frame[charts.UNIT]) == {"$"}
    hover = _layer(spec, "rule")  # one tooltip per period, like Plotly's unified hover
    assert hover["transform"][0] == {"pivot": "series", "value": "y", "groupby": ["x"]}
    assert [t["title"] for t in hover["encoding"]["tooltip"]] == ["Period", "MRR"]
    assert 'datum["MRR"]' in _shown(hover, "MRR") and '",.2f"' in _shown(hover, "MRR")
    assert UNIT_OF_DATA in _shown(hover, "MRR")
    yen_frame, yen = charts.vega_lite(charts.lines(MONTHLY, "month", {"mrr": "MRR"}, currency="jpy"))
    assert '",.0f"' in _shown(_layer(yen, "rule"), "MRR") and set(yen_frame[charts.UNIT]) == {"¥"}  # no decimals


def test_a_change_of_currency_changes_a_charts_data_not_its_spec():
    """Streamlit applies new data to the chart on screen in place, but draws a new Vega view when
    the spec changes: the currency symbol is in the data."""
    tenfold = MONTHLY.assign(**{c: MONTHLY[c] * 10 for c in MONTHLY.columns if c.endswith(("mrr", "volume"))})
    frames = {"usd": MONTHLY, "eur": tenfold}  # other figures in another currency
    for figure in (lambda c: charts.waterfall(frames[c].iloc[-1], c),
                   lambda c: charts.lines(MONTHLY, "month", {"mrr": "MRR"}, currency=c, area=True),
                   lambda c: charts.movements(MONTHLY, c), lambda c: charts.waterfall(MONTHLY.iloc[-1], c),
                   lambda c: charts.bars(MONTHLY, "month", {"gross_volume": "Gross"}, currency=c, horizontal=True),
                   lambda c: charts.donut(["card", "link"], [90.0, 10.0], currency=c)):
        (usd_frame, usd), (eur_frame, eur) = (charts.vega_lite(figure(c)) for c in ("usd", "eur"))
        assert usd == eur
        assert set(usd_frame[charts.UNIT]) == {"$"} and set(eur_frame[charts.UNIT]) == {"€"}


def test_movements_stack_gains_up_losses_down_with_the_net_line():
    frame, spec = charts.vega_lite(charts.movements(MONTHLY, "usd"))
    churn = frame[frame["series"] == "Churn"]["y"].tolist()
    assert churn == [-40.0, -64.5, -100.25]
    bars = _layer(spec, "bar")
    assert bars["encoding"]["y"]["stack"] == "zero" and "xOffset" not in bars["encoding"]
    assert bars["transform"][0]["filter"]["oneOf"] == ["New", "Reactivation", "Expansion", "Contraction", "Churn"]
    line = _layer(spec, "line")
    assert line["transform"][0]["filter"]["oneOf"] == ["Net new MRR"]
    assert [t["title"] for t in _layer(spec, "rule")["encoding"]["tooltip"]] == [
        "Period", "New", "Reactivation", "Expansion", "Contraction", "Churn", "Net new MRR"]
    colours = dict(zip(bars["encoding"]["color"]["scale"]["domain"], bars["encoding"]["color"]["scale"]["range"]))
    assert colours["Churn"] == charts.MOVEMENT_COLORS["churn"] and colours["Net new MRR"] == charts.SECONDARY


def test_grouped_bars_sit_side_by_side_and_counts_have_no_currency():
    fig = charts.bars(MONTHLY, "month", {"gross_volume": "Gross volume", "net_volume": "Net volume"}, currency="eur")
    frame, spec = charts.vega_lite(fig)
    bars = _layer(spec, "bar")
    assert bars["encoding"]["y"]["stack"] is None and bars["encoding"]["xOffset"]["field"] == "series"
    assert UNIT_OF_DATA in bars["encoding"]["y"]["axis"]["labelExpr"] and set(frame[charts.UNIT]) == {"€"}
    counts = pd.DataFrame({"month": ["2026-01", "2026-02"], "n": [3, 4]})
    frame, spec = charts.vega_lite(charts.lines(counts, "month", {"n": "Active customers"}, kind="count"))
    axis = _layer(spec, "line")["encoding"]["y"]["axis"]
    assert axis["format"] == ",d" and "labelExpr" not in axis and charts.UNIT not in frame


def test_the_month_to_dates_marks_become_ticks_at_its_bar():
    fig = charts.bars(MONTHLY, "month", {"gross_volume": "Gross volume", "net_volume": "Net volume"}, currency="jpy")
    charts.compared_with(fig, "2026-03", {"Gross volume 1–29 Feb": 1100.0, "Gross volume 1–29 Mar 2025": 700.0},
                         currency="jpy")
    frame, spec = charts.vega_lite(fig)
    marks = frame[frame["series"].str.startswith("Gross volume 1")]
    assert marks[["x", "series", "y"]].values.tolist() == [["2026-03", "Gross volume 1–29 Feb", 1100.0],
                                                          ["2026-03", "Gross volume 1–29 Mar 2025", 700.0]]
    tick = _layer(spec, "tick")
    assert tick["transform"][0]["filter"]["oneOf"] == ["Gross volume 1–29 Feb", "Gross volume 1–29 Mar 2025"]
    assert _layer(spec, "bar")["transform"][0]["filter"]["oneOf"] == ["Gross volume", "Net volume"]
    scale = tick["encoding"]["color"]["scale"]
    assert dict(zip(scale["domain"], scale["range"]))["Gross volume 1–29 Feb"] == "#0a2540"
    rule = _layer(spec, "rule")
    assert [t["title"] for t in rule["encoding"]["tooltip"]][-2:] == ["Gross volume 1–29 Feb",
                                                                      "Gross volume 1–29 Mar 2025"]
    assert all('",.0f"' in _shown(rule, t["title"]) for t in rule["encoding"]["tooltip"][1:])  # the yen's decimals


def test_horizontal_bars_rank_top_down_with_their_money_axis_and_hover():
    products = pd.DataFrame({"name": ["Enterprise", "Team", "Starter"], "invoiced": [8650.5, 5830.0, 12.25]})
    fig = charts.bars(products, "name", {"invoiced": "Invoiced"}, currency="eur", horizontal=True, title="By product")
    note = "Converted to USD at ECB reference rates as of 2026-10-30"
    frame, spec = charts.vega_lite(charts.slim(charts.with_hover_note(fig, note)))
    assert frame.values.tolist() == [["Enterprise", "Invoiced", 8650.5, "€"], ["Team", "Invoiced", 5830.0, "€"],
                                     ["Starter", "Invoiced", 12.25, "€"]]
    bars = _layer(spec, "bar")
    assert bars["encoding"]["y"]["sort"] == ["Enterprise", "Team", "Starter"]  # the largest on top, as given
    assert bars["encoding"]["x"]["axis"]["format"] == "~s" and UNIT_OF_DATA in bars["encoding"]["x"]["axis"]["labelExpr"]
    assert bars["encoding"]["tooltip"][1]["title"] == "Invoiced" and '",.2f"' in _shown(bars, "Invoiced")
    assert {"field": "rates", "title": "Rates"} in bars["encoding"]["tooltip"]
    assert {"calculate": '"' + note + '"', "as": "rates"} in bars["transform"]
    assert spec["title"] == "By product" and "yOffset" not in bars["encoding"]
    counts = pd.DataFrame({"status": ["active", "canceled"], "subscriptions": [76, 34]})
    _, spec = charts.vega_lite(charts.bars(counts, "status", {"subscriptions": "Subscriptions"}, kind="count",
                                           horizontal=True))
    bars = _layer(spec, "bar")
    assert bars["encoding"]["x"]["axis"]["format"] == "," and "labelExpr" not in bars["encoding"]["x"]["axis"]
    assert bars["encoding"]["tooltip"][1]["title"] == "Subscriptions" and "transform" not in bars


def test_a_cohort_heatmap_keeps_its_cells_text_colours_and_order():
    cohorts = pd.DataFrame({"cohort": ["2026-01", "2026-01", "2026-01", "2026-02", "2026-02"],
                            "age": [0, 1, 2, 0, 1], "logo_retention": [1.0, 0.75, 0.5, 1.0, 0.875],
                            "cohort_customers": [4, 4, 4, 8, 8]})
    fig = charts.cohort_heatmap(cohorts, "logo_retention")
    frame, spec = charts.vega_lite(charts.slim(fig))  # the slimmed figure carries a typed array
    assert frame.values.tolist() == [["M0", "2026-01 (4)", 1.0, "100%"], ["M1", "2026-01 (4)", 0.75, "75%"],
                                     ["M2", "2026-01 (4)", 0.5, "50%"], ["M0", "2026-02 (8)", 1.0, "100%"],
                                     ["M1", "2026-02 (8)", 0.875, "88%"]]  # no cell where the cohort is too young
    cells, text = spec["layer"]
    assert cells["mark"]["type"] == "rect" and text["encoding"]["text"] == {"field": "text"}
    assert cells["encoding"]["y"]["sort"] == ["2026-01 (4)", "2026-02 (8)"]  # oldest cohort on top
    assert cells["encoding"]["x"]["sort"] == ["M0", "M1", "M2"] and cells["encoding"]["x"]["axis"]["orient"] == "top"
    assert cells["encoding"]["color"]["scale"] == {"domain": [0.0, 0.5, 1.0],
                                                   "range": ["#f6f8fa", "#b9b5ff", charts.PRIMARY]}
    assert cells["encoding"]["tooltip"][2]["format"] == ".1%"
    assert spec["height"] == fig.layout.height - 24


def test_a_donut_keeps_its_slices_shares_and_amounts_in_the_currencys_decimals():
    fig = charts.donut(["card", "sepa_debit", "link"], [9000.0, 980.0, 20.0], currency="jpy", title="Captured")
    frame, spec = charts.vega_lite(fig)
    assert frame[["label", "value", "share_text"]].values.tolist() == [
        ["card", 9000.0, "90%"], ["sepa_debit", 980.0, "10%"], ["link", 20.0, ""]]  # no text on a sliver
    arcs, shares = spec["layer"]
    assert arcs["mark"]["type"] == "arc" and shares["encoding"]["text"] == {"field": "share_text"}
    assert arcs["encoding"]["color"]["scale"]["range"] == charts.SERIES_COLORS[:3]
    assert arcs["encoding"]["tooltip"][1]["title"] == "Amount" and '",.0f"' in _shown(arcs, "Amount")
    assert set(frame[charts.UNIT]) == {"¥"}
    assert spec["title"] == "Captured"


def test_the_bridge_floats_each_step_from_the_running_total_before_it():
    row = MONTHLY.iloc[-1]  # March: MRR 1,150.25 after a net new of -50.25, so it started at 1,200.50
    frame, spec = charts.vega_lite(charts.waterfall(row, "usd"))
    steps = [(r.x, r.start, r.end, r.kind) for r in frame.itertuples()]
    assert steps == [("Start of month", 0.0, 1200.5, "total"), ("New", 1200.5, 1300.5, "gain"),
                     ("Reactivation", 1300.5, 1300.5, "gain"), ("Expansion", 1300.5, 1310.5, "gain"),
                     ("Contraction", 1310.5, 1250.5, "loss"), ("Churn", 1250.5, 1150.25, "loss"),
                     ("End of month", 0.0, 1150.25, "total")]
    assert list(frame["text"]) == ["$1,200.50", "$100.00", "$0.00", "$10.00", "$60.00", "$100.25", "$1,150.25"]
    bars = _layer(spec, "bar")
    low, high = set(frame["domain_low"]), set(frame["domain_high"])
    assert len(low) == len(high) == 1 and 0 < low.pop() < 1150.25 and high.pop() > 1310.5  # zoomed on the movements
    scale = bars["encoding"]["y"]["scale"]  # (bounds read from the data, as the currency symbol)
    assert "domain_low" in scale["domainMin"]["expr"] and "domain_high" in scale["domainMax"]["expr"]
    colours = dict(zip(*(bars["encoding"]["color"]["scale"][k] for k in ("domain", "range"))))
    assert colours == {"total": charts.PRIMARY, "gain": charts.MOVEMENT_COLORS["new"],
                       "loss": charts.MOVEMENT_COLORS["churn"]}
    assert _layer(spec, "text")["encoding"]["text"] == {"field": "text"}


def test_a_selectable_movements_chart_selects_a_bar_by_month_and_movement():
    frame, spec = charts.vega_lite(charts.movements(MONTHLY, "usd"), select="picked")
    bars = _layer(spec, "bar")
    assert bars["params"] == [{"name": "picked", "select": {"type": "point", "fields": ["x", "series"],
                                                            "on": "click", "clear": "dblclick"}}]
    # no rule over the bars to take their clicks: each bar and point has its own tooltip
    assert all(layer["mark"]["type"] != "rule" for layer in spec["layer"])
    assert [t["title"] for t in bars["encoding"]["tooltip"]] == ["Period", "Series", "Value"]
    assert [t["title"] for t in _layer(spec, "line")["encoding"]["tooltip"]] == ["Period", "Series", "Value"]
    assert 'datum["y"]' in _shown(bars, "Value")
    assert frame[(frame["x"] == "2026-02") & (frame["series"] == "Churn")]["y"].tolist() == [-64.5]


# ----------------------------------------------------------------------------- analysts' notes

NOTES = [(pd.Timestamp("2026-02-14").date(), "Price change"), (pd.Timestamp("2026-02-20").date(), "Launch in EU"),
         (pd.Timestamp("2026-03-31").date(), "Quarter end"), (pd.Timestamp("2026-04-01").date(), "After the range"),
         (pd.Timestamp("2025-12-31").date(), "Before the range")]


def test_notes_mark_the_months_that_hold_them():
    fig = charts.lines(MONTHLY, "month", {"mrr": "MRR"}, currency="usd")
    marked, placed = charts.mark_notes(fig, NOTES)
    assert placed == {"2026-02": ["14 Feb 2026: Price change", "20 Feb 2026: Launch in EU"],
                      "2026-03": ["31 Mar 2026: Quarter end"]}
    assert [(s.x0, s.name) for s in marked.layout.shapes] == [("2026-02", "note"), ("2026-03", "note")]
    assert [a.hovertext for a in marked.layout.annotations] == [
        "14 Feb 2026: Price change<br>20 Feb 2026: Launch in EU", "31 Mar 2026: Quarter end"]
    assert not fig.layout.shapes  # the caller's figure is left as it was


def test_notes_on_days_and_weeks_take_the_periods_step():
    days = pd.DataFrame({"day": ["2026-02-13", "2026-02-14", "2026-02-15"], "v": [1, 2, 3]})
    _, placed = charts.mark_notes(charts.bars(days, "day", {"v": "V"}), NOTES)
    assert placed == {"2026-02-14": ["14 Feb 2026: Price change"]}
    weeks = pd.DataFrame({"week": ["2026-02-09", "2026-02-16"], "v": [1, 2]})
    _, placed = charts.mark_notes(charts.bars(weeks, "week", {"v": "V"}), NOTES)
    assert placed == {"2026-02-09": ["14 Feb 2026: Price change"], "2026-02-16": ["20 Feb 2026: Launch in EU"]}


def test_charts_without_a_time_axis_or_notes_in_range_are_unchanged():
    products = pd.DataFrame({"product": ["Basic", "Pro"], "mrr": [1.0, 2.0]})
    fig = charts.bars(products, "product", {"mrr": "MRR"})
    assert charts.mark_notes(fig, NOTES) == (fig, {})
    fig = charts.lines(MONTHLY, "month", {"mrr": "MRR"})
    assert charts.mark_notes(fig, [(pd.Timestamp("2027-01-01").date(), "later")]) == (fig, {})
    assert charts.mark_notes(fig, []) == (fig, {})


def test_the_vega_lite_form_draws_the_notes_as_rules_with_their_text():
    marked, _ = charts.mark_notes(charts.lines(MONTHLY, "month", {"mrr": "MRR"}, area=True), NOTES)
    _, spec = charts.vega_lite(marked)
    rule, mark = [layer for layer in spec["layer"] if layer.get("data")]
    assert rule["mark"]["type"] == "rule" and mark["mark"]["type"] == "text"
    assert rule["data"]["values"] == mark["data"]["values"] == [
        {"x": "2026-02", "note": "14 Feb 2026: Price change · 20 Feb 2026: Launch in EU", "mark": "✎2"},
        {"x": "2026-03", "note": "31 Mar 2026: Quarter end", "mark": "✎"}]
    assert mark["encoding"]["text"] == {"field": "mark"}


# ----------------------------------------------------------------------------- slim: what the browser gets

def test_slim_rounds_far_below_any_shown_digit_and_leaves_the_exported_figure_whole():
    rates = pd.DataFrame({"month": ["2026-01", "2026-02"], "rate": [1 / 3, 0.1 + 0.2]})
    fig = charts.lines(rates, "month", {"rate": "Rate"}, kind="percent")
    drawn = charts.slim(fig)
    assert list(drawn.data[0].y) == [0.333333333, 0.3]
    assert list(fig.data[0].y) == [1 / 3, 0.1 + 0.2]  # the exports render this one
    assert len(drawn.to_json()) < len(fig.to_json())
    assert drawn.layout.title.text == fig.layout.title.text and drawn.data[0].hovertemplate == fig.data[0].hovertemplate
    cents = charts.slim(charts.lines(MONTHLY, "month", {"mrr": "MRR"}, currency="usd"))
    assert list(cents.data[0].y) == [1000.0, 1200.5, 1150.25]  # amounts as they were


def test_slim_leaves_out_a_trace_with_nothing_to_draw_and_keeps_zeros():
    frame = MONTHLY.assign(empty=[None, None, None], zero=[0.0, 0.0, 0.0])
    fig = charts.bars(frame, "month", {"gross_volume": "Gross", "empty": "Nothing", "zero": "Zero"}, currency="usd")
    assert [t.name for t in charts.slim(fig).data] == ["Gross", "Zero"]
    assert [t.name for t in fig.data] == ["Gross", "Nothing", "Zero"]


def test_slim_thins_a_line_longer_than_the_pixels_but_keeps_its_ends_and_peaks():
    days = pd.DataFrame({"day": [f"d{i:05d}" for i in range(5000)], "value": [float(i % 7) for i in range(5000)]})
    days.loc[2345, "value"] = 1000.0
    days.loc[3210, "value"] = -50.0
    fig = charts.lines(days, "day", {"value": "Value"}, kind="count")
    drawn = charts.slim(fig, max_points=400)
    x, y = list(drawn.data[0].x), list(drawn.data[0].y)
    assert 100 < len(x) <= 400 and len(fig.data[0].x) == 5000
    assert x[0] == "d00000" and x[-1] == "d04999" and x == sorted(x)
    assert ("d02345", 1000.0) in zip(x, y) and ("d03210", -50.0) in zip(x, y)
    assert all(days.loc[int(d[1:]), "value"] == v for d, v in zip(x, y))  # every point drawn is a real one
    bars = charts.bars(days, "day", {"value": "Value"}, kind="count")
    assert len(charts.slim(bars, max_points=400).data[0].x) == 5000  # bars are never thinned


def test_a_slimmed_figure_still_has_its_vega_lite_form():
    fig = charts.movements(MONTHLY, "usd")
    frame, _ = charts.vega_lite(charts.slim(fig))
    assert frame.equals(charts.vega_lite(fig)[0])


def test_a_sparkline_is_one_svg_scaled_to_its_values():
    from stripe_analytics.charts import SPARK_COLORS, sparkline_svg

    svg = sparkline_svg([10, 20, 15], "area", "up")
    assert svg.startswith('<svg class="sa-spark"') and svg.count("<svg") == 1
    line = svg.split('<polyline points="')[1].split('"')[0]
    # 100 wide, 56 high, 3 of padding: the lowest value at the bottom, the highest at the top
    assert line == "0.0,53.0 50.0,3.0 100.0,28.0"
    assert SPARK_COLORS["up"][0] in svg and SPARK_COLORS["up"][1] in svg  # the line and the area's tint
    bars = sparkline_svg([-5, 5], "bar", "down")
    assert bars.count(f'fill="{SPARK_COLORS["down"][0]}"') == 2 and "<polyline" not in bars
    # bars stand on zero: the negative one hangs below the middle, the positive one rises above it
    assert 'y="28.0"' in bars
    assert "<polygon" not in sparkline_svg([1, 2], "line", "off")



def test_a_converted_charts_hover_says_its_rates_in_plotly_and_vega_lite():
    note = "Converted to USD at ECB reference rates as of 2026-10-30"
    fig = charts.movements(MONTHLY, "usd")
    noted = charts.with_hover_note(fig, note)
    assert all(note in trace.hovertemplate and trace.hovertemplate.endswith("<extra></extra>")
               for trace in noted.data)
    assert not any(note in (trace.hovertemplate or "") for trace in fig.data)   # the figure given is unchanged
    _, spec = charts.vega_lite(noted)
    tooltip = spec["layer"][-1]
    assert {"field": "rates", "title": "Rates"} in tooltip["encoding"]["tooltip"]
    assert {"calculate": '"' + note + '"', "as": "rates"} in tooltip["transform"]
    _, plain = charts.vega_lite(fig)
    assert all(t.get("field") != "rates" for t in plain["layer"][-1]["encoding"]["tooltip"])
