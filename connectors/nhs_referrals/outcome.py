"""Issues found in a referral payload, and the FHIR OperationOutcome that reports them.

Partner systems are machines, so every problem is reported the FHIR way: one
`OperationOutcome.issue` per problem, with a severity, an R4 `IssueType` code and the FHIRPath
expression of the element at fault (``Bundle.entry[2].resource.identifier[0].value``), so the
sender's developers can find it without guessing. The `detail_code` is Care Hub's own stable code
for the problem (in `issue.details.coding`), for senders that want to act on it automatically.

    ReferralRejected        raised by `parse_referral`; carries every Issue (errors and warnings)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from connectors.nhs_referrals.codes import CARE_HUB_ISSUE_SYSTEM
from connectors.records.referral import DataQualityFlag, InboundReferral


class IssueSeverity(StrEnum):
    FATAL = "fatal"
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"


class IssueType(StrEnum):
    """The R4 `issue-type` codes this connector uses."""

    INVALID = "invalid"
    STRUCTURE = "structure"
    REQUIRED = "required"
    VALUE = "value"
    INVARIANT = "invariant"
    NOT_SUPPORTED = "not-supported"
    DUPLICATE = "duplicate"
    BUSINESS_RULE = "business-rule"
    INFORMATIONAL = "informational"


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in a payload. `expression` is None only when the payload has no FHIR root to
    point into (it is not a JSON object, or has no resourceType)."""

    severity: IssueSeverity
    code: IssueType
    expression: str | None
    diagnostics: str
    detail_code: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity in (IssueSeverity.FATAL, IssueSeverity.ERROR)


class ReferralRejected(Exception):
    """The payload cannot be accepted as a referral; `issues` lists every problem found
    (warnings included, so the sender sees them all in one round trip)."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues = tuple(issues)
        errors = [issue for issue in self.issues if issue.is_error]
        first = errors[0] if errors else None
        summary = f"{first.expression}: {first.diagnostics}" if first else "rejected"
        super().__init__(f"referral rejected with {len(errors)} error(s); first: {summary}")


def operation_outcome(errors: Iterable[Issue]) -> dict[str, Any]:
    """An R4 OperationOutcome (as a JSON-ready dict) with one issue per Issue, in order.

    An OperationOutcome must hold at least one issue, so an empty input gives a single
    ``information``/``informational`` issue saying all is well — the answer to an accepted
    referral that raised no warnings.
    """
    issues = [_issue_json(issue) for issue in errors]
    if not issues:
        issues = [
            {
                "severity": IssueSeverity.INFORMATION.value,
                "code": IssueType.INFORMATIONAL.value,
                "diagnostics": "accepted",
            }
        ]
    return {"resourceType": "OperationOutcome", "issue": issues}


def issues_for_flags(flags: Iterable[DataQualityFlag]) -> list[Issue]:
    """The data-quality flags of an accepted referral as warning issues, for the reply to the
    sender: the referral is accepted, and the sender is told what to correct next time."""
    return [
        Issue(
            severity=IssueSeverity.WARNING,
            code=_FLAG_ISSUE_TYPES.get(flag.code, IssueType.VALUE),
            expression=flag.location,
            diagnostics=flag.detail,
            detail_code=flag.code,
        )
        for flag in flags
    ]


def duplicate_issue(referral: InboundReferral, *, existing_reference: str | None = None) -> Issue:
    """The issue to answer with when the hub already holds a referral with the same source
    identifier (the hub decides that; this builds the answer, pointing at the identifier)."""
    identifier = referral.source_identifier
    held = f" (held as {existing_reference})" if existing_reference else ""
    return Issue(
        severity=IssueSeverity.ERROR,
        code=IssueType.DUPLICATE,
        expression=identifier.location or None,
        diagnostics=(
            f"a referral with identifier {identifier.system}|{identifier.value} has already "
            f"been received{held}; send an update message to change it"
        ),
        detail_code="duplicate-referral",
    )


# How a flag raised while mapping is reported when it goes back to the sender as a warning.
_FLAG_ISSUE_TYPES: dict[str, IssueType] = {
    "nhs-number-check-failed": IssueType.VALUE,
    "nhs-number-missing": IssueType.REQUIRED,
    "source-of-referral-missing": IssueType.REQUIRED,
    "source-of-referral-unmapped": IssueType.VALUE,
    "referrer-ods-missing": IssueType.REQUIRED,
    "patient-name-missing": IssueType.REQUIRED,
    "patient-birth-date-missing": IssueType.REQUIRED,
    "patient-birth-date-partial": IssueType.VALUE,
    "authored-on-missing": IssueType.REQUIRED,
}


def _issue_json(issue: Issue) -> dict[str, Any]:
    body: dict[str, Any] = {
        "severity": issue.severity.value,
        "code": issue.code.value,
        "diagnostics": issue.diagnostics,
    }
    if issue.detail_code is not None:
        body["details"] = {
            "coding": [{"system": CARE_HUB_ISSUE_SYSTEM, "code": issue.detail_code}],
        }
    if issue.expression is not None:
        body["expression"] = [issue.expression]
    return body
