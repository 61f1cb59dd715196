"""Helpers shared by the dashboard's tests (AppTest and browser): a small demo account
built once per test process, and an environment that isolates the app from the developer's
own settings."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable, Iterator
from urllib.error import URLError
from urllib.request import urlopen

from stripe_analytics.ui.first_paint import HELD_SELECTOR

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
SERVER = ROOT / "serve.py"  # what `make run` starts: app.py, warmed up before the first visitor
ARTIFACTS = ROOT / "test-artifacts"
DEMO_CUSTOMERS = 200
CHROMIUM_PATH = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def require_chromium() -> None:
    """Browser tests need Debian's chromium. In CI (.ci/run installs it) its absence is a
    failure; on a developer machine without it the browser tests are skipped, saying why."""
    import pytest

    if CHROMIUM_PATH.exists():
        return
    message = "Debian's chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
_LOCK = threading.Lock()
_DEMO: dict[str, Path] = {}


def small_demo() -> Path:
    """Path of a 200-customer demo cache (built once per test process, then copied)."""
    with _LOCK:
        if "path" not in _DEMO:
            from stripe_analytics.demo_cache import build_demo_cache

            folder = Path(tempfile.mkdtemp(prefix="sa-demo-"))
            path = folder / "demo.duckdb"
            build_demo_cache(path, seed=0, customers=DEMO_CUSTOMERS)
            _DEMO["path"] = path
        return _DEMO["path"]


def data_dir_with_demo(target: Path) -> Path:
    """A DATA_DIR holding a copy of the small demo as demo.duckdb."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(small_demo(), target / "demo.duckdb")
    return target


def app_env(data_dir: Path, workdir: Path, **extra: str) -> dict[str, str]:
    """Environment variables for a run of the app that reads nothing of the developer's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SYNC_", "DATA_DIR"))}
    env.update({"DATA_DIR": str(data_dir), "STREAMLIT_SECRETS_FILE": str(workdir / "no-secrets.toml")})
    env.update(extra)
    return env


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(env: dict[str, str], log_path: Path, *, port: int | None = None, timeout: float = 60,
              address: str = "127.0.0.1", secrets_files: list[Path] | None = None,
              command: Callable[[int], list[str]] | None = None, cwd: Path | None = None,
              base_path: str = "") -> Iterator[str]:
    """`streamlit run serve.py` (as `make run` does) on a port (a free one unless given) of `address` (loopback
    unless given) with `env` and Streamlit's own secrets files (`[auth]`; default: the app's STREAMLIT_SECRETS_FILE,
    never the developer's);
    yields its base URL once /_stcore/health answers, and stops the whole process group afterwards.
    `command(port)` replaces that command line (e.g. an installed `stripe-analytics serve`), run in `cwd`.
    `base_path`: serve under that `server.baseUrlPath` (the URL yielded includes it)."""
    import pytest

    port = port or free_port()
    url = f"http://127.0.0.1:{port}" + (f"/{base_path.strip('/')}" if base_path.strip("/") else "")
    with open(log_path, "wb") as log:
        if command is None:
            argv = ([sys.executable, "-m", "streamlit", "run", str(SERVER), "--server.port", str(port),
                     "--server.address", address, "--server.headless", "true", "--browser.gatherUsageStats", "false"]
                    + [f"--secrets.files={path}" for path in (secrets_files or [env["STREAMLIT_SECRETS_FILE"]])]
                    + ([f"--server.baseUrlPath={base_path}"] if base_path else []))
        else:
            argv = command(port)
        proc = subprocess.Popen(argv, cwd=cwd or APP.parent, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"streamlit exited: {Path(log_path).read_text(errors='replace')[-2000:]}")
                try:
                    with urlopen(f"{url}/_stcore/health", timeout=1) as response:
                        if response.status == 200:
                            break
                except (URLError, OSError):
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"streamlit did not start within {timeout:.0f} s")
                time.sleep(0.2)
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def overview_in_chromium(url: str, screenshot: str) -> tuple[str, str]:
    """Opens the served app's home page (the Overview) in headless Chromium as a visitor would, waits
    for its tiles and the end of its run, and opens its "Definitions" expander.
    Returns (the page's text, the expander's text); saves a screenshot in test-artifacts/."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM_PATH), args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1440, "height": 1000})
            tab.goto(url + "/")
            tab.wait_for_selector("[data-testid='saTile']", timeout=60_000)
            tab.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
            text = tab.locator("[data-testid='stMain']").inner_text()
            expander = tab.locator("[data-testid='stExpander']").filter(has_text="Definitions").first
            expander.locator("summary").click()
            tab.wait_for_timeout(500)
            definitions_text = expander.inner_text()
            ARTIFACTS.mkdir(exist_ok=True)
            tab.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
        finally:
            browser.close()
    return text, definitions_text


# ----------------------------------------------------------------------------- browser runs

# Installed once per document by `settle_run`: the time of the last input the page received
# (Playwright's clicks, keys and fills are real input events) and of the last end of a script run.
_RUN_TRACKER = """() => {
  if (window.__saRuns) return true;
  const app = document.querySelector("[data-testid='stApp']");
  if (!app) return false;
  // nothing seen before the first call: "settled" is then "not running", as it always was
  const runs = window.__saRuns = {input: -1, ended: -1};
  for (const type of ["pointerdown", "keydown", "input", "change"])
    document.addEventListener(type, () => { runs.input = performance.now(); }, true);
  new MutationObserver(records => {
    for (const record of records)
      if (record.oldValue === "running") runs.ended = performance.now();
  }).observe(app, {attributes: true, attributeFilter: ["data-test-script-state"], attributeOldValue: true});
  return true;
}"""
# Settled: no run going, and a run has ended since the last input, or none began within
# RUN_START_GRACE ms of it (an input that starts no run: typing into a box, opening a list).
_SETTLED = """grace => {
  const app = document.querySelector("[data-testid='stApp']");
  const runs = window.__saRuns;
  if (!app || app.dataset.testScriptState === "running") return false;
  if (!runs) return true;  // a new document (a reload, a redirect): its tracker starts with the next call
  return runs.ended >= runs.input || performance.now() - runs.input > grace;
}"""
RUN_START_GRACE = 1500
_DRAWN = """() => !document.querySelector("[data-testid='stElementContainer'] [data-testid='stSkeleton']")"""


def settle_run(tab, timeout: float) -> None:
    """Wait until the script run that the last action on `tab` started has ended. Under load a
    run can begin well after the click that asked for it, so "not running right now" is not
    enough: the page records its inputs and the ends of its runs (`_RUN_TRACKER`) and this waits
    for a run that ended after the last input (or for none to begin within RUN_START_GRACE ms)."""
    from playwright.sync_api import Error as PlaywrightError

    tab.wait_for_timeout(300)  # as before: a run asked for by the last action has usually begun
    deadline = time.monotonic() + timeout / 1000
    while True:
        try:  # a click that leaves the page (a sign-in, a redirect) replaces the document meanwhile
            if tab.evaluate(_RUN_TRACKER):
                tab.wait_for_function(_SETTLED, arg=RUN_START_GRACE, polling=50,
                                      timeout=max(1.0, deadline - time.monotonic()) * 1000)
                break
        except PlaywrightError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError("the app never appeared on the page")
        tab.wait_for_timeout(50)
    tab.wait_for_timeout(300)
    tab.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)
    # An element whose code is still loading is drawn as a skeleton (Streamlit loads each kind
    # of element's code on its first use in a page): under load a run's last elements can reach
    # the screen well after the run has ended.
    tab.wait_for_function(_DRAWN, polling=50, timeout=timeout)


def wait_for_first_run(tab, timeout: float) -> None:
    """After opening a page: wait until its first script run has drawn something (before that
    the app says "not running" too), then until the run has ended."""
    tab.wait_for_selector("[data-testid='stMain'] [data-testid='stElementContainer'], "
                          "[data-testid='stSidebar'] [data-testid='stElementContainer'], "
                          "[data-testid='stDialog']", state="attached", timeout=timeout)
    settle_run(tab, timeout)
    # A visit's first run holds its charts back until the browser has painted it; the run that
    # draws them follows on its own (stripe_analytics.ui.first_paint).
    if tab.locator(HELD_CHART).count():
        tab.wait_for_selector(HELD_CHART, state="detached", timeout=timeout)
        settle_run(tab, timeout)


HELD_CHART = HELD_SELECTOR  # a chart a visit's first run holds back


def main_text(tab) -> str:
    """What the page's main area says (not the sidebar)."""
    return tab.locator("[data-testid='stMain']").inner_text()


def no_exception(tab) -> None:
    assert tab.locator("[data-testid='stException']").count() == 0, tab.locator(
        "[data-testid='stException']").first.inner_text()


def wait_for_text(tab, pattern: str, timeout: float = 90_000) -> str:
    """The main area's text once `pattern` (a regular expression) is in it: under load a run's last
    elements can reach the screen after the run has ended."""
    deadline = time.monotonic() + timeout / 1000
    while True:
        text = main_text(tab)
        if re.search(pattern, text):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{pattern!r} never appeared; the page says:\n{text}")
        tab.wait_for_timeout(300)


@dataclass
class Tile:
    """A KPI tile as the browser shows it (`stripe_analytics.tiles.tile_html`): its texts, the
    hover text of its "?", the delta's colour class ("up", "down", "off") and whether a sparkline
    is drawn."""
    label: str = ""
    value: str = ""
    delta: str | None = None
    help: str | None = None
    tone: str | None = None
    sparkline: bool = False
    _in: list = field(default_factory=list, repr=False)


class _TileParser(HTMLParser):
    FIELDS = {"saTileValue": "value", "saTileDelta": "delta"}

    def __init__(self, test_id: str) -> None:
        super().__init__()
        self.test_id = test_id
        self.tiles: list[Tile] = []
        self.stack: list[str | None] = []  # the field each open element's text goes to

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        test_id = attrs.get("data-testid")
        if test_id and test_id.startswith(self.test_id):
            test_id = "saTile" + test_id[len(self.test_id):]
        where = self.stack[-1] if self.stack else None
        if test_id == "saTile":
            self.tiles.append(Tile())
        elif test_id == "saTileLabel":
            where = "label"
        elif test_id in self.FIELDS:
            where = self.FIELDS[test_id]
            if test_id == "saTileDelta":
                self.tiles[-1].delta = ""
                self.tiles[-1].tone = next(c[3:] for c in attrs.get("class", "").split() if c.startswith("sa-")
                                           and c != "sa-tile-delta")
        if "data-help" in attrs:
            self.tiles[-1].help, where = attrs["data-help"], None  # the "?" itself is no text of the label
        if tag in ("img", "svg") and "sa-spark" in attrs.get("class", ""):
            self.tiles[-1].sparkline, where = True, None
        self.stack.append(where)

    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        where = self.stack[-1] if self.stack else None
        if where and self.tiles:
            setattr(self.tiles[-1], where, (getattr(self.tiles[-1], where) or "") + data)


def parse_tiles(html: str, test_id: str = "saTile") -> list[Tile]:
    """The tiles in `html` (`test_id`: their test id, which their parts' ids start with)."""
    parser = _TileParser(test_id)
    parser.feed(html)
    return parser.tiles


def kpi_tiles(at) -> list[Tile]:
    """The KPI tiles an AppTest run drew (each is one `st.html`)."""
    return [tile for element in at.html for tile in parse_tiles(element.value)]
