"""Local-authority portal imports: a brokerage export in, its rows applied, a row-level report out.

An import runs in two steps, so that a long file is never one long transaction:

1. `start_import` (one transaction): checks the caller may import for the contract, keeps the
   file exactly as received in the inbound archive (channel ``upload``), parses it with
   `connectors.la_portal`, and opens a batch. A file that cannot be read at all (not UTF-8, not
   CSV/JSON, required columns missing) is never dropped: the batch is ``rejected`` with the
   reason, and the archive row is marked rejected, which records ``integration.payload_rejected``
   (a data-quality case).
2. `process` (one transaction per chunk of rows): applies each row and records its status on
   the batch's rows, advancing the batch's `processed_rows`. An interrupted import resumes
   where it stopped; re-running a finished one does nothing. Small files are processed at once
   by the caller; large ones by the worker (`hub.la_imports.tasks`), which re-reads the file
   from the archive — the archive, not a copy, is the source of truth.

How a row is applied, through the owning domains' services (`hub.people.service`,
`hub.packages.service`), as the hub on the caller's behalf:

- ``new``: the person is found by NHS number, or imported (a brokerage export carries no
  address, so a new person gets the NHS "address not known" pseudo-postcode ZZ99 3WZ and the
  package records the access-details information gap for the office to fill); the care package
  is created on the contract (status referred) with the council's reference. A number the hub
  holds for a person the contract's provider or commissioner cannot already see is used only
  when the row's date of birth and family name match that record (`hub.people.service`); a
  mismatch creates nothing: the row is kept whole with status ``invalid`` and the problem
  ``held_for_review``, and a data-quality case is opened for the provider's office. The row's
  answer says who reviews it and shows nothing of the other record.
- ``change``: the package must exist on the contract and be for the person with that NHS
  number; the changed terms are recorded.
- ``end``: the same checks; the package is ended with the last day of care in the reason.

Every applied row records ``portal.commission_recorded`` on the package's timeline with the
commissioned terms (service type, weekly hours, visits per day, time-critical, double-handed),
which have no columns in the packages domain: the council's commission is evidence, not the
provider's plan.

Re-import. A row whose content hash was already applied on the contract is ``unchanged`` and
applies nothing, so importing the same file twice changes nothing. A row that is invalid — in
the file check or by a hub rule — is kept whole and listed; when a later import sends it again
(the same content, or a row for the same package and change) the old row is marked
``superseded`` by the new one rather than edited, so the history of what the council sent
stays readable.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePath
from typing import Any, NoReturn

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.la_portal import (
    ExportError,
    ImportResult,
    RejectedRow,
    RowProblem,
    Severity,
    parse_export,
)
from connectors.la_portal.columns import ProblemCode, ValueProblem, column_key, read_date
from connectors.records.portal import CommissionedPackageChange, PackageChangeType
from hub.accounts.models import Role
from hub.contracts.models import Contract, ServiceType
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.errors import Forbidden, HubError, InvalidInput, NotFound
from hub.events.log import NewEvent, record
from hub.governance import service as governance
from hub.integrations import archive
from hub.integrations.models import InboundChannel, InboundStatus
from hub.kit.ids import uuid7
from hub.kit.time import Clock
from hub.la_imports import repository
from hub.la_imports.models import (
    BatchStatus,
    ImportFormat,
    PortalImportBatch,
    PortalImportRow,
    RowStatus,
)
from hub.packages import service as packages
from hub.packages.errors import DuplicatePackageReference
from hub.packages.lifecycle import PackageStatus
from hub.packages.triage import InformationGap
from hub.people import service as people
from hub.tenancy import AccessScope

CONNECTOR = "la_portal"
DEFAULT_CHUNK_SIZE = 200
# Files with more rows than this are applied by the worker, not inside the request.
INLINE_ROW_LIMIT = 500
MAX_FILENAME_LENGTH = 255

# A brokerage export has no address. The NHS Data Dictionary's pseudo-postcode for "address not
# known" marks the gap honestly instead of inventing an address a carer could be sent to.
UNKNOWN_ADDRESS = people.Address(
    line_1="Address not supplied in the council's brokerage export",
    town="Not known",
    postcode="ZZ99 3WZ",
)

# A domain's field name → the export column it came from, so a refusal points at the cell.
_COLUMN_OF_FIELD = {
    "startsOn": "start_date",
    "endsOn": "effective_date",
    "reference": "package_reference",
    "givenName": "given_name",
    "familyName": "family_name",
    "dateOfBirth": "date_of_birth",
    "nhsNumber": "nhs_number",
}


class ImportNotAllowed(Forbidden):
    """Only the contract's commissioner (or an admin) imports its brokerage exports."""

    code = "IMPORT_NOT_ALLOWED"


class ImportContractNotFound(NotFound):
    code = "CONTRACT_NOT_FOUND"


@dataclass(frozen=True, slots=True)
class Progress:
    """Where an import has got to, for a progress line or a poll."""

    batch_id: uuid.UUID
    status: BatchStatus
    total: int
    processed: int
    applied: int
    unchanged: int
    invalid: int

    @classmethod
    def of(cls, batch: PortalImportBatch) -> Progress:
        return cls(
            batch_id=batch.id,
            status=batch.status,
            total=batch.total_rows,
            processed=batch.processed_rows,
            applied=batch.applied_rows,
            unchanged=batch.unchanged_rows,
            invalid=batch.invalid_rows,
        )


@dataclass(frozen=True, slots=True)
class Started:
    """An opened batch, and the parsed file when it could be read (to process at once)."""

    batch: PortalImportBatch
    parsed: ImportResult | None


async def start_import(
    sessions: SessionFactory,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    contract_id: uuid.UUID,
    format: ImportFormat,
    filename: str,
    content: bytes,
) -> Started:
    """Archive and parse one export for one contract and open its batch (step 1 above)."""
    name = _filename(filename)
    if not (scope.is_commissioner or scope.is_admin):
        raise ImportNotAllowed("only the contract's commissioner imports its brokerage exports")
    async with unit_of_work(sessions) as session:
        contract = await repository.importable_contract(session, scope, contract_id)
        if contract is None:
            raise ImportContractNotFound(f"no contract {contract_id}")
        payload, is_new = await archive.keep(
            session,
            connector=CONNECTOR,
            channel=InboundChannel.UPLOAD,
            body=content,
            content_type="text/csv" if format is ImportFormat.CSV else "application/json",
            # The same bytes for the same contract are the same file: archived once, and each
            # import of it gets its own batch.
            delivery_key=f"{contract.id}:{hashlib.sha256(content).hexdigest()}",
            organisation_id=contract.provider_id,
            clock=clock,
        )
        batch = PortalImportBatch(
            contract_id=contract.id,
            commissioner_id=contract.commissioner_id,
            payload_id=payload.id,
            filename=name,
            format=format,
            status=BatchStatus.PROCESSING,
            imported_by=actor,
            started_at=clock.now(),
            ignored_columns=[],
        )
        parsed: ImportResult | None = None
        try:
            parsed = parse_export(content, format=format.value)
        except ExportError as refused:
            batch.status = BatchStatus.REJECTED
            batch.error_code = refused.code
            batch.error_message = refused.message
            batch.completed_at = clock.now()
            if is_new or payload.status is InboundStatus.RECEIVED:
                await archive.mark_rejected(
                    session,
                    payload,
                    clock=clock,
                    actor=actor,
                    errors=[archive.error(name, refused.message, refused.code)],
                    summary=f"{name}: {refused.message}",
                    contract_id=contract.id,
                )
        else:
            batch.file_hash = parsed.file_hash
            batch.total_rows = parsed.row_count
            batch.ignored_columns = list(parsed.ignored_columns)
        repository.add(session, batch)
        await session.flush()
    return Started(batch=batch, parsed=parsed)


async def process(
    sessions: SessionFactory,
    *,
    batch_id: uuid.UUID,
    clock: Clock,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    parsed: ImportResult | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Progress:
    """Apply the batch's remaining rows, `chunk_size` per transaction (step 2 above).

    Safe to run again, or twice at once: each chunk locks the batch and starts from its stored
    position, and a row's content is applied at most once per contract.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    items: list[_Item] | None = _items(parsed) if parsed is not None else None
    while True:
        async with unit_of_work(sessions) as session:
            batch = await repository.lock_batch(session, batch_id)
            if batch is None:
                raise LookupError(f"no portal import batch {batch_id}")
            if batch.status is not BatchStatus.PROCESSING:
                return Progress.of(batch)
            if items is None:
                items = _items(await _reparse(session, batch))
            contract = await session.get(Contract, batch.contract_id)
            assert contract is not None  # a foreign key guarantees it
            context = await _context(session, batch, contract, clock)
            start = batch.processed_rows
            for item in items[start : start + chunk_size]:
                await _apply_item(session, context, item)
            batch.processed_rows = min(start + chunk_size, len(items))
            if batch.processed_rows >= len(items):
                batch.status = BatchStatus.COMPLETED
                batch.completed_at = clock.now()
                payload = await archive.get(session, batch.payload_id)
                if payload is not None and payload.status is not InboundStatus.APPLIED:
                    await archive.mark_applied(
                        session, payload, clock=clock, outcome=_outcome(batch)
                    )
            await session.flush()
            progress = Progress.of(batch)
        if on_progress is not None:
            on_progress(progress)
        if progress.status is not BatchStatus.PROCESSING:
            return progress


async def import_file(
    sessions: SessionFactory,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    contract_id: uuid.UUID,
    format: ImportFormat,
    filename: str,
    content: bytes,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_progress: Callable[[Progress], None] | None = None,
) -> Progress:
    """Both steps at once, for the command line (which shows progress as it goes)."""
    started = await start_import(
        sessions,
        scope=scope,
        actor=actor,
        clock=clock,
        contract_id=contract_id,
        format=format,
        filename=filename,
        content=content,
    )
    if started.parsed is None:
        return Progress.of(started.batch)
    return await process(
        sessions,
        batch_id=started.batch.id,
        clock=clock,
        chunk_size=chunk_size,
        parsed=started.parsed,
        on_progress=on_progress,
    )


# --- one row ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Item:
    """One row of the file in order: either mapped (`record`) or refused by the file check
    (`rejected`); `warnings` are the check's warnings for it."""

    row_number: int
    row_hash: str
    record: CommissionedPackageChange | None
    rejected: RejectedRow | None
    warnings: tuple[RowProblem, ...]


@dataclass
class _Context:
    batch: PortalImportBatch
    contract: Contract
    provider_ods: str | None
    clock: Clock
    actor: str
    scope: AccessScope = field(default_factory=AccessScope.system)


class _RowHeld(Exception):
    """A 'new' row whose NHS number is held for a record its demographics do not match. Raised
    inside the row's savepoint (which creates nothing), handled after it (the hold is kept)."""

    def __init__(self, existing_person_id: uuid.UUID, change: CommissionedPackageChange) -> None:
        super().__init__("held for review")
        self.existing_person_id = existing_person_id
        self.change = change


class _RowRefused(Exception):
    """A valid row the hub cannot apply; becomes the row's error problem."""

    def __init__(self, column: str | None, code: str, problem: str, raw_value: str | None) -> None:
        super().__init__(problem)
        self.problem = {
            "column": column,
            "problem": problem,
            "code": code,
            "severity": Severity.ERROR.value,
            "raw_value": raw_value,
        }


# Portal service types are free text. A row naming one the hub does not know is still applied
# (the commissioner's word stands) but carries a warning, so a typo or a service outside what
# the hub's contracts describe is looked at instead of passing unnoticed.
_KNOWN_SERVICE_TYPES = tuple(sorted(kind.value for kind in ServiceType))


def _service_type_warning(change: CommissionedPackageChange) -> RowProblem | None:
    value = change.service_type
    if value is None or not value.strip():
        return None
    words = value.strip().casefold().replace("-", " ").replace("_", " ")
    for known in _KNOWN_SERVICE_TYPES:
        name = known.replace("_", " ")
        # "Reablement, with medication prompts" is reablement with a note.
        if words == name or (words.startswith(name) and not words[len(name)].isalnum()):
            return None
    return RowProblem(
        row_number=change.source.row_number,
        column="service_type",
        problem=f"unknown service type {value!r}: the hub knows "
        f"{', '.join(name.replace('_', ' ') for name in _KNOWN_SERVICE_TYPES)}; the row is "
        "applied as sent, check the service type with the commissioner",
        raw_value=value,
        code=ProblemCode.INVALID_CODE,
        severity=Severity.WARNING,
    )


def _items(parsed: ImportResult) -> list[_Item]:
    warnings: dict[int, list[RowProblem]] = {}
    for problem in parsed.warnings:
        warnings.setdefault(problem.row_number, []).append(problem)
    for change in parsed.accepted:
        unknown = _service_type_warning(change)
        if unknown is not None:
            warnings.setdefault(change.source.row_number, []).append(unknown)
    items = [
        _Item(
            change.source.row_number,
            change.source.row_hash,
            change,
            None,
            tuple(warnings.get(change.source.row_number, ())),
        )
        for change in parsed.accepted
    ]
    items += [
        _Item(rejected.row_number, rejected.row_hash, None, rejected, ())
        for rejected in parsed.rejected
    ]
    return sorted(items, key=lambda item: item.row_number)


async def _reparse(session: AsyncSession, batch: PortalImportBatch) -> ImportResult:
    payload = await archive.get(session, batch.payload_id)
    if payload is None:  # pragma: no cover - archived rows are never deleted
        raise LookupError(f"archived file {batch.payload_id} of batch {batch.id} is gone")
    return parse_export(bytes(payload.body), format=batch.format.value)


async def _context(
    session: AsyncSession, batch: PortalImportBatch, contract: Contract, clock: Clock
) -> _Context:
    provider = await repository.organisation(session, contract.provider_id)
    return _Context(
        batch=batch,
        contract=contract,
        provider_ods=provider.ods_code if provider is not None else None,
        clock=clock,
        actor=batch.imported_by,
    )


async def _apply_item(session: AsyncSession, context: _Context, item: _Item) -> None:
    batch = context.batch
    warnings = [_problem_json(problem) for problem in item.warnings]
    if warnings:
        batch.warning_rows += 1
    if item.rejected is not None:
        await _keep_invalid(
            session,
            context,
            item,
            [_problem_json(problem) for problem in item.rejected.problems],
            list(item.rejected.raw.items()),
            _key_of_raw(item.rejected.raw),
        )
        return
    record_ = item.record
    assert record_ is not None
    key = (record_.package_reference, record_.change_type.value, record_.effective_date)
    row = _row(context, item, key, terms=_terms(record_), problems=warnings)
    prior = await repository.applied_with_hash(session, context.contract.id, item.row_hash)
    if prior is None:
        try:
            async with session.begin_nested():
                package_id, person_id = await _apply_change(session, context, record_, item)
                row.status, row.package_id, row.person_id = RowStatus.APPLIED, package_id, person_id
                repository.add(session, row)
                await session.flush()
        except _RowRefused as refused:
            await _keep_invalid(
                session, context, item, [*warnings, refused.problem], _raw_of(record_), key
            )
            return
        except _RowHeld as held:
            problem = await _hold(session, context, item, held)
            await _keep_invalid(session, context, item, [*warnings, problem], _raw_of(record_), key)
            return
        except IntegrityError:
            # The same content applied by an import running alongside this one: it won.
            prior = await repository.applied_with_hash(session, context.contract.id, item.row_hash)
            if prior is None:
                raise
            row = _row(context, item, key, terms=_terms(record_), problems=warnings)
        else:
            batch.applied_rows += 1
            await _supersede(session, context, row, key)
            return
    row.status = RowStatus.UNCHANGED
    row.applied_row_id = prior.id
    row.package_id, row.person_id = prior.package_id, prior.person_id
    repository.add(session, row)
    await session.flush()
    batch.unchanged_rows += 1
    await _supersede(session, context, row, key)


async def _keep_invalid(
    session: AsyncSession,
    context: _Context,
    item: _Item,
    problems: list[dict[str, Any]],
    raw: Sequence[tuple[str, str]],
    key: tuple[str | None, str | None, date | None],
) -> None:
    row = _row(context, item, key, terms={}, problems=problems)
    row.status = RowStatus.INVALID
    row.raw = [[column, value] for column, value in raw]
    repository.add(session, row)
    await session.flush()
    context.batch.invalid_rows += 1
    await _supersede(session, context, row, key)


def _row(
    context: _Context,
    item: _Item,
    key: tuple[str | None, str | None, date | None],
    *,
    terms: dict[str, Any],
    problems: list[dict[str, Any]],
) -> PortalImportRow:
    return PortalImportRow(
        id=uuid7(),
        batch_id=context.batch.id,
        contract_id=context.contract.id,
        row_number=item.row_number,
        row_hash=item.row_hash,
        status=RowStatus.INVALID,
        package_reference=key[0],
        change_type=key[1],
        effective_date=key[2],
        raw=[],
        terms=terms,
        problems=problems,
    )


async def _supersede(
    session: AsyncSession,
    context: _Context,
    row: PortalImportRow,
    key: tuple[str | None, str | None, date | None],
) -> None:
    await repository.supersede_open_invalid(
        session,
        contract_id=context.contract.id,
        batch_id=context.batch.id,
        row_hash=row.row_hash,
        package_reference=key[0],
        change_type=key[1],
        effective_date=key[2],
        by_row_id=row.id,
    )


async def _apply_change(
    session: AsyncSession, context: _Context, change: CommissionedPackageChange, item: _Item
) -> tuple[uuid.UUID, uuid.UUID]:
    """Apply one valid row through the domains' services; `_RowRefused` if a hub rule says no."""
    _check_provider(context, change)
    try:
        if change.change_type is PackageChangeType.NEW:
            package_id, person_id = await _new_package(session, context, change)
        else:
            package = await repository.package_on_contract(
                session, context.contract.id, change.package_reference
            )
            if package is None:
                _refuse(
                    "package_reference",
                    "package_unknown",
                    f"no package {change.package_reference} on contract "
                    f"{context.contract.reference}; its 'new' row must be imported first",
                    change.package_reference,
                )
            if package.status is PackageStatus.ENDED:
                _refuse(
                    "package_reference",
                    "package_ended",
                    f"package {change.package_reference} has already ended",
                    change.package_reference,
                )
            person = await repository.person(session, package.person_id)
            if person is None or person.nhs_number != change.nhs_number:
                _refuse(
                    "nhs_number",
                    "person_mismatch",
                    f"is not the NHS number of the person on package {change.package_reference}",
                    change.nhs_number_check.given,
                )
            if change.change_type is PackageChangeType.END:
                await packages.change_status(
                    session,
                    scope=context.scope,
                    actor=context.actor,
                    clock=context.clock,
                    package_id=package.id,
                    target=PackageStatus.ENDED,
                    reason=f"ended by the council's brokerage export "
                    f"({context.batch.filename}, row {item.row_number}); last day of care "
                    f"{change.effective_date:%d/%m/%Y}",
                )
            package_id, person_id = package.id, package.person_id
    except HubError as refusal:
        column = _COLUMN_OF_FIELD.get(refusal.field) if isinstance(refusal, InvalidInput) else None
        if isinstance(refusal, DuplicatePackageReference):
            column = "package_reference"
        reason = refusal.reason if isinstance(refusal, InvalidInput) else refusal.message
        raise _RowRefused(
            column, refusal.code.lower(), reason, dict(_raw_of(change)).get(column or "")
        ) from None
    await record(
        session,
        NewEvent(
            type="portal.commission_recorded",
            subject_type="care_package",
            subject_id=package_id,
            actor=context.actor,
            occurred_at=context.clock.now(),
            organisation_id=context.contract.provider_id,
            contract_id=context.contract.id,
            person_id=person_id,
            payload={
                "batchId": str(context.batch.id),
                "rowNumber": item.row_number,
                "rowHash": item.row_hash,
                "changeType": change.change_type.value,
                "effectiveDate": change.effective_date.isoformat(),
                "terms": _event_terms(change),
            },
        ),
    )
    return package_id, person_id


async def _new_package(
    session: AsyncSession, context: _Context, change: CommissionedPackageChange
) -> tuple[uuid.UUID, uuid.UUID]:
    # The file check guarantees these for a 'new' row.
    assert change.given_name is not None
    assert change.family_name is not None
    assert change.birth_date is not None
    assert change.start_date is not None
    imported = await people.import_person(
        session,
        details=people.PersonDetails(
            given_name=change.given_name,
            family_name=change.family_name,
            date_of_birth=change.birth_date,
            address=UNKNOWN_ADDRESS,
        ),
        nhs_number=change.nhs_number,
        source=f"la-portal:{context.contract.reference}",
        actor=context.actor,
        clock=context.clock,
        # The package makes the person visible to both; each must already see them or match.
        readers=(
            AccessScope(Role.REGISTERED_MANAGER, context.contract.provider_id, None),
            AccessScope(Role.COMMISSIONER, context.contract.commissioner_id, None),
        ),
        organisation_id=context.contract.commissioner_id,
    )
    if imported.person is None:
        assert imported.held_against is not None
        raise _RowHeld(imported.held_against, change)
    package = await packages.create_package(
        session,
        scope=context.scope,
        actor=context.actor,
        clock=context.clock,
        person_id=imported.person.id,
        contract_id=context.contract.id,
        starts_on=change.start_date,
        reference=change.package_reference,
    )
    if imported.created:
        # No address came with the person: record the gap so the mobilisation board shows it.
        await packages.triage(
            session,
            scope=context.scope,
            actor=context.actor,
            clock=context.clock,
            package_id=package.id,
            information_gaps=[InformationGap.ACCESS_DETAILS],
        )
    return package.id, imported.person.id


async def _hold(
    session: AsyncSession, context: _Context, item: _Item, held: _RowHeld
) -> dict[str, Any]:
    """Keep a held row's person for the provider's office to review, open its data-quality
    case, and answer the row with what happens next (never with the other record)."""
    change = held.change
    source = f"la-portal:{context.contract.reference}"
    hold = await people.hold_write(
        session,
        existing_person_id=held.existing_person_id,
        receiving_organisation_id=context.contract.provider_id,
        sender_organisation_id=context.contract.commissioner_id,
        source=source,
        submitted={
            "nhsNumber": change.nhs_number,
            "givenName": change.given_name,
            "familyName": change.family_name,
            "dateOfBirth": change.birth_date.isoformat() if change.birth_date else None,
            "batchId": str(context.batch.id),
            "rowNumber": item.row_number,
            "row": dict(_raw_of(change)),
        },
        actor=context.actor,
        clock=context.clock,
    )
    await governance.hold_person_write_for_review(
        session,
        hold_id=hold.id,
        receiving_organisation_id=context.contract.provider_id,
        contract_id=context.contract.id,
        source=source,
        submitted=hold.submitted,
        clock=context.clock,
        actor=context.actor,
    )
    provider = await repository.organisation(session, context.contract.provider_id)
    office = provider.name if provider is not None else "the provider's office"
    return {
        "column": "nhs_number",
        "problem": f"held for review by {office}: nothing was created; they will confirm the "
        "person's NHS number, date of birth and family name before the package is set up "
        f"(hold {hold.id})",
        "code": "held_for_review",
        "severity": Severity.ERROR.value,
        "raw_value": change.nhs_number_check.given,
    }


def _check_provider(context: _Context, change: CommissionedPackageChange) -> None:
    given = change.provider_ods
    if given is None or context.provider_ods is None or given == context.provider_ods:
        return
    _refuse(
        "provider_ods",
        "provider_not_on_contract",
        f"{given} is not the provider on contract {context.contract.reference} (its ODS code "
        f"is {context.provider_ods}); import this row under the contract with that provider",
        given,
    )


def _refuse(column: str | None, code: str, problem: str, raw_value: str | None) -> NoReturn:
    raise _RowRefused(column, code, problem, raw_value)


# --- values ----------------------------------------------------------------------------------


def _terms(change: CommissionedPackageChange) -> dict[str, Any]:
    """The row's values as read, in canonical column names (absent = not given)."""
    values: dict[str, Any] = {
        "package_reference": change.package_reference,
        "change_type": change.change_type.value,
        "effective_date": change.effective_date.isoformat(),
        "nhs_number": change.nhs_number,
        "nhs_number_check": change.nhs_number_check.status.value,
        "family_name": change.family_name,
        "given_name": change.given_name,
        "date_of_birth": change.birth_date.isoformat() if change.birth_date else None,
        "service_type": change.service_type,
        "start_date": change.start_date.isoformat() if change.start_date else None,
        "weekly_hours": str(change.weekly_hours) if change.weekly_hours is not None else None,
        "visits_per_day": change.visits_per_day,
        "time_critical": change.time_critical,
        "double_handed": change.double_handed,
        "provider_ods": change.provider_ods,
    }
    return {name: value for name, value in values.items() if value is not None}


def _event_terms(change: CommissionedPackageChange) -> dict[str, Any]:
    """The commissioned terms (not the person's details) for the package's timeline."""
    values = _terms(change)
    return {
        "serviceType": values.get("service_type"),
        "startDate": values.get("start_date"),
        "weeklyHours": values.get("weekly_hours"),
        "visitsPerDay": values.get("visits_per_day"),
        "timeCritical": values.get("time_critical"),
        "doubleHanded": values.get("double_handed"),
        "providerOds": values.get("provider_ods"),
    }


def _raw_of(change: CommissionedPackageChange) -> list[tuple[str, str]]:
    """Cells for a valid row the hub refused: as read, written the way the export writes them
    (the file's own cells are kept only for rows the file check refused)."""
    cells: list[tuple[str, str]] = []
    for name, value in _terms(change).items():
        if name == "nhs_number_check":
            continue
        if name == "nhs_number":
            value = change.nhs_number_check.given
        elif isinstance(value, bool):
            value = "Y" if value else "N"
        elif name in ("effective_date", "date_of_birth", "start_date"):
            value = date.fromisoformat(value).strftime("%d/%m/%Y")
        cells.append((name, str(value)))
    return cells


def _key_of_raw(raw: Mapping[str, str]) -> tuple[str | None, str | None, date | None]:
    """What a refused row is about, read as far as its cells allow."""
    cells = {column_key(name): value.strip() for name, value in raw.items()}
    reference = cells.get("package_reference") or None
    change_type = (cells.get("change_type") or "").lower() or None
    effective: date | None = None
    if cells.get("effective_date"):
        try:
            effective = read_date(cells["effective_date"])
        except ValueProblem:
            effective = None
    return reference, change_type, effective


def _problem_json(problem: RowProblem) -> dict[str, Any]:
    return {
        "column": problem.column,
        "problem": problem.problem,
        "code": problem.code.value,
        "severity": problem.severity.value,
        "raw_value": problem.raw_value,
    }


def _outcome(batch: PortalImportBatch) -> dict[str, Any]:
    return {
        "batch_id": str(batch.id),
        "rows": batch.total_rows,
        "applied": batch.applied_rows,
        "unchanged": batch.unchanged_rows,
        "invalid": batch.invalid_rows,
    }


def _filename(value: str) -> str:
    # Browsers send a bare name; some tools send a path. Only the name is kept.
    name = PurePath(value.strip().replace("\\", "/")).name
    if not name:
        raise InvalidInput("filename", "must name the file", code="REQUIRED")
    if len(name) > MAX_FILENAME_LENGTH:
        raise InvalidInput(
            "filename", f"must be at most {MAX_FILENAME_LENGTH} characters", code="TOO_LONG"
        )
    return name
