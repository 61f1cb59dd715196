"""The dashboard through Streamlit's AppTest, always via app.py's navigation: every page
renders on the demo account, the filters change the numbers, the numbers shown are the
metrics engine's, and the empty, corrupt-cache and bad-settings states say what to do."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from stripe_analytics.cache import Cache
from stripe_analytics.metrics import MetricFilters, compute_metrics
from stripe_analytics.metrics.cash import period_label, period_start
from stripe_analytics.money import format_amount, to_major_float
from tests.app_support import APP, app_env, data_dir_with_demo, kpi_tiles

PAGES = ["overview", "revenue", "mrr", "retention", "customers", "payments", "subscriptions", "products", "explore",
         "data", "account", "customer", "payment"]
TIMEOUT = 120


@pytest.fixture
def demo_env(tmp_path, monkeypatch):
    data_dir = data_dir_with_demo(tmp_path / "data")
    for name, value in app_env(data_dir, tmp_path).items():
        monkeypatch.setenv(name, value)
    for name in [n for n in list(__import__("os").environ) if n.startswith("STRIPE_")]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return data_dir


def new_app() -> AppTest:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    from stripe_analytics.ui import data

    data._SEEN.clear()
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT)


def page(at: AppTest, name: str) -> AppTest:
    return at.switch_page(f"pages/{name}_page.py").run()


def problems(at: AppTest) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error]


def tiles(at: AppTest) -> dict[str, str]:
    return {tile.label: tile.value for tile in kpi_tiles(at)}


def expected(data_dir: Path, **filters):
    with Cache.open(data_dir / "demo.duckdb", read_only=True) as cache:
        result = compute_metrics(cache, MetricFilters(**filters))
    return result


def current_filters(at: AppTest):
    return at.session_state["_filters_value"]


# ----------------------------------------------------------------------------- pages

def test_every_page_renders_on_the_demo(demo_env):
    at = new_app().run()
    assert not problems(at), problems(at)
    assert any("Demo data" in i.value for i in at.info)
    for name in PAGES:
        page(at, name)
        assert not problems(at), (name, problems(at))
        assert at.title or at.markdown, name


def test_overview_numbers_equal_the_metrics_engine(demo_env):
    at = new_app().run()
    f = current_filters(at)
    result = expected(demo_env, currencies=[f.currency], date_from=f.start, date_to=f.end)
    last = result.monthly.iloc[-1]
    shown = tiles(at)
    assert shown["MRR"] == format_amount(last["mrr"], f.currency)
    assert shown["ARR"] == format_amount(last["arr"], f.currency)
    assert shown["Active customers"] == f"{int(last['active_customers']):,}"
    assert shown["Gross volume"] == format_amount(last["gross_volume"], f.currency)
    assert shown["Net volume"] == format_amount(last["net_volume"], f.currency)
    churn = last["customer_churn_rate"]
    assert shown["Customer churn"] == ("—" if churn != churn else f"{churn * 100:.1f}%")


def test_reset_filters_comes_and_goes_without_moving_the_rest_of_the_sidebar(demo_env):
    """Reset filters shows once a filter differs from its default and puts every filter back.
    It and the "Report in" picker come and go in places of their own: the sidebar's other
    elements keep their positions, which the browser would otherwise redraw as new elements
    (about 300 more components drawn on every change between a default and another value)."""
    def sidebar(at: AppTest) -> list[tuple[str, str]]:
        """Each element of the sidebar: a block (the Reset button's, a fragment) by the buttons in it."""
        def label(node) -> str:
            if getattr(node, "label", None):
                return str(node.label)
            return " ".join(str(b.label) for b in node.button) if hasattr(node, "button") else ""
        return [(node.type, label(node)) for node in at.sidebar.children.values()]

    at = new_app().run()
    default = current_filters(at)
    at_default = sidebar(at)
    assert ("button", "Reset filters") not in at_default
    other = next(c for c in at.session_state["_ctx"].options.currencies if c != default.currency)
    at.sidebar.selectbox(key="f_currency").set_value(other).run()
    changed = sidebar(at)
    assert not problems(at)
    moved = [(before, after) for before, after in zip(at_default, changed) if before != after]
    # in its own place (a fragment's, `filter_runs`), the others unmoved
    assert moved == [(("flex_container", ""), ("flex_container", "Reset filters"))]
    at.sidebar.selectbox(key="f_currency").set_value("all").run()  # all currencies: the "Report in" picker too
    moved = [(before, after) for before, after in zip(at_default, sidebar(at)) if before != after]
    assert [after for _, after in moved] == [("selectbox", "Report in"), ("flex_container", "Reset filters")]
    assert [before for before, _ in moved] == [("empty", ""), ("flex_container", "")]
    assert len(sidebar(at)) == len(at_default)
    at.sidebar.button[[b.label for b in at.sidebar.button].index("Reset filters")].click().run()
    assert current_filters(at) == default and sidebar(at) == at_default
    assert not any(key in at.query_params for key in ("currency", "reporting"))


def test_filters_change_the_numbers_and_match_the_engine(demo_env):
    at = new_app().run()
    before = tiles(at)
    options = at.session_state["_ctx"].options
    other = next(c for c in options.currencies if c != current_filters(at).currency)
    at.sidebar.selectbox(key="f_currency").set_value(other).run()
    assert not problems(at)
    after = tiles(at)
    assert after["MRR"] != before["MRR"]
    f = current_filters(at)
    assert f.currency == other
    last = expected(demo_env, currencies=[other], date_from=f.start, date_to=f.end).monthly.iloc[-1]
    assert after["MRR"] == format_amount(last["mrr"], other)

    # a segment, then a product: each changes MRR to exactly what the engine says
    key = next(iter(options.segments))
    value = options.segments[key][0]
    at.sidebar.selectbox(key="f_currency").set_value(options.default_currency).run()
    at.sidebar.selectbox(key="f_segment_key").set_value(key).run()
    at.sidebar.selectbox(key="f_segment_value").set_value(value).run()
    f = current_filters(at)
    assert (f.segment_key, f.segment_value) == (key, value)
    last = expected(demo_env, currencies=[f.currency], date_from=f.start, date_to=f.end, segment_key=key,
                    segment_value=value).monthly.iloc[-1]
    assert tiles(at)["MRR"] == format_amount(last["mrr"], f.currency)

    product = options.products[0][0]
    at.sidebar.selectbox(key="f_product").set_value(product).run()
    f = current_filters(at)
    last = expected(demo_env, currencies=[f.currency], date_from=f.start, date_to=f.end, segment_key=key,
                    segment_value=value, products=[product]).monthly.iloc[-1]
    assert tiles(at)["MRR"] == format_amount(last["mrr"], f.currency)
    assert not problems(at)


def test_date_range_filter_changes_the_months(demo_env):
    at = new_app().run()
    f = current_filters(at)
    start = date(f.end.year - 1 if f.end.month <= 3 else f.end.year, ((f.end.month - 4) % 12) + 1, 1)
    at.sidebar.date_input(key="f_dates").set_value((start, f.end)).run()
    at.session_state["mrr_section"] = "Monthly table"
    page(at, "mrr")
    table = [df for df in at.dataframe if "month" in df.value.columns]
    assert table, "the MRR page shows its monthly table"
    months = list(table[-1].value["month"])
    assert months[0] == f"{start.year:04d}-{start.month:02d}" and len(months) == 4


def test_filters_come_from_the_url_and_are_written_back(demo_env):
    at = new_app().run()
    options = at.session_state["_ctx"].options
    other = next(c for c in options.currencies if c != options.default_currency)
    key = next(iter(options.segments))
    value = options.segments[key][0]

    shared = new_app()
    shared.query_params.update({"currency": other, "from": "2026-01-01", "granularity": "week",
                                "segment": f"{key}={value}"})
    shared.run()
    assert not problems(shared)
    f = current_filters(shared)
    assert (f.currency, f.start, f.granularity, f.segment_key, f.segment_value) == (
        other, date(2026, 1, 1), "week", key, value)
    assert shared.query_params["currency"] == other
    assert shared.query_params["segment"] == f"{key}={value}"
    # a page switch keeps them (the session writes them back into the URL)
    page(shared, "revenue")
    assert current_filters(shared) == f and shared.query_params["currency"] == other

    # nonsense in the URL falls back to the defaults, without an error
    odd = new_app()
    odd.query_params.update({"currency": "zzz", "from": "not-a-date", "product": "prod_nope", "granularity": "hour"})
    odd.run()
    assert not problems(odd)
    assert current_filters(odd).currency == options.default_currency and current_filters(odd).product is None


def test_customer_search_and_detail(demo_env):
    with duckdb.connect(str(demo_env / "demo.duckdb"), read_only=True) as con:
        customer_id, email, name = con.execute(
            "SELECT c.id, c.email, c.name FROM customers c JOIN subscriptions s ON s.customer = c.id "
            "WHERE c.email IS NOT NULL ORDER BY c.id LIMIT 1").fetchone()
    at = new_app().run()
    page(at, "customers")
    at.text_input(key="cust_q").set_value(email).run()
    assert not problems(at)
    table = at.dataframe[0].value
    assert list(table["id"]) == [customer_id]
    at.query_params["id"] = customer_id
    page(at, "customer")
    assert not problems(at)
    assert any(name in m.value or email in m.value for m in at.markdown)


def test_explore_search_and_sql(demo_env):
    at = new_app().run()
    page(at, "explore")
    with duckdb.connect(str(demo_env / "demo.duckdb"), read_only=True) as con:
        customer_id, email = con.execute("SELECT id, email FROM customers WHERE email IS NOT NULL LIMIT 1").fetchone()
    at.text_input(key="ex_q").set_value(email).run()
    assert not problems(at)
    hits = at.dataframe[0].value
    assert hits.iloc[0]["kind"] == "customer" and hits.iloc[0]["id"] == customer_id
    at.text_input(key="ex_q").set_value(customer_id).run()
    assert at.dataframe[0].value.iloc[0]["id"] == customer_id  # the exact id first
    at.text_area(key="sql_text").set_value("SELECT count(*) AS n FROM customers")
    next(b for b in at.button if b.label == "Run query").click().run()
    assert not problems(at)
    frames = [df.value for df in at.dataframe if "n" in df.value.columns]
    assert frames and int(frames[0]["n"].iloc[0]) == 200

    at.text_area(key="sql_text").set_value("COPY customers TO '/tmp/out.csv'")
    next(b for b in at.button if b.label == "Run query").click().run()
    assert any("not allowed" in e.value for e in at.error)
    assert not at.exception


# ----------------------------------------------------------------------------- states

def _all_text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error] + [i.value for i in at.info]
    parts += [w.value for w in at.warning] + [c.value for c in at.caption]
    return "\n".join(parts)


def test_account_page_shows_the_demo_balance(demo_env):
    import json

    with Cache.open(demo_env / "demo.duckdb", read_only=True) as cache:
        balance = json.loads(cache.get_meta("balance"))
    at = page(new_app().run(), "account")
    assert not problems(at), problems(at)
    text = "\n".join(m.value for m in at.markdown)
    assert "**Available**" in text and "**Pending**" in text
    for kind in ("available", "pending"):
        for item in balance[kind]:
            assert format_amount(item["amount"], item["currency"]) in text, (kind, item)
    assert any("As of" in c.value for c in at.caption)


def test_empty_account_says_what_to_do(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    Cache.open(data_dir / "acct_empty0000000.duckdb").close()  # a synced account with nothing in it
    for name, value in app_env(data_dir, tmp_path, STRIPE_API_KEY="rk_test_abcdefghijklmnop").items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    at = new_app().run()
    assert not at.exception
    text = _all_text(at)
    assert "No data yet" in text and "Sync now" in text
    page(at, "data")
    assert not at.exception and "Sync now" in [b.label for b in at.button]


@pytest.mark.parametrize("days_old, shown, not_shown", [
    (25, "The last applied event is 25 days old", "more than 30 days old"),
    (31, "The last sync is more than 30 days old", "The last applied event is"),
    (2, "Next sync: **incremental**", "days old"),
])
def test_the_data_page_warns_from_the_age_of_the_last_event(tmp_path, monkeypatch, days_old, shown, not_shown):
    import json
    import time

    data_dir = tmp_path / "data"
    with Cache.open(data_dir / "acct_aging0000000.duckdb") as cache, cache.transaction():
        created = int(time.time()) - days_old * 86400 - 3600
        cache.set_meta("event_cursor", json.dumps({"id": "evt_1", "created": created, "ids": ["evt_1"]}))
    for name, value in app_env(data_dir, tmp_path, STRIPE_API_KEY="rk_test_abcdefghijklmnop").items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    at = page(new_app().run(), "data")
    text = _all_text(at)
    assert not at.exception and shown in text and not_shown not in text, text


def test_configured_account_before_its_first_sync(tmp_path, monkeypatch):
    data_dir = data_dir_with_demo(tmp_path / "data")
    for name, value in app_env(data_dir, tmp_path, STRIPE_API_KEY="rk_test_abcdefghijklmnop").items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    at = new_app().run()
    assert not at.exception
    assert "not been synced yet" in _all_text(at)
    assert at.sidebar.selectbox(key="account").value == "__configured__"
    at.sidebar.selectbox(key="account").set_value("demo").run()
    assert not problems(at) and "MRR" in tiles(at)


def test_corrupt_cache_shows_a_plain_message(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "demo.duckdb").write_bytes(b"this is not a database" * 1000)
    for name, value in app_env(data_dir, tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    at = new_app().run()
    assert not at.exception
    messages = [e.value for e in at.error]
    assert messages and any("not a DuckDB database" in m and "demo.duckdb" in m for m in messages)
    assert not any("Traceback" in m for m in messages)
    for name in ("customers", "data"):
        page(at, name)
        assert not at.exception and at.error


def test_invalid_settings_are_shown_plainly(tmp_path, monkeypatch):
    for name, value in app_env(tmp_path / "data", tmp_path, SYNC_CONCURRENCY="lots").items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    at = new_app().run()
    assert not at.exception
    assert any("SYNC_CONCURRENCY" in e.value for e in at.error)


def test_demo_is_built_when_missing(tmp_path, monkeypatch):
    """No key and no demo yet: the app builds the demo in-process (small here) and shows it."""
    import stripe_analytics.demo_cache as demo_cache

    real = demo_cache.build_demo_cache
    monkeypatch.setattr(demo_cache, "build_demo_cache",
                        lambda path, **kw: real(path, **{**kw, "customers": 30}))
    data_dir = tmp_path / "data"
    for name, value in app_env(data_dir, tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    at = new_app().run()
    assert not problems(at), problems(at)
    assert (data_dir / "demo.duckdb").exists() and "MRR" in tiles(at)


def test_sync_now_runs_the_cli_in_a_child_process_with_live_progress(tmp_path, monkeypatch):
    """A configured account before its first sync: Sync now on the Data page runs
    `python -m stripe_analytics sync` against the fake Stripe server; the progress is parsed
    from its stderr lines; afterwards the account's cache is picked and its numbers shown."""
    import time

    from stripe_analytics import sync_jobs
    from tests.fake_stripe import FakeStripe
    from tests.sync_accounts import build_account

    key = "sk_test_dashboard_sync_0001"
    account, objects = build_account(int(time.time()))
    account_id = account["id"] if isinstance(account, dict) else account
    with FakeStripe() as fake:
        fake.add_account(account, key=key)
        fake.add_many(objects)
        for name, value in app_env(tmp_path / "data", tmp_path, STRIPE_API_KEY=key, STRIPE_API_BASE=fake.url,
                                   STRIPE_MAX_REQUESTS_PER_SECOND="1000").items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        at = new_app().run()
        page(at, "data")
        assert not problems(at)
        next(b for b in at.button if b.label == "Sync now").click().run()
        job = sync_jobs.job_for(None)
        assert job is not None
        deadline = time.monotonic() + 120
        while job.running and time.monotonic() < deadline:
            time.sleep(0.2)
        assert job.ok, job.error
        assert job.fraction == 1.0 and any(line.startswith("backfill:") for line in job.lines)
        at.run()
    assert (tmp_path / "data" / f"{account_id}.duckdb").exists()
    assert at.sidebar.selectbox(key="account").value == account_id
    assert not at.exception
    page(at, "overview")
    assert not problems(at) and "MRR" in tiles(at)


def vega_rows(element):
    """A Vega-Lite chart's data (`charts.vega_lite`'s long form) as a DataFrame."""
    import io

    import pyarrow as pa

    return pa.ipc.open_stream(io.BytesIO(element.proto.data.data)).read_pandas()


def _chart(at: AppTest, title: str) -> dict:
    """The figure (plotly JSON, or its traces read back from a Vega-Lite chart's long-form data:
    `charts.vega_lite`) of the chart with this title on the page."""
    import json

    for element in at.get("plotly_chart"):
        figure = json.loads(element.proto.spec)
        if ((figure.get("layout") or {}).get("title") or {}).get("text") == title:
            return figure
    for element in at.get("vega_lite_chart"):
        if json.loads(element.proto.spec).get("title") == title:
            rows = vega_rows(element)
            return {"data": [{"name": name, "x": list(part["x"]), "y": list(part["y"])}
                             for name, part in rows.sort_values("order", kind="stable").groupby("series", sort=False)]}
    raise AssertionError(f"no chart titled {title!r}")


def _series(figure: dict, name: str) -> dict[str, float]:
    trace = next(t for t in figure["data"] if t.get("name") == name)
    return dict(zip(trace["x"], trace["y"]))


def test_revenue_granularity_changes_the_numbers_and_days_add_up_to_months(demo_env):
    from collections import defaultdict

    from stripe_analytics.metrics import MetricsEngine

    at = new_app().run()
    page(at, "revenue")
    assert not problems(at), problems(at)
    by_month = tiles(at)
    months = _series(_chart(at, "Gross and net volume"), "Gross volume")
    net_months = _series(_chart(at, "Gross and net volume"), "Net volume")
    assert len(months) >= 2 and all(len(m) == 7 for m in months)

    at.sidebar.selectbox(key="f_granularity").set_value("day").run()
    assert not problems(at), problems(at)
    f = current_filters(at)
    assert f.granularity == "day" and at.query_params.get("granularity") in ("day", ["day"])
    by_day = tiles(at)
    days = _series(_chart(at, "Gross and net volume"), "Gross volume")
    net_days = _series(_chart(at, "Gross and net volume"), "Net volume")
    assert all(len(d) == 10 for d in days) and len(days) > 300
    # every month's total is the sum of its days (amounts in major units, exact to the cent)
    for series, totals in ((days, months), (net_days, net_months)):
        summed: dict[str, float] = defaultdict(float)
        for day, amount in series.items():
            summed[day[:7]] += amount
        assert set(summed) == set(totals)
        for month, total in totals.items():
            assert round(summed[month], 2) == round(total, 2), month

    # the tiles are the metrics engine's figures for the last period of the granularity: the
    # last day, the last month (on a month's first day, the two are the same day's figures)
    with Cache.open(demo_env / "demo.duckdb", read_only=True) as cache:
        engine = MetricsEngine(cache)
        mf = MetricFilters(currencies=[f.currency], date_from=f.start, date_to=f.end)
        last_day = engine.cash(mf, "day").iloc[-1]
        last_month = engine.cash(mf, "month").iloc[-1]
        weeks = engine.cash(mf, "week")
        # the first week is a whole week, from its Monday, even when the range starts later in it
        days_of_the_weeks = engine.cash(MetricFilters(currencies=[f.currency], date_from=weeks.iloc[0]["start"],
                                                      date_to=f.end), "day")
    assert by_month["Gross volume"] == format_amount(last_month["gross_volume"], f.currency)
    assert by_month["Net volume"] == format_amount(last_month["net_volume"], f.currency)
    assert by_day["Gross volume"] == format_amount(last_day["gross_volume"], f.currency)
    assert by_day["Net volume"] == format_amount(last_day["net_volume"], f.currency)
    assert by_day["Refunds"] == format_amount(last_day["refunds"], f.currency)

    at.sidebar.selectbox(key="f_granularity").set_value("week").run()
    assert not problems(at), problems(at)
    by_week = tiles(at)
    assert by_week["Gross volume"] == format_amount(weeks.iloc[-1]["gross_volume"], f.currency)
    week_series = _series(_chart(at, "Gross and net volume"), "Gross volume")
    assert list(week_series) == list(weeks["period"])
    assert round(sum(week_series.values()), 2) == to_major_float(int(days_of_the_weeks["gross_volume"].sum()),
                                                                 f.currency)
    # and every week after it is the sum of its days as the day view draws them
    summed_weeks: dict[str, float] = defaultdict(float)
    for day, amount in days.items():
        summed_weeks[period_label(period_start(date.fromisoformat(day), "week"), "week")] += amount
    later_weeks = list(week_series)[1:]
    assert len(later_weeks) > 40
    for week in later_weeks:
        assert round(summed_weeks[week], 2) == round(week_series[week], 2), week


def test_revenue_by_currency_lists_each_currencys_own_totals(demo_env):
    from stripe_analytics.metrics import MetricsEngine, cash_by_currency

    at = new_app().run()
    at.session_state["rev_section"] = "Breakdowns"  # (whose "By currency" tab is open by default)
    page(at, "revenue")
    assert not problems(at), problems(at)
    f = current_filters(at)
    table = next(d.value for d in at.dataframe if "successful_payments" in d.value.columns and "gross_volume"
                 in d.value.columns)
    with Cache.open(demo_env / "demo.duckdb", read_only=True) as cache:
        engine = MetricsEngine(cache)
        every = engine.cash(MetricFilters(date_from=f.start, date_to=f.end), "month")
    totals = cash_by_currency(every)
    assert len(totals) > 1  # the demo takes several currencies, none converted
    assert list(table["currency"]) == [c.upper() for c in totals["currency"]]
    for shown, row in zip(table.to_dict("records"), totals.to_dict("records")):
        assert shown["gross_volume"] == format_amount(row["gross_volume"], row["currency"])
        assert shown["net_volume"] == format_amount(row["net_volume"], row["currency"])
        assert int(shown["successful_payments"]) == row["successful_payments"]


def test_products_mrr_is_each_products_filtered_mrr(demo_env):
    from stripe_analytics.metrics import MetricsEngine
    from stripe_analytics.money import decimals

    at = new_app().run()
    page(at, "products")
    assert not problems(at), problems(at)
    f = current_filters(at)
    table = next(d.value for d in at.dataframe if "mrr" in d.value.columns)
    shown = {pid: round(float(v) * 10 ** decimals(f.currency)) for pid, v in zip(table["id"], table["mrr"])}
    assert any(shown.values())
    with Cache.open(demo_env / "demo.duckdb", read_only=True) as cache:
        engine = MetricsEngine(cache)
        for pid, mrr in shown.items():
            monthly = engine.compute(MetricFilters(currencies=[f.currency], products=[pid])).monthly
            assert mrr == int(monthly["mrr"].iloc[-1]), pid


def test_metrics_engine_is_warmed_in_the_background_and_a_failed_build_is_retried(demo_env, monkeypatch):
    from datetime import datetime, timezone

    import streamlit as st

    from stripe_analytics.ui import data

    at = new_app().run()
    assert not problems(at), problems(at)
    key = at.session_state["_ctx"].key
    day = datetime.now(timezone.utc).date()
    job = data._engine_job(key, day, "all")  # started by the first run, before the page needed it
    assert job.done() and job.exception() is None

    st.cache_resource.clear()
    calls = []
    build = data._build_engine

    def flaky(key, policy):
        calls.append(policy)
        if len(calls) == 1:
            raise data.CacheBusy("a sync holds the file")
        return build(key, policy)

    monkeypatch.setattr(data, "_build_engine", flaky)
    data.warm_metrics(key)
    with pytest.raises(data.CacheBusy):
        data._engine(key, day, "all")
    engine = data._engine(key, day, "all")  # the failure was not kept: built again
    assert len(calls) == 2
    with data.open_cache(key) as cache, engine.using(cache):  # it reads through a connection per use
        assert not engine.compute().monthly.empty


def chart_titles(at: AppTest) -> set[str]:
    """The titles of the charts a run drew (Vega-Lite's and Plotly's)."""
    import json

    titles = set()
    for chart in [*at.get("vega_lite_chart"), *at.get("plotly_chart")]:
        title = json.loads(chart.proto.spec).get("title") or (json.loads(chart.proto.spec).get("layout") or {}).get(
            "title")
        text = title.get("text") if isinstance(title, dict) else title
        if text:
            titles.add(text if isinstance(text, str) else " ".join(text))
    return titles


@pytest.mark.parametrize("name, key, sections", [
    ("revenue", "rev_section", {"Volume": "Gross and net volume", "Payments": "Payment success rate",
                                "Failed payments and recovery": "Failed invoice payments and recoveries"}),
    ("mrr", "mrr_section", {"MRR movements": None, "Growth": "Quick ratio"}),
])
def test_a_metric_page_draws_its_open_section_only(demo_env, name, key, sections):
    """Below the tiles, one section at a time (the first open): the others are not computed,
    sent or drawn (every chart on a page costs the browser a redraw on each filter change)."""
    at = new_app().run()
    page(at, name)
    first = next(iter(sections))
    assert not chart_titles(at) & {t for s, t in sections.items() if s != first and t}
    tiles_shown = set(tiles(at))
    for section, title in sections.items():
        at.session_state[key] = section
        at.run()
        assert not problems(at), (section, problems(at))
        drawn = chart_titles(at)
        assert title is None or title in drawn, (section, drawn)
        assert not drawn & {t for other, t in sections.items() if other != section and t}, (section, drawn)
        assert tiles_shown <= set(tiles(at))  # the page's tiles stay above every section
    if name == "revenue":
        assert "Recovery rate" in tiles(at)  # the recovery section's own tiles, with it
        at.session_state[key] = "Volume"
        at.run()
        assert "Recovery rate" not in tiles(at)
