"""The server's own incremental sync on a schedule (`SYNC_INTERVAL_MINUTES`), the safety net
for missed webhooks: a webhook is a hint, the events list is the record.

`SyncScheduler` only decides when; the server hands it `run_sync`, which runs one sync of the
configured account and says how it ended (`SyncOutcome`). A failure is retried with back-off
(30 s, 1 min, 2 min, … never less often than the interval), never in a tight loop; a sync
already running elsewhere (the CLI, "Sync now") is waited out, not counted as a failure.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import Callable

LOG = logging.getLogger("stripe_analytics.scheduler")

# The first run catches up on what happened while the server was down, once the warm-up and
# the first visitors are served (or after one interval, when that is shorter).
FIRST_RUN_DELAY = 60.0
BUSY_RETRY = 60.0
BACKOFF_FIRST = 30.0


class Outcome(str, Enum):
    ok = "ok"
    busy = "busy"  # another sync of the account held its lock
    failed = "failed"


@dataclass(frozen=True)
class SyncOutcome:
    outcome: Outcome
    message: str = ""


@dataclass
class ScheduleState:
    interval_seconds: float
    next_run_at: float | None = None
    running_since: float | None = None
    last_started_at: float | None = None
    last_ok_at: float | None = None
    last_failure_at: float | None = None
    last_error: str | None = None
    failures: int = 0  # consecutive


def next_delay(state: ScheduleState, result: SyncOutcome) -> float:
    """Seconds until the next run after `result` (state already updated)."""
    interval = state.interval_seconds
    if result.outcome is Outcome.ok:
        return interval
    if result.outcome is Outcome.busy:
        return min(BUSY_RETRY, interval)
    return min(interval, BACKOFF_FIRST * 2 ** (state.failures - 1))


class SyncScheduler:
    def __init__(self, interval_seconds: float, run_sync: Callable[[], SyncOutcome], *,
                 clock: Callable[[], float] = time.time):
        if interval_seconds <= 0:
            raise ValueError("the schedule needs a positive interval")
        self.state = ScheduleState(interval_seconds)
        self._run_sync = run_sync
        self._clock = clock
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def snapshot(self) -> ScheduleState:
        with self._lock:
            return ScheduleState(**vars(self.state))

    def run_once(self) -> SyncOutcome:
        """One scheduled sync now; records its outcome and the next run time."""
        with self._lock:
            self.state.running_since = self.state.last_started_at = self._clock()
        try:
            result = self._run_sync()
        except Exception as error:  # noqa: BLE001 - a failure of the runner is a failed sync, retried
            LOG.exception("the scheduled sync could not run")
            result = SyncOutcome(Outcome.failed, f"the sync could not start ({type(error).__name__})")
        now = self._clock()
        with self._lock:
            state = self.state
            state.running_since = None
            if result.outcome is Outcome.ok:
                state.last_ok_at, state.failures, state.last_error = now, 0, None
            elif result.outcome is Outcome.failed:
                state.failures += 1
                state.last_failure_at, state.last_error = now, result.message or "the sync failed"
            state.next_run_at = now + next_delay(state, result)
        if result.outcome is Outcome.failed:
            LOG.warning("scheduled sync failed (%d in a row): %s", self.state.failures, result.message)
        return result

    def start(self, first_delay: float = FIRST_RUN_DELAY) -> "SyncScheduler":
        with self._lock:
            self.state.next_run_at = self._clock() + min(first_delay, self.state.interval_seconds)
        self._thread = threading.Thread(target=self._loop, name="sync-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                wait = (self.state.next_run_at or 0) - self._clock()
            if wait > 0:
                self._stop.wait(min(wait, 1.0))
                continue
            self.run_once()
