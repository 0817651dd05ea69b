from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from hub.accounts import service
from hub.accounts.models import Role as RoleValue
from hub.accounts.types import Account, Role
from hub.db.uow import unit_of_work
from hub.errors import HubError, InvalidInput
from hub.graphql.context import Info
from hub.graphql.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    expected_error,
)
from hub.graphql.ids import expect_global_id
from hub.graphql.permissions import allow


@strawberry.input(description="Who may use the hub: the token issuer's subject and what it may do.")
class RegisterAccountInput:
    subject: str = strawberry.field(description="Token `sub`, or the OAuth client id of a client.")
    role: Role
    display_name: str
    organisation_id: strawberry.ID | None = None
    staff_id: strawberry.ID | None = strawberry.field(
        default=None, description="Staff record (UUID)."
    )
    scopes: list[str] = strawberry.field(
        default_factory=list, description="For clients, e.g. referrals:read referrals:write."
    )
    issuer: str | None = strawberry.field(default=None, description="Defaults to the hub's issuer.")


RegisterAccountResult = Annotated[
    Account | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("RegisterAccountResult"),
]


@strawberry.type
class AccountMutation:
    @strawberry.mutation(
        description="Register an account (or update the one with this subject). Admins only.",
        extensions=allow(RoleValue.ADMIN),
    )
    async def register_account(
        self, info: Info, input: RegisterAccountInput
    ) -> RegisterAccountResult:
        context = info.context
        try:
            organisation_id = (
                expect_global_id(input.organisation_id, "Organisation", field="organisationId")
                if input.organisation_id
                else None
            )
            try:
                staff_id = uuid.UUID(input.staff_id) if input.staff_id else None
            except ValueError as exc:
                raise InvalidInput("staffId", "must be a staff id (UUID)") from exc
            async with unit_of_work(context.sessions) as session:
                account = await service.register(
                    session,
                    issuer=input.issuer or context.settings.auth_issuer,
                    subject=input.subject.strip(),
                    role=RoleValue(input.role.value),
                    display_name=input.display_name,
                    organisation_id=organisation_id,
                    staff_id=staff_id,
                    scopes=input.scopes,
                    actor=context.actor,
                    clock=context.clock,
                )
            return Account.from_model(account)
        except HubError as error:
            return expected_error(error)
