"""Connector instances and what the office can ask of them: register one, switch it on or off,
read its status (breaker, last success and error, backlog, last run), retry a rejected payload.

Writes record events in the caller's transaction and never commit. Who may do what is checked
here as well as on the GraphQL field (jobs and imports call services too): registering and
changing instances is for admins and the registered manager of the organisation served;
coordinators read and retry.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.models import Role
from hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from hub.events.log import NewEvent, record
from hub.integrations import credentials, health, inbound, repository
from hub.integrations.models import (
    ConnectorCursor,
    ConnectorHealth,
    ConnectorInstance,
    ConnectorKind,
    ConnectorRun,
    InboundPayload,
    InboundStatus,
)
from hub.kit.time import Clock
from hub.organisations import service as organisations
from hub.organisations.models import OrganisationKind
from hub.tenancy import AccessScope

NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
MIN_POLL_SECONDS = 30
MAX_POLL_SECONDS = 7 * 24 * 3600


class ConnectorInstanceNotFound(NotFound):
    code = "CONNECTOR_INSTANCE_NOT_FOUND"


class DuplicateConnectorName(Conflict):
    code = "DUPLICATE_CONNECTOR_NAME"


class InboundPayloadNotFound(NotFound):
    code = "INBOUND_PAYLOAD_NOT_FOUND"


@dataclass(frozen=True, slots=True)
class InstanceStatus:
    """What the office sees of one instance."""

    instance: ConnectorInstance
    breaker: health.BreakerState
    health: ConnectorHealth | None
    backlog: int
    rejected: int
    last_run: ConnectorRun | None
    cursors: tuple[ConnectorCursor, ...]
    secrets_configured: bool


# --- writes -------------------------------------------------------------------------------------


async def register_instance(
    session: AsyncSession,
    scope: AccessScope,
    *,
    organisation_id: uuid.UUID | None,
    kind: ConnectorKind,
    name: str,
    base_url: str,
    webhook_secrets_env: str | None,
    credentials_env: str | None,
    poll_interval_seconds: int,
    enabled: bool,
    actor: str,
    clock: Clock,
) -> ConnectorInstance:
    """Configure an upstream for a provider. Secrets are named, never given: the variables
    default to `CONNECTOR_<NAME>_WEBHOOK_SECRETS` and `CONNECTOR_<NAME>_TOKEN`."""
    owner = _owner(scope, organisation_id)
    organisation = await organisations.get(session, owner)
    if organisation.kind is not OrganisationKind.PROVIDER:
        raise InvalidInput(
            "organisationId",
            f"must be a provider: connectors feed a provider's rota ({organisation.name} is a "
            f"{organisation.kind.value.replace('_', ' ')})",
            code="NOT_A_PROVIDER",
        )
    slug = name.strip()
    if not NAME.fullmatch(slug):
        raise InvalidInput(
            "name",
            "2-63 characters: lower-case letters, digits and -, starting with a letter or digit "
            "(it becomes the webhook path /webhooks/<name>)",
            code="INVALID_NAME",
        )
    url = _base_url(base_url)
    if not MIN_POLL_SECONDS <= poll_interval_seconds <= MAX_POLL_SECONDS:
        raise InvalidInput(
            "pollIntervalSeconds",
            f"must be between {MIN_POLL_SECONDS} seconds and 7 days",
            code="OUT_OF_RANGE",
        )
    default_secrets, default_token = credentials.default_env_names(slug)
    secrets_env = credentials.check_env_name(
        "webhookSecretsEnv", webhook_secrets_env or default_secrets
    )
    token_env = credentials.check_env_name("credentialsEnv", credentials_env or default_token)
    if await repository.get_instance_by_name(session, slug) is not None:
        raise DuplicateConnectorName(f"a connector named {slug} already exists")
    instance = ConnectorInstance(
        organisation_id=owner,
        kind=kind,
        name=slug,
        base_url=url,
        webhook_secrets_env=secrets_env,
        credentials_env=token_env,
        poll_interval_seconds=poll_interval_seconds,
        enabled=enabled,
        registered_by=actor,
    )
    repository.add(session, instance)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as clash:  # a concurrent registration of the same name
        raise DuplicateConnectorName(f"a connector named {slug} already exists") from clash
    await _event(
        session,
        "connector.registered",
        instance,
        actor,
        clock,
        {
            "name": slug,
            "kind": kind.value,
            "baseUrl": url,
            "webhookSecretsEnv": secrets_env,
            "credentialsEnv": token_env,
            "pollIntervalSeconds": poll_interval_seconds,
            "enabled": enabled,
        },
    )
    return instance


async def set_enabled(
    session: AsyncSession,
    scope: AccessScope,
    *,
    instance_id: uuid.UUID,
    enabled: bool,
    actor: str,
    clock: Clock,
) -> ConnectorInstance:
    """Switch polling and webhook receipt on or off (a disabled instance answers 404)."""
    instance = await get_instance(session, scope, instance_id)
    _owner(scope, instance.organisation_id)
    if instance.enabled != enabled:
        instance.enabled = enabled
        await session.flush()
        await _event(
            session,
            "connector.enabled" if enabled else "connector.disabled",
            instance,
            actor,
            clock,
            {"name": instance.name},
        )
    return instance


async def retry_payload(
    session: AsyncSession,
    scope: AccessScope,
    *,
    payload_id: uuid.UUID,
    actor: str,
    clock: Clock,
) -> InboundPayload:
    """Apply a rejected payload again (after the office fixed what it refers to, say). It ends
    applied, or rejected again with the errors of this attempt."""
    _require_office_or_admin(scope, "retry an inbound payload")
    payload = await repository.visible_payload(session, scope, payload_id)
    if payload is None:
        raise InboundPayloadNotFound(f"no inbound payload {payload_id}")
    payload = await repository.payload_for_update(session, payload.id)
    assert payload is not None
    if payload.status is InboundStatus.APPLIED:
        raise Conflict(f"payload {payload.id} was applied already", code="ALREADY_APPLIED")
    instance = await repository.get_instance_by_name(session, payload.connector)
    if instance is None:
        raise inbound.PayloadNotRetryable(
            f"payload {payload.id} came from {payload.connector}, which is not a connector "
            "instance: it is retried where it was received"
        )
    await inbound.process_payload(session, instance, payload, clock=clock)
    await record(
        session,
        NewEvent(
            type="integration.payload_retried",
            subject_type="inbound_payload",
            subject_id=payload.id,
            actor=actor,
            occurred_at=clock.now(),
            organisation_id=payload.organisation_id,
            payload={"connector": payload.connector, "status": payload.status.value},
        ),
    )
    return payload


# --- reads --------------------------------------------------------------------------------------


async def get_instance(
    session: AsyncSession, scope: AccessScope, instance_id: uuid.UUID
) -> ConnectorInstance:
    instance = await repository.visible_instance(session, scope, instance_id)
    if instance is None:
        raise ConnectorInstanceNotFound(f"no connector instance {instance_id}")
    return instance


async def statuses(
    session: AsyncSession, instances: Sequence[ConnectorInstance], now: datetime
) -> list[InstanceStatus]:
    """The status of each instance, in a fixed number of queries."""
    ids = [instance.id for instance in instances]
    healths = {row.instance_id: row for row in await repository.health_of(session, ids)}
    runs = {row.instance_id: row for row in await repository.latest_runs(session, ids)}
    counts = await repository.payload_counts(session, [instance.name for instance in instances])
    cursors: dict[uuid.UUID, list[ConnectorCursor]] = {}
    for cursor in await repository.cursors_of(session, ids):
        cursors.setdefault(cursor.instance_id, []).append(cursor)
    return [
        InstanceStatus(
            instance=instance,
            breaker=health.breaker_state(healths.get(instance.id), now),
            health=healths.get(instance.id),
            backlog=counts.get((instance.name, InboundStatus.RECEIVED), 0),
            rejected=counts.get((instance.name, InboundStatus.REJECTED), 0),
            last_run=runs.get(instance.id),
            cursors=tuple(cursors.get(instance.id, ())),
            secrets_configured=credentials.configured(instance),
        )
        for instance in instances
    ]


# --- helpers ------------------------------------------------------------------------------------


def _require_office_or_admin(scope: AccessScope, what: str) -> None:
    if not (scope.is_office or scope.is_admin):
        raise Forbidden(f"a {scope.role.value} may not {what}")


def _owner(scope: AccessScope, organisation_id: uuid.UUID | None) -> uuid.UUID:
    """The organisation a configuration change is for: admins name any provider; a registered
    manager configures their own organisation only."""
    if scope.is_admin:
        if organisation_id is None:
            raise InvalidInput(
                "organisationId", "is required: which provider does it serve?", code="REQUIRED"
            )
        return organisation_id
    if scope.role is not Role.REGISTERED_MANAGER or scope.organisation_id is None:
        raise Forbidden("only a registered manager or an admin configures connectors")
    if organisation_id is not None and organisation_id != scope.organisation_id:
        raise Forbidden("you may configure connectors for your own organisation only")
    return scope.organisation_id


def _base_url(value: str) -> str:
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            "baseUrl",
            "must be an http(s) URL, e.g. https://api.supplier.example",
            code="INVALID_URL",
        )
    if parts.username or parts.password:
        raise InvalidInput(
            "baseUrl",
            "must not carry credentials: name the token's environment variable instead",
            code="INVALID_URL",
        )
    if parts.query or parts.fragment:
        raise InvalidInput("baseUrl", "must not have a query or fragment", code="INVALID_URL")
    return url


async def _event(
    session: AsyncSession,
    type_: str,
    instance: ConnectorInstance,
    actor: str,
    clock: Clock,
    payload: dict[str, object],
) -> None:
    await record(
        session,
        NewEvent(
            type=type_,
            subject_type="connector_instance",
            subject_id=instance.id,
            organisation_id=instance.organisation_id,
            actor=actor,
            occurred_at=clock.now(),
            payload=payload,
        ),
    )
