"""One poll run of a supplier connector instance: every feed, page by page, from its cursor.

Per page, in order:

1. pull it (`connectors.supplier_rest`: timeouts, retries with jittered backoff for transient
   failures only, whole bodies — a truncated body is never returned, so nothing of it can be
   applied);
2. in **one transaction**: archive the page's exact bytes, apply each record in a savepoint
   (a record that cannot be applied is archived on its own and rejected, with its errors, as
   a data-quality case), mark the page applied, advance the cursor (checking nobody else moved
   it) and record the run's progress. A crash anywhere re-pulls the same page next time; a
   page already applied (same bytes) is not applied again.

A page whose envelope cannot be read (not JSON, no `data`, a bad cursor) is archived and
rejected, and its feed stays where it is: the cursor cannot be trusted past it. Re-pulling the
same bytes later changes nothing (same archive key); the other feeds go on.

Breaker and lease: see `hub.integrations.health`. The run's row (`connector_runs`) shows its
progress while it runs and its outcome after.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from connectors import clock as connector_clocks
from connectors.base import (
    ConnectorError,
    Page,
    PullSource,
    UnmappablePayload,
)
from connectors.http import BreakerPolicy, RetryPolicy, UpstreamStatus
from connectors.records.supplier import SupplierRecord
from connectors.supplier_rest import SupplierRestConnector
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.errors import Conflict
from hub.integrations import archive, credentials, health, repository
from hub.integrations.models import (
    ConnectorInstance,
    ConnectorRun,
    InboundChannel,
    InboundPayload,
    InboundStatus,
    RunStatus,
)
from hub.integrations.supplier import ApplyContext, RecordRejected, apply_record
from hub.kit.time import Clock
from hub.logging import get_logger

log = get_logger(__name__)

JSON = "application/json"


class CursorMoved(Conflict):
    """Another run advanced the feed while this one pulled: stop, the next run goes on."""

    code = "CURSOR_MOVED"


@dataclass(frozen=True, slots=True)
class PollSettings:
    breaker: health.BreakerSettings
    retry: RetryPolicy
    timeouts: httpx.Timeout
    page_size: int
    max_pages: int

    @classmethod
    def of(cls, settings: Settings) -> PollSettings:
        return cls(
            breaker=health.BreakerSettings(
                failure_threshold=settings.connector_breaker_failures,
                cool_down=timedelta(seconds=settings.connector_breaker_cool_down_seconds),
                lease=timedelta(minutes=10),
            ),
            retry=RetryPolicy(max_attempts=settings.connector_max_attempts),
            timeouts=httpx.Timeout(settings.connector_timeout_seconds, connect=3.0),
            page_size=settings.connector_page_size,
            max_pages=settings.connector_max_pages_per_run,
        )


@dataclass
class RunReport:
    """What one call to `poll_instance` did. `skipped` says why nothing was called."""

    instance_id: uuid.UUID
    run_id: uuid.UUID | None = None
    status: RunStatus | None = None
    skipped: str | None = None
    pages: int = 0
    applied: int = 0
    rejected: int = 0
    error_code: str | None = None
    error: str | None = None
    outcomes: Counter[str] = field(default_factory=Counter)


async def poll_instance(
    sessions: SessionFactory,
    *,
    instance_id: uuid.UUID,
    settings: PollSettings,
    clock: Clock,
    http: httpx.AsyncClient,
    trigger: str,
    connector_clock: connector_clocks.Clock | None = None,
    rand: Callable[[], float] = random.random,
    environ: Mapping[str, str] | None = None,
) -> RunReport:
    """Pull every feed of the instance once, as far as `settings.max_pages` pages each."""
    report = RunReport(instance_id=instance_id)
    async with unit_of_work(sessions) as session:
        instance = await repository.get_instance(session, instance_id)
        if instance is None or not instance.enabled:
            report.skipped = "no such enabled connector instance"
            return report
        admission = await health.admit(
            session, instance_id, now=clock.now(), settings=settings.breaker
        )
    if not admission.allowed:
        report.skipped = admission.reason
        return report
    upstream: UpstreamStatus | None = None
    try:
        async with unit_of_work(sessions) as session:
            run = ConnectorRun(
                instance_id=instance_id,
                trigger=trigger,
                status=RunStatus.RUNNING,
                started_at=clock.now(),
            )
            repository.add(session, run)
            await session.flush()
            report.run_id = run.id
        token = credentials.pull_token(instance, environ)
        connector = SupplierRestConnector(
            http,
            source_system=instance.name,
            base_url=instance.base_url,
            token=token,
            page_size=settings.page_size,
            retry=settings.retry,
            breaker=BreakerPolicy(
                failure_threshold=admission.remaining,
                cool_down=settings.breaker.cool_down.total_seconds(),
            ),
            timeouts=settings.timeouts,
            clock=connector_clock or health.ConnectorClock(clock),
            rand=rand,
        )
        ctx = ApplyContext(instance=instance, clock=clock)
        try:
            for feed in connector.feeds():
                await _pull_feed(sessions, ctx, feed, report, settings.max_pages)
        finally:
            upstream = connector.status()
    except (ConnectorError, credentials.ConnectorNotConfigured, CursorMoved) as failure:
        report.error_code = failure.code
        report.error = failure.message
    finally:
        failures, open_until = await _finish(
            sessions, report, instance, admission.probe, upstream, settings, clock
        )
    if report.error_code is not None:
        # Logged after settling, so it counts what the API shows (consecutiveFailures: the
        # shared count across runs), not the attempts this run's client made.
        log.warning(
            "integrations.poll_failed",
            connector=instance.name,
            code=report.error_code,
            error=report.error,
            consecutive_failures=failures,
            breaker_opens_at=settings.breaker.failure_threshold,
            breaker_open_until=open_until.isoformat() if open_until else None,
        )
    return report


async def _finish(
    sessions: SessionFactory,
    report: RunReport,
    instance: ConnectorInstance,
    probe: bool,
    upstream: UpstreamStatus | None,
    settings: PollSettings,
    clock: Clock,
) -> tuple[int, datetime | None]:
    """Settle the run; returns the shared breaker's consecutive failures and open-until."""
    report.status = RunStatus.FAILED if report.error_code else RunStatus.SUCCEEDED
    async with unit_of_work(sessions) as session:
        now = clock.now()
        settled = await health.settle(
            session,
            instance.id,
            now=now,
            settings=settings.breaker,
            probe=probe,
            upstream=upstream,
            error_code=report.error_code,
            error=report.error,
        )
        opened = settled.open_until is not None and settled.open_until > now
        if report.error_code is not None and opened:
            # When this run opened the shared breaker, its client only saw this run's attempts
            # ("opened after 2 consecutive failures"); the run records what the breaker saw.
            report.error_code = settled.last_error_code
            report.error = settled.last_error
        if report.run_id is not None:
            run = await repository.get_run(session, report.run_id)
            if run is not None:
                run.status = report.status
                run.finished_at = clock.now()
                run.error_code = report.error_code
                run.error = report.error
                await session.flush()
        return settled.consecutive_failures, settled.open_until


async def _pull_feed(
    sessions: SessionFactory,
    ctx: ApplyContext,
    feed: PullSource[SupplierRecord],
    report: RunReport,
    max_pages: int,
) -> None:
    instance = ctx.instance
    for _ in range(max_pages):
        async with sessions() as session:
            cursor = await repository.cursor_value(session, instance.id, feed.feed)
        try:
            page = await feed.pull(cursor)
        except UnmappablePayload as bad:
            await _unreadable_page(sessions, ctx, feed.feed, bad, report)
            return
        async with unit_of_work(sessions) as session:
            row = await repository.cursor_for_update(session, instance.id, feed.feed)
            if row.cursor != cursor:
                raise CursorMoved(
                    f"{instance.name}: the {feed.feed} feed was advanced by another run"
                )
            counts = await _apply_page(session, ctx, feed.feed, page)
            row.cursor = page.next_cursor
            row.advanced_at = ctx.clock.now()
            await _progress(session, report, feed.feed, counts, done=not page.has_more)
        if not page.has_more:
            return


async def _apply_page(
    session: AsyncSession, ctx: ApplyContext, feed: str, page: Page[SupplierRecord]
) -> Counter[str]:
    """Archive and apply one page inside the caller's transaction; counts by outcome."""
    counts: Counter[str] = Counter()
    if not page.records and not page.rejected:
        return counts  # an empty page says nothing worth keeping
    body = page.raw.body
    payload, is_new = await archive.keep(
        session,
        connector=ctx.instance.name,
        channel=InboundChannel.POLL,
        body=body,
        content_type=page.raw.content_type or JSON,
        delivery_key=f"poll:{feed}:{archive.sha256_hex(body)}",
        organisation_id=ctx.instance.organisation_id,
        clock=ctx.clock,
    )
    if not is_new and payload.status is not InboundStatus.RECEIVED:
        counts["already_received"] += len(page.records) + len(page.rejected)
        return counts
    items = _items_by_id(body)
    rejected_ids: list[str] = []
    for record in page.records:
        index, item = items.get(record.external_id, (None, None))
        path = f"{feed}[{index}]" if index is not None else f"{feed}[id={record.external_id}]"
        try:
            async with session.begin_nested():
                counts[await apply_record(session, ctx, record, path)] += 1
        except RecordRejected as rejection:
            counts["rejected"] += 1
            rejected = await _reject_item(
                session, ctx, feed, item, rejection.errors, payload, record.external_id
            )
            rejected_ids.append(str(rejected.id))
    for bad in page.rejected:
        counts["rejected"] += 1
        rejected = await _reject_item(
            session,
            ctx,
            feed,
            bad.item,
            [archive.error(bad.path, bad.reason, bad.code)],
            payload,
            None,
        )
        rejected_ids.append(str(rejected.id))
    await archive.mark_applied(
        session,
        payload,
        clock=ctx.clock,
        outcome={
            "feed": feed,
            "records": len(page.records) + len(page.rejected),
            **{outcome: count for outcome, count in counts.items() if outcome != "rejected"},
            "rejected": counts["rejected"],
            "rejected_payload_ids": rejected_ids,
            "next_cursor": page.next_cursor,
        },
    )
    return counts


def _items_by_id(body: bytes) -> dict[str, tuple[int, Any]]:
    """Each item of a page's `data` by its `id`, with its index (the page parsed already, so
    this cannot fail on a well-formed page)."""
    document = json.loads(body)
    data = document.get("data") if isinstance(document, dict) else None
    found: dict[str, tuple[int, Any]] = {}
    for index, item in enumerate(data if isinstance(data, list) else []):
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            found.setdefault(item["id"], (index, item))
    return found


def item_key(feed: str, body: bytes) -> str:
    return f"record:{feed}:{archive.sha256_hex(body)}"


async def _reject_item(
    session: AsyncSession,
    ctx: ApplyContext,
    feed: str,
    item: Any,
    errors: list[dict[str, str]],
    page: InboundPayload,
    external_id: str | None,
) -> InboundPayload:
    """Keep one record on its own (canonical JSON of the item as the page carried it) and
    reject it; the same record pulled again finds its row and changes nothing."""
    body = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    row, is_new = await archive.keep(
        session,
        connector=ctx.instance.name,
        channel=InboundChannel.POLL,
        body=body,
        content_type=JSON,
        delivery_key=item_key(feed, body),
        organisation_id=ctx.instance.organisation_id,
        clock=ctx.clock,
    )
    if external_id is None and isinstance(item, dict) and isinstance(item.get("id"), str):
        external_id = item["id"]
    if is_new or row.status is InboundStatus.RECEIVED:
        what = f"{feed} record {external_id}" if external_id else f"a {feed} record"
        await archive.mark_rejected(
            session,
            row,
            clock=ctx.clock,
            actor=ctx.actor,
            errors=errors,
            summary=f"{what} from {ctx.instance.name} could not be applied: "
            f"{errors[0]['problem']} (page {page.id})",
        )
    return row


async def _unreadable_page(
    sessions: SessionFactory,
    ctx: ApplyContext,
    feed: str,
    bad: UnmappablePayload,
    report: RunReport,
) -> None:
    async with unit_of_work(sessions) as session:
        row, is_new = await archive.keep(
            session,
            connector=ctx.instance.name,
            channel=InboundChannel.POLL,
            body=bad.raw,
            content_type=bad.payload.content_type or JSON,
            delivery_key=f"poll:{feed}:{archive.sha256_hex(bad.raw)}",
            organisation_id=ctx.instance.organisation_id,
            clock=ctx.clock,
        )
        if is_new:
            await archive.mark_rejected(
                session,
                row,
                clock=ctx.clock,
                actor=ctx.actor,
                errors=[archive.error(bad.path, bad.reason, bad.code)],
                summary=f"a {feed} page from {ctx.instance.name} could not be read "
                f"({bad.path}: {bad.reason}); the {feed} feed waits at this page until the "
                "supplier fixes it",
            )
        counts: Counter[str] = Counter({"unreadable_pages": 1})
        await _progress(session, report, feed, counts, done=False, blocked=str(row.id))


async def _progress(
    session: AsyncSession,
    report: RunReport,
    feed: str,
    counts: Counter[str],
    *,
    done: bool,
    blocked: str | None = None,
) -> None:
    """Fold a page into the run's row (in the page's transaction) and the report."""
    rejected = counts["rejected"]
    applied = sum(
        count
        for outcome, count in counts.items()
        if outcome not in ("rejected", "unreadable_pages", "already_received")
    )
    report.pages += 1
    report.applied += applied
    report.rejected += rejected
    report.outcomes.update(counts)
    if report.run_id is None:
        return
    run = await repository.get_run(session, report.run_id)
    if run is None:
        return
    entry = dict(run.progress.get(feed, {}))
    entry["pages"] = int(entry.get("pages", 0)) + 1
    entry["applied"] = int(entry.get("applied", 0)) + applied
    entry["rejected"] = int(entry.get("rejected", 0)) + rejected
    entry["done"] = done
    if blocked is not None:
        entry["blocked_by_payload"] = blocked
    run.progress = {**run.progress, feed: entry}
    run.pages += 1
    run.records_applied += applied
    run.records_rejected += rejected
    await session.flush()
