"""FHIR R4 referral intake: a payload in, an `InboundReferral` (or every problem) out.

Accepted shapes (README.md beside this file has examples):

- a ``ServiceRequest`` whose ``subject`` is a contained Patient (``"reference": "#pat"``);
- a ``Bundle`` of type ``message`` in the NHS Booking and Referral Standard (BaRS) pattern:
  entry 0 is the MessageHeader, whose ``focus`` is the ServiceRequest; the Patient and the
  referrer's Organization / PractitionerRole are further entries, referenced by ``fullUrl``;
- a ``Bundle`` of type ``collection`` or ``transaction`` holding exactly one ServiceRequest and
  the resources it references.

How problems are treated:

- Errors (the payload is rejected): structure the R4 models refuse (unknown or R5-only
  elements, wrong types, malformed dates), a missing Patient, a referral that is not
  ``active``, no identifier to de-duplicate on, a malformed NHS number or ODS code. Checking
  runs in two passes — structure first, then the referral rules on a well-formed payload — and
  each pass reports every problem it finds, so a sender fixes a payload in at most two rounds.
- Warnings (the referral is accepted and carries a `DataQualityFlag` for each): an NHS number
  failing its check digit — sample and test data do, and a person must verify it rather than the
  referral being lost — a missing NHS number, name, birth date, authoredOn, referrer ODS code,
  or a source of referral that is missing or cannot be mapped. Pass
  ``reject_failing_nhs_number=True`` to make the check digit an error instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.contactpoint import ContactPoint as FhirContactPoint
from fhir.resources.R4B.domainresource import DomainResource
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.humanname import HumanName
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.messageheader import MessageHeader
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.servicerequest import ServiceRequest

from connectors.nhs_referrals import codes
from connectors.nhs_referrals.outcome import Issue, IssueSeverity, IssueType, ReferralRejected
from connectors.nhs_referrals.validation import resource_class, validate_resource
from connectors.records.referral import (
    CodedValue,
    ContactPoint,
    DataQualityFlag,
    InboundReferral,
    MessageEnvelope,
    PersonName,
    PostalAddress,
    ReferralDataset,
    ReferralPriority,
    ReferralSource,
    ReferredPerson,
    Referrer,
    RelatedContact,
    SourceIdentifier,
)
from connectors.standards.nhs_number import NhsNumberCheck, NhsNumberStatus, check_nhs_number
from connectors.standards.ods import check_ods_code

# A FHIR date without a time (authoredOn = "2025-03-10") is a UK calendar day.
_LONDON = ZoneInfo("Europe/London")
_CONTAINER_BUNDLE_TYPES = frozenset({"collection", "transaction"})


def parse_referral(
    payload: Mapping[str, Any],
    *,
    received_at: datetime | None = None,
    reject_failing_nhs_number: bool = False,
) -> InboundReferral:
    """Validate and map one referral payload (already decoded from JSON).

    Raises `ReferralRejected` carrying every issue when any is an error; otherwise returns the
    referral, with each warning kept as a `DataQualityFlag` (render them back to the sender with
    `issues_for_flags`). `received_at` is the hub's clock (server time is the authority); it
    defaults to now and must be timezone-aware.
    """
    if received_at is None:
        received_at = datetime.now(UTC)
    elif received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    root = _root_resource(payload)
    intake = _Intake(root, reject_failing_nhs_number=reject_failing_nhs_number)
    referral = intake.map(received_at)
    if referral is None or any(issue.is_error for issue in intake.issues):
        raise ReferralRejected(intake.issues)
    return referral


def _root_resource(payload: object) -> Resource:
    """The validated root resource, or ReferralRejected for anything that is not an R4
    ServiceRequest or Bundle with valid structure."""
    if not isinstance(payload, Mapping):
        raise ReferralRejected(
            [_error(IssueType.STRUCTURE, None, "the payload must be a JSON object", "not-json")]
        )
    resource_type = payload.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        raise ReferralRejected(
            [
                _error(
                    IssueType.STRUCTURE,
                    None,
                    "the payload has no resourceType; expected a ServiceRequest or a Bundle",
                    "not-a-resource",
                )
            ]
        )
    if resource_type not in ("ServiceRequest", "Bundle"):
        known = resource_class(resource_type) is not None
        detail = (
            f"a {resource_type} cannot be received as a referral"
            if known
            else f"{resource_type!r} is not a FHIR R4 resource type"
        )
        raise ReferralRejected(
            [
                _error(
                    IssueType.NOT_SUPPORTED if known else IssueType.INVALID,
                    resource_type,
                    f"{detail}; send a ServiceRequest with a contained Patient, or a BaRS "
                    "message Bundle",
                    "wrong-resource-type",
                )
            ]
        )
    resource, issues = validate_resource(payload)
    if resource is None:
        raise ReferralRejected(issues)
    return resource


@dataclass(frozen=True, slots=True)
class _Located:
    """A resource and the FHIRPath expression that reaches it in the payload."""

    resource: Resource
    path: str
    full_url: str | None = None


class _Intake:
    """One payload being mapped; collects issues as it goes so all are reported together."""

    def __init__(self, root: Resource, *, reject_failing_nhs_number: bool) -> None:
        self.root = root
        self.reject_failing_nhs_number = reject_failing_nhs_number
        self.issues: list[Issue] = []
        self.entries: list[_Located] = []
        self.header: _Located | None = None
        if isinstance(root, Bundle):
            self.entries = [
                _Located(entry.resource, f"Bundle.entry[{index}].resource", entry.fullUrl)
                for index, entry in enumerate(root.entry or [])
                if entry.resource is not None
            ]
            self._check_full_urls(root)

    # -- issue helpers -------------------------------------------------------------------

    def error(self, code: IssueType, where: str, diagnostics: str, detail: str) -> None:
        self._add(_error(code, where, diagnostics, detail))

    def warn(self, code: IssueType, where: str, diagnostics: str, detail: str) -> None:
        self._add(Issue(IssueSeverity.WARNING, code, where, diagnostics, detail))

    def _add(self, issue: Issue) -> None:
        # The same element can be read twice (the message sender is both the referrer fallback
        # and part of the envelope); its problem is reported once.
        if issue not in self.issues:
            self.issues.append(issue)

    # -- the whole referral --------------------------------------------------------------

    def map(self, received_at: datetime) -> InboundReferral | None:
        located = self._service_request()
        if located is None:
            return None
        request = located.resource
        assert isinstance(request, ServiceRequest)  # _service_request only returns these
        path = located.path
        self._check_request_codes(request, path)
        identifier, other_identifiers = self._source_identifier(request, located)
        patient = self._patient(request, located)
        source, source_code = self._source_of_referral(request, path)
        referrer = self._referrer(request, located)
        message = self._envelope()
        dataset = self._dataset(request, path, patient)
        if identifier is None or patient is None:
            return None
        return InboundReferral(
            source=source,
            source_code=source_code,
            source_identifier=identifier,
            other_identifiers=other_identifiers,
            referrer=referrer,
            patient=patient[0],
            service_requested=_coded(request.code),
            reasons=_coded_all(request.reasonCode),
            categories=_coded_all(request.category),
            priority=_priority(request.priority),
            dataset=dataset,
            message=message,
            received_at=received_at,
            flags=tuple(
                DataQualityFlag(issue.detail_code or "", issue.expression or "", issue.diagnostics)
                for issue in self.issues
                if issue.severity is IssueSeverity.WARNING
            ),
        )

    # -- finding the ServiceRequest ------------------------------------------------------

    def _service_request(self) -> _Located | None:
        root = self.root
        if isinstance(root, ServiceRequest):
            return _Located(root, "ServiceRequest")
        assert isinstance(root, Bundle)  # _root_resource admits nothing else
        if root.type not in codes.BUNDLE_TYPE_CODES:
            self.error(
                IssueType.VALUE,
                "Bundle.type",
                f"{root.type!r} is not an R4 Bundle type",
                "invalid-code",
            )
            return None
        if root.type == "message":
            return self._message_focus()
        if root.type in _CONTAINER_BUNDLE_TYPES:
            return self._only_service_request()
        self.error(
            IssueType.NOT_SUPPORTED,
            "Bundle.type",
            f"a {root.type!r} Bundle cannot carry a referral; use a 'message' Bundle (BaRS) "
            "or a 'collection' / 'transaction' Bundle",
            "bundle-type-not-supported",
        )
        return None

    def _message_focus(self) -> _Located | None:
        first = self.entries[0] if self.entries else None
        if first is None or first.path != "Bundle.entry[0].resource":
            self.error(
                IssueType.REQUIRED,
                "Bundle.entry",
                "a message Bundle must start with a MessageHeader entry",
                "message-header-missing",
            )
            return None
        header = first.resource
        if not isinstance(header, MessageHeader):
            self.error(
                IssueType.STRUCTURE,
                f"{first.path}.resourceType",
                f"the first entry of a message Bundle must be a MessageHeader, not a "
                f"{header.get_resource_type()}",
                "message-header-missing",
            )
            return None
        self.header = first
        event = header.eventCoding
        if (
            event is not None
            and event.system == codes.BARS_MESSAGE_EVENT_SYSTEM
            and event.code != codes.BARS_REFERRAL_REQUEST_EVENT
        ):
            self.error(
                IssueType.NOT_SUPPORTED,
                f"{first.path}.eventCoding.code",
                f"BaRS event {event.code!r} is not a referral; this endpoint receives "
                f"{codes.BARS_REFERRAL_REQUEST_EVENT!r} messages",
                "message-event-not-supported",
            )
            return None
        if not header.focus:
            self.error(
                IssueType.REQUIRED,
                f"{first.path}.focus",
                "the MessageHeader must have a focus referencing the ServiceRequest",
                "message-focus-missing",
            )
            return None
        reference = header.focus[0].reference
        focus = self.resolve(reference, first)
        where = f"{first.path}.focus[0].reference"
        if focus is None:
            shown = f"{reference!r} is not an entry in the Bundle" if reference else "is empty"
            self.error(
                IssueType.REQUIRED,
                where,
                f"the message focus {shown}; the ServiceRequest is required",
                "service-request-missing",
            )
            return None
        if not isinstance(focus.resource, ServiceRequest):
            self.error(
                IssueType.NOT_SUPPORTED,
                where,
                f"the message focus is a {focus.resource.get_resource_type()}; a referral "
                "message focuses on a ServiceRequest",
                "wrong-resource-type",
            )
            return None
        return focus

    def _only_service_request(self) -> _Located | None:
        requests = [item for item in self.entries if isinstance(item.resource, ServiceRequest)]
        if not requests:
            self.error(
                IssueType.REQUIRED,
                "Bundle.entry",
                "the Bundle holds no ServiceRequest",
                "service-request-missing",
            )
            return None
        for extra in requests[1:]:
            self.error(
                IssueType.NOT_SUPPORTED,
                extra.path,
                "one referral per payload: the Bundle holds more than one ServiceRequest",
                "multiple-service-requests",
            )
        return requests[0] if len(requests) == 1 else None

    def _check_full_urls(self, bundle: Bundle) -> None:
        seen: set[str] = set()
        for index, entry in enumerate(bundle.entry or []):
            if entry.fullUrl is None:
                continue
            if entry.fullUrl in seen:
                self.error(
                    IssueType.INVARIANT,
                    f"Bundle.entry[{index}].fullUrl",
                    f"fullUrl {entry.fullUrl!r} appears more than once (bdl-7)",
                    "duplicate-full-url",
                )
            seen.add(entry.fullUrl)

    def resolve(self, reference: str | None, holder: _Located) -> _Located | None:
        """The resource a literal reference points at: a contained resource (``#id``) of the
        resource holding the reference, or a Bundle entry by fullUrl or ``Type/id``."""
        if not reference:
            return None
        if reference.startswith("#"):
            wanted = reference[1:]
            container = holder.resource
            if isinstance(container, DomainResource):
                for index, contained in enumerate(container.contained or []):
                    if contained.id == wanted:
                        return _Located(contained, f"{holder.path}.contained[{index}]")
            return None
        for item in self.entries:
            if item.full_url == reference:
                return item
        tail = "/".join(reference.rstrip("/").split("/")[-2:])
        for item in self.entries:
            if item.resource.id and f"{item.resource.get_resource_type()}/{item.resource.id}" == (
                tail
            ):
                return item
        return None

    # -- ServiceRequest elements ---------------------------------------------------------

    def _check_request_codes(self, request: ServiceRequest, path: str) -> None:
        if request.status not in codes.REQUEST_STATUS_CODES:
            self.error(
                IssueType.VALUE,
                f"{path}.status",
                f"{request.status!r} is not an R4 request status",
                "invalid-code",
            )
        elif request.status != "active":
            self.error(
                IssueType.BUSINESS_RULE,
                f"{path}.status",
                f"only an active referral can be received; this one is {request.status!r}",
                "referral-not-active",
            )
        if request.intent not in codes.REQUEST_INTENT_CODES:
            self.error(
                IssueType.VALUE,
                f"{path}.intent",
                f"{request.intent!r} is not an R4 request intent",
                "invalid-code",
            )
        if request.doNotPerform:
            # A prohibition ("do not turn this patient") read as a request would ask a provider
            # to do exactly what the clinician forbade; it is refused, never taken as a referral.
            self.error(
                IssueType.NOT_SUPPORTED,
                f"{path}.doNotPerform",
                "doNotPerform is true: this ServiceRequest asks for the service NOT to be done, "
                "which is not a referral; send a referral without doNotPerform, and put "
                "prohibitions in note or patientInstruction",
                "do-not-perform",
            )
        if request.priority is not None and request.priority not in codes.REQUEST_PRIORITY_CODES:
            self.error(
                IssueType.VALUE,
                f"{path}.priority",
                f"{request.priority!r} is not an R4 request priority (routine, urgent, asap, stat)",
                "invalid-code",
            )

    def _source_identifier(
        self, request: ServiceRequest, located: _Located
    ) -> tuple[SourceIdentifier | None, tuple[SourceIdentifier, ...]]:
        """The identifier a resend will repeat: the e-RS UBRN when present, else the first
        identifier with both a system and a value; for a BaRS message whose ServiceRequest has
        none, the ServiceRequest's UUID (BaRS names a referral by it for the whole exchange)."""
        path = located.path
        complete = [
            SourceIdentifier(item.system, item.value, f"{path}.identifier[{index}]")
            for index, item in enumerate(request.identifier or [])
            if item.system and item.value
        ]
        if complete:
            chosen = next(
                (item for item in complete if item.system == codes.UBRN_SYSTEM), complete[0]
            )
            return chosen, tuple(item for item in complete if item is not chosen)
        for index, item in enumerate(request.identifier or []):
            missing = "system" if item.value else "value"
            self.error(
                IssueType.REQUIRED,
                f"{path}.identifier[{index}].{missing}",
                f"this identifier has no {missing}; the hub recognises a resend by an "
                "identifier's system and value together, so give both (the e-RS UBRN is "
                f"system {codes.UBRN_SYSTEM})",
                "referral-identifier-incomplete",
            )
        if request.identifier:
            return None, ()
        derived = self._bars_request_uuid(request, located)
        if derived is not None:
            return derived, ()
        self.error(
            IssueType.REQUIRED,
            f"{path}.identifier",
            "the referral has no identifier, so a resend could not be recognised as the same "
            "referral: add ServiceRequest.identifier with a system and a value (the e-RS UBRN "
            f"is system {codes.UBRN_SYSTEM}), or send it as a BaRS message whose "
            "ServiceRequest has a UUID id or an entry fullUrl urn:uuid:<uuid>",
            "referral-identifier-missing",
        )
        return None, ()

    def _bars_request_uuid(
        self, request: ServiceRequest, located: _Located
    ) -> SourceIdentifier | None:
        # Only a message (BaRS) guarantees that the ServiceRequest's UUID is the referral's own
        # and stays the same on a resend; a create or a transaction may mint new ids each time.
        if self.header is None:
            return None
        if request.id and _is_uuid(request.id):
            return SourceIdentifier(
                codes.URI_IDENTIFIER_SYSTEM, f"urn:uuid:{request.id.lower()}", f"{located.path}.id"
            )
        full_url = located.full_url or ""
        if full_url.startswith("urn:uuid:") and _is_uuid(full_url.removeprefix("urn:uuid:")):
            index = located.path.removeprefix("Bundle.entry[").split("]", 1)[0]
            return SourceIdentifier(
                codes.URI_IDENTIFIER_SYSTEM, full_url.lower(), f"Bundle.entry[{index}].fullUrl"
            )
        return None

    def _source_of_referral(
        self, request: ServiceRequest, path: str
    ) -> tuple[ReferralSource, CodedValue | None]:
        uk_core: tuple[ReferralSource, CodedValue | None] | None = None
        care_hub: tuple[ReferralSource, CodedValue | None] | None = None
        present = False
        for index, extension in enumerate(request.extension or []):
            where = f"{path}.extension[{index}]"
            if extension.url == codes.CARE_HUB_SOURCE_OF_REFERRAL_EXTENSION:
                present = True
                care_hub = self._care_hub_source(extension, where)
            elif extension.url == codes.UK_CORE_SOURCE_OF_REFERRAL_EXTENSION:
                present = True
                uk_core = self._uk_core_source(extension, where)
        chosen = care_hub or uk_core
        if chosen is not None:
            return chosen
        if present:
            # The extension was sent with a bad value: that error is the one to report.
            return ReferralSource.OTHER, None
        self.warn(
            IssueType.REQUIRED,
            f"{path}.extension",
            "no source-of-referral extension; recorded as 'other'",
            "source-of-referral-missing",
        )
        return ReferralSource.OTHER, None

    def _care_hub_source(
        self, extension: Extension, where: str
    ) -> tuple[ReferralSource, CodedValue | None] | None:
        value = extension.valueCode
        source = codes.CARE_HUB_SOURCE_OF_REFERRAL_CODES.get(value or "")
        if source is None:
            allowed = ", ".join(codes.CARE_HUB_SOURCE_OF_REFERRAL_CODES)
            self.error(
                IssueType.VALUE,
                f"{where}.valueCode",
                f"source of referral {value!r} is not one of: {allowed}",
                "invalid-code",
            )
            return None
        return source, CodedValue(codes.CARE_HUB_SOURCE_OF_REFERRAL_EXTENSION, value, None, None)

    def _uk_core_source(
        self, extension: Extension, where: str
    ) -> tuple[ReferralSource, CodedValue | None] | None:
        concept = extension.valueCodeableConcept
        coded = _coded(concept)
        if concept is None or coded is None:
            self.error(
                IssueType.VALUE,
                f"{where}.valueCodeableConcept",
                "the UK Core source-of-referral extension needs a valueCodeableConcept",
                "invalid-value",
            )
            return None
        for coding in concept.coding or []:
            if coding.system == codes.SNOMED_SYSTEM and coding.code:
                source = codes.UK_CORE_SOURCE_OF_REFERRAL_SNOMED.get(coding.code)
                if source is not None:
                    return source, _coding(coding)
        self.warn(
            IssueType.VALUE,
            f"{where}.valueCodeableConcept",
            f"source of referral {coded.code or coded.display or coded.text!r} has no Care Hub "
            "category; recorded as 'other'",
            "source-of-referral-unmapped",
        )
        return ReferralSource.OTHER, coded

    # -- the Patient -----------------------------------------------------------------------

    def _patient(
        self, request: ServiceRequest, located: _Located
    ) -> tuple[ReferredPerson, _Located] | None:
        subject = request.subject
        where = f"{located.path}.subject"
        target = self.resolve(subject.reference, located)
        if target is None:
            if subject.reference:
                problem = f"the subject {subject.reference!r} does not resolve to a Patient in "
                problem += "the payload"
            elif subject.identifier is not None:
                problem = "the subject is an identifier only, but the person's demographics are "
                problem += "needed to match them"
            else:
                problem = "the referral has no subject"
            self.error(
                IssueType.REQUIRED,
                where,
                f"{problem}; the Patient (contained, or an entry of the Bundle) is required",
                "patient-missing",
            )
            return None
        patient = target.resource
        if not isinstance(patient, Patient):
            self.error(
                IssueType.INVALID,
                f"{where}.reference",
                f"the subject is a {patient.get_resource_type()}, not a Patient",
                "wrong-resource-type",
            )
            return None
        path = target.path
        nhs_number, check, verification = self._nhs_number(patient, path)
        return (
            ReferredPerson(
                nhs_number=nhs_number,
                nhs_number_check=check,
                nhs_number_verification=verification,
                name=self._patient_name(patient, path),
                birth_date=self._birth_date(patient, path),
                gender=patient.gender,
                addresses=tuple(
                    PostalAddress(
                        use=address.use,
                        lines=_texts(address.line),
                        city=address.city,
                        district=address.district,
                        postcode=address.postalCode,
                        text=address.text,
                    )
                    for address in patient.address or []
                ),
                telecom=_telecom(patient.telecom),
                contacts=tuple(
                    RelatedContact(
                        relationships=_coded_all(contact.relationship),
                        name=_name(contact.name),
                        telecom=_telecom(contact.telecom),
                    )
                    for contact in patient.contact or []
                ),
                other_identifiers=tuple(
                    SourceIdentifier(item.system, item.value, f"{path}.identifier[{index}]")
                    for index, item in enumerate(patient.identifier or [])
                    if item.system and item.value and item.system != codes.NHS_NUMBER_SYSTEM
                ),
            ),
            target,
        )

    def _nhs_number(
        self, patient: Patient, path: str
    ) -> tuple[str | None, NhsNumberCheck | None, CodedValue | None]:
        found: tuple[NhsNumberCheck, CodedValue | None] | None = None
        for index, identifier in enumerate(patient.identifier or []):
            if identifier.system != codes.NHS_NUMBER_SYSTEM:
                continue
            where = f"{path}.identifier[{index}].value"
            check = check_nhs_number(identifier.value or "")
            if found is not None:
                if check.normalised != found[0].normalised:
                    self.error(
                        IssueType.BUSINESS_RULE,
                        where,
                        "the Patient has two different NHS numbers",
                        "nhs-number-conflict",
                    )
                continue
            self._report_nhs_number(check, where)
            found = (check, _verification(identifier))
        if found is None:
            self.warn(
                IssueType.REQUIRED,
                f"{path}.identifier",
                f"no identifier with system {codes.NHS_NUMBER_SYSTEM}; the person will need "
                "matching by demographics",
                "nhs-number-missing",
            )
            return None, None, None
        check, verification = found
        return check.normalised or check.given, check, verification

    def _report_nhs_number(self, check: NhsNumberCheck, where: str) -> None:
        if check.status is NhsNumberStatus.MALFORMED:
            self.error(
                IssueType.VALUE,
                where,
                f"{check.given!r} is not an NHS number: {check.reason}",
                "nhs-number-malformed",
            )
        elif check.status is NhsNumberStatus.FAILED_CHECK:
            if self.reject_failing_nhs_number:
                self.error(
                    IssueType.VALUE,
                    where,
                    f"NHS number {check.given!r} fails the modulus 11 check: {check.reason}",
                    "nhs-number-check-failed",
                )
            else:
                self.warn(
                    IssueType.VALUE,
                    where,
                    f"NHS number {check.given!r} fails the modulus 11 check: {check.reason}; "
                    "accepted and flagged for verification",
                    "nhs-number-check-failed",
                )

    def _patient_name(self, patient: Patient, path: str) -> PersonName | None:
        names = patient.name or []
        chosen = next((name for name in names if name.use == "official"), None) or next(
            (name for name in names if name.use in (None, "usual")), None
        )
        if chosen is None and names:
            chosen = names[0]
        mapped = _name(chosen)
        if mapped is None:
            self.warn(
                IssueType.REQUIRED,
                f"{path}.name",
                "the Patient has no name",
                "patient-name-missing",
            )
        return mapped

    def _birth_date(self, patient: Patient, path: str) -> date | None:
        value: object = patient.birthDate
        if value is None:
            self.warn(
                IssueType.REQUIRED,
                f"{path}.birthDate",
                "the Patient has no birth date",
                "patient-birth-date-missing",
            )
            return None
        if isinstance(value, date):
            return value
        # FHIR allows a partial date ("1938" or "1938-03"); fhir.resources keeps it as text.
        self.warn(
            IssueType.VALUE,
            f"{path}.birthDate",
            f"the birth date {value!r} is partial; recorded as unknown",
            "patient-birth-date-partial",
        )
        return None

    # -- the referrer ----------------------------------------------------------------------

    def _referrer(self, request: ServiceRequest, located: _Located) -> Referrer:
        found = self._organisation_from(request.requester, located, f"{located.path}.requester")
        kind = _reference_kind(
            request.requester, self.resolve_reference(request.requester, located)
        )
        practitioner = self._practitioner_name(request.requester, located)
        if found.ods_code is None and not found.ods_invalid and self.header is not None:
            header = self.header.resource
            assert isinstance(header, MessageHeader)
            sender = self._organisation_from(
                header.sender, self.header, f"{self.header.path}.sender"
            )
            if sender.ods_code is not None or sender.ods_invalid:
                found = sender
        if found.ods_code is None and not found.ods_invalid:
            self.warn(
                IssueType.REQUIRED,
                f"{located.path}.requester",
                "no ODS code for the referring organisation (requester or message sender)",
                "referrer-ods-missing",
            )
        return Referrer(
            ods_code=found.ods_code,
            organisation_name=found.name,
            kind=kind,
            practitioner_name=practitioner,
            ods_location=found.location if found.ods_code else None,
        )

    def resolve_reference(self, reference: Reference | None, holder: _Located) -> _Located | None:
        return self.resolve(reference.reference, holder) if reference is not None else None

    def _organisation_from(
        self, reference: Reference | None, holder: _Located, where: str
    ) -> _Organisation:
        """The ODS code and name of the organisation a reference leads to: directly by a
        logical identifier, or through an Organization or a PractitionerRole's organization."""
        if reference is None:
            return _Organisation(None, None)
        if (
            reference.identifier is not None
            and reference.identifier.system in codes.ODS_ORGANISATION_SYSTEMS
        ):
            location = f"{where}.identifier.value"
            code = self._ods(reference.identifier, location)
            return _Organisation(code, reference.display, code is None, location)
        target = self.resolve(reference.reference, holder)
        if target is None:
            return _Organisation(None, reference.display)
        resource = target.resource
        if isinstance(resource, Organization):
            for index, identifier in enumerate(resource.identifier or []):
                if identifier.system in codes.ODS_ORGANISATION_SYSTEMS:
                    where = f"{target.path}.identifier[{index}].value"
                    code = self._ods(identifier, where)
                    return _Organisation(code, resource.name, code is None, where)
            return _Organisation(None, resource.name)
        if isinstance(resource, PractitionerRole) and resource.organization is not None:
            return self._organisation_from(
                resource.organization, target, f"{target.path}.organization"
            )
        return _Organisation(None, reference.display)

    def _ods(self, identifier: Identifier, where: str) -> str | None:
        value = identifier.value or ""
        check = check_ods_code(value)
        if not check.is_valid:
            self.error(
                IssueType.VALUE,
                where,
                f"{value!r} is not an ODS code: {check.reason}",
                "ods-code-invalid",
            )
            return None
        return value

    def _practitioner_name(self, reference: Reference | None, holder: _Located) -> str | None:
        target = self.resolve_reference(reference, holder)
        if target is not None and isinstance(target.resource, PractitionerRole):
            target = self.resolve_reference(target.resource.practitioner, target)
        if target is not None and isinstance(target.resource, Practitioner):
            name = _name(next(iter(target.resource.name or []), None))
            if name is not None:
                return name.text or " ".join([*name.prefix, *name.given, name.family or ""]).strip()
        return None

    # -- message header and dataset ------------------------------------------------------

    def _envelope(self) -> MessageEnvelope | None:
        if self.header is None:
            return None
        header = self.header.resource
        assert isinstance(header, MessageHeader)
        bundle = self.root
        assert isinstance(bundle, Bundle)
        sender = self._organisation_from(header.sender, self.header, f"{self.header.path}.sender")
        message_id = (
            bundle.identifier.value if bundle.identifier is not None else None
        ) or header.id
        return MessageEnvelope(
            message_id=message_id,
            event=_coding(header.eventCoding) if header.eventCoding is not None else None,
            reason=_coded(header.reason),
            source_endpoint=_url(header.source.endpoint) if header.source is not None else None,
            destination_endpoints=tuple(
                url
                for url in (_url(destination.endpoint) for destination in header.destination or [])
                if url is not None
            ),
            sender_ods=sender.ods_code,
            definition=header.definition,
        )

    def _dataset(
        self,
        request: ServiceRequest,
        path: str,
        patient: tuple[ReferredPerson, _Located] | None,
    ) -> ReferralDataset:
        authored_on = _as_datetime(request.authoredOn)
        if request.authoredOn is None:
            self.warn(
                IssueType.REQUIRED,
                f"{path}.authoredOn",
                "the referral has no authoredOn date",
                "authored-on-missing",
            )
        start: datetime | None = None
        end: datetime | None = None
        if request.occurrencePeriod is not None:
            start = _as_datetime(request.occurrencePeriod.start)
            end = _as_datetime(request.occurrencePeriod.end, end_of_day=True)
        elif request.occurrenceDateTime is not None:
            start = _as_datetime(request.occurrenceDateTime)
        gp_ods: str | None = None
        language: CodedValue | None = None
        interpreter: bool | None = None
        if patient is not None:
            located = patient[1]
            resource = located.resource
            assert isinstance(resource, Patient)
            for index, practice in enumerate(resource.generalPractitioner or []):
                organisation = self._organisation_from(
                    practice, located, f"{located.path}.generalPractitioner[{index}]"
                )
                if organisation.ods_code is not None:
                    gp_ods = organisation.ods_code
                    break
            communications = resource.communication or []
            preferred = next((item for item in communications if item.preferred), None)
            chosen = preferred or next(iter(communications), None)
            language = _coded(chosen.language) if chosen is not None else None
            interpreter = next(
                (
                    extension.valueBoolean
                    for extension in resource.extension or []
                    if extension.url == codes.INTERPRETER_REQUIRED_EXTENSION
                ),
                None,
            )
        return ReferralDataset(
            authored_on=authored_on,
            requested_start=start,
            requested_end=end,
            registered_gp_ods=gp_ods,
            preferred_language=language,
            interpreter_required=interpreter,
            patient_instruction=request.patientInstruction,
            notes=tuple(note.text for note in request.note or [] if note.text),
        )


@dataclass(frozen=True, slots=True)
class _Organisation:
    """What a reference told us about an organisation. `ods_invalid` means an ODS code was
    sent but refused (already reported), so it must not also be reported as missing."""

    ods_code: str | None
    name: str | None
    ods_invalid: bool = False
    location: str | None = None  # where the ODS code was read


def _error(code: IssueType, where: str | None, diagnostics: str, detail: str) -> Issue:
    return Issue(IssueSeverity.ERROR, code, where, diagnostics, detail)


def _coding(coding: Coding) -> CodedValue:
    return CodedValue(coding.system, coding.code, coding.display, None)


def _coded(concept: CodeableConcept | None) -> CodedValue | None:
    if concept is None:
        return None
    first = next(iter(concept.coding or []), None)
    # `text` is the clinician's own words ("Swollen abdomen") and the coding's display the
    # terminology's ("Abdominal distension, gaseous"): both are kept, neither replaces the other.
    if first is not None:
        return CodedValue(first.system, first.code, first.display, concept.text)
    if concept.text:
        return CodedValue(None, None, None, concept.text)
    return None


def _coded_all(concepts: Iterable[CodeableConcept] | None) -> tuple[CodedValue, ...]:
    mapped = (_coded(concept) for concept in concepts or [])
    return tuple(value for value in mapped if value is not None)


def _name(name: HumanName | None) -> PersonName | None:
    if name is None or not (name.family or name.given or name.text):
        return None
    return PersonName(
        family=name.family,
        given=_texts(name.given),
        prefix=_texts(name.prefix),
        text=name.text,
    )


def _texts(values: Iterable[str | None] | None) -> tuple[str, ...]:
    return tuple(value for value in values or () if value)


def _url(value: object) -> str | None:
    # fhir.resources types url elements as pydantic AnyUrl or str depending on the value.
    return str(value) if value is not None else None


def _priority(value: str | None) -> ReferralPriority:
    # An unknown priority has already been reported as an error; absent means routine.
    if value in codes.REQUEST_PRIORITY_CODES:
        return ReferralPriority(value)
    return ReferralPriority.ROUTINE


def _telecom(points: Iterable[FhirContactPoint] | None) -> tuple[ContactPoint, ...]:
    return tuple(
        ContactPoint(system=point.system, value=point.value, use=point.use)
        for point in points or []
        if point.value
    )


def _verification(identifier: Identifier) -> CodedValue | None:
    for extension in identifier.extension or []:
        if extension.url == codes.NHS_NUMBER_VERIFICATION_EXTENSION:
            return _coded(extension.valueCodeableConcept)
    return None


def _reference_kind(reference: Reference | None, target: _Located | None) -> str | None:
    if target is not None:
        return target.resource.get_resource_type()
    if reference is None:
        return None
    if reference.type:
        return reference.type
    if reference.reference and "/" in reference.reference:
        return reference.reference.rstrip("/").split("/")[-2] or None
    return None


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


def _as_datetime(value: object, *, end_of_day: bool = False) -> datetime | None:
    """A FHIR dateTime as an aware UTC datetime.

    A date alone is a UK calendar day: its start, or — for the end of a period, where FHIR
    includes the whole of that day — the following midnight. A partial date (a year, or a
    year and month; fhir.resources keeps those as text) gives None.
    """
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else None
    if isinstance(value, date):
        day = value + timedelta(days=1) if end_of_day else value
        return datetime.combine(day, time(0), tzinfo=_LONDON).astimezone(UTC)
    return None
