"""Relay's `node(id:)`: any object by its global id. Each domain registers how to load its
types (through its tenancy-filtered loader), so a foreign id answers exactly like a missing one."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry

from hub.errors import InvalidInput
from hub.graphql.context import Info
from hub.graphql.ids import decode_global_id
from hub.graphql.permissions import EVERYONE, allow


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID


NodeLoader = Callable[[Info, uuid.UUID], Awaitable[Any]]
_loaders: dict[str, NodeLoader] = {}


def register_node(type_name: str, loader: NodeLoader) -> None:
    """`loader(info, id)` returns the GraphQL object (implementing Node) or None."""
    _loaders[type_name] = loader


@strawberry.type
class NodeQuery:
    @strawberry.field(
        description="Any object by its global id; null if it is missing or not yours to see.",
        extensions=allow(*EVERYONE),
    )
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        try:
            type_name, value = decode_global_id(id)
        except InvalidInput:
            return None
        loader = _loaders.get(type_name)
        if loader is None:
            return None
        result: Node | None = await loader(info, value)
        return result
