"""The Explore page's SQL console: a sandbox on one account's cache.

Each query runs in a child process of its own (`python -m stripe_analytics.sql_console`),
on its own DuckDB connection to that cache only, opened read-only with
`enable_external_access = false` (no file reads or writes, no ATTACH, no extension install
or load) and `lock_configuration = true` (no SET/PRAGMA can loosen that). On top of the
engine's own refusals, only one SELECT (or EXPLAIN) statement is accepted, a timer calls
`con.interrupt()` when the query runs past the time limit (and the parent kills the child
if even that does not stop it), and at most `max_rows` rows come back. Errors are returned
as plain sentences, never tracebacks.

Why a child process: DuckDB refuses to open one file twice in one process with two
different configurations, and a locked configuration is shared by every connection of that
process's database instance. The app's own reads (metrics set their session time zone) use
the ordinary read-only configuration; the console's locked sandbox lives in another process,
so neither can disturb the other, and a runaway query cannot take the app's memory with it.
The child runs with TZ=UTC so timestamps show in UTC without a SET.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

SANDBOX_CONFIG = {"enable_external_access": False, "lock_configuration": True}
DEFAULT_TIME_LIMIT = 10.0
DEFAULT_MAX_ROWS = 5000
MAX_QUERY_CHARS = 20_000
ALLOWED_STATEMENTS = {"SELECT", "EXPLAIN"}
_STATEMENT_WORDS = {
    "COPY": "COPY (reading or writing files)", "ATTACH": "ATTACH (opening other databases)",
    "DETACH": "DETACH", "LOAD": "INSTALL/LOAD (extensions)", "SET": "SET/RESET/USE (changing settings)",
    "PRAGMA": "PRAGMA (changing settings)", "EXPORT": "EXPORT DATABASE (writing files)",
    "INSERT": "INSERT (writing)", "UPDATE": "UPDATE (writing)", "DELETE": "DELETE (writing)",
    "CREATE": "CREATE (writing)", "DROP": "DROP (writing)", "ALTER": "ALTER (writing)",
    "TRANSACTION": "transactions", "CALL": "CALL", "VACUUM": "VACUUM", "MULTI": "PIVOT statements",
}


def _pandas():
    import pandas

    return pandas


class ConsoleError(Exception):
    """The cache cannot be opened for the console; plain message."""


def open_read_only(path: str | Path) -> duckdb.DuckDBPyConnection:
    """A read-only, sandboxed connection to a cache file (used inside the console's child process)."""
    try:
        return duckdb.connect(str(path), read_only=True, config=dict(SANDBOX_CONFIG))
    except duckdb.IOException as error:
        text = str(error).lower()
        if "lock" in text:
            raise ConsoleError("The cache is being written by a sync right now; try again when it finishes.") \
                from None
        raise ConsoleError(f"The cache at {path} cannot be opened.") from None
    except duckdb.Error:
        raise ConsoleError(f"The cache at {path} cannot be read; it may be damaged.") from None


@dataclass
class ConsoleResult:
    frame: "pd.DataFrame" = field(default_factory=lambda: _pandas().DataFrame())
    truncated: bool = False
    seconds: float = 0.0
    error: str | None = None
    max_rows: int = DEFAULT_MAX_ROWS

    @property
    def ok(self) -> bool:
        return self.error is None


def plain_error(error: BaseException, time_limit: float) -> str:
    """One or two plain sentences for a DuckDB error."""
    if isinstance(error, duckdb.InterruptException):
        return _timeout(time_limit)
    text = str(error).strip()
    if isinstance(error, duckdb.PermissionException) or "disabled by configuration" in text:
        return ("The SQL console cannot read or write files, open other databases or load extensions: "
                "query the tables of this cache only.")
    if "configuration has been locked" in text:
        return "The SQL console cannot change settings."
    if "read-only mode" in text:
        return "The SQL console is read-only: it cannot create or change anything."
    lines = [line for line in text.splitlines() if line.strip()]
    kept: list[str] = []
    for line in lines:
        if line.startswith("LINE "):
            break
        kept.append(line.strip())
    message = " ".join(kept[:2]) or type(error).__name__
    for prefix, plain in (("Parser Error: ", "Syntax error: "), ("Catalog Error: ", "Not found: "),
                          ("Binder Error: ", "The query does not fit the tables: "),
                          ("Conversion Error: ", "A value could not be converted: "),
                          ("Invalid Input Error: ", ""), ("Out of Memory Error: ", "The query needs too much memory: ")):
        if message.startswith(prefix):
            message = plain + message[len(prefix):]
            break
    return message


class SqlConsole:
    """Run one read-only query at a time against one cache file, in a sandboxed child process."""

    def __init__(self, path: str | Path, *, time_limit: float = DEFAULT_TIME_LIMIT,
                 max_rows: int = DEFAULT_MAX_ROWS, max_query_chars: int = MAX_QUERY_CHARS):
        self.path = Path(path)
        self.time_limit = float(time_limit)
        self.max_rows = int(max_rows)
        self.max_query_chars = int(max_query_chars)

    def run(self, sql: str) -> ConsoleResult:
        """The query's rows (at most max_rows) or a plain error. Never raises for a bad query."""
        started = time.perf_counter()
        if not sql or not sql.strip():
            return ConsoleResult(error=_EMPTY, max_rows=self.max_rows)
        if len(sql) > self.max_query_chars:
            return ConsoleResult(error=_too_long(len(sql), self.max_query_chars), max_rows=self.max_rows)
        if not self.path.exists():
            return ConsoleResult(error=f"There is no cache at {self.path} yet.", max_rows=self.max_rows)
        request = json.dumps({"path": str(self.path), "sql": sql, "time_limit": self.time_limit,
                              "max_rows": self.max_rows, "max_query_chars": self.max_query_chars})
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "DUCKDB_"))}
        env["TZ"] = "UTC"
        try:
            proc = subprocess.run([sys.executable, "-m", "stripe_analytics.sql_console"], input=request.encode(),
                                  capture_output=True, timeout=self.time_limit + _KILL_GRACE, env=env)
        except subprocess.TimeoutExpired:
            return ConsoleResult(error=_timeout(self.time_limit), max_rows=self.max_rows,
                                 seconds=time.perf_counter() - started)
        return _decode(proc.stdout, proc.returncode, proc.stderr, self.max_rows, time.perf_counter() - started)

    def schema(self) -> "pd.DataFrame":
        """table, column, type of every table in this cache (for the schema browser)."""
        result = self.run(SCHEMA_SQL)
        if result.error:
            raise ConsoleError(result.error)
        return result.frame


SCHEMA_SQL = (
    "SELECT table_name AS \"table\", column_name AS \"column\", data_type AS \"type\" "
    "FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = 'main' "
    "AND NOT internal ORDER BY table_name, column_index")
_EMPTY = "Type a query first, for example: SELECT * FROM customers LIMIT 10"
_KILL_GRACE = 5.0


def _too_long(length: int, limit: int) -> str:
    return f"The query is too long ({length:,} characters; the limit is {limit:,})."


def _timeout(limit: float) -> str:
    return (f"The query ran longer than the {limit:g} s limit and was stopped. "
            "Narrow it down (a WHERE or LIMIT) and run it again.")


def check_statement(con: duckdb.DuckDBPyConnection, sql: str, max_query_chars: int = MAX_QUERY_CHARS) -> str | None:
    """Why the query is refused before it runs, or None."""
    if not sql.strip():
        return _EMPTY
    if len(sql) > max_query_chars:
        return _too_long(len(sql), max_query_chars)
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as error:
        return plain_error(error, 0)
    if not statements:
        return _EMPTY
    if len(statements) > 1:
        return "Run one statement at a time."
    kind = statements[0].type.name
    if kind not in ALLOWED_STATEMENTS:
        what = _STATEMENT_WORDS.get(kind, kind)
        return f"Only SELECT queries can run here; {what} is not allowed in the read-only console."
    return None


def execute(path: str | Path, sql: str, *, time_limit: float, max_rows: int,
            max_query_chars: int = MAX_QUERY_CHARS) -> tuple["pa.Table | None", bool, str | None]:
    """In this process: (rows, truncated, error). Used by the child process."""
    import pyarrow as pa

    try:
        con = open_read_only(path)
    except ConsoleError as error:
        return None, False, str(error)
    timer: threading.Timer | None = None
    try:
        refusal = check_statement(con, sql, max_query_chars)
        if refusal:
            return None, False, refusal
        timer = threading.Timer(time_limit, con.interrupt)
        timer.daemon = True
        timer.start()
        try:
            con.execute(sql)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reader = con.to_arrow_reader(max_rows + 1)
            batches, rows = [], 0
            for batch in reader:
                batches.append(batch)
                rows += batch.num_rows
                if rows > max_rows:
                    break
            table = pa.Table.from_batches(batches, schema=reader.schema)
        except (duckdb.Error, RuntimeError) as error:
            return None, False, plain_error(error, time_limit)
        return table.slice(0, max_rows), table.num_rows > max_rows, None
    finally:
        if timer is not None:
            timer.cancel()
        con.close()


def _decode(stdout: bytes, returncode: int, stderr: bytes, max_rows: int, seconds: float) -> ConsoleResult:
    import pandas as pd
    import pyarrow as pa

    if returncode != 0 or not stdout:
        return ConsoleResult(error="The query could not be run (the console stopped unexpectedly"
                             + (", probably out of memory" if returncode in (-9, 137) else "") + ").",
                             max_rows=max_rows, seconds=seconds)
    head, _, body = stdout.partition(b"\n")
    meta = json.loads(head)
    if meta.get("error"):
        return ConsoleResult(error=meta["error"], max_rows=max_rows, seconds=seconds)
    table = pa.ipc.open_stream(body).read_all()
    try:
        frame = table.to_pandas()
    except Exception:  # noqa: BLE001 - exotic types: show them as text
        frame = pd.DataFrame({name: [None if v is None else str(v) for v in table.column(name).to_pylist()]
                              for name in table.column_names})
    return ConsoleResult(frame=frame, truncated=bool(meta.get("truncated")), seconds=seconds, max_rows=max_rows)


def _child_main() -> int:
    import pyarrow as pa

    request = json.loads(sys.stdin.buffer.read())
    table, truncated, error = execute(request["path"], request["sql"], time_limit=request["time_limit"],
                                      max_rows=request["max_rows"], max_query_chars=request["max_query_chars"])
    out = sys.stdout.buffer
    if error:
        out.write(json.dumps({"error": error}).encode() + b"\n")
        return 0
    out.write(json.dumps({"truncated": truncated}).encode() + b"\n")
    with pa.ipc.new_stream(out, table.schema) as writer:
        writer.write_table(table)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
