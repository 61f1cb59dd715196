"""A Stripe-compatible fake HTTP server for the test suite and benchmarks.

In-process: ``with FakeStripe() as fake: ...`` (see server.py). Out of process (real parallelism,
benchmarks): ``url, key, proc = start_fake_process(latency=0.15, objects_file=path)``.
"""

from __future__ import annotations

import contextlib
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from .errors import ApiError
from .server import FakeStripe, Fault, RequestRecord
from .store import AccountStore

__all__ = ["AccountStore", "ApiError", "FakeStripe", "Fault", "RequestRecord", "fake_process",
           "start_fake_process"]

ROOT = Path(__file__).resolve().parents[2]  # the project root, where `tests` is importable


def start_fake_process(*, timeout: float = 120.0, **options: Any) -> tuple[str, str, subprocess.Popen[str]]:
    """Start ``python -m tests.fake_stripe`` with `options` as flags (objects_file=... -> --objects-file ...).

    Returns (url, key, popen) once the server printed its READY line; the caller stops the process
    (`popen.terminate()`), or use `fake_process(...)`."""
    options.setdefault("port", 0)
    command = [sys.executable, "-m", "tests.fake_stripe"]
    for name, value in options.items():
        if value is not None:
            command += [f"--{name.replace('_', '-')}", str(value)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("READY "):
                _, url, key = line.split()
                return url, key, proc
            if not line and proc.poll() is not None:
                break
    proc.kill()
    proc.wait()
    raise RuntimeError(f"fake Stripe process did not start (exit code {proc.returncode}): {command}")


@contextlib.contextmanager
def fake_process(**options: Any) -> Iterator[tuple[str, str]]:
    """`start_fake_process` as a context manager: yields (url, key), kills the process after."""
    url, key, proc = start_fake_process(**options)
    try:
        yield url, key
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
