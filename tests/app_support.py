"""Helpers shared by the dashboard's tests (AppTest and browser): a small demo account
built once per test process, and an environment that isolates the app from the developer's
own settings."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
ARTIFACTS = ROOT / "test-artifacts"
DEMO_CUSTOMERS = 200
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
