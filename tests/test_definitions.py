"""The metric definitions the pages show come from docs/metrics.md, their one source."""

from __future__ import annotations

import pytest

from stripe_analytics.app_files import metrics_doc
from stripe_analytics.ui import definitions


def test_the_document_defines_every_metric_the_pages_name():
    defined = definitions.definitions()
    assert set(defined) == set(definitions.CATALOG)
    assert all(len(text) > 20 for text in defined.values()), defined


def test_definitions_are_the_documents_own_words():
    text = metrics_doc().read_text(encoding="utf-8")
    defined = definitions.definitions()
    assert "12" in defined["arr"] and "ARR" in text
    parsed = definitions.parse(text)
    assert defined["arr"] == definitions._clean(parsed["arr"])


def test_a_changed_document_changes_the_definitions(tmp_path):
    doc = tmp_path / "metrics.md"
    doc.write_text("## ARR\n\nTwelve times MRR, for the board.\n", encoding="utf-8")
    assert definitions.definitions(doc) == {"arr": "Twelve times MRR, for the board."}


def test_a_missing_document_is_an_error_not_a_silent_fallback(tmp_path):
    with pytest.raises(FileNotFoundError):
        definitions.definitions(tmp_path / "metrics.md")
