"""The README's two commands, run as written in this checkout (CI runs the suite in a fresh clone
placed in an empty folder, so there they are the commands of a fresh clone with nothing beside it):
`make run` serves the warmed-up dashboard, and `make test` prints its 15 slowest tests.
(What the served pages show is the browser tests' subject; they start the same serve.py.)

Both run with this test process's virtual environment (`BIN=`) and without redoing the set-up step
(`-o .venv/.installed`): that step is what `make test` has just done to start this suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.request import urlopen

from tests.app_support import app_env, data_dir_with_demo, serve_app

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # not resolved: a venv's python is a link to the base interpreter


def make(*args: str) -> list[str]:
    return ["make", "--no-print-directory", "-C", str(ROOT), "-o", ".venv/.installed", f"BIN={BIN}", *args]


def test_make_run_serves_the_warmed_up_dashboard(tmp_path):
    data_dir = data_dir_with_demo(tmp_path / "data")
    env = app_env(data_dir, tmp_path)
    log_path = tmp_path / "make-run.log"
    with serve_app(env, log_path, timeout=90, cwd=ROOT,
                   command=lambda port: make("run", f"SERVE_ARGS=--port {port} --address 127.0.0.1")) as url:
        with urlopen(url + "/", timeout=30) as response:
            page = response.read().decode()
        with urlopen(url + "/healthz", timeout=30) as response:
            health = response.status
        served_log = log_path.read_text(errors="replace")
    assert f"{BIN}/stripe-analytics serve --port" in served_log, served_log[-2000:]
    # serve.py's warm-up ran before the first visitor, and its own routes are served
    assert "warm-up of Demo account" in served_log, served_log[-2000:]
    assert "Traceback" not in served_log, served_log[-3000:]
    assert 'id="root"' in page, page[:500]  # the app's page, drawn by the browser from here on
    assert health == 200


def test_make_test_prints_the_15_slowest_tests(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(make("test", "PYTEST_ARGS=-p no:cacheprovider -q "
                               "tests/test_standalone.py::test_the_check_finds_what_the_repository_used_to_do"),
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "slowest 15 durations" in done.stdout, done.stdout[-3000:]
    assert "1 passed" in done.stdout, done.stdout[-3000:]
