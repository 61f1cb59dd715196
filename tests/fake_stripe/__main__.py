"""Run FakeStripe in its own process: prints ``READY http://127.0.0.1:PORT KEY`` and serves until killed.

    python -m tests.fake_stripe --port 0 --latency 0.15 [--objects-file objects.jsonl]
                                [--demo-customers N --seed S]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator

from .server import FakeStripe


def read_objects(path: Path) -> Iterator[dict[str, Any]]:
    """Objects from a JSON-lines file (one Stripe-shaped object per line; blank lines ignored)."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def build(args: argparse.Namespace) -> FakeStripe:
    fake = FakeStripe(args.host, args.port, latency=args.latency)
    account: Any = args.account
    objects: list[Iterable[dict[str, Any]]] = []
    if args.demo_customers is not None:
        from stripe_analytics.demo import generate_account  # lazy: only this option needs the app package

        demo = generate_account(seed=args.seed, customers=args.demo_customers, as_of=None)
        account = demo.account
        objects.append(demo.iter_objects())
    if args.objects_file is not None:
        loaded = list(read_objects(args.objects_file))
        accounts = [o for o in loaded if o.get("object") == "account"]
        if accounts and args.demo_customers is None:
            account = accounts[0]  # the file describes its own account
        objects.append(o for o in loaded if o.get("object") != "account")
    account_id = fake.add_account(account, key=args.key)
    for batch in objects:
        fake.add_many(batch, account=account_id)
    return fake


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_stripe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--key", default="sk_test_fake_key", help="the secret key of the account")
    parser.add_argument("--account", default="acct_test_fake", help="account id (unless a file/demo gives one)")
    parser.add_argument("--objects-file", type=Path, help="JSON lines of Stripe objects to load")
    parser.add_argument("--demo-customers", type=int, help="load stripe_analytics.demo with N customers")
    parser.add_argument("--seed", type=int, default=0, help="seed of the demo account")
    args = parser.parse_args(argv)

    fake = build(args).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"READY {fake.url} {args.key}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
