"""``python -m stripe_analytics.demo [--customers N] [--seed S] [--as-of ISO] [--jsonl FILE]``:
generate a demo account and print object counts and timing (optionally write JSON lines)."""

from __future__ import annotations

import argparse
import collections
import json
import resource
import sys
import time
from datetime import datetime, timezone

from . import generate_account


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stripe_analytics.demo")
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--as-of", default=None, help="ISO timestamp (UTC), default now")
    ap.add_argument("--jsonl", default=None, help="also write every object as a JSON line to this file")
    args = ap.parse_args(argv)
    as_of = None
    if args.as_of:
        as_of = datetime.fromisoformat(args.as_of)
        if as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=timezone.utc)
    t0 = time.perf_counter()
    acc = generate_account(seed=args.seed, customers=args.customers, as_of=as_of)
    counts = collections.Counter()
    lines = 0
    out = open(args.jsonl, "w") if args.jsonl else None
    try:
        for obj in acc.iter_objects():
            counts[obj["object"]] += 1
            if obj["object"] == "invoice":
                lines += len(obj["lines"]["data"])
            if out is not None:
                out.write(json.dumps(obj, separators=(",", ":")))
                out.write("\n")
    finally:
        if out is not None:
            out.close()
    dt = time.perf_counter() - t0
    print(f"account {acc.account['id']}  customers={args.customers} seed={args.seed} as_of={acc.as_of.isoformat()}")
    for k, v in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {k:22s} {v:>10,}")
    print(f"  {'(invoice lines)':22s} {lines:>10,}")
    print(f"  total objects          {sum(counts.values()):>10,}")
    print(f"elapsed {dt:.1f}s   max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
