"""Tests of the demo account generator (``stripe_analytics.demo``).

* determinism (same seed -> identical stream, different seed -> different stream);
* every consistency invariant, checked object by object, on several generated accounts;
* every advertised feature appears in the default-size account (2000 customers);
* top-level keys of Stripe's fixture object (tests/fixtures/stripe) are present for every type we emit.

Generation time and object counts are measured by `make bench-demo` (bench/bench_demo.py).
"""

from __future__ import annotations

import collections
import math
import os
import time
from datetime import datetime, timezone

import pytest

from stripe_analytics.demo import generate_account
from stripe_analytics.demo._account import pack_event
from tests.stripe_fixtures import resources

AS_OF = datetime(2025, 6, 15, 12, 0, 0, tzinfo=timezone.utc)
DEC = {"usd": 2, "eur": 2, "gbp": 2, "jpy": 0}
MIN_CHARGE = {"usd": 50, "eur": 50, "gbp": 30, "jpy": 50}
LIVE = {"trialing", "active", "past_due", "unpaid", "incomplete"}
RANK = {"customer": 0, "subscription": 1, "invoice": 2, "payment_intent": 3, "charge": 4, "refund": 5,
        "dispute": 6, "balance_transaction": 7}



# ----------------------------------------------------------------------------------------------
# helpers


def rhu(x: float) -> int:
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def add_months(ts: int, k: int) -> int:
    d = datetime.fromtimestamp(ts, timezone.utc)
    total = d.year * 12 + d.month - 1 + k
    y, m = divmod(total, 12)
    m += 1
    import calendar

    day = min(d.day, calendar.monthrange(y, m)[1])
    return int(d.replace(year=y, month=m, day=day).timestamp())


def boundary(anchor: int, interval: str, count: int, k: int) -> int:
    if interval == "month":
        return add_months(anchor, k * count)
    if interval == "year":
        return add_months(anchor, 12 * k * count)
    if interval == "week":
        return anchor + k * count * 7 * 86400
    return anchor + k * count * 86400


def price_amount(price: dict, q: int) -> int:
    if price["billing_scheme"] == "tiered":
        assert price["tiers_mode"] == "graduated"
        total, lower = 0, 0
        for t in price["tiers"]:
            if q <= lower:
                break
            upper = q if t["up_to"] is None else min(q, t["up_to"])
            if upper > lower:
                total += (upper - lower) * (t["unit_amount"] or 0) + (t["flat_amount"] or 0)
            if t["up_to"] is None:
                break
            lower = t["up_to"]
        return total
    return price["unit_amount"] * q


class Account:
    """Index of a generated stream."""

    def __init__(self, acc, objs: list[dict]):
        self.acc = acc
        self.objs = objs
        self.as_of = int(acc.as_of.timestamp())
        self.by_type: dict[str, list[dict]] = collections.defaultdict(list)
        self.by_id: dict[str, dict] = {}
        for o in objs:
            self.by_type[o["object"]].append(o)
            if o["object"] != "event":
                self.by_id[o["id"]] = o
        t = self.by_type
        self.prices = {p["id"]: p for p in t["price"]}
        self.products = {p["id"]: p for p in t["product"]}
        self.coupons = {c["id"]: c for c in t["coupon"]}
        self.subs_of = collections.defaultdict(list)
        for s in t["subscription"]:
            self.subs_of[s["customer"]].append(s)
        self.invoices_of_sub = collections.defaultdict(list)
        self.invoices_of_cus = collections.defaultdict(list)
        for inv in t["invoice"]:
            self.invoices_of_sub[inv["parent"]["subscription_details"]["subscription"]].append(inv)
            self.invoices_of_cus[inv["customer"]].append(inv)
        self.charges_of_pi = collections.defaultdict(list)
        for ch in t["charge"]:
            self.charges_of_pi[ch["payment_intent"]].append(ch)
        self.refunds_of = collections.defaultdict(list)
        for rf in t["refund"]:
            self.refunds_of[rf["charge"]].append(rf)
        self.disputes_of = collections.defaultdict(list)
        for d in t["dispute"]:
            self.disputes_of[d["charge"]].append(d)
        self.pi_of_invoice = {}
        for inv in t["invoice"]:
            for p in inv["payments"]["data"]:
                self.pi_of_invoice[inv["id"]] = p["payment"]["payment_intent"]
        self.lines = [ln for inv in t["invoice"] for ln in inv["lines"]["data"]]


def generate(seed: int, customers: int, as_of=AS_OF) -> Account:
    acc = generate_account(seed=seed, customers=customers, as_of=as_of)
    return Account(acc, list(acc.iter_objects()))


@pytest.fixture(scope="module")
def small() -> Account:
    return generate(7, 300)


@pytest.fixture(scope="module")
def default() -> Account:
    return generate(0, 2000)


# ----------------------------------------------------------------------------------------------
# invariants


def check_invariants(a: Account) -> list[str]:  # noqa: C901 - one long list of checks
    errs: list[str] = []

    def err(msg: str) -> None:
        if len(errs) < 200:
            errs.append(msg)

    as_of = a.as_of
    objs = a.objs
    # -- stream layout -------------------------------------------------------------------------
    phase = 0  # 0 catalogue, 1 customers, 2 events
    cat_order = {"product": 0, "price": 1, "coupon": 2}
    last_cat = 0
    seen_ids = set()
    cus = None
    last_cus_created = -1
    last_created_in_block = -1
    last_event_created = -1
    owner_of: dict[str, str] = {}
    for o in objs:
        typ = o["object"]
        if "id" not in o or not o["id"]:
            err(f"object without id: {typ}")
        if o["id"] in seen_ids:
            err(f"duplicate id {o['id']}")
        seen_ids.add(o["id"])
        if o.get("livemode") not in (False, None):
            err(f"livemode {o['id']}")
        if typ in cat_order:
            if phase != 0 or cat_order[typ] < last_cat:
                err(f"catalogue object out of place: {o['id']}")
            last_cat = cat_order[typ]
            continue
        if typ == "event":
            phase = 2
            if o["created"] < last_event_created:
                err(f"events not in created order at {o['id']}")
            last_event_created = o["created"]
            if not (as_of - 30 * 86400 <= o["created"] <= as_of):
                err(f"event outside the 30-day window: {o['id']}")
            data = o["data"]["object"]
            if "object" not in data or "id" not in data:
                err(f"event data.object without object/id: {o['id']}")
            if o["api_version"] is None or not o["type"]:
                err(f"event fields {o['id']}")
            continue
        if phase == 2:
            err(f"non-event object after events: {o['id']}")
        phase = 1
        if typ == "customer":
            cus = o["id"]
            if o["created"] < last_cus_created:
                err(f"customers not in created order at {cus}")
            last_cus_created = o["created"]
            last_created_in_block = o["created"]
            owner_of[o["id"]] = cus
            continue
        if cus is None:
            err(f"{typ} before any customer")
            continue
        if o["created"] < last_created_in_block:
            err(f"{o['id']} not in created order within customer {cus}")
        last_created_in_block = o["created"]
        if o["created"] > as_of:
            err(f"{o['id']} created after as_of")
        owner = o.get("customer")
        if typ == "balance_transaction":
            src = a.by_id.get(o["source"])
            owner = src and (src.get("customer") or (src["object"] == "dispute" and
                                                     a.by_id[src["charge"]]["customer"]))
        elif typ == "dispute":
            owner = a.by_id[o["charge"]]["customer"]
        if owner != cus:
            err(f"{o['id']} yielded in the block of {cus} but belongs to {owner}")
    for cat_type in ("product", "price", "coupon", "customer"):
        if not a.by_type[cat_type]:
            err(f"no {cat_type} objects")

    # -- catalogue -----------------------------------------------------------------------------
    for p in a.by_type["price"]:
        if p["product"] not in a.products:
            err(f"price {p['id']} with unknown product")
        if p["currency"] == "jpy" and p["unit_amount"] is not None and p["unit_amount"] % 100:
            err(f"jpy price not in whole hundreds of yen: {p['id']}")
        if p["billing_scheme"] == "tiered":
            if not p.get("tiers") or p["tiers"][-1]["up_to"] is not None or p["unit_amount"] is not None:
                err(f"bad tiered price {p['id']}")
    for c in a.by_type["coupon"]:
        if (c["percent_off"] is None) == (c["amount_off"] is None):
            err(f"coupon {c['id']} needs exactly one of percent_off/amount_off")
        if c["amount_off"] is not None and not c["currency"]:
            err(f"amount_off coupon without currency {c['id']}")
        if (c["duration"] == "repeating") != (c["duration_in_months"] is not None):
            err(f"coupon duration_in_months {c['id']}")

    # -- walk every int amount: JPY and everything else are integers in minor units ----------------
    def walk(x, path=""):
        if isinstance(x, dict):
            for k, v in x.items():
                if (k.startswith("amount") or k in ("subtotal", "total", "fee", "net", "unit_amount",
                                                     "flat_amount", "balance", "starting_balance",
                                                     "ending_balance", "subtotal_excluding_tax",
                                                     "total_excluding_tax")) and v is not None \
                        and not isinstance(v, (int, dict)) or isinstance(v, bool) and k == "amount":
                    err(f"non-integer amount {path}.{k}={v!r}")
                walk(v, f"{path}.{k}")
        elif isinstance(x, list):
            for v in x:
                walk(v, path)

    for o in a.by_type["invoice"][:3000] + a.by_type["charge"][:3000] + a.by_type["balance_transaction"][:3000]:
        walk(o, o["object"])

    # -- subscriptions -------------------------------------------------------------------------
    for s in a.by_type["subscription"]:
        sid = s["id"]
        items = s["items"]["data"]
        if not items or s["items"]["has_more"] or s["items"]["total_count"] != len(items):
            err(f"{sid}: items list not complete")
            continue
        cust = a.by_id.get(s["customer"])
        if cust is None or cust["created"] > s["created"]:
            err(f"{sid}: customer missing or created after the subscription")
        periods = {(it["current_period_start"], it["current_period_end"]) for it in items}
        if len(periods) != 1:
            err(f"{sid}: items with different periods {periods}")
        cps, cpe = next(iter(periods))
        ivs = set()
        for it in items:
            pr = it["price"]
            if pr["id"] not in a.prices:
                err(f"{sid}: unknown price {pr['id']}")
            if pr["currency"] != s["currency"]:
                err(f"{sid}: item currency {pr['currency']} != {s['currency']}")
            if it["subscription"] != sid or it["plan"]["id"] != pr["id"]:
                err(f"{sid}: item links")
            if it["created"] < s["created"] or it["created"] > as_of:
                err(f"{sid}: item created out of range")
            ivs.add((pr["recurring"]["interval"], pr["recurring"]["interval_count"]))
            if pr["recurring"]["usage_type"] == "metered":
                if it["quantity"] is not None:
                    err(f"{sid}: metered item with a quantity")
            elif not isinstance(it["quantity"], int) or it["quantity"] < 1:
                err(f"{sid}: bad quantity")
        if len(ivs) != 1:
            err(f"{sid}: mixed billing intervals {ivs}")
        st = s["status"]
        if s["start_date"] != s["created"]:
            err(f"{sid}: start_date != created")
        if st == "canceled":
            if s["ended_at"] is None or s["canceled_at"] is None or s["ended_at"] > as_of:
                err(f"{sid}: canceled without ended_at/canceled_at")
            if s["cancel_at"] is not None and s["cancel_at"] != s["ended_at"]:
                err(f"{sid}: ended_at != cancel_at")
            if s["cancel_at"] is None and s["canceled_at"] != s["ended_at"]:
                err(f"{sid}: immediate cancel must have canceled_at == ended_at")
        elif st == "incomplete_expired":
            if s["ended_at"] is None or s["ended_at"] > s["created"] + 24 * 3600:
                err(f"{sid}: incomplete_expired timing")
        elif st in LIVE:
            if s["ended_at"] is not None:
                err(f"{sid}: {st} with ended_at")
            if not (cps <= as_of < cpe):
                err(f"{sid}: live subscription period [{cps}, {cpe}) does not contain as_of")
        else:
            err(f"{sid}: unexpected status {st}")
        if st == "trialing":
            if not (s["trial_start"] <= as_of < s["trial_end"]) or (cps, cpe) != (s["trial_start"], s["trial_end"]):
                err(f"{sid}: trialing but trial window does not hold as_of")
        if st == "incomplete" and as_of - s["created"] >= 23 * 3600:
            err(f"{sid}: incomplete for more than 23h")
        if s["cancel_at_period_end"]:
            if s["cancel_at"] != cpe or s["canceled_at"] is None or s["canceled_at"] > cpe:
                err(f"{sid}: cancel_at_period_end but cancel_at != current_period_end")
        if s["trial_end"] is not None:
            if s["billing_cycle_anchor"] != s["trial_end"]:
                err(f"{sid}: anchor != trial_end")
            if s["trial_start"] != s["created"]:
                err(f"{sid}: trial_start != created")
        elif s["billing_cycle_anchor"] != s["created"]:
            err(f"{sid}: anchor != created")
        for d in s["discounts"]:
            if d["object"] != "discount" or d["subscription"] != sid or d["customer"] != s["customer"]:
                err(f"{sid}: discount links")
            c = a.coupons.get(d["source"]["coupon"])
            if c is None or d["source"]["type"] != "coupon":
                err(f"{sid}: discount with unknown coupon")
                continue
            if d["start"] > as_of or (d["end"] is not None and d["end"] <= as_of):
                err(f"{sid}: discount not active at as_of")
            if c["duration"] == "repeating" and d["end"] != add_months(d["start"], c["duration_in_months"]):
                err(f"{sid}: repeating discount end")
            if c["currency"] is not None and c["currency"] != s["currency"]:
                err(f"{sid}: amount_off coupon in another currency")
        invs = sorted(a.invoices_of_sub[sid], key=lambda i: i["created"])  # stable: stream order on ties
        if not invs:
            err(f"{sid}: no invoice")
            continue
        if s["latest_invoice"] != invs[-1]["id"]:
            err(f"{sid}: latest_invoice is not the newest invoice")
        if invs[0]["billing_reason"] != "subscription_create" or invs[0]["created"] != s["created"]:
            err(f"{sid}: first invoice is not subscription_create at creation")
        open_failed = [i for i in invs if i["status"] == "open" and i["attempt_count"] > 0]
        if st == "past_due" and not open_failed:
            err(f"{sid}: past_due without an open failed invoice")
        if st == "active" and open_failed:
            err(f"{sid}: active with an open failed invoice {open_failed[0]['id']}")
        if st == "unpaid" and not any(i["next_payment_attempt"] is None for i in open_failed):
            err(f"{sid}: unpaid without an open invoice on hold")
        if st in ("active", "past_due", "trialing") and any(i["status"] == "draft" and not i["auto_advance"]
                                                              for i in invs):
            err(f"{sid}: left-over draft invoices")
        errs.extend(check_sub_invoices(a, s, invs)[: max(0, 200 - len(errs))])

    # -- invoices ------------------------------------------------------------------------------
    for inv in a.by_type["invoice"]:
        iid = inv["id"]
        lines = inv["lines"]["data"]
        if inv["lines"]["has_more"] or inv["lines"]["total_count"] != len(lines):
            err(f"{iid}: lines list not complete")
        sub = a.by_id.get(inv["parent"]["subscription_details"]["subscription"])
        if inv["parent"]["type"] != "subscription_details" or sub is None:
            err(f"{iid}: parent subscription missing")
            continue
        if inv["currency"] != sub["currency"] or inv["customer"] != sub["customer"]:
            err(f"{iid}: currency/customer differ from its subscription")
        if inv["created"] < sub["created"]:
            err(f"{iid}: invoice before its subscription")
        subtotal = sum(ln["amount"] for ln in lines)
        if inv["subtotal"] != subtotal or inv["subtotal_excluding_tax"] != subtotal:
            err(f"{iid}: subtotal {inv['subtotal']} != sum of lines {subtotal}")
        tda = {d["discount"]: d["amount"] for d in inv["total_discount_amounts"]}
        disc_ids = [d["id"] for d in inv["discounts"]]
        if set(tda) != set(disc_ids):
            err(f"{iid}: total_discount_amounts do not match discounts")
        per_disc = collections.Counter()
        for ln in lines:
            for da in ln["discount_amounts"]:
                per_disc[da["discount"]] += da["amount"]
        for did, amt in tda.items():
            if per_disc[did] != amt:
                err(f"{iid}: line discounts {per_disc[did]} != invoice discount {amt}")
        if inv["total"] != subtotal - sum(tda.values()) or inv["total_excluding_tax"] != inv["total"]:
            err(f"{iid}: total != subtotal - discounts")
        due = max(0, inv["total"] + inv["starting_balance"])
        if inv["amount_due"] != due:
            err(f"{iid}: amount_due {inv['amount_due']} != max(0, total + starting_balance) {due}")
        st = inv["status"]
        # below Stripe's minimum charge: marked paid, amount carried to the customer balance
        carried = st == "paid" and 0 < inv["amount_due"] < MIN_CHARGE[inv["currency"]]
        paid_amt = inv["amount_due"] if (st == "paid" and not carried) else 0
        remaining = 0 if carried else inv["amount_due"] - paid_amt
        if inv["amount_paid"] != paid_amt or inv["amount_remaining"] != remaining:
            err(f"{iid}: amount_paid/remaining inconsistent with status {st}")
        tr = inv["status_transitions"]
        if st == "draft":
            if inv["number"] is not None or tr["finalized_at"] is not None or inv["payments"]["data"] \
                    or inv["ending_balance"] is not None:
                err(f"{iid}: draft with finalisation data")
        else:
            if tr["finalized_at"] is None or inv["number"] is None:
                err(f"{iid}: finalized invoice without finalized_at/number")
            elif inv["ending_balance"] != inv["starting_balance"] + inv["total"] - (0 if carried else inv["amount_due"]):
                err(f"{iid}: ending_balance")
        if (st == "paid") != (tr["paid_at"] is not None) or (st == "void") != (tr["voided_at"] is not None) \
                or (st == "uncollectible") != (tr["marked_uncollectible_at"] is not None):
            err(f"{iid}: status_transitions do not match status {st}")
        for k, v in tr.items():
            if v is not None and not (inv["created"] <= v <= as_of):
                err(f"{iid}: status_transitions.{k} out of range")
        pays = inv["payments"]["data"]
        if st == "paid" and inv["amount_due"] > 0 and not carried:
            if len(pays) != 1 or pays[0]["status"] != "paid" or pays[0]["amount_paid"] != inv["amount_due"]:
                err(f"{iid}: paid invoice without a paid invoice_payment")
                continue
            pi = a.by_id.get(pays[0]["payment"]["payment_intent"])
            if pi is None or pi["status"] != "succeeded" or pi["amount"] != inv["amount_due"] \
                    or pi["currency"] != inv["currency"]:
                err(f"{iid}: paid invoice whose payment intent does not match")
                continue
            ok = [c for c in a.charges_of_pi[pi["id"]] if c["status"] == "succeeded"]
            if len(ok) != 1 or ok[0]["amount"] != inv["amount_due"] or ok[0]["currency"] != inv["currency"] \
                    or pi["latest_charge"] != ok[0]["id"]:
                err(f"{iid}: paid invoice without exactly one matching succeeded charge")
            elif ok[0]["created"] != tr["paid_at"]:
                err(f"{iid}: paid_at != charge time")
        if st == "paid" and (inv["amount_due"] == 0 or carried) and pays:
            err(f"{iid}: zero invoice with a payment")
        if st in ("open", "uncollectible", "void") and inv["amount_due"] > 0:
            if not pays:
                err(f"{iid}: {st} invoice without a payment intent")
            else:
                pi = a.by_id[pays[0]["payment"]["payment_intent"]]
                chs = a.charges_of_pi[pi["id"]]
                if any(c["status"] == "succeeded" for c in chs) or pi["status"] == "succeeded":
                    err(f"{iid}: {st} invoice with a succeeded charge")
                if len(chs) != inv["attempt_count"]:
                    err(f"{iid}: attempt_count {inv['attempt_count']} != charges {len(chs)}")
        if st == "open" and inv["attempt_count"] > 0 and inv["next_payment_attempt"] is not None \
                and inv["next_payment_attempt"] <= as_of:
            err(f"{iid}: next_payment_attempt in the past")
        for p in pays:
            if p["invoice"] != iid or p["currency"] != inv["currency"] or p["amount_requested"] != inv["amount_due"]:
                err(f"{iid}: invoice_payment fields")
            pi = a.by_id.get(p["payment"]["payment_intent"])
            if pi is None or pi["created"] < inv["created"] or pi["created"] != tr["finalized_at"]:
                err(f"{iid}: payment intent created before the invoice was finalized")

    # -- payment intents, charges, balance transactions -------------------------------------------
    bts = {b["id"]: b for b in a.by_type["balance_transaction"]}
    for pi in a.by_type["payment_intent"]:
        chs = a.charges_of_pi[pi["id"]]
        succ = [c for c in chs if c["status"] == "succeeded"]
        if pi["status"] == "succeeded":
            if len(succ) != 1 or pi["amount_received"] != pi["amount"]:
                err(f"{pi['id']}: succeeded payment intent without one succeeded charge")
        elif succ or pi["amount_received"]:
            err(f"{pi['id']}: {pi['status']} with a succeeded charge")
        if chs and pi["latest_charge"] != max(chs, key=lambda c: (c["created"], c["id"]))["id"] \
                and pi["latest_charge"] != chs[-1]["id"]:
            err(f"{pi['id']}: latest_charge")
        for c in chs:
            if c["created"] < pi["created"] or c["amount"] != pi["amount"] or c["currency"] != pi["currency"]:
                err(f"{c['id']}: charge does not match its payment intent")
    for ch in a.by_type["charge"]:
        cid = ch["id"]
        if ch["payment_intent"] not in a.by_id:
            err(f"{cid}: unknown payment intent")
        refunds = a.refunds_of[cid]
        if ch["amount_refunded"] != sum(r["amount"] for r in refunds) or ch["amount_refunded"] > ch["amount"]:
            err(f"{cid}: amount_refunded != sum of refunds")
        if ch["refunded"] != (ch["amount_refunded"] == ch["amount"]):
            err(f"{cid}: refunded flag")
        if sorted(r["id"] for r in ch["refunds"]["data"]) != sorted(r["id"] for r in refunds):
            err(f"{cid}: embedded refunds differ")
        if ch["disputed"] != bool(a.disputes_of[cid]):
            err(f"{cid}: disputed flag")
        if ch["status"] == "succeeded":
            if not (ch["paid"] and ch["captured"] and ch["amount_captured"] == ch["amount"]):
                err(f"{cid}: succeeded charge flags")
            b = bts.get(ch["balance_transaction"])
            if b is None:
                err(f"{cid}: succeeded charge without balance transaction")
                continue
            if b["source"] != cid or b["type"] != "charge" or b["created"] != ch["created"]:
                err(f"{cid}: balance transaction links")
            if b["currency"] == ch["currency"]:
                if b["exchange_rate"] is not None or b["amount"] != ch["amount"]:
                    err(f"{cid}: same-currency balance transaction amount")
            else:
                rate = b["exchange_rate"]
                exp = ch["amount"] * rate * 10 ** (DEC[b["currency"]] - DEC[ch["currency"]])
                if rate is None or abs(b["amount"] - exp) > 1:
                    err(f"{cid}: converted amount {b['amount']} != {exp}")
            if b["fee"] <= 0 or sum(f["amount"] for f in b["fee_details"]) != b["fee"]:
                err(f"{cid}: fee")
        else:
            if ch["status"] != "failed" or ch["paid"] or ch["balance_transaction"] is not None \
                    or not ch["failure_code"] or ch["amount_refunded"] or a.disputes_of[cid]:
                err(f"{cid}: failed charge fields")
    for b in a.by_type["balance_transaction"]:
        if b["net"] != b["amount"] - b["fee"]:
            err(f"{b['id']}: net != amount - fee")
        if b["source"] not in a.by_id:
            err(f"{b['id']}: unknown source")
        if b["status"] != ("available" if b["available_on"] <= as_of else "pending"):
            err(f"{b['id']}: status vs available_on")
        if b["currency"] not in ("usd", "eur"):
            err(f"{b['id']}: settlement currency {b['currency']}")
    for rf in a.by_type["refund"]:
        ch = a.by_id.get(rf["charge"])
        if ch is None or ch["status"] != "succeeded" or rf["amount"] <= 0 or rf["currency"] != ch["currency"]:
            err(f"{rf['id']}: refund of an unknown/failed charge or bad amount")
            continue
        if rf["created"] < ch["created"] or rf["payment_intent"] != ch["payment_intent"]:
            err(f"{rf['id']}: refund before its charge")
        b = bts.get(rf["balance_transaction"])
        cb = bts.get(ch["balance_transaction"])
        if b is None or b["amount"] >= 0 or b["type"] != "refund" or b["source"] != rf["id"] \
                or b["created"] != rf["created"] or b["currency"] != cb["currency"]:
            err(f"{rf['id']}: refund balance transaction")
        elif b["currency"] == rf["currency"] and b["amount"] != -rf["amount"]:
            err(f"{rf['id']}: refund balance transaction amount")
    for d in a.by_type["dispute"]:
        ch = a.by_id.get(d["charge"])
        if ch is None or d["amount"] != ch["amount"] or d["currency"] != ch["currency"] or d["created"] < ch["created"]:
            err(f"{d['id']}: dispute does not match its charge")
            continue
        for b in d["balance_transactions"]:
            if bts.get(b["id"]) != b:
                err(f"{d['id']}: embedded balance transaction differs from the streamed one")
        dbt = d["balance_transactions"]
        if not dbt or dbt[0]["amount"] >= 0 or dbt[0]["created"] != d["created"] or dbt[0]["type"] != "adjustment":
            err(f"{d['id']}: missing withdrawal")
        if (d["status"] == "won") != (len(dbt) == 2):
            err(f"{d['id']}: reinstatement iff won")
        refunds = a.refunds_of[d["charge"]]
        if refunds and min(r["created"] for r in refunds) > d["created"]:
            err(f"{d['id']}: refund after dispute")

    # -- customers -----------------------------------------------------------------------------
    for c in a.by_type["customer"]:
        invs = [i for i in a.invoices_of_cus[c["id"]] if i["status"] != "draft"]
        invs.sort(key=lambda i: (i["status_transitions"]["finalized_at"], i["number"]))
        if c["next_invoice_sequence"] != len(invs) + 1:
            err(f"{c['id']}: next_invoice_sequence")
        exp_bal = invs[-1]["ending_balance"] if invs else 0
        if c["balance"] != exp_bal:
            err(f"{c['id']}: balance {c['balance']} != last ending_balance {exp_bal}")
        nums = [i["number"] for i in invs]
        if nums != [f"{c['invoice_prefix']}-{k:04d}" for k in range(1, len(nums) + 1)]:
            err(f"{c['id']}: invoice numbers not sequential")
        md = c["metadata"]
        if md.get("segment") not in ("smb", "mid_market", "enterprise") or not md.get("channel"):
            err(f"{c['id']}: metadata")
        if not c["email"] or not c["name"] or not c["address"]["country"]:
            err(f"{c['id']}: contact fields")
        for s in a.subs_of[c["id"]]:
            if s["currency"] != c["currency"]:
                err(f"{c['id']}: subscription currency differs from customer currency")
    return errs


def check_sub_invoices(a: Account, s: dict, invs: list[dict]) -> list[str]:  # noqa: C901
    """Lines of a subscription's invoices against its billing grid, prices, quantities, discounts,
    and the current items against the invoices of the current period."""
    errs = []
    sid = s["id"]
    as_of = a.as_of
    rec = s["items"]["data"][0]["price"]["recurring"]
    iv, cnt = rec["interval"], rec["interval_count"]
    anchor = s["billing_cycle_anchor"]
    trial = (s["trial_start"], s["trial_end"]) if s["trial_end"] is not None else None
    # the subscription's billing grid: period k is [grid[k], grid[k + 1])
    grid = [boundary(anchor, iv, cnt, 0)]
    while grid[-1] <= as_of:
        grid.append(boundary(anchor, iv, cnt, len(grid)))
    grid.append(boundary(anchor, iv, cnt, len(grid)))
    k_of = {b: k for k, b in enumerate(grid)}
    once_seen = collections.Counter()
    for inv in invs:
        iid = inv["id"]
        discounts = inv["discounts"]
        for d in discounts:
            c = a.coupons[d["source"]["coupon"]]
            if d["subscription"] != sid or d["start"] > inv["created"] or \
                    (d["end"] is not None and inv["created"] >= d["end"]):
                errs.append(f"{iid}: discount {d['id']} not valid at invoice time")
            if c["duration"] == "once":
                once_seen[d["id"]] += 1
        disc_lines = [ln for ln in inv["lines"]["data"] if ln["discountable"]]
        for d in discounts:
            c = a.coupons[d["source"]["coupon"]]
            amounts = [next((x["amount"] for x in ln["discount_amounts"] if x["discount"] == d["id"]), None)
                       for ln in disc_lines]
            if None in amounts:
                errs.append(f"{iid}: discountable line without an amount for {d['id']}")
                continue
            if c["percent_off"] is not None:
                exp = [rhu(ln["amount"] * c["percent_off"] / 100.0) for ln in disc_lines]
                if amounts != exp:
                    errs.append(f"{iid}: percent discount amounts {amounts} != {exp}")
            else:
                if c["currency"] != inv["currency"]:
                    errs.append(f"{iid}: amount_off coupon currency")
                base = sum(ln["amount"] for ln in disc_lines)
                if sum(amounts) != min(c["amount_off"], base) or any(
                        x < 0 or x > ln["amount"] for x, ln in zip(amounts, disc_lines)):
                    errs.append(f"{iid}: amount_off allocation {amounts}")
        for ln in inv["lines"]["data"]:
            lid = ln["id"]
            par = ln["parent"]
            det = par["subscription_item_details"]
            if par["type"] != "subscription_item_details" or det["subscription"] != sid \
                    or ln["subscription"] != sid or ln["invoice"] != iid or ln["currency"] != inv["currency"]:
                errs.append(f"{lid}: parent/links")
                continue
            price = a.prices.get(ln["pricing"]["price_details"]["price"])
            if price is None or ln["pricing"]["price_details"]["product"] != price["product"]:
                errs.append(f"{lid}: pricing.price_details")
                continue
            if price["currency"] != inv["currency"] or ln["subtotal"] != ln["amount"]:
                errs.append(f"{lid}: currency/subtotal")
            if not ln["discountable"] and ln["discount_amounts"]:
                errs.append(f"{lid}: non-discountable line with discounts")
            if not discounts and ln["discount_amounts"]:
                errs.append(f"{lid}: discount amounts without invoice discounts")
            q = ln["quantity"]
            ps, pe = ln["period"]["start"], ln["period"]["end"]
            full = price_amount(price, q)
            if not (inv["created"] - 400 * 86400 <= ps <= pe):
                errs.append(f"{lid}: bad period")
            if trial is not None and (ps, pe) == trial and not det["proration"]:
                if ln["amount"] != 0 or inv["billing_reason"] != "subscription_create":
                    errs.append(f"{lid}: trial line must be free and on the first invoice")
                continue
            if det["proration"]:
                if ln["discountable"] or not det["invoice_item"] or inv["billing_reason"] != "subscription_update":
                    errs.append(f"{lid}: proration line fields")
                # the billing period whose end is the proration's end
                kk = k_of.get(pe)
                if not kk:
                    errs.append(f"{lid}: proration period end not on the billing grid")
                    continue
                b0, b1 = grid[kk - 1], grid[kk]
                if not (b0 <= ps < pe) or ps != inv["created"]:
                    errs.append(f"{lid}: proration period not inside a billing period")
                exp = rhu(full * (pe - ps) / (b1 - b0))
                credit = ln["description"].startswith("Unused time")
                if ln["amount"] != (-exp if credit else exp):
                    errs.append(f"{lid}: proration amount {ln['amount']} != {'-' if credit else ''}{exp}")
                continue
            if det["invoice_item"] is not None:
                errs.append(f"{lid}: non-proration line with an invoice item")
            k = k_of.get(ps)
            if k is None or k + 1 >= len(grid) or grid[k + 1] != pe:
                errs.append(f"{lid}: period [{ps}, {pe}] is not a billing period of {sid}")
            if ln["amount"] != full:
                errs.append(f"{lid}: amount {ln['amount']} != price x quantity {full}")
            metered = price["recurring"]["usage_type"] == "metered"
            if metered:
                if pe != inv["created"]:
                    errs.append(f"{lid}: metered usage must be billed at the end of its period")
            elif ps != inv["created"] and not (trial and inv["billing_reason"] == "subscription_cycle"
                                               and ps == trial[1]):
                if ps != inv["created"]:
                    errs.append(f"{lid}: licensed line period must start when the invoice is created")
    for did, n in once_seen.items():
        if n > 1:
            errs.append(f"{sid}: once-coupon discount {did} applied to {n} invoices")
    # -- the items now vs the invoices of the current period -------------------------------------
    items = s["items"]["data"]
    cps, cpe = items[0]["current_period_start"], items[0]["current_period_end"]
    licensed = {it["id"]: (it["price"]["id"], it["quantity"]) for it in items
                if it["price"]["recurring"]["usage_type"] == "licensed"}
    if s["status"] in LIVE and s["status"] != "incomplete":
        base = None
        for inv in invs:
            if inv["billing_reason"] in ("subscription_create", "subscription_cycle") and any(
                    (ln["period"]["start"], ln["period"]["end"]) == (cps, cpe) for ln in inv["lines"]["data"]):
                base = inv
        if base is None:
            errs.append(f"{sid}: no invoice for the current period")
            return errs
        state = {}
        for ln in base["lines"]["data"]:
            det = ln["parent"]["subscription_item_details"]
            if not det["proration"] and (ln["period"]["start"], ln["period"]["end"]) == (cps, cpe):
                state[det["subscription_item"]] = (ln["pricing"]["price_details"]["price"], ln["quantity"])
        for inv in invs:
            if inv["created"] <= base["created"] or inv["billing_reason"] != "subscription_update":
                continue
            debits, credits = {}, set()
            for ln in inv["lines"]["data"]:
                det = ln["parent"]["subscription_item_details"]
                if ln["description"].startswith("Unused time"):
                    credits.add(det["subscription_item"])
                else:
                    debits[det["subscription_item"]] = (ln["pricing"]["price_details"]["price"], ln["quantity"])
            for si in credits - set(debits):
                state.pop(si, None)
            state.update(debits)
        if state != licensed:
            errs.append(f"{sid}: items {licensed} != state from the invoices of the period {state}")
        # discounts: those active now and already started at the base invoice were applied to it
        if base["billing_reason"] == "subscription_cycle" or (trial is None):
            applied = {d["id"] for d in base["discounts"]}
            for d in s["discounts"]:
                c = a.coupons[d["source"]["coupon"]]
                if d["start"] <= base["created"] and c["duration"] != "once" and base["subtotal"] > 0 \
                        and d["id"] not in applied:
                    errs.append(f"{sid}: active discount {d['id']} missing on {base['id']}")
            now = {d["id"] for d in s["discounts"]}
            for d in base["discounts"]:
                c = a.coupons[d["source"]["coupon"]]
                still = d["end"] is None or d["end"] > as_of
                if c["duration"] != "once" and still and d["id"] not in now:
                    errs.append(f"{sid}: discount {d['id']} on {base['id']} missing from the subscription")
    return errs


# ----------------------------------------------------------------------------------------------
# tests


def test_interface_and_account_object():
    acc = generate_account(seed=0, customers=5, as_of=AS_OF)
    assert acc.account["object"] == "account"
    assert acc.account["id"].startswith("acct_demo")
    assert acc.account["id"] == generate_account(seed=0, customers=50, as_of=AS_OF).account["id"]
    assert acc.account["business_profile"]["name"]
    assert acc.account["default_currency"] == "usd"
    objs = list(acc.iter_objects())
    assert all("object" in o and "id" in o for o in objs)
    # default as_of is "now"
    now_acc = generate_account(seed=0, customers=3)
    assert abs(now_acc.as_of.timestamp() - time.time()) < 120


def test_streaming_is_lazy():
    acc = generate_account(seed=0, customers=10**7, as_of=AS_OF)
    it = acc.iter_objects()
    first = [next(it) for _ in range(400)]
    assert first[0]["object"] == "product"
    assert any(o["object"] == "customer" for o in first)
    it.close()


def test_determinism(small):
    again = generate(7, 300)
    assert again.objs == small.objs
    other = generate(8, 300)
    assert other.objs != small.objs
    assert {o["id"] for o in other.by_type["customer"]}.isdisjoint({o["id"] for o in small.by_type["customer"]})


def test_determinism_across_processes():
    """No dependence on hash randomisation: identical digests under different PYTHONHASHSEEDs."""
    import subprocess
    import sys

    code = ("import hashlib, json; from datetime import datetime, timezone; "
            "from stripe_analytics.demo import generate_account; h = hashlib.sha256(); "
            "[h.update(json.dumps(o).encode()) for o in generate_account(seed=5, customers=60, "
            "as_of=datetime(2025, 2, 28, 6, tzinfo=timezone.utc)).iter_objects()]; print(h.hexdigest())")
    digests = set()
    for hs in ("1", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=hs)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_customer_objects_match_stream(small):
    acc = small.acc
    objs, events = acc.customer_objects(5)
    cus_id = objs[0]["id"]
    block = [o for o in small.objs if o["object"] != "event" and (
        o.get("customer") == cus_id or o["id"] == cus_id)]
    assert [o["id"] for o in objs if o["object"] not in ("balance_transaction", "dispute")] == \
        [o["id"] for o in block if o["object"] not in ("balance_transaction", "dispute")]


def test_ids_look_like_stripe(small):
    prefixes = {"customer": "cus_", "product": "prod_", "price": "price_", "subscription": "sub_",
                "invoice": "in_", "payment_intent": "pi_", "charge": "ch_", "refund": "re_", "dispute": "dp_",
                "balance_transaction": "txn_", "event": "evt_"}
    for typ, prefix in prefixes.items():
        for o in small.by_type[typ]:
            assert o["id"].startswith(prefix), o["id"]
    for s in small.by_type["subscription"]:
        assert all(it["id"].startswith("si_") for it in s["items"]["data"])
        assert all(d["id"].startswith("di_") for d in s["discounts"])
    assert all(ln["id"].startswith("il_") for ln in small.lines)


@pytest.mark.parametrize("name", ["small", "default"])
def test_invariants(name, request):
    a = request.getfixturevalue(name)
    errs = check_invariants(a)
    assert not errs, f"{len(errs)} violations, e.g.:\n" + "\n".join(errs[:25])


@pytest.mark.parametrize("seed,as_of", [
    (3, datetime(2024, 3, 31, 23, 59, 59, tzinfo=timezone.utc)),   # month end, leap year
    (11, datetime(2026, 1, 1, 0, 0, 0, tzinfo=timezone.utc)),
])
def test_invariants_other_dates(seed, as_of):
    a = generate(seed, 250, as_of)
    errs = check_invariants(a)
    assert not errs, f"{len(errs)} violations, e.g.:\n" + "\n".join(errs[:25])


def test_events(small):
    events = small.by_type["event"]
    assert events
    types = collections.Counter(e["type"] for e in events)
    for t in ("customer.created", "customer.subscription.created", "customer.subscription.updated",
              "invoice.paid", "charge.succeeded"):
        assert types[t] > 0, (t, types)
    for e in events:
        obj = e["data"]["object"]
        assert e["type"].split(".")[0] in ("customer", "invoice", "charge", "payment_intent", "refund")
        prefix = e["type"].rsplit(".", 1)[0]
        expected = {"customer": "customer", "customer.subscription": "subscription", "invoice": "invoice",
                    "payment_intent": "payment_intent", "refund": "refund", "charge": "charge",
                    "charge.dispute": "dispute"}[prefix]
        assert obj["object"] == expected, (e["type"], obj["object"])
        if e["type"] == "charge.refunded":
            assert obj["amount_refunded"] > 0
        if e["type"] == "invoice.paid":
            assert obj["status"] == "paid"
        if e["type"] == "invoice.created":
            assert obj["status"] == "draft" and obj["number"] is None
        if e["type"] == "invoice.finalized":
            assert obj["status"] == "open" and obj["number"] and obj["amount_paid"] == 0
        if e["type"] == "charge.succeeded":
            assert obj["status"] == "succeeded"
        if e["type"] == "customer.subscription.deleted":
            assert obj["status"] in ("canceled", "incomplete_expired") and obj["ended_at"] == e["created"]
        prev = e["data"].get("previous_attributes") or {}
        if "status" in prev:
            assert prev["status"] != obj["status"], e["id"]
        assert e["created"] >= obj.get("created", 0)
    # the last event of an object carries its final status
    final = {}
    for e in events:
        final[e["data"]["object"]["id"]] = e["data"]["object"]
    for oid, obj in final.items():
        cur = small.by_id.get(oid)
        if cur is not None and "status" in obj and obj["object"] in ("subscription", "invoice", "charge"):
            assert obj["status"] == cur["status"], (oid, obj["status"], cur["status"])


def test_features_present(default):  # noqa: C901
    a = default
    subs = a.by_type["subscription"]
    items = [it for s in subs for it in s["items"]["data"]]
    missing = []

    def need(cond, what):
        if not cond:
            missing.append(what)

    currencies = {s["currency"] for s in subs}
    need(currencies >= {"usd", "eur", "gbp", "jpy"}, f"all currencies {currencies}")
    need({c["currency"] for c in a.by_type["charge"]} >= {"usd", "eur", "gbp", "jpy"}, "charges in all currencies")
    kinds = {(it["price"]["recurring"]["interval"], it["price"]["recurring"]["interval_count"]) for it in items}
    need(kinds >= {("month", 1), ("month", 3), ("year", 1), ("week", 1)}, f"interval kinds {kinds}")
    need(any(it["price"]["billing_scheme"] == "tiered" for it in items), "tiered price in use")
    need(any(it["price"]["recurring"]["usage_type"] == "metered" for it in items), "metered price in use")
    metered_lines = [ln for ln in a.lines if a.prices[ln["pricing"]["price_details"]["price"]]["recurring"]["usage_type"] == "metered"]
    need(any(ln["amount"] > 0 for ln in metered_lines), "metered usage lines")
    tiered_lines = [ln for ln in a.lines if a.prices[ln["pricing"]["price_details"]["price"]]["billing_scheme"] == "tiered"]
    need(any(ln["quantity"] > 5 for ln in tiered_lines), "tiered lines past the first tier")
    team = {p["id"] for p in a.by_type["product"] if p["unit_label"] == "seat"}
    need(any((it["quantity"] or 0) > 1 and it["price"]["product"] in team for it in items), "per-seat quantities")
    statuses = collections.Counter(s["status"] for s in subs)
    for st in ("active", "trialing", "past_due", "unpaid", "canceled", "incomplete_expired"):
        need(statuses[st] > 0, f"status {st} ({dict(statuses)})")
    need(any(s["trial_end"] and s["status"] in ("active", "past_due", "unpaid") for s in subs), "converted trial")
    need(any(s["trial_end"] and s["status"] == "canceled" and s["ended_at"] == s["trial_end"] for s in subs),
         "lapsed trial")
    need(any(s["cancel_at_period_end"] and s["status"] == "active" for s in subs), "pending cancel at period end")
    need(any(s["status"] == "canceled" and s["cancel_at"] and s["ended_at"] == s["cancel_at"] for s in subs),
         "ended at period end")
    need(any(s["status"] == "canceled" and s["cancel_at"] is None and s["canceled_at"] == s["ended_at"]
             and s["cancellation_details"]["reason"] == "cancellation_requested" for s in subs), "immediate cancel")
    need(any(s["cancellation_details"]["reason"] == "payment_failed" for s in subs), "cancel for failed payment")
    reactivated = 0
    for cus, ss in a.subs_of.items():
        ss = sorted(ss, key=lambda s: s["created"])
        for prev, nxt in zip(ss, ss[1:]):
            if prev["status"] == "canceled" and prev["ended_at"] and nxt["created"] > prev["ended_at"] + 20 * 86400:
                reactivated += 1
    need(reactivated > 0, "reactivation")
    prorations = [ln for ln in a.lines if ln["parent"]["subscription_item_details"]["proration"]]
    need(any(ln["amount"] < 0 for ln in prorations) and any(ln["amount"] > 0 for ln in prorations),
         "credit and debit proration lines")
    need(any(ln["parent"]["subscription_item_details"]["proration_details"]["credited_items"] for ln in prorations),
         "credited_items on credit prorations")
    upd = [i for i in a.by_type["invoice"] if i["billing_reason"] == "subscription_update"]
    prods = lambda inv: {a.prices[ln["pricing"]["price_details"]["price"]]["product"] for ln in inv["lines"]["data"]}  # noqa: E731
    need(any(len(inv["lines"]["data"]) == 2 and len(prods(inv)) == 2 and
             any(ln["amount"] > 0 for ln in inv["lines"]["data"]) and
             inv["lines"]["data"][1]["amount"] > -inv["lines"]["data"][0]["amount"] for inv in upd), "upgrade")
    need(any(inv["total"] < 0 for inv in upd), "downgrade (negative proration invoice -> credit balance)")
    need(any(len(inv["lines"]["data"]) == 2 and len(prods(inv)) == 1 and
             inv["lines"]["data"][0]["quantity"] != inv["lines"]["data"][1]["quantity"] for inv in upd), "seat change")
    need(any(i["starting_balance"] < 0 for i in a.by_type["invoice"]), "credit balance applied to an invoice")
    durations = set()
    kinds_off = set()
    for inv in a.by_type["invoice"]:
        for d in inv["discounts"]:
            c = a.coupons[d["source"]["coupon"]]
            if any(x["amount"] > 0 for x in inv["total_discount_amounts"]):
                durations.add(c["duration"])
                kinds_off.add("percent" if c["percent_off"] is not None else "amount")
    need(durations == {"once", "repeating", "forever"}, f"coupon durations applied {durations}")
    need(kinds_off == {"percent", "amount"}, f"percent and amount_off coupons applied {kinds_off}")
    inv_status = collections.Counter(i["status"] for i in a.by_type["invoice"])
    for st in ("paid", "open", "uncollectible", "void", "draft"):
        need(inv_status[st] > 0, f"invoice status {st} ({dict(inv_status)})")
    need(any(len(i["lines"]["data"]) > 10 for i in a.by_type["invoice"]), "invoice with more than 10 lines")
    charges = a.by_type["charge"]
    need(any(c["status"] == "failed" and c["failure_code"] for c in charges), "failed charges")
    need(any(0 < c["amount_refunded"] < c["amount"] for c in charges), "partial refund")
    need(any(c["refunded"] for c in charges), "full refund")
    need(len(a.by_type["dispute"]) > 0, "disputes")
    need({d["status"] for d in a.by_type["dispute"]} & {"won", "lost"}, "closed disputes")
    bts = a.by_type["balance_transaction"]
    need(any(b["exchange_rate"] and b["type"] == "charge" for b in bts), "cross-currency settlement")
    need(any(b["currency"] == "eur" and b["type"] == "charge" for b in bts), "EUR settled in EUR")
    need(any(b["type"] == "refund" and b["amount"] < 0 for b in bts), "refund balance transactions")
    need(any(b["type"] == "adjustment" and b["reporting_category"] == "dispute" for b in bts), "dispute adjustments")
    invoice_pis = set(a.pi_of_invoice.values())
    need(any(p["id"] not in invoice_pis and p["status"] == "succeeded" for p in a.by_type["payment_intent"]),
         "one-off payments")
    segments = {c["metadata"]["segment"] for c in a.by_type["customer"]}
    need(segments == {"smb", "mid_market", "enterprise"}, "segments")
    types = {e["type"] for e in a.by_type["event"]}
    for t in ("customer.created", "customer.subscription.created", "customer.subscription.updated",
              "customer.subscription.deleted", "invoice.paid", "charge.succeeded", "charge.refunded"):
        need(t in types, f"event {t}")
    jpy = [i for i in a.by_type["invoice"] if i["currency"] == "jpy" and i["subtotal"] > 0]
    need(jpy and all(i["subtotal"] < 10_000_000 for i in jpy), "jpy invoices in whole yen")
    assert not missing, "missing features: " + "; ".join(missing)


def test_shapes_match_stripe_fixtures(small):
    fixtures = resources()
    samples: dict[str, list[dict]] = collections.defaultdict(list)
    for o in small.objs:
        samples[o["object"]].append(o)
    for s in small.by_type["subscription"]:
        samples["subscription_item"].extend(s["items"]["data"])
        samples["discount"].extend(s["discounts"])
        samples["plan"].extend(it["plan"] for it in s["items"]["data"])
    for inv in small.by_type["invoice"]:
        samples["line_item"].extend(inv["lines"]["data"])
        samples["invoice_payment"].extend(inv["payments"]["data"])
        samples["discount"].extend(inv["discounts"])
    samples["account"].append(small.acc.account)
    problems = []
    for typ, objs in samples.items():
        fx = fixtures[typ]
        assert fx["object"] == typ
        want = set(fx)
        for o in objs[:500]:
            missing = want - set(o)
            if missing:
                problems.append(f"{typ} {o['id']} lacks {sorted(missing)}")
                break
    assert not problems, "\n".join(problems)


def test_customer_ranges_and_the_event_spool_rebuild_the_stream():
    """Customer ranges (as the demo build's worker processes generate them) with their events
    through the event spool are exactly `iter_objects()`, whatever order the events arrive in."""
    acc = generate_account(seed=3, customers=23, as_of=AS_OF)
    rebuilt = list(acc.catalog_objects())
    spool = acc.event_spool()
    for start in range(0, 23, 5):
        events = []
        for ci, objects, evs in acc.customers_in(start, min(start + 5, 23)):
            rebuilt += objects
            events += [pack_event(event, ci, n) for n, event in enumerate(evs)]
        for event in reversed(events):
            spool.add(event)
    rebuilt += list(spool.drain())
    spool.close()
    assert rebuilt == list(acc.iter_objects())
    assert sum(o["object"] == "event" for o in rebuilt) > 0
