"""Global ids: opaque base64 of `Type:uuid`, so `node(id:)` can find any object and a client
cannot mistake a package id for a visit id."""

from __future__ import annotations

import base64
import binascii
import uuid

from hub.errors import InvalidInput


def encode_global_id(type_name: str, value: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{value}".encode()).decode().rstrip("=")


def decode_global_id(global_id: str, *, field: str = "id") -> tuple[str, uuid.UUID]:
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, raw = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        return type_name, uuid.UUID(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(field, "is not a valid id", code="INVALID_ID") from exc


def expect_global_id(global_id: str, type_name: str, *, field: str = "id") -> uuid.UUID:
    kind, value = decode_global_id(global_id, field=field)
    if kind != type_name:
        raise InvalidInput(field, f"is not a {type_name} id", code="INVALID_ID")
    return value
