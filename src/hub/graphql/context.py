"""The per-request GraphQL context. It carries a session *factory*, never a session: sibling
resolvers run concurrently and one AsyncSession must never serve two coroutines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from hub.audit.service import AccessRecorder
from hub.auth.principal import Principal
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.kit.time import Clock
from hub.metrics import HubMetrics

if TYPE_CHECKING:
    from arq.connections import ArqRedis

    from hub.auth.authenticate import Authenticator
    from hub.events.notify import EventNotifier


@dataclass
class Context:
    request: Request | WebSocket
    settings: Settings
    sessions: SessionFactory
    redis: ArqRedis
    clock: Clock
    metrics: HubMetrics
    authenticator: Authenticator
    request_id: str
    principal: Principal | None = None
    # Wakes live feeds when events commit (the runtime's one LISTEN connection).
    notifier: EventNotifier | None = None
    # Why the caller is reading personal data (X-Purpose-Of-Use header or connection_init).
    purpose: str | None = None
    # Set by the websocket handler from `connection_init`'s payload.
    connection_params: dict[str, Any] | None = None
    audit: AccessRecorder = field(default_factory=AccessRecorder)
    # The trusted document the request ran, `sha256:<hex>` (None when text was sent).
    document_id: str | None = None
    # The operation's name as the client gave it (set when the operation ends; for the access log).
    operation_name: str | None = None
    # Per-request DataLoaders, created on first use, keyed by name.
    loaders: dict[str, Any] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        """Who is acting, as written to the event log."""
        return self.principal.actor if self.principal else "anonymous"

    def require_principal(self) -> Principal:
        """The signed-in caller. Field permissions run first, so this only fails if a field
        was declared public by mistake."""
        if self.principal is None:
            from hub.auth.authenticate import AuthenticationFailed

            raise AuthenticationFailed("sign in first: send 'Authorization: Bearer <token>'")
        return self.principal


Info = StrawberryInfo[Context, None]
