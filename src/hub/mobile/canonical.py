"""The canonical bytes of a command: what its hash (the idempotency fingerprint and the link of
the device's hash chain) is computed over, by the app and by the hub alike.

A command is first written as a JSON object with the GraphQL field names (`seq`, `commandId`,
`occurredAt`, `body`, `prevHash`, …), leaving out fields that are null or absent, with
enum values as their GraphQL names, ids and UUIDs as strings, and `DateTime`s in UTC with
milliseconds (`2026-11-23T08:05:00.000Z`, JavaScript's `toISOString()`). That object is then
serialised per RFC 8785 (JSON Canonicalization Scheme): keys sorted, no whitespace, numbers as
ECMAScript prints them (`5.0` → `5`), strings with the minimal escapes.

    commandHash = lower-case hex SHA-256 of the canonical bytes of the command without `sig`
    prevHash    = the previous command's commandHash; "0" * 64 before the device's first

The idempotency fingerprint of a command (`content_hash`) leaves out the envelope — `seq`,
`prevHash` and `sig` — so the same command re-queued under a new number is recognised as the
same, while any change to what it records (`commandId`, `occurredAt`, `body`, `supersedes`)
is not.

The hub stores each command as this canonical object (`command_log.payload`).
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_time(value: datetime) -> str:
    """UTC with milliseconds and a Z, as JavaScript's `Date.toISOString()` writes it."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def canonical_bytes(value: Any) -> bytes:
    """RFC 8785 serialisation of a JSON value (dicts, lists, str, int, float, bool, None)."""
    return _serialise(value).encode("utf-8")


def command_hash(command: Mapping[str, Any]) -> str:
    """The hash of a canonical command object, `sig` left out (it signs this hash)."""
    unsigned = {key: value for key, value in command.items() if key != "sig"}
    return hashlib.sha256(canonical_bytes(unsigned)).hexdigest()


ENVELOPE = frozenset({"seq", "prevHash", "sig"})


def content_hash(command: Mapping[str, Any]) -> str:
    """The idempotency fingerprint: the hash of the command without its envelope."""
    content = {key: value for key, value in command.items() if key not in ENVELOPE}
    return hashlib.sha256(canonical_bytes(content)).hexdigest()


@dataclass(frozen=True, slots=True)
class Digests:
    """What the upload needs of each command: its `command_hash`, its `content_hash`, and the
    length in bytes of its canonical form (sig included)."""

    command_hash: str
    content_hash: str
    size: int


def digests(command: Mapping[str, Any]) -> Digests:
    """`command_hash`, `content_hash` and the canonical size at once: each member of the
    command is serialised once, not once per digest (the upload needs all three per command).
    The three canonical objects differ only in the top-level members they leave out."""
    members = sorted(
        ((str(key), value) for key, value in command.items()),
        key=lambda item: item[0].encode("utf-16-be"),
    )
    texts = [(key, f"{_serialise(key)}:{_serialise(value)}") for key, value in members]

    def joined(leave_out: frozenset[str]) -> bytes:
        return ("{" + ",".join(text for key, text in texts if key not in leave_out) + "}").encode()

    return Digests(
        command_hash=hashlib.sha256(joined(_SIGNATURE)).hexdigest(),
        content_hash=hashlib.sha256(joined(ENVELOPE)).hexdigest(),
        size=len(joined(frozenset())),
    )


_SIGNATURE = frozenset({"sig"})


def jsonable(value: Any) -> Any:
    """Plain values for a canonical object: UUIDs as strings, datetimes canonical."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return canonical_time(value)
    return value


def _serialise(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        # RFC 8785 sorts by UTF-16 code units; for the keys used here that is code point order.
        items = sorted(value.items(), key=lambda item: item[0].encode("utf-16-be"))
        return "{" + ",".join(f"{_serialise(str(k))}:{_serialise(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_serialise(item) for item in value) + "]"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _number(value: float) -> str:
    """ECMAScript Number::toString for finite doubles (RFC 8785 §3.2.2.3)."""
    if not math.isfinite(value):
        raise ValueError("JSON has no NaN or Infinity")
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    power = int(exponent)
    if -7 < power < 0:
        # Python switches to exponent form earlier than ECMAScript (1e-05 vs 0.00001); the
        # shortest digits are kept exactly.
        return format(Decimal(text), "f")
    return f"{mantissa}e{'+' if power > 0 else '-'}{abs(power)}"
