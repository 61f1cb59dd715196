"""Stripe's example objects (`tests/fixtures/stripe/fixtures3.json`, MIT, see the README
there), read once: the reference shape of every object the tests build or check."""

from __future__ import annotations

import functools
import json
from pathlib import Path

FIXTURES_FILE = Path(__file__).resolve().parent / "fixtures" / "stripe" / "fixtures3.json"


@functools.cache
def _resources() -> dict[str, dict]:
    return json.loads(FIXTURES_FILE.read_text(encoding="utf-8"))["resources"]


def fixture(kind: str) -> dict:
    """A fresh deep copy of Stripe's example `kind` object (e.g. "subscription")."""
    return json.loads(json.dumps(_resources()[kind]))


def resources() -> dict[str, dict]:
    """Every example object by kind (shared: do not modify)."""
    return _resources()
