"""The FHIR R4 endpoint, mounted at ``/fhir`` (see `capability.py` for what it offers):

    GET  /fhir/metadata                 CapabilityStatement (no token needed)
    POST /fhir/ServiceRequest           a referral: ServiceRequest (contained Patient), or a
                                        collection / transaction Bundle      referrals:write
    POST /fhir/$process-message         a BaRS referral request message      referrals:write
    GET  /fhir/ServiceRequest/{id}      the referral as it was received      referrals:read
    GET  /fhir/Task/{id}                the referral's progress              referrals:read
    GET  /fhir/Task?focus=ServiceRequest/{id} | identifier=system|value      referrals:read

Every answer is FHIR JSON (``application/fhir+json``); every refusal is an OperationOutcome with
a fitting status: 400 malformed, 401 no token, 403 role or scope, 404 unknown, 405 method, 406
not JSON wanted, 409 identifier clash, 415 not JSON sent, 422 a referral rule, 500 with a
reference to the log. A created referral answers 201 with ``Location``; a re-send answers 200
with the referral already held.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from hub.auth.http import RequestBodyTooLarge
from hub.auth.principal import Principal
from hub.fhir import access, service
from hub.fhir.capability import capability_statement
from hub.fhir.models import Interaction
from hub.fhir.outcome import FhirProblem, OutcomeIssue, error, information, operation_outcome
from hub.fhir.service import IntakeRejected, ReadContext, RejectionKind
from hub.kit import json_input
from hub.kit.ids import uuid7
from hub.logging import get_logger
from hub.runtime import Runtime

log = get_logger(__name__)

FHIR_JSON = "application/fhir+json"
# What senders may declare: FHIR's own type, plain JSON, and the pre-R4 spelling some still use.
_ACCEPTED_BODY_TYPES = frozenset({FHIR_JSON, "application/json", "application/json+fhir"})
_ACCEPTABLE_ANSWERS = frozenset(
    {FHIR_JSON, "application/json", "application/json+fhir", "application/*", "*/*"}
)
_FORMATS = frozenset({"json", FHIR_JSON, "application/json", "application/json+fhir"})
_STATUS_FOR: Mapping[RejectionKind, int] = {
    RejectionKind.MALFORMED: 400,
    RejectionKind.UNPROCESSABLE: 422,
    RejectionKind.CONFLICT: 409,
    RejectionKind.FORBIDDEN: 403,
}
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
DEFAULT_COUNT = 20
MAX_COUNT = 100

Handler = Callable[[Request], Awaitable[Response]]


def fhir_routes() -> list[BaseRoute]:
    """The routes to mount; `hub.app` adds ``Mount("/fhir", routes=fhir_routes())``."""
    return [
        Mount(
            "/fhir",
            routes=[
                _route("/metadata", {"GET": metadata}),
                _route("/ServiceRequest", {"POST": create_service_request}),
                _route("/$process-message", {"POST": process_message}),
                _route("/ServiceRequest/{id}", {"GET": read_service_request}),
                _route("/Task", {"GET": search_tasks}),
                _route("/Task/{id}", {"GET": read_task}),
                _route("/{rest:path}", {}),
            ],
        )
    ]


def _route(path: str, handlers: Mapping[str, Handler]) -> Route:
    """One path, every method: those it does not serve answer 405 as FHIR (Starlette's own
    405 is plain text)."""

    async def endpoint(request: Request) -> Response:
        handler = handlers.get(request.method)
        try:
            if not handlers:
                raise FhirProblem(
                    404,
                    [
                        error(
                            "not-supported",
                            f"{request.url.path} is not part of this FHIR endpoint; see "
                            "/fhir/metadata",
                            detail_code="unknown-path",
                        )
                    ],
                )
            if handler is None:
                allowed = ", ".join(sorted(handlers))
                raise FhirProblem(
                    405,
                    [
                        error(
                            "not-supported",
                            f"{request.method} is not supported here; use {allowed}",
                            detail_code="method-not-allowed",
                        )
                    ],
                    headers={"Allow": allowed},
                )
            _check_accept(request)
            return await handler(request)
        except FhirProblem as problem:
            return outcome_response(problem.status, problem.issues, problem.headers)
        except IntakeRejected as rejected:
            return outcome_response(_STATUS_FOR[rejected.kind], rejected.issues)
        except RequestBodyTooLarge:
            raise  # BodyLimitMiddleware answers 413 (as FHIR, through FhirErrorMiddleware).
        except Exception:
            reference = _request_id(request)
            log.exception("fhir.unexpected_error", path=request.url.path, reference=reference)
            return outcome_response(
                500,
                [
                    error(
                        "exception",
                        f"Unexpected error. Reference: {reference}",
                        detail_code="unexpected",
                    )
                ],
            )

    return Route(
        path,
        endpoint,
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )


# --- responses -------------------------------------------------------------------------------


def fhir_response(
    status: int, resource: Mapping[str, Any] | None, headers: Mapping[str, str] | None = None
) -> Response:
    body = b"" if resource is None else json.dumps(resource, ensure_ascii=False).encode()
    return Response(body, status_code=status, media_type=FHIR_JSON, headers=dict(headers or {}))


def outcome_response(
    status: int, issues: Iterable[OutcomeIssue], headers: Mapping[str, str] | None = None
) -> Response:
    return fhir_response(status, operation_outcome(issues), headers)


# --- handlers --------------------------------------------------------------------------------


async def metadata(request: Request) -> Response:
    return fhir_response(200, capability_statement(base_url=_base_url(request)))


async def create_service_request(request: Request) -> Response:
    return await _receive(request, Interaction.CREATE)


async def process_message(request: Request) -> Response:
    return await _receive(request, Interaction.PROCESS_MESSAGE)


async def _receive(request: Request, interaction: Interaction) -> Response:
    principal = access.require(_principal(request), access.SENDERS, access.WRITE_SCOPE)
    content_type = _body_type(request)
    body = await request.body()
    _check_readable(body)
    runtime = _runtime(request)
    accepted = await service.receive(
        runtime.sessions,
        principal=principal,
        clock=runtime.clock,
        body=body,
        content_type=content_type,
        interaction=interaction,
    )
    referral_id = accepted.referral.id
    status = 201 if accepted.created else 200
    location = f"{_base_url(request)}/ServiceRequest/{referral_id}"
    headers = {"Location": location} if accepted.created else {"Content-Location": location}
    received = information(
        "informational",
        f"{'received' if accepted.created else 'already held'} as ServiceRequest/"
        f"{referral_id} (reference {accepted.referral.reference}); follow its progress at "
        f"Task/{referral_id}",
        detail_code="referral-received" if accepted.created else "referral-held",
    )
    outcome = operation_outcome([*accepted.issues, received])
    if interaction is Interaction.PROCESS_MESSAGE:
        reader = _reader(request, principal, "fhir:$process-message")
        task = await service.task(runtime.sessions, reader, referral_id)
        reply = _response_message(
            json.loads(body), outcome, task, base_url=_base_url(request), now=runtime.clock.now()
        )
        return fhir_response(status, reply, headers)
    prefer = _prefer_return(request)
    if prefer == "minimal":
        return fhir_response(status, None, headers)
    if prefer == "representation":
        reader = _reader(request, principal, "fhir:ServiceRequest.create")
        resource = await service.received_service_request(runtime.sessions, reader, referral_id)
        return fhir_response(status, resource, headers)
    return fhir_response(status, outcome, headers)


async def read_service_request(request: Request) -> Response:
    principal = access.require(_principal(request), access.READERS, access.READ_SCOPE)
    referral_id = _path_id(request)
    resource = None
    if referral_id is not None:
        resource = await service.received_service_request(
            _runtime(request).sessions,
            _reader(request, principal, "fhir:ServiceRequest.read"),
            referral_id,
        )
    if resource is None:
        raise _not_found("ServiceRequest", request.path_params["id"])
    return fhir_response(200, resource)


async def read_task(request: Request) -> Response:
    principal = access.require(_principal(request), access.READERS, access.READ_SCOPE)
    referral_id = _path_id(request)
    task = None
    if referral_id is not None:
        task = await service.task(
            _runtime(request).sessions, _reader(request, principal, "fhir:Task.read"), referral_id
        )
    if task is None:
        raise _not_found("Task", request.path_params["id"])
    return fhir_response(200, task)


async def search_tasks(request: Request) -> Response:
    principal = access.require(_principal(request), access.READERS, access.READ_SCOPE)
    params = request.query_params
    unknown = sorted(set(params) - {"focus", "identifier", "_count", "_format"})
    if unknown:
        raise FhirProblem(
            400,
            [
                error(
                    "not-supported",
                    f"unknown search parameter {unknown[0]!r}; Task is searched by focus or "
                    "identifier",
                    expression=unknown[0],
                    detail_code="unknown-search-parameter",
                )
            ],
        )
    count = _count(params.get("_count"))
    reader = _reader(request, principal, "fhir:Task.search")
    sessions = _runtime(request).sessions
    if "focus" in params:
        if not params["focus"].strip():
            raise FhirProblem(
                400,
                [
                    error(
                        "value",
                        "focus needs a value: focus=ServiceRequest/<id>",
                        expression="focus",
                        detail_code="invalid-reference",
                    )
                ],
            )
        focus = _focus_id(params["focus"])
        found = await service.tasks(sessions, reader, [focus]) if focus is not None else []
    elif "identifier" in params:
        system, value = _token(params["identifier"])
        found = await service.tasks_by_identifier(sessions, reader, system, value, limit=count)
    else:
        raise FhirProblem(
            400,
            [
                error(
                    "required",
                    "search Task by focus=ServiceRequest/<id> or identifier=<system>|<value>",
                    detail_code="search-parameter-missing",
                )
            ],
        )
    base = _base_url(request)
    bundle = {
        "resourceType": "Bundle",
        "id": str(uuid7()),
        "type": "searchset",
        "total": len(found),
        "link": [{"relation": "self", "url": str(request.url)}],
        "entry": [
            {"fullUrl": f"{base}/Task/{task['id']}", "resource": task, "search": {"mode": "match"}}
            for task in found[:count]
        ],
    }
    return fhir_response(200, bundle)


# --- helpers ---------------------------------------------------------------------------------


def _response_message(
    request_message: Mapping[str, Any],
    outcome: Mapping[str, Any],
    task: Mapping[str, Any] | None,
    *,
    base_url: str,
    now: datetime,
) -> dict[str, Any]:
    """The synchronous answer to a message: a response message Bundle whose MessageHeader
    points back at the request (``response.identifier``) with code ``ok``, carrying the
    OperationOutcome (warnings included) and the referral's Task."""
    entries = request_message.get("entry") or []
    header = entries[0].get("resource", {}) if entries else {}
    request_id = header.get("id")
    if not (isinstance(request_id, str) and _FHIR_ID.match(request_id)):
        identifier = (request_message.get("identifier") or {}).get("value")
        request_id = (
            identifier if isinstance(identifier, str) and _FHIR_ID.match(identifier) else None
        )
    header_id, outcome_id = str(uuid7()), str(uuid7())
    reply_header: dict[str, Any] = {
        "resourceType": "MessageHeader",
        "id": header_id,
        "eventCoding": header.get("eventCoding")
        or {
            "system": "https://fhir.nhs.uk/CodeSystem/message-events-bars",
            "code": "servicerequest-request",
        },
        "source": {"name": "Care Hub", "endpoint": f"{base_url}/$process-message"},
        "response": {
            "identifier": request_id or header_id,
            "code": "ok",
            "details": {"reference": f"urn:uuid:{outcome_id}"},
        },
    }
    source = header.get("source") or {}
    if isinstance(source.get("endpoint"), str):
        reply_header["destination"] = [{"endpoint": source["endpoint"]}]
    reply_entries: list[dict[str, Any]] = [
        {"fullUrl": f"urn:uuid:{header_id}", "resource": reply_header},
        {"fullUrl": f"urn:uuid:{outcome_id}", "resource": {**outcome, "id": outcome_id}},
    ]
    if task is not None:
        reply_header["focus"] = [{"reference": f"{base_url}/Task/{task['id']}"}]
        reply_entries.append({"fullUrl": f"{base_url}/Task/{task['id']}", "resource": task})
    reply = {
        "resourceType": "Bundle",
        "id": str(uuid7()),
        "type": "message",
        "timestamp": now.isoformat(),
        "entry": reply_entries,
    }
    # Never send a partner something that is not valid R4.
    Bundle.model_validate(reply)
    return reply


def _check_accept(request: Request) -> None:
    wanted = request.query_params.get("_format")
    if wanted is not None and wanted not in _FORMATS:
        raise FhirProblem(
            406,
            [
                error(
                    "not-supported",
                    f"_format={wanted} is not served; this endpoint speaks FHIR JSON only",
                    expression="_format",
                    detail_code="format-not-supported",
                )
            ],
        )
    accept = request.headers.get("accept")
    if accept is None:
        return
    types = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    if not types & _ACCEPTABLE_ANSWERS:
        raise FhirProblem(
            406,
            [
                error(
                    "not-supported",
                    f"cannot answer as {accept}; this endpoint speaks {FHIR_JSON} only",
                    detail_code="not-acceptable",
                )
            ],
        )


def _body_type(request: Request) -> str:
    declared = request.headers.get("content-type", "")
    media_type, _, parameters = declared.partition(";")
    media_type = media_type.strip().lower()
    charset = next(
        (
            value.strip().strip('"').lower()
            for name, _, value in (item.partition("=") for item in parameters.split(";"))
            if name.strip().lower() == "charset"
        ),
        "utf-8",
    )
    if media_type not in _ACCEPTED_BODY_TYPES or charset not in ("utf-8", "utf8"):
        raise FhirProblem(
            415,
            [
                error(
                    "not-supported",
                    f"send {FHIR_JSON} (or application/json) in UTF-8; got "
                    f"{declared or 'no Content-Type'}",
                    detail_code="unsupported-media-type",
                )
            ],
        )
    return declared


def _check_readable(body: bytes) -> None:
    """Refuse, as 400, JSON nested too deep to walk safely and text PostgreSQL cannot store
    (U+0000, unpaired surrogates), before the intake service reads it. Other faults (not
    UTF-8, not JSON) are left to the service, which words them for FHIR senders."""
    try:
        document = json_input.loads(body)
    except json_input.JsonTooDeep as too_deep:
        raise FhirProblem(
            400, [error("structure", too_deep.reason, detail_code="too-deep")]
        ) from None
    except json_input.UnreadableJson:
        return
    kind = document.get("resourceType") if isinstance(document, dict) else None
    where = json_input.unstorable_path(document, kind if isinstance(kind, str) else "$")
    if where is not None:
        raise FhirProblem(
            400,
            [
                error(
                    "value",
                    f"{where} contains U+0000 (NUL) or an unpaired surrogate, which FHIR "
                    "strings may not hold",
                    expression=where,
                    detail_code="nul-character",
                )
            ],
        )


def _prefer_return(request: Request) -> str | None:
    for item in request.headers.get("prefer", "").split(","):
        name, _, value = item.strip().partition("=")
        if name.strip().lower() == "return":
            return value.strip().strip('"').lower()
    return None


def _count(value: str | None) -> int:
    if value is None:
        return DEFAULT_COUNT
    if not value.isdigit() or not 1 <= int(value) <= MAX_COUNT:
        raise FhirProblem(
            400,
            [
                error(
                    "value",
                    f"_count must be a whole number from 1 to {MAX_COUNT}",
                    expression="_count",
                    detail_code="invalid-count",
                )
            ],
        )
    return int(value)


def _focus_id(value: str) -> uuid.UUID | None:
    kind, _, identity = value.rpartition("/")
    if kind and kind.rpartition("/")[2] != "ServiceRequest":
        return None
    return _uuid(identity)


def _token(value: str) -> tuple[str | None, str]:
    system, bar, code = value.partition("|")
    if not bar:
        if not value.strip():
            # An empty search value would match nothing and look like "no such referral".
            raise FhirProblem(
                400,
                [
                    error(
                        "value",
                        "identifier needs a value: identifier=<system>|<value> or "
                        "identifier=<value>",
                        expression="identifier",
                        detail_code="invalid-token",
                    )
                ],
            )
        return None, value
    if not code:
        raise FhirProblem(
            400,
            [
                error(
                    "value",
                    "identifier needs a value: identifier=<system>|<value>",
                    expression="identifier",
                    detail_code="invalid-token",
                )
            ],
        )
    return system or None, code


def _path_id(request: Request) -> uuid.UUID | None:
    return _uuid(str(request.path_params["id"]))


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _not_found(kind: str, value: str) -> FhirProblem:
    return FhirProblem(
        404,
        [
            error(
                "not-found",
                f"no {kind}/{value} that you may see",
                detail_code="not-found",
            )
        ],
    )


def _principal(request: Request) -> Principal | None:
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    return principal


def _reader(request: Request, principal: Principal, operation: str) -> ReadContext:
    return ReadContext(
        principal=principal,
        purpose=request.headers.get("x-purpose-of-use"),
        request_id=_request_id(request),
        operation=operation,
    )


def _request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _base_url(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}/fhir"
