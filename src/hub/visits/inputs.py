"""GraphQL inputs of the visits domain. Ids arrive as global ids and are decoded here, so the
service receives plain UUIDs and a bad id is refused naming its field."""

from __future__ import annotations

import uuid
from datetime import date

import strawberry

from hub.graphql.ids import expect_global_id


def visit_id(value: strawberry.ID, field: str = "visitId") -> uuid.UUID:
    return expect_global_id(value, "Visit", field=field)


def staff_ids(values: list[strawberry.ID], field: str = "staffIds") -> list[uuid.UUID]:
    return [
        expect_global_id(value, "StaffMember", field=f"{field}[{i}]")
        for i, value in enumerate(values)
    ]


@strawberry.input(
    description="Generate a package's visits for a range of Europe/London dates (both "
    "inclusive, at most 62 days). Safe to repeat: visits already there are left as they are."
)
class GenerateVisitsInput:
    package_id: strawberry.ID
    date_from: date
    date_to: date


@strawberry.input(
    description="Replace a visit's carers: one, or two for a double-handed visit. Each must "
    "hold every competence the visit's tasks need, evidenced or revalidated on the visit date."
)
class AssignCarersInput:
    visit_id: strawberry.ID
    staff_ids: list[strawberry.ID] = strawberry.field(description="StaffMember ids.")


@strawberry.input(description="Cancel a visit that has not been attended.")
class CancelVisitInput:
    visit_id: strawberry.ID
    reason: str = strawberry.field(description="Why, e.g. person admitted to hospital.")
