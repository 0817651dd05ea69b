"""GraphQL output types of the referrals domain and their `from_model` mappers."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from hub.audit.service import nhs_number_of
from hub.contracts.loaders import contract_loader, contract_type
from hub.contracts.types import Contract
from hub.graphql.context import Info
from hub.graphql.ids import encode_global_id
from hub.graphql.node import Node
from hub.organisations.resolvers import organisation_loader
from hub.organisations.types import Organisation
from hub.people.loaders import resolve_person
from hub.people.types import Person
from hub.referrals import dataset as pathway
from hub.referrals.models import Referral as ReferralRow
from hub.referrals.models import ReferralPriority as PriorityValue
from hub.referrals.models import ReferralSource as SourceValue
from hub.referrals.models import ReferralStatus as StatusValue
from hub.referrals.models import RiskTier as RiskTierValue
from hub.referrals.service import ReferralDecision as DecisionValue

# The global-id type name of care packages (hub.packages.types).
PACKAGE_TYPE = "CarePackage"


@strawberry.enum(description="Where a referral came from (CSDS source of referral, simplified).")
class ReferralSource(Enum):
    GP = SourceValue.GP.value
    HOSPITAL_DISCHARGE = SourceValue.HOSPITAL_DISCHARGE.value
    SOCIAL_CARE = SourceValue.SOCIAL_CARE.value
    SELF = SourceValue.SELF.value
    THIRD_SECTOR = SourceValue.THIRD_SECTOR.value
    OTHER = SourceValue.OTHER.value


@strawberry.enum(
    description="How soon the referrer needs the referral acted on, as they sent it (FHIR "
    "request priority): routine, urgent, asap (as soon as possible) or stat (immediately)."
)
class ReferralPriority(Enum):
    ROUTINE = PriorityValue.ROUTINE.value
    URGENT = PriorityValue.URGENT.value
    ASAP = PriorityValue.ASAP.value
    STAT = PriorityValue.STAT.value


@strawberry.enum(
    description="Where a referral is: received → triaged → accepted | excluded; accepted → "
    "converted (it became a care package); withdrawn from any status that is not final."
)
class ReferralStatus(Enum):
    RECEIVED = StatusValue.RECEIVED.value
    TRIAGED = StatusValue.TRIAGED.value
    ACCEPTED = StatusValue.ACCEPTED.value
    EXCLUDED = StatusValue.EXCLUDED.value
    CONVERTED = StatusValue.CONVERTED.value
    WITHDRAWN = StatusValue.WITHDRAWN.value


@strawberry.enum(
    description="Triage risk tier; it sets the maximum safe wait (high 2 days, medium 7, low 28)."
)
class RiskTier(Enum):
    HIGH = RiskTierValue.HIGH.value
    MEDIUM = RiskTierValue.MEDIUM.value
    LOW = RiskTierValue.LOW.value


@strawberry.enum(description="The provider's answer to a triaged referral.")
class ReferralDecision(Enum):
    ACCEPT = DecisionValue.ACCEPT.value
    EXCLUDE = DecisionValue.EXCLUDE.value


@strawberry.type(description="One field of the referral minimum dataset agreed for the pathway.")
class ReferralDatasetField:
    name: str = strawberry.field(description="The key in `minimumDataset`, e.g. `dateOfBirth`.")
    label: str = strawberry.field(description="How a form or a worklist shows it.")
    kind: str = strawberry.field(description="text, date (ISO), boolean or nhs_number.")
    description: str
    required_for: list[ReferralSource] = strawberry.field(
        description="The sources that must supply it; empty for optional fields."
    )

    @classmethod
    def from_field(cls, field: pathway.DatasetField) -> ReferralDatasetField:
        return cls(
            name=field.name,
            label=field.label,
            kind=field.kind.value,
            description=field.description,
            required_for=[ReferralSource(s.value) for s in SourceValue if s in field.required_for],
        )

    @classmethod
    def named(cls, name: str) -> ReferralDatasetField:
        known = pathway.DATASET_FIELDS.get(name)
        if known is not None:
            return cls.from_field(known)
        # A field dropped from the dataset after the referral was assessed still shows.
        return cls(name=name, label=name, kind="text", description="", required_for=[])


@strawberry.type(
    description="A request for care from a GP, hospital, social worker, the person themselves "
    "or a charity: the minimum dataset it carried, what is missing, the triage risk tier and "
    "maximum safe wait, and what was decided."
)
class Referral(Node):
    id: strawberry.ID
    reference: str = strawberry.field(description="The hub's reference, to read out on the phone.")
    source: ReferralSource
    status: ReferralStatus
    priority: ReferralPriority = strawberry.field(
        description="How soon the referrer needs it acted on (routine when they did not say)."
    )
    referrer_ods_code: str | None = strawberry.field(
        description="The referring organisation's ODS code as the referral names it (a FHIR "
        "requester or message sender), kept even when the hub does not know that "
        "organisation; `referrer` is that organisation when it does."
    )
    source_system: str | None = strawberry.field(
        description="The sending system; with `sourceIdentifier`, the key a re-send is matched on."
    )
    source_identifier: str | None = strawberry.field(
        description="The sender's own identifier (e.g. an e-RS UBRN)."
    )
    missing_fields: list[ReferralDatasetField] = strawberry.field(
        description="Required minimum-dataset fields this referral lacks for its source; empty "
        "when complete. A referral is accepted only when this is empty."
    )
    risk_tier: RiskTier | None = strawberry.field(description="Set at triage.")
    maximum_safe_wait_days: int | None = strawberry.field(
        description="Days from receipt within which the person must be seen, from the risk tier."
    )
    received_at: datetime = strawberry.field(
        description="When the hub received it: the safe-wait clock starts here."
    )
    decision_reason: str | None = strawberry.field(
        description="Why the referral was accepted, excluded or withdrawn."
    )
    decided_at: datetime | None = strawberry.field(
        description="When it was accepted, excluded or withdrawn."
    )
    package_id: strawberry.ID | None = strawberry.field(
        description="The care package the referral became (once converted)."
    )
    created_at: datetime
    updated_at: datetime

    referrer_organisation_id: strawberry.Private[uuid.UUID | None]
    delivered_by_organisation_id: strawberry.Private[uuid.UUID | None]
    provider_id: strawberry.Private[uuid.UUID | None]
    contract_id: strawberry.Private[uuid.UUID | None]
    person_id: strawberry.Private[uuid.UUID | None]
    dataset: strawberry.Private[dict[str, Any]]

    @strawberry.field(
        description="When the maximum safe wait runs out: received at + maximum safe wait days."
    )
    def safe_wait_ends_at(self) -> datetime | None:
        if self.maximum_safe_wait_days is None:
            return None
        return self.received_at + timedelta(days=self.maximum_safe_wait_days)

    @strawberry.field(
        description="The organisation that made the referral, as the referral names it (none "
        "for self, or when the hub does not know the organisation: see `referrerOdsCode`)."
    )
    async def referrer(self, info: Info) -> Organisation | None:
        return await _organisation(info, self.referrer_organisation_id)

    @strawberry.field(
        description="The organisation whose system delivered the referral to the hub. It "
        "differs from `referrer` when a system sends on the referrer's behalf (e-RS, a "
        "discharge hub, a GP federation)."
    )
    async def delivered_by(self, info: Info) -> Organisation | None:
        return await _organisation(info, self.delivered_by_organisation_id)

    @strawberry.field(description="The provider the referral is for.")
    async def provider(self, info: Info) -> Organisation | None:
        return await _organisation(info, self.provider_id)

    @strawberry.field(
        description="The contract the referral falls under, once known and if visible to you."
    )
    async def contract(self, info: Info) -> Contract | None:
        if self.contract_id is None:
            return None
        row = await contract_loader(info).load(self.contract_id)
        return contract_type(row) if row is not None else None

    @strawberry.field(
        description="The person referred, once linked to a person record. Reading it is "
        "recorded in the access log."
    )
    async def person(self, info: Info) -> Person | None:
        return await resolve_person(info, self.person_id)

    row_id: strawberry.Private[uuid.UUID]

    @strawberry.field(
        description="The minimum dataset as the referrer sent it (and as amended since), keyed "
        "by field name. It identifies the person: reading it is recorded in the access log."
    )
    def minimum_dataset(self, info: Info) -> JSON:
        # Recorded whether or not the referral is linked to a person yet: before it is, the
        # referral and the NHS number it carries are what name the person in the log.
        nhs_number = nhs_number_of(self.dataset.get("nhsNumber"))
        info.context.audit.record_read(
            "minimumDataset",
            f"Referral:{self.row_id}",
            person_id=self.person_id,
            nhs_numbers=[nhs_number] if nhs_number else (),
        )
        return JSON(dict(self.dataset))

    @classmethod
    def from_model(cls, row: ReferralRow) -> Referral:
        return cls(
            id=strawberry.ID(encode_global_id("Referral", row.id)),
            reference=row.reference,
            source=ReferralSource(row.source.value),
            status=ReferralStatus(row.status.value),
            priority=ReferralPriority(row.priority.value),
            referrer_ods_code=row.referrer_ods_code,
            source_system=row.source_system,
            source_identifier=row.source_identifier,
            missing_fields=[ReferralDatasetField.named(name) for name in row.missing_fields],
            risk_tier=RiskTier(row.risk_tier.value) if row.risk_tier else None,
            maximum_safe_wait_days=row.maximum_safe_wait_days,
            received_at=row.received_at,
            decision_reason=row.decision_reason,
            decided_at=row.decided_at,
            package_id=(
                strawberry.ID(encode_global_id(PACKAGE_TYPE, row.package_id))
                if row.package_id
                else None
            ),
            created_at=row.created_at,
            updated_at=row.updated_at,
            referrer_organisation_id=row.referrer_organisation_id,
            delivered_by_organisation_id=row.delivered_by_organisation_id,
            provider_id=row.provider_id,
            contract_id=row.contract_id,
            person_id=row.person_id,
            dataset=dict(row.minimum_dataset),
            row_id=row.id,
        )


async def _organisation(info: Info, organisation_id: uuid.UUID | None) -> Organisation | None:
    if organisation_id is None:
        return None
    row = await organisation_loader(info).load(organisation_id)
    return Organisation.from_model(row) if row is not None else None
