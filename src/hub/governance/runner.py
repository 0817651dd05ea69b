"""The governance jobs: the due-visit scan, the event rules and the escalation timer.

Each runs in its own unit of work and can run twice (or on two workers) safely:

- `run_due_visit_scan` — late and missed visits. Judges by what has not been judged, not by a
  time window: every unattended visit past its late (then missed) threshold and not yet judged
  so for its current planned times (`visits.late_judged_at`, `visits.missed_judged_at`, read
  through the partial index `ix_visits_awaiting_judgement`) is judged once — `visit.late` /
  `visit.missed` recorded (`hub.visits.judgement`) and its case opened, in one transaction. So
  visits already past when the worker first starts, visits created or imported after their time,
  visits moved into the past and visits due while the worker was down are all judged; a visit a
  check-in holds is skipped and judged on the next run. Two workers may scan at once: each locks
  the rows it judges (SKIP LOCKED), the judgement is a conditional UPDATE, and cases are unique
  on (rule, subject).
- `run_event_rules` — walks the event log past its stored position in (transaction id, event
  id) order through `settled_events_since`, which never passes an event of a transaction that
  commits late — not even one that took its transaction id before a younger transaction
  inserted a lower event id (an id cursor skips that one for good). It applies
  `hub.governance.detect` to each event in a savepoint: an event whose rules raise is recorded
  in `governance_rule_failures` and retried on later runs (`hub.governance.failures`), so one
  bad payload blocks nobody and is never dropped in silence. Cases, failures and the cursor
  commit together, so a crash replays the batch and the unique (rule, subject) key absorbs the
  replay. Each transaction is short (at most `HOLD_SECONDS`, see below).
- `run_escalations` — climbs the ladder for every case whose next rung is due.

Locks: rule runs never hold a visit's row for long. A case the rules open references its visit
(`exception_cases.visit_id`), so PostgreSQL's foreign-key check takes FOR KEY SHARE on the visit's
row until the rule transaction ends; when a transaction judged 500 events, that was seconds, and
every carer's check-in or observation on one of those visits — which locks the visit — waited,
hit the upload's lock timeout and answered DEFERRED (throughput fell from 246 to 33 commands/s).
Of the three remedies — short transactions, SKIP LOCKED, one lock order — only short transactions
fit: the event rules must judge every event in log order, so they cannot skip a locked visit and
come back later, and a lock order does not shorten a wait, only prevents deadlocks. So:

- each event-rules transaction commits after `EVENT_BATCH` events or `HOLD_SECONDS`
  (0.25 s), whichever is first (and judges at least one event): whoever locks a visit — a
  carer's fact, an office cancellation or assignment, a supplier's reschedule — waits at most
  that plus one event's work, never for a whole pass;
- the due-visit scan judges at most `SCAN_CHUNK` visits or `HOLD_SECONDS` per transaction, and
  takes the rows it judges FOR NO KEY UPDATE SKIP LOCKED: a visit a carer is writing is left
  for the next run;
- the facts path locks the visit FOR NO KEY UPDATE (`hub.visits.repository.fact_context`): it
  never changes a visit's key, and that lock does not conflict with the foreign-key checks of
  cases being opened, so an upload does not queue behind a rule transaction at all.

Tests and benchmarks call these directly with a session factory and a clock; the arq worker
calls the `*_job` wrappers on a cron (`HUB_GOVERNANCE_SCAN_SECONDS`).
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from arq import cron
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.events.feed import FeedPosition, settled_events_since
from hub.events.models import Event
from hub.governance import detect, failures, repository, rules, service
from hub.governance.detect import Applied
from hub.governance.lifecycle import ACTIVE_STATUSES
from hub.governance.rules import CaseRule, VisitSnapshot
from hub.kit.time import Clock
from hub.logging import get_logger
from hub.metrics import HubMetrics
from hub.visits import judgement as judgements
from hub.visits.judgement import JudgedVisit, Judgement

log = get_logger(__name__)

EVENT_CURSOR = "governance.apply_event_rules"
SCAN_BATCH = 1000
# Visits judged per transaction: the scan locks the rows it judges, and a carer's check-in on one
# of them waits for that transaction, so it stays a few dozen visits' work long.
SCAN_CHUNK = 25
EVENT_BATCH = 500
MAX_EVENTS_PER_RUN = 10_000
# How long one transaction of the event rules or the scan may run before it commits: the cases
# it opens reference the visit, so until it commits it holds the visit's row (see the module doc).
HOLD_SECONDS = 0.25
RETRY_BATCH = 100
PLAN_EVENTS = ("visit.generated", "visit.assigned")


@dataclass(frozen=True, slots=True)
class ScanResult:
    late_opened: int
    missed_opened: int


@dataclass(frozen=True, slots=True)
class RuleRun:
    """What one run of the event rules did. `failed`: new events the rules raised on (recorded);
    `retried`: earlier failures tried again, of which `recovered` were judged and `gave_up`
    reached the attempt limit; `unresolved`: failures still open after the run (including
    those given up). `position` is the cursor, `FeedPosition.encode()`."""

    events: int
    opened: int
    reconciled: int
    position: str
    failed: int = 0
    retried: int = 0
    recovered: int = 0
    gave_up: int = 0
    unresolved: int = 0
    skipped: bool = False


@dataclass
class _Tally:
    applied: Applied = field(default_factory=Applied)
    events: int = 0
    failed: int = 0
    retried: int = 0
    recovered: int = 0
    gave_up: int = 0


async def run_due_visit_scan(
    sessions: SessionFactory,
    clock: Clock,
    *,
    limit: int = SCAN_BATCH,
    chunk: int = SCAN_CHUNK,
    hold: float = HOLD_SECONDS,
) -> ScanResult:
    """Judge every visit past a threshold it has not been judged for (see module doc), up to
    `limit` visits; each transaction judges at most `chunk` visits or runs `hold` seconds. A
    full run leaves the rest to the next."""
    now = clock.now()
    opened = {CaseRule.VISIT_LATE: 0, CaseRule.VISIT_MISSED: 0}
    seen = 0
    while seen < limit:
        async with unit_of_work(sessions) as session:
            deadline = time.monotonic() + hold
            due = await repository.awaiting_judgement(
                session, now=now, limit=min(chunk, limit - seen)
            )
            plans = await repository.plan_events(session, [v.visit_id for v in due], PLAN_EVENTS)
            judged = 0
            for visit in due:
                if judged and time.monotonic() >= deadline:
                    break  # commit; the rows not judged are released and read again next
                for rule in await _judge_visit(
                    session, visit, now, plans.get(visit.visit_id, ()), clock
                ):
                    opened[rule] += 1
                judged += 1
        seen += judged
        if judged == len(due) < chunk:
            break
    return ScanResult(opened[CaseRule.VISIT_LATE], opened[CaseRule.VISIT_MISSED])


_JUDGEMENTS = (
    (CaseRule.VISIT_LATE, Judgement.LATE, rules.late_visit),
    (CaseRule.VISIT_MISSED, Judgement.MISSED, rules.missed_visit),
)


async def _judge_visit(
    session: AsyncSession,
    visit: VisitSnapshot,
    now: datetime,
    plan: Sequence[int],
    clock: Clock,
) -> list[CaseRule]:
    """Record `visit.late` / `visit.missed` for each threshold the visit has passed and not been
    judged for, and open its case; the rules whose case was opened now."""
    created: list[CaseRule] = []
    for rule, judgement, build in _JUDGEMENTS:
        late = judgement is Judgement.LATE
        if (visit.late_judged_at if late else visit.missed_judged_at) is not None:
            continue
        spec = build(visit, now, plan)
        if spec is None:  # not past this threshold yet
            continue
        event_id = await judgements.record_judgement(
            session,
            JudgedVisit(
                visit_id=visit.visit_id,
                package_id=visit.package_id,
                contract_id=visit.contract_id,
                provider_id=visit.provider_id,
                person_id=visit.person_id,
                planned_start=visit.planned_start,
                planned_end=visit.planned_end,
                time_critical=visit.time_critical,
                threshold=visit.late_after if late else visit.missed_after,
            ),
            judgement,
            at=now,
            actor=service.SYSTEM_ACTOR,
        )
        if event_id is None:  # attended, cancelled or moved meanwhile
            continue
        spec = dataclasses.replace(
            spec,
            subject_id=await _case_subject(session, rule, visit),
            evidence=(*spec.evidence, event_id),
        )
        if (await service.open_case(session, spec, clock=clock)).created:
            created.append(rule)
    return created


async def _case_subject(session: AsyncSession, rule: CaseRule, visit: VisitSnapshot) -> uuid.UUID:
    """The case a judgement belongs to. The visit itself, as a rule's cases are keyed — unless
    the visit was moved after a case of this rule was resolved: lateness at the new time is a
    new incident that someone must see, not evidence on a closed case, so it is keyed by the
    visit and its new planned start. (A case still active takes the new judgement as evidence.)"""
    existing = await repository.find_case(session, rule, "visit", visit.visit_id)
    if existing is None or existing.status in ACTIVE_STATUSES:
        return visit.visit_id
    return uuid.uuid5(
        uuid.NAMESPACE_URL, f"care-hub:visit:{visit.visit_id}:{visit.planned_start.isoformat()}"
    )


async def run_event_rules(
    sessions: SessionFactory,
    clock: Clock,
    *,
    batch: int = EVENT_BATCH,
    max_events: int = MAX_EVENTS_PER_RUN,
    hold: float = HOLD_SECONDS,
) -> RuleRun:
    """Retry the failures that are due, then apply the rules to every settled event past the
    cursor until caught up (or `max_events`). An event whose rules fail is recorded in
    `governance_rule_failures` (its savepoint rolled back) and the run goes on: one bad payload
    cannot stop governance for everyone, and is never lost.

    Each transaction ends after `batch` events or `hold` seconds, whichever comes first (and
    judges at least one event, so the run always moves): see the module doc for why a rule run
    must never hold a visit's row for longer."""
    tally = _Tally()
    position = FeedPosition(0, 0)
    unresolved = 0
    first = True
    handed_over = False
    while True:
        async with unit_of_work(sessions) as session:
            cursor = await repository.lock_cursor(session, EVENT_CURSOR)
            if cursor is None and first:
                return _result(tally, position, unresolved=0, skipped=True)
            if cursor is None:  # another worker took over between two transactions
                handed_over = True
                break
            deadline = time.monotonic() + hold
            if first:
                await _retry_failures(session, clock, tally, deadline)
                first = False
            position = FeedPosition(cursor.txid, cursor.event_id)
            limit = min(batch, max_events - tally.events)
            rows = await settled_events_since(
                session, position, types=detect.EVENT_TYPES, limit=limit
            )
            judged = 0
            for row in rows:
                if judged and time.monotonic() >= deadline:
                    break  # commit what is judged; the next transaction goes on from here
                event_id, event_type, contract_id = row.id, row.type, row.contract_id
                position = FeedPosition.after(row)
                error = await _judge(session, row, clock, tally)
                if error is not None:
                    tally.failed += 1
                    await failures.record(
                        session,
                        event_id=event_id,
                        event_type=event_type,
                        contract_id=contract_id,
                        error=error,
                        now=clock.now(),
                    )
                cursor.txid, cursor.event_id = position.txid, position.event_id
                judged += 1
            tally.events += judged
            done = (judged == len(rows) and len(rows) < limit) or tally.events >= max_events
            unresolved = await repository.unresolved_rule_failures(session) if done else 0
        if done:
            break
    if handed_over:
        async with unit_of_work(sessions) as session:
            unresolved = await repository.unresolved_rule_failures(session)
    return _result(tally, position, unresolved=unresolved)


async def _retry_failures(
    session: AsyncSession, clock: Clock, tally: _Tally, deadline: float
) -> None:
    """Judge again every recorded failure whose next attempt is due, oldest event first, until
    the transaction's time is up (the rest wait for the next run)."""
    now = clock.now()
    due = await repository.due_rule_failures(session, now, RETRY_BATCH)
    events = await repository.events_by_id(session, [failure.event_id for failure in due])
    for failure in due:
        if tally.retried and time.monotonic() >= deadline:
            break
        tally.retried += 1
        row = events.get(failure.event_id)
        error = (
            await _judge(session, row, clock, tally)
            if row is not None
            else LookupError(f"event {failure.event_id} is no longer in the log")
        )
        if error is None:
            await failures.resolve(session, failure, now)
            tally.recovered += 1
            log.info("governance rule failure resolved", event_id=failure.event_id)
            continue
        await failures.record(
            session,
            event_id=failure.event_id,
            event_type=failure.event_type,
            contract_id=failure.contract_id,
            error=error,
            now=now,
            failure=failure,
        )
        if failure.next_attempt_at is None:
            tally.gave_up += 1
            log.error(
                "governance rule failure: attempts exhausted",
                event_id=failure.event_id,
                attempts=failure.attempts,
                error_class=failure.error_class,
            )


async def _judge(
    session: AsyncSession, row: Event, clock: Clock, tally: _Tally
) -> Exception | None:
    """Apply the rules to one event in a savepoint: the error they raised (their work rolled
    back), or None."""
    event_id, event_type = row.id, row.type
    try:
        async with session.begin_nested():
            tally.applied.add(
                await detect.apply_event(session, detect.fact_event(row), clock=clock)
            )
    except Exception as error:
        error_class, message = failures.describe(error)
        log.error(
            "governance rule failed",
            event_id=event_id,
            event_type=event_type,
            error_class=error_class,
            error=message,
            exc_info=not isinstance(error, DBAPIError),  # a statement's parameters stay out
        )
        return error
    return None


def _result(
    tally: _Tally, position: FeedPosition, *, unresolved: int, skipped: bool = False
) -> RuleRun:
    return RuleRun(
        events=tally.events,
        opened=tally.applied.opened,
        reconciled=tally.applied.reconciled,
        position=position.encode(),
        failed=tally.failed,
        retried=tally.retried,
        recovered=tally.recovered,
        gave_up=tally.gave_up,
        unresolved=unresolved,
        skipped=skipped,
    )


async def run_escalations(sessions: SessionFactory, clock: Clock, *, limit: int = 500) -> int:
    """Climb the ladder for every case whose next rung is due; the number of rungs climbed."""
    async with unit_of_work(sessions) as session:
        return await service.escalate_due(session, clock=clock, limit=limit)


# --- arq --------------------------------------------------------------------------------------


async def scan_due_visits_job(ctx: dict[str, Any]) -> dict[str, Any]:
    return asdict(await run_due_visit_scan(ctx["sessions"], ctx["clock"]))


async def apply_event_rules_job(ctx: dict[str, Any]) -> dict[str, Any]:
    run = await run_event_rules(ctx["sessions"], ctx["clock"])
    runtime = ctx.get("runtime")
    if runtime is not None:
        observe(runtime.metrics, run)
    result = asdict(run)
    if run.failed or run.gave_up:
        log.warning("governance event rules ran", **result)
    elif run.events or run.retried or run.unresolved:
        log.info("governance event rules ran", **result)
    return result


def observe(metrics: HubMetrics, run: RuleRun) -> None:
    """Count a run's rule failures; set the gauge of those still unresolved."""
    if run.skipped:
        return
    counter = metrics.governance_rule_failures
    counter.labels(outcome="failed").inc(run.failed)
    counter.labels(outcome="retry_failed").inc(run.retried - run.recovered)
    counter.labels(outcome="recovered").inc(run.recovered)
    counter.labels(outcome="gave_up").inc(run.gave_up)
    metrics.governance_rule_failures_unresolved.set(run.unresolved)


async def escalate_due_cases_job(ctx: dict[str, Any]) -> int:
    return await run_escalations(ctx["sessions"], ctx["clock"])


FUNCTIONS: list[Any] = [scan_due_visits_job, apply_event_rules_job, escalate_due_cases_job]


def cron_jobs(scan_seconds: int) -> list[Any]:
    """The three jobs every `scan_seconds` within each minute (15 → :00, :15, :30, :45)."""
    seconds = set(range(0, 60, max(1, min(scan_seconds, 60)))) or {0}
    return [
        cron(job, second=seconds, run_at_startup=True, unique=True, name=name)
        for job, name in (
            (apply_event_rules_job, "governance.apply_event_rules"),
            (scan_due_visits_job, "governance.scan_due_visits"),
            (escalate_due_cases_job, "governance.escalate_due_cases"),
        )
    ]
