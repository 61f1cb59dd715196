"""CPU seconds used by process trees, read from /proc (Linux): a measure of work that other
programs sharing the machine barely change, unlike wall-clock times."""

from __future__ import annotations

import os

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(command name, parent pid, CPU seconds of user + system) of a live process."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def tree_cpu_seconds(root: int, name_prefix: str = "") -> float:
    """CPU seconds of the processes under `root` (itself included) whose command name starts
    with `name_prefix` ("chromium": the browser Playwright started, not its driver)."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            stats[int(entry)] = stat
    children: dict[int, list[int]] = {}
    for pid, (_, parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats and stats[pid][0].startswith(name_prefix):
            total += stats[pid][2]
        todo.extend(children.get(pid, []))
    return total
