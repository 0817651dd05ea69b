"""Commands that fail GraphQL input coercion are settled one by one, not refused as an upload.

GraphQL coerces an operation's variables before anything runs: one command of a hundred whose
body names no `CommandBody` member (or two), carries a wrong scalar, an enum value the schema
does not know or a `commandId` that is not a UUID makes the whole `submitCommands` a bare
GraphQL error — nothing applied, not even the valid commands before it, no `serverTime` — and
the app resends the same batch for ever. Protocol rule 1 says a command the hub cannot apply is
kept whole and never blocks the commands behind it, so coercion moves into the per-command step:

- `CommandSalvagingExecutionContext.build` runs GraphQL's own variable coercion first (the
  usual path costs nothing more). Only when it fails does it coerce each command of every
  `SubmitCommandsInput` variable on its own, and move those that fail into the input's
  `rawCommands` (the raw JSON, its `seq`) before coercing again. Every app version's manifest
  runs unchanged: the document still declares `$input: SubmitCommandsInput!`.
- The app may also send a command it cannot encode as `rawCommands` itself (documented in
  `mobile_contract/protocol.md`). Either way the hub checks each raw command again
  (`check_command`) — what the client says about it is never trusted — and a raw command that
  turns out valid is settled like any other.

A raw command needs a usable `seq` to take its place in the device's order: its own, or one
inferred from the commands beside it in the batch (the outbox is gap-free). A command whose
`seq` cannot be known either way is left to GraphQL's error, as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLNonNull,
    GraphQLSchema,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    TypeNode,
    Undefined,
)
from graphql.utilities import coerce_input_value
from graphql.utilities.validate_input_value import validate_input_value
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

UPLOAD_INPUT = "SubmitCommandsInput"
COMMAND_INPUT = "CommandInput"
MAX_PROBLEM_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class CommandCheck:
    """A raw command checked against `CommandInput`: the coerced value, or what is wrong."""

    coerced: Mapping[str, Any] | None
    problem: str | None


def check_command(schema: GraphQLSchema, value: Any) -> CommandCheck:
    """Coerce one raw command as GraphQL would; name every invalid value by its path."""
    command_type = _command_type(schema)
    coerced = _coerced(value, command_type)
    if coerced is not Undefined and isinstance(coerced, Mapping):
        return CommandCheck(coerced, None)
    problems: list[str] = []

    def on_error(error: GraphQLError, path: Sequence[str | int]) -> None:
        where = "command" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in path
        )
        problems.append(f"{where}: {error.message}")

    validate_input_value(value, command_type, on_error, hide_suggestions=True)
    _check_one_of(value, command_type, (), problems)
    text = "; ".join(problems) or "command: is not a CommandInput"
    if len(text) > MAX_PROBLEM_LENGTH:
        text = text[: MAX_PROBLEM_LENGTH - 1] + "…"
    return CommandCheck(None, f"not a command of the contract ({text})")


def salvage_commands(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The variables with every command that fails coercion moved to `rawCommands`, or None
    when there is nothing to move (the error is elsewhere, or a bad command's `seq` cannot be
    known)."""
    operation = _operation(document, operation_name)
    if operation is None:
        return None
    moved_any = False
    result = dict(variables)
    for definition in operation.variable_definitions or ():
        if _named(definition.type) != UPLOAD_INPUT:
            continue
        name = definition.variable.name.value
        value = variables.get(name)
        if not isinstance(value, Mapping) or not isinstance(value.get("commands"), list):
            continue
        salvaged = _salvage_upload(schema, value)
        if salvaged is None:
            return None
        if salvaged is not value:
            result[name] = salvaged
            moved_any = True
    return result if moved_any else None


class CommandSalvagingExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """GraphQL's executor, with the command salvage of this module when variables fail."""

    @classmethod
    def build(
        cls,
        schema: GraphQLSchema,
        document: DocumentNode,
        root_value: Any = None,
        context_value: Any = None,
        raw_variable_values: dict[str, Any] | None = None,
        operation_name: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        try:
            built = super().build(
                schema,
                document,
                root_value,
                context_value,
                raw_variable_values,
                operation_name,
                *args,
                **kwargs,
            )
        except Exception:
            # Strawberry raises (rather than reports) a @oneOf input with no member or two.
            salvaged = _salvaged_or_none(schema, document, operation_name, raw_variable_values)
            if salvaged is None:
                raise
        else:
            if not isinstance(built, list):
                return built
            salvaged = _salvaged_or_none(schema, document, operation_name, raw_variable_values)
            if salvaged is None:
                return built
        return super().build(
            schema, document, root_value, context_value, salvaged, operation_name, *args, **kwargs
        )


# ---------------------------------------------------------------------------------------------


def _salvaged_or_none(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
) -> dict[str, Any] | None:
    if not variables:
        return None
    return salvage_commands(schema, document, operation_name, variables)


def _coerced(value: Any, type_: GraphQLInputType) -> Any:
    """GraphQL's coercion of one value; Undefined when it fails (Strawberry's @oneOf check
    raises instead of answering Undefined)."""
    try:
        return coerce_input_value(value, type_)
    except Exception:
        return Undefined


def _check_one_of(
    value: Any, type_: GraphQLInputType, path: tuple[str, ...], problems: list[str]
) -> None:
    """Strawberry checks @oneOf inputs itself (GraphQL-core's validation does not see them):
    name every one with no member or more than one."""
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if not isinstance(type_, GraphQLInputObjectType) or not isinstance(value, Mapping):
        return
    definition = type_.extensions.get("strawberry-definition")
    where = "command" + "".join(f".{part}" for part in path)
    if getattr(definition, "is_one_of", False):
        members = [name for name, member in value.items() if member is not None]
        if len(members) != 1:
            problems.append(
                f"{where}: must have exactly one member of {type_.name}, "
                f"not {len(members)}" + (f" ({', '.join(members)})" if members else "")
            )
    for name, field in type_.fields.items():
        if name in value:
            _check_one_of(value[name], field.type, (*path, name), problems)


def _salvage_upload(schema: GraphQLSchema, upload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    commands: list[Any] = upload["commands"]
    command_type = _command_type(schema)
    failing = [
        index
        for index, command in enumerate(commands)
        if _coerced(command, command_type) is Undefined
    ]
    if not failing:
        return upload
    seqs = _inferred_seqs(commands)
    dropped = set(failing)
    moved: list[dict[str, Any]] = []
    for index in failing:
        seq = seqs[index]
        if seq is None:
            return None
        moved.append({"seq": seq, "command": commands[index]})
    kept = [command for index, command in enumerate(commands) if index not in dropped]
    raw = upload.get("rawCommands")
    earlier = list(raw) if isinstance(raw, list) else []
    return {**upload, "commands": kept, "rawCommands": [*earlier, *moved]}


def _inferred_seqs(commands: Sequence[Any]) -> list[int | None]:
    """Each command's own `seq`, or the one its place in a gap-free batch gives it."""
    own = [_seq_of(command) for command in commands]
    inferred: list[int | None] = []
    for index, seq in enumerate(own):
        if seq is not None:
            inferred.append(seq)
            continue
        found: int | None = None
        for before in range(index - 1, -1, -1):
            known = own[before]
            if known is not None:
                found = known + (index - before)
                break
        if found is None:
            for after in range(index + 1, len(own)):
                known = own[after]
                if known is not None:
                    found = known - (after - index)
                    break
        inferred.append(found if found is not None and found >= 1 else None)
    return inferred


def _seq_of(command: Any) -> int | None:
    if not isinstance(command, Mapping):
        return None
    seq = command.get("seq")
    if isinstance(seq, bool):
        return None
    if isinstance(seq, float) and seq.is_integer():
        seq = int(seq)
    if isinstance(seq, int) and 1 <= seq < 2**31:
        return seq
    return None


def _command_type(schema: GraphQLSchema) -> GraphQLInputType:
    found = schema.get_type(COMMAND_INPUT)
    if found is None:  # pragma: no cover - the mobile domain defines it
        raise LookupError(COMMAND_INPUT)
    return found  # type: ignore[return-value]


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    for operation in operations:
        if operation.name is not None and operation.name.value == name:
            return operation
    return None


def _named(type_node: TypeNode) -> str | None:
    if isinstance(type_node, NonNullTypeNode):
        type_node = type_node.type
    return type_node.name.value if isinstance(type_node, NamedTypeNode) else None
