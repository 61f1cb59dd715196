"""One customer's story for the Customer page: the timeline (`timeline.customer_timeline`,
with the MRR movements of the metrics engine), the MRR at every month end and the lifetime
paid per currency, cached by cache state and customer."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from .. import queries, timeline
from ..metrics import MetricFilters
from . import data


@dataclass(frozen=True)
class Story:
    events: pd.DataFrame  # timeline.COLUMNS + dashboard_url, oldest first
    history: pd.DataFrame  # currency, month, mrr (minor units), zeros between MRR months
    lifetime: pd.DataFrame  # currency, lifetime_paid, payments
    current_mrr: pd.DataFrame  # currency, mrr at the as-of month (MRR > 0 only)


@st.cache_data(show_spinner="Putting this customer's story together…", max_entries=64)
def customer_story(key: data.CacheKey, customer_id: str, livemode: bool, account_id: str | None,
                   demo: bool) -> Story:
    """Everything the customer page tells about one customer. MRR and its movements are the
    engine's, unfiltered (every currency, every month), as the contract computes them."""
    bundle = data.metrics_bundle(key, MetricFilters().model_dump_json())
    result = bundle.result
    movements = result.movements[result.movements["customer"] == customer_id]
    snapshots = result.snapshots[result.snapshots["customer"] == customer_id]
    events = data.browse(key, timeline.customer_events, customer_id, result.as_of)
    story = timeline.customer_timeline(events, movements, timeline.snapshot_instants(result.calendar),
                                       livemode=livemode, account_id=account_id, demo=demo)
    history = timeline.mrr_history(snapshots, result.calendar.labels())
    current = snapshots[snapshots["m"] == result.calendar.last][["currency", "mrr"]].reset_index(drop=True)
    lifetime = data.browse(key, queries.customer_lifetime_paid, customer_id)
    return Story(story, history, lifetime, current)
