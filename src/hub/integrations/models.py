"""Tables of the integrations domain (see ../shared/DESIGN.md §4 and §7).

- `connector_instances`: one configured upstream for one organisation (a supplier's rostering
  system, say). Secrets are never stored: the row names the *environment variables* that hold
  them, resolved when the connector runs.
- `connector_cursors`: where each feed of an instance got to; advanced in the transaction that
  applies the page it came from.
- `connector_health`: the circuit breaker and the last success/error, in the database so every
  API replica and worker sees the same state.
- `connector_runs`: one row per poll run with its progress, so a long import can be watched.
- `inbound_payloads`: the raw archive of everything an upstream sent (brief contract C). The
  unique (connector, delivery_key) is the hub's replay guard: a delivery is claimed in the
  transaction that applies it.
- `external_refs`: an upstream's identifier of a record mapped to the hub's id.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Entity, pg_enum


class InboundChannel(StrEnum):
    """How a payload reached the hub."""

    WEBHOOK = "webhook"
    POLL = "poll"
    UPLOAD = "upload"
    FHIR = "fhir"


class InboundStatus(StrEnum):
    """`received` until processed; then `applied`, or `rejected` with its errors."""

    RECEIVED = "received"
    APPLIED = "applied"
    REJECTED = "rejected"


class ConnectorKind(StrEnum):
    """Which connector package an instance runs."""

    SUPPLIER_REST = "supplier_rest"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class InboundPayload(Entity):
    """Exactly what an upstream sent, whatever became of it (brief contract C).

    `connector` names the sender (a connector instance's name, `fhir`, `la_portal:<…>`);
    `delivery_key` is the sender's delivery id, or a key derived from the content for polls
    and uploads. `body` is the bytes as received, `sha256` their digest.
    """

    __tablename__ = "inbound_payloads"

    connector: Mapped[str] = mapped_column(Text)
    channel: Mapped[InboundChannel] = mapped_column(pg_enum(InboundChannel, "inbound_channel"))
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    delivery_key: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(Text)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    status: Mapped[InboundStatus] = mapped_column(
        pg_enum(InboundStatus, "inbound_status"), server_default=text("'received'")
    )
    # A list of {path, problem, code} once rejected; empty otherwise.
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    summary: Mapped[str | None] = mapped_column(Text)
    # What applying it did (counts, ids), for the office and the audit pack.
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    processed_at: Mapped[datetime | None]
    # How many times processing was attempted (webhook jobs, office retries).
    attempts: Mapped[int] = mapped_column(server_default=text("0"))

    __table_args__ = (
        UniqueConstraint("connector", "delivery_key"),
        CheckConstraint("length(sha256) = 64", name="sha256_hex"),
        Index("ix_inbound_payloads_status_received_at", "status", "received_at"),
        Index("ix_inbound_payloads_organisation_id_received_at", "organisation_id", "received_at"),
    )


class ConnectorInstance(Entity):
    """One upstream connection configured for one organisation.

    `name` is global (it is the path of `/webhooks/{name}` and the archive's `connector`).
    `webhook_secrets_env` and `credentials_env` name environment variables; the values live in
    the environment (or the orchestrator's secret store behind it), never in this table.
    """

    __tablename__ = "connector_instances"

    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[ConnectorKind] = mapped_column(pg_enum(ConnectorKind, "connector_kind"))
    name: Mapped[str] = mapped_column(Text, unique=True)
    base_url: Mapped[str] = mapped_column(Text)
    webhook_secrets_env: Mapped[str] = mapped_column(Text)
    credentials_env: Mapped[str | None] = mapped_column(Text)
    poll_interval_seconds: Mapped[int] = mapped_column(server_default=text("300"))
    enabled: Mapped[bool] = mapped_column(server_default=text("true"))
    registered_by: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("name ~ '^[a-z0-9][a-z0-9-]{1,62}$'", name="name_slug"),
        CheckConstraint("poll_interval_seconds >= 30", name="poll_interval_floor"),
        Index("ix_connector_instances_organisation_id", "organisation_id"),
    )


class ConnectorCursor(Entity):
    """The opaque cursor of one feed of one instance (`Page.next_cursor`)."""

    __tablename__ = "connector_cursors"

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connector_instances.id", ondelete="CASCADE")
    )
    feed: Mapped[str] = mapped_column(Text)
    cursor: Mapped[str | None] = mapped_column(Text)
    advanced_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("instance_id", "feed"),)


class ConnectorHealth(Entity):
    """Breaker state and last outcomes of one instance, shared by every process.

    `open_until` is set while the breaker is open; past it the next call is the half-open probe
    (`probe_started_at` marks it taken, so two workers do not both probe).
    """

    __tablename__ = "connector_health"

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connector_instances.id", ondelete="CASCADE"), unique=True
    )
    consecutive_failures: Mapped[int] = mapped_column(server_default=text("0"))
    open_until: Mapped[datetime | None]
    probe_started_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error_at: Mapped[datetime | None]
    last_error_code: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_poll_started_at: Mapped[datetime | None]
    # A poll run holds the instance until then, so two workers never pull the same feeds.
    poll_lease_until: Mapped[datetime | None]


class ConnectorRun(Entity):
    """One poll run of one instance: which feeds, how far it got, how it ended."""

    __tablename__ = "connector_runs"

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connector_instances.id", ondelete="CASCADE")
    )
    trigger: Mapped[str] = mapped_column(Text)
    status: Mapped[RunStatus] = mapped_column(pg_enum(RunStatus, "connector_run_status"))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    pages: Mapped[int] = mapped_column(server_default=text("0"))
    records_applied: Mapped[int] = mapped_column(server_default=text("0"))
    records_rejected: Mapped[int] = mapped_column(server_default=text("0"))
    # Per feed: {"visits": {"pages": 3, "applied": 120, "rejected": 1, "done": true}}.
    progress: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    error_code: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_connector_runs_instance_id_started_at", "instance_id", "started_at"),
    )


class ExternalRef(Entity):
    """An upstream's id for a record → the hub's id: `staff` → staff member, `package` → care
    package, `visit` → visit, `visit_event` → the visit fact it became, `rota_change` → the
    visit it changed. One upstream record is one hub record (unique per instance); several
    rota changes name the same visit, so the hub side is indexed, not unique.
    """

    __tablename__ = "external_refs"

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connector_instances.id", ondelete="CASCADE")
    )
    entity_type: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str] = mapped_column(Text)
    hub_id: Mapped[uuid.UUID]
    # The upstream's last-modified time of what we applied: an older update is not re-applied.
    upstream_updated_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("instance_id", "entity_type", "external_id"),
        Index(
            "ix_external_refs_instance_id_entity_type_hub_id",
            "instance_id",
            "entity_type",
            "hub_id",
        ),
    )
