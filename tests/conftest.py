"""Shared fixtures: an in-process fake Stripe, and the PyPI `localstripe` server as a subprocess."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from typing import Iterator

import pytest
import requests

from tests.fake_stripe import FakeStripe

FAKE_ACCOUNT = "acct_test_fake"


@pytest.fixture(autouse=True, scope="session")
def loopback_address():
    """In-process app runs (AppTest) see the listening address of the repository's own
    .streamlit/config.toml (127.0.0.1), whatever folder a test runs in; the tests of a shared
    address start a real server with another one."""
    from streamlit import config

    config.set_option("server.address", "127.0.0.1")
    yield
FAKE_KEY = "sk_test_fake_key"


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    """A started FakeStripe with one account (`acct_test_fake`, key `sk_test_fake_key`)."""
    with FakeStripe() as fake:
        fake.add_account(FAKE_ACCOUNT, key=FAKE_KEY)
        yield fake


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    """Base URL of a fresh `localstripe --from-scratch` (it accepts any sk_test_ key)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"localstripe did not start (exit {proc.returncode}):\n"
                                f"{log.read().decode(errors='replace')[-2000:]}")
                try:
                    requests.get(f"{url}/v1/customers", timeout=1, auth=("sk_test_probe", ""))
                    break
                except requests.ConnectionError:
                    time.sleep(0.1)
            yield url
        finally:
            proc.kill()
            proc.wait()
