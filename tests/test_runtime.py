"""Start-up refuses configurations that would fail later, in front of a user."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from hub.config import Environment, Settings
from hub.errors import ConfigurationError
from hub.graphql.schema import build_schema
from hub.metrics import HubMetrics
from hub.runtime import Runtime


def _production(settings: Settings, tmp_path: Path, **overrides: object) -> Settings:
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    values: dict[str, object] = {
        "environment": Environment.PRODUCTION,
        "auth_jwks_file": jwks,
        "inprocess_worker": False,
    }
    values.update(overrides)
    return settings.model_copy(update=values)


async def test_production_without_a_field_encryption_key_does_not_start(
    settings: Settings, tmp_path: Path
) -> None:
    production = _production(settings, tmp_path)
    assert production.database_url
    assert production.redis_url
    with pytest.raises(ConfigurationError) as refused:
        await Runtime.open(
            production,
            database_url=production.database_url,
            redis_url=production.redis_url,
            schema=build_schema(),
            metrics=HubMetrics(),
        )
    assert refused.value.code == "FIELD_KEY_MISSING"


async def test_production_with_a_key_starts(settings: Settings, tmp_path: Path) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    production = _production(settings, tmp_path, field_encryption_key=key)
    assert production.database_url
    assert production.redis_url
    runtime = await Runtime.open(
        production,
        database_url=production.database_url,
        redis_url=production.redis_url,
        schema=build_schema(),
        metrics=HubMetrics(),
    )
    await runtime.close()
    assert runtime.identity.dev_issuer is None  # production never signs its own tokens
