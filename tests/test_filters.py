"""The sidebar filters' URL model (stripe_analytics.ui.filters), without Streamlit: the plan,
price, interval, country and breakdown keys round-trip through the URL, reach the metrics and
browse filters, and values the account does not have are dropped."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from stripe_analytics.queries import FilterOptions
from stripe_analytics.ui.filters import _keeps_sidebar, by_options, default_filters, from_params, valid

OPTIONS = FilterOptions(currencies=["usd", "eur"], default_currency="usd", first_day=date(2025, 1, 1),
                        last_day=date(2026, 6, 30), products=[("prod_b", "Basic"), ("prod_p", "Pro")],
                        segments={"channel": ["web", "sales"]}, prices=[("price_b", "Basic · monthly")],
                        intervals=["month", "year"], countries=["US", "FR"])
TODAY = date(2026, 6, 30)


def test_segment_keys_round_trip_through_the_url():
    defaults = default_filters(OPTIONS, TODAY)
    params = {"plan": "prod_p", "price": "price_b", "interval": "year", "country": "FR", "by": "metadata:channel",
              "segment": "channel=web"}
    f = from_params(params, OPTIONS, defaults)
    assert (f.plan, f.price, f.interval, f.country, f.by, f.segment) == (
        "prod_p", "price_b", "year", "FR", "metadata:channel", "channel=web")
    assert f.to_params(defaults) == params                       # what a drill-down link carries
    assert from_params(f.to_params(defaults), OPTIONS, defaults) == f
    mf = f.metric_filters()
    assert (mf.plan, mf.price, mf.billing_interval, mf.country, mf.segment_key) == (
        "prod_p", "price_b", "year", "FR", "channel")
    assert f.scope().country == "FR"
    assert "plan Pro" in f.describe({"prod_p": "Pro"}) and "country FR" in f.describe()
    assert f.filename("mrr", "png") == "mrr_usd_2025-07_2026-06_channel-web_prod_p_price_b_year_fr.png"


def test_values_the_account_does_not_have_are_dropped():
    defaults = default_filters(OPTIONS, TODAY)
    f = from_params({"plan": "prod_gone", "price": "price_x", "interval": "fortnight", "country": "ZZ",
                     "by": "metadata:tier"}, OPTIONS, defaults)
    assert (f.plan, f.price, f.interval, f.country, f.by) == (None, None, None, None, None)
    assert f.to_params(defaults) == {}
    assert from_params({"country": "fr"}, OPTIONS, defaults).country == "FR"
    assert by_options(OPTIONS) == ["plan", "price", "interval", "country", "metadata:channel"]
    # After a sync the account may lose a value: `valid` resets it, keeping the others.
    kept = replace(defaults, plan="prod_p", country="DE", by="country")
    assert (valid(kept, OPTIONS, defaults).plan, valid(kept, OPTIONS, defaults).country,
            valid(kept, OPTIONS, defaults).by) == ("prod_p", None, "country")


def test_a_breakdown_row_sets_its_segment_filter():
    from stripe_analytics.ui.filters import _from_widgets, show_only

    defaults = default_filters(OPTIONS, TODAY)
    state: dict = {}
    show_only(state, "plan", "prod_p")
    show_only(state, "metadata:channel", "web")
    f = _from_widgets(state, defaults, "usd")
    assert (f.plan, f.segment) == ("prod_p", "channel=web")
    assert f.to_params(defaults) == {"plan": "prod_p", "segment": "channel=web"} | {
        k: v for k, v in f.to_params(defaults).items() if k not in ("plan", "segment")}


def test_only_a_change_that_leaves_the_sidebar_as_drawn_runs_the_page_alone():
    """`filter_runs`: the page alone for a currency, dates, granularity, product, segment value or
    breakdown; the whole app when the sidebar changes (Report in, the currency's label, a segment's values)."""
    usd = default_filters(OPTIONS, TODAY)
    page_alone = [replace(usd, currency="eur"), replace(usd, start=date(2026, 1, 1)), replace(usd, granularity="week"),
                  replace(usd, product="prod_p"), replace(usd, plan="prod_b", country="FR", by="plan")]
    assert all(_keeps_sidebar(usd, after) for after in page_alone)
    web = replace(usd, segment_key="channel", segment_value="web")
    assert _keeps_sidebar(web, replace(web, segment_value="sales"))
    all_in_usd = replace(usd, converted=True)
    whole_app = [(usd, all_in_usd), (all_in_usd, usd), (all_in_usd, replace(all_in_usd, currency="eur")),
                 (usd, web), (web, usd)]
    assert not any(_keeps_sidebar(before, after) for before, after in whole_app)
    assert _keeps_sidebar(all_in_usd, replace(all_in_usd, granularity="day"))
