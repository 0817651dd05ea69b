from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from hub.accounts import service
from hub.accounts.models import Account as AccountRow
from hub.accounts.models import Role as RoleValue
from hub.accounts.service import AccountAdministrator
from hub.accounts.types import Account, Role
from hub.db.uow import read_only, unit_of_work
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
from hub.graphql.pagination import Connection, build_connection, decode_cursor, page_size
from hub.graphql.permissions import allow

ACCOUNT_ADMINS = (RoleValue.ADMIN, RoleValue.REGISTERED_MANAGER)


def _administrator(info: Info) -> AccountAdministrator:
    principal = info.context.require_principal()
    return AccountAdministrator(
        account_id=principal.account_id,
        role=principal.role,
        organisation_id=principal.organisation_id,
        actor=principal.actor,
    )


def _after_id(after: str | None) -> uuid.UUID | None:
    cursor = decode_cursor(after)
    if cursor is None:
        return None
    try:
        if len(cursor) != 1:
            raise ValueError("wrong length")
        return uuid.UUID(str(cursor[0]))
    except ValueError as exc:
        raise InvalidInput(
            "after", "is not a cursor this list gave out", code="INVALID_CURSOR"
        ) from exc


@strawberry.type
class AccountQuery:
    @strawberry.field(
        description="Accounts in the order they were made, a page at a time: every account "
        "for admins, their own organisation's for registered managers.",
        extensions=allow(*ACCOUNT_ADMINS),
    )
    async def accounts(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        organisation_id: strawberry.ID | None = None,
        role: Role | None = None,
        active: Annotated[
            bool | None,
            strawberry.argument(description="Only switched-on (true) or switched-off (false)."),
        ] = None,
    ) -> Connection[Account]:
        limit = page_size(first)
        organisation = (
            expect_global_id(organisation_id, "Organisation", field="organisationId")
            if organisation_id
            else None
        )
        async with read_only(info.context.sessions) as session:
            rows = await service.list_accounts(
                session,
                _administrator(info),
                organisation_id=organisation,
                role=RoleValue(role.value) if role else None,
                active=active,
                after_id=_after_id(after),
                limit=limit + 1,
            )
        return build_connection(rows, limit, Account.from_model, _sort_key)


def _sort_key(row: AccountRow) -> tuple[str]:
    return (str(row.id),)


@strawberry.input(description="Switch an account off or on.")
class AccountSwitchInput:
    account_id: strawberry.ID
    reason: str | None = strawberry.field(
        default=None, description="Why, for the event log (e.g. 'left the organisation')."
    )


@strawberry.input(description="Give an account another role.")
class ChangeAccountRoleInput:
    account_id: strawberry.ID
    role: Role
    reason: str | None = strawberry.field(default=None, description="Why, for the event log.")


AccountChangeResult = Annotated[
    Account | NotFoundError | ConflictError | ForbiddenError | InvalidInputError,
    strawberry.union("AccountChangeResult"),
]


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

    @strawberry.mutation(
        description="Switch an account off: its requests are refused from now on and its open "
        "subscriptions end within about a second. Admins; registered managers for the staff "
        "accounts of their own organisation. Nobody switches off themselves or the last admin.",
        extensions=allow(*ACCOUNT_ADMINS),
    )
    async def switch_off_account(
        self, info: Info, input: AccountSwitchInput
    ) -> AccountChangeResult:
        clock = info.context.clock
        return await _change(
            info,
            input.account_id,
            lambda session, by, account: service.switch_off(
                session, by, account, reason=input.reason, clock=clock
            ),
        )

    @strawberry.mutation(
        description="Switch an account on again, with the role it had. Only this mutation "
        "does: registering the subject again does not.",
        extensions=allow(*ACCOUNT_ADMINS),
    )
    async def switch_on_account(self, info: Info, input: AccountSwitchInput) -> AccountChangeResult:
        clock = info.context.clock
        return await _change(
            info,
            input.account_id,
            lambda session, by, account: service.switch_on(
                session, by, account, reason=input.reason, clock=clock
            ),
        )

    @strawberry.mutation(
        description="Give an active account another role. Registered managers give carer, "
        "coordinator or registered manager within their organisation, never admin; nobody "
        "changes their own role or takes the role of the last admin.",
        extensions=allow(*ACCOUNT_ADMINS),
    )
    async def change_account_role(
        self, info: Info, input: ChangeAccountRoleInput
    ) -> AccountChangeResult:
        clock = info.context.clock
        role = RoleValue(input.role.value)
        return await _change(
            info,
            input.account_id,
            lambda session, by, account: service.change_role(
                session, by, account, role, reason=input.reason, clock=clock
            ),
        )


ChangeRun = Callable[[AsyncSession, AccountAdministrator, uuid.UUID], Awaitable[AccountRow]]


async def _change(
    info: Info, account_id: strawberry.ID, run: ChangeRun
) -> Account | NotFoundError | ConflictError | ForbiddenError | InvalidInputError:
    """One account change as the signed-in caller, in one unit of work."""
    try:
        account_uuid = expect_global_id(account_id, "Account", field="accountId")
        by = _administrator(info)
        async with unit_of_work(info.context.sessions) as session:
            account = await run(session, by, account_uuid)
        return Account.from_model(account)
    except HubError as error:
        return expected_error(error)
