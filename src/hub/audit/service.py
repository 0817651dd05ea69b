"""Access audit: every response that carries identifiable personal data is attributable.

Resolvers that return a person's data call `AccessRecorder.person_read(...)`; once the
operation has run, the view writes ONE access-log row for the whole operation (all the persons
it returned) before the response leaves. If that write fails, the data is withheld.

Data about a person is not always attached to a person record yet: an unlinked referral's
minimum dataset, the body of an inbound payload, a row of a portal import. Resolvers returning
those call `AccessRecorder.record_read(...)` with the record ("Referral:<uuid>") and the NHS
numbers it carries (`nhs_numbers_in` finds them in free text)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from connectors.standards.nhs_number import NhsNumberStatus, check_nhs_number
from hub.audit import repository
from hub.audit.models import AccessLogEntry
from hub.auth.principal import Principal

MAX_PURPOSE_LENGTH = 200
# Ten digits, grouped 3-3-4 by spaces or hyphens or not at all, not inside a longer number.
_NHS_NUMBER_TEXT = re.compile(r"(?<![\d])(\d{3})[ -]?(\d{3})[ -]?(\d{4})(?![\d])")


def nhs_numbers_in(*texts: str | None) -> list[str]:
    """The NHS numbers (ten digits, modulus-11 check right) written anywhere in these texts,
    normalised and in first-seen order. For the access log: a read of a payload or a row that
    carries an NHS number is then found by a search for that number."""
    found: dict[str, None] = {}
    for text in texts:
        for match in _NHS_NUMBER_TEXT.finditer(text or ""):
            check = check_nhs_number("".join(match.groups()))
            if check.status is NhsNumberStatus.VALID and check.normalised:
                found.setdefault(check.normalised, None)
    return list(found)


def nhs_number_of(value: object) -> str | None:
    """One NHS-number field's value, normalised, when it has the shape of one (a number that
    fails the check is still the number the reader saw)."""
    if not isinstance(value, str):
        return None
    return check_nhs_number(value).normalised


@dataclass
class AccessRecorder:
    """Collects, during one operation, whose personal data was returned and by which fields."""

    person_ids: set[uuid.UUID] = field(default_factory=set)
    records: set[str] = field(default_factory=set)
    nhs_numbers: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)
    rows: int = 0

    def person_read(self, field_name: str, person_ids: Iterable[uuid.UUID]) -> None:
        ids = list(person_ids)
        if not ids:
            return
        self.person_ids.update(ids)
        self.fields.add(field_name)
        self.rows += len(ids)

    def record_read(
        self,
        field_name: str,
        record: str,
        *,
        person_id: uuid.UUID | None = None,
        nhs_numbers: Iterable[str] = (),
    ) -> None:
        """One record carrying a person's data (person record or not) was returned: `record`
        names it as "<GraphQL type>:<id>". Two fields of one record count as one row."""
        if record not in self.records:
            self.rows += 1
        self.records.add(record)
        if person_id is not None:
            self.person_ids.add(person_id)
        self.nhs_numbers.update(nhs_numbers)
        self.fields.add(field_name)

    @property
    def has_reads(self) -> bool:
        return bool(self.person_ids or self.records)

    def clear(self) -> None:
        self.person_ids.clear()
        self.records.clear()
        self.nhs_numbers.clear()
        self.fields.clear()
        self.rows = 0


async def record_access(
    session: AsyncSession,
    recorder: AccessRecorder,
    *,
    principal: Principal,
    operation_name: str | None,
    purpose: str | None,
    request_id: str | None,
) -> AccessLogEntry:
    entry = AccessLogEntry(
        account_id=principal.account_id,
        subject=principal.subject,
        client_id=principal.client_id,
        role=principal.role.value,
        organisation_id=principal.organisation_id,
        operation_name=operation_name,
        fields=sorted(recorder.fields),
        purpose=(purpose or None) and purpose[:MAX_PURPOSE_LENGTH],
        person_ids=sorted(recorder.person_ids),
        records=sorted(recorder.records),
        nhs_numbers=sorted(recorder.nhs_numbers),
        row_count=recorder.rows,
        request_id=request_id,
    )
    repository.add(session, entry)
    await session.flush()
    return entry
