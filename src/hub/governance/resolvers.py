"""GraphQL face of the governance domain: permission → service → typed result.

Reading cases: the provider's office (its provider's cases), commissioners (cases on their
contracts), admins — rows filtered by tenancy in the repository; carers see none. Handling
cases (acknowledge, assign, escalate, resolve, actions): the office and admins; closing and the
safeguarding decision: the registered manager and admins. A contract's ladder and rule
settings: its commissioner and admins. The events the rules failed on: admins, and the
registered manager for their provider's contracts. The live feed is `hub.governance.feed`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from hub.accounts.models import Role
from hub.contracts.errors import ContractNotFound
from hub.db.uow import read_only, unit_of_work
from hub.governance import repository, service
from hub.governance.feed import ExceptionFeedSubscription
from hub.governance.inputs import (
    AcknowledgeCaseInput,
    AddCaseActionInput,
    AssignCaseInput,
    CloseCaseInput,
    CompleteCaseActionInput,
    EscalateCaseInput,
    RecordSafeguardingDecisionInput,
    ResolveCaseInput,
    SetCaseRuleSettingsInput,
    SetEscalationLadderInput,
    action_id,
    case_id,
    json_object,
    optional_id,
)
from hub.governance.lifecycle import ActionKind as ActionKindValue
from hub.governance.lifecycle import CaseSeverity as SeverityValue
from hub.governance.lifecycle import CaseStatus as StatusValue
from hub.governance.loaders import case_loader
from hub.governance.models import ExceptionCase as ExceptionCaseRow
from hub.governance.policy import DEFAULT_RULE_SETTINGS, RuleSettings
from hub.governance.policy import EscalationTarget as TargetValue
from hub.governance.rules import CaseRule as RuleValue
from hub.governance.service import GovernancePolicy
from hub.governance.types import (
    CaseRule,
    CaseSeverity,
    CaseStatus,
    ExceptionCase,
    GovernancePolicyType,
    GovernanceRuleFailure,
)
from hub.graphql.context import Info
from hub.graphql.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from hub.graphql.ids import expect_global_id
from hub.graphql.node import register_node
from hub.graphql.pagination import Connection, build_connection, page_size, time_id_cursor
from hub.graphql.permissions import OFFICE, allow
from hub.graphql.writes import write_result
from hub.tenancy import AccessScope
from hub.visits.loaders import request_now

READERS = allow(*OFFICE, Role.COMMISSIONER, Role.ADMIN)
HANDLERS = allow(*OFFICE, Role.ADMIN)
MANAGERS = allow(Role.REGISTERED_MANAGER, Role.ADMIN)
POLICY_SETTERS = allow(Role.COMMISSIONER, Role.ADMIN)

ExceptionCaseResult = Annotated[
    ExceptionCase | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("ExceptionCaseResult"),
]
GovernancePolicyResult = Annotated[
    GovernancePolicyType | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("GovernancePolicyResult"),
]


@strawberry.type
class GovernanceQuery:
    @strawberry.field(
        description="Exception cases visible to you, newest first, a page at a time. Filter by "
        "contract, person, rule, status, severity, and overdue (judged at the time of the "
        "request).",
        extensions=READERS,
    )
    async def exception_cases(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        contract_id: strawberry.ID | None = None,
        person_id: strawberry.ID | None = None,
        rule: list[CaseRule] | None = None,
        status: list[CaseStatus] | None = None,
        severity: list[CaseSeverity] | None = None,
        overdue: bool | None = None,
    ) -> Connection[ExceptionCase]:
        limit = page_size(first)
        key = time_id_cursor(after)
        contract = optional_id(contract_id, "Contract", "contractId")
        person = optional_id(person_id, "Person", "personId")
        scope = AccessScope.of(info.context.require_principal())
        now = request_now(info)
        async with read_only(info.context.sessions) as session:
            rows = await repository.list_page(
                session,
                scope,
                limit=limit + 1,
                now=now,
                after=key,
                contract_id=contract,
                person_id=person,
                rules=[RuleValue(r.value) for r in rule or ()],
                statuses=[StatusValue(s.value) for s in status or ()],
                severities=[SeverityValue(s.value) for s in severity or ()],
                overdue=overdue,
            )
        return build_connection(
            rows, limit, lambda row: ExceptionCase.from_model(row, now), _sort_key
        )

    @strawberry.field(
        description="One exception case by id, or null if there is none you may see.",
        extensions=READERS,
    )
    async def exception_case(self, info: Info, id: strawberry.ID) -> ExceptionCase | None:
        return await _load(info, expect_global_id(id, "ExceptionCase"))

    @strawberry.field(
        description="A contract's escalation ladder and rule settings (defaults where it sets "
        "none), or null if you may not see the contract.",
        extensions=READERS,
    )
    async def governance_policy(
        self, info: Info, contract_id: strawberry.ID
    ) -> GovernancePolicyType | None:
        contract = expect_global_id(contract_id, "Contract", field="contractId")
        scope = AccessScope.of(info.context.require_principal())
        async with read_only(info.context.sessions) as session:
            try:
                found = await service.policy(session, scope, contract)
            except ContractNotFound:
                return None
        return GovernancePolicyType.from_policy(found)

    @strawberry.field(
        description="Events the governance rules failed on, newest first, a page at a time "
        "(unresolved ones unless unresolvedOnly is false): admins see all; a registered manager "
        "those on their provider's contracts.",
        extensions=MANAGERS,
    )
    async def governance_rule_failures(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        unresolved_only: bool = True,
    ) -> Connection[GovernanceRuleFailure]:
        limit = page_size(first)
        key = time_id_cursor(after)
        scope = AccessScope.of(info.context.require_principal())
        async with read_only(info.context.sessions) as session:
            rows = await repository.rule_failures_page(
                session, scope, limit=limit + 1, after=key, unresolved_only=unresolved_only
            )
        return build_connection(
            rows,
            limit,
            GovernanceRuleFailure.from_model,
            lambda row: (row.first_failed_at.isoformat(), str(row.id)),
        )


@strawberry.type
class GovernanceMutation:
    @strawberry.mutation(
        description="Take a case (open or escalated): you become its owner.",
        extensions=HANDLERS,
    )
    async def acknowledge_case(
        self, info: Info, input: AcknowledgeCaseInput
    ) -> ExceptionCaseResult:
        async def run(scope: AccessScope) -> ExceptionCaseRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.acknowledge(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    case_id=case_id(input.case_id),
                    note=input.note,
                )

        return await _write(info, run)

    @strawberry.mutation(
        description="Give a case to a member of the provider's staff.", extensions=HANDLERS
    )
    async def assign_case(self, info: Info, input: AssignCaseInput) -> ExceptionCaseResult:
        async def run(scope: AccessScope) -> ExceptionCaseRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.assign(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    case_id=case_id(input.case_id),
                    staff_id=expect_global_id(input.staff_id, "StaffMember", field="staffId"),
                    note=input.note,
                )

        return await _write(info, run)

    @strawberry.mutation(
        description="Move a case up one rung of its contract's escalation ladder now.",
        extensions=HANDLERS,
    )
    async def escalate_case(self, info: Info, input: EscalateCaseInput) -> ExceptionCaseResult:
        async def run(scope: AccessScope) -> ExceptionCaseRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.escalate(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    case_id=case_id(input.case_id),
                    reason=input.reason,
                )

        return await _write(info, run)

    @strawberry.mutation(
        description="Resolve an acknowledged or escalated case with an outcome code from its "
        "contract's list and every field that outcome requires. A safeguarding case needs its "
        "decision recorded first.",
        extensions=HANDLERS,
    )
    async def resolve_case(self, info: Info, input: ResolveCaseInput) -> ExceptionCaseResult:
        async def run(scope: AccessScope) -> ExceptionCaseRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.resolve(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    case_id=case_id(input.case_id),
                    outcome_code=input.outcome_code,
                    fields=json_object(input.fields, "fields"),
                    note=input.note,
                )

        return await _write(info, run)

    @strawberry.mutation(
        description="Close a resolved case once every action on it is complete (the "
        "registered manager's sign-off).",
        extensions=MANAGERS,
    )
    async def close_case(self, info: Info, input: CloseCaseInput) -> ExceptionCaseResult:
        async def run(scope: AccessScope) -> ExceptionCaseRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.close(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    case_id=case_id(input.case_id),
                    note=input.note,
                )

        return await _write(info, run)

    @strawberry.mutation(
        description="Attach a learning or governance action to a case, tracked to completion.",
        extensions=HANDLERS,
    )
    async def add_case_action(self, info: Info, input: AddCaseActionInput) -> ExceptionCaseResult:
        async def run(scope: AccessScope) -> ExceptionCaseRow:
            async with unit_of_work(info.context.sessions) as session:
                target = case_id(input.case_id)
                await service.add_action(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    case_id=target,
                    kind=ActionKindValue(input.kind.value),
                    description=input.description,
                    owner_role=TargetValue(input.owner_role.value) if input.owner_role else None,
                    owner_staff_id=optional_id(input.owner_staff_id, "StaffMember", "ownerStaffId"),
                    due_at=input.due_at,
                )
                return await service.get_case(session, scope, target)

        return await _write(info, run)

    @strawberry.mutation(
        description="Record that an action was done, and what was done.", extensions=HANDLERS
    )
    async def complete_case_action(
        self, info: Info, input: CompleteCaseActionInput
    ) -> ExceptionCaseResult:
        async def run(scope: AccessScope) -> ExceptionCaseRow:
            async with unit_of_work(info.context.sessions) as session:
                _, case = await service.complete_action(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    action_id=action_id(input.action_id),
                    note=input.note,
                )
                return case

        return await _write(info, run)

    @strawberry.mutation(
        description="Document the decision on a safeguarding concern: whether a referral was "
        "made, and why (the registered manager).",
        extensions=MANAGERS,
    )
    async def record_safeguarding_decision(
        self, info: Info, input: RecordSafeguardingDecisionInput
    ) -> ExceptionCaseResult:
        async def run(scope: AccessScope) -> ExceptionCaseRow:
            async with unit_of_work(info.context.sessions) as session:
                return await service.record_safeguarding_decision(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    case_id=case_id(input.case_id),
                    referral_made=input.referral_made,
                    reason=input.reason,
                    referral_reference=input.referral_reference,
                )

        return await _write(info, run)

    @strawberry.mutation(
        description="Replace a contract's escalation ladder (the commissioner). Minutes count "
        "from each case's opening; an empty list restores the default.",
        extensions=POLICY_SETTERS,
    )
    async def set_escalation_ladder(
        self, info: Info, input: SetEscalationLadderInput
    ) -> GovernancePolicyResult:
        async def run(scope: AccessScope) -> GovernancePolicy:
            async with unit_of_work(info.context.sessions) as session:
                return await service.set_escalation_ladder(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    contract_id=expect_global_id(input.contract_id, "Contract", field="contractId"),
                    steps=[(TargetValue(s.target.value), s.after_minutes) for s in input.steps],
                )

        return await write_result(info, run, GovernancePolicyType.from_policy)

    @strawberry.mutation(
        description="Set a contract's rule thresholds (the commissioner); omitted values take "
        "the hub defaults.",
        extensions=POLICY_SETTERS,
    )
    async def set_case_rule_settings(
        self, info: Info, input: SetCaseRuleSettingsInput
    ) -> GovernancePolicyResult:
        async def run(scope: AccessScope) -> GovernancePolicy:
            defaults = DEFAULT_RULE_SETTINGS
            settings = RuleSettings(
                pain_threshold=_or(input.pain_threshold, defaults.pain_threshold),
                low_fluid_ml=_or(input.low_fluid_ml, defaults.low_fluid_ml),
                repeat_count=_or(input.repeat_count, defaults.repeat_count),
                repeat_window_days=_or(input.repeat_window_days, defaults.repeat_window_days),
                acknowledge_within_minutes=_or(
                    input.acknowledge_within_minutes, defaults.acknowledge_within_minutes
                ),
                resolve_within_minutes=_or(
                    input.resolve_within_minutes, defaults.resolve_within_minutes
                ),
            )
            async with unit_of_work(info.context.sessions) as session:
                return await service.set_rule_settings(
                    session,
                    scope=scope,
                    actor=info.context.actor,
                    clock=info.context.clock,
                    contract_id=expect_global_id(input.contract_id, "Contract", field="contractId"),
                    settings=settings,
                )

        return await write_result(info, run, GovernancePolicyType.from_policy)


@strawberry.type
class GovernanceSubscription(ExceptionFeedSubscription):
    pass


async def _write(
    info: Info, run: Callable[[AccessScope], Awaitable[ExceptionCaseRow]]
) -> ExceptionCaseResult:
    return await write_result(info, run, lambda row: ExceptionCase.resolve(info, row))


def _sort_key(row: ExceptionCaseRow) -> tuple[str, str]:
    return (row.opened_at.isoformat(), str(row.id))


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


async def _load(info: Info, id_: uuid.UUID) -> ExceptionCase | None:
    row = await case_loader(info).load(id_)
    return ExceptionCase.resolve(info, row) if row is not None else None


register_node("ExceptionCase", _load)
