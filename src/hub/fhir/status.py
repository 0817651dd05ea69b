"""A referral's progress as the FHIR Task partners read (`connectors.nhs_referrals.status`).

The hub's referral status machine (`hub.referrals.service`) is finer in places and coarser in
others than R4's task-status, so the mapping is a table, with the hub's own status kept in
``businessStatus`` for partners that want it exactly:

| hub status | Task.status | why |
|---|---|---|
| received  | received    | the hub has it; nobody has assessed it yet |
| triaged   | in-progress | risk assessed, safe wait set (``restriction.period.end``), undecided |
| accepted  | accepted    | the provider will deliver care |
| excluded  | rejected    | outside the pathway's criteria; ``statusReason`` says why |
| converted | completed   | it became a care package |
| withdrawn | cancelled   | called off by the referrer or the person; ``statusReason`` says why |

Minimum-dataset fields still missing are listed in a ``note``: they are what the triage team will
phone the referrer about, and a referrer's system can fill them before it is asked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from connectors.nhs_referrals import ReferralStatusView, TaskStatus, referral_status_as_fhir
from connectors.nhs_referrals.codes import CARE_HUB_REFERRAL_ID_SYSTEM
from connectors.records.referral import ReferralPriority, SourceIdentifier
from hub.referrals import dataset as pathway
from hub.referrals.models import Referral, ReferralStatus

S = ReferralStatus

TASK_STATUS: Mapping[ReferralStatus, TaskStatus] = MappingProxyType(
    {
        S.RECEIVED: TaskStatus.RECEIVED,
        S.TRIAGED: TaskStatus.IN_PROGRESS,
        S.ACCEPTED: TaskStatus.ACCEPTED,
        S.EXCLUDED: TaskStatus.REJECTED,
        S.CONVERTED: TaskStatus.COMPLETED,
        S.WITHDRAWN: TaskStatus.CANCELLED,
    }
)

_DISPLAY: Mapping[ReferralStatus, str] = MappingProxyType(
    {
        S.RECEIVED: "Received, awaiting triage",
        S.TRIAGED: "Triaged, awaiting a decision",
        S.ACCEPTED: "Accepted",
        S.EXCLUDED: "Excluded: outside the pathway's criteria",
        S.CONVERTED: "Care package arranged",
        S.WITHDRAWN: "Withdrawn",
    }
)
# Statuses whose reason is the referrer's business (why it was refused or called off).
_REASON_SHOWN = frozenset({S.EXCLUDED, S.WITHDRAWN})


def referral_task(
    referral: Referral,
    *,
    priority: str | None,
    provider_ods: str | None,
    referrer_ods: str | None,
) -> dict[str, Any]:
    """The referral's status as an R4 Task (validated by the connector before it is returned)."""
    if referral.source_system and referral.source_identifier:
        identifier = SourceIdentifier(referral.source_system, referral.source_identifier)
    else:
        # Received through GraphQL without the sender's own identifier: the hub's id it is.
        identifier = SourceIdentifier(CARE_HUB_REFERRAL_ID_SYSTEM, str(referral.id))
    respond_by = None
    if referral.maximum_safe_wait_days is not None:
        respond_by = referral.received_at + timedelta(days=referral.maximum_safe_wait_days)
    nhs_number = referral.minimum_dataset.get("nhsNumber")
    view = ReferralStatusView(
        referral_id=str(referral.id),
        source_identifier=identifier,
        status=TASK_STATUS[referral.status],
        priority=_priority(priority),
        received_at=referral.received_at,
        updated_at=referral.updated_at,
        triage_status=referral.status.value,
        triage_status_display=_display(referral),
        status_reason=referral.decision_reason if referral.status in _REASON_SHOWN else None,
        nhs_number=nhs_number if isinstance(nhs_number, str) and nhs_number else None,
        owner_ods=provider_ods,
        requester_ods=referrer_ods,
        respond_by=respond_by,
        notes=_missing_note(referral.missing_fields),
    )
    return referral_status_as_fhir(view)


def _priority(value: str | None) -> ReferralPriority:
    try:
        return ReferralPriority(value) if value else ReferralPriority.ROUTINE
    except ValueError:
        return ReferralPriority.ROUTINE


def _display(referral: Referral) -> str:
    text = _DISPLAY[referral.status]
    if referral.status is S.TRIAGED and referral.risk_tier is not None:
        return f"Triaged ({referral.risk_tier.value} risk), awaiting a decision"
    return text


def _missing_note(missing: Sequence[str]) -> tuple[str, ...]:
    if not missing:
        return ()
    labels = [
        pathway.DATASET_FIELDS[name].label if name in pathway.DATASET_FIELDS else name
        for name in missing
    ]
    return (f"Information still needed for this referral: {', '.join(labels)}.",)
