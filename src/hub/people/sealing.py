"""Sealing a person's access details and key-safe code at rest (AES-256-GCM).

A key-safe code opens someone's front door, so a copy of the database alone must not reveal it.
Each value is sealed on its own with a fresh random 96-bit nonce, and the associated data binds
it to one person and one field: a sealed value copied into another person's row, or from the
access-details column into the key-safe column, fails to open instead of showing the wrong code.

Sealed layout (bytes): ``version (1) | nonce (12) | ciphertext + GCM tag (16)``. The version byte
leaves room for a key rotation scheme without guessing what old rows are.

Where the key comes from:

- ``HUB_FIELD_ENCRYPTION_KEY`` (base64 of 32 bytes), always used when set;
- production without it: refused (`ConfigurationError`), never a generated key;
- otherwise a key file ``field-key`` in the data directory, created once (mode 0600, written to a
  temporary file and linked into place, as `hub.auth.dev_issuer` does for its signing key), so
  development data stays readable across restarts.

`sealer_for(settings)` builds the `Sealer` once per process and key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import stat
import tempfile
import threading
import uuid
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.config import Settings
from hub.errors import ConfigurationError
from hub.people.errors import SealedValueUnreadable

KEY_FILE_NAME = "field-key"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
FORMAT_VERSION = 1
_HEADER = bytes([FORMAT_VERSION])


class Sealer:
    """Seals and opens short secrets bound to (person, field) with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ConfigurationError(
                f"the field encryption key must be {KEY_BYTES} bytes, not {len(key)}"
            )
        self._aead = AESGCM(key)

    def seal(self, person_id: uuid.UUID, field: str, value: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode(), _associated_data(person_id, field))
        return _HEADER + nonce + sealed

    def unseal(self, person_id: uuid.UUID, field: str, sealed: bytes) -> str:
        """The plain value; `SealedValueUnreadable` if it was sealed for another person or
        field, with another key, or altered."""
        if len(sealed) < 1 + NONCE_BYTES + TAG_BYTES or sealed[:1] != _HEADER:
            raise SealedValueUnreadable(f"{field} of person {person_id} is not a sealed value")
        nonce = sealed[1 : 1 + NONCE_BYTES]
        try:
            plain = self._aead.decrypt(
                nonce, sealed[1 + NONCE_BYTES :], _associated_data(person_id, field)
            )
        except InvalidTag:
            raise SealedValueUnreadable(
                f"{field} of person {person_id} cannot be opened with this key"
            ) from None
        return plain.decode()


def _associated_data(person_id: uuid.UUID, field: str) -> bytes:
    return f"care-hub:person:{person_id}:{field}".encode()


# Per process: the Sealer for each key, and which key each configuration resolved to (so a
# request does not reread the key file).
_sealers: dict[bytes, Sealer] = {}
_resolved: dict[tuple[str | None, str, bool], bytes] = {}
_lock = threading.Lock()


def sealer_for(settings: Settings) -> Sealer:
    """The process's `Sealer` for these settings' key (built once per key)."""
    where = (
        settings.field_encryption_key,
        str(Path(settings.data_dir).resolve()),
        settings.is_production,
    )
    with _lock:
        key = _resolved.get(where)
        if key is None:
            key = _resolved[where] = field_key(settings)
        sealer = _sealers.get(key)
        if sealer is None:
            sealer = _sealers[key] = Sealer(key)
    return sealer


def field_key(settings: Settings) -> bytes:
    """The 32-byte key: from the setting, else (outside production) the data directory's file."""
    if settings.field_encryption_key is not None:
        return decode_key(settings.field_encryption_key, "HUB_FIELD_ENCRYPTION_KEY")
    if settings.is_production:
        raise ConfigurationError(
            "HUB_FIELD_ENCRYPTION_KEY is required in production: set it to base64 of 32 random "
            'bytes (e.g. `python -c "import os,base64;print(base64.b64encode(os.urandom(32))'
            ".decode())\"`) and keep it with the database backups' keys",
            code="FIELD_KEY_MISSING",
        )
    return _load_or_create_key_file(Path(settings.data_dir) / KEY_FILE_NAME)


def decode_key(text: str, origin: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{origin} is not base64", code="FIELD_KEY_INVALID") from None
    if len(key) != KEY_BYTES:
        raise ConfigurationError(
            f"{origin} must be base64 of {KEY_BYTES} bytes, not {len(key)}",
            code="FIELD_KEY_INVALID",
        )
    return key


def _load_or_create_key_file(path: Path) -> bytes:
    try:
        return _load_key_file(path)
    except FileNotFoundError:
        pass
    _create_key_file(path)
    return _load_key_file(path)


def _load_key_file(path: Path) -> bytes:
    with path.open("rb") as handle:
        mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
        if os.name == "posix" and mode & 0o077:
            raise ConfigurationError(
                f"the field encryption key {path} is readable by other users (mode {mode:o}); "
                "run `chmod 600` on it",
                code="FIELD_KEY_EXPOSED",
            )
        text = handle.read(1024).decode("ascii", errors="replace")
    return decode_key(text, str(path))


def _create_key_file(path: Path) -> None:
    """mkstemp makes the file 0600; `os.link` publishes it only if no key is there yet, so two
    processes starting together end up with one key (the loser reads the winner's)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    document = base64.b64encode(os.urandom(KEY_BYTES)) + b"\n"
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(document)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    if os.name == "posix":
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
