"""Row-level tenancy: which rows a caller may see, as SQL predicates repositories compose.

One module holds every rule so they can be read, reviewed and tested together:

| caller | sees |
|---|---|
| admin | everything |
| office (coordinator, registered manager) | their organisation's contracts, packages, visits,
  staff, referrals to it, and the people those concern; their carers' devices and received
  mobile commands; their connector instances and the payloads received for them |
| carer | their own staff record, the visits assigned to them, those visits' packages and
  people, their own devices |
| commissioner | their organisation's contracts and everything on them, including the
  portal exports imported for them |
| partner client | referrals their organisation made, and those referrals' people |
| supplier client | change requests their organisation raised |

A row outside the scope is simply not there: a foreign id answers exactly like a missing one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, false, or_, select, true

from hub.accounts.models import Role
from hub.auth.principal import Principal
from hub.change_requests.models import ChangeRequest
from hub.contracts.models import Contract
from hub.integrations.models import ConnectorInstance, InboundPayload
from hub.la_imports.models import PortalImportBatch
from hub.mobile.models import CommandLogEntry, Device
from hub.packages.models import CarePackage
from hub.people.models import Person, PersonLink, PersonLinkHold
from hub.referrals.models import Referral
from hub.staff.models import StaffMember
from hub.visits.models import Visit, VisitAssignment

OFFICE_ROLES = frozenset({Role.COORDINATOR, Role.REGISTERED_MANAGER})


@dataclass(frozen=True, slots=True)
class AccessScope:
    role: Role
    organisation_id: uuid.UUID | None
    staff_id: uuid.UUID | None

    @classmethod
    def of(cls, principal: Principal) -> AccessScope:
        return cls(principal.role, principal.organisation_id, principal.staff_id)

    @classmethod
    def system(cls) -> AccessScope:
        """Jobs, rules and imports act for the hub itself."""
        return cls(Role.ADMIN, None, None)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_office(self) -> bool:
        return self.role in OFFICE_ROLES

    @property
    def is_carer(self) -> bool:
        return self.role is Role.CARER

    @property
    def is_commissioner(self) -> bool:
        return self.role is Role.COMMISSIONER


def _my_visit_ids(scope: AccessScope) -> Select[uuid.UUID]:
    return select(VisitAssignment.visit_id).where(VisitAssignment.staff_id == scope.staff_id)


def _my_package_ids(scope: AccessScope) -> Select[uuid.UUID]:
    return select(Visit.package_id).where(Visit.id.in_(_my_visit_ids(scope)))


def _commissioned_contract_ids(scope: AccessScope) -> Select[uuid.UUID]:
    return select(Contract.id).where(Contract.commissioner_id == scope.organisation_id)


def _provided_package_ids(scope: AccessScope) -> Select[uuid.UUID]:
    return select(CarePackage.id).where(CarePackage.provider_id == scope.organisation_id)


def _commissioned_package_ids(scope: AccessScope) -> Select[uuid.UUID]:
    return select(CarePackage.id).where(
        CarePackage.contract_id.in_(_commissioned_contract_ids(scope))
    )


def contract_visible(scope: AccessScope) -> ColumnElement[bool]:
    if scope.is_admin:
        return true()
    if scope.is_commissioner:
        return Contract.commissioner_id == scope.organisation_id
    if scope.is_office:
        return Contract.provider_id == scope.organisation_id
    return false()


def package_visible(scope: AccessScope) -> ColumnElement[bool]:
    if scope.is_admin:
        return true()
    if scope.is_office:
        return CarePackage.provider_id == scope.organisation_id
    if scope.is_commissioner:
        return CarePackage.contract_id.in_(_commissioned_contract_ids(scope))
    if scope.is_carer:
        return CarePackage.id.in_(_my_package_ids(scope))
    return false()


def visit_visible(scope: AccessScope) -> ColumnElement[bool]:
    if scope.is_admin:
        return true()
    if scope.is_office:
        return Visit.package_id.in_(_provided_package_ids(scope))
    if scope.is_commissioner:
        return Visit.package_id.in_(_commissioned_package_ids(scope))
    if scope.is_carer:
        return Visit.id.in_(_my_visit_ids(scope))
    return false()


def _linked_person_ids(scope: AccessScope) -> Select[uuid.UUID]:
    return select(PersonLink.person_id).where(PersonLink.organisation_id == scope.organisation_id)


def person_visible(scope: AccessScope) -> ColumnElement[bool]:
    """Who a person belongs to: the organisation that registered them, the organisations their
    packages and referrals name, and those linked by a recorded demographic match
    (`PersonLink`). Nothing else: knowing a person's id or NHS number grants no sight of them,
    and the write paths that create a package or referral for an existing person go through
    `hub.people.service`'s match first."""
    if scope.is_admin:
        return true()
    if scope.is_office:
        return or_(
            Person.registered_by_id == scope.organisation_id,
            Person.id.in_(_linked_person_ids(scope)),
            Person.id.in_(
                select(CarePackage.person_id).where(
                    CarePackage.provider_id == scope.organisation_id
                )
            ),
            Person.id.in_(
                select(Referral.person_id).where(Referral.provider_id == scope.organisation_id)
            ),
        )
    if scope.is_commissioner:
        return or_(
            Person.id.in_(_linked_person_ids(scope)),
            Person.id.in_(
                select(CarePackage.person_id).where(
                    CarePackage.contract_id.in_(_commissioned_contract_ids(scope))
                )
            ),
        )
    if scope.is_carer:
        return Person.id.in_(
            select(CarePackage.person_id).where(CarePackage.id.in_(_my_package_ids(scope)))
        )
    if scope.role is Role.PARTNER_CLIENT:
        return or_(
            Person.id.in_(_linked_person_ids(scope)),
            Person.id.in_(select(Referral.person_id).where(_partners_referral(scope))),
        )
    return false()


def person_link_hold_visible(scope: AccessScope) -> ColumnElement[bool]:
    """Writes held because their demographics did not match the record holding their NHS
    number: the receiving office and the sender see the version that was sent; whoever may see
    the existing record sees the hold too (and, through `person_visible`, that record); admins
    see all. Nobody learns of the existing record through a hold they could see only as sender
    or receiver: it is reached through the person's own predicate."""
    if scope.is_admin:
        return true()
    if scope.organisation_id is None:
        return false()
    return or_(
        PersonLinkHold.receiving_organisation_id == scope.organisation_id,
        PersonLinkHold.sender_organisation_id == scope.organisation_id,
        PersonLinkHold.existing_person_id.in_(select(Person.id).where(person_visible(scope))),
    )


def staff_visible(scope: AccessScope) -> ColumnElement[bool]:
    if scope.is_admin:
        return true()
    if scope.is_office:
        return StaffMember.organisation_id == scope.organisation_id
    if scope.is_carer:
        return StaffMember.id == scope.staff_id
    return false()


def referral_visible(scope: AccessScope) -> ColumnElement[bool]:
    if scope.is_admin:
        return true()
    if scope.is_office:
        return Referral.provider_id == scope.organisation_id
    if scope.is_commissioner:
        return Referral.contract_id.in_(_commissioned_contract_ids(scope))
    if scope.role is Role.PARTNER_CLIENT:
        return _partners_referral(scope)
    return false()


def _partners_referral(scope: AccessScope) -> ColumnElement[bool]:
    """A partner's referrals: those its system delivered (it must be able to follow what it
    sent), and those received before deliverers were recorded that name it as referrer.
    Being named as the requester of a referral another system delivered shows nothing: any
    sender may name any practice, and naming must not make a person visible to it."""
    return or_(
        Referral.delivered_by_organisation_id == scope.organisation_id,
        and_(
            Referral.delivered_by_organisation_id.is_(None),
            Referral.referrer_organisation_id == scope.organisation_id,
        ),
    )


def change_request_visible(scope: AccessScope) -> ColumnElement[bool]:
    if scope.is_admin:
        return true()
    raised_here = ChangeRequest.raised_by_organisation_id == scope.organisation_id
    if scope.is_commissioner:
        return or_(raised_here, ChangeRequest.contract_id.in_(_commissioned_contract_ids(scope)))
    if scope.is_office:
        return or_(
            raised_here,
            ChangeRequest.contract_id.in_(
                select(Contract.id).where(Contract.provider_id == scope.organisation_id)
            ),
        )
    if scope.role in (Role.SUPPLIER_CLIENT, Role.PARTNER_CLIENT):
        return raised_here
    return false()


def device_visible(scope: AccessScope) -> ColumnElement[bool]:
    """Carers' devices: the office of the carer's employer, the carer their own, admins."""
    if scope.is_admin:
        return true()
    if scope.is_office:
        return Device.organisation_id == scope.organisation_id
    if scope.is_carer:
        return Device.staff_id == scope.staff_id
    return false()


def command_visible(scope: AccessScope) -> ColumnElement[bool]:
    """Received mobile commands (quarantine review): the office of the carer's employer and
    admins. Carers see their answers in the upload response, not here."""
    if scope.is_admin:
        return true()
    if scope.is_office:
        return CommandLogEntry.organisation_id == scope.organisation_id
    return false()


def connector_instance_visible(scope: AccessScope) -> ColumnElement[bool]:
    """Connector instances: the office of the organisation they serve, and admins."""
    if scope.is_admin:
        return true()
    if scope.is_office:
        return ConnectorInstance.organisation_id == scope.organisation_id
    return false()


def inbound_payload_visible(scope: AccessScope) -> ColumnElement[bool]:
    """Archived inbound payloads: the office of the organisation they were received for, and
    admins (who alone see payloads no organisation could be told from, e.g. unsigned junk)."""
    if scope.is_admin:
        return true()
    if scope.is_office:
        return InboundPayload.organisation_id == scope.organisation_id
    return false()


def portal_import_visible(scope: AccessScope) -> ColumnElement[bool]:
    """Local-authority portal imports (and so their rows): the commissioner whose contract it
    was imported for, the office of that contract's provider, and admins."""
    if scope.is_admin:
        return true()
    if scope.is_commissioner:
        return PortalImportBatch.commissioner_id == scope.organisation_id
    if scope.is_office:
        return PortalImportBatch.contract_id.in_(
            select(Contract.id).where(Contract.provider_id == scope.organisation_id)
        )
    return false()
