"""GraphQL inputs of the integrations domain; global ids are decoded here."""

from __future__ import annotations

import uuid

import strawberry

from hub.graphql.ids import expect_global_id
from hub.integrations.types import ConnectorKind


@strawberry.input(
    description="Configure an upstream system for a provider. Secrets are never sent: name "
    "the environment variables that hold them (defaults: CONNECTOR_<NAME>_WEBHOOK_SECRETS and "
    "CONNECTOR_<NAME>_TOKEN, the name in capitals with - as _)."
)
class RegisterConnectorInstanceInput:
    name: str = strawberry.field(
        description="Lower-case letters, digits and -; unique; the webhook path is "
        "/webhooks/<name>, and the instance's staff are keyed by it."
    )
    base_url: str = strawberry.field(
        description="Where the upstream's API lives, e.g. https://api.supplier.example."
    )
    kind: ConnectorKind = ConnectorKind.SUPPLIER_REST
    organisation_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The provider it serves. A registered manager may leave it out (their "
        "own organisation); admins must give it.",
    )
    webhook_secrets_env: str | None = None
    credentials_env: str | None = None
    poll_interval_seconds: int = strawberry.field(
        default=300, description="How often the worker polls it (30 seconds to 7 days)."
    )
    enabled: bool = True


@strawberry.input(description="Switch a connector instance's polling and webhooks on or off.")
class SetConnectorInstanceEnabledInput:
    connector_instance_id: strawberry.ID
    enabled: bool


@strawberry.input(description="Ask the worker to poll a connector instance now.")
class RunConnectorPollInput:
    connector_instance_id: strawberry.ID


@strawberry.input(description="Apply a rejected inbound payload again, once its cause is fixed.")
class RetryInboundPayloadInput:
    inbound_payload_id: strawberry.ID


def connector_instance_id(value: strawberry.ID) -> uuid.UUID:
    return expect_global_id(value, "ConnectorInstance", field="connectorInstanceId")


def inbound_payload_id(value: strawberry.ID) -> uuid.UUID:
    return expect_global_id(value, "InboundPayload", field="inboundPayloadId")
