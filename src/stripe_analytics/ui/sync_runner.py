""""Sync now" runs `python -m stripe_analytics sync` in a child process, so the app never
opens the cache for writing (DuckDB allows one writing process per file). The child's
stderr progress lines (`backfill: customers: 300 objects (40%)`) drive a live progress bar;
the pages keep showing their last cached results until the sync finishes and the data
version changes.

One job per cache (or per configured account before its first sync) per app process; the
CLI's own writer lock refuses a second sync of the same account from anywhere else.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROGRESS_LINE = re.compile(r"^(?P<phase>[a-z_]+): (?P<message>.*?)(?: \((?P<percent>\d+)%\))?$")
_JOBS: dict[str, "SyncJob"] = {}
_LOCK = threading.Lock()


@dataclass
class SyncJob:
    command: list[str]
    started: float = field(default_factory=time.time)
    finished: float | None = None
    returncode: int | None = None
    phase: str = "starting"
    message: str = "starting the sync"
    fraction: float = 0.0
    lines: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.returncode is None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def error(self) -> str | None:
        if self.returncode in (None, 0):
            return None
        plain = [line for line in self.lines if not _is_progress(line)]
        return ("\n".join(plain[-3:]) or f"The sync stopped (exit code {self.returncode}).").strip()

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        if not line.strip():
            return
        self.lines.append(line)
        del self.lines[:-200]
        match = PROGRESS_LINE.match(line)
        if match and match.group("phase") in ("backfill", "events", "done"):
            self.phase = match.group("phase")
            self.message = match.group("message")
            if match.group("percent") is not None:
                percent = int(match.group("percent")) / 100
                # Phases restart at 0 %: the backfill is most of the work, events the rest.
                self.fraction = max(self.fraction, 0.9 * percent if self.phase == "backfill"
                                    else 0.9 + 0.1 * percent if self.phase == "events" else 1.0)

    def follow(self, name: str = "sync-job") -> None:
        """Read the child's progress (stderr) and summary (stdout) and record how it ended,
        in background threads."""
        process = self.process
        assert process is not None and process.stdout is not None and process.stderr is not None

        def pump(stream, sink) -> None:
            for line in stream:
                sink(line)

        def keep_output(line: str) -> None:
            if line.strip():
                self.output.append(line.rstrip("\n"))

        def wait() -> None:
            readers = [threading.Thread(target=pump, args=(process.stderr, self.feed), daemon=True),
                       threading.Thread(target=pump, args=(process.stdout, keep_output), daemon=True)]
            for reader in readers:
                reader.start()
            code = process.wait()
            for reader in readers:
                reader.join(timeout=5)
            self.finished = time.time()
            if code == 0:
                self.phase, self.fraction = "done", 1.0
                self.message = self.output[0] if self.output else "sync finished"
            self.returncode = code

        threading.Thread(target=wait, daemon=True, name=name).start()


def _is_progress(line: str) -> bool:
    match = PROGRESS_LINE.match(line)
    return bool(match and match.group("phase") in ("backfill", "events", "done"))


def job_key(path: Path | None) -> str:
    return str(path) if path else "<configured account>"


def current(path: Path | None) -> SyncJob | None:
    with _LOCK:
        return _JOBS.get(job_key(path))


def start(path: Path | None, *, full: bool = False, env: dict | None = None) -> SyncJob:
    """Start a sync of the configured account into `path` (or its default cache path)."""
    with _LOCK:
        existing = _JOBS.get(job_key(path))
        if existing and existing.running:
            return existing
        command = [sys.executable, "-m", "stripe_analytics", "sync"]
        if path:
            command += ["--db", str(path)]
        if full:
            command.append("--full")
        job = SyncJob(command)
        job.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       bufsize=1, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
        _JOBS[job_key(path)] = job

    job.follow()
    return job


@dataclass(frozen=True)
class SyncControl:
    """The Data page's "Sync now" for the open account: through this browser session's own
    connection when the account is the one it connected (`session.start_sync`: the key or
    token goes to the child on stdin), else with the configured STRIPE_API_KEY."""

    settings: Any
    path: Path | None
    connection: Any = None  # session.Connection

    def current(self) -> SyncJob | None:
        if self.connection is not None:
            from .. import session

            return session.sync_job(self.settings, self.connection.account_id)
        return current(self.path)

    def start(self) -> SyncJob | None:
        """The started (or already running) job; None when the connection's token can no
        longer be renewed: the session is then disconnected, with the reason kept for the
        Connect page."""
        if self.connection is not None:
            from .. import session
            from ..oauth import OAuthError

            try:
                return session.start_sync(self.settings, self.connection)
            except OAuthError as error:
                session.disconnect()
                session.notice(str(error))
                return None
        return start(self.path)


def control(app_ctx) -> SyncControl | None:
    """How the open account syncs from the app, or None when it cannot (the demo; no
    configured key and not this session's connected account)."""
    account, settings = app_ctx.account, app_ctx.settings
    if account is None or settings is None or account.demo:
        return None
    own = app_ctx.connection
    if own is not None and own.account_id == account.id:
        return SyncControl(settings, account.path, own)
    if settings.stripe_api_key:
        return SyncControl(settings, account.path)
    return None
