"""GraphQL inputs of the governance domain. Global ids are decoded here, so the service
receives plain UUIDs and a bad id is refused naming its field."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from hub.errors import InvalidInput
from hub.governance.types import CaseActionKind, EscalationTarget
from hub.graphql.ids import expect_global_id


@strawberry.input(description="Take a case: you become its owner.")
class AcknowledgeCaseInput:
    case_id: strawberry.ID
    note: str | None = None


@strawberry.input(description="Give a case to a member of the provider's staff.")
class AssignCaseInput:
    case_id: strawberry.ID
    staff_id: strawberry.ID = strawberry.field(description="A StaffMember id.")
    note: str | None = None


@strawberry.input(description="Move a case up one rung of its contract's ladder now.")
class EscalateCaseInput:
    case_id: strawberry.ID
    reason: str


@strawberry.input(description="Resolve a case with an outcome from its contract's list.")
class ResolveCaseInput:
    case_id: strawberry.ID
    outcome_code: str = strawberry.field(
        description="e.g. covered_by_alternative_worker (see the contract's resolutionOutcomes)."
    )
    fields: JSON = strawberry.field(
        default_factory=dict,
        description='The outcome\'s required fields, e.g. {"coveredWithinMinutes": 40, '
        '"alternativeWorker": "J. Patel"}.',
    )
    note: str | None = None


@strawberry.input(description="Close a resolved case whose actions are all complete.")
class CloseCaseInput:
    case_id: strawberry.ID
    note: str | None = None


@strawberry.input(description="Attach a learning or governance action to a case.")
class AddCaseActionInput:
    case_id: strawberry.ID
    kind: CaseActionKind
    description: str
    owner_role: EscalationTarget | None = None
    owner_staff_id: strawberry.ID | None = strawberry.field(
        default=None, description="A StaffMember id."
    )
    due_at: datetime | None = strawberry.field(default=None, description="With offset.")


@strawberry.input(description="Record that an action was done, and what was done.")
class CompleteCaseActionInput:
    action_id: strawberry.ID
    note: str


@strawberry.input(description="The documented decision on a safeguarding concern.")
class RecordSafeguardingDecisionInput:
    case_id: strawberry.ID
    referral_made: bool
    reason: str = strawberry.field(description="Why a referral was, or was not, made.")
    referral_reference: str | None = None


@strawberry.input(description="One rung: who, and how many minutes after the case opened.")
class EscalationStepInput:
    target: EscalationTarget
    after_minutes: int


@strawberry.input(description="Replace a contract's escalation ladder (empty: the default).")
class SetEscalationLadderInput:
    contract_id: strawberry.ID
    steps: list[EscalationStepInput]


@strawberry.input(description="A contract's rule thresholds; omitted values keep the default.")
class SetCaseRuleSettingsInput:
    contract_id: strawberry.ID
    pain_threshold: int | None = None
    low_fluid_ml: int | None = None
    repeat_count: int | None = None
    repeat_window_days: int | None = None
    acknowledge_within_minutes: int | None = None
    resolve_within_minutes: int | None = None


def case_id(value: strawberry.ID) -> uuid.UUID:
    return expect_global_id(value, "ExceptionCase", field="caseId")


def action_id(value: strawberry.ID) -> uuid.UUID:
    return expect_global_id(value, "CaseAction", field="actionId")


def optional_id(value: strawberry.ID | None, type_name: str, field: str) -> uuid.UUID | None:
    return expect_global_id(value, type_name, field=field) if value else None


def json_object(value: object, field: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise InvalidInput(field, "must be an object of field name to value", code="INVALID_JSON")
    return {str(k): v for k, v in value.items()}
