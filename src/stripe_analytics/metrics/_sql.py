"""Run one SQL query over in-memory frames (pandas or Arrow) in a private DuckDB connection."""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow as pa


def query(sql: str, params: list | None = None, *, arrow: bool = False, **tables) -> pd.DataFrame | pa.Table:
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        for name, table in tables.items():
            con.register(name, table)
        if arrow:
            return con.sql(sql, params=params or None).to_arrow_table()
        return con.execute(sql, params or []).df()
    finally:
        con.close()
