"""Every answer the FHIR endpoint gives about a problem is an R4 OperationOutcome.

The referral connector describes payload problems with its own `Issue` (severity, R4 issue type,
FHIRPath expression, Care Hub problem code). The endpoint has problems of its own too — no
token, a missing scope, an unsupported media type, a referral not found — whose R4 issue types
(``login``, ``forbidden``, ``not-found``…) the connector has no reason to know. `OutcomeIssue`
holds either kind as plain text, so one renderer builds every OperationOutcome the hub sends.

    FhirProblem(Exception)   raised by the endpoint's guards and handlers; carries the HTTP
                             status, the issues and any headers (WWW-Authenticate, Allow)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.nhs_referrals import Issue
from connectors.nhs_referrals.codes import CARE_HUB_ISSUE_SYSTEM


@dataclass(frozen=True, slots=True)
class OutcomeIssue:
    """One ``OperationOutcome.issue``. `code` is an R4 issue-type code; `detail_code` is Care
    Hub's stable problem code (in ``details.coding``) for senders that act on it by machine."""

    severity: str
    code: str
    diagnostics: str
    expression: str | None = None
    detail_code: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity in ("fatal", "error")

    @classmethod
    def of(cls, issue: Issue) -> OutcomeIssue:
        """A connector issue, unchanged in meaning."""
        return cls(
            severity=issue.severity.value,
            code=issue.code.value,
            diagnostics=issue.diagnostics,
            expression=issue.expression,
            detail_code=issue.detail_code,
        )

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.detail_code is not None:
            body["details"] = {
                "coding": [{"system": CARE_HUB_ISSUE_SYSTEM, "code": self.detail_code}]
            }
        if self.expression is not None:
            body["expression"] = [self.expression]
        return body


def error(
    code: str, diagnostics: str, *, expression: str | None = None, detail_code: str | None = None
) -> OutcomeIssue:
    return OutcomeIssue("error", code, diagnostics, expression, detail_code)


def information(
    code: str, diagnostics: str, *, expression: str | None = None, detail_code: str | None = None
) -> OutcomeIssue:
    return OutcomeIssue("information", code, diagnostics, expression, detail_code)


def operation_outcome(issues: Iterable[OutcomeIssue]) -> dict[str, Any]:
    """An R4 OperationOutcome with one issue per item, in order (at least one: FHIR requires
    it, so an empty list becomes a single "all is well" information issue)."""
    rendered = [issue.as_json() for issue in issues]
    if not rendered:
        rendered = [information("informational", "all is well").as_json()]
    return {"resourceType": "OperationOutcome", "issue": rendered}


class FhirProblem(Exception):
    """A request the endpoint refuses: answered with `status` and an OperationOutcome."""

    def __init__(
        self,
        status: int,
        issues: Iterable[OutcomeIssue],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.issues = tuple(issues)
        self.headers = dict(headers or {})
        first = self.issues[0].diagnostics if self.issues else "refused"
        super().__init__(f"{status}: {first}")
