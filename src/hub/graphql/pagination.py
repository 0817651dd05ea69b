"""Relay-style connections with opaque keyset cursors. Page size is capped everywhere."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

import strawberry

from hub.errors import InvalidInput
from hub.kit.time import require_aware

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

NodeT = TypeVar("NodeT")
RowT = TypeVar("RowT")


@strawberry.type(description="Where a page sits in the whole list.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type(
    description="A page of results. Ask for the next with `after: pageInfo.endCursor`."
)
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo

    @strawberry.field(description="The nodes of this page, without their cursors.")
    def nodes(self) -> list[NodeT]:
        return [edge.node for edge in self.edges]


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if first < 1 or first > MAX_PAGE_SIZE:
        raise InvalidInput("first", f"must be between 1 and {MAX_PAGE_SIZE}", code="PAGE_SIZE")
    return first


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), default=str).encode()).decode()


def decode_cursor(cursor: str | None) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(
            "after", "is not a cursor this list gave out", code="INVALID_CURSOR"
        ) from exc
    if not isinstance(value, list):
        raise InvalidInput("after", "is not a cursor this list gave out", code="INVALID_CURSOR")
    return value


def build_connection(
    rows: Sequence[RowT],
    limit: int,
    to_node: Callable[[RowT], NodeT],
    sort_key: Callable[[RowT], Sequence[Any]],
) -> Connection[NodeT]:
    """`rows` was fetched with `limit + 1`: the extra row only says whether there is more."""
    page = rows[:limit]
    edges = [Edge(cursor=encode_cursor(sort_key(row)), node=to_node(row)) for row in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None
        ),
    )


def _keyset(after: str | None, parsers: Sequence[Callable[[Any], Any]]) -> tuple[Any, ...] | None:
    """Decode a keyset cursor whose values are parsed, in order, by `parsers`."""
    cursor = decode_cursor(after)
    if cursor is None:
        return None
    try:
        if len(cursor) != len(parsers):
            raise ValueError("wrong length")
        return tuple(parse(value) for parse, value in zip(parsers, cursor, strict=True))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            "after", "is not a cursor this list gave out", code="INVALID_CURSOR"
        ) from exc


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected text")
    return value


def _uuid(value: Any) -> uuid.UUID:
    return uuid.UUID(_text(value))


def _aware_time(value: Any) -> datetime:
    return require_aware(datetime.fromisoformat(_text(value)))


def text_id_cursor(after: str | None) -> tuple[str, uuid.UUID] | None:
    """A cursor of (text sort key, id), e.g. (reference, id)."""
    decoded = _keyset(after, (_text, _uuid))
    return (decoded[0], decoded[1]) if decoded else None


def text_text_id_cursor(after: str | None) -> tuple[str, str, uuid.UUID] | None:
    """A cursor of (text, text, id), e.g. (family name, given name, id)."""
    decoded = _keyset(after, (_text, _text, _uuid))
    return (decoded[0], decoded[1], decoded[2]) if decoded else None


def time_id_cursor(after: str | None) -> tuple[datetime, uuid.UUID] | None:
    """A cursor of (time, id), e.g. (planned start, id); times carry their offset."""
    decoded = _keyset(after, (_aware_time, _uuid))
    return (decoded[0], decoded[1]) if decoded else None
