"""The scheduled sync of accounts connected on the Connect page (a restricted key or Stripe
OAuth), whose credentials live only in the encrypted connection store.

Every `SYNC_INTERVAL_MINUTES` the server syncs each connected account that was synced once
already (its `DATA_DIR/connected/<account>.duckdb` exists) as its holder would with *Sync now*:
the access policy decides with the holder as the principal (a browser's connection when nobody
signs in, a signed-in user with today's role), and the key or token reaches the sync child on
stdin, never in its arguments. An account that several holders reach is synced once, with the
connection used most recently. A connection whose token can no longer be renewed is reported,
not retried in a loop: the schedule's back-off applies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from . import access
from .config import Settings
from .connection import Connection, cache_path_for
from .connection_store import ConnectionStore
from .oauth import OAuthError
from .scheduler import Outcome, SyncOutcome
from .sync_jobs import SyncJob, outcome_of, start_connection

LOG = logging.getLogger("stripe_analytics.scheduler")

JOB_TIMEOUT = 6 * 3600.0


@dataclass(frozen=True)
class Scheduled:
    """A connected account the schedule syncs, and with whose connection."""

    account: str
    holder: str
    connection: Connection
    principal: access.Principal


def scheduled_connections(settings: Settings, store: ConnectionStore, *,
                          sign_in_configured: bool) -> list[Scheduled]:
    """The connected accounts to sync now: synced here once, held by someone who may sync
    them today; one per account, through its most recently used connection."""
    chosen: dict[str, Scheduled] = {}
    for holder, conn in store.held(settings):
        if conn.account_id in chosen:
            continue
        principal = access.holder_principal(settings, holder, sign_in_configured=sign_in_configured)
        path = cache_path_for(settings, conn.account_id)
        if principal is None or not path.exists():
            continue
        decision = access.may_sync(principal, settings, access.Target(conn.account_id, path), conn)
        if decision.allowed and decision.route == "connection":
            chosen[conn.account_id] = Scheduled(conn.account_id, holder, conn, principal)
    return list(chosen.values())


def sync_connected(settings: Settings, store: ConnectionStore, *, sign_in_configured: bool,
                   start: Callable[..., SyncJob] = start_connection,
                   timeout: float = JOB_TIMEOUT) -> tuple[SyncOutcome, dict[str, SyncOutcome]]:
    """One scheduled round: sync every scheduled connected account, one after the other.
    Returns the round's outcome (failed when any failed, busy when any was busy, else ok) and
    each account's."""
    outcomes: dict[str, SyncOutcome] = {}
    for item in scheduled_connections(settings, store, sign_in_configured=sign_in_configured):
        try:
            api_key, stripe_account = item.connection.credentials(settings)
        except OAuthError as error:
            outcomes[item.account] = SyncOutcome(Outcome.failed, str(error))
            continue
        outcomes[item.account] = outcome_of(start(settings, item.connection, api_key, stripe_account), timeout)
    failed = {a: o for a, o in outcomes.items() if o.outcome is Outcome.failed}
    if failed:
        message = "; ".join(f"{account}: {o.message}" for account, o in failed.items())
        LOG.warning("scheduled sync of connected accounts: %d of %d failed", len(failed), len(outcomes))
        return SyncOutcome(Outcome.failed, message), outcomes
    if any(o.outcome is Outcome.busy for o in outcomes.values()):
        return SyncOutcome(Outcome.busy, "another sync of a connected account was running"), outcomes
    return SyncOutcome(Outcome.ok, f"{len(outcomes)} connected account(s) synced"), outcomes
