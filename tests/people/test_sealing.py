"""Sealing access details and key-safe codes: AES-256-GCM bound to (person, field), and where
the key comes from in each environment."""

from __future__ import annotations

import base64
import os
import stat
import uuid
from pathlib import Path

import pytest

from hub.config import Environment, Settings
from hub.errors import ConfigurationError
from hub.people.errors import SealedValueUnreadable
from hub.people.sealing import KEY_FILE_NAME, Sealer, field_key, sealer_for

PERSON = uuid.UUID("01937000-0000-7000-8000-000000000001")
OTHER = uuid.UUID("01937000-0000-7000-8000-000000000002")


@pytest.fixture
def sealer() -> Sealer:
    return Sealer(os.urandom(32))


def test_a_sealed_value_opens_for_its_person_and_field_only(sealer: Sealer) -> None:
    sealed = sealer.seal(PERSON, "key_safe_code", "4321")
    assert b"4321" not in sealed
    assert sealer.unseal(PERSON, "key_safe_code", sealed) == "4321"
    with pytest.raises(SealedValueUnreadable):
        sealer.unseal(OTHER, "key_safe_code", sealed)  # copied to another person's row
    with pytest.raises(SealedValueUnreadable):
        sealer.unseal(PERSON, "access_details", sealed)  # moved to another column


def test_every_seal_uses_a_fresh_nonce(sealer: Sealer) -> None:
    first = sealer.seal(PERSON, "key_safe_code", "4321")
    second = sealer.seal(PERSON, "key_safe_code", "4321")
    assert first != second
    assert first[1:13] != second[1:13]
    assert len(first) == 1 + 12 + len("4321") + 16


def test_an_altered_value_or_another_key_does_not_open(sealer: Sealer) -> None:
    sealed = bytearray(sealer.seal(PERSON, "access_details", "Side door; dog is friendly"))
    sealed[-1] ^= 0x01
    with pytest.raises(SealedValueUnreadable):
        sealer.unseal(PERSON, "access_details", bytes(sealed))
    with pytest.raises(SealedValueUnreadable):
        Sealer(os.urandom(32)).unseal(
            PERSON, "access_details", sealer.seal(PERSON, "access_details", "x")
        )
    with pytest.raises(SealedValueUnreadable):
        sealer.unseal(PERSON, "access_details", b"\x01short")


def test_a_configured_key_is_used_and_must_be_32_bytes(tmp_path: Path) -> None:
    key = os.urandom(32)
    settings = Settings(
        environment=Environment.PRODUCTION,
        field_encryption_key=base64.b64encode(key).decode(),
        data_dir=tmp_path,
    )
    assert field_key(settings) == key
    assert not (tmp_path / KEY_FILE_NAME).exists()
    short = settings.model_copy(
        update={"field_encryption_key": base64.b64encode(b"x" * 16).decode()}
    )
    with pytest.raises(ConfigurationError, match="32 bytes, not 16"):
        field_key(short)
    garbled = settings.model_copy(update={"field_encryption_key": "not base64!"})
    with pytest.raises(ConfigurationError, match="not base64"):
        field_key(garbled)


def test_production_without_a_key_refuses_clearly(tmp_path: Path) -> None:
    settings = Settings(environment=Environment.PRODUCTION, data_dir=tmp_path)
    with pytest.raises(ConfigurationError, match="HUB_FIELD_ENCRYPTION_KEY is required") as refused:
        sealer_for(settings)
    assert refused.value.code == "FIELD_KEY_MISSING"
    assert list(tmp_path.iterdir()) == []


def test_outside_production_a_private_key_file_is_created_once_and_reused(tmp_path: Path) -> None:
    settings = Settings(environment=Environment.DEVELOPMENT, data_dir=tmp_path / "hub")
    key = field_key(settings)
    path = tmp_path / "hub" / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert field_key(settings) == key
    sealed = sealer_for(settings).seal(PERSON, "key_safe_code", "0000")
    assert sealer_for(settings) is sealer_for(settings)
    assert Sealer(key).unseal(PERSON, "key_safe_code", sealed) == "0000"
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILE_NAME]  # no temporary left


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    settings = Settings(environment=Environment.TEST, data_dir=tmp_path)
    field_key(settings)
    (tmp_path / KEY_FILE_NAME).chmod(0o644)
    with pytest.raises(ConfigurationError, match="readable by other users"):
        field_key(settings)
