"""JSON from outside, read so that no body can make the hub fail: strict UTF-8, bounded
nesting, and a finder for text PostgreSQL cannot store (U+0000, and the unpaired surrogates a
JSON `\\ud800` escape produces, which cannot be encoded as UTF-8 at all).

    UnreadableJson(json.JSONDecodeError)   not UTF-8, not JSON, or nested too deep
    └── JsonTooDeep                        nested beyond `max_depth`

`UnreadableJson` is a `JSONDecodeError`, so code that already answers "not JSON" (strawberry's
HTTP view: 400; its websocket handler: close 4400) answers these the same way.

Why bounded nesting: the C JSON decoder recurses once per level and raises `RecursionError`
a thousand levels down, which is not a `ValueError` and so escaped every "bad JSON" handler as a
500. Below that, hundreds of levels still parse and then exhaust the stack of whatever walks
the value next (FHIR model validation, variable coercion). No input the hub reads nests more
than a few levels (a FHIR Bundle ~12), so 64 refuses nothing real.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64
NUL = "\x00"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> bool:
    """Whether PostgreSQL text cannot hold `text`: U+0000 or an unpaired surrogate."""
    return _UNSTORABLE.search(text) is not None


class UnreadableJson(json.JSONDecodeError):
    """The data is not UTF-8 JSON the hub will read; `reason` says why, for the sender."""

    def __init__(self, reason: str, doc: str = "", pos: int = 0) -> None:
        super().__init__(reason, doc, pos)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class JsonTooDeep(UnreadableJson):
    pass


def loads(data: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads`, but bytes must be UTF-8 (RFC 8259; no guessing UTF-16 from a BOM), and
    arrays and objects may nest at most `max_depth` levels."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as problem:
            raise UnreadableJson(
                f"the body is not UTF-8 (invalid byte at offset {problem.start})"
            ) from None
    else:
        text = data
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonTooDeep(_too_deep(max_depth)) from None
    except json.JSONDecodeError as problem:
        raise UnreadableJson(str(problem), problem.doc, problem.pos) from None
    if depth_exceeds(value, max_depth):
        raise JsonTooDeep(_too_deep(max_depth))
    return value


def _too_deep(max_depth: int) -> str:
    return f"JSON nested more than {max_depth} levels deep"


def depth_exceeds(value: object, max_depth: int) -> bool:
    """Whether arrays and objects in `value` nest more than `max_depth` levels (no recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Any
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def unstorable_path(value: object, root: str) -> str | None:
    """The path (`root.a[2].b`) of the first string or object key in `value` that PostgreSQL
    text and jsonb cannot store (see `unstorable`); None if there is none. No recursion."""
    stack: list[tuple[object, str]] = [(value, root)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if unstorable(item):
                return path
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                child_path = f"{path}.{key}"
                if isinstance(key, str) and unstorable(key):
                    return _UNSTORABLE.sub("?", child_path)
                stack.append((child, child_path))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in reversed(list(enumerate(item))))
    return None
