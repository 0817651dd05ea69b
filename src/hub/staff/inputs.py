"""GraphQL inputs of the staff domain. Ids arrive as global ids and are decoded here, so the
service receives plain UUIDs and a bad id is refused naming its field."""

from __future__ import annotations

import uuid
from datetime import date

import strawberry

from hub.graphql.ids import expect_global_id
from hub.staff.types import CompetencyStatus, StaffRole


@strawberry.input(description="Someone a provider employs.")
class RegisterStaffMemberInput:
    given_name: str
    family_name: str
    role: StaffRole
    organisation_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The employing provider. Office staff may leave it out (their own "
        "organisation); admins must give it.",
    )
    tupe_origin_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="For a TUPE transferee: the organisation they transfer from (not the new "
        "employer). Give `tupeTransferredOn` with it.",
    )
    tupe_transferred_on: date | None = strawberry.field(
        default=None,
        description="The date employment transfers under TUPE; may be in the future. Until "
        "then they cannot be assigned to this provider's visits.",
    )
    external_source: str | None = strawberry.field(
        default=None, description="The supplier system the staff member's id comes from."
    )
    external_id: str | None = strawberry.field(
        default=None, description="Their id in `externalSource` (unique within it)."
    )


@strawberry.input(
    description="Record (or replace) a staff member's evidence for one competence. EVIDENCED "
    "and REVALIDATED need `evidenceReference`, `assessedBy` and `assessedOn`."
)
class RecordCompetencyEvidenceInput:
    staff_member_id: strawberry.ID
    competence: str = strawberry.field(
        description="Competence code: safeguarding, medication, moving_and_handling, dementia, "
        "mca_dols, infection_prevention, or a contract's own (lower_snake_case)."
    )
    status: CompetencyStatus
    expires_on: date = strawberry.field(
        description="The last day the competence is valid; after it, it reads as EXPIRED."
    )
    evidence_reference: str | None = strawberry.field(
        default=None, description="Where the evidence is (certificate, observation record)."
    )
    assessed_by: str | None = strawberry.field(default=None, description="Who assessed it.")
    assessed_on: date | None = strawberry.field(
        default=None, description="When it was assessed; not in the future."
    )


@strawberry.input(description="Record that a staff member has left employment.")
class DeactivateStaffMemberInput:
    staff_member_id: strawberry.ID
    reason: str | None = strawberry.field(default=None, description="Why, for the record.")


def staff_member_id(value: strawberry.ID, field: str = "staffMemberId") -> uuid.UUID:
    return expect_global_id(value, "StaffMember", field=field)


def optional_organisation_id(value: strawberry.ID | None, field: str) -> uuid.UUID | None:
    return expect_global_id(value, "Organisation", field=field) if value else None
