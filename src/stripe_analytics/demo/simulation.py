"""Per-customer simulation: a small discrete-event simulation of one customer's life
(sign-up, trials, subscriptions, renewals, plan/seat/add-on changes with prorations,
coupons, failed payments and dunning, cancellations, reactivations, one-off payments,
refunds, disputes), decided as records (`records.py`). The simulation owns all the state
(the records, the random draws, the id and event counters); it asks its `StripeRenderer`
(`rendering.py`), which only reads the records, for the Stripe objects, and ``finish()`` gives
the customer's objects and events.

Everything a customer does is drawn from its own ``random.Random`` seeded with
``(seed, customer index)``, so a customer's graph does not depend on any other customer
and the account can be streamed one customer at a time.
"""

from __future__ import annotations

import heapq
import math
import random

from ._ids import b62
from ._catalog import ADDON_KEYS, CURRENCY_DECIMALS, CouponDef, fmt_money
from ._people import (COMPANY_A, COMPANY_B, COMPANY_SUFFIX, COUNTRIES, FIRST_NAMES, INDUSTRIES, LAST_NAMES,
                      STREETS)
from .records import (AppliedDiscount, BalanceTransaction, Charge, Customer, Dispute, Invoice, InvoiceLine,
                      PaymentIntent, Refund, Subscription, SubscriptionItem)
from .rendering import StripeRenderer, event_object, list_page, request_from_bits
from ._timeutil import DAY, HOUR, MINUTE, Cadence, fmt_date, split


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


def round_half_up(x: float) -> int:
    """Round half up (half away from zero)."""
    if x >= 0:
        return int(math.floor(x + 0.5))
    return -int(math.floor(-x + 0.5))


def weighted_choice(r: random.Random, pairs, wi: int = -1):
    total = 0.0
    for p in pairs:
        total += p[wi]
    x = r.random() * total
    for p in pairs:
        x -= p[wi]
        if x < 0:
            return p
    return pairs[-1]


def poisson(r: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    n, t = 0, r.expovariate(1.0)
    while t < lam:
        n += 1
        t += r.expovariate(1.0)
    return n


def random_digits(r: random.Random, pattern: str) -> str:
    return "".join(str(r.randrange(10)) if c == "#" else c for c in pattern)


def allocate(total: int, weights: list[int]) -> list[int]:
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


class CustomerSimulation:
    """Simulates customer number ``index`` of the account: ``simulate()`` decides its records and
    events, ``finish()`` has its `StripeRenderer` (``self.render``) turn them into Stripe objects;
    ``run()`` does both and returns (objects, events)."""

    def __init__(self, ctx, index: int):
        self.ctx = ctx
        self.index = index
        self.owner = index + 1
        self.id_seq = 0  # numbers the customer's object ids (owner, id_seq)
        self.event_seq = 1 << 23  # event ids share the customer's id space above its objects'
        self.as_of = ctx.as_of
        self.rng = random.Random(f"stripe-analytics-demo:{ctx.seed}:{index}")
        self.records = []
        self.events = []
        self.customer = self._profile()
        self.render = StripeRenderer(self.customer, ctx)

    # -- ids & bookkeeping -------------------------------------------------------------------
    def next_id(self, prefix: str) -> str:
        self.id_seq += 1
        return self.ctx.ids.long(prefix, self.owner, self.id_seq)

    def add(self, kind: str, rec) -> None:
        self.records.append((rec.created, RANK[kind], len(self.records), kind, rec))

    def event(self, t: int, etype: str, payload, prev=None, request: bool = False) -> None:
        """payload: a rendered dict (snapshot) or (kind, record) rendered later at ``t``."""
        if self.ctx.window_start <= t <= self.as_of:
            self.events.append([t, len(self.events), etype, payload, prev, request])

    def card_from(self, t: int) -> None:
        """The customer has a default card from ``t`` on (unless from earlier already)."""
        customer = self.customer
        if customer.card_since is None or t < customer.card_since:
            customer.card_since = t

    # -- output --------------------------------------------------------------------------------
    def finish(self) -> tuple[list[dict], list[dict]]:
        """The customer's objects as they are at ``as_of`` (in ``created`` order, ties by
        `RANK`) and its events in the order the simulation recorded them (the account sorts
        all customers' events on ``created``)."""
        render = self.render
        at = self.as_of
        records = self.records
        records.sort(key=lambda x: (x[0], x[1], x[2]))
        objects = []
        for _created, _rank, _n, kind, rec in records:
            if kind == "invoice" and rec.deleted:
                continue
            objects.append(render.object(kind, rec, at))
        events = []
        ids = self.ctx.ids
        for t, _n, etype, payload, prev, made_by_request in self.events:
            if isinstance(payload, tuple):
                kind, rec = payload[0], payload[1]
                if kind == "invoice" and rec.deleted:
                    continue
                if len(payload) == 3:
                    obj = render.invoice(rec, t, payload[2])
                else:
                    obj = render.object(kind, rec, t)
            else:
                obj = payload
            self.event_seq += 1
            request = request_from_bits(self.rng.getrandbits(192)) if made_by_request else None
            events.append(event_object(ids.long("evt", self.owner, self.event_seq), t, etype, obj, prev, request))
        return objects, events

    # -- profile -----------------------------------------------------------------------------
    def _profile(self) -> Customer:
        r = self.rng
        ctx = self.ctx
        customer = Customer(ctx.ids.short("cus", self.owner, 0), ctx.signup_time(self.index, r.random()))
        customer.segment = weighted_choice(r, SEGMENTS)[0]
        customer.channel = weighted_choice(r, CHANNELS[customer.segment])[0]
        customer.industry = r.choice(INDUSTRIES)
        code, _w, cur, locale, tld, cities = weighted_choice(r, COUNTRIES, 1)
        customer.country, customer.currency, customer.locale = code, cur, locale
        city, state, postal = r.choice(cities)
        first, last = r.choice(FIRST_NAMES), r.choice(LAST_NAMES)
        company = f"{r.choice(COMPANY_A)} {r.choice(COMPANY_B)}"
        slug = company.lower().replace(" ", "")
        person_is_customer = customer.segment == "smb" and r.random() < 0.55
        customer.name = f"{first} {last}" if person_is_customer else f"{company} {COMPANY_SUFFIX[code]}"
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "").replace("ü", "u").replace("á", "a")
        local = local.replace("é", "e")
        if customer.segment != "smb" and r.random() < 0.4:
            local = r.choice(("billing", "finance", "accounts", "ap"))
        # RFC 2606 reserved TLD: never a real mailbox.
        customer.email = f"{local}{r.randrange(100) if r.random() < 0.2 else ''}@{slug}.{tld.split('.')[-1]}.example"
        customer.phone = f"+1 555-01{r.randrange(100):02d}" if code == "US" and r.random() < 0.3 else None
        customer.address = {"city": city, "country": code, "line1": f"{r.randint(1, 999)} {r.choice(STREETS)}",
                        "line2": None, "postal_code": random_digits(r, postal), "state": state}
        customer.invoice_prefix = ctx.ids.body(self.owner, 0)[:8].upper().replace("0", "A")
        # payment card
        if code == "JP":
            brand = weighted_choice(r, (("visa", 45), ("mastercard", 25), ("jcb", 30)))[0]
        elif code == "US":
            brand = weighted_choice(r, (("visa", 55), ("mastercard", 30), ("amex", 15)))[0]
        else:
            brand = weighted_choice(r, (("visa", 58), ("mastercard", 38), ("amex", 4)))[0]
        customer.card = {
            "brand": brand, "last4": f"{r.randrange(10000):04d}", "exp_month": r.randint(1, 12),
            "exp_year": split(customer.created)[0] + r.randint(1, 5),
            "funding": "debit" if r.random() < 0.3 else "credit",
            "country": code if r.random() < 0.95 else "US",
            "fingerprint": b62(r.getrandbits(96), 16),
        }
        customer.payment_method = self.next_id("pm")
        # card risk: most cards almost never fail, a few are chronically declined
        self.decline_rate = 0.30 if r.random() < 0.07 else 0.035
        self.foreign_card = customer.card["country"] != "US"
        return customer

    # -- main journey ------------------------------------------------------------------------
    def run(self) -> tuple[list[dict], list[dict]]:
        """The customer's whole life: (objects, events), see `finish`."""
        self.simulate()
        return self.finish()

    def simulate(self) -> None:
        """Decide the customer's records and events, from sign-up to ``as_of``."""
        r = self.rng
        as_of = self.as_of
        customer = self.customer
        self.add("customer", customer)
        self.event(customer.created, "customer.created", ("customer", customer), request=True)
        x = r.random()
        kind = "lead" if x < 0.05 else ("one_off" if x < 0.065 else "subscriber")
        if kind == "one_off" or (kind == "subscriber" and r.random() < 0.05):
            for _ in range(1 if r.random() < 0.75 else 2):
                t = self.customer.created + r.randint(5 * MINUTE, 3 * DAY) + int(r.expovariate(1 / (60 * DAY)))
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
            t0 = self.customer.created + delay
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

    # -- subscriptions -------------------------------------------------------------------------
    def _plan(self, t: int, first: bool):
        """Choose (items [(price, qty)], interval, count) available at ``t`` in the customer's currency."""
        r = self.rng
        cat = self.ctx.cat
        cur = self.customer.currency
        seg = self.customer.segment
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
                addons = weighted_choice(r, ((0, 10), (1, 25), (2, 30), (3, 20), (4, 10), (5, 5)))[0]
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

    def _coupon_at_start(self, sub: Subscription, t: int, first: bool, interval) -> CouponDef | None:
        r = self.rng
        cat = self.ctx.cat
        cp = None
        if not first:
            if r.random() < 0.4:
                cp = cat.coupons["WINBACK25"]
        elif self.customer.channel == "partner" and r.random() < 0.5:
            cp = cat.coupons["PARTNER15"]
        elif self.customer.industry == "nonprofit" and r.random() < 0.6:
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
                      "gbp": cat.coupons["GBP5OFF"], "jpy": cat.coupons["JPY1000OFF"]}[self.customer.currency]
        if cp is not None and cp.created > t:
            return None
        return cp

    def add_discount(self, sub: Subscription, coupon: CouponDef, t: int) -> AppliedDiscount:
        d = AppliedDiscount(self.next_id("di"), coupon, t, sub)
        sub.discounts.append(d)
        return d

    def active_discounts(self, sub: Subscription, t: int):
        return [d for d in sub.discounts
                if d.start <= t and not d.consumed and (d.removed_at is None or t < d.removed_at)]

    def push(self, sub: Subscription, t: int, kind: str, *args) -> None:
        sub.agenda_seq += 1
        heapq.heappush(sub.agenda, (t, sub.agenda_seq, kind, args))

    def run_subscription(self, t0: int, first: bool) -> Subscription:
        r = self.rng
        seg = SEG[self.customer.segment]
        sub = Subscription()
        sub.id = self.next_id("sub")
        sub.created = t0
        sub.currency = self.customer.currency
        sub.metadata = {}
        if self.customer.currency_since is None:
            self.customer.currency_since = t0
        plan, iv = self._plan(t0, first)
        sub.interval, sub.interval_count = iv
        for price, qty in plan:
            it = SubscriptionItem(self.next_id("si"), price, qty, t0)
            if it.metered:
                it.usage_base = r.lognormvariate(math.log(600), 0.9)
            sub.items.append(it)
        sub.when_retries_fail = "cancel" if r.random() < 0.5 else "unpaid"
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
            sub.trial_end = t0 + (30 if self.customer.segment == "mid_market" and r.random() < 0.3 else 14) * DAY
            sub.current_period_start, sub.current_period_end = t0, sub.trial_end
            sub.trial_converts = r.random() < seg["convert"]
            if sub.trial_converts:
                t_card = t0 + int((sub.trial_end - t0) * r.random())
                self.card_from(t_card)
            else:
                sub.trial_behavior = "cancel"
            inv_id = self.next_id("in")
            lines = []
            for it in sub.items:
                if it.metered:
                    continue
                lines.append(InvoiceLine(self.next_id("il"), 0, f"Trial period for {it.price.product.name}", t0,
                                  sub.trial_end, it.price, it.quantity, it.id, unit_amount_decimal="0"))
            self.new_invoice(sub, inv_id, t0, "subscription_create", lines, t0, (t0, t0), discounts=False)
            self.push(sub, sub.trial_end - 3 * DAY, "trial_will_end")
            self.push(sub, sub.trial_end, "trial_end")
        else:
            self.card_from(t0)
            sub.cadence = Cadence(iv[0], iv[1], t0)
            self.set_period(sub, 0)
            inv = self.cycle_invoice(sub, t0, "subscription_create", None, t0)
            if inv.payment_intent is not None:
                self.attempt(sub, t0, inv, 0)
            else:
                self.activate(sub, t0)
        if self.events and slot < len(self.events) and self.events[slot][2] == "customer.subscription.created":
            self.events[slot][3] = self.render.subscription(sub, t0)
        self.loop(sub)
        return sub

    def loop(self, sub: Subscription) -> None:
        heap = sub.agenda
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

    def set_period(self, sub: Subscription, k: int) -> None:
        sub.period_index = k
        sub.current_period_start = sub.cadence.boundary(k)
        sub.current_period_end = sub.cadence.boundary(k + 1)

    def schedule_period(self, sub: Subscription) -> None:
        """Sample what happens to an active subscription during its current period."""
        r = self.rng
        seg = SEG[self.customer.segment]
        ps, pe = sub.current_period_start, sub.current_period_end
        months = sub.cadence.months
        lo, hi = ps + 26 * HOUR, pe - 2 * HOUR
        if hi <= lo:
            return
        churn = seg["churn"] * (1.7 if sub.period_index < 3 else 1.0)
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
            for _ in range(min(3, poisson(r, rate * months))):
                self.push(sub, r.randint(lo, hi), "change", kind)

    # -- invoices ------------------------------------------------------------------------------
    def line_for(self, it: SubscriptionItem, inv_id: str, ps: int, pe: int, quantity: int | None = None) -> InvoiceLine:
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
        return InvoiceLine(self.next_id("il"), price.amount(q), desc, ps, pe, price, q, it.id,
                           unit_amount_decimal=unit_dec)

    def cycle_invoice(self, sub: Subscription, t: int, reason: str, prev_period, finalize_at: int,
                      draft: bool = False, licensed: bool = True) -> Invoice:
        r = self.rng
        inv_id = self.next_id("in")
        lines = []
        for it in sub.items:
            if it.metered:
                if prev_period is not None and it.created <= prev_period[0]:
                    growth = 1.0 + 0.03 * sub.period_index
                    q = max(0, int(it.usage_base * growth * r.lognormvariate(0, 0.3)))
                    lines.append(self.line_for(it, inv_id, prev_period[0], prev_period[1], q))
            elif licensed:
                ln = self.line_for(it, inv_id, sub.current_period_start, sub.current_period_end)
                it.last_debit = (inv_id, ln.id)
                lines.append(ln)
        if prev_period is None:
            period = (t, t)
        else:
            period = (prev_period[0], t)
        return self.new_invoice(sub, inv_id, t, reason, lines, finalize_at, period, draft=draft)

    def new_invoice(self, sub: Subscription, inv_id: str, t: int, reason: str, lines: list, finalize_at: int, period,
                    discounts: bool = True, draft: bool = False) -> Invoice:
        inv = Invoice()
        inv.id = inv_id
        inv.subscription = sub
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
                ln.discount_amounts = []
            for d in applied:
                c = d.coupon
                base = sum(ln.amount for ln in disc_lines)
                if c.percent_off is not None:
                    amounts = [round_half_up(ln.amount * c.percent_off / 100.0) for ln in disc_lines]
                else:
                    total_off = min(c.amount_off, max(0, base))
                    amounts = allocate(total_off, [ln.amount for ln in disc_lines])
                for ln, a in zip(disc_lines, amounts):
                    ln.discount_amounts.append((a, d.id))
                s = sum(amounts)
                totals.append((s, d))
                disc_sum += s
        inv.discounts = applied
        inv.total_discount_amounts = totals
        inv.subtotal = subtotal
        inv.total = subtotal - disc_sum
        finalized = not draft and finalize_at <= self.as_of
        if finalized:
            customer = self.customer
            sb = customer.balance
            inv.starting_balance = sb
            inv.amount_due = max(0, inv.total + sb)
            inv.ending_balance = sb + inv.total - inv.amount_due
            if 0 < inv.amount_due < MIN_CHARGE[inv.currency]:
                inv.carried = True
                inv.ending_balance = sb + inv.total
            customer.balance = inv.ending_balance
            customer.numbered_invoices += 1
            inv.number = f"{customer.invoice_prefix}-{customer.numbered_invoices:04d}"
            inv.finalized_at = finalize_at
        else:
            inv.starting_balance = 0
            inv.amount_due = max(0, inv.total)
            inv.ending_balance = None
            inv.number = None
            inv.finalized_at = None
        self.add("invoice", inv)
        self.customer.invoices.append(inv)
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
                pi = PaymentIntent(self.next_id("pi"), finalize_at, inv.amount_due, inv.currency, desc, invoice=inv,
                        secret=b62(self.rng.getrandbits(128), 24))
                inv.payment_intent = pi
                inv.invoice_payment_id = self.next_id("inpay")
                self.add("payment_intent", pi)
                if reason != "subscription_create":
                    first = finalize_at + self.rng.randint(1, 240)
                    inv.attempt_plan.append(first)
                    self.push(sub, first, "attempt", inv, 0)
        return inv

    # -- payments ------------------------------------------------------------------------------
    def attempt(self, sub: Subscription, t: int, inv: Invoice, n: int) -> None:
        if inv.paid_at is not None or inv.voided_at is not None or inv.uncollectible_at is not None:
            return
        r = self.rng
        if not inv.attempt_plan or inv.attempt_plan[-1] != t:
            inv.attempt_plan.append(t)
        if inv.first_attempt_at is None:
            inv.first_attempt_at = t
        ok = r.random() >= (self.decline_rate if n == 0 else RETRY_FAIL)
        pi = inv.payment_intent
        ch = self.charge(t, pi, ok)
        inv.charges.append(ch)
        if ok:
            inv.paid_at = t
            self.event(t, "invoice.paid", ("invoice", inv))
            if sub.ended_at is None and inv.subscription is sub:
                if sub.status == "incomplete":
                    self.activate(sub, t)
                elif sub.status == "past_due" and not any(
                        o.charges and o.paid_at is None and o.voided_at is None and o.uncollectible_at is None
                        for o in sub.invoices):
                    sub.status = "active"
                    self.event(t, "customer.subscription.updated", self.render.subscription(sub, t),
                               {"status": "past_due"})
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
            self.event(t, "customer.subscription.updated", self.render.subscription(sub, t), {"status": "active"})
        offsets = RETRY_OFFSETS_WEEKLY if sub.interval == "week" else RETRY_OFFSETS
        if n < len(offsets):
            t2 = inv.first_attempt_at + offsets[n] + r.randint(0, 6 * HOUR)
            inv.attempt_plan.append(t2)
            self.push(sub, t2, "attempt", inv, n + 1)
        else:
            self.exhaust(sub, t, inv)

    def activate(self, sub: Subscription, t: int) -> None:
        """The first invoice of a (non-trial) subscription got paid."""
        sub.status = "active"
        if t > sub.created:
            self.event(t, "customer.subscription.updated", self.render.subscription(sub, t), {"status": "incomplete"})
        self.schedule_period(sub)
        self.push(sub, sub.current_period_end, "renew")

    def exhaust(self, sub: Subscription, t: int, inv: Invoice) -> None:
        """All retries failed."""
        r = self.rng
        if sub.ended_at is not None or sub.status != "past_due" or sub.when_retries_fail == "cancel":
            inv.uncollectible_at = t
            self.event(t, "invoice.marked_uncollectible", ("invoice", inv))
            if inv.payment_intent is not None:
                inv.payment_intent.canceled_at = t
                inv.payment_intent.cancel_reason = "automatic"
            if sub.ended_at is None and sub.status == "past_due":
                self.end_sub(sub, t, "canceled", "payment_failed")
            return
        sub.status = "unpaid"
        sub.unpaid_renewals_left = r.randint(2, 4)
        inv.hold = True
        self.event(t, "customer.subscription.updated", self.render.subscription(sub, t), {"status": "past_due"})
        if r.random() < 0.3:
            t2 = t + r.randint(DAY, 6 * DAY)
            if t2 < sub.current_period_end - HOUR:
                self.push(sub, t2, "recover", inv)

    def recover(self, sub: Subscription, t: int, inv: Invoice) -> None:
        """The customer updates the card and pays the open invoice of an unpaid subscription."""
        if sub.ended_at is not None or sub.status != "unpaid" or sub.drafts or inv.paid_at is not None:
            return
        if inv.uncollectible_at is not None:
            return
        inv.attempt_plan.append(t)
        ch = self.charge(t, inv.payment_intent, True)
        inv.charges.append(ch)
        inv.paid_at = t
        inv.hold = False
        self.event(t, "invoice.paid", ("invoice", inv))
        sub.status = "active"
        self.event(t, "customer.subscription.updated", self.render.subscription(sub, t), {"status": "unpaid"})

    def expire(self, sub: Subscription, t: int, inv: Invoice) -> None:
        if inv.paid_at is not None or sub.status != "incomplete":
            return
        inv.voided_at = t
        self.event(t, "invoice.voided", ("invoice", inv))
        if inv.payment_intent is not None:
            inv.payment_intent.canceled_at = t
            inv.payment_intent.cancel_reason = "void_invoice"
            self.event(t, "payment_intent.canceled", ("payment_intent", inv.payment_intent))
        sub.status = "incomplete_expired"
        sub.ended_at = t
        self.event(t, "customer.subscription.deleted", self.render.subscription(sub, t))

    def charge(self, t: int, pi: PaymentIntent, ok: bool) -> Charge:
        r = self.rng
        ctx = self.ctx
        ch = Charge(self.next_id("ch"), t, pi.amount, pi.currency, pi, ok, pi.description)
        ch.risk_score = r.randint(5, 60) if ok else r.randint(20, 85)
        ch.receipt_token = b62(r.getrandbits(192), 32)
        pi.charges.append(ch)
        self.add("charge", ch)
        if ok:
            pi.succeeded_at = t
            settle, rate = ctx.settlement(ch.currency, t)
            ch.settlement_currency = settle
            fee_pct = 0.029 + (0.015 if self.foreign_card else 0.0) + (0.01 if rate is not None else 0.0)
            ch.balance_transaction = self.new_balance_transaction(t, "charge", "charge", ch.amount, ch.currency,
                                                                  settle, rate, ch.id, ch.description, fee_pct=fee_pct)
            self.event(t, "charge.succeeded", ("charge", ch))
            self.event(t, "payment_intent.succeeded", ("payment_intent", pi))
            self._after_success(ch)
        else:
            ch.failure = weighted_choice(r, FAILURES)
            self.event(t, "charge.failed", ("charge", ch))
            self.event(t, "payment_intent.payment_failed", ("payment_intent", pi))
        return ch

    def new_balance_transaction(self, t, type_, category, amount, currency, settle, rate, source, description,
                                fee_pct=0.0, fixed_fee=None, available_days=2) -> BalanceTransaction:
        if rate is None or settle == currency:
            samt = amount
            er = None
        else:
            samt = round_half_up(amount * rate * 10 ** (CURRENCY_DECIMALS[settle] - CURRENCY_DECIMALS[currency]))
            er = rate
        if fixed_fee is not None:
            fee = fixed_fee
            fee_desc = "Dispute fee" if fixed_fee > 0 else "Dispute fee refund"
        elif fee_pct:
            fee = round_half_up(abs(samt) * fee_pct) + FIXED_FEE[settle]
            fee_desc = "Stripe processing fees"
        else:
            fee = 0
            fee_desc = None
        rec = BalanceTransaction(self.next_id("txn"), t, samt, settle, fee, er, type_, category, source, description,
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
                amt = ch.amount if full else max(1, round_half_up(ch.amount * r.uniform(0.1, 0.7)))
                reason = weighted_choice(r, (("requested_by_customer", 70), ("duplicate", 10), ("fraudulent", 5),
                                      (None, 15)))[0]
                self.refund(tr, ch, amt, reason)
                if not full and r.random() < 0.2:
                    tr2 = tr + r.randint(HOUR, 10 * DAY)
                    left = ch.amount - amt
                    if tr2 <= self.as_of and left > 0:
                        self.refund(tr2, ch, max(1, round_half_up(left * r.uniform(0.2, 1.0))), "requested_by_customer")
        elif x < P_REFUND + P_DISPUTE:
            td = ch.created + r.randint(5 * DAY, 60 * DAY)
            if td <= self.as_of:
                self.dispute(td, ch)

    def refund(self, t: int, ch: Charge, amount: int, reason) -> Refund:
        ctx = self.ctx
        already = sum(x.amount for x in ch.refunds)
        amount = min(amount, ch.amount - already)
        rf = Refund(self.next_id("re"), t, amount, ch, reason, ch.currency, str(self.rng.randrange(10**22, 10**23)))
        rate = None if ch.settlement_currency == ch.currency else ctx.rate(ch.currency, ch.settlement_currency, t)
        rf.balance_transaction = self.new_balance_transaction(t, "refund", "refund", -amount, ch.currency,
                                                              ch.settlement_currency, rate, rf.id,
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
        d.id = self.next_id("dp")
        d.created = t
        d.amount = ch.amount
        d.currency = ch.currency
        d.charge = ch
        d.reason, d.network_reason_code, _w = weighted_choice(r, _DISPUTE_REASONS)
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
        settle = ch.settlement_currency
        rate = None if settle == ch.currency else ctx.rate(ch.currency, settle, t)
        fee = DISPUTE_FEE.get(settle, 1500)
        d.balance_transactions.append(self.new_balance_transaction(
            t, "adjustment", "dispute", -d.amount, ch.currency, settle, rate, d.id,
            f"Chargeback withdrawal for {ch.id}", fixed_fee=fee, available_days=1))
        self.event(t, "charge.dispute.created", ("dispute", d))
        if d.closed_at <= self.as_of:
            if d.won:
                rate2 = None if settle == ch.currency else ctx.rate(ch.currency, settle, d.closed_at)
                d.balance_transactions.append(self.new_balance_transaction(
                    d.closed_at, "adjustment", "dispute_reversal", d.amount, ch.currency, settle, rate2, d.id,
                    f"Chargeback reversal for {ch.id}", fixed_fee=-fee, available_days=1))
            self.event(d.closed_at, "charge.dispute.closed", ("dispute", d))

    # -- subscription event handlers ------------------------------------------------------------
    def on_trial_will_end(self, sub: Subscription, t: int) -> None:
        if sub.status == "trialing":
            self.event(t, "customer.subscription.trial_will_end", self.render.subscription(sub, t))

    def on_trial_end(self, sub: Subscription, t: int) -> None:
        if not sub.trial_converts:
            sub.lapsed = True
            self.end_sub(sub, t, "canceled", "cancellation_requested", feedback=None,
                         comment="Trial ended without a payment method")
            return
        sub.status = "active"
        sub.cadence = Cadence(sub.interval, sub.interval_count, t)
        self.set_period(sub, 0)
        inv = self.cycle_invoice(sub, t, "subscription_cycle", None, t + HOUR)
        inv.period_start, inv.period_end = sub.trial_start, t
        self.event(t, "customer.subscription.updated", self.render.subscription(sub, t),
                   {"status": "trialing", "latest_invoice": sub.invoices[0].id})
        self.schedule_period(sub)
        self.push(sub, sub.current_period_end, "renew")

    def on_renew(self, sub: Subscription, t: int) -> None:
        prev = (sub.current_period_start, sub.current_period_end)
        old_latest = sub.invoices[-1].id if sub.invoices else None
        if sub.cancel_at_period_end and sub.cancel_at == t:
            if any(it.metered for it in sub.items):
                self.cycle_invoice(sub, t, "subscription_cycle", prev, t + HOUR, licensed=False)
            self.end_sub(sub, t, "canceled", None)
            return
        if sub.status == "unpaid":
            sub.unpaid_renewals_left -= 1
            if sub.unpaid_renewals_left <= 0:
                for inv in sub.invoices:
                    if inv.finalized_at is not None and inv.paid_at is None and inv.voided_at is None \
                            and inv.uncollectible_at is None:
                        inv.uncollectible_at = t
                        inv.hold = False
                        self.event(t, "invoice.marked_uncollectible", ("invoice", inv))
                        if inv.payment_intent is not None:
                            inv.payment_intent.canceled_at = t
                            inv.payment_intent.cancel_reason = "automatic"
                for inv in sub.drafts:
                    inv.deleted = True
                sub.drafts = []
                self.end_sub(sub, t, "canceled", "payment_failed")
                return
        self.set_period(sub, sub.period_index + 1)
        for it in sub.items:
            it.last_debit = None
        if sub.status == "unpaid":
            self.cycle_invoice(sub, t, "subscription_cycle", prev, t, draft=True)
        else:
            self.cycle_invoice(sub, t, "subscription_cycle", prev, t + HOUR)
        self.event(t, "customer.subscription.updated", self.render.subscription(sub, t), {"latest_invoice": old_latest})
        if sub.status == "active" and not sub.cancel_at_period_end:
            self.schedule_period(sub)
        self.push(sub, sub.current_period_end, "renew")

    def on_cancel(self, sub: Subscription, t: int, mode: str) -> None:
        r = self.rng
        if sub.status != "active" or sub.cancel_at_period_end:
            return
        feedback = weighted_choice(r, (("too_expensive", 30), ("unused", 22), ("switched_service", 15),
                                ("missing_features", 13), ("low_quality", 5), ("customer_service", 3),
                                ("too_complex", 5), ("other", 7)))[0]
        if mode == "period_end" and not self.active_discounts(sub, t) and r.random() < 0.12:
            cp = self.ctx.cat.coupons["STAY30"]
            if cp.created <= t:
                self.add_discount(sub, cp, t)
                self.event(t, "customer.subscription.updated", self.render.subscription(sub, t), {"discounts": []},
                           request=True)
                return
        if mode == "immediate":
            last_paid = None
            for inv in reversed(sub.invoices):
                if inv.paid_at is not None and inv.charges and inv.reason != "subscription_update":
                    last_paid = inv
                    break
            self.end_sub(sub, t, "canceled", "cancellation_requested", feedback=feedback)
            if last_paid is not None and last_paid.created >= sub.current_period_start and r.random() < 0.3:
                ch = last_paid.charges[-1]
                if ch.ok and ch.dispute is None and not ch.refunds:
                    frac = (sub.current_period_end - t) / (sub.current_period_end - sub.current_period_start)
                    amt = max(1, round_half_up(ch.amount * frac))
                    tr = t + r.randint(60, 2 * HOUR)
                    if tr <= self.as_of:
                        self.refund(tr, ch, amt, "requested_by_customer")
            return
        sub.cancel_at_period_end = True
        sub.cancel_at = sub.current_period_end
        sub.canceled_at = t
        sub.cancel_details = {"comment": None, "feedback": feedback, "reason": "cancellation_requested"}
        self.event(t, "customer.subscription.updated", self.render.subscription(sub, t),
                   {"cancel_at": None, "cancel_at_period_end": False, "canceled_at": None,
                    "cancellation_details": {"comment": None, "feedback": None, "reason": None}}, request=True)

    def end_sub(self, sub: Subscription, t: int, status: str, reason, feedback=None, comment=None) -> None:
        sub.status = status
        sub.ended_at = t
        if sub.canceled_at is None:
            sub.canceled_at = t
        if sub.cancel_details is None:
            sub.cancel_details = {"comment": comment, "feedback": feedback, "reason": reason}
        elif reason is not None:
            sub.cancel_details["reason"] = reason
        self.event(t, "customer.subscription.deleted", self.render.subscription(sub, t))

    def on_change(self, sub: Subscription, t: int, kind: str) -> None:
        """A mid-period plan / seat / add-on change, invoiced immediately with prorations
        (``proration_behavior=always_invoice``)."""
        r = self.rng
        cat = self.ctx.cat
        if sub.status != "active" or sub.cancel_at_period_end:
            return
        if t < sub.current_period_start + 2 * HOUR or t > sub.current_period_end - HOUR:
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
            if self.customer.segment == "smb":
                pool = [k for k in pool if k in ("extra_storage", "custom_domain", "sandbox", "audit_log",
                                                 "webhooks_plus", "advanced_analytics")]
            if not pool:
                return
            key2 = r.choice(pool)
            ap = cat.get(key2, cur, iv, cnt, t)
            if ap is None:
                return
            it = SubscriptionItem(self.next_id("si"), ap, r.randint(1, 10) if key2 == "extra_storage" else 1, t)
            changes.append((it, None, 0, ap, it.quantity))
        elif kind == "addon_remove":
            addons = [it for it in sub.items[1:] if it.price.product.kind == "addon"]
            if not addons:
                return
            it = r.choice(addons)
            changes.append((it, it.price, it.quantity, None, 0))
        else:
            return
        inv_id = self.next_id("in")
        frac = (sub.current_period_end - t) / (sub.current_period_end - sub.current_period_start)
        lines = []
        when = fmt_date(t)
        for it, op, oq, np_, nq in changes:
            if op is not None:
                amt = -round_half_up(op.amount(oq) * frac)
                credited = None
                if it.last_debit is not None:
                    credited = {"invoice": it.last_debit[0], "invoice_line_items": [it.last_debit[1]]}
                lines.append(InvoiceLine(self.next_id("il"), amt, f"Unused time on {oq} × {op.product.name} after {when}",
                                         t, sub.current_period_end, op, oq, it.id, proration=True,
                                         invoice_item=self.next_id("ii"), credited_items=credited,
                                         unit_amount_decimal=None if op.tiered else str(op.unit_amount)))
            if np_ is not None:
                amt = round_half_up(np_.amount(nq) * frac)
                ln = InvoiceLine(self.next_id("il"), amt, f"Remaining time on {nq} × {np_.product.name} after {when}",
                                 t, sub.current_period_end, np_, nq, it.id, proration=True,
                                 invoice_item=self.next_id("ii"),
                                 unit_amount_decimal=None if np_.tiered else str(np_.unit_amount))
                lines.append(ln)
                it.last_debit = (inv_id, ln.id)
        prev_items = [self.render.item(sub, x) for x in sub.items]
        for it, op, oq, np_, nq in changes:
            if np_ is None:
                sub.items.remove(it)
            elif op is None:
                sub.items.append(it)
            else:
                it.price = np_
                it.quantity = nq
        self.new_invoice(sub, inv_id, t, "subscription_update", lines, t, (t, t), discounts=False)
        self.event(t, "customer.subscription.updated", self.render.subscription(sub, t),
                   {"items": list_page({"object": "list", "data": prev_items, "has_more": False,
                                         "total_count": len(prev_items),
                                         "url": f"/v1/subscription_items?subscription={sub.id}"})},
                   request=True)

    # -- one-off payments ----------------------------------------------------------------------
    def one_off(self, t: int) -> None:
        r = self.rng
        customer = self.customer
        if customer.currency_since is None or t < customer.currency_since:
            customer.currency_since = t
        self.card_from(t)
        label, usd = weighted_choice(r, (("Onboarding & setup package", 49900, 40), ("Data migration service", 149900, 20),
                                  ("Custom dashboard build", 250000, 15), ("Training workshop", 99900, 15),
                                  ("Consulting (10 hours)", 180000, 10)))[:2]
        if customer.segment == "smb":
            usd = max(9900, usd // 4)
        elif customer.segment == "enterprise":
            usd *= 3
        amount = {"usd": usd, "eur": usd, "gbp": (usd * 8 // 1000) * 100, "jpy": (usd * 3 // 200) * 100}[customer.currency]
        pi = PaymentIntent(self.next_id("pi"), t, amount, customer.currency, label,
                           metadata={"type": "one_off", "service": label}, secret=b62(r.getrandbits(128), 24))
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

