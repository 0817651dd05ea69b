from __future__ import annotations

from datetime import datetime

import strawberry

from hub.audit.models import AccessLogEntry as AccessLogRow
from hub.graphql.ids import encode_global_id


@strawberry.type(
    description="One read of a person's identifiable data: who, as what, why, how much."
)
class AccessLogEntry:
    occurred_at: datetime
    subject: str = strawberry.field(description="The reader's token subject.")
    client_id: str | None = strawberry.field(description="The OAuth client, for system readers.")
    role: str
    organisation_id: strawberry.ID | None
    operation_name: str | None
    fields: list[str] = strawberry.field(description="The GraphQL fields that returned the data.")
    purpose: str | None = strawberry.field(description="Purpose of use, where the reader gave one.")
    person_count: int = strawberry.field(description="How many people's records the read returned.")
    records: list[str] = strawberry.field(
        description="Records carrying person data that the read returned, as `Type:id` "
        "(e.g. `Referral:…`, `InboundPayload:…`, `PortalImportRow:…`)."
    )
    row_count: int
    request_id: str | None

    @classmethod
    def from_model(cls, row: AccessLogRow) -> AccessLogEntry:
        return cls(
            occurred_at=row.occurred_at,
            subject=row.subject,
            client_id=row.client_id,
            role=row.role,
            organisation_id=(
                strawberry.ID(encode_global_id("Organisation", row.organisation_id))
                if row.organisation_id
                else None
            ),
            operation_name=row.operation_name,
            fields=list(row.fields),
            purpose=row.purpose,
            person_count=len(row.person_ids),
            records=list(row.records),
            row_count=row.row_count,
            request_id=row.request_id,
        )
