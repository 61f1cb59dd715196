"""Helpers for the webhook tests and benchmark: a synced fake account, the served app with its
live parts, Stripe-signed requests, and reads of a cache another process writes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import requests
import stripe

from tests.app_support import APP, SERVER, app_env, free_port

KEY = "sk_test_webhook_tests_key_01"
SECRET = "whsec_webhook_tests_secret_new"
OLD_SECRET = "whsec_webhook_tests_secret_old"
ACCOUNT = "acct_synctest"  # tests.sync_accounts.build_account's id


def sign(body: str | bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    text = body.decode() if isinstance(body, bytes) else body
    return stripe.WebhookSignature.generate_signature_header(text, secret, timestamp)


def customer_event(n: int | str, created: int | None = None, email: str | None = None, account: str | None = None,
                   type: str = "customer.created") -> dict:
    created = created or int(time.time())
    event = {"id": f"evt_test_{n}", "object": "event", "type": type, "created": created, "livemode": False,
             "api_version": "2025-01-01", "pending_webhooks": 1,
             "data": {"object": {"id": f"cus_hook_{n}", "object": "customer", "created": created,
                                 "email": email or f"hook{n}@example.com", "name": f"Hook {n}", "livemode": False,
                                 "metadata": {}, "currency": "usd", "balance": 0, "delinquent": False}}}
    if account:
        event["account"] = account
    return event


def post(url: str, event: dict | str | bytes, *, secret: str = SECRET, session=None, headers: dict | None = None,
         timestamp: int | None = None, timeout: float = 10) -> requests.Response:
    body = event if isinstance(event, (str, bytes)) else json.dumps(event)
    sent = {"Content-Type": "application/json", "Stripe-Signature": sign(body, secret, timestamp)}
    sent.update(headers or {})
    return (session or requests).post(f"{url}/webhooks/stripe", data=body, headers=sent, timeout=timeout)


def live_env(data_dir: Path, workdir: Path, api_base: str, **extra: str) -> dict[str, str]:
    values = {"STRIPE_API_KEY": KEY, "STRIPE_API_BASE": api_base, "STRIPE_WEBHOOK_SECRET": f"{SECRET},{OLD_SECRET}",
              "STRIPE_MAX_REQUESTS_PER_SECOND": "1000", "SYNC_INTERVAL_MINUTES": "0"}
    values.update(extra)
    return app_env(data_dir, workdir, **values)


@contextlib.contextmanager
def live_server(env: dict[str, str], log_path: Path, *, timeout: float = 60) -> Iterator["LiveApp"]:
    """serve.py (as `make run`) on a free port; stopped (SIGTERM, then SIGKILL) afterwards."""
    app = LiveApp(env, log_path)
    app.start(timeout)
    try:
        yield app
    finally:
        app.stop()


class LiveApp:
    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 60) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", str(SERVER), "--server.port", str(port),
                 "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                cwd=APP.parent, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/_stcore/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("the server did not start")

    def kill(self) -> None:
        """kill -9 of the whole server (no shutdown code runs)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def health(self) -> requests.Response:
        return requests.get(f"{self.url}/healthz", timeout=10)

    def account_health(self, account: str = ACCOUNT) -> dict:
        return next(a for a in self.health().json()["accounts"] if a["account"] == account)

    def state(self) -> str:
        """What the server knew (its /healthz and its log's end), for a failed wait's message."""
        try:
            health = self.health().text
        except requests.RequestException as error:
            health = f"unreachable: {error}"
        log = self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""
        return f"/healthz: {health}\nserver log (end):\n{log}"


def wait_until(check: Callable[[], object], timeout: float = 30, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def query(path: Path, sql: str, params: list | None = None, timeout: float = 30) -> list[tuple]:
    """Rows from a cache another process writes (retried while the writer holds the file)."""
    from stripe_analytics.cache import Cache, CacheError

    deadline = time.monotonic() + timeout
    while True:
        try:
            with Cache.open(path, read_only=True) as cache:
                return cache.con.execute(sql, params or []).fetchall()
        except CacheError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
