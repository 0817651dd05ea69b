"""The strawberry ASGI view: per-request context, GraphQL-over-HTTP status codes and media
types, websocket authentication, and the access-audit write before a response leaves.

HTTP behaviour (GraphQL over HTTP spec):
- POST bodies must be `application/json` (415 otherwise); batches (JSON arrays) are refused;
- GET runs queries only: a mutation over GET answers 405 with `Allow: POST`;
- `Accept: application/graphql-response+json` gets that media type, and a request error
  (unparseable, invalid, bad variables) answers 400 without a `data` entry;
- any response carrying personal data is written to the access log first; if that write fails
  the data is withheld;
- carers run only trusted documents (`hub.mobile.documents`), sent by id over HTTP and over
  websockets; a refused document answers one error with its code (200, or 400 under
  `application/graphql-response+json`) and nothing runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError, GraphQLFormattedError
from starlette import status
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry import Schema
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ErrorMessage,
    SubscribeMessage,
)
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from hub.audit.service import record_access
from hub.auth.tokens import TokenError
from hub.config import Settings
from hub.db.uow import unit_of_work
from hub.errors import HubError
from hub.graphql.context import Context
from hub.kit import json_input
from hub.logging import get_logger
from hub.mobile.documents import (
    DocumentRefused,
    DocumentRequest,
    RunnableDocument,
    raw_text_allowed,
    trusted_documents,
)
from hub.runtime import Runtime

log = get_logger("hub.graphql")

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"


class _SubResponse(Response):
    """Per-request response settings: the negotiated media type and any status override."""

    media_type = JSON


def negotiate_media_type(accept: str | None) -> str | None:
    """The response media type for an Accept header; None if we can offer nothing it accepts."""
    if not accept:
        return JSON
    offered: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                with contextlib.suppress(ValueError):
                    quality = float(value)
        media = media.strip().lower()
        if quality > 0 and media in (GRAPHQL_RESPONSE_JSON, JSON, "application/*", "*/*"):
            chosen = GRAPHQL_RESPONSE_JSON if media == GRAPHQL_RESPONSE_JSON else JSON
            offered.append((-quality, position, chosen))
    return min(offered)[2] if offered else None


def _is_request_error(result: ExecutionResult) -> bool:
    """Parse, validation and variable-coercion failures: nothing was executed."""
    return (
        result.data is None
        and bool(result.errors)
        and all(e.path is None for e in result.errors or [])
    )


class TrustedDocumentsWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with the HTTP rule for carers: a `subscribe` names a trusted
    document by id (`documentId` or `extensions.persistedQuery.sha256Hash` in its payload);
    raw text from a carer is answered with an `error` message carrying the code."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged:
            payload: dict[str, Any] = dict(message["payload"])
            try:
                document = _document_to_run(
                    self.context,
                    DocumentRequest(
                        query=payload.get("query"),
                        document_id=payload.get("documentId"),
                        extensions=payload.get("extensions"),
                    ),
                )
            except DocumentRefused as refusal:
                await self.send_message(
                    ErrorMessage(id=message["id"], type="error", payload=[_refusal_error(refusal)])
                )
                return
            if document is not None:
                payload["query"] = document.query
                message = {**message, "payload": payload}  # type: ignore[typeddict-item]
        await super().handle_subscribe(message)


class HubGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TrustedDocumentsWSHandler

    def __init__(self, schema: Schema, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide=None if settings.is_production else "graphiql",
            allow_queries_via_get=True,
            # Only the maintained protocol; the legacy subscriptions-transport-ws is off.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=3),
            max_subscriptions_per_connection=10,
            multipart_uploads_enabled=False,
        )
        # Read once per process: the hub refuses to start without the supported manifests.
        trusted_documents()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self.run(request)
        except HTTPException as exc:
            response = _error_response(exc.status_code, exc.reason, request)
        except DocumentRefused as refusal:
            response = _refused_response(refusal, request)
        await response(scope, receive, send)

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET naming a persisted document is a query, not a browser asking for GraphiQL.
        params = request.query_params
        if "documentId" in params or "extensions" in params:
            return False
        return super().should_render_graphql_ide(request)

    # --- context ------------------------------------------------------------------------------

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        runtime: Runtime = request.app.state.runtime
        state: dict[str, Any] = request.scope.get("state", {})
        context = Context(
            request=request,
            settings=runtime.settings,
            sessions=runtime.sessions,
            redis=runtime.redis,
            clock=runtime.clock,
            metrics=runtime.metrics,
            authenticator=runtime.identity.authenticator,
            request_id=str(state.get("request_id", "")),
            principal=state.get("principal"),
            purpose=request.headers.get("x-purpose-of-use"),
            notifier=runtime.notifier,
        )
        state["graphql_context"] = context
        return context

    # --- HTTP ---------------------------------------------------------------------------------

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = _SubResponse()
        sub_response.status_code = None  # type: ignore[assignment]
        del sub_response.headers["content-length"]
        media_type = negotiate_media_type(request.headers.get("accept"))
        if media_type is None:
            raise HTTPException(
                status.HTTP_406_NOT_ACCEPTABLE,
                f"responses are {GRAPHQL_RESPONSE_JSON} or {JSON}; Accept allows neither",
            )
        sub_response.media_type = media_type
        request.scope.setdefault("state", {})["sub_response"] = sub_response
        return sub_response

    def decode_json(self, data: str | bytes) -> object:
        """Every JSON the view reads (POST bodies, GET `variables`/`extensions`, websocket
        messages): UTF-8 only and nested at most `json_input.MAX_DEPTH` deep. The refusal is
        a `JSONDecodeError`, which strawberry answers with 400 (HTTP) or 4400 (websocket)."""
        return json_input.loads(data)

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return json_input.loads(data)
        except json_input.UnreadableJson as unreadable:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                f"Unable to parse request body as JSON: {unreadable.reason}",
            ) from None

    async def parse_http_body(self, request: Any) -> Any:
        if request.method == "POST":
            content_type = (request.content_type or "").split(";")[0].strip().lower()
            if content_type != JSON:
                raise HTTPException(
                    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                    f"POST bodies must be {JSON}; got {content_type or 'no content type'}",
                )
        # Batches (JSON arrays) are refused by strawberry itself: batching is not enabled.
        data = await super().parse_http_body(request)
        operation_name = getattr(data, "operation_name", None)
        if operation_name is not None and not isinstance(operation_name, str):
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, "operationName must be a string or null, if provided"
            )
        if isinstance(operation_name, str) and json_input.unstorable(operation_name):
            # It is kept in the access log, a text column that cannot hold U+0000.
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                "operationName must not contain U+0000 or unpaired surrogates",
            )
        return data

    async def execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: Any,
        request_data: Any,
    ) -> Any:
        # Trusted documents: a carer's request runs only a manifest document named by id.
        document = _document_to_run(
            context,
            DocumentRequest(
                query=request_data.query,
                document_id=await _requested_document_id(request),
                extensions=request_data.extensions,
            ),
        )
        if document is not None:
            request_data.query = document.query
            context.document_id = document.document_id
        # Kept for the access log; OperationMetrics fills it from the document when absent.
        context.operation_name = (request_data.operation_name or "")[:100] or None
        try:
            return await super().execute_single(
                request=request,
                request_adapter=request_adapter,
                sub_response=sub_response,
                context=context,
                root_value=root_value,
                request_data=request_data,
            )
        except HTTPException as exc:
            mutation_over_get = (
                request_adapter.method == "GET"
                and exc.status_code == status.HTTP_400_BAD_REQUEST
                and "GET" in exc.reason
            )
            if mutation_over_get:
                raise HTTPException(
                    status.HTTP_405_METHOD_NOT_ALLOWED, "mutations are sent with POST"
                ) from exc
            raise

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        state: dict[str, Any] = request.scope.get("state", {})
        context: Context | None = state.get("graphql_context")
        sub_response: _SubResponse | None = state.get("sub_response")
        if context is not None and context.audit.has_reads:
            try:
                await _write_access_log(context)
            except Exception:
                log.exception("access_log.write_failed", request_id=context.request_id)
                return {
                    "data": None,
                    "errors": [
                        {
                            "message": "access to personal data could not be recorded, "
                            "so none is returned",
                            "extensions": {
                                "code": "AUDIT_UNAVAILABLE",
                                "reference": context.request_id,
                            },
                        }
                    ],
                }
        response = process_result(result)
        if (
            sub_response is not None
            and sub_response.media_type == GRAPHQL_RESPONSE_JSON
            and _is_request_error(result)
        ):
            response.pop("data", None)
            sub_response.status_code = status.HTTP_400_BAD_REQUEST
        return response

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        media_type = sub_response.media_type or JSON
        response = Response(
            self.encode_json(response_data),
            status_code=sub_response.status_code or status.HTTP_200_OK,
            media_type=media_type,
        )
        for key, value in sub_response.headers.items():
            if key.lower() != "content-type":
                response.headers[key] = value
        return response

    # --- websockets ---------------------------------------------------------------------------

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate from `connection_init` (browsers cannot set headers on websockets):
        `{"authorization": "Bearer <token>"}`. A bad or missing token closes with 4403; a
        good one closes the socket when it expires."""
        params = context.connection_params or {}
        raw = params.get("authorization") or params.get("Authorization") or params.get("token")
        if not isinstance(raw, str) or not raw.strip():
            raise ConnectionRejectionError(
                {"message": "connection_init must carry an authorization token"}
            )
        token = raw.strip().removeprefix("Bearer ").strip()
        try:
            context.principal = await context.authenticator.authenticate(token)
        except (TokenError, HubError) as exc:
            log.info("ws.refused", code=exc.code)
            raise ConnectionRejectionError({"message": exc.message, "code": exc.code}) from exc
        purpose = params.get("purpose")
        context.purpose = purpose if isinstance(purpose, str) else None
        if isinstance(context.request, WebSocket):
            delay = (context.principal.expires_at - context.clock.now()).total_seconds()
            asyncio.get_running_loop().call_later(
                max(delay, 0), lambda: asyncio.ensure_future(_close_expired(context.request))
            )
        return {"role": context.principal.role.value}


async def _close_expired(websocket: Request | WebSocket) -> None:
    if isinstance(websocket, WebSocket):
        with contextlib.suppress(Exception):
            await websocket.close(code=4403, reason="token expired")


async def _write_access_log(context: Context) -> None:
    principal = context.require_principal()
    async with unit_of_work(context.sessions) as session:
        await record_access(
            session,
            context.audit,
            principal=principal,
            operation_name=context.operation_name,
            purpose=context.purpose,
            request_id=context.request_id,
        )
    context.audit.clear()


def _document_to_run(context: Context, request: DocumentRequest) -> RunnableDocument | None:
    """What to execute; carers may not send their own text (`DocumentRefused` says why),
    unless a development or test hub lets them (`HUB_MOBILE_CARER_RAW_DOCUMENTS`)."""
    role = context.principal.role if context.principal is not None else None
    return trusted_documents().document_to_run(
        request, raw_text_allowed=raw_text_allowed(context.settings, role)
    )


async def _requested_document_id(request: Request) -> object:
    """`documentId` from the query string (GET) or the JSON body (POST). The body is parsed
    again only when it mentions `documentId` (Starlette keeps the bytes read once)."""
    if request.method == "GET":
        return request.query_params.get("documentId")
    body = await request.body()
    if b'"documentId"' not in body:
        return None
    with contextlib.suppress(ValueError):
        decoded = json.loads(body)
        if isinstance(decoded, dict):
            return decoded.get("documentId")
    return None


def _refusal_error(refusal: DocumentRefused) -> GraphQLFormattedError:
    return GraphQLError(refusal.message, extensions={"code": refusal.code}).formatted


def _refused_response(refusal: DocumentRefused, request: Request) -> Response:
    """One GraphQL error and no `data` (nothing ran): 200 under application/json, 400 under
    application/graphql-response+json, as for any other request error."""
    media_type = negotiate_media_type(request.headers.get("accept")) or JSON
    status_code = (
        status.HTTP_400_BAD_REQUEST if media_type == GRAPHQL_RESPONSE_JSON else status.HTTP_200_OK
    )
    log.info("graphql.document_refused", code=refusal.code)
    return JSONResponse(
        {"errors": [_refusal_error(refusal)]}, status_code=status_code, media_type=media_type
    )


def _error_response(status_code: int, reason: str, request: Request) -> Response:
    headers = {"allow": "POST"} if status_code == status.HTTP_405_METHOD_NOT_ALLOWED else None
    media_type = negotiate_media_type(request.headers.get("accept")) or JSON
    return JSONResponse(
        {"errors": [{"message": reason, "extensions": {"code": _code_for(status_code)}}]},
        status_code=status_code,
        headers=headers,
        media_type=media_type,
    )


def _code_for(status_code: int) -> str:
    return {
        400: "BAD_REQUEST",
        404: "NOT_FOUND",
        405: "METHOD_NOT_ALLOWED",
        406: "NOT_ACCEPTABLE",
        415: "UNSUPPORTED_MEDIA_TYPE",
    }.get(status_code, "HTTP_ERROR")
