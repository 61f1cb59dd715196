"""Metric definitions shown next to every number (tooltips and "Definitions" expanders),
read from docs/metrics.md so the app says exactly what the docs say.

The parser accepts the usual ways a Markdown glossary names a term: a heading
(`### MRR`), a bullet with a bold or code term (`- **MRR**: ...`, `- `nrr` = ...`). A term
the document does not define falls back to a one-line summary of the metrics contract,
so a tooltip is never empty.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"

# key: (label, aliases as the docs may name it, fallback definition)
CATALOG: dict[str, tuple[str, tuple[str, ...], str]] = {
    "mrr": ("MRR", ("mrr", "monthly recurring revenue", "customer mrr", "mrr of the account"),
            "Monthly recurring revenue: the sum over customers of their active subscriptions' licensed items, "
            "normalised to a month, after discounts, before tax, at the month's end (the as-of instant for the "
            "current month). Trials, one-time prices and metered usage are not MRR."),
    "arr": ("ARR", ("arr", "annual recurring revenue"), "Annual recurring revenue: 12 × MRR."),
    "active_customers": ("Active customers", ("active customers", "active_customers"),
                         "Customers with MRR > 0 at the month's snapshot."),
    "new_mrr": ("New MRR", ("new", "new mrr", "new_mrr"),
                "MRR of customers who had none last month and never had any before."),
    "expansion_mrr": ("Expansion MRR", ("expansion", "expansion mrr", "expansion_mrr"),
                      "Increase of MRR of customers who already had MRR last month."),
    "contraction_mrr": ("Contraction MRR", ("contraction", "contraction mrr", "contraction_mrr"),
                        "Decrease of MRR of customers who still have MRR this month."),
    "churned_mrr": ("Churned MRR", ("churn", "churned mrr", "churned_mrr", "churned"),
                    "Last month's MRR of customers who have none this month."),
    "reactivation_mrr": ("Reactivation MRR", ("reactivation", "reactivation mrr", "reactivation_mrr"),
                         "MRR of customers who had none last month but had some at an earlier month."),
    "net_new_mrr": ("Net new MRR", ("net new mrr", "net_new_mrr"),
                    "New + reactivation + expansion − contraction − churned MRR; equals this month's MRR minus "
                    "last month's."),
    "customer_churn_rate": ("Customer churn", ("customer churn rate", "customer_churn_rate", "customer churn"),
                            "Churned customers ÷ active customers at the previous month's end."),
    "revenue_churn_rate": ("Revenue churn", ("revenue churn rate", "revenue_churn_rate", "revenue churn"),
                           "(Churned + contraction MRR) ÷ previous month's MRR."),
    "grr": ("GRR", ("grr", "gross revenue retention"),
            "Gross revenue retention: (previous MRR − churned − contraction) ÷ previous MRR."),
    "nrr": ("NRR", ("nrr", "net revenue retention"),
            "Net revenue retention: (previous MRR − churned − contraction + expansion) ÷ previous MRR. New and "
            "reactivated customers are outside it."),
    "arpa": ("ARPA", ("arpa", "average revenue per account"), "MRR ÷ active customers."),
    "quick_ratio": ("Quick ratio", ("quick ratio", "quick_ratio"),
                    "(New + reactivation + expansion MRR) ÷ (churned + contraction MRR)."),
    "ltv": ("LTV", ("ltv", "lifetime value", "customer lifetime value"),
            "ARPA ÷ the mean customer churn rate of the last 3 months that have a rate."),
    "mrr_growth_rate": ("MRR growth", ("mrr growth rate", "mrr_growth_rate", "growth rate", "mrr growth"),
                        "This month's MRR ÷ last month's − 1."),
    "gross_volume": ("Gross volume", ("gross volume", "gross_volume"),
                     "Captured amount of successful charges, by the charge's creation month and currency."),
    "net_volume": ("Net volume", ("net volume", "net_volume"),
                   "Net of balance transactions for charges, payments, refunds, adjustments and failure refunds "
                   "(after fees, in the settlement currency)."),
    "refunds": ("Refunds", ("refunds",), "Amount of successful refunds, by the refund's creation month."),
    "fees": ("Fees", ("fees",), "Stripe fees of all balance transactions (settlement currency)."),
    "successful_payments": ("Successful payments", ("successful payments", "successful_payments"),
                            "Number of charges with status succeeded."),
    "failed_payments": ("Failed payments", ("failed payments", "failed_payments"),
                        "Number of charges with status failed."),
    "payment_success_rate": ("Payment success rate", ("payment success rate", "payment_success_rate",
                                                      "success rate"),
                             "Successful ÷ (successful + failed) charges."),
    "average_order_value": ("Average order value", ("average order value", "average_order_value", "aov"),
                            "Gross volume ÷ successful payments."),
    "logo_retention": ("Logo retention", ("logo retention", "logo_retention"),
                       "Share of a cohort's customers with MRR > 0 at a later month. A customer's cohort is the "
                       "month of its first MRR."),
    "revenue_retention": ("Revenue retention", ("revenue retention", "revenue_retention"),
                          "A cohort's MRR at a later month ÷ its MRR in its first month."),
    "cohort": ("Cohort", ("cohort", "cohorts"), "The month of a customer's first snapshot with MRR > 0."),
}

_TERM_LINE = re.compile(
    r"^\s*(?:[-*+]\s+|\d+\.\s+)?(?:\*\*|__|`)(?P<term>[^*`_][^*`]{0,80}?)(?:\*\*|__|`)\s*(?:\([^)]*\))?\s*"
    r"(?:[:=—–-]\s*|\s+(?:is|means)\s+)(?P<text>.+)$")
_HEADING = re.compile(r"^(#{2,5})\s+(?P<term>.+?)\s*#*\s*$")


def _norm(term: str) -> str:
    term = re.sub(r"[`*_]", " ", term.lower())
    term = re.sub(r"\([^)]*\)", " ", term)
    return re.sub(r"\s+", " ", term).strip(" :.")


def parse(markdown: str) -> dict[str, str]:
    """{normalised term: definition text} from a Markdown glossary."""
    found: dict[str, str] = {}
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        heading = _HEADING.match(line)
        if heading:
            body: list[str] = []
            j = i + 1
            while j < len(lines) and not _HEADING.match(lines[j]):
                if lines[j].strip():
                    body.append(lines[j].strip())
                elif body:
                    break
                j += 1
            if body:
                for term in re.split(r"\s*(?:/|,| and )\s*", heading.group("term")):
                    found.setdefault(_norm(term), " ".join(body))
            i += 1
            continue
        if line.lstrip().startswith("|") and i + 1 < len(lines) and re.match(r"^\s*\|[\s:|-]+\|\s*$", lines[i + 1]):
            header = [c.strip() for c in line.strip().strip("|").split("|")]
            j = i + 2
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                cells = [c.strip() for c in lines[j].strip().strip("|").split("|")]
                if len(cells) == len(header) and cells[0]:
                    text = "; ".join(f"{h}: {c}" for h, c in zip(header[1:], cells[1:]) if c)
                    found.setdefault(_norm(cells[0]), text)
                j += 1
            i = j
            continue
        match = _TERM_LINE.match(line)
        if match:
            text = [match.group("text").strip()]
            j = i + 1
            while j < len(lines) and lines[j].startswith(("  ", "\t")) and lines[j].strip() \
                    and not _TERM_LINE.match(lines[j]):
                text.append(lines[j].strip())
                j += 1
            for term in re.split(r"\s*(?:/|,)\s*", match.group("term")):
                found.setdefault(_norm(term), " ".join(text))
        i += 1
    return found


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> dict[str, str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return {}
    terms = parse(text)
    out: dict[str, str] = {}
    for key, (_, aliases, _) in CATALOG.items():
        for alias in aliases:
            if _norm(alias) in terms:
                out[key] = _clean(terms[_norm(alias)])
                break
    return out


def _clean(text: str) -> str:
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)  # links -> their text
    text = text.replace("**", "").replace("`", "")
    text = re.sub(r"(?<![\w*])\*(?!\s)([^*]+?)\*(?!\w)", r"\1", text)  # *emphasis*
    text = text.strip()
    if text.endswith(":"):
        text = text[:-1] + "."
    movement = re.match(r"^when: (?P<when>.+?); amount: (?P<amount>.+)$", text)
    if movement:  # a row of the movements table
        text = (f"When {movement.group('when')}; amount {movement.group('amount')} "
                "(P and M: the customer's MRR at last month's and this month's snapshot).")
    return text[:1].upper() + text[1:]


def definitions(path: Path = DOC_PATH) -> dict[str, str]:
    """{metric key: definition} for every metric of the catalogue (docs first, fallback second)."""
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    from_doc = _load(str(path), mtime) if mtime else {}
    return {key: from_doc.get(key, fallback) for key, (_, _, fallback) in CATALOG.items()}


def label(key: str) -> str:
    return CATALOG[key][0] if key in CATALOG else key.replace("_", " ").capitalize()


def help_text(key: str) -> str:
    """Tooltip text: the definition, then where it comes from."""
    text = definitions().get(key)
    if not text:
        return ""
    return f"{text}\n\nDefinitions: docs/metrics.md"


def expander(keys: list[str], *, title: str = "Definitions") -> None:
    """A collapsed "Definitions" expander listing the metrics a view shows."""
    import streamlit as st

    defs = definitions()
    with st.expander(title, icon=":material/menu_book:"):
        for key in keys:
            if key in defs:
                st.markdown(f"**{label(key)}** — {defs[key]}")
        st.caption("From docs/metrics.md, which follows the product's metrics contract.")
