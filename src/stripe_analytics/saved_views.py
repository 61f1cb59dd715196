"""Saved views: a page and its filters, as the URL's query string, under a name.

Stored per account beside its cache, in a small JSON file of the app's own
(`acct_….duckdb` → `acct_….views.json`, owner-only), not in the cache: saving a view then
works while a sync holds the cache for minutes, a view never changes the cache's data, and the
file cannot be taken for a cache (it is not a DuckDB file, and account discovery lists
`acct_*.duckdb` only). The file names its account; a file naming another account is refused
untouched, as a cache of another account is.

The query string is kept as the URL had it, so filters added later (segments, comparisons)
round-trip without a change here. Writes are whole-file replacements (written aside, then
renamed) under a lock, so two tabs saving at once lose nothing and a crash leaves the old file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qsl, urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .plain_input import one_line, problems

NAME_MAX = 60
QUERY_MAX = 2000
MAX_VIEWS = 200
_PAGE = re.compile(r"^[a-z0-9_-]{0,40}$")
FORMAT = 1


class ViewError(Exception):
    """A view could not be saved, renamed, deleted or read; the message says why. Nothing was changed."""


class ViewNotFoundError(ViewError):
    pass


class ViewInput(BaseModel):
    """A view as the analyst saves it: a name, the page's URL path ("" for the Overview) and the
    URL's query string (without "?")."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: str = Field(min_length=1, max_length=NAME_MAX)
    page: str = Field(default="", max_length=40)
    query: str = Field(default="", max_length=QUERY_MAX)

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        return one_line(value)

    @field_validator("page")
    @classmethod
    def _page(cls, value: str) -> str:
        if not _PAGE.match(value):
            raise ValueError("is not a page of the app")
        return value

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        value = value.removeprefix("?")
        try:
            pairs = parse_qsl(value, keep_blank_values=True, strict_parsing=bool(value))
        except ValueError:
            raise ValueError("is not a URL query string") from None
        return urlencode(pairs)


@dataclass(frozen=True)
class SavedView:
    name: str
    page: str
    query: str
    saved_at: str

    @property
    def params(self) -> dict[str, str]:
        """The query string as URL parameters (the last value of a repeated key)."""
        return dict(parse_qsl(self.query, keep_blank_values=True))


def views_path(cache_path: str | Path) -> Path:
    """The views file of the account whose cache is at `cache_path`."""
    cache_path = Path(cache_path)
    return cache_path.with_name(cache_path.stem + ".views.json")


def parse(name, page: str = "", query: str = "") -> ViewInput:
    """A validated view, or ViewError naming what is wrong."""
    try:
        return ViewInput(name=name if name is not None else "", page=page, query=query)
    except ValidationError as error:
        said = [f"The view's {field} {message}"
                for field, message in problems(error, max_lengths={"name": NAME_MAX, "query": QUERY_MAX})]
        raise ViewError("; ".join(said) + ". Nothing was saved.") from None


def _read(path: Path, account_id: str | None) -> list[SavedView]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as error:
        raise ViewError(f"The saved views of this account ({path.name}) cannot be read: "
                        f"{error.strerror or error}.") from None
    try:
        data = json.loads(text)
        owner = data.get("account_id")
        views = [SavedView(str(v["name"]), str(v.get("page", "")), str(v.get("query", "")), str(v.get("saved_at", "")))
                 for v in data["views"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ViewError(f"{path.name} is not a saved-views file of Stripe Analytics; it was left unchanged. "
                        "Move it aside to save views again.") from None
    if account_id and owner and owner != account_id:
        raise ViewError(f"{path.name} holds the saved views of account {owner}, not {account_id}; it was left "
                        "unchanged.")
    return views


def list_views(cache_path: str | Path, account_id: str | None) -> list[SavedView]:
    """The account's saved views, by name."""
    return sorted(_read(views_path(cache_path), account_id), key=lambda v: v.name.casefold())


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise ViewError(f"The saved views cannot be written beside the cache ({error.strerror}). "
                        "Nothing was changed.") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write(path: Path, account_id: str | None, views: list[SavedView]) -> None:
    data = {"format": FORMAT, "account_id": account_id,
            "views": [{"name": v.name, "page": v.page, "query": v.query, "saved_at": v.saved_at} for v in views]}
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ViewError(f"The saved views could not be written ({error.strerror}). Nothing was changed.") from None


def _find(views: list[SavedView], name: str) -> int | None:
    wanted = name.strip().casefold()
    return next((i for i, v in enumerate(views) if v.name.casefold() == wanted), None)


def _existing(views: list[SavedView], name: str) -> int:
    found = _find(views, name)
    if found is None:
        raise ViewNotFoundError(f"There is no saved view named {name!r} (deleted meanwhile?). Nothing was changed.")
    return found


def save(cache_path: str | Path, account_id: str | None, view: ViewInput, *, replace: bool = False) -> SavedView:
    """Save `view`; a view of the same name (case aside) is refused unless `replace`."""
    path = views_path(cache_path)
    with _locked(path):
        views = _read(path, account_id)
        found = _find(views, view.name)
        if found is not None and not replace:
            raise ViewError(f"A view named {views[found].name!r} already exists: choose another name, or replace "
                            "it. Nothing was saved.")
        if found is None and len(views) >= MAX_VIEWS:
            raise ViewError(f"This account already has {MAX_VIEWS} saved views; delete some first. Nothing was saved.")
        saved = SavedView(view.name, view.page, view.query, datetime.now(timezone.utc).isoformat(timespec="seconds"))
        if found is not None:
            views[found] = saved
        else:
            views.append(saved)
        _write(path, account_id, views)
    return saved


def rename(cache_path: str | Path, account_id: str | None, old: str, new: str) -> SavedView:
    """Rename a view; the new name is validated like a saved one and must not be taken."""
    checked = parse(new)
    path = views_path(cache_path)
    with _locked(path):
        views = _read(path, account_id)
        found = _existing(views, old)
        other = _find(views, checked.name)
        if other is not None and other != found:
            raise ViewError(f"A view named {views[other].name!r} already exists: choose another name. "
                            "Nothing was changed.")
        current = views[found]
        views[found] = SavedView(checked.name, current.page, current.query, current.saved_at)
        _write(path, account_id, views)
    return views[found]


def delete(cache_path: str | Path, account_id: str | None, name: str) -> None:
    path = views_path(cache_path)
    with _locked(path):
        views = _read(path, account_id)
        del views[_existing(views, name)]
        _write(path, account_id, views)
