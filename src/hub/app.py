"""The ASGI application: `/graphql` (HTTP and graphql-transport-ws), `/fhir` (referral intake),
`/healthz`, `/readyz`, `/metrics`. Composition root: it may import anything."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import strawberry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from hub.auth.http import AuthenticationMiddleware, BodyLimitMiddleware
from hub.config import Settings
from hub.fhir.middleware import FhirErrorMiddleware
from hub.fhir.routes import fhir_routes
from hub.graphql.schema import build_schema
from hub.graphql.view import HubGraphQL
from hub.health import healthz, readyz
from hub.integrations.webhooks import webhook_routes
from hub.kit.time import Clock
from hub.logging import get_logger
from hub.metrics import HubMetrics, metrics_response
from hub.middleware import RequestContextMiddleware
from hub.runtime import Runtime
from hub.worker import build_worker

log = get_logger(__name__)


def create_app(
    settings: Settings,
    *,
    database_url: str,
    redis_url: str,
    clock: Clock | None = None,
    run_worker: bool | None = None,
    graphql_schema: strawberry.Schema | None = None,
) -> Starlette:
    """The hub as an ASGI app. Connections open in the lifespan and close on shutdown."""
    metrics = HubMetrics(
        max_operation_names=settings.metrics_operation_names,
        names_per_caller=settings.metrics_names_per_caller,
    )
    active_schema = graphql_schema or build_schema(
        production=settings.is_production, limits=settings.graphql_limits()
    )
    start_worker = settings.inprocess_worker if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = await Runtime.open(
            settings,
            database_url=database_url,
            redis_url=redis_url,
            schema=active_schema,
            metrics=metrics,
            clock=clock,
        )
        app.state.runtime = runtime
        if start_worker:
            worker = build_worker(runtime)
            runtime.worker_task = asyncio.create_task(worker.async_run(), name="arq-worker")
        # Objects made during start-up live for the process: keep them out of GC scans,
        # which otherwise cause the p99 spikes measured in shared/reference.
        gc.freeze()
        log.info("hub.started", worker=start_worker, environment=settings.environment.value)
        try:
            yield
        finally:
            await runtime.close()
            log.info("hub.stopped")

    async def prometheus(request: Request) -> Response:
        return metrics_response(
            request,
            metrics.registry,
            token=settings.metrics_token,
            production=settings.is_production,
        )

    async def jwks(request: Request) -> Response:
        """The development issuer's public keys (404 when a real identity provider is used)."""
        issuer = request.app.state.runtime.identity.dev_issuer
        if issuer is None:
            return JSONResponse(
                {"error": "the hub is not its own token issuer here"}, status_code=404
            )
        return JSONResponse(issuer.public_jwks(), headers={"cache-control": "public, max-age=300"})

    graphql = HubGraphQL(active_schema, settings)
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", prometheus),
            Route("/.well-known/jwks.json", jwks),
            *fhir_routes(),
            *webhook_routes(),
        ],
        # Outermost first: request id and metrics see every answer, including refusals.
        middleware=[
            Middleware(RequestContextMiddleware, metrics=metrics),
            # Under /fhir, the guards' refusals below are rewritten as OperationOutcomes.
            Middleware(FhirErrorMiddleware),
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes),
            Middleware(AuthenticationMiddleware),
        ],
        lifespan=lifespan,
    )
