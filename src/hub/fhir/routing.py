"""Which provider a FHIR referral is addressed to, and where in the payload the sender said so.

The hub receives referrals for many providers, so every referral must name its provider by ODS
code. FHIR has two places for that, read in this order:

1. ``ServiceRequest.performer`` — the requested performer: an Organization (or a PractitionerRole
   / HealthcareService of one) identified by its ODS code, either as a logical reference
   (``{"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", ...}}``) or as
   a reference to a contained resource or a Bundle entry carrying that identifier;
2. for a BaRS message, ``MessageHeader.destination.receiver`` — the organisation the message is
   addressed to, in the same two forms.

The referral connector reads who *sent* a referral, not who it is *for* (the hub's routing is
not part of the canonical referral record), so this module reads the payload itself. It runs
only after the connector has accepted the payload, so the structure is known to be valid R4;
it still checks every type it relies on rather than trusting that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.nhs_referrals.codes import ODS_ORGANISATION_SYSTEMS

# A resource that points at the organisation it belongs to, and the element that does.
_BELONGS_TO = {"PractitionerRole": "organization", "HealthcareService": "providedBy"}
_MAX_HOPS = 2


@dataclass(frozen=True, slots=True)
class AddressedTo:
    """The ODS code of the provider a referral is for, and the FHIRPath of where it was read."""

    ods_code: str
    expression: str


@dataclass(frozen=True, slots=True)
class _Resource:
    body: Mapping[str, Any]
    path: str


class _Payload:
    """A decoded payload with its resources indexed the ways references find them."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.entries: list[tuple[str | None, _Resource]] = []
        if root.get("resourceType") == "Bundle":
            for index, entry in enumerate(_list(root.get("entry"))):
                resource = entry.get("resource") if isinstance(entry, Mapping) else None
                if isinstance(resource, Mapping):
                    full_url = entry.get("fullUrl")
                    self.entries.append(
                        (
                            full_url if isinstance(full_url, str) else None,
                            _Resource(resource, f"Bundle.entry[{index}].resource"),
                        )
                    )

    def service_request(self) -> _Resource | None:
        if self.root.get("resourceType") == "ServiceRequest":
            return _Resource(self.root, "ServiceRequest")
        if self.root.get("type") == "message":
            header = self.message_header()
            focus = _list(header.body.get("focus")) if header is not None else []
            if focus and isinstance(focus[0], Mapping) and header is not None:
                found = self.resolve(focus[0], header)
                if found is not None and found.body.get("resourceType") == "ServiceRequest":
                    return found
            return None
        requests = [item for _, item in self.entries if _type(item) == "ServiceRequest"]
        return requests[0] if len(requests) == 1 else None

    def message_header(self) -> _Resource | None:
        if self.root.get("type") != "message" or not self.entries:
            return None
        first = self.entries[0][1]
        return first if _type(first) == "MessageHeader" else None

    def resolve(self, reference: Mapping[str, Any], holder: _Resource) -> _Resource | None:
        """The resource a Reference points at: ``#id`` in the holder's contained resources (or
        the root's), a Bundle entry's ``fullUrl``, or ``Type/id`` of a Bundle entry."""
        target = reference.get("reference")
        if not isinstance(target, str) or not target:
            return None
        if target.startswith("#"):
            for container in (holder, _Resource(self.root, _type_name(self.root))):
                for index, item in enumerate(_list(container.body.get("contained"))):
                    if isinstance(item, Mapping) and item.get("id") == target[1:]:
                        return _Resource(item, f"{container.path}.contained[{index}]")
            return None
        for full_url, item in self.entries:
            if full_url == target:
                return item
        kind, _, identity = target.rstrip("/").rpartition("/")
        kind = kind.rpartition("/")[2]
        for _, item in self.entries:
            if _type(item) == kind and item.body.get("id") == identity:
                return item
        return None


def addressed_provider(payload: Mapping[str, Any]) -> AddressedTo | None:
    """The provider a referral is for (see the module docstring), or None if it names none."""
    document = _Payload(payload)
    request = document.service_request()
    if request is not None:
        for index, performer in enumerate(_list(request.body.get("performer"))):
            found = _organisation_ods(
                document, performer, request, f"{request.path}.performer[{index}]"
            )
            if found is not None:
                return found
    header = document.message_header()
    if header is not None:
        for index, destination in enumerate(_list(header.body.get("destination"))):
            if not isinstance(destination, Mapping):
                continue
            found = _organisation_ods(
                document,
                destination.get("receiver"),
                header,
                f"{header.path}.destination[{index}].receiver",
            )
            if found is not None:
                return found
    return None


def find_service_request(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The referral's ServiceRequest in an accepted payload: the root, a message's focus, or
    the one ServiceRequest entry of a collection / transaction Bundle."""
    found = _Payload(payload).service_request()
    return found.body if found is not None else None


def where_to_name_the_provider(payload: Mapping[str, Any]) -> str:
    """The element a sender should fill in when no provider is named: the ServiceRequest's
    ``performer`` at its exact path (``ServiceRequest.performer`` for a lone resource)."""
    request = _Payload(payload).service_request()
    return f"{request.path}.performer" if request is not None else "ServiceRequest.performer"


def why_no_provider(payload: Mapping[str, Any]) -> str:
    """What the payload says instead of a provider's ODS code, element by element, so a sender
    whose referral was refused for naming no provider can see what to change."""
    document = _Payload(payload)
    found: list[str] = []
    request = document.service_request()
    if request is not None:
        for index, performer in enumerate(_list(request.body.get("performer"))):
            found.append(
                _describe(document, performer, request, f"{request.path}.performer[{index}]")
            )
    header = document.message_header()
    if header is not None:
        for index, destination in enumerate(_list(header.body.get("destination"))):
            receiver = destination.get("receiver") if isinstance(destination, Mapping) else None
            found.append(
                _describe(
                    document, receiver, header, f"{header.path}.destination[{index}].receiver"
                )
            )
    if not found:
        where = "ServiceRequest.performer" + (
            " nor MessageHeader.destination.receiver" if header is not None else ""
        )
        return f"the payload has no {where}"
    return "; ".join(found)


def _describe(
    document: _Payload, reference: object, holder: _Resource, path: str, hops: int = 0
) -> str:
    if not isinstance(reference, Mapping) or hops > _MAX_HOPS:
        return f"{path} is empty"
    identifier = reference.get("identifier")
    if isinstance(identifier, Mapping):
        return f"{path}.identifier has system {identifier.get('system')!r}, not an ODS system"
    target = document.resolve(reference, holder)
    if target is None:
        shown = reference.get("reference")
        return (
            f"{path}.reference {shown!r} is not a resource in the payload"
            if shown
            else f"{path} has neither an identifier nor a reference"
        )
    kind = _type(target) or "resource"
    element = _BELONGS_TO.get(kind)
    if element is not None and isinstance(target.body.get(element), Mapping):
        return _describe(
            document, target.body.get(element), target, f"{target.path}.{element}", hops + 1
        )
    systems = sorted(
        {
            str(item.get("system"))
            for item in _list(target.body.get("identifier"))
            if isinstance(item, Mapping)
        }
    )
    if kind in ("Organization", *_BELONGS_TO):
        shown = f" (identifier systems: {', '.join(systems)})" if systems else " (no identifier)"
        return f"{path} leads to the {kind} at {target.path}, which has no ODS code{shown}"
    return (
        f"{path} is a {kind}, not an Organization (or a PractitionerRole / HealthcareService "
        "of one)"
    )


def _organisation_ods(
    document: _Payload, reference: object, holder: _Resource, path: str, hops: int = 0
) -> AddressedTo | None:
    # One hop (PractitionerRole or HealthcareService to its Organization) is all FHIR needs;
    # the cap stops a payload whose references go round in a circle.
    if not isinstance(reference, Mapping) or hops > _MAX_HOPS:
        return None
    code = _ods_identifier(reference.get("identifier"))
    if code is not None:
        return AddressedTo(code, f"{path}.identifier.value")
    target = document.resolve(reference, holder)
    if target is None:
        return None
    if _type(target) == "Organization":
        for index, identifier in enumerate(_list(target.body.get("identifier"))):
            code = _ods_identifier(identifier)
            if code is not None:
                return AddressedTo(code, f"{target.path}.identifier[{index}].value")
        return None
    element = _BELONGS_TO.get(_type(target) or "")
    if element is None:
        return None
    return _organisation_ods(
        document, target.body.get(element), target, f"{target.path}.{element}", hops + 1
    )


def _ods_identifier(identifier: object) -> str | None:
    if not isinstance(identifier, Mapping) or identifier.get("system") not in (
        ODS_ORGANISATION_SYSTEMS
    ):
        return None
    value = identifier.get("value")
    return value.strip() if isinstance(value, str) and value.strip() else None


def _list(value: object) -> Sequence[Any]:
    return value if isinstance(value, list) else []


def _type(resource: _Resource) -> str | None:
    kind = resource.body.get("resourceType")
    return kind if isinstance(kind, str) else None


def _type_name(body: Mapping[str, Any]) -> str:
    kind = body.get("resourceType")
    return kind if isinstance(kind, str) else "Resource"
