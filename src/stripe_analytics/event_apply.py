"""The one path from Stripe events into a cache, shared by the incremental sync (events read
from `/v1/events`) and the webhook endpoint (events Stripe pushed): a webhook and a sync of the
same event give the same cache.

Two steps, so the network is never used inside a transaction:
- `plan` (outside the transaction) completes truncated embedded lists, reads again what an
  event omits, and decides per event whether its object is written (`Decision`);
- `write` (inside the caller's transaction, next to e.g. the sync's cursor) writes the event
  rows, the objects it kept, their `object_versions` and the `applied_events` rows.

Ordering guard. Stripe does not promise the order of webhooks, so an object's snapshot is only
written when it is newer than the stored one:
- the stored object came from an event (`object_versions`): the incoming event's `created` is
  compared with it; the same event again is a duplicate; a different event of the same second
  cannot be ordered, so the object is read again from the API (the current state is newest);
- the stored object came from a list read or an action (its `synced_at` is later than its
  version): an event clearly older than that read (by more than `CLOCK_SLACK` seconds, for the
  clocks of Stripe and this machine) is stale, one clearly newer is applied, and one in between
  is settled by reading the object again.
The sync reads events in Stripe's own order (`ordered=True`): there a later event of the same
second wins, and list reads do not hold events back (the sync applies every event after its
cursor, so its last one always lands). Events already applied (`applied_events`) are skipped
by the webhook path; the sync relies on the versions instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

import duckdb
import pyarrow as pa
import stripe

from . import ingest, schema
from .schema import RESOURCE_BY_OBJECT, Resource

CLOCK_SLACK = 5  # seconds: Stripe's clock against ours, and a list read's time on the wire
APPLIED_EVENTS_KEPT_DAYS = 35  # Stripe retries a webhook for up to 3 days and keeps events 30

# Outcomes recorded per event
APPLIED = "applied"  # its object was written
STALE = "stale"  # a newer snapshot of its object is already stored
REREAD = "reread"  # its order could not be told: the object was read again from the API
DUPLICATE = "duplicate"  # this event was applied before
RECORDED = "recorded"  # an object type the cache does not keep: the event row only


class Fetcher(Protocol):
    def complete_children(self, resource: Resource, obj: dict) -> None: ...

    def retrieve(self, resource: Resource, object_id: str) -> dict: ...


def is_deletion(event_type: str, object_type: str) -> bool:
    # `customer.subscription.deleted` is a cancellation (the object says status=canceled), not a deletion.
    table = schema.TABLE_BY_OBJECT.get(object_type)
    return (event_type.endswith(".deleted") and table is not None and table.deleted_by_event
            and not event_type.startswith("customer.subscription."))


@dataclass(frozen=True)
class _Version:
    created: float  # the event's `created`, or the time of the list read
    event_id: str | None  # None: a list read (or an action), not an event


@dataclass
class Decision:
    event: dict
    outcome: str
    obj: dict | None = None  # what is written for this event (None: nothing)


@dataclass
class Plan:
    decisions: list[Decision] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for d in self.decisions if d.outcome == outcome)

    @property
    def events(self) -> list[dict]:
        return [d.event for d in self.decisions if d.outcome != DUPLICATE]


def _object(event: dict) -> dict:
    return dict((event.get("data") or {}).get("object") or {})


def _stored_versions(con: duckdb.DuckDBPyConnection, objects: dict[str, set[str]]) -> dict[str, _Version]:
    """Per object id (grouped by table name), the version of what the cache holds now."""
    found: dict[str, _Version] = {}
    for table_name, ids in objects.items():
        con.register("_ids", pa.table({"id": pa.array(sorted(ids), type=pa.string())}))
        try:
            rows = con.execute(
                f"SELECT t.id, epoch(t.synced_at), v.event_created, v.event_id, epoch(v.written_at) "
                f"FROM {table_name} t LEFT JOIN object_versions v ON v.id = t.id "
                f"WHERE t.id IN (SELECT id FROM _ids)").fetchall()
        finally:
            con.unregister("_ids")
        for object_id, synced, event_created, event_id, written in rows:
            if event_id is not None and (synced is None or synced <= written + 1e-3):
                found[object_id] = _Version(event_created, event_id)
            else:
                found[object_id] = _Version(synced or 0.0, None)
    return found


def _already_applied(con: duckdb.DuckDBPyConnection, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    con.register("_event_ids", pa.table({"id": pa.array(ids, type=pa.string())}))
    try:
        return {r[0] for r in con.execute(
            "SELECT id FROM applied_events WHERE id IN (SELECT id FROM _event_ids)").fetchall()}
    finally:
        con.unregister("_event_ids")


def _newer_by_own_version(incoming: dict, stored_raw: str | None) -> bool | None:
    """Objects that carry their own `updated` time settle a tie by it; None when they cannot."""
    if not stored_raw or not isinstance(incoming.get("updated"), int):
        return None
    stored = json.loads(stored_raw).get("updated")
    if not isinstance(stored, int) or stored == incoming["updated"]:
        return None
    return incoming["updated"] > stored


def _order(incoming: dict, stored: _Version | None, ordered: bool) -> str:
    """APPLIED, STALE, DUPLICATE or REREAD (cannot be told without reading the object again)."""
    if stored is None:
        return APPLIED
    created = incoming["created"]
    if stored.event_id is not None:
        if stored.event_id == incoming["id"]:
            return DUPLICATE
        if created != stored.created:
            return APPLIED if created > stored.created else STALE
        return APPLIED if ordered else REREAD
    if ordered or created > stored.created + CLOCK_SLACK:
        return APPLIED
    if created < stored.created - CLOCK_SLACK:
        return STALE
    return REREAD


def plan(con: duckdb.DuckDBPyConnection, events: list[dict], *, fetcher: Fetcher | None,
         ordered: bool) -> Plan:
    """Decide what each event writes (`events` oldest first when `ordered`). Reads the cache
    through `con` and, with a `fetcher`, the API; writes nothing."""
    cursor = con.cursor()  # its own result set: the caller's connection may hold an unread one
    try:
        return _plan(cursor, events, fetcher=fetcher, ordered=ordered)
    finally:
        cursor.close()


def _plan(con: duckdb.DuckDBPyConnection, events: list[dict], *, fetcher: Fetcher | None, ordered: bool) -> Plan:
    result = Plan()
    seen_ids: set[str] = set()
    unique: list[dict] = []
    for event in events:
        if event.get("id") and event["id"] not in seen_ids:
            seen_ids.add(event["id"])
            unique.append(event)
    applied_before = set() if ordered else _already_applied(con, [e["id"] for e in unique])
    if not ordered:
        # Webhooks come in any order: apply them by their time, ties in arrival order.
        unique.sort(key=lambda e: e.get("created") or 0)
    by_table: dict[str, set[str]] = {}
    for event in unique:
        obj = _object(event)
        table = schema.TABLE_BY_OBJECT.get(obj.get("object", ""))
        if table is not None and obj.get("id"):
            by_table.setdefault(table.name, set()).add(obj["id"])
    current = _stored_versions(con, by_table)
    raws: dict[str, str | None] = {}
    for event in unique:
        if event["id"] in applied_before:
            result.decisions.append(Decision(event, DUPLICATE))
            continue
        obj = _object(event)
        object_type = obj.get("object", "")
        table = schema.TABLE_BY_OBJECT.get(object_type)
        if table is None or not obj.get("id"):
            result.decisions.append(Decision(event, RECORDED))
            continue
        resource = RESOURCE_BY_OBJECT.get(object_type)
        deletion = is_deletion(event.get("type", ""), object_type)
        outcome = _order(event, current.get(obj["id"]), ordered)
        if outcome == REREAD:
            own = _newer_by_own_version(obj, _raw(con, table.name, obj["id"], raws))
            if own is not None:
                outcome = APPLIED if own else STALE
            elif fetcher is None or resource is None:
                outcome = APPLIED  # cannot be read again here: the next sync's events settle it
        if outcome in (STALE, DUPLICATE):
            result.decisions.append(Decision(event, outcome))
            continue
        if outcome == REREAD:
            obj = _read_again(fetcher, resource, obj)
        else:
            if resource and resource.children and fetcher is not None:
                fetcher.complete_children(resource, obj)
            if (fetcher is not None and resource and resource.refetch_from_event
                    and resource.refetch_from_event(obj) and not deletion):
                obj.update(fetcher.retrieve(resource, obj["id"]))
            if deletion:
                obj["deleted"] = True
        current[obj["id"]] = _Version(event["created"], event["id"])
        result.decisions.append(Decision(event, outcome, obj))
    return result


def _raw(con: duckdb.DuckDBPyConnection, table_name: str, object_id: str, memo: dict) -> str | None:
    if object_id not in memo:
        rows = con.execute(f"SELECT raw FROM {table_name} WHERE id = ?", [object_id]).fetchall()
        memo[object_id] = rows[0][0] if rows else None
    return memo[object_id]


def _read_again(fetcher: Fetcher, resource: Resource, obj: dict) -> dict:
    """The object as Stripe has it now; a deleted object (404) is the event's, marked deleted."""
    try:
        fresh = fetcher.retrieve(resource, obj["id"])
    except stripe.InvalidRequestError as error:
        if error.http_status != 404:
            raise
        return {**obj, "deleted": True}
    if fresh.get("deleted") and len(fresh) <= 3:  # Stripe's deleted stub: {id, object, deleted}
        return {**obj, "deleted": True}
    if resource.children:
        fetcher.complete_children(resource, fresh)
    return fresh


def write(con: duckdb.DuckDBPyConnection, planned: Plan, *, source: str) -> dict[str, int]:
    """Write a plan inside the caller's transaction; returns rows written per table. Objects
    are written in event order; a subscription's each snapshot keeps its event's time in
    `subscription_history`."""
    counts: dict[str, int] = {}

    def add(written: dict[str, int]) -> None:
        for name, n in written.items():
            counts[name] = counts.get(name, 0) + n

    add(ingest.write_objects(con, planned.events))
    now = datetime.now(timezone.utc)
    kept = [d for d in planned.decisions if d.obj is not None]
    # Subscriptions one event at a time (each history row has its event's time); the rest in
    # one batch, where the later snapshot of an object wins.
    others = [d for d in kept if d.obj.get("object") != "subscription"]
    if others:
        add(ingest.write_prepared(con, [ingest.prepare([d.obj for d in others], synced_at=now)]))
    for decision in kept:
        if decision.obj.get("object") == "subscription":
            seen = datetime.fromtimestamp(decision.event["created"], timezone.utc)
            add(ingest.write_prepared(con, [ingest.prepare([decision.obj], synced_at=now)], seen_at=seen,
                                      history_source="event"))
    versions: dict[str, Decision] = {d.obj["id"]: d for d in kept}  # the last write of each object
    if versions:
        _insert(con, "INSERT OR REPLACE INTO object_versions BY NAME SELECT * FROM _rows", {
            "id": (list(versions), pa.string()),
            "object_type": ([d.obj.get("object") for d in versions.values()], pa.string()),
            "event_created": ([d.event["created"] for d in versions.values()], pa.int64()),
            "event_id": ([d.event["id"] for d in versions.values()], pa.string()),
            "written_at": ([now] * len(versions), pa.timestamp("us", tz="UTC")),
        })
    recorded = [d for d in planned.decisions if d.outcome != DUPLICATE]
    if recorded:
        _insert(con, "INSERT OR IGNORE INTO applied_events BY NAME SELECT * FROM _rows", {
            "id": ([d.event["id"] for d in recorded], pa.string()),
            "created": ([d.event.get("created") or 0 for d in recorded], pa.int64()),
            "source": ([source] * len(recorded), pa.string()),
            "outcome": ([d.outcome for d in recorded], pa.string()),
            "applied_at": ([now] * len(recorded), pa.timestamp("us", tz="UTC")),
        })
    return counts


def _insert(con: duckdb.DuckDBPyConnection, sql: str, columns: dict[str, tuple[list, pa.DataType]]) -> None:
    """One statement for many rows (DuckDB's cost is per statement far more than per row)."""
    con.register("_rows", pa.table({name: pa.array(values, type=kind) for name, (values, kind) in columns.items()}))
    try:
        con.execute(sql)
    finally:
        con.unregister("_rows")


def forget_old_applied(con: duckdb.DuckDBPyConnection, now: float) -> None:
    """Drop the applied-event ids no retry can bring back any more."""
    con.execute("DELETE FROM applied_events WHERE created < ?", [int(now) - APPLIED_EVENTS_KEPT_DAYS * 86400])
