"""The audit log of writes: each attempt is recorded in the cache's `audit_log` together with
the objects it wrote, in one transaction; a row the cache cannot take now waits in a file
beside it for the next write."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from datetime import datetime
from pathlib import Path

import duckdb

from .. import ingest
from ..cache import CacheError, utcnow
from ..stripe_client import redact
from .context import ActionContext, ActionResult

AUDIT_MESSAGE_MAX = 1000
PENDING_SUFFIX = ".audit-pending.jsonl"



def _audit_row(ctx: ActionContext, result: ActionResult) -> dict:
    return {
        "id": f"aud_{uuid.uuid4().hex}", "at": utcnow().isoformat(), "mode": ctx.mode, "action": result.action,
        "object_type": result.object_type, "object_id": result.object_id,
        "idempotency_key": result.idempotency_key, "outcome": result.outcome, "error_code": result.error_code,
        "message": redact(result.message)[:AUDIT_MESSAGE_MAX],
    }


_AUDIT_COLUMNS = ("id", "at", "mode", "action", "object_type", "object_id", "idempotency_key", "outcome",
                  "error_code", "message")


def _insert_audit(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    con.executemany(
        f"INSERT OR IGNORE INTO audit_log ({', '.join(chr(34) + c + chr(34) for c in _AUDIT_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in _AUDIT_COLUMNS)})",
        [[datetime.fromisoformat(r["at"]) if c == "at" else r[c] for c in _AUDIT_COLUMNS] for r in rows])


def _pending_path(ctx: ActionContext) -> Path | None:
    return Path(str(ctx.cache_path) + PENDING_SUFFIX) if ctx.cache_path else None


def _save_pending(ctx: ActionContext, row: dict) -> None:
    """Keep an audit row the cache could not take (a sync holds it) for the next write."""
    path = _pending_path(ctx)
    if path is None:
        return
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")


def _take_pending(ctx: ActionContext) -> list[dict]:
    path = _pending_path(ctx)
    if path is None or not path.exists():
        return []
    rows = []
    with contextlib.suppress(OSError):
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                rows.append(json.loads(line))
    return rows


def record(ctx: ActionContext, result: ActionResult) -> ActionResult:
    """Write the result's objects and its audit row in one transaction of the cache."""
    row = _audit_row(ctx, result)
    try:
        with ctx.writer() as cache:
            pending = _take_pending(ctx)
            with cache.transaction() as con:
                if result.objects:
                    ingest.write_objects(con, result.objects, history_source="action")
                _insert_audit(con, pending + [row])
            if pending:
                with contextlib.suppress(OSError):
                    _pending_path(ctx).unlink()
        result.cached = bool(result.objects)
    except (CacheError, duckdb.Error) as error:
        _save_pending(ctx, row)
        if result.objects:
            result.warnings.append(
                "It is saved in Stripe, but the app's cache could not be updated now "
                f"({redact(str(error).splitlines()[0])}); it will appear after the next sync.")
    return result
