"""GraphQL inputs of the referrals domain. Ids arrive as global ids and are decoded here, so
the service receives plain UUIDs and a bad id is refused naming its field."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry
from strawberry.scalars import JSON

from hub.errors import InvalidInput
from hub.graphql.ids import expect_global_id
from hub.referrals.types import (
    PACKAGE_TYPE,
    ReferralDecision,
    ReferralPriority,
    ReferralSource,
    RiskTier,
)


@strawberry.input(description="A referral as its sender has it.")
class ReceiveReferralInput:
    source: ReferralSource
    priority: ReferralPriority = strawberry.field(
        default=ReferralPriority.ROUTINE,
        description="How soon the referrer needs it acted on; routine when not given.",
    )
    provider_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The provider organisation it is for. Required for partners and admins; "
        "an office receives for its own organisation.",
    )
    referrer_organisation_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The referring organisation. A partner always refers as its own "
        "organisation; leave empty for a self-referral.",
    )
    contract_id: strawberry.ID | None = strawberry.field(
        default=None, description="The contract, when the sender can see it (else set at triage)."
    )
    person_id: strawberry.ID | None = strawberry.field(
        default=None, description="An existing person record, when known."
    )
    source_system: str | None = strawberry.field(
        default=None,
        description="The sending system (e.g. `e-rs`, `gp-connect:Y12345`). With "
        "`sourceIdentifier` it makes a re-send apply once.",
    )
    source_identifier: str | None = strawberry.field(
        default=None, description="The sender's own identifier for this referral (e.g. a UBRN)."
    )
    minimum_dataset: JSON = strawberry.field(
        default_factory=dict,
        description="Field name → value; see `referralMinimumDataset` for the fields and which "
        "sources must supply them. Unknown names are refused.",
    )


@strawberry.input(description="Give a referral its risk tier (and so its maximum safe wait).")
class TriageReferralInput:
    referral_id: strawberry.ID
    risk_tier: RiskTier
    contract_id: strawberry.ID | None = strawberry.field(
        default=None, description="Place the referral on one of the provider's contracts."
    )
    note: str | None = strawberry.field(default=None, description="Triage rationale.")


@strawberry.input(description="Accept or exclude a triaged referral; the reason is required.")
class DecideReferralInput:
    referral_id: strawberry.ID
    decision: ReferralDecision
    reason: str = strawberry.field(description="Why; an exclusion's reason goes to the referrer.")


@strawberry.input(description="Withdraw a referral that is no longer wanted.")
class WithdrawReferralInput:
    referral_id: strawberry.ID
    reason: str


@strawberry.input(description="Add or correct minimum-dataset values; null removes a value.")
class AmendReferralDatasetInput:
    referral_id: strawberry.ID
    values: JSON = strawberry.field(description="Field name → new value (null to remove).")


@strawberry.input(description="Record the care package an accepted referral became.")
class LinkReferralPackageInput:
    referral_id: strawberry.ID
    package_id: strawberry.ID


def referral_id(value: strawberry.ID, field: str = "referralId") -> uuid.UUID:
    return expect_global_id(value, "Referral", field=field)


def optional_id(value: strawberry.ID | None, type_name: str, field: str) -> uuid.UUID | None:
    return expect_global_id(value, type_name, field=field) if value else None


def package_id(value: strawberry.ID) -> uuid.UUID:
    return expect_global_id(value, PACKAGE_TYPE, field="packageId")


def json_object(value: Any, field: str) -> dict[str, Any]:
    """A JSON input that must be an object (field name → value)."""
    if not isinstance(value, dict):
        raise InvalidInput(field, "must be an object of field name to value", code="INVALID_JSON")
    return value
