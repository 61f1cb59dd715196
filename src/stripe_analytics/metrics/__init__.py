"""The analytics engine: every number of the product, computed by the rules of the metrics
contract (docs/specs/metrics.md; explained for users in docs/metrics.md).

Pure functions over DataFrames / Arrow tables (heavy per-line work in DuckDB SQL):

- `mrr.mrr_components`, `mrr.subscription_mrr_at`: MRR of subscriptions at instants
- `snapshots.mrr_snapshots`: customer x currency x month snapshot MRR
- `movements.mrr_movements`, `movements.movement_customers`: new / expansion / contraction /
  churn / reactivation
- `monthly.monthly_metrics`: the monthly table (MRR, movements, counts, rates, cash)
- `cohorts.cohort_retention`: logo and revenue retention
- `segments.segment_metrics`, `segments.select_segment`: MRR, movements and churn per plan, price,
  billing interval, country or metadata value
- `cash.cash_by_period`, `cash.cash_metrics`, `cash.cash_periods`, `cash.cash_by_currency`: gross / net volume, refunds,
  fees, payments per day, week or month
- `trials.trial_conversion`, `trials.trial_conversion_by_plan`: trials started, ended, converted,
  active, median days to convert
- `recovery.payment_recovery`, `recovery.recovery_days`, `recovery.involuntary_churn`: failed
  invoice payments and their recovery, involuntary churn
- `comparisons.same_days_comparison`: a month (to date) against the same days of the month
  before and of last year
- `rates.RateSet`: ECB reference rates (offline) plus the user's; `reporting`: the conversion step
  into one reporting currency (docs/specs/fx.md)

Entry points: `compute_metrics`, `MetricsEngine` (keeps the expensive part between filter
changes; `depth` for the trial, recovery and comparison figures), `metrics_json` (the contract's
JSON object).
"""

from .cash import PERIODS, cash_by_currency, cash_by_period, cash_metrics, cash_periods
from .cohorts import cohort_retention
from .engine import (DEPTH_MONTH_KEYS, JSON_MONTH_KEYS, REPORTING_MONTH_KEYS, MetricsEngine, MetricsResult,
                     SegmentNeedsCurrencyError, UnknownCurrencyError, compute_metrics, metrics_json, reporting_json,
                     segments_json, to_major)
from .rates import RateSet, RatesFileError, default_reporting_currency, import_rates, parse_rates_csv
from .reporting import ReportingInfo, UnknownReportingCurrencyError
from .filters import DiscountPolicy, MetricFilters, as_of_instant
from .load import Calendar, Sources, build_calendar
from .monthly import monthly_metrics
from .movements import MOVEMENTS, movement_customers, mrr_movements
from .mrr import Components, mrr_components, subscription_mrr_at, tiered_amount
from .segments import SEGMENT_COLUMNS, parse_dimension, segment_metrics, select_segment
from .snapshots import mrr_by_product, mrr_snapshots

__all__ = [
    "PERIODS", "cash_by_currency", "cash_by_period", "cash_periods", "DEPTH_MONTH_KEYS",
    "Calendar", "Components", "DiscountPolicy", "JSON_MONTH_KEYS", "MOVEMENTS", "MetricFilters", "MetricsEngine", "MetricsResult",
    "Sources", "UnknownCurrencyError", "as_of_instant", "build_calendar", "cash_metrics", "cohort_retention",
    "compute_metrics", "metrics_json", "monthly_metrics", "movement_customers", "mrr_components", "mrr_movements",
    "mrr_by_product", "mrr_snapshots", "subscription_mrr_at", "tiered_amount", "to_major",
    "REPORTING_MONTH_KEYS", "RateSet", "RatesFileError", "ReportingInfo", "UnknownReportingCurrencyError",
    "default_reporting_currency", "import_rates", "parse_rates_csv", "reporting_json",
    "SEGMENT_COLUMNS", "SegmentNeedsCurrencyError", "segments_json", "parse_dimension", "segment_metrics", "select_segment",
]
