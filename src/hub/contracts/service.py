"""Contracts: the terms the exception rules apply, as data.

A contract holds its tolerances (late, late for time-critical calls, missed, minimum length of
stay), the outcome codes a case on it may be closed with (and what must be recorded with each),
and its KPI definitions: seed 003's evidence chain — source events → quality rule → exception
rule → governance action — so a KPI is a row the reporting domain reads, never a code path.

Who may change a contract: an admin, or the commissioner whose contract it is. The provider
reads the terms it delivers against but does not set them (`ContractChangeForbidden`); anyone
else does not see the contract at all (`ContractNotFound`). Every write records an event in the
caller's transaction; nothing here commits.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.contracts import repository
from hub.contracts.errors import (
    ContractChangeForbidden,
    ContractNotFound,
    DuplicateContractReference,
    ResolutionOutcomeNotFound,
)
from hub.contracts.models import Contract, KpiDefinition, ResolutionOutcome, ServiceType
from hub.contracts.repository import ContractStatus, status_on
from hub.errors import InvalidInput
from hub.events.log import NewEvent, record
from hub.kit.time import LONDON, Clock
from hub.organisations import service as organisations
from hub.organisations.models import OrganisationKind
from hub.tenancy import AccessScope

__all__ = [
    "ContractStatus",
    "KpiSpec",
    "OutcomeSpec",
    "Tolerances",
    "create_contract",
    "define_kpi",
    "define_resolution_outcome",
    "get",
    "get_outcome",
    "set_tolerances",
    "status_on",
    "today",
]

COMMISSIONER_KINDS = frozenset({OrganisationKind.LOCAL_AUTHORITY, OrganisationKind.ICB})
MAX_TOLERANCE_MINUTES = 24 * 60
MAX_REFERENCE_LENGTH = 64
MAX_NAME_LENGTH = 200
MAX_RULE_LENGTH = 2000
MAX_LIST_LENGTH = 20
# Outcome and KPI codes: snake_case, e.g. `covered_by_alternative_worker`, `visits_on_time`.
_CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
# Fields recorded with an outcome, named as the API names them, e.g. `coveredWithinMinutes`.
_FIELD_NAME = re.compile(r"^[a-z][A-Za-z0-9]{0,63}$")
# Event types as the event log writes them: `entity.past_tense`, e.g. `visit.checked_in`.
_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Tolerances:
    """Minutes after a visit's planned start, and the share of its planned length."""

    late_after_minutes: int
    time_critical_late_after_minutes: int
    missed_after_minutes: int
    minimum_stay_percent: int

    def as_json(self) -> dict[str, int]:
        return {
            "lateAfterMinutes": self.late_after_minutes,
            "timeCriticalLateAfterMinutes": self.time_critical_late_after_minutes,
            "missedAfterMinutes": self.missed_after_minutes,
            "minimumStayPercent": self.minimum_stay_percent,
        }

    @classmethod
    def of(cls, contract: Contract) -> Tolerances:
        return cls(
            late_after_minutes=contract.late_after_minutes,
            time_critical_late_after_minutes=contract.time_critical_late_after_minutes,
            missed_after_minutes=contract.missed_after_minutes,
            minimum_stay_percent=contract.minimum_stay_percent,
        )


@dataclass(frozen=True, slots=True)
class OutcomeSpec:
    """A way a case may be closed, in the contract's words, and what must be recorded with it."""

    code: str
    label: str
    required_fields: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class KpiSpec:
    """A KPI's evidence chain (seed 003) and its target."""

    code: str
    name: str
    source_event_types: Sequence[str]
    quality_rule: str
    exception_rule: str
    governance_action: str
    target_percent: float | None = None


def today(clock: Clock) -> date:
    """The contract day now: contracts run on Europe/London dates."""
    return clock.now().astimezone(LONDON).date()


# --- reads ------------------------------------------------------------------------------


async def get(session: AsyncSession, scope: AccessScope, contract_id: uuid.UUID) -> Contract:
    contract = await repository.get(session, scope, contract_id)
    if contract is None:
        raise ContractNotFound(f"no contract {contract_id}")
    return contract


async def get_outcome(
    session: AsyncSession, scope: AccessScope, contract_id: uuid.UUID, code: str
) -> ResolutionOutcome:
    """The outcome `code` of a visible contract: what closing a case with it must record."""
    await get(session, scope, contract_id)
    outcome = await repository.get_outcome(session, contract_id, code)
    if outcome is None:
        raise ResolutionOutcomeNotFound(f"the contract has no resolution outcome {code!r}")
    return outcome


# --- writes -----------------------------------------------------------------------------


async def create_contract(
    session: AsyncSession,
    scope: AccessScope,
    *,
    reference: str,
    name: str,
    commissioner_id: uuid.UUID,
    provider_id: uuid.UUID,
    service_type: ServiceType,
    starts_on: date,
    ends_on: date | None,
    tolerances: Tolerances,
    actor: str,
    clock: Clock,
) -> Contract:
    """Create a contract between a commissioner (local authority or ICB) and a provider.
    A commissioner creates contracts only in its own name."""
    if not (scope.is_admin or scope.is_commissioner):
        raise ContractChangeForbidden("only a commissioner or an admin creates contracts")
    if scope.is_commissioner and commissioner_id != scope.organisation_id:
        raise InvalidInput(
            "commissionerId",
            "must be your own organisation: commissioners create their own contracts",
            code="NOT_YOUR_ORGANISATION",
        )
    checked_reference = _text("reference", reference, MAX_REFERENCE_LENGTH)
    checked_name = _text("name", name, MAX_NAME_LENGTH)
    if ends_on is not None and ends_on < starts_on:
        raise InvalidInput(
            "endsOn", f"must be on or after startsOn ({starts_on})", code="DATES_OUT_OF_ORDER"
        )
    checked = validate_tolerances(tolerances)
    commissioner = await organisations.get(session, commissioner_id)
    if commissioner.kind not in COMMISSIONER_KINDS:
        raise InvalidInput(
            "commissionerId",
            f"must be a local authority or an ICB, not a {commissioner.kind.value}",
            code="NOT_A_COMMISSIONER",
        )
    provider = await organisations.get(session, provider_id)
    if provider.kind is not OrganisationKind.PROVIDER:
        raise InvalidInput(
            "providerId",
            f"must be a care provider, not a {provider.kind.value}",
            code="NOT_A_PROVIDER",
        )
    if await repository.reference_taken(session, checked_reference):
        raise DuplicateContractReference(
            f"contract reference {checked_reference} is already in use"
        )
    contract = Contract(
        reference=checked_reference,
        name=checked_name,
        commissioner_id=commissioner.id,
        provider_id=provider.id,
        service_type=service_type,
        starts_on=starts_on,
        ends_on=ends_on,
        late_after_minutes=checked.late_after_minutes,
        time_critical_late_after_minutes=checked.time_critical_late_after_minutes,
        missed_after_minutes=checked.missed_after_minutes,
        minimum_stay_percent=checked.minimum_stay_percent,
    )
    repository.add(session, contract)
    await session.flush()
    await _record(
        session,
        contract,
        "contract.created",
        actor,
        clock,
        {
            "reference": contract.reference,
            "name": contract.name,
            "commissionerId": str(contract.commissioner_id),
            "providerId": str(contract.provider_id),
            "serviceType": service_type.value,
            "startsOn": starts_on.isoformat(),
            "endsOn": ends_on.isoformat() if ends_on else None,
            "tolerances": checked.as_json(),
        },
    )
    return contract


async def set_tolerances(
    session: AsyncSession,
    scope: AccessScope,
    contract_id: uuid.UUID,
    *,
    tolerances: Tolerances,
    actor: str,
    clock: Clock,
) -> Contract:
    """Replace the contract's tolerances. Rules already applied keep the values they used; the
    event keeps both sets, so a later review can tell which applied when."""
    checked = validate_tolerances(tolerances)
    contract = await _changeable(session, scope, contract_id)
    before = Tolerances.of(contract)
    contract.late_after_minutes = checked.late_after_minutes
    contract.time_critical_late_after_minutes = checked.time_critical_late_after_minutes
    contract.missed_after_minutes = checked.missed_after_minutes
    contract.minimum_stay_percent = checked.minimum_stay_percent
    await session.flush()
    # `updated_at` is set by the database on UPDATE; read it back while the session is open.
    await session.refresh(contract, attribute_names=["updated_at"])
    await _record(
        session,
        contract,
        "contract.tolerances_changed",
        actor,
        clock,
        {"before": before.as_json(), "after": checked.as_json()},
    )
    return contract


async def define_resolution_outcome(
    session: AsyncSession,
    scope: AccessScope,
    contract_id: uuid.UUID,
    spec: OutcomeSpec,
    *,
    actor: str,
    clock: Clock,
) -> ResolutionOutcome:
    """Add the outcome, or replace the label and required fields of the one with this code.
    Outcomes are never removed: closed cases keep pointing at theirs."""
    code = _code("code", spec.code)
    label = _text("label", spec.label, MAX_NAME_LENGTH)
    required = _names("requiredFields", spec.required_fields, _FIELD_NAME, "e.g. alternativeWorker")
    contract = await _changeable(session, scope, contract_id)
    outcome = await repository.get_outcome(session, contract.id, code)
    replaced = outcome is not None
    if outcome is None:
        outcome = ResolutionOutcome(
            contract_id=contract.id, code=code, label=label, required_fields=required
        )
        repository.add(session, outcome)
    else:
        outcome.label = label
        outcome.required_fields = required
    await session.flush()
    await _record(
        session,
        contract,
        "contract.outcome_defined",
        actor,
        clock,
        {"code": code, "label": label, "requiredFields": required, "replaced": replaced},
    )
    return outcome


async def define_kpi(
    session: AsyncSession,
    scope: AccessScope,
    contract_id: uuid.UUID,
    spec: KpiSpec,
    *,
    actor: str,
    clock: Clock,
) -> KpiDefinition:
    """Add the KPI, or replace the definition of the one with this code. The event carries the
    whole definition, so the definition in force for any period can be read back."""
    code = _code("code", spec.code)
    name = _text("name", spec.name, MAX_NAME_LENGTH)
    sources = _names(
        "sourceEventTypes", spec.source_event_types, _EVENT_TYPE, "e.g. visit.checked_in"
    )
    if not sources:
        raise InvalidInput(
            "sourceEventTypes",
            "name at least one event type that evidences the KPI (e.g. visit.checked_in)",
            code="REQUIRED",
        )
    quality_rule = _text("qualityRule", spec.quality_rule, MAX_RULE_LENGTH)
    exception_rule = _text("exceptionRule", spec.exception_rule, MAX_RULE_LENGTH)
    governance_action = _text("governanceAction", spec.governance_action, MAX_RULE_LENGTH)
    target = spec.target_percent
    if target is not None and not 0 <= target <= 100:
        raise InvalidInput("targetPercent", "must be between 0 and 100", code="OUT_OF_RANGE")
    contract = await _changeable(session, scope, contract_id)
    kpi = await repository.get_kpi(session, contract.id, code)
    replaced = kpi is not None
    if kpi is None:
        kpi = KpiDefinition(contract_id=contract.id, code=code)
        repository.add(session, kpi)
    kpi.name = name
    kpi.source_event_types = sources
    kpi.quality_rule = quality_rule
    kpi.exception_rule = exception_rule
    kpi.governance_action = governance_action
    kpi.target_percent = target
    await session.flush()
    await _record(
        session,
        contract,
        "contract.kpi_defined",
        actor,
        clock,
        {
            "code": code,
            "name": name,
            "sourceEventTypes": sources,
            "qualityRule": quality_rule,
            "exceptionRule": exception_rule,
            "governanceAction": governance_action,
            "targetPercent": target,
            "replaced": replaced,
        },
    )
    return kpi


# --- validation -------------------------------------------------------------------------


def validate_tolerances(tolerances: Tolerances) -> Tolerances:
    """Tolerances in the order the exception rules need: time-critical late ≤ late < missed,
    and a minimum stay between 1 and 100 per cent."""
    for field_name, minutes in (
        ("lateAfterMinutes", tolerances.late_after_minutes),
        ("timeCriticalLateAfterMinutes", tolerances.time_critical_late_after_minutes),
        ("missedAfterMinutes", tolerances.missed_after_minutes),
    ):
        if not 0 <= minutes <= MAX_TOLERANCE_MINUTES:
            raise InvalidInput(
                f"tolerances.{field_name}",
                f"must be between 0 and {MAX_TOLERANCE_MINUTES} minutes",
                code="OUT_OF_RANGE",
            )
    late = tolerances.late_after_minutes
    if tolerances.time_critical_late_after_minutes > late:
        raise InvalidInput(
            "tolerances.timeCriticalLateAfterMinutes",
            f"must not be more than lateAfterMinutes ({late}): time-critical calls are held "
            "to the tighter threshold",
            code="TOLERANCES_OUT_OF_ORDER",
        )
    if tolerances.missed_after_minutes <= late:
        raise InvalidInput(
            "tolerances.missedAfterMinutes",
            f"must be more than lateAfterMinutes ({late}): a visit is late before it is missed",
            code="TOLERANCES_OUT_OF_ORDER",
        )
    if not 1 <= tolerances.minimum_stay_percent <= 100:
        raise InvalidInput(
            "tolerances.minimumStayPercent", "must be between 1 and 100", code="OUT_OF_RANGE"
        )
    return tolerances


async def _changeable(
    session: AsyncSession, scope: AccessScope, contract_id: uuid.UUID
) -> Contract:
    """The contract, locked, if the caller sees it and may change its terms."""
    contract = await repository.get(session, scope, contract_id, for_update=True)
    if contract is None:
        raise ContractNotFound(f"no contract {contract_id}")
    if not (scope.is_admin or scope.is_commissioner):
        raise ContractChangeForbidden("contract terms are set by the commissioner")
    return contract


async def _record(
    session: AsyncSession,
    contract: Contract,
    event_type: str,
    actor: str,
    clock: Clock,
    payload: dict[str, Any],
) -> None:
    await record(
        session,
        NewEvent(
            type=event_type,
            subject_type="contract",
            subject_id=contract.id,
            contract_id=contract.id,
            organisation_id=contract.commissioner_id,
            actor=actor,
            occurred_at=clock.now(),
            payload=payload,
        ),
    )


def _text(field_name: str, value: str, max_length: int) -> str:
    text = value.strip()
    if not text:
        raise InvalidInput(field_name, "must not be blank", code="REQUIRED")
    if len(text) > max_length:
        raise InvalidInput(field_name, f"must be at most {max_length} characters", code="TOO_LONG")
    return text


def _code(field_name: str, value: str) -> str:
    code = value.strip()
    if not _CODE.match(code):
        raise InvalidInput(
            field_name,
            "must be 2 to 64 lower-case letters, digits or underscores, starting with a letter "
            "(e.g. covered_by_alternative_worker)",
            code="INVALID_CODE",
        )
    return code


def _names(
    field_name: str, values: Sequence[str], pattern: re.Pattern[str], example: str
) -> list[str]:
    if len(values) > MAX_LIST_LENGTH:
        raise InvalidInput(field_name, f"at most {MAX_LIST_LENGTH} entries", code="TOO_MANY")
    names: list[str] = []
    for index, value in enumerate(values):
        name = value.strip()
        if not pattern.match(name):
            raise InvalidInput(f"{field_name}[{index}]", f"{name!r} is not valid ({example})")
        if name in names:
            raise InvalidInput(
                f"{field_name}[{index}]", f"{name!r} is listed twice", code="DUPLICATE"
            )
        names.append(name)
    return names
