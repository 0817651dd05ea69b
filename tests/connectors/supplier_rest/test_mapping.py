"""Supplier JSON → canonical records: the recorded samples, and a precise path and reason for
every value that cannot be mapped."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.base import RawPayload, UnmappablePayload
from connectors.records.supplier import (
    CompetencyStatus,
    MedicationSupport,
    PackageStatus,
    RotaChangeKind,
    StaffRole,
    VerificationMethod,
    VisitPlanStatus,
)
from connectors.standards.nhs_number import NhsNumberStatus
from connectors.supplier_rest import mapping
from connectors.supplier_rest.reference_server import seed_records

SAMPLES = Path(__file__).parents[3] / "connectors/supplier_rest/samples"
SOURCE = "supplier:acme-roster"


def raw_of(document: Any) -> RawPayload:
    return RawPayload(
        source_system=SOURCE,
        locator="GET https://supplier.test/v1/…",
        received_at=datetime(2026, 6, 15, 9, 0, tzinfo=UTC),
        content_type="application/json",
        body=json.dumps(document).encode(),
    )


def page_of(feed: mapping.FeedMapping[Any], document: Any) -> Any:
    return mapping.map_page(feed, raw_of(document), document)


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_bytes())


# --------------------------------------------------------------------------------------------
# Recorded samples


def test_visits_sample_maps_to_utc_records() -> None:
    page = page_of(mapping.VISITS, sample("visits_page.json"))

    assert page.rejected == ()
    assert page.has_more is True
    assert page.next_cursor == "eyJ1IjoiMjAyNi0wNi0xM1QwOTowMjo1NVoiLCJpIjoiVi04ODIxMzQyMCJ9"
    first, double, cancelled = page.records
    assert first.source_system == SOURCE
    assert first.external_id == "V-88213407"
    assert first.package_external_id == "PK-10442"
    # 08:00 BST is 07:00 UTC; every instant comes out as aware UTC.
    assert first.planned_start == datetime(2026, 6, 15, 7, 0, tzinfo=UTC)
    assert first.planned_start.tzinfo is UTC
    assert first.source_updated_at == datetime(2026, 6, 12, 15, 41, 9, 512000, tzinfo=UTC)
    assert first.time_critical is True
    assert [task.code for task in first.tasks] == ["medication", "personal_care"]
    assert first.tasks[0].requires_competency == "medication"
    assert first.tasks[1].requires_competency is None
    assert double.carer_external_ids == ("EMP-0193", "EMP-0207")
    assert cancelled.status is VisitPlanStatus.CANCELLED
    assert cancelled.carer_external_ids == ()


def test_staff_sample_maps_competencies() -> None:
    page = page_of(mapping.STAFF, sample("staff_page.json"))

    assert page.rejected == ()
    assert page.has_more is False
    senior, carer = page.records
    assert (senior.given_name, senior.family_name) == ("Sioned", "Ap Rhys")
    assert senior.role is StaffRole.SENIOR_CARE_WORKER
    assert senior.source_updated_at == datetime(2026, 6, 10, 10, 20, tzinfo=UTC)
    medication = senior.competencies[0]
    assert (medication.code, medication.status) == ("medication", CompetencyStatus.REVALIDATED)
    assert (medication.evidenced_on, medication.expires_on) == (
        date(2026, 1, 14),
        date(2027, 1, 14),
    )
    assert senior.competencies[2].expires_on is None
    assert carer.competencies[0].status is CompetencyStatus.RESTRICTED


def test_every_seeded_reference_record_maps() -> None:
    """The reference server's data is valid under our own mapping: the contract it shows
    suppliers is the one we enforce."""
    feeds: dict[str, mapping.FeedMapping[Any]] = {
        "staff": mapping.STAFF,
        "packages": mapping.PACKAGES,
        "visits": mapping.VISITS,
        "rota_changes": mapping.ROTA_CHANGES,
        "visit_events": mapping.VISIT_EVENTS,
    }
    for name, items in seed_records().items():
        page = page_of(feeds[name], {"data": items, "next_cursor": "c", "has_more": False})
        assert page.rejected == (), name
        assert len(page.records) == len(items)


# --------------------------------------------------------------------------------------------
# Precise refusals


def visits_with(index: int, change: dict[str, Any] | None = None, item: Any = None) -> Any:
    document = sample("visits_page.json")
    if item is not None:
        document["data"][index] = item
    else:
        document["data"][index].update(change or {})
    return document


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        (
            {"planned_start": "2026-06-15T09:00:00"},
            "planned_start",
            "not an ISO 8601 time with offset",
        ),
        (
            {"planned_start": "15/06/2026 09:00"},
            "planned_start",
            "not an ISO 8601 time with offset",
        ),
        ({"planned_start": "2026-06-15"}, "planned_start", "not an ISO 8601 time with offset"),
        ({"planned_start": 1781506800}, "planned_start", "not an ISO 8601 time with offset"),
        ({"planned_start": None}, "planned_start", "missing"),
        ({"planned_end": "2026-06-15T07:15:00Z"}, "planned_end", "not after planned_start"),
        (
            {"planned_end": "2026-06-16T07:16:00Z"},
            "planned_end",
            "more than 24 hours after planned_start",
        ),
        ({"carers": ["A", "B", "C"]}, "carers", "more than 2 carers"),
        ({"carers": [193]}, "carers[0]", "not a staff id"),
        ({"carers": ["EMP-0193", "EMP-0193"]}, "carers[1]", "EMP-0193 listed twice"),
        ({"carers": "EMP-0193"}, "carers", "not a list"),
        ({"status": "completed"}, "status", "not one of: scheduled, cancelled"),
        ({"time_critical": "yes"}, "time_critical", "not true or false"),
        ({"id": ""}, "id", "empty"),
        ({"id": "x" * 129}, "id", "longer than 128 characters"),
        ({"id": "V-1\n"}, "id", "contains control characters"),
        ({"package_id": 10447}, "package_id", "not a string"),
        ({"updated_at": None}, "updated_at", "missing"),
        (
            {"tasks": [{"code": "Medication!", "description": "x"}]},
            "tasks[0].code",
            "not a code (lower snake case, e.g. medication)",
        ),
        ({"tasks": [{"code": "meds"}]}, "tasks[0].description", "missing"),
        ({"tasks": ["meds"]}, "tasks[0]", "not a JSON object"),
    ],
)
def test_unmappable_visit_field_is_rejected_with_its_path(
    change: dict[str, Any], path: str, reason: str
) -> None:
    document = visits_with(1, change)
    page = page_of(mapping.VISITS, document)

    assert [visit.external_id for visit in page.records] == ["V-88213407", "V-88213420"]
    (rejected,) = page.rejected
    assert isinstance(rejected, UnmappablePayload)
    assert rejected.path == f"visits[1].{path}"
    assert rejected.reason == reason
    assert str(rejected) == f"visits[1].{path}: {reason}"
    assert rejected.item == document["data"][1]
    assert rejected.raw == page.raw.body
    assert rejected.source_system == SOURCE
    assert rejected.code == "UNMAPPABLE_PAYLOAD"


def test_an_item_that_is_not_an_object_is_rejected() -> None:
    page = page_of(mapping.VISITS, visits_with(2, item=["V-88213420"]))
    assert len(page.records) == 2
    assert [(r.path, r.reason) for r in page.rejected] == [("visits[2]", "not a JSON object")]


@pytest.mark.parametrize(
    ("document", "path", "reason"),
    [
        ([], "$", "not a JSON object"),
        ({"next_cursor": None, "has_more": False}, "$.data", "missing"),
        ({"data": {}, "next_cursor": None, "has_more": False}, "$.data", "not a list"),
        ({"data": [], "next_cursor": None}, "$.has_more", "missing"),
        ({"data": [], "next_cursor": None, "has_more": "no"}, "$.has_more", "not true or false"),
        ({"data": [], "next_cursor": 5, "has_more": False}, "$.next_cursor", "not a string"),
        (
            {"data": [], "next_cursor": None, "has_more": True},
            "$.next_cursor",
            "missing while has_more is true",
        ),
    ],
)
def test_broken_envelope_refuses_the_whole_page(document: Any, path: str, reason: str) -> None:
    with pytest.raises(UnmappablePayload) as caught:
        page_of(mapping.VISITS, document)
    assert (caught.value.path, caught.value.reason) == (path, reason)
    assert caught.value.raw == json.dumps(document).encode()
    assert caught.value.item is None


def staff_with(change: dict[str, Any]) -> Any:
    document = sample("staff_page.json")
    member = document["data"][0]
    for key, value in change.items():
        if key.startswith("competencies[1]."):
            member["competencies"][1][key.split(".", 1)[1]] = value
        else:
            member[key] = value
    return document


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        (
            {"competencies[1].status": "valid"},
            "competencies[1].status",
            "not one of: evidenced, revalidated, restricted, expired",
        ),
        (
            {"competencies[1].code": "medication"},
            "competencies[1].code",
            "medication listed twice",
        ),
        (
            {"competencies[1].expires_on": "2024-01-01"},
            "competencies[1].expires_on",
            "before evidenced_on",
        ),
        (
            {"competencies[1].evidenced_on": "03/09/2025"},
            "competencies[1].evidenced_on",
            "not an ISO 8601 date (YYYY-MM-DD)",
        ),
        (
            {"competencies[1].evidenced_on": "2025-02-30"},
            "competencies[1].evidenced_on",
            "not an ISO 8601 date (YYYY-MM-DD)",
        ),
        (
            {"role": "carer"},
            "role",
            "not one of: care_worker, senior_care_worker, nurse, coordinator, "
            "registered_manager, other",
        ),
        ({"active": 1}, "active", "not true or false"),
    ],
)
def test_unmappable_staff_field(change: dict[str, Any], path: str, reason: str) -> None:
    page = page_of(mapping.STAFF, staff_with(change))
    assert [member.external_id for member in page.records] == ["EMP-0207"]
    assert [(r.path, r.reason) for r in page.rejected] == [(f"staff[0].{path}", reason)]


PACKAGE = {
    "id": "PK-10442",
    "client_id": "CL-88120",
    "nhs_number": "943 476 5919",
    "status": "live",
    "start_date": "2026-03-30",
    "end_date": None,
    "weekly_hours": 10.5,
    "double_handed": False,
    "medication_support": "administer",
    "commissioner_reference": "LCC-HC-004211",
    "updated_at": "2026-06-01T10:00:00Z",
}


def packages(*items: dict[str, Any]) -> Any:
    return {"data": list(items), "next_cursor": "c", "has_more": False}


def test_package_maps_with_a_checked_nhs_number() -> None:
    (package,) = page_of(mapping.PACKAGES, packages(PACKAGE)).records
    assert package.person_external_id == "CL-88120"
    assert package.nhs_number == "9434765919"  # spaces removed
    assert package.nhs_number_check is not None
    assert package.nhs_number_check.status is NhsNumberStatus.VALID
    assert package.status is PackageStatus.LIVE
    assert package.weekly_hours == Decimal("10.5")
    assert package.medication_support is MedicationSupport.ADMINISTER
    assert package.end_date is None


@pytest.mark.parametrize(
    ("given", "stored", "status"),
    [
        ("9434765918", "9434765918", NhsNumberStatus.FAILED_CHECK),
        ("NHS-UNKNOWN", "NHS-UNKNOWN", NhsNumberStatus.MALFORMED),
        ("0000000000", "0000000000", NhsNumberStatus.MALFORMED),
    ],
)
def test_a_bad_nhs_number_is_kept_and_flagged_not_rejected(
    given: str, stored: str, status: NhsNumberStatus
) -> None:
    page = page_of(mapping.PACKAGES, packages({**PACKAGE, "nhs_number": given}))
    assert page.rejected == ()
    (package,) = page.records
    assert package.nhs_number == stored
    assert package.nhs_number_check is not None
    assert package.nhs_number_check.status is status


def test_package_without_nhs_number() -> None:
    (package,) = page_of(mapping.PACKAGES, packages({**PACKAGE, "nhs_number": None})).records
    assert (package.nhs_number, package.nhs_number_check) == (None, None)


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        ({"end_date": "2026-01-01"}, "end_date", "before start_date"),
        ({"weekly_hours": -1}, "weekly_hours", "not between 0 and 168"),
        ({"weekly_hours": True}, "weekly_hours", "not a number"),
        ({"weekly_hours": "10.5"}, "weekly_hours", "not a number"),
        (
            {"medication_support": "full"},
            "medication_support",
            "not one of: none, prompt, assist, administer",
        ),
        (
            {"status": "active"},
            "status",
            "not one of: referred, accepted, planned, live, suspended, ended",
        ),
    ],
)
def test_unmappable_package_field(change: dict[str, Any], path: str, reason: str) -> None:
    page = page_of(mapping.PACKAGES, packages({**PACKAGE, **change}))
    assert [(r.path, r.reason) for r in page.rejected] == [(f"packages[0].{path}", reason)]


EVENT = sample("visit_event_delivery.json")["data"]


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        ({"location": None}, "location", "required when method is gps"),
        (
            {"location": {"latitude": 91, "longitude": 0, "accuracy_m": 5}},
            "location.latitude",
            "not between -90 and 90",
        ),
        ({"location": {"latitude": 53.8, "longitude": -1.5}}, "location.accuracy_m", "missing"),
        ({"method": "bluetooth"}, "method", "not one of: gps, nfc, qr, telephony, manual"),
        ({"kind": "arrived"}, "kind", "not one of: check_in, check_out"),
        ({"recorded_at": "yesterday"}, "recorded_at", "not an ISO 8601 time with offset"),
    ],
)
def test_unmappable_visit_event_field(change: dict[str, Any], path: str, reason: str) -> None:
    document = {"data": [{**EVENT, **change}], "next_cursor": "c", "has_more": False}
    page = page_of(mapping.VISIT_EVENTS, document)
    assert [(r.path, r.reason) for r in page.rejected] == [(f"visit_events[0].{path}", reason)]


def test_manual_event_needs_no_location() -> None:
    item = {**EVENT, "method": "manual", "location": None, "recorded_at": None}
    (event,) = page_of(
        mapping.VISIT_EVENTS, {"data": [item], "next_cursor": "c", "has_more": False}
    ).records
    assert event.method is VerificationMethod.MANUAL
    assert (event.location, event.recorded_at) == (None, None)


ROTA = {
    "id": "RC-1",
    "visit_id": "V-88213407",
    "kind": "rescheduled",
    "staff_id": None,
    "new_planned_start": "2026-06-15T09:00:00+01:00",
    "new_planned_end": "2026-06-15T09:45:00+01:00",
    "reason": "GP appointment",
    "changed_at": "2026-06-14T18:00:00Z",
    "updated_at": "2026-06-14T18:00:01Z",
}


def test_reschedule_maps() -> None:
    document = {"data": [ROTA], "next_cursor": "c", "has_more": False}
    (change,) = page_of(mapping.ROTA_CHANGES, document).records
    assert change.kind is RotaChangeKind.RESCHEDULED
    assert change.new_planned_start == datetime(2026, 6, 15, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        ({"kind": "carer_assigned"}, "staff_id", "required when kind is carer_assigned"),
        ({"kind": "carer_unassigned"}, "staff_id", "required when kind is carer_unassigned"),
        ({"new_planned_end": None}, "new_planned_end", "required when kind is rescheduled"),
        (
            {"new_planned_end": "2026-06-15T07:00:00Z"},
            "new_planned_end",
            "not after new_planned_start",
        ),
    ],
)
def test_unmappable_rota_change(change: dict[str, Any], path: str, reason: str) -> None:
    document = {"data": [{**ROTA, **change}], "next_cursor": "c", "has_more": False}
    page = page_of(mapping.ROTA_CHANGES, document)
    assert [(r.path, r.reason) for r in page.rejected] == [(f"rota_changes[0].{path}", reason)]


def test_mapping_never_changes_the_input() -> None:
    document = sample("visits_page.json")
    before = copy.deepcopy(document)
    page_of(mapping.VISITS, document)
    assert document == before
