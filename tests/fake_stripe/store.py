"""One Stripe account's objects: sorted indexes for O(log n + page) listing, rendering, events.

Stored objects are treated as immutable: every change replaces the dict (copy-on-write), so a
rendered response or an event snapshot can share structure with the store safely.
"""

from __future__ import annotations

import copy
from bisect import bisect_left, bisect_right
from collections import defaultdict
from typing import Any, Callable, Iterable, Sequence

from .errors import invalid, missing
from .resources import (
    API_VERSION, BY_OBJECT, CHILDREN, COLLAPSED, EMBEDDED, EMBEDDED_PAGE, INCLUDABLE, INDEXED, Predicate,
    created_event_type, event_type, get_path,
)

Key = tuple  # (created, id)


class SortedIndex:
    """Keys ``(created, id)`` in ascending order. Out-of-order appends (bulk loads) sort lazily."""

    __slots__ = ("_keys", "_dirty")

    def __init__(self) -> None:
        self._keys: list[Key] = []
        self._dirty = False

    def add(self, key: Key) -> None:
        if self._keys and key < self._keys[-1]:
            self._dirty = True
        self._keys.append(key)

    def remove(self, key: Key) -> None:
        keys = self.keys()
        i = bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            del keys[i]

    def keys(self) -> list[Key]:
        if self._dirty:
            self._keys.sort()
            self._dirty = False
        return self._keys


def account_object(account: dict[str, Any] | str, created: int) -> dict[str, Any]:
    """An `account` object in the shape of fixtures3's, from an id or a partial dict."""
    given = {"id": account} if isinstance(account, str) else dict(account)
    base = {
        "id": given["id"],
        "object": "account",
        "business_profile": {"mcc": None, "name": None, "support_email": None, "url": None},
        "business_type": None,
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "controller": {"type": "account"},
        "country": "US",
        "created": created,
        "default_currency": "usd",
        "details_submitted": True,
        "email": None,
        "external_accounts": {
            "object": "list", "data": [], "has_more": False,
            "url": f"/v1/accounts/{given['id']}/external_accounts",
        },
        "metadata": {},
        "payouts_enabled": True,
        "settings": {"dashboard": {"display_name": None, "timezone": "Etc/UTC"}},
        "type": "standard",
    }
    base.update(given)
    return base


class AccountStore:
    def __init__(self, account: dict[str, Any], clock: Callable[[], int]) -> None:
        self.account = account
        self.clock = clock
        self.objects: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)  # object -> id -> obj
        self.deleted: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.kinds: dict[str, str] = {}  # id -> object name, for expansion
        self.parents: dict[str, str] = {}  # child id (si_...) -> parent id
        self.indexes: dict[tuple, SortedIndex] = defaultdict(SortedIndex)
        self.idempotency: dict[str, tuple[Any, Any]] = {}  # key -> (fingerprint, response)
        self._seq = 0

    @property
    def id(self) -> str:
        return self.account["id"]

    # ----------------------------------------------------------------- storage
    def new_id(self, prefix: str, sep: str = "_") -> str:
        while True:
            self._seq += 1
            candidate = f"{prefix}{sep}F{self._seq:013d}"
            if candidate not in self.kinds:
                return candidate

    def put(self, obj: dict[str, Any]) -> None:
        """Insert or replace an object (no event)."""
        kind, oid = obj["object"], obj["id"]
        old = self.objects[kind].get(oid)
        if old is not None:
            self._unindex(old)
        self.deleted[kind].pop(oid, None)
        self.objects[kind][oid] = obj
        self.kinds[oid] = kind
        self._index(obj)

    def _keyed(self, obj: dict[str, Any]) -> Iterable[tuple[tuple, Key]]:
        kind, key = obj["object"], (obj.get("created") or 0, obj["id"])
        yield (kind,), key
        for param, path in INDEXED.get(kind, {}).items():
            value = get_path(obj, path)
            if isinstance(value, dict):
                value = value.get("id")
            if value is not None:
                yield (kind, param, str(value)), key

    def _index(self, obj: dict[str, Any]) -> None:
        for index, key in self._keyed(obj):
            self.indexes[index].add(key)
        for child, (parent, field) in CHILDREN.items():
            if obj["object"] == parent:
                for item in (obj.get(field) or {}).get("data", ()):
                    self.parents[item["id"]] = obj["id"]

    def _unindex(self, obj: dict[str, Any]) -> None:
        for index, key in self._keyed(obj):
            self.indexes[index].remove(key)

    def get(self, kind: str, oid: str) -> dict[str, Any] | None:
        return self.objects[kind].get(oid)

    def require(self, kind: str, oid: Any, param: str | None = "id", status: int = 404) -> dict[str, Any]:
        obj = self.objects[kind].get(oid) if isinstance(oid, str) else None
        if obj is None:
            raise missing(kind, str(oid), param=param, status=status)
        return obj

    def get_deleted(self, kind: str, oid: str) -> dict[str, Any] | None:
        return self.deleted[kind].get(oid)

    def find(self, oid: str) -> dict[str, Any] | None:
        kind = self.kinds.get(oid)
        if kind is None:
            return None
        obj = self.objects[kind].get(oid)
        return obj if obj is not None else {"id": oid, "object": kind, "deleted": True}

    def child(self, kind: str, oid: str) -> dict[str, Any] | None:
        parent_kind, field = CHILDREN[kind]
        parent = self.objects[parent_kind].get(self.parents.get(oid, ""))
        for item in (parent or {}).get(field, {}).get("data", ()):
            if item["id"] == oid:
                return item
        return None

    def remove(self, kind: str, oid: str) -> dict[str, Any]:
        obj = self.objects[kind].pop(oid)
        self._unindex(obj)
        self.deleted[kind][oid] = obj
        return obj

    # ----------------------------------------------------------------- listing
    def page(
        self,
        kind: str,
        *,
        index: tuple | None = None,
        created: tuple[int | None, int | None] = (None, None),
        predicates: Sequence[Predicate] = (),
        limit: int = 10,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page, newest first. `created` = (inclusive low, exclusive high) bounds."""
        keys = self.indexes[index or (kind,)].keys()
        lo_created, hi_created = created
        lo = 0 if lo_created is None else bisect_left(keys, (lo_created,))
        hi = len(keys) if hi_created is None else bisect_left(keys, (hi_created,))
        cursor = starting_after or ending_before
        if cursor:
            known = self.objects[kind].get(cursor) or self.deleted[kind].get(cursor)
            if known is None:
                raise missing(kind, cursor, param="starting_after" if starting_after else "ending_before",
                              status=400)
            key = (known.get("created") or 0, cursor)
            if starting_after:
                hi = min(hi, bisect_left(keys, key))
            else:
                lo = max(lo, bisect_right(keys, key))
        objects = self.objects[kind]
        found: list[dict[str, Any]] = []
        positions = range(lo, hi) if ending_before else range(hi - 1, lo - 1, -1)
        for i in positions:
            obj = objects[keys[i][1]]
            if all(p(obj) for p in predicates):
                found.append(obj)
                if len(found) > limit:
                    break
        has_more = len(found) > limit
        found = found[:limit]
        if ending_before:  # collected oldest-first just above the cursor; serve newest first
            found.reverse()
        return found, has_more

    # --------------------------------------------------------------- rendering
    def render(self, obj: dict[str, Any], expand: Sequence[str] = ()) -> dict[str, Any]:
        """The object as Stripe serves it: embedded lists truncated, ids collapsed, expand[] applied."""
        kind = obj.get("object")
        view = dict(obj)
        if kind == "event" and isinstance(obj.get("data", {}).get("object"), dict):
            view["data"] = {**obj["data"], "object": self.render(obj["data"]["object"])}
        embedded = EMBEDDED.get(kind, {})
        for field, url in embedded.items():
            full = obj.get(field)
            if isinstance(full, dict) and isinstance(full.get("data"), list):
                prefix = f"{field}.data."
                sub = [p[len(prefix):] for p in expand if p.startswith(prefix)]
                data = full["data"]
                view[field] = {
                    **full,
                    "object": "list",
                    "data": [self.render(item, sub) for item in data[:EMBEDDED_PAGE]],
                    "has_more": bool(full.get("has_more")) or len(data) > EMBEDDED_PAGE,
                    "url": url.format(id=obj["id"]),
                }
        for field in COLLAPSED.get(kind, ()):
            if field in view and not any(p == field or p.startswith(field + ".") for p in expand):
                view[field] = _ids(view[field])
        includable = INCLUDABLE.get(kind, ())
        for field in includable:
            if field not in expand:
                view.pop(field, None)
        for path in expand:
            if path.split(".", 1)[0] not in embedded and path not in includable:
                view = self._expand(view, path.split("."), path)
        return view

    def _expand(self, value: Any, parts: list[str], path: str) -> Any:
        if isinstance(value, list):
            return [self._expand(v, parts, path) for v in value]
        if isinstance(value, str):
            target = self.find(value)
            if target is None:
                return value  # unknown id (e.g. an object never loaded): leave it as an id
            return self.render(target, [".".join(parts)] if parts else [])
        if not parts or not isinstance(value, dict):
            return value
        head = parts[0]
        if head not in value:
            raise invalid(f"This property cannot be expanded ({path}).", param="expand")
        return {**value, head: self._expand(value[head], parts[1:], path)}

    # ------------------------------------------------ mutations and their events
    def emit(
        self,
        type: str,
        obj: dict[str, Any],
        previous: dict[str, Any] | None = None,
        request: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append an event; ids sort in creation order (`evt_F0000000000001`, ...)."""
        self._seq += 1
        data: dict[str, Any] = {"object": obj}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {
            "id": f"evt_F{self._seq:015d}",
            "object": "event",
            "api_version": API_VERSION,
            "created": self.clock(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 0,
            "request": request or {"id": None, "idempotency_key": None},
            "type": type,
        }
        self.put(event)
        return event

    def create(self, obj: dict[str, Any], request: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store a new object (id and created filled in if missing) and emit its creation event."""
        obj = copy.deepcopy(obj)
        kind = obj["object"]
        if not obj.get("id"):
            resource = BY_OBJECT.get(kind)
            obj["id"] = self.new_id(resource.prefix if resource else kind)
        obj.setdefault("created", self.clock())
        obj.setdefault("livemode", False)
        if obj["id"] in self.objects[kind]:
            raise invalid(f"A {kind} with id {obj['id']} already exists.", code="resource_already_exists")
        self.put(obj)
        if (etype := created_event_type(obj)) is not None:
            self.emit(etype, obj, request=request)
        if kind == "refund":
            self._apply_refund(obj, request)
        return obj

    def update(
        self,
        kind: str,
        oid: str,
        changes: dict[str, Any],
        request: dict[str, Any] | None = None,
        event: str | None = None,
    ) -> dict[str, Any]:
        """Replace top-level fields; emit `<object>.updated` (or `event`) with previous_attributes."""
        old = self.require(kind, oid)
        new = copy.deepcopy(old)
        new.update(copy.deepcopy(changes))
        previous = {k: old.get(k) for k in changes if old.get(k) != new.get(k)}
        if not previous and event is None:
            return old
        self.put(new)
        self.emit(event or event_type(kind, "updated"), new, previous=previous, request=request)
        return new

    def delete(self, kind: str, oid: str, request: dict[str, Any] | None = None) -> dict[str, Any]:
        """Delete like Stripe: subscriptions are canceled (and stay listable), others disappear."""
        if kind == "subscription":
            return self.cancel_subscription(oid, request)
        obj = self.remove(kind, oid)
        self.emit(event_type(kind, "deleted"), obj, request=request)
        return {"id": oid, "object": kind, "deleted": True}

    def cancel_subscription(self, oid: str, request: dict[str, Any] | None = None) -> dict[str, Any]:
        sub = self.require("subscription", oid)
        if sub.get("status") in ("canceled", "incomplete_expired"):
            raise invalid(f"This subscription is already canceled: '{oid}'", param="id")
        now = self.clock()
        changes = {
            "status": "canceled",
            "canceled_at": now,
            "ended_at": now,
            "cancellation_details": {"comment": None, "feedback": None, "reason": "cancellation_requested"},
        }
        return self.update("subscription", oid, changes, request,
                           event=event_type("subscription", "deleted"))

    def _apply_refund(self, refund: dict[str, Any], request: dict[str, Any] | None) -> None:
        charge = self.objects["charge"].get(refund.get("charge") or "")
        if charge is None or refund.get("status") not in ("succeeded", "pending"):
            return
        refunded = (charge.get("amount_refunded") or 0) + refund.get("amount", 0)
        self.update("charge", charge["id"],
                    {"amount_refunded": refunded, "refunded": refunded >= charge.get("amount", 0)},
                    request, event="charge.refunded")


def _ids(value: Any) -> Any:
    if isinstance(value, list):
        return [_ids(v) for v in value]
    if isinstance(value, dict) and "id" in value:
        return value["id"]
    return value
