"""Metric definitions shown next to every number (tooltips and "Definitions" expanders),
read from docs/metrics.md, their one source, so the app says exactly what the docs say.

The parser accepts the usual ways a Markdown glossary names a term: a heading
(`### MRR`), a bullet with a bold or code term (`- **MRR**: ...`, `- `nrr` = ...`).
`tests/test_definitions.py` checks that the document defines every term of the catalogue.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from ..app_files import metrics_doc

# key: (label, aliases as docs/metrics.md may name it)
CATALOG: dict[str, tuple[str, tuple[str, ...]]] = {
    "mrr": ("MRR", ("mrr", "monthly recurring revenue", "customer mrr", "mrr of the account")),
    "arr": ("ARR", ("arr", "annual recurring revenue")),
    "active_customers": ("Active customers", ("active customers", "active_customers")),
    "new_mrr": ("New MRR", ("new", "new mrr", "new_mrr")),
    "expansion_mrr": ("Expansion MRR", ("expansion", "expansion mrr", "expansion_mrr")),
    "contraction_mrr": ("Contraction MRR", ("contraction", "contraction mrr", "contraction_mrr")),
    "churned_mrr": ("Churned MRR", ("churn", "churned mrr", "churned_mrr", "churned")),
    "reactivation_mrr": ("Reactivation MRR", ("reactivation", "reactivation mrr", "reactivation_mrr")),
    "net_new_mrr": ("Net new MRR", ("net new mrr", "net_new_mrr")),
    "fx_mrr": ("FX impact", ("fx impact", "fx_mrr", "exchange rate impact")),
    "customer_churn_rate": ("Customer churn", ("customer churn rate", "customer_churn_rate", "customer churn")),
    "revenue_churn_rate": ("Revenue churn", ("revenue churn rate", "revenue_churn_rate", "revenue churn")),
    "grr": ("GRR", ("grr", "gross revenue retention")),
    "nrr": ("NRR", ("nrr", "net revenue retention")),
    "arpa": ("ARPA", ("arpa", "average revenue per account")),
    "quick_ratio": ("Quick ratio", ("quick ratio", "quick_ratio")),
    "ltv": ("LTV", ("ltv", "lifetime value", "customer lifetime value")),
    "mrr_growth_rate": ("MRR growth", ("mrr growth rate", "mrr_growth_rate", "growth rate", "mrr growth")),
    "gross_volume": ("Gross volume", ("gross volume", "gross_volume")),
    "net_volume": ("Net volume", ("net volume", "net_volume")),
    "refunds": ("Refunds", ("refunds",)),
    "fees": ("Fees", ("fees",)),
    "successful_payments": ("Successful payments", ("successful payments", "successful_payments")),
    "failed_payments": ("Failed payments", ("failed payments", "failed_payments")),
    "payment_success_rate": ("Payment success rate",
                             ("payment success rate", "payment_success_rate", "success rate")),
    "average_order_value": ("Average order value", ("average order value", "average_order_value", "aov")),
    "logo_retention": ("Logo retention", ("logo retention", "logo_retention")),
    "revenue_retention": ("Revenue retention", ("revenue retention", "revenue_retention")),
    "cohort": ("Cohort", ("cohort", "cohorts")),
    "moved_in_mrr": ("Moved in", ("moved in", "moved_in_mrr")),
    "moved_out_mrr": ("Moved out", ("moved out", "moved_out_mrr")),
    "same_days": ("Same-days comparison", ("same-days comparison",)),
    "trials_started": ("Trials started", ("trials started", "trials_started")),
    "trials_ended": ("Trials ended", ("trials ended", "trials_ended")),
    "trials_converted": ("Converted trials", ("converted trials", "trials_converted")),
    "trial_conversion_rate": ("Trial conversion", ("trial conversion rate", "trial_conversion_rate")),
    "active_trials": ("Active trials", ("active trials", "active_trials")),
    "median_days_to_convert": ("Median days to convert", ("median days to convert",)),
    "failed_invoice_payments": ("Failed invoice payments", ("failed invoice payments", "failed_invoice_payments")),
    "failed_invoice_amount": ("Failed amount", ("failed amount", "failed_invoice_amount")),
    "recovered_invoice_payments": ("Recovered payments", ("recovered payments", "recovered_invoice_payments")),
    "recovered_invoice_amount": ("Recovered amount", ("recovered amount", "recovered_invoice_amount")),
    "recovery_rate": ("Recovery rate", ("recovery rate", "recovery_rate")),
    "outstanding_invoice_amount": ("Outstanding amount", ("outstanding amount", "outstanding_invoice_amount")),
    "median_days_to_recover": ("Median days to recover", ("median days to recover",)),
    "after_trial_failed_payments": ("After-trial failed payments", ("after-trial failed payments",)),
    "involuntary_churned_mrr": ("Involuntary churned MRR", ("involuntary churned mrr", "involuntary_churned_mrr")),
    "involuntary_churn_share": ("Involuntary churn share", ("involuntary churn share", "involuntary_churn_share")),
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
    terms = parse(Path(path).read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for key, (_, aliases) in CATALOG.items():
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


def definitions(path: Path | None = None) -> dict[str, str]:
    """{metric key: definition} for the catalogue's metrics that docs/metrics.md defines (all of
    them, as tests/test_definitions.py checks). A missing document is an install error and raises."""
    path = path or metrics_doc()
    return _load(str(path), path.stat().st_mtime)


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
        # One block of paragraphs, not one element per metric: the browser redraws every element
        # of the page on each run, opened or not.
        st.markdown("\n\n".join(f"**{label(key)}** — {defs[key]}" for key in keys if key in defs))
        st.caption("From docs/metrics.md, which follows the product's metrics contract.")
