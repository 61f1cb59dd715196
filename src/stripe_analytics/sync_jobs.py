"""Syncs started from the app, each in a child process, so the app never opens a cache for
writing (DuckDB allows one writing process per file).

Two children: `python -m stripe_analytics sync` for the operator's configured account
(STRIPE_API_KEY), and `python -m stripe_analytics.sync_jobs` for a user's connection, which
receives the key or token on its stdin, never in its arguments or environment. Both print
the same progress lines on stderr (`progress_line`, shared with the CLI:
`backfill: customers: 300 objects (40%)`), which `SyncJob` turns into a live fraction.

One registry: one job per cache path (or per configured account before its first sync) per
app process; the CLI's own writer lock refuses a second sync of the same account from
anywhere else.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .cli_args import EXIT_SYNC_BUSY
from .config import Settings
from .connection import CONNECTED_DIR, Connection, cache_path_for
from .key_check import connection_settings
from .scheduler import Outcome, SyncOutcome

PROGRESS_LINE = re.compile(r"^(?P<phase>[a-z_]+): (?P<message>.*?)(?: \((?P<percent>\d+)%\))?$")
PHASES = ("backfill", "events", "done")
CONFIGURED = "<configured account>"
# The parent's (non-secret) settings the connection's sync child must use, so it reaches the
# same Stripe with the same budget whatever its own environment says.
CHILD_SETTINGS = ("stripe_api_base", "stripe_max_requests_per_second", "stripe_max_network_retries",
                  "sync_concurrency")
_JOBS: dict[str, "SyncJob"] = {}
_LOCK = threading.Lock()


# ----------------------------------------------------------------------------- progress format

def progress_line(progress) -> str:
    """One progress line as every sync child and the CLI print it."""
    return f"{progress.phase}: {progress.message} ({progress.fraction:.0%})"


def progress_printer(*, interactive: bool = False) -> Callable:
    """A `progress` callback for sync_account: a bar on a terminal, else `progress_line`s
    (one per message, at most one per 5 % of a backfill)."""
    last = {"message": None, "bucket": -1}

    def show(progress) -> None:
        if interactive:
            width = 30
            filled = int(progress.fraction * width)
            bar = "#" * filled + "-" * (width - filled)
            sys.stderr.write(f"\r[{bar}] {progress.fraction:5.1%} {progress.message[:60]:<60}")
            if progress.phase == "done":
                sys.stderr.write("\n")
            sys.stderr.flush()
            return
        bucket = int(progress.fraction * 20)
        if progress.message == last["message"] or (progress.phase == "backfill" and bucket == last["bucket"]
                                                   and progress.fraction not in (0, 1)):
            return
        last["message"], last["bucket"] = progress.message, bucket
        print(progress_line(progress), file=sys.stderr, flush=True)

    return show


def _is_progress(line: str) -> bool:
    match = PROGRESS_LINE.match(line)
    return bool(match and match.group("phase") in PHASES)


# ----------------------------------------------------------------------------- jobs

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
        if match and match.group("phase") in PHASES:
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


def job_key(path: Path | None) -> str:
    return str(path) if path else CONFIGURED


def job_for(path: Path | None) -> SyncJob | None:
    """The latest job syncing into this cache (None: the configured account before its first sync)."""
    with _LOCK:
        return _JOBS.get(job_key(path))


def _launch(path: Path | None, command: list[str], env: dict[str, str], stdin_payload: str | None,
            name: str) -> SyncJob:
    with _LOCK:
        existing = _JOBS.get(job_key(path))
        if existing is not None and existing.running:
            return existing
        job = SyncJob(command)
        job.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                                       env=env, stdin=subprocess.PIPE if stdin_payload else subprocess.DEVNULL)
        _JOBS[job_key(path)] = job
    if stdin_payload:
        assert job.process.stdin is not None
        try:
            job.process.stdin.write(stdin_payload)
            job.process.stdin.close()
        except OSError:
            pass
    job.follow(name)
    return job


def outcome_of(job: SyncJob, timeout: float) -> SyncOutcome:
    """Wait for `job` (at most `timeout` seconds) and say how it ended, for the schedule."""
    deadline = time.monotonic() + timeout
    while job.running and time.monotonic() < deadline:
        time.sleep(0.5)
    if job.running:
        return SyncOutcome(Outcome.failed, f"the sync did not finish within {timeout / 3600:g} hours")
    if job.ok:
        return SyncOutcome(Outcome.ok, job.message)
    if job.returncode == EXIT_SYNC_BUSY:
        return SyncOutcome(Outcome.busy, "another sync of the account was running")
    return SyncOutcome(Outcome.failed, job.error or "the sync failed")


def start_configured(path: Path | None, *, full: bool = False) -> SyncJob:
    """Sync the configured account (STRIPE_API_KEY) into `path` (or its default cache path)."""
    command = [sys.executable, "-m", "stripe_analytics", "sync"] + (["--db", str(path)] if path else []) + \
        (["--full"] if full else [])
    return _launch(path, command, dict(os.environ), None, "sync-job")


def start_connection(settings: Settings, conn: Connection, api_key: str, stripe_account: str | None, *,
                     full: bool = False) -> SyncJob:
    """Sync a connection's account into DATA_DIR/connected/<account>.duckdb with the
    credentials the access policy chose; they reach the child on stdin."""
    path = cache_path_for(settings, conn.account_id)
    existing = job_for(path)
    if existing is not None and existing.running:
        return existing
    command = [sys.executable, "-m", "stripe_analytics.sync_jobs", "--data-dir", str(Path(settings.data_dir)),
               "--account", conn.account_id] + (["--full"] if full else [])
    env = {k: v for k, v in os.environ.items() if k not in ("STRIPE_API_KEY", "STRIPE_ACCOUNT", "SECRET_KEY")}
    payload = json.dumps({"api_key": api_key, "stripe_account": stripe_account, "live": conn.livemode,
                          "settings": {name: getattr(settings, name) for name in CHILD_SETTINGS}}) + "\n"
    return _launch(path, command, env, payload, "connection-sync")


# ----------------------------------------------------------------------------- the connection's child

def _child_main(argv: list[str] | None = None) -> int:
    """`python -m stripe_analytics.sync_jobs --data-dir D --account acct_… [--full]`, with
    {"api_key": …, "stripe_account": …, "live": …, "settings": {…}} on stdin: sync that account into
    D/connected/<account>.duckdb. Exit codes as the CLI: 0 ok, 1 failed, 2 bad input, 3 auth,
    4 another sync of the account is running."""
    parser = argparse.ArgumentParser(prog="python -m stripe_analytics.sync_jobs")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args(argv)
    try:
        secret = json.loads(sys.stdin.readline() or "{}")
        api_key = secret.get("api_key")
    except ValueError:
        api_key = None
    if not api_key:
        print("No credentials were given to the sync.", file=sys.stderr)
        return 2
    from .access import cache_belongs_to
    from .config import SettingsError, load_settings
    from .stripe_client import build_client
    from .sync import SyncAuthError, SyncBusyError, SyncError, fetch_account, sync_account

    overrides: dict[str, Any] = {k: v for k, v in (secret.get("settings") or {}).items() if k in CHILD_SETTINGS}
    try:
        settings = load_settings(**overrides)
    except SettingsError as error:
        print(str(error), file=sys.stderr)
        return 2
    settings = connection_settings(settings, live=bool(secret.get("live")))
    settings = settings.model_copy(update={"data_dir": Path(args.data_dir) / CONNECTED_DIR})
    access = build_client(settings, api_key=api_key, stripe_account=secret.get("stripe_account"))
    del secret, api_key
    try:
        account = fetch_account(access)
        verdict = cache_belongs_to(args.account, account.get("id"))
        if not verdict.allowed:
            print(verdict.reason, file=sys.stderr)
            return 1
        report = sync_account(settings, access=access, full=args.full, progress=progress_printer())
    except SyncAuthError as error:
        print(str(error), file=sys.stderr)
        return 3
    except SyncBusyError as error:
        print(str(error), file=sys.stderr)
        return EXIT_SYNC_BUSY
    except SyncError as error:
        print(str(error), file=sys.stderr)
        return 1
    print(f"synced {report.objects} objects ({report.kind} sync)")
    for name, message in report.skipped.items():
        print(f"skipped {name}: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
