"""A runnable reference implementation of the supplier REST contract, with faults on demand.

Suppliers read it to see what `openapi.yaml` means in practice; our tests and demos pull from
it over real HTTP. It serves seeded, deterministic data (a week of home-care visits around
Leeds for four packages and six staff) from memory, and it misbehaves when asked to, the way
real upstreams and the networks between us do.

    python -m connectors.supplier_rest.reference_server --port 9100
    curl -H 'Authorization: Bearer reference-token' 'http://127.0.0.1:9100/v1/visits?limit=5'

`--records FILE` serves a dataset of your own instead (`hub supplier-demo-records` writes one
shaped like the hub's demo provider's rota).

Data endpoints (`/v1/staff`, `/v1/packages`, `/v1/visits`, `/v1/rota-changes`,
`/v1/visit-events`) follow the contract: bearer auth, `updated_since` or `cursor`, `limit`,
the error schema, 429 with `Retry-After`.

Faults, for one request with query parameters, or queued through the admin API:

    ?fault=latency&delay_ms=800         answer normally, late
    ?fault=rate_limit&retry_after=2     429 with Retry-After
    ?fault=unavailable&retry_after=5    503 (Retry-After optional)
    ?fault=server_error&status=502      any 5xx, no Retry-After
    ?fault=truncate                     declare the full Content-Length, send half, drop the
                                        connection (uvicorn logs the intended error)
    ?fault=incomplete_json              a well-framed response whose JSON stops half-way
    ?fault=malformed_json               a complete body with garbage in the middle

Admin API (same bearer token; loopback use only):

    POST   /_admin/faults             {"kind": "rate_limit", "times": 2, "path": "/v1/visits",
                                       "retry_after": 1, "delay_ms": 0, "status": 500}
                                      ("times": null repeats until cleared)
    DELETE /_admin/faults             clear queued faults
    GET    /_admin/requests           how many data requests each path has received
    PUT    /_admin/records/{feed}     add or replace one raw record in staff, packages, visits,
                                      rota_changes or visit_events (served as given, even if
                                      it breaks the contract; it sorts after everything else)
    POST   /_admin/webhooks/visit-event  {"url": "...", "delivery_id": "...", "event": {...},
                                       "timestamp_offset_s": 0}: record a visit event and
                                      deliver it, signed, to `url` (no "event": a GPS
                                      check-in for the first visit not yet checked in);
                                      answers with the status
                                      the receiver gave

`GET /openapi.yaml` serves the contract; `GET /healthz` says it is up.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hmac
import json
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors.clock import Clock, SystemClock
from connectors.webhooks import SIGNATURE_HEADER, sign

DEFAULT_TOKEN = "reference-token"  # noqa: S105  # a published test credential, not a secret
DEFAULT_WEBHOOK_SECRET = b"reference-webhook-secret-0123456789abcdef"
SOURCE_SYSTEM = "supplier:reference"
SPEC_PATH = Path(__file__).with_name("openapi.yaml")

FEED_PATHS = {
    "staff": "staff",
    "packages": "packages",
    "visits": "visits",
    "rota_changes": "rota-changes",
    "visit_events": "visit-events",
}
FAULT_KINDS = frozenset(
    {
        "latency",
        "rate_limit",
        "unavailable",
        "server_error",
        "truncate",
        "incomplete_json",
        "malformed_json",
    }
)
MAX_LIMIT = 500
DEFAULT_LIMIT = 100

JsonObject = dict[str, Any]


# --------------------------------------------------------------------------------------------
# Seeded data


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def seed_records() -> dict[str, list[JsonObject]]:
    """A week of realistic, fictional data. Deterministic, so tests can name ids and counts.

    Week of Monday 23 November 2026 (GMT, so London wall time equals UTC); staff and people
    around Leeds; NHS numbers from the 999 test range; a mix of competency states including an
    expired and a restricted medication competence, and a double-handed package.
    """
    changed = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

    def stamp(index: int) -> str:
        return _iso(changed + timedelta(minutes=index))

    def competency(code: str, status: str, evidenced: date, years: int = 1) -> JsonObject:
        expires = evidenced.replace(year=evidenced.year + years)
        return {
            "code": code,
            "status": status,
            "evidenced_on": evidenced.isoformat(),
            "expires_on": expires.isoformat(),
        }

    people = [
        ("STF-1001", "Amira", "Okafor", "care_worker", "evidenced"),
        ("STF-1002", "Tom", "Pritchard", "senior_care_worker", "revalidated"),
        ("STF-1003", "Grace", "Mensah", "care_worker", "restricted"),
        ("STF-1004", "Daniel", "Hughes", "care_worker", "expired"),
        ("STF-1005", "Priya", "Shah", "nurse", "evidenced"),
        ("STF-1006", "Kerry", "Walsh", "coordinator", None),
    ]
    staff = []
    for index, (staff_id, given, family, role, medication) in enumerate(people):
        competencies = [
            competency("safeguarding", "evidenced", date(2026, 2, 9), years=3),
            competency("moving_and_handling", "evidenced", date(2026, 1, 12)),
        ]
        if medication is not None:
            evidenced = date(2025, 10, 30) if medication == "expired" else date(2026, 3, 2)
            competencies.append(competency("medication", medication, evidenced))
        staff.append(
            {
                "id": staff_id,
                "given_name": given,
                "family_name": family,
                "role": role,
                "active": True,
                "competencies": competencies,
                "updated_at": stamp(index),
            }
        )

    package_rows = [
        ("PKG-2001", "CL-3001", "9990000018", 10.5, False, "administer", "LCC-HC-004211"),
        ("PKG-2002", "CL-3002", "9990000026", 7.0, False, "prompt", "LCC-HC-004212"),
        ("PKG-2003", "CL-3003", "9990000034", 21.0, True, "assist", "LCC-HC-004230"),
        ("PKG-2004", "CL-3004", None, 3.5, False, "none", "LCC-HC-004241"),
    ]
    packages = [
        {
            "id": package_id,
            "client_id": client_id,
            "nhs_number": nhs_number,
            "status": "live",
            "start_date": "2026-10-05",
            "end_date": None,
            "weekly_hours": hours,
            "double_handed": double,
            "medication_support": medication,
            "commissioner_reference": reference,
            "updated_at": stamp(index),
        }
        for index, (package_id, client_id, nhs_number, hours, double, medication, reference) in (
            enumerate(package_rows)
        )
    ]

    # (package, local start time, minutes, carers, tasks, time critical)
    schedule: list[tuple[str, tuple[int, int], int, list[str], list[str], bool]] = [
        ("PKG-2001", (8, 0), 45, ["STF-1001"], ["medication", "personal_care"], True),
        ("PKG-2001", (17, 30), 30, ["STF-1002"], ["medication", "meal_preparation"], True),
        ("PKG-2002", (9, 0), 30, ["STF-1003"], ["medication_prompt", "personal_care"], False),
        ("PKG-2003", (7, 30), 60, ["STF-1001", "STF-1002"], ["hoist_transfer"], False),
        ("PKG-2003", (20, 0), 45, ["STF-1004", "STF-1005"], ["hoist_transfer"], False),
        ("PKG-2004", (13, 0), 30, [], ["meal_preparation"], False),
    ]
    task_text = {
        "medication": (
            "Administer medicines from the blister pack; record on the MAR",
            "medication",
        ),
        "medication_prompt": ("Prompt medicines and record on the MAR", None),
        "personal_care": ("Support with washing and dressing", None),
        "meal_preparation": ("Prepare a hot meal and a drink; record fluid intake", None),
        "hoist_transfer": ("Hoist transfer bed to chair (two carers)", "moving_and_handling"),
    }
    visits: list[JsonObject] = []
    monday = date(2026, 11, 23)
    for day in range(4):
        for slot, (package_id, (hour, minute), minutes, carers, tasks, critical) in enumerate(
            schedule
        ):
            start = datetime.combine(monday + timedelta(days=day), datetime.min.time(), UTC)
            start += timedelta(hours=hour, minutes=minute)
            visits.append(
                {
                    "id": f"VIS-{day + 1}{slot + 1:02d}",
                    "package_id": package_id,
                    "planned_start": _iso(start),
                    "planned_end": _iso(start + timedelta(minutes=minutes)),
                    "status": "scheduled",
                    "time_critical": critical,
                    "carers": carers,
                    "tasks": [
                        {
                            "code": code,
                            "description": task_text[code][0],
                            "requires_competency": task_text[code][1],
                        }
                        for code in tasks
                    ],
                    "updated_at": stamp(len(visits)),
                }
            )

    leeds = {"PKG-2001": (53.8008, -1.5491), "PKG-2002": (53.8175, -1.5763)}
    events: list[JsonObject] = []
    for visit in visits[:3]:
        package_id = visit["package_id"]
        lat, lon = leeds.get(package_id, (53.79, -1.54))
        carer = visit["carers"][0]
        start = datetime.fromisoformat(visit["planned_start"])
        end = datetime.fromisoformat(visit["planned_end"])
        for kind, at in (("check_in", start + timedelta(minutes=4)), ("check_out", end)):
            events.append(
                {
                    "id": f"EVT-{visit['id'][4:]}-{'in' if kind == 'check_in' else 'out'}",
                    "visit_id": visit["id"],
                    "staff_id": carer,
                    "kind": kind,
                    "occurred_at": _iso(at),
                    "recorded_at": _iso(at + timedelta(seconds=3)),
                    "method": "gps",
                    "location": {"latitude": lat, "longitude": lon, "accuracy_m": 12.0},
                    "updated_at": stamp(len(events)),
                }
            )
    events[-1]["method"] = "manual"
    events[-1]["location"] = None

    rota_changes = [
        {
            "id": "RC-5001",
            "visit_id": "VIS-206",
            "kind": "carer_assigned",
            "staff_id": "STF-1003",
            "new_planned_start": None,
            "new_planned_end": None,
            "reason": "Unallocated lunch call covered",
            "changed_at": stamp(0),
            "updated_at": stamp(0),
        },
        {
            "id": "RC-5002",
            "visit_id": "VIS-302",
            "kind": "rescheduled",
            "staff_id": None,
            "new_planned_start": "2026-11-25T18:00:00Z",
            "new_planned_end": "2026-11-25T18:30:00Z",
            "reason": "Family request: later tea-time call",
            "changed_at": stamp(1),
            "updated_at": stamp(1),
        },
        {
            "id": "RC-5003",
            "visit_id": "VIS-404",
            "kind": "cancelled",
            "staff_id": None,
            "new_planned_start": None,
            "new_planned_end": None,
            "reason": "Hospital admission",
            "changed_at": stamp(2),
            "updated_at": stamp(2),
        },
    ]
    return {
        "staff": staff,
        "packages": packages,
        "visits": visits,
        "rota_changes": rota_changes,
        "visit_events": events,
    }


# --------------------------------------------------------------------------------------------
# State


@dataclass
class Fault:
    kind: str
    times: int | None = 1
    path: str | None = None
    retry_after: int | None = None
    delay_ms: int = 0
    status: int = 500


@dataclass(order=True)
class Row:
    stamp: datetime
    id: str
    item: JsonObject = field(compare=False)


class ReferenceState:
    """Records per feed in keyset order, the fault queue and a request log."""

    def __init__(self, records: dict[str, list[JsonObject]]) -> None:
        self.feeds: dict[str, list[Row]] = {}
        for feed, items in records.items():
            rows = [
                Row(datetime.fromisoformat(item["updated_at"]), item["id"], item) for item in items
            ]
            self.feeds[feed] = sorted(rows)
        self.faults: list[Fault] = []
        self.requests: Counter[str] = Counter()

    def put(self, feed: str, item: JsonObject) -> Row:
        """Add or replace a record; it sorts after every record already held."""
        rows = self.feeds[feed]
        latest = max(row.stamp for feed_rows in self.feeds.values() for row in feed_rows)
        stamp = latest + timedelta(seconds=1)
        if not isinstance(item.get("updated_at"), str):
            item = {**item, "updated_at": _iso(stamp)}
        record_id = str(item.get("id") or uuid.uuid4())
        rows[:] = [row for row in rows if row.id != record_id]
        row = Row(stamp, record_id, item)
        rows.append(row)
        return row

    def take_fault(self, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.path is not None and not path.startswith(fault.path):
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
            return fault
        return None


# --------------------------------------------------------------------------------------------
# Cursors


def encode_cursor(row: Row) -> str:
    raw = json.dumps({"u": _iso(row.stamp), "i": row.id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ValueError for anything that is not a cursor this server issued."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        stamp = datetime.fromisoformat(position["u"])
        record_id = position["i"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("not a cursor issued by this server") from exc
    if stamp.tzinfo is None or not isinstance(record_id, str):
        raise ValueError("not a cursor issued by this server")
    return stamp, record_id


# --------------------------------------------------------------------------------------------
# HTTP


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


def _authorised(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


def _unauthorised() -> JSONResponse:
    return error_response(
        401,
        "unauthorized",
        "a valid bearer token is required",
        headers={"WWW-Authenticate": 'Bearer realm="supplier"'},
    )


def _page(request: Request, state: ReferenceState, feed: str) -> Response:
    query = request.query_params
    raw_limit = query.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        return error_response(
            400, "invalid_request", f"limit must be a whole number from 1 to {MAX_LIMIT}"
        )
    limit = int(raw_limit)
    cursor, since = query.get("cursor"), query.get("updated_since")
    if cursor is not None and since is not None:
        return error_response(400, "invalid_request", "send cursor or updated_since, not both")
    rows = state.feeds[feed]
    if cursor is not None:
        try:
            position = decode_cursor(cursor)
        except ValueError as exc:
            return error_response(400, "invalid_cursor", str(exc))
        rows = [row for row in rows if (row.stamp, row.id) > position]
    elif since is not None:
        try:
            since_at = datetime.fromisoformat(since)
        except ValueError:
            since_at = None
        if since_at is None or since_at.tzinfo is None:
            return error_response(
                400, "invalid_request", "updated_since must be an ISO 8601 time with offset"
            )
        rows = [row for row in rows if row.stamp >= since_at]
    chosen = rows[:limit]
    next_cursor = encode_cursor(chosen[-1]) if chosen else cursor
    body = {
        "data": [row.item for row in chosen],
        "next_cursor": next_cursor,
        "has_more": len(rows) > limit,
    }
    return JSONResponse(body)


def create_app(
    *,
    token: str = DEFAULT_TOKEN,
    webhook_secrets: Sequence[bytes] = (DEFAULT_WEBHOOK_SECRET,),
    records: dict[str, list[JsonObject]] | None = None,
    clock: Clock | None = None,
) -> ASGIApp:
    """The reference server as an ASGI app (wrapped in the fault injector)."""
    state = ReferenceState(records if records is not None else seed_records())
    secrets = list(webhook_secrets)
    sign(b"", secrets, timestamp=0)  # fail at start-up, not at the first delivery, on a bad secret
    wall = clock or SystemClock()

    def data_endpoint(feed: str) -> Route:
        async def endpoint(request: Request) -> Response:
            if not _authorised(request, token):
                return _unauthorised()
            return _page(request, state, feed)

        return Route(f"/v1/{FEED_PATHS[feed]}", endpoint, methods=["GET"], name=feed)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def spec(request: Request) -> Response:
        return Response(SPEC_PATH.read_bytes(), media_type="application/yaml")

    async def faults(request: Request) -> Response:
        if not _authorised(request, token):
            return _unauthorised()
        if request.method == "DELETE":
            state.faults.clear()
            return JSONResponse({"faults": 0})
        try:
            body = await request.json()
            fault = Fault(
                kind=str(body["kind"]),
                times=body.get("times", 1),
                path=body.get("path"),
                retry_after=body.get("retry_after"),
                delay_ms=int(body.get("delay_ms", 0)),
                status=int(body.get("status", 500)),
            )
        except (ValueError, KeyError, TypeError):
            return error_response(400, "invalid_request", "expected a fault object")
        if fault.kind not in FAULT_KINDS:
            return error_response(
                400, "invalid_request", f"kind must be one of {sorted(FAULT_KINDS)}"
            )
        state.faults.append(fault)
        return JSONResponse({"faults": len(state.faults)}, 201)

    async def requests_log(request: Request) -> Response:
        if not _authorised(request, token):
            return _unauthorised()
        return JSONResponse(
            {"total": sum(state.requests.values()), "by_path": dict(state.requests)}
        )

    async def put_record(request: Request) -> Response:
        if not _authorised(request, token):
            return _unauthorised()
        feed = request.path_params["feed"]
        if feed not in state.feeds:
            return error_response(404, "not_found", f"no feed {feed!r}")
        try:
            item = await request.json()
        except ValueError:
            return error_response(400, "invalid_request", "body must be a JSON object")
        if not isinstance(item, dict):
            return error_response(400, "invalid_request", "body must be a JSON object")
        row = state.put(feed, item)
        return JSONResponse({"id": row.id, "position": encode_cursor(row)})

    async def send_webhook(request: Request) -> Response:
        if not _authorised(request, token):
            return _unauthorised()
        try:
            body = await request.json()
            url = str(body["url"])
            offset = int(body.get("timestamp_offset_s", 0))
        except (ValueError, KeyError, TypeError):
            return error_response(400, "invalid_request", "expected {url, ...}")
        delivery_id = str(body.get("delivery_id") or f"dlv-{uuid.uuid4()}")
        now = wall.now()
        event = body.get("event")
        if not isinstance(event, dict):
            event = _new_check_in(state, now)
        recorded = state.put("visit_events", event)
        envelope = {
            "delivery_id": delivery_id,
            "type": "visit_event.recorded",
            "created_at": _iso(now),
            "data": recorded.item,
        }
        payload = json.dumps(envelope, separators=(",", ":")).encode()
        timestamp = int(now.timestamp()) + offset
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(payload, secrets, timestamp=timestamp),
        }
        async with httpx.AsyncClient(timeout=5.0) as client:
            try:
                answer = await client.post(url, content=payload, headers=headers)
            except httpx.HTTPError as exc:
                return error_response(502, "delivery_failed", f"{type(exc).__name__}: {exc}")
        return JSONResponse(
            {
                "delivery_id": delivery_id,
                "status_code": answer.status_code,
                "response": answer.text[:2000],
            }
        )

    routes = [data_endpoint(feed) for feed in FEED_PATHS]
    routes += [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.yaml", spec, methods=["GET"]),
        Route("/_admin/faults", faults, methods=["POST", "DELETE"]),
        Route("/_admin/requests", requests_log, methods=["GET"]),
        Route("/_admin/records/{feed}", put_record, methods=["PUT"]),
        Route("/_admin/webhooks/visit-event", send_webhook, methods=["POST"]),
    ]
    return FaultInjector(Starlette(routes=routes), state)


def _new_check_in(state: ReferenceState, now: datetime) -> JsonObject:
    """A fresh GPS check-in, as a carer's phone would send it, for the first visit (in feed
    order) that has no check-in yet, by its first carer, at the person's home when an earlier
    event of the same package says where that is."""
    checked_in = {
        row.item.get("visit_id")
        for row in state.feeds["visit_events"]
        if row.item.get("kind") == "check_in"
    }
    visits = [row.item for row in state.feeds["visits"]]
    visit = next((v for v in visits if v.get("id") not in checked_in), visits[0])
    package_visits = {v.get("id") for v in visits if v.get("package_id") == visit.get("package_id")}
    location = next(
        (
            row.item["location"]
            for row in state.feeds["visit_events"]
            if row.item.get("visit_id") in package_visits and row.item.get("location")
        ),
        {"latitude": 53.8008, "longitude": -1.5491, "accuracy_m": 9.5},
    )
    return {
        "id": f"EVT-{uuid.uuid4().hex[:12]}",
        "visit_id": visit["id"],
        "staff_id": (visit.get("carers") or ["STF-1001"])[0],
        "kind": "check_in",
        "occurred_at": _iso(now - timedelta(seconds=20)),
        "recorded_at": _iso(now),
        "method": "gps",
        "location": location,
    }


# --------------------------------------------------------------------------------------------
# Fault injection (pure ASGI, so it can cut a response off mid-body)


class SimulatedConnectionDrop(Exception):
    """Raised on purpose after half a body, so the server drops the connection mid-response."""


class FaultInjector:
    """Counts data requests and, when a fault applies, misbehaves instead of (or around) the
    app. Faults come from the request's `fault=` query parameter or the admin queue."""

    def __init__(self, app: ASGIApp, state: ReferenceState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        self.state.requests[scope["path"]] += 1
        fault = _query_fault(scope) or self.state.take_fault(scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.kind == "latency":
            await asyncio.sleep(fault.delay_ms / 1000)
            await self.app(scope, receive, send)
        elif fault.kind in ("rate_limit", "unavailable", "server_error"):
            await self._refuse(fault, scope, receive, send)
        else:
            await self._mangle(fault, scope, receive, send)

    async def _refuse(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        headers: dict[str, str] = {}
        if fault.kind == "rate_limit":
            status, code, message = 429, "rate_limited", "too many requests; slow down"
        elif fault.kind == "unavailable":
            status, code, message = 503, "unavailable", "temporarily unavailable"
        else:
            status, code, message = fault.status, "internal", "internal error"
        if fault.retry_after is not None and status in (429, 503):
            headers["Retry-After"] = str(fault.retry_after)
        await error_response(status, code, message, headers)(scope, receive, send)

    async def _mangle(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        half = body[: len(body) // 2]
        if fault.kind == "truncate":
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": half, "more_body": True})
            raise SimulatedConnectionDrop("fault injection: connection dropped mid-body")
        if fault.kind == "incomplete_json":
            mangled = half
        else:  # malformed_json
            # Inside the first list, outside any string: cut into a string value, the garbage
            # would still be valid JSON and the fault would not happen.
            at = body.find(b"[") + 1 or len(half)
            mangled = body[:at] + b"<!-- upstream proxy error -->" + body[at:]
        headers.append((b"content-length", str(len(mangled)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": mangled, "more_body": False})


def _query_fault(scope: Scope) -> Fault | None:
    query = dict(
        part.split("=", 1) if "=" in part else (part, "")
        for part in scope.get("query_string", b"").decode("latin-1").split("&")
        if part
    )
    kind = query.get("fault")
    if kind not in FAULT_KINDS:
        return None
    retry_after = query.get("retry_after", "")
    return Fault(
        kind=kind,
        retry_after=int(retry_after) if retry_after.isdigit() else None,
        delay_ms=int(query["delay_ms"]) if query.get("delay_ms", "").isdigit() else 0,
        status=int(query["status"]) if query.get("status", "").isdigit() else 500,
    )


# --------------------------------------------------------------------------------------------
# Command line


def load_records(path: Path) -> dict[str, list[JsonObject]]:
    """A dataset file: every feed present (an empty list is fine), every record an object with
    a string `id` and an `updated_at` time with offset. Raises SystemExit saying what is wrong."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"--records {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise SystemExit(f"--records {path}: expected a JSON object with one list per feed")
    records: dict[str, list[JsonObject]] = {}
    for feed in FEED_PATHS:
        items = document.get(feed, [])
        if not isinstance(items, list):
            raise SystemExit(f"--records {path}: {feed} is not a list")
        for index, item in enumerate(items):
            stamp = item.get("updated_at") if isinstance(item, dict) else None
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise SystemExit(f"--records {path}: {feed}[{index}] has no string id")
            try:
                valid = isinstance(stamp, str) and datetime.fromisoformat(stamp).tzinfo is not None
            except ValueError:
                valid = False
            if not valid:
                raise SystemExit(f"--records {path}: {feed}[{index}].updated_at needs an offset")
        records[feed] = items
    return records


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m connectors.supplier_rest.reference_server",
        description="Run the supplier REST reference server (seeded data, faults on demand).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the bearer token clients send")
    parser.add_argument(
        "--webhook-secret",
        action="append",
        default=None,
        help="secret to sign webhooks with (repeat during a rotation; at least 32 bytes)",
    )
    parser.add_argument(
        "--records",
        type=Path,
        help="serve this dataset instead of the seeded one: a JSON object with a list per feed "
        "(staff, packages, visits, rota_changes, visit_events), each record with an id and "
        "updated_at (`hub supplier-demo-records` writes one for the hub's demo)",
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    secrets = [s.encode() for s in args.webhook_secret] if args.webhook_secret else None
    records = load_records(args.records) if args.records else None
    app = create_app(
        token=args.token,
        webhook_secrets=secrets or (DEFAULT_WEBHOOK_SECRET,),
        records=records,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
