"""GraphQL face of the people domain: permission → service → typed result.

Who may do what:

- read (`people`, `person`): staff (carers see only the people on their own visits, through
  tenancy), commissioners (people on their contracts) and admins. Partner clients reach the
  people of their referrals through `node(id:)` and the referral's `person` field, not a list.
- write (`registerPerson`, `updatePersonRisks`, `setAccessDetails`): office staff only
  (coordinator, registered manager): the provider keeps the care record.

Every field returning people records the read in the access log.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from hub.accounts.models import Role
from hub.db.uow import read_only, unit_of_work
from hub.errors import HubError, InvalidInput
from hub.governance import service as governance
from hub.graphql.context import Info
from hub.graphql.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    expected_error,
)
from hub.graphql.ids import expect_global_id
from hub.graphql.node import register_node
from hub.graphql.pagination import (
    Connection,
    build_connection,
    page_size,
    text_text_id_cursor,
    time_id_cursor,
)
from hub.graphql.permissions import OFFICE, allow
from hub.organisations import repository as organisations
from hub.people import repository, service
from hub.people.inputs import RegisterPersonInput, SetAccessDetailsInput, UpdatePersonRisksInput
from hub.people.loaders import person_type, resolve_person
from hub.people.models import Person as PersonRow
from hub.people.sealing import sealer_for
from hub.people.types import Person, PersonHeldForReview, PersonLinkHold
from hub.people.vocabulary import MedicationSupport as SupportValue
from hub.tenancy import AccessScope

READERS = (
    Role.CARER,
    Role.COORDINATOR,
    Role.REGISTERED_MANAGER,
    Role.COMMISSIONER,
    Role.ADMIN,
)
MAX_SEARCH_TERMS = 5
MAX_SEARCH_LENGTH = 100

RegisterPersonResult = Annotated[
    Person
    | PersonHeldForReview
    | InvalidInputError
    | NotFoundError
    | ConflictError
    | ForbiddenError,
    strawberry.union("RegisterPersonResult"),
]
UpdatePersonRisksResult = Annotated[
    Person | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("UpdatePersonRisksResult"),
]
SetAccessDetailsResult = Annotated[
    Person | InvalidInputError | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("SetAccessDetailsResult"),
]


@strawberry.type
class PersonQuery:
    @strawberry.field(
        description="Writes held because the NHS number they carried belongs to a record whose "
        "date of birth or family name did not match: those your office receives or sent, and "
        "those naming a person you may see. Newest first.",
        extensions=allow(*OFFICE, Role.COMMISSIONER, Role.ADMIN),
    )
    async def person_link_holds(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[PersonLinkHold]:
        limit = page_size(first)
        key = time_id_cursor(after)
        scope = AccessScope.of(info.context.require_principal())
        async with read_only(info.context.sessions) as session:
            rows = await repository.list_holds(session, scope, limit=limit + 1, after=key)
        return build_connection(
            rows,
            limit,
            PersonLinkHold.from_model,
            lambda row: (row.created_at.isoformat(), str(row.id)),
        )

    @strawberry.field(
        description="People receiving care that you may see, by family name, a page at a time. "
        "`search` takes an NHS number (spaces allowed) or words of a name.",
        extensions=allow(*READERS),
    )
    async def people(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        search: str | None = None,
    ) -> Connection[Person]:
        limit = page_size(first)
        key = text_text_id_cursor(after)
        nhs_number, terms = _search(search)
        scope = AccessScope.of(info.context.require_principal())
        async with read_only(info.context.sessions) as session:
            rows = await repository.list_page(
                session,
                scope,
                limit=limit + 1,
                after=key,
                name_terms=terms,
                nhs_number=nhs_number,
            )
        connection = build_connection(rows, limit, person_type, _sort_key)
        info.context.audit.person_read("people", [row.id for row in rows[:limit]])
        return connection

    @strawberry.field(
        description="One person by id; null if missing or not yours to see.",
        extensions=allow(*READERS),
    )
    async def person(self, info: Info, id: strawberry.ID) -> Person | None:
        return await resolve_person(info, expect_global_id(id, "Person"))


@strawberry.type
class PersonMutation:
    @strawberry.mutation(
        description="Register a person receiving care. A given NHS number must pass the "
        "modulus-11 check. A number the hub already holds for someone you cannot see is linked "
        "only when the date of birth and family name match (you then see that record); "
        "otherwise nothing is registered and your record is held for your office's review "
        "(PersonHeldForReview). Office staff only.",
        extensions=allow(*OFFICE),
    )
    async def register_person(self, info: Info, input: RegisterPersonInput) -> RegisterPersonResult:
        context = info.context
        scope = AccessScope.of(context.require_principal())
        try:
            details = input.to_details()
            async with unit_of_work(context.sessions) as session:
                registration = await service.register_person(
                    session,
                    scope,
                    details=details,
                    nhs_number=input.nhs_number,
                    access_details=input.access_details,
                    key_safe_code=input.key_safe_code,
                    # Only when there is something to seal: registering needs no key otherwise.
                    sealer=(
                        sealer_for(context.settings)
                        if input.access_details or input.key_safe_code
                        else None
                    ),
                    actor=context.actor,
                    clock=context.clock,
                )
                if registration.hold is not None:
                    hold = registration.hold
                    await governance.hold_person_write_for_review(
                        session,
                        hold_id=hold.id,
                        receiving_organisation_id=hold.receiving_organisation_id,
                        contract_id=None,
                        source=hold.source,
                        submitted=hold.submitted,
                        clock=context.clock,
                        actor=context.actor,
                    )
                    office = (
                        await organisations.get(session, hold.receiving_organisation_id)
                        if hold.receiving_organisation_id is not None
                        else None
                    )
                    return held_for_review(hold.id, office.name if office else "the hub's admins")
        except HubError as error:
            return expected_error(error)
        assert registration.person is not None
        return _returned(info, registration.person)

    @strawberry.mutation(
        description="Replace a person's risk flags (falls, safeguarding, DNAR and escalation "
        "preferences, lone working, environment) and optionally their medication support "
        "level. Office staff only.",
        extensions=allow(*OFFICE),
    )
    async def update_person_risks(
        self, info: Info, input: UpdatePersonRisksInput
    ) -> UpdatePersonRisksResult:
        context = info.context
        scope = AccessScope.of(context.require_principal())
        try:
            person_id = expect_global_id(input.person_id, "Person", field="personId")
            async with unit_of_work(context.sessions) as session:
                row = await service.update_risks(
                    session,
                    scope,
                    person_id,
                    risks=input.risk_flags.to_risks(),
                    medication_support=(
                        SupportValue[input.medication_support.name]
                        if input.medication_support is not None
                        else None
                    ),
                    actor=context.actor,
                    clock=context.clock,
                )
        except HubError as error:
            return expected_error(error)
        return _returned(info, row)

    @strawberry.mutation(
        description="Replace a person's access details and key-safe code (sealed at rest). "
        "Office staff only.",
        extensions=allow(*OFFICE),
    )
    async def set_access_details(
        self, info: Info, input: SetAccessDetailsInput
    ) -> SetAccessDetailsResult:
        context = info.context
        scope = AccessScope.of(context.require_principal())
        try:
            person_id = expect_global_id(input.person_id, "Person", field="personId")
            async with unit_of_work(context.sessions) as session:
                row = await service.set_access_details(
                    session,
                    scope,
                    person_id,
                    access_details=input.access_details,
                    key_safe_code=input.key_safe_code,
                    sealer=sealer_for(context.settings),
                    actor=context.actor,
                    clock=context.clock,
                )
        except HubError as error:
            return expected_error(error)
        return _returned(info, row)


def held_for_review(hold_id: uuid.UUID, office_name: str) -> PersonHeldForReview:
    return PersonHeldForReview(
        code="HELD_FOR_REVIEW",
        message=f"Nothing was registered: the details you sent are held for review by "
        f"{office_name}, who will confirm the person's NHS number, date of birth and family "
        "name before anything is linked. Quote the reference if you are contacted.",
        reference=strawberry.ID(str(hold_id)),
        held_by=office_name,
    )


def _returned(info: Info, row: PersonRow) -> Person:
    info.context.audit.person_read(info.field_name, [row.id])
    return person_type(row)


def _sort_key(row: PersonRow) -> tuple[str, str, str]:
    return (row.family_name, row.given_name, str(row.id))


def _search(search: str | None) -> tuple[str | None, list[str]]:
    """(NHS number, name terms) for a search string; both empty when there is none."""
    if search is None or not search.strip():
        return None, []
    if len(search) > MAX_SEARCH_LENGTH:
        raise InvalidInput(
            "search", f"must be at most {MAX_SEARCH_LENGTH} characters", code="TOO_LONG"
        )
    nhs_number = service.normalise_nhs_search(search)
    if nhs_number is not None:
        return nhs_number, []
    terms = search.split()
    if len(terms) > MAX_SEARCH_TERMS:
        raise InvalidInput("search", f"use at most {MAX_SEARCH_TERMS} words", code="TOO_MANY")
    return None, terms


register_node("Person", resolve_person)
