"""GraphQL face of the referrals domain: permission → service → typed result.

Partner clients (a GP federation's system, a hospital discharge hub, a charity's app) read with
scope `referrals:read` and send with `referrals:write`; scopes bind clients only, so staff and
admins are gated by role alone. Rows are filtered by tenancy in the repository: a partner sees
the referrals its organisation made, a provider's office those made to it, a commissioner those
on its contracts.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from hub.accounts.models import Role
from hub.db.uow import read_only, unit_of_work
from hub.graphql.context import Info
from hub.graphql.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)
from hub.graphql.ids import expect_global_id
from hub.graphql.node import register_node
from hub.graphql.pagination import (
    Connection,
    build_connection,
    page_size,
    time_id_cursor,
)
from hub.graphql.permissions import allow
from hub.graphql.writes import write_result
from hub.referrals import dataset as pathway
from hub.referrals import repository, service
from hub.referrals.inputs import (
    AmendReferralDatasetInput,
    DecideReferralInput,
    LinkReferralPackageInput,
    ReceiveReferralInput,
    TriageReferralInput,
    WithdrawReferralInput,
    json_object,
    optional_id,
    package_id,
    referral_id,
)
from hub.referrals.loaders import referral_loader
from hub.referrals.models import Referral as ReferralRow
from hub.referrals.models import ReferralPriority as PriorityValue
from hub.referrals.models import ReferralSource as SourceValue
from hub.referrals.models import ReferralStatus as StatusValue
from hub.referrals.models import RiskTier as RiskTierValue
from hub.referrals.types import (
    Referral,
    ReferralDatasetField,
    ReferralPriority,
    ReferralSource,
    ReferralStatus,
)
from hub.tenancy import AccessScope

READERS = allow(
    Role.PARTNER_CLIENT,
    Role.COORDINATOR,
    Role.REGISTERED_MANAGER,
    Role.COMMISSIONER,
    Role.ADMIN,
    scopes=("referrals:read",),
)
# Scopes bind clients only: for staff and admins the role is the whole check.
SENDERS = (Role.PARTNER_CLIENT, Role.COORDINATOR, Role.REGISTERED_MANAGER, Role.ADMIN)
TRIAGERS = (Role.COORDINATOR, Role.REGISTERED_MANAGER, Role.ADMIN)

ReferralResult = Annotated[
    Referral | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("ReferralResult"),
]


@strawberry.type
class ReferralQuery:
    @strawberry.field(
        description="Referrals visible to you, oldest received first (the longest wait at the "
        "top), a page at a time. Partners see the referrals that name their organisation as "
        "referrer and those their system delivered; providers those made to them; "
        "commissioners those on their contracts.",
        extensions=READERS,
    )
    async def referrals(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        # `source` is the GraphQL name; the Python name must differ, because permission
        # extensions receive the field's source object as a keyword argument of that name.
        sources: Annotated[
            list[ReferralSource] | None,
            strawberry.argument(name="source", description="Only referrals from these sources."),
        ] = None,
        status: Annotated[
            list[ReferralStatus] | None,
            strawberry.argument(description="Only referrals in these statuses."),
        ] = None,
        priority: Annotated[
            list[ReferralPriority] | None,
            strawberry.argument(
                description="Only referrals with these priorities (e.g. urgent, asap, stat)."
            ),
        ] = None,
        contract_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only referrals on this contract."),
        ] = None,
    ) -> Connection[Referral]:
        limit = page_size(first)
        key = time_id_cursor(after)
        contract = optional_id(contract_id, "Contract", "contractId")
        scope = AccessScope.of(info.context.require_principal())
        async with read_only(info.context.sessions) as session:
            rows = await repository.list_page(
                session,
                scope,
                limit=limit + 1,
                after=key,
                sources=[SourceValue(s.value) for s in sources or ()],
                statuses=[StatusValue(s.value) for s in status or ()],
                priorities=[PriorityValue(p.value) for p in priority or ()],
                contract_id=contract,
            )
        return build_connection(rows, limit, Referral.from_model, _sort_key)

    @strawberry.field(
        description="One referral by id, or null if there is none you may see.",
        extensions=READERS,
    )
    async def referral(self, info: Info, id: strawberry.ID) -> Referral | None:
        return await _load(info, expect_global_id(id, "Referral"))

    @strawberry.field(
        description="The referral minimum dataset agreed for the pathway: every field, its "
        "label and the sources that must supply it. With `source`, only that source's required "
        "fields.",
        extensions=READERS,
    )
    def referral_minimum_dataset(
        self,
        for_source: Annotated[
            ReferralSource | None,
            strawberry.argument(name="source", description="Only this source's required fields."),
        ] = None,
    ) -> list[ReferralDatasetField]:
        fields = (
            pathway.required_fields(SourceValue(for_source.value))
            if for_source is not None
            else pathway.MINIMUM_DATASET
        )
        return [ReferralDatasetField.from_field(field) for field in fields]


@strawberry.type
class ReferralMutation:
    @strawberry.mutation(
        description="Receive a referral. Its missing minimum-dataset fields are listed at once. "
        "A re-send with the same sourceSystem and sourceIdentifier returns the referral "
        "received the first time, unchanged. Partner clients need scope referrals:write.",
        extensions=allow(*SENDERS, scopes=("referrals:write",)),
    )
    async def receive_referral(self, info: Info, input: ReceiveReferralInput) -> ReferralResult:
        async def run(scope: AccessScope) -> ReferralRow:
            async with unit_of_work(info.context.sessions) as session:
                receipt = await service.receive_referral(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    source=SourceValue(input.source.value),
                    provider_id=optional_id(input.provider_id, "Organisation", "providerId"),
                    referrer_organisation_id=optional_id(
                        input.referrer_organisation_id, "Organisation", "referrerOrganisationId"
                    ),
                    contract_id=optional_id(input.contract_id, "Contract", "contractId"),
                    person_id=optional_id(input.person_id, "Person", "personId"),
                    source_system=input.source_system,
                    source_identifier=input.source_identifier,
                    minimum_dataset=json_object(input.minimum_dataset, "minimumDataset"),
                    priority=PriorityValue(input.priority.value),
                )
            return receipt.referral

        return await _write(info, run)

    @strawberry.mutation(
        description="Triage a referral: its risk tier sets the maximum safe wait from receipt. "
        "An undecided referral may be triaged again when its risk changes.",
        extensions=allow(*TRIAGERS),
    )
    async def triage_referral(self, info: Info, input: TriageReferralInput) -> ReferralResult:
        async def run(scope: AccessScope) -> ReferralRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.triage_referral(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    referral_id=referral_id(input.referral_id),
                    risk_tier=RiskTierValue(input.risk_tier.value),
                    contract_id=optional_id(input.contract_id, "Contract", "contractId"),
                    note=input.note,
                )

        return await _write(info, run)

    @strawberry.mutation(
        description="Accept or exclude a triaged referral, with a reason. Acceptance needs the "
        "minimum dataset complete.",
        extensions=allow(*TRIAGERS),
    )
    async def decide_referral(self, info: Info, input: DecideReferralInput) -> ReferralResult:
        async def run(scope: AccessScope) -> ReferralRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.decide_referral(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    referral_id=referral_id(input.referral_id),
                    decision=service.ReferralDecision(input.decision.value),
                    reason=input.reason,
                )

        return await _write(info, run)

    @strawberry.mutation(
        description="Withdraw a referral that is not yet final, with a reason. Partner clients "
        "need scope referrals:write.",
        extensions=allow(*SENDERS, scopes=("referrals:write",)),
    )
    async def withdraw_referral(self, info: Info, input: WithdrawReferralInput) -> ReferralResult:
        async def run(scope: AccessScope) -> ReferralRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.withdraw_referral(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    referral_id=referral_id(input.referral_id),
                    reason=input.reason,
                )

        return await _write(info, run)

    @strawberry.mutation(
        description="Add or correct minimum-dataset values of an open referral; its missing "
        "fields are listed again. Partner clients need scope referrals:write.",
        extensions=allow(*SENDERS, scopes=("referrals:write",)),
    )
    async def amend_referral_dataset(
        self, info: Info, input: AmendReferralDatasetInput
    ) -> ReferralResult:
        async def run(scope: AccessScope) -> ReferralRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.amend_dataset(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    referral_id=referral_id(input.referral_id),
                    values=json_object(input.values, "values"),
                )

        return await _write(info, run)

    @strawberry.mutation(
        description="Record the care package an accepted referral became (status converted). "
        "The package must be for the same person, from the same provider.",
        extensions=allow(*TRIAGERS),
    )
    async def link_referral_package(
        self, info: Info, input: LinkReferralPackageInput
    ) -> ReferralResult:
        async def run(scope: AccessScope) -> ReferralRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.link_package(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    referral_id=referral_id(input.referral_id),
                    package_id=package_id(input.package_id),
                )

        return await _write(info, run)


async def _write(
    info: Info, run: Callable[[AccessScope], Awaitable[ReferralRow]]
) -> ReferralResult:
    return await write_result(info, run, Referral.from_model)


def _sort_key(row: ReferralRow) -> tuple[str, str]:
    return (row.received_at.isoformat(), str(row.id))


async def _load(info: Info, referral_id: uuid.UUID) -> Referral | None:
    row = await referral_loader(info).load(referral_id)
    return Referral.from_model(row) if row is not None else None


register_node("Referral", _load)
