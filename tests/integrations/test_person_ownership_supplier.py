"""The supplier door, written as the attack: a provider's connector (its own instance, pulled
over real HTTP from the reference supplier server) sends a package record carrying the NHS
number of a person another office registered. Packages are only ever linked to the provider's
own, so the record is rejected exactly as one carrying a number nobody holds: nothing is linked
and the answer says nothing of the other record."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub.accounts.models import Role
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.events.models import Event
from hub.integrations.models import ExternalRef
from hub.organisations.models import OrganisationKind
from hub.people import repository as people
from hub.tenancy import AccessScope
from tests import builders
from tests.connectors.servers import ReferenceServerHandle
from tests.integrations.conftest import Poller, Supplied

HELD_ELSEWHERE = "9434765919"
HELD_BY_NOBODY = builders.valid_nhs_number(424_242)


def _package(package_id: str, nhs_number: str) -> dict[str, Any]:
    return {
        "id": package_id,
        "client_id": f"CL-{package_id}",
        "nhs_number": nhs_number,
        "status": "live",
        "start_date": "2026-10-05",
        "end_date": None,
        "weekly_hours": 7.0,
        "double_handed": False,
        "medication_support": "none",
        "commissioner_reference": None,
        "updated_at": "2026-11-23T08:00:00Z",
    }


async def test_a_package_record_naming_another_tenants_person_links_nothing(
    poll: Poller,
    supplied: Supplied,
    sessions: SessionFactory,
    reference_server: ReferenceServerHandle,
) -> None:
    async with unit_of_work(sessions) as session:
        office_a = await builders.create_organisation(
            session, kind=OrganisationKind.PROVIDER, name="Northvale Homecare"
        )
        edith = await builders.create_person(
            session,
            nhs_number=HELD_ELSEWHERE,
            family_name="Crawley",
            given_name="Edith",
            registered_by_id=office_a.id,
        )
    await reference_server.put_record("packages", _package("PKG-ATTACK", HELD_ELSEWHERE))
    await reference_server.put_record("packages", _package("PKG-NOBODY", HELD_BY_NOBODY))

    await poll()

    async with read_only(sessions) as session:
        rejected = (
            await session.scalars(
                select(Event).where(Event.type == "integration.payload_rejected").order_by(Event.id)
            )
        ).all()
        refs = (
            await session.scalars(
                select(ExternalRef.external_id).where(
                    ExternalRef.instance_id == supplied.instance_id,
                    ExternalRef.entity_type == "package",
                )
            )
        ).all()
        seen = await people.get(
            session, AccessScope(Role.REGISTERED_MANAGER, supplied.provider_id, None), edith.id
        )
    errors = {
        error["problem"].replace(HELD_ELSEWHERE, "N").replace(HELD_BY_NOBODY, "N"): error["code"]
        for event in rejected
        for error in event.payload["errors"]
    }
    # One answer for both: the same code and the same words, whoever holds the number.
    assert list(errors.values()) == ["UNKNOWN_PACKAGE"]
    assert len([e for event in rejected for e in event.payload["errors"]]) == 2
    text = str([event.payload for event in rejected])
    for secret in ("Crawley", "Edith", str(edith.id), "Northvale"):
        assert secret not in text
    assert "PKG-ATTACK" not in refs
    assert "PKG-NOBODY" not in refs
    assert seen is None
