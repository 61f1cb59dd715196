"""The server's start-up warm-up (`serve.py` -> `ui.warmup`): it computes what the first
visitor's Overview reads, through the app's own caches, starts the demo's build in the
background when there is none, and never fails the server; and `streamlit run serve.py` serves the dashboard."""

from __future__ import annotations

import os
from urllib.request import urlopen

import pytest
from streamlit.testing.v1 import AppTest

from stripe_analytics.metrics import MetricsEngine
from stripe_analytics.ui import data, warmup
from tests.app_support import APP, app_env, data_dir_with_demo, kpi_tiles, serve_app


def _clean_caches() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    data._SEEN.clear()


@pytest.fixture
def env_for(tmp_path, monkeypatch):
    def apply(data_dir, **extra):
        for name in [n for n in list(os.environ) if n.startswith(("STRIPE_", "SYNC_"))]:
            monkeypatch.delenv(name, raising=False)
        for name, value in app_env(data_dir, tmp_path, **extra).items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        _clean_caches()
    yield apply
    _clean_caches()


@pytest.fixture
def computations(monkeypatch):
    """Counts the metrics engine's computations (MRR base and filtered metrics)."""
    counts = {"prepare": 0, "compute": 0, "same_days": 0}
    prepare, compute, same_days = MetricsEngine.prepare, MetricsEngine.compute, MetricsEngine.same_days

    def counted_prepare(self, *args, **kwargs):
        counts["prepare"] += 1
        return prepare(self, *args, **kwargs)

    def counted_compute(self, *args, **kwargs):
        counts["compute"] += 1
        return compute(self, *args, **kwargs)

    def counted_same_days(self, *args, **kwargs):
        counts["same_days"] += 1
        return same_days(self, *args, **kwargs)

    monkeypatch.setattr(MetricsEngine, "prepare", counted_prepare)
    monkeypatch.setattr(MetricsEngine, "same_days", counted_same_days)
    monkeypatch.setattr(MetricsEngine, "compute", counted_compute)
    return counts


def _overview() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert {tile.label for tile in kpi_tiles(at)} >= {"MRR", "ARR", "Active customers"}, \
        [e.value for e in (*at.error, *at.warning, *at.info)]  # what the page said instead
    return at


def test_the_first_overview_reads_what_the_warm_up_computed(tmp_path, env_for, computations):
    env_for(data_dir_with_demo(tmp_path / "data"))
    report = warmup.warm()
    assert report.skipped is None, str(report)
    assert report.account == "Demo account"
    assert {"imports", "cache", "overview metrics", "charts", "streamlit"} <= set(report.steps)
    assert computations == {"prepare": 1, "compute": 1, "same_days": 1}

    _overview()
    assert computations == {"prepare": 1, "compute": 1, "same_days": 1}, "the first visitor recomputed the Overview"

    _clean_caches()  # the control: without the warm-up, the first Overview computes
    _overview()
    assert computations == {"prepare": 2, "compute": 2, "same_days": 2}


def test_no_demo_yet_is_built_by_the_server_in_the_background(tmp_path, env_for, computations):
    import time

    from stripe_analytics import demo_build

    data_dir = tmp_path / "empty"
    data_dir.mkdir()
    env_for(data_dir, DEMO_CUSTOMERS="20")
    report = warmup.warm()
    assert report.skipped.startswith("building the demo account (20 customers) in the background")
    job = demo_build.start(data_dir / "demo.duckdb", customers=20)  # the same job, not a second one
    deadline = time.monotonic() + 120
    while job.running and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job.error is None and not job.running
    assert (data_dir / "demo.duckdb").exists()
    assert computations == {"prepare": 0, "compute": 0, "same_days": 0}


def test_invalid_settings_do_not_stop_the_server(tmp_path, env_for):
    env_for(tmp_path / "data", SYNC_CONCURRENCY="many")
    report = warmup.warm()
    assert report.skipped == "the settings are invalid (the page says why)"


def test_a_data_dir_that_cannot_be_used_is_left_to_the_page(tmp_path, env_for):
    (tmp_path / "data").write_text("a file, not a folder")
    env_for(tmp_path / "data")
    report = warmup.warm()
    assert report.skipped == "the settings are invalid (the page says why)"
    assert (tmp_path / "data").read_text() == "a file, not a folder"


def test_a_damaged_cache_is_reported_not_raised(tmp_path, env_for):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "demo.duckdb").write_bytes(b"not a duckdb file" * 100)
    env_for(data_dir)
    report = warmup.warm()
    assert report.skipped and report.skipped.startswith("stopped early")
    assert "overview metrics" not in report.steps


def test_serve_py_warms_up_before_it_answers(tmp_path):
    data_dir = data_dir_with_demo(tmp_path / "data")
    log = tmp_path / "server.log"
    with serve_app(app_env(data_dir, tmp_path), log) as url:
        # the listening socket only starts answering once the lifespan hook has returned
        warmed = log.read_text()
        with urlopen(f"{url}/overview", timeout=10) as response:
            assert response.status == 200
    assert "warm-up of Demo account: imports" in warmed and "overview metrics" in warmed


def test_the_server_leaves_what_it_warmed_up_out_of_full_collections(tmp_path, env_for):
    """After the warm-up, Python's full collections walk only what the script runs made since."""
    import asyncio
    import gc

    env_for(data_dir_with_demo(tmp_path / "data"))

    async def start() -> int:
        async with warmup.lifespan(None):
            return gc.get_freeze_count()

    before = gc.get_freeze_count()
    try:
        frozen = asyncio.run(start())
    finally:
        gc.unfreeze()
    assert before == 0
    assert frozen > 50_000, frozen  # the imports of every page and the Overview's warm caches


def test_streamlit_does_not_collect_all_garbage_after_each_run():
    """Streamlit's own setting, as it reads the app's .streamlit/config.toml: its collection after
    every run held its event loop for 130-200 ms of each click's wait on the 2-CPU machine."""
    import subprocess
    import sys

    read = ("from streamlit import config; config.get_config_options(force_reparse=True); "
            "print(config.get_option('runner.postScriptGC'))")
    out = subprocess.run([sys.executable, "-c", read], cwd=APP.parent, capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")})
    assert out.stdout.strip() == "False", (out.stdout, out.stderr[-2000:])
