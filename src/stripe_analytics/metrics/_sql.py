"""Run one SQL query over in-memory frames (pandas or Arrow) in a private DuckDB connection.

Opening a DuckDB database costs tens of milliseconds, so each thread keeps one in-memory
connection and registers the frames of a query under their names for the query's duration."""

from __future__ import annotations

import threading

import duckdb
import pandas as pd
import pyarrow as pa

_local = threading.local()


def _connection() -> duckdb.DuckDBPyConnection:
    con = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        _local.con = con
    return con


def query(sql: str, params: list | None = None, *, arrow: bool = False, **tables) -> pd.DataFrame | pa.Table:
    con = _connection()
    try:
        for name, table in tables.items():
            con.register(name, table)
        if arrow:
            return con.sql(sql, params=params or None).to_arrow_table()
        return con.execute(sql, params or []).df()
    finally:
        for name in tables:
            try:
                con.unregister(name)
            except duckdb.Error:
                pass
