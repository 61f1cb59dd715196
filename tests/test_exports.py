"""Exports: table formats, chart images (kaleido + the system Chromium), HTML, file names."""

import io
import json
from datetime import date, datetime

import pandas as pd
import plotly.graph_objects as go
import pytest

from stripe_analytics import charts, exports


@pytest.fixture
def frame():
    return pd.DataFrame({
        "id": ["cus_1", "cus_2", "cus_3"],
        "amount": [19.99, 5000.0, 1.234],
        "currency": ["usd", "jpy", "kwd"],
        "created": pd.to_datetime(["2026-01-02T03:04:05Z", "2026-02-01T00:00:00Z", None], utc=True),
        "metadata": [{"plan": "pro"}, {}, None],
        "note": ["a,b", "line\nbreak", "bell\x07"],
    })


def test_file_names_follow_view_and_filters():
    assert exports.export_filename("MRR", "png", currency="usd", start=date(2025, 1, 1),
                                   end=date(2026, 6, 30)) == "mrr_usd_2025-01_2026-06.png"
    assert exports.export_filename("customers", "csv") == "customers.csv"
    name = exports.export_filename("Net volume", "xlsx", currency="eur", start="2025-03-01", end="2025-03-31",
                                   granularity="week", extra=["prod_X", "plan=enterprise", None])
    assert name == "net-volume_eur_2025-03_week_prod_x_plan-enterprise.xlsx"
    assert "/" not in exports.export_filename("../../etc/passwd", "csv")


def test_csv_round_trips(frame):
    data = exports.to_csv(frame)
    back = pd.read_csv(io.BytesIO(data))
    assert list(back.columns) == list(frame.columns)
    assert back["amount"].tolist() == [19.99, 5000.0, 1.234]
    assert json.loads(back["metadata"][0]) == {"plan": "pro"}
    assert back["note"][0] == "a,b"


def test_parquet_round_trips(frame):
    back = pd.read_parquet(io.BytesIO(exports.to_parquet(frame)))
    assert back["id"].tolist() == ["cus_1", "cus_2", "cus_3"]
    assert back["created"].iloc[0] == pd.Timestamp("2026-01-02T03:04:05Z")


def test_xlsx_opens_with_openpyxl(frame):
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(exports.to_xlsx(frame, sheet="customers/2026")))
    sheet = book.active
    assert sheet.title == "customers 2026"
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["id", "amount", "currency"] and "created (UTC)" in header
    assert sheet["B2"].value == 19.99
    assert sheet.cell(row=2, column=header.index("created (UTC)") + 1).value == datetime(2026, 1, 2, 3, 4, 5)
    assert sheet.cell(row=4, column=header.index("note") + 1).value == "bell"  # control characters removed


def test_unknown_formats_are_refused(frame):
    with pytest.raises(exports.ExportError):
        exports.table_bytes(frame, "pdf")
    with pytest.raises(exports.ExportError):
        exports.chart_bytes(go.Figure(), None, "gif")


@pytest.fixture(scope="module")
def figure():
    months = pd.DataFrame({"month": ["2026-01", "2026-02", "2026-03"], "mrr": [100.0, 120.5, 131.25],
                           "currency": ["usd"] * 3})
    return charts.lines(months, "month", {"mrr": "MRR"}, currency="usd", title="MRR"), months


def test_chart_png_and_svg_through_kaleido(figure):
    fig, _ = figure
    png = exports.chart_bytes(fig, None, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    svg = exports.chart_bytes(fig, None, "svg")
    assert svg.lstrip().startswith(b"<svg") and b"MRR" in svg


def test_an_image_without_a_browser_says_what_to_install(figure, monkeypatch, tmp_path):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chromium"))
    with pytest.raises(exports.ExportError, match="Images need Chromium.*apt-get install chromium"):
        exports.chart_bytes(figure[0], None, "png")


def test_chart_html_is_standalone(figure):
    fig, _ = figure
    html = exports.chart_bytes(fig, None, "html", title="MRR <usd>").decode()
    assert html.lower().startswith(("<!doctype html>", "<html")) and "<title>MRR &lt;usd&gt;</title>" in html
    # plotly.js is embedded (no script loaded from a CDN), so the file opens offline
    assert 'src="http' not in html and len(html) > 1_000_000
    assert "Plotly.newPlot" in html


def test_chart_data_csv(figure):
    fig, months = figure
    back = pd.read_csv(io.BytesIO(exports.chart_bytes(fig, months, "csv")))
    assert back["mrr"].tolist() == [100.0, 120.5, 131.25]
    with pytest.raises(exports.ExportError):
        exports.chart_bytes(fig, None, "csv")


def test_a_charts_data_export_carries_the_notes_of_each_period():
    data = pd.DataFrame({"month": ["2026-01", "2026-02", "2026-03"], "currency": ["usd"] * 3, "mrr": [1.0, 2.0, 3.0]})
    out = exports.with_notes(data, {"2026-02": ["14 Feb 2026: Price change", "20 Feb 2026: Launch in EU"]})
    assert out["notes"].fillna("").tolist() == ["", "14 Feb 2026: Price change | 20 Feb 2026: Launch in EU", ""]
    assert "notes" not in data.columns
    assert b"Price change | 20 Feb 2026: Launch in EU" in exports.chart_bytes(go.Figure(), out, "csv")
    assert exports.with_notes(data, {}) is data
