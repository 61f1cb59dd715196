"""The demo account's first build as a job of the server process, not of a browser session.

Building the 2,000-customer demo takes a while on first start (README: "First start"). Run in
a visitor's script, it stopped when that tab closed and the next visit started again from
zero. Here the build runs in a thread of its own, started by the server's start-up
(`ui.warmup`) or by the first visit, and any number of visits only watch its progress: closing
every tab does not stop it. The file appears only when complete (`build_demo_cache` renames it
into place).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

LOG = logging.getLogger("stripe_analytics.demo_build")
_LOCK = threading.Lock()
_BUILDS: dict[Path, "DemoBuild"] = {}


@dataclass
class DemoBuild:
    """One build of the demo cache at `path`: how far it is, and how it ended."""

    path: Path
    customers: int
    fraction: float = 0.0
    message: str = "generating customers, subscriptions and payments"
    started: float = field(default_factory=time.perf_counter)
    seconds: float | None = None  # set when the build has finished (or failed)
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.seconds is None

    @property
    def elapsed(self) -> float:
        """Seconds since the build started (its whole time once it has ended)."""
        return self.seconds if self.seconds is not None else time.perf_counter() - self.started

    def _progress(self, progress) -> None:
        self.fraction = min(1.0, max(0.0, float(progress.fraction)))
        self.message = progress.message

    def _run(self, seed: int) -> None:
        from .demo_cache import build_demo_cache

        try:
            build_demo_cache(self.path, seed=seed, customers=self.customers, progress=self._progress,
                             source="DATA_DIR")
        except Exception as error:  # noqa: BLE001 - reported to whoever watches, in plain words
            self.error = f"{type(error).__name__}: {str(error)[:300]}"
            LOG.exception("building the demo account failed")
        finally:
            self.seconds = time.perf_counter() - self.started
        if self.error is None:
            LOG.info("demo account (%d customers) built in %.1f s", self.customers, self.seconds)
            print(f"  demo account ({self.customers:,} customers) built in {self.seconds:.1f} s", flush=True)


def start(path: str | Path, *, customers: int = 2000, seed: int = 0) -> DemoBuild:
    """The build of the demo at `path`: the running one, or a new one started in the
    background when there is no file there yet (a failed build is retried)."""
    path = Path(path).resolve()
    with _LOCK:
        job = _BUILDS.get(path)
        if job is not None and (job.running or (job.error is None and path.exists())):
            return job
        job = DemoBuild(path=path, customers=customers)
        if path.exists():
            job.fraction, job.seconds, job.message = 1.0, 0.0, "demo account ready"
            return job
        _BUILDS[path] = job
        threading.Thread(target=job._run, args=(seed,), name="demo-build", daemon=True).start()
        LOG.info("building the demo account (%d customers) at %s", customers, path)
        print(f"  building the demo account ({customers:,} customers) in the background", flush=True)
        return job
