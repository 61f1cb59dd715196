"""The SQL of segments (docs/metrics.md "Segments") shared by the browse tables (`queries`) and
the metrics (`metrics.load.Sources`, the engine): which customers a customer-level segment holds,
each customer's value, and the names of prices.

A customer-level segment is a metadata key = value, or a country: the customer's address
country, else the country of the card of its latest charge that names one (upper case)."""

from __future__ import annotations

# The country of every customer not deleted (null when neither the address nor a card names one).
# Charges' raw JSON is read only for customers without an address country.
CUSTOMER_COUNTRY_SQL = """
SELECT c.id AS customer, upper(coalesce(nullif(trim(c.country), ''), card.country)) AS country
FROM customers c LEFT JOIN (
    SELECT customer, arg_max(json_extract_string(raw, '$.payment_method_details.card.country'), created) AS country
    FROM charges
    WHERE NOT deleted AND json_extract_string(raw, '$.payment_method_details.card.country') IS NOT NULL
      AND customer IN (SELECT id FROM customers WHERE NOT deleted AND nullif(trim(country), '') IS NULL)
    GROUP BY customer) card ON card.customer = c.id
WHERE NOT c.deleted
"""


# Every recurring price not deleted, with its readable name ("Product · nickname", else the
# lookup key or the id), by name.
PRICE_NAMES_SQL = """
SELECT p.id, coalesce(pr.name, p.product, '?') || ' · ' || coalesce(p.nickname, p.lookup_key, p.id) AS label
FROM prices p LEFT JOIN products pr ON pr.id = p.product
WHERE NOT p.deleted AND p.interval IS NOT NULL ORDER BY lower(label), p.id
"""


def json_pointer(key: str) -> str:
    """JSON pointer of a top-level metadata key (safe for any characters in the key)."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def customers_sql(metadata_key: str | None = None, metadata_value: str | None = None,
                  country: str | None = None) -> tuple[str, list] | None:
    """SQL (and parameters) selecting the ids of the customers in every given segment (metadata
    key = value, country), or None when no segment is given."""
    conds, params = [], []
    if metadata_key is not None and metadata_value is not None:
        conds.append("json_extract_string(metadata, ?) = ?")
        params += [json_pointer(metadata_key), metadata_value]
    if country is not None:
        conds.append(f"id IN (SELECT customer FROM ({CUSTOMER_COUNTRY_SQL}) WHERE country = ?)")
        params.append(country.upper())
    if not conds:
        return None
    return "SELECT id FROM customers WHERE NOT deleted AND " + " AND ".join(conds), params


def customer_values_sql(dimension: str) -> tuple[str, list]:
    """SQL (and parameters) giving each customer's value (columns customer, segment) in a
    customer-level dimension: `country` or `metadata:<key>` (null when unset)."""
    if dimension == "country":
        return f"SELECT customer, country AS segment FROM ({CUSTOMER_COUNTRY_SQL})", []
    key = dimension.split(":", 1)[1] if dimension.startswith("metadata:") else None
    if not key:
        raise ValueError(f"{dimension!r} is not a customer-level segment (country or metadata:<key>)")
    return ("SELECT id AS customer, json_extract_string(metadata, ?) AS segment FROM customers WHERE NOT deleted",
            [json_pointer(key)])
