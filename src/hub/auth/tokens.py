"""Bearer-token verification: a JWT is accepted only when every check below passes.

The checks run cheapest first, so hostile input costs little before it is refused:

1. size: the raw string is capped before any base64 decoding or crypto, so a megabyte "token"
   costs one `len()` (RFC 8725 §3.10; attack catalogue J9);
2. shape: ASCII, three base64url segments (a JWE or a JSON serialisation is not a bearer token);
3. header: the algorithm must be on a pinned list drawn from RS256 and ES256. `none` and every
   HS* are refused by name, so a token HMAC-signed with the issuer's *public* key (J2, the
   algorithm-confusion attack) never reaches a key. Headers that let a token choose its own key
   (`jku`, `x5u`, `jwk`, `x5c`) are refused outright: they are never fetched or used (J4). `crit`
   and `b64` are refused because the hub implements no JWS extensions;
4. key: looked up by `kid` in the configured `JwksSource` only, and it must suit the algorithm
   (one key, one algorithm: an RSA key never verifies ES256, a key marked `enc` never verifies);
5. signature, by joserfc;
6. claims: iss, aud, exp, iat and sub are required, nbf is honoured when present, and times are
   compared with a leeway.

Claims are checked here rather than by `joserfc.jwt.JWTClaimsRegistry`: the registry accepts a
token with no `exp` unless told otherwise, reports most failures as one exception type, and
refuses at exactly exp + leeway. The hub wants a stable code per failure and a validity window of
[nbf - leeway, exp + leeway], inclusive at both ends, so that with the default 60 s a token is
still accepted 60 s after `exp` and refused at 61 s.

Error messages never contain the token or any text taken from it: a `kid` or an `alg` is chosen by
whoever sent the request and would otherwise land in logs. Exceptions from the parsing libraries
are suppressed (`from None`) for the same reason.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from joserfc import jws
from joserfc.errors import ExceededSizeError, JoseError
from joserfc.jwk import ECKey, Key, KeySet, RSAKey
from joserfc.util import urlsafe_b64decode

from hub.auth.jwks import JwksSource
from hub.errors import ConfigurationError, HubError
from hub.kit.time import Clock, SystemClock

SUPPORTED_ALGORITHMS: frozenset[str] = frozenset({"RS256", "ES256"})
DEFAULT_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256")
DEFAULT_LEEWAY_SECONDS = 60
DEFAULT_MAX_TOKEN_BYTES = 8 * 1024
REQUIRED_CLAIMS: tuple[str, ...] = ("iss", "aud", "exp", "iat", "sub")

# Headers that would let the token pick or carry the key that verifies it, or change how the
# signature is computed. None of them is ever followed.
_REFUSED_HEADERS: tuple[str, ...] = ("jku", "x5u", "jwk", "x5c", "crit", "b64")
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# datetime cannot represent later instants; a larger `exp` is nonsense, not "never expires".
_LATEST_TIMESTAMP = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()


class TokenError(HubError):
    """A bearer token was refused (HTTP 401 / websocket 4403). `code` says which check failed."""

    code = "TOKEN_INVALID"


class TokenMalformed(TokenError):
    code = "TOKEN_MALFORMED"


class TokenTooLarge(TokenError):
    code = "TOKEN_TOO_LARGE"


class TokenAlgorithmRefused(TokenError):
    code = "TOKEN_ALGORITHM_REFUSED"


class TokenHeaderRefused(TokenError):
    code = "TOKEN_HEADER_REFUSED"


class TokenUnknownKey(TokenError):
    code = "TOKEN_UNKNOWN_KEY"


class TokenSignatureInvalid(TokenError):
    code = "TOKEN_SIGNATURE_INVALID"


class TokenExpired(TokenError):
    code = "TOKEN_EXPIRED"


class TokenNotYetValid(TokenError):
    code = "TOKEN_NOT_YET_VALID"


class TokenIssuedInFuture(TokenError):
    code = "TOKEN_ISSUED_IN_FUTURE"


class TokenIssuerMismatch(TokenError):
    code = "TOKEN_ISSUER_MISMATCH"


class TokenAudienceMismatch(TokenError):
    code = "TOKEN_AUDIENCE_MISMATCH"


class TokenClaimMissing(TokenError):
    """A required claim is absent (or null). `claim` is the claim's name, never its value."""

    code = "TOKEN_CLAIM_MISSING"

    def __init__(self, claim: str) -> None:
        super().__init__(f"the token has no '{claim}' claim, which is required")
        self.claim = claim


class TokenClaimInvalid(TokenError):
    """A claim is present but of the wrong type or out of range."""

    code = "TOKEN_CLAIM_INVALID"

    def __init__(self, claim: str, reason: str) -> None:
        super().__init__(f"the token's '{claim}' claim {reason}")
        self.claim = claim


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What a verified token says. `claims` is this token's own copy of the signed payload."""

    claims: dict[str, Any]
    subject: str
    issued_at: datetime
    expires_at: datetime
    key_id: str | None
    algorithm: str


class TokenVerifier:
    """Verifies bearer JWTs from one issuer for one audience. Safe to share across requests."""

    def __init__(
        self,
        jwks: JwksSource,
        *,
        issuer: str,
        audience: str,
        algorithms: Collection[str] = DEFAULT_ALGORITHMS,
        leeway_seconds: float = DEFAULT_LEEWAY_SECONDS,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        clock: Clock | None = None,
    ) -> None:
        allowed = frozenset(algorithms)
        if not allowed:
            raise ConfigurationError("the token verifier needs at least one algorithm")
        if not allowed <= SUPPORTED_ALGORITHMS:
            raise ConfigurationError(
                "the token verifier accepts only "
                f"{', '.join(sorted(SUPPORTED_ALGORITHMS))}; refused: "
                f"{', '.join(sorted(allowed - SUPPORTED_ALGORITHMS))}"
            )
        if not issuer or not audience:
            raise ConfigurationError("the token verifier needs a non-empty issuer and audience")
        if not 0 <= leeway_seconds <= 300:
            # RFC 7519 speaks of "a few minutes" at most; more would hide a broken clock.
            raise ConfigurationError("token leeway must be between 0 and 5 minutes")
        if max_token_bytes < 256:
            raise ConfigurationError("max_token_bytes is too small to hold any real token")
        self._jwks = jwks
        self._issuer = issuer
        self._audience = audience
        self._algorithms = allowed
        self._leeway = float(leeway_seconds)
        self._max_token_bytes = max_token_bytes
        self._clock: Clock = clock or SystemClock()
        # Headers outside the registry (an IdP's own additions) are tolerated: they are signed
        # and the hub reads none of them. The dangerous ones are refused before this is used.
        # joserfc's own per-part caps (header 512 B, payload 128 kB) still apply behind ours.
        self._registry = jws.JWSRegistry(algorithms=sorted(allowed), strict_check_header=False)

    @property
    def algorithms(self) -> frozenset[str]:
        return self._algorithms

    async def verify(self, token: str) -> VerifiedToken:
        """Return the verified token or raise a `TokenError`. May raise `JwksUnavailable` (not a
        `TokenError`: the caller is not at fault) when no keys can be obtained at all."""
        compact = self._check_shape(token)
        header = self._read_header(compact)
        algorithm = self._check_header(header)
        parsed = self._parse(compact)
        key = await self._find_key(header.get("kid"), algorithm)
        self._check_signature(parsed, key)
        claims = self._decode_claims(parsed.payload)
        return self._check_claims(claims, key, algorithm)

    def _check_shape(self, token: object) -> bytes:
        if not isinstance(token, str):
            raise TokenMalformed("the token must be a string")
        if len(token) > self._max_token_bytes:
            raise TokenTooLarge(f"the token is larger than {self._max_token_bytes} bytes")
        if not token.isascii() or _COMPACT_JWS.fullmatch(token) is None:
            raise TokenMalformed("the token is not a compact JWS (three base64url segments)")
        return token.encode("ascii")

    def _read_header(self, compact: bytes) -> dict[str, Any]:
        """The header alone, so it is judged before the payload is even decoded."""
        encoded = compact.split(b".", 1)[0]
        if len(encoded) > self._registry.max_header_length:
            raise TokenTooLarge("the token's header exceeds the size limit")
        try:
            header = json.loads(urlsafe_b64decode(encoded))
        except (ValueError, TypeError, RecursionError):
            raise TokenMalformed("the token's header cannot be decoded") from None
        if not isinstance(header, dict):
            raise TokenMalformed("the token's header is not a JSON object")
        return header

    def _parse(self, compact: bytes) -> jws.CompactSignature:
        try:
            return jws.extract_compact(compact, registry=self._registry)
        except ExceededSizeError:
            raise TokenTooLarge("a part of the token exceeds the size limit") from None
        except (JoseError, ValueError, TypeError, RecursionError):
            raise TokenMalformed("the token's header or payload cannot be decoded") from None

    def _check_header(self, header: dict[str, Any]) -> str:
        algorithm = header.get("alg")
        if algorithm is None:
            raise TokenMalformed("the token's header names no algorithm")
        if not isinstance(algorithm, str) or algorithm not in self._algorithms:
            raise TokenAlgorithmRefused(
                "the token's algorithm is not accepted; accepted: "
                + ", ".join(sorted(self._algorithms))
            )
        refused = [name for name in _REFUSED_HEADERS if name in header]
        if refused:
            raise TokenHeaderRefused(
                "the token carries a header the hub refuses: " + ", ".join(refused)
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenMalformed("the token's 'kid' header is not a string")
        return algorithm

    async def _find_key(self, kid: str | None, algorithm: str) -> Key:
        key_set = await self._jwks.key_set()
        candidates = _keys_named(key_set, kid)
        if kid is not None and not candidates:
            # Maybe the issuer rotated: the source decides whether a refetch is allowed now.
            key_set = await self._jwks.key_set(unknown_kid=kid)
            candidates = _keys_named(key_set, kid)
        if not candidates:
            if kid is None:
                raise TokenUnknownKey(
                    "the token names no key ('kid') and the issuer publishes several"
                )
            raise TokenUnknownKey("the token names a key the issuer does not publish")
        for key in candidates:
            if _key_suits(key, algorithm):
                return key
        raise TokenAlgorithmRefused("the key the token names is not for the token's algorithm")

    def _check_signature(self, parsed: jws.CompactSignature, key: Key) -> None:
        try:
            valid = jws.validate_compact(parsed, key, registry=self._registry)
        except (JoseError, ValueError, TypeError):
            valid = False
        if not valid:
            raise TokenSignatureInvalid("the token's signature does not verify")

    @staticmethod
    def _decode_claims(payload: bytes | None) -> dict[str, Any]:
        try:
            claims = json.loads(payload or b"")
        except (ValueError, TypeError, RecursionError):
            raise TokenMalformed("the token's payload is not JSON") from None
        if not isinstance(claims, dict):
            raise TokenMalformed("the token's payload is not a JSON object")
        return claims

    def _check_claims(self, claims: dict[str, Any], key: Key, algorithm: str) -> VerifiedToken:
        for name in REQUIRED_CLAIMS:
            if claims.get(name) is None:
                raise TokenClaimMissing(name)

        issuer = claims["iss"]
        if not isinstance(issuer, str):
            raise TokenClaimInvalid("iss", "is not a string")
        if issuer != self._issuer:
            raise TokenIssuerMismatch("the token was issued by an issuer the hub does not trust")

        audience = claims["aud"]
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise TokenClaimInvalid("aud", "is neither a string nor a list of strings")
        if self._audience not in audiences:
            raise TokenAudienceMismatch("the token is not meant for this hub (audience)")

        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise TokenClaimInvalid("sub", "is not a non-empty string")

        now = self._clock.now().timestamp()
        expires = _numeric_date(claims, "exp")
        issued = _numeric_date(claims, "iat")
        if now > expires + self._leeway:
            raise TokenExpired("the token has expired")
        if issued > now + self._leeway:
            raise TokenIssuedInFuture("the token's issue time is in the future")
        if claims.get("nbf") is not None:
            not_before = _numeric_date(claims, "nbf")
            if now < not_before - self._leeway:
                raise TokenNotYetValid("the token is not valid yet (nbf)")

        return VerifiedToken(
            claims=dict(claims),
            subject=subject,
            issued_at=datetime.fromtimestamp(issued, UTC),
            expires_at=datetime.fromtimestamp(expires, UTC),
            key_id=key.kid,
            algorithm=algorithm,
        )


def _keys_named(key_set: KeySet, kid: str | None) -> list[Key]:
    """The keys a token may be verified with: those with its kid, or the only key if it has none.

    With several keys and no kid, guessing would mean trying each key in turn, which multiplies
    the crypto an attacker can make the hub do; the token must say which key it means.
    """
    if kid is None:
        return list(key_set.keys) if len(key_set.keys) == 1 else []
    return [key for key in key_set.keys if key.kid == kid]


def _key_suits(key: Key, algorithm: str) -> bool:
    """One key, one algorithm (RFC 8725 §3.1): the key's type, curve, `use`, `alg` and
    `key_ops` must all allow verifying this algorithm."""
    if algorithm == "RS256":
        if not isinstance(key, RSAKey):
            return False
    elif algorithm == "ES256":
        if not isinstance(key, ECKey) or key.curve_name != "P-256":
            return False
    else:
        return False
    if key.get("use") not in (None, "sig"):
        return False
    if key.alg not in (None, algorithm):
        return False
    key_ops = key.get("key_ops")
    return key_ops is None or "verify" in key_ops


def _numeric_date(claims: Mapping[str, Any], name: str) -> float:
    """A NumericDate (RFC 7519 §2): a finite JSON number. `true` is not 1 and NaN never expires,
    so both are refused."""
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenClaimInvalid(name, "is not a number of seconds since the epoch")
    number = float(value) if isinstance(value, float) or abs(value) < 2**53 else math.inf
    if not math.isfinite(number) or not 0 <= number <= _LATEST_TIMESTAMP:
        raise TokenClaimInvalid(name, "is out of range")
    return number
