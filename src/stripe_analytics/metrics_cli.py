"""`stripe-analytics metrics`: the monthly metrics of a cache, as the contract's JSON object
(`--json`) or a readable table, per currency and converted into one reporting currency
(docs/specs/fx.md). Exit code 2 for a bad date, an unknown currency or policy."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import date

from pydantic import ValidationError, field_validator

from .cli_args import CliError, DbArgs, open_cache, validated
from .money import format_amount
from .metrics import (DiscountPolicy, MetricFilters, MetricsEngine, UnknownCurrencyError,
                      UnknownReportingCurrencyError, default_reporting_currency, metrics_json, parse_dimension,
                      segments_json)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class MetricsArgs(DbArgs):
    as_of: date | None = None
    currency: str | None = None
    reporting_currency: str | None = None
    json_output: bool = False
    discount_policy: DiscountPolicy = DiscountPolicy.all
    by: str | None = None
    segment: list[tuple[str, str]] | None = None

    @field_validator("by", mode="before")
    @classmethod
    def _by(cls, value):
        return None if value is None else parse_dimension(str(value))

    @field_validator("segment", mode="before")
    @classmethod
    def _segment(cls, value):
        if value is None:
            return None
        pairs = []
        for text in value:
            dimension, sep, chosen = str(text).partition("=")
            if not sep or not chosen.strip():
                raise ValueError(f"must be DIMENSION=VALUE, e.g. plan=prod_123 or country=FR (got {text!r})")
            pairs.append((parse_dimension(dimension), chosen.strip()))
        return pairs

    def metric_filters(self) -> MetricFilters:
        """The currency and segments as metric filters (metrics.md "Segments")."""
        fields: dict = {"currencies": [self.currency] if self.currency else None}
        for dimension, value in self.segment or []:
            if dimension.startswith("metadata:"):
                fields.update(segment_key=dimension.split(":", 1)[1], segment_value=value)
            else:
                fields[{"interval": "billing_interval"}.get(dimension, dimension)] = value
        return MetricFilters(**fields)

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
        try:
            filters = args.metric_filters()
        except ValidationError as error:
            raise CliError(f"--segment {error.errors()[0]['msg'].removeprefix('Value error, ')}", 2) from None
        with open_cache(args.db) as cache:
            engine = MetricsEngine(cache, as_of=args.as_of, discount_policy=args.discount_policy)
            try:
                result = engine.compute(filters)
            except UnknownCurrencyError as error:
                raise CliError(f"--currency {error}", 2) from None
            reporting = args.reporting_currency or account_reporting_currency(cache, engine)
            converted = converted_depth = None
            if not filters.plan_segments:  # plan, price and interval segments are per currency
                try:
                    converted = engine.compute(filters, reporting_currency=reporting)
                except UnknownReportingCurrencyError as error:
                    raise CliError(f"--reporting-currency {error}", 2) from None
            breakdown = engine.segment_breakdown(filters, args.by) if args.by else None
            names = engine.segment_names(args.by) if args.by else {}
            if args.json_output:
                depth = engine.depth(filters)
                if converted is not None:
                    converted_depth = engine.depth(filters, reporting_currency=reporting)
        if args.json_output:
            doc = metrics_json(result, converted, depth, converted_depth)
            if breakdown is not None:
                doc["segments"] = segments_json(breakdown, args.by, names)
            sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")
        else:
            text = render_table(result)
            text += render_converted(converted) if converted is not None else (
                "\n(no converted table: plan, price and billing-interval segments are per currency)\n")
            if breakdown is not None:
                text += render_segments(breakdown, args.by, names)
            sys.stdout.write(text)
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
    p.add_argument("--by", help="also break MRR, movements and churn down by plan, price, interval, country or "
                                "metadata:<key> (JSON: the `segments` key)")
    p.add_argument("--segment", action="append",
                   help="only this segment, DIMENSION=VALUE (plan=prod_…, price=price_…, interval=year, country=FR, "
                        "metadata:<key>=value); repeat to combine")
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


def render_segments(breakdown, by: str, names: dict[str, str]) -> str:
    """The breakdown by segment per currency: each value's months (metrics.md "Segments")."""
    out = []
    columns = ("month", by, "MRR", "new", "expansion", "contraction", "churned", "reactiv.", "moved in", "moved out",
               "customers", "churn")
    for currency, frame in breakdown.groupby("currency", sort=True):
        money = lambda v: format_amount(int(v), currency)  # noqa: E731
        table = [columns]
        for r in frame.sort_values(["segment", "m"]).itertuples():
            table.append((r.month, names.get(r.segment, r.segment), money(r.mrr), money(r.new_mrr),
                          money(r.expansion_mrr), money(r.contraction_mrr), money(r.churned_mrr),
                          money(r.reactivation_mrr), money(r.moved_in_mrr), money(r.moved_out_mrr),
                          str(int(r.active_customers)), _pct(r.customer_churn_rate)))
        out.append(f"\n{currency.upper()} BY {by.upper()}\n" + _aligned(table))
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


def account_reporting_currency(cache, engine: MetricsEngine) -> str:
    """The account's default reporting currency (`metrics.default_reporting_currency`)."""
    from .queries import account_profile

    return default_reporting_currency(account_profile(cache.con).get("default_currency"), engine.rates().currencies())


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
