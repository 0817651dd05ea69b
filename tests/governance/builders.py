"""Builders for exception cases and rule failures, for tests outside governance that need one to
exist (e.g. the tenancy walk over every root list). Governance's own tests open cases through
the rules and fail them on real events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.governance.lifecycle import CaseSeverity, CaseStatus
from hub.governance.models import ExceptionCase, RuleFailure


async def create_exception_case(session: AsyncSession, **overrides: Any) -> ExceptionCase:
    opened = overrides.pop("opened_at", datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    values: dict[str, Any] = {
        "rule": "visit_late",
        "subject_type": "visit",
        "subject_id": uuid.uuid4(),
        "title": "No check-in for the visit planned for 23 Nov 2026 08:00",
        "severity": CaseSeverity.MEDIUM,
        "status": CaseStatus.OPEN,
        "owner_role": "coordinator",
        "opened_at": opened,
        "acknowledge_due_at": opened + timedelta(minutes=30),
        "due_at": opened + timedelta(hours=4),
    }
    values.update(overrides)
    case = ExceptionCase(**values)
    session.add(case)
    await session.flush()
    return case


async def create_rule_failure(session: AsyncSession, **overrides: Any) -> RuleFailure:
    failed = overrides.pop("first_failed_at", datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    values: dict[str, Any] = {
        "event_id": 1,
        "event_type": "visit.observation_recorded",
        "error_class": "AttributeError",
        "error_message": "'str' object has no attribute 'get'",
        "first_failed_at": failed,
        "last_failed_at": failed,
        "attempts": 1,
        "next_attempt_at": failed + timedelta(minutes=1),
    }
    values.update(overrides)
    failure = RuleFailure(**values)
    session.add(failure)
    await session.flush()
    return failure
