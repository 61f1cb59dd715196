"""The one place a `StripeClient` is built: API base, pinned version, rate limit, retries."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import stripe

from .config import Settings

# The SDK is pinned (requirements.lock) and sends this version; pinning it here too makes
# the object shapes we parse independent of the account's default API version.
STRIPE_API_VERSION = "2026-10-28.endive"
MAX_BACKOFF_SECONDS = 20.0


class RateLimiter:
    """A token bucket shared by every thread that uses one client."""

    def __init__(self, per_second: float, burst: float | None = None, *, clock=time.monotonic, sleep=time.sleep):
        self.per_second = float(per_second)
        self.capacity = burst if burst is not None else max(1.0, self.per_second / 4)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.per_second)
                self._updated = now
                if self._tokens >= 1 - 1e-9:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.per_second
            self._sleep(wait)


@dataclass
class RequestStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _thread: threading.local = field(default_factory=threading.local, repr=False)

    def add(self, *, requests: int = 0, retries: int = 0, rate_limited: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.retries += retries
            self.rate_limited += rate_limited

    def add_round_trip(self, seconds: float) -> None:
        self._thread.round_trips = getattr(self._thread, "round_trips", 0) + 1
        self._thread.seconds = getattr(self._thread, "seconds", 0.0) + seconds

    def thread_round_trips(self) -> tuple[int, float]:
        """(round trips, seconds they took) of the calling thread so far, without the time
        spent waiting for the rate budget."""
        return getattr(self._thread, "round_trips", 0), getattr(self._thread, "seconds", 0.0)


class BudgetedHTTPClient(stripe.RequestsClient):
    """Requests-based client that waits for the rate budget before every attempt and also
    retries HTTP 429 (the SDK alone does not), honouring Retry-After, with jittered back-off."""

    def __init__(self, limiter: RateLimiter, stats: RequestStats, timeout: float = 80):
        super().__init__(timeout=timeout)
        self.limiter = limiter
        self.stats = stats
        self._retry_state = threading.local()

    def request(self, method, url, headers, post_data=None):
        self.limiter.acquire()
        self.stats.add(requests=1)
        began = time.monotonic()
        try:
            return super().request(method, url, headers, post_data)
        finally:
            self.stats.add_round_trip(time.monotonic() - began)

    def _should_retry(self, response, api_connection_error, num_retries, max_network_retries):
        self._retry_state.retry_after = None
        max_network_retries = max_network_retries or 0
        if num_retries >= max_network_retries:
            return False
        if response is not None:
            _, status_code, headers = response
            if status_code == 429:
                self.stats.add(rate_limited=1, retries=1)
                retry_after = headers.get("retry-after") if headers is not None else None
                try:
                    self._retry_state.retry_after = float(retry_after) if retry_after else None
                except ValueError:
                    self._retry_state.retry_after = None
                return True
        retry = super()._should_retry(response, api_connection_error, num_retries, max_network_retries)
        if retry:
            self.stats.add(retries=1)
        return retry

    def _sleep_time_seconds(self, num_retries: int) -> float:
        backoff = min(self.INITIAL_DELAY * (2 ** (num_retries - 1)), MAX_BACKOFF_SECONDS)
        backoff *= 0.5 + random.random() / 2
        retry_after = getattr(self._retry_state, "retry_after", None)
        return max(backoff, retry_after or 0.0, self.INITIAL_DELAY / 2)


@dataclass
class StripeAccess:
    client: stripe.StripeClient
    stats: RequestStats
    limiter: RateLimiter
    api_key_mode: str | None


def build_client(
    settings: Settings,
    *,
    api_key: str | None = None,
    stripe_account: str | None = None,
    max_network_retries: int | None = None,
) -> StripeAccess:
    """A StripeClient for these settings. `api_key` overrides the configured one (OAuth tokens);
    `stripe_account` sets the Stripe-Account header for Connect."""
    key = api_key or (settings.stripe_api_key.get_secret_value() if settings.stripe_api_key else None)
    if not key:
        raise stripe.AuthenticationError("No Stripe API key is configured.")
    limiter = RateLimiter(settings.requests_per_second)
    stats = RequestStats()
    client = stripe.StripeClient(
        key,
        stripe_account=stripe_account or settings.stripe_account,
        stripe_version=STRIPE_API_VERSION,
        base_addresses={"api": settings.stripe_api_base, "connect": settings.stripe_api_base},
        max_network_retries=(
            settings.stripe_max_network_retries if max_network_retries is None else max_network_retries
        ),
        http_client=BudgetedHTTPClient(limiter, stats),
    )
    from .config import key_mode

    return StripeAccess(client=client, stats=stats, limiter=limiter, api_key_mode=key_mode(key))


def redact(text: str) -> str:
    """Text with anything shaped like a Stripe secret (key, token, client secret) masked."""
    import re

    return re.sub(
        r"\b((?:sk|rk|pk)_(?:test|live)_|rt_|ac_|whsec_|sk_|rk_)[A-Za-z0-9_*]{4,}",
        lambda m: m.group(1) + "***",
        re.sub(r"(_secret_)[A-Za-z0-9]+", r"\1***", text),
    )
