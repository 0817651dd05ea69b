"""Tables of the la_imports domain: local-authority brokerage exports and what became of each row.

A *batch* is one import of one file for one contract; the file's bytes are in the inbound
archive (`hub.integrations`), so the batch keeps the archive id, not a copy. A batch's rows
are its validation report and its audit trail at once: every row of the file gets one, with
its status, its problems, and what it applied.

Row statuses:

    applied      valid and applied now (`package_id`, `person_id` say to what)
    unchanged    the same content (row hash) was applied before on this contract: nothing done
                 (`applied_row_id` is the row that applied it)
    invalid      not applied; `problems` says why and `raw` keeps every cell as given, for the
                 council to correct and send again
    superseded   was invalid; a later import sent the row again (corrected or not) and that
                 row (`superseded_by_id`) now stands for it. The old row is kept, not edited

At most one row per contract is ever `applied` with a given row hash (a partial unique index),
which is what makes a re-import — or two imports of one file racing — apply each row once.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Entity, pg_enum


class ImportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


class BatchStatus(StrEnum):
    PROCESSING = "processing"  # rows are being applied, a chunk at a time
    COMPLETED = "completed"  # every row has its status
    REJECTED = "rejected"  # the file could not be read at all (see error_code/error_message)


class RowStatus(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    INVALID = "invalid"
    SUPERSEDED = "superseded"


class PortalImportBatch(Entity):
    """One brokerage export imported for one contract, with its progress and counts."""

    __tablename__ = "portal_import_batches"

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contracts.id"))
    # The contract's commissioner, copied so tenancy needs no join.
    commissioner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    payload_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inbound_payloads.id"))
    filename: Mapped[str] = mapped_column(Text)
    format: Mapped[ImportFormat] = mapped_column(pg_enum(ImportFormat, "portal_import_format"))
    status: Mapped[BatchStatus] = mapped_column(pg_enum(BatchStatus, "portal_import_status"))
    # The connector's content hash (stable across line endings, BOM, column order, CSV/JSON).
    file_hash: Mapped[str | None] = mapped_column(Text)
    total_rows: Mapped[int] = mapped_column(server_default=text("0"))
    # Rows done so far, in file order: the resume point of an interrupted import.
    processed_rows: Mapped[int] = mapped_column(server_default=text("0"))
    applied_rows: Mapped[int] = mapped_column(server_default=text("0"))
    unchanged_rows: Mapped[int] = mapped_column(server_default=text("0"))
    invalid_rows: Mapped[int] = mapped_column(server_default=text("0"))
    warning_rows: Mapped[int] = mapped_column(server_default=text("0"))
    ignored_columns: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{}'::text[]")
    )
    error_code: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    imported_by: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_portal_import_batches_contract_id_started_at", "contract_id", "started_at"),
        Index("ix_portal_import_batches_commissioner_id", "commissioner_id"),
    )


class PortalImportRow(Entity):
    """One row of an imported file: its report entry and what it applied."""

    __tablename__ = "portal_import_rows"

    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("portal_import_batches.id"))
    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contracts.id"))
    # As a spreadsheet shows it (CSV header = row 1); JSON's first element is row 1.
    row_number: Mapped[int]
    row_hash: Mapped[str] = mapped_column(Text)
    status: Mapped[RowStatus] = mapped_column(pg_enum(RowStatus, "portal_import_row_status"))
    # What the row is about, read as far as it could be: how a corrected row finds the
    # invalid one it replaces.
    package_reference: Mapped[str | None] = mapped_column(Text)
    change_type: Mapped[str | None] = mapped_column(Text)
    effective_date: Mapped[date | None]
    # Every cell exactly as given, in the file's column order: [[column, value], ...].
    raw: Mapped[list[list[str]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    # The row's values as read (valid rows): the commissioned terms, in canonical names.
    terms: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # [{column, problem, code, severity, raw_value}], errors and warnings, in report order.
    problems: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb")
    )
    package_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("care_packages.id"))
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"))
    applied_row_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("portal_import_rows.id"))
    superseded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("portal_import_rows.id"))

    __table_args__ = (
        UniqueConstraint("batch_id", "row_number"),
        Index(
            "uq_portal_import_rows_applied_hash",
            "contract_id",
            "row_hash",
            unique=True,
            postgresql_where=text("status = 'applied'"),
        ),
        Index(
            "ix_portal_import_rows_open_invalid",
            "contract_id",
            "package_reference",
            postgresql_where=text("status = 'invalid'"),
        ),
        Index(
            "ix_portal_import_rows_open_invalid_hash",
            "contract_id",
            "row_hash",
            postgresql_where=text("status = 'invalid'"),
        ),
        Index("ix_portal_import_rows_batch_id_status", "batch_id", "status"),
    )
