"""FHIR referral intake and status reads: the hub side of `connectors.nhs_referrals`.

A referral message goes through these steps, each leaving a trace:

1. **Archive** — the request body is kept exactly as received (`hub.integrations.archive`,
   channel ``fhir``) in its own transaction, before anything can fail, so no message is ever
   lost. The delivery key is the client and the body's SHA-256: the same bytes re-posted by
   the same client are the same delivery and are answered as the first time.
2. **Check** — JSON, the shape the endpoint takes, the connector's R4 validation and mapping,
   the provider the referral is addressed to (`hub.fhir.routing`), that provider's existence.
3. **Apply** — `hub.referrals.service.receive_referral` as the partner, with the minimum dataset
   mapped from the message (`hub.fhir.dataset`), its priority, and the referrer the message
   names (the partner is recorded as the deliverer; a warning says so when they differ); the
   referrals domain de-duplicates on the sender's identifier (a re-send is applied once). A
   `FhirSubmission` joins message and referral, and the archive row is marked applied — in the
   referral's transaction.
4. **Or reject** — the archive row is marked rejected with every problem, which records
   ``integration.payload_rejected`` (a data-quality case for someone to look at), and the sender
   gets the same problems as an OperationOutcome.

Errors:

    IntakeRejected(Exception)    the message cannot be applied; `kind` says how (malformed,
                                 unprocessable, conflict, forbidden), `issues` says exactly why
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from connectors.nhs_referrals import (
    IssueSeverity,
    ReferralRejected,
    duplicate_issue,
    issues_for_flags,
    parse_referral,
)
from connectors.nhs_referrals.codes import ODS_ORGANISATION_SYSTEM
from connectors.records.referral import InboundReferral
from connectors.standards.ods import check_ods_code
from hub.audit.service import AccessRecorder, record_access
from hub.auth.principal import Principal
from hub.db.engine import SessionFactory
from hub.db.uow import read_only, unit_of_work
from hub.errors import Forbidden, HubError, InvalidInput
from hub.fhir import repository
from hub.fhir.dataset import minimum_dataset
from hub.fhir.models import FhirSubmission, Interaction, SubmissionOutcome
from hub.fhir.outcome import OutcomeIssue, error, information
from hub.fhir.routing import (
    addressed_provider,
    find_service_request,
    where_to_name_the_provider,
    why_no_provider,
)
from hub.fhir.status import referral_task
from hub.integrations import archive
from hub.integrations.models import InboundChannel, InboundPayload, InboundStatus
from hub.kit.time import Clock
from hub.organisations import repository as organisations
from hub.organisations.models import OrganisationKind
from hub.referrals import service as referrals
from hub.referrals.errors import DuplicateSourceIdentifier
from hub.referrals.models import Referral, ReferralPriority, ReferralSource
from hub.tenancy import AccessScope

CONNECTOR = "nhs_referrals"
CHANNEL = InboundChannel.FHIR
# Issue detail codes the connector raises while checking structure (its first pass): a payload
# with one of these is malformed (400); the rest are well-formed but break a rule (422).
_STRUCTURAL = frozenset(
    {
        "not-json",
        "not-a-resource",
        "wrong-resource-type",
        "unknown-element",
        "required-element-missing",
        "invalid-value",
        "invariant",
        "unreadable-resource",
        "wrong-endpoint",
    }
)


class RejectionKind(StrEnum):
    MALFORMED = "malformed"  # not JSON, not R4, not the shape this interaction takes
    UNPROCESSABLE = "unprocessable"  # valid R4 that breaks a referral rule
    CONFLICT = "conflict"  # the identifier already names another sender's referral
    FORBIDDEN = "forbidden"  # the caller's account cannot send referrals


class IntakeRejected(Exception):
    """A referral message the hub did not apply; it is archived and marked rejected."""

    def __init__(self, kind: RejectionKind, issues: Sequence[OutcomeIssue]) -> None:
        self.kind = kind
        self.issues = tuple(issues)
        errors = [issue for issue in self.issues if issue.is_error]
        first = errors[0] if errors else None
        where = f"{first.expression}: " if first and first.expression else ""
        self.summary = (
            f"{len(errors)} error(s); first: {where}{first.diagnostics}" if first else "rejected"
        )
        super().__init__(self.summary)


@dataclass(frozen=True, slots=True)
class Accepted:
    """A referral message the hub holds. `created` is False for a re-send (same identifier, or
    the same bytes again): nothing changed and `referral` is the one received the first time.
    `issues` are the warnings (and notes) to answer with."""

    referral: Referral
    created: bool
    issues: tuple[OutcomeIssue, ...]


async def receive(
    sessions: SessionFactory,
    *,
    principal: Principal,
    clock: Clock,
    body: bytes,
    content_type: str,
    interaction: Interaction,
) -> Accepted:
    """Archive, check and apply one referral message (the module docstring has the steps).
    Raises `IntakeRejected`; the message is archived either way."""
    async with unit_of_work(sessions) as session:
        payload, is_new = await archive.keep(
            session,
            connector=CONNECTOR,
            channel=CHANNEL,
            body=body,
            content_type=content_type,
            delivery_key=f"{principal.client_id or principal.subject}:"
            f"{hashlib.sha256(body).hexdigest()}",
            organisation_id=principal.organisation_id,
            clock=clock,
        )
        payload_id, status = payload.id, payload.status
    if not is_new and status is InboundStatus.APPLIED:
        answered = await _answer_again(sessions, payload_id)
        if answered is not None:
            return answered
    try:
        return await _apply(sessions, payload_id, principal, clock, body, interaction)
    except IntakeRejected as rejected:
        if is_new or status is InboundStatus.RECEIVED:
            async with unit_of_work(sessions) as session:
                row = await _payload(session, payload_id)
                await archive.mark_rejected(
                    session,
                    row,
                    clock=clock,
                    actor=principal.actor,
                    errors=[_archive_error(issue) for issue in rejected.issues if issue.is_error],
                    summary=rejected.summary,
                )
        raise


async def _apply(
    sessions: SessionFactory,
    payload_id: uuid.UUID,
    principal: Principal,
    clock: Clock,
    body: bytes,
    interaction: Interaction,
) -> Accepted:
    document = _decode(body)
    _check_shape(document, interaction)
    try:
        inbound = parse_referral(document, received_at=clock.now())
    except ReferralRejected as rejected:
        found = [OutcomeIssue.of(issue) for issue in rejected.issues]
        raise IntakeRejected(_kind_of(found), found) from None
    warnings = tuple(OutcomeIssue.of(issue) for issue in issues_for_flags(inbound.flags))
    scope = AccessScope.of(principal)
    try:
        async with unit_of_work(sessions) as session:
            provider_id = await _provider(session, document, warnings)
            warnings = (*warnings, *await _delivered_for_another(session, principal, inbound))
            receipt = await referrals.receive_referral(
                session,
                scope=scope,
                actor=principal.actor,
                clock=clock,
                source=ReferralSource(inbound.source.value),
                provider_id=provider_id,
                source_system=inbound.source_identifier.system,
                source_identifier=inbound.source_identifier.value,
                minimum_dataset=minimum_dataset(inbound),
                priority=ReferralPriority(inbound.priority.value),
                # The referrer the referral names, not the delivering client's organisation.
                referrer_ods_code=inbound.referrer.ods_code,
            )
            referral = receipt.referral
            answer = warnings if receipt.created else (*warnings, _already_held(inbound, referral))
            await repository.add_submission(
                session,
                FhirSubmission(
                    payload_id=payload_id,
                    referral_id=referral.id,
                    organisation_id=principal.organisation_id,
                    client_id=principal.client_id,
                    interaction=interaction,
                    outcome=(
                        SubmissionOutcome.CREATED
                        if receipt.created
                        else SubmissionOutcome.DUPLICATE
                    ),
                    priority=inbound.priority.value,
                    message_id=inbound.message.message_id if inbound.message else None,
                    warnings=[issue.as_json() for issue in warnings],
                    received_at=clock.now(),
                ),
            )
            await archive.mark_applied(
                session,
                await _payload(session, payload_id),
                clock=clock,
                outcome={
                    "referral_id": str(referral.id),
                    "created": receipt.created,
                    "warnings": len(warnings),
                },
            )
    except HubError as failure:
        raise _rejection_for(failure, inbound, warnings) from None
    return Accepted(referral=referral, created=receipt.created, issues=answer)


async def _answer_again(sessions: SessionFactory, payload_id: uuid.UUID) -> Accepted | None:
    """The answer to bytes already applied: the referral they made, nothing changed."""
    async with read_only(sessions) as session:
        submission = await repository.submission_for_payload(session, payload_id)
        if submission is None:
            return None
        referral = await session.get(Referral, submission.referral_id)
    if referral is None:  # pragma: no cover - a foreign key guarantees it
        return None
    warnings = tuple(_issue_from_json(item) for item in submission.warnings)
    note = information(
        "duplicate",
        f"this message was already received (as ServiceRequest/{referral.id}); nothing changed",
        detail_code="message-already-received",
    )
    return Accepted(referral=referral, created=False, issues=(*warnings, note))


def _decode(body: bytes) -> Mapping[str, Any]:
    """The body as a JSON object: UTF-8 (FHIR's only JSON encoding), no NaN or Infinity."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as problem:
        raise IntakeRejected(
            RejectionKind.MALFORMED,
            [
                error(
                    "structure",
                    f"the body is not UTF-8 (invalid byte at offset {problem.start}); FHIR "
                    "JSON is always UTF-8",
                    detail_code="not-json",
                )
            ],
        ) from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as problem:
        raise IntakeRejected(
            RejectionKind.MALFORMED,
            [error("structure", f"the body is not JSON: {problem}", detail_code="not-json")],
        ) from None
    if not isinstance(document, dict):
        raise IntakeRejected(
            RejectionKind.MALFORMED,
            [
                error(
                    "structure",
                    "the body must be a JSON object: a FHIR resource with a resourceType",
                    detail_code="not-json",
                )
            ],
        )
    return document


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _check_shape(document: Mapping[str, Any], interaction: Interaction) -> None:
    """Each interaction takes its own shapes; the connector accepts all of them, so the
    endpoint refuses a message sent to the wrong place before mapping it."""
    kind = document.get("resourceType")
    bundle_type = document.get("type") if kind == "Bundle" else None
    if interaction is Interaction.CREATE and bundle_type == "message":
        raise IntakeRejected(
            RejectionKind.MALFORMED,
            [
                error(
                    "not-supported",
                    "a message Bundle (NHS Booking and Referral Standard) is sent to "
                    "POST /fhir/$process-message, not to /fhir/ServiceRequest",
                    expression="Bundle.type",
                    detail_code="wrong-endpoint",
                )
            ],
        )
    if interaction is Interaction.PROCESS_MESSAGE and bundle_type != "message":
        where = "Bundle.type" if kind == "Bundle" else (kind if isinstance(kind, str) else None)
        raise IntakeRejected(
            RejectionKind.MALFORMED,
            [
                error(
                    "not-supported",
                    "$process-message takes a Bundle of type 'message' (MessageHeader first); "
                    "POST a ServiceRequest, or a collection/transaction Bundle, to "
                    "/fhir/ServiceRequest",
                    expression=where,
                    detail_code="wrong-endpoint",
                )
            ],
        )


async def _delivered_for_another(
    session: AsyncSession, principal: Principal, inbound: InboundReferral
) -> tuple[OutcomeIssue, ...]:
    """A warning when the referral names a referrer other than the delivering client's
    organisation. That is legitimate (e-RS, a discharge hub or a federation sends for a
    practice) and the referral keeps the referrer it names, but the sender should know the hub
    noticed: a system sending under the wrong practice's code is how a reply goes astray."""
    named = inbound.referrer.ods_code
    if named is None or principal.organisation_id is None:
        return ()
    caller = await organisations.get(session, principal.organisation_id)
    if caller is None or (caller.ods_code or "").upper() == named.upper():
        return ()
    shown = f"{caller.name} ({caller.ods_code})" if caller.ods_code else caller.name
    referrer = inbound.referrer.organisation_name
    return (
        OutcomeIssue(
            severity=IssueSeverity.WARNING.value,
            code="business-rule",
            diagnostics=f"the referral names {named}"
            + (f" ({referrer})" if referrer else "")
            + f" as the referring organisation but was delivered by {shown}; it is recorded "
            f"as referred by {named} and delivered by {shown}",
            expression=inbound.referrer.ods_location,
            detail_code="referrer-not-sender",
        ),
    )


async def _provider(
    session: AsyncSession, document: Mapping[str, Any], warnings: Sequence[OutcomeIssue]
) -> uuid.UUID:
    addressed = addressed_provider(document)
    if addressed is None:
        _refuse(
            [
                error(
                    "required",
                    "name the care provider the referral is for by its ODS code: "
                    "ServiceRequest.performer, or MessageHeader.destination.receiver in a "
                    'message, as a logical reference ({"identifier": {"system": '
                    f'"{ODS_ORGANISATION_SYSTEM}", "value": "<ODS code>"}}}}) or a '
                    "reference to an Organization (or a PractitionerRole / HealthcareService "
                    "of one) carrying that identifier. Found: "
                    f"{why_no_provider(document)}",
                    expression=where_to_name_the_provider(document),
                    detail_code="provider-missing",
                )
            ],
            warnings,
        )
    check = check_ods_code(addressed.ods_code)
    if not check.is_valid:
        _refuse(
            [
                error(
                    "value",
                    f"not an ODS code: {check.reason}",
                    expression=addressed.expression,
                    detail_code="provider-ods-invalid",
                )
            ],
            warnings,
        )
    organisation = await organisations.get_by_ods_code(session, addressed.ods_code)
    if organisation is None or organisation.kind is not OrganisationKind.PROVIDER:
        _refuse(
            [
                error(
                    "not-found",
                    f"no care provider with ODS code {addressed.ods_code} receives referrals "
                    "through this hub",
                    expression=addressed.expression,
                    detail_code="provider-unknown",
                )
            ],
            warnings,
        )
    return organisation.id


def _refuse(errors: Sequence[OutcomeIssue], warnings: Sequence[OutcomeIssue]) -> NoReturn:
    raise IntakeRejected(RejectionKind.UNPROCESSABLE, [*errors, *warnings])


def _rejection_for(
    failure: HubError, inbound: InboundReferral, warnings: Sequence[OutcomeIssue]
) -> IntakeRejected:
    """A domain refusal in FHIR terms, pointing at the element it is about."""
    identifier = inbound.source_identifier.location or None
    if isinstance(failure, DuplicateSourceIdentifier):
        return IntakeRejected(
            RejectionKind.CONFLICT, [OutcomeIssue.of(duplicate_issue(inbound)), *warnings]
        )
    if isinstance(failure, Forbidden):
        return IntakeRejected(
            RejectionKind.FORBIDDEN,
            [error("forbidden", failure.message, detail_code=failure.code)],
        )
    expression = None
    if isinstance(failure, InvalidInput) and failure.field in ("sourceSystem", "sourceIdentifier"):
        expression = identifier
    return IntakeRejected(
        RejectionKind.UNPROCESSABLE,
        [
            error(
                "business-rule", failure.message, expression=expression, detail_code=failure.code
            ),
            *warnings,
        ],
    )


def _already_held(inbound: InboundReferral, referral: Referral) -> OutcomeIssue:
    identifier = inbound.source_identifier
    return information(
        "duplicate",
        f"a referral with identifier {identifier.system}|{identifier.value} was already "
        f"received (ServiceRequest/{referral.id}); this copy changed nothing",
        expression=identifier.location or None,
        detail_code="referral-already-received",
    )


def _kind_of(issues: Sequence[OutcomeIssue]) -> RejectionKind:
    structural = any(issue.is_error and issue.detail_code in _STRUCTURAL for issue in issues)
    return RejectionKind.MALFORMED if structural else RejectionKind.UNPROCESSABLE


def _archive_error(issue: OutcomeIssue) -> dict[str, Any]:
    """An issue as contract B's `errors` entry: path, problem, code."""
    return {
        "path": issue.expression,
        "problem": issue.diagnostics,
        "code": issue.detail_code or issue.code,
    }


def _issue_from_json(item: Mapping[str, Any]) -> OutcomeIssue:
    expression = item.get("expression") or [None]
    details = item.get("details", {}).get("coding") or [{}]
    return OutcomeIssue(
        severity=str(item.get("severity") or IssueSeverity.WARNING.value),
        code=str(item.get("code") or "informational"),
        diagnostics=str(item.get("diagnostics") or ""),
        expression=expression[0],
        detail_code=details[0].get("code"),
    )


async def _payload(session: AsyncSession, payload_id: uuid.UUID) -> InboundPayload:
    row = await archive.get(session, payload_id)
    if row is None:  # pragma: no cover - archived rows are never deleted
        raise LookupError(f"archived payload {payload_id} is gone")
    return row


# --- reads -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadContext:
    """Who is reading, for the tenancy filter and the access log."""

    principal: Principal
    purpose: str | None
    request_id: str | None
    operation: str


async def task(
    sessions: SessionFactory, reader: ReadContext, referral_id: uuid.UUID
) -> dict[str, Any] | None:
    """The referral's status as a Task, or None if there is none the reader may see."""
    found = await tasks(sessions, reader, [referral_id])
    return found[0] if found else None


async def tasks_by_identifier(
    sessions: SessionFactory,
    reader: ReadContext,
    system: str | None,
    value: str,
    *,
    limit: int,
) -> list[dict[str, Any]]:
    """Tasks of the referrals the reader may see with this sender's identifier."""
    scope = AccessScope.of(reader.principal)
    async with unit_of_work(sessions) as session:
        rows = await repository.visible_referrals_by_identifier(
            session, scope, system, value, limit=limit
        )
    return await tasks(sessions, reader, [row.id for row in rows])


async def tasks(
    sessions: SessionFactory, reader: ReadContext, referral_ids: Sequence[uuid.UUID]
) -> list[dict[str, Any]]:
    """Tasks for the referrals among `referral_ids` the reader may see, in the order given.

    A Task names the person by NHS number, so the read is written to the access log (in the
    same transaction, before anything is returned: if the log cannot be written, nothing is).
    """
    scope = AccessScope.of(reader.principal)
    found: list[dict[str, Any]] = []
    async with unit_of_work(sessions) as session:
        referrals_seen: list[Referral] = []
        for referral_id in referral_ids:
            referral = await repository.visible_referral(session, scope, referral_id)
            if referral is not None:
                referrals_seen.append(referral)
        codes = await repository.ods_codes(
            session,
            [
                value
                for row in referrals_seen
                for value in (row.provider_id, row.referrer_organisation_id)
            ],
        )
        for referral in referrals_seen:
            found.append(
                referral_task(
                    referral,
                    priority=referral.priority.value,
                    provider_ods=codes.get(referral.provider_id) if referral.provider_id else None,
                    # The referrer the referral named, even one the hub has no record of.
                    referrer_ods=referral.referrer_ods_code
                    or (
                        codes.get(referral.referrer_organisation_id)
                        if referral.referrer_organisation_id
                        else None
                    ),
                )
            )
        await _log_read(session, reader, referrals_seen, "Task")
    return found


async def received_service_request(
    sessions: SessionFactory, reader: ReadContext, referral_id: uuid.UUID
) -> dict[str, Any] | None:
    """The ServiceRequest as the referrer sent it, with the hub's id for it; None when the
    reader may not see the referral or it did not arrive over FHIR."""
    scope = AccessScope.of(reader.principal)
    async with unit_of_work(sessions) as session:
        referral = await repository.visible_referral(session, scope, referral_id)
        if referral is None:
            return None
        submission = await repository.first_submission(session, referral.id)
        if submission is None:
            return None
        payload = await archive.get(session, submission.payload_id)
        if payload is None:  # pragma: no cover - archived rows are never deleted
            return None
        resource = _service_request_in(json.loads(bytes(payload.body)))
        if resource is None:  # pragma: no cover - it was accepted with one
            return None
        await _log_read(session, reader, [referral], "ServiceRequest")
    return {
        **resource,
        "id": str(referral.id),
        "meta": {
            **(resource.get("meta") or {}),
            "lastUpdated": referral.updated_at.isoformat(),
            "source": f"urn:uuid:{submission.payload_id}",
        },
    }


def _service_request_in(document: Mapping[str, Any]) -> dict[str, Any] | None:
    found = find_service_request(document)
    return dict(found) if found is not None else None


async def _log_read(
    session: AsyncSession, reader: ReadContext, referrals_read: Sequence[Referral], field: str
) -> None:
    if not referrals_read:
        return
    recorder = AccessRecorder()
    recorder.person_ids.update(row.person_id for row in referrals_read if row.person_id)
    recorder.fields.add(field)
    recorder.rows = len(referrals_read)
    await record_access(
        session,
        recorder,
        principal=reader.principal,
        operation_name=reader.operation,
        purpose=reader.purpose,
        request_id=reader.request_id,
    )
