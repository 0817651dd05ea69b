"""GraphQL inputs of the mobile field API.

The command body is a `@oneOf` input of **frozen, versioned members**: a member the app has
shipped is never changed, only added to (`checkInV2` beside `checkInV1`), so an old outbox
always decodes (`hub.mobile.commands.DECODERS`). These inputs do no validation of their own:
each command is turned into its canonical object (`canonical_command`) and decoded by the
service, so a bad command is quarantined on its own instead of failing the whole upload.
"""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLSchema
from strawberry.scalars import JSON
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryOptional,
    get_object_definition,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.utils.str_converters import to_camel_case

from hub.errors import InvalidInput
from hub.mobile.canonical import canonical_time
from hub.mobile.clock import DeviceTime
from hub.mobile.coercion import check_command
from hub.mobile.devices import OutboxReport
from hub.mobile.models import ResolutionOutcome as OutcomeValue
from hub.mobile.upload import IncomingCommand, Upload
from hub.visits.models import PresenceTagKind as TagKindValue


@strawberry.input(
    description="A reading of the device's clocks. `monotonicMs` is milliseconds since the "
    "boot named by `bootId` (a Float because GraphQL's Int stops at 24.8 days); `trusted` is a "
    "network-trusted time for the same instant, if the device has one."
)
class DeviceTimeInput:
    wall: datetime = strawberry.field(description="The device's wall clock, with its offset.")
    tz_offset_min: int = strawberry.field(description="The device's timezone offset, minutes.")
    boot_id: str
    monotonic_ms: float
    trusted: datetime | None = None
    trusted_err_ms: int | None = None


@strawberry.enum(description="How presence at the person's home was verified.")
class VerificationMethod(Enum):
    GPS = "gps"
    NFC = "nfc"
    QR = "qr"
    MANUAL = "manual"


@strawberry.input(
    description="Evidence of presence at check-in or check-out (frozen, version 1). GPS: "
    "latitude, longitude, accuracyM (and isMock, provider, fixAgeMs as the phone reports "
    "them). NFC/QR: the scanned tag UID or token in `tag`. MANUAL: `manualReason`."
)
class VerificationV1:
    method: VerificationMethod
    latitude: float | None = None
    longitude: float | None = None
    accuracy_m: float | None = None
    is_mock: bool | None = None
    provider: str | None = None
    fix_age_ms: int | None = None
    tag: str | None = None
    manual_reason: str | None = None


@strawberry.input(description="Check in at a visit (frozen, protocol 1).")
class CheckInV1:
    visit_id: strawberry.ID
    verification: VerificationV1


@strawberry.input(description="Check in at a visit, with a note (frozen, protocol 2).")
class CheckInV2:
    visit_id: strawberry.ID
    verification: VerificationV1
    note: str | None = None


@strawberry.input(description="Check out of a visit (frozen, protocol 1).")
class CheckOutV1:
    visit_id: strawberry.ID
    verification: VerificationV1


@strawberry.enum(description="What became of a planned task.")
class TaskOutcome(Enum):
    DONE = "done"
    NOT_DONE = "not_done"
    REFUSED = "refused"


@strawberry.input(
    description="Confirm a planned task by its position in the visit's task list (frozen, "
    "protocol 1). NOT_DONE needs a reason."
)
class TaskConfirmationV1:
    visit_id: strawberry.ID
    task_index: int
    outcome: TaskOutcome
    reason: str | None = None


@strawberry.enum(description="How much of a meal was eaten.")
class PortionEaten(Enum):
    ALL = "all"
    MOST = "most"
    HALF = "half"
    LITTLE = "little"
    NONE = "none"
    REFUSED = "refused"


@strawberry.input(description="Nutrition observation (frozen, protocol 1).")
class NutritionV1:
    visit_id: strawberry.ID
    portion_eaten: PortionEaten
    meal: str | None = None
    note: str | None = None


@strawberry.input(description="Hydration observation: fluid taken, in ml (frozen, protocol 1).")
class HydrationV1:
    visit_id: strawberry.ID
    fluid_ml: int
    note: str | None = None


@strawberry.input(description="A fall (frozen, protocol 1).")
class FallV1:
    visit_id: strawberry.ID
    injury: bool
    witnessed: bool | None = None
    emergency_services_called: bool | None = None
    note: str | None = None


@strawberry.input(description="Skin check (frozen, protocol 1).")
class SkinV1:
    visit_id: strawberry.ID
    concern: bool
    body_location: str | None = None
    note: str | None = None


@strawberry.input(description="Pain score 0-10 (frozen, protocol 1).")
class PainScoreV1:
    visit_id: strawberry.ID
    score: int
    location: str | None = None
    note: str | None = None


@strawberry.enum(description="The person's mood as the carer saw it.")
class Mood(Enum):
    GOOD = "good"
    OKAY = "okay"
    LOW = "low"
    ANXIOUS = "anxious"
    AGITATED = "agitated"
    WITHDRAWN = "withdrawn"
    CONFUSED = "confused"


@strawberry.input(description="Mood observation (frozen, protocol 1).")
class MoodV1:
    visit_id: strawberry.ID
    mood: Mood
    note: str | None = None


@strawberry.enum(description="What a concern is about.")
class ConcernCategory(Enum):
    SAFEGUARDING = "safeguarding"
    HEALTH = "health"
    MEDICATION = "medication"
    ENVIRONMENT = "environment"
    BEHAVIOUR = "behaviour"
    OTHER = "other"


@strawberry.input(
    description="A concern raised at a visit; `safeguarding: true` makes it a safeguarding "
    "report (frozen, protocol 1)."
)
class ConcernV1:
    visit_id: strawberry.ID
    category: ConcernCategory
    safeguarding: bool
    description: str


@strawberry.input(
    one_of=True,
    description="Exactly one body. Members are frozen: a change is a new member (V2), and "
    "every member a supported app can send keeps decoding.",
)
class CommandBody:
    check_in_v1: CheckInV1 | None = strawberry.UNSET
    check_in_v2: CheckInV2 | None = strawberry.UNSET
    check_out_v1: CheckOutV1 | None = strawberry.UNSET
    task_confirmation_v1: TaskConfirmationV1 | None = strawberry.UNSET
    nutrition_v1: NutritionV1 | None = strawberry.UNSET
    hydration_v1: HydrationV1 | None = strawberry.UNSET
    fall_v1: FallV1 | None = strawberry.UNSET
    skin_v1: SkinV1 | None = strawberry.UNSET
    pain_score_v1: PainScoreV1 | None = strawberry.UNSET
    mood_v1: MoodV1 | None = strawberry.UNSET
    concern_v1: ConcernV1 | None = strawberry.UNSET


@strawberry.input(
    description="One command of the device's outbox. `seq` is gap-free per device from 1; "
    "`commandId` is a client UUIDv7 and becomes the id of the fact it records; `prevHash` is "
    "the previous command's hash (64 zeros before the first; see mobile_contract/)."
)
class CommandInput:
    seq: int
    command_id: uuid.UUID
    occurred_at: DeviceTimeInput
    body: CommandBody
    prev_hash: str
    supersedes: uuid.UUID | None = strawberry.field(
        default=None, description="The commandId of the fact this one corrects."
    )
    sig: str | None = None


@strawberry.input(
    description="A command as raw JSON, for one the app cannot send as a `CommandInput` (or "
    "the hub could not coerce as one): the hub checks it itself and settles it in `seq` order "
    "like the others, quarantined whole (VALIDATION_FAILED, naming the invalid values) unless "
    "it turns out valid."
)
class RawCommandInput:
    seq: int = strawberry.field(description="The command's place in the device's sequence.")
    command: JSON = strawberry.field(description="The command object, as the app keeps it.")


@strawberry.input(
    description="A batch of one device's commands, in sequence order: at most 100 commands "
    "and 256 KiB. Also reports the device's clock and outbox health."
)
class SubmitCommandsInput:
    protocol_version: int
    app_version: str
    device_id: uuid.UUID
    sent_at: DeviceTimeInput
    outbox_depth: int = strawberry.field(
        description="Commands in the outbox when sent, this batch included."
    )
    oldest_pending_at: datetime | None = strawberry.field(
        default=None, description="When the oldest of them was recorded (device clock)."
    )
    commands: list[CommandInput]
    raw_commands: list[RawCommandInput] | None = strawberry.field(
        default=None,
        description="Commands sent as raw JSON (see RawCommandInput); the hub also moves here "
        "any command of `commands` that fails GraphQL input coercion, so it is quarantined on "
        "its own instead of failing the upload.",
    )


@strawberry.input(description="Register this app installation for the signed-in carer.")
class RegisterDeviceInput:
    device_id: uuid.UUID
    platform: str = strawberry.field(description="e.g. android, ios.")
    app_version: str
    protocol_version: int
    model: str | None = None


@strawberry.input(description="Revoke a lost or replaced device; its later commands are kept.")
class RevokeDeviceInput:
    device_id: uuid.UUID
    reason: str


@strawberry.input(description="The tiny ping: outbox health and clock, nothing else.")
class ReportOutboxInput:
    device_id: uuid.UUID
    app_version: str
    protocol_version: int
    sent_at: DeviceTimeInput
    outbox_depth: int
    oldest_pending_at: datetime | None = None


@strawberry.enum(description="How the office settled a quarantined command.")
class QuarantineOutcome(Enum):
    RECORDED_ELSEWHERE = strawberry.enum_value(
        OutcomeValue.RECORDED_ELSEWHERE.value,
        description="What it recorded was entered another way (e.g. by the office).",
    )
    NOT_REQUIRED = strawberry.enum_value(
        OutcomeValue.NOT_REQUIRED.value,
        description="Nothing needed recording (a duplicate, a test); the note says why.",
    )
    ESCALATED = strawberry.enum_value(
        OutcomeValue.ESCALATED.value, description="Passed on (e.g. to the safeguarding lead)."
    )


@strawberry.input(description="Record how a quarantined command was settled.")
class ResolveQuarantinedCommandInput:
    id: strawberry.ID = strawberry.field(description="The QuarantinedCommand id.")
    outcome: QuarantineOutcome
    note: str


@strawberry.enum(description="What kind of tag is fixed in a person's home.")
class PresenceTagKind(Enum):
    NFC = TagKindValue.NFC.value
    QR = TagKindValue.QR.value


@strawberry.input(
    description="Register an NFC tag UID or QR token placed in a person's home; scanning it "
    "at check-in is evidence of presence."
)
class RegisterPresenceTagInput:
    person_id: strawberry.ID
    kind: PresenceTagKind
    value: str
    label: str | None = None


# --- conversion of the command inputs -----------------------------------------------------------
#
# An upload carries up to 100 commands of nested inputs. Strawberry's generic conversion of an
# input value resolves each field's type and GraphQL name again for every value it converts; for
# an upload that cost more CPU than recording the commands' facts (bench/mobile/upload.py). These
# inputs convert instead with a plan made once per type (Strawberry's `from_input` hook): the
# same instances, built directly from the value GraphQL-core has already coerced and validated
# (scalars parsed, enums as members, @oneOf checked).

_LEAVES: frozenset[object] = frozenset({int, float, str, bool, datetime, uuid.UUID, strawberry.ID})


def _converter(type_: object) -> Callable[[Any], Any]:
    """How a value of `type_` becomes its Python value, as `convert_argument` would do it."""
    if isinstance(type_, StrawberryMaybe):
        raise TypeError("Maybe fields have no conversion plan")
    if isinstance(type_, StrawberryOptional):
        inner = _converter(type_.of_type)
        return lambda value: None if value is None else inner(value)
    if isinstance(type_, StrawberryList):
        item = _converter(type_.of_type)
        return lambda value: None if value is None else [item(entry) for entry in value]
    if (
        type_ in _LEAVES
        or isinstance(type_, StrawberryEnumDefinition)
        or has_enum_definition(type_)
    ):
        return lambda value: value
    if isinstance(type_, type) and has_object_definition(type_):
        nested = type_
        return lambda value: _builder(nested)(value)
    raise TypeError(f"no conversion plan for {type_!r}")


@functools.cache
def _builder(cls: type) -> Callable[[Mapping[str, Any]], Any]:
    """The conversion plan of an input type: its fields' GraphQL names and converters."""
    definition = get_object_definition(cls, strict=True)
    fields = [
        (
            field.graphql_name or to_camel_case(field.python_name),
            field.python_name,
            _converter(field.resolve_type(type_definition=definition)),
        )
        for field in definition.fields
    ]
    # Like Strawberry: a field without a default the client left out is None.
    implicit = {
        field.python_name: None
        for field in definition.fields
        if field.default_value is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
    }

    def build(value: Mapping[str, Any]) -> Any:
        arguments = dict(implicit)
        for graphql_name, python_name, convert in fields:
            if graphql_name in value:
                arguments[python_name] = convert(value[graphql_name])
        return cls(**arguments)

    return build


def _from_input(target: type, value: Mapping[str, Any], context: InputContext) -> Any:
    return _builder(target)(value)


for _input in (
    DeviceTimeInput,
    VerificationV1,
    CheckInV1,
    CheckInV2,
    CheckOutV1,
    TaskConfirmationV1,
    NutritionV1,
    HydrationV1,
    FallV1,
    SkinV1,
    PainScoreV1,
    MoodV1,
    ConcernV1,
    CommandBody,
    CommandInput,
):
    _builder(_input)  # now: a field type without a plan fails at import, not in an upload
    get_object_definition(_input, strict=True).from_input = _from_input


# --- to the service ------------------------------------------------------------------------------


def canonical_command(command: CommandInput) -> dict[str, Any]:
    """The command's canonical object (`hub.mobile.canonical`): GraphQL names, no nulls."""
    value = _canonical(command)
    assert isinstance(value, dict)
    return value


def _canonical(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, datetime):
        return canonical_time(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    names = _graphql_names(type(value))
    if names is None:
        return value
    result: dict[str, Any] = {}
    for python_name, graphql_name in names:
        item = getattr(value, python_name)
        if item is None or item is strawberry.UNSET:
            continue
        result[graphql_name] = _canonical(item)
    return result


_NAMES: dict[type, tuple[tuple[str, str], ...] | None] = {}


def _graphql_names(cls: type) -> tuple[tuple[str, str], ...] | None:
    """(Python name, GraphQL name) of each field of an input type; None for other values."""
    if cls not in _NAMES:
        definition = get_object_definition(cls)
        _NAMES[cls] = (
            tuple(
                (field.python_name, field.graphql_name or to_camel_case(field.python_name))
                for field in definition.fields
            )
            if definition is not None
            else None
        )
    return _NAMES[cls]


def device_time(value: DeviceTimeInput) -> DeviceTime:
    monotonic = value.monotonic_ms
    if not float(monotonic).is_integer():
        raise InvalidInput("sentAt.monotonicMs", "must be a whole number of milliseconds")
    return DeviceTime(
        wall=value.wall,
        tz_offset_min=value.tz_offset_min,
        boot_id=value.boot_id,
        monotonic_ms=int(monotonic),
        trusted=value.trusted,
        trusted_err_ms=value.trusted_err_ms,
    )


def upload_of(
    value: SubmitCommandsInput, document_id: str | None, schema: GraphQLSchema | None = None
) -> Upload:
    commands = [IncomingCommand.of(canonical_command(c)) for c in value.commands]
    if value.raw_commands:
        if schema is None:
            raise TypeError("raw commands are checked against the GraphQL schema")
        raw = [raw_command(schema, r.seq, r.command, value.device_id) for r in value.raw_commands]
        # In sequence order among the others (stable: the app's own order breaks ties).
        commands = sorted([*commands, *raw], key=lambda command: command.seq)
    return Upload(
        device_id=value.device_id,
        protocol_version=value.protocol_version,
        app_version=value.app_version,
        sent_at=device_time(value.sent_at),
        outbox=OutboxReport(depth=value.outbox_depth, oldest_pending_at=value.oldest_pending_at),
        commands=tuple(commands),
        document_id=document_id,
    )


def raw_command(
    schema: GraphQLSchema, seq: int, command: Any, device_id: uuid.UUID
) -> IncomingCommand:
    """A raw command checked by the hub: a valid one becomes an ordinary command; any other
    is kept as sent, with what is wrong with it, to be quarantined in its place."""
    check = check_command(schema, command)
    if check.coerced is not None:
        return IncomingCommand.of(canonical_command(_builder(CommandInput)(check.coerced)))
    assert check.problem is not None
    return IncomingCommand.rejected(seq, command, check.problem, device_id)
