"""Malformed requests answer 4xx, never 500, and log nothing at ERROR, on every route, signed
in or not. Bodies go over real HTTP on loopback (uvicorn's h11 parser, as in production), sent
as raw bytes: not UTF-8, JSON nested thousands deep, chunked past the size cap, and text with
U+0000, which PostgreSQL cannot store."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets
from starlette.applications import Starlette

from connectors.supplier_rest.reference_server import DEFAULT_WEBHOOK_SECRET
from connectors.webhooks import SIGNATURE_HEADER, sign
from hub.accounts.models import Role
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.kit.json_input import MAX_DEPTH
from hub.kit.time import FixedClock
from tests.fhir.conftest import make_partner, payload
from tests.integrations.conftest import CONNECTOR, ENVIRON, make_world
from tests.support.identity import Identities
from tests.support.loopback import error_log, raw_request, serving

JSON = "application/json"
FHIR_JSON = "application/fhir+json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
GRAPHQL_WS = websockets.Subprotocol("graphql-transport-ws")


@dataclass
class Callers:
    """Base URL of the live server, and a token for each door (None: anonymous)."""

    url: str
    staff: str | None
    partner: str | None
    clock: FixedClock

    def auth(self, token: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {token}"} if token else {}


@pytest.fixture(params=["anonymous", "signed-in"])
async def callers(
    request: pytest.FixtureRequest,
    app: Starlette,
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
    provider: uuid.UUID,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Callers]:
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    await make_world(sessions, clock, "http://127.0.0.1:9")
    signed_in = request.param == "signed-in"
    staff = await identities.token(Role.ADMIN) if signed_in else None
    partner = (
        (await make_partner(http, identities, sessions, ods_code="Y12345")).token
        if signed_in
        else None
    )
    async with serving(app) as url:
        yield Callers(url, staff, partner, clock)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


async def post(
    url: str, path: str, body: Any, headers: dict[str, str]
) -> tuple[httpx.Response, list[str]]:
    """POST `body` (bytes, or an async iterator of chunks: chunked transfer) and collect what
    was logged at ERROR while the hub answered."""
    with error_log() as errors:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            response = await client.post(path, content=body, headers=headers)
    return response, errors.entries


def signed(body: bytes, clock: FixedClock) -> dict[str, str]:
    return {
        "content-type": JSON,
        SIGNATURE_HEADER: sign(
            body, DEFAULT_WEBHOOK_SECRET, timestamp=int(clock.now().timestamp())
        ),
    }


# --- not UTF-8 -------------------------------------------------------------------------------

NOT_UTF8 = b'{"query": "{ __typename }", "operationName": "caf\xe9"}'


async def test_a_body_that_is_not_utf8_is_a_400_on_graphql(callers: Callers) -> None:
    for accept in (JSON, GRAPHQL_RESPONSE):
        headers = {"content-type": JSON, "accept": accept, **callers.auth(callers.staff)}
        response, errors = await post(callers.url, "/graphql", NOT_UTF8, headers)
        assert response.status_code == 400, response.text
        assert "not UTF-8" in response.json()["errors"][0]["message"]
        assert errors == []


async def test_a_body_that_is_not_utf8_over_a_raw_socket_is_a_400(callers: Callers) -> None:
    auth = "".join(f"{k}: {v}\r\n" for k, v in callers.auth(callers.staff).items())
    request = (
        f"POST /graphql HTTP/1.1\r\nhost: localhost\r\ncontent-type: {JSON}\r\n{auth}"
        f"content-length: {len(NOT_UTF8)}\r\nconnection: close\r\n\r\n"
    ).encode() + NOT_UTF8
    with error_log() as errors:
        status, answer = await raw_request(callers.url, request)
    assert status == 400, answer
    assert errors.entries == []


async def test_a_body_that_is_not_utf8_is_a_4xx_on_fhir_and_webhooks(callers: Callers) -> None:
    fhir_headers = {"content-type": FHIR_JSON, **callers.auth(callers.partner)}
    body = b'{"resourceType": "ServiceRequest", "status": "activ\xe9"}'
    response, errors = await post(callers.url, "/fhir/ServiceRequest", body, fhir_headers)
    assert response.status_code == (400 if callers.partner else 401), response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert errors == []

    body = b'{"delivery_id": "d\xff"}'
    response, errors = await post(
        callers.url, f"/webhooks/{CONNECTOR}", body, signed(body, callers.clock)
    )
    # Signed: the delivery is kept and answered as rejected (the supplier must not resend it).
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "rejected"
    assert errors == []


# --- JSON nested thousands deep --------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 900, 5000, 100_000])
@pytest.mark.parametrize("member", ["query", "variables", "extensions"])
async def test_json_nested_deep_is_a_400_on_graphql(
    callers: Callers, member: str, depth: int
) -> None:
    document: dict[str, str] = {"query": '"{ __typename }"'}
    document[member] = '{"a": ' + nested(depth) + "}" if member != "query" else nested(depth)
    body = ("{" + ", ".join(f'"{k}": {v}' for k, v in document.items()) + "}").encode()
    headers = {"content-type": JSON, **callers.auth(callers.staff)}
    response, errors = await post(callers.url, "/graphql", body, headers)
    assert response.status_code == 400, response.text[:300]
    assert f"nested more than {MAX_DEPTH}" in response.json()["errors"][0]["message"]
    assert errors == []


async def test_json_nested_deep_in_a_get_is_a_400(callers: Callers) -> None:
    with error_log() as errors:
        async with httpx.AsyncClient(base_url=callers.url) as client:
            response = await client.get(
                "/graphql",
                params={"query": "{ __typename }", "variables": '{"a": ' + nested(5000) + "}"},
                headers=callers.auth(callers.staff),
            )
    assert response.status_code == 400, response.text[:300]
    assert errors.entries == []


async def test_json_nested_as_deep_as_allowed_is_still_read(callers: Callers) -> None:
    # The body object is level 1, `extensions` 2, `a` and its arrays the remaining 62.
    body = json.dumps(
        {"query": "{ __typename }", "extensions": {"a": json.loads(nested(MAX_DEPTH - 2))}}
    ).encode()
    response, errors = await post(
        callers.url, "/graphql", body, {"content-type": JSON, **callers.auth(callers.staff)}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"__typename": "Query"}}
    assert errors == []


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 900, 5000])
@pytest.mark.parametrize("path", ["ServiceRequest", "$process-message"])
async def test_json_nested_deep_is_a_400_on_fhir(callers: Callers, path: str, depth: int) -> None:
    body = ('{"resourceType": "Bundle", "extension": ' + nested(depth) + "}").encode()
    headers = {"content-type": FHIR_JSON, **callers.auth(callers.partner)}
    response, errors = await post(callers.url, f"/fhir/{path}", body, headers)
    assert response.status_code == (400 if callers.partner else 401), response.text[:300]
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    if callers.partner:
        assert f"nested more than {MAX_DEPTH}" in outcome["issue"][0]["diagnostics"]
    assert errors == []


async def test_json_nested_deep_is_kept_and_rejected_on_webhooks(callers: Callers) -> None:
    body = nested(5000).encode()
    response, errors = await post(
        callers.url, f"/webhooks/{CONNECTOR}", body, signed(body, callers.clock)
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "rejected"
    assert errors == []


# --- chunked past the cap --------------------------------------------------------------------


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * size
        sent += size


@pytest.mark.parametrize(
    "path", ["/graphql", "/fhir/ServiceRequest", "/fhir/$process-message", "/webhooks/x"]
)
async def test_a_chunked_body_over_the_cap_is_a_413_everywhere(
    callers: Callers, settings: Settings, path: str
) -> None:
    token = callers.partner if path.startswith("/fhir") else callers.staff
    content_type = FHIR_JSON if path.startswith("/fhir") else JSON
    if path == "/webhooks/x":
        path = f"/webhooks/{CONNECTOR}"
    headers = {"content-type": content_type, **callers.auth(token)}
    response, errors = await post(
        callers.url, path, chunks(settings.max_request_bytes * 2), headers
    )
    if path.startswith("/fhir") and token is None:
        assert response.status_code == 401  # refused before the body is read
    else:
        assert response.status_code == 413, response.text[:300]
        if path.startswith("/fhir"):
            outcome = response.json()
            assert outcome["resourceType"] == "OperationOutcome"
            assert outcome["issue"][0]["code"] == "too-costly"
    assert errors == []


async def test_a_chunked_body_over_the_cap_over_a_raw_socket_is_a_413(
    callers: Callers, settings: Settings
) -> None:
    chunk = b" " * 65536
    framed = b"".join(
        b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        for _ in range(settings.max_request_bytes // len(chunk) + 2)
    )
    auth = "".join(f"{k}: {v}\r\n" for k, v in callers.auth(callers.partner).items())
    request = (
        (
            f"POST /fhir/ServiceRequest HTTP/1.1\r\nhost: localhost\r\n"
            f"content-type: {FHIR_JSON}\r\n{auth}transfer-encoding: chunked\r\n\r\n"
        ).encode()
        + framed
        + b"0\r\n\r\n"
    )
    with error_log() as errors:
        status, answer = await raw_request(callers.url, request)
    assert status == (413 if callers.partner else 401), answer[:300]
    assert errors.entries == []


# --- U+0000 ----------------------------------------------------------------------------------

REGISTER = """
mutation Register($input: RegisterAccountInput!) {
  registerAccount(input: $input) { __typename }
}"""


async def graphql(
    callers: Callers, query: str, variables: dict[str, Any] | None = None
) -> tuple[httpx.Response, list[str]]:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    headers = {"content-type": JSON, **callers.auth(callers.staff)}
    return await post(callers.url, "/graphql", body, headers)


def refusal(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None, body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT", error
    found: dict[str, Any] = error
    return found


async def test_nul_in_a_mutation_variable_is_invalid_input_naming_the_field(
    callers: Callers,
) -> None:
    account = {"subject": "s", "role": "ADMIN", "displayName": "Ann\x00Smith"}
    response, errors = await graphql(callers, REGISTER, {"input": account})
    error = refusal(response)
    assert error["extensions"]["field"] == "registerAccount.input.displayName"
    assert "U+0000" in error["message"]
    assert errors == []


async def test_an_unpaired_surrogate_in_a_variable_is_invalid_input_naming_the_field(
    callers: Callers,
) -> None:
    # json.dumps writes it as the escape \\ud800, which JSON allows and UTF-8 cannot encode.
    account = {"subject": "s", "role": "ADMIN", "displayName": "Ann", "scopes": ["a\ud800"]}
    response, errors = await graphql(callers, REGISTER, {"input": account})
    assert refusal(response)["extensions"]["field"] == "registerAccount.input.scopes[0]"
    assert errors == []


async def test_nul_in_a_literal_list_item_is_invalid_input_naming_the_field(
    callers: Callers,
) -> None:
    query = """mutation { renamed: registerAccount(input: {subject: "s", role: ADMIN,
      displayName: "Ann", scopes: ["a", "b\\u0000"]}) { __typename } }"""
    response, errors = await graphql(callers, query)
    error = refusal(response)
    assert error["extensions"]["field"] == "renamed.input.scopes[1]"
    assert errors == []


async def test_nul_in_a_query_argument_through_a_fragment_is_invalid_input(
    callers: Callers,
) -> None:
    query = """query Find($s: String = "x\\u0000") { ...People }
      fragment People on Query { people(search: $s) { nodes { id } } }"""
    for variables in ({}, {"s": "Ann\x00"}):
        response, errors = await graphql(callers, query, variables)
        assert refusal(response)["extensions"]["field"] == "people.search"
        assert errors == []


async def test_nul_in_an_operation_name_is_a_400(callers: Callers) -> None:
    body = json.dumps({"query": "query A { __typename }", "operationName": "A\x00"}).encode()
    response, errors = await post(
        callers.url, "/graphql", body, {"content-type": JSON, **callers.auth(callers.staff)}
    )
    assert response.status_code == 400, response.text
    assert errors == []


async def test_nul_in_a_fhir_string_is_a_400_naming_the_element(callers: Callers) -> None:
    referral = payload("gp_referral")
    referral["note"] = [{"text": "call first\x00"}]
    headers = {"content-type": FHIR_JSON, **callers.auth(callers.partner)}
    response, errors = await post(
        callers.url, "/fhir/ServiceRequest", json.dumps(referral).encode(), headers
    )
    assert response.status_code == (400 if callers.partner else 401), response.text
    if callers.partner:
        (issue,) = response.json()["issue"]
        assert issue["expression"] == ["ServiceRequest.note[0].text"]
    assert errors == []


async def test_an_unpaired_surrogate_in_a_fhir_key_is_a_400(callers: Callers) -> None:
    body = b'{"resourceType": "ServiceRequest", "note": [{"text": "ok", "x\\udc00": 1}]}'
    headers = {"content-type": FHIR_JSON, **callers.auth(callers.partner)}
    response, errors = await post(callers.url, "/fhir/ServiceRequest", body, headers)
    assert response.status_code == (400 if callers.partner else 401), response.text
    if callers.partner:
        (issue,) = response.json()["issue"]
        assert issue["expression"] == ["ServiceRequest.note[0].x?"]
    assert errors == []


# --- any other route -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/nowhere", "/fhir/Patient"])
async def test_other_routes_answer_malformed_bodies_with_4xx(callers: Callers, path: str) -> None:
    for body in (NOT_UTF8, nested(5000).encode()):
        response, errors = await post(
            callers.url, path, body, {"content-type": JSON, **callers.auth(callers.staff)}
        )
        assert 400 <= response.status_code < 500, (path, response.status_code)
        assert errors == []


# --- websockets --------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000])
async def test_a_websocket_message_nested_deep_closes_with_4400(
    callers: Callers, depth: int
) -> None:
    """Websockets need a token in `connection_init`: anonymously the deep message is that
    first message; signed in, it follows the acknowledgement."""
    url = callers.url.replace("http://", "ws://") + "/graphql"
    deep = '{"type": "%s", "payload": {"a": ' + nested(depth) + "}}"
    with error_log() as errors:
        async with websockets.connect(url, subprotocols=[GRAPHQL_WS]) as socket:
            if callers.staff:
                init = {"authorization": f"Bearer {callers.staff}"}
                await socket.send(json.dumps({"type": "connection_init", "payload": init}))
                assert json.loads(await socket.recv())["type"] == "connection_ack"
                await socket.send(deep % "ping")
            else:
                await socket.send(deep % "connection_init")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await socket.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4400
    assert errors.entries == []
