"""The demo account's catalogue: products, prices (several currencies and intervals,
one graduated tiered price, one metered price, one archived legacy price) and coupons."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._timeutil import DAY

CURRENCY_DECIMALS = {"usd": 2, "eur": 2, "gbp": 2, "jpy": 0}
CURRENCY_SYMBOL = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}


def fmt_money(amount: int, currency: str) -> str:
    sym = CURRENCY_SYMBOL.get(currency, currency.upper() + " ")
    if CURRENCY_DECIMALS.get(currency, 2) == 0:
        return f"{sym}{amount:,}"
    sign = "-" if amount < 0 else ""
    return f"{sign}{sym}{abs(amount) / 100:,.2f}"


# key, name, description, unit_label, tax_code
_PRODUCTS = [
    ("starter", "Starter", "Dashboards and reports for individuals and small teams.", None),
    ("pro", "Pro", "Everything in Starter plus forecasting, cohorts and alerts.", None),
    ("team", "Team", "Per-seat plan for growing teams with shared workspaces.", "seat"),
    ("enterprise", "Enterprise", "Platform fee for enterprise deployments (SLA, SSO, audit).", None),
    ("api", "API Requests", "Metered API usage, billed monthly in arrears per 1,000 requests.", "1k requests"),
]
# add-ons: key, name, monthly usd amount
_ADDONS = [
    ("extra_storage", "Extra storage (100 GB)", 1000),
    ("priority_support", "Priority support", 9900),
    ("sso", "SSO & SCIM", 4900),
    ("audit_log", "Audit log", 2900),
    ("advanced_analytics", "Advanced analytics", 3900),
    ("sandbox", "Sandbox environments", 1900),
    ("custom_domain", "Custom domains", 900),
    ("data_retention", "Extended data retention", 2500),
    ("premium_integrations", "Premium integrations", 4900),
    ("white_label", "White-labelling", 14900),
    ("dedicated_ip", "Dedicated IP", 3000),
    ("webhooks_plus", "Webhooks Plus", 1500),
]
ADDON_KEYS = tuple(k for k, _, _ in _ADDONS)

# (product, currency, interval, interval_count, unit_amount); created relative offsets below
_PLAN_PRICES = [
    ("starter", "usd", "month", 1, 1900), ("starter", "eur", "month", 1, 1900),
    ("starter", "gbp", "month", 1, 1500), ("starter", "jpy", "month", 1, 2800),
    ("starter", "usd", "year", 1, 19000), ("starter", "eur", "year", 1, 19000),
    ("starter", "gbp", "year", 1, 15000), ("starter", "jpy", "year", 1, 28000),
    ("starter", "usd", "week", 1, 500), ("starter", "eur", "week", 1, 500),
    ("pro", "eur", "month", 1, 4500), ("pro", "gbp", "month", 1, 3900), ("pro", "jpy", "month", 1, 7000),
    ("pro", "usd", "year", 1, 49000), ("pro", "eur", "year", 1, 45000),
    ("pro", "gbp", "year", 1, 39000), ("pro", "jpy", "year", 1, 70000),
    ("pro", "usd", "month", 3, 13900), ("pro", "eur", "month", 3, 12900), ("pro", "gbp", "month", 3, 10900),
    ("team", "usd", "month", 1, 1500), ("team", "eur", "month", 1, 1400),
    ("team", "gbp", "month", 1, 1200), ("team", "jpy", "month", 1, 2200),
    ("team", "usd", "year", 1, 15000), ("team", "eur", "year", 1, 14000), ("team", "gbp", "year", 1, 12000),
    ("enterprise", "usd", "month", 1, 99900), ("enterprise", "eur", "month", 1, 94900),
    ("enterprise", "gbp", "month", 1, 79900), ("enterprise", "jpy", "month", 1, 150000),
    ("enterprise", "usd", "year", 1, 999000), ("enterprise", "eur", "year", 1, 949000),
    ("enterprise", "gbp", "year", 1, 799000), ("enterprise", "jpy", "year", 1, 1500000),
]
TEAM_TIERS = [
    {"flat_amount": 7500, "unit_amount": 0, "up_to": 5},
    {"flat_amount": None, "unit_amount": 1400, "up_to": 25},
    {"flat_amount": None, "unit_amount": 1100, "up_to": None},
]

# id, name, percent_off, amount_off, currency, duration, duration_in_months, created offset (days from catalogue creation)
_COUPONS = [
    ("WELCOME20", "Welcome: 20% off for 3 months", 20.0, None, None, "repeating", 3, 5),
    ("LAUNCH50", "Launch: 50% off the first invoice", 50.0, None, None, "once", None, 5),
    ("PARTNER15", "Partner referral: 15% off", 15.0, None, None, "forever", None, 40),
    ("NONPROFIT30", "Non-profit: 30% off", 30.0, None, None, "forever", None, 40),
    ("ANNUAL10", "Annual plan: 10% off the first year", 10.0, None, None, "once", None, 60),
    ("STAY30", "Retention offer: 30% off for 3 months", 30.0, None, None, "repeating", 3, 90),
    ("WINBACK25", "Win-back: 25% off for 2 months", 25.0, None, None, "repeating", 2, 120),
    ("USD10OFF", "$10 off for 6 months", None, 1000, "usd", "repeating", 6, 30),
    ("EUR25OFF", "€25 off the first invoice", None, 2500, "eur", "once", None, 30),
    ("GBP5OFF", "£5 off every month", None, 500, "gbp", "forever", None, 30),
    ("JPY1000OFF", "¥1,000 off for 3 months", None, 1000, "jpy", "repeating", 3, 30),
]


def _eur(usd: int) -> int:
    return usd


def _gbp(usd: int) -> int:
    return max(100, (usd * 8 // 1000) * 100)


def _jpy(usd: int) -> int:
    return max(100, int(round(usd * 1.5 / 100.0)) * 100)


def graduated_amount(tiers: list[dict], quantity: int) -> int:
    total = 0
    lower = 0
    for tier in tiers:
        up_to = tier["up_to"]
        if quantity <= lower:
            break
        upper = quantity if up_to is None else min(quantity, up_to)
        units = upper - lower
        if units > 0:
            total += units * (tier["unit_amount"] or 0) + (tier["flat_amount"] or 0)
        if up_to is None:
            break
        lower = up_to
    return total


@dataclass(eq=False)
class ProductDef:
    key: str
    id: str
    name: str
    description: str
    unit_label: str | None
    created: int
    kind: str  # plan | seat | metered | addon
    default_price: str | None = None


@dataclass(eq=False)
class PriceDef:
    key: str
    id: str
    product: ProductDef
    currency: str
    interval: str
    interval_count: int
    unit_amount: int | None
    created: int
    retired_at: int | None = None
    tiers: list[dict] | None = None
    usage_type: str = "licensed"
    meter: str | None = None
    lookup_key: str | None = None
    nickname: str | None = None
    tmpl: dict | None = None
    plan_tmpl: dict | None = None
    months: float = 1.0

    def as_dict(self) -> dict:
        """A fresh copy of the price object (embedded objects must not share containers)."""
        d = dict(self.tmpl)
        d["metadata"] = {}
        d["recurring"] = dict(d["recurring"])
        if "tiers" in d:
            d["tiers"] = [dict(t) for t in d["tiers"]]
        return d

    def plan_dict(self) -> dict:
        d = dict(self.plan_tmpl)
        d["metadata"] = {}
        return d

    @property
    def tiered(self) -> bool:
        return self.tiers is not None

    def amount(self, quantity: int) -> int:
        if self.tiers is not None:
            return graduated_amount(self.tiers, quantity)
        return self.unit_amount * quantity

    def interval_text(self) -> str:
        if self.interval_count == 1:
            return f"/ {self.interval}"
        return f"every {self.interval_count} {self.interval}s"


@dataclass(eq=False)
class CouponDef:
    id: str
    name: str
    percent_off: float | None
    amount_off: int | None
    currency: str | None
    duration: str
    duration_in_months: int | None
    created: int


@dataclass(eq=False)
class Catalog:
    products: list[ProductDef] = field(default_factory=list)
    prices: list[PriceDef] = field(default_factory=list)
    coupons: dict[str, CouponDef] = field(default_factory=dict)
    by_key: dict[tuple, list[PriceDef]] = field(default_factory=dict)
    product_by_key: dict[str, ProductDef] = field(default_factory=dict)
    pricing_change_at: int = 0
    tiered_since: int = 0
    weekly_since: int = 0
    as_of: int = 0

    def get(self, product: str, currency: str, interval: str, count: int, at: int,
            tiered: bool = False) -> PriceDef | None:
        best = None
        for p in self.by_key.get((product, currency, interval, count), ()):
            if p.created > at or (p.retired_at is not None and at >= p.retired_at):
                continue
            if p.tiered != tiered:
                continue
            if best is None or p.created > best.created:
                best = p
        return best

    # -- rendering ---------------------------------------------------------------
    def product_dict(self, p: ProductDef) -> dict:
        return {
            "id": p.id,
            "object": "product",
            "active": True,
            "created": p.created,
            "default_price": p.default_price,
            "description": p.description,
            "images": [],
            "livemode": False,
            "marketing_features": [],
            "metadata": {"catalog_key": p.key, "kind": p.kind},
            "name": p.name,
            "package_dimensions": None,
            "shippable": None,
            "statement_descriptor": None,
            "tax_code": "txcd_10103001",
            "type": "service",
            "unit_label": p.unit_label,
            "updated": p.created,
            "url": None,
        }


def _price_dict(p: PriceDef, as_of: int) -> dict:
    d = {
        "id": p.id,
        "object": "price",
        "active": p.retired_at is None or as_of < p.retired_at,
        "billing_scheme": "tiered" if p.tiers is not None else "per_unit",
        "created": p.created,
        "currency": p.currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": p.lookup_key,
        "metadata": {},
        "nickname": p.nickname,
        "product": p.product.id,
        "recurring": {
            "interval": p.interval,
            "interval_count": p.interval_count,
            "meter": p.meter,
            "trial_period_days": None,
            "usage_type": p.usage_type,
        },
        "tax_behavior": "exclusive",
        "tiers_mode": "graduated" if p.tiers is not None else None,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": p.unit_amount,
        "unit_amount_decimal": None if p.unit_amount is None else str(p.unit_amount),
    }
    if p.tiers is not None:
        d["tiers"] = [
            {
                "flat_amount": t["flat_amount"],
                "flat_amount_decimal": None if t["flat_amount"] is None else str(t["flat_amount"]),
                "unit_amount": t["unit_amount"],
                "unit_amount_decimal": None if t["unit_amount"] is None else str(t["unit_amount"]),
                "up_to": t["up_to"],
            }
            for t in p.tiers
        ]
    return d


def _plan_dict(p: PriceDef, as_of: int) -> dict:
    return {
        "id": p.id,
        "object": "plan",
        "active": p.retired_at is None or as_of < p.retired_at,
        "amount": p.unit_amount,
        "amount_decimal": None if p.unit_amount is None else str(p.unit_amount),
        "billing_scheme": "tiered" if p.tiers is not None else "per_unit",
        "created": p.created,
        "currency": p.currency,
        "interval": p.interval,
        "interval_count": p.interval_count,
        "livemode": False,
        "metadata": {},
        "meter": p.meter,
        "nickname": p.nickname,
        "product": p.product.id,
        "tiers_mode": "graduated" if p.tiers is not None else None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": p.usage_type,
    }


def coupon_dict(c: CouponDef) -> dict:
    return {
        "id": c.id,
        "object": "coupon",
        "amount_off": c.amount_off,
        "created": c.created,
        "currency": c.currency,
        "duration": c.duration,
        "duration_in_months": c.duration_in_months,
        "livemode": False,
        "max_redemptions": None,
        "metadata": {},
        "name": c.name,
        "percent_off": c.percent_off,
        "redeem_by": None,
        # Not tracked: the catalogue is streamed before the customers that redeem it.
        "times_redeemed": 0,
        "valid": True,
    }


def build_catalog(ids, start: int, as_of: int) -> Catalog:
    """``start`` is the beginning of the 24-month history; the catalogue predates it."""
    cat = Catalog(as_of=as_of)
    seq = 0

    def nseq() -> int:
        nonlocal seq
        seq += 1
        return seq

    t_cat = start - 45 * DAY
    cat.pricing_change_at = start + 8 * 30 * DAY
    cat.weekly_since = start + 2 * 30 * DAY
    cat.tiered_since = start + 12 * 30 * DAY

    for key, name, desc, unit in _PRODUCTS:
        kind = {"team": "seat", "api": "metered"}.get(key, "plan")
        p = ProductDef(key, ids.short("prod", 0, nseq()), name, desc, unit, t_cat + len(cat.products) * 600, kind)
        cat.products.append(p)
        cat.product_by_key[key] = p
    for key, name, _usd in _ADDONS:
        p = ProductDef(key, ids.short("prod", 0, nseq()), name, f"Add-on: {name}.", None,
                       t_cat + 2 * DAY + len(cat.products) * 600, "addon")
        cat.products.append(p)
        cat.product_by_key[key] = p

    def add(pk, cur, iv, cnt, amount, created, **kw) -> PriceDef:
        prod = cat.product_by_key[pk]
        suffix = {("month", 1): "monthly", ("month", 3): "quarterly", ("year", 1): "yearly",
                  ("week", 1): "weekly"}[(iv, cnt)]
        price = PriceDef(
            key=f"{pk}_{suffix}_{cur}", id=ids.long("price", 0, nseq()), product=prod, currency=cur,
            interval=iv, interval_count=cnt, unit_amount=amount, created=created,
            lookup_key=kw.pop("lookup_key", f"{pk}_{suffix}_{cur}"),
            nickname=kw.pop("nickname", f"{prod.name} {suffix} ({cur.upper()})"), **kw)
        price.months = {"month": cnt, "year": 12 * cnt, "week": 7 * cnt / 30.4375}[iv]
        cat.prices.append(price)
        cat.by_key.setdefault((pk, cur, iv, cnt), []).append(price)
        if prod.default_price is None and cur == "usd" and iv == "month":
            prod.default_price = price.id
        return price

    t_price = t_cat + DAY
    # Pro was $39 until the pricing change; existing subscribers keep the archived price.
    add("pro", "usd", "month", 1, 3900, t_price, retired_at=cat.pricing_change_at,
        lookup_key=None, nickname="Pro monthly (USD, 2023 pricing)")
    for i, (pk, cur, iv, cnt, amount) in enumerate(_PLAN_PRICES):
        created = t_price + 60 * i
        if iv == "week":
            created = cat.weekly_since - 3 * DAY + 60 * i
        add(pk, cur, iv, cnt, amount, created)
    new_pro = add("pro", "usd", "month", 1, 4900, cat.pricing_change_at - 2 * DAY)
    cat.product_by_key["pro"].default_price = new_pro.id
    add("team", "usd", "month", 1, None, cat.tiered_since - 5 * DAY, tiers=TEAM_TIERS,
        lookup_key="team_monthly_usd_graduated", nickname="Team monthly (USD, graduated seats)")
    meter = "mtr_" + ids.body(0, nseq()) + ids.tag[:5]
    add("api", "usd", "month", 1, 40, t_price + 3 * DAY, usage_type="metered", meter=meter)
    add("api", "eur", "month", 1, 36, t_price + 3 * DAY, usage_type="metered", meter=meter)
    for j, (key, _name, usd) in enumerate(_ADDONS):
        created = t_price + 2 * DAY + 120 * j
        add(key, "usd", "month", 1, usd, created)
        add(key, "eur", "month", 1, _eur(usd), created + 10)
        add(key, "gbp", "month", 1, _gbp(usd), created + 20)
        add(key, "jpy", "month", 1, _jpy(usd), created + 30)
        add(key, "usd", "year", 1, usd * 10, created + 40)
        add(key, "eur", "year", 1, _eur(usd) * 10, created + 50)

    for p in cat.prices:
        p.tmpl = _price_dict(p, as_of)
        p.plan_tmpl = _plan_dict(p, as_of)

    for cid, name, pct, amt, cur, dur, months, offset in _COUPONS:
        cat.coupons[cid] = CouponDef(cid, name, pct, amt, cur, dur, months, t_cat + offset * DAY)
    return cat


def catalog_objects(cat: Catalog):
    for p in cat.products:
        yield cat.product_dict(p)
    for p in cat.prices:
        yield p.as_dict()
    for c in cat.coupons.values():
        yield coupon_dict(c)
