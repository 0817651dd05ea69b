"""Structural validation of an R4 payload with the fhir.resources R4B models.

Why R4B and not the package's default models: the defaults are R5, and R5 renamed elements
that referral senders still send the R4 way (``ServiceRequest.reasonCode`` became ``reason``),
so R4 content would be mis-read. R4B is wire-compatible with R4 for every resource used here.

The models forbid unknown elements, which is exactly how an R5-only element sent to this R4
endpoint is caught. Pydantic reports each problem with a location tuple
(``('entry', 2, 'resource', 'birthDate')``); this module turns it into the FHIRPath expression
partners expect (``Bundle.entry[2].resource.birthDate``).

fhir.resources raises a bare KeyError, not a validation error, when a contained or bundled
resource has an unknown ``resourceType``. Those are found first, reported with their exact
location, and swapped for a placeholder so the rest of the payload is still validated and every
problem is reported in one answer.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, MutableMapping
from functools import lru_cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from connectors.nhs_referrals.outcome import Issue, IssueSeverity, IssueType

# Abstract base types: a resourceType naming them is not a concrete resource.
_ABSTRACT_TYPES = frozenset({"Resource", "DomainResource"})
# A minimal valid R4 resource that stands in for one that could not be read at all.
_PLACEHOLDER: dict[str, Any] = {"resourceType": "Basic", "code": {"text": "unreadable"}}
# fhir.resources names the rule a value broke; partners need the format to send instead.
_FORMAT_HINTS = {
    "Date value string does not match spec regex.": (
        "not a FHIR date: use YYYY-MM-DD (or YYYY-MM / YYYY when only part is known)"
    ),
    "DateTime value string does not match spec regex.": (
        "not a FHIR dateTime: use YYYY-MM-DD, or YYYY-MM-DDThh:mm:ss with a timezone (Z or +00:00)"
    ),
    "Instant value string does not match spec regex.": (
        "not a FHIR instant: use YYYY-MM-DDThh:mm:ss with a timezone (Z or +00:00)"
    ),
    "Time value string does not match spec regex.": "not a FHIR time: use hh:mm:ss",
    "Decimal value string does not match spec regex.": "not a FHIR decimal",
}
# Longest input value repeated back in a diagnostic; long free text helps nobody.
_SHOWN_VALUE_LIMIT = 60


def resource_class(resource_type: str) -> type[Resource] | None:
    """The R4B model class for a concrete resource type name, or None if R4 has no such
    resource (an R5-only resource such as ``Transport`` also gives None)."""
    return _resource_class(resource_type)


def validate_resource(payload: Mapping[str, Any]) -> tuple[Resource | None, list[Issue]]:
    """Validate a whole payload (a resource, possibly a Bundle) against the R4B models.

    Returns the parsed model and no issues, or None and one error issue per problem found.
    The payload's root ``resourceType`` must already be known to be a concrete R4 resource.
    """
    root = str(payload["resourceType"])
    model = _resource_class(root)
    if model is None:
        raise ValueError(f"validate_resource needs a known R4 resource type, not {root!r}")
    working = copy.deepcopy(dict(payload))
    issues = _replace_unreadable_resources(working, root)
    try:
        parsed = model.model_validate(working)
    except ValidationError as error:
        issues.extend(_issue_for(detail, root) for detail in error.errors(include_url=False))
        return None, issues
    if issues:
        return None, issues
    return parsed, []


@lru_cache(maxsize=256)
def _resource_class(resource_type: str) -> type[Resource] | None:
    if resource_type in _ABSTRACT_TYPES:
        return None
    try:
        model = get_fhir_model_class(resource_type)
    except ValueError:
        return None
    if not issubclass(model, Resource):
        return None
    return model


def _replace_unreadable_resources(resource: MutableMapping[str, Any], path: str) -> list[Issue]:
    """Find contained and bundled resources the models cannot even dispatch on; report and
    replace each one in place, recursing into the readable ones."""
    issues: list[Issue] = []
    contained = resource.get("contained")
    if isinstance(contained, list):
        for index in range(len(contained)):
            issues.extend(_check_nested(contained, index, f"{path}.contained[{index}]"))
    entries = resource.get("entry") if resource.get("resourceType") == "Bundle" else None
    if isinstance(entries, list):
        for index, entry in enumerate(entries):
            if isinstance(entry, MutableMapping) and "resource" in entry:
                issues.extend(
                    _check_nested_in(entry, "resource", f"{path}.entry[{index}].resource")
                )
    return issues


def _check_nested(container: list[Any], index: int, path: str) -> list[Issue]:
    item = container[index]
    problem = _unreadable_reason(item)
    if problem is not None:
        container[index] = dict(_PLACEHOLDER)
        return [_problem_issue(path, problem)]
    return _replace_unreadable_resources(item, path)


def _check_nested_in(holder: MutableMapping[str, Any], key: str, path: str) -> list[Issue]:
    item = holder[key]
    problem = _unreadable_reason(item)
    if problem is not None:
        holder[key] = dict(_PLACEHOLDER)
        return [_problem_issue(path, problem)]
    return _replace_unreadable_resources(item, path)


def _problem_issue(path: str, problem: tuple[IssueType, str]) -> Issue:
    code, diagnostics = problem
    return Issue(IssueSeverity.ERROR, code, path, diagnostics, "unreadable-resource")


def _unreadable_reason(item: object) -> tuple[IssueType, str] | None:
    if not isinstance(item, MutableMapping):
        return IssueType.STRUCTURE, "expected a resource (a JSON object)"
    resource_type = item.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        return IssueType.STRUCTURE, "resource has no resourceType"
    if _resource_class(resource_type) is None:
        return (
            IssueType.INVALID,
            f"{resource_type!r} is not a FHIR R4 resource type (R5-only resources are not "
            "accepted; this endpoint speaks R4)",
        )
    return None


def _issue_for(detail: ErrorDetails, root: str) -> Issue:
    location = tuple(detail["loc"])
    expression = fhirpath(root, location)
    kind = detail["type"]
    if kind == "extra_forbidden":
        element = location[-1] if location else "?"
        return Issue(
            IssueSeverity.ERROR,
            IssueType.STRUCTURE,
            expression,
            f"unknown element {element!r}: not part of FHIR R4 (elements added or renamed in "
            "R5 are not accepted; this endpoint speaks R4)",
            "unknown-element",
        )
    if kind == "missing" or kind.endswith(".missing"):
        return Issue(
            IssueSeverity.ERROR,
            IssueType.REQUIRED,
            expression,
            "required element is missing",
            "required-element-missing",
        )
    message = detail["msg"].removeprefix("Value error, ")
    message = _FORMAT_HINTS.get(message, message)
    if not location:
        # Model-level rules (e.g. only one of occurrenceDateTime / occurrencePeriod).
        return Issue(IssueSeverity.ERROR, IssueType.INVARIANT, expression, message, "invariant")
    shown = detail.get("input")
    if isinstance(shown, str | int | float | bool):
        message = f"{message} (got {_shorten(repr(shown))})"
    return Issue(IssueSeverity.ERROR, IssueType.VALUE, expression, message, "invalid-value")


def fhirpath(root: str, location: tuple[int | str, ...]) -> str:
    """A pydantic location as a FHIRPath expression: ``('entry', 2, 'resource')`` under
    ``Bundle`` gives ``Bundle.entry[2].resource``."""
    expression = root
    for part in location:
        if isinstance(part, int):
            expression += f"[{part}]"
        elif part == "resource_type":
            expression += ".resourceType"
        elif part.startswith("__") or "[" in part or "(" in part:
            # Pydantic's internal markers (root validators, union tags) are not elements.
            continue
        else:
            expression += f".{part}"
    return expression


def _shorten(text: str) -> str:
    if len(text) <= _SHOWN_VALUE_LIMIT:
        return text
    return text[: _SHOWN_VALUE_LIMIT - 1] + "…"
