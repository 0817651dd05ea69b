"""JWKS sources: what a JWKS may contain, and how often the issuer is asked (J3, J10).

Fetch counts are read at a real HTTP server on 127.0.0.1 (`JwksServer`), reached through a real
httpx client; time moves only when a test advances the `FixedClock`. `httpx.MockTransport` is
used only for responses a well-behaved server would not send (oversized, redirecting).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import ECKey, Key, KeySet, OctKey, OKPKey, RSAKey
from joserfc.util import int_to_base64

from hub.auth.jwks import (
    FileJwks,
    JwksDocumentError,
    JwksUnavailable,
    RemoteJwks,
    StaticJwks,
    parse_jwks,
    public_jwks_document,
)
from hub.auth.tokens import TokenError, TokenVerifier
from hub.errors import UpstreamUnavailable
from hub.kit.time import FixedClock
from tests.support.jwks_server import JwksServer

ISSUER = "https://idp.example.test/"
AUDIENCE = "care-hub"
JWKS_URL = "https://idp.example.test/jwks.json"


def ec(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid})


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    with JwksServer() as server:
        yield server


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


def token_for(key: Key, clock: FixedClock, *, kid: str | None = None) -> str:
    now = int(clock.now().timestamp())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "s-1", "iat": now, "exp": now + 3600}
    header = {"alg": "ES256", "kid": kid or key.kid}
    return jwt.encode(header, claims, key, algorithms=["ES256"])


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def weak_rsa_jwk() -> dict[str, Any]:
    """A 1024-bit RSA public JWK, built from raw numbers (joserfc warns when generating one)."""
    weak = rsa.generate_private_key(65537, 1024)  # noqa: S505 (weak on purpose)
    numbers = weak.public_key().public_numbers()
    return {
        "kty": "RSA",
        "kid": "weak",
        "n": int_to_base64(numbers.n),
        "e": int_to_base64(numbers.e),
    }


# -- what a JWKS may contain -------------------------------------------------------------


def test_parse_keeps_public_signing_keys(rsa_key: RSAKey) -> None:
    document = public_jwks_document([rsa_key, ec("ec-1")])

    key_set = parse_jwks(document)

    assert [key.kid for key in key_set.keys] == ["rsa-1", "ec-1"]
    assert not any(key.is_private for key in key_set.keys)


def test_published_documents_never_carry_private_members(rsa_key: RSAKey) -> None:
    document = public_jwks_document([rsa_key, ec("ec-1")])

    for entry in document["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & entry.keys()
    with pytest.raises(JwksDocumentError):
        public_jwks_document([OctKey.generate_key(256)])


@pytest.mark.parametrize("kind", ["rsa-private", "ec-private", "oct", "private-member-only"])
def test_a_jwks_with_private_or_symmetric_material_is_refused_whole(
    rsa_key: RSAKey, kind: str
) -> None:
    good = ec("good").as_dict(private=False)
    if kind == "rsa-private":
        bad: dict[str, Any] = rsa_key.as_dict(private=True)
    elif kind == "ec-private":
        bad = ec("leaked").as_dict(private=True)
    elif kind == "oct":
        bad = OctKey.generate_key(256).as_dict(private=True)
    else:
        bad = {**ec("odd").as_dict(private=False), "d": "AAAA"}

    with pytest.raises(JwksDocumentError) as caught:
        parse_jwks({"keys": [good, bad]})
    assert caught.value.code == "JWKS_INVALID"


@pytest.mark.parametrize(
    "document",
    [None, [], "keys", {"keys": {}}, {"keys": "x"}, {"keys": ["not an object"]}, {}],
)
def test_a_document_that_is_not_a_jwks_is_refused(document: object) -> None:
    with pytest.raises(JwksDocumentError):
        parse_jwks(document)


def test_keys_the_hub_cannot_verify_with_are_skipped() -> None:
    keep = ec("keep").as_dict(private=False)
    skipped = [
        {**ec("for-encryption").as_dict(private=False), "use": "enc"},
        ECKey.generate_key("P-384", parameters={"kid": "p384"}).as_dict(private=False),
        OKPKey.generate_key("Ed25519", parameters={"kid": "ed"}).as_dict(private=False),
        weak_rsa_jwk(),
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        {"kty": "PQC", "kid": "future"},
    ]

    key_set = parse_jwks({"keys": [*skipped, keep]})

    assert [key.kid for key in key_set.keys] == ["keep"]
    with pytest.raises(JwksDocumentError, match="no usable signing key"):
        parse_jwks({"keys": skipped})


def test_static_source_refuses_private_and_symmetric_keys() -> None:
    with pytest.raises(JwksDocumentError):
        StaticJwks(KeySet([ec("private")]))
    with pytest.raises(JwksDocumentError):
        StaticJwks(KeySet([OctKey.generate_key(256)]))
    with pytest.raises(JwksDocumentError):
        StaticJwks(KeySet([]))


async def test_static_source_serves_its_keys() -> None:
    public = parse_jwks(public_jwks_document([ec("static")]))
    source = StaticJwks(public)

    assert await source.key_set() is public
    assert await source.key_set(unknown_kid="other") is public


# -- RemoteJwks: caching and refresh against a real server -------------------------------


async def test_keys_are_cached_then_refreshed_every_ten_minutes(
    jwks_server: JwksServer, http_client: httpx.AsyncClient, clock: FixedClock
) -> None:
    jwks_server.publish(ec("a"))
    remote = RemoteJwks(jwks_server.url, http_client, clock=clock)

    for _ in range(50):
        assert [k.kid for k in (await remote.key_set()).keys] == ["a"]
    assert jwks_server.requests == 1

    clock.advance(timedelta(seconds=599))
    await remote.key_set()
    assert jwks_server.requests == 1

    jwks_server.publish(ec("b"))
    clock.advance(timedelta(seconds=1))
    assert [k.kid for k in (await remote.key_set()).keys] == ["b"]
    assert jwks_server.requests == 2


async def test_concurrent_callers_share_one_fetch(
    jwks_server: JwksServer, http_client: httpx.AsyncClient, clock: FixedClock
) -> None:
    jwks_server.publish(ec("a"))
    remote = RemoteJwks(jwks_server.url, http_client, clock=clock)

    results = await asyncio.gather(*(remote.key_set() for _ in range(50)))
    assert jwks_server.requests == 1
    assert all(result is results[0] for result in results)

    jwks_server.publish(ec("a"), ec("b"))
    clock.advance(timedelta(seconds=61))
    results = await asyncio.gather(*(remote.key_set(unknown_kid="b") for _ in range(50)))
    assert jwks_server.requests == 2
    assert all("b" in [k.kid for k in result.keys] for result in results)


async def test_a_flood_of_unknown_kids_costs_at_most_one_fetch_a_minute(
    jwks_server: JwksServer, http_client: httpx.AsyncClient, clock: FixedClock
) -> None:
    """J3: 1,000 tokens with random kids, verified end to end."""
    real = ec("real")
    attacker = ec("attacker")
    jwks_server.publish(real)
    remote = RemoteJwks(jwks_server.url, http_client, clock=clock)
    verifier = TokenVerifier(remote, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    assert (await verifier.verify(token_for(real, clock))).subject == "s-1"
    assert jwks_server.requests == 1

    async def flood() -> set[str]:
        codes: set[str] = set()
        for _ in range(1000):
            forged = token_for(attacker, clock, kid=secrets.token_hex(8))
            with pytest.raises(TokenError) as caught:
                await verifier.verify(forged)
            codes.add(caught.value.code)
        return codes

    assert await flood() == {"TOKEN_UNKNOWN_KEY"}
    assert jwks_server.requests == 1  # the last fetch was under a minute ago: none allowed

    clock.advance(timedelta(seconds=61))
    assert await flood() == {"TOKEN_UNKNOWN_KEY"}
    assert jwks_server.requests == 2  # one refetch for the whole second flood

    clock.advance(timedelta(seconds=30))
    assert await flood() == {"TOKEN_UNKNOWN_KEY"}
    assert jwks_server.requests == 2


async def test_key_rotation_new_kid_accepted_after_refetch_old_refused_after_refresh(
    jwks_server: JwksServer, http_client: httpx.AsyncClient, clock: FixedClock
) -> None:
    """J10: the issuer adds a key, later drops the old one."""
    old, new = ec("2026-old"), ec("2026-new")
    jwks_server.publish(old)
    remote = RemoteJwks(jwks_server.url, http_client, clock=clock)
    verifier = TokenVerifier(remote, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    old_token = token_for(old, clock)
    assert (await verifier.verify(old_token)).key_id == "2026-old"

    jwks_server.publish(old, new)
    clock.advance(timedelta(seconds=61))
    new_token = token_for(new, clock)
    assert (await verifier.verify(new_token)).key_id == "2026-new"
    assert jwks_server.requests == 2

    jwks_server.publish(new)
    clock.advance(timedelta(seconds=300))
    assert (await verifier.verify(old_token)).key_id == "2026-old"  # cached until refresh
    assert jwks_server.requests == 2

    clock.advance(timedelta(seconds=300))  # ten minutes since the last fetch
    with pytest.raises(TokenError) as caught:
        await verifier.verify(old_token)
    assert caught.value.code == "TOKEN_UNKNOWN_KEY"
    assert jwks_server.requests == 3
    assert (await verifier.verify(new_token)).key_id == "2026-new"
    assert jwks_server.requests == 3


async def test_a_failing_issuer_keeps_the_cached_keys_in_service(
    jwks_server: JwksServer, http_client: httpx.AsyncClient, clock: FixedClock
) -> None:
    key = ec("a")
    jwks_server.publish(key)
    remote = RemoteJwks(jwks_server.url, http_client, clock=clock)
    verifier = TokenVerifier(remote, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    await remote.key_set()

    jwks_server.fail_with(500)
    clock.advance(timedelta(seconds=600))
    assert (await verifier.verify(token_for(key, clock))).key_id == "a"
    assert jwks_server.requests == 2

    clock.advance(timedelta(seconds=30))  # still failing: no retry inside the minute
    assert (await verifier.verify(token_for(key, clock))).key_id == "a"
    assert jwks_server.requests == 2

    jwks_server.publish_document({"keys": [key.as_dict(private=True)]})  # compromised issuer
    jwks_server.fail_with(200)
    clock.advance(timedelta(seconds=30))
    assert (await verifier.verify(token_for(key, clock))).key_id == "a"
    assert jwks_server.requests == 3

    rotated = ec("b")
    jwks_server.publish(rotated)
    clock.advance(timedelta(seconds=60))
    assert [k.kid for k in (await remote.key_set()).keys] == ["b"]
    assert jwks_server.requests == 4


async def test_no_keys_at_all_is_an_upstream_failure_not_a_token_failure(
    jwks_server: JwksServer, http_client: httpx.AsyncClient, clock: FixedClock
) -> None:
    key = ec("a")
    jwks_server.fail_with(503)
    remote = RemoteJwks(jwks_server.url, http_client, clock=clock)
    verifier = TokenVerifier(remote, issuer=ISSUER, audience=AUDIENCE, clock=clock)

    for _ in range(20):
        with pytest.raises(JwksUnavailable) as caught:
            await verifier.verify(token_for(key, clock))
        assert isinstance(caught.value, UpstreamUnavailable)
        assert not isinstance(caught.value, TokenError)
        assert "HTTP 503" in caught.value.message
    assert jwks_server.requests == 1  # a down issuer is not hammered either

    jwks_server.publish(key)
    jwks_server.fail_with(200)
    clock.advance(timedelta(seconds=60))
    assert (await verifier.verify(token_for(key, clock))).key_id == "a"
    assert jwks_server.requests == 2


async def test_an_unreachable_issuer_is_reported(clock: FixedClock) -> None:
    with JwksServer() as server:
        url = server.url  # the port is free again once the server has stopped
    async with httpx.AsyncClient(timeout=2.0) as client:
        remote = RemoteJwks(url, client, clock=clock)
        with pytest.raises(JwksUnavailable, match="cannot fetch"):
            await remote.key_set()


# -- RemoteJwks: hostile responses (MockTransport) ---------------------------------------


@pytest.mark.parametrize("declare_length", [True, False])
async def test_an_oversized_jwks_is_refused(clock: FixedClock, declare_length: bool) -> None:
    keys = [ec(f"k{i}").as_dict(private=False) for i in range(3)]
    body = json.dumps({"keys": keys, "padding": "x" * (256 * 1024)}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 16 * 1024):
            yield body[start : start + 16 * 1024]

    def handler(request: httpx.Request) -> httpx.Response:
        if declare_length:
            return httpx.Response(200, content=body)
        return httpx.Response(200, content=chunks())

    async with mock_client(handler) as client:
        remote = RemoteJwks(JWKS_URL, client, clock=clock)
        with pytest.raises(JwksUnavailable, match="larger than 262144 bytes"):
            await remote.key_set()


async def test_the_size_cap_admits_a_jwks_just_under_it(clock: FixedClock) -> None:
    document = {"keys": [ec("k").as_dict(private=False)]}
    body = json.dumps(document).encode()

    async with mock_client(lambda request: httpx.Response(200, content=body)) as client:
        fits = RemoteJwks(JWKS_URL, client, max_bytes=len(body), clock=clock)
        assert [k.kid for k in (await fits.key_set()).keys] == ["k"]
        too_small = RemoteJwks(JWKS_URL, client, max_bytes=len(body) - 1, clock=clock)
        with pytest.raises(JwksUnavailable):
            await too_small.key_set()


async def test_redirects_are_not_followed_and_compression_is_not_requested(
    clock: FixedClock,
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": "https://elsewhere.example/jwks.json"})

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(handler), follow_redirects=True
    ) as client:
        remote = RemoteJwks(JWKS_URL, client, clock=clock)
        with pytest.raises(JwksUnavailable, match="HTTP 302"):
            await remote.key_set()

    assert [str(request.url) for request in seen] == [JWKS_URL]
    assert seen[0].headers["accept-encoding"] == "identity"


@pytest.mark.parametrize(
    "body", [b"<html>login</html>", b"[1, 2]", b'{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}']
)
async def test_a_response_that_is_not_a_public_jwks_is_refused(
    clock: FixedClock, body: bytes
) -> None:
    async with mock_client(lambda request: httpx.Response(200, content=body)) as client:
        remote = RemoteJwks(JWKS_URL, client, clock=clock)
        with pytest.raises(JwksUnavailable, match="cannot fetch"):
            await remote.key_set()


@pytest.mark.parametrize(
    "settings",
    [
        {"url": "file:///etc/jwks.json"},
        {"min_refetch_seconds": 0},
        {"refresh_seconds": 30, "min_refetch_seconds": 60},
    ],
)
async def test_remote_configuration_is_checked(settings: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"url": JWKS_URL, **settings}
    url = arguments.pop("url")
    async with httpx.AsyncClient() as client:
        with pytest.raises(ValueError, match=r"JWKS URL|min_refetch"):
            RemoteJwks(url, client, **arguments)


# -- FileJwks ----------------------------------------------------------------------------


def write_jwks(path: Path, document: object, *, bump: int) -> None:
    """Write and move the mtime on by `bump` seconds, so a rewrite within one filesystem
    timestamp tick still counts as a change."""
    path.write_text(json.dumps(document))
    stamp = 1_800_000_000 + bump
    os.utime(path, (stamp, stamp))


async def test_file_source_rereads_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    write_jwks(path, public_jwks_document([ec("first")]), bump=0)
    source = FileJwks(path)

    assert [k.kid for k in (await source.key_set()).keys] == ["first"]
    write_jwks(path, public_jwks_document([ec("first"), ec("second")]), bump=1)
    assert [k.kid for k in (await source.key_set(unknown_kid="second")).keys] == [
        "first",
        "second",
    ]


async def test_file_source_keeps_the_last_good_keys_when_a_rewrite_is_bad(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jwks.json"
    write_jwks(path, public_jwks_document([ec("good")]), bump=0)
    source = FileJwks(path)
    await source.key_set()

    path.write_text('{"keys": [')  # a half-written file
    os.utime(path, (1_800_000_001, 1_800_000_001))
    assert [k.kid for k in (await source.key_set()).keys] == ["good"]

    write_jwks(path, {"keys": [ec("leaked").as_dict(private=True)]}, bump=2)
    assert [k.kid for k in (await source.key_set()).keys] == ["good"]

    path.unlink()
    assert [k.kid for k in (await source.key_set()).keys] == ["good"]


async def test_file_source_without_usable_keys_is_unavailable(tmp_path: Path) -> None:
    missing = FileJwks(tmp_path / "absent.json")
    with pytest.raises(JwksUnavailable, match="does not exist"):
        await missing.key_set()

    secret = tmp_path / "secret.json"
    write_jwks(secret, {"keys": [OctKey.generate_key(256).as_dict(private=True)]}, bump=0)
    with pytest.raises(JwksUnavailable, match="symmetric"):
        await FileJwks(secret).key_set()

    big = tmp_path / "big.json"
    write_jwks(big, {"keys": [], "padding": "x" * 2048}, bump=0)
    with pytest.raises(JwksUnavailable, match="larger than 1024 bytes"):
        await FileJwks(big, max_bytes=1024).key_set()
