"""People: registering and importing the person receiving care, their risks and how to get in.

Two ways in, because the NHS number is trusted differently:

- `register_person` (office staff typing a record): the number must pass the modulus-11 check
  or the registration is refused; it is stored as `unverified` until confirmed against PDS.
- `import_person` (a referral, a local-authority export, a transferred caseload): the record is
  never dropped for its number. A number failing the check is kept and flagged `failed_check`
  for someone to verify; a malformed one (wrong length, letters, ten copies of one digit) is no
  identifier at all, so the record is kept with no number (`absent`) and the problem is recorded
  on the import event.

Who a person belongs to. A person belongs to the organisation that registered them and to those
their packages and referrals name (`hub.tenancy.person_visible`). A write from any other
organisation that carries an NHS number the hub already holds (a registration, a portal row)
reaches that record only through a **demographic match**, as a PDS trace would: NHS number,
date of birth and family name (compared after `normalise_family_name`) all agree. A match links
the organisation (`PersonLink`, event ``person.linked`` naming who, which fields and the source);
a mismatch links nobody: the write is kept whole in a `PersonLinkHold` (event
``person.link_held``) for the receiving office to review, and nothing of the existing record goes
back to the sender. A number held outside the caller's scope is never reported as "already
registered": that answer would tell any office who the hub cares for.

Access details and the key-safe code are sealed (`hub.people.sealing`) before they reach a row,
and opened only for callers `people_with_access_open` allows: office staff of a provider that
can see the person, and a carer inside the window of one of their visits to that person.
Every write records an event in the caller's transaction; nothing here commits.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.standards.nhs_number import NhsNumberCheck, check_nhs_number
from connectors.standards.nhs_number import NhsNumberStatus as CheckStatus
from hub.errors import InvalidInput
from hub.events.log import NewEvent, record
from hub.kit.ids import uuid7
from hub.kit.time import LONDON, Clock
from hub.people import repository
from hub.people.errors import DuplicateNhsNumber, PersonNotFound
from hub.people.models import LinkBasis, NhsNumberStatus, Person, PersonLink, PersonLinkHold
from hub.people.sealing import Sealer
from hub.people.vocabulary import MedicationSupport
from hub.tenancy import AccessScope

# A carer sees access details from this long before a visit's planned start until this long
# after its planned end: time to find the key safe when early, and to lock up when running over.
ACCESS_WINDOW_MARGIN = timedelta(minutes=30)

ACCESS_DETAILS_FIELD = "access_details"
KEY_SAFE_FIELD = "key_safe_code"
OFFICE_SOURCE = "office"

MAX_NAME_LENGTH = 100
MAX_TEXT_LENGTH = 2000
MAX_KEY_SAFE_LENGTH = 32
MAX_CONTACTS = 20
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
# UK postcodes: outward code (A9, A99, A9A, AA9, AA99, AA9A) then inward code (9AA).
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")


@dataclass(frozen=True, slots=True)
class Address:
    line_1: str
    town: str
    postcode: str
    line_2: str | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    """Someone to call about the person: family, a friend, an advocate, a GP."""

    name: str
    relationship: str | None = None
    phone: str | None = None
    email: str | None = None
    next_of_kin: bool = False
    key_holder: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "relationship": self.relationship,
            "phone": self.phone,
            "email": self.email,
            "next_of_kin": self.next_of_kin,
            "key_holder": self.key_holder,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Contact:
        """Tolerant of imported rows that lack some keys."""
        return cls(
            name=str(value.get("name") or ""),
            relationship=value.get("relationship"),
            phone=value.get("phone"),
            email=value.get("email"),
            next_of_kin=bool(value.get("next_of_kin", False)),
            key_holder=bool(value.get("key_holder", False)),
        )


@dataclass(frozen=True, slots=True)
class RiskFlags:
    falls: bool = False
    safeguarding: bool = False
    dnar: bool = False
    escalation_preferences: str | None = None
    lone_working: bool = False
    environmental: str | None = None
    lives_alone: bool = False


@dataclass(frozen=True, slots=True)
class PersonDetails:
    """What registering or importing a person needs, apart from the NHS number."""

    given_name: str
    family_name: str
    date_of_birth: date
    address: Address
    preferred_name: str | None = None
    contacts: Sequence[Contact] = ()
    risks: RiskFlags = field(default_factory=RiskFlags)
    medication_support: MedicationSupport = MedicationSupport.NONE


class Resolution(StrEnum):
    """How a write carrying an NHS number found its person."""

    CREATED = "created"  # a new record
    EXISTING = "existing"  # the record holding the number, already in every reader's scope
    LINKED = "linked"  # the record holding the number, reached by a demographic match
    HELD = "held"  # the number is held and the demographics do not match: nothing linked


# The three values a PDS trace compares, in the order they are reported.
MATCH_FIELDS = ("nhs_number", "date_of_birth", "family_name")
# Characters that differ between two spellings of one family name without making it another:
# spaces, hyphens and dashes, apostrophes and their look-alikes.
_NAME_NOISE = re.compile(r"[\s\-\u2010-\u2015'\u2018\u2019\u02bc`\u00b4]+")


@dataclass(frozen=True, slots=True)
class DemographicMatch:
    """Which of `MATCH_FIELDS` agree between a write and an existing record."""

    matched: tuple[str, ...]
    mismatched: tuple[str, ...]

    @property
    def is_match(self) -> bool:
        return not self.mismatched


@dataclass(frozen=True, slots=True)
class ImportedPerson:
    """The outcome of `import_person`: the record (new, the one already holding a checked
    number, or None when the write is held), how it was found, and how the number fared.

    `held_against` is the id of the record a held write named. It is for the hub's own
    bookkeeping (`hold_write`) and must never be shown to the sender."""

    person: Person | None
    created: bool
    nhs_number_check: NhsNumberCheck | None
    resolution: Resolution = Resolution.CREATED
    match: DemographicMatch | None = None
    held_against: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Registration:
    """The outcome of `register_person`: the person (new, or linked by a match), or the hold
    a mismatch made."""

    person: Person | None
    resolution: Resolution
    hold: PersonLinkHold | None = None


# --- reads ------------------------------------------------------------------------------


async def get(session: AsyncSession, scope: AccessScope, person_id: uuid.UUID) -> Person:
    person = await repository.get(session, scope, person_id)
    if person is None:
        raise PersonNotFound(f"no person {person_id}")
    return person


async def people_with_access_open(
    session: AsyncSession, scope: AccessScope, person_ids: Sequence[uuid.UUID], now: datetime
) -> set[uuid.UUID]:
    """Of `person_ids`, those whose access details and key-safe code `scope` may read now.

    Office staff (coordinator, registered manager): always, for people their provider can see.
    A carer: only inside `ACCESS_WINDOW_MARGIN` of a visit to the person assigned to them.
    Anyone else (commissioners, clients, admins): never; they have no door to open.
    """
    if not person_ids:
        return set()
    if scope.is_office:
        return {person.id for person in await repository.get_many(session, scope, person_ids)}
    if scope.is_carer and scope.staff_id is not None:
        return await repository.people_in_visit_window(
            session,
            staff_id=scope.staff_id,
            person_ids=person_ids,
            now=now,
            margin=ACCESS_WINDOW_MARGIN,
        )
    return set()


def open_sealed(
    sealer: Sealer, person_id: uuid.UUID, field_name: str, sealed: bytes | None
) -> str | None:
    """The plain value of a sealed column (None when nothing is recorded)."""
    if sealed is None:
        return None
    return sealer.unseal(person_id, field_name, sealed)


# --- writes -----------------------------------------------------------------------------


async def register_person(
    session: AsyncSession,
    scope: AccessScope,
    *,
    details: PersonDetails,
    nhs_number: str | None,
    actor: str,
    clock: Clock,
    access_details: str | None = None,
    key_safe_code: str | None = None,
    sealer: Sealer | None = None,
) -> Registration:
    """Register a person typed in by office staff. A given NHS number must pass the check; it
    is stored `unverified`.

    A number the hub already holds: if the caller can already see that record, the
    registration is refused as a duplicate (it is their own person). Otherwise it goes through
    the demographic match (module docstring): a match links the caller's organisation to the
    existing record and returns it; a mismatch registers nothing and holds the typed record for
    review by the caller's own office (`Resolution.HELD`). Whether a number was held elsewhere
    is never answered as such."""
    digits: str | None = None
    if nhs_number is not None and nhs_number.strip():
        check = check_nhs_number(nhs_number)
        if not check.is_valid:
            raise InvalidInput("nhsNumber", check.reason, code="INVALID_NHS_NUMBER")
        digits = check.normalised
    person = _new_person(details, clock)
    person.nhs_number = digits
    person.nhs_number_status = (
        NhsNumberStatus.UNVERIFIED if digits is not None else NhsNumberStatus.ABSENT
    )
    person.nhs_number_source = OFFICE_SOURCE if digits is not None else None
    # The registering office keeps sight of the person before any package links them.
    person.registered_by_id = scope.organisation_id
    _seal_access(person, access_details, key_safe_code, sealer)
    if digits is not None:
        existing = await repository.get_by_checked_nhs_number(session, digits)
        if existing is not None:
            return await _register_held_number(session, scope, existing, person, actor, clock)
        try:
            async with session.begin_nested():
                await _insert(session, person)
        except DuplicateNhsNumber:
            # Another registration of the number committed first: match against it instead.
            if person in session:
                session.expunge(person)
            existing = await repository.get_by_checked_nhs_number(session, digits)
            if existing is None:  # pragma: no cover - the unique index proves it exists
                raise
            return await _register_held_number(session, scope, existing, person, actor, clock)
    else:
        await _insert(session, person)
    if scope.organisation_id is not None:
        _add_link(
            session,
            person.id,
            scope.organisation_id,
            basis=LinkBasis.REGISTERED,
            source=OFFICE_SOURCE,
            matched=(),
            actor=actor,
        )
        await session.flush()
    await record(
        session,
        NewEvent(
            type="person.registered",
            subject_type="person",
            subject_id=person.id,
            person_id=person.id,
            organisation_id=scope.organisation_id,
            actor=actor,
            occurred_at=clock.now(),
            payload={
                "nhsNumberStatus": person.nhs_number_status.value,
                "nhsNumberSource": person.nhs_number_source,
                "medicationSupport": person.medication_support.value,
                "accessDetails": person.access_details_sealed is not None,
                "keySafeCode": person.key_safe_sealed is not None,
            },
        ),
    )
    return Registration(person=person, resolution=Resolution.CREATED)


async def _register_held_number(
    session: AsyncSession,
    scope: AccessScope,
    existing: Person,
    typed: Person,
    actor: str,
    clock: Clock,
) -> Registration:
    if await repository.get(session, scope, existing.id) is not None:
        # The caller's own person: saying so tells them nothing they cannot already read.
        raise DuplicateNhsNumber(
            "a person you can already see has this NHS number; open their record instead"
        )
    match = match_demographics(
        existing,
        nhs_number=typed.nhs_number,
        date_of_birth=typed.date_of_birth,
        family_name=typed.family_name,
    )
    if match.is_match and scope.organisation_id is not None:
        await link_person(
            session,
            existing,
            scope.organisation_id,
            match=match,
            source=OFFICE_SOURCE,
            sender_organisation_id=scope.organisation_id,
            actor=actor,
            clock=clock,
        )
        return Registration(person=existing, resolution=Resolution.LINKED)
    hold = await hold_write(
        session,
        existing_person_id=existing.id,
        receiving_organisation_id=scope.organisation_id,
        sender_organisation_id=scope.organisation_id,
        source=OFFICE_SOURCE,
        submitted=submitted_version(typed),
        actor=actor,
        clock=clock,
    )
    return Registration(person=None, resolution=Resolution.HELD, hold=hold)


async def import_person(
    session: AsyncSession,
    *,
    details: PersonDetails,
    nhs_number: str | None,
    source: str,
    actor: str,
    clock: Clock,
    readers: Sequence[AccessScope],
    organisation_id: uuid.UUID | None = None,
) -> ImportedPerson:
    """Keep a person record arriving from another system, whatever its NHS number is like.

    `readers` are the scopes that will see the person through what the caller does with it
    (the provider's office and the commissioner a portal row's package is for). A number that
    passes the check and is already held:

    - is that record unchanged (`Resolution.EXISTING`) when every reader can already see it;
    - else is linked to the readers who cannot (`Resolution.LINKED`) when the date of birth and
      family name match it — the match is recorded for each of them;
    - else is `Resolution.HELD`: nothing is written here and `person` is None; the caller keeps
      its write whole and calls `hold_write`.

    `source` says where the number came from (e.g. `gp-referral:Y99901`, `la-portal`) and is
    stored with it.
    """
    if not source.strip():
        raise InvalidInput("source", "must say where the record came from", code="REQUIRED")
    check = check_nhs_number(nhs_number) if nhs_number and nhs_number.strip() else None

    async def held(existing: Person, check: NhsNumberCheck) -> ImportedPerson:
        return await _imported_held_number(
            session,
            existing,
            details,
            check,
            source.strip(),
            readers,
            actor,
            clock,
            organisation_id,
        )

    if check is not None and check.is_valid and check.normalised is not None:
        existing = await repository.get_by_checked_nhs_number(session, check.normalised)
        if existing is not None:
            return await held(existing, check)
    person = _new_person(details, clock)
    if check is None or check.status is CheckStatus.MALFORMED:
        person.nhs_number, person.nhs_number_status = None, NhsNumberStatus.ABSENT
    elif check.status is CheckStatus.FAILED_CHECK:
        person.nhs_number, person.nhs_number_status = check.normalised, NhsNumberStatus.FAILED_CHECK
    else:
        person.nhs_number, person.nhs_number_status = check.normalised, NhsNumberStatus.UNVERIFIED
    person.nhs_number_source = source.strip() if check is not None else None
    try:
        async with session.begin_nested():
            await _insert(session, person)
    except DuplicateNhsNumber:
        # Another write of the same number committed first: it is now a held number like any
        # other, and goes through the match (never answered as "already registered").
        if person in session:
            session.expunge(person)
        existing = (
            await repository.get_by_checked_nhs_number(session, person.nhs_number)
            if person.nhs_number is not None
            else None
        )
        if existing is None or check is None:  # pragma: no cover - the index proves it
            raise
        return await held(existing, check)
    await record(
        session,
        NewEvent(
            type="person.imported",
            subject_type="person",
            subject_id=person.id,
            person_id=person.id,
            organisation_id=organisation_id,
            actor=actor,
            occurred_at=clock.now(),
            payload={
                "source": source.strip(),
                "nhsNumberStatus": person.nhs_number_status.value,
                # Why a given number was flagged or refused (the number itself is on the row).
                "nhsNumberProblem": check.problem.value if check and check.problem else None,
                "nhsNumberReason": check.reason if check and not check.is_valid else None,
            },
        ),
    )
    return ImportedPerson(
        person=person, created=True, nhs_number_check=check, resolution=Resolution.CREATED
    )


async def _imported_held_number(
    session: AsyncSession,
    existing: Person,
    details: PersonDetails,
    check: NhsNumberCheck,
    source: str,
    readers: Sequence[AccessScope],
    actor: str,
    clock: Clock,
    sender_organisation_id: uuid.UUID | None,
) -> ImportedPerson:
    unseen = [
        reader
        for reader in readers
        if not reader.is_admin and await repository.get(session, reader, existing.id) is None
    ]
    if not unseen:
        return ImportedPerson(
            person=existing, created=False, nhs_number_check=check, resolution=Resolution.EXISTING
        )
    match = match_demographics(
        existing,
        nhs_number=check.normalised,
        date_of_birth=details.date_of_birth,
        family_name=details.family_name,
    )
    if not match.is_match:
        return ImportedPerson(
            person=None,
            created=False,
            nhs_number_check=check,
            resolution=Resolution.HELD,
            match=match,
            held_against=existing.id,
        )
    for reader in unseen:
        if reader.organisation_id is not None:
            await link_person(
                session,
                existing,
                reader.organisation_id,
                match=match,
                source=source,
                sender_organisation_id=sender_organisation_id,
                actor=actor,
                clock=clock,
            )
    return ImportedPerson(
        person=existing,
        created=False,
        nhs_number_check=check,
        resolution=Resolution.LINKED,
        match=match,
    )


def normalise_family_name(value: str) -> str:
    """A family name as a PDS trace compares it: Unicode-normalised, case-folded, without
    spaces, hyphens or apostrophes ("O'Brien-Smith" and "obrien smith" are one name)."""
    folded = unicodedata.normalize("NFKC", value).casefold()
    return _NAME_NOISE.sub("", folded)


def match_demographics(
    person: Person,
    *,
    nhs_number: str | None,
    date_of_birth: date | None,
    family_name: str | None,
) -> DemographicMatch:
    """Compare a write's NHS number, date of birth and family name with a record's."""
    agree = {
        "nhs_number": nhs_number is not None and nhs_number == person.nhs_number,
        "date_of_birth": date_of_birth is not None and date_of_birth == person.date_of_birth,
        "family_name": family_name is not None
        and bool(normalise_family_name(family_name))
        and normalise_family_name(family_name) == normalise_family_name(person.family_name),
    }
    return DemographicMatch(
        matched=tuple(name for name in MATCH_FIELDS if agree[name]),
        mismatched=tuple(name for name in MATCH_FIELDS if not agree[name]),
    )


async def link_person(
    session: AsyncSession,
    person: Person,
    organisation_id: uuid.UUID,
    *,
    match: DemographicMatch,
    source: str,
    sender_organisation_id: uuid.UUID | None,
    actor: str,
    clock: Clock,
) -> None:
    """Record that `organisation_id` reached `person` through a demographic match (who, which
    fields, from where): a `PersonLink` and a ``person.linked`` event. Refuses a non-match."""
    if not match.is_match:
        raise ValueError("a person is linked only on a full demographic match")
    _add_link(
        session,
        person.id,
        organisation_id,
        basis=LinkBasis.DEMOGRAPHIC_MATCH,
        source=source,
        matched=match.matched,
        actor=actor,
    )
    await session.flush()
    await record(
        session,
        NewEvent(
            type="person.linked",
            subject_type="person",
            subject_id=person.id,
            person_id=person.id,
            organisation_id=organisation_id,
            actor=actor,
            occurred_at=clock.now(),
            payload={
                "organisationId": str(organisation_id),
                "senderOrganisationId": (
                    str(sender_organisation_id) if sender_organisation_id else None
                ),
                "basis": LinkBasis.DEMOGRAPHIC_MATCH.value,
                "matchedFields": list(match.matched),
                "source": source,
            },
        ),
    )


async def hold_write(
    session: AsyncSession,
    *,
    existing_person_id: uuid.UUID,
    receiving_organisation_id: uuid.UUID | None,
    sender_organisation_id: uuid.UUID | None,
    source: str,
    submitted: dict[str, Any],
    actor: str,
    clock: Clock,
) -> PersonLinkHold:
    """Keep a write whose demographics did not match the record holding its NHS number, linked
    to nobody, for the receiving office to review (the caller opens its data-quality case).

    The ``person.link_held`` event names neither the existing person nor which fields differed:
    the sender may read events about its own writes, and either would describe the other
    record."""
    hold = PersonLinkHold(
        id=uuid7(),
        existing_person_id=existing_person_id,
        receiving_organisation_id=receiving_organisation_id,
        sender_organisation_id=sender_organisation_id,
        source=source,
        submitted=submitted,
        actor=actor,
    )
    repository.add_hold(session, hold)
    await session.flush()
    await record(
        session,
        NewEvent(
            type="person.link_held",
            subject_type="person_link_hold",
            subject_id=hold.id,
            organisation_id=receiving_organisation_id,
            actor=actor,
            occurred_at=clock.now(),
            payload={
                "source": source,
                "senderOrganisationId": (
                    str(sender_organisation_id) if sender_organisation_id else None
                ),
            },
        ),
    )
    return hold


def submitted_version(person: Person) -> dict[str, Any]:
    """A write's person as the sender gave it, for a hold. Sealed values stay sealed (their
    associated data is the unsaved record's id, kept beside them)."""
    return {
        "id": str(person.id),
        "nhsNumber": person.nhs_number,
        "givenName": person.given_name,
        "familyName": person.family_name,
        "preferredName": person.preferred_name,
        "dateOfBirth": person.date_of_birth.isoformat(),
        "address": {
            "line1": person.address_line_1,
            "line2": person.address_line_2,
            "town": person.town,
            "postcode": person.postcode,
        },
        "contacts": list(person.contacts),
        "risks": dict(_risk_values(person)),
        "accessDetailsSealed": (
            person.access_details_sealed.hex() if person.access_details_sealed else None
        ),
        "keySafeSealed": person.key_safe_sealed.hex() if person.key_safe_sealed else None,
    }


async def update_risks(
    session: AsyncSession,
    scope: AccessScope,
    person_id: uuid.UUID,
    *,
    risks: RiskFlags,
    actor: str,
    clock: Clock,
    medication_support: MedicationSupport | None = None,
) -> Person:
    """Replace the person's risk flags with `risks` (and the medication support level, when
    given). The event names what changed and the flags' new values; free text stays on the row."""
    person = await _get_for_update(session, scope, person_id)
    checked = _checked_risks(risks)
    before = _risk_values(person)
    _apply_risks(person, checked)
    if medication_support is not None:
        person.medication_support = medication_support
    after = _risk_values(person)
    changed = sorted(name for name in after if after[name] != before[name])
    await _flush_update(session, person)
    await record(
        session,
        NewEvent(
            type="person.risks_updated",
            subject_type="person",
            subject_id=person.id,
            person_id=person.id,
            organisation_id=scope.organisation_id,
            actor=actor,
            occurred_at=clock.now(),
            payload={
                "changed": changed,
                "falls": person.falls_risk,
                "safeguarding": person.safeguarding_history,
                "dnar": person.dnar,
                "loneWorking": person.lone_working_risk,
                "livesAlone": person.lives_alone,
                "medicationSupport": person.medication_support.value,
            },
        ),
    )
    return person


async def set_access_details(
    session: AsyncSession,
    scope: AccessScope,
    person_id: uuid.UUID,
    *,
    access_details: str | None,
    key_safe_code: str | None,
    sealer: Sealer,
    actor: str,
    clock: Clock,
) -> Person:
    """Replace how to get in: both values as they now stand (None or blank clears one).
    They are sealed before the row is written; the event says only whether each is set."""
    person = await _get_for_update(session, scope, person_id)
    _seal_access(person, access_details, key_safe_code, sealer)
    await _flush_update(session, person)
    await record(
        session,
        NewEvent(
            type="person.access_details_set",
            subject_type="person",
            subject_id=person.id,
            person_id=person.id,
            organisation_id=scope.organisation_id,
            actor=actor,
            occurred_at=clock.now(),
            payload={
                "accessDetails": person.access_details_sealed is not None,
                "keySafeCode": person.key_safe_sealed is not None,
            },
        ),
    )
    return person


# --- validation -------------------------------------------------------------------------


def normalise_nhs_search(text: str) -> str | None:
    """Ten digits when `text` looks like an NHS number (spaces or hyphens allowed), else None."""
    digits = text.strip().replace(" ", "").replace("-", "")
    return digits if len(digits) == 10 and digits.isascii() and digits.isdigit() else None


def normalise_postcode(value: str, field_name: str = "address.postcode") -> str:
    compact = " ".join(value.upper().split())
    match = _POSTCODE.match(compact)
    if match is None:
        raise InvalidInput(
            field_name, "is not a UK postcode (e.g. NV1 1AA)", code="INVALID_POSTCODE"
        )
    return f"{match.group(1)} {match.group(2)}"


def _new_person(details: PersonDetails, clock: Clock) -> Person:
    address = details.address
    latitude, longitude = _checked_location(address.latitude, address.longitude)
    risks = _checked_risks(details.risks)
    person = Person(
        given_name=_required_text("givenName", details.given_name, MAX_NAME_LENGTH),
        family_name=_required_text("familyName", details.family_name, MAX_NAME_LENGTH),
        preferred_name=_optional_text("preferredName", details.preferred_name, MAX_NAME_LENGTH),
        date_of_birth=_checked_birth_date(details.date_of_birth, clock),
        address_line_1=_required_text("address.line1", address.line_1, MAX_NAME_LENGTH * 2),
        address_line_2=_optional_text("address.line2", address.line_2, MAX_NAME_LENGTH * 2),
        town=_required_text("address.town", address.town, MAX_NAME_LENGTH),
        postcode=normalise_postcode(address.postcode),
        latitude=latitude,
        longitude=longitude,
        contacts=[contact.as_json() for contact in _checked_contacts(details.contacts)],
        medication_support=details.medication_support,
    )
    # The id is the sealed values' associated data, so it is fixed before anything is sealed.
    person.id = uuid7()
    _apply_risks(person, risks)
    return person


def _add_link(
    session: AsyncSession,
    person_id: uuid.UUID,
    organisation_id: uuid.UUID,
    *,
    basis: LinkBasis,
    source: str,
    matched: Sequence[str],
    actor: str,
) -> None:
    repository.add_link(
        session,
        PersonLink(
            person_id=person_id,
            organisation_id=organisation_id,
            basis=basis,
            source=source,
            matched_fields=list(matched),
            actor=actor,
        ),
    )


async def _insert(session: AsyncSession, person: Person) -> None:
    repository.add(session, person)
    try:
        await session.flush()
    except IntegrityError as error:
        # Two registrations of one number racing: the partial unique index decides.
        if "uq_people_nhs_number" in str(error.orig):
            raise DuplicateNhsNumber(
                "a person with this NHS number is already registered"
            ) from None
        raise


async def _flush_update(session: AsyncSession, person: Person) -> None:
    await session.flush()
    # `updated_at` is set by the database on UPDATE; read it back while the session is open.
    await session.refresh(person, attribute_names=["updated_at"])


async def _get_for_update(
    session: AsyncSession, scope: AccessScope, person_id: uuid.UUID
) -> Person:
    person = await repository.get_for_update(session, scope, person_id)
    if person is None:
        raise PersonNotFound(f"no person {person_id}")
    return person


def _seal_access(
    person: Person, access_details: str | None, key_safe_code: str | None, sealer: Sealer | None
) -> None:
    details = _optional_text("accessDetails", access_details, MAX_TEXT_LENGTH)
    code = _optional_text("keySafeCode", key_safe_code, MAX_KEY_SAFE_LENGTH)
    if (details is not None or code is not None) and sealer is None:
        raise ValueError("sealing access details needs a Sealer")
    person.access_details_sealed = (
        sealer.seal(person.id, ACCESS_DETAILS_FIELD, details)
        if sealer is not None and details is not None
        else None
    )
    person.key_safe_sealed = (
        sealer.seal(person.id, KEY_SAFE_FIELD, code)
        if sealer is not None and code is not None
        else None
    )


def _apply_risks(person: Person, risks: RiskFlags) -> None:
    person.falls_risk = risks.falls
    person.safeguarding_history = risks.safeguarding
    person.dnar = risks.dnar
    person.escalation_preferences = risks.escalation_preferences
    person.lone_working_risk = risks.lone_working
    person.environmental_risks = risks.environmental
    person.lives_alone = risks.lives_alone


def _risk_values(person: Person) -> dict[str, object]:
    return {
        "falls": person.falls_risk,
        "safeguarding": person.safeguarding_history,
        "dnar": person.dnar,
        "escalationPreferences": person.escalation_preferences,
        "loneWorking": person.lone_working_risk,
        "environmental": person.environmental_risks,
        "livesAlone": person.lives_alone,
        "medicationSupport": person.medication_support,
    }


def _checked_risks(risks: RiskFlags) -> RiskFlags:
    return RiskFlags(
        falls=risks.falls,
        safeguarding=risks.safeguarding,
        dnar=risks.dnar,
        escalation_preferences=_optional_text(
            "riskFlags.escalationPreferences", risks.escalation_preferences, MAX_TEXT_LENGTH
        ),
        lone_working=risks.lone_working,
        environmental=_optional_text(
            "riskFlags.environmental", risks.environmental, MAX_TEXT_LENGTH
        ),
        lives_alone=risks.lives_alone,
    )


def _checked_contacts(contacts: Sequence[Contact]) -> list[Contact]:
    if len(contacts) > MAX_CONTACTS:
        raise InvalidInput("contacts", f"at most {MAX_CONTACTS} contacts", code="TOO_MANY")
    checked = []
    for index, contact in enumerate(contacts):
        where = f"contacts[{index}]"
        phone = _optional_text(f"{where}.phone", contact.phone, 40)
        email = _optional_text(f"{where}.email", contact.email, 254)
        if email is not None and "@" not in email:
            raise InvalidInput(f"{where}.email", "is not an email address", code="INVALID_EMAIL")
        checked.append(
            Contact(
                name=_required_text(f"{where}.name", contact.name, MAX_NAME_LENGTH),
                relationship=_optional_text(
                    f"{where}.relationship", contact.relationship, MAX_NAME_LENGTH
                ),
                phone=phone,
                email=email,
                next_of_kin=contact.next_of_kin,
                key_holder=contact.key_holder,
            )
        )
    return checked


def _checked_birth_date(value: date, clock: Clock) -> date:
    today = clock.now().astimezone(LONDON).date()
    if value > today:
        raise InvalidInput("dateOfBirth", "must not be in the future", code="DATE_IN_FUTURE")
    if value < EARLIEST_BIRTH_DATE:
        raise InvalidInput(
            "dateOfBirth", f"must be on or after {EARLIEST_BIRTH_DATE}", code="DATE_TOO_EARLY"
        )
    return value


def _checked_location(
    latitude: float | None, longitude: float | None
) -> tuple[float | None, float | None]:
    if (latitude is None) != (longitude is None):
        raise InvalidInput(
            "address.latitude", "give both latitude and longitude, or neither", code="INCOMPLETE"
        )
    if latitude is not None and not -90 <= latitude <= 90:
        raise InvalidInput("address.latitude", "must be between -90 and 90", code="OUT_OF_RANGE")
    if longitude is not None and not -180 <= longitude <= 180:
        raise InvalidInput("address.longitude", "must be between -180 and 180", code="OUT_OF_RANGE")
    return latitude, longitude


def _required_text(field_name: str, value: str, max_length: int) -> str:
    text = value.strip()
    if not text:
        raise InvalidInput(field_name, "must not be blank", code="REQUIRED")
    if len(text) > max_length:
        raise InvalidInput(field_name, f"must be at most {max_length} characters", code="TOO_LONG")
    return text


def _optional_text(field_name: str, value: str | None, max_length: int) -> str | None:
    if value is None or not value.strip():
        return None
    return _required_text(field_name, value, max_length)
