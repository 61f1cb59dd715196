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


_PAGE_SECTION = "what the page showed"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """When a browser test fails, its report says what the page showed at that moment (address,
    script state, the main area's text, any exception box) and a screenshot is kept in
    test-artifacts/: a failure in CI is read from its log alone."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed or any(title == _PAGE_SECTION for title, _ in report.sections):
        return
    for value in getattr(item, "funcargs", {}).values():
        if type(value).__name__ == "Page" and type(value).__module__.startswith("playwright"):
            report.sections.append((_PAGE_SECTION, _page_state(value, item.name)))


def _page_state(page, test_name: str) -> str:
    from tests.app_support import ARTIFACTS

    lines = []
    try:
        lines.append(f"url: {page.url}")
        lines.append("script state: " + str(page.evaluate(
            "() => document.querySelector(\"[data-testid='stApp']\")?.dataset.testScriptState ?? null")))
        for kind in ("stException", "stAlert", "stDownloadButtonError"):
            for text in page.locator(f"[data-testid='{kind}']").all_inner_texts():
                lines.append(f"{kind}: {text.strip()[:500]}")
        lines.append("main: " + page.locator("[data-testid='stMain']").first.inner_text(timeout=2000)[:3000])
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"failed_{test_name[:80]}.png"), full_page=True, timeout=5000)
    except Exception as error:  # a closed page or browser: say so, keep the original failure
        lines.append(f"(could not read the page: {type(error).__name__}: {error})"[:500])
    return "\n".join(lines)
