"""The OpenAPI document, the reference server and the samples agree with each other, and the
server's own error semantics follow the contract."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from connectors.supplier_rest.reference_server import (
    DEFAULT_TOKEN,
    FEED_PATHS,
    create_app,
    decode_cursor,
    seed_records,
)
from tests.connectors.servers import bind_loopback

ROOT = Path(__file__).parents[3] / "connectors/supplier_rest"
SPEC: dict[str, Any] = yaml.safe_load((ROOT / "openapi.yaml").read_text())
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
ITEM_SCHEMAS = {
    "staff": "StaffMember",
    "packages": "CarePackage",
    "visits": "Visit",
    "rota_changes": "RotaChange",
    "visit_events": "VisitEvent",
}


def schema(name: str) -> dict[str, Any]:
    found: dict[str, Any] = SPEC["components"]["schemas"][name]
    return found


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema(node["$ref"].rsplit("/", 1)[1])
    return node


def conformance_problems(item: dict[str, Any], name: str, *, strict: bool) -> list[str]:
    """A small structural check (required, known properties, enums, nested objects and
    arrays): enough to catch drift between the document and the code, without a JSON Schema
    dependency."""
    spec = resolve(schema(name))
    problems = [f"{name}: missing {key}" for key in spec.get("required", []) if key not in item]
    properties: dict[str, Any] = spec["properties"]
    for key, value in item.items():
        if key not in properties:
            if strict:
                problems.append(f"{name}: {key} is not in the contract")
            continue
        declared = properties[key]
        prop = resolve(declared)
        if "$ref" in declared and prop.get("type") == "object" and isinstance(value, dict):
            problems += conformance_problems(
                value, declared["$ref"].rsplit("/", 1)[1], strict=strict
            )
        if "enum" in prop and value not in prop["enum"]:
            problems.append(f"{name}.{key}: {value!r} not in {prop['enum']}")
        if prop.get("type") == "array" and isinstance(value, list):
            items = prop["items"]
            if "$ref" in items and isinstance(items, dict):
                target = items["$ref"].rsplit("/", 1)[1]
                if resolve(schema(target)).get("type") == "object":
                    for element in value:
                        problems += conformance_problems(element, target, strict=strict)
        for option in prop.get("oneOf", []):
            if "$ref" in option and isinstance(value, dict):
                problems += conformance_problems(
                    value, option["$ref"].rsplit("/", 1)[1], strict=strict
                )
    return problems


# --------------------------------------------------------------------------------------------
# The document


def test_spec_is_openapi_3_1_with_every_feed_and_the_webhook() -> None:
    assert SPEC["openapi"] == "3.1.0"
    assert set(SPEC["paths"]) == {f"/v1/{path}" for path in FEED_PATHS.values()}
    assert SPEC["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": SPEC["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert SPEC["security"] == [{"bearer": []}]
    hook = SPEC["webhooks"]["visitEventRecorded"]["post"]
    assert hook["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/VisitEventDelivery"
    )
    assert {"200", "401"} <= set(hook["responses"])
    assert hook["parameters"][0]["name"] == "Care-Hub-Signature"


@pytest.mark.parametrize("path", sorted(f"/v1/{p}" for p in FEED_PATHS.values()))
def test_every_feed_pages_by_updated_since_and_cursor_with_429_semantics(path: str) -> None:
    operation = SPEC["paths"][path]["get"]
    names = {ref["$ref"].rsplit("/", 1)[1] for ref in operation["parameters"]}
    assert names == {"UpdatedSince", "Cursor", "Limit"}
    responses = operation["responses"]
    assert {"200", "400", "401", "429", "500", "503"} <= set(responses)
    too_many = SPEC["components"]["responses"]["TooManyRequests"]
    assert responses["429"]["$ref"].endswith("/TooManyRequests")
    assert "Retry-After" in too_many["headers"]
    page = resolve(responses["200"]["content"]["application/json"]["schema"])
    assert page["allOf"][0]["$ref"].endswith("/PageEnvelope")


@pytest.mark.parametrize("feed", sorted(FEED_PATHS))
def test_seeded_records_conform_to_the_contract(feed: str) -> None:
    for item in seed_records()[feed]:
        assert conformance_problems(item, ITEM_SCHEMAS[feed], strict=True) == []


@pytest.mark.parametrize(
    ("sample", "name"),
    [("visits_page.json", "Visit"), ("staff_page.json", "StaffMember")],
)
def test_recorded_samples_conform_to_the_contract(sample: str, name: str) -> None:
    document = json.loads((ROOT / "samples" / sample).read_bytes())
    assert set(resolve(schema("PageEnvelope"))["required"]) <= set(document)
    for item in document["data"]:
        # Samples carry fields the contract does not define, as real suppliers do.
        assert conformance_problems(item, name, strict=False) == []
    delivery = json.loads((ROOT / "samples/visit_event_delivery.json").read_bytes())
    assert conformance_problems(delivery, "VisitEventDelivery", strict=False) == []


def test_conformance_check_does_catch_drift() -> None:
    visit = dict(seed_records()["visits"][0])
    visit["status"] = "completed"
    del visit["planned_end"]
    visit["colour"] = "red"
    assert conformance_problems(visit, "Visit", strict=True) == [
        "Visit: missing planned_end",
        "Visit.status: 'completed' not in ['scheduled', 'cancelled']",
        "Visit: colour is not in the contract",
    ]
    delivery = json.loads((ROOT / "samples/visit_event_delivery.json").read_bytes())
    delivery["data"]["kind"] = "arrived"
    delivery["data"]["location"] = {"latitude": 53.8}
    assert conformance_problems(delivery, "VisitEventDelivery", strict=False) == [
        "VisitEvent.kind: 'arrived' not in ['check_in', 'check_out']",
        "Location: missing longitude",
        "Location: missing accuracy_m",
    ]


# --------------------------------------------------------------------------------------------
# The server's contract behaviour (in process)


@pytest.fixture
async def server() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://reference") as client:
        yield client


async def test_missing_token_is_401_with_the_error_schema(server: httpx.AsyncClient) -> None:
    response = await server.get("/v1/visits")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "unauthorized"
    wrong = await server.get("/v1/visits", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "invalid_request"),
        ("limit=501", "invalid_request"),
        ("limit=ten", "invalid_request"),
        ("updated_since=2026-11-20T08:00:00", "invalid_request"),
        ("updated_since=yesterday", "invalid_request"),
        ("cursor=not-a-cursor", "invalid_cursor"),
        ("cursor=e30&updated_since=2026-11-20T08:00:00Z", "invalid_request"),
    ],
)
async def test_bad_parameters_are_400_with_a_code(
    server: httpx.AsyncClient, query: str, code: str
) -> None:
    response = await server.get(f"/v1/visits?{query}", headers=AUTH)
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == code
    assert conformance_problems(body, "Error", strict=True) == []


async def test_last_page_still_returns_the_resume_cursor(server: httpx.AsyncClient) -> None:
    first = (await server.get("/v1/staff?limit=4", headers=AUTH)).json()
    last = (await server.get(f"/v1/staff?cursor={first['next_cursor']}", headers=AUTH)).json()
    assert [m["id"] for m in last["data"]] == ["STF-1005", "STF-1006"]
    assert last["has_more"] is False
    assert decode_cursor(last["next_cursor"])[1] == "STF-1006"
    empty = (await server.get(f"/v1/staff?cursor={last['next_cursor']}", headers=AUTH)).json()
    assert empty == {"data": [], "next_cursor": last["next_cursor"], "has_more": False}


async def test_query_parameter_faults(server: httpx.AsyncClient) -> None:
    limited = await server.get("/v1/visits?fault=rate_limit&retry_after=3", headers=AUTH)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
    assert limited.json()["error"]["code"] == "rate_limited"
    failed = await server.get("/v1/visits?fault=server_error&status=504", headers=AUTH)
    assert failed.status_code == 504
    assert "retry-after" not in failed.headers
    cut = await server.get("/v1/visits?fault=incomplete_json", headers=AUTH)
    assert int(cut.headers["content-length"]) == len(cut.content)
    with pytest.raises(json.JSONDecodeError):
        cut.json()
    healthy = await server.get("/v1/visits", headers=AUTH)
    assert len(healthy.json()["data"]) == 24


async def test_admin_api_needs_the_token_and_refuses_unknown_faults(
    server: httpx.AsyncClient,
) -> None:
    assert (await server.post("/_admin/faults", json={"kind": "latency"})).status_code == 401
    unknown = await server.post("/_admin/faults", json={"kind": "meteor"}, headers=AUTH)
    assert unknown.status_code == 400
    assert (await server.get("/openapi.yaml")).text.startswith("openapi: 3.1.0")


# --------------------------------------------------------------------------------------------
# The command line


def test_runs_from_the_command_line() -> None:
    sock = bind_loopback()
    port = sock.getsockname()[1]
    sock.close()  # free the port for the child; a clash would fail the readiness wait below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connectors.supplier_rest.reference_server",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "the reference server exited"
            assert time.monotonic() < deadline, "the reference server did not start"
            time.sleep(0.05)
        response = httpx.get(f"http://127.0.0.1:{port}/v1/staff", headers=AUTH, timeout=5)
        assert response.status_code == 200
        assert len(response.json()["data"]) == 6
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert process.returncode in (0, -15), output
