"""`POST /webhooks/{connector}`: signed deliveries from upstream systems.

No bearer token: the HMAC signature over the raw body is the authentication (see
`hub.integrations.inbound`). The body is read whole (the request size cap applies) and handed
over byte for byte; the answer comes as soon as the delivery is durably kept, and processing
runs on the worker as `integrations.process_inbound`, keyed by the archive id.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.integrations import inbound, tasks
from hub.logging import get_logger

log = get_logger(__name__)


async def receive(request: Request) -> Response:
    runtime = request.app.state.runtime
    body = await request.body()
    answer = await inbound.receive_webhook(
        runtime.sessions,
        connector=request.path_params["connector"],
        headers=request.headers,
        body=body,
        clock=runtime.clock,
        tolerance=timedelta(seconds=runtime.settings.webhook_tolerance_seconds),
    )
    if answer.enqueue and answer.payload_id is not None:
        try:
            await tasks.enqueue_process(runtime.redis, answer.payload_id)
        except Exception:  # Redis down: the delivery is kept, and the cron re-enqueues it
            log.exception("integrations.enqueue_failed", payload_id=str(answer.payload_id))
    return JSONResponse(answer.body, status_code=answer.status_code)


def webhook_routes() -> list[Route]:
    return [Route("/webhooks/{connector}", receive, methods=["POST"])]
