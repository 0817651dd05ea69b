"""Canonical records from local-authority brokerage portals: one commissioned-package change.

A brokerage export lists packages of care the council has commissioned from a provider, and
changes to them over time. Each row is one event on one package — new, changed, or ended — so
the record is a change, not the package's current state; the hub folds changes into packages.

Frozen dataclasses with no behaviour. The NHS number is kept with its check result (a failing
check is kept and flagged), and every record says which export row it came from, with that row's
content hash, so the hub can recognise a re-import and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from connectors.standards.nhs_number import NhsNumberCheck


class PackageChangeType(StrEnum):
    NEW = "new"
    CHANGE = "change"
    END = "end"


@dataclass(frozen=True, slots=True)
class ExportRowRef:
    """Where a record came from. `row_hash` is stable across re-exports of the same content
    (line endings, BOM, surrounding whitespace, column order and CSV-versus-JSON do not change
    it), so it is the idempotency key for applying the record."""

    file_hash: str
    row_number: int
    row_hash: str


@dataclass(frozen=True, slots=True)
class CommissionedPackageChange:
    """One new / change / end event on a commissioned package.

    For ``change`` rows the package fields that were left blank are None, meaning "unchanged";
    for ``new`` rows they are all present. `effective_date` is the start date of a new package,
    the date a change applies from, or the last day of an ended package.
    """

    package_reference: str
    change_type: PackageChangeType
    effective_date: date
    nhs_number: str
    nhs_number_check: NhsNumberCheck
    family_name: str | None
    given_name: str | None
    birth_date: date | None
    service_type: str | None
    start_date: date | None
    weekly_hours: Decimal | None
    visits_per_day: int | None
    time_critical: bool | None
    double_handed: bool | None
    provider_ods: str | None
    source: ExportRowRef
