"""The office's view of connectors through GraphQL: register, status, rejected payloads with
their bodies, retry, poll on demand; tenancy and roles."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from arq.connections import RedisSettings, create_pool
from arq.jobs import Job, JobStatus

from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.graphql.ids import encode_global_id
from hub.kit.time import FixedClock
from tests import builders
from tests.connectors.servers import ReferenceServerHandle
from tests.integrations.conftest import Poller, Supplied
from tests.support.graphql import GraphQLClient
from tests.support.identity import Identities

STATUS = """
query Connectors {
  connectorInstances {
    nodes {
      id name kind baseUrl webhookPath webhookSecretsEnv credentialsEnv enabled
      organisation { name }
      status {
        breakerState consecutiveFailures lastSuccessAt lastErrorCode backlog rejected
        secretsConfigured
        lastRun { status pages recordsApplied recordsRejected progress }
        feeds { feed started }
      }
    }
  }
}
"""

REJECTED = """
query Rejected($after: String) {
  inboundPayloads(status: [REJECTED], first: 1, after: $after) {
    nodes { id connector channel status summary body bodyBase64 errors { path problem code } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

REGISTER = """
mutation Register($input: RegisterConnectorInstanceInput!) {
  registerConnectorInstance(input: $input) {
    __typename
    ... on ConnectorInstance { name webhookSecretsEnv credentialsEnv status { breakerState } }
    ... on UserError { code message }
  }
}
"""

RETRY = """
mutation Retry($id: ID!) {
  retryInboundPayload(input: {inboundPayloadId: $id}) {
    __typename
    ... on InboundPayload { status errors { code } }
    ... on UserError { code message }
  }
}
"""

POLL = """
mutation Poll($id: ID!) {
  runConnectorPoll(input: {connectorInstanceId: $id}) {
    __typename
    ... on ConnectorPollRequested { enqueued connectorInstance { name } }
    ... on UserError { code }
  }
}
"""


async def _client(
    http: httpx.AsyncClient, identities: Identities, role: Role, organisation: uuid.UUID | None
) -> GraphQLClient:
    return GraphQLClient(http, token=await identities.token(role, organisation_id=organisation))


def _bad_visit() -> dict[str, Any]:
    return {
        "id": "VIS-BAD",
        "package_id": "PKG-2002",
        "planned_start": "2026-11-27T09:00:00Z",
        "planned_end": "2026-11-27T09:30:00Z",
        "status": "scheduled",
        "time_critical": False,
        "carers": ["STF-4242"],
        "tasks": [],
        "updated_at": "2026-11-22T10:00:00Z",
    }


async def test_office_reads_status_and_rejected_payloads_and_retries(
    http: httpx.AsyncClient,
    identities: Identities,
    poll: Poller,
    supplied: Supplied,
    reference_server: ReferenceServerHandle,
    connector_env: dict[str, str],
    sessions: SessionFactory,
) -> None:
    await reference_server.put_record("visits", _bad_visit())
    await poll()
    office = await _client(http, identities, Role.COORDINATOR, supplied.provider_id)
    (instance,) = (await office.execute(STATUS)).ok()["connectorInstances"]["nodes"]
    assert instance["name"] == "acme-roster"
    assert instance["webhookPath"] == "/webhooks/acme-roster"
    assert instance["webhookSecretsEnv"] == "CONNECTOR_ACME_ROSTER_WEBHOOK_SECRETS"
    status = instance["status"]
    assert status["breakerState"] == "CLOSED"
    assert status["secretsConfigured"] is True
    assert status["lastSuccessAt"] is not None
    assert (status["backlog"], status["rejected"]) == (0, 1)
    assert status["lastRun"]["status"] == "SUCCEEDED"
    assert status["lastRun"]["recordsRejected"] == 1
    assert status["lastRun"]["progress"]["visits"]["done"] is True
    assert {feed["feed"] for feed in status["feeds"] if feed["started"]} == {
        "staff",
        "packages",
        "visits",
        "rota_changes",
        "visit_events",
    }

    page = (await office.execute(REJECTED)).ok()["inboundPayloads"]
    (payload,) = page["nodes"]
    assert page["pageInfo"]["hasNextPage"] is False
    assert payload["channel"] == "POLL"
    assert '"id":"VIS-BAD"' in payload["body"]
    assert payload["errors"][0]["code"] == "UNKNOWN_STAFF"
    assert "STF-4242" in payload["summary"]

    retried = (await office.execute(RETRY, {"id": payload["id"]})).ok()["retryInboundPayload"]
    assert retried["__typename"] == "InboundPayload"
    assert retried["status"] == "REJECTED"  # the carer is still unknown: rejected again

    async with unit_of_work(sessions) as session:
        elsewhere = await builders.create_organisation(session)
    outsider = await _client(http, identities, Role.COORDINATOR, elsewhere.id)
    assert (await outsider.execute(STATUS)).ok()["connectorInstances"]["nodes"] == []
    assert (await outsider.execute(REJECTED)).ok()["inboundPayloads"]["nodes"] == []
    foreign = (await outsider.execute(RETRY, {"id": payload["id"]})).ok()["retryInboundPayload"]
    assert foreign["code"] == "INBOUND_PAYLOAD_NOT_FOUND"


async def test_run_connector_poll_enqueues_one_job(
    http: httpx.AsyncClient,
    identities: Identities,
    supplied: Supplied,
    redis_url: str,
) -> None:
    office = await _client(http, identities, Role.REGISTERED_MANAGER, supplied.provider_id)
    instance_id = encode_global_id("ConnectorInstance", supplied.instance_id)
    first = (await office.execute(POLL, {"id": instance_id})).ok()["runConnectorPoll"]
    again = (await office.execute(POLL, {"id": instance_id})).ok()["runConnectorPoll"]
    assert (first["enqueued"], again["enqueued"]) == (True, False)
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        queued = await pool.queued_jobs()
        polls = [job for job in queued if job.function == "integrations.poll_instance"]
        assert len(polls) == 1
        assert polls[0].args[0] == str(supplied.instance_id)
        assert await Job(polls[0].job_id or "", pool).status() is JobStatus.queued
    finally:
        await pool.aclose()


async def test_registration_is_for_registered_managers_and_admins(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
) -> None:
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session)
    manager = await _client(http, identities, Role.REGISTERED_MANAGER, provider.id)
    created = (
        await manager.execute(
            REGISTER, {"input": {"name": "careroster", "baseUrl": "https://roster.example/"}}
        )
    ).ok()["registerConnectorInstance"]
    assert created == {
        "__typename": "ConnectorInstance",
        "name": "careroster",
        "webhookSecretsEnv": "CONNECTOR_CAREROSTER_WEBHOOK_SECRETS",
        "credentialsEnv": "CONNECTOR_CAREROSTER_TOKEN",
        "status": {"breakerState": "CLOSED"},
    }
    duplicate = (
        await manager.execute(
            REGISTER, {"input": {"name": "careroster", "baseUrl": "https://roster.example"}}
        )
    ).ok()["registerConnectorInstance"]
    assert duplicate["code"] == "DUPLICATE_CONNECTOR_NAME"
    for bad, code in (
        ({"name": "Care Roster", "baseUrl": "https://x.example"}, "INVALID_NAME"),
        ({"name": "other", "baseUrl": "ftp://x.example"}, "INVALID_URL"),
        ({"name": "other", "baseUrl": "https://u:p@x.example"}, "INVALID_URL"),
        (
            {
                "name": "other",
                "baseUrl": "https://x.example",
                "webhookSecretsEnv": "HUB_FIELD_ENCRYPTION_KEY",
            },
            "INVALID_ENV_NAME",
        ),
        (
            {"name": "other", "baseUrl": "https://x.example", "pollIntervalSeconds": 5},
            "OUT_OF_RANGE",
        ),
    ):
        answer = (await manager.execute(REGISTER, {"input": bad})).ok()["registerConnectorInstance"]
        assert answer["code"] == code, bad

    coordinator = await _client(http, identities, Role.COORDINATOR, provider.id)
    refused = await coordinator.execute(
        REGISTER, {"input": {"name": "third", "baseUrl": "https://x.example"}}
    )
    assert refused.errors
    assert refused.errors[0]["extensions"]["code"] == "FORBIDDEN"
    async with unit_of_work(sessions) as session:
        member = await builders.create_staff(session, organisation=provider)
    carer = GraphQLClient(
        http,
        token=await identities.token(Role.CARER, organisation_id=provider.id, staff_id=member.id),
    )
    assert (await carer.execute(STATUS)).errors[0]["extensions"]["code"] == "FORBIDDEN"
