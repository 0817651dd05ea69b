"""Expected failures as schema types, members of each mutation's result union:

    union RegisterAccountResult = Account | InvalidInputError | ConflictError

A client switches on `__typename` and reads `code` (stable) and `message` (for people)."""

from __future__ import annotations

import strawberry

from hub.errors import Conflict, Forbidden, HubError, InvalidInput, NotFound


@strawberry.interface(description="An expected failure: nothing was changed.")
class UserError:
    code: str = strawberry.field(description="Stable, machine-readable reason.")
    message: str = strawberry.field(description="What went wrong, for a person to read.")


@strawberry.type(description="An input value was refused; `field` names it.")
class InvalidInputError(UserError):
    field: str = strawberry.field(description="The input field, e.g. `odsCode`.")
    reason: str


@strawberry.type(description="The thing does not exist, or is not visible to the caller.")
class NotFoundError(UserError):
    pass


@strawberry.type(
    description="The change clashes with the current state (an illegal move, a duplicate)."
)
class ConflictError(UserError):
    pass


@strawberry.type(description="The caller may not make this change.")
class ForbiddenError(UserError):
    pass


ExpectedError = InvalidInputError | NotFoundError | ConflictError | ForbiddenError


def expected_error(error: HubError) -> ExpectedError:
    """The schema type for a domain error. Unexpected kinds are re-raised (and masked)."""
    if isinstance(error, InvalidInput):
        return InvalidInputError(
            code=error.code, message=error.message, field=error.field, reason=error.reason
        )
    if isinstance(error, NotFound):
        return NotFoundError(code=error.code, message=error.message)
    if isinstance(error, Conflict):
        return ConflictError(code=error.code, message=error.message)
    if isinstance(error, Forbidden):
        return ForbiddenError(code=error.code, message=error.message)
    raise error
