"""Per-customer simulation: a small discrete-event simulation of one customer's life
(sign-up, trials, subscriptions, renewals, plan/seat/add-on changes with prorations,
coupons, failed payments and dunning, cancellations, reactivations, one-off payments,
refunds, disputes) producing Stripe-shaped dicts.

Everything a customer does is drawn from its own ``random.Random`` seeded with
``(seed, customer index)``, so a customer's graph does not depend on any other customer
and the account can be streamed one customer at a time.

Records (``Sub``, ``Invoice``, ``Charge``...) hold the decided timeline of an object;
``render_*(..., at)`` turns a record into the API object *as it looked at time ``at``*,
which gives both the final objects (``at = as_of``) and the ``data.object`` of events.
"""

from __future__ import annotations

import heapq
import math
import random

from ._ids import b62
from ._catalog import ADDON_KEYS, CURRENCY_DECIMALS, CouponDef, PriceDef, fmt_money
from ._people import (COMPANY_A, COMPANY_B, COMPANY_SUFFIX, COUNTRIES, FIRST_NAMES, INDUSTRIES, LAST_NAMES,
                      STREETS)
from ._timeutil import DAY, HOUR, MINUTE, Cadence, add_months, fmt_date, split

API_VERSION = "2025-03-31.basil"

# Order of object kinds inside a customer's block when ``created`` ties.
RANK = {"customer": 0, "subscription": 1, "invoice": 2, "payment_intent": 3, "charge": 4, "refund": 5,
        "dispute": 6, "balance_transaction": 7}

# ---------------------------------------------------------------------------------------------
# Behaviour parameters (monthly rates unless stated otherwise)
SEGMENTS = (("smb", 0.70), ("mid_market", 0.22), ("enterprise", 0.08))
SEG = {
    "smb": dict(churn=0.018, trial=0.45, convert=0.62, immediate=0.35, upgrade=0.022, downgrade=0.007,
                addon_add=0.012, addon_remove=0.004, seats=0.0),
    "mid_market": dict(churn=0.012, trial=0.35, convert=0.66, immediate=0.25, upgrade=0.018, downgrade=0.006,
                       addon_add=0.03, addon_remove=0.01, seats=0.08),
    "enterprise": dict(churn=0.006, trial=0.0, convert=0.0, immediate=0.15, upgrade=0.0, downgrade=0.0,
                       addon_add=0.035, addon_remove=0.012, seats=0.12),
}
CHANNELS = {
    "smb": (("organic_search", 32), ("paid_search", 24), ("referral", 14), ("direct", 14), ("social", 8),
            ("partner", 6), ("outbound_sales", 2)),
    "mid_market": (("organic_search", 22), ("paid_search", 18), ("referral", 16), ("direct", 12), ("partner", 14),
                   ("social", 4), ("outbound_sales", 14)),
    "enterprise": (("outbound_sales", 55), ("partner", 20), ("referral", 12), ("direct", 8), ("organic_search", 5)),
}
FAILURES = (("card_declined", "generic_decline", "Your card was declined.", 40),
            ("card_declined", "insufficient_funds", "Your card has insufficient funds.", 35),
            ("expired_card", "expired_card", "Your card has expired.", 15),
            ("card_declined", "do_not_honor", "Your card was declined.", 7),
            ("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.", 3))
RETRY_OFFSETS = (3 * DAY, 8 * DAY, 15 * DAY)
RETRY_OFFSETS_WEEKLY = (1 * DAY, 3 * DAY, 5 * DAY)
RETRY_FAIL = 0.55
P_REFUND = 0.014
P_DISPUTE = 0.003
FIXED_FEE = {"usd": 30, "eur": 25, "gbp": 20, "jpy": 0}
DISPUTE_FEE = {"usd": 1500, "eur": 1500}
# Stripe's minimum charge amounts: a smaller amount due is not charged but carried to the
# customer's balance (the invoice is marked paid) and collected with the next invoice.
MIN_CHARGE = {"usd": 50, "eur": 50, "gbp": 30, "jpy": 50}
_DISPUTE_REASONS = (("fraudulent", "10.4", 45), ("subscription_canceled", "13.2", 20), ("unrecognized", "4837", 15),
                    ("product_not_received", "13.1", 10), ("duplicate", "12.6.1", 5), ("general", "4853", 5))


def rhu(x: float) -> int:
    """Round half up (half away from zero)."""
    if x >= 0:
        return int(math.floor(x + 0.5))
    return -int(math.floor(-x + 0.5))


def _wchoice(r: random.Random, pairs, wi: int = -1):
    total = 0.0
    for p in pairs:
        total += p[wi]
    x = r.random() * total
    for p in pairs:
        x -= p[wi]
        if x < 0:
            return p
    return pairs[-1]


def _poisson(r: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    n, t = 0, r.expovariate(1.0)
    while t < lam:
        n += 1
        t += r.expovariate(1.0)
    return n


def _digits(r: random.Random, pattern: str) -> str:
    return "".join(str(r.randrange(10)) if c == "#" else c for c in pattern)


# ---------------------------------------------------------------------------------------------
# Records


class Item:
    __slots__ = ("id", "price", "quantity", "created", "metered", "last_debit", "usage_base")

    def __init__(self, id, price: PriceDef, quantity: int, created: int):
        self.id = id
        self.price = price
        self.quantity = quantity
        self.created = created
        self.metered = price.usage_type == "metered"
        self.last_debit = None  # (invoice id, line id) of the latest charge for the current period
        self.usage_base = 0.0


class Disc:
    __slots__ = ("id", "coupon", "start", "end", "sub", "removed_at", "consumed")

    def __init__(self, id, coupon: CouponDef, start: int, sub):
        self.id = id
        self.coupon = coupon
        self.start = start
        self.sub = sub
        self.consumed = False
        if coupon.duration == "repeating":
            self.end = add_months(split(start), coupon.duration_in_months)
            self.removed_at = self.end
        else:
            self.end = None
            self.removed_at = None


class Line:
    __slots__ = ("id", "amount", "desc", "pstart", "pend", "price", "quantity", "si", "proration", "discountable",
                 "disc", "ii", "credited", "unit_dec")

    def __init__(self, id, amount, desc, pstart, pend, price, quantity, si, proration=False, ii=None,
                 credited=None, unit_dec=None):
        self.id = id
        self.amount = amount
        self.desc = desc
        self.pstart = pstart
        self.pend = pend
        self.price = price
        self.quantity = quantity
        self.si = si
        self.proration = proration
        self.discountable = not proration
        self.disc = ()
        self.ii = ii
        self.credited = credited
        self.unit_dec = unit_dec


class Invoice:
    __slots__ = ("id", "sub", "created", "reason", "lines", "currency", "subtotal", "discounts", "disc_totals",
                 "total", "sb", "amount_due", "eb", "finalized_at", "number", "period_start", "period_end",
                 "attempt_plan", "charges", "paid_at", "voided_at", "uncollectible_at", "pi", "deleted",
                 "auto_advance", "first_attempt_at", "inpay_id", "hold", "carried")

    def __init__(self):
        self.deleted = False
        self.attempt_plan = []
        self.charges = []
        self.paid_at = self.voided_at = self.uncollectible_at = None
        self.pi = None
        self.first_attempt_at = None
        self.inpay_id = None
        self.hold = False
        self.carried = False


class PI:
    __slots__ = ("id", "created", "amount", "currency", "charges", "succeeded_at", "canceled_at", "cancel_reason",
                 "description", "invoice", "metadata", "client_secret")

    def __init__(self, id, created, amount, currency, description, invoice=None, metadata=None, secret=""):
        self.id = id
        self.created = created
        self.amount = amount
        self.currency = currency
        self.charges = []
        self.succeeded_at = None
        self.canceled_at = None
        self.cancel_reason = None
        self.description = description
        self.invoice = invoice
        self.metadata = metadata or {}
        self.client_secret = f"{id}_secret_{secret}"


class BT:
    __slots__ = ("id", "created", "amount", "currency", "fee", "exchange_rate", "type", "category", "source",
                 "description", "available_on", "fee_desc")

    def __init__(self, id, created, amount, currency, fee, exchange_rate, type, category, source, description,
                 available_on, fee_desc):
        self.id = id
        self.created = created
        self.amount = amount
        self.currency = currency
        self.fee = fee
        self.exchange_rate = exchange_rate
        self.type = type
        self.category = category
        self.source = source
        self.description = description
        self.available_on = available_on
        self.fee_desc = fee_desc


class Charge:
    __slots__ = ("id", "created", "amount", "currency", "pi", "ok", "failure", "bt", "refunds", "dispute",
                 "description", "settle", "risk", "receipt")

    def __init__(self, id, created, amount, currency, pi, ok, description):
        self.id = id
        self.created = created
        self.amount = amount
        self.currency = currency
        self.pi = pi
        self.ok = ok
        self.failure = None
        self.bt = None
        self.refunds = []
        self.dispute = None
        self.description = description
        self.settle = None
        self.risk = 0
        self.receipt = ""


class Refund:
    __slots__ = ("id", "created", "amount", "charge", "reason", "bt", "currency", "ref")

    def __init__(self, id, created, amount, charge, reason, currency, ref):
        self.id = id
        self.created = created
        self.amount = amount
        self.charge = charge
        self.reason = reason
        self.currency = currency
        self.bt = None
        self.ref = ref


class Dispute:
    __slots__ = ("id", "created", "amount", "currency", "charge", "reason", "code", "evidence_at", "closed_at",
                 "won", "bts", "due_by")

    def __init__(self):
        self.bts = []


class Sub:
    __slots__ = ("id", "created", "currency", "items", "status", "trial_start", "trial_end", "cad", "k", "ps",
                 "pe", "cancel_at_period_end", "cancel_at", "canceled_at", "ended_at", "cancel_details", "discs",
                 "invoices", "converts", "dunning", "unpaid_left", "drafts", "trial_behavior", "metadata",
                 "interval", "interval_count", "heap", "seq", "lapsed")

    def __init__(self):
        self.items = []
        self.status = "incomplete"
        self.trial_start = self.trial_end = None
        self.cad = None
        self.k = 0
        self.ps = self.pe = 0
        self.cancel_at_period_end = False
        self.cancel_at = self.canceled_at = self.ended_at = None
        self.cancel_details = None
        self.discs = []
        self.invoices = []
        self.drafts = []
        self.unpaid_left = 0
        self.trial_behavior = "create_invoice"
        self.heap = []
        self.seq = 0
        self.lapsed = False


# ---------------------------------------------------------------------------------------------


class CustomerSim:
    """Simulates and renders one customer.  ``run()`` returns (objects, events)."""

    def __init__(self, ctx, ci: int):
        self.ctx = ctx
        self.ci = ci
        self.owner = ci + 1
        self.seq = 0
        self.evseq = 1 << 23
        self.as_of = ctx.as_of
        self.rng = random.Random(f"stripe-analytics-demo:{ctx.seed}:{ci}")
        self.records = []
        self.events = []
        self.balance = 0
        self.inv_seq = 0
        self.card_since = None
        self.currency_since = None
        self.subs = []
        self.invoices = []
        self._profile()

    # -- ids & bookkeeping -------------------------------------------------------------------
    def nid(self, prefix: str) -> str:
        self.seq += 1
        return self.ctx.ids.long(prefix, self.owner, self.seq)

    def add(self, kind: str, rec) -> None:
        self.records.append((rec.created, RANK[kind], len(self.records), kind, rec))

    def event(self, t: int, etype: str, payload, prev=None, request: bool = False) -> None:
        """payload: a rendered dict (snapshot) or (kind, record) rendered later at ``t``."""
        if self.ctx.window_start <= t <= self.as_of:
            self.events.append([t, len(self.events), etype, payload, prev, request])

    # -- profile -----------------------------------------------------------------------------
    def _profile(self) -> None:
        r = self.rng
        ctx = self.ctx
        self.created = ctx.signup_time(self.ci, r.random())
        self.id = ctx.ids.short("cus", self.owner, 0)
        self.segment = _wchoice(r, SEGMENTS)[0]
        self.channel = _wchoice(r, CHANNELS[self.segment])[0]
        self.industry = r.choice(INDUSTRIES)
        code, _w, cur, locale, tld, cities = _wchoice(r, COUNTRIES, 1)
        self.country, self.currency, self.locale = code, cur, locale
        city, state, postal = r.choice(cities)
        first, last = r.choice(FIRST_NAMES), r.choice(LAST_NAMES)
        company = f"{r.choice(COMPANY_A)} {r.choice(COMPANY_B)}"
        slug = company.lower().replace(" ", "")
        person_is_customer = self.segment == "smb" and r.random() < 0.55
        self.name = f"{first} {last}" if person_is_customer else f"{company} {COMPANY_SUFFIX[code]}"
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "").replace("ü", "u").replace("á", "a")
        local = local.replace("é", "e")
        if self.segment != "smb" and r.random() < 0.4:
            local = r.choice(("billing", "finance", "accounts", "ap"))
        # RFC 2606 reserved TLD: never a real mailbox.
        self.email = f"{local}{r.randrange(100) if r.random() < 0.2 else ''}@{slug}.{tld.split('.')[-1]}.example"
        self.phone = f"+1 555-01{r.randrange(100):02d}" if code == "US" and r.random() < 0.3 else None
        self.address = {"city": city, "country": code, "line1": f"{r.randint(1, 999)} {r.choice(STREETS)}",
                        "line2": None, "postal_code": _digits(r, postal), "state": state}
        self.invoice_prefix = ctx.ids.body(self.owner, 0)[:8].upper().replace("0", "A")
        # payment card
        if code == "JP":
            brand = _wchoice(r, (("visa", 45), ("mastercard", 25), ("jcb", 30)))[0]
        elif code == "US":
            brand = _wchoice(r, (("visa", 55), ("mastercard", 30), ("amex", 15)))[0]
        else:
            brand = _wchoice(r, (("visa", 58), ("mastercard", 38), ("amex", 4)))[0]
        self.card = {
            "brand": brand, "last4": f"{r.randrange(10000):04d}", "exp_month": r.randint(1, 12),
            "exp_year": split(self.created)[0] + r.randint(1, 5), "funding": "debit" if r.random() < 0.3 else "credit",
            "country": code if r.random() < 0.95 else "US",
            "fingerprint": b62(r.getrandbits(96), 16),
        }
        self.pm = self.nid("pm")
        # card risk: most cards almost never fail, a few are chronically declined
        self.fail_p = 0.30 if r.random() < 0.07 else 0.035
        self.intl_card = self.card["country"] != "US"

    # -- main journey ------------------------------------------------------------------------
    def run(self):
        r = self.rng
        as_of = self.as_of
        self.add("customer", self)
        self.event(self.created, "customer.created", ("customer", self), request=True)
        x = r.random()
        kind = "lead" if x < 0.05 else ("one_off" if x < 0.065 else "subscriber")
        if kind == "one_off" or (kind == "subscriber" and r.random() < 0.05):
            for _ in range(1 if r.random() < 0.75 else 2):
                t = self.created + r.randint(5 * MINUTE, 3 * DAY) + int(r.expovariate(1 / (60 * DAY)))
                if t <= as_of:
                    self.one_off(t)
        if kind == "subscriber":
            y = r.random()
            if y < 0.6:
                delay = r.randint(30, 20 * MINUTE)
            elif y < 0.9:
                delay = r.randint(20 * MINUTE, 4 * DAY)
            else:
                delay = r.randint(4 * DAY, 40 * DAY)
            t0 = self.created + delay
            first = True
            while t0 <= as_of:
                sub = self.run_subscription(t0, first)
                if sub.ended_at is None:
                    break
                if sub.status == "incomplete_expired":
                    p, gap = 0.35, r.randint(HOUR, 10 * DAY)
                elif sub.lapsed:
                    p, gap = 0.06, r.randint(20 * DAY, 200 * DAY)
                else:
                    p, gap = 0.16, r.randint(25 * DAY, 300 * DAY)
                if r.random() >= p:
                    break
                t0 = sub.ended_at + gap
                first = False
        return self.finish()

    # -- subscriptions -------------------------------------------------------------------------
    def _plan(self, t: int, first: bool):
        """Choose (items [(price, qty)], interval, count) available at ``t`` in the customer's currency."""
        r = self.rng
        cat = self.ctx.cat
        cur = self.currency
        seg = self.segment
        for _attempt in range(8):
            addons = 0
            metered = False
            if seg == "smb":
                main = "starter" if r.random() < 0.62 else "pro"
                y = r.random()
                if main == "starter":
                    # weekly billing: freelancers and short projects
                    iv = ("week", 1) if y < 0.45 else (("year", 1) if y < 0.55 else ("month", 1))
                else:
                    iv = ("month", 3) if y < 0.12 else (("year", 1) if y < 0.28 else ("month", 1))
                qty = 1
                z = r.random()
                addons = 2 if z < 0.25 else (1 if z < 0.66 else 0)
                metered = main == "pro" and r.random() < 0.12
            elif seg == "mid_market":
                main = "pro" if r.random() < 0.45 else "team"
                y = r.random()
                iv = ("year", 1) if y < 0.22 else (("month", 3) if (main == "pro" and y < 0.3) else ("month", 1))
                qty = 1 if main == "pro" else min(60, 3 + int(r.expovariate(1 / 6)))
                addons = _wchoice(r, ((0, 10), (1, 25), (2, 30), (3, 20), (4, 10), (5, 5)))[0]
                metered = r.random() < 0.35
            else:
                main = "enterprise"
                iv = ("year", 1) if r.random() < 0.4 else ("month", 1)
                qty = 1
                addons = r.randint(2, 12)
                metered = iv == ("month", 1) and r.random() < 0.6
            price = cat.get(main, cur, iv[0], iv[1], t)
            if price is None:
                continue
            items = [(price, qty)]
            if main == "team":
                if cur == "usd" and iv == ("month", 1) and r.random() < 0.6:
                    tiered = cat.get("team", cur, "month", 1, t, tiered=True)
                    if tiered is not None:
                        items = [(tiered, qty)]
            if main == "enterprise":
                seats = cat.get("team", cur, iv[0], iv[1], t)
                if seats is not None:
                    items.append((seats, 15 + int(r.expovariate(1 / 40))))
            if addons:
                pool = list(ADDON_KEYS)
                if seg == "smb":
                    pool = ["extra_storage", "custom_domain", "sandbox", "audit_log", "webhooks_plus"]
                r.shuffle(pool)
                for key in pool[:addons]:
                    ap = cat.get(key, cur, iv[0], iv[1], t)
                    if ap is not None:
                        items.append((ap, r.randint(1, 12) if key == "extra_storage" else 1))
            if metered and iv == ("month", 1):
                mp = cat.get("api", cur, "month", 1, t)
                if mp is not None:
                    items.append((mp, 0))
            return items, iv
        price = cat.get("starter", cur, "month", 1, t)
        return [(price, 1)], ("month", 1)

    def _coupon_at_start(self, sub: Sub, t: int, first: bool, interval) -> CouponDef | None:
        r = self.rng
        cat = self.ctx.cat
        cp = None
        if not first:
            if r.random() < 0.4:
                cp = cat.coupons["WINBACK25"]
        elif self.channel == "partner" and r.random() < 0.5:
            cp = cat.coupons["PARTNER15"]
        elif self.industry == "nonprofit" and r.random() < 0.6:
            cp = cat.coupons["NONPROFIT30"]
        elif interval[0] == "year" and r.random() < 0.15:
            cp = cat.coupons["ANNUAL10"]
        else:
            y = r.random()
            if y < 0.07:
                cp = cat.coupons["WELCOME20"]
            elif y < 0.10 and t < self.ctx.start + 180 * DAY:
                cp = cat.coupons["LAUNCH50"]
            elif y < 0.13:
                cp = {"usd": cat.coupons["USD10OFF"], "eur": cat.coupons["EUR25OFF"],
                      "gbp": cat.coupons["GBP5OFF"], "jpy": cat.coupons["JPY1000OFF"]}[self.currency]
        if cp is not None and cp.created > t:
            return None
        return cp

    def add_discount(self, sub: Sub, coupon: CouponDef, t: int) -> Disc:
        d = Disc(self.nid("di"), coupon, t, sub)
        sub.discs.append(d)
        return d

    def active_discounts(self, sub: Sub, t: int):
        return [d for d in sub.discs
                if d.start <= t and not d.consumed and (d.removed_at is None or t < d.removed_at)]

    def push(self, sub: Sub, t: int, kind: str, *args) -> None:
        sub.seq += 1
        heapq.heappush(sub.heap, (t, sub.seq, kind, args))

    def run_subscription(self, t0: int, first: bool) -> Sub:
        r = self.rng
        seg = SEG[self.segment]
        sub = Sub()
        sub.id = self.nid("sub")
        sub.created = t0
        sub.currency = self.currency
        sub.metadata = {}
        if self.currency_since is None:
            self.currency_since = t0
        plan, iv = self._plan(t0, first)
        sub.interval, sub.interval_count = iv
        for price, qty in plan:
            it = Item(self.nid("si"), price, qty, t0)
            if it.metered:
                it.usage_base = r.lognormvariate(math.log(600), 0.9)
            sub.items.append(it)
        sub.dunning = "cancel" if r.random() < 0.5 else "unpaid"
        self.subs.append(sub)
        self.add("subscription", sub)
        cp = self._coupon_at_start(sub, t0, first, iv)
        if cp is not None:
            self.add_discount(sub, cp, t0)
        trial = first and iv[0] != "week" and r.random() < seg["trial"]
        slot = len(self.events)
        self.event(t0, "customer.subscription.created", None, request=True)
        if trial:
            sub.status = "trialing"
            sub.trial_start = t0
            sub.trial_end = t0 + (30 if self.segment == "mid_market" and r.random() < 0.3 else 14) * DAY
            sub.ps, sub.pe = t0, sub.trial_end
            sub.converts = r.random() < seg["convert"]
            if sub.converts:
                t_card = t0 + int((sub.trial_end - t0) * r.random())
                if self.card_since is None or t_card < self.card_since:
                    self.card_since = t_card
            else:
                sub.trial_behavior = "cancel"
            inv_id = self.nid("in")
            lines = []
            for it in sub.items:
                if it.metered:
                    continue
                lines.append(Line(self.nid("il"), 0, f"Trial period for {it.price.product.name}", t0,
                                  sub.trial_end, it.price, it.quantity, it.id, unit_dec="0"))
            self.new_invoice(sub, inv_id, t0, "subscription_create", lines, t0, (t0, t0), discounts=False)
            self.push(sub, sub.trial_end - 3 * DAY, "trial_will_end")
            self.push(sub, sub.trial_end, "trial_end")
        else:
            if self.card_since is None or t0 < self.card_since:
                self.card_since = t0
            sub.cad = Cadence(iv[0], iv[1], t0)
            self.set_period(sub, 0)
            inv = self.cycle_invoice(sub, t0, "subscription_create", None, t0)
            if inv.pi is not None:
                self.attempt(sub, t0, inv, 0)
            else:
                self.activate(sub, t0)
        if self.events and slot < len(self.events) and self.events[slot][2] == "customer.subscription.created":
            self.events[slot][3] = self.render_sub(sub, t0)
        self.loop(sub)
        return sub

    def loop(self, sub: Sub) -> None:
        heap = sub.heap
        as_of = self.as_of
        while heap:
            t, _s, kind, args = heapq.heappop(heap)
            if t > as_of:
                break
            if kind == "attempt":
                self.attempt(sub, t, *args)
                continue
            if kind == "expire":
                self.expire(sub, t, *args)
                continue
            if kind == "recover":
                self.recover(sub, t, *args)
                continue
            if sub.ended_at is not None:
                continue
            getattr(self, "on_" + kind)(sub, t, *args)

    def set_period(self, sub: Sub, k: int) -> None:
        sub.k = k
        sub.ps = sub.cad.boundary(k)
        sub.pe = sub.cad.boundary(k + 1)

    def schedule_period(self, sub: Sub) -> None:
        """Sample what happens to an active subscription during its current period."""
        r = self.rng
        seg = SEG[self.segment]
        ps, pe = sub.ps, sub.pe
        months = sub.cad.months
        lo, hi = ps + 26 * HOUR, pe - 2 * HOUR
        if hi <= lo:
            return
        churn = seg["churn"] * (1.7 if sub.k < 3 else 1.0)
        if sub.interval == "year":
            churn *= 0.8
        if r.random() < 1 - (1 - churn) ** months:
            mode = "immediate" if (sub.interval != "year" and r.random() < seg["immediate"]) else "period_end"
            self.push(sub, r.randint(lo, hi), "cancel", mode)
        if sub.interval == "week":
            return
        for kind in ("upgrade", "downgrade", "seats", "addon_add", "addon_remove"):
            rate = seg[kind]
            if rate <= 0:
                continue
            for _ in range(min(3, _poisson(r, rate * months))):
                self.push(sub, r.randint(lo, hi), "change", kind)

    # -- invoices ------------------------------------------------------------------------------
    def line_for(self, it: Item, inv_id: str, ps: int, pe: int, quantity: int | None = None) -> Line:
        price = it.price
        q = it.quantity if quantity is None else quantity
        name = price.product.name
        cur = price.currency
        if price.tiered:
            desc = f"{q} × {name} (graduated seat pricing, {price.interval_text()})"
            unit_dec = None
        else:
            desc = f"{q} × {name} (at {fmt_money(price.unit_amount, cur)} {price.interval_text()})"
            unit_dec = str(price.unit_amount)
        return Line(self.nid("il"), price.amount(q), desc, ps, pe, price, q, it.id, unit_dec=unit_dec)

    def cycle_invoice(self, sub: Sub, t: int, reason: str, prev_period, finalize_at: int,
                      draft: bool = False, licensed: bool = True) -> Invoice:
        r = self.rng
        inv_id = self.nid("in")
        lines = []
        for it in sub.items:
            if it.metered:
                if prev_period is not None and it.created <= prev_period[0]:
                    growth = 1.0 + 0.03 * sub.k
                    q = max(0, int(it.usage_base * growth * r.lognormvariate(0, 0.3)))
                    lines.append(self.line_for(it, inv_id, prev_period[0], prev_period[1], q))
            elif licensed:
                ln = self.line_for(it, inv_id, sub.ps, sub.pe)
                it.last_debit = (inv_id, ln.id)
                lines.append(ln)
        if prev_period is None:
            period = (t, t)
        else:
            period = (prev_period[0], t)
        return self.new_invoice(sub, inv_id, t, reason, lines, finalize_at, period, draft=draft)

    def new_invoice(self, sub: Sub, inv_id: str, t: int, reason: str, lines: list, finalize_at: int, period,
                    discounts: bool = True, draft: bool = False) -> Invoice:
        inv = Invoice()
        inv.id = inv_id
        inv.sub = sub
        inv.created = t
        inv.reason = reason
        inv.lines = lines
        inv.currency = sub.currency
        inv.period_start, inv.period_end = period
        inv.auto_advance = not draft
        subtotal = 0
        for ln in lines:
            subtotal += ln.amount
        applied = []
        if discounts and subtotal > 0:
            for d in self.active_discounts(sub, t):
                applied.append(d)
                if d.coupon.duration == "once":
                    d.consumed = True
                    d.removed_at = t
        totals = []
        disc_sum = 0
        if applied:
            disc_lines = [ln for ln in lines if ln.discountable]
            for ln in disc_lines:
                ln.disc = []
            for d in applied:
                c = d.coupon
                base = sum(ln.amount for ln in disc_lines)
                if c.percent_off is not None:
                    amounts = [rhu(ln.amount * c.percent_off / 100.0) for ln in disc_lines]
                else:
                    total_off = min(c.amount_off, max(0, base))
                    amounts = _allocate(total_off, [ln.amount for ln in disc_lines])
                for ln, a in zip(disc_lines, amounts):
                    ln.disc.append((a, d.id))
                s = sum(amounts)
                totals.append((s, d))
                disc_sum += s
        inv.discounts = applied
        inv.disc_totals = totals
        inv.subtotal = subtotal
        inv.total = subtotal - disc_sum
        finalized = not draft and finalize_at <= self.as_of
        if finalized:
            sb = self.balance
            inv.sb = sb
            inv.amount_due = max(0, inv.total + sb)
            inv.eb = sb + inv.total - inv.amount_due
            if 0 < inv.amount_due < MIN_CHARGE[inv.currency]:
                inv.carried = True
                inv.eb = sb + inv.total
            self.balance = inv.eb
            self.inv_seq += 1
            inv.number = f"{self.invoice_prefix}-{self.inv_seq:04d}"
            inv.finalized_at = finalize_at
        else:
            inv.sb = 0
            inv.amount_due = max(0, inv.total)
            inv.eb = None
            inv.number = None
            inv.finalized_at = None
        self.add("invoice", inv)
        self.invoices.append(inv)
        sub.invoices.append(inv)
        if draft:
            sub.drafts.append(inv)
        self.event(t, "invoice.created", ("invoice", inv, "created"))
        if finalized:
            self.event(finalize_at, "invoice.finalized", ("invoice", inv, "finalized"))
            if inv.amount_due == 0 or inv.carried:
                inv.paid_at = finalize_at
                self.event(finalize_at, "invoice.paid", ("invoice", inv))
            else:
                desc = "Subscription creation" if reason == "subscription_create" else (
                    "Subscription update" if reason == "subscription_update" else "Subscription cycle")
                pi = PI(self.nid("pi"), finalize_at, inv.amount_due, inv.currency, desc, invoice=inv,
                        secret=b62(self.rng.getrandbits(128), 24))
                inv.pi = pi
                inv.inpay_id = self.nid("inpay")
                self.add("payment_intent", pi)
                if reason != "subscription_create":
                    first = finalize_at + self.rng.randint(1, 240)
                    inv.attempt_plan.append(first)
                    self.push(sub, first, "attempt", inv, 0)
        return inv

    # -- payments ------------------------------------------------------------------------------
    def attempt(self, sub: Sub, t: int, inv: Invoice, n: int) -> None:
        if inv.paid_at is not None or inv.voided_at is not None or inv.uncollectible_at is not None:
            return
        r = self.rng
        if not inv.attempt_plan or inv.attempt_plan[-1] != t:
            inv.attempt_plan.append(t)
        if inv.first_attempt_at is None:
            inv.first_attempt_at = t
        ok = r.random() >= (self.fail_p if n == 0 else RETRY_FAIL)
        pi = inv.pi
        ch = self.charge(t, pi, ok)
        inv.charges.append(ch)
        if ok:
            inv.paid_at = t
            self.event(t, "invoice.paid", ("invoice", inv))
            if sub.ended_at is None and inv.sub is sub:
                if sub.status == "incomplete":
                    self.activate(sub, t)
                elif sub.status == "past_due" and not any(
                        o.charges and o.paid_at is None and o.voided_at is None and o.uncollectible_at is None
                        for o in sub.invoices):
                    sub.status = "active"
                    self.event(t, "customer.subscription.updated", self.render_sub(sub, t), {"status": "past_due"})
            return
        self.event(t, "invoice.payment_failed", ("invoice", inv))
        if inv.reason == "subscription_create" and sub.status == "incomplete":
            if n == 0:
                if r.random() < 0.5:
                    t2 = t + r.randint(10 * MINUTE, 20 * HOUR)
                    inv.attempt_plan.append(t2)
                    self.push(sub, t2, "attempt", inv, 1)
                self.push(sub, inv.created + 23 * HOUR, "expire", inv)
            return
        if sub.ended_at is None and sub.status == "active":
            sub.status = "past_due"
            self.event(t, "customer.subscription.updated", self.render_sub(sub, t), {"status": "active"})
        offsets = RETRY_OFFSETS_WEEKLY if sub.interval == "week" else RETRY_OFFSETS
        if n < len(offsets):
            t2 = inv.first_attempt_at + offsets[n] + r.randint(0, 6 * HOUR)
            inv.attempt_plan.append(t2)
            self.push(sub, t2, "attempt", inv, n + 1)
        else:
            self.exhaust(sub, t, inv)

    def activate(self, sub: Sub, t: int) -> None:
        """The first invoice of a (non-trial) subscription got paid."""
        sub.status = "active"
        if t > sub.created:
            self.event(t, "customer.subscription.updated", self.render_sub(sub, t), {"status": "incomplete"})
        self.schedule_period(sub)
        self.push(sub, sub.pe, "renew")

    def exhaust(self, sub: Sub, t: int, inv: Invoice) -> None:
        """All retries failed."""
        r = self.rng
        if sub.ended_at is not None or sub.status != "past_due" or sub.dunning == "cancel":
            inv.uncollectible_at = t
            self.event(t, "invoice.marked_uncollectible", ("invoice", inv))
            if inv.pi is not None:
                inv.pi.canceled_at = t
                inv.pi.cancel_reason = "automatic"
            if sub.ended_at is None and sub.status == "past_due":
                self.end_sub(sub, t, "canceled", "payment_failed")
            return
        sub.status = "unpaid"
        sub.unpaid_left = r.randint(2, 4)
        inv.hold = True
        self.event(t, "customer.subscription.updated", self.render_sub(sub, t), {"status": "past_due"})
        if r.random() < 0.3:
            t2 = t + r.randint(DAY, 6 * DAY)
            if t2 < sub.pe - HOUR:
                self.push(sub, t2, "recover", inv)

    def recover(self, sub: Sub, t: int, inv: Invoice) -> None:
        """The customer updates the card and pays the open invoice of an unpaid subscription."""
        if sub.ended_at is not None or sub.status != "unpaid" or sub.drafts or inv.paid_at is not None:
            return
        if inv.uncollectible_at is not None:
            return
        inv.attempt_plan.append(t)
        ch = self.charge(t, inv.pi, True)
        inv.charges.append(ch)
        inv.paid_at = t
        inv.hold = False
        self.event(t, "invoice.paid", ("invoice", inv))
        sub.status = "active"
        self.event(t, "customer.subscription.updated", self.render_sub(sub, t), {"status": "unpaid"})

    def expire(self, sub: Sub, t: int, inv: Invoice) -> None:
        if inv.paid_at is not None or sub.status != "incomplete":
            return
        inv.voided_at = t
        self.event(t, "invoice.voided", ("invoice", inv))
        if inv.pi is not None:
            inv.pi.canceled_at = t
            inv.pi.cancel_reason = "void_invoice"
            self.event(t, "payment_intent.canceled", ("payment_intent", inv.pi))
        sub.status = "incomplete_expired"
        sub.ended_at = t
        self.event(t, "customer.subscription.deleted", self.render_sub(sub, t))

    def charge(self, t: int, pi: PI, ok: bool) -> Charge:
        r = self.rng
        ctx = self.ctx
        ch = Charge(self.nid("ch"), t, pi.amount, pi.currency, pi, ok, pi.description)
        ch.risk = r.randint(5, 60) if ok else r.randint(20, 85)
        ch.receipt = b62(r.getrandbits(192), 32)
        pi.charges.append(ch)
        self.add("charge", ch)
        if ok:
            pi.succeeded_at = t
            settle, rate = ctx.settlement(ch.currency, t)
            ch.settle = settle
            fee_pct = 0.029 + (0.015 if self.intl_card else 0.0) + (0.01 if rate is not None else 0.0)
            ch.bt = self.bt(t, "charge", "charge", ch.amount, ch.currency, settle, rate, ch.id, ch.description,
                            fee_pct=fee_pct)
            self.event(t, "charge.succeeded", ("charge", ch))
            self.event(t, "payment_intent.succeeded", ("payment_intent", pi))
            self._after_success(ch)
        else:
            ch.failure = _wchoice(r, FAILURES)
            self.event(t, "charge.failed", ("charge", ch))
            self.event(t, "payment_intent.payment_failed", ("payment_intent", pi))
        return ch

    def bt(self, t, type_, category, amount, currency, settle, rate, source, description, fee_pct=0.0,
           fixed_fee=None, available_days=2) -> BT:
        if rate is None or settle == currency:
            samt = amount
            er = None
        else:
            samt = rhu(amount * rate * 10 ** (CURRENCY_DECIMALS[settle] - CURRENCY_DECIMALS[currency]))
            er = rate
        if fixed_fee is not None:
            fee = fixed_fee
            fee_desc = "Dispute fee" if fixed_fee > 0 else "Dispute fee refund"
        elif fee_pct:
            fee = rhu(abs(samt) * fee_pct) + FIXED_FEE[settle]
            fee_desc = "Stripe processing fees"
        else:
            fee = 0
            fee_desc = None
        rec = BT(self.nid("txn"), t, samt, settle, fee, er, type_, category, source, description,
                 (t // DAY + available_days) * DAY, fee_desc)
        self.add("balance_transaction", rec)
        return rec

    def _after_success(self, ch: Charge) -> None:
        r = self.rng
        x = r.random()
        if x < P_REFUND:
            tr = ch.created + r.randint(HOUR, 20 * DAY)
            if tr <= self.as_of:
                full = r.random() < 0.55
                amt = ch.amount if full else max(1, rhu(ch.amount * r.uniform(0.1, 0.7)))
                reason = _wchoice(r, (("requested_by_customer", 70), ("duplicate", 10), ("fraudulent", 5),
                                      (None, 15)))[0]
                self.refund(tr, ch, amt, reason)
                if not full and r.random() < 0.2:
                    tr2 = tr + r.randint(HOUR, 10 * DAY)
                    left = ch.amount - amt
                    if tr2 <= self.as_of and left > 0:
                        self.refund(tr2, ch, max(1, rhu(left * r.uniform(0.2, 1.0))), "requested_by_customer")
        elif x < P_REFUND + P_DISPUTE:
            td = ch.created + r.randint(5 * DAY, 60 * DAY)
            if td <= self.as_of:
                self.dispute(td, ch)

    def refund(self, t: int, ch: Charge, amount: int, reason) -> Refund:
        ctx = self.ctx
        already = sum(x.amount for x in ch.refunds)
        amount = min(amount, ch.amount - already)
        rf = Refund(self.nid("re"), t, amount, ch, reason, ch.currency, str(self.rng.randrange(10**22, 10**23)))
        rate = None if ch.settle == ch.currency else ctx.rate(ch.currency, ch.settle, t)
        rf.bt = self.bt(t, "refund", "refund", -amount, ch.currency, ch.settle, rate, rf.id,
                        f"REFUND FOR CHARGE ({ch.description})", available_days=1)
        ch.refunds.append(rf)
        self.add("refund", rf)
        self.event(t, "charge.refunded", ("charge", ch),
                   {"amount_refunded": already, "refunded": False}, request=True)
        self.event(t, "refund.created", ("refund", rf), request=True)
        return rf

    def dispute(self, t: int, ch: Charge) -> None:
        r = self.rng
        ctx = self.ctx
        d = Dispute()
        d.id = self.nid("dp")
        d.created = t
        d.amount = ch.amount
        d.currency = ch.currency
        d.charge = ch
        d.reason, d.code, _w = _wchoice(r, _DISPUTE_REASONS)
        d.due_by = (t // DAY + 21) * DAY + DAY - 1
        if r.random() < 0.7:
            d.evidence_at = t + r.randint(2 * DAY, 15 * DAY)
            d.closed_at = t + r.randint(35 * DAY, 75 * DAY)
            d.won = r.random() < 0.45
        else:
            d.evidence_at = None
            d.closed_at = d.due_by + 1
            d.won = False
        ch.dispute = d
        self.add("dispute", d)
        settle = ch.settle
        rate = None if settle == ch.currency else ctx.rate(ch.currency, settle, t)
        fee = DISPUTE_FEE.get(settle, 1500)
        d.bts.append(self.bt(t, "adjustment", "dispute", -d.amount, ch.currency, settle, rate, d.id,
                             f"Chargeback withdrawal for {ch.id}", fixed_fee=fee, available_days=1))
        self.event(t, "charge.dispute.created", ("dispute", d))
        if d.closed_at <= self.as_of:
            if d.won:
                rate2 = None if settle == ch.currency else ctx.rate(ch.currency, settle, d.closed_at)
                d.bts.append(self.bt(d.closed_at, "adjustment", "dispute_reversal", d.amount, ch.currency, settle,
                                     rate2, d.id, f"Chargeback reversal for {ch.id}", fixed_fee=-fee,
                                     available_days=1))
            self.event(d.closed_at, "charge.dispute.closed", ("dispute", d))

    # -- subscription event handlers ------------------------------------------------------------
    def on_trial_will_end(self, sub: Sub, t: int) -> None:
        if sub.status == "trialing":
            self.event(t, "customer.subscription.trial_will_end", self.render_sub(sub, t))

    def on_trial_end(self, sub: Sub, t: int) -> None:
        if not sub.converts:
            sub.lapsed = True
            self.end_sub(sub, t, "canceled", "cancellation_requested", feedback=None,
                         comment="Trial ended without a payment method")
            return
        sub.status = "active"
        sub.cad = Cadence(sub.interval, sub.interval_count, t)
        self.set_period(sub, 0)
        inv = self.cycle_invoice(sub, t, "subscription_cycle", None, t + HOUR)
        inv.period_start, inv.period_end = sub.trial_start, t
        self.event(t, "customer.subscription.updated", self.render_sub(sub, t),
                   {"status": "trialing", "latest_invoice": sub.invoices[0].id})
        self.schedule_period(sub)
        self.push(sub, sub.pe, "renew")

    def on_renew(self, sub: Sub, t: int) -> None:
        prev = (sub.ps, sub.pe)
        old_latest = sub.invoices[-1].id if sub.invoices else None
        if sub.cancel_at_period_end and sub.cancel_at == t:
            if any(it.metered for it in sub.items):
                self.cycle_invoice(sub, t, "subscription_cycle", prev, t + HOUR, licensed=False)
            self.end_sub(sub, t, "canceled", None)
            return
        if sub.status == "unpaid":
            sub.unpaid_left -= 1
            if sub.unpaid_left <= 0:
                for inv in sub.invoices:
                    if inv.finalized_at is not None and inv.paid_at is None and inv.voided_at is None \
                            and inv.uncollectible_at is None:
                        inv.uncollectible_at = t
                        inv.hold = False
                        self.event(t, "invoice.marked_uncollectible", ("invoice", inv))
                        if inv.pi is not None:
                            inv.pi.canceled_at = t
                            inv.pi.cancel_reason = "automatic"
                for inv in sub.drafts:
                    inv.deleted = True
                sub.drafts = []
                self.end_sub(sub, t, "canceled", "payment_failed")
                return
        self.set_period(sub, sub.k + 1)
        for it in sub.items:
            it.last_debit = None
        if sub.status == "unpaid":
            self.cycle_invoice(sub, t, "subscription_cycle", prev, t, draft=True)
        else:
            self.cycle_invoice(sub, t, "subscription_cycle", prev, t + HOUR)
        self.event(t, "customer.subscription.updated", self.render_sub(sub, t), {"latest_invoice": old_latest})
        if sub.status == "active" and not sub.cancel_at_period_end:
            self.schedule_period(sub)
        self.push(sub, sub.pe, "renew")

    def on_cancel(self, sub: Sub, t: int, mode: str) -> None:
        r = self.rng
        if sub.status != "active" or sub.cancel_at_period_end:
            return
        feedback = _wchoice(r, (("too_expensive", 30), ("unused", 22), ("switched_service", 15),
                                ("missing_features", 13), ("low_quality", 5), ("customer_service", 3),
                                ("too_complex", 5), ("other", 7)))[0]
        if mode == "period_end" and not self.active_discounts(sub, t) and r.random() < 0.12:
            cp = self.ctx.cat.coupons["STAY30"]
            if cp.created <= t:
                self.add_discount(sub, cp, t)
                self.event(t, "customer.subscription.updated", self.render_sub(sub, t), {"discounts": []},
                           request=True)
                return
        if mode == "immediate":
            last_paid = None
            for inv in reversed(sub.invoices):
                if inv.paid_at is not None and inv.charges and inv.reason != "subscription_update":
                    last_paid = inv
                    break
            self.end_sub(sub, t, "canceled", "cancellation_requested", feedback=feedback)
            if last_paid is not None and last_paid.created >= sub.ps and r.random() < 0.3:
                ch = last_paid.charges[-1]
                if ch.ok and ch.dispute is None and not ch.refunds:
                    frac = (sub.pe - t) / (sub.pe - sub.ps)
                    amt = max(1, rhu(ch.amount * frac))
                    tr = t + r.randint(60, 2 * HOUR)
                    if tr <= self.as_of:
                        self.refund(tr, ch, amt, "requested_by_customer")
            return
        sub.cancel_at_period_end = True
        sub.cancel_at = sub.pe
        sub.canceled_at = t
        sub.cancel_details = {"comment": None, "feedback": feedback, "reason": "cancellation_requested"}
        self.event(t, "customer.subscription.updated", self.render_sub(sub, t),
                   {"cancel_at": None, "cancel_at_period_end": False, "canceled_at": None,
                    "cancellation_details": {"comment": None, "feedback": None, "reason": None}}, request=True)

    def end_sub(self, sub: Sub, t: int, status: str, reason, feedback=None, comment=None) -> None:
        sub.status = status
        sub.ended_at = t
        if sub.canceled_at is None:
            sub.canceled_at = t
        if sub.cancel_details is None:
            sub.cancel_details = {"comment": comment, "feedback": feedback, "reason": reason}
        elif reason is not None:
            sub.cancel_details["reason"] = reason
        self.event(t, "customer.subscription.deleted", self.render_sub(sub, t))

    def on_change(self, sub: Sub, t: int, kind: str) -> None:
        """A mid-period plan / seat / add-on change, invoiced immediately with prorations
        (``proration_behavior=always_invoice``)."""
        r = self.rng
        cat = self.ctx.cat
        if sub.status != "active" or sub.cancel_at_period_end:
            return
        if t < sub.ps + 2 * HOUR or t > sub.pe - HOUR:
            return
        cur, iv, cnt = sub.currency, sub.interval, sub.interval_count
        main = sub.items[0]
        key = main.price.product.key
        changes = []  # (item, old_price, old_qty, new_price, new_qty)  (None price = added / removed)
        if kind == "upgrade" or kind == "downgrade":
            target = {"upgrade": {"starter": "pro", "pro": "team"},
                      "downgrade": {"pro": "starter", "team": "pro"}}[kind].get(key)
            if target is None:
                return
            new_price = cat.get(target, cur, iv, cnt, t)
            if new_price is None and target == "team" and cur == "usd" and iv == "month":
                new_price = cat.get("team", cur, iv, cnt, t, tiered=True)
            if new_price is None:
                return
            if target == "team" and cur == "usd" and iv == "month" and r.random() < 0.5:
                new_price = cat.get("team", cur, iv, cnt, t, tiered=True) or new_price
            new_qty = r.randint(3, 8) if target == "team" else 1
            changes.append((main, main.price, main.quantity, new_price, new_qty))
        elif kind == "seats":
            seat_items = [it for it in sub.items if it.price.product.key == "team"]
            if not seat_items:
                return
            it = seat_items[0]
            if r.random() < 0.7:
                new_qty = it.quantity + r.randint(1, max(1, it.quantity // 4 + 1))
            else:
                new_qty = max(1, it.quantity - r.randint(1, max(1, it.quantity // 5 + 1)))
            if new_qty == it.quantity:
                return
            changes.append((it, it.price, it.quantity, it.price, new_qty))
        elif kind == "addon_add":
            have = {it.price.product.key for it in sub.items}
            pool = [k for k in ADDON_KEYS if k not in have]
            if self.segment == "smb":
                pool = [k for k in pool if k in ("extra_storage", "custom_domain", "sandbox", "audit_log",
                                                 "webhooks_plus", "advanced_analytics")]
            if not pool:
                return
            key2 = r.choice(pool)
            ap = cat.get(key2, cur, iv, cnt, t)
            if ap is None:
                return
            it = Item(self.nid("si"), ap, r.randint(1, 10) if key2 == "extra_storage" else 1, t)
            changes.append((it, None, 0, ap, it.quantity))
        elif kind == "addon_remove":
            addons = [it for it in sub.items[1:] if it.price.product.kind == "addon"]
            if not addons:
                return
            it = r.choice(addons)
            changes.append((it, it.price, it.quantity, None, 0))
        else:
            return
        inv_id = self.nid("in")
        frac = (sub.pe - t) / (sub.pe - sub.ps)
        lines = []
        when = fmt_date(t)
        for it, op, oq, np_, nq in changes:
            if op is not None:
                amt = -rhu(op.amount(oq) * frac)
                credited = None
                if it.last_debit is not None:
                    credited = {"invoice": it.last_debit[0], "invoice_line_items": [it.last_debit[1]]}
                lines.append(Line(self.nid("il"), amt, f"Unused time on {oq} × {op.product.name} after {when}",
                                  t, sub.pe, op, oq, it.id, proration=True, ii=self.nid("ii"), credited=credited,
                                  unit_dec=None if op.tiered else str(op.unit_amount)))
            if np_ is not None:
                amt = rhu(np_.amount(nq) * frac)
                ln = Line(self.nid("il"), amt, f"Remaining time on {nq} × {np_.product.name} after {when}",
                          t, sub.pe, np_, nq, it.id, proration=True, ii=self.nid("ii"),
                          unit_dec=None if np_.tiered else str(np_.unit_amount))
                lines.append(ln)
                it.last_debit = (inv_id, ln.id)
        prev_items = [self.render_item(sub, x) for x in sub.items]
        for it, op, oq, np_, nq in changes:
            if np_ is None:
                sub.items.remove(it)
            elif op is None:
                sub.items.append(it)
            else:
                it.price = np_
                it.quantity = nq
        self.new_invoice(sub, inv_id, t, "subscription_update", lines, t, (t, t), discounts=False)
        self.event(t, "customer.subscription.updated", self.render_sub(sub, t),
                   {"items": _list_page({"object": "list", "data": prev_items, "has_more": False,
                                         "total_count": len(prev_items),
                                         "url": f"/v1/subscription_items?subscription={sub.id}"})},
                   request=True)

    # -- one-off payments ----------------------------------------------------------------------
    def one_off(self, t: int) -> None:
        r = self.rng
        if self.currency_since is None or t < self.currency_since:
            self.currency_since = t
        if self.card_since is None or t < self.card_since:
            self.card_since = t
        label, usd = _wchoice(r, (("Onboarding & setup package", 49900, 40), ("Data migration service", 149900, 20),
                                  ("Custom dashboard build", 250000, 15), ("Training workshop", 99900, 15),
                                  ("Consulting (10 hours)", 180000, 10)))[:2]
        if self.segment == "smb":
            usd = max(9900, usd // 4)
        elif self.segment == "enterprise":
            usd *= 3
        amount = {"usd": usd, "eur": usd, "gbp": (usd * 8 // 1000) * 100, "jpy": (usd * 3 // 200) * 100}[self.currency]
        pi = PI(self.nid("pi"), t, amount, self.currency, label, metadata={"type": "one_off", "service": label},
                secret=b62(r.getrandbits(128), 24))
        self.add("payment_intent", pi)
        tc = t + r.randint(1, 30)
        if tc > self.as_of:
            return
        ok = r.random() >= 0.07
        self.charge(tc, pi, ok)
        if not ok:
            if r.random() < 0.6:
                t2 = tc + r.randint(10 * MINUTE, 2 * DAY)
                if t2 <= self.as_of:
                    self.charge(t2, pi, r.random() < 0.8)
            if pi.succeeded_at is None and r.random() < 0.5:
                t3 = tc + 7 * DAY
                if t3 <= self.as_of:
                    pi.canceled_at = t3
                    pi.cancel_reason = "abandoned"
                    self.event(t3, "payment_intent.canceled", ("payment_intent", pi))

    # -- output --------------------------------------------------------------------------------
    def finish(self):
        at = self.as_of
        recs = self.records
        recs.sort(key=lambda x: (x[0], x[1], x[2]))
        out = []
        for _c, _r, _n, kind, rec in recs:
            if kind == "invoice" and rec.deleted:
                continue
            out.append(self.render(kind, rec, at))
        events = []
        ids = self.ctx.ids
        for t, _n, etype, payload, prev, request in self.events:
            if isinstance(payload, tuple):
                kind, rec = payload[0], payload[1]
                if kind == "invoice" and rec.deleted:
                    continue
                if len(payload) == 3:
                    obj = self.render_invoice(rec, t, payload[2])
                else:
                    obj = self.render(kind, rec, t)
            else:
                obj = payload
            self.evseq += 1
            data = {"object": _webhook_view(obj)}
            if prev is not None:
                data["previous_attributes"] = prev
            req = {"id": None, "idempotency_key": None}
            if request:
                bits = self.rng.getrandbits(192)
                req = {"id": "req_" + b62(bits & ((1 << 84) - 1), 14),
                       "idempotency_key": _uuid(bits >> 64)}
            events.append({
                "id": ids.long("evt", self.owner, self.evseq),
                "object": "event",
                "api_version": API_VERSION,
                "created": t,
                "data": data,
                "livemode": False,
                "pending_webhooks": 0,
                "request": req,
                "type": etype,
            })
        return out, events

    def render(self, kind: str, rec, at: int) -> dict:
        if kind == "invoice":
            return self.render_invoice(rec, at)
        if kind == "charge":
            return self.render_charge(rec, at)
        if kind == "balance_transaction":
            return self.render_bt(rec, at)
        if kind == "payment_intent":
            return self.render_pi(rec, at)
        if kind == "subscription":
            return self.render_sub(rec, at)
        if kind == "refund":
            return self.render_refund(rec, at)
        if kind == "dispute":
            return self.render_dispute(rec, at)
        if kind == "customer":
            return self.render_customer(at)
        raise ValueError(kind)

    # -- renderers -----------------------------------------------------------------------------
    def render_customer(self, at: int) -> dict:
        initial = at <= self.created
        delinquent = False
        if not initial:
            for inv in self.invoices:
                if inv.deleted or inv.finalized_at is None or inv.finalized_at > at:
                    continue
                if inv.paid_at is not None and inv.paid_at <= at:
                    continue
                if inv.voided_at is not None and inv.voided_at <= at:
                    continue
                if inv.uncollectible_at is not None and inv.uncollectible_at <= at:
                    continue
                if any(c.created <= at for c in inv.charges):
                    delinquent = True
                    break
        return {
            "id": self.id,
            "object": "customer",
            "address": dict(self.address),
            "balance": 0 if initial else self.balance,
            "created": self.created,
            "currency": self.currency if (self.currency_since is not None and self.currency_since <= at) else None,
            "default_source": None,
            "delinquent": delinquent,
            "description": None,
            "discount": None,
            "email": self.email,
            "invoice_prefix": self.invoice_prefix,
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": self.pm if (self.card_since is not None and self.card_since <= at) else None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": {"segment": self.segment, "channel": self.channel, "industry": self.industry},
            "name": self.name,
            "next_invoice_sequence": 1 if initial else self.inv_seq + 1,
            "phone": self.phone,
            "preferred_locales": [self.locale],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }

    def render_discount(self, d: Disc) -> dict:
        return {
            "id": d.id,
            "object": "discount",
            "checkout_session": None,
            "customer": self.id,
            "customer_account": None,
            "end": d.end,
            "invoice": None,
            "invoice_item": None,
            "promotion_code": None,
            "source": {"coupon": d.coupon.id, "type": "coupon"},
            "start": d.start,
            "subscription": d.sub.id,
            "subscription_item": None,
        }

    def render_item(self, sub: Sub, it: Item) -> dict:
        price = it.price
        return {
            "id": it.id,
            "object": "subscription_item",
            "billing_thresholds": None,
            "created": it.created,
            "current_period_end": sub.pe,
            "current_period_start": sub.ps,
            "discounts": [],
            "metadata": {},
            "plan": price.plan_dict(),
            "price": price.as_dict(),
            "quantity": None if it.metered else it.quantity,
            "subscription": sub.id,
            "tax_rates": [],
        }

    def render_sub(self, sub: Sub, at: int) -> dict:
        items = [self.render_item(sub, it) for it in sub.items]
        latest = None
        for inv in reversed(sub.invoices):
            if not inv.deleted and inv.created <= at:
                latest = inv.id
                break
        discs = [self.render_discount(d) for d in sub.discs
                 if d.start <= at and (d.removed_at is None or d.removed_at > at)]
        anchor = sub.cad.anchor if sub.cad is not None else (sub.trial_end or sub.created)
        cd = sub.cancel_details or {"comment": None, "feedback": None, "reason": None}
        return {
            "id": sub.id,
            "object": "subscription",
            "application": None,
            "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": anchor,
            "billing_cycle_anchor_config": None,
            "billing_mode": {"flexible": None, "type": "classic"},
            "billing_schedules": [],
            "billing_thresholds": None,
            "cancel_at": sub.cancel_at,
            "cancel_at_period_end": sub.cancel_at_period_end,
            "canceled_at": sub.canceled_at,
            "cancellation_details": dict(cd),
            "collection_method": "charge_automatically",
            "created": sub.created,
            "currency": sub.currency,
            "customer": self.id,
            "customer_account": None,
            "days_until_due": None,
            "default_payment_method": None,
            "default_source": None,
            "default_tax_rates": [],
            "description": None,
            "discounts": discs,
            "ended_at": sub.ended_at,
            "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
            "items": {
                "object": "list",
                "data": items,
                "has_more": False,
                "total_count": len(items),
                "url": f"/v1/subscription_items?subscription={sub.id}",
            },
            "latest_invoice": latest,
            "livemode": False,
            "managed_payments": {"enabled": False},
            "metadata": dict(sub.metadata),
            "next_pending_invoice_item_invoice": None,
            "on_behalf_of": None,
            "pause_collection": None,
            "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                                 "save_default_payment_method": "off"},
            "pending_invoice_item_interval": None,
            "pending_setup_intent": None,
            "pending_update": None,
            "schedule": None,
            "start_date": sub.created,
            "status": sub.status,
            "test_clock": None,
            "transfer_data": None,
            "trial_end": sub.trial_end,
            "trial_settings": {"end_behavior": {"missing_payment_method": sub.trial_behavior}},
            "trial_start": sub.trial_start,
        }

    def render_line(self, inv: Invoice, ln: Line) -> dict:
        disc = ln.disc
        price = ln.price
        sid = inv.sub.id
        return {
            "id": ln.id,
            "object": "line_item",
            "amount": ln.amount,
            "currency": inv.currency,
            "description": ln.desc,
            "discount_amounts": [{"amount": a, "discount": did} for a, did in disc],
            "discountable": ln.discountable,
            "discounts": [],
            "invoice": inv.id,
            "livemode": False,
            "metadata": {},
            "parent": {
                "invoice_item_details": None,
                "subscription_item_details": {
                    "invoice_item": ln.ii,
                    "proration": ln.proration,
                    "proration_details": {"credited_items": ln.credited},
                    "subscription": sid,
                    "subscription_item": ln.si,
                },
                "type": "subscription_item_details",
            },
            "period": {"end": ln.pend, "start": ln.pstart},
            "pretax_credit_amounts": [{"amount": a, "credit_balance_transaction": None, "discount": did,
                                       "type": "discount"} for a, did in disc],
            "pricing": {
                "price_details": {"price": price.id, "product": price.product.id},
                "type": "price_details",
                "unit_amount_decimal": ln.unit_dec,
            },
            "quantity": ln.quantity,
            "quantity_decimal": str(ln.quantity),
            "subscription": sid,
            "subtotal": ln.amount,
            "taxes": [],
        }

    def render_invoice(self, inv: Invoice, at: int, stage: str | None = None) -> dict:
        """``stage`` ("created" / "finalized") renders the invoice as it was right after that
        step, even when it was paid within the same second."""
        fin = inv.finalized_at is not None and inv.finalized_at <= at and stage != "created"
        paid = inv.paid_at is not None and inv.paid_at <= at and stage is None
        void = inv.voided_at is not None and inv.voided_at <= at and stage is None
        unc = inv.uncollectible_at is not None and inv.uncollectible_at <= at and stage is None
        if not fin:
            status = "draft"
        elif void:
            status = "void"
        elif paid:
            status = "paid"
        elif unc:
            status = "uncollectible"
        else:
            status = "open"
        attempts = 0
        if stage is None:
            for c in inv.charges:
                if c.created <= at:
                    attempts += 1
        next_attempt = None
        if status == "open" and not inv.hold:
            for ta in inv.attempt_plan:
                if ta > at or (stage is not None and ta >= at):
                    next_attempt = ta
                    break
        amount_paid = inv.amount_due if (paid and not inv.carried) else 0
        amount_remaining = 0 if inv.carried else inv.amount_due - amount_paid
        payments = []
        pi = inv.pi
        if pi is not None and pi.created <= at and fin:
            pstatus = "paid" if paid else ("canceled" if (pi.canceled_at is not None and pi.canceled_at <= at)
                                           else "open")
            payments.append({
                "id": inv.inpay_id,
                "object": "invoice_payment",
                "amount_paid": inv.amount_due if paid else None,
                "amount_requested": inv.amount_due,
                "created": pi.created,
                "currency": inv.currency,
                "invoice": inv.id,
                "is_default": True,
                "livemode": False,
                "payment": {"payment_intent": pi.id, "type": "payment_intent"},
                "status": pstatus,
                "status_transitions": {
                    "canceled_at": pi.canceled_at if pstatus == "canceled" else None,
                    "paid_at": inv.paid_at if paid else None,
                },
            })
        cust = self
        lines = [self.render_line(inv, ln) for ln in inv.lines]
        url_token = inv.id[3:]
        discounts = [self.render_discount(d) for d in inv.discounts]
        return {
            "id": inv.id,
            "object": "invoice",
            "account_country": self.ctx.account_country,
            "account_name": self.ctx.account_name,
            "account_tax_ids": None,
            "amount_due": inv.amount_due,
            "amount_overpaid": 0,
            "amount_paid": amount_paid,
            "amount_remaining": amount_remaining,
            "amount_shipping": 0,
            "application": None,
            "attempt_count": attempts,
            "attempted": attempts > 0 or paid,
            "auto_advance": inv.auto_advance and status in ("draft", "open") and not inv.hold,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None, "provider": None,
                              "status": None},
            "automatically_finalizes_at": (inv.created + HOUR) if (status == "draft" and inv.auto_advance) else None,
            "billing_reason": inv.reason,
            "collection_method": "charge_automatically",
            "created": inv.created,
            "currency": inv.currency,
            "custom_fields": None,
            "customer": cust.id,
            "customer_account": None,
            "customer_address": dict(cust.address),
            "customer_email": cust.email,
            "customer_name": cust.name,
            "customer_phone": cust.phone,
            "customer_shipping": None,
            "customer_tax_exempt": "none",
            "customer_tax_ids": [],
            "default_payment_method": None,
            "default_source": None,
            "default_tax_rates": [],
            "description": None,
            "discounts": discounts,
            "due_date": None,
            "effective_at": inv.finalized_at if fin else None,
            "ending_balance": inv.eb if fin else None,
            "footer": None,
            "from_invoice": None,
            "hosted_invoice_url": f"https://invoice.stripe.com/i/{self.ctx.account_id}/test_{url_token}" if fin else None,
            "invoice_pdf": f"https://pay.stripe.com/invoice/{self.ctx.account_id}/test_{url_token}/pdf" if fin else None,
            "issuer": {"type": "self"},
            "last_finalization_error": None,
            "latest_revision": None,
            "lines": {
                "object": "list",
                "data": lines,
                "has_more": False,
                "total_count": len(lines),
                "url": f"/v1/invoices/{inv.id}/lines",
            },
            "livemode": False,
            "metadata": {},
            "next_payment_attempt": next_attempt,
            "number": inv.number if fin else None,
            "on_behalf_of": None,
            "parent": {
                "quote_details": None,
                "subscription_details": {"metadata": {}, "subscription": inv.sub.id},
                "type": "subscription_details",
            },
            "payment_settings": {"default_mandate": None, "payment_method_options": None,
                                 "payment_method_types": None},
            "payments": {
                "object": "list",
                "data": payments,
                "has_more": False,
                "url": f"/v1/invoice_payments?invoice={inv.id}",
            },
            "period_end": inv.period_end,
            "period_start": inv.period_start,
            "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0,
            "receipt_number": None,
            "rendering": {"amount_tax_display": None, "pdf": {"page_size": "auto"}, "template": None,
                          "template_version": None},
            "shipping_cost": None,
            "shipping_details": None,
            "starting_balance": inv.sb,
            "statement_descriptor": None,
            "status": status,
            "status_transitions": {
                "finalized_at": inv.finalized_at if fin else None,
                "marked_uncollectible_at": inv.uncollectible_at if unc else None,
                "paid_at": inv.paid_at if paid else None,
                "voided_at": inv.voided_at if void else None,
            },
            "subscription": None,
            "subtotal": inv.subtotal,
            "subtotal_excluding_tax": inv.subtotal,
            "test_clock": None,
            "total": inv.total,
            "total_discount_amounts": [{"amount": a, "discount": d.id} for a, d in inv.disc_totals],
            "total_excluding_tax": inv.total,
            "total_pretax_credit_amounts": [{"amount": a, "credit_balance_transaction": None, "discount": d.id,
                                             "type": "discount"} for a, d in inv.disc_totals],
            "total_taxes": [],
            "webhooks_delivered_at": inv.created if inv.created < at else None,
        }

    def render_pi(self, pi: PI, at: int) -> dict:
        charges = [c for c in pi.charges if c.created <= at]
        latest = charges[-1] if charges else None
        succeeded = pi.succeeded_at is not None and pi.succeeded_at <= at
        canceled = pi.canceled_at is not None and pi.canceled_at <= at and not succeeded
        if succeeded:
            status = "succeeded"
        elif canceled:
            status = "canceled"
        else:
            status = "requires_payment_method"
        err = None
        if latest is not None and not latest.ok and not succeeded:
            code, decline, msg, _w = latest.failure
            err = {"charge": latest.id, "code": code, "decline_code": decline if code == "card_declined" else None,
                   "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
                   "message": msg, "payment_method": {"id": self.pm, "object": "payment_method", "type": "card"},
                   "type": "card_error"}
        return {
            "id": pi.id,
            "object": "payment_intent",
            "amount": pi.amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": pi.amount if succeeded else 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": None,
            "canceled_at": pi.canceled_at if canceled else None,
            "cancellation_reason": pi.cancel_reason if canceled else None,
            "capture_method": "automatic",
            "client_secret": pi.client_secret,
            "confirmation_method": "automatic",
            "created": pi.created,
            "currency": pi.currency,
            "customer": self.id,
            "customer_account": None,
            "description": pi.description,
            "excluded_payment_method_types": None,
            "last_payment_error": err,
            "latest_charge": latest.id if latest is not None else None,
            "livemode": False,
            "managed_payments": {"enabled": False},
            "metadata": dict(pi.metadata),
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": self.pm if latest is not None else None,
            "payment_method_configuration_details": None,
            "payment_method_options": {"card": {"installments": None, "mandate_options": None, "network": None,
                                                "request_three_d_secure": "automatic"}},
            "payment_method_types": ["card"],
            "processing": None,
            "receipt_email": None,
            "review": None,
            "setup_future_usage": "off_session" if pi.invoice is not None else None,
            "shipping": None,
            "source": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": status,
            "transfer_data": None,
            "transfer_group": None,
        }

    def render_charge(self, ch: Charge, at: int) -> dict:
        refunds = [rf for rf in ch.refunds if rf.created <= at]
        refunded_amount = sum(rf.amount for rf in refunds)
        card = self.card
        ok = ch.ok
        if ok:
            outcome = {"advice_code": None, "network_advice_code": None, "network_decline_code": None,
                       "network_status": "approved_by_network", "reason": None,
                       "risk_level": "normal" if ch.risk < 65 else "elevated", "risk_score": ch.risk,
                       "seller_message": "Payment complete.", "type": "authorized"}
            failure_code = failure_message = None
        else:
            code, decline, msg, _w = ch.failure
            outcome = {"advice_code": "try_again_later" if decline == "insufficient_funds" else None,
                       "network_advice_code": None, "network_decline_code": None,
                       "network_status": "declined_by_network", "reason": decline,
                       "risk_level": "normal", "risk_score": ch.risk,
                       "seller_message": f"The bank returned the decline code `{decline}`.",
                       "type": "issuer_declined"}
            failure_code, failure_message = code, msg
        disputed = ch.dispute is not None and ch.dispute.created <= at
        return {
            "id": ch.id,
            "object": "charge",
            "amount": ch.amount,
            "amount_captured": ch.amount if ok else 0,
            "amount_refunded": refunded_amount,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": ch.bt.id if ch.bt is not None else None,
            "billing_details": {"address": dict(self.address), "email": self.email, "name": self.name,
                                "phone": self.phone, "tax_id": None},
            "calculated_statement_descriptor": self.ctx.statement_descriptor,
            "captured": ok,
            "created": ch.created,
            "currency": ch.currency,
            "customer": self.id,
            "description": ch.description,
            "disputed": disputed,
            "failure_balance_transaction": None,
            "failure_code": failure_code,
            "failure_message": failure_message,
            "fraud_details": {},
            "livemode": False,
            "metadata": {},
            "on_behalf_of": None,
            "outcome": outcome,
            "paid": ok,
            "payment_intent": ch.pi.id,
            "payment_method": self.pm,
            "payment_method_details": {
                "card": {
                    "amount_authorized": ch.amount if ok else None,
                    "authorization_code": None,
                    "brand": card["brand"],
                    "checks": {"address_line1_check": None, "address_postal_code_check": "pass",
                               "cvc_check": "pass"},
                    "country": card["country"],
                    "exp_month": card["exp_month"],
                    "exp_year": card["exp_year"],
                    "extended_authorization": {"status": "disabled"},
                    "fingerprint": card["fingerprint"],
                    "funding": card["funding"],
                    "incremental_authorization": {"status": "unavailable"},
                    "installments": None,
                    "last4": card["last4"],
                    "mandate": None,
                    "multicapture": {"status": "unavailable"},
                    "network": card["brand"],
                    "network_token": {"used": False},
                    "network_transaction_id": None,
                    "overcapture": {"maximum_amount_capturable": ch.amount, "status": "unavailable"},
                    "regulated_status": "unregulated",
                    "three_d_secure": None,
                    "wallet": None,
                },
                "type": "card",
            },
            "radar_options": {},
            "receipt_email": None,
            "receipt_number": None,
            "receipt_url": f"https://pay.stripe.com/receipts/payment/{self.ctx.account_id}/{ch.receipt}" if ok else None,
            "refunded": refunded_amount >= ch.amount and ok,
            "refunds": {
                "object": "list",
                "data": [self.render_refund(rf, at) for rf in refunds],
                "has_more": False,
                "total_count": len(refunds),
                "url": f"/v1/charges/{ch.id}/refunds",
            },
            "review": None,
            "shipping": None,
            "source": None,
            "source_transfer": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "succeeded" if ok else "failed",
            "transfer_data": None,
            "transfer_group": None,
        }

    def render_refund(self, rf: Refund, at: int) -> dict:
        return {
            "id": rf.id,
            "object": "refund",
            "amount": rf.amount,
            "balance_transaction": rf.bt.id,
            "charge": rf.charge.id,
            "created": rf.created,
            "currency": rf.currency,
            "customer": self.id,
            "customer_account": None,
            "destination_details": {
                "card": {"reference": rf.ref, "reference_status": "available", "reference_type": "acquirer_reference_number",
                         "type": "refund"},
                "type": "card",
            },
            "metadata": {},
            "payment_intent": rf.charge.pi.id,
            "payment_method": self.pm,
            "reason": rf.reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }

    def render_dispute(self, d: Dispute, at: int) -> dict:
        closed = d.closed_at <= at
        if closed:
            status = "won" if d.won else "lost"
        elif d.evidence_at is not None and d.evidence_at <= at:
            status = "under_review"
        else:
            status = "needs_response"
        has_ev = d.evidence_at is not None and d.evidence_at <= at
        ev = dict(_EMPTY_EVIDENCE)
        ev["enhanced_evidence"] = {}
        if has_ev:
            ev["customer_email_address"] = self.email
            ev["customer_name"] = self.name
            ev["product_description"] = "Subscription to Lumen Metrics analytics software."
            ev["uncategorized_text"] = "Customer used the service during the billing period."
        brand = self.card["brand"]
        return {
            "id": d.id,
            "object": "dispute",
            "amount": d.amount,
            "balance_transactions": [self.render_bt(b, at) for b in d.bts if b.created <= at],
            "charge": d.charge.id,
            "created": d.created,
            "currency": d.currency,
            "enhanced_eligibility_types": [],
            "evidence": ev,
            "evidence_details": {
                "due_by": d.due_by,
                "enhanced_eligibility": {},
                "has_evidence": has_ev,
                "past_due": (not has_ev) and at > d.due_by,
                "submission_count": 1 if has_ev else 0,
            },
            "is_charge_refundable": False,
            "livemode": False,
            "metadata": {},
            "payment_intent": d.charge.pi.id,
            "payment_method_details": {
                "card": {"brand": brand, "case_type": "chargeback", "network_reason_code": d.code},
                "type": "card",
            },
            "reason": d.reason,
            "status": status,
        }

    def render_bt(self, b: BT, at: int) -> dict:
        fee_details = []
        if b.fee:
            fee_details.append({"amount": b.fee, "application": None, "currency": b.currency,
                                "description": b.fee_desc, "type": "stripe_fee"})
        return {
            "id": b.id,
            "object": "balance_transaction",
            "amount": b.amount,
            "available_on": b.available_on,
            "balance_type": "payments",
            "created": b.created,
            "currency": b.currency,
            "description": b.description,
            "exchange_rate": b.exchange_rate,
            "fee": b.fee,
            "fee_details": fee_details,
            "net": b.amount - b.fee,
            "reporting_category": b.category,
            "source": b.source,
            "status": "available" if b.available_on <= at else "pending",
            "type": b.type,
        }


_EMPTY_EVIDENCE = {k: None for k in (
    "access_activity_log", "billing_address", "cancellation_policy", "cancellation_policy_disclosure",
    "cancellation_rebuttal", "customer_communication", "customer_email_address", "customer_name",
    "customer_purchase_ip", "customer_signature", "duplicate_charge_documentation", "duplicate_charge_explanation",
    "duplicate_charge_id", "product_description", "receipt", "refund_policy", "refund_policy_disclosure",
    "refund_refusal_explanation", "service_date", "service_documentation", "shipping_address", "shipping_carrier",
    "shipping_date", "shipping_documentation", "shipping_tracking_number", "uncategorized_file",
    "uncategorized_text")}


def _allocate(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` over lines proportionally to their amounts (largest remainder)."""
    s = sum(w for w in weights if w > 0)
    if s <= 0 or total <= 0:
        return [0] * len(weights)
    raw = [(total * w / s) if w > 0 else 0.0 for w in weights]
    out = [int(math.floor(x)) for x in raw]
    rest = total - sum(out)
    order = sorted(range(len(weights)), key=lambda i: (-(raw[i] - out[i]), i))
    for i in order[:rest]:
        out[i] += 1
    return out


def _uuid(bits: int) -> str:
    h = f"{bits & ((1 << 128) - 1):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


EMBEDDED_PAGE = 10


def _list_page(lst: dict) -> dict:
    """An embedded list as Stripe sends it inside an event: at most 10 entries, has_more."""
    data = lst["data"]
    if len(data) > EMBEDDED_PAGE:
        lst["data"] = data[:EMBEDDED_PAGE]
        lst["has_more"] = True
    return lst


def _webhook_view(obj: dict) -> dict:
    """``event.data.object`` is never expanded and its embedded lists are truncated (unlike the
    listed objects, whose discounts are expanded and lists complete)."""
    kind = obj.get("object")
    if kind == "subscription":
        obj["discounts"] = [d["id"] if isinstance(d, dict) else d for d in obj["discounts"]]
        _list_page(obj["items"])
    elif kind == "invoice":
        obj["discounts"] = [d["id"] if isinstance(d, dict) else d for d in obj["discounts"]]
        _list_page(obj["lines"])
    return obj
