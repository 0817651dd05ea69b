"""Text PostgreSQL cannot store is refused before anything runs, naming the field.

PostgreSQL `text` and `jsonb` cannot hold U+0000 (NUL), and an unpaired surrogate cannot even be
encoded as UTF-8. A GraphQL string may carry either (as `\\u0000` in a literal, or in a JSON
variable), and it used to reach asyncpg, fail there and come
back as a masked internal error, logged at ERROR as if the hub were broken. Every string input
(any argument, nested input field, list item, `JSON` scalar value or key) is checked here once
per operation, before execution, from the operation's own syntax tree and variable values:

    mutation { registerAccount(input: {displayName: "a\\u0000"}) { ... } }
    → INVALID_INPUT, field "registerAccount.input.displayName"

The error is an `InvalidInput` (code `INVALID_INPUT`, `extensions.field` the path from the
operation root through response keys to the argument), raised from the execute hook, so the
whole operation is refused as a request error and nothing runs: no half-applied mutation list.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    get_operation_ast,
)
from strawberry.extensions import SchemaExtension

from hub.errors import InvalidInput
from hub.kit import json_input

REASON = "must not contain U+0000 (NUL) or unpaired surrogates, which cannot be stored"


class RefuseUnstorableText(SchemaExtension):
    """Refuses an operation whose string inputs hold U+0000 (see the module docstring)."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        operation = (
            get_operation_ast(document, context.operation_name) if document is not None else None
        )
        if document is not None and operation is not None:
            where = unstorable_input(document, operation, context.variables or {})
            if where is not None:
                raise InvalidInput(where, REASON, code="INVALID_INPUT")
        yield None


def unstorable_input(
    document: DocumentNode, operation: OperationDefinitionNode, variables: Mapping[str, Any]
) -> str | None:
    """The path of the first string input of `operation` holding U+0000, or None."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    defaults = {
        v.variable.name.value: v.default_value
        for v in operation.variable_definitions or ()
        if v.default_value is not None
    }
    walker = _Walker(fragments, variables, defaults)
    return walker.selections(operation.selection_set, "")


class _Walker:
    def __init__(
        self,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        defaults: Mapping[str, ValueNode],
    ) -> None:
        self._fragments = fragments
        self._variables = variables
        self._defaults = defaults
        self._visited: set[tuple[str, str]] = set()

    def selections(self, selection_set: SelectionSetNode, prefix: str) -> str | None:
        for selection in selection_set.selections:
            found: str | None = None
            if isinstance(selection, FieldNode):
                key = (selection.alias or selection.name).value
                path = f"{prefix}{key}"
                for argument in selection.arguments or ():
                    found = found or self.value(argument.value, f"{path}.{argument.name.value}")
                if found is None and selection.selection_set is not None:
                    found = self.selections(selection.selection_set, f"{path}.")
            elif isinstance(selection, InlineFragmentNode):
                found = self.selections(selection.selection_set, prefix)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self._fragments.get(name)
                # Each fragment once per prefix: validation has refused cycles already, and
                # this keeps a document that spreads one fragment many times linear.
                if fragment is not None and (name, prefix) not in self._visited:
                    self._visited.add((name, prefix))
                    found = self.selections(fragment.selection_set, prefix)
            if found is not None:
                return found
        return None

    def value(self, node: ValueNode, path: str) -> str | None:
        if isinstance(node, StringValueNode):
            return path if json_input.unstorable(node.value) else None
        if isinstance(node, ListValueNode):
            for index, item in enumerate(node.values):
                found = self.value(item, f"{path}[{index}]")
                if found is not None:
                    return found
            return None
        if isinstance(node, ObjectValueNode):
            for field in node.fields:
                found = self.value(field.value, f"{path}.{field.name.value}")
                if found is not None:
                    return found
            return None
        if isinstance(node, VariableNode):
            name = node.name.value
            if name in self._variables:
                return json_input.unstorable_path(self._variables[name], path)
            default = self._defaults.get(name)
            return self.value(default, path) if default is not None else None
        return None
