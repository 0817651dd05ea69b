"""Error masking (reference test G11): internals never reach the client, the log has them.

A masked error and its log line must carry the same reference, or support cannot get from a
user's screenshot to the cause.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import AsyncGenerator, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import pytest
import strawberry
from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.types import ExecutionResult
from structlog.testing import capture_logs

from hub.errors import Forbidden, InvalidInput, NotFound
from hub.graphql.limits import ExtensionFactory, GraphQLLimits, limit_extensions
from hub.graphql.masking import MaskUnexpectedErrors

SECRET = "password=hunter2 host=10.0.0.5"
UUID_HEX = re.compile(r"[0-9a-f]{32}")
EVENT = "graphql.unexpected_error"


@strawberry.type
class Row:
    value: str

    @strawberry.field
    def cells(self, first: int | None = None) -> list[Row]:
        return [Row(value="b")]


@strawberry.type
class Query:
    @strawberry.field
    def fine(self) -> str:
        return "ok"

    @strawberry.field
    def broken(self) -> str | None:
        raise RuntimeError(SECRET)

    @strawberry.field
    def also_broken(self) -> str | None:
        raise KeyError(SECRET)

    @strawberry.field
    def raw_graphql_error(self) -> str | None:
        raise GraphQLError(f"resolver detail {SECRET}")

    @strawberry.field
    def missing(self) -> str | None:
        raise NotFound("visit V1 does not exist")

    @strawberry.field
    def invalid(self) -> str | None:
        raise InvalidInput("person.nhsNumber", "fails the modulus-11 check")

    @strawberry.field
    def page(self) -> str | None:
        raise InvalidInput("first", "must be between 1 and 100", code="PAGE_SIZE")

    @strawberry.field
    def on(self, day: datetime.date) -> str:
        return day.isoformat()

    @strawberry.field
    def rows(self, first: int | None = None) -> list[Row]:
        return [Row(value="a")]


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncGenerator[int, None]:
        yield 1
        raise RuntimeError(SECRET)


@dataclass
class RequestContext:
    """Stands in for `hub.graphql.context.Context`, which carries the request id."""

    request_id: str


class ExplodingHook(SchemaExtension):
    """Another extension failing outside any resolver (say, an audit write hitting the DB)."""

    def on_execute(self) -> Iterator[None]:
        if self.execution_context.operation_name == "Explode":
            raise RuntimeError(SECRET)
        if self.execution_context.operation_name == "Refuse":
            raise Forbidden("this client may not run operations")
        yield None


def build(*, limits: bool = False, cached: bool = False) -> strawberry.Schema:
    extensions: list[ExtensionFactory] = []
    if cached:
        extensions += [lambda: ParserCache(maxsize=64), lambda: ValidationCache(maxsize=64)]
    extensions.append(MaskUnexpectedErrors)
    if limits:
        extensions += limit_extensions(GraphQLLimits(), production=True)
    extensions.append(ExplodingHook)
    return strawberry.Schema(query=Query, subscription=Subscription, extensions=extensions)


def only_error(result: ExecutionResult) -> GraphQLError:
    assert result.errors is not None
    assert len(result.errors) == 1, [e.message for e in result.errors]
    return result.errors[0]


def reference_of(error: GraphQLError) -> str:
    assert error.extensions is not None
    reference = error.extensions["reference"]
    assert isinstance(reference, str)
    assert error.message == f"Unexpected error. Reference: {reference}"
    assert error.extensions == {"code": "INTERNAL_ERROR", "reference": reference}
    assert SECRET not in str(error.formatted)
    return reference


def logged(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == EVENT]


@pytest.fixture(params=[False, True], ids=["uncached", "cached"])
def cached(request: pytest.FixtureRequest) -> bool:
    value: bool = request.param
    return value


async def test_an_unexpected_error_is_masked_and_logged_under_the_same_reference() -> None:
    with capture_logs() as logs:
        result = await build().execute("{ fine broken }")
    assert result.data == {"fine": "ok", "broken": None}
    error = only_error(result)
    assert error.path == ["broken"]
    reference = reference_of(error)
    assert UUID_HEX.fullmatch(reference)
    [entry] = logged(logs)
    assert entry["reference"] == reference
    assert entry["log_level"] == "error"
    assert entry["path"] == ["broken"]
    assert isinstance(entry["exc_info"], RuntimeError)
    assert SECRET in str(entry["exc_info"])


async def test_the_reference_is_the_request_id_when_there_is_one() -> None:
    with capture_logs() as logs:
        result = await build().execute("{ broken }", context_value=RequestContext("req-42"))
    assert reference_of(only_error(result)) == "req-42"
    assert [entry["reference"] for entry in logged(logs)] == ["req-42"]


async def test_an_empty_request_id_gets_a_fresh_reference() -> None:
    result = await build().execute("{ broken }", context_value=RequestContext(""))
    assert UUID_HEX.fullmatch(reference_of(only_error(result)))


async def test_errors_of_one_request_share_its_reference_and_each_is_logged() -> None:
    with capture_logs() as logs:
        result = await build().execute("{ broken alsoBroken rawGraphqlError }")
    references = {reference_of(error) for error in result.errors or []}
    assert len(result.errors or []) == 3
    assert len(references) == 1
    entries = logged(logs)
    assert {entry["reference"] for entry in entries} == references
    assert sorted(str(entry["path"]) for entry in entries) == [
        "['alsoBroken']",
        "['broken']",
        "['rawGraphqlError']",
    ]


async def test_two_requests_get_different_references() -> None:
    schema = build()
    first = reference_of(only_error(await schema.execute("{ broken }")))
    second = reference_of(only_error(await schema.execute("{ broken }")))
    assert first != second


@pytest.mark.parametrize(
    ("field", "message", "extensions"),
    [
        ("missing", "visit V1 does not exist", {"code": "NOT_FOUND"}),
        (
            "invalid",
            "person.nhsNumber: fails the modulus-11 check",
            {"code": "INVALID_INPUT", "field": "person.nhsNumber"},
        ),
        ("page", "first: must be between 1 and 100", {"code": "PAGE_SIZE", "field": "first"}),
    ],
)
async def test_hub_errors_keep_their_message_and_carry_their_code(
    field: str, message: str, extensions: dict[str, str]
) -> None:
    with capture_logs() as logs:
        result = await build().execute(f"{{ {field} }}")
    error = only_error(result)
    assert error.message == message
    assert error.extensions == extensions
    assert error.path == [field]
    assert logged(logs) == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ nope }", "Cannot query field 'nope' on type 'Query'."),
        ("{ fine", "Syntax Error: Expected Name, found <EOF>."),
    ],
)
async def test_parse_and_validation_errors_are_not_masked(query: str, message: str) -> None:
    with capture_logs() as logs:
        result = await build().execute(query)
    assert only_error(result).message == message
    assert logged(logs) == []


async def test_variable_coercion_errors_are_not_masked() -> None:
    result = await build().execute("query($d: Date!) { on(day: $d) }", {"d": "not-a-date"})
    assert "Value cannot represent a Date" in only_error(result).message


async def test_limit_errors_pass_through_masking(cached: bool) -> None:
    schema = build(limits=True, cached=cached)
    aliases = " ".join(f"a{n}: fine" for n in range(16))
    costly = "query($n: Int) { rows(first: $n) { cells(first: $n) { value } } }"
    with capture_logs() as logs:
        flood = only_error(await schema.execute(f"{{ {aliases} }}"))
        # The variable-aware cost check raises from an execute hook, through the masking hook.
        assert (await schema.execute(costly, {"n": 2})).errors is None
        cost = only_error(await schema.execute(costly, {"n": 100}))
        tokens = only_error(await schema.execute("{ " + "fine " * 1000 + "}"))
    assert (flood.extensions or {})["code"] == "TOO_MANY_ALIASES"
    assert (cost.extensions or {})["code"] == "QUERY_TOO_COSTLY"
    assert (tokens.extensions or {})["code"] == "TOO_MANY_TOKENS"
    assert logged(logs) == []


async def test_a_graphql_error_raised_by_a_resolver_is_masked_too() -> None:
    """Only HubErrors are meant for clients; a raw GraphQLError may carry anything."""
    error = only_error(await build().execute("{ rawGraphqlError }"))
    reference_of(error)


async def test_an_exception_from_another_extension_is_masked(cached: bool) -> None:
    """Strawberry would send `str(exception)`; MaskErrors never sees it."""
    with capture_logs() as logs:
        result = await build(cached=cached).execute("query Explode { fine }")
    assert result.data is None
    reference = reference_of(only_error(result))
    [entry] = logged(logs)
    assert entry["reference"] == reference
    assert isinstance(entry["exc_info"], RuntimeError)


async def test_a_hub_error_from_another_extension_keeps_its_code() -> None:
    error = only_error(await build().execute("query Refuse { fine }"))
    assert error.message == "this client may not run operations"
    assert error.extensions == {"code": "FORBIDDEN"}


def test_synchronous_execution_is_masked_too() -> None:
    with capture_logs() as logs:
        result = build().execute_sync("{ broken }", context_value=RequestContext("req-sync"))
    assert reference_of(only_error(result)) == "req-sync"
    assert [entry["reference"] for entry in logged(logs)] == ["req-sync"]


async def test_subscription_errors_are_masked() -> None:
    with capture_logs() as logs:
        stream = await build().subscribe(
            "subscription { ticks }", context_value=RequestContext("req-ws")
        )
        assert not isinstance(stream, ExecutionResult)
        results = [result async for result in stream]
    assert results[0].data == {"ticks": 1}
    assert results[0].errors is None
    assert reference_of(only_error(results[-1])) == "req-ws"
    assert [entry["reference"] for entry in logged(logs)] == ["req-ws"]


async def test_request_errors_for_the_view_keep_their_type() -> None:
    """The view answers these with HTTP 400; turning them into GraphQL errors would hide that."""
    with pytest.raises(MissingQueryError):
        await build().execute(None)
