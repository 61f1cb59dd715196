"""Stripe's form encoding: ``metadata[k]=v``, ``items[0][price]=p``, ``expand[]=x`` -> nested dicts/lists.

The same syntax is used in query strings (GET/DELETE) and in form bodies (POST).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from .errors import invalid

_SUBKEY = re.compile(r"\[([^\[\]]*)\]")


def split_key(key: str) -> list[str]:
    """``"items[0][price]"`` -> ``["items", "0", "price"]``; ``"expand[]"`` -> ``["expand", ""]``."""
    head, bracket, _ = key.partition("[")
    if not bracket:
        return [key]
    return [head, *_SUBKEY.findall(key[len(head) :])]


def parse_form(text: str | bytes) -> dict[str, Any]:
    """Decode a query string / form body into nested dicts; digit-keyed dicts become lists."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    root: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        _assign(root, split_key(key), value, key)
    return _listify(root)


def _assign(root: dict[str, Any], parts: list[str], value: str, key: str) -> None:
    node = root
    for i, part in enumerate(parts[:-1]):
        if parts[i + 1] == "" and i + 2 == len(parts):  # "name[]": append to a list
            target = node.setdefault(part, [])
            if not isinstance(target, list):
                raise invalid(f"Invalid array: {key}", param=parts[0])
            target.append(value)
            return
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise invalid(f"Invalid hash: {key}", param=parts[0])
        node = child
    if isinstance(node.get(parts[-1]), (dict, list)):
        raise invalid(f"Invalid value for {key}", param=parts[0])
    node[parts[-1]] = value


def _listify(value: Any) -> Any:
    if isinstance(value, list):
        return [_listify(v) for v in value]
    if not isinstance(value, dict):
        return value
    converted = {k: _listify(v) for k, v in value.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def to_int(value: Any, param: str) -> int:
    if isinstance(value, bool):
        raise invalid(f"Invalid integer: {value}", param=param)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise invalid(f"Invalid integer: {value}", param=param)


def to_float(value: Any, param: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise invalid(f"Invalid decimal: {value}", param=param) from None


def to_bool(value: Any, param: str) -> bool:
    if value in (True, "true"):
        return True
    if value in (False, "false"):
        return False
    raise invalid(f"Invalid boolean: {value}", param=param)


def to_str(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {value!r}", param=param)
    return value


def to_list(value: Any, param: str) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, str):  # `expand=x` without brackets: accept like a one-element array
        return [value]
    raise invalid(f"Invalid array: {param}", param=param)
