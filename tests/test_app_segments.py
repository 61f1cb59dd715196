"""The segment filters and breakdowns in the app (AppTest via app.py on the demo account): plan /
price / interval / country filters and *Break down by* round-trip through the URL, and the MRR and
Retention pages show the engine's breakdown (docs/metrics.md "Segments")."""

from __future__ import annotations

import json
import re

from tests.test_app import TIMEOUT, current_filters, demo_env, expected, new_app, page, problems, tiles  # noqa: F401

from stripe_analytics.cache import Cache
from stripe_analytics.metrics import MetricsEngine
from stripe_analytics.money import format_amount
from stripe_analytics.ui.filters import SEGMENTS_OPEN


def breakdown(data_dir, f, by):
    with Cache.open(data_dir / "demo.duckdb", read_only=True) as cache:
        return MetricsEngine(cache).segment_breakdown(f.metric_filters(), by)


def test_plan_filter_and_breakdown_match_the_engine_and_the_url(demo_env):
    at = new_app().run()
    options = at.session_state["_ctx"].options
    assert options.countries and options.intervals and options.prices
    page(at, "mrr")
    assert any("Break down by" in c.value for c in at.caption)          # the hint when no breakdown is chosen
    at.sidebar.selectbox(key="f_by").set_value("plan").run()
    assert not problems(at), problems(at)
    f = current_filters(at)
    assert f.by == "plan" and at.query_params["by"] == "plan"
    frame = breakdown(demo_env, f, "plan")
    last = frame[(frame["currency"] == f.currency) & (frame["month"] == frame["month"].max())]
    shown = next(t for t in at.dataframe if "moved_in_mrr" in t.value.columns).value
    assert set(shown["segment"]) == set(last[(last[["mrr", "net_new_mrr", "moved_in_mrr", "moved_out_mrr",
                                                    "churned_mrr"]] != 0).any(axis=1)]["segment"])
    top = last.sort_values("mrr", ascending=False).iloc[0]
    row = shown[shown["segment"] == top["segment"]].iloc[0]
    assert (row["mrr"], row["churned_mrr"]) == (top["mrr"] / 100, top["churned_mrr"] / 100)
    # Filtering by that plan: the MRR tile is the breakdown row's MRR.
    assert "f_plan" not in [s.key for s in at.sidebar.selectbox], "the segment pickers are drawn once opened"
    at.session_state[SEGMENTS_OPEN] = True  # the analyst opens "Plan, price, interval, country"
    at.run()
    at.sidebar.selectbox(key="f_plan").set_value(top["segment"]).run()
    assert not problems(at), problems(at)
    assert at.query_params["plan"] == top["segment"]
    assert tiles(at)["MRR"] == format_amount(int(top["mrr"]), f.currency)
    at.session_state[SEGMENTS_OPEN] = False  # closed again: its choice stays
    at.run()
    assert "f_plan" not in [s.key for s in at.sidebar.selectbox]
    assert current_filters(at).plan == top["segment"] and at.query_params["plan"] == top["segment"]
    assert tiles(at)["MRR"] == format_amount(int(top["mrr"]), f.currency)
    # Retention: churn by plan, then a page switch keeps the segment and the breakdown.
    page(at, "retention")
    assert not problems(at), problems(at)
    assert any("Customer churn rate by plan" in str(c.proto) for c in at.get("plotly_chart")) or at.dataframe
    f = current_filters(at)
    assert (f.plan, f.by) == (top["segment"], "plan")
    churn = next(t for t in at.dataframe if "revenue_churn_rate" in t.value.columns).value
    assert list(churn["segment"]) == [top["segment"]]


def test_country_and_interval_from_the_url(demo_env):
    at = new_app()
    at.query_params.update({"country": "US", "interval": "year", "by": "country"})
    at.run()
    options = at.session_state["_ctx"].options
    f = current_filters(at)
    assert (f.country, f.interval, f.by) == ("US" if "US" in options.countries else None,
                                            "year" if "year" in options.intervals else None, "country")
    want = expected(demo_env, currencies=[f.currency], date_from=f.start, date_to=f.end, country=f.country,
                    billing_interval=f.interval).monthly.iloc[-1]
    assert tiles(at)["MRR"] == format_amount(want["mrr"], f.currency)
    # A value the account does not have is dropped, not applied.
    at2 = new_app()
    at2.query_params.update({"country": "ZZ", "by": "metadata:nope"})
    at2.run()
    assert (current_filters(at2).country, current_filters(at2).by) == (None, None)
    # The all-currencies view: a billing-interval segment is per currency, said in plain words;
    # without it, the country breakdown is per currency too, and the page says so.
    assert len(options.currencies) > 1
    at.sidebar.selectbox(key="f_currency").set_value("all").run()
    page(at, "mrr")
    assert [e.value for e in at.error] == ["These filters cannot be applied: plan, price and billing-interval "
                                           "segments are per currency: pick one currency to use them"]
    at.sidebar.selectbox(key="f_interval").set_value("").run()
    assert not problems(at), problems(at)
    assert any("breakdown by country is per currency" in i.value for i in at.info)


def test_a_breakdown_by_billing_interval_is_drawn_on_mrr_and_retention(demo_env):
    """A segment value may be "month" itself (the monthly billing interval): the charts of one
    column per value still have their months and one series per interval."""
    at = new_app()
    at.query_params.update({"by": "interval"})
    at.run()
    options = at.session_state["_ctx"].options
    assert "month" in options.intervals
    for name, title in (("mrr", "MRR by billing interval"), ("retention", "Customer churn rate by billing interval")):
        page(at, name)
        assert not problems(at), (name, problems(at))
        figure = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                      if title in json.dumps((json.loads(c.proto.spec).get("layout") or {}).get("title")))
        traces = {trace["name"]: trace for trace in figure["data"]}
        assert "month" in traces and len(traces) >= 2, (name, sorted(traces))  # one series per interval
        for trace in traces.values():  # over the months, not mixed with the "month" series
            assert trace["x"] and all(re.fullmatch(r"\d{4}-\d{2}", str(x)[:7]) for x in trace["x"]), trace["x"]
