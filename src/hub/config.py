"""Settings, read from the environment with the `HUB_` prefix (and an optional `.env` file).

Only composition roots (app, worker, cli) read settings; everything else is handed what it needs.
"""

from __future__ import annotations

import base64
import binascii
import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.auth.client_tokens import TokenProfile

if TYPE_CHECKING:
    from hub.graphql.limits import GraphQLLimits


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Every `HUB_*` variable. `deploy/env.example` and the README mirror this class."""

    model_config = SettingsConfigDict(
        env_prefix="HUB_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Environment = Field(
        default=Environment.DEVELOPMENT,
        description="development, test or production; production turns off GraphiQL, "
        "introspection, the development token issuer and demo data.",
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql+asyncpg://user:pass@host:5432/db). "
        "Unset: an embedded PostgreSQL is started in the data directory.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL (redis://host:6379/0). "
        "Unset: an embedded Redis is started on loopback.",
    )
    data_dir: Path = Field(
        default=Path(".hub"),
        description="Where the embedded servers keep their data and pid files.",
    )
    host: str = Field(default="127.0.0.1", description="Address `hub serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `hub serve` listens on.")
    log_level: str = Field(default="info", description="debug, info, warning or error.")
    log_json: bool = Field(
        default=False, description="JSON log lines (for log shippers) instead of console lines."
    )
    inprocess_worker: bool = Field(
        default=True,
        description="Run the arq worker inside `hub serve`. "
        "Set false when `hub worker` runs as its own process.",
    )
    db_pool_size: int = Field(default=10, ge=1, le=200, description="Connections per process.")
    db_pool_overflow: int = Field(default=5, ge=0, le=200, description="Extra connections at peak.")
    db_statement_timeout_ms: int = Field(
        default=15_000, ge=100, description="Server-side cap on a single SQL statement."
    )
    worker_heartbeat_seconds: int = Field(
        default=15, ge=1, le=3600, description="How often the worker reports that it is alive."
    )
    worker_stale_after_beats: int = Field(
        default=4,
        ge=2,
        le=100,
        description="The worker counts as stopped once it has not polled Redis for this many "
        "heartbeat intervals: `/readyz` answers 503 (in-process worker) and `hub worker-check` "
        "fails (a `hub worker`'s liveness probe). 4 x 15 s = 60 s by default.",
    )
    worker_alive_file: Path = Field(
        # The image's only writable path is /tmp (an emptyDir in deploy/k8s).
        default=Path("/tmp/care-hub-worker.alive"),  # noqa: S108 - a pulse, not a secret
        description="Where `hub worker` records that it is alive, for `hub worker-check` "
        "(its liveness probe). One file per worker: give workers sharing a /tmp their own.",
    )
    worker_slow_job_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="A job that runs longer is logged at warning (routine runs log at debug).",
    )

    # --- identity -------------------------------------------------------------------------
    auth_issuer: str = Field(
        default="urn:care-hub:development",
        description="Expected `iss` of bearer tokens. Outside production with no JWKS configured, "
        "the hub is its own issuer under this name.",
    )
    auth_audience: str = Field(default="care-hub", description="Expected `aud` of bearer tokens.")
    auth_jwks_url: str | None = Field(
        default=None, description="The issuer's JWKS URL (e.g. an OIDC provider's jwks_uri)."
    )
    auth_jwks_file: Path | None = Field(
        default=None, description="A JWKS JSON file, instead of a URL (air-gapped deployments)."
    )
    auth_algorithms: str = Field(
        default="RS256,ES256", description="Accepted signature algorithms (RS256 and/or ES256)."
    )
    auth_leeway_seconds: int = Field(
        default=60, ge=0, le=300, description="Clock skew allowed on exp, nbf and iat."
    )
    auth_provider: TokenProfile = Field(
        default=TokenProfile.RFC9068,
        description="How the issuer's tokens tell a partner system (client credentials) from a "
        "person: rfc9068 (client_id equals sub), keycloak (service-account user), entra "
        "(idtyp app, or roles and no scp) or cis2 (people only). See hub.auth.client_tokens.",
    )
    field_encryption_key: str | None = Field(
        default=None,
        description="Base64 of 32 random bytes sealing access details and key-safe codes at rest "
        "(AES-256-GCM). Required in production; outside it a key is kept in the data directory.",
    )
    # --- metrics ----------------------------------------------------------------------------
    metrics_token: str | None = Field(
        default=None,
        min_length=32,
        description="Bearer token a Prometheus scraper sends to /metrics. Unset: /metrics is open "
        "outside production and refused (403) in production.",
    )
    metrics_operation_names: int = Field(
        default=200,
        ge=0,
        le=10_000,
        description="GraphQL operation names learned as metric labels from signed-in office "
        "users, in all; later names count as 'other'.",
    )
    metrics_names_per_caller: int = Field(
        default=20,
        ge=0,
        le=1000,
        description="New operation names one office account may add to the metric labels.",
    )
    # --- limits -----------------------------------------------------------------------------
    max_request_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body accepted (1 MiB)."
    )
    graphql_max_depth: int = Field(
        default=18, ge=2, le=100, description="Deepest field path a document may have."
    )
    graphql_max_aliases: int = Field(default=15, ge=0, le=1000, description="Aliases per document.")
    graphql_max_tokens: int = Field(
        default=1000, ge=50, le=100_000, description="Tokens per document."
    )
    graphql_max_cost: int = Field(
        default=10_000,
        ge=100,
        description="Fields a document may resolve, lists weighted by page size.",
    )
    graphql_max_directives: int = Field(
        default=50, ge=0, le=1000, description="Directives per document."
    )
    client_rate_per_minute: int = Field(
        default=600, ge=1, description="Requests a partner or supplier client may make per minute."
    )
    client_burst: int = Field(
        default=60, ge=1, description="Requests a partner or supplier client may make in a burst."
    )

    # --- mobile field API -----------------------------------------------------------------
    mobile_min_app_version: str = Field(
        default="1.0.0",
        pattern=r"^\d+\.\d+\.\d+$",
        description="Oldest carer app version that may read (below it: drain-only, uploads "
        "accepted, reads refused). Semantic version, e.g. 1.4.0.",
    )
    mobile_protocol_version: int = Field(
        default=2,
        ge=1,
        description="Current command protocol version; it and the one before are accepted.",
    )
    mobile_carer_raw_documents: bool = Field(
        default=False,
        description="Development and tests only (ignored in production): let carer tokens send "
        "GraphQL text instead of trusted-document ids, e.g. to build the next app release "
        "before its manifest is committed.",
    )
    mobile_geofence_metres: int = Field(
        default=150,
        ge=10,
        le=5000,
        description="Radius around a person's home within which a GPS check-in or check-out "
        "counts as there; farther is flagged OUTSIDE_GEOFENCE.",
    )
    mobile_command_lock_timeout_ms: int = Field(
        default=2000,
        ge=50,
        le=30_000,
        description="How long one uploaded command waits for a row another transaction holds "
        "before the upload stops with DEFERRED (the app retries; nothing is lost).",
    )
    mobile_device_busy_wait_ms: int = Field(
        default=1000,
        ge=0,
        le=30_000,
        description="How long a second upload from the same device waits for the first before "
        "it is answered DEVICE_BUSY.",
    )

    # --- live feeds -----------------------------------------------------------------------
    event_feed_fallback_seconds: float = Field(
        default=5.0,
        ge=0.1,
        le=300,
        description="Live feeds (exception feed, contract events) wake on PostgreSQL "
        "notifications; they also re-read the event log at least this often, so a lost "
        "notification only delays an event.",
    )

    # --- governance (exception rules) ------------------------------------------------------
    governance_scan_seconds: int = Field(
        default=15,
        ge=1,
        le=60,
        description="How often, in seconds within each minute, the worker runs the exception "
        "rules: the late/missed visit scan, the event rules and the escalation timers.",
    )

    # --- connectors and webhooks (integrations) ---------------------------------------------
    connector_timeout_seconds: float = Field(
        default=10.0,
        ge=1,
        le=120,
        description="Read timeout of one call to an upstream (connecting is capped at 3 s).",
    )
    connector_max_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Tries per call to an upstream, counting the first; only transient failures "
        "(timeouts, refused connections, 429, 5xx, truncated bodies) are retried, with jittered "
        "exponential backoff.",
    )
    connector_breaker_failures: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Consecutive transient failures of one connector instance that open its "
        "circuit breaker (shared by every process).",
    )
    connector_breaker_cool_down_seconds: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="How long an open breaker refuses calls before one probe is let through.",
    )
    connector_page_size: int = Field(
        default=100, ge=1, le=500, description="Records asked for per page when pulling a feed."
    )
    connector_max_pages_per_run: int = Field(
        default=50,
        ge=1,
        le=10000,
        description="Pages of each feed one poll run pulls at most; the next run goes on from "
        "the cursor.",
    )
    webhook_tolerance_seconds: int = Field(
        default=300,
        ge=30,
        le=900,
        description="How far, in seconds, a webhook's signed timestamp may be from the hub's "
        "clock, either way; older or newer deliveries are refused as stale.",
    )

    @model_validator(mode="after")
    def _no_retired_claim_settings(self) -> Settings:
        """These named a claim whose mere presence made a token a client's, which let a
        person's token act as a partner system; HUB_AUTH_PROVIDER replaces both. Refusing to
        start beats silently reading tokens another way."""
        names = ("HUB_AUTH_CLIENT_ID_CLAIM", "HUB_AUTH_SCOPE_CLAIM")
        retired = [name for name in names if name in os.environ]
        if retired:
            raise ValueError(
                f"{', '.join(retired)} no longer exist: set HUB_AUTH_PROVIDER (rfc9068, keycloak,"
                " entra or cis2) instead; see the README's Identity section"
            )
        return self

    @field_validator(
        "auth_jwks_url", "auth_jwks_file", "field_encryption_key", "metrics_token", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """`HUB_AUTH_JWKS_URL=` in an env file means "not set", not an empty URL or `Path('.')`."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("field_encryption_key")
    @classmethod
    def _field_key_shape(cls, value: str | None) -> str | None:
        """Refused here, before anything starts or migrates, not at the first sealed read."""
        if value is None:
            return None
        try:
            key = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(
                "must be base64 of 32 random bytes (openssl rand -base64 32)"
            ) from None
        if len(key) != 32:
            raise ValueError(f"must be base64 of 32 bytes, not {len(key)}")
        return value

    @field_validator("auth_algorithms")
    @classmethod
    def _pinned_algorithms(cls, value: str) -> str:
        algorithms = [a.strip() for a in value.split(",") if a.strip()]
        refused = [a for a in algorithms if a not in ("RS256", "ES256")]
        if not algorithms or refused:
            raise ValueError("only RS256 and ES256 are accepted for issuer tokens")
        return ",".join(algorithms)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.lower()
        if level not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return level

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        """Accept the usual `postgresql://` spellings and use the asyncpg driver for them."""
        if not value:
            return None
        for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://"):
            if value.startswith(prefix):
                return "postgresql+asyncpg://" + value[len(prefix) :]
        if not value.startswith("postgresql+asyncpg://"):
            raise ValueError("must be a postgresql:// or postgresql+asyncpg:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    def graphql_limits(self) -> GraphQLLimits:
        from hub.graphql.limits import GraphQLLimits

        return GraphQLLimits(
            max_depth=self.graphql_max_depth,
            max_aliases=self.graphql_max_aliases,
            max_tokens=self.graphql_max_tokens,
            max_cost=self.graphql_max_cost,
            max_directives=self.graphql_max_directives,
        )

    @property
    def uses_development_issuer(self) -> bool:
        """The hub signs its own tokens only outside production and only with no JWKS given."""
        return not self.is_production and self.auth_jwks_url is None and self.auth_jwks_file is None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
