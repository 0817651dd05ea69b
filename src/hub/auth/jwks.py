"""Where verification keys come from: the issuer's JWKS, fetched, read from a file, or given.

Only the configured source is ever consulted; a token cannot point the hub at another (see
`tokens`). Every source hands out a `KeySet` of public signing keys and nothing else: a JWKS
that carries private key material or a symmetric (`oct`) key is refused whole, because an issuer
publishing those is broken or compromised, and a symmetric key in the verifier's hands would be
the HS256 algorithm-confusion attack waiting to happen.

`RemoteJwks` follows the figures in reliability-security-anchors.md (A2, J3, J10): refresh about
every 10 minutes, refetch on an unknown `kid` at most once a minute, keep serving the last good
keys when the issuer is down, and share one in-flight fetch between concurrent callers.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, Key, KeySet, OctKey, RSAKey

from hub.errors import HubError, UpstreamUnavailable
from hub.kit.time import Clock, SystemClock
from hub.logging import get_logger

log = get_logger(__name__)

DEFAULT_MAX_JWKS_BYTES = 256 * 1024
MIN_RSA_BITS = 2048
# RFC 7518 §6.2.2 / §6.3.2: the members that only a private (or symmetric) key has.
PRIVATE_KEY_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class JwksDocumentError(HubError):
    """A JWKS document or key set was refused (not a JWKS, private material, no usable key)."""

    code = "JWKS_INVALID"


class JwksUnavailable(UpstreamUnavailable):
    """No keys can be served at all. Not a token problem: the caller should see a 503."""

    code = "JWKS_UNAVAILABLE"


class JwksSource(Protocol):
    """Supplies the issuer's public keys.

    `unknown_kid` says a token named a key the caller did not find; a source may use it as a hint
    to look again (the issuer may have rotated), within its own rate limit.
    """

    async def key_set(self, *, unknown_kid: str | None = None) -> KeySet: ...


def parse_jwks(document: object) -> KeySet:
    """Turn a JWKS document into a key set of public signing keys, or refuse it.

    Refused whole: anything that is not `{"keys": [...objects...]}`, any `oct` key, any private
    member. Skipped (RFC 7517 §5 lets a reader ignore keys it does not use): keys for `enc`, key
    types and curves the hub cannot verify with (only RSA and P-256), RSA keys under 2048 bits,
    and keys that fail to import. A document left with no usable key is refused.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksDocumentError("not a JWKS: expected a JSON object with a 'keys' array")
    entries: list[Any] = document["keys"]
    for entry in entries:
        if not isinstance(entry, dict):
            raise JwksDocumentError("not a JWKS: every entry of 'keys' must be an object")
        if entry.get("kty") == "oct":
            raise JwksDocumentError("the JWKS publishes a symmetric ('oct') key; refused whole")
        if PRIVATE_KEY_MEMBERS & entry.keys():
            raise JwksDocumentError("the JWKS contains private key material; refused whole")
    usable = [key for key in map(_import_signing_key, entries) if key is not None]
    if not usable:
        raise JwksDocumentError(f"the JWKS has no usable signing key ({len(entries)} listed)")
    return KeySet(usable)


def _import_signing_key(entry: dict[str, Any]) -> Key | None:
    if entry.get("use", "sig") != "sig":
        return None
    try:
        # joserfc warns on short RSA keys; the hub refuses them below instead of warning.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)
            if entry.get("kty") == "RSA":
                rsa = RSAKey.import_key(entry)
                return rsa if rsa.public_key.key_size >= MIN_RSA_BITS else None
            if entry.get("kty") == "EC":
                ec = ECKey.import_key(entry)
                return ec if ec.curve_name == "P-256" else None
    except (JoseError, ValueError, TypeError):
        return None
    return None


def check_public_key_set(key_set: KeySet) -> KeySet:
    """Refuse a key set holding a symmetric or private key; return it unchanged otherwise."""
    if not key_set.keys:
        raise JwksDocumentError("the key set is empty")
    for key in key_set.keys:
        if isinstance(key, OctKey):
            raise JwksDocumentError("a verifier's key set must not hold symmetric ('oct') keys")
        if key.is_private:
            raise JwksDocumentError("a verifier's key set must hold public keys only")
    return key_set


class StaticJwks:
    """A fixed key set: the development issuer's own key, or keys pinned in configuration."""

    def __init__(self, key_set: KeySet) -> None:
        self._key_set = check_public_key_set(key_set)

    async def key_set(self, *, unknown_kid: str | None = None) -> KeySet:
        return self._key_set


@dataclass(frozen=True, slots=True)
class _FileVersion:
    """What identifies one version of a file without reading it."""

    mtime_ns: int
    size: int
    inode: int


class FileJwks:
    """A JWKS JSON file, re-read when it changes (mtime, size or inode), e.g. one a deployment
    tool rewrites on rotation. A change that cannot be parsed keeps the previous keys in service,
    so a half-written file does not lock everyone out."""

    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_JWKS_BYTES) -> None:
        self._path = path
        self._max_bytes = max_bytes
        self._seen: _FileVersion | None = None
        self._keys: KeySet | None = None
        self._problem = "the JWKS file has not been read"

    async def key_set(self, *, unknown_kid: str | None = None) -> KeySet:
        version = await asyncio.to_thread(self._version)
        if version is not None and version != self._seen:
            self._seen = version
            try:
                self._keys = await asyncio.to_thread(self._read)
            except (OSError, ValueError, JwksDocumentError) as error:
                self._problem = f"cannot use the JWKS file {self._path}: {error}"
                log.warning("jwks_file_refused", path=str(self._path), reason=str(error))
        elif version is None:
            self._problem = f"the JWKS file {self._path} does not exist"
        if self._keys is None:
            raise JwksUnavailable(self._problem)
        return self._keys

    def _version(self) -> _FileVersion | None:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return None
        return _FileVersion(stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def _read(self) -> KeySet:
        with self._path.open("rb") as handle:
            data = handle.read(self._max_bytes + 1)
        if len(data) > self._max_bytes:
            raise JwksDocumentError(f"the JWKS file is larger than {self._max_bytes} bytes")
        return parse_jwks(json.loads(data))


class _FetchFailed(Exception):
    """Internal: one fetch attempt failed; the message is safe to log."""


class RemoteJwks:
    """The issuer's JWKS over HTTP(S), cached.

    A fetch happens when there are no keys yet, when the keys are `refresh_seconds` old, or when
    a token names a kid the cached set lacks, but never more than once per
    `min_refetch_seconds`, whatever the reason and whether it succeeded. A flood of tokens with
    random kids therefore costs the issuer at most one request a minute, and an issuer that is
    down is not hammered. Concurrent callers that need a fetch wait on the same one.

    A failed fetch keeps the last good keys in service (and is logged); only when there never
    were any does `key_set` raise `JwksUnavailable`. Redirects are not followed (the configured
    URL is the trust anchor) and the body is capped at `max_bytes`.
    """

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        *,
        refresh_seconds: float = 600,
        min_refetch_seconds: float = 60,
        max_bytes: int = DEFAULT_MAX_JWKS_BYTES,
        clock: Clock | None = None,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("the JWKS URL must be http(s)")
        if min_refetch_seconds <= 0 or refresh_seconds < min_refetch_seconds:
            raise ValueError("need 0 < min_refetch_seconds <= refresh_seconds")
        self._url = url
        self._http = http
        self._refresh = timedelta(seconds=refresh_seconds)
        self._min_refetch = timedelta(seconds=min_refetch_seconds)
        self._max_bytes = max_bytes
        self._clock: Clock = clock or SystemClock()
        self._keys: KeySet | None = None
        self._fetched_at: datetime | None = None
        self._attempted_at: datetime | None = None
        self._problem = "the JWKS has not been fetched"
        self._inflight: asyncio.Task[None] | None = None

    async def key_set(self, *, unknown_kid: str | None = None) -> KeySet:
        now = self._clock.now()
        if self._wants_fetch(now, unknown_kid):
            if self._inflight is None and self._may_fetch(now):
                self._attempted_at = now
                self._inflight = asyncio.create_task(self._fetch())
            if self._inflight is not None:
                # shield: one caller giving up (a client disconnect) must not cancel the fetch
                # the others are waiting for.
                await asyncio.shield(self._inflight)
        if self._keys is None:
            raise JwksUnavailable(self._problem)
        return self._keys

    def _wants_fetch(self, now: datetime, unknown_kid: str | None) -> bool:
        if self._keys is None or self._fetched_at is None:
            return True
        if now - self._fetched_at >= self._refresh:
            return True
        return unknown_kid is not None and all(k.kid != unknown_kid for k in self._keys.keys)

    def _may_fetch(self, now: datetime) -> bool:
        if self._attempted_at is None:
            return True
        elapsed = now - self._attempted_at
        # A clock that stepped backwards must not freeze refreshes until it catches up.
        return elapsed >= self._min_refetch or elapsed < timedelta(0)

    async def _fetch(self) -> None:
        try:
            keys = parse_jwks(await self._download())
        except (_FetchFailed, httpx.HTTPError, JwksDocumentError) as error:
            reason = str(error) or type(error).__name__
            self._problem = f"cannot fetch the issuer's JWKS: {reason}"
            log.warning(
                "jwks_fetch_failed", url=self._url, reason=reason, cached=self._keys is not None
            )
        else:
            self._keys = keys
            self._fetched_at = self._clock.now()
            log.info("jwks_fetched", url=self._url, keys=len(keys.keys))
        finally:
            self._inflight = None

    async def _download(self) -> object:
        headers = {
            "Accept": "application/jwk-set+json, application/json",
            # The size cap counts decoded bytes; asking for no compression keeps a small
            # compressed body from inflating far past it inside one chunk.
            "Accept-Encoding": "identity",
        }
        async with self._http.stream(
            "GET", self._url, headers=headers, follow_redirects=False
        ) as response:
            if response.status_code != 200:
                raise _FetchFailed(f"HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self._max_bytes:
                raise _FetchFailed(f"the JWKS is larger than {self._max_bytes} bytes")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self._max_bytes:
                    raise _FetchFailed(f"the JWKS is larger than {self._max_bytes} bytes")
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise _FetchFailed("the JWKS is not JSON") from None


def public_jwks_document(keys: list[Key]) -> dict[str, Any]:
    """The JWKS an issuer publishes for `keys`: public members only, whatever was passed."""
    for key in keys:
        if isinstance(key, OctKey):
            raise JwksDocumentError("symmetric keys are never published")
    return {"keys": [key.as_dict(private=False) for key in keys]}
