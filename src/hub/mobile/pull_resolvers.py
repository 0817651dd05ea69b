"""The carers' app reads: `mobileChanges` (the rota pull) and `mobileVisit` (one visit with its
person). Carers only, and only through trusted documents (`hub.mobile.documents`).

Both name the device (`deviceId`, from `registerDevice`): an unknown device, or another
carer's, is DEVICE_NOT_REGISTERED; a revoked (lost) one is DEVICE_REVOKED and reads nothing,
since a lost phone must not keep receiving key-safe codes. Both take the app's version
(`appVersion`, required): an app older than `HUB_MOBILE_MIN_APP_VERSION` is drain-only and
gets `AppVersionTooOldError` (APP_VERSION_TOO_OLD) instead of data; its uploads are still
accepted. Every answer, refusals included, is a `MobileAnswer`: the server's time, the minimum
app version and whether this app is drain-only.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import strawberry

from hub.accounts.models import Role
from hub.db.uow import read_only
from hub.errors import Forbidden, HubError
from hub.graphql.context import Info
from hub.graphql.errors import ExpectedError, expected_error
from hub.graphql.ids import encode_global_id, expect_global_id
from hub.graphql.permissions import allow
from hub.mobile import pull
from hub.mobile.errors import DeviceNotRegistered
from hub.mobile.pull_types import (
    AppVersionTooOldError,
    DeviceRevokedError,
    MobileChanges,
    MobileChangesResult,
    MobileResetReason,
    MobileTombstone,
    MobileTombstoneReason,
    MobileVisit,
    MobileVisitDetail,
    MobileVisitResult,
    MobileWindow,
)
from hub.mobile.types import DeviceNotRegisteredError
from hub.mobile.versions import MobileVersions
from hub.people.errors import PersonNotFound
from hub.people.loaders import person_loader, person_type
from hub.people.types import Person
from hub.tenancy import AccessScope
from hub.visits import service as visits
from hub.visits.loaders import request_now


@strawberry.type
class MobilePullQuery:
    @strawberry.field(
        description="The rota pull: your visits from yesterday to seven days ahead (Europe/"
        "London dates), their people, and what to drop, since `cursor` (omit it the first "
        "time). Pages of at most 200 visits and tombstones; pull again while `hasMore`. An "
        "unusable cursor answers `reset: true` with the whole window.",
        extensions=allow(Role.CARER),
    )
    async def mobile_changes(
        self,
        info: Info,
        device_id: uuid.UUID,
        app_version: str,
        cursor: str | None = None,
        limit: int = pull.DEFAULT_LIMIT,
    ) -> MobileChangesResult:
        context = info.context
        now = request_now(info)
        versions = MobileVersions.of(context.settings)
        answer = _answer(versions, now)
        try:
            if versions.drain_only(app_version):
                return AppVersionTooOldError.of(versions, app_version, now)
            scope = _scope(info)
            async with read_only(context.sessions) as session:
                await pull.own_active_device(session, scope, device_id)
                page = await pull.pull(
                    session,
                    scope=scope,
                    device_id=str(device_id),
                    cursor=cursor,
                    limit=limit,
                    now=now,
                    codec=pull.cursor_codec(context.settings),
                )
        except HubError as error:
            return _refusal(error, answer)
        return MobileChanges(
            cursor=page.cursor,
            has_more=page.has_more,
            reset=page.reset,
            reset_reason=MobileResetReason(page.reset_reason.value) if page.reset_reason else None,
            window=MobileWindow(first_day=page.window.first_day, last_day=page.window.last_day),
            visits=[
                MobileVisit.from_record(found, now, page.facts.get(found.visit.id, ()))
                for found in page.visits
            ],
            tombstones=[
                MobileTombstone(
                    visit_id=strawberry.ID(encode_global_id("Visit", tombstone.visit_id)),
                    reason=MobileTombstoneReason(tombstone.reason.value),
                )
                for tombstone in page.tombstones
            ],
            people=await _people(info, page.person_ids),
            **answer,
        )

    @strawberry.field(
        description="One of your visits with its person, as the app opens it at the door: the "
        "key-safe code and access details are filled in only inside the visit's access window.",
        extensions=allow(Role.CARER),
    )
    async def mobile_visit(
        self,
        info: Info,
        device_id: uuid.UUID,
        app_version: str,
        visit_id: strawberry.ID,
    ) -> MobileVisitResult:
        context = info.context
        now = request_now(info)
        versions = MobileVersions.of(context.settings)
        answer = _answer(versions, now)
        try:
            if versions.drain_only(app_version):
                return AppVersionTooOldError.of(versions, app_version, now)
            wanted = expect_global_id(visit_id, "Visit", field="visitId")
            scope = _scope(info)
            async with read_only(context.sessions) as session:
                await pull.own_active_device(session, scope, device_id)
                found = await visits.get_visit(session, scope, wanted)
                facts = await pull.facts_of(session, scope, [found])
            people = await _people(info, [found.person_id])
            if not people:
                raise PersonNotFound(f"no person for visit {visit_id}")
        except HubError as error:
            return _refusal(error, answer)
        return MobileVisitDetail(
            visit=MobileVisit.from_record(found, now, facts[found.visit.id]),
            person=people[0],
            **answer,
        )


def _answer(versions: MobileVersions, now: datetime) -> dict[str, Any]:
    """What every read answer carries. A drain-only app never gets this far, so false."""
    return {"server_time": now, "min_app_version": versions.min_app_version, "drain_only": False}


def _refusal(
    error: HubError, answer: dict[str, Any]
) -> DeviceNotRegisteredError | DeviceRevokedError | ExpectedError:
    if isinstance(error, DeviceNotRegistered):
        return DeviceNotRegisteredError(code=error.code, message=error.message, **answer)
    if isinstance(error, pull.DeviceRevoked):
        return DeviceRevokedError(code=error.code, message=error.message, **answer)
    return expected_error(error)


def _scope(info: Info) -> AccessScope:
    scope = AccessScope.of(info.context.require_principal())
    if scope.staff_id is None:
        raise Forbidden("this carer account is not linked to a staff record; ask the office")
    return scope


async def _people(info: Info, person_ids: Sequence[uuid.UUID]) -> list[Person]:
    """The people, through the tenancy-filtered loader, and the read recorded under the
    field's name (one access-log row per request, whatever else it reads)."""
    if not person_ids:
        return []
    rows = [row for row in await person_loader(info).load_many(list(person_ids)) if row]
    if rows:
        info.context.audit.person_read(info.field_name, [row.id for row in rows])
    return [person_type(row) for row in rows]
