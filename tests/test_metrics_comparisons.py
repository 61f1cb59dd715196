"""Same-days comparisons (docs/metrics.md "Comparing a month to date"): the worked example of
the document and the window rules, computed by hand, through a real cache."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from stripe_analytics.metrics import MetricFilters, MetricsEngine, import_rates, parse_rates_csv
from stripe_analytics.metrics.comparisons import comparison_windows
from stripe_analytics.metrics.load import Calendar, month_index
from tests.stripe_builders import charge, customer, make_cache


@pytest.fixture
def cache(tmp_path):
    objs = [customer("cus_1"),
            charge("ch_ly1", 60000, "2024-11-10"), charge("ch_ly2", 5000, "2024-11-30"),
            charge("ch_o1", 60000, "2025-10-05"), charge("ch_o2", 40000, "2025-10-29T23:00"),
            charge("ch_o3", 30000, "2025-10-30"), charge("ch_o4", 10000, "2025-10-31"),
            charge("ch_o5", 10000, "2025-10-12", status="failed"),
            charge("ch_n1", 90000, "2025-11-03")]
    cache = make_cache(tmp_path, objs)
    yield cache
    cache.close()


def _months(cache, as_of, reporting=None):
    frame = MetricsEngine(cache, as_of=as_of).depth(MetricFilters(), reporting_currency=reporting)
    return {r["month"]: r for r in frame.to_dict("records")}


def test_a_month_to_date_against_the_same_days(cache):
    nov = _months(cache, date(2025, 11, 29))["2025-11"]
    assert nov["period_days"] == 29
    assert (nov["previous_start"], nov["previous_end"]) == (date(2025, 10, 1), date(2025, 10, 29))
    assert nov["previous_gross_volume"] == 100000          # $1,000, not the whole October's $1,400
    assert (nov["previous_successful_payments"], nov["previous_failed_payments"]) == (2, 1)
    assert (nov["last_year_start"], nov["last_year_end"]) == (date(2024, 11, 1), date(2024, 11, 29))
    assert nov["last_year_gross_volume"] == 60000          # November 30, 2024 is outside the window


def test_whole_months_compare_with_whole_months(cache):
    months = _months(cache, date(2025, 11, 29))
    october = months["2025-10"]
    assert october["period_days"] == 31
    assert (october["previous_start"], october["previous_end"]) == (date(2025, 9, 1), date(2025, 9, 30))
    assert october["previous_gross_volume"] == 0
    # The first reported month (November 2024) has nothing before it to compare with.
    first = months["2024-11"]
    assert pd.isna(first["previous_gross_volume"]) and first["previous_start"] is None
    assert pd.isna(first["last_year_gross_volume"])
    # As of November 30 the month is whole: against all of October.
    assert _months(cache, date(2025, 11, 30))["2025-11"]["previous_gross_volume"] == 140000


def test_a_longer_month_to_date_takes_the_whole_shorter_month():
    calendar = Calendar(month_index(date(2025, 1, 1)), month_index(date(2025, 3, 1)),
                        pd.Timestamp("2025-03-31", tz="UTC").to_pydatetime())   # end of March 30
    windows = {r["month"]: r for r in comparison_windows(calendar).to_dict("records")}
    march = windows["2025-03"]
    assert march["period_days"] == 30
    assert (march["previous_start"], march["previous_end"]) == (date(2025, 2, 1), date(2025, 2, 28))
    feb = windows["2025-02"]
    assert (feb["previous_start"], feb["previous_end"]) == (date(2025, 1, 1), date(2025, 1, 31))
    assert feb["last_year_start"] is None


def test_converted_windows_use_each_days_rate(tmp_path):
    cache = make_cache(tmp_path, [
        customer("cus_1"),
        charge("ch_1", 1000, "2024-01-10", currency="eur"), charge("ch_2", 1000, "2024-01-20", currency="eur"),
        charge("ch_3", 500, "2024-01-25"), charge("ch_4", 2000, "2024-02-05", currency="eur")])
    import_rates(cache, parse_rates_csv("date,currency,per_eur\n2024-01-09,usd,1.25\n2024-01-19,usd,1.5\n"))
    try:
        feb = _months(cache, date(2024, 2, 15), reporting="usd")["2024-02"]
        # 1-15 Jan: EUR 10.00 at 1.25 = $12.50; 16-31 Jan is outside the window
        assert (feb["currency"], feb["period_days"], feb["previous_end"]) == ("usd", 15, date(2024, 1, 15))
        assert feb["previous_gross_volume"] == 1250
        whole = _months(cache, date(2024, 2, 29), reporting="usd")["2024-02"]
        assert whole["previous_gross_volume"] == 1250 + 1500 + 500
    finally:
        cache.close()


def test_the_last_day_of_a_month_to_date_is_compared_day_for_day():
    # as of noon on November 30: the month is not over, so 1-30 Nov against 1-30 Oct
    calendar = Calendar(month_index(date(2026, 10, 1)), month_index(date(2026, 11, 1)),
                        pd.Timestamp("2026-11-30T12:00", tz="UTC").to_pydatetime())
    november = comparison_windows(calendar).iloc[-1]
    assert november["period_days"] == 30
    assert (november["previous_start"], november["previous_end"]) == (date(2026, 10, 1), date(2026, 10, 30))
    # as of the end of November 30 (`--as-of 2026-11-30`) it is whole: against all of October
    whole = Calendar(month_index(date(2026, 10, 1)), month_index(date(2026, 11, 1)),
                     pd.Timestamp("2026-12-01", tz="UTC").to_pydatetime())
    assert comparison_windows(whole).iloc[-1]["previous_end"] == date(2026, 10, 31)
