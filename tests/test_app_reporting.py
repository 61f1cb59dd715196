"""The all-currencies view of the dashboard (docs/specs/fx.md) through app.py with AppTest: the
currency picker offers it first, every metric page shows the converted figures of the engine,
says how they were converted, and names exports after the reporting currency and rates date."""

from __future__ import annotations

import json

from stripe_analytics.cache import Cache
from stripe_analytics.metrics import MetricFilters, MetricsEngine
from stripe_analytics.money import format_amount
from tests.test_app import current_filters, demo_env, new_app, page, problems, tiles, vega_rows  # noqa: F401 - fixture
from tests.app_support import kpi_tiles

METRIC_PAGES = ["overview", "revenue", "mrr", "retention", "customers", "products"]


def converted_app():
    at = new_app().run()
    at.sidebar.selectbox(key="f_currency").set_value("all").run()
    return at


def engine_result(data_dir, f, **filters):
    with Cache.open(data_dir / "demo.duckdb", read_only=True) as cache:
        engine = MetricsEngine(cache)
        return engine.compute(MetricFilters(date_from=f.start, date_to=f.end, **filters),
                              reporting_currency=f.currency)


def test_the_picker_offers_all_currencies_first(demo_env):
    at = new_app().run()
    picker = at.sidebar.selectbox(key="f_currency")
    options = at.session_state["_ctx"].options
    assert len(options.currencies) > 1
    assert picker.options[0] == f"All currencies in {options.default_currency.upper()}"
    assert picker.options[1:] == [c.upper() for c in options.currencies]
    at = converted_app()
    f = current_filters(at)
    assert (f.converted, f.currency) == (True, options.default_currency)
    assert at.query_params["currency"] == "all"


def test_every_metric_page_works_in_the_converted_view(demo_env):
    at = converted_app()
    for name in METRIC_PAGES:
        page(at, name)
        assert not problems(at), (name, problems(at))
        captions = [c.value for c in at.caption if "Converted to USD at ECB reference rates as of" in c.value]
        assert captions, name
        # The demo runs to today, past the rates shipped with the package: the page says so.
        assert any("out of date" in w.value for w in at.warning), name


def test_overview_tiles_are_the_converted_engine_figures(demo_env):
    at = converted_app()
    f = current_filters(at)
    last = engine_result(demo_env, f).monthly.iloc[-1]
    shown = tiles(at)
    assert shown["MRR"] == format_amount(last["mrr"], "usd")
    assert shown["Gross volume"] == format_amount(last["gross_volume"], "usd")
    assert shown["Net volume"] == format_amount(last["net_volume"], "usd")
    assert shown["Active customers"] == f"{int(last['active_customers']):,}"
    mrr_tile = next(tile for tile in kpi_tiles(at) if tile.label == "MRR")
    assert "Converted to USD at ECB reference rates" in mrr_tile.help


def _is_bridge(spec: dict) -> bool:
    """The MRR bridge (`charts.waterfall` drawn by `charts._vega_waterfall`): its step amounts' layer."""
    return any(layer.get("name") == "step_amounts" for layer in spec.get("layer", []))


def test_mrr_page_has_fx_impact_in_movements_bridge_and_table(demo_env):
    at = page(converted_app(), "mrr")
    charts = [(json.loads(c.proto.spec), vega_rows(c)) for c in at.get("vega_lite_chart")]
    movements = next(rows for spec, rows in charts if "series" in rows and "Churn" in set(rows["series"]))
    assert "FX impact" in set(movements["series"])                  # a series of the movements chart
    bridge = next(rows for spec, rows in charts if _is_bridge(spec))
    assert "FX impact" in list(bridge["x"])
    at.session_state["mrr_section"] = "Monthly table"
    at.run()
    table = next(df.value for df in at.dataframe if "fx_mrr" in df.value.columns)
    f = current_filters(at)
    expected = engine_result(demo_env, f).monthly
    assert list(table["fx_mrr"]) == [round(v / 100, 2) for v in expected["fx_mrr"]]


def test_customers_table_shows_own_currency_beside_converted_mrr(demo_env):
    at = page(converted_app(), "customers")
    table = next(df.value for df in at.dataframe if "own_mrr" in df.value.columns)
    f = current_filters(at)
    result = engine_result(demo_env, f)
    snap = result.snapshots
    now = snap[snap["m"] == result.calendar.last].set_index("customer")["mrr"]
    own = result.own_snapshots
    foreign = own[(own["m"] == result.calendar.last) & (own["currency"] == "eur")]["customer"]
    row = table[table["id"].isin(set(foreign))].iloc[0]
    assert row["own_mrr"].startswith("€")
    assert round(row["mrr"] * 100) == now[row["id"]]


def test_exports_name_the_reporting_currency_and_rates_date(demo_env):
    at = converted_app()
    f = at.session_state["_ctx"].filters                            # what the pages' widgets name files by
    assert f.rates_date is not None
    name = f.filename("mrr", "csv")
    assert name.startswith("mrr_all-in-usd_") and name.endswith(f"_rates-{f.rates_date.isoformat()}.csv")


def test_a_single_currency_view_is_unchanged(demo_env):
    at = converted_app()
    at.sidebar.selectbox(key="f_currency").set_value("eur").run()
    assert not problems(at)
    assert not [c for c in at.caption if "Converted to" in c.value]
    assert not current_filters(at).converted


def test_exported_rows_carry_the_reporting_currency_and_rates_date(demo_env):
    import pandas as pd

    from stripe_analytics.ui.widgets import _exported

    f = converted_app().session_state["_ctx"].filters
    out = _exported(pd.DataFrame({"month": ["2026-10"], "mrr": [1.5]}), f)
    assert out.to_dict("records") == [{"month": "2026-10", "mrr": 1.5, "reporting_currency": "usd",
                                       "rates_as_of": f.rates_date.isoformat()}]


def test_data_page_lists_rates_and_imports_a_file(demo_env):
    from stripe_analytics.metrics import RateSet
    from stripe_analytics.ui.fx import import_rates_upload

    at = page(new_app().run(), "data")
    assert not problems(at)
    rates = next(df.value for df in at.dataframe if "last_per_eur" in df.value.columns)
    assert {"usd", "gbp", "jpy"} <= set(rates["currency"])

    class Upload:  # what st.file_uploader hands over
        name = "rates.csv"

        def __init__(self, text: str):
            self._data = text.encode()

        def getvalue(self) -> bytes:
            return self._data

    bad = import_rates_upload(demo_env / "demo.duckdb", Upload("date,currency,per_eur\n2026-11-20,usd,zero\n"))
    assert not bad.ok and "line 2" in bad.message and "nothing was imported" in bad.message
    good = import_rates_upload(demo_env / "demo.duckdb", Upload("date,currency,per_eur\n2026-11-27,usd,1.2\n"))
    assert good.ok and "Imported 1 rates (USD)" in good.message
    with Cache.open(demo_env / "demo.duckdb", read_only=True) as cache:
        summary = {r["currency"]: r for r in RateSet.from_cache_connection(cache.con).summary()}
    assert summary["usd"]["user_rates"] == 1 and str(summary["usd"]["last_date"]) == "2026-11-27"
    at = converted_app()
    assert any("user rates as of 2026-11-27" in c.value for c in at.caption)


def test_another_reporting_currency_can_be_picked_and_bookmarked(demo_env):
    at = converted_app()
    at.sidebar.selectbox(key="f_reporting").set_value("eur").run()
    assert not problems(at)
    f = current_filters(at)
    assert (f.converted, f.currency) == (True, "eur")
    assert at.query_params["currency"] == "all" and at.query_params["in"] == "eur"
    assert tiles(at)["MRR"] == format_amount(engine_result(demo_env, f).monthly.iloc[-1]["mrr"], "eur")
    assert any(c.value.startswith(":material/currency_exchange: Converted to EUR") for c in at.caption)
    assert at.sidebar.selectbox(key="f_currency").options[0] == "All currencies in EUR"
    shared = new_app()
    shared.query_params.update({"currency": "all", "in": "gbp"})
    shared.run()
    assert (current_filters(shared).converted, current_filters(shared).currency) == (True, "gbp")



def rows_caption(at) -> int:
    """The row count a table's footer states ("1,234 rows ...")."""
    import re

    counts = [int(m.group(1).replace(",", "")) for c in at.caption
              if (m := re.match(r"^([\d,]+) rows?\b", c.value))]
    assert counts, [c.value for c in at.caption]
    return counts[0]


def test_payments_and_subscriptions_list_every_currency_in_the_converted_view(demo_env):
    """The all-currencies view lists every currency's payments and subscriptions, each amount in
    its own currency; the single-currency view lists that currency's only."""
    from datetime import datetime, timedelta, timezone

    import duckdb

    at = page(converted_app(), "payments")
    assert not problems(at)
    f = current_filters(at)
    start = datetime(f.start.year, f.start.month, f.start.day, tzinfo=timezone.utc)
    end = datetime(f.end.year, f.end.month, f.end.day, tzinfo=timezone.utc) + timedelta(days=1)
    with duckdb.connect(str(demo_env / "demo.duckdb"), read_only=True) as con:
        charges_by_currency = dict(con.execute(
            "SELECT currency, count(*) FROM charges WHERE NOT deleted AND created >= ? AND created < ? GROUP BY 1",
            [start, end]).fetchall())
        subscriptions_by_currency = dict(con.execute(
            "SELECT currency, count(*) FROM subscriptions WHERE NOT deleted GROUP BY 1").fetchall())
        yen = con.execute("SELECT id, amount FROM charges WHERE currency = 'jpy' AND NOT deleted "
                          "ORDER BY created DESC, id LIMIT 1").fetchone()
    assert len(charges_by_currency) > 1 and len(subscriptions_by_currency) > 1
    assert rows_caption(at) == sum(charges_by_currency.values())
    assert any("each in its own currency" in c.value for c in at.caption)
    charges = next(df.value for df in at.dataframe if "amount_refunded" in df.value.columns)
    assert "currency" in charges.columns and len(set(charges["currency"])) > 1
    shown = charges[charges["id"] == yen[0]]
    if len(shown):  # on the first page: a yen amount is shown in yen
        assert shown["amount"].iloc[0] == format_amount(yen[1], "jpy")

    at = page(converted_app(), "subscriptions")
    assert not problems(at)
    assert rows_caption(at) == sum(subscriptions_by_currency.values())

    at.sidebar.selectbox(key="f_currency").set_value("eur").run()
    assert rows_caption(page(at, "payments")) == charges_by_currency["eur"]
    assert rows_caption(page(at, "subscriptions")) == subscriptions_by_currency["eur"]


def test_converted_charts_say_their_rates_on_hover(demo_env):
    """Every money chart of a converted view repeats the conversion label on hover; a chart of
    figures that are not converted does not (the Revenue page's disputes, in R only, say so)."""
    for name in ("overview", "mrr", "retention", "revenue", "products"):
        at = page(converted_app(), name)
        assert not problems(at), name
        label = next(c.value for c in at.caption if "Converted to USD at" in c.value)
        label = label.split(":material/currency_exchange: ", 1)[-1].split(". ", 1)[0]
        plotly = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        vega = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
        noted = [s for s in plotly if any(label in (t.get("hovertemplate") or "") for t in s["data"])]
        noted += [s for s in vega if label in json.dumps(s)]
        assert noted, name
        if name == "mrr":
            bridge = next(s for s in vega if _is_bridge(s))
            assert label in json.dumps(bridge)
        if name == "revenue":
            disputes = [s for s in vega if "Disputes opened" in json.dumps(s.get("title"))]
            assert disputes and all(label not in json.dumps(s) for s in disputes)
            assert "USD only, not converted" in json.dumps(disputes[0]["title"])


def test_the_converted_view_reports_in_the_accounts_default_currency(demo_env):
    """docs/specs/fx.md: the reporting currency defaults to the account's default_currency (here
    CHF, which the account never bills in), not to its most used currency; the single-currency
    default stays the most used one, and the URL needs no `in`."""
    with Cache.open(demo_env / "demo.duckdb") as cache:
        profile = json.loads(cache.get_meta("account") or "{}")
        cache.set_meta("account", json.dumps({**profile, "default_currency": "chf"}))
    at = new_app().run()
    picker = at.sidebar.selectbox(key="f_currency")
    assert picker.options[0] == "All currencies in CHF"
    assert current_filters(at).currency == at.session_state["_ctx"].options.currencies[0] != "chf"
    at = converted_app()
    assert not problems(at)
    f = current_filters(at)
    assert (f.converted, f.currency) == (True, "chf")
    assert at.query_params["currency"] == "all" and "in" not in at.query_params
    assert any(c.value.startswith(":material/currency_exchange: Converted to CHF") for c in at.caption)
    assert tiles(at)["MRR"] == format_amount(engine_result(demo_env, f).monthly.iloc[-1]["mrr"], "chf")


def test_a_currency_of_imported_rates_can_be_the_reporting_currency(demo_env):
    """docs/specs/fx.md: any currency the rate table covers, the user's own rates included (XOF,
    which the ECB does not publish, at its fixed 655.957 per EUR)."""
    from stripe_analytics.metrics import import_rates, parse_rates_csv

    with Cache.open(demo_env / "demo.duckdb") as cache:
        import_rates(cache, parse_rates_csv("date,currency,per_eur\n2020-01-02,xof,655.957\n"))
    at = converted_app()
    assert "XOF" in at.sidebar.selectbox(key="f_reporting").options
    at.sidebar.selectbox(key="f_reporting").set_value("xof").run()
    assert not problems(at)
    f = current_filters(at)
    assert (f.converted, f.currency) == (True, "xof") and at.query_params["in"] == "xof"
    assert tiles(at)["MRR"] == format_amount(engine_result(demo_env, f).monthly.iloc[-1]["mrr"], "xof")
    assert any("Converted to XOF at ECB reference rates and user rates" in c.value for c in at.caption)
