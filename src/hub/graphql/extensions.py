"""Schema extensions: operation metrics by name and outcome."""

from __future__ import annotations

import time
from collections.abc import Iterator

from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

from hub.accounts.models import Role
from hub.graphql.context import Context
from hub.mobile.documents import trusted_documents

# Signed-in people at a desk, whose operation names may become metric labels (within caps).
OFFICE_ROLES = frozenset({Role.COORDINATOR, Role.REGISTERED_MANAGER, Role.COMMISSIONER, Role.ADMIN})


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._observe(started)

    def _observe(self, started: float) -> None:
        context = self.execution_context.context
        if not isinstance(context, Context):
            return
        context.operation_name = context.operation_name or (
            (self.execution_context.operation_name or "")[:100] or None
        )
        name = _label(context, self.execution_context.operation_name)
        kind = _operation_type(self.execution_context.graphql_document)
        result = self.execution_context.result
        errors: list[GraphQLError] = list(result.errors or []) if result is not None else []
        if self.execution_context.pre_execution_errors:
            errors = list(self.execution_context.pre_execution_errors)
        outcome = "error" if errors else "ok"
        metrics = context.metrics
        metrics.graphql_operations.labels(name, kind, outcome).inc()
        metrics.graphql_latency.labels(name, kind).observe(time.perf_counter() - started)
        for error in errors:
            kind_label = "validation" if error.path is None else "execution"
            metrics.graphql_errors.labels(name, kind_label).inc()


def _label(context: Context, requested: str | None) -> str:
    """The metric label (see `hub.metrics`): a trusted document's manifest name, else the
    requested name as far as the caller may add it."""
    principal = context.principal
    if context.document_id is not None:
        operation = trusted_documents().get(context.document_id)
        if operation is not None:
            return context.metrics.operation_label(
                operation.name, signed_in=principal is not None, trusted=True
            )
    learner = None
    if principal is not None and principal.role in OFFICE_ROLES:
        learner = str(principal.account_id)
    return context.metrics.operation_label(
        requested, signed_in=principal is not None, learner=learner
    )


def _operation_type(document: object) -> str:
    for definition in getattr(document, "definitions", ()):
        if isinstance(definition, OperationDefinitionNode):
            return definition.operation.value
    return "unknown"
