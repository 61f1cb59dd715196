"""FakeStripe: a Stripe-compatible HTTP server on 127.0.0.1 for tests, with runtime-switchable faults.

    with FakeStripe() as fake:
        fake.add_account("acct_1", key="sk_test_123")
        fake.add_many(objects)
        client = stripe.StripeClient("sk_test_123", base_addresses={"api": fake.url})

One lock guards all state. Handlers sleep (latency, `slow` faults) and write sockets outside it,
so concurrent requests overlap; the JSON of GET replies is also encoded outside it.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit

from .api import WRITES, check
from .errors import ApiError, invalid, mask_key, missing, required_param, unknown_param
from .forms import parse_form, to_int, to_list, to_str
from .resources import API_VERSION, BY_PATH, CHILDREN, Resource, get_path
from .store import AccountStore, account_object

FAULT_KINDS = ("rate_limit", "rate_limit_no_retry_after", "server_error", "drop", "slow", "drop_after_processing")
LIST_PARAMS = {"limit", "starting_after", "ending_before", "created", "expand"}
PAGE_PARAMS = {"limit", "starting_after", "ending_before", "expand"}
NO_KEY = ("You did not provide an API key. You need to provide your API key in the Authorization header, "
          "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#"
          "authentication for details, or we can help at https://support.stripe.com/.")
RATE_LIMITED = ("Request rate limit exceeded. Learn more about rate limits here "
                "https://stripe.com/docs/rate-limits.")
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Basic realm="Stripe"'}


@dataclass
class Fault:
    """An injected fault; `times=None` means until cleared. `fired` counts the requests it hit."""

    kind: str
    times: int | None = 1
    path: str | None = None  # regex searched in the request path
    method: str | None = None
    delay: float = 1.0  # for kind="slow"
    probability: float = 1.0
    rng: random.Random | None = None
    fired: int = 0
    query: str | None = None  # regex searched in the raw query string
    release: threading.Event | None = None  # kind="slow": answer once set (at most `delay` later)

    def take(self, method: str, path: str, query: str = "") -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method and self.method.upper() != method:
            return False
        if self.path and not re.search(self.path, path):
            return False
        if self.query and not re.search(self.query, query):
            return False
        if self.rng is not None and self.rng.random() >= self.probability:
            return False
        if self.times is not None:
            self.times -= 1
        self.fired += 1
        return True


@dataclass
class RequestRecord:
    """One request as received. The Authorization header is never kept."""

    method: str
    path: str
    query: dict[str, Any]
    form: dict[str, Any]
    idempotency_key: str | None
    account: str | None = None
    status: int | None = None  # None: no reply was sent (dropped, or still running)
    fault: str | None = None


@dataclass(frozen=True)
class ApiKey:
    key: str
    account: str
    denied: frozenset[str] = frozenset()  # resource paths ("disputes") or "disputes:read"/"disputes:write"

    def allows(self, resource: str, write: bool) -> bool:
        return not ({resource, f"{resource}:{'write' if write else 'read'}"} & self.denied)


@dataclass
class Reply:
    status: int
    body: bytes | None  # None: close the connection without replying
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    resource: str  # for restricted keys: a BY_PATH name or "account"
    permission: str  # rak_<permission>_read/_write
    write: bool
    run: Callable[[AccountStore, dict[str, Any], dict[str, Any]], Any]


class FakeStripe:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0) -> None:
        self.host, self.port = host, port
        self.latency = latency  # seconds added to every request (slept outside the lock)
        self._lock = threading.RLock()
        self._accounts: dict[str, AccountStore] = {}
        self._keys: dict[str, ApiKey] = {}
        self._platform_of: dict[str, str] = {}  # connected account -> platform account
        self._default: str | None = None
        self._faults: list[Fault] = []
        self._log: list[RequestRecord] = []
        self._clock: float | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "FakeStripe":
        if self._server is None:
            self._server = _Server((self.host, self.port), self)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"FakeStripe:{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)

    def __enter__(self) -> "FakeStripe":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeStripe is not started")
        return f"http://{self.host}:{self.port}"

    # ---------------------------------------------------------------- clock
    @property
    def clock(self) -> int:
        """Epoch seconds used for new objects and events: real time unless set."""
        return int(time.time() if self._clock is None else self._clock)

    @clock.setter
    def clock(self, value: float | None) -> None:
        self._clock = value

    def advance(self, seconds: float) -> int:
        self._clock = self.clock + seconds
        return self.clock

    # ------------------------------------------------------- accounts, keys
    def add_account(self, account: Mapping[str, Any] | str, key: str | None = None, *,
                    connected_to: str | None = None) -> str:
        """Add an account (id or account dict) with its own object store; returns its id.

        `key` registers a secret key for it; `connected_to` makes it a Connect account reachable
        with the platform's keys and a `Stripe-Account` header."""
        with self._lock:
            acc = account_object(dict(account) if isinstance(account, Mapping) else account, self.clock)
            if acc["id"] in self._accounts:
                self._accounts[acc["id"]].account = acc
            else:
                self._accounts[acc["id"]] = AccountStore(acc, lambda: self.clock)
            self._default = self._default or acc["id"]
            if connected_to:
                self._platform_of[acc["id"]] = connected_to
            if key:
                self.add_key(key, acc["id"])
            return acc["id"]

    def add_key(self, key: str, account: str | None = None, denied: Iterable[str] = ()) -> None:
        """Register an API key. `denied`: resources a restricted key may not use, e.g. {"disputes"}
        (read and write) or {"customers:write"}; such requests get Stripe's 403 permission error."""
        denied = frozenset(denied)
        for name in denied:
            resource, _, mode = name.partition(":")
            if (resource not in BY_PATH and resource != "account") or mode not in ("", "read", "write"):
                raise ValueError(f"unknown resource in denied: {name!r} (e.g. 'disputes', 'customers:write')")
        with self._lock:
            self._keys[key] = ApiKey(key, self.account_store(account).id, denied)

    def account_store(self, account: str | None = None) -> AccountStore:
        with self._lock:
            name = account or self._default
            if name not in self._accounts:
                raise KeyError(f"no such account in FakeStripe: {name!r} (add_account first)")
            return self._accounts[name]

    # -------------------------------------------------------------- objects
    def add(self, obj: dict[str, Any], account: str | None = None) -> None:
        """Store a Stripe-shaped dict as is (no event). Don't mutate it afterwards."""
        with self._lock:
            self.account_store(account).put(obj)

    def add_many(self, objects: Iterable[dict[str, Any]], account: str | None = None) -> int:
        with self._lock:
            store, count = self.account_store(account), 0
            for obj in objects:
                store.put(obj)
                count += 1
            return count

    def get(self, object_type: str, id: str, account: str | None = None) -> dict[str, Any] | None:
        """A copy of the stored object (full embedded lists), or None."""
        with self._lock:
            return copy.deepcopy(self.account_store(account).get(object_type, id))

    def create(self, obj: dict[str, Any], account: str | None = None) -> dict[str, Any]:
        """Add a new object and emit its creation event (refunds also update their charge)."""
        with self._lock:
            return self.account_store(account).create(obj)

    def update(self, object_type: str, id: str, *, account: str | None = None, **changes: Any) -> dict[str, Any]:
        """Replace top-level fields; emits `<object>.updated` with data.previous_attributes."""
        with self._lock:
            return self.account_store(account).update(object_type, id, changes)

    def delete(self, object_type: str, id: str, account: str | None = None) -> dict[str, Any]:
        """Emit `<object>.deleted`; a subscription is canceled instead (customer.subscription.deleted)."""
        with self._lock:
            return self.account_store(account).delete(object_type, id)

    # --------------------------------------------------------------- faults
    def inject(self, kind: str, times: int | None = 1, path: str | None = None, method: str | None = None,
               *, delay: float = 1.0, query: str | None = None, release: threading.Event | None = None) -> Fault:
        """Fail the next `times` matching requests (`times=None`: until cleared); `query`: only
        requests whose raw query string it is found in (e.g. `starting_after=`: a page after the first).
        `release` (kind="slow"): hold the answer until the test sets it, `delay` at most."""
        return self._add_fault(Fault(kind, times, path, method, delay, query=query, release=release))

    def inject_random(self, kind: str, probability: float, seed: int | None = None, *, path: str | None = None,
                      method: str | None = None, delay: float = 1.0) -> Fault:
        return self._add_fault(Fault(kind, None, path, method, delay, probability, random.Random(seed)))

    def _add_fault(self, fault: Fault) -> Fault:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; one of {FAULT_KINDS}")
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # ---------------------------------------------------------- request log
    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    def request_count(self, path_prefix: str | None = None, method: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self._log
                       if (path_prefix is None or r.path.startswith(path_prefix))
                       and (method is None or r.method == method.upper()))

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    # ------------------------------------------------------------- handling
    def _handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        url = urlsplit(target)
        record = RequestRecord(method, url.path, _lenient_form(url.query),
                               _lenient_form(body) if method == "POST" else {}, headers.get("Idempotency-Key"))
        with self._lock:
            self._log.append(record)
            fault = next((f for f in self._faults if f.take(method, url.path, url.query)), None)
        if self.latency > 0:
            time.sleep(self.latency)
        kind = fault.kind if fault else None
        record.fault = kind
        if kind == "drop":
            return Reply(0, None)
        if kind == "slow":
            if fault.release is not None:
                fault.release.wait(fault.delay)
            else:
                time.sleep(fault.delay)
        request_id = {"Request-Id": f"req_{secrets.token_hex(7)}"}
        if kind in ("rate_limit", "rate_limit_no_retry_after"):
            reply = _json(429, ApiError(429, RATE_LIMITED, code="rate_limit").body,
                          {**request_id, "Retry-After": "1"} if kind == "rate_limit" else request_id)
        elif kind == "server_error":
            error = ApiError(500, "An unknown error occurred", type="api_error")
            reply = _json(500, error.body, {**request_id, "Stripe-Should-Retry": "true"})
        else:
            reply = self._dispatch(method, url.path, url.query, headers, body, record)
        if kind == "drop_after_processing":
            return Reply(0, None)
        record.status = reply.status
        return reply

    def _dispatch(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes,
                  record: RequestRecord) -> Reply:
        request_id = f"req_{secrets.token_hex(7)}"
        idempotency_key = headers.get("Idempotency-Key") if method == "POST" else None
        request = {"id": request_id, "idempotency_key": idempotency_key}
        extra = {"Request-Id": request_id, "Stripe-Version": headers.get("Stripe-Version") or API_VERSION}
        try:
            with self._lock:
                key, store = self._authenticate(headers)
                record.account = store.id
                route = _route(method, path)
                if not key.allows(route.resource, route.write):
                    raise ApiError(
                        403, f"The provided key '{mask_key(key.key)}' does not have the required permissions "
                             f"for this endpoint on account '{store.id}'. Having the 'rak_{route.permission}_"
                             f"{'write' if route.write else 'read'}' permission would allow this request to "
                             "continue.")
                params = parse_form(body if method == "POST" else query)
                if idempotency_key:
                    return self._idempotent(store, route, params, path, request, idempotency_key, extra)
                payload = route.run(store, params, request)
            return _json(200, payload, extra)
        except ApiError as error:
            return _json(error.status, error.body, {**extra, **error.headers})

    def _idempotent(self, store: AccountStore, route: Route, params: dict[str, Any], path: str,
                    request: dict[str, Any], key: str, extra: dict[str, str]) -> Reply:
        """Stripe's idempotency: replay the saved reply for the same key and parameters."""
        fingerprint = (path, json.dumps(params, sort_keys=True))
        saved = store.idempotency.get(key)
        if saved is not None:
            if saved[0] != fingerprint:
                raise ApiError(400, "Keys for idempotent requests can only be used with the same parameters they "
                                    f"were first used with. Try using a key other than '{key}' if you meant to "
                                    "execute a different request.", type="idempotency_error")
            first: Reply = saved[1]
            return Reply(first.status, first.body, {**first.headers, "Idempotent-Replayed": "true",
                                                    "Original-Request": first.headers["Request-Id"]})
        try:
            reply = _json(200, route.run(store, params, request), extra)
        except ApiError as error:
            reply = _json(error.status, error.body, {**extra, **error.headers})
        # Requests rejected by validation (400) are not saved: retrying them with the key re-executes.
        if reply.status != 400:
            store.idempotency[key] = (fingerprint, reply)
        return reply

    def _authenticate(self, headers: Mapping[str, str]) -> tuple[ApiKey, AccountStore]:
        scheme, _, credentials = (headers.get("Authorization") or "").strip().partition(" ")
        token = credentials.strip()
        if scheme.lower() == "basic":
            try:
                token = base64.b64decode(token).decode().partition(":")[0]
            except ValueError:
                token = ""
        elif scheme.lower() != "bearer":
            token = ""
        if not token:
            raise ApiError(401, NO_KEY, headers=WWW_AUTHENTICATE)
        key = self._keys.get(token)
        if key is None:
            raise ApiError(401, f"Invalid API Key provided: {mask_key(token)}", headers=WWW_AUTHENTICATE)
        target = headers.get("Stripe-Account") or key.account
        if target != key.account and self._platform_of.get(target) != key.account:
            raise ApiError(403, f"The provided key '{mask_key(token)}' does not have access to account "
                                f"'{target}' (or that account does not exist). Application access may have "
                                "been revoked.", code="account_invalid")
        return key, self._accounts[target]


def _balance(store: AccountStore) -> dict[str, Any]:
    """Stripe's balance object, summed from the account's balance transactions by status."""
    totals: dict[str, dict[str, int]] = {"available": {}, "pending": {}}
    for txn in store.objects.get("balance_transaction", {}).values():
        kind = "available" if txn.get("status") == "available" else "pending"
        totals[kind][txn["currency"]] = totals[kind].get(txn["currency"], 0) + int(txn.get("net") or 0)
    return {"object": "balance", "livemode": False,
            **{kind: [{"amount": amount, "currency": cur, "source_types": {"card": amount}}
                      for cur, amount in sorted(by_currency.items())] for kind, by_currency in totals.items()}}


# ------------------------------------------------------------------- routing
def _route(method: str, path: str) -> Route:
    parts = path.strip("/").split("/")
    name, rest = (parts[1], parts[2:]) if len(parts) >= 2 and parts[0] == "v1" else ("", [])
    if method == "GET":
        if name == "account" and not rest:
            return Route("account", "accounts_kyc_basic", False, lambda s, q, r: (check(q, set()), s.account)[1])
        if name == "balance" and not rest:
            return Route("balance_transactions", "balance", False, lambda s, q, r: (check(q, set()), _balance(s))[1])
        if name == "subscription_items" and len(rest) <= 1:
            return Route("subscriptions", "subscription", False, (
                (lambda s, q, r: _retrieve_child(s, "subscription_item", rest[0], q)) if rest else
                (lambda s, q, r: _child_page(s, "subscription", _required(q, "subscription"), "items",
                                             "/v1/subscription_items", q, {"subscription"}))))
        resource = BY_PATH.get(name)
        if resource and name == "invoices" and len(rest) == 2 and rest[1] == "lines":
            return Route(name, resource.rak, False, lambda s, q, r: _child_page(
                s, "invoice", rest[0], "lines", f"/v1/invoices/{rest[0]}/lines", q))
        if resource and len(rest) <= 1:
            return Route(name, resource.rak, False, (
                (lambda s, q, r: _retrieve(s, resource, rest[0], q)) if rest else
                (lambda s, q, r: _list(s, resource, q))))
    handler = WRITES.get((method, name, bool(rest)))
    if handler is not None and len(rest) <= 1:
        def run(store: AccountStore, params: dict[str, Any], request: dict[str, Any]) -> Any:
            expand = to_list(params.get("expand"), "expand")
            return store.render(handler(store, params, rest[0] if rest else None, request), expand)

        return Route(name, BY_PATH[name].rak, True, run)
    raise ApiError(404, f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or "
                        "we can help at https://support.stripe.com/.")


def _required(params: dict[str, Any], name: str) -> str:
    if params.get(name) in (None, ""):
        raise required_param(name)
    return to_str(params[name], name)


def _limit(params: dict[str, Any]) -> int:
    if params.get("limit") in (None, ""):
        return 10
    limit = to_int(params["limit"], "limit")
    if limit < 1:
        raise invalid("This value must be greater than or equal to 1.", param="limit")
    if limit > 100:
        raise invalid("This value must be less than or equal to 100.", param="limit")
    return limit


def _cursors(params: dict[str, Any]) -> tuple[str | None, str | None]:
    after, before = (params.get(n) or None for n in ("starting_after", "ending_before"))
    if after and before:
        raise invalid("You may only specify one of these parameters: ending_before, starting_after.",
                      param="ending_before")
    return (after and to_str(after, "starting_after")), (before and to_str(before, "ending_before"))


def _created(value: Any) -> tuple[int | None, int | None]:
    """`created=N` or `created[gt|gte|lt|lte]=N` -> (inclusive low, exclusive high)."""
    if value in (None, ""):
        return None, None
    if not isinstance(value, dict):
        n = to_int(value, "created")
        return n, n + 1
    low: list[int] = []
    high: list[int] = []
    for op, raw in value.items():
        n = to_int(raw, f"created[{op}]")
        if op in ("gt", "gte"):
            low.append(n + 1 if op == "gt" else n)
        elif op in ("lt", "lte"):
            high.append(n + 1 if op == "lte" else n)
        else:
            raise unknown_param(f"created[{op}]")
    return (max(low) if low else None), (min(high) if high else None)


def _list_expand(params: dict[str, Any]) -> list[str]:
    return [p[len("data."):] for p in to_list(params.get("expand"), "expand") if p.startswith("data.")]


def _list(store: AccountStore, resource: Resource, q: dict[str, Any]) -> dict[str, Any]:
    check(q, LIST_PARAMS | set(resource.filters) | set(resource.special))
    index, predicates = None, []
    for param, path in resource.filters.items():
        if param not in q:
            continue
        value = to_str(q[param], param)
        if param in resource.indexed and index is None:
            index = (resource.object, param, value)
        else:
            predicates.append(_equals(path, value))
    predicates += [p for name, build in resource.special.items() if (p := build(q.get(name))) is not None]
    after, before = _cursors(q)
    items, has_more = store.page(resource.object, index=index, created=_created(q.get("created")),
                                 predicates=predicates, limit=_limit(q), starting_after=after,
                                 ending_before=before)
    expand = _list_expand(q)
    return {"object": "list", "data": [store.render(o, expand) for o in items], "has_more": has_more,
            "url": f"/v1/{resource.path}"}


def _equals(path: str, wanted: str) -> Callable[[dict[str, Any]], bool]:
    def matches(obj: dict[str, Any]) -> bool:
        value = get_path(obj, path)
        if isinstance(value, dict):
            value = value.get("id")
        if isinstance(value, bool):
            value = "true" if value else "false"
        return value is not None and str(value) == wanted

    return matches


def _retrieve(store: AccountStore, resource: Resource, oid: str, q: dict[str, Any]) -> dict[str, Any]:
    check(q, {"expand"})
    obj = store.get(resource.object, oid)
    if obj is None:
        if store.get_deleted(resource.object, oid) is not None:
            return {"id": oid, "object": resource.object, "deleted": True}
        raise missing(resource.object, oid)
    return store.render(obj, to_list(q.get("expand"), "expand"))


def _retrieve_child(store: AccountStore, kind: str, oid: str, q: dict[str, Any]) -> dict[str, Any]:
    check(q, {"expand"})
    obj = store.child(kind, oid)
    if obj is None:
        raise missing(kind, oid)
    return store.render(obj, to_list(q.get("expand"), "expand"))


def _child_page(store: AccountStore, parent_kind: str, parent_id: str, field: str, url: str, q: dict[str, Any],
                extra: set[str] = frozenset()) -> dict[str, Any]:
    """Page through a list stored in full inside its parent (invoice lines, subscription items)."""
    check(q, PAGE_PARAMS | extra)
    parent = store.require(parent_kind, parent_id, param=next(iter(extra), "id"))
    data = (parent.get(field) or {}).get("data", [])
    limit, (after, before) = _limit(q), _cursors(q)
    start, stop = 0, len(data)
    cursor = after or before
    if cursor:
        position = next((i for i, item in enumerate(data) if item["id"] == cursor), None)
        if position is None:
            kind = next((k for k, (p, f) in CHILDREN.items() if p == parent_kind), "line_item")
            raise missing(kind, cursor, param="starting_after" if after else "ending_before", status=400)
        start, stop = (position + 1, len(data)) if after else (0, position)
    if before:
        window, has_more = data[max(start, stop - limit):stop], stop - start > limit
    else:
        window, has_more = data[start:start + limit], stop - start > limit
    expand = _list_expand(q)
    return {"object": "list", "data": [store.render(o, expand) for o in window], "has_more": has_more,
            "url": url}


# ------------------------------------------------------------------ plumbing
def _lenient_form(text: str | bytes) -> dict[str, Any]:
    try:
        return parse_form(text)
    except (ApiError, UnicodeDecodeError):
        return dict(parse_qsl(text if isinstance(text, str) else text.decode("latin-1")))


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(payload, separators=(",", ":")).encode(), headers or {})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    server_version = "FakeStripe/1.0"
    timeout = 300  # idle keep-alive connections end eventually
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid the 40 ms delayed-ACK stall
    server: "_Server"

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, alive=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, alive=False)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            reply = self.server.fake._handle(method, self.path, self.headers, body)
            if reply.body is None:  # injected drop: no status line, just a closed connection
                self.close_connection = True
                return
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: FakeStripe) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            (self._connections.add if alive else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """End idle keep-alive connections, so a stopped fake really stops answering."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
