"""TokenVerifier against hostile and edge-case tokens (attack catalogue J1, J2, J4-J7, J9).

Tokens are built by hand here, byte by byte where an attack needs it, and signed with real keys;
the verifier is the real one over a real key set. Every refusal is checked for its stable code
and for not echoing the token back (`refused`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import FrozenInstanceError
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import ECKey, Key, KeySet, RSAKey

from hub.auth.jwks import RemoteJwks, StaticJwks
from hub.auth.tokens import (
    DEFAULT_MAX_TOKEN_BYTES,
    TokenClaimMissing,
    TokenError,
    TokenVerifier,
    VerifiedToken,
)
from hub.errors import ConfigurationError
from hub.kit.time import FixedClock
from tests.support.jwks_server import HitRecorder, JwksServer

ISSUER = "https://idp.example.test/realms/care"
AUDIENCE = "care-hub"


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})


@pytest.fixture(scope="module")
def ec_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "ec-1"})


@pytest.fixture(scope="module")
def attacker_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "attacker"})


@pytest.fixture
def keys(rsa_key: RSAKey, ec_key: ECKey) -> CountingJwks:
    return CountingJwks(public_set(rsa_key, ec_key))


@pytest.fixture
def verifier(keys: CountingJwks, clock: FixedClock) -> TokenVerifier:
    return TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, clock=clock)


class CountingJwks:
    """A static key set that records every time the verifier asks for keys, and with what."""

    def __init__(self, key_set: KeySet) -> None:
        self._inner = StaticJwks(key_set)
        self.calls: list[str | None] = []

    async def key_set(self, *, unknown_kid: str | None = None) -> KeySet:
        self.calls.append(unknown_kid)
        return await self._inner.key_set(unknown_kid=unknown_kid)


def public_set(*keys: Key) -> KeySet:
    public: list[Key] = []
    for key in keys:
        data = key.as_dict(private=False)
        public.append(RSAKey.import_key(data) if data["kty"] == "RSA" else ECKey.import_key(data))
    return KeySet(public)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64(json.dumps(value).encode())


def claims_at(now: datetime, **overrides: Any) -> dict[str, Any]:
    stamp = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "carer-42",
        "iat": stamp,
        "exp": stamp + 300,
        "role": "carer",
    }
    for name, value in overrides.items():
        if value is _DROP:
            claims.pop(name)
        else:
            claims[name] = value
    return claims


_DROP = object()


def sign(
    key: Key,
    claims: dict[str, Any] | bytes,
    *,
    alg: str | None = None,
    header: dict[str, Any] | None = None,
) -> str:
    """A compact JWS built by hand, so a test can put anything in the header."""
    algorithm = alg or ("RS256" if isinstance(key, RSAKey) else "ES256")
    protected = {"alg": algorithm, "typ": "at+jwt", "kid": key.kid, **(header or {})}
    protected = {name: value for name, value in protected.items() if value is not None}
    payload = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    signing_input = f"{segment(protected)}.{b64(payload)}"
    signature = jws.JWSRegistry.algorithms[algorithm].sign(signing_input.encode(), key)
    return f"{signing_input}.{b64(signature)}"


async def refused(verifier: TokenVerifier, token: str, code: str) -> TokenError:
    """Verification fails with `code`, and neither message nor repr echoes the token."""
    with pytest.raises(TokenError) as caught:
        await verifier.verify(token)
    error = caught.value
    assert error.code == code, f"{error.code}: {error.message}"
    said = f"{error} {error!r} {error.message}"
    for part in token.split("."):
        if len(part) >= 8:
            assert part not in said
    return error


# -- the happy path ----------------------------------------------------------------------


@pytest.mark.parametrize("which", ["rsa", "ec"])
async def test_accepts_a_good_token_and_says_what_it_holds(
    verifier: TokenVerifier, rsa_key: RSAKey, ec_key: ECKey, clock: FixedClock, which: str
) -> None:
    key: Key = rsa_key if which == "rsa" else ec_key
    token = sign(key, claims_at(clock.now(), aud=["other-api", AUDIENCE]))

    verified = await verifier.verify(token)

    assert verified.subject == "carer-42"
    assert verified.claims["role"] == "carer"
    assert verified.key_id == key.kid
    assert verified.algorithm == ("RS256" if which == "rsa" else "ES256")
    assert verified.expires_at == clock.now() + timedelta(seconds=300)
    assert verified.expires_at.tzinfo is not None
    assert verified.issued_at == clock.now()


async def test_verified_token_is_frozen_and_owns_its_claims(
    verifier: TokenVerifier, ec_key: ECKey, clock: FixedClock
) -> None:
    token = sign(ec_key, claims_at(clock.now()))
    first = await verifier.verify(token)
    first.claims["role"] = "admin"
    with pytest.raises(FrozenInstanceError):
        first.subject = "someone-else"  # type: ignore[misc]

    second = await verifier.verify(token)
    assert second.claims["role"] == "carer"
    assert isinstance(second, VerifiedToken)


# -- J1, J2: algorithms ------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["", "c2lnbmF0dXJl"])
async def test_alg_none_is_refused_before_any_key_is_looked_up(
    verifier: TokenVerifier, keys: CountingJwks, clock: FixedClock, alg: str, signature: str
) -> None:
    token = f"{segment({'alg': alg, 'typ': 'JWT'})}.{segment(claims_at(clock.now()))}.{signature}"

    await refused(verifier, token, "TOKEN_ALGORITHM_REFUSED")
    assert keys.calls == []


@pytest.mark.parametrize("secret_form", ["pem", "jwk-json", "der"])
async def test_hs256_signed_with_the_issuer_public_key_is_refused(
    verifier: TokenVerifier,
    keys: CountingJwks,
    rsa_key: RSAKey,
    clock: FixedClock,
    secret_form: str,
) -> None:
    """The algorithm-confusion attack: the attacker knows the public key and uses it as an HMAC
    secret. A verifier that let the token pick HS256 would check the MAC with that same key."""
    if secret_form == "pem":
        secret = rsa_key.as_pem(private=False)
    elif secret_form == "der":
        secret = rsa_key.as_der(private=False)
    else:
        secret = json.dumps(rsa_key.as_dict(private=False)).encode()
    header = {"alg": "HS256", "typ": "JWT", "kid": rsa_key.kid}
    signing_input = f"{segment(header)}.{segment(claims_at(clock.now()))}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64(mac)}"

    await refused(verifier, token, "TOKEN_ALGORITHM_REFUSED")
    assert keys.calls == []


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512", "RS384", "RS512", "PS256", "ES384"])
async def test_algorithms_off_the_pinned_list_are_refused(
    verifier: TokenVerifier, keys: CountingJwks, rsa_key: RSAKey, clock: FixedClock, alg: str
) -> None:
    header = {"alg": alg, "kid": rsa_key.kid}
    token = f"{segment(header)}.{segment(claims_at(clock.now()))}.{b64(b'x' * 64)}"

    error = await refused(verifier, token, "TOKEN_ALGORITHM_REFUSED")
    assert alg not in error.message
    assert keys.calls == []


async def test_a_configured_subset_refuses_the_other_algorithm(
    keys: CountingJwks, rsa_key: RSAKey, ec_key: ECKey, clock: FixedClock
) -> None:
    es_only = TokenVerifier(
        keys, issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"], clock=clock
    )

    await refused(es_only, sign(rsa_key, claims_at(clock.now())), "TOKEN_ALGORITHM_REFUSED")
    assert (await es_only.verify(sign(ec_key, claims_at(clock.now())))).algorithm == "ES256"


@pytest.mark.parametrize(
    "settings",
    [
        {"algorithms": ["HS256"]},
        {"algorithms": ["none"]},
        {"algorithms": ["RS256", "HS256"]},
        {"algorithms": []},
        {"leeway_seconds": -1},
        {"leeway_seconds": 301},
        {"issuer": ""},
        {"audience": ""},
        {"max_token_bytes": 10},
    ],
)
def test_unsafe_configuration_is_refused_at_construction(
    keys: CountingJwks, settings: dict[str, Any]
) -> None:
    arguments: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, **settings}
    with pytest.raises(ConfigurationError):
        TokenVerifier(keys, **arguments)


async def test_a_key_only_serves_its_own_algorithm(
    rsa_key: RSAKey, attacker_key: ECKey, clock: FixedClock
) -> None:
    """An ES256 token naming the RSA key's kid must not be checked against that key."""
    verifier = TokenVerifier(
        StaticJwks(public_set(rsa_key)), issuer=ISSUER, audience=AUDIENCE, clock=clock
    )
    token = sign(attacker_key, claims_at(clock.now()), header={"kid": rsa_key.kid})

    await refused(verifier, token, "TOKEN_ALGORITHM_REFUSED")


async def test_a_key_published_for_encryption_does_not_verify(clock: FixedClock) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "enc-1", "use": "enc"})
    verifier = TokenVerifier(
        StaticJwks(public_set(key)), issuer=ISSUER, audience=AUDIENCE, clock=clock
    )

    await refused(verifier, sign(key, claims_at(clock.now())), "TOKEN_ALGORITHM_REFUSED")


# -- signatures --------------------------------------------------------------------------


async def test_a_forged_signature_with_a_real_kid_is_refused(
    verifier: TokenVerifier, ec_key: ECKey, attacker_key: ECKey, clock: FixedClock
) -> None:
    token = sign(attacker_key, claims_at(clock.now()), header={"kid": ec_key.kid})

    await refused(verifier, token, "TOKEN_SIGNATURE_INVALID")


@pytest.mark.parametrize("which", ["rsa", "ec"])
async def test_a_tampered_payload_is_refused(
    verifier: TokenVerifier, rsa_key: RSAKey, ec_key: ECKey, clock: FixedClock, which: str
) -> None:
    key: Key = rsa_key if which == "rsa" else ec_key
    header, _, signature = sign(key, claims_at(clock.now())).split(".")
    promoted = segment(claims_at(clock.now(), role="admin"))

    await refused(verifier, f"{header}.{promoted}.{signature}", "TOKEN_SIGNATURE_INVALID")


async def test_a_truncated_or_empty_signature_is_refused(
    verifier: TokenVerifier, ec_key: ECKey, clock: FixedClock
) -> None:
    token = sign(ec_key, claims_at(clock.now()))
    header, payload, signature = token.split(".")

    await refused(verifier, f"{header}.{payload}.{signature[:-8]}", "TOKEN_SIGNATURE_INVALID")
    await refused(verifier, f"{header}.{payload}.", "TOKEN_SIGNATURE_INVALID")


# -- J4: headers that would choose the key -----------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"jku": "https://attacker.example/jwks.json"},
        {"x5u": "https://attacker.example/cert.pem"},
        {"jwk": {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}},
        {"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]},
        {"crit": ["exp"], "exp": 1},
        {"b64": False},
    ],
    ids=["jku", "x5u", "jwk", "x5c", "crit", "b64"],
)
async def test_key_choosing_and_extension_headers_are_refused_even_when_correctly_signed(
    verifier: TokenVerifier, keys: CountingJwks, ec_key: ECKey, clock: FixedClock, extra: Any
) -> None:
    token = sign(ec_key, claims_at(clock.now()), header=extra)

    await refused(verifier, token, "TOKEN_HEADER_REFUSED")
    assert keys.calls == []


@pytest.fixture
def jwks_server(ec_key: ECKey) -> Iterator[JwksServer]:
    with JwksServer() as server:
        server.publish(ec_key)
        yield server


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


async def test_jku_and_x5u_targets_are_never_contacted(
    jwks_server: JwksServer,
    http_client: httpx.AsyncClient,
    ec_key: ECKey,
    attacker_key: ECKey,
    clock: FixedClock,
) -> None:
    """The listener serves the attacker's JWKS, so following `jku` would make the forgery
    verify. It must record no request at all, while the real JWKS is still consulted."""
    attacker_jwks = {"keys": [attacker_key.as_dict(private=False)]}
    with HitRecorder(attacker_jwks) as listener:
        probe = await http_client.get(listener.base_url + "/probe")
        assert probe.status_code == 200
        assert listener.hits == ["GET /probe"]
        listener.reset()

        remote = RemoteJwks(jwks_server.url, http_client, clock=clock)
        verifier = TokenVerifier(remote, issuer=ISSUER, audience=AUDIENCE, clock=clock)
        target = listener.base_url + "/jwks.json"
        forged_claims = claims_at(clock.now(), sub="admin")
        tokens = [
            sign(attacker_key, forged_claims, header={"jku": target}),
            sign(attacker_key, forged_claims, header={"x5u": target}),
            sign(attacker_key, forged_claims, header={"jku": target, "kid": ec_key.kid}),
            sign(
                attacker_key,
                forged_claims,
                header={"jwk": attacker_key.as_dict(private=False), "kid": None},
            ),
            sign(ec_key, claims_at(clock.now()), header={"jku": target}),
        ]
        for token in tokens:
            await refused(verifier, token, "TOKEN_HEADER_REFUSED")
        # Without the hostile header, the attacker's kid is looked up at the configured JWKS only.
        await refused(verifier, sign(attacker_key, forged_claims), "TOKEN_UNKNOWN_KEY")

        assert listener.hits == []
    assert jwks_server.requests == 1
    assert (await verifier.verify(sign(ec_key, claims_at(clock.now())))).subject == "carer-42"


# -- J5: time claims at the leeway edges -------------------------------------------------


@pytest.mark.parametrize(
    ("after_exp", "code"),
    [
        (timedelta(seconds=-1), None),
        (timedelta(0), None),
        (timedelta(seconds=59), None),
        (timedelta(seconds=60), None),
        (timedelta(seconds=60, microseconds=1), "TOKEN_EXPIRED"),
        (timedelta(seconds=61), "TOKEN_EXPIRED"),
        (timedelta(days=2), "TOKEN_EXPIRED"),
    ],
)
async def test_exp_is_accepted_up_to_exactly_the_leeway(
    verifier: TokenVerifier,
    ec_key: ECKey,
    clock: FixedClock,
    after_exp: timedelta,
    code: str | None,
) -> None:
    issued = clock.now()
    expires = issued + timedelta(minutes=5)
    token = sign(ec_key, claims_at(issued, exp=int(expires.timestamp())))
    clock.current = expires + after_exp

    if code is None:
        assert (await verifier.verify(token)).expires_at == expires
    else:
        await refused(verifier, token, code)


@pytest.mark.parametrize(
    ("nbf_ahead", "code"),
    [
        (0, None),
        (59, None),
        (60, None),
        (61, "TOKEN_NOT_YET_VALID"),
        (120, "TOKEN_NOT_YET_VALID"),
    ],
)
async def test_nbf_is_honoured_with_the_leeway(
    verifier: TokenVerifier, ec_key: ECKey, clock: FixedClock, nbf_ahead: int, code: str | None
) -> None:
    now = int(clock.now().timestamp())
    token = sign(ec_key, claims_at(clock.now(), nbf=now + nbf_ahead))

    if code is None:
        assert (await verifier.verify(token)).subject == "carer-42"
    else:
        await refused(verifier, token, code)


@pytest.mark.parametrize(
    ("iat_ahead", "code"),
    [(60, None), (61, "TOKEN_ISSUED_IN_FUTURE"), (120, "TOKEN_ISSUED_IN_FUTURE")],
)
async def test_iat_in_the_future_is_refused_beyond_the_leeway(
    verifier: TokenVerifier, ec_key: ECKey, clock: FixedClock, iat_ahead: int, code: str | None
) -> None:
    now = int(clock.now().timestamp())
    token = sign(ec_key, claims_at(clock.now(), iat=now + iat_ahead, exp=now + 600))

    if code is None:
        assert (await verifier.verify(token)).subject == "carer-42"
    else:
        await refused(verifier, token, code)


async def test_leeway_is_configurable(keys: CountingJwks, ec_key: ECKey, clock: FixedClock) -> None:
    strict = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, leeway_seconds=0, clock=clock)
    now = int(clock.now().timestamp())
    expired_a_second_ago = sign(ec_key, claims_at(clock.now(), iat=now - 60, exp=now - 1))
    starts_in_a_second = sign(ec_key, claims_at(clock.now(), nbf=now + 1))

    await refused(strict, expired_a_second_ago, "TOKEN_EXPIRED")
    await refused(strict, starts_in_a_second, "TOKEN_NOT_YET_VALID")
    clock.advance(timedelta(seconds=1))
    assert (await strict.verify(starts_in_a_second)).subject == "carer-42"


# -- J6, J7: required claims, issuer and audience ----------------------------------------


@pytest.mark.parametrize("claim", ["iss", "aud", "exp", "iat", "sub"])
@pytest.mark.parametrize("how", ["absent", "null"])
async def test_each_required_claim_must_be_present(
    verifier: TokenVerifier, ec_key: ECKey, clock: FixedClock, claim: str, how: str
) -> None:
    token = sign(ec_key, claims_at(clock.now(), **{claim: _DROP if how == "absent" else None}))

    error = await refused(verifier, token, "TOKEN_CLAIM_MISSING")
    assert isinstance(error, TokenClaimMissing)
    assert error.claim == claim


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("exp", "tomorrow"),
        ("exp", True),
        ("exp", float("nan")),
        ("exp", float("inf")),
        ("exp", 1e300),
        ("exp", 10**40),
        ("iat", -5),
        ("nbf", [1]),
        ("sub", ""),
        ("sub", 42),
        ("iss", 7),
        ("aud", 7),
        ("aud", [AUDIENCE, 7]),
    ],
)
async def test_claims_of_the_wrong_type_are_refused(
    verifier: TokenVerifier, ec_key: ECKey, clock: FixedClock, claim: str, value: Any
) -> None:
    token = sign(ec_key, claims_at(clock.now(), **{claim: value}))

    error = await refused(verifier, token, "TOKEN_CLAIM_INVALID")
    assert claim in error.message


@pytest.mark.parametrize(
    "audience", ["other-api", ["other-api"], [], "care-hub ", "CARE-HUB", ["care-hub-admin"]]
)
async def test_a_token_for_another_audience_is_refused(
    verifier: TokenVerifier, ec_key: ECKey, clock: FixedClock, audience: Any
) -> None:
    token = sign(ec_key, claims_at(clock.now(), aud=audience))

    await refused(verifier, token, "TOKEN_AUDIENCE_MISMATCH")


@pytest.mark.parametrize(
    "issuer", ["https://evil.example/realms/care", ISSUER + "/", ISSUER.upper(), ""]
)
async def test_a_token_from_another_issuer_is_refused(
    verifier: TokenVerifier, ec_key: ECKey, clock: FixedClock, issuer: str
) -> None:
    token = sign(ec_key, claims_at(clock.now(), iss=issuer))

    await refused(verifier, token, "TOKEN_ISSUER_MISMATCH")


# -- kid ---------------------------------------------------------------------------------


async def test_kid_is_required_when_the_issuer_publishes_several_keys(
    verifier: TokenVerifier, keys: CountingJwks, ec_key: ECKey, clock: FixedClock
) -> None:
    token = sign(ec_key, claims_at(clock.now()), header={"kid": None})

    error = await refused(verifier, token, "TOKEN_UNKNOWN_KEY")
    assert "kid" in error.message
    assert keys.calls == [None]


async def test_kid_may_be_omitted_when_there_is_only_one_key(
    ec_key: ECKey, clock: FixedClock
) -> None:
    verifier = TokenVerifier(
        StaticJwks(public_set(ec_key)), issuer=ISSUER, audience=AUDIENCE, clock=clock
    )
    token = sign(ec_key, claims_at(clock.now()), header={"kid": None})

    assert (await verifier.verify(token)).key_id == ec_key.kid


async def test_an_unknown_kid_asks_the_source_once_more_then_fails(
    verifier: TokenVerifier, keys: CountingJwks, attacker_key: ECKey, clock: FixedClock
) -> None:
    marker = "EVIL-KID-MARKER-0123456789"
    token = sign(attacker_key, claims_at(clock.now()), header={"kid": marker})

    error = await refused(verifier, token, "TOKEN_UNKNOWN_KEY")
    assert keys.calls == [None, marker]
    assert marker not in str(error)


# -- J9: size and shape ------------------------------------------------------------------


async def test_an_oversized_token_is_refused_before_decoding_or_crypto(
    verifier: TokenVerifier,
    keys: CountingJwks,
    ec_key: ECKey,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    padded = sign(ec_key, claims_at(clock.now(), padding="x" * DEFAULT_MAX_TOKEN_BYTES))
    huge = "A" * 1_000_000 + ".e30.AA"

    def no_decoding(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("base64 decoding was attempted on an oversized token")

    monkeypatch.setattr(base64, "b64decode", no_decoding)
    monkeypatch.setattr(base64, "urlsafe_b64decode", no_decoding)
    for token in (padded, huge):
        await refused(verifier, token, "TOKEN_TOO_LARGE")
    assert keys.calls == []


async def test_the_size_cap_is_exact_and_configurable(
    keys: CountingJwks, ec_key: ECKey, clock: FixedClock
) -> None:
    token = sign(ec_key, claims_at(clock.now()))
    fits = TokenVerifier(
        keys, issuer=ISSUER, audience=AUDIENCE, max_token_bytes=len(token), clock=clock
    )
    one_short = TokenVerifier(
        keys, issuer=ISSUER, audience=AUDIENCE, max_token_bytes=len(token) - 1, clock=clock
    )

    assert (await fits.verify(token)).subject == "carer-42"
    await refused(one_short, token, "TOKEN_TOO_LARGE")


async def test_an_oversized_header_inside_a_small_token_is_refused(
    verifier: TokenVerifier, keys: CountingJwks, ec_key: ECKey, clock: FixedClock
) -> None:
    token = sign(ec_key, claims_at(clock.now()), header={"x-padding": "p" * 600})

    await refused(verifier, token, "TOKEN_TOO_LARGE")
    assert keys.calls == []


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-token",
        "abc.def",
        "a.b.c.d",
        "a.b.c.d.e",
        "Bearer eyJhbGciOiJFUzI1NiJ9.e30.AAAA",
        "eyJhbGciOiJFUzI1NiJ9.e30.AAAA\n",
        "eyJhbGciOiJFUzI1NiJ9.é30.AAAA",
        "eyJhbGciOiJFUzI1NiJ9.e30=.AAAA",
        f"{b64(b'not json')}.e30.AAAA",
        f"{segment(['alg', 'ES256'])}.e30.AAAA",
        f"{segment({'typ': 'JWT'})}.e30.AAAA",
        f"{segment({'alg': 'ES256'})}.e.AAAA",
    ],
)
async def test_malformed_tokens_are_refused(verifier: TokenVerifier, token: str) -> None:
    await refused(verifier, token, "TOKEN_MALFORMED")


async def test_a_non_string_token_is_refused(verifier: TokenVerifier) -> None:
    with pytest.raises(TokenError) as caught:
        await verifier.verify(b"eyJ.e30.AA")  # type: ignore[arg-type]
    assert caught.value.code == "TOKEN_MALFORMED"


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2, 3]", b'"a string"'])
async def test_a_signed_payload_that_is_not_a_claims_object_is_refused(
    verifier: TokenVerifier, ec_key: ECKey, payload: bytes
) -> None:
    await refused(verifier, sign(ec_key, payload), "TOKEN_MALFORMED")


async def test_a_kid_that_is_not_a_string_is_refused(
    verifier: TokenVerifier, ec_key: ECKey, clock: FixedClock
) -> None:
    await refused(
        verifier, sign(ec_key, claims_at(clock.now()), header={"kid": 1}), "TOKEN_MALFORMED"
    )
