"""GraphQL inputs of the change requests domain. Global ids are decoded here, so the service
receives plain UUIDs and a bad id is refused naming its field."""

from __future__ import annotations

import uuid
from datetime import date

import strawberry

from hub.change_requests.types import PACKAGE_TYPE, ChangeRequestKind
from hub.graphql.ids import expect_global_id


@strawberry.input(description="A change to put under change control.")
class ProposeChangeInput:
    kind: ChangeRequestKind
    title: str
    description: str
    contract_id: strawberry.ID | None = strawberry.field(
        default=None, description="Required for contract variations and commissioner amendments."
    )
    affected_package_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Care packages the change affects (visible to you)."
    )
    affected_workflows: list[str] = strawberry.field(
        default_factory=list, description="e.g. 'task confirmation', 'missed-call reporting'."
    )
    raised_by_organisation_id: strawberry.ID | None = strawberry.field(
        default=None, description="Admins only: the organisation raising the change."
    )
    note: str | None = None


@strawberry.input(description="The change's capacity, risk and cost impact; all three required.")
class AssessChangeInput:
    change_request_id: strawberry.ID
    capacity_impact: str
    risk_impact: str
    cost_impact_pence: int = strawberry.field(description="Pence; 0 for none, negative a saving.")
    assurance_plan: str | None = strawberry.field(
        default=None, description="How the change will be assured once in effect."
    )
    note: str | None = None


@strawberry.input(description="Approve or reject an assessed change; a rejection needs a note.")
class DecideChangeInput:
    change_request_id: strawberry.ID
    approve: bool
    note: str | None = None


@strawberry.input(description="Record that an approved change has taken effect.")
class MarkChangeImplementedInput:
    change_request_id: strawberry.ID
    effective_from: date = strawberry.field(
        description="The day it took effect (Europe/London); not before the approval."
    )
    note: str | None = None


@strawberry.input(description="Close an implemented change with the assurance that followed.")
class ReviewChangeInput:
    change_request_id: strawberry.ID
    assurance_plan: str | None = strawberry.field(
        default=None,
        description="e.g. 'two weeks of supervisor spot checks'; required unless set at "
        "assessment.",
    )
    note: str | None = strawberry.field(default=None, description="What the review found.")


def change_request_id(value: strawberry.ID) -> uuid.UUID:
    return expect_global_id(value, "ChangeRequest", field="changeRequestId")


def package_ids(values: list[strawberry.ID]) -> list[uuid.UUID]:
    return [expect_global_id(v, PACKAGE_TYPE, field="affectedPackageIds") for v in values]


def optional_id(value: strawberry.ID | None, type_name: str, field: str) -> uuid.UUID | None:
    return expect_global_id(value, type_name, field=field) if value else None
