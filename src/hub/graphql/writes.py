"""How every mutation runs its write: as the signed-in caller, one unit of work inside `run`,
expected failures mapped to typed union members, everything else left to the error masking."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from hub.errors import HubError
from hub.graphql.context import Info
from hub.graphql.errors import ExpectedError, expected_error
from hub.tenancy import AccessScope

RowT = TypeVar("RowT")
ResultT = TypeVar("ResultT")


async def write_result(
    info: Info,
    run: Callable[[AccessScope], Awaitable[RowT]],
    present: Callable[[RowT], ResultT],
    *,
    passthrough: tuple[type[HubError], ...] = (),
) -> ResultT | ExpectedError:
    """`run(scope)` performs the write; `present(row)` maps what it returns. Errors in
    `passthrough` propagate to a caller that has its own typed member for them."""
    try:
        row = await run(AccessScope.of(info.context.require_principal()))
    except passthrough:
        raise
    except HubError as error:
        return expected_error(error)
    return present(row)
