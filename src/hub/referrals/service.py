"""Referral writes: receipt, triage, the acceptance decision, withdrawal and conversion into a
care package. Every write records an event in the caller's transaction; nothing here commits.

The status machine (seed 002's referral and triage pack):

    received ──► triaged ──► accepted ──► converted (final: it became a care package)
        │          │  ▲ │
        │          └──┘ └──► excluded (final: outside the pathway's criteria)
        │       re-triage
        └──────────┴──────────┴──► withdrawn (final: the referrer or the person called it off)

A referral is decided only after it has been triaged: the risk tier sets the maximum safe wait,
and the clock it starts must exist before anyone can say "accepted, we will be in touch". It is
triaged again (a new tier) while undecided, because risk changes while people wait. Accepting
needs the minimum dataset complete; exclusion and withdrawal never wait on paperwork.

Triage clocks (a breach event when the safe wait runs out) and FHIR intake build on this module
later: the wait is stored as `maximum_safe_wait_days` from `received_at`, so a clock needs no
new column.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts.models import Role
from hub.errors import Forbidden, InvalidInput
from hub.events.log import NewEvent, record
from hub.kit.time import Clock, to_london
from hub.organisations import repository as organisations
from hub.organisations.models import Organisation, OrganisationKind
from hub.referrals import repository
from hub.referrals.dataset import (
    assess_completeness,
    maximum_safe_wait_days,
    validate_dataset,
)
from hub.referrals.errors import (
    DuplicateSourceIdentifier,
    IllegalReferralTransition,
    PackageDoesNotMatchReferral,
    ReferralClosed,
    ReferralDatasetIncomplete,
    ReferralNotFound,
    ReferralPartyNotFound,
)
from hub.referrals.models import (
    Referral,
    ReferralPriority,
    ReferralSource,
    ReferralStatus,
    RiskTier,
)
from hub.tenancy import AccessScope

R = ReferralStatus

REFERRAL_TRANSITIONS: Mapping[ReferralStatus, tuple[ReferralStatus, ...]] = MappingProxyType(
    {
        R.RECEIVED: (R.TRIAGED, R.WITHDRAWN),
        R.TRIAGED: (R.TRIAGED, R.ACCEPTED, R.EXCLUDED, R.WITHDRAWN),
        R.ACCEPTED: (R.CONVERTED, R.WITHDRAWN),
        R.EXCLUDED: (),
        R.CONVERTED: (),
        R.WITHDRAWN: (),
    }
)
"""Every legal move, read-only: status → the statuses it may move to."""

FINAL_STATUSES: frozenset[ReferralStatus] = frozenset(
    status for status, targets in REFERRAL_TRANSITIONS.items() if not targets
)

MAX_REASON_LENGTH = 2000
MAX_IDENTIFIER_LENGTH = 200


class ReferralDecision(StrEnum):
    """The provider's answer to a triaged referral (e-RS A013 accept / A014 reject)."""

    ACCEPT = "accept"
    EXCLUDE = "exclude"


@dataclass(frozen=True, slots=True)
class Receipt:
    """The referral a receipt produced; `created` is False when it was a re-send of one the
    hub already holds (applied once: no second row, no second event)."""

    referral: Referral
    created: bool


def can_move_referral(current: ReferralStatus, target: ReferralStatus) -> bool:
    return target in REFERRAL_TRANSITIONS[current]


def check_referral_transition(current: ReferralStatus, target: ReferralStatus) -> None:
    """Refuse an illegal move with a message saying why and what is allowed instead."""
    if can_move_referral(current, target):
        return
    hint = None
    if current is R.RECEIVED and target in (R.ACCEPTED, R.EXCLUDED):
        hint = "a referral is decided only after it has been triaged"
    elif target is R.CONVERTED and current is not R.ACCEPTED:
        hint = "only an accepted referral becomes a care package"
    elif current is R.ACCEPTED and target is R.TRIAGED:
        hint = "an accepted referral is not triaged again"
    raise IllegalReferralTransition(current, target, REFERRAL_TRANSITIONS[current], hint=hint)


async def get_referral(
    session: AsyncSession, scope: AccessScope, referral_id: uuid.UUID
) -> Referral:
    referral = await repository.get(session, scope, referral_id)
    if referral is None:
        raise ReferralNotFound(f"no referral {referral_id}")
    return referral


async def receive_referral(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    source: ReferralSource,
    provider_id: uuid.UUID | None,
    referrer_organisation_id: uuid.UUID | None = None,
    contract_id: uuid.UUID | None = None,
    person_id: uuid.UUID | None = None,
    source_system: str | None = None,
    source_identifier: str | None = None,
    minimum_dataset: Mapping[str, Any] | None = None,
    priority: ReferralPriority = ReferralPriority.ROUTINE,
    referrer_ods_code: str | None = None,
) -> Receipt:
    """Receive a referral and list what its minimum dataset lacks.

    Who sends it decides who it is to: a provider's office receives for its own organisation;
    a partner client or an admin names the provider. Who it is from is, in this order: the
    referrer the referral itself names by `referrer_ods_code` (a FHIR requester; the
    organisation with that code when the hub knows it, the code kept either way), the
    `referrer_organisation_id` given, or — for a partner client — the partner's organisation.
    The caller's organisation is recorded as the one that delivered it, so a referral sent
    on a GP's behalf by another system shows the GP as referrer and that system as deliverer.
    A re-send carrying a (source system, identifier) the same sender already used returns the
    referral received the first time, unchanged: senders retry, and a retry must not become a
    second referral in someone's worklist. Identifiers are scoped to their sender (the
    partner's organisation, the receiving office; admins share one scope): another sender's
    use of the same identifier is another referral, and is never mentioned to this one.
    """
    system, identifier = _source_key(source_system, source_identifier)
    sender = _sender(scope)
    if system is not None and identifier is not None:
        existing = await _existing_receipt(session, scope, sender, system, identifier)
        if existing is not None:
            return Receipt(existing, created=False)

    named_ods = _optional_ods(referrer_ods_code)
    if named_ods is not None and referrer_organisation_id is not None:
        raise InvalidInput(
            "referrerOrganisationId",
            "name the referrer by organisation id or by ODS code, not both",
            code="AMBIGUOUS_REFERRER",
        )
    provider, referrer, delivered_by = _parties(
        scope, provider_id, referrer_organisation_id, named_referrer=named_ods is not None
    )
    await _require_organisation(session, provider, "providerId", kind=OrganisationKind.PROVIDER)
    if named_ods is not None:
        named = await organisations.get_by_ods_code(session, named_ods)
        referrer = named.id if named is not None else None
    elif referrer is not None:
        named_ods = (
            await _require_organisation(session, referrer, "referrerOrganisationId")
        ).ods_code
    if contract_id is not None:
        await _require_contract(session, scope, contract_id, provider)
    if person_id is not None and await repository.visible_person(session, scope, person_id) is None:
        raise ReferralPartyNotFound(f"no person {person_id}")

    dataset = dict(minimum_dataset or {})
    validate_dataset(dataset)
    now = clock.now()
    referral = Referral(
        reference=_new_reference("REF", clock),
        source=source,
        referrer_organisation_id=referrer,
        referrer_ods_code=named_ods,
        delivered_by_organisation_id=delivered_by,
        priority=priority,
        provider_id=provider,
        contract_id=contract_id,
        person_id=person_id,
        sent_by_organisation_id=sender,
        source_system=system,
        source_identifier=identifier,
        minimum_dataset=dataset,
        missing_fields=assess_completeness(source, dataset),
        status=R.RECEIVED,
        received_at=now,
    )
    try:
        async with session.begin_nested():
            repository.add(session, referral)
            await session.flush()
    except IntegrityError:
        # A concurrent receipt of the same re-send won the race: answer as if we had lost it
        # before inserting. Any other clash (a reference collision) is not expected.
        if system is None or identifier is None:
            raise
        existing = await _existing_receipt(session, scope, sender, system, identifier)
        if existing is None:
            raise
        return Receipt(existing, created=False)
    await _record(
        session,
        referral,
        "referral.received",
        actor,
        clock,
        {
            "reference": referral.reference,
            "source": source.value,
            "referrerOrganisationId": str(referrer) if referrer else None,
            "referrerOdsCode": named_ods,
            "deliveredByOrganisationId": str(delivered_by) if delivered_by else None,
            "priority": priority.value,
            "sourceSystem": system,
            "sourceIdentifier": identifier,
            "missingFields": list(referral.missing_fields),
        },
    )
    return Receipt(referral, created=True)


async def triage_referral(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    referral_id: uuid.UUID,
    risk_tier: RiskTier,
    contract_id: uuid.UUID | None = None,
    note: str | None = None,
) -> Referral:
    """Give a referral its risk tier and so its maximum safe wait (`MAXIMUM_SAFE_WAIT_DAYS`).

    Triage may also place the referral on one of the provider's contracts: partners cannot
    see contracts, so the provider is often the first to know which one it falls under.
    """
    referral = await _get_for_update(session, scope, referral_id)
    check_referral_transition(referral.status, R.TRIAGED)
    if contract_id is not None:
        await _require_contract(session, scope, contract_id, referral.provider_id)
        referral.contract_id = contract_id
    previous = referral.risk_tier
    referral.risk_tier = risk_tier
    referral.maximum_safe_wait_days = maximum_safe_wait_days(risk_tier)
    referral.status = R.TRIAGED
    await _save(session, referral)
    await _record(
        session,
        referral,
        "referral.triaged",
        actor,
        clock,
        {
            "riskTier": risk_tier.value,
            "previousRiskTier": previous.value if previous else None,
            "maximumSafeWaitDays": referral.maximum_safe_wait_days,
            "safeWaitEndsAt": (
                referral.received_at + timedelta(days=referral.maximum_safe_wait_days)
            ).isoformat(),
            "note": _optional_text(note, "note"),
        },
    )
    return referral


async def decide_referral(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    referral_id: uuid.UUID,
    decision: ReferralDecision,
    reason: str,
) -> Referral:
    """Accept or exclude a triaged referral. The reason is mandatory either way: an exclusion
    goes back to the referrer, and an acceptance on thin grounds is what a later audit asks
    about."""
    text = _required_text(reason, "reason")
    referral = await _get_for_update(session, scope, referral_id)
    target = R.ACCEPTED if decision is ReferralDecision.ACCEPT else R.EXCLUDED
    check_referral_transition(referral.status, target)
    if target is R.ACCEPTED and referral.missing_fields:
        raise ReferralDatasetIncomplete(referral.missing_fields)
    referral.status = target
    referral.decision_reason = text
    referral.decided_at = clock.now()
    await _save(session, referral)
    await _record(session, referral, f"referral.{target.value}", actor, clock, {"reason": text})
    return referral


async def withdraw_referral(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    referral_id: uuid.UUID,
    reason: str,
) -> Referral:
    """Close a referral that is no longer wanted, from any status that is not final. The reason
    replaces `decision_reason` (the reason for the status the referral now has); earlier
    reasons stay in its event timeline."""
    text = _required_text(reason, "reason")
    referral = await _get_for_update(session, scope, referral_id)
    check_referral_transition(referral.status, R.WITHDRAWN)
    previous = referral.status
    referral.status = R.WITHDRAWN
    referral.decision_reason = text
    referral.decided_at = clock.now()
    await _save(session, referral)
    await _record(
        session,
        referral,
        "referral.withdrawn",
        actor,
        clock,
        {"reason": text, "previousStatus": previous.value},
    )
    return referral


async def amend_dataset(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    referral_id: uuid.UUID,
    values: Mapping[str, Any],
) -> Referral:
    """Add or correct minimum-dataset values (null removes one) and list again what is missing:
    the triage team phones the referrer for the gaps instead of sending the referral back."""
    if not values:
        raise InvalidInput("values", "must name at least one field", code="REQUIRED")
    validate_dataset(values, path="values")
    referral = await _get_for_update(session, scope, referral_id)
    if referral.status in FINAL_STATUSES:
        raise ReferralClosed(
            f"a referral in status {referral.status} is closed; its dataset is kept as it was"
        )
    dataset = dict(referral.minimum_dataset)
    for name, value in values.items():
        if value is None:
            dataset.pop(name, None)
        else:
            dataset[name] = value
    referral.minimum_dataset = dataset
    referral.missing_fields = assess_completeness(referral.source, dataset)
    await _save(session, referral)
    await _record(
        session,
        referral,
        "referral.dataset_amended",
        actor,
        clock,
        {"fields": sorted(values), "missingFields": list(referral.missing_fields)},
    )
    return referral


async def link_package(
    session: AsyncSession,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    referral_id: uuid.UUID,
    package_id: uuid.UUID,
) -> Referral:
    """Record the care package an accepted referral became (status → converted).

    The package must be for the referral's person from the referral's provider, and on its
    contract when the referral names one. A referral received without a person record (a
    self-referral, say) takes the package's person, and a referral without a contract takes
    the package's, so the commissioner sees the whole path from referral to care.
    """
    referral = await _get_for_update(session, scope, referral_id)
    check_referral_transition(referral.status, R.CONVERTED)
    package = await repository.visible_package(session, scope, package_id)
    if package is None:
        raise ReferralPartyNotFound(f"no care package {package_id}")
    if package.provider_id != referral.provider_id:
        raise PackageDoesNotMatchReferral(
            f"care package {package_id} is delivered by another provider than this referral's"
        )
    if referral.person_id is not None and package.person_id != referral.person_id:
        raise PackageDoesNotMatchReferral(
            f"care package {package_id} is for another person than this referral's"
        )
    if referral.contract_id is not None and package.contract_id != referral.contract_id:
        raise PackageDoesNotMatchReferral(
            f"care package {package_id} is on another contract than this referral's"
        )
    referral.person_id = package.person_id
    referral.contract_id = package.contract_id
    referral.package_id = package.id
    referral.status = R.CONVERTED
    await _save(session, referral)
    await _record(
        session, referral, "referral.converted", actor, clock, {"packageId": str(package.id)}
    )
    return referral


# ---------------------------------------------------------------------------------------------


def _source_key(system: str | None, identifier: str | None) -> tuple[str | None, str | None]:
    system = (system or "").strip() or None
    identifier = (identifier or "").strip() or None
    if (system is None) != (identifier is None):
        missing = "sourceSystem" if system is None else "sourceIdentifier"
        raise InvalidInput(
            missing,
            "sourceSystem and sourceIdentifier are given together or not at all",
            code="REQUIRED",
        )
    for field, value in (("sourceSystem", system), ("sourceIdentifier", identifier)):
        if value is not None and len(value) > MAX_IDENTIFIER_LENGTH:
            raise InvalidInput(
                field, f"must be at most {MAX_IDENTIFIER_LENGTH} characters", code="TOO_LONG"
            )
    return system, identifier


def _sender(scope: AccessScope) -> uuid.UUID | None:
    """Whose identifiers these are: the calling organisation (None for admins)."""
    return None if scope.is_admin else scope.organisation_id


async def _existing_receipt(
    session: AsyncSession,
    scope: AccessScope,
    sender: uuid.UUID | None,
    system: str,
    identifier: str,
) -> Referral | None:
    existing = await repository.get_by_source(session, sender, system, identifier)
    if existing is None:
        return None
    if await repository.get(session, scope, existing.id) is None:
        # Only if the sender lost sight of its own referral (the provider re-addressed it):
        # say no more than that the identifier is used.
        raise DuplicateSourceIdentifier(
            f"{system} identifier {identifier} is already used by one of your referrals "
            "you can no longer see"
        )
    return existing


def _parties(
    scope: AccessScope,
    provider_id: uuid.UUID | None,
    referrer_id: uuid.UUID | None,
    *,
    named_referrer: bool,
) -> tuple[uuid.UUID, uuid.UUID | None, uuid.UUID | None]:
    """(provider, referrer, delivered by) for this caller; see `receive_referral`. With
    `named_referrer` the referral names its referrer itself and the caller delivers it."""
    if scope.role is Role.PARTNER_CLIENT:
        if scope.organisation_id is None:
            raise Forbidden("a partner client refers on behalf of an organisation; it has none")
        if referrer_id is not None and referrer_id != scope.organisation_id:
            raise InvalidInput(
                "referrerOrganisationId",
                "a partner refers on behalf of its own organisation only",
                code="NOT_YOUR_ORGANISATION",
            )
        if provider_id is None:
            raise InvalidInput(
                "providerId", "name the provider the referral is for", code="REQUIRED"
            )
        referrer = None if named_referrer else scope.organisation_id
        return provider_id, referrer, scope.organisation_id
    if scope.is_office and scope.organisation_id is not None:
        if provider_id is not None and provider_id != scope.organisation_id:
            raise InvalidInput(
                "providerId",
                "an office receives referrals for its own organisation only",
                code="NOT_YOUR_ORGANISATION",
            )
        return scope.organisation_id, referrer_id, scope.organisation_id
    if scope.is_admin:
        if provider_id is None:
            raise InvalidInput(
                "providerId", "name the provider the referral is for", code="REQUIRED"
            )
        return provider_id, referrer_id, None
    raise Forbidden(f"a {scope.role.value} does not receive referrals")


def _optional_ods(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    code = value.strip()
    if len(code) > MAX_IDENTIFIER_LENGTH:
        raise InvalidInput(
            "referrerOdsCode",
            f"must be at most {MAX_IDENTIFIER_LENGTH} characters",
            code="TOO_LONG",
        )
    return code


async def _require_organisation(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    field: str,
    *,
    kind: OrganisationKind | None = None,
) -> Organisation:
    organisation = await organisations.get(session, organisation_id)
    if organisation is None or (kind is not None and organisation.kind is not kind):
        what = f"{kind.value} organisation" if kind else "organisation"
        raise ReferralPartyNotFound(f"{field}: no {what} {organisation_id}")
    return organisation


async def _require_contract(
    session: AsyncSession,
    scope: AccessScope,
    contract_id: uuid.UUID,
    provider_id: uuid.UUID | None,
) -> None:
    contract = await repository.visible_contract(session, scope, contract_id)
    if contract is None:
        raise ReferralPartyNotFound(f"contractId: no contract {contract_id}")
    if contract.provider_id != provider_id:
        raise InvalidInput(
            "contractId",
            "is a contract of another provider than the one the referral is for",
            code="CONTRACT_PROVIDER_MISMATCH",
        )


async def _get_for_update(
    session: AsyncSession, scope: AccessScope, referral_id: uuid.UUID
) -> Referral:
    referral = await repository.get(session, scope, referral_id, for_update=True)
    if referral is None:
        raise ReferralNotFound(f"no referral {referral_id}")
    return referral


async def _save(session: AsyncSession, referral: Referral) -> None:
    """Flush a change and re-read `updated_at`, which the database sets on UPDATE: the row is
    mapped to GraphQL after the unit of work ends, when it can no longer be loaded lazily."""
    await session.flush()
    await session.refresh(referral, ["updated_at"])


def _required_text(value: str, field: str) -> str:
    text = value.strip()
    if not text:
        raise InvalidInput(field, "must not be blank", code="REQUIRED")
    if len(text) > MAX_REASON_LENGTH:
        raise InvalidInput(
            field, f"must be at most {MAX_REASON_LENGTH} characters", code="TOO_LONG"
        )
    return text


def _optional_text(value: str | None, field: str) -> str | None:
    if value is None or not value.strip():
        return None
    return _required_text(value, field)


def _new_reference(prefix: str, clock: Clock) -> str:
    """A reference people can read out on the phone: the London date and 8 random hex digits
    (collisions within a day are negligible at referral volumes; the unique key catches one)."""
    return f"{prefix}-{to_london(clock.now()):%Y%m%d}-{secrets.token_hex(4).upper()}"


async def _record(
    session: AsyncSession,
    referral: Referral,
    event_type: str,
    actor: str,
    clock: Clock,
    payload: dict[str, Any],
) -> None:
    await record(
        session,
        NewEvent(
            type=event_type,
            subject_type="referral",
            subject_id=referral.id,
            actor=actor,
            occurred_at=clock.now(),
            payload={"status": referral.status.value, **payload},
            organisation_id=referral.provider_id,
            contract_id=referral.contract_id,
            person_id=referral.person_id,
        ),
    )
