"""Peak resident memory of this process (and, optionally, of its child processes together)
while a block runs (sampled every 20 ms)."""

from __future__ import annotations

import os
import threading

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes(pid: int | str = "self") -> int:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except OSError:  # the process has just ended
        return 0


def children_rss_bytes() -> int:
    """Resident memory of this process's child processes (e.g. worker pools), together."""
    pids: list[str] = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as children:
                pids += children.read().split()
        except OSError:
            continue
    return sum(rss_bytes(pid) for pid in pids)


class PeakMemory:
    """`with PeakMemory() as memory: ...` then `memory.peak` and `memory.growth` (bytes)."""

    def __init__(self, interval: float = 0.02, *, children: bool = False) -> None:
        self.interval = interval
        self.children = children
        self.start = self.peak = self.children_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes())
            if self.children:
                self.children_peak = max(self.children_peak, children_rss_bytes())

    def __enter__(self) -> "PeakMemory":
        self.start = self.peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def growth(self) -> int:
        return self.peak - self.start
