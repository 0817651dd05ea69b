"""GraphQL types of the carers' app reads: the rota pull (`mobileChanges`) and the visit detail
(`mobileVisit`). Their own types, not the office's `Visit`: what a shipped app reads must not
change because the office screens need something new (mobile_contract/README.md).

People are the people domain's `Person`, so the key-safe code and access details follow its
rule (shown to a carer only inside one of their visit windows) and every read is audited; the
app's trusted documents select no NHS number.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from hub.graphql.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UserError,
)
from hub.graphql.ids import encode_global_id
from hub.mobile import pull
from hub.mobile.types import DeviceNotRegisteredError, MobileAnswer
from hub.mobile.versions import MobileVersions
from hub.people.service import ACCESS_WINDOW_MARGIN
from hub.people.types import Person
from hub.visits import service as visits
from hub.visits.models import FactKind as FactKindValue
from hub.visits.models import VisitFact
from hub.visits.repository import VisitRecord
from hub.visits.types import VisitStatus

APP_VERSION_TOO_OLD = "APP_VERSION_TOO_OLD"


@strawberry.enum(description="Why a pull answers with the whole window (`reset: true`).")
class MobileResetReason(Enum):
    FIRST_PULL = strawberry.enum_value(
        pull.ResetReason.FIRST_PULL.value, description="No cursor was sent."
    )
    EXPIRED = strawberry.enum_value(
        pull.ResetReason.EXPIRED.value,
        description=f"The cursor is older than {pull.CURSOR_RETENTION.days} days.",
    )
    OTHER_DEVICE = strawberry.enum_value(
        pull.ResetReason.OTHER_DEVICE.value,
        description="The cursor was issued to another device or another carer.",
    )
    INVALID = strawberry.enum_value(
        pull.ResetReason.INVALID.value,
        description="The cursor is unreadable, was altered, or is of an older format.",
    )
    TOO_MANY_CHANGES = strawberry.enum_value(
        pull.ResetReason.TOO_MANY_CHANGES.value,
        description="So much changed since the cursor that the window afresh is cheaper.",
    )


@strawberry.enum(description="Why the app must drop a visit it holds.")
class MobileTombstoneReason(Enum):
    CANCELLED = strawberry.enum_value(
        pull.TombstoneReason.CANCELLED.value, description="The office cancelled the visit."
    )
    UNASSIGNED = strawberry.enum_value(
        pull.TombstoneReason.UNASSIGNED.value,
        description="The visit was given to another carer.",
    )
    OUT_OF_WINDOW = strawberry.enum_value(
        pull.TombstoneReason.OUT_OF_WINDOW.value,
        description="The visit is no longer within the pull window (days moved on, or moved).",
    )


@strawberry.type(description="The Europe/London dates a pull covers (both inclusive).")
class MobileWindow:
    first_day: date
    last_day: date


@strawberry.type(description="One planned task of a visit; confirm it by `index`.")
class MobileTask:
    index: int = strawberry.field(description="Position in the visit's task list, from 0.")
    code: str | None
    description: str
    requires: str | None = strawberry.field(
        description="Competence the task needs (e.g. medication), or null."
    )


@strawberry.enum(description="What a visit fact records.")
class MobileFactKind(Enum):
    CHECK_IN = FactKindValue.CHECK_IN.value
    CHECK_OUT = FactKindValue.CHECK_OUT.value
    TASK_CONFIRMATION = FactKindValue.TASK_CONFIRMATION.value
    OBSERVATION = FactKindValue.OBSERVATION.value
    CONCERN = FactKindValue.CONCERN.value


@strawberry.type(
    description="A fact the server holds about a visit. For a fact the app uploaded, `id` is "
    "the command's `commandId`: the app matches its outbox receipts by it and never shows the "
    "same recording twice."
)
class MobileVisitFact:
    id: strawberry.ID
    kind: MobileFactKind
    occurred_at: datetime = strawberry.field(description="Server-corrected business time.")
    task_index: int | None = strawberry.field(description="For a task confirmation.")
    flags: list[str] = strawberry.field(description="Flag codes raised when it was recorded.")
    supersedes_id: strawberry.ID | None = strawberry.field(
        description="The fact this one corrects."
    )

    @classmethod
    def from_model(cls, fact: VisitFact) -> MobileVisitFact:
        index = fact.details.get("task_index")
        return cls(
            id=strawberry.ID(str(fact.id)),
            kind=MobileFactKind(fact.kind.value),
            occurred_at=fact.occurred_at,
            task_index=index if isinstance(index, int) else None,
            flags=list(fact.flags),
            supersedes_id=strawberry.ID(str(fact.supersedes_id)) if fact.supersedes_id else None,
        )


@strawberry.type(description="A visit as the carers' app holds it.")
class MobileVisit:
    id: strawberry.ID = strawberry.field(description="The visit's id (the same as `Visit.id`).")
    person_id: strawberry.ID = strawberry.field(
        description="The person visited; their details are in `people`."
    )
    planned_start: datetime
    planned_end: datetime
    local_date: date = strawberry.field(description="Europe/London date of the planned start.")
    time_critical: bool
    double_handed: bool
    status: VisitStatus = strawberry.field(
        description="Derived by the server from the facts it holds (a check-in this phone "
        "uploaded included) and the contract's tolerances."
    )
    checked_in_at: datetime | None = strawberry.field(
        description="Server-corrected time of the first check-in the server holds."
    )
    checked_out_at: datetime | None
    tasks: list[MobileTask]
    access_from: datetime = strawberry.field(
        description="From this instant the person's key-safe code and access details are shown."
    )
    access_until: datetime = strawberry.field(
        description="After this instant they are no longer shown; the app must forget them."
    )
    facts: list[MobileVisitFact] = strawberry.field(
        description="What the server holds, in the order it was recorded (uploads from this "
        "phone included)."
    )

    @classmethod
    def from_record(
        cls, found: VisitRecord, now: datetime, facts: Sequence[VisitFact] = ()
    ) -> MobileVisit:
        visit = found.visit
        return cls(
            id=strawberry.ID(encode_global_id("Visit", visit.id)),
            person_id=strawberry.ID(encode_global_id("Person", found.person_id)),
            planned_start=visit.planned_start,
            planned_end=visit.planned_end,
            local_date=visits.local_date(visit),
            time_critical=visit.time_critical,
            double_handed=visit.double_handed,
            status=VisitStatus(visits.visit_status(found, now).value),
            checked_in_at=visit.checked_in_at,
            checked_out_at=visit.checked_out_at,
            tasks=[
                MobileTask(
                    index=index,
                    code=task.get("code"),
                    description=str(task.get("description") or task.get("code") or ""),
                    requires=task.get("requires"),
                )
                for index, task in enumerate(visit.tasks)
            ],
            access_from=visit.planned_start - ACCESS_WINDOW_MARGIN,
            access_until=visit.planned_end + ACCESS_WINDOW_MARGIN,
            facts=[MobileVisitFact.from_model(fact) for fact in facts],
        )


@strawberry.type(description="A visit the app must drop.")
class MobileTombstone:
    visit_id: strawberry.ID
    reason: MobileTombstoneReason


@strawberry.type(
    description="One page of the rota pull. Upsert `visits` and `people` by id, drop "
    "`tombstones`, keep `cursor` for the next pull. With `reset`, the pages of this sequence "
    "are the whole window: after the last page (`hasMore: false`) drop visits not received."
)
class MobileChanges(MobileAnswer):
    cursor: str = strawberry.field(description="Opaque; send it with the next pull.")
    has_more: bool = strawberry.field(description="Pull again now with `cursor` for the rest.")
    reset: bool
    reset_reason: MobileResetReason | None
    window: MobileWindow
    visits: list[MobileVisit]
    tombstones: list[MobileTombstone]
    people: list[Person] = strawberry.field(
        description="The people of this page's visits (and anyone whose details changed). "
        "Reading them is recorded in the access log."
    )


@strawberry.type(description="One visit of the carer's, with the person, as the app opens it.")
class MobileVisitDetail(MobileAnswer):
    visit: MobileVisit
    person: Person = strawberry.field(
        description="Reading the person is recorded in the access log."
    )


@strawberry.type(
    description="This app version may no longer read (`drainOnly`): upgrade it. Uploads are "
    "still accepted, so nothing recorded offline is lost."
)
class AppVersionTooOldError(UserError, MobileAnswer):
    @classmethod
    def of(cls, versions: MobileVersions, app_version: str, now: datetime) -> AppVersionTooOldError:
        return cls(
            code=APP_VERSION_TOO_OLD,
            message=f"app version {app_version} is older than {versions.min_app_version}, the "
            "oldest that may read the rota: upgrade the app (uploads are still accepted)",
            min_app_version=versions.min_app_version,
            server_time=now,
            drain_only=True,
        )


@strawberry.type(
    description="The office revoked this device (lost or replaced): it reads nothing. What it "
    "uploads is kept for the office to review; ask a supervisor."
)
class DeviceRevokedError(UserError, MobileAnswer):
    pass


MobileChangesResult = Annotated[
    MobileChanges
    | AppVersionTooOldError
    | DeviceNotRegisteredError
    | DeviceRevokedError
    | InvalidInputError
    | NotFoundError
    | ConflictError
    | ForbiddenError,
    strawberry.union("MobileChangesResult"),
]
MobileVisitResult = Annotated[
    MobileVisitDetail
    | AppVersionTooOldError
    | DeviceNotRegisteredError
    | DeviceRevokedError
    | InvalidInputError
    | NotFoundError
    | ConflictError
    | ForbiddenError,
    strawberry.union("MobileVisitResult"),
]
