"""Number formatting of tiles and tables (stripe_analytics.formatting)."""

from datetime import date

from stripe_analytics.formatting import day_range, days, delta_text


def test_a_delta_that_rounds_to_nothing_is_unsigned_and_flat():
    nil = delta_text(0.04001, 0.04, kind="points")
    assert nil == "0.0 pp" and nil.flat
    assert delta_text(0.0399, 0.04, kind="points") == "0.0 pp"
    assert delta_text(100.02, 100) == "0.0%" and delta_text(100.02, 100).flat
    moved = delta_text(0.05, 0.04, kind="points")
    assert moved == "+1.0 pp" and not moved.flat
    assert delta_text(90, 100) == "-10.0%" and not delta_text(90, 100).flat
    assert delta_text(5, 0) == "new" and not delta_text(5, 0).flat


def test_day_ranges_and_durations_as_the_pages_say_them():
    assert day_range(date(2026, 11, 1), date(2026, 11, 29)) == "1–29 Nov"
    assert day_range(date(2025, 11, 1), date(2025, 11, 29), year=True) == "1–29 Nov 2025"
    assert day_range(date(2026, 10, 1), date(2026, 10, 1)) == "1 Oct"
    assert days(14.0423) == "14.0 days" and days(float("nan")) == "—"
