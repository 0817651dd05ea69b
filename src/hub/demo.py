"""Synthetic demo data for `hub serve --demo`: realistic, invented, idempotent.

No real people: names are made up and NHS numbers come only from the 999 test range."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.kit.time import Clock
from hub.organisations import service as organisations
from hub.organisations.models import OrganisationKind

DEMO_ACTOR = "system:demo"
_NAMESPACE = uuid.UUID("6f1c4d2e-8a51-4c1b-9a55-0d3c2f6b7e10")


def demo_id(name: str) -> uuid.UUID:
    """Stable ids, so loading the demo twice finds what the first load made."""
    return uuid.uuid5(_NAMESPACE, name)


@dataclass(frozen=True)
class DemoOrganisation:
    key: str
    kind: OrganisationKind
    name: str
    ods_code: str | None


DEMO_ORGANISATIONS = (
    DemoOrganisation("council", OrganisationKind.LOCAL_AUTHORITY, "Northvale City Council", None),
    DemoOrganisation("icb", OrganisationKind.ICB, "NHS Northvale Integrated Care Board", "QX9"),
    DemoOrganisation("provider", OrganisationKind.PROVIDER, "Riverside Homecare Ltd", "AX123"),
    DemoOrganisation("incumbent", OrganisationKind.PROVIDER, "Hillside Care Services", "AX456"),
    DemoOrganisation("supplier", OrganisationKind.SUPPLIER, "CareRoster Systems Ltd", None),
    DemoOrganisation("gp", OrganisationKind.REFERRER, "Northvale Medical Practice", "Y99901"),
    DemoOrganisation("hospital", OrganisationKind.REFERRER, "Northvale General Hospital", "RX9"),
)


async def load_demo(sessions: SessionFactory, clock: Clock) -> dict[str, int]:
    """Load (or complete) the demo dataset; returns how many of each thing exist."""
    async with unit_of_work(sessions) as session:
        for organisation in DEMO_ORGANISATIONS:
            await organisations.ensure(
                session,
                organisation_id=demo_id(f"organisation:{organisation.key}"),
                kind=organisation.kind,
                name=organisation.name,
                ods_code=organisation.ods_code,
                actor=DEMO_ACTOR,
                clock=clock,
            )
    return {"organisations": len(DEMO_ORGANISATIONS)}
