import threading

import stripe

from stripe_analytics.config import Settings
from stripe_analytics.stripe_client import STRIPE_API_VERSION, RateLimiter, build_client, redact


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.lock = threading.Lock()

    def time(self):
        return self.now

    def sleep(self, seconds):
        with self.lock:
            self.now += seconds


def test_rate_limiter_spaces_requests_to_the_budget():
    clock = FakeClock()
    limiter = RateLimiter(5, burst=1, clock=clock.time, sleep=clock.sleep)
    for _ in range(11):
        limiter.acquire()
    # One token at start, then one every 1/5 s: ten more take two seconds.
    assert abs(clock.now - 2.0) < 1e-6


def test_rate_limiter_allows_a_burst_then_the_rate():
    clock = FakeClock()
    limiter = RateLimiter(10, burst=4, clock=clock.time, sleep=clock.sleep)
    for _ in range(4):
        limiter.acquire()
    assert clock.now == 0
    for _ in range(10):
        limiter.acquire()
    assert abs(clock.now - 1.0) < 1e-6


def test_client_factory_pins_version_base_and_account():
    settings = Settings(stripe_api_key="sk_test_1234567890abcdef", stripe_api_base="http://127.0.0.1:9",
                        stripe_max_requests_per_second=7)
    access = build_client(settings, stripe_account="acct_123")
    requestor = access.client._requestor
    assert requestor._options.stripe_version == STRIPE_API_VERSION
    assert requestor._options.stripe_account == "acct_123"
    assert requestor.base_addresses["api"] == "http://127.0.0.1:9"
    assert access.limiter.per_second == 7
    assert access.api_key_mode == "test"


def test_client_factory_without_key_is_an_authentication_error():
    try:
        build_client(Settings())
    except stripe.AuthenticationError as error:
        assert "No Stripe API key" in str(error)
    else:
        raise AssertionError("expected an AuthenticationError")


def test_redact_masks_keys_tokens_and_client_secrets():
    text = ("key sk_test_51AbCdEf0123456789 rk_live_zzzzYYYY1234 token rt_abcdef123456 "
            "secret pi_123_secret_abcdef")
    masked = redact(text)
    for secret in ("51AbCdEf0123456789", "zzzzYYYY1234", "abcdef123456", "_secret_abcdef"):
        assert secret not in masked
    assert "sk_test_***" in masked and "pi_123_secret_***" in masked
