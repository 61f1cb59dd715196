"""`stripe-analytics metrics`: the monthly metrics of a cache, as the contract's JSON object
(`--json`) or a readable table, per currency and converted into one reporting currency
(docs/specs/fx.md). Exit code 2 for a bad date, an unknown currency or policy."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import date

from pydantic import field_validator

from .cli_args import CliError, DbArgs, open_cache, validated
from .money import format_amount
from .metrics import (DiscountPolicy, MetricFilters, MetricsEngine, UnknownCurrencyError,
                      UnknownReportingCurrencyError, metrics_json)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class MetricsArgs(DbArgs):
    as_of: date | None = None
    currency: str | None = None
    reporting_currency: str | None = None
    json_output: bool = False
    discount_policy: DiscountPolicy = DiscountPolicy.all

    @field_validator("as_of", mode="before")
    @classmethod
    def _as_of(cls, value):
        if value is None or isinstance(value, date):
            return value
        text = str(value).strip()
        if not _DATE.match(text):
            raise ValueError(f"must be a date as YYYY-MM-DD (got {text!r})")
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"is not a calendar date (got {text!r})") from None

    @field_validator("currency", "reporting_currency", mode="before")
    @classmethod
    def _currency(cls, value):
        if value is None:
            return None
        code = str(value).strip().lower()
        if not re.match(r"^[a-z]{3}$", code):
            raise ValueError(f"must be a three-letter currency code such as usd (got {value!r})")
        return code

    @field_validator("discount_policy", mode="before")
    @classmethod
    def _policy(cls, value):
        if isinstance(value, str) and value not in {p.value for p in DiscountPolicy}:
            raise ValueError("must be all or forever_only")
        return value


def register(subparsers) -> None:
    """Add the `metrics` command (called by cli.build_parser)."""

    def cmd_metrics(ns: argparse.Namespace) -> int:
        values = argparse.Namespace(**{k: v for k, v in vars(ns).items() if k != "func"})
        args = validated(MetricsArgs, values)
        filters = MetricFilters(currencies=[args.currency] if args.currency else None)
        with open_cache(args.db) as cache:
            engine = MetricsEngine(cache, as_of=args.as_of, discount_policy=args.discount_policy)
            try:
                result = engine.compute(filters)
            except UnknownCurrencyError as error:
                raise CliError(f"--currency {error}", 2) from None
            reporting = args.reporting_currency or default_reporting_currency(cache, engine)
            try:
                converted = engine.compute(filters, reporting_currency=reporting)
            except UnknownReportingCurrencyError as error:
                raise CliError(f"--reporting-currency {error}", 2) from None
        if args.json_output:
            sys.stdout.write(json.dumps(metrics_json(result, converted), indent=2, allow_nan=False) + "\n")
        else:
            sys.stdout.write(render_table(result) + render_converted(converted))
        return 0

    p = subparsers.add_parser("metrics", help="monthly MRR, movements, churn and cash metrics")
    p.add_argument("--db", help="cache file (default: the only cache in DATA_DIR)")
    p.add_argument("--as-of", dest="as_of", help="YYYY-MM-DD: report as of the end of that day, UTC (default now)")
    p.add_argument("--currency", help="only this currency, e.g. usd")
    p.add_argument("--reporting-currency", dest="reporting_currency",
                   help="convert every currency into this one (default: the account's default currency, else usd)")
    p.add_argument("--json", dest="json_output", action="store_true", default=None,
                   help="print the metrics contract's JSON object")
    p.add_argument("--discount-policy", dest="discount_policy",
                   help="all (default: every discount reduces MRR) or forever_only (Stripe's rule)")
    p.set_defaults(func=cmd_metrics)


def _pct(value) -> str:
    return "—" if value is None or value != value else f"{value * 100:.1f}%"


def render_table(result) -> str:
    """A readable monthly table per currency (amounts in major units with the currency's symbol)."""
    out = [f"account {result.account_id or 'unknown'} as of {result.as_of_date.isoformat()} "
           f"(discount policy: {result.discount_policy.value})\n"]
    if not result.currencies:
        out.append("no subscription or payment data\n")
    columns = ("month", "MRR", "net new", "new", "expansion", "contraction", "churned", "reactiv.",
               "customers", "churn", "NRR", "gross vol.", "net vol.")
    for currency in result.currencies:
        rows = result.monthly[result.monthly["currency"] == currency]
        table = [columns]
        for r in rows.itertuples():
            money = lambda v: format_amount(int(v), currency)  # noqa: E731
            table.append((r.month, money(r.mrr), money(r.net_new_mrr), money(r.new_mrr), money(r.expansion_mrr),
                          money(r.contraction_mrr), money(r.churned_mrr), money(r.reactivation_mrr),
                          str(int(r.active_customers)), _pct(r.customer_churn_rate), _pct(r.nrr),
                          money(r.gross_volume), money(r.net_volume)))
        out.append(f"\n{currency.upper()}\n" + _aligned(table))
    return "".join(out)


def _aligned(table: list[tuple[str, ...]]) -> str:
    """Rows as text columns: the first left-aligned, the others right-aligned, a rule under the header."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    out = []
    for n, row in enumerate(table):
        out.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(row, widths))).rstrip() + "\n")
        if n == 0:
            out.append("  ".join("-" * w for w in widths) + "\n")
    return "".join(out)


def default_reporting_currency(cache, engine: MetricsEngine) -> str:
    """docs/specs/fx.md "The reporting currency": the account's default currency, else usd (also
    when the rate table does not cover the account's default)."""
    from .queries import account_profile

    default = str(account_profile(cache.con).get("default_currency") or "").lower()
    return default if default in engine.rates().currencies() else "usd"


def render_converted(converted) -> str:
    """The converted monthly table: every currency in the reporting currency, with the FX impact."""
    info = converted.reporting
    currency = info.currency
    money = lambda v: format_amount(int(v), currency)  # noqa: E731
    columns = ("month", "MRR", "net new", "FX impact", "new", "expansion", "contraction", "churned", "reactiv.",
               "customers", "churn", "NRR", "gross vol.", "net vol.")
    table = [columns]
    for r in converted.monthly.itertuples():
        table.append((r.month, money(r.mrr), money(r.net_new_mrr), money(r.fx_mrr), money(r.new_mrr),
                      money(r.expansion_mrr), money(r.contraction_mrr), money(r.churned_mrr),
                      money(r.reactivation_mrr), str(int(r.active_customers)), _pct(r.customer_churn_rate),
                      _pct(r.nrr), money(r.gross_volume), money(r.net_volume)))
    out = [f"\nALL CURRENCIES IN {currency.upper()} ({info.label()})\n", _aligned(table)]
    for r in info.unconverted.itertuples():
        out.append(f"not converted (no rate): {r.month} {format_amount(int(r.mrr), r.currency, show_code=True)} MRR\n")
    return "".join(out)
