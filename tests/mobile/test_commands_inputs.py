"""The command inputs convert with plans of their own (`hub.mobile.inputs`, Strawberry's
`from_input` hook) instead of Strawberry's generic conversion, for speed. The instances, and so
the canonical objects that are hashed and stored, must be the same as the generic conversion
makes, for every body member and with optional fields sent, null or left out."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from graphql import GraphQLInputObjectType
from graphql.utilities import coerce_input_value
from strawberry.types.arguments import convert_argument
from strawberry.types.base import get_object_definition, has_object_definition

from hub.graphql.schema import schema
from hub.mobile import inputs
from hub.mobile.commands import DECODERS
from hub.mobile.inputs import CommandInput, canonical_command
from tests.mobile.command_builder import visit_gid

VISIT = visit_gid(uuid.UUID("019a0000-0000-7000-8000-000000000001"))
GPS = {"method": "GPS", "latitude": 53.48, "longitude": -2.24, "accuracyM": 8, "isMock": False}
BODIES: list[dict[str, Any]] = [
    {"checkInV1": {"visitId": VISIT, "verification": GPS}},
    {"checkInV2": {"visitId": VISIT, "verification": {"method": "NFC", "tag": "04:AB"}}},
    {
        "checkInV2": {
            "visitId": VISIT,
            "verification": {"method": "MANUAL", "manualReason": "no signal"},
            "note": "key safe stiff",
        }
    },
    {"checkOutV1": {"visitId": VISIT, "verification": {"method": "QR", "tag": "t", "fixAgeMs": 9}}},
    {
        "taskConfirmationV1": {
            "visitId": VISIT,
            "taskIndex": 1,
            "outcome": "NOT_DONE",
            "reason": "x",
        }
    },
    {"nutritionV1": {"visitId": VISIT, "portionEaten": "HALF", "meal": "lunch", "note": None}},
    {"hydrationV1": {"visitId": VISIT, "fluidMl": 250}},
    {"fallV1": {"visitId": VISIT, "injury": True, "witnessed": False}},
    {"skinV1": {"visitId": VISIT, "concern": False, "bodyLocation": "heel"}},
    {"painScoreV1": {"visitId": VISIT, "score": 7, "location": "knee"}},
    {"moodV1": {"visitId": VISIT, "mood": "ANXIOUS"}},
    {
        "concernV1": {
            "visitId": VISIT,
            "category": "SAFEGUARDING",
            "safeguarding": True,
            "description": "a",
        }
    },
]
TIMES: list[dict[str, Any]] = [
    {"wall": "2026-11-23T08:05:00.123+01:00", "tzOffsetMin": 60, "bootId": "b", "monotonicMs": 5},
    {
        "wall": "2026-11-23T08:05:00Z",
        "tzOffsetMin": 0,
        "bootId": "b",
        "monotonicMs": 12345.0,
        "trusted": "2026-11-23T08:05:01Z",
        "trustedErrMs": 20,
    },
]


def _input_types(cls: type, seen: set[type]) -> set[type]:
    """`cls` and every input type nested in it."""
    seen.add(cls)
    for field in get_object_definition(cls, strict=True).fields:
        inner: Any = field.resolve_type()
        while hasattr(inner, "of_type"):
            inner = inner.of_type
        if isinstance(inner, type) and has_object_definition(inner) and inner not in seen:
            _input_types(inner, seen)
    return seen


@contextmanager
def generic_conversion() -> Iterator[None]:
    """Strawberry's own conversion, for the time being."""
    definitions = [get_object_definition(t, strict=True) for t in _input_types(CommandInput, set())]
    hooks = [definition.from_input for definition in definitions]
    for definition in definitions:
        definition.from_input = None
    try:
        yield
    finally:
        for definition, hook in zip(definitions, hooks, strict=True):
            definition.from_input = hook


def convert(raw: dict[str, Any]) -> CommandInput:
    graphql_type = schema._schema.get_type("CommandInput")
    assert isinstance(graphql_type, GraphQLInputObjectType)
    value = coerce_input_value(raw, graphql_type)
    converted = convert_argument(
        value, CommandInput, schema.schema_converter.scalar_registry, schema.config
    )
    assert isinstance(converted, CommandInput)
    return converted


def test_every_body_member_is_covered() -> None:
    members = {next(iter(body)) for body in BODIES}
    assert members == set(DECODERS)
    assert all(
        get_object_definition(t, strict=True).from_input is not None
        for t in _input_types(CommandInput, set())
    )


@pytest.mark.parametrize("body", BODIES, ids=lambda body: next(iter(body)))
@pytest.mark.parametrize("occurred_at", TIMES, ids=["offset", "trusted"])
@pytest.mark.parametrize(
    "envelope",
    [{}, {"supersedes": "019a0000-0000-7000-8000-000000000009", "sig": "c2ln"}, {"sig": None}],
    ids=["plain", "correction", "null"],
)
def test_the_planned_conversion_makes_what_strawberry_makes(
    body: dict[str, Any], occurred_at: dict[str, Any], envelope: dict[str, Any]
) -> None:
    raw = {
        "seq": 3,
        "commandId": "019a0000-0000-7000-8000-000000000002",
        "occurredAt": occurred_at,
        "body": body,
        "prevHash": "0" * 64,
        **envelope,
    }
    planned = convert(raw)
    with generic_conversion():
        generic = convert(raw)

    assert planned == generic
    assert canonical_command(planned) == canonical_command(generic)
    assert type(planned.body) is inputs.CommandBody
