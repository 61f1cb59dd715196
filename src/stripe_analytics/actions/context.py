"""Where actions act (`ActionContext`), what they return (`ActionResult`, its outcomes), and
the submission's idempotency key."""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import duckdb
import stripe

from ..cache import Cache, CacheError
from ..config import Settings
from ..stripe_client import StripeAccess, build_client

log = logging.getLogger(__name__)
T = TypeVar("T")

KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{8,200}$")

OUTCOME_SUCCEEDED = "succeeded"  # created / updated as asked
OUTCOME_REQUIRES_ACTION = "requires_action"  # payment created, the customer must authenticate
OUTCOME_PENDING = "pending"  # payment created and left for later, or processing
OUTCOME_UNCHANGED = "unchanged"  # nothing to do (already canceled, nothing to resume)
OUTCOME_DECLINED = "declined"
OUTCOME_FAILED = "failed"
OUTCOME_REFUSED = "refused"  # live mode without confirmation: nothing sent


def new_submission_key() -> str:
    """A fresh idempotency key for one form submission (reuse it for every retry of it)."""
    return f"sa_{uuid.uuid4().hex}"


def check_key(key: str | None) -> str:
    if key is None:
        return new_submission_key()
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise ValueError("the idempotency key must be 8 to 200 characters: letters, digits, _ . : -")
    return key




@dataclass
class ActionContext:
    """Where actions act: a Stripe client, the account's cache and the key's mode.

    `cache` is an open writable Cache (the CLI, scripts, tests). The app instead gives
    `cache_path`: the cache is opened for writing only around each write, so its read-only
    readers and a sync can use the file the rest of the time."""

    access: StripeAccess
    mode: str = "test"
    cache: Cache | None = None
    cache_path: Path | None = None
    account_id: str | None = None
    open_timeout: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings, *, cache: Cache | None = None, cache_path: str | Path | None = None,
                      access: StripeAccess | None = None, account_id: str | None = None) -> "ActionContext":
        access = access or build_client(settings)
        return cls(access=access, mode=access.api_key_mode or settings.mode or "test", cache=cache,
                   cache_path=Path(cache_path) if cache_path else (cache.path if cache else None),
                   account_id=account_id or (cache.account_id if cache else None))

    @property
    def client(self) -> stripe.StripeClient:
        return self.access.client

    @property
    def live(self) -> bool:
        return self.mode == "live"

    @contextlib.contextmanager
    def writer(self) -> Iterator[Cache]:
        """The writable cache: the open one, or the file opened for this write only (retrying a
        few seconds while a reader of this process or another writer holds it)."""
        if self.cache is not None:
            yield self.cache
            return
        if self.cache_path is None:
            raise CacheError("No cache is set for this account.")
        deadline = time.monotonic() + self.open_timeout
        while True:
            try:
                cache = Cache.open(self.cache_path)
                break
            except (CacheError, duckdb.Error) as error:
                if time.monotonic() > deadline:
                    raise CacheError(str(error).splitlines()[0]) from None
                time.sleep(0.2)
        try:
            yield cache
        finally:
            cache.close()

    def read(self, query: Callable[..., T], *args: Any, unreadable: T, **kwargs: Any) -> T:
        """`query(connection, *args, **kwargs)` on the cache (its open connection, or a short read-only
        one). What the actions read there only names things; without a cache (none yet, or
        one a sync is writing or that cannot be read) they go on with `unreadable`."""
        if self.cache is not None:
            return query(self.cache.con, *args, **kwargs)
        if self.cache_path is None or not Path(self.cache_path).exists():
            return unreadable
        try:
            with Cache.open(self.cache_path, read_only=True) as cache:
                return query(cache.con, *args, **kwargs)
        except (CacheError, duckdb.Error) as error:
            log.warning("the cache %s could not be read (%s); going on without its names", self.cache_path.name,
                        type(error).__name__)
            return unreadable


@dataclass
class ActionResult:
    action: str
    outcome: str
    message: str  # plain words: what happened and what to do
    ok: bool
    object_type: str | None = None
    object_id: str | None = None
    idempotency_key: str | None = None
    error_code: str | None = None
    field: str | None = None  # the input field a Stripe error is about
    replayed: bool = False  # Stripe answered from an earlier request with the same key
    cached: bool = False  # written into the cache
    objects: list[dict] = dc_field(default_factory=list, repr=False)
    warnings: list[str] = dc_field(default_factory=list)

    @property
    def object(self) -> dict | None:
        return next((o for o in self.objects if o.get("id") == self.object_id), None)

    @property
    def errors(self) -> dict[str, str]:
        """{field: message} for a form when Stripe refused a parameter."""
        return {self.field: self.message} if self.field and not self.ok else {}

    def as_dict(self) -> dict:
        return {"action": self.action, "outcome": self.outcome, "ok": self.ok, "message": self.message,
                "object_type": self.object_type, "object_id": self.object_id,
                "idempotency_key": self.idempotency_key, "error_code": self.error_code, "field": self.field,
                "replayed": self.replayed, "cached": self.cached, "warnings": self.warnings}
