"""The Data page's rate import form: an uploaded CSV of `date,currency,per_eur` rows checked as a whole
(nothing written on a bad row) and stored in the account's cache (docs/specs/fx.md "A user may
add or override rates")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from ..cache import HOLDER_SYNC, CacheError, SyncLockedError
from ..metrics import RatesFileError, parse_rates_csv
from ..metrics.rates import import_rates_into


@dataclass(frozen=True)
class ImportOutcome:
    ok: bool
    message: str


def import_rates_upload(path: Path | None, upload) -> ImportOutcome:
    """Import an uploaded rates file into the cache at `path`; every view recomputes afterwards."""
    if upload is None:
        return ImportOutcome(False, "Choose a CSV file first.")
    if path is None:
        return ImportOutcome(False, "This account has no cache to store rates in.")
    try:
        rows = parse_rates_csv(upload.getvalue().decode("utf-8"))
    except UnicodeDecodeError:
        return ImportOutcome(False, f"{upload.name} is not a UTF-8 text file; nothing was imported.")
    except RatesFileError as error:
        return ImportOutcome(False, f"{upload.name}: {error}; nothing was imported.")
    try:
        written = import_rates_into(path, rows)
    except SyncLockedError as error:
        if error.holder == HOLDER_SYNC:
            return ImportOutcome(False, "A sync is writing this account's cache; import the rates when it finishes.")
        return ImportOutcome(False, f"{error} Nothing was imported.")
    except CacheError as error:
        return ImportOutcome(False, f"The rates could not be stored: {error}")
    currencies = ", ".join(sorted({r.currency.upper() for r in rows}))
    return ImportOutcome(True, f"Imported {written} rates ({currencies}). The all-currencies view now uses them.")


def import_form(path: Path | None) -> None:
    """The upload form; says plainly what was imported or why nothing was."""
    with st.form("fx_import", clear_on_submit=True, border=True):
        upload = st.file_uploader("Rates file (CSV with the header date,currency,per_eur)", type=["csv"],
                                  key="fx_file")
        if st.form_submit_button("Import rates", icon=":material/upload:"):
            outcome = import_rates_upload(path, upload)
            if outcome.ok:
                st.success(outcome.message, icon=":material/check_circle:")
            else:
                st.error(outcome.message, icon=":material/error:")
