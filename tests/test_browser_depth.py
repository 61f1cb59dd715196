"""Trial conversion, failed-payment recovery and same-days comparisons in headless Debian
Chromium (Playwright) against the served app on the small demo: each figure is on its page
with its definition and says what `stripe-analytics metrics --json` says for the same month."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date

import pytest

from stripe_analytics.money import format_major
from stripe_analytics import formatting as fmt
from tests.app_support import ARTIFACTS, ROOT, app_env
from tests.app_support import no_exception
from tests.test_browser import browser, go, page, server, settle  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def cli_usd(server, tmp_path_factory):  # noqa: F811 - fixture
    """The CLI's USD months for the same cache and day (as of now, like the app)."""
    work = tmp_path_factory.mktemp("cli")
    out = subprocess.run([sys.executable, "-m", "stripe_analytics", "metrics", "--db",
                          str(server["data_dir"] / "demo.duckdb"), "--json"], cwd=ROOT, check=True,
                         capture_output=True, text=True, env=app_env(server["data_dir"], work))
    return json.loads(out.stdout)["currencies"]["usd"]["months"]


def tile(tab, label: str):
    return tab.locator("[data-testid='saTile']").filter(has_text=label).first


def test_trials_tab_shows_the_conversion_of_the_cli(server, page, cli_usd):  # noqa: F811
    month = cli_usd[-1]
    go(page, server["url"], "subscriptions")
    page.get_by_role("tab", name="Trials").click()
    settle(page)
    no_exception(page)
    conversion = tile(page, "Trial conversion (")
    conversion.wait_for(timeout=60_000)
    text = conversion.inner_text()
    assert f"Trial conversion ({month['trials_converted']:,} of {month['trials_ended']:,})" in text, text
    assert fmt.percent(month["trial_conversion_rate"]) in text, (text, month)
    assert fmt.count(month["active_trials"]) in tile(page, "Active trials").inner_text()
    assert fmt.count(month["trials_started"]) in tile(page, "Trials started").inner_text()
    assert fmt.days(month["median_days_to_convert"]) in tile(page, "Median days to convert").inner_text()
    assert sum(m["trials_ended"] for m in cli_usd) > sum(m["trials_converted"] for m in cli_usd) > 0
    assert page.get_by_role("heading", name="By plan").count() == 1
    assert page.get_by_role("heading", name="Trials ending soon").count() == 1
    page.get_by_text("Definitions").last.click()
    assert page.get_by_text(re.compile(r"Converted trials ÷ trials ended in the month")).count() >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "subscriptions_trials.png"), full_page=True)


def test_revenue_compares_the_same_days_and_shows_recovery(server, page, cli_usd):  # noqa: F811
    month = cli_usd[-1]
    go(page, server["url"], "revenue")
    no_exception(page)
    main = page.locator("[data-testid='stMain']")
    main.get_by_role("tab", name="Volume").wait_for(timeout=60_000)
    text = main.inner_text()
    year, number = (int(x) for x in month["month"].split("-"))
    gross = tile(page, "Gross volume").inner_text()
    assert format_major(month["gross_volume"], "usd") in gross
    if month["previous_start"] is not None:
        previous = fmt.day_range(date.fromisoformat(month["previous_start"]),
                                 date.fromisoformat(month["previous_end"]))
        if (year, number) == (date.today().year, date.today().month):  # a month to date
            current = fmt.day_range(date(year, number, 1), date(year, number, month["period_days"]))
            assert f"{current} vs {previous}" in text, text[:600]
            assert f"vs {previous}" in gross, gross
        expected = fmt.delta_text(month["gross_volume"], month["previous_gross_volume"])
        if expected:
            assert expected in gross, (gross, month)
    # Recovery tiles, in their own section: the CLI's figures for the month
    main.get_by_role("tab", name="Failed payments and recovery").click()
    tile(page, "Failed payments (").wait_for(timeout=60_000)
    failed = tile(page, "Failed payments (").inner_text()
    assert f"Failed payments ({month['failed_invoice_payments']:,})" in failed
    assert format_major(month["failed_invoice_amount"], "usd") in failed
    assert format_major(month["recovered_invoice_amount"], "usd") in tile(page, "Recovered (").inner_text()
    assert fmt.percent(month["recovery_rate"]) in tile(page, "Recovery rate").inner_text()
    assert format_major(month["outstanding_invoice_amount"], "usd") in tile(page, "Outstanding amount").inner_text()
    assert fmt.percent(month["involuntary_churn_share"]) in tile(page, "Involuntary churn").inner_text()
    assert sum(m["failed_invoice_payments"] for m in cli_usd) > sum(m["recovered_invoice_payments"] for m in cli_usd) > 0
    page.get_by_text("Definitions").last.click()
    assert main.get_by_text(re.compile(r"Recovered amount ÷ failed amount")).count() >= 1
    page.screenshot(path=str(ARTIFACTS / "revenue_recovery.png"), full_page=True)


def test_a_closed_tab_is_not_drawn_and_keeps_its_window(server, page):  # noqa: F811 - fixtures
    """Subscriptions draws only the open tab (and All): the Trials tiles are not on the page until
    their tab is opened; a window picked on Upcoming renewals is still picked after visiting
    another tab."""
    go(page, server["url"], "subscriptions")
    no_exception(page)
    page.get_by_role("tab", name="All").wait_for()
    assert tile(page, "Trial conversion (").count() == 0  # a closed tab sends nothing to draw
    page.get_by_role("tab", name="Upcoming renewals").click()
    settle(page)
    slider = page.get_by_role("slider").first
    slider.wait_for(timeout=30_000)
    assert "30 days" in page.locator("[data-testid='stMain'] [data-testid='stSlider']").first.inner_text()
    slider.focus()
    page.keyboard.press("End")  # the longest window: 90 days
    settle(page)
    assert "90 days" in page.locator("[data-testid='stMain'] [data-testid='stSlider']").first.inner_text()
    page.get_by_role("tab", name="Trials").click()
    settle(page)
    tile(page, "Trial conversion (").wait_for(timeout=30_000)
    page.get_by_role("tab", name="Upcoming renewals").click()
    settle(page)
    window = page.locator("[data-testid='stMain'] [data-testid='stSlider']").first
    window.wait_for(timeout=30_000)
    assert "90 days" in window.inner_text(), window.inner_text()
    no_exception(page)
