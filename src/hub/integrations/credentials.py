"""Connector secrets come from the environment, never from the database.

A connector instance stores the *names* of two environment variables: one holding the webhook
signing secrets (comma-separated, so the old and the new secret can both be live during a
rotation) and one holding the bearer token the hub sends when it pulls. The values are read
when they are needed, so rotating a secret is a change of environment (and, for a running
process, a restart or a re-read of the orchestrator's secret), not a database write, and a
database dump or backup never contains them.

Names must be upper-case shell names and must not start with `HUB_`: those are the hub's own
settings, and pointing a connector at one (say the field-encryption key) must be impossible.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from hub.errors import HubError, InvalidInput
from hub.integrations.models import ConnectorInstance

ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]{2,99}")
MIN_SECRET_BYTES = 32  # connectors.webhooks refuses shorter ones too


class ConnectorNotConfigured(HubError):
    """The instance's secret or token is not in this process's environment."""

    code = "CONNECTOR_NOT_CONFIGURED"


def default_env_names(name: str) -> tuple[str, str]:
    """(webhook secrets, token) variable names for an instance called `name`:
    `careroster` → `CONNECTOR_CAREROSTER_WEBHOOK_SECRETS`, `CONNECTOR_CAREROSTER_TOKEN`."""
    stem = "CONNECTOR_" + name.upper().replace("-", "_")
    return f"{stem}_WEBHOOK_SECRETS", f"{stem}_TOKEN"


def check_env_name(field: str, value: str) -> str:
    name = value.strip()
    if not ENV_NAME.fullmatch(name):
        raise InvalidInput(
            field,
            "must be an environment variable name: capitals, digits and _, 3-100 characters",
            code="INVALID_ENV_NAME",
        )
    if name.startswith("HUB_"):
        raise InvalidInput(
            field,
            "must not name a hub setting (HUB_…): connector secrets live in their own variables",
            code="INVALID_ENV_NAME",
        )
    return name


def webhook_secrets(
    instance: ConnectorInstance, environ: Mapping[str, str] | None = None
) -> tuple[bytes, ...]:
    """The instance's live webhook secrets; `ConnectorNotConfigured` when there are none or
    one is too short to be safe."""
    env = os.environ if environ is None else environ
    raw = env.get(instance.webhook_secrets_env, "")
    secrets = tuple(part.strip().encode() for part in raw.split(",") if part.strip())
    if not secrets:
        raise ConnectorNotConfigured(
            f"connector {instance.name}: set {instance.webhook_secrets_env} to its webhook "
            "secret(s), comma-separated"
        )
    if any(len(secret) < MIN_SECRET_BYTES for secret in secrets):
        raise ConnectorNotConfigured(
            f"connector {instance.name}: every secret in {instance.webhook_secrets_env} must be "
            f"at least {MIN_SECRET_BYTES} bytes"
        )
    return secrets


def pull_token(instance: ConnectorInstance, environ: Mapping[str, str] | None = None) -> str:
    """The bearer token the hub sends the upstream; `ConnectorNotConfigured` when unset."""
    env = os.environ if environ is None else environ
    if instance.credentials_env is None:
        raise ConnectorNotConfigured(
            f"connector {instance.name} has no token variable: it can receive webhooks only"
        )
    token = env.get(instance.credentials_env, "").strip()
    if not token:
        raise ConnectorNotConfigured(
            f"connector {instance.name}: set {instance.credentials_env} to its API token"
        )
    return token


def configured(instance: ConnectorInstance, environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process could verify the instance's webhooks (for the status query)."""
    try:
        webhook_secrets(instance, environ)
    except ConnectorNotConfigured:
        return False
    return True
