"""What an open page asks the server once a second under `serve.py`: has its account's data
moved on since the page was drawn, and how long ago was the cache written.

A page registers the cache it shows under a random token (`token_for`); the browser asks
`GET /live/<token>` (`live_server`), which answers the cache's version and age from a `stat`
(the version is read again only when the file changed, `data.cache_key`). The page reruns only
when the version differs from the one it drew, so a page nobody changes costs no script run,
no message and no redraw. A token names nothing: it reveals no account, path or figure.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path

from ..cache import CacheError
from . import data

# Tokens of the pages open (one per browser session and account); the oldest are forgotten
# first, and a page whose token was forgotten reruns once and registers again.
_TOKENS: OrderedDict[str, Path] = OrderedDict()
_TOKENS_LIMIT = 10_000
_LOCK = threading.Lock()


def changed_at(path: Path) -> float | None:
    """When the cache file was last written (its WAL included)."""
    times = []
    for candidate in (path, Path(str(path) + ".wal")):
        with contextlib.suppress(OSError):
            times.append(os.stat(candidate).st_mtime)
    return max(times) if times else None


def version_of(key: data.CacheKey) -> str:
    """The part of a cache's key that moves when its data changes (the file replaced or written)."""
    return f"{key.inode}-{key.version}"


def token_for(path: Path, token: str | None = None) -> str:
    """Register `path` for polling under `token` (a new random one when None); returns the token."""
    token = token or secrets.token_urlsafe(18)
    with _LOCK:
        _TOKENS[token] = Path(path)
        _TOKENS.move_to_end(token)
        while len(_TOKENS) > _TOKENS_LIMIT:
            _TOKENS.popitem(last=False)
    return token


def state(token: str) -> dict | None:
    """{"version", "busy", "age"} of the cache registered under `token`; None for an unknown
    token. version is None when the cache cannot be read now (the page keeps what it shows)."""
    with _LOCK:
        path = _TOKENS.get(token)
    if path is None:
        return None
    written = changed_at(path)
    age = None if written is None else max(0.0, time.time() - written)
    try:
        key, busy = data.cache_key(path)
    except CacheError:
        return {"version": None, "busy": False, "age": age}
    return {"version": version_of(key), "busy": busy, "age": age}
