"""The Explore page's SQL console is a sandbox: read-only, this cache only, no files, no
extensions, no settings, a time limit and a row cap, plain error messages."""

from pathlib import Path

import duckdb
import pytest

from stripe_analytics.sql_console import SqlConsole


@pytest.fixture(scope="module")
def cache_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("console") / "acct_console.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers AS SELECT 'cus_' || range AS id, range % 7 AS bucket FROM range(12000)")
    con.execute("CREATE TABLE meta (key VARCHAR, value VARCHAR)")
    con.close()
    other = path.parent / "acct_other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE secrets AS SELECT 'theirs' AS v")
    con.close()
    return path


@pytest.fixture
def console(cache_file):
    return SqlConsole(cache_file, time_limit=2.0, max_rows=1000)


def test_select_returns_rows(console):
    result = console.run("SELECT bucket, count(*) AS n FROM customers GROUP BY bucket ORDER BY bucket")
    assert result.ok, result.error
    assert result.frame["n"].sum() == 12000 and not result.truncated


def test_row_cap(console):
    result = console.run("SELECT * FROM customers")
    assert result.ok and result.truncated and len(result.frame) == 1000


@pytest.mark.parametrize("sql", [
    "COPY customers TO '/tmp/stolen.csv'",
    "COPY (SELECT 1) TO '/tmp/stolen.parquet' (FORMAT parquet)",
    "EXPORT DATABASE '/tmp/stolen'",
])
def test_refuses_writing_files(console, sql, tmp_path):
    result = console.run(sql)
    assert not result.ok and "not allowed" in result.error
    assert not Path("/tmp/stolen.csv").exists()


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_parquet('/tmp/x.parquet')",
    "SELECT * FROM glob('/etc/*')",
])
def test_refuses_reading_files(console, sql):
    result = console.run(sql)
    assert not result.ok
    assert "cannot read or write files" in result.error
    assert "root:" not in result.error


def test_refuses_attach_of_another_cache(console, cache_file):
    for sql in (f"ATTACH '{cache_file.parent / 'acct_other.duckdb'}' AS other",
                f"SELECT * FROM '{cache_file.parent / 'acct_other.duckdb'}'"):
        result = console.run(sql)
        assert not result.ok and "theirs" not in (result.error or "")


@pytest.mark.parametrize("sql", ["INSTALL httpfs", "LOAD httpfs", "SET threads = 1", "SET enable_external_access = true",
                                 "RESET lock_configuration", "PRAGMA threads=1", "PRAGMA enable_profiling",
                                 "USE memory"])
def test_refuses_extensions_and_settings(console, sql):
    result = console.run(sql)
    assert not result.ok and ("not allowed" in result.error or "cannot" in result.error)


@pytest.mark.parametrize("sql", ["INSERT INTO customers VALUES ('x', 1)", "UPDATE customers SET bucket = 0",
                                 "DELETE FROM customers", "DROP TABLE customers", "CREATE TABLE t (i INTEGER)",
                                 "CREATE TEMP TABLE t AS SELECT 1", "ALTER TABLE customers ADD COLUMN x INT",
                                 "BEGIN TRANSACTION", "CHECKPOINT"])
def test_refuses_writes(console, cache_file, sql):
    result = console.run(sql)
    assert not result.ok and "not allowed" in result.error
    con = duckdb.connect(str(cache_file), read_only=True)
    assert con.execute("SELECT count(*) FROM customers").fetchone()[0] == 12000
    con.close()


def test_one_statement_at_a_time(console):
    result = console.run("SELECT 1; COPY customers TO '/tmp/x.csv'")
    assert not result.ok and "one statement" in result.error


def test_query_that_runs_too_long_is_stopped(cache_file):
    console = SqlConsole(cache_file, time_limit=0.5, max_rows=10)
    result = console.run("SELECT sum(hash(a.range * b.range)) FROM range(200000) a, range(200000) b")
    assert not result.ok and "longer than the 0.5 s limit" in result.error
    assert result.seconds < 5


def test_too_long_query_text_is_refused(console):
    result = console.run("SELECT " + " + ".join(["1"] * 10_000))
    assert not result.ok and "too long" in result.error


def test_errors_are_plain(console):
    assert console.run("SELEC 1").error.startswith("Syntax error")
    missing = console.run("SELECT * FROM nope").error
    assert missing.startswith("Not found") and "Traceback" not in missing
    assert console.run("").error.startswith("Type a query")


def test_schema_browser(console):
    schema = console.schema()
    assert {"table", "column", "type"} <= set(schema.columns)
    assert ("customers", "bucket") in set(zip(schema["table"], schema["column"]))


def test_secrets_are_not_passed_to_the_console(cache_file, monkeypatch):
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_should_never_be_seen_0000")
    result = SqlConsole(cache_file).run("SELECT current_setting('home_directory') AS h")
    assert not result.ok and "sk_test" not in result.error
    result = SqlConsole(cache_file).run("SELECT 'sk_test' || 'x' AS k, count(*) AS n FROM customers")
    assert result.ok and result.frame["n"][0] == 12000


def test_a_query_needing_more_memory_than_allowed_stops_inside_with_a_plain_message(console):
    result = SqlConsole(console.path, time_limit=10.0).run(
        "SELECT length(string_agg(repeat('x', 1000), '')) FROM range(3000000)")
    # stopped by DuckDB at the memory limit (not by the time limit, nor killed from outside)
    assert not result.ok and "more memory than the console allows" in result.error


@pytest.mark.parametrize("sql", [
    "EXPLAIN ANALYZE CREATE TEMP TABLE t AS SELECT 1",
    "explain analyse /* note */ INSERT INTO customers VALUES ('cus_x', 1)",
    "EXPLAIN (ANALYZE) CREATE TEMP TABLE t AS SELECT 1",
])
def test_explain_analyze_of_anything_but_a_select_is_refused(console, sql):
    result = console.run(sql)
    assert not result.ok and "not allowed" in result.error


def test_explain_analyze_of_a_select_runs(console):
    result = console.run("EXPLAIN ANALYZE SELECT count(*) FROM customers")
    assert result.ok, result.error


def test_a_lone_surrogate_is_a_plain_error(console):
    result = console.run("SELECT '\udcff' AS x")
    assert not result.ok and "not valid text" in result.error and "U+DCFF" in result.error


@pytest.mark.parametrize("sql", [
    "SELECT name, value FROM duckdb_settings()",
    "SELECT current_setting('temp_directory')",
    'SELECT * FROM "DuckDB_Settings"()',
    "SELECT path FROM system.main.duckdb_databases()",
    "SELECT * FROM query('SELECT * FROM duckdb_settings()')",
    # DuckDB's own views and macros over those functions
    "SELECT name, setting FROM pg_catalog.pg_settings WHERE setting LIKE '%/%'",
    "SELECT * FROM pg_settings",
    "SELECT * FROM duckdb_profiling_settings()",
    "SELECT * FROM histogram_values('pg_catalog.pg_settings', setting)",
    "SELECT * FROM histogram('pg_' || 'settings', setting)",
    "EXPLAIN ANALYZE SELECT * FROM pg_database",
])
def test_settings_and_databases_that_reveal_paths_are_hidden(console, cache_file, sql):
    result = console.run(sql)
    assert not result.ok and "does not show" in result.error
    assert str(cache_file.parent) not in result.error and str(Path.home()) not in result.error


def test_no_view_or_macro_of_duckdb_shows_the_cache_folder_or_the_private_folder(console, cache_file):
    """Every view and table macro DuckDB ships, queried whole: none may answer with a path."""
    listed = console.run("SELECT schema_name, view_name FROM duckdb_views() WHERE internal")
    macros = console.run("SELECT DISTINCT schema_name, function_name FROM duckdb_functions() "
                         "WHERE function_type = 'table_macro' AND internal AND len(parameters) = 0")
    assert listed.ok and macros.ok, (listed.error, macros.error)
    queries = [f'SELECT * FROM "{schema}"."{name}"' for schema, name in listed.frame.itertuples(index=False)]
    queries += [f'SELECT * FROM "{schema}"."{name}"()' for schema, name in macros.frame.itertuples(index=False)]
    assert len(queries) > 40
    for sql in queries:
        result = console.run(sql)
        shown = result.error or result.frame.to_csv()
        assert str(cache_file.parent) not in shown and "stripe-analytics-console-" not in shown, sql


def test_the_histogram_aggregate_and_macro_still_run_on_the_caches_tables(console):
    aggregate = console.run("SELECT histogram(bucket) AS h FROM customers")
    macro = console.run("SELECT * FROM histogram_values('customers', bucket)")
    assert aggregate.ok and macro.ok, (aggregate.error, macro.error)
    assert macro.frame["count"].sum() == 12000


def test_values_pandas_cannot_hold_are_shown_as_text(console):
    result = console.run("SELECT * FROM test_all_types()")
    assert result.ok, result.error
    assert len(result.frame) == 3 and "date" in result.frame.columns


def test_the_console_connection_keeps_its_files_in_its_private_folder(cache_file, tmp_path):
    from stripe_analytics.sql_console import open_read_only

    con = open_read_only(cache_file, tmp_path)
    try:
        settings = dict(con.execute("SELECT name, value FROM duckdb_settings()").fetchall())
    finally:
        con.close()
    for name in ("temp_directory", "home_directory", "secret_directory"):
        assert settings[name].startswith(str(tmp_path)), (name, settings[name])
    assert settings["memory_limit"].startswith("488") and settings["max_temp_directory_size"].startswith("488")


def test_a_running_query_can_be_cancelled_and_its_process_stops(tmp_path):
    """`run(cancel=...)`: setting the event from another thread stops the query's process well
    before the time limit, and the result says it was cancelled."""
    import threading

    path = tmp_path / "tiny.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    console = SqlConsole(path, time_limit=60)
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    result = console.run("SELECT sum(a.range * b.range) FROM range(200000) a, range(200000) b", cancel=cancel)
    assert result.cancelled and not result.ok
    assert "cancelled after" in result.error
    assert 1.0 <= result.seconds < 10


def test_values_pandas_cannot_hold_are_shown_as_text(console):
    # An infinite date does not fit a Python date and a union has no pandas column: the other
    # columns keep their types and these two are shown as text instead of failing the page.
    result = console.run("SELECT 'infinity'::DATE AS d, union_value(num := 2) AS u, 7 AS n")
    assert result.ok, result.error
    row = result.frame.iloc[0]
    assert row["n"] == 7 and row["u"] == "2" and isinstance(row["d"], str)


def test_a_cache_held_by_a_sync_is_named_as_busy(tmp_path):
    path = tmp_path / "acct_busy.duckdb"
    writer = duckdb.connect(str(path))  # another process writing it, as a sync does
    writer.execute("CREATE TABLE customers AS SELECT 1 AS id")
    try:
        result = SqlConsole(path, time_limit=5.0).run("SELECT * FROM customers")
    finally:
        writer.close()
    assert not result.ok and "being written by a sync" in result.error
