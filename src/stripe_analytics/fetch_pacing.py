"""How many page reads a backfill keeps in flight: enough to use the request budget, no more.

By Little's law the requests in flight equal the request rate times the time one request
takes. A backfill that should reach `per_second` requests therefore needs about
`per_second x seconds per request` reads under way at once: 12 at 80 requests/s and 150 ms,
3 at 20 requests/s. The time per request is measured while the sync runs (the round trip
plus the work on the page, without the time spent waiting for the budget), so a slow network
or a busy machine gets more reads in flight and a fast one fewer; the rate limiter keeps the
rate itself within Stripe's limit whatever the concurrency. A fixed `SYNC_CONCURRENCY`
overrides the estimate.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from typing import Callable, Iterator

MAX_IN_FLIGHT = 32  # each read holds a parsed page (up to ~10 MB for invoices): memory follows it
MIN_IN_FLIGHT = 2
INITIAL_SECONDS_PER_REQUEST = 0.25  # a cautious guess until the first reads are measured
HEADROOM = 1.5  # the time per request varies; a margin keeps the budget used when it does
SMOOTHING = 0.2  # weight of the newest measurement in the running average


def in_flight_for(per_second: float, seconds_per_request: float) -> int:
    """Reads to keep in flight for `per_second` requests taking `seconds_per_request` each."""
    wanted = math.ceil(per_second * seconds_per_request * HEADROOM) + 1
    return max(MIN_IN_FLIGHT, min(MAX_IN_FLIGHT, wanted))


class InFlightGate:
    """Admits page reads while fewer than `limit` are under way. `usage` gives the calling
    thread's (requests admitted, seconds waited for the budget) so far, as
    `RateLimiter.thread_usage` does; `fixed` pins the limit (the SYNC_CONCURRENCY override)."""

    def __init__(self, per_second: float, usage: Callable[[], tuple[int, float]], *,
                 fixed: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self.fixed = fixed
        self._usage = usage
        self._clock = clock
        self.seconds_per_request = INITIAL_SECONDS_PER_REQUEST
        self.limit = fixed or in_flight_for(per_second, self.seconds_per_request)
        self.peak = 0
        self._in_flight = 0
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        """One page read (its requests and the work on its objects) counted as in flight."""
        with self._changed:
            while self._in_flight >= self.limit:
                self._changed.wait()
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
        requests_before, waited_before = self._usage()
        began = self._clock()
        try:
            yield
        finally:
            requests_after, waited_after = self._usage()
            busy = self._clock() - began - (waited_after - waited_before)
            with self._changed:
                self._in_flight -= 1
                if requests_after > requests_before:
                    self.measured(busy / (requests_after - requests_before))
                self._changed.notify_all()

    def measured(self, seconds_per_request: float) -> None:
        """Fold one measurement into the running average and set the limit from it."""
        self.seconds_per_request += SMOOTHING * (seconds_per_request - self.seconds_per_request)
        if self.fixed is None:
            self.limit = in_flight_for(self.per_second, self.seconds_per_request)
