"""JSON decoded on a worker thread without holding the interpreter lock for long.

`json.loads` is one C call: on a 1 MB recovery file (50,000 notes) it holds the lock for
40 ms and more, and every Python callback of the GUI thread waits that long. Here the
outer objects and arrays are walked in Python (which drops the lock every switch
interval) and only values nested `C_DEPTH` deep or more, such as one note's
`[pitch, start, duration, velocity]`, go to the C decoder, a few microseconds each:

    payload = loads_in_steps(path.read_text(encoding="utf-8"))   # == json.loads(...)

It accepts what `json.loads` accepts and raises `json.JSONDecodeError` where it does.
"""

from __future__ import annotations

import json
import re
from typing import Any

C_DEPTH = 5                     # containers this deep are decoded in one C call
_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def loads_in_steps(text: str) -> Any:
    """`json.loads(text)`, in small C calls (see the module's docstring)."""
    value, end = _value(text, _SPACE.match(text, 0).end(), 0)
    end = _SPACE.match(text, end).end()
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


def _value(text: str, at: int, depth: int) -> tuple[Any, int]:
    """The value starting at `at` (no space before it) and where it ends."""
    opening = text[at:at + 1]
    if depth >= C_DEPTH or opening not in ("{", "["):
        return _DECODER.raw_decode(text, at)
    closing = "}" if opening == "{" else "]"
    is_object = opening == "{"
    items: dict[str, Any] | list[Any] = {} if is_object else []
    at = _SPACE.match(text, at + 1).end()
    if text[at:at + 1] == closing:
        return items, at + 1
    while True:
        if is_object:
            if text[at:at + 1] != '"':
                raise json.JSONDecodeError("Expecting property name enclosed in double "
                                           "quotes", text, at)
            key, at = _DECODER.raw_decode(text, at)
            at = _SPACE.match(text, at).end()
            if text[at:at + 1] != ":":
                raise json.JSONDecodeError("Expecting ':' delimiter", text, at)
            at = _SPACE.match(text, at + 1).end()
        item, at = _value(text, at, depth + 1)
        if is_object:
            items[key] = item           # type: ignore[index]   (the last of a repeated key wins)
        else:
            items.append(item)          # type: ignore[union-attr]
        at = _SPACE.match(text, at).end()
        separator = text[at:at + 1]
        if separator == closing:
            return items, at + 1
        if separator != ",":
            raise json.JSONDecodeError(f"Expecting ',' delimiter or '{closing}'", text, at)
        at = _SPACE.match(text, at + 1).end()
