"""`stripe-analytics metrics`: the contract's JSON on stdout, a readable table, exit code 2 for
bad input."""

from __future__ import annotations

import json

import pytest

from stripe_analytics import cli
from stripe_analytics.metrics import JSON_MONTH_KEYS
from tests.stripe_builders import charge, customer, item, make_cache, price, subscription


@pytest.fixture
def db(tmp_path):
    p, j = price("p", 2500), price("p_jpy", 3000, currency="jpy")
    cache = make_cache(tmp_path, [
        p, j, customer("cus_1"), customer("cus_2"),
        subscription("sub_1", "cus_1", [item("si_1", p)], start="2024-01-10"),
        subscription("sub_2", "cus_2", [item("si_2", j)], start="2024-02-10"),
        charge("ch_1", 2500, "2024-01-10", customer="cus_1"),
    ], name="acct.duckdb", account_id="acct_cli")
    cache.close()
    return str(tmp_path / "acct.duckdb")


def test_json_output(db, capsys):
    assert cli.main(["metrics", "--db", db, "--as-of", "2024-02-29", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["account"] == "acct_cli" and doc["as_of"] == "2024-02-29"
    assert list(doc["currencies"]) == ["jpy", "usd"]
    usd = doc["currencies"]["usd"]["months"]
    assert [tuple(m) for m in usd] == [JSON_MONTH_KEYS] * 2
    assert [(m["month"], m["mrr"], m["gross_volume"]) for m in usd] == [("2024-01", 25.0, 25.0), ("2024-02", 25.0, 0)]
    assert doc["currencies"]["jpy"]["months"][1]["mrr"] == 3000


def test_currency_option_and_discount_policy(db, capsys):
    assert cli.main(["metrics", "--db", db, "--as-of", "2024-02-29", "--json", "--currency", "USD",
                     "--discount-policy", "forever_only"]) == 0
    assert list(json.loads(capsys.readouterr().out)["currencies"]) == ["usd"]


def test_table_output(db, capsys):
    assert cli.main(["metrics", "--db", db, "--as-of", "2024-02-29"]) == 0
    out = capsys.readouterr().out
    assert "USD" in out and "JPY" in out and "$25.00" in out and "¥3,000" in out
    assert "2024-02" in out


@pytest.mark.parametrize("args, words", [
    (["--as-of", "2024-02-30"], "--as-of"),
    (["--as-of", "yesterday"], "--as-of"),
    (["--currency", "gbp"], "--currency"),
    (["--currency", "dollars"], "--currency"),
    (["--discount-policy", "some"], "--discount-policy"),
])
def test_bad_input_is_one_line_and_exit_code_2(db, capsys, args, words):
    assert cli.main(["metrics", "--db", db, *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(words)
