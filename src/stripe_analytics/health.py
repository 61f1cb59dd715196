"""`GET /healthz`: is every cache readable, and is the data fresh? One JSON answer a load
balancer or monitoring system can poll, and the same facts the Data page shows.

Per account: cache readable, schema version, last successful sync (time and age), last
webhook received and applied, events queued, last error. HTTP 200 when all is well, 503 when
a cache cannot be read or the configured account's last successful sync is older than
`HEALTH_MAX_SYNC_AGE_MINUTES` (default 3 x `SYNC_INTERVAL_MINUTES`).

It never shows a key, a token or customer data: only account ids, times, counts and the
plain error messages the sync already records (which are redacted). It is cheap: a cache is
opened (read-only, a few milliseconds) only when its file changed since the last poll.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import __version__
from .cache import Cache, CacheError, CacheInUseError
from .config import Settings
from .connection import CONNECTED_DIR

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheFacts:
    readable: bool
    schema_version: int | None = None
    data_version: int | None = None
    last_sync_ok_at: float | None = None
    last_sync_error: str | None = None  # the last run's message when it failed
    last_webhook_applied_at: float | None = None
    problem: str | None = None  # why it cannot be read


_FACTS: dict[str, tuple[tuple, CacheFacts]] = {}
_FACTS_LOCK = threading.Lock()


def _signature(path: Path) -> tuple | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    wal = Path(str(path) + ".wal")
    with contextlib.suppress(OSError):
        wal_stat = wal.stat()
        return stat.st_ino, stat.st_mtime_ns, stat.st_size, stat.st_ctime_ns, wal_stat.st_mtime_ns, wal_stat.st_size
    return stat.st_ino, stat.st_mtime_ns, stat.st_size, stat.st_ctime_ns


def _epoch(value: Any) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None


def cache_facts(path: Path) -> CacheFacts:
    """What the cache at `path` says about itself; re-read only when the file changed. While a
    writer holds the file, the last facts read (the cache is readable, just busy)."""
    key = str(path)
    signature = _signature(path)
    if signature is None:
        return CacheFacts(False, problem="the cache file is missing")
    with _FACTS_LOCK:
        known = _FACTS.get(key)
    if known and known[0] == signature:
        return known[1]
    if not os.access(path, os.R_OK):
        facts = CacheFacts(False, problem="the cache file cannot be read (permissions)")
    else:
        try:
            facts = _read_facts(path)
        except CacheInUseError:
            return known[1] if known else CacheFacts(True)
        except CacheError as error:
            facts = CacheFacts(False, problem=str(error).replace(str(path), path.name))
        except Exception as error:  # noqa: BLE001 - a damaged file fails in many ways
            LOG.warning("health: the cache %s cannot be read", path.name, exc_info=True)
            facts = CacheFacts(False, problem=f"the cache cannot be read ({type(error).__name__}); it may be damaged")
    with _FACTS_LOCK:
        _FACTS[key] = (signature, facts)
    return facts


def _read_facts(path: Path) -> CacheFacts:
    with Cache.open(path, read_only=True) as cache:
        q = cache.con.execute
        schema = int(cache.get_meta("schema_version") or 0)
        ok = q("SELECT max(finished_at) FROM sync_runs WHERE outcome = 'ok'").fetchall()[0][0]
        last = q("SELECT outcome, message FROM sync_runs WHERE finished_at IS NOT NULL "
                 "ORDER BY id DESC LIMIT 1").fetchall()
        applied = q("SELECT max(applied_at) FROM applied_events WHERE source = 'webhook'").fetchall()[0][0]
        return CacheFacts(True, schema_version=schema, data_version=cache.data_version, last_sync_ok_at=_epoch(ok),
                          last_sync_error=last[0][1] if last and last[0][0] != "ok" else None,
                          last_webhook_applied_at=_epoch(applied))


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds") if epoch else None


def report(settings: Settings, *, applier=None, schedule=None, home_account: str | None = None,
           platform_account: str | None = None, connected_schedule=None, connected_scheduled: frozenset = frozenset(),
           now: float | None = None) -> tuple[int, dict]:
    """(HTTP status, JSON body). `applier`: the server's WebhookApplier; `schedule`: its
    ScheduleState; `home_account`: the account the configured key syncs (the scheduled one);
    `platform_account`: the key's own account, which events without `account` belong to
    (default: `home_account`); `connected_schedule`: the ScheduleState of the accounts
    connected on the Connect page, `connected_scheduled` the ones its last round synced."""
    platform_account = platform_account or home_account
    now = now or time.time()
    data_dir = Path(settings.data_dir)
    paths = {(p.stem, False): p for p in sorted(data_dir.glob("acct_*.duckdb"))} if data_dir.is_dir() else {}
    if home_account and (home_account, False) not in paths and settings.stripe_api_key:
        paths[(home_account, False)] = data_dir / f"{home_account}.duckdb"
    connected_dir = data_dir / CONNECTED_DIR
    if connected_dir.is_dir():
        paths.update({(p.stem, True): p for p in sorted(connected_dir.glob("acct_*.duckdb"))})
    stats = applier.stats.snapshot() if applier is not None else {}
    queued = applier.queue.counts() if applier is not None else {}
    platform = "_platform"
    max_age = settings.health_max_sync_age_seconds
    accounts = []
    problems: list[str] = []
    for (account_id, connected), path in paths.items():
        facts = cache_facts(path) if path.exists() else None
        own = stats.get(account_id)
        mine = [own] if own else []
        waiting = queued.get(account_id, 0)
        if account_id == platform_account and not connected:  # events without `account`: the key's own
            mine += [stats[platform]] if platform in stats else []
            waiting += queued.get(platform, 0)
        received = max((s.last_received_at or 0 for s in mine), default=0) or None
        applied = max([s.last_applied_at or 0 for s in mine] + [facts.last_webhook_applied_at or 0 if facts else 0])
        errors = [s.last_error for s in mine if s.last_error]
        configured = account_id == home_account and bool(settings.stripe_api_key) and not connected
        if connected:
            scheduled = account_id in connected_scheduled and bool(settings.sync_interval_minutes)
            round_state = connected_schedule
        else:
            scheduled = configured and bool(settings.sync_interval_minutes)
            round_state = schedule
        if scheduled and round_state is not None and round_state.last_error:
            errors.append(f"scheduled sync: {round_state.last_error}")
        if facts is not None and facts.last_sync_error:
            errors.append(f"last sync: {facts.last_sync_error}")
        age = now - facts.last_sync_ok_at if facts and facts.last_sync_ok_at else None
        entry_problems = []
        if facts is None:
            entry_problems.append("not synced yet")
        elif not facts.readable:
            entry_problems.append(f"cache unreadable: {facts.problem}")
        elif (configured or scheduled) and max_age is not None and (age is None or age > max_age):
            entry_problems.append(f"last successful sync is older than {max_age / 60:g} minutes"
                                  if age is not None else "no sync has succeeded yet")
        problems += [f"{account_id}: {p}" for p in entry_problems]
        accounts.append({
            "account": account_id,
            "connected": connected,
            "cache_readable": bool(facts and facts.readable),
            "schema_version": facts.schema_version if facts else None,
            "data_version": facts.data_version if facts else None,
            "scheduled_sync": scheduled,
            "last_sync_at": _iso(facts.last_sync_ok_at) if facts else None,
            "last_sync_age_seconds": round(age, 1) if age is not None else None,
            "last_webhook_received_at": _iso(received),
            "last_webhook_applied_at": _iso(applied or None),
            "events_queued": waiting,
            "events_unrouted": sum(s.unrouted for s in mine),
            "last_error": errors[0] if errors else None,
            "problems": entry_problems,
        })
    if settings.stripe_api_key and not home_account and max_age is not None \
            and not any(not connected for _, connected in paths):
        # Stripe could not say yet which account the key reads, and nothing here was synced with it.
        problems.append("the configured key's account is not known yet and has no cache here")
    known = {account_id for account_id, _ in paths}
    unrouted = {k: v.unrouted for k, v in stats.items() if v.unrouted and k not in known and k != platform}
    body = {
        "status": "ok" if not problems else "unhealthy",
        "version": __version__,
        "checked_at": _iso(now),
        "webhooks": {"endpoint": "/webhooks/stripe", "secret_configured": bool(settings.webhook_secrets),
                     "receiving": applier is not None,
                     "events_for_accounts_without_cache": unrouted},
        "schedule": _schedule(settings, schedule),
        "connected_schedule": _schedule(settings, connected_schedule, connected=True),
        "max_sync_age_minutes": max_age / 60 if max_age is not None else None,
        "accounts": accounts,
        "problems": problems,
    }
    return (200 if not problems else 503), body


def _schedule(settings: Settings, schedule, *, connected: bool = False) -> dict:
    if not settings.sync_interval_minutes:
        return {"interval_minutes": 0, "running": False, "reason": "off (SYNC_INTERVAL_MINUTES=0)"}
    if schedule is None:
        reason = "no STRIPE_API_KEY" if not settings.stripe_api_key and not connected else "not started by this process"
        return {"interval_minutes": settings.sync_interval_minutes, "running": False, "reason": reason}
    return {"interval_minutes": settings.sync_interval_minutes, "running": True,
            "sync_in_progress": schedule.running_since is not None,
            "next_run_at": _iso(schedule.next_run_at), "last_started_at": _iso(schedule.last_started_at),
            "last_ok_at": _iso(schedule.last_ok_at), "consecutive_failures": schedule.failures,
            "last_error": schedule.last_error}
