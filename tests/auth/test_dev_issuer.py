"""The development issuer: its key file, its JWKS, its tokens, and its refusal in production."""

from __future__ import annotations

import json
import stat
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwk, jws

from hub.auth.dev_issuer import DevelopmentIssuer
from hub.auth.jwks import StaticJwks
from hub.auth.tokens import TokenError, TokenVerifier
from hub.errors import ConfigurationError, InvalidInput
from hub.kit.time import FixedClock

ISSUER = "http://localhost:8000"
AUDIENCE = "care-hub"


def make_issuer(path: Path, clock: FixedClock, **overrides: Any) -> DevelopmentIssuer:
    arguments: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "production": False,
        "clock": clock,
        **overrides,
    }
    return DevelopmentIssuer(path, **arguments)


def verifier_for(issuer: DevelopmentIssuer, clock: FixedClock) -> TokenVerifier:
    return TokenVerifier(
        StaticJwks(issuer.key_set()), issuer=ISSUER, audience=AUDIENCE, clock=clock
    )


async def test_minted_tokens_verify_with_the_published_keys(
    tmp_path: Path, clock: FixedClock
) -> None:
    issuer = make_issuer(tmp_path / "dev-key.json", clock)

    token = issuer.mint("coordinator-7", {"role": "coordinator"}, timedelta(minutes=30))
    verified = await verifier_for(issuer, clock).verify(token)

    assert verified.subject == "coordinator-7"
    assert verified.claims["role"] == "coordinator"
    assert verified.claims["iss"] == ISSUER
    assert verified.claims["aud"] == AUDIENCE
    assert verified.issued_at == clock.now()
    assert verified.expires_at == clock.now() + timedelta(minutes=30)
    assert verified.key_id == issuer.kid
    assert verified.algorithm == "ES256"
    assert jws.extract_compact(token.encode()).headers()["typ"] == "at+jwt"


async def test_minted_tokens_expire_like_any_other(tmp_path: Path, clock: FixedClock) -> None:
    issuer = make_issuer(tmp_path / "dev-key.json", clock)
    token = issuer.mint("carer-1", {}, timedelta(minutes=5))
    verifier = verifier_for(issuer, clock)

    clock.advance(timedelta(minutes=5, seconds=60))
    assert (await verifier.verify(token)).subject == "carer-1"
    clock.advance(timedelta(seconds=1))
    with pytest.raises(TokenError) as caught:
        await verifier.verify(token)
    assert caught.value.code == "TOKEN_EXPIRED"


def test_every_token_gets_its_own_jti(tmp_path: Path, clock: FixedClock) -> None:
    issuer = make_issuer(tmp_path / "dev-key.json", clock)

    ids = set()
    for _ in range(20):
        payload = jws.extract_compact(issuer.mint("carer-1").encode()).payload
        ids.add(json.loads(payload or b"{}")["jti"])
    assert len(ids) == 20


def test_the_key_file_is_private_and_the_directory_is_created_private(
    tmp_path: Path, clock: FixedClock
) -> None:
    path = tmp_path / "data" / "hub" / "dev-key.json"

    make_issuer(path, clock)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["dev-key.json"]  # no temp file
    stored = json.loads(path.read_text())
    assert stored["kty"] == "EC"
    assert stored["crv"] == "P-256"
    assert "d" in stored


async def test_the_key_is_reused_across_restarts(tmp_path: Path, clock: FixedClock) -> None:
    path = tmp_path / "dev-key.json"
    first = make_issuer(path, clock)
    token = first.mint("carer-1")

    second = make_issuer(path, clock)

    assert second.kid == first.kid
    assert (await verifier_for(second, clock).verify(token)).subject == "carer-1"


def test_processes_starting_together_agree_on_one_key(tmp_path: Path, clock: FixedClock) -> None:
    path = tmp_path / "dev-key.json"
    kids: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def start_one() -> None:
        start.wait()
        try:
            kids.append(make_issuer(path, clock).kid)
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=start_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(kids) == 8
    assert len(set(kids)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev-key.json"]


def test_the_public_jwks_holds_only_public_parts_and_a_thumbprint_kid(
    tmp_path: Path, clock: FixedClock
) -> None:
    issuer = make_issuer(tmp_path / "dev-key.json", clock)

    document = issuer.public_jwks()

    [entry] = document["keys"]
    assert set(entry) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
    assert entry["alg"] == "ES256"
    assert entry["use"] == "sig"
    expected = jwk.thumbprint({k: entry[k] for k in ("kty", "crv", "x", "y")})
    assert entry["kid"] == expected == issuer.kid
    assert not any(key.is_private for key in issuer.key_set().keys)


def test_production_refuses_the_development_issuer_before_touching_disk(
    tmp_path: Path, clock: FixedClock
) -> None:
    path = tmp_path / "dev-key.json"

    with pytest.raises(ConfigurationError) as caught:
        make_issuer(path, clock, production=True)

    assert caught.value.code == "DEV_ISSUER_IN_PRODUCTION"
    assert "production" in caught.value.message
    assert not path.exists()


def test_a_key_file_others_can_read_is_refused(tmp_path: Path, clock: FixedClock) -> None:
    path = tmp_path / "dev-key.json"
    make_issuer(path, clock)
    path.chmod(0o644)

    with pytest.raises(ConfigurationError, match="chmod 600"):
        make_issuer(path, clock)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps({"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0"}),
        json.dumps(jwk.ECKey.generate_key("P-256").as_dict(private=False)),
        json.dumps(jwk.ECKey.generate_key("P-384").as_dict(private=True)),
    ],
    ids=["garbage", "symmetric", "public-only", "wrong-curve"],
)
def test_a_key_file_that_is_not_a_p256_private_key_is_refused(
    tmp_path: Path, clock: FixedClock, content: str
) -> None:
    path = tmp_path / "dev-key.json"
    path.write_text(content)
    path.chmod(0o600)

    with pytest.raises(ConfigurationError, match="delete it"):
        make_issuer(path, clock)


@pytest.mark.parametrize(
    ("subject", "claims", "ttl", "field"),
    [
        ("", {}, timedelta(hours=1), "subject"),
        ("carer-1", {"aud": "other-api"}, timedelta(hours=1), "claims"),
        ("carer-1", {"sub": "admin"}, timedelta(hours=1), "claims"),
        ("carer-1", {"exp": 4102444800}, timedelta(hours=1), "claims"),
        ("carer-1", {}, timedelta(0), "ttl"),
        ("carer-1", {}, timedelta(days=2), "ttl"),
    ],
)
def test_mint_refuses_what_would_make_a_misleading_token(
    tmp_path: Path,
    clock: FixedClock,
    subject: str,
    claims: dict[str, Any],
    ttl: timedelta,
    field: str,
) -> None:
    issuer = make_issuer(tmp_path / "dev-key.json", clock)

    with pytest.raises(InvalidInput) as caught:
        issuer.mint(subject, claims, ttl)
    assert caught.value.field == field


@pytest.mark.parametrize("missing", ["issuer", "audience"])
def test_issuer_and_audience_are_required(tmp_path: Path, clock: FixedClock, missing: str) -> None:
    with pytest.raises(ConfigurationError):
        make_issuer(tmp_path / "dev-key.json", clock, **{missing: ""})
