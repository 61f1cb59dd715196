"""Dashboard benchmark: per page, the script rerun after a filter change, and the first paint
of the Overview, on the default demo account (2000 customers).

Two measurements:
1. In a real browser (headless Debian Chromium via Playwright) against `streamlit run`:
   the Overview's first paint (navigation start to the first KPI tile on screen as Playwright
   sees it, to the tile painted as the page itself records it, whether the server wrote it into
   the page (ui/first_view.py) or the app drew it, to the first tile the app drew, and to the
   end of the first script run) on a freshly started server, beside the same for the bare `app.py` and for a
   minimal Streamlit app with four tiles (Streamlit's own floor here), then for each page the time from picking another
   currency in the sidebar to the end of the rerun (beside the same click on the minimal app), and the bytes the server sent the browser
   for the page (its first load: websocket messages and HTTP responses as transferred; each
   currency change: websocket messages), counted by Chromium's DevTools protocol, and the CPU
   time the browser and the server spent on each change (from /proc: on a machine shared with
   other work the wall-clock times swing, the CPU each change costs much less).
2. AppTest (in-process script timing) per page: the rerun after a filter change to values
   never computed before (the metrics engine re-aggregates) and to values seen before
   (served from the caches).

    .venv/bin/python bench/bench_app.py [--customers 2000] [--data-dir DIR | --db CACHE] [--rounds 3] [--paint-runs 5]
        [--skip-browser | --skip-apptest] [--pages overview,revenue,mrr]

The demo cache is built once into bench/results/app-demo-<customers>/ (git-ignored).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import sys
import time
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from cpu_time import tree_cpu_seconds  # noqa: E402
from stripe_analytics.ui.first_paint import HELD_SELECTOR  # noqa: E402

PAGES = [("", "Overview", "overview"), ("revenue", "Revenue", "revenue"), ("mrr", "MRR & growth", "mrr"),
         ("retention", "Retention", "retention"), ("customers", "Customers", "customers"),
         ("payments", "Payments", "payments"), ("subscriptions", "Subscriptions", "subscriptions"),
         ("products", "Products", "products"), ("explore", "Explore", "explore"), ("data", "Data", "data"),
         ("account", "Account", "account")]
SERVED = "serve.py"  # what `make run` starts
# The least a Streamlit page with KPI tiles costs on this machine, measured the same way: what no
# change of ours can go below.
MINIMAL_CODES = ["usd", "eur"]
MINIMAL_APP = f"""import streamlit as st
st.sidebar.selectbox("Currency", {MINIMAL_CODES!r}, format_func=str.upper)
st.title("Overview")
for column in st.columns(4):
    column.metric("MRR", "$1,234.00", "+5.0%", border=True)
"""
MONTH_PICK = "MRR: Who moved's month"  # a page-local picker, not a sidebar filter
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def ensure_demo(data_dir: Path, customers: int) -> Path:
    path = data_dir / "demo.duckdb"
    if not path.exists():
        from stripe_analytics.demo_cache import build_demo_cache

        data_dir.mkdir(parents=True, exist_ok=True)
        print(f"building the demo account ({customers} customers) in {path} ...", flush=True)
        build_demo_cache(path, customers=customers)
    return path


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SYNC_"))}
    env["DATA_DIR"] = str(data_dir)
    env["STREAMLIT_SECRETS_FILE"] = str(data_dir / "no-secrets.toml")
    return env


def currencies(path: Path) -> list[str]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT lower(currency), count(*) FROM subscriptions GROUP BY 1 ORDER BY 2 DESC").fetchall()
    return [r[0] for r in rows]


# ----------------------------------------------------------------------------- browser

# A KPI tile's value on screen: the first view's that the server writes into the Overview's page
# (ui/first_view.py), the app's own tiles (stripe_analytics.tiles), the minimal app's st.metric.
TILE_VALUE = "[data-testid='saFirstViewTileValue'], [data-testid='saTileValue'], [data-testid='stMetricValue']"
# The same, drawn by the app (under Streamlit's root element).
APP_TILE_VALUE = "#root [data-testid='saTileValue'], #root [data-testid='stMetricValue']"
# Records (performance.now(), ms since navigation start) when the first KPI tile is in the DOM
# and the first frame after that and after its font is loaded when the browser draws its text
# invisible until then (requestAnimationFrame, then a task: the tile is painted): `painted` for
# any tile, `app_painted` for the app's.
PAINT_PROBE = """
(() => {
  const seen = window.__saFirstTile = {};
  const check = () => {
    for (const [name, selector] of [["painted", "%s"], ["app_painted", "%s"]]) {
      if (seen[name] !== undefined || seen[name + "_pending"]) continue;
      const tile = document.querySelector(selector);
      if (tile && tile.getBoundingClientRect().height > 0) {
        seen[name + "_pending"] = true;
        const painted = () => requestAnimationFrame(() => setTimeout(() => { seen[name] = performance.now(); }, 0));
        const style = getComputedStyle(tile), family = style.fontFamily.split(",")[0].trim().replace(/^["']|["']$/g, "");
        // a font shown in a fallback until it is loaded ("swap") keeps nothing invisible
        const hides = [...document.fonts].some((face) => face.family.replace(/^["']|["']$/g, "") === family
                                                         && (face.display === "auto" || face.display === "block"));
        (hides ? document.fonts.load(style.font, tile.textContent) : Promise.resolve()).then(painted, painted);
      }
    }
  };
  new MutationObserver(check).observe(document, {subtree: true, childList: true, attributes: true});
  document.addEventListener("DOMContentLoaded", check);
})();
""" % (TILE_VALUE, APP_TILE_VALUE)
APP_TILE_FRESH = "Overview, first tile drawn by the app, painted (fresh server, page clock)"
APP_TILE_RELOAD = "Overview, first tile drawn by the app, painted (reload, warm server, page clock)"

# A chart that a visit's first run holds back.
HELD_CHART = HELD_SELECTOR
# The Overview's first visit over: its first run and the run that draws the charts it held back
# (until session 10 there was one run, and this line said "first script run complete").
PAGE_DRAWN = "Overview, first visit's runs complete, charts drawn (fresh server)"

# Click -> done on the page's own clock: from the press on the option (armed by the bench just
# before it clicks) to the app's script state going back to "notRunning" after a run. This leaves
# out what Playwright adds around a click (waiting for the opening list to stop moving, its
# polling of the page), which under load is 60-150 ms of the wall-clock figure. A run the page
# never shows as running (its start and end drawn in one frame) ends with its last message from
# the server (`lastMessage`; the pages' freshness check asks over HTTP, not the websocket).
CLICK_PROBE = """
(() => {
  const click = window.__saClick = {armed: false, at: null, running: false, done: null, lastMessage: null};
  click.arm = () => Object.assign(click, {armed: true, at: null, running: false, done: null, lastMessage: null});
  document.addEventListener("pointerdown", () => {
    if (click.armed) Object.assign(click, {armed: false, at: performance.now()});
  }, true);
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (!this.__saHeard) {
      this.__saHeard = true;
      this.addEventListener("message", () => { if (click.at !== null) click.lastMessage = performance.now(); });
    }
    return send.call(this, data);
  };
  const watch = () => {
    const app = document.querySelector("[data-testid='stApp']");
    if (!app) return setTimeout(watch, 20);
    new MutationObserver((changes) => {
      if (click.at === null || click.done !== null) return;
      const state = app.dataset.testScriptState;
      // a run shorter than the observer's delay is seen only in the value the attribute had
      if (state === "running" || changes.some((change) => change.oldValue === "running")) click.running = true;
      if (state === "notRunning" && click.running) click.done = performance.now();
    }).observe(app, {attributes: true, attributeFilter: ["data-test-script-state"], attributeOldValue: true});
  };
  document.addEventListener("DOMContentLoaded", watch);
})();
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ByteCounter:
    """Bytes the browser received, from Chromium's DevTools protocol: websocket message
    payloads (Streamlit's deltas; binary frames arrive base64-encoded) and HTTP responses as
    transferred (`encodedDataLength`: compressed, headers included; 0-ish when cached)."""

    def __init__(self, tab) -> None:
        self.websocket = 0
        self.http = 0
        cdp = tab.context.new_cdp_session(tab)
        cdp.on("Network.webSocketFrameReceived", self._frame)
        cdp.on("Network.loadingFinished", self._loaded)
        cdp.send("Network.enable")

    def _frame(self, event: dict) -> None:
        response = event.get("response", {})
        payload = response.get("payloadData", "")
        # opcode 1: text; otherwise (Streamlit's binary messages) base64 of the bytes
        self.websocket += len(payload.encode()) if response.get("opcode") == 1 else len(base64.b64decode(payload))

    def _loaded(self, event: dict) -> None:
        self.http += int(event.get("encodedDataLength") or 0)

    def take(self) -> tuple[int, int]:
        """(websocket, http) bytes since the last call."""
        out = (self.websocket, self.http)
        self.websocket = self.http = 0
        return out


def settle(tab) -> None:
    """Until the app's script run is over."""
    tab.wait_for_function(
        "() => document.querySelector(\"[data-testid='stApp']\")?.dataset.testScriptState === 'notRunning'",
        polling=10, timeout=120_000)


def click_and_time(tab, option) -> tuple[float, float | None]:
    """Click `option` (a tab with CLICK_PROBE), wait for the rerun it starts: (wall clock, page
    clock) seconds; a run the page never showed as running ends at its last message, and the page
    clock is None when no message came at all."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    tab.evaluate("window.__saClick.arm()")
    start = time.perf_counter()
    option.click()
    try:  # the rerun starts a few ms after the click
        tab.wait_for_function("() => window.__saClick.running", polling=5, timeout=2_000)
    except PlaywrightTimeout:
        pass
    settle(tab)
    wall = time.perf_counter() - start
    tab.wait_for_timeout(100)  # the last frames' events reach us after the page settles
    at, done, last = tab.evaluate("[window.__saClick.at, window.__saClick.done, window.__saClick.lastMessage]")
    end = done if done is not None else last  # a run never shown running: its last message
    return wall, (end - at) / 1000 if at is not None and end is not None else None


def browser_bench(data_dir: Path, codes: list[str], rounds: int, pages: list[tuple[str, str, str]] = PAGES
                  ) -> tuple[dict, dict, dict]:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    timing_file = data_dir / "script-timing.tsv"
    timing_file.unlink(missing_ok=True)
    env = {**env_for(data_dir), "STRIPE_ANALYTICS_TIMING": str(timing_file)}

    def cpu() -> tuple[float, float]:
        return tree_cpu_seconds(os.getpid(), "chrom"), tree_cpu_seconds(proc.pid)

    def last_script_time() -> float:
        lines = timing_file.read_text().splitlines() if timing_file.exists() else []
        return float(lines[-1].split("\t")[1]) if lines else float("nan")
    first: dict[str, float] = {}
    # wall, script, browser CPU, server CPU, click -> done on the page's clock
    reruns: dict[str, list[tuple[float, float, float, float, float]]] = {}
    # page -> ((websocket, http) bytes of its load, websocket bytes per currency change)
    sent: dict[str, tuple[tuple[int, int], list[int]]] = {}
    with served_tab(SERVED, env, PAINT_PROBE, CLICK_PROBE) as (tab, url, proc):
        counter = ByteCounter(tab)

        start = time.perf_counter()
        tab.goto(url, wait_until="commit")  # not until "load": a tile can come sooner
        tab.wait_for_selector(TILE_VALUE, timeout=120_000)
        first["Overview, first KPI tile on screen (fresh server)"] = time.perf_counter() - start
        tab.wait_for_selector(APP_TILE_VALUE, timeout=120_000)  # the app's first run under way
        settle(tab)
        tab.wait_for_selector(HELD_CHART, state="detached", timeout=120_000)  # and the run of its charts
        settle(tab)
        first[PAGE_DRAWN] = time.perf_counter() - start
        tab.wait_for_load_state("networkidle")  # the modules the charts load after the run
        sent["Overview, first visit"] = (counter.take(), [])
        probe = tab.evaluate("window.__saFirstTile || {}")
        if "painted" in probe:
            # Playwright checks visibility from the page's main thread, which is busy parsing
            # Plotly's bundle right after the tiles arrive; the probe sees them drawn sooner.
            first["Overview, first KPI tile painted (fresh server, page clock)"] = probe["painted"] / 1000
        if "app_painted" in probe:
            first[APP_TILE_FRESH] = probe["app_painted"] / 1000
        first.update(timed_reload(tab))
        settle(tab)
        tab.wait_for_selector(HELD_CHART, state="detached", timeout=120_000)  # and the run of its charts
        settle(tab)
        tab.wait_for_load_state("networkidle")
        sent["Overview, reload"] = (counter.take(), [])

        def timed_click(option) -> tuple[tuple[float, float, float, float, float], int]:
            """Click `option`, wait for the rerun it starts: ((wall, script, browser CPU,
            server CPU, page clock) seconds, websocket bytes)."""
            cpu_before = cpu()
            wall, page_clock = click_and_time(tab, option)
            browser_cpu, server_cpu = (after - before for after, before in zip(cpu(), cpu_before))
            # no message after the click (no run seen at all): the wall clock
            page_clock = wall if page_clock is None else page_clock
            return (wall, last_script_time(), browser_cpu, server_cpu, page_clock), counter.take()[0]

        def open_page(path: str) -> tuple[int, int]:
            counter.take()
            tab.goto(f"{url}/{path}")
            tab.wait_for_timeout(200)
            settle(tab)
            # a visit's first run holds its charts back; the run that draws them follows
            tab.wait_for_selector(HELD_CHART, state="detached", timeout=120_000)
            tab.wait_for_timeout(200)
            settle(tab)
            tab.wait_for_timeout(100)
            return counter.take()

        for path, title, _ in pages:
            first_load = open_page(path)
            measured = []
            for i in range(rounds * 2):
                code = codes[(i + 1) % len(codes)]
                tab.get_by_role("combobox", name="Currency", exact=True).click()
                measured.append(timed_click(tab.get_by_role("option", name=code.upper(), exact=True)))
            reruns[title] = [m[0] for m in measured]
            sent[title] = (first_load, [m[1] for m in measured])
        open_page("mrr")
        measured = []
        for i in range(rounds * 2):
            options = tab.get_by_role("option")
            for _ in range(5):  # a click just after the page arrived can be undone by its redraw
                month = tab.get_by_role("combobox", name="Month", exact=True)
                # at the top of the window, so that its list opens within it (lower down, the
                # list's last options can fall below the window, where they cannot be clicked)
                month.evaluate("element => element.scrollIntoView({block: 'start'})")
                month.click()
                try:
                    options.last.wait_for(timeout=2_000)
                    break
                except PlaywrightTimeout:
                    tab.keyboard.press("Escape")
            measured.append(timed_click(options.nth(options.count() - 2 - i % 2)))  # the last months but one
        reruns[MONTH_PICK] = [m[0] for m in measured]
        sent[MONTH_PICK] = ((0, 0), [m[1] for m in measured])
    return first, reruns, sent


def timed_reload(tab) -> dict[str, float]:
    """A reload of the open page (the server and the browser's cache warm): the first KPI tile
    on screen as Playwright sees it and painted on the page's own clock."""
    start = time.perf_counter()
    tab.reload(wait_until="commit")
    tab.wait_for_selector(TILE_VALUE, timeout=120_000)
    out = {"Overview, first KPI tile on screen (reload, warm server)": time.perf_counter() - start}
    tab.wait_for_function("() => (window.__saFirstTile || {}).app_painted !== undefined", polling=10,
                          timeout=30_000)
    out["Overview, first KPI tile painted (reload, warm server, page clock)"] = \
        tab.evaluate("window.__saFirstTile.painted") / 1000
    out[APP_TILE_RELOAD] = tab.evaluate("window.__saFirstTile.app_painted") / 1000
    return out


@contextlib.contextmanager
def served_tab(entry: str, env: dict[str, str], *init_scripts: str):
    """A freshly started `streamlit run <entry>` and a new headless Chromium tab (running
    `init_scripts` in every page): (tab, url, server process). Both are stopped after."""
    from playwright.sync_api import sync_playwright

    port = _free_port()
    proc = start_server(entry, port, env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            tab = browser.new_page(viewport={"width": 1440, "height": 1000})
            for script in init_scripts:
                tab.add_init_script(script)
            yield tab, url, proc
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def start_server(entry: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    """`streamlit run <entry>`: serve.py (what `make run` serves: warmed up before the first
    visitor) or app.py (the bare script, for comparison)."""
    return subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / entry), "--server.port",
                             str(port), "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def wait_until_healthy(url: str, timeout: float = 60) -> None:
    """Until /_stcore/health answers (serve.py answers once its warm-up is done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urlopen(f"{url}/_stcore/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the server at {url} did not answer within {timeout:.0f} s")


def fresh_first_paint(data_dir: Path, entry: str = SERVED) -> dict[str, float]:
    """One more first paint of the Overview on a freshly started server and a new browser."""
    out: dict[str, float] = {}
    with served_tab(entry, env_for(data_dir), PAINT_PROBE) as (tab, url, _):
        start = time.perf_counter()
        tab.goto(url, wait_until="commit")  # not until "load": a tile can come sooner
        tab.wait_for_selector(TILE_VALUE, timeout=120_000)
        out["Overview, first KPI tile on screen (fresh server)"] = time.perf_counter() - start
        tab.wait_for_selector(APP_TILE_VALUE, timeout=120_000)  # the app's first run under way
        for _ in range(2):  # the visit's first run, then the run of the charts it held back
            settle(tab)
            tab.wait_for_selector(HELD_CHART, state="detached", timeout=120_000)
        out[PAGE_DRAWN] = time.perf_counter() - start
        probe = tab.evaluate("window.__saFirstTile || {}")
        if "painted" in probe:
            out["Overview, first KPI tile painted (fresh server, page clock)"] = probe["painted"] / 1000
        if "app_painted" in probe:
            out[APP_TILE_FRESH] = probe["app_painted"] / 1000
        tab.wait_for_timeout(500)  # the charts' code still loading after the run; a user reloads later still
        out.update(timed_reload(tab))
    return out


def floor_reruns(data_dir: Path, minimal_app: Path, rounds: int) -> list[tuple[float, float | None]]:
    """Currency changes on the minimal Streamlit app, timed as the pages' are: Streamlit's own
    floor for a click on this machine, measured in the same run. (wall, page clock) seconds; its
    runs are so short that the page may draw one without ever showing it as running (None)."""
    measured = []
    with served_tab(str(minimal_app), env_for(data_dir), CLICK_PROBE) as (tab, url, _):
        tab.goto(url)
        tab.wait_for_selector(TILE_VALUE, timeout=120_000)
        settle(tab)
        tab.wait_for_timeout(500)
        for i in range(rounds * 2):
            tab.get_by_role("combobox", name="Currency", exact=True).click()
            option = tab.get_by_role("option", name=MINIMAL_CODES[(i + 1) % 2].upper(), exact=True)
            measured.append(click_and_time(tab, option))
    return measured


# ----------------------------------------------------------------------------- AppTest

def apptest_bench(data_dir: Path, codes: list[str], rounds: int) -> dict[str, tuple[float, float]]:
    os.environ.update(env_for(data_dir))
    for name in [n for n in os.environ if n.startswith("STRIPE_")]:
        del os.environ[name]
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    out = {}
    segments = at.session_state["_ctx"].options.segments
    seg_key = next(iter(segments)) if segments else None
    for _, title, name in PAGES:
        at.switch_page(f"pages/{name}_page.py").run()
        fresh, cached = [], []
        for i in range(rounds):
            # new values: a segment value not used before on this page (the engine re-aggregates)
            if seg_key:
                values = segments[seg_key]
                at.sidebar.selectbox(key="f_segment_key").set_value(seg_key).run()
                at.sidebar.selectbox(key="f_segment_value").set_value(values[(i + len(name)) % len(values)])
            start = time.perf_counter()
            at.run()
            fresh.append(time.perf_counter() - start)
            at.sidebar.selectbox(key="f_segment_key").set_value("").run()
            for code in codes[:2]:
                at.sidebar.selectbox(key="f_currency").set_value(code)
                start = time.perf_counter()
                at.run()
                cached.append(time.perf_counter() - start)
        assert not at.exception, (title, [e.value for e in at.exception])
        out[title] = (statistics.median(fresh), statistics.median(cached))
        at.sidebar.selectbox(key="f_currency").set_value(codes[0]).run()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--db", type=Path, default=None,
                        help="an existing cache to show as the demo account (e.g. the 100,000-customer one that "
                             "bench_metrics.py builds in data/bench/)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--skip-apptest", action="store_true", help="only the browser measurements")
    parser.add_argument("--pages", default="",
                        help="only these pages' currency changes, comma-separated (e.g. overview,revenue,mrr)")
    parser.add_argument("--paint-runs", type=int, default=1,
                        help="fresh servers measured for the Overview's first paint (medians reported)")
    args = parser.parse_args()
    data_dir = args.data_dir or ROOT / "bench" / "results" / f"app-demo-{args.customers}"
    if args.db:
        data_dir = Path(tempfile.mkdtemp(prefix="bench-app-"))
        (data_dir / "demo.duckdb").symlink_to(args.db.resolve())
    path = ensure_demo(data_dir, args.customers)
    codes = currencies(path)[:2]
    print(f"demo account: {path} ({args.customers} customers), currencies toggled: {', '.join(codes)}\n")

    if not args.skip_browser:
        wanted = {name.strip() for name in args.pages.split(",") if name.strip()}
        pages = [page for page in PAGES if not wanted or page[2] in wanted]
        first, reruns, sent = browser_bench(data_dir, codes, args.rounds, pages)
        samples = {label: [seconds] for label, seconds in first.items()}
        for _ in range(args.paint_runs - 1):
            for label, seconds in fresh_first_paint(data_dir).items():
                samples.setdefault(label, []).append(seconds)
        bare: dict[str, list[float]] = {}
        floor: dict[str, list[float]] = {}
        with tempfile.TemporaryDirectory(prefix="bench-floor-") as folder:
            minimal = Path(folder) / "minimal_app.py"
            minimal.write_text(MINIMAL_APP, encoding="utf-8")
            for _ in range(args.paint_runs):
                for label, seconds in fresh_first_paint(data_dir, "app.py").items():
                    bare.setdefault(label, []).append(seconds)
                for label, seconds in fresh_first_paint(data_dir, str(minimal)).items():
                    floor.setdefault(label, []).append(seconds)
            floor_clicks = floor_reruns(data_dir, minimal, args.rounds)
        runs = f", median (min-max) of {args.paint_runs} fresh servers" if args.paint_runs > 1 else ""
        for title, measured in ((f"`streamlit run {SERVED}` (make run: warmed up before the first visitor)", samples),
                                ("`streamlit run app.py` (no warm-up), for comparison", bare),
                                ("a minimal Streamlit app (one picker, four tiles): Streamlit's own floor", floor)):
            print(f"Browser (headless Chromium), first paint of the Overview{runs}: {title}")
            for label, values in measured.items():
                spread = (f"   ({min(values) * 1000:.0f}-{max(values) * 1000:.0f})"
                          if len(values) > 1 else "")
                print(f"  {label:<66} {statistics.median(values) * 1000:8.0f} ms{spread}")
        for label in samples:
            # "Overview, first KPI tile painted (reload, warm server, page clock)" -> "... painted, reload"
            short = label.split(" (")[0] + (", reload" if "(reload" in label else "")
            if label in bare:
                print(f"  ratio {SERVED} / app.py, {short}: "
                      f"{statistics.median(samples[label]) / statistics.median(bare[label]):.2f}x")
            if label in floor:
                print(f"  ratio {SERVED} / minimal app, {short}: "
                      f"{statistics.median(samples[label]) / statistics.median(floor[label]):.2f}x")
        print("\nBrowser: rerun after a currency change, warm (ms; median and max of "
              f"{len(next(iter(reruns.values())))} changes per page)")
        print(f"  {'page':<16} {'script median':>14} {'script max':>11} {'click→done median':>18} {'max':>7} "
              f"{'CPU: browser':>13} {'server':>7} {'page clock: median':>19} {'max':>7} {'÷ minimal app':>14}")
        seen = [t for t in floor_clicks if t[1] is not None]  # the others: no run seen, and a 2 s wait
        if not seen:
            raise SystemExit("no run of the minimal app was seen: no floor to compare with")
        floor_clock = statistics.median(t[1] for t in seen)

        def page_clock(times) -> str:
            clock = [t[4] for t in times]
            return (f"{statistics.median(clock) * 1000:19.0f} {max(clock) * 1000:7.0f} "
                    f"{statistics.median(clock) / floor_clock:13.2f}x")

        for title, times in reruns.items():
            script = [t[1] for t in times]
            total = [t[0] for t in times]
            if title == MONTH_PICK:
                print("  and picking another month in the MRR page's \"Who moved\" (which no other chart depends on):")
                print(f"  {'MRR, a month':<16} {'':>14} {'':>11} {statistics.median(total) * 1000:18.0f} "
                      f"{max(total) * 1000:7.0f} {statistics.median(t[2] for t in times) * 1000:13.0f} "
                      f"{statistics.median(t[3] for t in times) * 1000:7.0f} {page_clock(times)}")
                continue
            print(f"  {title:<16} {statistics.median(script) * 1000:14.0f} {max(script) * 1000:11.0f} "
                  f"{statistics.median(total) * 1000:18.0f} {max(total) * 1000:7.0f} "
                  f"{statistics.median(t[2] for t in times) * 1000:13.0f} "
                  f"{statistics.median(t[3] for t in times) * 1000:7.0f} {page_clock(times)}")
        clock = [t[1] for t in seen]
        # (no wall clock: a run it never shows as running is waited for 2 s, which the wall clock counts)
        print(f"  {'minimal app':<16} {'':>14} {'':>11} {'':>18} {'':>7} "
              f"{'':>13} {'':>7} {statistics.median(clock) * 1000:19.0f} {max(clock) * 1000:7.0f}")
        print(f"  (minimal app: the same currency change on the minimal Streamlit app, one picker and four tiles:\n"
              f"  Streamlit's own floor for a click here, {len(seen)} of {len(floor_clicks)} changes timed on its "
              f"clock; ÷ minimal app: a page's page-clock\n  median over it)")
        print("  (CPU: median ms of CPU time per change, the browser's processes and the server's, both with the "
              "pages'\n  freshness check, ui/live.py; page clock: from the press on the option to the end of the "
              "run,\n  timed by the page itself, without Playwright's own waiting around the click)")
        print("\nBrowser: bytes sent to the browser (kB; a page's load: websocket messages and HTTP responses "
              "as transferred,\n  the browser cache warm after the first visit; per currency change: websocket "
              "messages, median and max)")
        print(f"  {'page':<22} {'load: websocket':>15} {'http':>8} {'per change median':>18} {'max':>7}")
        for title, ((ws, http), changes) in sent.items():
            if title == MONTH_PICK:
                print(f"  {'MRR, a month':<22} {'':>15} {'':>8} {statistics.median(changes) / 1000:18.1f} "
                      f"{max(changes) / 1000:7.1f}")
                continue
            per_change = (f"{statistics.median(changes) / 1000:18.1f} {max(changes) / 1000:7.1f}" if changes
                          else f"{'':>18} {'':>7}")
            print(f"  {title:<22} {ws / 1000:15.1f} {http / 1000:8.1f} {per_change}")
        print()

    if args.skip_apptest:
        return 0
    timings = apptest_bench(data_dir, codes, args.rounds)
    print("AppTest: script rerun after a filter change (median of rounds, ms)")
    print(f"  {'page':<16} {'new values':>11} {'seen before':>12}")
    for title, (fresh, cached) in timings.items():
        print(f"  {title:<16} {fresh * 1000:11.0f} {cached * 1000:12.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
