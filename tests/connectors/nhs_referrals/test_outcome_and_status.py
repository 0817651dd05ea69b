"""Duplicate identification, OperationOutcome rendering, and the status Task for partners."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.task import Task
from pydantic import ValidationError

from connectors.nhs_referrals import (
    Issue,
    IssueSeverity,
    IssueType,
    ReferralStatusView,
    TaskStatus,
    duplicate_issue,
    operation_outcome,
    parse_referral,
    referral_status_as_fhir,
)
from connectors.records.referral import ReferralPriority, SourceIdentifier
from tests.connectors.nhs_referrals.samples import load

RECEIVED = datetime(2025, 3, 10, 14, 6, tzinfo=UTC)
UBRN = "https://fhir.nhs.uk/Id/UBRN"


def test_a_resend_is_identified_by_its_source_identifier() -> None:
    first = parse_referral(load("valid_gp_referral"), received_at=RECEIVED)
    resend = load("valid_gp_referral")
    resend["note"] = [{"text": "Resent: daughter now has power of attorney"}]
    second = parse_referral(resend, received_at=RECEIVED + timedelta(hours=2))

    assert second.source_identifier == first.source_identifier
    assert len({first.source_identifier, second.source_identifier}) == 1
    assert second.dataset.notes != first.dataset.notes  # different content, same referral


def test_a_different_ubrn_is_a_different_referral() -> None:
    other = load("valid_gp_referral")
    other["identifier"][0]["value"] = "000000070001"

    first = parse_referral(load("valid_gp_referral"), received_at=RECEIVED)
    second = parse_referral(other, received_at=RECEIVED)

    assert first.source_identifier != second.source_identifier


def test_where_the_identifier_sits_is_not_part_of_its_identity() -> None:
    moved = load("valid_gp_referral")
    moved["identifier"].insert(0, {"system": "https://example.nhs.uk/Id/ice", "value": "ICE-77"})

    first = parse_referral(load("valid_gp_referral"), received_at=RECEIVED)
    second = parse_referral(moved, received_at=RECEIVED)

    # The UBRN is preferred over an identifier listed before it.
    assert second.source_identifier.system == UBRN
    assert second.source_identifier.location == "ServiceRequest.identifier[1]"
    assert second.source_identifier == first.source_identifier
    assert [item.value for item in second.other_identifiers] == ["ICE-77"]


def test_duplicate_issue_points_at_the_identifier() -> None:
    referral = parse_referral(load("valid_hospital_discharge_bundle"), received_at=RECEIVED)

    issue = duplicate_issue(referral, existing_reference="Task/0190f1c2")
    outcome = operation_outcome([issue])

    OperationOutcome.model_validate(outcome)
    (rendered,) = outcome["issue"]
    assert rendered["severity"] == "error"
    assert rendered["code"] == "duplicate"
    assert rendered["expression"] == ["Bundle.entry[1].resource.identifier[0]"]
    assert "Task/0190f1c2" in rendered["diagnostics"]
    assert rendered["details"]["coding"][0]["code"] == "duplicate-referral"


def test_empty_outcome_is_still_a_valid_operation_outcome() -> None:
    outcome = operation_outcome([])

    OperationOutcome.model_validate(outcome)
    assert outcome["issue"] == [
        {"severity": "information", "code": "informational", "diagnostics": "accepted"}
    ]


def test_outcome_keeps_issue_order_and_omits_unknown_expressions() -> None:
    outcome = operation_outcome(
        [
            Issue(IssueSeverity.ERROR, IssueType.STRUCTURE, None, "not JSON"),
            Issue(IssueSeverity.WARNING, IssueType.VALUE, "Patient.birthDate", "partial"),
        ]
    )

    first, second = outcome["issue"]
    assert "expression" not in first
    assert "details" not in first
    assert second["expression"] == ["Patient.birthDate"]


def status_view(**changes: Any) -> ReferralStatusView:
    base = ReferralStatusView(
        referral_id="0190f1c2-7a1b-7cc0-9b1e-3f2d6a1c9e11",
        source_identifier=SourceIdentifier(UBRN, "000000070000"),
        status=TaskStatus.ACCEPTED,
        priority=ReferralPriority.URGENT,
        received_at=RECEIVED,
        updated_at=RECEIVED + timedelta(minutes=40),
        triage_status="awaiting-assessment",
        triage_status_display="Awaiting assessment",
        nhs_number="9990000018",
        owner_ods="AB1C2",
        requester_ods="B86044",
        respond_by=RECEIVED + timedelta(hours=2),
        notes=("Assessor booked for 15:30",),
    )
    return dataclasses.replace(base, **changes)


def test_status_is_a_valid_r4_task_focused_on_the_referrers_request() -> None:
    task = referral_status_as_fhir(status_view())

    Task.model_validate(task)
    assert task["resourceType"] == "Task"
    assert task["status"] == "accepted"
    assert task["intent"] == "order"
    assert task["priority"] == "urgent"
    request = {"type": "ServiceRequest", "identifier": {"system": UBRN, "value": "000000070000"}}
    assert task["focus"] == request
    assert task["basedOn"] == [request]
    assert task["for"]["identifier"]["value"] == "9990000018"
    assert task["owner"]["identifier"] == {
        "system": "https://fhir.nhs.uk/Id/ods-organization-code",
        "value": "AB1C2",
    }
    assert task["businessStatus"]["coding"][0]["code"] == "awaiting-assessment"
    # The maximum safe wait is the Task's restriction period end.
    assert task["restriction"]["period"]["end"] == "2025-03-10T16:06:00Z"
    assert task["authoredOn"] == "2025-03-10T14:06:00Z"
    assert task["note"] == [{"text": "Assessor booked for 15:30"}]


def test_rejected_status_carries_its_reason_and_leaves_out_what_is_unknown() -> None:
    task = referral_status_as_fhir(
        status_view(
            status=TaskStatus.REJECTED,
            status_reason="Outside our service area; redirected to Wakefield reablement",
            triage_status=None,
            owner_ods=None,
            respond_by=None,
            notes=(),
        )
    )

    assert task["status"] == "rejected"
    assert task["statusReason"] == {
        "text": "Outside our service area; redirected to Wakefield reablement"
    }
    for absent in ("businessStatus", "owner", "restriction", "note"):
        assert absent not in task


def test_status_refuses_naive_datetimes_and_ids_fhir_cannot_carry() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        referral_status_as_fhir(status_view(updated_at=datetime(2025, 3, 10, 15, 0)))
    with pytest.raises(ValidationError):
        referral_status_as_fhir(status_view(referral_id="not a fhir id!"))


def test_connector_packages_never_import_the_hub() -> None:
    code = (
        "import sys, connectors.standards, connectors.nhs_referrals, connectors.la_portal, "
        "connectors.records.referral, connectors.records.portal; "
        "bad = sorted(m for m in sys.modules if m == 'hub' or m.startswith('hub.')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )

    assert result.returncode == 0, result.stdout + result.stderr
