"""The accounts a user can see: the demo, the operator's configured account's caches in
DATA_DIR (`acct_….duckdb`, or a placeholder before its first sync), and the user's own
connected account (`DATA_DIR/connected/<id>.duckdb`, seen by its holder only)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .config import Settings
from .connection import Connection, cache_path_for

DEMO_ID = "demo"
PENDING_ID = "__configured__"
_ACCOUNT_FILE = re.compile(r"^acct_[A-Za-z0-9_]{1,64}\.duckdb$")


@dataclass(frozen=True)
class Account:
    id: str
    label: str
    path: Path | None
    demo: bool = False

    @property
    def pending(self) -> bool:
        return self.id == PENDING_ID


def discover(settings: Settings) -> list[Account]:
    """The accounts every user is offered: synced caches in DATA_DIR, the configured account
    before its first sync, and the demo."""
    data_dir = Path(settings.data_dir)
    found = sorted(p for p in data_dir.glob("acct_*.duckdb") if _ACCOUNT_FILE.match(p.name)) if data_dir.is_dir() else []
    accounts = [Account(p.stem, p.stem, p) for p in found]
    if settings.stripe_account:
        accounts.sort(key=lambda a: a.id != settings.stripe_account)
    if settings.stripe_api_key and not accounts:
        accounts.append(Account(PENDING_ID, "Your Stripe account (not synced yet)", None))
    accounts.append(Account(DEMO_ID, "Demo account", data_dir / "demo.duckdb", demo=True))
    return accounts


def connected_account(settings: Settings, conn: Connection) -> Account:
    """A user's connected account (path None before its first sync)."""
    path = cache_path_for(settings, conn.account_id)
    label = f"{conn.label} · connected" if conn.label != conn.account_id else f"{conn.account_id} · connected"
    return Account(conn.account_id, label, path if path.exists() else None)


def visible_accounts(settings: Settings, conn: Connection | None) -> list[Account]:
    """What this user's picker offers: their connected account first, then everyone's."""
    accounts = discover(settings)
    if conn is not None:
        own = connected_account(settings, conn)
        accounts = [own] + [a for a in accounts if a.id != own.id]
    return accounts


def default_account(settings: Settings, accounts: list[Account], own: Connection | None = None) -> Account:
    """The user's connected account, else the configured account, else the demo."""
    if own is not None:
        return next((a for a in accounts if a.id == own.account_id), accounts[0])
    if settings.stripe_api_key:
        return accounts[0]
    return next(a for a in accounts if a.demo)
