"""Facts about the hub itself: version, environment, server time (the time authority for
devices), and a liveness subscription for dashboards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

import hub
from hub.graphql.context import Info
from hub.graphql.permissions import EVERYONE, allow, public
from hub.graphql.subscriptions import still_authorised


@strawberry.type(description="The hub answering this request.")
class HubInfo:
    version: str
    environment: str
    server_time: datetime = strawberry.field(
        description="Server time in UTC: the authority devices measure their clock offset against."
    )


@strawberry.type
class SystemQuery:
    @strawberry.field(
        description="Version, environment and server time of this hub.", extensions=public()
    )
    def hub(self, info: Info) -> HubInfo:
        return HubInfo(
            version=hub.__version__,
            environment=info.context.settings.environment.value,
            server_time=info.context.clock.now(),
        )


@strawberry.type
class SystemSubscription:
    @strawberry.subscription(
        description="Server time every `intervalSeconds` (0.01-60), `count` times (1-1000): lets a "
        "dashboard show that its live connection is alive.",
        extensions=allow(*EVERYONE),
    )
    async def heartbeat(
        self, info: Info, interval_seconds: float = 5.0, count: int = 12
    ) -> AsyncGenerator[datetime, None]:
        interval = min(max(interval_seconds, 0.01), 60.0)

        async def ticks() -> AsyncGenerator[datetime, None]:
            for index in range(min(max(count, 1), 1000)):
                if index:
                    await asyncio.sleep(interval)
                yield info.context.clock.now()

        async for tick in still_authorised(info, ticks()):
            yield tick
