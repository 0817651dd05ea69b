"""The example requests and responses in mobile_contract/examples/ are what the hub really
does: each flow is run here against a live hub, on trusted documents only, and the answer must
have the example's shape (the same fields, types, type names and codes; ids and times differ).
An example that drifts from the contract fails here."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.accounts.models import Role
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.graphql.ids import encode_global_id
from hub.kit.time import FixedClock
from hub.organisations.models import Organisation
from hub.people import service as people
from hub.people.sealing import sealer_for
from hub.tenancy import AccessScope
from hub.visits import service as visits
from tests import builders
from tests.mobile.app_client import CONTRACT, document_id, trusted_only_settings
from tests.mobile.command_builder import Phone
from tests.support.identity import Identities

EXAMPLES = CONTRACT / "examples"
# Values, not just types, that an example must show exactly.
EXACT = {"__typename", "status", "firstStatus", "reason", "code", "kind", "resetReason", "reset"}


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return trusted_only_settings(database_url, redis_url, tmp_path)


def shape(value: Any, key: str = "") -> Any:
    """A value's structure: dicts by key, lists by their first item, scalars by type (or by
    value for the keys in EXACT)."""
    if isinstance(value, dict):
        return {k: shape(v, k) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0], key)] if value else []
    if key in EXACT:
        return value
    return type(value).__name__


async def run_flow(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
    settings: Settings,
) -> dict[str, dict[str, Any]]:
    """The app's day, one exchange per example file."""
    sealer = sealer_for(settings)
    async with unit_of_work(sessions) as session:
        contract = await builders.create_contract(session)
        provider = await session.get(Organisation, contract.provider_id)
        carer = await builders.create_staff(session, organisation=provider)
        person_id = uuid.uuid4()
        person = await builders.create_person(
            session,
            id=person_id,
            given_name="Edith",
            family_name="Marsh",
            key_safe_sealed=sealer.seal(person_id, people.KEY_SAFE_FIELD, "2468"),
            access_details_sealed=sealer.seal(
                person_id, people.ACCESS_DETAILS_FIELD, "Key safe left of the back door"
            ),
            falls_risk=True,
        )
        package = await builders.create_package(session, contract=contract, person=person)
        tasks = [{"code": "medication_prompt", "description": "Prompt morning tablets"}]
        morning = await builders.create_visit(
            session,
            package=package,
            carers=(carer,),
            planned_start=clock.now() + timedelta(minutes=10),
            tasks=tasks,
        )
        tomorrow = await builders.create_visit(
            session,
            package=package,
            carers=(carer,),
            planned_start=clock.now() + timedelta(days=1),
        )
    subject = await identities.register(
        Role.CARER, organisation_id=carer.organisation_id, staff_id=carer.id
    )
    phone = Phone()
    exchanges: dict[str, dict[str, Any]] = {}

    async def send(name: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {identities.mint(subject)}"}
        response = await http.post("/graphql", json=body, headers=headers)
        exchanges[name] = {
            "request": {
                "method": "POST",
                "path": "/graphql",
                "headers": {
                    "Authorization": "Bearer <the carer's token>",
                    "Content-Type": "application/json",
                },
                "body": body,
            },
            "response": {"status": response.status_code, "body": response.json()},
        }
        data: dict[str, Any] = response.json()
        return data

    def persisted(name: str, variables: dict[str, Any]) -> dict[str, Any]:
        return {"documentId": document_id(name), "variables": variables}

    await send(
        "register-device",
        persisted(
            "RegisterDevice",
            {
                "input": {
                    "deviceId": str(phone.device_id),
                    "platform": "android",
                    "model": "Pixel 8",
                    "appVersion": "1.0.0",
                    "protocolVersion": 2,
                }
            },
        ),
    )
    device = {"deviceId": str(phone.device_id), "appVersion": "1.0.0"}
    first = await send("rota-pull-first", persisted("RotaPull", {**device, "limit": 100}))
    cursor = first["data"]["mobileChanges"]["cursor"]

    phone.check_in(morning.id, clock.now() + timedelta(minutes=8))
    phone.record(
        "taskConfirmationV1",
        {"visitId": encode_global_id("Visit", morning.id), "taskIndex": 0, "outcome": "DONE"},
        at=clock.now() + timedelta(minutes=12),
    )
    clock.advance(timedelta(minutes=15))
    uploaded = await send(
        "submit-commands", persisted("SubmitCommands", {"input": phone.batch(clock.now())})
    )
    phone.acknowledge(uploaded["data"]["submitCommands"]["ackedThroughSeq"])

    async with unit_of_work(sessions) as session:
        await visits.cancel_visit(
            session,
            scope=AccessScope.system(),
            actor="office",
            clock=clock,
            visit_id=tomorrow.id,
            reason="Edith is staying with her daughter",
        )
    await send("rota-pull-changes", persisted("RotaPull", {**device, "cursor": cursor}))
    await send(
        "visit-detail",
        persisted("VisitDetail", {**device, "visitId": encode_global_id("Visit", morning.id)}),
    )
    await send(
        "report-outbox",
        persisted(
            "ReportOutbox",
            {
                "input": {
                    "deviceId": str(phone.device_id),
                    "appVersion": "1.0.0",
                    "protocolVersion": 2,
                    "sentAt": phone.reading(clock.now()),
                    "outboxDepth": 0,
                }
            },
        ),
    )
    await send(
        "refused-app-version-too-old",
        persisted("RotaPull", {**device, "appVersion": "0.9.0"}),
    )
    await send("refused-raw-query", {"query": "{ visits { nodes { id } } }"})
    await send(
        "refused-unknown-document",
        {"documentId": "sha256:" + "0" * 64, "variables": device},
    )

    # A command GraphQL cannot coerce (an enum value no release knows) between two good ones:
    # the good ones apply, the bad one is quarantined whole in its place and named.
    visit_id = encode_global_id("Visit", morning.id)
    phone.record("hydrationV1", {"visitId": visit_id, "fluidMl": 250}, at=clock.now())
    phone.record("moodV1", {"visitId": visit_id, "mood": "CHEERFUL"}, at=clock.now())
    phone.record("skinV1", {"visitId": visit_id, "concern": False}, at=clock.now())
    clock.advance(timedelta(minutes=1))
    await send(
        "submit-commands-quarantined",
        persisted("SubmitCommands", {"input": phone.batch(clock.now())}),
    )
    return exchanges


async def test_every_example_has_the_shape_of_the_real_exchange(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
    settings: Settings,
) -> None:
    exchanges = await run_flow(http, identities, sessions, clock, settings)
    assert {path.stem for path in EXAMPLES.glob("*.json")} == set(exchanges)
    for name, real in exchanges.items():
        example = json.loads((EXAMPLES / f"{name}.json").read_text())
        # `hub mobile-manifest` keeps an example's documentId current (the check says when not).
        given = example["request"]["body"].get("documentId")
        assert given == real["request"]["body"].get("documentId"), f"{name}: stale documentId"
        assert shape(example["request"]) == shape(real["request"]), f"{name}: request"
        assert shape(example["response"]) == shape(real["response"]), f"{name}: response"
        assert example["description"], name
