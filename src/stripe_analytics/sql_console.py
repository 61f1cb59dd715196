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

Resources: the child's DuckDB may use `CONSOLE_MEMORY_LIMIT` of memory and spill at most
`CONSOLE_TEMP_LIMIT` into a private temporary folder (made for the query, removed after it);
a query that needs more stops inside DuckDB and says so. Its home, secret, extension and
temporary folders all point into that private folder, and queries naming the functions that
list settings, databases or files (`duckdb_settings()`, `current_setting()`, ...) are refused,
so the console never shows where the cache or the user's files are.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from .cache import CacheInUseError, classify_error

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

SANDBOX_CONFIG = {"enable_external_access": False, "lock_configuration": True}
CONSOLE_MEMORY_LIMIT = "512MB"
CONSOLE_TEMP_LIMIT = "512MB"
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
# Functions whose rows show settings, attached databases or files, i.e. paths on this machine;
# `query`/`query_table` run SQL given as text, which could name them out of the tokenizer's sight.
HIDDEN_FUNCTIONS = frozenset({
    "duckdb_settings", "current_setting", "duckdb_databases", "pragma_database_list", "duckdb_temporary_files",
    "duckdb_extensions", "duckdb_secrets", "which_secret", "duckdb_log", "duckdb_logs", "pragma_show_databases",
    "query", "query_table",
})


def _pandas():
    import pandas

    return pandas


class ConsoleError(Exception):
    """The cache cannot be opened for the console; plain message."""


def sandbox_config(scratch: str | Path) -> dict[str, object]:
    """The locked configuration of the console's connection; `scratch` is its private folder."""
    scratch = Path(scratch)
    return {**SANDBOX_CONFIG, "memory_limit": CONSOLE_MEMORY_LIMIT, "max_temp_directory_size": CONSOLE_TEMP_LIMIT,
            "temp_directory": str(scratch / "spill"), "home_directory": str(scratch),
            "secret_directory": str(scratch / "secrets"), "extension_directory": str(scratch / "extensions")}


def open_read_only(path: str | Path, scratch: str | Path) -> duckdb.DuckDBPyConnection:
    """A read-only, sandboxed connection to a cache file (used inside the console's child process)."""
    try:
        return duckdb.connect(str(path), read_only=True, config=sandbox_config(scratch))
    except duckdb.Error as error:
        if isinstance(classify_error(Path(path), error), CacheInUseError):  # the cache's one reading of DuckDB
            raise ConsoleError("The cache is being written by a sync right now; try again when it finishes.") \
                from None
        if isinstance(error, duckdb.IOException):
            raise ConsoleError(f"The cache at {path} cannot be opened.") from None
        raise ConsoleError(f"The cache at {path} cannot be read; it may be damaged.") from None


@dataclass
class ConsoleResult:
    frame: "pd.DataFrame" = field(default_factory=lambda: _pandas().DataFrame())
    truncated: bool = False
    seconds: float = 0.0
    error: str | None = None
    max_rows: int = DEFAULT_MAX_ROWS
    cancelled: bool = False  # stopped by the analyst (`SqlConsole.run(cancel=...)`)

    @property
    def ok(self) -> bool:
        return self.error is None


# DuckDB starts a message with its class in words ("Parser Error: "); the console says it plainly.
_DUCKDB_LABEL = re.compile(r"^[A-Z][A-Za-z ]* Error: ")
_PLAIN_LABELS = ((duckdb.ParserException, "Syntax error: "), (duckdb.CatalogException, "Not found: "),
                 (duckdb.BinderException, "The query does not fit the tables: "),
                 (duckdb.ConversionException, "A value could not be converted: "))


def plain_error(error: BaseException, time_limit: float) -> str:
    """One or two plain sentences for a DuckDB error."""
    if isinstance(error, duckdb.InterruptException):
        return _timeout(time_limit)
    if isinstance(error, duckdb.OutOfMemoryException):
        return (f"The query needs more memory than the console allows ({CONSOLE_MEMORY_LIMIT} of memory, "
                f"{CONSOLE_TEMP_LIMIT} of temporary space) and was stopped. Narrow it down (a WHERE, a LIMIT or "
                "fewer columns) and run it again.")
    if isinstance(error, duckdb.PermissionException):
        return ("The SQL console cannot read or write files, open other databases or load extensions: "
                "query the tables of this cache only.")
    # Statements that change settings or data are refused before they run (check_statement),
    # by their parsed type; what is left is DuckDB's own first lines, labelled by its class.
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    kept: list[str] = []
    for line in lines:
        if line.startswith("LINE "):  # DuckDB's caret under the query: the message ends above it
            break
        kept.append(line)
    message = _DUCKDB_LABEL.sub("", " ".join(kept[:2])) or type(error).__name__
    plain = next((words for kind, words in _PLAIN_LABELS if isinstance(error, kind)), "")
    return plain + message


class SqlConsole:
    """Run one read-only query at a time against one cache file, in a sandboxed child process."""

    def __init__(self, path: str | Path, *, time_limit: float = DEFAULT_TIME_LIMIT,
                 max_rows: int = DEFAULT_MAX_ROWS, max_query_chars: int = MAX_QUERY_CHARS):
        self.path = Path(path)
        self.time_limit = float(time_limit)
        self.max_rows = int(max_rows)
        self.max_query_chars = int(max_query_chars)

    def run(self, sql: str, *, cancel: "threading.Event | None" = None) -> ConsoleResult:
        """The query's rows (at most max_rows) or a plain error. Never raises for a bad query.
        Setting `cancel` (from another thread) stops the query's process: the result says so."""
        started = time.perf_counter()
        if not sql or not sql.strip():
            return ConsoleResult(error=_EMPTY, max_rows=self.max_rows)
        if len(sql) > self.max_query_chars:
            return ConsoleResult(error=_too_long(len(sql), self.max_query_chars), max_rows=self.max_rows)
        not_text = _not_text(sql)
        if not_text:
            return ConsoleResult(error=not_text, max_rows=self.max_rows)
        if not self.path.exists():
            return ConsoleResult(error=f"There is no cache at {self.path} yet.", max_rows=self.max_rows)
        scratch = tempfile.mkdtemp(prefix="stripe-analytics-console-")
        try:
            request = json.dumps({"path": str(self.path), "sql": sql, "time_limit": self.time_limit,
                                  "max_rows": self.max_rows, "max_query_chars": self.max_query_chars,
                                  "scratch": scratch})
            env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "DUCKDB_"))}
            env.update(TZ="UTC", HOME=scratch, TMPDIR=scratch)
            proc = subprocess.Popen([sys.executable, "-m", "stripe_analytics.sql_console"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            deadline = started + self.time_limit + _KILL_GRACE
            data: bytes | None = request.encode()
            try:
                while True:
                    try:
                        stdout, stderr = proc.communicate(data, timeout=_CANCEL_POLL)
                        break
                    except subprocess.TimeoutExpired:
                        data = None  # sent once; communicate keeps what it has read
                        seconds = time.perf_counter() - started
                        if cancel is not None and cancel.is_set():
                            return ConsoleResult(error=f"The query was cancelled after {seconds:.1f} s.",
                                                 cancelled=True, max_rows=self.max_rows, seconds=seconds)
                        if time.perf_counter() > deadline:
                            return ConsoleResult(error=_timeout(self.time_limit), max_rows=self.max_rows,
                                                 seconds=seconds)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return _decode(stdout, proc.returncode, stderr, self.max_rows, time.perf_counter() - started)

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
_CANCEL_POLL = 0.1  # seconds between looks at the cancel flag


def _too_long(length: int, limit: int) -> str:
    return f"The query is too long ({length:,} characters; the limit is {limit:,})."


def _timeout(limit: float) -> str:
    return (f"The query ran longer than the {limit:g} s limit and was stopped. "
            "Narrow it down (a WHERE or LIMIT) and run it again.")


def _not_text(sql: str) -> str | None:
    """Why `sql` cannot be sent to DuckDB as UTF-8 text (a lone surrogate, e.g. from a paste), or None."""
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError as error:
        return (f"The query contains a character that is not valid text (U+{ord(sql[error.start]):04X} at "
                f"character {error.start + 1}); retype that part of the query.")
    return None


def check_statement(con: duckdb.DuckDBPyConnection, sql: str, max_query_chars: int = MAX_QUERY_CHARS) -> str | None:
    """Why the query is refused before it runs, or None."""
    if not sql.strip():
        return _EMPTY
    if len(sql) > max_query_chars:
        return _too_long(len(sql), max_query_chars)
    not_text = _not_text(sql)
    if not_text:
        return not_text
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as error:
        return plain_error(error, 0)
    if not statements:
        return _EMPTY
    if len(statements) > 1:
        return "Run one statement at a time."
    kind, select_sql = statements[0].type.name, sql
    if kind == "EXPLAIN":
        kind, select_sql = _explained(con, sql)
    if kind not in ALLOWED_STATEMENTS:
        what = _STATEMENT_WORDS.get(kind, kind)
        return f"Only SELECT queries can run here; {what} is not allowed in the read-only console."
    hidden = sorted((_named_functions(sql) | _scanned_functions(con, select_sql)) & HIDDEN_FUNCTIONS)
    if hidden:
        return (f"The SQL console does not show DuckDB's settings, databases or files ({', '.join(hidden)}); "
                "query the tables of this cache.")
    return None


def _scanned_functions(con: duckdb.DuckDBPyConnection, select_sql: str) -> set[str]:
    """Lower-case names of the operators in the plan of a SELECT, views and macros expanded: a
    wrapper of a hidden table function (DuckDB's own `pg_settings` over `duckdb_settings`,
    `histogram('pg_' || 'settings', ...)` through `query_table`) plans as a scan of it."""
    try:
        rows = con.execute("EXPLAIN (FORMAT json) " + select_sql).fetchall()
    except duckdb.Error:
        return set()  # it cannot be planned, so it cannot run either: running it gives the plain error
    names: set[str] = set()
    nodes = [node for _, plan in rows for node in json.loads(plan)]
    while nodes:
        node = nodes.pop()
        names.add(str(node.get("name", "")).lower())
        nodes.extend(node.get("children", []))
    return names


def _tokens(sql: str) -> list[tuple[int, str, str]]:
    """(start, text, kind) of each token, comments left out."""
    tokens = duckdb.tokenize(sql)
    out = []
    for n, (start, kind) in enumerate(tokens):
        end = tokens[n + 1][0] if n + 1 < len(tokens) else len(sql)
        if kind.name != "comment":
            out.append((start, sql[start:end].strip(), kind.name))
    return out


def _explained(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[str, str]:
    """The kind of statement an EXPLAIN [ANALYZE] [(options)] explains ("SELECT", "CREATE", ...),
    and its text: EXPLAIN ANALYZE runs it, so only a SELECT may be explained."""
    tokens = _tokens(sql)
    n = 1  # after EXPLAIN
    if n < len(tokens) and tokens[n][1].upper() in ("ANALYZE", "ANALYSE"):
        n += 1
    if n < len(tokens) and tokens[n][1] == "(":
        depth = 0
        while n < len(tokens):
            depth += tokens[n][1] == "("
            depth -= tokens[n][1] == ")"
            n += 1
            if depth == 0:
                break
    explained = sql[tokens[n][0]:] if n < len(tokens) else ""
    try:
        inner = con.extract_statements(explained) if explained else []
    except duckdb.Error:
        return "EXPLAIN", explained
    return (inner[0].type.name if len(inner) == 1 else "EXPLAIN"), explained


def _named_functions(sql: str) -> set[str]:
    """Lower-case names of identifiers and keywords in `sql`, quotes removed."""
    return {text.strip('"').lower() for _, text, kind in _tokens(sql) if kind in ("identifier", "keyword")}


def execute(path: str | Path, sql: str, *, time_limit: float, max_rows: int,
            max_query_chars: int = MAX_QUERY_CHARS, scratch: str | Path | None = None
            ) -> tuple["pa.Table | None", bool, str | None]:
    """In this process: (rows, truncated, error). Used by the child process; `scratch` is the
    private folder for spilled data (one is made and removed here when not given)."""
    if scratch is None:
        with tempfile.TemporaryDirectory(prefix="stripe-analytics-console-") as own:
            return execute(path, sql, time_limit=time_limit, max_rows=max_rows, max_query_chars=max_query_chars,
                           scratch=own)
    import pyarrow as pa

    try:
        con = open_read_only(path, scratch)
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
    except _not_for_pandas():  # a union, an infinite date...: those columns are shown as text
        frame = pd.DataFrame({name: _column(table.column(name)) for name in table.column_names})
    return ConsoleResult(frame=frame, truncated=bool(meta.get("truncated")), seconds=seconds, max_rows=max_rows)


def _not_for_pandas() -> tuple[type[Exception], ...]:
    """What converting Arrow data to pandas raises for a type pandas has no column for (a
    union) or a value Python cannot hold (an infinite date)."""
    import pyarrow as pa

    return (pa.ArrowException, ValueError, OverflowError)


def _column(column) -> "pd.Series | list":
    """One result column for the frame: as pandas holds it, else its values as text."""
    import pyarrow as pa

    try:
        return column.to_pandas()
    except _not_for_pandas():
        try:
            return column.cast(pa.string()).to_pylist()  # an infinite date reads "<value out of range: …>"
        except pa.ArrowNotImplementedError:  # no cast to text (a union, a list of dates): value by value
            return [_value_text(scalar) for chunk in column.chunks for scalar in chunk]


def _value_text(scalar) -> str | None:
    """One value as text, also one Python cannot hold (an infinite date inside a list)."""
    import pyarrow as pa

    if not scalar.is_valid:
        return None
    try:
        return str(scalar.as_py())
    except (OverflowError, ValueError):
        pass
    if isinstance(scalar, (pa.ListScalar, pa.LargeListScalar, pa.FixedSizeListScalar)):
        return "[" + ", ".join(_value_text(item) or "NULL" for item in scalar.values) + "]"
    try:
        return scalar.cast(pa.string()).as_py()
    except (pa.ArrowException, OverflowError, ValueError):
        return f"(a {scalar.type} value out of Python's range)"


def _child_main() -> int:
    import pyarrow as pa

    request = json.loads(sys.stdin.buffer.read())
    table, truncated, error = execute(request["path"], request["sql"], time_limit=request["time_limit"],
                                      max_rows=request["max_rows"], max_query_chars=request["max_query_chars"],
                                      scratch=request.get("scratch"))
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
