"""How many page reads a backfill keeps in flight: enough to use the request budget, no more.

By Little's law the requests in flight equal the request rate times the time one request
takes. A backfill that should reach `per_second` requests therefore needs about
`per_second x seconds per request` reads under way at once: 12 at 80 requests/s and 150 ms,
3 at 20 requests/s; a margin covers the work each thread does on its page between requests.
The round trip is measured while the sync runs (without the time spent waiting for the
budget), so a slow network gets more reads in flight and a fast one fewer; the rate limiter
keeps the rate itself within Stripe's limit whatever the concurrency. The work on a page is
deliberately left out of the measurement: on a busy machine it grows with the number of
threads competing for the interpreter, and counting it would add threads that make it worse.
A fixed `SYNC_CONCURRENCY` overrides the estimate.
"""

from __future__ import annotations

import contextlib
import math
import threading
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
    """Admits page reads while fewer than `limit` are under way. `round_trips` gives the
    calling thread's (round trips, seconds they took) so far, as
    `RequestStats.thread_round_trips` does; `fixed` pins the limit (the SYNC_CONCURRENCY override)."""

    def __init__(self, per_second: float, round_trips: Callable[[], tuple[int, float]], *,
                 fixed: int | None = None) -> None:
        self.per_second = per_second
        self.fixed = fixed
        self._round_trips = round_trips
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
        trips_before, seconds_before = self._round_trips()
        try:
            yield
        finally:
            trips_after, seconds_after = self._round_trips()
            with self._changed:
                self._in_flight -= 1
                if trips_after > trips_before:
                    self.measured((seconds_after - seconds_before) / (trips_after - trips_before))
                self._changed.notify_all()

    def measured(self, seconds_per_request: float) -> None:
        """Fold one measurement into the running average and set the limit from it."""
        self.seconds_per_request += SMOOTHING * (seconds_per_request - self.seconds_per_request)
        if self.fixed is None:
            self.limit = in_flight_for(self.per_second, self.seconds_per_request)
