"""Supplier REST JSON → canonical supplier records, with precise reasons when it cannot be done.

The JSON shapes are those of `openapi.yaml` beside this file. Mapping is strict where the hub
acts on the value (times, ids, statuses, NHS numbers, coordinates) and lenient where strictness
buys nothing: unknown properties are ignored, so a supplier can add fields without breaking us.

Every refusal names the exact value and why, as `path: reason`:

    visits[3].planned_start: not an ISO 8601 time with offset
    staff[0].competencies[1].status: not one of: evidenced, revalidated, restricted, expired
    $.next_cursor: not a string or null
    $.data.location: required when method is gps          (inside a webhook delivery)

`$` is the whole document; list items are named by their feed (`visits[3]`), which is the name
an office person sees in the supplier's own screens. The reasons are a fixed vocabulary so the
hub can group data-quality cases by them.

Page policy: a broken envelope (not JSON, no `data` list, bad cursor) refuses the whole page,
since the cursor cannot be trusted; a broken *record* is returned in `Page.rejected` with the
raw body and the offending item, and the rest of the page is mapped. One bad visit must not
hold up every other visit's updates, and must not vanish either.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Generic, TypeVar

from connectors.base import JsonValue, Page, RawPayload, UnmappablePayload
from connectors.records.supplier import (
    CarePackageSummary,
    Competency,
    CompetencyStatus,
    GeoLocation,
    MedicationSupport,
    PackageStatus,
    RotaChange,
    RotaChangeKind,
    StaffMember,
    StaffRole,
    VerificationMethod,
    Visit,
    VisitEvent,
    VisitEventKind,
    VisitPlanStatus,
    VisitTask,
)
from connectors.standards.nhs_number import check_nhs_number

RecordT = TypeVar("RecordT")
EnumT = TypeVar("EnumT", bound=StrEnum)

MAX_ID_CHARS = 128
MAX_CURSOR_CHARS = 1024
MAX_CARERS = 2
MAX_VISIT_LENGTH = timedelta(hours=24)
"""Longer than a day is live-in care, not a visit (the hub's visits domain agrees)."""

VISIT_EVENT_DELIVERY = "visit_event.recorded"

_CODE = re.compile(r"[a-z][a-z0-9_]{1,63}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class MappingFault(Exception):
    """One value that cannot be mapped: where it is and why. Internal; the page and webhook
    mappers turn it into an `UnmappablePayload` that also carries the raw payload."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class _Missing:
    pass


_MISSING = _Missing()


class Fields:
    """Typed reads from one JSON object, each failing with the value's full path."""

    def __init__(self, value: JsonValue, path: str) -> None:
        if not isinstance(value, dict):
            raise MappingFault(path, "not a JSON object")
        self._data = value
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def _required(self, key: str) -> JsonValue:
        value = self._data.get(key)
        if value is None:
            raise MappingFault(self.at(key), "missing")
        return value

    def _optional(self, key: str) -> JsonValue | _Missing:
        value = self._data.get(key)
        return _MISSING if value is None else value

    def raw(self, key: str) -> JsonValue:
        """The value as it is, unchecked (for a nested document mapped elsewhere)."""
        return self._required(key)

    def _text(self, key: str, value: JsonValue, max_chars: int) -> str:
        if not isinstance(value, str):
            raise MappingFault(self.at(key), "not a string")
        if not value.strip():
            raise MappingFault(self.at(key), "empty")
        if len(value) > max_chars:
            raise MappingFault(self.at(key), f"longer than {max_chars} characters")
        if _CONTROL.search(value):
            raise MappingFault(self.at(key), "contains control characters")
        return value

    def text(self, key: str, *, max_chars: int = 200) -> str:
        return self._text(key, self._required(key), max_chars)

    def optional_text(self, key: str, *, max_chars: int = 200) -> str | None:
        value = self._optional(key)
        return None if isinstance(value, _Missing) else self._text(key, value, max_chars)

    def identifier(self, key: str) -> str:
        return self.text(key, max_chars=MAX_ID_CHARS)

    def optional_identifier(self, key: str) -> str | None:
        return self.optional_text(key, max_chars=MAX_ID_CHARS)

    def code(self, key: str) -> str:
        value = self.text(key, max_chars=64)
        if not _CODE.fullmatch(value):
            raise MappingFault(self.at(key), "not a code (lower snake case, e.g. medication)")
        return value

    def optional_code(self, key: str) -> str | None:
        return None if isinstance(self._optional(key), _Missing) else self.code(key)

    def boolean(self, key: str) -> bool:
        value = self._required(key)
        if not isinstance(value, bool):
            raise MappingFault(self.at(key), "not true or false")
        return value

    def number(self, key: str, *, low: float, high: float) -> float:
        value = self._required(key)
        # bool is an int in Python but not a number in JSON.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MappingFault(self.at(key), "not a number")
        if not low <= value <= high:
            raise MappingFault(self.at(key), f"not between {low:g} and {high:g}")
        return float(value)

    def decimal(self, key: str, *, low: float, high: float) -> Decimal:
        # Through repr() so 10.5 becomes Decimal("10.5"), not the float's binary expansion.
        return Decimal(repr(self.number(key, low=low, high=high)))

    def instant(self, key: str) -> datetime:
        return parse_instant(self._required(key), self.at(key))

    def optional_instant(self, key: str) -> datetime | None:
        value = self._optional(key)
        return None if isinstance(value, _Missing) else parse_instant(value, self.at(key))

    def day(self, key: str) -> date:
        return self._day(key, self._required(key))

    def optional_day(self, key: str) -> date | None:
        value = self._optional(key)
        return None if isinstance(value, _Missing) else self._day(key, value)

    def _day(self, key: str, value: JsonValue) -> date:
        if isinstance(value, str) and _DATE.fullmatch(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise MappingFault(self.at(key), "not an ISO 8601 date (YYYY-MM-DD)")

    def choice(self, key: str, options: type[EnumT]) -> EnumT:
        value = self._required(key)
        allowed = [member.value for member in options]
        if not isinstance(value, str) or value not in allowed:
            raise MappingFault(self.at(key), "not one of: " + ", ".join(allowed))
        return options(value)

    def items(self, key: str, *, required: bool = True) -> Iterator[tuple[JsonValue, str]]:
        """Each element of a list with its path; a missing optional list is empty."""
        value = self._required(key) if required else self._optional(key)
        if isinstance(value, _Missing):
            return
        if not isinstance(value, list):
            raise MappingFault(self.at(key), "not a list")
        for index, element in enumerate(value):
            yield element, f"{self.at(key)}[{index}]"

    def nested(self, key: str) -> Fields | None:
        value = self._optional(key)
        return None if isinstance(value, _Missing) else Fields(value, self.at(key))


def parse_instant(value: JsonValue, path: str) -> datetime:
    """An ISO 8601 date-time with a UTC offset, as aware UTC. A time without an offset is
    refused: it is ambiguous twice a year in Europe/London."""
    if not isinstance(value, str) or len(value) > 64 or "T" not in value.upper():
        raise MappingFault(path, "not an ISO 8601 time with offset")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise MappingFault(path, "not an ISO 8601 time with offset") from None
    offset = parsed.utcoffset()
    if offset is None:
        raise MappingFault(path, "not an ISO 8601 time with offset")
    return parsed.astimezone(UTC)


# --------------------------------------------------------------------------------------------
# One mapper per record type: (item, path, source_system) → record, or MappingFault.


def map_staff_member(item: JsonValue, path: str, source_system: str) -> StaffMember:
    fields = Fields(item, path)
    competencies = []
    seen: set[str] = set()
    for element, element_path in fields.items("competencies", required=False):
        entry = Fields(element, element_path)
        code = entry.code("code")
        if code in seen:
            raise MappingFault(entry.at("code"), f"{code} listed twice")
        seen.add(code)
        evidenced_on = entry.optional_day("evidenced_on")
        expires_on = entry.optional_day("expires_on")
        if evidenced_on and expires_on and expires_on < evidenced_on:
            raise MappingFault(entry.at("expires_on"), "before evidenced_on")
        competencies.append(
            Competency(
                code=code,
                status=entry.choice("status", CompetencyStatus),
                evidenced_on=evidenced_on,
                expires_on=expires_on,
            )
        )
    return StaffMember(
        source_system=source_system,
        external_id=fields.identifier("id"),
        source_updated_at=fields.instant("updated_at"),
        given_name=fields.text("given_name", max_chars=100),
        family_name=fields.text("family_name", max_chars=100),
        role=fields.choice("role", StaffRole),
        active=fields.boolean("active"),
        competencies=tuple(competencies),
    )


def map_care_package(item: JsonValue, path: str, source_system: str) -> CarePackageSummary:
    fields = Fields(item, path)
    given_nhs_number = fields.optional_text("nhs_number", max_chars=32)
    nhs_check = None if given_nhs_number is None else check_nhs_number(given_nhs_number)
    start_date = fields.day("start_date")
    end_date = fields.optional_day("end_date")
    if end_date is not None and end_date < start_date:
        raise MappingFault(fields.at("end_date"), "before start_date")
    return CarePackageSummary(
        source_system=source_system,
        external_id=fields.identifier("id"),
        source_updated_at=fields.instant("updated_at"),
        person_external_id=fields.identifier("client_id"),
        nhs_number=None if nhs_check is None else nhs_check.normalised or nhs_check.given,
        nhs_number_check=nhs_check,
        status=fields.choice("status", PackageStatus),
        start_date=start_date,
        end_date=end_date,
        weekly_hours=fields.decimal("weekly_hours", low=0, high=168),
        double_handed=fields.boolean("double_handed"),
        medication_support=fields.choice("medication_support", MedicationSupport),
        commissioner_reference=fields.optional_identifier("commissioner_reference"),
    )


def map_visit(item: JsonValue, path: str, source_system: str) -> Visit:
    fields = Fields(item, path)
    planned_start = fields.instant("planned_start")
    planned_end = fields.instant("planned_end")
    if planned_end <= planned_start:
        raise MappingFault(fields.at("planned_end"), "not after planned_start")
    if planned_end - planned_start > MAX_VISIT_LENGTH:
        raise MappingFault(fields.at("planned_end"), "more than 24 hours after planned_start")
    carers: list[str] = []
    for element, element_path in fields.items("carers"):
        if not isinstance(element, str) or not element.strip() or len(element) > MAX_ID_CHARS:
            raise MappingFault(element_path, "not a staff id")
        if element in carers:
            raise MappingFault(element_path, f"{element} listed twice")
        carers.append(element)
    if len(carers) > MAX_CARERS:
        raise MappingFault(fields.at("carers"), f"more than {MAX_CARERS} carers")
    tasks = []
    for element, element_path in fields.items("tasks", required=False):
        task = Fields(element, element_path)
        tasks.append(
            VisitTask(
                code=task.code("code"),
                description=task.text("description", max_chars=500),
                requires_competency=task.optional_code("requires_competency"),
            )
        )
    return Visit(
        source_system=source_system,
        external_id=fields.identifier("id"),
        source_updated_at=fields.instant("updated_at"),
        package_external_id=fields.identifier("package_id"),
        planned_start=planned_start,
        planned_end=planned_end,
        status=fields.choice("status", VisitPlanStatus),
        time_critical=fields.boolean("time_critical"),
        carer_external_ids=tuple(carers),
        tasks=tuple(tasks),
    )


def map_visit_event(item: JsonValue, path: str, source_system: str) -> VisitEvent:
    fields = Fields(item, path)
    method = fields.choice("method", VerificationMethod)
    location = None
    nested = fields.nested("location")
    if nested is not None:
        location = GeoLocation(
            latitude=nested.number("latitude", low=-90, high=90),
            longitude=nested.number("longitude", low=-180, high=180),
            accuracy_m=nested.number("accuracy_m", low=0, high=100_000),
        )
    elif method is VerificationMethod.GPS:
        raise MappingFault(fields.at("location"), "required when method is gps")
    return VisitEvent(
        source_system=source_system,
        external_id=fields.identifier("id"),
        source_updated_at=fields.instant("updated_at"),
        visit_external_id=fields.identifier("visit_id"),
        carer_external_id=fields.identifier("staff_id"),
        kind=fields.choice("kind", VisitEventKind),
        occurred_at=fields.instant("occurred_at"),
        recorded_at=fields.optional_instant("recorded_at"),
        method=method,
        location=location,
    )


def map_rota_change(item: JsonValue, path: str, source_system: str) -> RotaChange:
    fields = Fields(item, path)
    kind = fields.choice("kind", RotaChangeKind)
    carer = fields.optional_identifier("staff_id")
    if kind in (RotaChangeKind.CARER_ASSIGNED, RotaChangeKind.CARER_UNASSIGNED) and not carer:
        raise MappingFault(fields.at("staff_id"), f"required when kind is {kind.value}")
    new_start = fields.optional_instant("new_planned_start")
    new_end = fields.optional_instant("new_planned_end")
    if kind is RotaChangeKind.RESCHEDULED:
        if new_start is None:
            raise MappingFault(fields.at("new_planned_start"), "required when kind is rescheduled")
        if new_end is None:
            raise MappingFault(fields.at("new_planned_end"), "required when kind is rescheduled")
        if new_end <= new_start:
            raise MappingFault(fields.at("new_planned_end"), "not after new_planned_start")
    return RotaChange(
        source_system=source_system,
        external_id=fields.identifier("id"),
        source_updated_at=fields.instant("updated_at"),
        visit_external_id=fields.identifier("visit_id"),
        kind=kind,
        carer_external_id=carer,
        new_planned_start=new_start,
        new_planned_end=new_end,
        reason=fields.optional_text("reason", max_chars=500),
        changed_at=fields.instant("changed_at"),
    )


# --------------------------------------------------------------------------------------------
# Documents: a page of a feed, a webhook delivery


@dataclass(frozen=True, slots=True)
class FeedMapping(Generic[RecordT]):
    """A feed's name (also the path prefix of its items) and its item mapper."""

    name: str
    map_item: Callable[[JsonValue, str, str], RecordT]


STAFF = FeedMapping("staff", map_staff_member)
PACKAGES = FeedMapping("packages", map_care_package)
VISITS = FeedMapping("visits", map_visit)
ROTA_CHANGES = FeedMapping("rota_changes", map_rota_change)
VISIT_EVENTS = FeedMapping("visit_events", map_visit_event)


def map_page(feed: FeedMapping[RecordT], raw: RawPayload, document: JsonValue) -> Page[RecordT]:
    """Map one page `{"data": [...], "next_cursor": ..., "has_more": ...}`.

    Raises `UnmappablePayload` (path under `$`) when the envelope is wrong; returns unmappable
    items in `Page.rejected`, each with its own path and the item itself.
    """
    try:
        envelope = Fields(document, "$")
        elements = list(envelope.items("data"))
        has_more = envelope.boolean("has_more")
        next_cursor = envelope.optional_text("next_cursor", max_chars=MAX_CURSOR_CHARS)
        if has_more and next_cursor is None:
            raise MappingFault("$.next_cursor", "missing while has_more is true")
    except MappingFault as fault:
        raise UnmappablePayload(payload=raw, path=fault.path, reason=fault.reason) from None
    records: list[RecordT] = []
    rejected: list[UnmappablePayload] = []
    for index, (element, _) in enumerate(elements):
        try:
            records.append(feed.map_item(element, f"{feed.name}[{index}]", raw.source_system))
        except MappingFault as fault:
            rejected.append(
                UnmappablePayload(payload=raw, path=fault.path, reason=fault.reason, item=element)
            )
    return Page(
        records=tuple(records),
        rejected=tuple(rejected),
        next_cursor=next_cursor,
        has_more=has_more,
        raw=raw,
    )


@dataclass(frozen=True, slots=True)
class DeliveryEnvelope:
    """The parts of a webhook delivery needed before the replay claim."""

    delivery_id: str
    type: str
    data: JsonValue


def read_delivery_envelope(raw: RawPayload, document: JsonValue) -> DeliveryEnvelope:
    """`{"delivery_id": ..., "type": "visit_event.recorded", "data": {...}}`, or
    `UnmappablePayload` at the envelope's path."""
    try:
        envelope = Fields(document, "$")
        delivery_id = envelope.identifier("delivery_id")
        kind = envelope.text("type", max_chars=64)
        if kind != VISIT_EVENT_DELIVERY:
            raise MappingFault("$.type", f"not one of: {VISIT_EVENT_DELIVERY}")
        data = envelope.raw("data")
    except MappingFault as fault:
        raise UnmappablePayload(payload=raw, path=fault.path, reason=fault.reason) from None
    return DeliveryEnvelope(delivery_id=delivery_id, type=kind, data=data)


def map_visit_event_delivery(raw: RawPayload, envelope: DeliveryEnvelope) -> VisitEvent:
    """The visit event inside a verified, claimed delivery."""
    try:
        return map_visit_event(envelope.data, "$.data", raw.source_system)
    except MappingFault as fault:
        raise UnmappablePayload(
            payload=raw,
            path=fault.path,
            reason=fault.reason,
            item=envelope.data,
            delivery_id=envelope.delivery_id,
        ) from None
