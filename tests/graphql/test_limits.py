"""Request limits (reference tests G1-G3, G5-G8, G12, G13) on a small schema built here.

Every refused document must be refused before a resolver runs: `Query.root` and
`Query.contract` count their calls in the context, and refusals assert the count is 0. Most
tests run with and without strawberry's ParserCache and ValidationCache, because with them a
token-limit error arrives as an exception and validation verdicts are shared across requests.
"""

from __future__ import annotations

import time
from enum import Enum
from typing import Any, TypeVar

import pytest
import strawberry
from graphql import GraphQLError, get_introspection_query, parse
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.types import ExecutionResult

from hub.errors import ConfigurationError
from hub.graphql.limits import (
    ExtensionFactory,
    GraphQLLimits,
    HideSchema,
    Measurements,
    RequestLimits,
    limit_extensions,
    measure,
)
from hub.graphql.pagination import Connection, Edge, PageInfo

Calls = dict[str, int]
Info = strawberry.Info[Calls, None]
NodeT = TypeVar("NodeT")


@strawberry.enum
class Order(Enum):
    ASCENDING = "ascending"
    DESCENDING = "descending"


@strawberry.type
class Item:
    """Recursive, with a list taking `first`: enough for every bomb."""

    id: int
    name: str

    @strawberry.field
    def child(self) -> Item:
        return Item(id=self.id + 1, name="child")

    @strawberry.field
    def children(self, first: int | None = None, order: Order = Order.ASCENDING) -> list[Item]:
        return [Item(id=self.id * 10 + n, name=f"child {n}") for n in range(min(first or 2, 2))]


def _page(nodes: list[NodeT]) -> Connection[NodeT]:
    return Connection(
        edges=[Edge(cursor=str(n), node=node) for n, node in enumerate(nodes)],
        page_info=PageInfo(has_next_page=False, end_cursor=None),
    )


@strawberry.type
class Competency:
    code: str


@strawberry.type
class Carer:
    name: str

    @strawberry.field
    def competencies(self, first: int | None = None) -> Connection[Competency]:
        return _page([Competency(code="MEDICATION")])


@strawberry.type
class Assignment:
    @strawberry.field
    def carer(self) -> Carer:
        return Carer(name="Asha")


@strawberry.type
class Visit:
    @strawberry.field
    def assignments(self, first: int | None = None) -> Connection[Assignment]:
        return _page([Assignment()])


@strawberry.type
class Package:
    @strawberry.field
    def visits(self, first: int | None = None) -> Connection[Visit]:
        return _page([Visit()])


@strawberry.type
class Contract:
    @strawberry.field
    def packages(self, first: int | None = None) -> Connection[Package]:
        return _page([Package()])


@strawberry.type
class Query:
    @strawberry.field
    def root(self, info: Info) -> Item:
        info.context["calls"] += 1
        return Item(id=1, name="root")

    @strawberry.field
    def contract(self, info: Info, id: strawberry.ID) -> Contract:
        info.context["calls"] += 1
        return Contract()


def build(
    limits: GraphQLLimits | None = None, *, production: bool = False, cached: bool = False
) -> strawberry.Schema:
    extensions: list[ExtensionFactory] = []
    if cached:
        extensions += [lambda: ParserCache(maxsize=64), lambda: ValidationCache(maxsize=64)]
    extensions += limit_extensions(limits or GraphQLLimits(), production=production)
    return strawberry.Schema(query=Query, extensions=extensions)


async def run(
    schema: strawberry.Schema, query: str, variables: dict[str, Any] | None = None
) -> tuple[ExecutionResult, int]:
    """Execute `query`; also return how many root resolvers ran."""
    context: Calls = {"calls": 0}
    result = await schema.execute(query, variable_values=variables, context_value=context)
    return result, context["calls"]


def codes(result: ExecutionResult) -> list[object]:
    return [(error.extensions or {}).get("code") for error in result.errors or []]


def refused(result: ExecutionResult, calls: int, code: str) -> GraphQLError:
    """The one error with `code`, after checking that nothing ran."""
    assert result.data is None
    assert calls == 0
    matching = [e for e in result.errors or [] if (e.extensions or {}).get("code") == code]
    assert len(matching) == 1, [e.message for e in result.errors or []]
    return matching[0]


def measured(error: GraphQLError) -> object:
    """The value a limit error reports having measured."""
    return (error.extensions or {}).get("measured")


def passed(result: ExecutionResult) -> Any:
    assert result.errors is None, [e.message for e in result.errors or []]
    assert result.data is not None
    return result.data


def nested(depth: int) -> str:
    """`{ root { child { … { id } } } }` with `depth` fields on the path."""
    return "{ root { " + "child { " * (depth - 2) + "id" + " }" * (depth - 1) + " }"


@pytest.fixture(params=[False, True], ids=["uncached", "cached"])
def cached(request: pytest.FixtureRequest) -> bool:
    value: bool = request.param
    return value


# Configuration


def test_the_defaults_are_the_documented_ones() -> None:
    limits = GraphQLLimits()
    assert (limits.max_depth, limits.max_aliases, limits.max_tokens) == (18, 15, 1000)
    assert (limits.max_cost, limits.max_directives) == (10_000, 50)
    assert (limits.max_page_size, limits.default_page_size) == (100, 20)


@pytest.mark.parametrize(
    "settings",
    [{"max_depth": 0}, {"max_cost": -1}, {"max_aliases": True}, {"default_page_size": 101}],
)
def test_nonsense_limits_refuse_to_start(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        GraphQLLimits(**settings)


def test_extensions_are_factories_giving_a_fresh_instance_per_request() -> None:
    factories = limit_extensions(GraphQLLimits(), production=True)
    first = [factory() for factory in factories]
    second = [factory() for factory in factories]
    assert [type(e) for e in first] == [RequestLimits, HideSchema]
    assert all(isinstance(e, SchemaExtension) for e in first)
    assert all(a is not b for a, b in zip(first, second, strict=True))
    assert [
        type(e) for e in (f() for f in limit_extensions(GraphQLLimits(), production=False))
    ] == [RequestLimits]


# Depth (G1)


async def test_depth_at_the_limit_passes_and_one_more_is_refused(cached: bool) -> None:
    schema = build(cached=cached)
    passed((await run(schema, nested(18)))[0])
    error = refused(*await run(schema, nested(19)), "QUERY_TOO_DEEP")
    assert error.message == "query depth 19 exceeds the limit of 18"
    assert error.extensions == {"code": "QUERY_TOO_DEEP", "limit": 18, "measured": 19}


async def test_a_depth_bomb_is_refused_before_any_resolver_runs() -> None:
    error = refused(*await run(build(), nested(150)), "QUERY_TOO_DEEP")
    assert error.message == "query depth 150 exceeds the limit of 18"


async def test_depth_counts_through_fragment_spreads() -> None:
    fragments = " ".join(
        f"fragment L{n} on Item {{ child {{ child {{ ...L{n + 1} }} }} }}" for n in range(9)
    )
    query = "{ root { ...L0 } } " + fragments + " fragment L9 on Item { id }"
    error = refused(*await run(build(), query), "QUERY_TOO_DEEP")
    assert measured(error) == 1 + 2 * 9 + 1


async def test_depth_counts_through_inline_fragments() -> None:
    query = "{ root { " + "... on Item { child { " * 18 + "id" + " } }" * 18 + " } }"
    error = refused(*await run(build(), query), "QUERY_TOO_DEEP")
    assert measured(error) == 20


DEEPEST_CARE_READ = """
query DeepestRead {
  contract(id: "C1") {
    packages(first: 5) { edges { node {
      visits(first: 10) { edges { node {
        assignments(first: 2) { edges { node {
          carer { competencies(first: 10) { edges { node { code } } } }
        } } }
      } } }
    } } }
  }
}
"""


async def test_the_deepest_legitimate_care_query_passes(cached: bool) -> None:
    schema = build(cached=cached)
    measurements = measure(schema._schema, parse(DEEPEST_CARE_READ))
    # 15 fields deep. Cost innermost out: competencies 1 + 10 x 3 = 31, carer 32, assignments
    # 1 + 2 x 34 = 69, visits 1 + 10 x 71 = 711, packages 1 + 5 x 713 = 3566, contract 3567.
    assert measurements == {"DeepestRead": Measurements(depth=15, cost=3567)}
    data = passed((await run(schema, DEEPEST_CARE_READ))[0])
    packages = data["contract"]["packages"]["edges"]
    visit = packages[0]["node"]["visits"]["edges"][0]["node"]
    carer = visit["assignments"]["edges"][0]["node"]["carer"]
    assert carer["competencies"]["edges"][0]["node"]["code"] == "MEDICATION"


async def test_the_same_query_at_default_page_sizes_is_too_costly() -> None:
    query = DEEPEST_CARE_READ
    for size in ("(first: 5)", "(first: 10)", "(first: 2)"):
        query = query.replace(size, "")
    error = refused(*await run(build(), query), "QUERY_TOO_COSTLY")
    # Innermost out, 20 per list: competencies 1 + 20 x 3 = 61, carer 62, assignments
    # 1 + 20 x 64 = 1281, visits 1 + 20 x 1283 = 25661, packages 1 + 20 x 25663, contract + 1.
    assert measured(error) == 513_262


# Aliases (G2, G3)


def aliases(count: int, start: int = 0) -> str:
    return " ".join(f"a{n}: id" for n in range(start, start + count))


async def test_fifteen_aliases_pass_and_sixteen_are_refused(cached: bool) -> None:
    schema = build(cached=cached)
    passed((await run(schema, f"{{ root {{ {aliases(15)} }} }}"))[0])
    error = refused(*await run(schema, f"{{ root {{ {aliases(16)} }} }}"), "TOO_MANY_ALIASES")
    assert error.message == (
        "query uses 16 aliases (fragment spreads included), exceeding the limit of 15"
    )


async def test_aliases_in_a_fragment_count_once_per_spread() -> None:
    query = "{ root { " + "...F " * 10 + f"}} }} fragment F on Item {{ {aliases(15)} }}"
    error = refused(*await run(build(), query), "TOO_MANY_ALIASES")
    assert measured(error) == 150


async def test_aliases_hidden_in_inline_fragments_are_counted() -> None:
    query = f"{{ root {{ ... on Item {{ {aliases(8)} }} ... {{ {aliases(8, start=8)} }} }} }}"
    error = refused(*await run(build(), query), "TOO_MANY_ALIASES")
    assert measured(error) == 16


async def test_a_doubling_fragment_chain_is_measured_in_linear_time() -> None:
    """60 fragments each spreading the next twice: 2^60 paths, 61 fragment measurements.

    strawberry's MaxAliasesLimiter and QueryDepthLimiter walk every path (18 fragments took them
    0.5 s and 1.5 s); this would never finish.
    """
    chain = " ".join(f"fragment F{n} on Item {{ ...F{n + 1} ...F{n + 1} }}" for n in range(60))
    query = "{ root { ...F0 } } " + chain + " fragment F60 on Item { a: id }"
    started = time.perf_counter()
    result, calls = await run(build(), query)
    assert time.perf_counter() - started < 1.0
    error = refused(result, calls, "TOO_MANY_ALIASES")
    assert measured(error) == 2**60


@pytest.mark.parametrize(
    "query",
    [
        "{ root { ...A } } fragment A on Item { id ...A }",
        "{ root { ...A } } fragment A on Item { ...B } fragment B on Item { ...A }",
        "{ root { ...A } } fragment A on Item { child { ...B } }"
        " fragment B on Item { child { ...A } }",
    ],
    ids=["self", "pair", "through-fields"],
)
async def test_cyclic_fragments_are_refused_by_validation_without_hanging(
    query: str, cached: bool
) -> None:
    started = time.perf_counter()
    result, calls = await run(build(cached=cached), query)
    assert time.perf_counter() - started < 1.0
    assert result.data is None
    assert calls == 0
    messages = [error.message for error in result.errors or []]
    assert messages
    assert all(message.startswith("Cannot spread fragment") for message in messages)
    assert codes(result) == [None] * len(messages)  # No limit error on top of the real one.


async def test_an_unknown_fragment_is_a_plain_validation_error() -> None:
    """strawberry's QueryDepthLimiter raises KeyError here and the client reads `'Missing'`."""
    result, calls = await run(build(), "{ root { ...Missing } }")
    assert calls == 0
    assert [error.message for error in result.errors or []] == ["Unknown fragment 'Missing'."]


# Tokens (G5)


def with_tokens(count: int) -> str:
    """`{ root { id name __typename id … } }` with exactly `count` tokens.

    The field names rotate: graphql-core's OverlappingFieldsCanBeMergedRule runs out of stack
    (and aborts validation) at ~750 copies of one field, which is not what this is testing.
    """
    names = ("id", "name", "__typename")
    return "{ root { " + " ".join(names[n % 3] for n in range(count - 5)) + " } }"


async def test_a_thousand_tokens_pass_and_one_more_is_refused_while_parsing(cached: bool) -> None:
    schema = build(cached=cached)
    passed((await run(schema, with_tokens(1000)))[0])
    error = refused(*await run(schema, with_tokens(1001)), "TOO_MANY_TOKENS")
    assert error.message == (
        "query has more than 1000 tokens, the limit; parsing stopped at token 1001"
    )
    assert error.extensions == {"code": "TOO_MANY_TOKENS", "limit": 1000}
    assert error.locations  # Points at the token where parsing stopped.


async def test_comments_count_as_tokens(cached: bool) -> None:
    query = "{ root { id } }\n" + "# padding\n" * 1000
    refused(*await run(build(cached=cached), query), "TOO_MANY_TOKENS")


# Directives (G6)


async def test_fifty_directives_pass_and_fifty_one_are_refused(cached: bool) -> None:
    schema = build(cached=cached)
    passed((await run(schema, "{ root { " + "id @include(if: true) " * 50 + "} }"))[0])
    error = refused(
        *await run(schema, "{ root { " + "id @include(if: true) " * 51 + "} }"),
        "TOO_MANY_DIRECTIVES",
    )
    assert error.message == (
        "query uses 51 directives (fragment spreads included), exceeding the limit of 50"
    )


async def test_directives_in_a_fragment_count_once_per_spread() -> None:
    fragment = "fragment F on Item { " + "id @skip(if: false) " * 10 + "}"
    query = "{ root { " + "...F " * 6 + "} } " + fragment
    error = refused(*await run(build(), query), "TOO_MANY_DIRECTIVES")
    assert measured(error) == 60


# Cost and page size (G12, G13)


async def test_a_cost_bomb_is_refused_before_any_resolver_runs(cached: bool) -> None:
    query = (
        "{ root { children(first: 100) { children(first: 100) { children(first: 100) { id } } } } }"
    )
    error = refused(*await run(build(cached=cached), query), "QUERY_TOO_COSTLY")
    # root 1 + (1 + 100 x (1 + 100 x (1 + 100 x 1)))
    assert error.extensions == {"code": "QUERY_TOO_COSTLY", "limit": 10_000, "measured": 1_010_102}
    assert error.message == (
        "query cost 1010102 exceeds the limit of 10000; ask for smaller pages with `first`"
    )


def test_cost_weighs_lists_by_page_size_with_twenty_when_absent() -> None:
    schema = build()._schema
    costs = {
        query: measure(schema, parse(query))[None].cost
        for query in (
            "{ root { id name } }",
            "{ root { children { id } } }",
            "{ root { children(first: 3) { id name } } }",
            "{ root { children(first: 500) { id } } }",
            "{ root { children(first: 0) { id } } }",
            "{ root { child { child { id } } } }",
        )
    }
    assert list(costs.values()) == [3, 1 + 1 + 20, 1 + 1 + 3 * 2, 1 + 1 + 100, 1 + 1 + 1, 4]


PAGE_BY_VARIABLE = """
query Page($n: Int) { root { children(first: $n) { children(first: $n) { id } } } }
"""


async def test_page_sizes_from_variables_are_costed_with_their_values(cached: bool) -> None:
    schema = build(cached=cached)
    passed((await run(schema, PAGE_BY_VARIABLE, {"n": 5}))[0])
    passed((await run(schema, PAGE_BY_VARIABLE))[0])  # Absent: 20 x 20, cost 422.
    error = refused(*await run(schema, PAGE_BY_VARIABLE, {"n": 100}), "QUERY_TOO_COSTLY")
    assert measured(error) == 1 + 1 + 100 * (1 + 100)
    # graphql-core's Int takes 100.0 as 100, so the cost model must too.
    refused(*await run(schema, PAGE_BY_VARIABLE, {"n": 100.0}), "QUERY_TOO_COSTLY")
    # The validation verdict is cached per document; the variables are checked every time.
    passed((await run(schema, PAGE_BY_VARIABLE, {"n": 2}))[0])


@pytest.mark.parametrize("size", [101, 100_000, 0])
async def test_a_literal_page_size_out_of_range_is_refused(size: int) -> None:
    """Worded like `pagination.page_size`, which refuses the same sizes given by variables."""
    schema = build()
    passed((await run(schema, "{ root { children(first: 100) { id } } }"))[0])
    query = f"{{ root {{ children(first: {size}) {{ id }} }} }}"
    error = refused(*await run(schema, query), "PAGE_SIZE")
    assert error.message == f"first: must be between 1 and 100; 'children' asked for {size}"
    assert error.extensions == {"code": "PAGE_SIZE", "limit": 100, "measured": size}


async def test_tighter_limits_apply() -> None:
    schema = build(GraphQLLimits(max_depth=3, max_cost=5))
    refused(*await run(schema, nested(4)), "QUERY_TOO_DEEP")
    refused(*await run(schema, "{ root { children(first: 5) { id } } }"), "QUERY_TOO_COSTLY")


# Introspection (G7) and suggestions (G8)


@pytest.mark.parametrize(
    "query",
    [
        "{ __schema { queryType { name } } }",
        '{ __type(name: "Item") { name fields { name } } }',
        get_introspection_query(),
    ],
    ids=["__schema", "__type", "full"],
)
async def test_introspection_is_refused_in_production_with_one_error(query: str) -> None:
    result, _ = await run(build(production=True), query)
    assert result.data is None
    assert codes(result) == ["INTROSPECTION_DISABLED"]


async def test_typename_still_works_in_production() -> None:
    data = passed((await run(build(production=True), "{ root { __typename id } }"))[0])
    assert data == {"root": {"__typename": "Item", "id": 1}}


async def test_introspection_works_outside_production_within_the_limits(cached: bool) -> None:
    """GraphiQL's introspection query must fit the limits (depth 15, cost 220)."""
    schema = build(cached=cached)
    data = passed((await run(schema, get_introspection_query()))[0])
    assert data["__schema"]["queryType"]["name"] == "Query"
    data = passed((await run(schema, '{ __type(name: "Item") { name } }'))[0])
    assert data == {"__type": {"name": "Item"}}


SUGGESTING = [
    ("{ root { nam } }", None),  # field
    ("{ root { children(frist: 1) { id } } }", None),  # argument
    ("query($o: Ordr) { root { children(order: $o) { id } } }", None),  # type
    ("{ root { children(order: ASCENDIN) { id } } }", None),  # enum literal
    ("query($o: Order!) { root { children(order: $o) { id } } }", {"o": "ASCENDIN"}),  # variable
]


@pytest.mark.parametrize(("query", "variables"), SUGGESTING)
async def test_suggestions_are_removed_in_production_only(
    query: str, variables: dict[str, Any] | None, cached: bool
) -> None:
    development, _ = await run(build(cached=cached), query, variables)
    production, _ = await run(build(production=True, cached=cached), query, variables)
    assert any("Did you mean" in e.message for e in development.errors or [])
    assert production.errors
    for error in production.errors:
        assert "Did you mean" not in error.message
        assert "'name'" not in error.message
        assert "ASCENDING" not in error.message
    # What is left still says what was wrong.
    first_dev = (development.errors or [])[0].message
    assert first_dev.startswith(production.errors[0].message.rstrip("."))
