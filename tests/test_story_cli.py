"""`stripe-analytics customer` and `stripe-analytics notes` (story_cli.py) on the hand-built
customer of test_timeline.py: the same story as the page, in JSON and text; notes written,
refused with exit code 2 and nothing changed, edited and deleted."""

from __future__ import annotations

import json

import pytest

from stripe_analytics.cli import main
from tests.test_timeline import story_cache  # noqa: F401 - the hand-built account


@pytest.fixture
def db(story_cache, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.setenv("STREAMLIT_SECRETS_FILE", str(tmp_path / "none.toml"))
    path = story_cache.path
    story_cache.close()
    return str(path)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_customer_json_tells_the_same_story(db, capsys):
    code, out, _ = run(capsys, "customer", "cus_1", "--db", db, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["lifetime_paid"] == [{"currency": "usd", "amount": 75.0, "payments": 4}]
    assert [(m["month"], m["mrr"]) for m in doc["mrr_history"][:6]] == [
        ("2024-01", 10.0), ("2024-02", 10.0), ("2024-03", 30.0), ("2024-04", 30.0), ("2024-05", 0.0), ("2024-06", 0.0)]
    moves = [(e["event"], e["amount"], e["mrr"]) for e in doc["timeline"] if e["kind"] == "mrr"]
    assert moves == [("New MRR", 10.0, 10.0), ("Expansion", 20.0, 30.0), ("Churn", -30.0, 0.0)]
    recovered = next(e for e in doc["timeline"] if e["kind"] == "payment_recovered")
    assert recovered["object_id"] == "ch_2c" and recovered["at"].startswith("2024-02-20")
    assert recovered["dashboard_url"] == "https://dashboard.stripe.com/acct_1Story/test/payments/ch_2c"


def test_customer_text_and_refusals(db, capsys):
    code, out, _ = run(capsys, "customer", "cus_1", "--db", db)
    assert code == 0 and "lifetime paid: $75.00" in out
    assert "2024-02-20 00:10  Payment recovered" in out and "after 2 failed attempts, 5 days after the first" in out
    code, _, err = run(capsys, "customer", "cus_missing", "--db", db)
    assert code == 1 and "No customer cus_missing" in err
    code, _, err = run(capsys, "customer", "cus 1; drop", "--db", db)
    assert code == 2 and "must be a customer id" in err


def test_notes_from_the_command_line(db, capsys):
    code, out, _ = run(capsys, "notes", "add", "--date", "2024-03-01", "--text", "Price change", "--db", db)
    assert code == 0 and out.startswith("added note note_")
    note_id = out.split()[-1]
    code, _, err = run(capsys, "notes", "add", "--date", "2024-13-01", "--text", "x", "--db", db)
    assert code == 2 and "Date must be a date (YYYY-MM-DD). Nothing was saved." in err
    code, _, err = run(capsys, "notes", "edit", note_id, "--date", "2024-03-02", "--text", " ", "--db", db)
    assert code == 2 and "Note must not be empty" in err
    code, out, _ = run(capsys, "notes", "list", "--db", db, "--json")
    assert [(n["date"], n["text"]) for n in json.loads(out)["notes"]] == [("2024-03-01", "Price change")]
    assert run(capsys, "notes", "edit", note_id, "--date", "2024-03-02", "--text", "Pro +10 %", "--db", db)[0] == 0
    code, out, _ = run(capsys, "notes", "list", "--db", db)
    assert out == f"2024-03-02  {note_id}  Pro +10 %\n"
    code, _, err = run(capsys, "notes", "delete", "note_missing", "--db", db)
    assert code == 1 and "no note 'note_missing'" in err
    assert run(capsys, "notes", "delete", note_id, "--db", db)[0] == 0
    assert run(capsys, "notes", "list", "--db", db)[1] == "no notes\n"
