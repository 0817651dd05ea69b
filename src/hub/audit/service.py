"""Access audit: every response that carries identifiable personal data is attributable.

Resolvers that return a person's data call `AccessRecorder.person_read(...)`; once the
operation has run, the view writes ONE access-log row for the whole operation (all the persons
it returned) before the response leaves. If that write fails, the data is withheld."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit import repository
from hub.audit.models import AccessLogEntry
from hub.auth.principal import Principal

MAX_PURPOSE_LENGTH = 200


@dataclass
class AccessRecorder:
    """Collects, during one operation, whose personal data was returned and by which fields."""

    person_ids: set[uuid.UUID] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)
    rows: int = 0

    def person_read(self, field_name: str, person_ids: Iterable[uuid.UUID]) -> None:
        ids = list(person_ids)
        if not ids:
            return
        self.person_ids.update(ids)
        self.fields.add(field_name)
        self.rows += len(ids)

    @property
    def has_reads(self) -> bool:
        return bool(self.person_ids)

    def clear(self) -> None:
        self.person_ids.clear()
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
        row_count=recorder.rows,
        request_id=request_id,
    )
    repository.add(session, entry)
    await session.flush()
    return entry
