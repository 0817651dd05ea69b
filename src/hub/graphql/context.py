"""The per-request GraphQL context. It carries a session *factory*, never a session: sibling
resolvers run concurrently and one AsyncSession must never serve two coroutines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.kit.time import Clock
from hub.metrics import HubMetrics

if TYPE_CHECKING:
    from arq.connections import ArqRedis


@dataclass
class Context:
    request: Request | WebSocket
    settings: Settings
    sessions: SessionFactory
    redis: ArqRedis
    clock: Clock
    metrics: HubMetrics
    request_id: str
    # Per-request DataLoaders, created on first use (see `loader()`), keyed by name.
    loaders: dict[str, Any] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        """Who is acting, as written to the event log."""
        return "anonymous"


Info = StrawberryInfo[Context, None]
