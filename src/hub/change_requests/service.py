"""Change request writes: propose, assess, decide, mark implemented, review (seed 000).

Every step is a move through `hub.change_requests.lifecycle` and writes two things in the
caller's transaction: a `ChangeDecision` row (who, when, from, to, why — the change log a
commissioner reads) and an event (the hub-wide timeline). Nothing here commits.

Who decides (approve or reject) depends on what is changing:

| kind                      | approver                                                     |
|---------------------------|--------------------------------------------------------------|
| contract variation        | the commissioner of the contract, or an admin                |
| commissioner amendment    | the commissioner of the contract, or an admin                |
| supplier software update  | the registered manager of the provider it affects (the       |
|                           | contract's provider; without a contract, the provider that   |
|                           | recorded it), or an admin                                    |

Variations and amendments change what the commissioner pays for or is told, so only the
commissioner agrees to them. A supplier update changes how the provider's carers record care;
the registered manager answers to CQC for that, so it is theirs to accept. Nobody approves a
change they raised as a supplier: a supplier's own update is approved by the provider.

No change takes effect unapproved (DESIGN.md §4): `mark_implemented` runs
`check_can_take_effect` first, and refuses an `effective_from` earlier than the day of approval
(a variation dated back to before its approval would have taken effect unapproved).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from types import MappingProxyType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.models import Role
from hub.change_requests import repository
from hub.change_requests.errors import (
    ChangeRequestNotFound,
    ChangeRequestPartyNotFound,
    NotChangeApprover,
)
from hub.change_requests.lifecycle import (
    CHANGE_REQUEST_KIND_LABELS,
    ChangeRequestKind,
    ChangeRequestStatus,
    check_can_take_effect,
    check_change_request_transition,
)
from hub.change_requests.models import ChangeDecision, ChangeRequest
from hub.errors import Forbidden, InvalidInput
from hub.events.log import NewEvent, record
from hub.kit.time import Clock, to_london
from hub.organisations import repository as organisations
from hub.tenancy import AccessScope

K = ChangeRequestKind
S = ChangeRequestStatus

APPROVERS: Mapping[ChangeRequestKind, str] = MappingProxyType(
    {
        K.CONTRACT_VARIATION: "the commissioner of its contract (or an admin)",
        K.COMMISSIONER_AMENDMENT: "the commissioner of its contract (or an admin)",
        K.SUPPLIER_SOFTWARE_UPDATE: "the registered manager of the provider it affects "
        "(or an admin)",
    }
)
"""Who approves or rejects each kind of change, as refusals say it; the rule is `can_decide`."""

KINDS_NEEDING_A_CONTRACT: frozenset[ChangeRequestKind] = frozenset(
    {K.CONTRACT_VARIATION, K.COMMISSIONER_AMENDMENT}
)

MAX_TITLE_LENGTH = 200
MAX_TEXT_LENGTH = 10_000
MAX_WORKFLOW_LENGTH = 200
MAX_AFFECTED_PACKAGES = 500
# cost_impact_pence is a PostgreSQL integer (and a GraphQL Int): ±£21.4m.
MAX_PENCE = 2**31 - 1


async def get_change_request(
    session: AsyncSession, scope: AccessScope, change_request_id: uuid.UUID
) -> ChangeRequest:
    change = await repository.get(session, scope, change_request_id)
    if change is None:
        raise ChangeRequestNotFound(f"no change request {change_request_id}")
    return change


async def propose(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    kind: ChangeRequestKind,
    title: str,
    description: str,
    contract_id: uuid.UUID | None = None,
    affected_package_ids: Sequence[uuid.UUID] = (),
    affected_workflows: Sequence[str] = (),
    raised_by_organisation_id: uuid.UUID | None = None,
    note: str | None = None,
) -> ChangeRequest:
    """Record a proposed change, raised by the caller's organisation.

    The contract and every affected package must be visible to the caller (a missing one is
    named in the NotFound), and the packages must be on the contract when one is named.
    Variations and amendments always name their contract. Admins act for the hub and say
    which organisation raised the change.
    """
    raised_by = await _raising_organisation(session, scope, raised_by_organisation_id)
    clean_title = _text(title, "title", MAX_TITLE_LENGTH)
    clean_description = _text(description, "description", MAX_TEXT_LENGTH)
    if contract_id is None and kind in KINDS_NEEDING_A_CONTRACT:
        raise InvalidInput(
            "contractId",
            f"a {CHANGE_REQUEST_KIND_LABELS[kind]} names the contract it changes",
            code="REQUIRED",
        )
    if (
        contract_id is not None
        and await repository.visible_contract(session, scope, contract_id) is None
    ):
        raise ChangeRequestPartyNotFound(f"contractId: no contract {contract_id}")
    packages = await _affected_packages(session, scope, affected_package_ids, contract_id)
    workflows = _workflows(affected_workflows)

    change = ChangeRequest(
        reference=f"CR-{to_london(clock.now()):%Y%m%d}-{secrets.token_hex(4).upper()}",
        kind=kind,
        title=clean_title,
        description=clean_description,
        raised_by_organisation_id=raised_by,
        contract_id=contract_id,
        affected_package_ids=packages,
        affected_workflows=workflows,
        status=S.PROPOSED,
    )
    repository.add(session, change)
    await session.flush()
    await _decide(
        session,
        change,
        None,
        actor=actor,
        clock=clock,
        note=_optional_text(note, "note"),
        event_type="change_request.proposed",
        payload={
            "reference": change.reference,
            "kind": kind.value,
            "title": clean_title,
            "affectedPackageIds": [str(p) for p in packages],
            "affectedWorkflows": workflows,
        },
    )
    return change


async def assess(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    change_request_id: uuid.UUID,
    capacity_impact: str,
    risk_impact: str,
    cost_impact_pence: int,
    assurance_plan: str | None = None,
    note: str | None = None,
) -> ChangeRequest:
    """Record the change's capacity, risk and cost impact (all three: seed 000 makes hidden
    workload the thing change control exists to surface). Cost is in pence; negative is a
    saving, 0 says "no cost" explicitly. An assurance plan may be set now or at review."""
    capacity = _text(capacity_impact, "capacityImpact", MAX_TEXT_LENGTH)
    risk = _text(risk_impact, "riskImpact", MAX_TEXT_LENGTH)
    if not -MAX_PENCE <= cost_impact_pence <= MAX_PENCE:
        raise InvalidInput(
            "costImpactPence", f"must be between -{MAX_PENCE} and {MAX_PENCE}", code="OUT_OF_RANGE"
        )
    plan = _optional_text(assurance_plan, "assurancePlan")
    change = await _get_for_update(session, scope, change_request_id)
    check_change_request_transition(change.status, S.ASSESSED)
    change.capacity_impact = capacity
    change.risk_impact = risk
    change.cost_impact_pence = cost_impact_pence
    if plan is not None:
        change.assurance_plan = plan
    await move(
        session,
        change,
        S.ASSESSED,
        actor=actor,
        clock=clock,
        note=_optional_text(note, "note"),
        payload={
            "capacityImpact": capacity,
            "riskImpact": risk,
            "costImpactPence": cost_impact_pence,
        },
    )
    return change


async def decide(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    change_request_id: uuid.UUID,
    approve: bool,
    note: str | None = None,
) -> ChangeRequest:
    """Approve or reject an assessed change. Only the approver for its kind may (`APPROVERS`);
    a rejection must say why, because the provider or supplier has to act on it."""
    change = await _get_for_update(session, scope, change_request_id)
    if not await can_decide(session, scope, change):
        raise NotChangeApprover(
            f"a {CHANGE_REQUEST_KIND_LABELS[change.kind]} is approved or rejected by "
            f"{APPROVERS[change.kind]}"
        )
    target = S.APPROVED if approve else S.REJECTED
    text = _text(note, "note", MAX_TEXT_LENGTH) if not approve else _optional_text(note, "note")
    check_change_request_transition(change.status, target)
    await move(session, change, target, actor=actor, clock=clock, note=text)
    return change


async def mark_implemented(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    change_request_id: uuid.UUID,
    effective_from: date,
    note: str | None = None,
) -> ChangeRequest:
    """Record that an approved change has taken effect, from `effective_from` (a contract
    date, Europe/London). Refused unless approved, and refused for a date before approval."""
    change = await _get_for_update(session, scope, change_request_id)
    check_can_take_effect(change.kind, change.status)
    check_change_request_transition(change.status, S.IMPLEMENTED)
    approval = await repository.latest_decision_to(session, change.id, S.APPROVED)
    if approval is not None:
        approved_on = to_london(approval.decided_at).date()
        if effective_from < approved_on:
            raise InvalidInput(
                "effectiveFrom",
                f"must be on or after {approved_on.isoformat()}, the day the change was "
                "approved: a change cannot take effect before its approval",
                code="EFFECTIVE_BEFORE_APPROVAL",
            )
    change.effective_from = effective_from
    await move(
        session,
        change,
        S.IMPLEMENTED,
        actor=actor,
        clock=clock,
        note=_optional_text(note, "note"),
        payload={"effectiveFrom": effective_from.isoformat()},
    )
    return change


async def review(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    change_request_id: uuid.UUID,
    assurance_plan: str | None = None,
    note: str | None = None,
) -> ChangeRequest:
    """Close an implemented change with the assurance that followed it (seed 000: "supervisors
    completed targeted spot checks for two weeks"). The plan is required unless it was already
    recorded at assessment; `note` carries the findings."""
    plan = _optional_text(assurance_plan, "assurancePlan")
    change = await _get_for_update(session, scope, change_request_id)
    check_change_request_transition(change.status, S.REVIEWED)
    if plan is None and change.assurance_plan is None:
        raise InvalidInput(
            "assurancePlan",
            "say how the change was assured (e.g. two weeks of spot checks)",
            code="REQUIRED",
        )
    if plan is not None:
        change.assurance_plan = plan
    await move(
        session,
        change,
        S.REVIEWED,
        actor=actor,
        clock=clock,
        note=_optional_text(note, "note"),
        payload={"assurancePlan": change.assurance_plan},
    )
    return change


async def move(
    session: AsyncSession,
    change: ChangeRequest,
    target: ChangeRequestStatus,
    *,
    actor: str,
    clock: Clock,
    note: str | None = None,
    payload: Mapping[str, Any] | None = None,
) -> ChangeDecision:
    """Move a change request to `target` after the lifecycle check, writing its decision row
    and its event (`change_request.<target>`) in the session's transaction."""
    check_change_request_transition(change.status, target)
    previous = change.status
    change.status = target
    await session.flush()
    # updated_at is set by the database on UPDATE; re-read it now, while the session is open,
    # because the row is mapped to GraphQL after the unit of work ends.
    await session.refresh(change, ["updated_at"])
    return await _decide(
        session,
        change,
        previous,
        actor=actor,
        clock=clock,
        note=note,
        event_type=f"change_request.{target.value}",
        payload=dict(payload or {}),
    )


async def can_decide(session: AsyncSession, scope: AccessScope, change: ChangeRequest) -> bool:
    """Whether the caller is the approver of this change (see the table in the module doc)."""
    if scope.is_admin:
        return True
    parties = (
        await repository.contract_parties(session, change.contract_id)
        if change.contract_id is not None
        else None
    )
    if change.kind in KINDS_NEEDING_A_CONTRACT:
        return scope.is_commissioner and parties is not None and parties[0] == scope.organisation_id
    provider = parties[1] if parties is not None else change.raised_by_organisation_id
    return (
        scope.role is Role.REGISTERED_MANAGER
        and scope.organisation_id is not None
        and scope.organisation_id == provider
    )


# ---------------------------------------------------------------------------------------------


async def _decide(
    session: AsyncSession,
    change: ChangeRequest,
    previous: ChangeRequestStatus | None,
    *,
    actor: str,
    clock: Clock,
    note: str | None,
    event_type: str,
    payload: dict[str, Any],
) -> ChangeDecision:
    now = clock.now()
    decision = ChangeDecision(
        change_request_id=change.id,
        from_status=previous,
        to_status=change.status,
        decided_by=actor,
        decided_at=now,
        note=note,
    )
    repository.add(session, decision)
    await session.flush()
    await record(
        session,
        NewEvent(
            type=event_type,
            subject_type="change_request",
            subject_id=change.id,
            actor=actor,
            occurred_at=now,
            payload={
                "kind": change.kind.value,
                "fromStatus": previous.value if previous else None,
                "toStatus": change.status.value,
                "note": note,
                **payload,
            },
            organisation_id=change.raised_by_organisation_id,
            contract_id=change.contract_id,
        ),
    )
    return decision


async def _raising_organisation(
    session: AsyncSession, scope: AccessScope, requested: uuid.UUID | None
) -> uuid.UUID:
    if scope.is_admin:
        organisation_id = requested or scope.organisation_id
        if organisation_id is None:
            raise InvalidInput(
                "raisedByOrganisationId",
                "an admin names the organisation raising the change",
                code="REQUIRED",
            )
        if await organisations.get(session, organisation_id) is None:
            raise ChangeRequestPartyNotFound(
                f"raisedByOrganisationId: no organisation {organisation_id}"
            )
        return organisation_id
    if scope.organisation_id is None:
        raise Forbidden("only a member of an organisation can raise a change request")
    if requested is not None and requested != scope.organisation_id:
        raise InvalidInput(
            "raisedByOrganisationId",
            "a change is raised by your own organisation",
            code="NOT_YOUR_ORGANISATION",
        )
    return scope.organisation_id


async def _affected_packages(
    session: AsyncSession,
    scope: AccessScope,
    requested: Sequence[uuid.UUID],
    contract_id: uuid.UUID | None,
) -> list[uuid.UUID]:
    ids = list(dict.fromkeys(requested))
    if len(ids) > MAX_AFFECTED_PACKAGES:
        raise InvalidInput(
            "affectedPackageIds",
            f"name at most {MAX_AFFECTED_PACKAGES} packages; a wider change names its contract",
            code="TOO_MANY",
        )
    found = {
        package.id: package for package in await repository.visible_packages(session, scope, ids)
    }
    missing = [package_id for package_id in ids if package_id not in found]
    if missing:
        raise ChangeRequestPartyNotFound(
            "affectedPackageIds: no care package " + ", ".join(str(m) for m in missing)
        )
    if contract_id is not None:
        elsewhere = [p for p in ids if found[p].contract_id != contract_id]
        if elsewhere:
            raise InvalidInput(
                "affectedPackageIds",
                f"care package {elsewhere[0]} is not on contract {contract_id}",
                code="PACKAGE_NOT_ON_CONTRACT",
            )
    return ids


def _workflows(requested: Sequence[str]) -> list[str]:
    workflows = list(dict.fromkeys(w.strip() for w in requested if w.strip()))
    for workflow in workflows:
        if len(workflow) > MAX_WORKFLOW_LENGTH:
            raise InvalidInput(
                "affectedWorkflows",
                f"each workflow must be at most {MAX_WORKFLOW_LENGTH} characters",
                code="TOO_LONG",
            )
    return workflows


async def _get_for_update(
    session: AsyncSession, scope: AccessScope, change_request_id: uuid.UUID
) -> ChangeRequest:
    change = await repository.get(session, scope, change_request_id, for_update=True)
    if change is None:
        raise ChangeRequestNotFound(f"no change request {change_request_id}")
    return change


def _text(value: str | None, field: str, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(field, "must not be blank", code="REQUIRED")
    if len(text) > limit:
        raise InvalidInput(field, f"must be at most {limit} characters", code="TOO_LONG")
    return text


def _optional_text(value: str | None, field: str) -> str | None:
    if value is None or not value.strip():
        return None
    return _text(value, field, MAX_TEXT_LENGTH)
