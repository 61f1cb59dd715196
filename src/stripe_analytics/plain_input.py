"""Pydantic's validation errors in plain words, for the small models of the analyst's own
records (notes, saved views): one (field, message) per problem."""

from __future__ import annotations

import unicodedata

from pydantic import ValidationError


def problems(error: ValidationError, *, max_lengths: dict[str, int]) -> list[tuple[str, str]]:
    """(field, plain message) of each problem: an empty text "must not be empty", a long one
    "must be at most N characters" (N from `max_lengths`), a date that is not one "must be a
    date (YYYY-MM-DD)", and the validators' own words otherwise."""
    out = []
    for item in error.errors():
        field = str(item["loc"][0]) if item.get("loc") else "input"
        kind = item["type"]
        if kind == "string_too_short":
            message = "must not be empty"
        elif kind == "string_too_long":
            message = f"must be at most {max_lengths.get(field, '')} characters"
        elif kind.startswith("date"):
            message = "must be a date (YYYY-MM-DD)"
        else:
            message = item["msg"].removeprefix("Value error, ")
        out.append((field, message))
    return out


def one_line(value: str) -> str:
    """`value`, or ValueError when it holds a line break or another control character (a
    validator's check for a name or a note)."""
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise ValueError("must be one line of text (no line breaks or control characters)")
    return value
