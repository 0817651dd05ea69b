"""Events the rules failed on: recorded, retried, surfaced — never dropped.

The runner judges each event in its own savepoint so one bad payload cannot stop governance for
everyone. An event whose rules raise is not passed over in silence: it gets a row in
`governance_rule_failures` (the error's class and a short message, when it first and last
failed, how many attempts) that commits with the runner's cursor. Later runs retry it before
reading new events, backing off between attempts (`RETRY_DELAYS`), and mark it resolved when the
rules succeed. After `MAX_ATTEMPTS` the runner stops trying; the row stays unresolved and visible
(`governanceRuleFailures`) and in the worker's log line and metrics, until someone fixes the
cause and sets `next_attempt_at` again.

Messages keep a database error's own message, never the SQL statement and its parameters
(which can carry what a carer wrote about a person), and are cut to `MESSAGE_LIMIT`; the
runner's log line uses the same message (with the traceback for errors that are not the
database's).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.governance import repository
from hub.governance.models import RuleFailure

MAX_ATTEMPTS = 5
# After attempt n fails, attempt n + 1 waits RETRY_DELAYS[n - 1]: about 2½ hours in all, long
# enough for a contract or visit still being written elsewhere to arrive.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
MESSAGE_LIMIT = 500


def describe(error: BaseException) -> tuple[str, str]:
    """The error's class and a one-line message of at most `MESSAGE_LIMIT` characters."""
    name = type(error).__name__
    cause: BaseException = error
    if isinstance(error, DBAPIError) and isinstance(error.orig, BaseException):
        cause = error.orig.__cause__ or error.orig  # the driver's error, not the statement
        name = f"{name}: {type(cause).__name__}"
    message = " ".join(str(cause).split()) or name
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - 1] + "…"
    return name, message


def next_attempt(attempts: int, now: datetime) -> datetime | None:
    """When to try again after `attempts` failed attempts; None once the limit is reached."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return now + RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]


async def record(
    session: AsyncSession,
    *,
    event_id: int,
    event_type: str,
    contract_id: uuid.UUID | None,
    error: BaseException,
    now: datetime,
    failure: RuleFailure | None = None,
) -> RuleFailure:
    """Record one more failed attempt at an event (the first creates its row). The provider is
    the one of the event's contract, if the hub knows the contract."""
    error_class, message = describe(error)
    parties = await repository.contract_parties(session, contract_id) if contract_id else None
    if failure is None:
        failure = await repository.rule_failure_for_event(session, event_id)
    if failure is None:
        failure = RuleFailure(event_id=event_id, first_failed_at=now, attempts=0)
        repository.add(session, failure)
    failure.event_type = event_type
    failure.contract_id = contract_id
    failure.provider_id = parties[1] if parties else None
    failure.error_class = error_class
    failure.error_message = message
    failure.last_failed_at = now
    failure.attempts += 1
    failure.next_attempt_at = next_attempt(failure.attempts, now)
    failure.resolved_at = None
    await session.flush()
    return failure


async def resolve(session: AsyncSession, failure: RuleFailure, now: datetime) -> None:
    """A retry judged the event: the failure is over (the row is kept as history)."""
    failure.resolved_at = now
    failure.next_attempt_at = None
    await session.flush()
