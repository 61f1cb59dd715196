"""Stripe webhooks: verify, queue durably, apply in the background.

- `verify` checks a request with the Stripe SDK (`stripe.WebhookSignature.verify_header`,
  Stripe's default 300 s tolerance) against every configured secret, before the body is
  parsed; nothing else is trusted.
- `EventQueue` keeps each verified event as a file under `DATA_DIR/webhooks/queue/<account>/`
  (written to a temporary name, fsynced, renamed), so the endpoint answers at once whatever the
  cache is doing, and a queued event survives a crash or restart of the server.
- `WebhookApplier` (a thread of the server) drains the queue: each account's events go through
  `event_apply` (the incremental sync's own path) under the account's writer lock, and a file is
  removed only after the transaction that applied it committed. Killed in between, the next
  start applies the file again and `applied_events` skips it.

Routing: an event with an `account` field (Connect) goes to that account's cache; one without
goes to the account of the configured key. An event for an account with no cache here is
acknowledged and counted, never written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import duckdb
import stripe

from . import event_apply
from .cache import (HOLDER_WEBHOOKS, Cache, CacheError, SyncLockedError, cache_path, make_folders, open_waiting,
                    writer_lock)
from .config import Settings
from .schema import RESOURCES
from .stripe_errors import plain

LOG = logging.getLogger("stripe_analytics.webhooks")

PATH = "/webhooks/stripe"
MAX_BODY_BYTES = 1 << 20
TOLERANCE_SECONDS = stripe.Webhook.DEFAULT_TOLERANCE
PLATFORM = "_platform"  # queue folder of events without an `account` (the configured key's own)
FILES_PER_TRANSACTION = 100  # each holds the events received together (up to the receiving threads)
_ACCOUNT = re.compile(r"^acct_[A-Za-z0-9_]{1,64}$")
_EVENT_ID = re.compile(r"^evt_[A-Za-z0-9_]{1,255}$")

# What to select when adding the endpoint: the event types of every object the cache keeps, as
# the one declaration of each object (`schema.RESOURCES`) names them.
EVENT_TYPES: tuple[str, ...] = tuple(t for resource in RESOURCES for t in resource.event_types)


class WebhookRejected(Exception):
    """A request that is not a verified Stripe event; `status` is the HTTP answer."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class VerifiedEvent:
    id: str
    account: str  # acct_… or PLATFORM
    created: int
    body: bytes


def verify(body: bytes, signature: str | None, secrets: list[str]) -> VerifiedEvent:
    """The event in `body` once its `Stripe-Signature` holds for one of `secrets` (several
    while a secret is rotated); WebhookRejected (400) otherwise. The body is parsed only after
    the signature holds."""
    if not secrets:
        raise WebhookRejected(400, "no webhook signing secret is configured (STRIPE_WEBHOOK_SECRET)")
    if not signature:
        raise WebhookRejected(400, "the Stripe-Signature header is missing")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRejected(400, "the body is not UTF-8") from None
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(text, signature, secret, TOLERANCE_SECONDS)
            break
        except stripe.SignatureVerificationError:
            continue
    else:
        raise WebhookRejected(400, "the signature does not match (wrong secret, changed body or too old)")
    try:
        event = json.loads(text)
    except ValueError:
        raise WebhookRejected(400, "the body is not JSON") from None
    if not isinstance(event, dict) or event.get("object") != "event" or not isinstance(event.get("id"), str) \
            or not _EVENT_ID.match(event["id"]) or not isinstance(event.get("created"), int) \
            or not isinstance(event.get("data"), dict):
        raise WebhookRejected(400, "the body is not a Stripe event")
    account = event.get("account") or PLATFORM
    if account != PLATFORM and (not isinstance(account, str) or not _ACCOUNT.match(account)):
        raise WebhookRejected(400, "the event's account is not a Stripe account id")
    return VerifiedEvent(event["id"], account, event["created"], body)


# ----------------------------------------------------------------------------- the queue

class EventQueue:
    """Verified events waiting to be applied, per account folder. Concurrent `put`s are written
    together (group commit): one file of several events, one fsync, then every caller returns;
    an fsync costs milliseconds, so this is what lets the endpoint take hundreds of events a
    second. A file is `<time ns>-<events>-<first event id>.json`, a JSON list of raw bodies."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._cond = threading.Condition()
        self._pending: list[tuple[int, VerifiedEvent]] = []
        self._next = 0
        self._flushed = -1
        self._failed: dict[int, OSError] = {}
        self._writing = False

    @classmethod
    def for_settings(cls, settings: Settings) -> "EventQueue":
        return cls(Path(settings.data_dir) / "webhooks" / "queue")

    def put(self, event: VerifiedEvent) -> None:
        """Store the event durably (fsynced) before returning; OSError when it could not be."""
        with self._cond:
            number = self._next
            self._next += 1
            self._pending.append((number, event))
            while True:
                if number in self._failed:
                    raise self._failed.pop(number)
                if self._flushed >= number:
                    return
                if not self._writing:
                    self._writing = True
                    batch, self._pending = self._pending, []
                    break
                self._cond.wait()
        error: OSError | None = None
        try:
            self._write(batch)
        except OSError as failure:
            error = failure
        with self._cond:
            if error is not None:
                self._failed.update({n: error for n, _ in batch})
            self._flushed = max(self._flushed, max(n for n, _ in batch))
            self._writing = False
            self._cond.notify_all()
            if number in self._failed:
                raise self._failed.pop(number)

    def _write(self, batch: list[tuple[int, VerifiedEvent]]) -> None:
        by_account: dict[str, list[VerifiedEvent]] = {}
        for _, event in batch:
            by_account.setdefault(event.account, []).append(event)
        for account, events in by_account.items():
            folder = self.root / account
            make_folders(folder)
            final = folder / f"{time.time_ns():020d}-{len(events):05d}-{events[0].id}.json"
            temporary = folder / f".{final.name}.tmp"
            payload = json.dumps([e.body.decode("utf-8") for e in events]).encode()
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, final)
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    @staticmethod
    def read(path: Path) -> list[dict]:
        """The events of one queue file."""
        return [json.loads(body) for body in json.loads(path.read_bytes())]

    def accounts(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(entry.name for entry in os.scandir(self.root) if entry.is_dir())

    def _names(self, account: str) -> list[str]:
        folder = self.root / account
        if not folder.is_dir():
            return []
        return sorted(e.name for e in os.scandir(folder) if e.name.endswith(".json") and not e.name.startswith("."))

    def files(self, account: str, limit: int | None = None) -> list[Path]:
        return [self.root / account / name for name in self._names(account)[:limit]]

    def count(self, account: str) -> int:
        """Events queued for the account (from the file names: nothing is read)."""
        total = 0
        for name in self._names(account):
            parts = name.split("-", 2)
            total += int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else 1
        return total

    def counts(self) -> dict[str, int]:
        return {account: self.count(account) for account in self.accounts()}

    @staticmethod
    def remove(files: list[Path]) -> None:
        for path in files:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


# ----------------------------------------------------------------------------- routing

class Router:
    """Which cache an event's account writes to, and how to reach that account's API."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._home: str | None = None
        self._access: dict[str, object] = {}
        self._lock = threading.Lock()

    def home_account(self) -> str | None:
        """The configured key's own account (asked once), else the only synced account here."""
        with self._lock:
            if self._home:
                return self._home
        if self.settings.stripe_api_key:
            from .stripe_client import build_client
            from .sync import fetch_account

            own = self.settings.model_copy(update={"stripe_account": None})
            home = fetch_account(build_client(own), allow_unknown=True)["id"]
        else:
            home = self._only_synced()
        with self._lock:
            self._home = home
        return home

    def _only_synced(self) -> str | None:
        """The account of the only operator's cache here (`DATA_DIR/acct_….duckdb`), if exactly one."""
        data_dir = Path(self.settings.data_dir)
        synced = sorted(data_dir.glob("acct_*.duckdb")) if data_dir.is_dir() else []
        return synced[0].stem if len(synced) == 1 else None

    @property
    def known_home(self) -> str | None:
        """The home account if it was resolved already (never asks Stripe)."""
        with self._lock:
            return self._home

    @property
    def known_configured(self) -> str | None:
        """The account the configured key syncs (`STRIPE_ACCOUNT` when set, else the key's
        own), if known already (never asks Stripe). Until Stripe could say which account the key
        reads (it was unreachable when the server started), the only operator's cache here: so
        /healthz still judges its age."""
        return self.settings.stripe_account or self.known_home or self._only_synced()

    def configured_account(self) -> str | None:
        return self.settings.stripe_account or self.home_account()

    def resolve(self, queue_account: str) -> str | None:
        return self.home_account() if queue_account == PLATFORM else queue_account

    def cache_for(self, account: str) -> Path | None:
        """The account's cache here: the operator's (`DATA_DIR/acct_….duckdb`) or a connected
        session's (`DATA_DIR/connected/…`); None when there is none."""
        for folder in (Path(self.settings.data_dir), Path(self.settings.data_dir) / "connected"):
            try:
                path = cache_path(folder, account)
            except CacheError:
                return None
            if path.exists():
                return path
        return None

    def fetcher_for(self, account: str):
        """A `pager.Fetcher` reaching `account` (to complete lists, read an object again), or
        None when no credential here reaches it."""
        from .pager import Fetcher
        from .stripe_client import build_client

        with self._lock:
            if account in self._access:
                return self._access[account]
        settings = self.settings
        fetcher = None
        try:
            if account == self._home and settings.stripe_api_key:
                fetcher = Fetcher(build_client(settings.model_copy(update={"stripe_account": None})))
            elif settings.stripe_api_key:
                fetcher = Fetcher(build_client(settings, stripe_account=account))
            elif settings.stripe_client_secret:
                fetcher = Fetcher(build_client(settings, api_key=settings.stripe_client_secret.get_secret_value(),
                                               stripe_account=account))
        except stripe.StripeError:
            fetcher = None
        with self._lock:
            self._access[account] = fetcher
        return fetcher


# ----------------------------------------------------------------------------- applying

@dataclass
class AccountStats:
    received: int = 0
    last_received_at: float | None = None
    applied: int = 0  # events written (or found stale / duplicate) into the cache
    last_applied_at: float | None = None
    duplicates: int = 0
    stale: int = 0
    unrouted: int = 0  # acknowledged, but no cache here for the account
    waiting_since: float | None = None  # a sync held the cache
    last_error: str | None = None
    last_error_at: float | None = None


@dataclass
class WebhookStats:
    accounts: dict[str, AccountStats] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def of(self, account: str) -> AccountStats:
        with self.lock:
            return self.accounts.setdefault(account, AccountStats())

    def snapshot(self) -> dict[str, AccountStats]:
        with self.lock:
            return {k: AccountStats(**vars(v)) for k, v in self.accounts.items()}


class WebhookApplier:
    """Drains the queue in a background thread; `wake()` after each new event."""

    RETRY_SECONDS = 0.1  # while a sync holds the cache, or after handing the cache to the readers
    IDLE_SECONDS = 0.05  # a quiet moment this long and the cache is closed again
    HOLD_SECONDS = 1.0  # the longest the cache stays open while events keep coming
    GATHER_SECONDS = 0.1  # between two transactions while events keep coming
    OPEN_TIMEOUT = 10.0  # readers of this process hold the file for a moment

    def __init__(self, settings: Settings, queue: EventQueue | None = None, router: Router | None = None):
        self.settings = settings
        self.queue = queue or EventQueue.for_settings(settings)
        self.router = router or Router(settings)
        self.stats = WebhookStats()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures: dict[str, int] = {}
        self._not_before: dict[str, float] = {}
        self._pruned_at = 0.0

    # -- receiving (the HTTP endpoint)
    def receive(self, event: VerifiedEvent) -> None:
        """Queue a verified event durably (raises OSError when it could not be stored)."""
        self.queue.put(event)
        stats = self.stats.of(event.account)
        with self.stats.lock:
            stats.received += 1
            stats.last_received_at = time.time()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    # -- the thread
    def start(self) -> "WebhookApplier":
        self._thread = threading.Thread(target=self._run, name="webhook-applier", daemon=True)
        self._thread.start()
        self._wake.set()  # whatever a previous run left queued
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        unreadable: str | None = None  # why the queue could not be read last time, said once
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            try:
                pending = self.drain()
                unreadable = None
            except PermissionError as error:  # DATA_DIR out of this user's reach: tried again each second
                if str(error) != unreadable:
                    unreadable = str(error)
                    LOG.error("webhook events cannot be applied: the queue in DATA_DIR cannot be read "
                              "(%s: permission denied); fix DATA_DIR's permissions", error.filename)
                pending = False
            except Exception:  # noqa: BLE001 - never let the thread die; the stats say what failed
                LOG.exception("applying queued webhooks failed")
                pending = True
            if pending and not self._stop.is_set():
                self._stop.wait(self.RETRY_SECONDS)
                self._wake.set()

    def drain(self) -> bool:
        """Apply what is queued; True when something is left for later (a sync holds a cache,
        Stripe could not be reached, or the cache was handed back to the readers for a moment)."""
        left = False
        for queue_account in self.queue.accounts():
            if time.monotonic() < self._not_before.get(queue_account, 0):
                left = True
                continue
            if self.queue.files(queue_account, 1) and self._apply_account(queue_account) != "done":
                left = True
        return left

    def _fail(self, queue_account: str, message: str) -> None:
        failures = self._failures[queue_account] = self._failures.get(queue_account, 0) + 1
        self._not_before[queue_account] = time.monotonic() + min(60.0, 2.0 ** failures)
        stats = self.stats.of(queue_account)
        with self.stats.lock:
            stats.last_error, stats.last_error_at = message, time.time()
        LOG.warning("webhooks for %s wait: %s", queue_account, message)

    def _apply_account(self, queue_account: str) -> str:
        """'done', 'more' (the cache was held long enough: readers get it for a moment), 'busy'
        (a sync holds the cache) or 'failed' (retried with back-off)."""
        from .sync import SyncError

        try:
            account = self.router.resolve(queue_account)
        except SyncError as error:  # Stripe could not say which account the key reads
            self._fail(queue_account, str(error))
            return "failed"
        path = self.router.cache_for(account) if account else None
        stats = self.stats.of(queue_account)
        if path is None:
            # Acknowledged to Stripe already; nothing here to write to (the first sync reads it all).
            files = self.queue.files(queue_account)
            dropped = 0
            for file in files:
                with contextlib.suppress(OSError, ValueError):
                    dropped += len(self.queue.read(file))
            self.queue.remove(files)
            with self.stats.lock:
                stats.unrouted += dropped
            return "done"
        try:
            with writer_lock(path, wait=False, holder=HOLDER_WEBHOOKS):
                with self.stats.lock:
                    stats.waiting_since = None
                # Opening and closing (a checkpoint) cost more than a batch: while events keep
                # coming the cache stays open, up to HOLD_SECONDS, then the pages may read.
                with self._open(path) as cache:
                    held_since = time.monotonic()
                    committed_at = 0.0
                    while True:
                        # A transaction costs about the same whatever its size: while events keep
                        # coming, let them gather for a moment (the first one after a pause goes at once).
                        pause = self.GATHER_SECONDS - (time.monotonic() - committed_at)
                        if pause > 0:
                            self._stop.wait(pause)
                        files = self.queue.files(queue_account, FILES_PER_TRANSACTION)
                        if not files:
                            self._wake.wait(self.IDLE_SECONDS)
                            self._wake.clear()
                            files = self.queue.files(queue_account, FILES_PER_TRANSACTION)
                            if not files:
                                return "done"
                        self._apply_files(cache, queue_account, account, stats, files)
                        committed_at = time.monotonic()
                        if time.monotonic() - held_since > self.HOLD_SECONDS or self._stop.is_set():
                            return "more"
        except SyncLockedError:
            with self.stats.lock:
                stats.waiting_since = stats.waiting_since or time.time()
            return "busy"
        except (CacheError, stripe.StripeError, OSError, duckdb.Error) as error:
            self._fail(queue_account, plain(error) if isinstance(error, stripe.StripeError) else str(error))
            return "failed"

    def _apply_files(self, cache: Cache, queue_account: str, account: str, stats: AccountStats,
                     files: list[Path]) -> None:
        """One transaction for the events of `files`; the files go once it committed."""
        events = []
        for file in files:
            try:
                events.extend(self.queue.read(file))
            except (OSError, ValueError):
                LOG.error("dropping unreadable queued webhook file %s", file.name)
        planned = event_apply.plan(cache.con, events, fetcher=self.router.fetcher_for(account), ordered=False)
        with cache.transaction() as con:
            event_apply.write(con, planned, source="webhook")
            if time.time() - self._pruned_at > 3600:
                event_apply.forget_old_applied(con, time.time())
                self._pruned_at = time.time()
        self.queue.remove(files)
        self._failures.pop(queue_account, None)
        with self.stats.lock:
            stats.applied += planned.count(event_apply.APPLIED) + planned.count(event_apply.REREAD) \
                + planned.count(event_apply.RECORDED)
            stats.duplicates += planned.count(event_apply.DUPLICATE)
            stats.stale += planned.count(event_apply.STALE)
            stats.last_applied_at = time.time()
            stats.last_error = None

    @contextlib.contextmanager
    def _open(self, path: Path) -> Iterator[Cache]:
        """The cache for writing; the app's own short read connections hold it for a moment."""
        cache = open_waiting(path, patience=self.OPEN_TIMEOUT, pause=0.02)
        try:
            yield cache
        finally:
            cache.close()


def setup_text(base_url: str | None = None) -> str:
    """What to configure in Stripe (`stripe-analytics webhooks`)."""
    url = (base_url.rstrip("/") if base_url else "https://<your server>") + PATH
    return "\n".join([
        "Webhook endpoint of Stripe Analytics (served by `make run` / `streamlit run serve.py`):",
        f"  URL: {url}   (POST, application/json; answers 200 once the event is queued)",
        "",
        "In the Stripe Dashboard: Developers → Webhooks → Add endpoint, with this URL and these events",
        "(or \"Select all events\"; the others are acknowledged and only recorded):",
        *(f"  {name}" for name in EVENT_TYPES),
        "",
        "Connect platforms: add a second endpoint \"listening to events on Connected accounts\"; events",
        "are routed by their `account` to that account's cache.",
        "",
        "Then copy the endpoint's signing secret (whsec_…) into STRIPE_WEBHOOK_SECRET (environment,",
        ".env or .streamlit/secrets.toml) and restart the server. While rotating a secret, give both,",
        "comma-separated: STRIPE_WEBHOOK_SECRET=whsec_new…,whsec_old…",
        "",
        "Local development with the Stripe CLI:",
        f"  stripe listen --forward-to localhost:8501{PATH}",
        "  (it prints a whsec_… secret: put it in STRIPE_WEBHOOK_SECRET)",
    ])
