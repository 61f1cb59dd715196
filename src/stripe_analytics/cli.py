"""`stripe-analytics`: a thin command line over the library. Exit codes: 0 ok, 1 the
operation failed or the cache cannot be used (message on stderr), 2 bad arguments or
settings (including a DATA_DIR or --db that cannot be used and a broken settings file),
3 Stripe refused the key, 4 another sync of the account is running, 130 interrupted,
141 the output was closed early (`| head`). A message is always one plain paragraph, never
a traceback."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from datetime import date
from pathlib import Path
from typing import Callable

from pydantic import field_validator

from .cli_args import EXIT_SYNC_BUSY, CliError, DbArgs as _Args, open_cache, validated
from .config import SettingsError, load_settings


class SyncArgs(_Args):
    full: bool = False
    resources: list[str] | None = None
    wait: bool = False

    @field_validator("resources", mode="before")
    @classmethod
    def _split(cls, value):
        if isinstance(value, str):
            names = [n.strip() for n in value.split(",") if n.strip()]
            if not names:
                raise ValueError("must name at least one resource")
            from .schema import select

            select(names)
            return names
        return value


class DemoArgs(_Args):
    seed: int = 0
    customers: int = 2000
    as_of: date | None = None

    @field_validator("customers")
    @classmethod
    def _customers(cls, value: int) -> int:
        if not 1 <= value <= 1_000_000:
            raise ValueError("must be between 1 and 1,000,000")
        return value


def _progress_printer() -> Callable:
    from .sync_jobs import progress_printer

    return progress_printer(interactive=sys.stderr.isatty())


def cmd_sync(ns: argparse.Namespace) -> int:
    args = validated(SyncArgs, ns)
    from .access import operator_credentials
    from .sync import SyncAuthError, SyncBusyError, SyncError, SyncPlaceError, sync_account

    settings = load_settings()
    allowed = operator_credentials(settings, "sync")
    if not allowed.allowed:
        raise CliError(allowed.reason, 2)
    try:
        report = sync_account(settings, db_path=args.db, full=args.full, resources=args.resources,
                              progress=_progress_printer(), wait=args.wait)
    except SyncAuthError as error:
        raise CliError(str(error), 3) from None
    except SyncBusyError as error:
        raise CliError(str(error), EXIT_SYNC_BUSY) from None
    except SyncPlaceError as error:
        raise CliError(str(error), 2) from None
    except SyncError as error:
        raise CliError(str(error)) from None
    print(f"{report.kind} sync of {report.account_id} into {report.db_path}: {report.reason}")
    print(f"  {report.objects} objects written, {report.events_applied} events applied, "
          f"{report.requests} requests ({report.retries} retried), {report.seconds:.1f} s")
    for name, message in report.skipped.items():
        print(f"  skipped {name}: {message}")
    return 0








def cmd_status(ns: argparse.Namespace) -> int:
    args = validated(_Args, ns)
    from .sync import next_sync_plan, status

    with open_cache(args.db) as cache:
        plan = next_sync_plan(cache)
        print(f"cache: {cache.path}  account: {cache.account_id or 'unknown'}")
        print(f"next sync: {plan.kind} ({plan.reason})")
        print(f"{'resource':<22}{'rows':>10}  {'last sync (UTC)':<20} {'next':<12} note")
        for row in status(cache):
            when = row["last_sync_at"].strftime("%Y-%m-%d %H:%M") if row["last_sync_at"] else "never"
            print(f"{row['resource']:<22}{row['rows']:>10}  {when:<20} {row['next']:<12} "
                  f"{('skipped: ' + row['skipped']) if row['skipped'] else ''}")
    return 0


def cmd_demo(ns: argparse.Namespace) -> int:
    args = validated(DemoArgs, ns)
    from .cache import CacheError, CachePlaceError
    from .demo_cache import build_demo_cache

    settings = load_settings()
    path = args.db or Path(settings.data_dir) / "demo.duckdb"
    show = _progress_printer()
    try:
        counts = build_demo_cache(path, seed=args.seed, customers=args.customers, as_of=args.as_of, progress=show,
                                  source="--db" if args.db else "DATA_DIR")
    except CachePlaceError as error:
        raise CliError(str(error), 2) from None
    except CacheError as error:
        raise CliError(str(error)) from None
    print(f"demo account built in {path}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stripe-analytics", description="Local-first Stripe analytics.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sync", help="copy the Stripe account into its DuckDB cache")
    p.add_argument("--db", help="cache file (default DATA_DIR/<account id>.duckdb)")
    p.add_argument("--full", action="store_true", help="reload everything instead of applying events")
    p.add_argument("--resources", help="comma-separated subset, e.g. customers,subscriptions")
    p.add_argument("--wait", action="store_true", help="wait for a running sync of the same account")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("status", help="rows, last sync and next sync kind per resource")
    p.add_argument("--db")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("demo", help="build the demo account's cache")
    p.add_argument("--db")
    p.add_argument("--seed", type=str)
    p.add_argument("--customers", type=str)
    p.add_argument("--as-of", dest="as_of", type=str)
    p.set_defaults(func=cmd_demo)

    _register_optional(sub)
    return parser


def _register_optional(sub) -> None:
    """Commands that live in their own modules register themselves here."""
    from . import actions_cli, fx_cli, metrics_cli, serve_cli, story_cli, webhooks_cli  # an import error is a bug

    for module in (metrics_cli, actions_cli, serve_cli, webhooks_cli, fx_cli, story_cli):
        module.register(sub)


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, not at exit, so a closed pipe is handled below
        return code
    except BrokenPipeError:
        # The reader of our output went away (`| head`): say nothing more, and keep Python from
        # printing a second error when it flushes stdout at exit.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PIPE_CLOSED


EXIT_PIPE_CLOSED = 141  # as for a command killed by SIGPIPE, what shells report for `yes | head`


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        ns = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        return ns.func(ns)
    except SettingsError as error:
        print(str(error), file=sys.stderr)
        return 2
    except CliError as error:
        print(str(error), file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        print("interrupted; the cache is consistent and the next run resumes", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise
    except Exception as error:  # noqa: BLE001 - the last resort: a plain line, never a traceback
        from .stripe_client import redact

        reason = redact(str(error).strip().splitlines()[0][:300]) if str(error).strip() else ""
        what = type(error).__name__ + (f": {reason}" if reason else "")
        print(f"stripe-analytics stopped on an unexpected error ({what}). Nothing more was done; please report it "
              "with the command you ran (STRIPE_ANALYTICS_TRACEBACK=1 shows the details).", file=sys.stderr)
        if os.environ.get("STRIPE_ANALYTICS_TRACEBACK"):
            import traceback

            traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())
