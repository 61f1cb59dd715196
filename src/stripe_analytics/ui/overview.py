"""The top of the Overview (its header line and KPI tiles), worked out once for the page, which
draws it with Streamlit, and for its first view (`first_view.py`), which the server writes into
the page's HTML so that the tiles are on screen before the browser has started the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Mapping

import pandas as pd

from .. import formatting as fmt
from . import widgets
from .filters import Filters
from .widgets import MonthComparison, kpi_markup

TILES_PER_ROW = 4


@dataclass(frozen=True)
class Kpi:
    """One tile: the metric's key (its label and definition), its value as shown, and
    `widgets.kpi_markup`'s other keywords."""

    key: str
    value: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def markup(self, *, inline: bool = False) -> str:
        """The tile's HTML (`inline`: its sparkline an SVG element, not an image)."""
        return kpi_markup(self.key, self.value, inline=inline, **self.options)


def subtitle(filters: Filters, product_names: Mapping[str, str], as_of: date, demo: bool,
             synced_at: datetime | None, *, now: datetime | None = None) -> str:
    """'all currencies in USD · Dec 2025 – Nov 2026 · as of 29 Nov 2026 · generated 2 hours ago'."""
    return (f"{filters.describe(product_names)} · as of {as_of:%d %b %Y} · "
            f"{'generated' if demo else 'synced'} {fmt.ago(synced_at, now)}")


def kpi_rows(bundle, compared: MonthComparison, same_days_depth: Callable[[], pd.DataFrame],
             currency: str | None, note: str | None) -> list[list[Kpi]]:
    """The Overview's two rows of tiles: the last month against the one before (metrics.md),
    its volumes, when the month is not over, against the same days of the month before
    ("Comparing a month to date"), in grey: the month is not over, so it is no verdict yet.
    `same_days_depth`: reads the filters' same-days table (`data.filtered_depth`), called only for
    a month not over. `note`: how a converted view was converted (added to each definition)."""
    monthly, major = bundle.monthly, bundle.major
    last, p, vs = compared.last, compared.previous, compared.vs
    same_days = widgets.same_days(same_days_depth(), last["month"], True) if compared.to_date else None
    if same_days is not None and same_days.previous is not None:
        flow_vs, flow_prev = f"{same_days.vs} (month to date)", same_days.previous.get
    else:
        flow_vs, flow_prev = (f"{vs} (month to date)" if vs and compared.to_date else vs), p

    def tile(key: str, value: str, delta, trend, *, description=vs, **options) -> Kpi:
        return Kpi(key, value, dict(delta=delta, trend=trend, delta_description=description, note=note, **options))

    return [
        [tile("mrr", fmt.money(last["mrr"], currency), fmt.delta_text(last["mrr"], p("mrr")), major["mrr"]),
         tile("arr", fmt.money(last["arr"], currency), fmt.delta_text(last["arr"], p("arr")), major["arr"]),
         tile("active_customers", fmt.count(last["active_customers"]),
              fmt.delta_text(last["active_customers"], p("active_customers")), monthly["active_customers"]),
         tile("customer_churn_rate", fmt.percent(last["customer_churn_rate"]),
              fmt.delta_text(last["customer_churn_rate"], p("customer_churn_rate"), kind="points"),
              monthly["customer_churn_rate"], inverse=True, chart_type="bar")],
        [tile("nrr", fmt.percent(last["nrr"]), fmt.delta_text(last["nrr"], p("nrr"), kind="points"), monthly["nrr"],
              chart_type="line"),
         tile("gross_volume", fmt.money(last["gross_volume"], currency),
              fmt.delta_text(last["gross_volume"], flow_prev("gross_volume")), major["gross_volume"],
              description=flow_vs, chart_type="bar", partial=compared.to_date),
         tile("net_volume", fmt.money(last["net_volume"], currency),
              fmt.delta_text(last["net_volume"], flow_prev("net_volume")), major["net_volume"],
              description=flow_vs, chart_type="bar", partial=compared.to_date),
         tile("arpa", fmt.money(last["arpa"], currency), fmt.delta_text(last["arpa"], p("arpa")), major["arpa"],
              chart_type="line")],
    ]
