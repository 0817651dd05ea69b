"""App versions on the read side (F29): an app older than the minimum is drain-only — the
rota pull and the visit detail answer APP_VERSION_TOO_OLD with the minimum and the server's
time — and every read answer carries both. The version policy itself (`MobileVersions`)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.errors import InvalidInput
from hub.graphql.ids import encode_global_id
from hub.kit.time import FixedClock
from hub.mobile.versions import MobileVersions, parse_app_version
from hub.organisations.models import Organisation
from tests import builders
from tests.mobile.app_client import AppClient, install_app, trusted_only_settings
from tests.mobile.command_builder import Phone
from tests.support.identity import Identities

MINIMUM = "1.2.0"


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    """The hub under test requires app 1.2.0 to read; carers run trusted documents only."""
    return trusted_only_settings(database_url, redis_url, tmp_path, mobile_min_app_version=MINIMUM)


@pytest.fixture
async def carer_app(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
) -> tuple[AppClient, uuid.UUID]:
    async with unit_of_work(sessions) as session:
        contract = await builders.create_contract(session)
        provider = await session.get(Organisation, contract.provider_id)
        staff = await builders.create_staff(session, organisation=provider)
        package = await builders.create_package(session, contract=contract)
        visit = await builders.create_visit(
            session, package=package, carers=(staff,), planned_start=clock.now()
        )
    return await install_app(http, identities, sessions, clock, staff), visit.id


@pytest.mark.parametrize("old", ["1.1.9", "0.9.0", "1.0.0"])
async def test_an_app_below_the_minimum_may_not_read(
    carer_app: tuple[AppClient, uuid.UUID], clock: FixedClock, old: str
) -> None:
    app, visit_id = carer_app
    app.app_version = old
    pulled = await app.pull()
    opened = await app.visit(encode_global_id("Visit", visit_id))
    for refused in (pulled, opened):
        assert refused == {
            "__typename": "AppVersionTooOldError",
            "code": "APP_VERSION_TOO_OLD",
            "message": refused["message"],
            "minAppVersion": MINIMUM,
            "serverTime": clock.now().isoformat(),
            "drainOnly": True,
        }
        assert old in refused["message"]
        assert MINIMUM in refused["message"]


@pytest.mark.parametrize("current", [MINIMUM, "1.10.0", "2.0.0"])
async def test_an_app_at_or_above_the_minimum_reads_and_is_told_the_minimum(
    carer_app: tuple[AppClient, uuid.UUID], clock: FixedClock, current: str
) -> None:
    app, visit_id = carer_app
    app.app_version = current
    pulled = await app.pull()
    opened = await app.visit(encode_global_id("Visit", visit_id))
    assert pulled["__typename"] == "MobileChanges"
    assert opened["__typename"] == "MobileVisitDetail"
    for answer in (pulled, opened):
        assert answer["minAppVersion"] == MINIMUM
        assert answer["serverTime"] == clock.now().isoformat()


@pytest.mark.parametrize("garbage", ["1.2", "v1.2.0", "", "1.2.0-beta"])
async def test_an_unreadable_app_version_is_an_input_error(
    carer_app: tuple[AppClient, uuid.UUID], garbage: str
) -> None:
    app, _ = carer_app
    app.app_version = garbage
    refused = await app.pull()
    assert refused["__typename"] == "InvalidInputError"
    assert refused["code"] == "INVALID_APP_VERSION"
    assert refused["field"] == "appVersion"


def test_versions_compare_numerically_and_protocols_are_current_and_previous() -> None:
    versions = MobileVersions(current_protocol=2, min_app_version="1.4.0")
    assert versions.drain_only("1.3.9")
    assert versions.drain_only("0.99.99")
    assert not versions.drain_only("1.4.0")
    assert not versions.drain_only("1.10.0")  # not a string comparison
    assert versions.supported_protocols == (2, 1)
    assert versions.protocol_supported(1)
    assert not versions.protocol_supported(3)
    assert MobileVersions(current_protocol=1, min_app_version="1.0.0").supported_protocols == (1,)
    assert parse_app_version(" 1.4.0 ") == (1, 4, 0)
    with pytest.raises(InvalidInput) as refused:
        parse_app_version("1.4")
    assert refused.value.code == "INVALID_APP_VERSION"


async def test_a_drain_only_app_still_uploads_its_outbox(
    carer_app: tuple[AppClient, uuid.UUID], clock: FixedClock
) -> None:
    """F29: below the minimum, the outbox drains (nothing recorded offline is lost) while the
    rota is refused until the app is upgraded."""
    app, visit_id = carer_app
    app.app_version = "1.1.0"
    phone = Phone(device_id=uuid.UUID(app.device_id), app_version="1.1.0")
    phone.check_in(visit_id, clock.now())
    uploaded = (await app.run("SubmitCommands", {"input": phone.batch(clock.now())})).ok()[
        "submitCommands"
    ]
    assert uploaded["__typename"] == "SubmitCommandsPayload"
    assert uploaded["drainOnly"] is True
    assert uploaded["minAppVersion"] == MINIMUM
    assert [result["status"] for result in uploaded["results"]] == ["APPLIED"]
    refused = await app.pull()
    assert refused["__typename"] == "AppVersionTooOldError"
    assert refused["drainOnly"] is True
