"""Command bodies: frozen per version, decoded from the command as received.

The GraphQL `CommandBody` is a `@oneOf` input whose members are versioned (`checkInV1`,
`checkInV2`, …). A member, once shipped, never changes: an outbox written by an older app must
still drain after the app (or the hub) is upgraded. A change is a new member, and the hub keeps a
decoder for every member any supported app can still send (`DECODERS`), each naming the protocol
version that introduced it. A member newer than the upload's protocol is refused as
`UNKNOWN_BODY_VERSION`.

Decoding works on the canonical command object (`hub.mobile.canonical`) — the same object that
is stored and hashed — so a quarantined command can be read, and decoded again, exactly as it
arrived. Everything a decoder refuses is a per-command `QUARANTINED` answer, never a refused
upload: one bad command must not wedge the queue behind it.

Members (protocol 1 unless said):

| member | becomes | notes |
|---|---|---|
| checkInV1, checkInV2 (protocol 2) | CheckIn | V2 adds `note` |
| checkOutV1 | CheckOut | |
| taskConfirmationV1 | TaskConfirmation | outcome DONE / NOT_DONE (reason) / REFUSED |
| nutritionV1, hydrationV1, fallV1, skinV1, painScoreV1, moodV1 | Observation | one per kind |
| concernV1 | Concern | `safeguarding: true` for a safeguarding report |
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from hub.errors import HubError, InvalidInput
from hub.graphql.ids import expect_global_id
from hub.mobile.clock import DeviceTime
from hub.visits.facts import ObservationKind, TaskOutcome, Verification, VerificationMethod

_T = TypeVar("_T")


class CommandRejected(HubError):
    """A command that cannot be applied as sent; it is quarantined with `code`."""

    code = "VALIDATION_FAILED"


class UnknownBodyVersion(CommandRejected):
    code = "UNKNOWN_BODY_VERSION"


class CommandTooLarge(CommandRejected):
    """One command over the upload's byte cap: no smaller batch would ever carry it."""

    code = "COMMAND_TOO_LARGE"


# --- what bodies become ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckIn:
    visit_id: uuid.UUID
    verification: Verification
    note: str | None = None


@dataclass(frozen=True, slots=True)
class CheckOut:
    visit_id: uuid.UUID
    verification: Verification


@dataclass(frozen=True, slots=True)
class TaskConfirmation:
    visit_id: uuid.UUID
    task_index: int
    outcome: TaskOutcome
    reason: str | None


@dataclass(frozen=True, slots=True)
class Observation:
    visit_id: uuid.UUID
    kind: ObservationKind
    values: dict[str, Any]
    note: str | None


@dataclass(frozen=True, slots=True)
class Concern:
    visit_id: uuid.UUID
    category: str
    safeguarding: bool
    description: str


Body = CheckIn | CheckOut | TaskConfirmation | Observation | Concern


@dataclass(frozen=True, slots=True)
class DecodedCommand:
    """A command ready to apply: its body, when the device says it happened, what it corrects."""

    body_type: str
    body: Body
    occurred_at: DeviceTime
    supersedes: uuid.UUID | None


# --- reading canonical values ------------------------------------------------------------------


class _Reader:
    """Typed access to one JSON object; every failure names the field path."""

    def __init__(self, value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            raise CommandRejected(f"{path}: must be an object")
        self.value = value
        self.path = path

    def _raw(self, name: str, required: bool) -> Any:
        raw = self.value.get(name)
        if raw is None and required:
            raise CommandRejected(f"{self.path}.{name}: is required")
        return raw

    def text(self, name: str, *, required: bool = True) -> str | None:
        raw = self._raw(name, required)
        if raw is not None and not isinstance(raw, str):
            raise CommandRejected(f"{self.path}.{name}: must be text")
        return raw

    def required_text(self, name: str) -> str:
        found = self.text(name)
        assert found is not None
        return found

    def integer(self, name: str, *, required: bool = True) -> int | None:
        raw = self._raw(name, required)
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | float) or raw != int(raw):
            raise CommandRejected(f"{self.path}.{name}: must be a whole number")
        return int(raw)

    def number(self, name: str) -> float | None:
        raw = self._raw(name, False)
        if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int | float)):
            raise CommandRejected(f"{self.path}.{name}: must be a number")
        return float(raw) if raw is not None else None

    def boolean(self, name: str, *, required: bool = True) -> bool | None:
        raw = self._raw(name, required)
        if raw is not None and not isinstance(raw, bool):
            raise CommandRejected(f"{self.path}.{name}: must be true or false")
        return raw

    def time(self, name: str, *, required: bool = True) -> datetime | None:
        raw = self.text(name, required=required)
        if raw is None:
            return None
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise CommandRejected(f"{self.path}.{name}: is not a date-time") from exc
        if parsed.tzinfo is None:
            raise CommandRejected(f"{self.path}.{name}: must carry a timezone offset")
        return parsed

    def choice(self, name: str, choices: Mapping[str, Any]) -> Any:
        raw = self.required_text(name)
        if raw not in choices:
            raise CommandRejected(f"{self.path}.{name}: must be one of {', '.join(choices)}")
        return choices[raw]

    def visit_id(self) -> uuid.UUID:
        try:
            return expect_global_id(self.required_text("visitId"), "Visit", field="visitId")
        except InvalidInput as exc:
            raise CommandRejected(f"{self.path}.visitId: {exc.reason}") from exc

    def child(self, name: str) -> _Reader:
        return _Reader(self._raw(name, True), f"{self.path}.{name}")


def _guarded(make: Callable[[], _T]) -> _T:
    """Run a constructor whose own checks raise InvalidInput; report them as a rejection."""
    try:
        return make()
    except InvalidInput as exc:
        raise CommandRejected(f"{exc.field}: {exc.reason}") from exc


# --- decoders, one per frozen member ------------------------------------------------------------

_METHODS = {
    "GPS": VerificationMethod.GPS,
    "NFC": VerificationMethod.NFC,
    "QR": VerificationMethod.QR,
    "MANUAL": VerificationMethod.MANUAL,
}
_OUTCOMES = {
    "DONE": TaskOutcome.DONE,
    "NOT_DONE": TaskOutcome.NOT_DONE,
    "REFUSED": TaskOutcome.REFUSED,
}


def _verification_v1(body: _Reader) -> Verification:
    found = body.child("verification")
    return _guarded(
        lambda: Verification(
            method=found.choice("method", _METHODS),
            latitude=found.number("latitude"),
            longitude=found.number("longitude"),
            accuracy_m=found.number("accuracyM"),
            is_mock=bool(found.boolean("isMock", required=False)),
            provider=found.text("provider", required=False),
            fix_age_ms=found.integer("fixAgeMs", required=False),
            tag=found.text("tag", required=False),
            manual_reason=found.text("manualReason", required=False),
        )
    )


def _check_in_v1(body: _Reader) -> Body:
    return CheckIn(visit_id=body.visit_id(), verification=_verification_v1(body))


def _check_in_v2(body: _Reader) -> Body:
    return CheckIn(
        visit_id=body.visit_id(),
        verification=_verification_v1(body),
        note=body.text("note", required=False),
    )


def _check_out_v1(body: _Reader) -> Body:
    return CheckOut(visit_id=body.visit_id(), verification=_verification_v1(body))


def _task_confirmation_v1(body: _Reader) -> Body:
    index = body.integer("taskIndex")
    assert index is not None
    return TaskConfirmation(
        visit_id=body.visit_id(),
        task_index=index,
        outcome=body.choice("outcome", _OUTCOMES),
        reason=body.text("reason", required=False),
    )


def _int(body: _Reader, name: str) -> Any:
    return body.integer(name, required=False)


def _bool(body: _Reader, name: str) -> Any:
    return body.boolean(name, required=False)


def _text(body: _Reader, name: str) -> Any:
    return body.text(name, required=False)


def _enum(body: _Reader, name: str) -> Any:
    # GraphQL enum names (HALF, LOW) are the facts' lower-case words.
    raw = body.text(name, required=False)
    return raw.lower() if raw is not None else None


_ValueReader = Callable[[_Reader, str], Any]


def _observation(
    kind: ObservationKind, fields: Mapping[str, tuple[str, _ValueReader]]
) -> Callable[[_Reader], Body]:
    """A decoder for a per-kind observation member: `fields` maps each GraphQL field to the
    observation's value key and how to read it. Required values are checked by
    `hub.visits.facts.check_observation`, the one rule for every source."""

    def decode(body: _Reader) -> Body:
        values: dict[str, Any] = {}
        for graphql_name, (key, read) in fields.items():
            value = read(body, graphql_name)
            if value is not None:
                values[key] = value
        return Observation(
            visit_id=body.visit_id(),
            kind=kind,
            values=values,
            note=body.text("note", required=False),
        )

    return decode


def _concern_v1(body: _Reader) -> Body:
    category = body.required_text("category").lower()
    return Concern(
        visit_id=body.visit_id(),
        category=category,
        safeguarding=bool(body.boolean("safeguarding")),
        description=body.required_text("description"),
    )


@dataclass(frozen=True, slots=True)
class Decoder:
    since_protocol: int
    decode: Callable[[_Reader], Body]


DECODERS: Mapping[str, Decoder] = {
    "checkInV1": Decoder(1, _check_in_v1),
    "checkInV2": Decoder(2, _check_in_v2),
    "checkOutV1": Decoder(1, _check_out_v1),
    "taskConfirmationV1": Decoder(1, _task_confirmation_v1),
    "nutritionV1": Decoder(
        1,
        _observation(
            ObservationKind.NUTRITION,
            {"portionEaten": ("portion_eaten", _enum), "meal": ("meal", _text)},
        ),
    ),
    "hydrationV1": Decoder(
        1, _observation(ObservationKind.HYDRATION, {"fluidMl": ("fluid_ml", _int)})
    ),
    "fallV1": Decoder(
        1,
        _observation(
            ObservationKind.FALL,
            {
                "injury": ("injury", _bool),
                "witnessed": ("witnessed", _bool),
                "emergencyServicesCalled": ("emergency_services_called", _bool),
            },
        ),
    ),
    "skinV1": Decoder(
        1,
        _observation(
            ObservationKind.SKIN,
            {"concern": ("concern", _bool), "bodyLocation": ("body_location", _text)},
        ),
    ),
    "painScoreV1": Decoder(
        1,
        _observation(
            ObservationKind.PAIN,
            {"score": ("score", _int), "location": ("location", _text)},
        ),
    ),
    "moodV1": Decoder(1, _observation(ObservationKind.MOOD, {"mood": ("mood", _enum)})),
    "concernV1": Decoder(1, _concern_v1),
}


def device_time(reader: _Reader) -> DeviceTime:
    wall = reader.time("wall")
    assert wall is not None
    offset = reader.integer("tzOffsetMin")
    monotonic = reader.integer("monotonicMs")
    assert offset is not None
    assert monotonic is not None
    return _guarded(
        lambda: DeviceTime(
            wall=wall,
            tz_offset_min=offset,
            boot_id=reader.required_text("bootId"),
            monotonic_ms=monotonic,
            trusted=reader.time("trusted", required=False),
            trusted_err_ms=reader.integer("trustedErrMs", required=False),
        )
    )


def decode_command(payload: Mapping[str, Any], protocol_version: int) -> DecodedCommand:
    """The command's body, device time and correction target, or `CommandRejected`."""
    command = _Reader(payload, "command")
    body = command.child("body")
    members = [name for name, value in body.value.items() if value is not None]
    if len(members) != 1:
        raise CommandRejected("command.body: must have exactly one member")
    [member] = members
    decoder = DECODERS.get(member)
    if decoder is None or decoder.since_protocol > protocol_version:
        raise UnknownBodyVersion(
            f"command.body.{member}: not a body this hub decodes under protocol {protocol_version}"
        )
    supersedes_raw = command.text("supersedes", required=False)
    try:
        supersedes = uuid.UUID(supersedes_raw) if supersedes_raw is not None else None
    except ValueError as exc:
        raise CommandRejected("command.supersedes: is not a UUID") from exc
    return DecodedCommand(
        body_type=member,
        body=decoder.decode(body.child(member)),
        occurred_at=device_time(command.child("occurredAt")),
        supersedes=supersedes,
    )


def is_uuid7(value: uuid.UUID) -> bool:
    return value.version == 7
