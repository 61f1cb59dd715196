"""`stripe-analytics fx import FILE` / `fx show`: user rates are validated as a whole (nothing
written on a bad row), stored in the account's cache, and win over the ECB's."""

from __future__ import annotations

import json

import pytest

from stripe_analytics import cli
from stripe_analytics.cache import Cache
from tests.stripe_builders import customer, item, make_cache, price, subscription


@pytest.fixture
def db(tmp_path):
    p = price("p_gbp", 1000, currency="gbp")
    make_cache(tmp_path, [p, customer("cus_1"), subscription("sub_1", "cus_1", [item("si_1", p)],
                                                             start="2024-01-01")], name="acct.duckdb").close()
    return str(tmp_path / "acct.duckdb")


def _user_rows(db):
    with Cache.open(db, read_only=True) as cache:
        try:
            return cache.con.execute("SELECT day, currency, per_eur FROM fx_user_rates ORDER BY 1, 2").fetchall()
        except Exception:  # noqa: BLE001 - no table: nothing was ever imported
            return []


def test_import_then_show(db, tmp_path, capsys):
    path = tmp_path / "rates.csv"
    path.write_text("date,currency,per_eur\n2024-01-30,gbp,0.80\n2024-01-30,xof,655.957\n")
    assert cli.main(["fx", "import", str(path), "--db", db]) == 0
    assert "imported 2 rates (GBP, XOF; 2024-01-30 to 2024-01-30)" in capsys.readouterr().out
    assert [(str(d), c, v) for d, c, v in _user_rows(db)] == [("2024-01-30", "gbp", "0.80"),
                                                              ("2024-01-30", "xof", "655.957")]
    # Importing again replaces the same date and currency.
    path.write_text("date,currency,per_eur\n2024-01-30,gbp,0.81\n")
    assert cli.main(["fx", "import", str(path), "--db", db]) == 0
    assert ("gbp", "0.81") in [(c, v) for _, c, v in _user_rows(db)]
    capsys.readouterr()
    assert cli.main(["fx", "show", "--db", db, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["currency"]: r for r in doc["currencies"]}
    assert rows["xof"] == {"currency": "xof", "first_date": "2024-01-30", "last_date": "2024-01-30",
                           "last_per_eur": "655.957", "rates": 1, "user_rates": 1, "in_account": False}
    assert rows["gbp"]["in_account"] and rows["gbp"]["user_rates"] == 1 and rows["gbp"]["rates"] > 6000
    assert doc["last_rate_date"] >= "2026-01-01"
    assert cli.main(["fx", "show", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "* GBP" in out and "XOF" in out and "ECB reference rates" in out


@pytest.mark.parametrize("content, words", [
    ("date,currency,per_eur\n2024-01-30,gbp,0.8\n2024-01-31,gbp,-1\n", "line 3: per_eur must be a positive"),
    ("when,what\n", "header"),
])
def test_a_bad_file_imports_nothing(db, tmp_path, capsys, content, words):
    path = tmp_path / "rates.csv"
    path.write_text(content)
    assert cli.main(["fx", "import", str(path), "--db", db]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0] and "nothing was imported" in err[0]
    assert _user_rows(db) == []


def test_a_missing_file_is_a_bad_argument(db, tmp_path, capsys):
    assert cli.main(["fx", "import", str(tmp_path / "nope.csv"), "--db", db]) == 2
    assert "--file" in capsys.readouterr().err
