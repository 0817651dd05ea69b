"""Builds the identity machinery from settings: the token verifier (the issuer's JWKS, or the
hub's own development issuer), the authenticator and the per-client rate limiter."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from redis.asyncio import Redis

from hub.auth.authenticate import Authenticator
from hub.auth.dev_issuer import DevelopmentIssuer
from hub.auth.jwks import FileJwks, JwksSource, RemoteJwks, StaticJwks
from hub.auth.ratelimit import RateLimiter
from hub.auth.tokens import TokenVerifier
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.errors import ConfigurationError
from hub.kit.time import Clock

DEV_KEY_FILE = "dev-signing-key.json"


@dataclass
class Identity:
    authenticator: Authenticator
    rate_limiter: RateLimiter
    dev_issuer: DevelopmentIssuer | None
    http: httpx.AsyncClient | None

    async def close(self) -> None:
        await self.authenticator.close()
        if self.http is not None:
            await self.http.aclose()


def development_issuer(settings: Settings, clock: Clock) -> DevelopmentIssuer:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return DevelopmentIssuer(
        settings.data_dir / DEV_KEY_FILE,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        production=settings.is_production,
        clock=clock,
    )


def build_identity(
    settings: Settings, sessions: SessionFactory, redis: Redis, clock: Clock
) -> Identity:
    http: httpx.AsyncClient | None = None
    dev_issuer: DevelopmentIssuer | None = None
    jwks: JwksSource
    if settings.auth_jwks_url:
        http = httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=3.0), follow_redirects=False)
        jwks = RemoteJwks(settings.auth_jwks_url, http, clock=clock)
    elif settings.auth_jwks_file:
        jwks = FileJwks(settings.auth_jwks_file)
    elif settings.uses_development_issuer:
        dev_issuer = development_issuer(settings, clock)
        jwks = StaticJwks(dev_issuer.key_set())
    else:
        raise ConfigurationError(
            "production needs the token issuer's keys: set HUB_AUTH_JWKS_URL or HUB_AUTH_JWKS_FILE"
        )
    verifier = TokenVerifier(
        jwks,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        algorithms=tuple(settings.auth_algorithms.split(",")),
        leeway_seconds=settings.auth_leeway_seconds,
        clock=clock,
    )
    return Identity(
        authenticator=Authenticator(
            verifier,
            sessions,
            issuer=settings.auth_issuer,
            profile=settings.auth_provider,
        ),
        rate_limiter=RateLimiter(
            redis, per_minute=settings.client_rate_per_minute, burst=settings.client_burst
        ),
        dev_issuer=dev_issuer,
        http=http,
    )
