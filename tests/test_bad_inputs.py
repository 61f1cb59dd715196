"""Damaged, foreign and unwritable inputs, table-driven: every case gives a plain message
naming the file or setting, the documented exit code, no traceback, and leaves every file
and folder that existed before byte-for-byte and mode-for-mode as it was (and creates
nothing). Commands that talk to Stripe run against the fake server; a case marked
`unprivileged` runs the CLI as another user than root (file modes do not stop root)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb
import pytest

from stripe_analytics.cli import main
from tests.app_support import small_demo
from tests.conftest import FAKE_ACCOUNT, FAKE_KEY
from tests.test_app import new_app

NOBODY = 65534
TRACEBACK_MARKERS = ("Traceback (most recent call last)", "stopped on an unexpected error")


# ----------------------------------------------------------------------------- the world a case runs in

@dataclass
class World:
    """A folder any user can traverse: `work` (the working folder, with `.env` and
    `.streamlit/secrets.toml` when a case writes them) and `data` (DATA_DIR)."""

    base: Path
    stripe_url: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def work(self) -> Path:
        return self.base / "work"

    @property
    def data(self) -> Path:
        return self.base / "data"

    def path(self, relative: str) -> Path:
        return self.base / relative


def snapshot(root: Path) -> dict[str, tuple]:
    """Every file and folder under `root` (root included): mode, size and a hash of the contents."""
    seen: dict[str, tuple] = {".": (os.lstat(root).st_mode, None, None)}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            full = Path(folder) / name
            info = os.lstat(full)
            seen[str(full.relative_to(root))] = (info.st_mode, info.st_size,
                                                 _digest(full, info) if stat.S_ISREG(info.st_mode) else None)
    return seen


def _digest(path: Path, info: os.stat_result) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except PermissionError:  # a case's unreadable file, when the tests do not run as root
        os.chmod(path, 0o600)
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest()
        finally:
            os.chmod(path, stat.S_IMODE(info.st_mode))


# ----------------------------------------------------------------------------- builders of bad places

def good_cache(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(small_demo(), path)
    os.chmod(path, 0o644)
    return path


def synced_cache(path: Path, account: str = "acct_someone_else") -> Path:
    good_cache(path)
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = ? WHERE key = 'account_id'", [account])
    con.execute("DELETE FROM meta WHERE key IN ('demo', 'demo_complete')")
    con.close()
    return path


def foreign_duckdb(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers (x INTEGER)")
    con.execute("INSERT INTO customers VALUES (1), (2)")
    con.close()
    os.chmod(path, 0o644)
    return path


def empty_duckdb(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.connect(str(path)).close()
    os.chmod(path, 0o644)
    return path


def newer_cache(path: Path) -> Path:
    good_cache(path)
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    con.close()
    return path


def truncated_cache(path: Path) -> Path:
    good_cache(path)
    os.truncate(path, path.stat().st_size // 2)
    return path


def overwritten_cache(path: Path) -> Path:
    """64 KiB of a block that holds customers' rows overwritten (the header and catalogue intact)."""
    good_cache(path)
    con = duckdb.connect(str(path), read_only=True)
    block_size = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()[0]
    block = con.execute("SELECT max(block_id) FROM pragma_storage_info('customers') WHERE block_id >= 0").fetchone()[0]
    con.close()
    with path.open("r+b") as handle:
        handle.seek(3 * 4096 + block * block_size + 1024)  # after DuckDB's three header pages
        handle.write(b"\x5a" * 65536)
    return path


def text_file(path: Path, content: bytes = b"id,amount\ncus_1,100\n" * 200) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def read_only_folder(path: Path, with_cache: bool = False) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if with_cache:
        good_cache(path / "demo.duckdb")
    os.chmod(path, 0o555)
    return path


def cache_in_a_folder_of_mode(path: Path, mode: int) -> Path:
    """A folder holding a cache, with `mode` (0o700: another user can neither list nor enter it)."""
    good_cache(path / "demo.duckdb")
    os.chmod(path, mode)
    return path


def data_dir_below_a_private_folder(world: World) -> dict[str, str]:
    """DATA_DIR (with a cache) inside a folder only its owner may enter."""
    cache_in_a_folder_of_mode(world.path("private/data"), 0o755)
    os.chmod(world.path("private"), 0o700)
    return {"DATA_DIR": str(world.path("private/data"))}


def sticky_public_folder(world: World) -> None:
    """A folder every user may write in, like the system's temporary folder (mode 1777)."""
    os.makedirs(world.path("public"))
    os.chmod(world.path("public"), 0o1777)


def secrets_toml(world: World, text: bytes) -> None:
    folder = world.work / ".streamlit"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "secrets.toml").write_bytes(text)


def dotenv(world: World, text: bytes) -> None:
    (world.work / ".env").write_bytes(text)


# ----------------------------------------------------------------------------- the table

@dataclass
class Case:
    id: str
    argv: list[str]
    code: int
    says: tuple[str, ...]  # all in the message (stderr; stdout for a success)
    setup: Callable[[World], dict[str, str] | None] = lambda w: None
    unprivileged: bool = False
    requests: tuple[str, ...] = ()  # the only requests Stripe may receive ("GET /v1/account")
    creates: dict[str, int] = field(default_factory=dict)  # what a successful case may add: path -> mode

    def __str__(self) -> str:
        return self.id


def _db(world: World, name: str) -> str:
    return str(world.data / name)


BAD_TOML = b'DATA_DIR = "data"\nSYNC_CONCURRENCY = eight\n'
NOT_UTF8_ENV = b"DATA_DIR=data\nSTRIPE_ACCOUNT=acct_caf\xe9\n"
ACCOUNT_ONLY = ("GET /v1/account",)

CASES = [
    # --- status -------------------------------------------------------------------------------
    Case("status-missing-db-in-public-folder", ["status", "--db", "{base}/public/x.duckdb"], 1,
         ("No cache at", "public/x.duckdb"),
         sticky_public_folder),
    Case("status-empty-data-dir-is-unset", ["status"], 2, ("No cache in data", "DATA_DIR"),
         lambda w: {"DATA_DIR": ""}),
    Case("status-foreign-duckdb", ["status", "--db", "{data}/foreign.duckdb"], 1,
         ("foreign.duckdb", "not a Stripe Analytics cache"), lambda w: foreign_duckdb(w.data / "foreign.duckdb") and None),
    Case("status-text-file", ["status", "--db", "{data}/notes.duckdb"], 1, ("notes.duckdb", "not a DuckDB database"),
         lambda w: text_file(w.data / "notes.duckdb") and None),
    Case("status-zero-byte-file", ["status", "--db", "{data}/zero.duckdb"], 1, ("zero.duckdb", "empty file"),
         lambda w: text_file(w.data / "zero.duckdb", b"") and None),
    Case("status-empty-duckdb", ["status", "--db", "{data}/new.duckdb"], 1, ("new.duckdb", "empty DuckDB database"),
         lambda w: empty_duckdb(w.data / "new.duckdb") and None),
    Case("status-newer-schema", ["status", "--db", "{data}/newer.duckdb"], 1, ("newer.duckdb", "newer version"),
         lambda w: newer_cache(w.data / "newer.duckdb") and None),
    Case("status-truncated", ["status", "--db", "{data}/cut.duckdb"], 1, ("cut.duckdb", "damaged", "sync --full"),
         lambda w: truncated_cache(w.data / "cut.duckdb") and None),
    Case("status-overwritten", ["status", "--db", "{data}/hit.duckdb"], 1, ("hit.duckdb", "damaged", "sync --full"),
         lambda w: overwritten_cache(w.data / "hit.duckdb") and None),
    Case("status-db-is-a-folder", ["status", "--db", "{data}/dir.duckdb"], 1, ("dir.duckdb", "is a folder"),
         lambda w: os.makedirs(w.data / "dir.duckdb")),
    Case("status-data-dir-is-a-file", ["status"], 2, ("DATA_DIR", "is a file, not a folder"),
         lambda w: text_file(w.base / "datafile") and {"DATA_DIR": str(w.base / "datafile")}),
    Case("status-db-wrong-suffix", ["status", "--db", "{data}/x.sqlite"], 2, ("--db", ".duckdb")),
    Case("status-malformed-secrets-toml", ["status"], 2, ("secrets.toml", "line 2")),
    Case("status-env-not-utf8", ["status"], 2, (".env", "line 2", "UTF-8")),
    Case("status-env-is-a-folder", ["status"], 2, (".env", "is a folder"), lambda w: os.makedirs(w.work / ".env")),
    Case("status-unreadable-cache", ["status", "--db", "{data}/locked.duckdb"], 2, ("locked.duckdb", "permission"),
         lambda w: os.chmod(good_cache(w.data / "locked.duckdb"), 0o000), unprivileged=True),
    Case("status-read-only-data-dir-still-reads", ["status"], 0, ("account: acct_demo",),
         lambda w: read_only_folder(w.data, with_cache=True) and None, unprivileged=True),
    Case("status-invalid-setting", ["status"], 2, ("SYNC_CONCURRENCY",), lambda w: {"SYNC_CONCURRENCY": "0"}),
    Case("status-data-dir-below-a-private-folder", ["status"], 2, ("DATA_DIR", "private/data", "permission denied"),
         data_dir_below_a_private_folder, unprivileged=True),
    Case("status-unlistable-data-dir", ["status"], 2, ("DATA_DIR", "cannot read", "permission denied"),
         lambda w: cache_in_a_folder_of_mode(w.data, 0o311) and None, unprivileged=True),
    Case("status-data-dir-under-a-file", ["status"], 2, ("DATA_DIR", "datafile is a file, not a folder"),
         lambda w: text_file(w.base / "datafile") and {"DATA_DIR": str(w.base / "datafile" / "data")}),
    # --- metrics ------------------------------------------------------------------------------
    Case("metrics-missing-db", ["metrics", "--db", "{data}/none.duckdb"], 1, ("No cache at", "none.duckdb"),
         lambda w: os.makedirs(w.data)),
    Case("metrics-foreign-duckdb", ["metrics", "--db", "{data}/foreign.duckdb"], 1,
         ("foreign.duckdb", "not a Stripe Analytics cache"), lambda w: foreign_duckdb(w.data / "foreign.duckdb") and None),
    Case("metrics-truncated", ["metrics", "--db", "{data}/cut.duckdb"], 1, ("cut.duckdb", "damaged"),
         lambda w: truncated_cache(w.data / "cut.duckdb") and None),
    Case("metrics-overwritten", ["metrics", "--db", "{data}/hit.duckdb"], 1, ("hit.duckdb", "damaged"),
         lambda w: overwritten_cache(w.data / "hit.duckdb") and None),
    Case("metrics-newer-schema", ["metrics", "--db", "{data}/newer.duckdb"], 1, ("newer.duckdb", "newer version"),
         lambda w: newer_cache(w.data / "newer.duckdb") and None),
    Case("metrics-empty-rate-is-unset", ["metrics", "--db", "{data}/demo.duckdb"], 0, ("MRR",),
         lambda w: good_cache(w.data / "demo.duckdb") and {"STRIPE_MAX_REQUESTS_PER_SECOND": ""}),
    Case("metrics-invalid-rate", ["metrics", "--db", "{data}/demo.duckdb"], 2, ("STRIPE_MAX_REQUESTS_PER_SECOND",),
         lambda w: good_cache(w.data / "demo.duckdb") and {"STRIPE_MAX_REQUESTS_PER_SECOND": "fast"}),
    Case("metrics-read-only-data-dir-still-reads", ["metrics"], 0, ("MRR",),
         lambda w: read_only_folder(w.data, with_cache=True) and None, unprivileged=True),
    Case("metrics-data-dir-below-a-private-folder", ["metrics"], 2, ("DATA_DIR", "private/data", "permission denied"),
         data_dir_below_a_private_folder, unprivileged=True),
    Case("metrics-unlistable-data-dir", ["metrics"], 2, ("DATA_DIR", "cannot read", "permission denied"),
         lambda w: cache_in_a_folder_of_mode(w.data, 0o700) and None, unprivileged=True),
    # --- sync ---------------------------------------------------------------------------------
    Case("sync-data-dir-is-a-file", ["sync"], 2, ("DATA_DIR", "is a file, not a folder"),
         lambda w: text_file(w.base / "datafile") and {"DATA_DIR": str(w.base / "datafile")}),
    Case("sync-data-dir-under-a-file", ["sync"], 2, ("DATA_DIR", "is a file, not a folder"),
         lambda w: text_file(w.base / "datafile") and {"DATA_DIR": str(w.base / "datafile" / "data")}),
    Case("sync-read-only-data-dir", ["sync"], 2, ("DATA_DIR", "cannot write"),
         lambda w: read_only_folder(w.data) and None, unprivileged=True),
    Case("sync-read-only-cache-file", ["sync", "--db", "{data}/ro.duckdb"], 2, ("--db", "ro.duckdb", "read-only"),
         lambda w: good_cache(w.data / "ro.duckdb") and os.chmod(w.data / "ro.duckdb", 0o444), unprivileged=True),
    Case("sync-foreign-duckdb", ["sync", "--db", "{data}/foreign.duckdb"], 1,
         ("foreign.duckdb", "not a Stripe Analytics cache"), lambda w: foreign_duckdb(w.data / "foreign.duckdb") and None,
         requests=ACCOUNT_ONLY),
    Case("sync-foreign-duckdb-at-default-path", ["sync"], 1, (f"{FAKE_ACCOUNT}.duckdb", "not a Stripe Analytics cache"),
         lambda w: foreign_duckdb(w.data / f"{FAKE_ACCOUNT}.duckdb") and None, requests=ACCOUNT_ONLY),
    Case("sync-text-file", ["sync", "--db", "{data}/notes.duckdb"], 1, ("notes.duckdb", "not a DuckDB database"),
         lambda w: text_file(w.data / "notes.duckdb") and None),
    Case("sync-truncated", ["sync", "--db", "{data}/cut.duckdb"], 1, ("cut.duckdb", "damaged", "sync --full"),
         lambda w: truncated_cache(w.data / "cut.duckdb") and None, requests=ACCOUNT_ONLY),
    Case("sync-overwritten", ["sync", "--db", "{data}/hit.duckdb"], 1, ("hit.duckdb", "damaged"),
         lambda w: overwritten_cache(w.data / "hit.duckdb") and None, requests=ACCOUNT_ONLY),
    Case("sync-overwritten-at-default-path", ["sync"], 1, (f"{FAKE_ACCOUNT}.duckdb", "damaged"),
         lambda w: overwritten_cache(w.data / f"{FAKE_ACCOUNT}.duckdb") and None, requests=ACCOUNT_ONLY),
    Case("sync-newer-schema", ["sync", "--db", "{data}/newer.duckdb"], 1, ("newer.duckdb", "newer version"),
         lambda w: newer_cache(w.data / "newer.duckdb") and None, requests=ACCOUNT_ONLY),
    Case("sync-another-accounts-cache", ["sync", "--db", "{data}/other.duckdb"], 2,
         ("other.duckdb", "holds account acct_someone_else"),
         lambda w: synced_cache(w.data / "other.duckdb") and None, requests=ACCOUNT_ONLY),
    Case("sync-malformed-secrets-toml", ["sync"], 2, ("secrets.toml", "line 2")),
    Case("sync-env-not-utf8", ["sync"], 2, (".env", "line 2", "UTF-8")),
    Case("sync-empty-key-is-unset", ["sync"], 2, ("No Stripe key is set", "STRIPE_API_KEY"),
         lambda w: {"STRIPE_API_KEY": ""}),
    # --- demo ---------------------------------------------------------------------------------
    Case("demo-data-dir-is-a-file", ["demo", "--customers", "5"], 2, ("DATA_DIR", "is a file, not a folder"),
         lambda w: text_file(w.base / "datafile") and {"DATA_DIR": str(w.base / "datafile")}),
    Case("demo-read-only-data-dir", ["demo", "--customers", "5"], 2, ("DATA_DIR", "cannot write"),
         lambda w: read_only_folder(w.data) and None, unprivileged=True),
    Case("demo-foreign-duckdb", ["demo", "--customers", "5", "--db", "{data}/foreign.duckdb"], 1,
         ("foreign.duckdb", "not a Stripe Analytics cache"), lambda w: foreign_duckdb(w.data / "foreign.duckdb") and None),
    Case("demo-over-a-synced-cache", ["demo", "--customers", "5", "--db", "{data}/synced.duckdb"], 1,
         ("synced.duckdb", "acct_someone_else", "not the demo"), lambda w: synced_cache(w.data / "synced.duckdb") and None),
    Case("demo-over-a-damaged-cache", ["demo", "--customers", "5", "--db", "{data}/cut.duckdb"], 1,
         ("cut.duckdb", "damaged"), lambda w: truncated_cache(w.data / "cut.duckdb") and None),
    Case("demo-over-a-text-file", ["demo", "--customers", "5", "--db", "{data}/notes.duckdb"], 1,
         ("notes.duckdb", "not a DuckDB database"), lambda w: text_file(w.data / "notes.duckdb") and None),
    Case("demo-malformed-secrets-toml", ["demo", "--customers", "5"], 2, ("secrets.toml", "line 2")),
    # --- create -------------------------------------------------------------------------------
    Case("create-data-dir-is-a-file", ["create", "customer", "--email", "a@example.com"], 2,
         ("DATA_DIR", "is a file, not a folder"),
         lambda w: text_file(w.base / "datafile") and {"DATA_DIR": str(w.base / "datafile")}),
    Case("create-read-only-data-dir", ["create", "customer", "--email", "a@example.com"], 2, ("DATA_DIR", "cannot write"),
         lambda w: read_only_folder(w.data) and None, unprivileged=True),
    Case("create-foreign-duckdb", ["create", "customer", "--email", "a@example.com", "--db", "{data}/foreign.duckdb"], 1,
         ("foreign.duckdb", "not a Stripe Analytics cache"), lambda w: foreign_duckdb(w.data / "foreign.duckdb") and None,
         requests=ACCOUNT_ONLY),
    Case("create-damaged-cache", ["create", "customer", "--email", "a@example.com", "--db", "{data}/hit.duckdb"], 1,
         ("hit.duckdb", "damaged"), lambda w: overwritten_cache(w.data / "hit.duckdb") and None,
         requests=ACCOUNT_ONLY),
    Case("create-another-accounts-cache", ["create", "customer", "--email", "a@example.com", "--db",
                                           "{data}/other.duckdb"], 2, ("other.duckdb", "holds account acct_someone_else"),
         lambda w: synced_cache(w.data / "other.duckdb") and None, requests=ACCOUNT_ONLY),
    Case("create-malformed-secrets-toml", ["create", "customer", "--email", "a@example.com"], 2,
         ("secrets.toml", "line 2")),
    Case("create-env-not-utf8", ["create", "customer", "--email", "a@example.com"], 2, (".env", "line 2", "UTF-8")),
    # --- what the app creates is private; what it did not create keeps its mode ----------------
    Case("demo-into-a-public-folder", ["demo", "--customers", "5", "--db", "{base}/public/demo.duckdb"], 0,
         ("demo account built",),
         sticky_public_folder,
         creates={"public/demo.duckdb": 0o600, "public/demo.duckdb.lock": 0o600}),
    Case("demo-with-empty-data-dir-uses-the-default", ["demo", "--customers", "5"], 0, ("data/demo.duckdb",),
         lambda w: {"DATA_DIR": ""},
         creates={"work/data": 0o700, "work/data/demo.duckdb": 0o600, "work/data/demo.duckdb.lock": 0o600}),
    Case("sync-into-new-nested-folders", ["sync"], 0, (f"{FAKE_ACCOUNT}.duckdb",),
         lambda w: {"DATA_DIR": str(w.path("new/deeper"))}, requests=("GET /v1/account", "GET /v1/events",
         "GET /v1/products", "GET /v1/prices", "GET /v1/coupons", "GET /v1/customers", "GET /v1/subscriptions",
         "GET /v1/invoices", "GET /v1/payment_intents", "GET /v1/charges", "GET /v1/refunds", "GET /v1/disputes",
         "GET /v1/balance_transactions", "GET /v1/balance"),
         creates={"new": 0o700, "new/deeper": 0o700, f"new/deeper/{FAKE_ACCOUNT}.duckdb": 0o600,
                  f"new/deeper/{FAKE_ACCOUNT}.duckdb.lock": 0o600}),
]

_FILE_SETUPS = {"malformed-secrets-toml": lambda w: secrets_toml(w, BAD_TOML),
                "env-not-utf8": lambda w: dotenv(w, NOT_UTF8_ENV)}


def _traversable_temp_root() -> str | None:
    """A temporary folder every user can reach (pytest's own is private to its user)."""
    for candidate in (tempfile.gettempdir(), "/var/tmp", "/dev/shm"):
        path = Path(candidate).resolve()
        if path.is_dir() and all(os.stat(p).st_mode & stat.S_IXOTH for p in [path, *path.parents]):
            return str(path)
    return None


@functools.cache
def _other_users_can_run_the_package() -> bool:
    """The checkout and its .venv are readable by another user (not so under a private folder)."""
    probe = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
             sys.executable, "-c", "import stripe_analytics.cli"]
    try:
        return subprocess.run(probe, cwd="/", capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture
def world(fake_stripe, monkeypatch):
    """A fresh folder outside pytest's private temp folder, so another user can traverse it."""
    base = Path(tempfile.mkdtemp(prefix="sa-bad-inputs-", dir=_traversable_temp_root()))
    os.chmod(base, 0o755)
    (base / "work").mkdir(mode=0o755)
    os.chmod(base / "work", 0o755)
    env = {"STRIPE_API_KEY": FAKE_KEY, "STRIPE_API_BASE": fake_stripe.url, "STRIPE_MAX_NETWORK_RETRIES": "0",
           "DATA_DIR": str(base / "data")}
    yield World(base, fake_stripe.url, env)
    for folder, dirs, _ in os.walk(base):
        for name in dirs:
            os.chmod(Path(folder) / name, 0o755)
    shutil.rmtree(base, ignore_errors=True)


def _clean_environment(monkeypatch) -> None:
    for name in [n for n in os.environ if n.startswith(("STRIPE_", "SYNC_", "DATA_DIR", "STREAMLIT_SECRETS"))]:
        monkeypatch.delenv(name, raising=False)


def run_cli(case: Case, world: World, env: dict[str, str], monkeypatch, capsys) -> tuple[int, str, str]:
    argv = [a.format(base=world.base, data=world.data) for a in case.argv]
    if case.unprivileged:
        command = [sys.executable, "-m", "stripe_analytics", *argv]
        if os.geteuid() == 0:
            command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]
        child_env = {k: v for k, v in os.environ.items()
                     if not k.startswith(("STRIPE_", "SYNC_", "DATA_DIR", "STREAMLIT_SECRETS"))}
        child_env.update(env, HOME=str(world.base))
        proc = subprocess.run(command, cwd=world.work, env=child_env, capture_output=True, text=True, timeout=120)
        return proc.returncode, proc.stdout, proc.stderr
    _clean_environment(monkeypatch)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(world.work)
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_input_gets_a_plain_message_and_changes_nothing(case: Case, world: World, fake_stripe, monkeypatch,
                                                            capsys):
    if case.unprivileged and os.geteuid() == 0 and (shutil.which("setpriv") is None or not _traversable_temp_root()
                                                     or not _other_users_can_run_the_package()):
        pytest.skip("running as root without setpriv, a temporary folder other users can reach, or a checkout "
                    "other users can read: file modes cannot be tested")
    env = dict(world.env)
    for suffix, build in _FILE_SETUPS.items():
        if case.id.endswith(suffix):
            build(world)
    env.update(case.setup(world) or {})
    before = snapshot(world.base)
    fake_stripe.clear_requests()

    code, out, err = run_cli(case, world, env, monkeypatch, capsys)

    message = out if case.code == 0 else err
    assert code == case.code, (code, out, err)
    for fragment in case.says:
        assert fragment in message, (fragment, message)
    for marker in TRACEBACK_MARKERS:
        assert marker not in err and marker not in out, err
    if case.code != 0:
        assert err.strip() and len(err.strip().splitlines()) <= 3, err
        assert FAKE_KEY not in err
    assert_unchanged(before, snapshot(world.base), case.creates)
    sent = [f"{r.method} {r.path}" for r in fake_stripe.requests]
    assert set(sent) <= set(case.requests), sent


def assert_unchanged(before: dict[str, tuple], after: dict[str, tuple], creates: dict[str, int]) -> None:
    """Everything that existed is as it was; only `creates` appeared, each with its mode."""
    changed = {k: (before[k], after.get(k)) for k in before if before[k] != after.get(k)}
    assert not changed, changed
    added = {k: stat.S_IMODE(after[k][0]) for k in set(after) - set(before)}
    assert added == creates, added


# ----------------------------------------------------------------------------- the app's first page

@dataclass
class PageCase:
    id: str
    says: tuple[str, ...]  # all in one of the page's error messages
    setup: Callable[[World], dict[str, str] | None]

    def __str__(self) -> str:
        return self.id


PAGE_CASES = [
    PageCase("page-malformed-secrets-toml", ("secrets.toml", "line 2"), lambda w: secrets_toml(w, BAD_TOML)),
    PageCase("page-env-not-utf8", (".env", "line 2", "UTF-8"), lambda w: dotenv(w, NOT_UTF8_ENV)),
    PageCase("page-invalid-setting", ("SYNC_CONCURRENCY",), lambda w: {"SYNC_CONCURRENCY": "lots"}),
    PageCase("page-data-dir-is-a-file", ("DATA_DIR", "is a file, not a folder"),
             lambda w: text_file(w.base / "datafile") and {"DATA_DIR": str(w.base / "datafile")}),
    PageCase("page-demo-is-a-foreign-duckdb", ("demo.duckdb", "not a Stripe Analytics cache"),
             lambda w: foreign_duckdb(w.data / "demo.duckdb") and None),
    PageCase("page-demo-is-a-text-file", ("demo.duckdb", "not a DuckDB database"),
             lambda w: text_file(w.data / "demo.duckdb") and None),
    PageCase("page-demo-truncated", ("demo.duckdb", "damaged"), lambda w: truncated_cache(w.data / "demo.duckdb") and None),
    PageCase("page-demo-overwritten", ("demo.duckdb", "damaged"),
             lambda w: overwritten_cache(w.data / "demo.duckdb") and None),
    PageCase("page-demo-newer-schema", ("demo.duckdb", "newer version"),
             lambda w: newer_cache(w.data / "demo.duckdb") and None),
    PageCase("page-synced-cache-is-foreign", ("acct_1Foreign.duckdb", "not a Stripe Analytics cache"),
             lambda w: foreign_duckdb(w.data / "acct_1Foreign.duckdb") and good_cache(w.data / "demo.duckdb")
             and {"STRIPE_API_KEY": FAKE_KEY}),
]


@pytest.mark.parametrize("case", PAGE_CASES, ids=str)
def test_the_first_page_shows_a_plain_message_and_changes_nothing(case: PageCase, world: World, monkeypatch):
    env = {"DATA_DIR": str(world.data)}
    env.update(case.setup(world) or {})
    before = snapshot(world.base)
    _clean_environment(monkeypatch)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(world.work)

    at = new_app().run()

    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert any(all(fragment in message for fragment in case.says) for message in errors), errors
    assert not any(marker in message for message in errors for marker in TRACEBACK_MARKERS)
    after = snapshot(world.base)
    # The connection store's key file is the app's own (made owner-only in an existing DATA_DIR).
    made = {"data/.secret_key": 0o600} if "data/.secret_key" in set(after) - set(before) else {}
    assert_unchanged(before, after, made)


_PAGE_AS_ANOTHER_USER = """
import json, sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=120).run()
print(json.dumps({"errors": [e.value for e in at.error], "exceptions": [str(e.value) for e in at.exception]}))
"""


@pytest.mark.parametrize("case", [
    PageCase("page-data-dir-below-a-private-folder", ("DATA_DIR", "private/data", "permission denied"),
             data_dir_below_a_private_folder),
    PageCase("page-unlistable-data-dir", ("DATA_DIR", "cannot read", "permission denied"),
             lambda w: cache_in_a_folder_of_mode(w.data, 0o311) and None),
], ids=str)
def test_the_first_page_names_a_data_dir_this_user_cannot_read(case: PageCase, world: World):
    """File modes do not stop root: the page runs (through app.py, with AppTest) as another user."""
    if os.geteuid() == 0 and (shutil.which("setpriv") is None or not _other_users_can_run_the_package()):
        pytest.skip("running as root without setpriv or a checkout other users can read")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SYNC_", "DATA_DIR", "STREAMLIT_"))}
    env.update({"DATA_DIR": str(world.data), "HOME": str(world.base)}, **(case.setup(world) or {}))
    before = snapshot(world.base)
    command = [sys.executable, "-c", _PAGE_AS_ANOTHER_USER, str(Path(__file__).resolve().parents[1] / "app.py")]
    if os.geteuid() == 0:
        command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]
    proc = subprocess.run(command, cwd=world.work, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not shown["exceptions"], shown["exceptions"]
    assert any(all(fragment in message for fragment in case.says) for message in shown["errors"]), shown["errors"]
    assert_unchanged(before, snapshot(world.base), {})


# ----------------------------------------------------------------------------- pipes

@pytest.mark.parametrize("argv", [["status"], ["metrics", "--json"]], ids=" ".join)
def test_a_reader_that_goes_away_ends_the_command_quietly(argv, world: World):
    """`stripe-analytics status | head -n 3`: when the reader has gone, the command stops with
    the usual 141 (as for SIGPIPE) and says nothing on stderr."""
    good_cache(world.data / "demo.duckdb")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SYNC_", "DATA_DIR"))}
    env["DATA_DIR"] = str(world.data)
    proc = subprocess.Popen([sys.executable, "-m", "stripe_analytics", *argv], cwd=world.work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert err == ""


def test_head_reads_the_first_lines_and_nothing_else_is_printed(world: World):
    good_cache(world.data / "demo.duckdb")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SYNC_", "DATA_DIR"))}
    env["DATA_DIR"] = str(world.data)
    proc = subprocess.run(f"{sys.executable} -m stripe_analytics status | head -n 3", shell=True, cwd=world.work,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 3 and "account: acct_demo" in proc.stdout
    assert proc.stderr == ""
