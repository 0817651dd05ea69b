"""Request limits for the GraphQL endpoint: tokens, depth, aliases, directives, cost, page size.

Every limit is checked before a resolver runs: tokens while parsing, the rest while validating,
and cost once more just before execution when variables set page sizes. A rejected request costs
the hub one parse and a linear walk of the document, never a database query.

Why not strawberry's built-ins (0.341): `MaxAliasesLimiter` and `QueryDepthLimiter` do count
through fragment spreads and inline fragments and stop at cycles, but they walk every *path*
through the fragments without memoising. Eighteen fragments that each spread the next one twice
(720 characters) took 0.5 s and 1.5 s to validate, and every extra fragment doubles it.
`QueryDepthLimiter` also raises `KeyError` on a spread of an unknown fragment, so the client gets
`'Missing'` instead of a validation error. Neither says how far over the limit a query is nor
gives an `extensions.code`, and there is no directive or cost limit at all. Here one walk measures
everything, each fragment once.

Limit errors name the limit, its value and the measured value. The reliability reference (§c)
would give only the code, as graphql-armor's `exposeLimits` tells an attacker the budget; but
the budget is published in this open-source file anyway, and a caller who can see why a query
failed can fix it.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    ValidationContext,
    ValidationRule,
    ValueNode,
    VariableNode,
    get_named_type,
    get_operation_ast,
    is_introspection_type,
)
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.types import StreamExecutionResult

from hub.errors import ConfigurationError
from hub.graphql.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

ExtensionFactory = Callable[[], SchemaExtension]

# The argument that sets a list's page size (Relay `first`, as in `hub.graphql.pagination`).
PAGE_SIZE_ARGUMENT = "first"


@dataclass(frozen=True)
class GraphQLLimits:
    """What one GraphQL document may ask of the hub. Defaults are the production values."""

    # The deepest legitimate read in the care graph is
    #   contract → packages → visits → assignments → carer → competencies
    # and with Relay connections each list costs three levels (field, `edges`, `node`):
    #   contract(1) packages(2) edges(3) node(4) visits(5) edges(6) node(7) assignments(8)
    #   edges(9) node(10) carer(11) competencies(12) edges(13) node(14) code(15)
    # Depth counts fields on the longest path, so `{ hub { version } }` is 2. 15 plus a margin
    # of 3 for a value object at the bottom (`carer { person { name { given } } }`) gives 18.
    # graphql-armor's 6 assumes flat schemas: 6 cannot even reach a visit through two
    # connections. Depth alone does not bound work; `max_cost` does.
    max_depth: int = 18
    # graphql-armor's default, and reference test G2 (16 aliases fail, 15 pass). Aliases are
    # what turn one field into a hundred executions, so they are counted through fragments.
    max_aliases: int = 15
    # graphql-armor's default; test G5. Enforced by the parser itself (comments count too), so a
    # megabyte of `{a a a …}` costs 1000 tokens of parsing before it is refused.
    max_tokens: int = 1000
    # Cost = fields the executor would resolve: each field costs 1, and the selection of a field
    # taking `first` is multiplied by its page size (20 when absent, capped at 100; a variable
    # counts as its value). graphql-core costs ~5 µs per resolved field on the reference VM
    # (graphql anchors §b: 1000 items x 8 fields ≈ 46 ms), so 10 000 ≈ 50 ms of executor time,
    # a quarter of the 200 ms p95 read budget, leaving the rest for the database. It admits a
    # page of 100 visits each with a 20-item nested list of three fields (≈ 7 000) and refuses
    # two nested lists of 100 (10 102) and anything bigger. graphql-armor's 5 000 uses another
    # scale (objects cost 2, x1.5 per level) and does not weigh lists by page size at all.
    max_cost: int = 10_000
    # graphql-armor's source default (Hive's docs quote 10). Legitimate documents use a handful
    # of `@include`/`@skip`; 50 leaves room and still stops `@include(if: true)` floods, which
    # graphql-core evaluates again on every field collection.
    max_directives: int = 50
    # The same cap `hub.graphql.pagination.page_size` enforces in resolvers; a literal above it is
    # refused here too, before any resolver runs (test G12).
    max_page_size: int = MAX_PAGE_SIZE
    # What a list returns when `first` is absent (`pagination.DEFAULT_PAGE_SIZE`); the cost model
    # must assume the same.
    default_page_size: int = DEFAULT_PAGE_SIZE

    def __post_init__(self) -> None:
        for name in (
            "max_depth",
            "max_aliases",
            "max_tokens",
            "max_cost",
            "max_directives",
            "max_page_size",
            "default_page_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"GraphQL limit {name} must be a positive integer")
        if self.default_page_size > self.max_page_size:
            raise ConfigurationError("GraphQL default_page_size must not exceed max_page_size")


@dataclass(frozen=True, slots=True)
class Measurements:
    """What one operation would make the executor do, with fragment spreads expanded."""

    depth: int = 0
    aliases: int = 0
    directives: int = 0
    cost: int = 0


_NOTHING = Measurements()


def measure(
    schema: GraphQLSchema,
    document: DocumentNode,
    limits: GraphQLLimits | None = None,
    variables: Mapping[str, object] | None = None,
) -> dict[str | None, Measurements]:
    """Measure every operation of a parsed document, keyed by operation name (None if anonymous).

    The walk the limits use; exposed for tests, tooling and clients checking their budget. A page
    size given by a variable counts as its value in `variables`. Without `variables` (the
    validation stage, which never sees them) it counts as 1, a lower bound: execution measures
    the chosen operation again with the real values before any resolver runs.
    """
    meter = _Meter(schema, _fragments(document), limits or GraphQLLimits(), variables)
    return {
        (definition.name.value if definition.name else None): meter.operation(definition)
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    }


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


class _Meter:
    """Measures operations in one pass per selection set; each fragment is measured once.

    Memoising fragments is what keeps this linear: a fragment spread twice by a fragment spread
    twice by … is expanded arithmetically (counts multiply) instead of by walking every path.
    A fragment reached again while it is being measured is a cycle; it counts as nothing here
    and `found_cycle` tells the rule to leave the document to `NoFragmentCyclesRule`.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        limits: GraphQLLimits,
        variables: Mapping[str, object] | None = None,
    ) -> None:
        self._schema = schema
        self._fragments = fragments
        self._limits = limits
        self._variables = variables
        self._variable_defaults: dict[str, ValueNode] = {}
        self._measured: dict[str, Measurements] = {}
        self._in_progress: set[str] = set()
        self.found_cycle = False

    def operation(self, node: OperationDefinitionNode) -> Measurements:
        self._variable_defaults = {
            variable.variable.name.value: variable.default_value
            for variable in node.variable_definitions or ()
            if variable.default_value is not None
        }
        measured = self._selection_set(
            node.selection_set, self._schema.get_root_type(node.operation)
        )
        own = len(node.directives or ()) + sum(
            len(variable.directives or ()) for variable in node.variable_definitions or ()
        )
        return Measurements(
            depth=measured.depth,
            aliases=measured.aliases,
            directives=measured.directives + own,
            cost=measured.cost,
        )

    def _fragment(self, name: str) -> Measurements:
        known = self._measured.get(name)
        if known is not None:
            return known
        fragment = self._fragments.get(name)
        if fragment is None:  # KnownFragmentNamesRule reports it.
            return _NOTHING
        if name in self._in_progress:
            self.found_cycle = True
            return _NOTHING
        self._in_progress.add(name)
        inner = self._selection_set(
            fragment.selection_set, self._schema.get_type(fragment.type_condition.name.value)
        )
        self._in_progress.discard(name)
        measured = Measurements(
            depth=inner.depth,
            aliases=inner.aliases,
            directives=inner.directives + len(fragment.directives or ()),
            cost=inner.cost,
        )
        self._measured[name] = measured
        return measured

    def _selection_set(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None
    ) -> Measurements:
        depth = aliases = directives = cost = 0
        for selection in selection_set.selections:
            directives += len(selection.directives or ())
            if isinstance(selection, FieldNode):
                field = _field_definition(self._schema, parent, selection.name.value)
                inner = _NOTHING
                if selection.selection_set is not None:
                    child_type = get_named_type(field.type) if field is not None else None
                    inner = self._selection_set(selection.selection_set, child_type)
                depth = max(depth, 1 + inner.depth)
                aliases += inner.aliases + (1 if selection.alias is not None else 0)
                directives += inner.directives
                cost += 1 + self._page_size(selection, field) * inner.cost
                continue
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self._selection_set(
                    selection.selection_set,
                    parent if condition is None else self._schema.get_type(condition.name.value),
                )
            elif isinstance(selection, FragmentSpreadNode):
                inner = self._fragment(selection.name.value)
            else:  # pragma: no cover - the three selection kinds are exhaustive
                continue
            depth = max(depth, inner.depth)
            aliases += inner.aliases
            directives += inner.directives
            cost += inner.cost
        return Measurements(depth=depth, aliases=aliases, directives=directives, cost=cost)

    def _page_size(self, node: FieldNode, field: GraphQLField | None) -> int:
        """How many times a field's selection runs: its page size for lists, else 1."""
        argument = next(
            (a for a in node.arguments or () if a.name.value == PAGE_SIZE_ARGUMENT), None
        )
        value: ValueNode | None = argument.value if argument is not None else None
        if isinstance(value, VariableNode):
            if self._variables is None:
                return 1  # The lower bound; execution measures again with the real values.
            name = value.name.value
            if name in self._variables:
                return self._clamp(self._variables[name], field)
            value = self._variable_defaults.get(name)
        if value is None or isinstance(value, NullValueNode):
            return self._clamp(None, field)
        if isinstance(value, IntValueNode):
            return self._clamp(int(value.value), field)
        return self._limits.max_page_size  # Not an Int: coercion will refuse it anyway.

    def _clamp(self, value: object, field: GraphQLField | None) -> int:
        """A page size between 1 and the cap; absent or null means the list's default."""
        limits = self._limits
        if value is None:
            if field is None or PAGE_SIZE_ARGUMENT not in field.args:
                return 1
            value = field.args[PAGE_SIZE_ARGUMENT].default_value
            if value is None or not isinstance(value, int):
                return limits.default_page_size
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # graphql-core's Int accepts 5.0 as 5.
        if isinstance(value, bool) or not isinstance(value, int):
            return limits.max_page_size  # Coercion should refuse it; assume the worst if not.
        return min(max(value, 1), limits.max_page_size)


def _field_definition(
    schema: GraphQLSchema, parent: GraphQLNamedType | None, name: str
) -> GraphQLField | None:
    if parent is not None and parent is schema.query_type:
        if name == "__schema":
            return SchemaMetaFieldDef
        if name == "__type":
            return TypeMetaFieldDef
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        field: GraphQLField | None = parent.fields.get(name)
        return field
    return None  # `__typename`, a union, or a field FieldsOnCorrectTypeRule will report


def _limit_error(message: str, code: str, node: Any, *, limit: int, measured: int) -> GraphQLError:
    return GraphQLError(
        message, node, extensions={"code": code, "limit": limit, "measured": measured}
    )


def _cost_error(cost: int, limit: int, node: OperationDefinitionNode) -> GraphQLError:
    return _limit_error(
        f"query cost {cost} exceeds the limit of {limit}; ask for smaller pages with `first`",
        "QUERY_TOO_COSTLY",
        node,
        limit=limit,
        measured=cost,
    )


class _LimitsRule(ValidationRule):
    """Checks each operation against `limits` (set on the subclass `limits_rule` makes).

    Measuring happens on entering an operation, after graphql-core's own fragment-nesting guard
    (always the first visitor) has refused documents nested beyond its recursion budget.
    """

    limits: ClassVar[GraphQLLimits]

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._meter = _Meter(self.context.schema, _fragments(self.context.document), self.limits)

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
        measured = self._meter.operation(node)
        if self._meter.found_cycle:
            return  # NoFragmentCyclesRule explains the real problem; numbers would mislead.
        limits = self.limits
        checks = (
            (measured.depth, limits.max_depth, "QUERY_TOO_DEEP", "query depth {} exceeds"),
            (
                measured.aliases,
                limits.max_aliases,
                "TOO_MANY_ALIASES",
                "query uses {} aliases (fragment spreads included), exceeding",
            ),
            (
                measured.directives,
                limits.max_directives,
                "TOO_MANY_DIRECTIVES",
                "query uses {} directives (fragment spreads included), exceeding",
            ),
        )
        for value, limit, code, template in checks:
            if value > limit:
                message = f"{template.format(value)} the limit of {limit}"
                self.report_error(_limit_error(message, code, node, limit=limit, measured=value))
        if measured.cost > limits.max_cost:
            self.report_error(_cost_error(measured.cost, limits.max_cost, node))

    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        """A literal page size out of range, worded as `pagination.page_size` words it.

        The resolver would refuse it too, but only after its siblings had run.
        """
        limit = self.limits.max_page_size
        for argument in node.arguments or ():
            value = argument.value
            if argument.name.value != PAGE_SIZE_ARGUMENT or not isinstance(value, IntValueNode):
                continue
            size = int(value.value)
            if not 1 <= size <= limit:
                self.report_error(
                    _limit_error(
                        f"{PAGE_SIZE_ARGUMENT}: must be between 1 and {limit};"
                        f" '{node.name.value}' asked for {size}",
                        "PAGE_SIZE",
                        argument,
                        limit=limit,
                        measured=size,
                    )
                )


def limits_rule(limits: GraphQLLimits) -> type[ValidationRule]:
    """A graphql-core validation rule enforcing `limits` (all but tokens, which the parser does).

    Build it once per schema: strawberry's ValidationCache keys on the rule classes, so a new
    class per request would never hit the cache.
    """
    configured = limits

    class LimitsRule(_LimitsRule):
        limits = configured

    return LimitsRule


class IntrospectionDisabledRule(ValidationRule):
    """Refuses `__schema` and `__type` (not `__typename`) with one error per document.

    graphql-core's NoSchemaIntrospectionCustomRule reports every introspection field, so the
    standard introspection query alone fills the 100-error budget; one error says it all.
    """

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._reported = False

    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        if self._reported:
            return
        named = get_named_type(self.context.get_type())
        if named is not None and is_introspection_type(named):
            self._reported = True
            self.report_error(
                GraphQLError(
                    f"introspection is disabled on this server (the query asks for"
                    f" '{node.name.value}')",
                    node,
                    extensions={"code": "INTROSPECTION_DISABLED"},
                )
            )


# graphql-core builds every suggestion with `did_you_mean`: " Did you mean 'a', 'b', or 'c'?",
# optionally with "to use an inline fragment on" or "the enum value" after "mean". Names
# cannot contain "?", so the suggestion ends at the first one.
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
_TOKEN_LIMIT = re.compile(r"Document contains more than (\d+) tokens")


def strip_suggestions(error: GraphQLError) -> GraphQLError:
    """The same error without "Did you mean …?", which would leak field, type and enum names.

    Strawberry's `disable_field_suggestions` only strips "Cannot query field" messages; graphql-core
    also suggests arguments, types, input fields and enum values (in variables, at execution).
    """
    message = _SUGGESTION.sub("", error.message)
    return error if message == error.message else _copy(error, message)


def _copy(error: GraphQLError, message: str) -> GraphQLError:
    return GraphQLError(
        message,
        error.nodes,
        error.source,
        error.positions,
        error.path,
        error.original_error,
        error.extensions,
    )


def _token_error(error: GraphQLError) -> GraphQLError:
    found = _TOKEN_LIMIT.search(error.message) if isinstance(error, GraphQLSyntaxError) else None
    if found is None:
        return error
    limit = int(found.group(1))
    return GraphQLError(
        f"query has more than {limit} tokens, the limit; parsing stopped at token {limit + 1}",
        source=error.source,
        positions=error.positions,
        extensions={"code": "TOO_MANY_TOKENS", "limit": limit},
    )


@runtime_checkable
class _ResultWithErrors(Protocol):
    errors: list[GraphQLError] | None


def rewrite_errors(result: object, rewrite: Callable[[GraphQLError], GraphQLError]) -> None:
    """Apply `rewrite` to the errors of a result, including incremental-delivery parts.

    Lists are replaced, never changed in place: ValidationCache hands the same list of error
    objects to every request with the same document.
    """
    parts = [
        result,
        *(getattr(result, "incremental", None) or ()),
        *(getattr(result, "completed", None) or ()),
    ]
    initial = getattr(result, "initial_result", None)
    if initial is not None:
        parts.append(initial)
    for part in parts:
        if isinstance(part, _ResultWithErrors) and part.errors:
            part.errors = [rewrite(error) for error in part.errors]


class _ErrorRewriter(SchemaExtension, ABC):
    """Applies `rewrite` to every error a client will see, on every result path."""

    @abstractmethod
    def rewrite(self, error: GraphQLError) -> GraphQLError:
        """The error as the client should see it; subclasses say how."""

    def _after_operation(self) -> None:
        result = self.execution_context.result
        if result is not None:
            rewrite_errors(result, self.rewrite)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        rewrite_errors(result, self.rewrite)
        yield None


class RequestLimits(_ErrorRewriter):
    """Sets the parser's token limit, adds the limit rules to validation, and checks the cost of
    an operation whose page sizes come from variables once their values are known.

    With ParserCache the token error is raised through this hook instead of being returned, so
    it is rewritten on the way out as well.
    """

    def __init__(self, limits: GraphQLLimits, rules: tuple[type[ASTValidationRule], ...]) -> None:
        super().__init__()
        self._limits = limits
        self._rules = rules

    def rewrite(self, error: GraphQLError) -> GraphQLError:
        return _token_error(error)

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self._limits.max_tokens
        context.validation_rules = (*context.validation_rules, *self._rules)
        try:
            yield None
        except GraphQLSyntaxError as error:
            rewritten = _token_error(error)
            if rewritten is error:
                raise
            raise rewritten from None
        self._after_operation()

    def on_execute(self) -> Iterator[None]:
        """Refuse, before the executor starts, an operation that variables make too costly.

        Validation counted each variable page size as 1, and its verdict is cached per document,
        so only here are the values known. Raising is how strawberry lets an execute hook stop
        the operation on every path (execute, execute_sync, stream, subscribe).
        """
        context = self.execution_context
        document = context.graphql_document
        operation = (
            get_operation_ast(document, context.operation_name) if document is not None else None
        )
        if document is not None and operation is not None and operation.variable_definitions:
            meter = _Meter(
                context.schema._schema,  # graphql-core's schema; ValidationCache reads it too.
                _fragments(document),
                self._limits,
                context.variables or {},
            )
            cost = meter.operation(operation).cost
            if cost > self._limits.max_cost:
                raise _cost_error(cost, self._limits.max_cost, operation)
        yield None


class HideSchema(_ErrorRewriter):
    """Production only: no introspection, and no "Did you mean …?" in any error message."""

    def rewrite(self, error: GraphQLError) -> GraphQLError:
        return strip_suggestions(error)

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = (*context.validation_rules, IntrospectionDisabledRule)
        yield None
        self._after_operation()


def limit_extensions(limits: GraphQLLimits, *, production: bool) -> list[ExtensionFactory]:
    """The schema extensions enforcing `limits`, plus `HideSchema` when `production`.

    Factories, not instances: strawberry deprecates shared instances, and each request needs
    its own. The rule classes are built here, once, so ValidationCache can key on them.
    """
    rules = (limits_rule(limits),)
    factories: list[ExtensionFactory] = [lambda: RequestLimits(limits, rules)]
    if production:
        factories.append(HideSchema)
    return factories
