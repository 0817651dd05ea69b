"""Error masking: a client sees a `HubError`'s message and code, or a reference, never internals.

Every expected failure is a `HubError` (see `hub.errors`), so anything else reaching the client
is a bug or an outage: an asyncpg message, a stack detail, a hostname. It is replaced by
"Unexpected error. Reference: <id>" and logged in full under the same id, which is the request
id when there is one, so support can go from a user's screenshot to the log line and the
access log (reference test G11).

Left alone: parse and validation errors (including the limit errors from `hub.graphql.limits`)
and variable-coercion errors. graphql-core and strawberry write those for the client; they
carry no original exception, or a GraphQLError one, and no response path.

Strawberry's MaskErrors only masks the result after the operation. An exception raised by
another extension's hook skips that and reaches the client as `str(exception)`, so the
operation hook here also turns such exceptions into masked errors.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import StreamExecutionResult

from hub.errors import HubError, InvalidInput
from hub.graphql.limits import rewrite_errors
from hub.logging import get_logger

log = get_logger(__name__)

INTERNAL_ERROR = "INTERNAL_ERROR"

# Strawberry raises these out of `Schema.execute` for the view to answer with HTTP 400; they
# describe the request, not the server, and must keep their type.
_REQUEST_EXCEPTIONS = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)


class MaskUnexpectedErrors(SchemaExtension):
    """Masks unexpected errors with a correlation reference; gives HubErrors their code.

    Pass the class (one instance per request): the reference is fixed per request.
    """

    def __init__(self) -> None:
        super().__init__()
        self._reference: str | None = None
        self._streamed = False

    @property
    def reference(self) -> str:
        """The request id from the GraphQL context if it has one, else a fresh uuid4 hex."""
        if self._reference is None:
            context = getattr(self, "execution_context", None)
            request_id = getattr(getattr(context, "context", None), "request_id", None)
            self._reference = (
                request_id if isinstance(request_id, str) and request_id else uuid.uuid4().hex
            )
        return self._reference

    def on_operation(self) -> Iterator[None]:
        self._streamed = False
        try:
            yield None
        except (GraphQLError, *_REQUEST_EXCEPTIONS):
            raise
        except HubError as error:
            raise GraphQLError(
                error.message, original_error=error, extensions=_hub_extensions(error)
            ) from error
        except Exception as error:
            raise self._masked(GraphQLError(str(error), original_error=error)) from None
        if self._streamed:
            return  # on_stream_result has already seen every result of this operation.
        result = self.execution_context.result
        if result is not None:
            rewrite_errors(result, self.process)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        self._streamed = True
        rewrite_errors(result, self.process)
        yield None

    def process(self, error: GraphQLError) -> GraphQLError:
        """The error as the client may see it."""
        original = error.original_error
        if isinstance(original, HubError):
            return GraphQLError(
                error.message,
                error.nodes,
                error.source,
                error.positions,
                error.path,
                original,
                {**(error.extensions or {}), **_hub_extensions(original)},
            )
        if _is_request_error(error) or _is_masked(error):
            return error
        return self._masked(error)

    def _masked(self, error: GraphQLError) -> GraphQLError:
        reference = self.reference
        log.error(
            "graphql.unexpected_error",
            reference=reference,
            path=error.path,
            operation=self.execution_context.operation_name,
            error=error.message,
            exc_info=error.original_error or error,
        )
        return GraphQLError(
            f"Unexpected error. Reference: {reference}",
            error.nodes,
            error.source,
            error.positions,
            error.path,
            extensions={"code": INTERNAL_ERROR, "reference": reference},
        )


def _hub_extensions(error: HubError) -> dict[str, object]:
    extensions: dict[str, object] = {"code": error.code}
    if isinstance(error, InvalidInput):
        extensions["field"] = error.field
    return extensions


def _is_request_error(error: GraphQLError) -> bool:
    """Parse, validation and variable-coercion errors: no path, and written by GraphQL itself.

    Coercion errors of strawberry's scalars (Date, UUID, Decimal) carry a GraphQLError as their
    original error; anything else underneath (a custom scalar's ValueError) is not vetted text.
    Errors with a path come from execution, where only HubErrors are meant for the client.
    """
    original = error.original_error
    return error.path is None and (original is None or isinstance(original, GraphQLError))


def _is_masked(error: GraphQLError) -> bool:
    extensions = error.extensions or {}
    return extensions.get("code") == INTERNAL_ERROR and "reference" in extensions
