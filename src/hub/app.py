"""The ASGI application: `/graphql` (HTTP and graphql-transport-ws), `/fhir` (referral intake),
`/healthz`, `/readyz`, `/metrics`. Composition root: it may import anything."""

from __future__ import annotations

import asyncio
import contextlib
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
from hub.health import healthz, readyz, worker_heartbeat_age
from hub.integrations.webhooks import webhook_routes
from hub.kit.time import Clock
from hub.logging import get_logger
from hub.metrics import HubMetrics, metrics_body, metrics_refusal
from hub.middleware import RequestContextMiddleware
from hub.runtime import Runtime
from hub.worker import HubWorker, build_worker, supervise
from hub.worker_pulse import WorkerPulse

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
        worker: HubWorker | None = None
        if start_worker:
            runtime.worker_pulse = WorkerPulse()
            worker = build_worker(runtime, pulse=runtime.worker_pulse)
            _start_worker(runtime, worker)
        # Objects made during start-up live for the process: keep them out of GC scans,
        # which otherwise cause the p99 spikes measured in shared/reference.
        gc.freeze()
        log.info("hub.started", worker=start_worker, environment=settings.environment.value)
        try:
            yield
        finally:
            if worker is not None:
                await _stop_worker(runtime, worker)
            await runtime.close()
            log.info("hub.stopped")

    async def prometheus(request: Request) -> Response:
        refusal = metrics_refusal(
            request, token=settings.metrics_token, production=settings.is_production
        )
        if refusal is not None:
            return refusal
        # Read from Redis only for the scraper: a stranger's request costs no round trip.
        age = await worker_heartbeat_age(request.app.state.runtime)
        metrics.worker_heartbeat_age.set(float("inf") if age is None else age)
        return metrics_body(metrics.registry)

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


def _start_worker(runtime: Runtime, worker: HubWorker) -> None:
    """Run the in-process worker under `supervise`; should that task ever end other than by
    cancellation, say so at error level and start it again (a silent end is how cases stopped
    opening)."""

    def restart_if_ended(task: asyncio.Task[None]) -> None:
        if task.cancelled() or runtime.worker_task is not task:
            return
        error = task.exception()
        log.error(
            "worker.task_ended",
            error=repr(error) if error else "returned",
            exc_info=(type(error), error, error.__traceback__) if error else None,
        )
        _start_worker(runtime, worker)

    task = asyncio.create_task(supervise(worker), name="hub-worker")
    task.add_done_callback(restart_if_ended)
    runtime.worker_task = task


async def _stop_worker(runtime: Runtime, worker: HubWorker) -> None:
    """Stop taking jobs and cancel the running ones (arq puts them back to run again)."""
    task, runtime.worker_task = runtime.worker_task, None
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    jobs = [job for job in worker.tasks.values() if not job.done()]
    for job in jobs:
        job.cancel()
    if jobs:
        await asyncio.wait(jobs, timeout=5.0)
