"""NHS referrals connector: FHIR R4 ServiceRequest / BaRS message intake and status replies.

Partner systems (GP, hospital discharge, social care, third-sector referrers) send a referral as
FHIR R4 JSON; `parse_referral` validates it with the fhir.resources R4B models and maps it to the
canonical `InboundReferral`, or raises `ReferralRejected` whose issues `operation_outcome` turns
into the OperationOutcome to answer with. `referral_status_as_fhir` renders the hub's view of a
referral's progress as an R4 Task for partners to read. README.md beside this file is the
contract partners build to; samples/ holds example payloads, valid and invalid.
"""

from connectors.nhs_referrals.intake import parse_referral
from connectors.nhs_referrals.outcome import (
    Issue,
    IssueSeverity,
    IssueType,
    ReferralRejected,
    duplicate_issue,
    issues_for_flags,
    operation_outcome,
)
from connectors.nhs_referrals.status import ReferralStatusView, TaskStatus, referral_status_as_fhir

__all__ = [
    "Issue",
    "IssueSeverity",
    "IssueType",
    "ReferralRejected",
    "ReferralStatusView",
    "TaskStatus",
    "duplicate_issue",
    "issues_for_flags",
    "operation_outcome",
    "parse_referral",
    "referral_status_as_fhir",
]
