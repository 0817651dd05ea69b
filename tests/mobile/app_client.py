"""The carers' app as tests drive it: it runs the operations of `mobile_contract/manifest.json`
by id (`documentId: "sha256:…"`), never by text, exactly as a phone does."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from hub.accounts.models import Role
from hub.config import Environment, Settings
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.kit.time import Clock
from hub.mobile import devices
from hub.mobile.documents import PersistedOperation, parse_manifest
from hub.staff.models import StaffMember
from hub.tenancy import AccessScope
from tests.support.graphql import GraphQLResponse
from tests.support.identity import Identities

CONTRACT = Path(__file__).resolve().parents[2] / "mobile_contract"


def trusted_only_settings(
    database_url: str, redis_url: str, tmp_path: Path, **overrides: Any
) -> Settings:
    """The test hub's settings with the production rule: carers run trusted documents only."""
    return Settings(
        environment=Environment.TEST,
        database_url=database_url,
        redis_url=redis_url,
        data_dir=tmp_path / "hub",
        inprocess_worker=False,
        mobile_carer_raw_documents=False,
        **overrides,
    )


@functools.cache
def manifest_operations() -> dict[str, PersistedOperation]:
    text = (CONTRACT / "manifest.json").read_text()
    return {operation.name: operation for operation in parse_manifest(text, "manifest.json")}


def document_id(name: str) -> str:
    return manifest_operations()[name].document_id


async def register_device(
    sessions: SessionFactory, clock: Clock, staff: StaffMember, device_id: uuid.UUID
) -> None:
    """What `registerDevice` does for the carer, through the mobile domain's service."""
    scope = AccessScope(Role.CARER, staff.organisation_id, staff.id)
    async with unit_of_work(sessions) as session:
        await devices.register_device(
            session,
            scope=scope,
            actor=f"staff:{staff.id}",
            clock=clock,
            device_id=device_id,
            platform="android",
            model="test phone",
            app_version="1.0.0",
            protocol_version=2,
        )


async def install_app(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: Clock,
    staff: StaffMember,
    *,
    app_version: str = "1.0.0",
) -> AppClient:
    """A signed-in carer with a registered device. Its token is minted afresh for each
    request, as the app refreshes it, so tests may move the clock by days."""
    subject = await identities.register(
        Role.CARER, organisation_id=staff.organisation_id, staff_id=staff.id
    )
    device_id = uuid.uuid4()
    await register_device(sessions, clock, staff, device_id)
    return AppClient(
        http,
        identities.mint(subject),
        device_id=str(device_id),
        app_version=app_version,
        renew=lambda: identities.mint(subject),
    )


class AppClient:
    """One install of the app: a carer's token, a device id and an app version."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token: str,
        *,
        device_id: str,
        app_version: str = "1.0.0",
        renew: Callable[[], str] | None = None,
    ) -> None:
        self.http = http
        self.token = token
        self.renew = renew
        self.device_id = device_id
        self.app_version = app_version

    @property
    def headers(self) -> dict[str, str]:
        if self.renew is not None:
            self.token = self.renew()
        return {"authorization": f"Bearer {self.token}"}

    async def run(self, name: str, variables: dict[str, Any]) -> GraphQLResponse:
        """POST `{"documentId": "sha256:…", "variables": …}`."""
        response = await self.http.post(
            "/graphql",
            json={"documentId": document_id(name), "variables": variables},
            headers=self.headers,
        )
        return GraphQLResponse(response.status_code, response.json())

    async def run_get(self, name: str, variables: dict[str, Any]) -> GraphQLResponse:
        """GET `?documentId=sha256:…&variables=…` (queries only)."""
        response = await self.http.get(
            "/graphql",
            params={"documentId": document_id(name), "variables": json.dumps(variables)},
            headers=self.headers,
        )
        return GraphQLResponse(response.status_code, response.json())

    async def pull(self, cursor: str | None = None, *, limit: int = 100) -> dict[str, Any]:
        """One page of the rota pull (`mobileChanges`), whatever its result type."""
        variables: dict[str, Any] = {
            "deviceId": self.device_id,
            "appVersion": self.app_version,
            "limit": limit,
        }
        if cursor is not None:
            variables["cursor"] = cursor
        result: dict[str, Any] = (await self.run("RotaPull", variables)).ok()["mobileChanges"]
        return result

    async def pull_all(
        self, cursor: str | None = None, *, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Every page of one pull sequence (until `hasMore` is false)."""
        pages = [await self.pull(cursor, limit=limit)]
        while pages[-1]["hasMore"]:
            pages.append(await self.pull(pages[-1]["cursor"], limit=limit))
        return pages

    async def visit(self, visit_id: str) -> dict[str, Any]:
        variables = {
            "deviceId": self.device_id,
            "appVersion": self.app_version,
            "visitId": visit_id,
        }
        result: dict[str, Any] = (await self.run("VisitDetail", variables)).ok()["mobileVisit"]
        return result
