"""The hub as its own token issuer, for development, demos and tests only.

An embedded hub has no identity provider to ask, so it signs its own ES256 tokens (`hub token`)
and verifies them with the same `TokenVerifier` a production hub points at its IdP: nothing
about verification is relaxed for development. The signing key lives in one file the hub creates
once (mode 0600, written to a temporary file and linked into place, so a crash or a second
process never leaves a half-written or replaced key) and reuses afterwards, so tokens survive a
restart. The key id is its RFC 7638 thumbprint, stable for as long as the key is.

Production must never mint its own tokens, so the constructor refuses `production=True` before
it touches the filesystem. The caller passes the flag; this module reads no settings.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import tempfile
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from hub.auth.jwks import public_jwks_document
from hub.errors import ConfigurationError, InvalidInput
from hub.kit.time import Clock, SystemClock

ALGORITHM = "ES256"
TOKEN_TYPE = "at+jwt"  # noqa: S105 (a media type, RFC 9068 §2.1: explicit typing)
DEFAULT_TTL = timedelta(hours=1)
MAX_TTL = timedelta(days=1)
# Claims the issuer sets itself; a caller supplying one would be minting for someone else.
RESERVED_CLAIMS = frozenset({"iss", "aud", "sub", "iat", "exp", "nbf", "jti"})


class DevelopmentIssuer:
    """Loads or creates the development signing key and mints tokens with it."""

    def __init__(
        self,
        key_path: Path,
        *,
        issuer: str,
        audience: str,
        production: bool,
        clock: Clock | None = None,
    ) -> None:
        if production:
            raise ConfigurationError(
                "the development token issuer cannot run in production: configure the "
                "identity provider's issuer, audience and JWKS URL instead",
                code="DEV_ISSUER_IN_PRODUCTION",
            )
        if not issuer or not audience:
            raise ConfigurationError("the development issuer needs an issuer and an audience")
        self._issuer = issuer
        self._audience = audience
        self._clock: Clock = clock or SystemClock()
        self._key = _load_or_create_key(key_path)
        self._kid = self._key.thumbprint()

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def audience(self) -> str:
        return self._audience

    @property
    def kid(self) -> str:
        return self._kid

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS to publish or to verify against: public members only."""
        public = ECKey.import_key(self._key.as_dict(private=False))
        document = public_jwks_document([public])
        for entry in document["keys"]:
            entry.update({"kid": self._kid, "alg": ALGORITHM, "use": "sig"})
        return document

    def key_set(self) -> KeySet:
        """The same keys as `public_jwks`, ready for `StaticJwks`."""
        return KeySet([ECKey.import_key(entry) for entry in self.public_jwks()["keys"]])

    def mint(
        self,
        subject: str,
        claims: Mapping[str, Any] | None = None,
        ttl: timedelta = DEFAULT_TTL,
    ) -> str:
        """A signed token for `subject` with the caller's extra `claims` (roles, organisation,
        scope...). The issuer sets iss, aud, sub, iat, exp and a random jti itself."""
        if not subject:
            raise InvalidInput("subject", "must not be empty")
        extra = dict(claims or {})
        clashing = sorted(RESERVED_CLAIMS & extra.keys())
        if clashing:
            raise InvalidInput("claims", f"the issuer sets {', '.join(clashing)} itself")
        if not timedelta(seconds=1) <= ttl <= MAX_TTL:
            raise InvalidInput("ttl", f"must be between 1 second and {MAX_TTL}")
        issued_at = int(self._clock.now().timestamp())
        payload = {
            **extra,
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "iat": issued_at,
            "exp": issued_at + int(ttl.total_seconds()),
            "jti": secrets.token_urlsafe(16),
        }
        header = {"alg": ALGORITHM, "kid": self._kid, "typ": TOKEN_TYPE}
        return jwt.encode(header, payload, self._key, algorithms=[ALGORITHM])


def _load_or_create_key(path: Path) -> ECKey:
    try:
        return _load_key(path)
    except FileNotFoundError:
        pass
    _create_key(path)
    return _load_key(path)


def _load_key(path: Path) -> ECKey:
    with path.open("rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if os.name == "posix" and stat.S_IMODE(mode) & 0o077:
            raise ConfigurationError(
                f"the development signing key {path} is readable by other users "
                f"(mode {stat.S_IMODE(mode):o}); run `chmod 600` on it or delete it"
            )
        data = handle.read(64 * 1024)
    try:
        key = ECKey.import_key(json.loads(data))
    except (ValueError, TypeError, JoseError):
        raise ConfigurationError(
            f"the development signing key {path} is not an EC private JWK; delete it to "
            "have a new one created"
        ) from None
    if not key.is_private or key.curve_name != "P-256":
        raise ConfigurationError(
            f"the development signing key {path} must be a P-256 private key; delete it to "
            "have a new one created"
        )
    return key


def _create_key(path: Path) -> None:
    """Write a new key without ever exposing a partial or world-readable file.

    mkstemp creates the temporary file 0600; `os.link` then publishes it under the final name
    only if no file is there, so two processes starting together agree on one key (the loser
    loads the winner's) instead of each replacing the other's.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ECKey.generate_key("P-256", private=True)
    document = json.dumps(key.as_dict(private=True)).encode()
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
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """Make the new name durable (POSIX); a crash after this cannot lose the key file."""
    if os.name != "posix":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
