"""Segments in headless Debian Chromium (Playwright) on the served small demo, as an analyst uses
them: *Break down by* and the plan segment chosen in the sidebar go to the URL, survive a page
switch, and the MRR and Retention pages show exactly what `stripe-analytics metrics --json --by
plan --segment plan=…` prints (docs/metrics.md "Segments"). Screenshots go to test-artifacts/."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stripe_analytics.money import format_amount
from tests.app_support import ARTIFACTS, no_exception
from tests.test_browser import browser, click_download, go, page, server, settle  # noqa: F401
from tests.test_dashboard_browser import url_params

pytestmark = pytest.mark.browser


def cli_json(db: Path, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "stripe_analytics", "metrics", "--db", str(db), "--json", *args],
                         capture_output=True, text=True, check=True, timeout=300)
    return json.loads(out.stdout)


def shot(tab, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def pick(tab, label: str, option: str) -> None:
    """Choose `option` of a select box by typing it (a long list shows only its first options)."""
    box = tab.get_by_role("combobox", name=label, exact=True)
    box.scroll_into_view_if_needed()
    box.click()
    tab.keyboard.type(option)
    tab.get_by_role("option", name=option, exact=True).click(timeout=60_000)
    settle(tab)


def tile(tab, label: str) -> str:
    return tab.locator("[data-testid='saTile']").filter(has_text=label).locator(
        "[data-testid='saTileValue']").first.inner_text()


def test_movements_and_churn_by_plan_match_the_cli(server, page):
    db = server["data_dir"] / "demo.duckdb"
    doc = cli_json(db, "--by", "plan", "--currency", "usd")
    plans = doc["segments"]["currencies"]["usd"]
    top = plans[0]                                      # the largest plan by MRR in the last month
    last = top["months"][-1]

    go(page, server["url"], "mrr")
    no_exception(page)
    pick(page, "Break down by", "Plan")
    assert url_params(page.url)["by"] == "plan"
    main = page.locator("[data-testid='stMain']").inner_text()
    assert "MRR movements by plan" in main and "moved in / out" in main
    over_time = page.locator("[data-testid='stPlotlyChart']").filter(has_text="MRR by plan").first
    over_time.wait_for(timeout=30_000)
    over_time.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    shot(page, "segments_mrr_by_plan_over_time")
    # The breakdown table's CSV (the page's last table; "Who moved" above it lists nobody on a
    # month's first day) is the CLI's last month, plan by plan.
    page.locator("button[data-testid='stPopoverButton']:visible").filter(
        has=page.locator("[data-testid='stMarkdownContainer']", has_text=re.compile(r"^Download$"))).last.click()
    page.wait_for_timeout(300)
    with page.expect_download(timeout=60_000) as info:
        click_download(page, "CSV")
    assert f"mrr_movements_by_plan_{last['month']}" in info.value.suggested_filename
    shown = {r["segment"]: r for r in csv.DictReader(io.StringIO(Path(info.value.path()).read_text()))}
    cli_last = {p["segment"]: p["months"][-1] for p in plans}
    assert set(shown) == {s for s, m in cli_last.items()
                          if any(m[k] for k in ("mrr", "net_new_mrr", "moved_in_mrr", "moved_out_mrr", "churned_mrr"))}
    for segment, row in shown.items():
        for key in ("mrr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr",
                    "moved_in_mrr", "moved_out_mrr"):
            assert float(row[key]) == pytest.approx(cli_last[segment][key]), (segment, key)
        assert int(row["active_customers"]) == cli_last[segment]["active_customers"]
    shot(page, "segments_mrr_by_plan")

    # Filter by the top plan in the sidebar: the URL says so and the MRR tile is the CLI's.
    page.get_by_text("Plan, price, interval, country").click()
    page.wait_for_timeout(300)
    pick(page, "Plan", top["name"])
    assert url_params(page.url)["plan"] == top["segment"]
    filtered = cli_json(db, "--segment", f"plan={top['segment']}", "--currency", "usd")
    mrr = filtered["currencies"]["usd"]["months"][-1]["mrr"]
    assert mrr == last["mrr"]
    assert tile(page, "MRR") == format_amount(round(mrr * 100), "usd")

    # A page switch keeps both; the Retention page's churn is the CLI's.
    page.get_by_role("link", name="Retention").click()
    settle(page)
    no_exception(page)
    params = url_params(page.url)
    assert (params["by"], params["plan"]) == ("plan", top["segment"])
    assert "Churn by plan" in page.locator("[data-testid='stMain']").inner_text()
    rate = filtered["currencies"]["usd"]["months"][-1]["customer_churn_rate"]
    assert tile(page, "Customer churn") == ("—" if rate is None else f"{rate * 100:.1f}%")
    assert rate == last["customer_churn_rate"]
    shot(page, "segments_retention_by_plan")
    page.reload()
    settle(page)
    assert url_params(page.url)["plan"] == top["segment"]
