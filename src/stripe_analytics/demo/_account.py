"""Account-level pieces: the context shared by all customers (catalogue, sign-up curve,
exchange rates, settlement rules) and the streaming ``iter_objects()``."""

from __future__ import annotations

import bisect
import math
import pickle
import random
import struct
import tempfile
import zlib
from datetime import datetime, timezone
from typing import Iterator

from ._catalog import Catalog, build_catalog, catalog_objects
from .simulation import CustomerSimulation
from ._ids import IdFactory
from ._timeutil import DAY, HOUR, add_months, split

HISTORY_MONTHS = 24
EVENT_WINDOW_DAYS = 30
ACCOUNT_NAME = "Lumen Metrics"
# Month-of-year multipliers for sign-ups (B2B SaaS: strong Q1 and September, weak summer and December).
SEASON = (1.15, 1.08, 1.10, 1.00, 0.98, 0.93, 0.84, 0.82, 1.08, 1.06, 1.00, 0.78)
WEEKDAY = (1.15, 1.18, 1.17, 1.12, 1.0, 0.55, 0.5)  # Monday..Sunday
MONTHLY_GROWTH = 0.04
BASE_FX_TO_USD = {"eur": 1.085, "gbp": 1.265, "jpy": 0.00668}


def _to_ts(as_of: datetime | None) -> int:
    if as_of is None:
        as_of = datetime.now(timezone.utc)
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=timezone.utc)
    return int(as_of.timestamp())


class _Ctx:
    """Everything a CustomerSimulation needs; built once per account."""

    def __init__(self, seed: int, customers: int, as_of: int):
        self.seed = seed
        self.customers = customers
        self.as_of = as_of
        self.start = add_months(split(as_of), -HISTORY_MONTHS)
        self.window_start = as_of - EVENT_WINDOW_DAYS * DAY
        self.ids = IdFactory(seed)
        self.account_id = "acct_demo" + self.ids.account_suffix[:7]
        self.account_name = ACCOUNT_NAME
        self.account_country = "US"
        self.statement_descriptor = "LUMEN METRICS"
        self.cat: Catalog = build_catalog(self.ids, self.start, as_of)
        # EUR charges settle in EUR once the EUR bank account was added; before that (and for
        # GBP and JPY charges, always) they are converted to USD.
        self.eur_settlement_since = self.start + 14 * 30 * DAY
        rng = random.Random(f"stripe-analytics-demo:{seed}:account")
        self._build_signup_curve(rng)
        self._build_fx(rng)

    # -- sign-ups ------------------------------------------------------------------------------
    def _build_signup_curve(self, rng: random.Random) -> None:
        hours = (self.as_of - self.start) // HOUR
        weekly_noise = [math.exp(rng.gauss(0.0, 0.08)) for _ in range(hours // 168 + 2)]
        growth = math.log(1.0 + MONTHLY_GROWTH) / (30.4375 * 24)
        cum = []
        total = 0.0
        weights = []
        t = self.start
        # hour-of-day profile (UTC): most sign-ups during EU/US business hours
        hod = [0.35 + 0.65 * math.exp(-((h - 15.5) / 5.0) ** 2) for h in range(24)]
        cur_day = None
        month = 1
        for h in range(hours):
            ts = t + h * HOUR
            days = ts // DAY
            if days != cur_day:
                cur_day = days
                month = split(ts)[1]
            dow = (days + 3) % 7  # 1970-01-01 was a Thursday -> Monday == 0
            w = (math.exp(growth * h) * SEASON[month - 1] * WEEKDAY[dow] * hod[(ts % DAY) // HOUR]
                 * weekly_noise[h // 168])
            weights.append(w)
            total += w
            cum.append(total)
        self._cum = cum
        self._weights = weights
        self._total = total

    def signup_time(self, ci: int, u: float) -> int:
        """Sign-up time of customer ``ci``: the ((ci + u) / N)-quantile of the sign-up curve,
        so sign-ups are increasing in ``ci`` (the stream is in created order)."""
        q = (ci + u) / self.customers * self._total
        i = bisect.bisect_left(self._cum, q)
        if i >= len(self._cum):
            i = len(self._cum) - 1
        before = self._cum[i - 1] if i > 0 else 0.0
        frac = (q - before) / self._weights[i]
        t = self.start + i * HOUR + int(min(max(frac, 0.0), 0.9999) * HOUR)
        return min(t, self.as_of)

    # -- money ---------------------------------------------------------------------------------
    def _build_fx(self, rng: random.Random) -> None:
        self._fx_day0 = self.start // DAY - 90
        ndays = self.as_of // DAY - self._fx_day0 + 2
        self._fx = {}
        for cur, base in BASE_FX_TO_USD.items():
            x = 0.0
            series = []
            for _ in range(ndays):
                x = 0.985 * x + rng.gauss(0.0, 0.0045)
                rate = base * math.exp(x * 3)
                series.append(float(f"{rate:.6g}"))
            self._fx[cur] = series

    def rate(self, cur: str, settle: str, t: int) -> float | None:
        if cur == settle:
            return None
        if settle != "usd":
            raise ValueError(f"no conversion {cur}->{settle}")
        return self._fx[cur][t // DAY - self._fx_day0]

    def settlement(self, cur: str, t: int) -> tuple[str, float | None]:
        if cur == "usd":
            return "usd", None
        if cur == "eur" and t >= self.eur_settlement_since:
            return "eur", None
        return "usd", self.rate(cur, "usd", t)

    # -- the account object ----------------------------------------------------------------------
    def account_dict(self) -> dict:
        created = self.start - 75 * DAY
        bank = [
            {"id": "ba_" + self.ids.body(0, (1 << 23) + 1) + self.ids.tag[:3], "object": "bank_account",
             "account": self.account_id, "account_holder_name": "Lumen Metrics, Inc.",
             "account_holder_type": "company", "account_type": None, "available_payout_methods": ["standard"],
             "bank_name": "STRIPE TEST BANK", "country": "US", "currency": "usd", "default_for_currency": True,
             "fingerprint": self.ids.body(0, (1 << 23) + 2)[:16], "last4": "6789", "metadata": {},
             "routing_number": "110000000", "status": "new"},
            {"id": "ba_" + self.ids.body(0, (1 << 23) + 3) + self.ids.tag[:3], "object": "bank_account",
             "account": self.account_id, "account_holder_name": "Lumen Metrics, Inc.",
             "account_holder_type": "company", "account_type": None, "available_payout_methods": ["standard"],
             "bank_name": "STRIPE TEST BANK", "country": "DE", "currency": "eur", "default_for_currency": True,
             "fingerprint": self.ids.body(0, (1 << 23) + 4)[:16], "last4": "3000", "metadata": {},
             "routing_number": "110000000", "status": "new"},
        ]
        empty_req = {"alternatives": [], "current_deadline": None, "currently_due": [], "disabled_reason": None,
                     "errors": [], "eventually_due": [], "past_due": [], "pending_verification": []}
        return {
            "id": self.account_id,
            "object": "account",
            "business_profile": {
                "annual_revenue": None,
                "estimated_worker_count": 42,
                "mcc": "5734",
                "minority_owned_business_designation": None,
                "name": ACCOUNT_NAME,
                "product_description": "Revenue analytics and dashboards for SaaS companies.",
                "support_address": {"city": "San Francisco", "country": "US", "line1": "500 Howard St",
                                    "line2": "Suite 300", "postal_code": "94105", "state": "CA"},
                "support_email": "support@lumenmetrics.example",
                "support_phone": "+14155550123",
                "support_url": "https://lumenmetrics.example/support",
                "url": "https://lumenmetrics.example",
            },
            "business_type": "company",
            "capabilities": {"card_payments": "active", "transfers": "active"},
            "charges_enabled": True,
            "controller": {"type": "account"},
            "country": "US",
            "created": created,
            "default_currency": "usd",
            "details_submitted": True,
            "email": "finance@lumenmetrics.example",
            "external_accounts": {"object": "list", "data": bank, "has_more": False, "total_count": 2,
                                  "url": f"/v1/accounts/{self.account_id}/external_accounts"},
            "future_requirements": dict(empty_req),
            "metadata": {"demo": "true", "seed": str(self.seed)},
            "payouts_enabled": True,
            "requirements": dict(empty_req),
            "settings": {
                "bacs_debit_payments": {"display_name": None, "service_user_number": None},
                "branding": {"icon": None, "logo": None, "primary_color": "#4F46E5", "secondary_color": "#0EA5E9"},
                "card_issuing": {"tos_acceptance": {"date": None, "ip": None}},
                "card_payments": {"decline_on": {"avs_failure": False, "cvc_failure": True},
                                  "statement_descriptor_prefix": "LUMEN",
                                  "statement_descriptor_prefix_kana": None,
                                  "statement_descriptor_prefix_kanji": None},
                "dashboard": {"display_name": ACCOUNT_NAME, "timezone": "America/Los_Angeles"},
                "invoices": {"default_account_tax_ids": None, "hosted_payment_method_save": "offer"},
                "payments": {"statement_descriptor": self.statement_descriptor, "statement_descriptor_kana": None,
                             "statement_descriptor_kanji": None, "statement_descriptor_prefix_kana": None,
                             "statement_descriptor_prefix_kanji": None},
                "payouts": {"debit_negative_balances": True, "schedule": {"delay_days": 2, "interval": "daily"},
                            "statement_descriptor": None},
                "sepa_debit_payments": {},
            },
            "tos_acceptance": {"date": created, "ip": "203.0.113.10", "user_agent": None},
            "type": "standard",
        }


class DemoAccount:
    """A synthetic Stripe account.  ``account`` is the account object; ``iter_objects()``
    streams every other object (see the package docstring)."""

    def __init__(self, seed: int, customers: int, as_of: int):
        self.seed = seed
        self.customers = customers
        self._ctx = _Ctx(seed, customers, as_of)
        self.as_of = datetime.fromtimestamp(as_of, timezone.utc)
        self.start = datetime.fromtimestamp(self._ctx.start, timezone.utc)
        self.account = self._ctx.account_dict()

    @property
    def id(self) -> str:
        return self.account["id"]

    @property
    def as_of_ts(self) -> int:
        return self._ctx.as_of

    @property
    def events_since_ts(self) -> int:
        """Events are generated for changes at or after this timestamp (as_of - 30 days)."""
        return self._ctx.window_start

    def catalog_objects(self) -> Iterator[dict]:
        return catalog_objects(self._ctx.cat)

    def customer_objects(self, index: int) -> tuple[list[dict], list[dict]]:
        """(objects, events) of one customer, exactly as they appear in ``iter_objects()``."""
        if not 0 <= index < self.customers:
            raise IndexError(index)
        return CustomerSimulation(self._ctx, index).run()

    def customers_in(self, start: int, stop: int) -> Iterator[tuple[int, list[dict], list[dict]]]:
        """(index, objects, events) of customers ``start..stop-1``. In the stream a customer's
        objects follow the previous customer's, and all events come last, ordered on
        (created, customer index, place in the customer's events). Ranges are independent, so
        they can be generated in other processes."""
        for ci in range(start, stop):
            objs, evs = self.customer_objects(ci)
            yield ci, objs, evs

    def event_spool(self) -> "EventSpool":
        """An empty spool for this account's events (see `EventSpool`)."""
        return EventSpool(self._ctx.window_start)

    def iter_objects(self) -> Iterator[dict]:
        yield from self.catalog_objects()
        spool = self.event_spool()
        try:
            for ci in range(self.customers):
                objs, events = CustomerSimulation(self._ctx, ci).run()
                yield from objs
                for n, ev in enumerate(events):
                    spool.add(pack_event(ev, ci, n))
                del objs, events
            yield from spool.drain()
        finally:
            spool.close()


_HEADER = struct.Struct("<qqiI")  # created, customer index, event number, pickle length
SpooledEvent = tuple[int, bytes]  # (created, header + pickled event): its place in the stream and the event


def pack_event(ev: dict, ci: int, n: int) -> SpooledEvent:
    """Event ``n`` of customer ``ci`` as an `EventSpool` record (the pickling can run anywhere)."""
    blob = pickle.dumps(ev, protocol=pickle.HIGHEST_PROTOCOL)
    return ev["created"], _HEADER.pack(ev["created"], ci, n, len(blob)) + blob


class EventSpool:
    """Events are rendered with their customer (the simulation knows each object's state at
    every moment) but must come out last and in created order.  They are parked in one
    streaming zlib compressor per day of the event window, all writing into one spooled
    temporary file; at the end each day is decompressed, sorted on the record headers and
    unpickled one event at a time.  Peak memory is about one day of pickled events."""

    def __init__(self, window_start: int):
        self.window_start = window_start
        self.file = tempfile.SpooledTemporaryFile(max_size=64 << 20)
        self.compressors: dict[int, object] = {}
        self.chunks: dict[int, list[tuple[int, int]]] = {}
        self.pos = 0

    def _write(self, bucket: int, data: bytes) -> None:
        if data:
            self.file.write(data)
            self.chunks[bucket].append((self.pos, len(data)))
            self.pos += len(data)

    def add(self, record: SpooledEvent) -> None:
        created, packed = record
        bucket = max(0, (created - self.window_start) // DAY)
        comp = self.compressors.get(bucket)
        if comp is None:
            comp = self.compressors[bucket] = zlib.compressobj(1)
            self.chunks[bucket] = []
        self._write(bucket, comp.compress(packed))

    def drain(self) -> Iterator[dict]:
        """Every event, in created order (ties: customer, then the customer's own order)."""
        for bucket in sorted(self.compressors):
            self._write(bucket, self.compressors.pop(bucket).flush())
        for bucket in sorted(self.chunks):
            parts = []
            for off, size in self.chunks[bucket]:
                self.file.seek(off)
                parts.append(self.file.read(size))
            raw = zlib.decompress(b"".join(parts))
            del parts
            index = []
            pos = 0
            hsize = _HEADER.size
            while pos < len(raw):
                created, ci, n, size = _HEADER.unpack_from(raw, pos)
                index.append((created, ci, n, pos + hsize, size))
                pos += hsize + size
            index.sort()
            for _c, _ci, _n, start, size in index:
                yield pickle.loads(raw[start:start + size])
            del raw, index

    def close(self) -> None:
        self.file.close()


def generate_account(seed: int = 0, customers: int = 2000, as_of: datetime | None = None) -> DemoAccount:
    """Build a deterministic synthetic Stripe account with ``customers`` customers and
    24 months of history ending at ``as_of`` (UTC; ``None`` = now)."""
    if customers < 0:
        raise ValueError("customers must be >= 0")
    return DemoAccount(int(seed), int(customers), _to_ts(as_of))
