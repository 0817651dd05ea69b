"""GraphQL output types of the staff domain and their mappers from rows."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import Enum

import strawberry

from hub.graphql.context import Info
from hub.graphql.ids import encode_global_id
from hub.graphql.node import Node
from hub.organisations.resolvers import organisation_loader
from hub.organisations.types import Organisation
from hub.staff import service
from hub.staff.competency import CompetencyStatus as StatusValue
from hub.staff.competency import competence_label
from hub.staff.loaders import competencies_by_staff_loader
from hub.staff.models import Competency as CompetencyRow
from hub.staff.models import StaffMember as StaffMemberRow
from hub.staff.models import StaffRole as RoleValue


@strawberry.enum(description="What a staff member is employed as.")
class StaffRole(Enum):
    CARER = RoleValue.CARER.value
    SENIOR_CARER = RoleValue.SENIOR_CARER.value
    NURSE = RoleValue.NURSE.value
    COORDINATOR = RoleValue.COORDINATOR.value
    REGISTERED_MANAGER = RoleValue.REGISTERED_MANAGER.value
    OTHER = RoleValue.OTHER.value


@strawberry.enum(
    description="A staff member's standing in one competence. Only EVIDENCED and REVALIDATED "
    "let a carer do tasks that need it; RESTRICTED means under supervision or limited tasks."
)
class CompetencyStatus(Enum):
    EVIDENCED = StatusValue.EVIDENCED.value
    REVALIDATED = StatusValue.REVALIDATED.value
    RESTRICTED = StatusValue.RESTRICTED.value
    EXPIRED = StatusValue.EXPIRED.value


@strawberry.type(
    description="One competence of a staff member (safeguarding, medication, moving and "
    "handling, …) with its evidence. `effectiveStatus` is what counts today: EXPIRED once past "
    "`expiresOn`, whatever was recorded."
)
class Competency:
    competence: str = strawberry.field(
        description="Competence code, e.g. `medication`, `moving_and_handling`, `mca_dols`; "
        "contracts may add their own."
    )
    label: str = strawberry.field(description="The competence in words, e.g. `MCA/DoLS awareness`.")
    effective_status: CompetencyStatus = strawberry.field(
        description="The status that counts today (Europe/London): EXPIRED from the day after "
        "`expiresOn` (or when no expiry is recorded), else `storedStatus`."
    )
    stored_status: CompetencyStatus = strawberry.field(
        description="The status as last recorded, before the expiry date is applied."
    )
    evidence_reference: str | None = strawberry.field(
        description="Where the evidence is: certificate, observation record, training log entry."
    )
    assessed_by: str | None = strawberry.field(description="Who assessed the competence.")
    assessed_on: date | None = strawberry.field(description="When it was assessed.")
    expires_on: date | None = strawberry.field(description="The last day the competence is valid.")
    recorded_at: datetime = strawberry.field(description="When this record was last changed.")

    @classmethod
    def from_model(cls, row: CompetencyRow, today: date) -> Competency:
        return cls(
            competence=row.code,
            label=competence_label(row.code),
            effective_status=CompetencyStatus(service.effective_status_of(row, today).value),
            stored_status=CompetencyStatus(row.status.value),
            evidence_reference=row.evidence_reference,
            assessed_by=row.assessed_by,
            assessed_on=row.assessed_on,
            expires_on=row.expires_on,
            recorded_at=row.updated_at,
        )


@strawberry.type(
    description="Someone a provider employs, with their competencies. A TUPE transferee names "
    "the organisation they transferred from and when."
)
class StaffMember(Node):
    id: strawberry.ID
    given_name: str = strawberry.field(description="Given (first) name.")
    family_name: str = strawberry.field(description="Family name; the staff list sorts by it.")
    role: StaffRole = strawberry.field(description="What they are employed as.")
    active: bool = strawberry.field(description="False once they have left employment.")
    tupe_transferred_on: date | None = strawberry.field(
        description="The date employment transferred (or will) under TUPE."
    )
    created_at: datetime = strawberry.field(description="When the hub first recorded them.")
    row_id: strawberry.Private[uuid.UUID]
    organisation_id: strawberry.Private[uuid.UUID]
    tupe_origin_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="Full name as used in rotas and messages.")
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @strawberry.field(description="The provider that employs them.")
    async def organisation(self, info: Info) -> Organisation | None:
        row = await organisation_loader(info).load(self.organisation_id)
        return Organisation.from_model(row) if row is not None else None

    @strawberry.field(
        description="The organisation they transferred from under TUPE; null if not a transferee."
    )
    async def tupe_origin(self, info: Info) -> Organisation | None:
        if self.tupe_origin_id is None:
            return None
        row = await organisation_loader(info).load(self.tupe_origin_id)
        return Organisation.from_model(row) if row is not None else None

    @strawberry.field(description="Their competencies, by competence code.")
    async def competencies(self, info: Info) -> list[Competency]:
        rows = await competencies_by_staff_loader(info).load(self.row_id)
        today = service.london_today(info.context.clock)
        return [Competency.from_model(row, today) for row in rows]

    @classmethod
    def from_model(cls, row: StaffMemberRow) -> StaffMember:
        return cls(
            id=strawberry.ID(encode_global_id("StaffMember", row.id)),
            given_name=row.given_name,
            family_name=row.family_name,
            role=StaffRole(row.role.value),
            active=row.active,
            tupe_transferred_on=row.tupe_transferred_on,
            created_at=row.created_at,
            row_id=row.id,
            organisation_id=row.organisation_id,
            tupe_origin_id=row.tupe_origin_id,
        )
