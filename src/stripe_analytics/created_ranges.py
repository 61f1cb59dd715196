"""The `created` ranges a backfill reads in parallel, and how a range being read is split.

A resource's list is cut into ranges of `created` time, each read newest first by its own
thread. Equal time ranges hold very unequal numbers of objects (a growing business has most
of them in its newest ranges), so a fixed cut leaves a few long ranges read one page after
another at the end while the rest of the budget goes unused. Two remedies:

- the newest ranges start first (`newest_first`): the longest reads are not the last to begin;
- a range being read splits off its older half when a reader is idle (`split_off_older`):
  the reader that owns the range does it between two of its pages, so no request of the
  range is under way and the halves cannot overlap. It narrows its own range to
  [middle, end) and hands [start, middle) to a new reader. Only a range estimated to hold
  at least `min_objects` more objects (from the objects per second of time read so far) is
  split, so splitting never costs more requests than it saves time.

A range is a dict kept in the sync's cursor: {"gte", "lt", "after", "done"} (`gte` None:
anything older; `lt` None: the cursor's upper bound).
"""

from __future__ import annotations


def newest_first(cursors: dict[str, dict]) -> list[tuple[str, int]]:
    """(resource, index) of every unfinished range of the backfill `cursors` (per resource:
    {"upper", "slices": [range, ...]}), across resources, the ranges ending last first."""
    pending = [(name, index) for name, cursor in cursors.items()
               for index, range_ in enumerate(cursor["slices"]) if not range_["done"]]

    def end(item: tuple[str, int]) -> int:
        cursor = cursors[item[0]]
        lt = cursor["slices"][item[1]]["lt"]
        return lt if lt is not None else cursor["upper"]

    return sorted(pending, key=lambda item: -end(item))


def split_off_older(range_: dict, *, lower: int, newest: int, reached: int, read: int,
                    min_objects: int) -> dict | None:
    """Split the unread part of `range_` in two, or return None when it is not worth it.

    The range's reader has read `read` objects created from `newest` down to `reached` (the
    oldest so far; Stripe lists newest first), so what is left lies in [start, reached], start
    being `range_["gte"]`, or `lower` when that is None. `range_` keeps [middle, end) and goes
    on after the objects it has read; the returned new range is [start, middle), unread."""
    start = range_["gte"] if range_["gte"] is not None else lower
    if read <= 0 or reached - start < 2:
        return None
    per_second = read / max(1, newest - reached + 1)
    if per_second * (reached - start) < min_objects:
        return None
    middle = start + (reached - start + 1) // 2
    older = {"gte": range_["gte"], "lt": middle, "after": None, "done": False}
    range_["gte"] = middle
    return older
