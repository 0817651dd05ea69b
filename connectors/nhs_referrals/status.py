"""A referral's progress rendered for partner systems as an R4 ``Task``.

Why a Task and not the ServiceRequest: the ServiceRequest is the referrer's record of what they
asked for — the receiver must not rewrite it, and R4 gives it no place for the receiver's
triage state. A Task whose ``focus`` (and ``basedOn``) is the referral is FHIR's pattern for
"the receiver's work on a request" (the same pattern the NHS Booking and Referral Standard and
e-RS triage workflows use), and it carries what a referrer wants to see:

- ``status`` — the FHIR task status (received, accepted, rejected, in-progress, completed…);
- ``businessStatus`` — the hub's own triage state, finer than FHIR's (e.g. awaiting
  assessment), coded in Care Hub's triage-status code system;
- ``owner`` — the ODS code of the provider now responsible;
- ``restriction.period.end`` — the maximum safe wait: the time by which the person must be
  contacted for the referral's priority;
- ``statusReason`` — why a referral was rejected or put on hold.

The hub builds a `ReferralStatusView` from its own referral state (this package does not import
the hub) and serves the result from its FHIR endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from fhir.resources.R4B.task import Task

from connectors.nhs_referrals import codes
from connectors.records.referral import ReferralPriority, SourceIdentifier

# R4 task-code "fulfill": the task is to act on (fulfil) its focal request.
_TASK_CODE_SYSTEM = "http://hl7.org/fhir/CodeSystem/task-code"


class TaskStatus(StrEnum):
    """R4 ``task-status`` codes."""

    DRAFT = "draft"
    REQUESTED = "requested"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    READY = "ready"
    CANCELLED = "cancelled"
    IN_PROGRESS = "in-progress"
    ON_HOLD = "on-hold"
    FAILED = "failed"
    COMPLETED = "completed"
    ENTERED_IN_ERROR = "entered-in-error"


@dataclass(frozen=True, slots=True)
class ReferralStatusView:
    """What a partner may see of a referral's progress; filled in by the hub.

    `referral_id` is the hub's id for the referral (a UUID: it becomes Task.id, which FHIR limits
    to 64 letters, digits, '-' and '.'). `source_identifier` is the sender's identifier for their
    ServiceRequest, so the Task points at the request the partner knows.
    """

    referral_id: str
    source_identifier: SourceIdentifier
    status: TaskStatus
    priority: ReferralPriority
    received_at: datetime
    updated_at: datetime
    triage_status: str | None = None
    triage_status_display: str | None = None
    status_reason: str | None = None
    nhs_number: str | None = None
    owner_ods: str | None = None
    requester_ods: str | None = None
    respond_by: datetime | None = None
    notes: tuple[str, ...] = ()


def referral_status_as_fhir(view: ReferralStatusView) -> dict[str, Any]:
    """The referral's status as an R4 Task, JSON-ready.

    The Task is built and then validated with the R4B model, so a partner never receives a
    resource that is not valid R4. Raises pydantic's ValidationError if the view holds a value
    R4 cannot carry (a `referral_id` that is not a FHIR id) and ValueError for naive datetimes.
    """
    for moment in (view.received_at, view.updated_at, view.respond_by):
        if moment is not None and moment.tzinfo is None:
            raise ValueError("ReferralStatusView datetimes must be timezone-aware")
    request = {
        "type": "ServiceRequest",
        "identifier": {
            "system": view.source_identifier.system,
            "value": view.source_identifier.value,
        },
    }
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": view.referral_id,
        "identifier": [{"system": codes.CARE_HUB_REFERRAL_ID_SYSTEM, "value": view.referral_id}],
        "basedOn": [request],
        "focus": request,
        "status": view.status.value,
        "intent": "order",
        "priority": view.priority.value,
        "code": {"coding": [{"system": _TASK_CODE_SYSTEM, "code": "fulfill"}]},
        "authoredOn": view.received_at.isoformat(),
        "lastModified": view.updated_at.isoformat(),
    }
    if view.triage_status is not None:
        coding = {"system": codes.CARE_HUB_TRIAGE_STATUS_SYSTEM, "code": view.triage_status}
        if view.triage_status_display is not None:
            coding["display"] = view.triage_status_display
        task["businessStatus"] = {"coding": [coding]}
    if view.status_reason is not None:
        task["statusReason"] = {"text": view.status_reason}
    if view.nhs_number is not None:
        task["for"] = {
            "type": "Patient",
            "identifier": {"system": codes.NHS_NUMBER_SYSTEM, "value": view.nhs_number},
        }
    if view.requester_ods is not None:
        task["requester"] = _organisation(view.requester_ods)
    if view.owner_ods is not None:
        task["owner"] = _organisation(view.owner_ods)
    if view.respond_by is not None:
        task["restriction"] = {"period": {"end": view.respond_by.isoformat()}}
    if view.notes:
        task["note"] = [{"text": note} for note in view.notes]
    return Task.model_validate(task).model_dump(mode="json")


def _organisation(ods_code: str) -> dict[str, Any]:
    return {
        "type": "Organization",
        "identifier": {"system": codes.ODS_ORGANISATION_SYSTEM, "value": ods_code},
    }
