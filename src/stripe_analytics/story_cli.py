"""`stripe-analytics customer` and `stripe-analytics notes`: one customer's story, and the
account's notes, from the command line (the same library functions as the app's pages).

- `customer ID [--json]`: the customer's timeline, oldest first (timeline.py, MRR movements
  from the metrics engine), MRR at each month end and lifetime paid per currency.
- `notes list [--json]`, `notes add --date D --text T`, `notes edit ID --date D --text T`,
  `notes delete ID`: the account's dated notes (notes.py). Whoever runs the CLI is the
  operator; `access.may_annotate` still decides.
"""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd
from pydantic import field_validator

from .cli_args import CliError, DbArgs as _Args, open_cache, validated
from .money import decimals, format_amount


class CustomerArgs(_Args):
    customer: str
    json_output: bool = False

    @field_validator("customer")
    @classmethod
    def _customer(cls, value: str) -> str:
        value = value.strip()
        if not value or len(value) > 255 or not value.replace("_", "").isalnum():
            raise ValueError("must be a customer id such as cus_…")
        return value


class NotesListArgs(_Args):
    json_output: bool = False


class NoteWriteArgs(_Args):
    note_id: str | None = None
    date: str | None = None
    text: str | None = None


def _major(minor, currency: str):
    if minor is None or pd.isna(minor):
        return None
    places = decimals(currency)
    return int(minor) if places == 0 else round(int(minor) / 10 ** places, places)


def _plain(frame: pd.DataFrame) -> list[dict]:
    rows = []
    for record in frame.to_dict("records"):
        rows.append({k: (None if not isinstance(v, (list, dict)) and pd.isna(v) else v) for k, v in record.items()})
    return rows


def register(subparsers) -> None:
    """Add the `customer` and `notes` commands (called by cli.build_parser)."""

    def namespace(ns: argparse.Namespace) -> argparse.Namespace:
        return argparse.Namespace(**{k: v for k, v in vars(ns).items() if k != "func"})

    def cmd_customer(ns: argparse.Namespace) -> int:
        from . import queries, timeline
        from .metrics import MetricsEngine

        args = validated(CustomerArgs, namespace(ns))
        with open_cache(args.db) as cache:
            customer = queries.customer(cache.con, args.customer)
            if customer is None:
                raise CliError(f"No customer {args.customer} in {cache.path.name}.")
            engine = MetricsEngine(cache)
            result = engine.compute()
            events = timeline.customer_events(cache.con, args.customer, result.as_of)
            lifetime = queries.customer_lifetime_paid(cache.con, args.customer)
            demo = cache.get_meta("demo") is not None
            account_id = cache.account_id
        movements = result.movements[result.movements["customer"] == args.customer]
        snapshots = result.snapshots[result.snapshots["customer"] == args.customer]
        story = timeline.customer_timeline(events, movements, timeline.snapshot_instants(result.calendar),
                                           livemode=bool(customer["raw"].get("livemode")), account_id=account_id,
                                           demo=demo)
        history = timeline.mrr_history(snapshots, result.calendar.labels())
        if args.json_output:
            doc = {
                "customer": args.customer, "name": customer.get("name"), "email": customer.get("email"),
                "as_of": result.as_of.isoformat(),
                "lifetime_paid": [{"currency": c, "amount": _major(v, c), "payments": int(n)}
                                  for c, v, n in zip(lifetime["currency"], lifetime["lifetime_paid"],
                                                     lifetime["payments"])],
                "mrr_history": [{"currency": c, "month": m, "mrr": _major(v, c)}
                                for c, m, v in zip(history["currency"], history["month"], history["mrr"])],
                "timeline": [dict(row, at=row["at"].isoformat(), amount=_major(row["amount"], row["currency"]),
                                  mrr=_major(row["mrr"], row["currency"])) for row in _plain(story)],
            }
            sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
            return 0
        print(f"{customer.get('name') or args.customer} ({args.customer})")
        paid = ", ".join(format_amount(int(v), c)
                         for c, v in zip(lifetime["currency"], lifetime["lifetime_paid"]))
        print(f"lifetime paid: {paid or 'nothing'}")
        for row in _plain(story):
            amount = row["amount"]
            money = format_amount(int(amount), row["currency"]) if amount is not None else ""
            print(f"{row['at']:%Y-%m-%d %H:%M}  {row['event']:<24} {money:>16}  {row['detail'] or ''}")
        return 0

    def _notes_writer(db):
        from . import access, notes
        from .config import load_settings

        decision = access.may_annotate(access.Principal.operator(), load_settings())
        if not decision.allowed:
            raise CliError(decision.reason)
        with open_cache(db) as cache:  # which cache, checked read-only first
            path = cache.path
        return notes, path

    def cmd_notes_list(ns: argparse.Namespace) -> int:
        from . import notes

        args = validated(NotesListArgs, namespace(ns))
        with open_cache(args.db) as cache:
            frame = notes.list_notes(cache.con)
        rows = [{"id": i, "date": pd.Timestamp(d).date().isoformat(), "text": t, "created_by": b}
                for i, d, t, b in zip(frame["id"], frame["day"], frame["text"], frame["created_by"])]
        if args.json_output:
            sys.stdout.write(json.dumps({"notes": _plain(pd.DataFrame(rows, columns=["id", "date", "text",
                                                                                     "created_by"]))},
                                        indent=2) + "\n")
            return 0
        for row in rows:
            print(f"{row['date']}  {row['id']}  {row['text']}")
        if not rows:
            print("no notes")
        return 0

    def cmd_notes_write(ns: argparse.Namespace) -> int:
        args = validated(NoteWriteArgs, namespace(ns))
        action = ns.notes_command
        notes, path = _notes_writer(args.db)
        try:
            note = notes.parse(args.date, args.text) if action in ("add", "edit") else None
        except notes.NoteError as error:
            raise CliError(str(error), 2) from None  # a bad --date or --text
        note_id = args.note_id
        try:
            with notes.writing(path) as con:
                if action == "add":
                    note_id = notes.add(con, note, None)
                elif action == "edit":
                    notes.edit(con, note_id, note)
                else:
                    notes.delete(con, note_id)
        except notes.NoteError as error:  # no such note, or a sync holds the cache
            raise CliError(str(error)) from None
        print({"add": "added", "edit": "changed", "delete": "deleted"}[action] + f" note {note_id}")
        return 0

    p = subparsers.add_parser("customer", help="one customer's story: timeline, MRR history, lifetime paid")
    p.add_argument("customer")
    p.add_argument("--db", help="cache file (default: the only cache in DATA_DIR)")
    p.add_argument("--json", dest="json_output", action="store_true", default=None)
    p.set_defaults(func=cmd_customer)

    p = subparsers.add_parser("notes", help="the account's dated notes (markers on every time chart)")
    sub = p.add_subparsers(dest="notes_command", required=True)
    q = sub.add_parser("list", help="every note, by date")
    q.add_argument("--db", help="cache file (default: the only cache in DATA_DIR)")
    q.add_argument("--json", dest="json_output", action="store_true", default=None)
    q.set_defaults(func=cmd_notes_list)
    for name, helptext in (("add", "add a dated note"), ("edit", "change a note's date and text"),
                           ("delete", "delete a note")):
        q = sub.add_parser(name, help=helptext)
        if name != "add":
            q.add_argument("note_id", metavar="ID")
        if name != "delete":
            q.add_argument("--date", required=True, help="YYYY-MM-DD")
            q.add_argument("--text", required=True)
        q.add_argument("--db", help="cache file (default: the only cache in DATA_DIR)")
        q.set_defaults(func=cmd_notes_write)

