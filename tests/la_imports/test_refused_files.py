"""A file that cannot be read at all is never dropped: the batch says why, the bytes are kept in
the inbound archive as rejected, and `integration.payload_rejected` raises a data-quality case
(once, however often the same file is sent)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from hub.db.engine import SessionFactory
from hub.db.uow import read_only
from hub.events.models import Event
from hub.integrations.models import InboundPayload, InboundStatus
from tests.la_imports.conftest import World, domain_counts

_WINDOWS_1252 = (
    "Package Reference,Change Type,Effective Date,NHS Number,Family Name,Given Name\r\n"
    "NV-PKG-020,new,01/12/2026,9990000018,Siân,Llewelyn\r\n"
).encode("cp1252")
_NO_NHS_NUMBER_COLUMN = (
    b"Package Reference,Change Type,Effective Date,Family Name\r\n"
    b"NV-PKG-021,new,01/12/2026,Hartley\r\n"
)
_WORKBOOK = b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256))


@pytest.mark.parametrize(
    ("name", "content", "format", "code", "message_starts"),
    [
        (
            "brokerage.csv",
            _WINDOWS_1252,
            "CSV",
            "export_encoding",
            "the file is not UTF-8: byte 0xE2 on line 2",
        ),
        ("brokerage.xlsx", _WORKBOOK, "CSV", "export_encoding", "the file is a zip file"),
        (
            "brokerage.csv",
            _NO_NHS_NUMBER_COLUMN,
            "CSV",
            "export_structure",
            "the header has no nhs_number column",
        ),
        (
            "brokerage.json",
            json.dumps({"packages": []}).encode(),
            "JSON",
            "export_structure",
            "a JSON export is a list of row objects",
        ),
    ],
    ids=["windows-1252", "workbook", "wrong-headers", "json-not-rows"],
)
async def test_an_unreadable_file_is_rejected_kept_and_surfaced(
    world: World,
    sessions: SessionFactory,
    name: str,
    content: bytes,
    format: str,
    code: str,
    message_starts: str,
) -> None:
    before = await domain_counts(sessions)

    batch = await world.import_file(name, content=content, format=format)

    assert (batch["status"], batch["errorCode"], batch["totalRows"]) == ("REJECTED", code, 0)
    assert batch["errorMessage"].startswith(message_starts), batch["errorMessage"]
    assert await domain_counts(sessions) == before
    async with read_only(sessions) as session:
        [kept] = list(await session.scalars(select(InboundPayload)))
        [event] = list(
            await session.scalars(select(Event).where(Event.type == "integration.payload_rejected"))
        )
    assert bytes(kept.body) == content
    assert kept.status is InboundStatus.REJECTED
    assert kept.errors == [{"path": name, "problem": batch["errorMessage"], "code": code}]
    assert (event.subject_id, event.contract_id) == (kept.id, world.contract)
    assert event.payload["connector"] == "la_portal"
    assert event.payload["channel"] == "upload"


async def test_the_same_unreadable_file_again_is_rejected_again_without_a_second_case(
    world: World, sessions: SessionFactory
) -> None:
    first = await world.import_file("brokerage.csv", content=_WINDOWS_1252)
    again = await world.import_file("brokerage.csv", content=_WINDOWS_1252)

    assert first["status"] == again["status"] == "REJECTED"
    assert first["id"] != again["id"]
    async with read_only(sessions) as session:
        kept = list(await session.scalars(select(InboundPayload)))
        events = list(
            await session.scalars(select(Event).where(Event.type == "integration.payload_rejected"))
        )
    assert (len(kept), len(events)) == (1, 1)


async def test_a_rejected_import_is_listed_with_its_reason(
    world: World, sessions: SessionFactory
) -> None:
    rejected = await world.import_file("brokerage.csv", content=_NO_NHS_NUMBER_COLUMN)
    completed = await world.import_file("brokerage_mixed.csv")

    response = await world.commissioner.execute(
        """query($contract: ID!) {
             failed: portalImports(contractId: $contract, status: [REJECTED]) {
               nodes { id errorCode }
             }
             all: portalImports(contractId: $contract) { nodes { id status } }
           }""",
        {"contract": world.contract_gid},
    )

    data = response.ok()
    assert data["failed"]["nodes"] == [{"id": rejected["id"], "errorCode": "export_structure"}]
    assert {node["id"] for node in data["all"]["nodes"]} == {rejected["id"], completed["id"]}
