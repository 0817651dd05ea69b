"""A FHIR referral's content as the referral minimum dataset (`hub.referrals.dataset`).

The hub keeps one minimum dataset per referral whatever its channel, so a GP's FHIR referral
and a form typed in by an office are triaged from the same fields and listed as missing the same
way. This maps the canonical `InboundReferral` the connector produced onto those fields. Only
what the sender actually said is set; anything they did not say stays missing, so the triage
team sees the gap instead of a guess. In particular:

- ``consentToReferral``, ``knownRisks`` and ``referrerContact`` have no reliable FHIR source
  in a referral message (consent is a separate Consent resource; risks are free text in notes),
  so they are never filled in here;
- ``dischargeDate`` is the London date the requested service starts (``occurrencePeriod.start``)
  for a hospital-discharge referral: BaRS discharge referrals ask for care from the day the
  person leaves hospital;
- the address is the Patient's ``home`` address (else the first one); its first line only, as
  the dataset has one address line, the rest of the address stays in the archived payload.
"""

from __future__ import annotations

from typing import Any

from connectors.records.referral import (
    CodedValue,
    InboundReferral,
    PersonName,
    PostalAddress,
    ReferralSource,
    RelatedContact,
)
from hub.kit.time import to_london

# The dataset stores free text; longer values are cut here so one verbose note cannot push a
# referral over the GraphQL response budget. The whole text stays in the archived payload.
MAX_TEXT = 2000


def minimum_dataset(referral: InboundReferral) -> dict[str, Any]:
    """The minimum-dataset values this referral carries (missing ones are simply absent)."""
    patient = referral.patient
    values: dict[str, Any] = {}
    # A number that failed the modulus-11 check is kept (and flagged by the connector): the
    # dataset records what the referrer sent, and a person verifies it.
    if patient.nhs_number_check is not None and patient.nhs_number_check.normalised is not None:
        values["nhsNumber"] = patient.nhs_number_check.normalised
    if patient.name is not None:
        given = " ".join(patient.name.given)
        if given:
            values["givenName"] = given
        if patient.name.family:
            values["familyName"] = patient.name.family
    if patient.birth_date is not None:
        values["dateOfBirth"] = patient.birth_date.isoformat()
    address = _home_address(patient.addresses)
    if address is not None:
        line = next(iter(address.lines), None) or address.text
        if line:
            values["addressLine1"] = line
        if address.postcode:
            values["postcode"] = address.postcode
    phone = next((point.value for point in patient.telecom if point.system == "phone"), None)
    if phone is None:
        phone = next(
            (
                point.value
                for c in patient.contacts
                for point in c.telecom
                if point.system == "phone"
            ),
            None,
        )
    if phone is not None:
        values["contactTelephone"] = phone
    reason = _reason(referral)
    if reason:
        values["reasonForReferral"] = reason
    referrer = referral.referrer.practitioner_name or referral.referrer.organisation_name
    if referrer:
        values["referrerName"] = referrer
    if referral.dataset.registered_gp_ods:
        values["registeredGpPractice"] = referral.dataset.registered_gp_ods
    start = referral.dataset.requested_start
    if referral.source is ReferralSource.HOSPITAL_DISCHARGE and start is not None:
        values["dischargeDate"] = to_london(start).date().isoformat()
    needs = _communication_needs(referral)
    if needs:
        values["communicationNeeds"] = needs
    next_of_kin = "; ".join(_contact_text(contact) for contact in patient.contacts)
    if next_of_kin:
        values["nextOfKin"] = _cut(next_of_kin)
    return values


def _home_address(addresses: tuple[PostalAddress, ...]) -> PostalAddress | None:
    return next((item for item in addresses if item.use == "home"), None) or next(
        iter(addresses), None
    )


def _reason(referral: InboundReferral) -> str:
    parts = [_coded_text(referral.service_requested)] if referral.service_requested else []
    parts += [_coded_text(reason) for reason in referral.reasons]
    if referral.dataset.patient_instruction:
        parts.append(f"Instruction: {referral.dataset.patient_instruction}")
    parts += list(referral.dataset.notes)
    return _cut(". ".join(part for part in parts if part))


def _communication_needs(referral: InboundReferral) -> str:
    parts = []
    if referral.dataset.interpreter_required:
        parts.append("Interpreter required")
    language = referral.dataset.preferred_language
    if language is not None and _coded_text(language):
        parts.append(f"preferred language {_coded_text(language)}")
    return ", ".join(parts)


def _contact_text(contact: RelatedContact) -> str:
    name = _name_text(contact.name) or "unnamed contact"
    relationship = ", ".join(_coded_text(item) for item in contact.relationships if item)
    phones = ", ".join(point.value for point in contact.telecom)
    text = f"{name} ({relationship})" if relationship else name
    return f"{text} {phones}".strip()


def _name_text(name: PersonName | None) -> str:
    if name is None:
        return ""
    if name.text:
        return name.text
    return " ".join([*name.given, name.family or ""]).strip()


def _coded_text(value: CodedValue) -> str:
    """The sender's words first, then the code's meaning: "Swollen abdomen (Abdominal
    distension, gaseous)". Either alone when that is all there is; the code when neither."""
    coded = value.display or value.code or ""
    if value.text and coded and value.text.strip().casefold() != coded.strip().casefold():
        return f"{value.text} ({coded})"
    return value.text or coded


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
