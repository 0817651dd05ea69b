"""The command upload: a device's ordered commands, each settled exactly once.

One call of `submit_commands` takes a batch (at most `UploadPolicy.max_commands` commands and
`max_bytes` canonical bytes) from one device and answers every command it settles:

- **APPLIED** — the command's fact is recorded, with any flags (`hub.visits.facts`);
- **DUPLICATE** — the command was settled before (a lost response, an app crash before the
  outbox was marked): the *stored* answer again (`firstStatus` says what it was), nothing new;
- **QUARANTINED** — the command cannot be applied as sent (revoked device, unknown body version,
  invalid values, a visit of another provider, an id reused with another payload, a command
  over the byte cap on its own (`COMMAND_TOO_LARGE`), one that failed GraphQL input coercion
  (`hub.mobile.coercion`, carried here with its `problem`)): it is kept whole in `command_log`
  with a code for the office, and the queue moves on. Its `mobile.command_quarantined` event
  opens (or adds to) a data-quality case for the carer's office (`hub.governance`).

Order and exactly-once (after Replicache's push protocol): the device's `seq` numbers are
gap-free from 1. The hub settles `last_seq + 1` and only that; a batch stops at a gap
(`SEQ_GAP`, with the sequence number expected). A sequence number already settled with the
same command is a DUPLICATE; with another command id the device's state does not match the
hub's (`DeviceStateMismatch`: a restored backup or a clone). The command id is claimed once,
for good (`uq_command_log_command_id_original`): the same id with the same payload under a new
number is a DUPLICATE, with another payload `IDEMPOTENCY_KEY_REUSED` (the original untouched).

Transactions: each command is settled in its own transaction — the device's cursor and chain
head, the fact and its events, and the log row with the answer commit together or not at all.
A transient failure (a row lock held longer than the upload's `lock_timeout`, a serialisation
failure, a lost connection) stops the batch with `DEFERRED` and `retryAfterMs`; everything
before it is committed and acknowledged (`ackedThroughSeq`). A command that fails for any
other reason is quarantined (`PROCESSING_FAILED`), so one poison command never blocks the
commands behind it. A batch that runs past `time_budget` stops with `BATCH_LIMIT`.

Concurrency: the whole batch runs on one database connection holding a session-level advisory
lock on the device. A second upload of the same device (a foreground sync racing a background
task) waits `device_lock_wait_ms` for it, then is refused `DEVICE_BUSY` — never interleaved.

Integrity: each command's hash (`hub.mobile.canonical`) chains to the previous one through
`prevHash`; a command whose `prevHash` is not the hash of the command before it (an outbox row
edited or deleted on the phone) is still settled, flagged `CHAIN_BREAK`.

Time: see `hub.mobile.clock`. Every answer carries the server time and the measured offset.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from hub.db.engine import SessionFactory
from hub.errors import Forbidden, HubError, InvalidInput
from hub.events.log import NewEvent, record_many
from hub.kit.ids import uuid7
from hub.kit.time import Clock
from hub.logging import get_logger
from hub.mobile import repository
from hub.mobile.canonical import (
    GENESIS_HASH,
    canonical_bytes,
    canonical_time,
    digests,
)
from hub.mobile.clock import ClockAnchor, DeviceTime, Measurement, correct
from hub.mobile.commands import (
    CheckIn,
    CheckOut,
    CommandRejected,
    CommandTooLarge,
    DecodedCommand,
    Observation,
    TaskConfirmation,
    decode_command,
    is_uuid7,
)
from hub.mobile.devices import OutboxReport, contact_values, own_device
from hub.mobile.errors import (
    BatchTooLarge,
    DeviceBusy,
    DeviceStateMismatch,
    UnsupportedProtocol,
)
from hub.mobile.models import CommandLogEntry, CommandStatus, Device, DeviceStatus
from hub.mobile.versions import MobileVersions
from hub.tenancy import AccessScope
from hub.visits import facts
from hub.visits import repository as visits_repository
from hub.visits.facts import DeviceClock, Flag, PresencePolicy, RecordedFact

log = get_logger(__name__)

# Advisory-lock namespace of device uploads ("MOBI"); the device's hash fills the second key.
_LOCK_NAMESPACE = 0x4D4F4249
_TRANSIENT_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available (lock_timeout)
        "57014",  # query_canceled (statement_timeout)
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now
        "53300",  # too_many_connections
    }
)


class AnswerStatus(StrEnum):
    APPLIED = "APPLIED"
    DUPLICATE = "DUPLICATE"
    QUARANTINED = "QUARANTINED"


class StopReason(StrEnum):
    SEQ_GAP = "SEQ_GAP"
    DEFERRED = "DEFERRED"
    BATCH_LIMIT = "BATCH_LIMIT"


@dataclass(frozen=True, slots=True)
class UploadPolicy:
    """Limits and waits of the upload (the protocol's limits are published to the app)."""

    max_commands: int = 100
    max_bytes: int = 256 * 1024
    device_lock_wait_ms: int = 1000
    command_lock_timeout_ms: int = 2000
    time_budget: timedelta = timedelta(seconds=10)
    deferred_retry_after_ms: int = 5000
    busy_retry_after_ms: int = 2000
    presence: PresencePolicy = field(default_factory=PresencePolicy)


@dataclass(frozen=True, slots=True)
class IncomingCommand:
    """One command as received, in canonical form (`hub.mobile.canonical`)."""

    seq: int
    command_id: uuid.UUID
    payload: Mapping[str, Any]
    # The chain link (the whole command but its signature) and the idempotency fingerprint
    # (what it records, without the envelope): see hub.mobile.canonical.
    hash: str
    fingerprint: str
    size: int
    # Why the command is not one of the contract (it failed GraphQL input coercion): it is
    # quarantined as VALIDATION_FAILED in its place, never decoded.
    problem: str | None = None

    @classmethod
    def of(cls, payload: Mapping[str, Any]) -> IncomingCommand:
        found = digests(payload)
        return cls(
            seq=int(payload["seq"]),
            command_id=uuid.UUID(str(payload["commandId"])),
            payload=payload,
            hash=found.command_hash,
            fingerprint=found.content_hash,
            size=found.size,
        )

    @classmethod
    def rejected(cls, seq: int, raw: Any, problem: str, device_id: uuid.UUID) -> IncomingCommand:
        """A command as sent that is not one of the contract: kept whole (nulls, which the
        protocol treats as absent, left out, as in every canonical command) under its place
        `seq`. Its id is its own `commandId` when that is a UUID, else one derived from the
        device and the id sent, so a resend of it is recognised as a DUPLICATE."""
        payload = _without_nulls(raw) if isinstance(raw, Mapping) else {"seq": seq, "raw": raw}
        found = digests(payload)
        return cls(
            seq=seq,
            command_id=_command_id_of(payload.get("commandId"), device_id),
            payload=payload,
            hash=found.command_hash,
            fingerprint=found.content_hash,
            size=found.size,
            problem=problem,
        )


@dataclass(frozen=True, slots=True)
class Upload:
    device_id: uuid.UUID
    protocol_version: int
    app_version: str
    sent_at: DeviceTime
    outbox: OutboxReport
    commands: tuple[IncomingCommand, ...]
    document_id: str | None = None


@dataclass(frozen=True, slots=True)
class CommandAnswer:
    seq: int
    command_id: uuid.UUID
    status: AnswerStatus
    first_status: AnswerStatus
    code: str | None
    message: str | None
    flags: tuple[str, ...]
    receipt_id: uuid.UUID
    received_at: datetime
    entity_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UploadAnswer:
    server_time: datetime
    clock_offset_ms: int
    acked_through_seq: int
    results: tuple[CommandAnswer, ...]
    stop: StopReason | None
    expected_seq: int | None
    retry_after_ms: int | None
    min_app_version: str
    drain_only: bool


def check_upload(upload: Upload, versions: MobileVersions, policy: UploadPolicy) -> bool:
    """Refusals that need no database: protocol, app version, batch limits. Returns drainOnly."""
    if not versions.protocol_supported(upload.protocol_version):
        raise UnsupportedProtocol(upload.protocol_version, versions.supported_protocols)
    drain_only = versions.drain_only(upload.app_version)
    limits = {"max_commands": policy.max_commands, "max_bytes": policy.max_bytes}
    if len(upload.commands) > policy.max_commands:
        raise BatchTooLarge(
            f"{len(upload.commands)} commands; send at most {policy.max_commands} at a time",
            **limits,
        )
    # A single command over the cap can never travel in a smaller batch: it is quarantined
    # whole in its place (COMMAND_TOO_LARGE), so it does not count against the batch.
    size = sum(command.size for command in upload.commands if command.size <= policy.max_bytes)
    if size > policy.max_bytes:
        raise BatchTooLarge(
            f"{size} bytes of commands; send at most {policy.max_bytes} at a time", **limits
        )
    return drain_only


async def submit_commands(
    sessions: SessionFactory,
    *,
    scope: AccessScope,
    actor: str,
    clock: Clock,
    versions: MobileVersions,
    policy: UploadPolicy,
    upload: Upload,
) -> UploadAnswer:
    """Settle a batch of one device's commands in order (see the module docstring)."""
    if not scope.is_carer or scope.staff_id is None:
        raise Forbidden("commands are uploaded by the carer whose device it is")
    drain_only = check_upload(upload, versions, policy)
    received_at = clock.now()
    measurement = Measurement(received_at=received_at, sent=upload.sent_at)
    engine = _engine_of(sessions)
    async with engine.connect() as connection, sessions(bind=connection) as session:
        lock = _DeviceLock(connection, upload.device_id)
        try:
            await lock.acquire(policy)
            run = _Run(
                session=session,
                scope=scope,
                actor=actor,
                clock=clock,
                policy=policy,
                upload=upload,
                measurement=measurement,
            )
            await run.load()
            await run.settle_all()
            await run.record_contact()
        finally:
            await lock.release()
    return UploadAnswer(
        server_time=received_at,
        clock_offset_ms=measurement.offset_ms,
        acked_through_seq=run.last_seq,
        results=tuple(run.answers),
        stop=run.stop,
        expected_seq=run.last_seq + 1 if run.stop is StopReason.SEQ_GAP else None,
        retry_after_ms=policy.deferred_retry_after_ms if run.stop is StopReason.DEFERRED else None,
        min_app_version=versions.min_app_version,
        drain_only=drain_only,
    )


# ---------------------------------------------------------------------------------------------


class _DeviceLock:
    """A session-level advisory lock on the device, held on the batch's own connection (it is
    released by the connection's end if the process dies). `lock_timeout` bounds the wait for
    it, then every row lock a command waits for."""

    def __init__(self, connection: AsyncConnection, device_id: uuid.UUID) -> None:
        self.connection = connection
        self.key = int.from_bytes(hashlib.sha256(device_id.bytes).digest()[:4], "big", signed=True)
        self.held = False

    async def acquire(self, policy: UploadPolicy) -> None:
        try:
            await self.connection.execute(
                text("SELECT set_config('lock_timeout', :wait, false)"),
                {"wait": f"{policy.device_lock_wait_ms}ms"},
            )
            await self.connection.execute(
                text("SELECT pg_advisory_lock(:namespace, :key)"),
                {"namespace": _LOCK_NAMESPACE, "key": self.key},
            )
        except DBAPIError as error:
            await self.connection.rollback()
            if _sqlstate(error) == "55P03":
                raise DeviceBusy(
                    "another upload from this device is in progress; retry shortly",
                    retry_after_ms=policy.busy_retry_after_ms,
                ) from None
            raise
        # From here on `release` must run, whatever fails: the lock outlives transactions.
        self.held = True
        await self.connection.execute(
            text("SELECT set_config('lock_timeout', :wait, false)"),
            {"wait": f"{policy.command_lock_timeout_ms}ms"},
        )
        await self.connection.commit()

    async def release(self) -> None:
        if not self.held:
            return
        try:
            await self.connection.rollback()
            await self.connection.execute(
                text("SELECT pg_advisory_unlock(:namespace, :key)"),
                {"namespace": _LOCK_NAMESPACE, "key": self.key},
            )
            await self.connection.execute(text("RESET lock_timeout"))
            await self.connection.commit()
        except Exception:  # a broken connection must not go back to the pool
            log.warning("mobile.upload.unlock_failed", exc_info=True)
            await self.connection.invalidate()
        self.held = False


class _Deferred(Exception):
    """A transient failure: stop the batch, acknowledge what committed."""


@dataclass(frozen=True, slots=True)
class _Logged:
    """A command-log row as the batch needs it: loaded at the start, or written by the batch."""

    id: uuid.UUID
    device_id: uuid.UUID
    seq: int | None
    command_id: uuid.UUID
    original: bool
    payload_sha256: str
    status: CommandStatus
    code: str | None
    result: Mapping[str, Any]
    staff_id: uuid.UUID
    organisation_id: uuid.UUID
    person_id: uuid.UUID | None
    visit_id: uuid.UUID | None
    body_type: str | None

    @classmethod
    def of(cls, entry: CommandLogEntry) -> _Logged:
        return cls(
            id=entry.id,
            device_id=entry.device_id,
            seq=entry.seq,
            command_id=entry.command_id,
            original=entry.original,
            payload_sha256=entry.payload_sha256,
            status=entry.status,
            code=entry.code,
            result=entry.result,
            staff_id=entry.staff_id,
            organisation_id=entry.organisation_id,
            person_id=entry.person_id,
            visit_id=entry.visit_id,
            body_type=entry.body_type,
        )


@dataclass
class _Run:
    # One session on the batch's connection for the whole batch, a transaction per command.
    session: AsyncSession
    scope: AccessScope
    actor: str
    clock: Clock
    policy: UploadPolicy
    upload: Upload
    measurement: Measurement
    device: Device | None = None
    last_seq: int = 0
    chain_head: str = GENESIS_HASH
    anchor: ClockAnchor | None = None
    by_seq: dict[int, _Logged] = field(default_factory=dict)
    claimed: dict[uuid.UUID, _Logged] = field(default_factory=dict)
    altered: dict[tuple[uuid.UUID, str], _Logged] = field(default_factory=dict)
    answers: list[CommandAnswer] = field(default_factory=list)
    next_pending_at: datetime | None = None
    stop: StopReason | None = None

    @property
    def received_at(self) -> datetime:
        return self.measurement.received_at

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work on the batch's connection (commits on success, else rolls back).
        The session is the batch's; nothing it loaded outlives the transaction, so no command
        reads another's state from the identity map."""
        session = self.session
        try:
            async with session.begin():
                yield session
        finally:
            session.expunge_all()

    async def load(self) -> None:
        commands = self.upload.commands
        async with self.transaction() as session:
            device = await own_device(session, self.scope, self.upload.device_id)
            entries = await repository.log_entries_for_batch(
                session,
                device.id,
                [command.seq for command in commands],
                [command.command_id for command in commands],
            )
        self.device = device
        self.last_seq = device.last_seq
        self.chain_head = device.last_command_hash or GENESIS_HASH
        if (
            device.clock_boot_id is not None
            and device.clock_anchor_server_at is not None
            and device.clock_anchor_monotonic_ms is not None
        ):
            self.anchor = ClockAnchor(
                device.clock_boot_id,
                device.clock_anchor_server_at,
                device.clock_anchor_monotonic_ms,
            )
        for entry in entries:
            self._remember(_Logged.of(entry))

    def _remember(self, entry: _Logged) -> None:
        if entry.device_id == self.upload.device_id and entry.seq is not None:
            self.by_seq[entry.seq] = entry
        if entry.original:
            self.claimed[entry.command_id] = entry
        if entry.seq is None:
            self.altered[(entry.command_id, entry.payload_sha256)] = entry

    async def settle_all(self) -> None:
        started = time.monotonic()
        budget = self.policy.time_budget.total_seconds()
        try:
            for command in self.upload.commands:
                if command.seq <= self.last_seq:
                    self.answers.append(await self._settled_before(command))
                    continue
                if command.seq > self.last_seq + 1:
                    self.stop = StopReason.SEQ_GAP
                    break
                if self.answers and time.monotonic() - started > budget:
                    self.stop = StopReason.BATCH_LIMIT
                    break
                self.answers.append(await self._settle(command))
                self.last_seq = command.seq
                self.chain_head = command.hash
        except _Deferred:
            self.stop = StopReason.DEFERRED
        # The outbox is FIFO: what is left was recorded at or after the last command settled.
        remaining = [c for c in self.upload.commands if c.seq > self.last_seq]
        settled = [c for c in self.upload.commands if c.seq <= self.last_seq]
        if remaining:
            self.next_pending_at = self._corrected_or_none(remaining[0])
        elif settled:
            self.next_pending_at = self._corrected_or_none(settled[-1])

    async def record_contact(self) -> None:
        """The device's clock and outbox health; best effort after a transient failure."""
        values = contact_values(
            self.measurement,
            self.upload.outbox,
            settled=len(self.answers),
            next_pending_at=self.next_pending_at,
            app_version=self.upload.app_version,
            protocol_version=self.upload.protocol_version,
        )
        try:
            async with self.transaction() as session:
                await repository.record_contact(session, self.upload.device_id, **values)
        except Exception as error:
            if self.stop is StopReason.DEFERRED or _is_transient(error):
                log.warning("mobile.upload.contact_not_recorded", exc_info=True)
                return
            raise

    # --- a sequence number settled before ---------------------------------------------------

    async def _settled_before(self, command: IncomingCommand) -> CommandAnswer:
        entry = self.by_seq.get(command.seq)
        if entry is None or entry.command_id != command.command_id:
            raise DeviceStateMismatch(
                f"sequence number {command.seq} was settled with another command: this device's "
                "log does not match the hub's (restored from a backup, or cloned). Nothing from "
                "this batch after it was applied; export the outbox and register as a new device",
                seq=command.seq,
                acked_through_seq=self.last_seq,
            )
        if entry.payload_sha256 == command.fingerprint:
            return _from_stored(entry.result, command, AnswerStatus.DUPLICATE)
        # The same command, altered on the phone after it was settled: keep the altered copy
        # as evidence (once) and answer the reuse; the settled original is untouched.
        kept = self.altered.get((command.command_id, command.fingerprint))
        if kept is None:
            async with self._guard(), self.transaction() as session:
                kept = await self._log(
                    session,
                    command,
                    seq=None,
                    original=False,
                    status=CommandStatus.QUARANTINED,
                    code="IDEMPOTENCY_KEY_REUSED",
                    message=_REUSED,
                )
                await self._quarantine_event(session, kept)
            self._remember(kept)
        return _from_stored(kept.result, command, AnswerStatus.QUARANTINED)

    # --- the next sequence number -------------------------------------------------------------

    async def _settle(self, command: IncomingCommand) -> CommandAnswer:
        claimed = self.claimed.get(command.command_id)
        if claimed is not None:
            return await self._reused(command, claimed)
        decoded: DecodedCommand | None = None
        rejection: CommandRejected | None = None
        try:
            if command.problem is not None:
                raise CommandRejected(command.problem)
            if command.size > self.policy.max_bytes:
                raise CommandTooLarge(
                    f"the command is {command.size} bytes; at most {self.policy.max_bytes} "
                    "travel in one command. It is kept whole for the office to review"
                )
            if not is_uuid7(command.command_id):
                raise CommandRejected("command.commandId: must be a UUIDv7")
            decoded = decode_command(command.payload, self.upload.protocol_version)
        except CommandRejected as rejected:
            rejection = rejected
        try:
            async with self._guard(), self.transaction() as session:
                stored = await self._apply(session, command, decoded, rejection)
        except HubError as error:
            stored = await self._quarantine(command, decoded, _code_of(error), error.message)
        except _Deferred:
            raise
        except Exception:
            log.exception(
                "mobile.upload.command_failed",
                device_id=str(self.upload.device_id),
                seq=command.seq,
                command_id=str(command.command_id),
            )
            stored = await self._quarantine(
                command,
                decoded,
                "PROCESSING_FAILED",
                "the hub could not process this command; it is kept for the office to review",
            )
        self._remember(stored)
        return _from_stored(stored.result, command, _status_of(stored))

    async def _reused(self, command: IncomingCommand, claimed: _Logged) -> CommandAnswer:
        """A command id seen before, under a new sequence number."""
        same = claimed.payload_sha256 == command.fingerprint
        async with self._guard(), self.transaction() as session:
            await repository.advance_device(
                session, self.upload.device_id, seq=command.seq, command_hash=command.hash
            )
            if same:
                stored = await self._log(
                    session,
                    command,
                    seq=command.seq,
                    original=False,
                    status=CommandStatus.DUPLICATE,
                    result=claimed.result,
                )
            else:
                stored = await self._log(
                    session,
                    command,
                    seq=command.seq,
                    original=False,
                    status=CommandStatus.QUARANTINED,
                    code="IDEMPOTENCY_KEY_REUSED",
                    message=_REUSED,
                    flags=self._chain_flags(command),
                )
                await self._quarantine_event(session, stored)
        self._remember(stored)
        if same:
            return _from_stored(claimed.result, command, AnswerStatus.DUPLICATE)
        return _from_stored(stored.result, command, AnswerStatus.QUARANTINED)

    async def _apply(
        self,
        session: AsyncSession,
        command: IncomingCommand,
        decoded: DecodedCommand | None,
        rejection: CommandRejected | None,
    ) -> _Logged:
        status = await repository.advance_device(
            session, self.upload.device_id, seq=command.seq, command_hash=command.hash
        )
        chain = self._chain_flags(command)
        if status is DeviceStatus.REVOKED:
            return await self._quarantine_in(
                session,
                command,
                decoded,
                "REVOKED_DEVICE",
                "this device was revoked by the office; the command is kept for review",
                chain,
            )
        if decoded is None:
            assert rejection is not None
            return await self._quarantine_in(
                session, command, None, rejection.code, rejection.message, chain
            )
        corrected = correct(decoded.occurred_at, self.measurement, self.anchor)
        flags = [*chain]
        if corrected.skew_suspect:
            flags.append(Flag.CLOCK_SKEW_SUSPECT)
        recorded = await self._record_fact(
            session, command, decoded, corrected.at, corrected.basis, flags
        )
        return await self._log(
            session,
            command,
            seq=command.seq,
            original=True,
            status=CommandStatus.APPLIED,
            flags=recorded.flags,
            entity_ids=(str(recorded.fact_id),),
            body_type=decoded.body_type,
            visit_id=recorded.visit_id,
            person_id=recorded.person_id,
            occurred_at=recorded.occurred_at,
            device_occurred_at=decoded.occurred_at.wall,
        )

    async def _record_fact(
        self,
        session: AsyncSession,
        command: IncomingCommand,
        decoded: DecodedCommand,
        occurred_at: datetime,
        basis: str,
        flags: Sequence[str],
    ) -> RecordedFact:
        device_time = decoded.occurred_at
        common: dict[str, Any] = {
            "scope": self.scope,
            "actor": self.actor,
            "clock": self.clock,
            "fact_id": command.command_id,
            "staff_id": self.scope.staff_id,
            "occurred_at": occurred_at,
            "device_time": device_time.wall,
            "source": "mobile",
            "extra_flags": flags,
            "device_id": self.upload.device_id,
            "device_clock": DeviceClock(
                boot_id=device_time.boot_id, monotonic_ms=device_time.monotonic_ms, basis=basis
            ),
            "received_at": self.received_at,
            "supersedes_id": decoded.supersedes,
        }
        body = decoded.body
        if isinstance(body, CheckIn):
            return await facts.record_check_in(
                session,
                visit_id=body.visit_id,
                verification=body.verification,
                policy=self.policy.presence,
                note=body.note,
                **common,
            )
        if isinstance(body, CheckOut):
            return await facts.record_check_out(
                session,
                visit_id=body.visit_id,
                verification=body.verification,
                policy=self.policy.presence,
                **common,
            )
        if isinstance(body, TaskConfirmation):
            return await facts.record_task_confirmation(
                session,
                visit_id=body.visit_id,
                task_index=body.task_index,
                outcome=body.outcome,
                reason=body.reason,
                **common,
            )
        if isinstance(body, Observation):
            return await facts.record_observation(
                session,
                visit_id=body.visit_id,
                kind=body.kind,
                values=body.values,
                note=body.note,
                **common,
            )
        return await facts.record_concern(
            session,
            visit_id=body.visit_id,
            category=body.category,
            safeguarding=body.safeguarding,
            description=body.description,
            **common,
        )

    # --- quarantine ----------------------------------------------------------------------------

    async def _quarantine(
        self,
        command: IncomingCommand,
        decoded: DecodedCommand | None,
        code: str,
        message: str,
    ) -> _Logged:
        """Quarantine after a failed attempt: a fresh transaction (the failed one rolled back)."""
        async with self._guard(), self.transaction() as session:
            await repository.advance_device(
                session, self.upload.device_id, seq=command.seq, command_hash=command.hash
            )
            return await self._quarantine_in(
                session, command, decoded, code, message, self._chain_flags(command)
            )

    async def _quarantine_in(
        self,
        session: AsyncSession,
        command: IncomingCommand,
        decoded: DecodedCommand | None,
        code: str,
        message: str,
        flags: Sequence[str],
    ) -> _Logged:
        visit_id, person_id = await self._visit_of(session, decoded)
        stored = await self._log(
            session,
            command,
            seq=command.seq,
            original=True,
            status=CommandStatus.QUARANTINED,
            code=code,
            message=message,
            flags=flags,
            body_type=_body_type(command.payload),
            visit_id=visit_id,
            person_id=person_id,
            device_occurred_at=decoded.occurred_at.wall if decoded else None,
        )
        await self._quarantine_event(session, stored)
        return stored

    async def _visit_of(
        self, session: AsyncSession, decoded: DecodedCommand | None
    ) -> tuple[uuid.UUID | None, uuid.UUID | None]:
        """The visit a quarantined command names, and its person when the visit is of the
        carer's employer (so the office's reading of it is attributed to the person)."""
        if decoded is None:
            return None, None
        visit_id = decoded.body.visit_id
        owner = await visits_repository.owner_of(session, visit_id)
        if owner is None or self.device is None or owner[0] != self.device.organisation_id:
            return visit_id, None
        return visit_id, owner[1]

    async def _quarantine_event(self, session: AsyncSession, stored: _Logged) -> None:
        await record_many(
            session,
            [
                NewEvent(
                    type="mobile.command_quarantined",
                    subject_type="device",
                    subject_id=stored.device_id,
                    organisation_id=stored.organisation_id,
                    person_id=stored.person_id,
                    actor=self.actor,
                    occurred_at=self.received_at,
                    payload={
                        "command_id": str(stored.command_id),
                        "command_log_id": str(stored.id),
                        "seq": stored.seq,
                        "code": stored.code,
                        "staff_id": str(stored.staff_id),
                        "visit_id": str(stored.visit_id) if stored.visit_id else None,
                        "body_type": stored.body_type,
                    },
                ),
            ],
        )

    # --- helpers -------------------------------------------------------------------------------

    def _chain_flags(self, command: IncomingCommand) -> tuple[str, ...]:
        return () if command.payload.get("prevHash") == self.chain_head else (Flag.CHAIN_BREAK,)

    def _corrected_or_none(self, command: IncomingCommand) -> datetime | None:
        if command.problem is not None:
            return None
        try:
            decoded = decode_command(command.payload, self.upload.protocol_version)
        except CommandRejected:
            return None
        return correct(decoded.occurred_at, self.measurement, self.anchor).at

    async def _log(
        self,
        session: AsyncSession,
        command: IncomingCommand,
        *,
        seq: int | None,
        original: bool,
        status: CommandStatus,
        code: str | None = None,
        message: str | None = None,
        flags: Sequence[str] = (),
        entity_ids: Sequence[str] = (),
        result: Mapping[str, Any] | None = None,
        body_type: str | None = None,
        visit_id: uuid.UUID | None = None,
        person_id: uuid.UUID | None = None,
        occurred_at: datetime | None = None,
        device_occurred_at: datetime | None = None,
    ) -> _Logged:
        receipt = uuid7()
        device = self.device
        assert device is not None
        stored_result = (
            dict(result)
            if result is not None
            else {
                "status": AnswerStatus.APPLIED.value
                if status is CommandStatus.APPLIED
                else AnswerStatus.QUARANTINED.value,
                "code": code,
                "message": message,
                "flags": list(flags),
                "receiptId": str(receipt),
                "receivedAt": canonical_time(self.received_at),
                "entityIds": list(entity_ids),
            }
        )
        entry = _Logged(
            id=receipt,
            device_id=device.id,
            seq=seq,
            command_id=command.command_id,
            original=original,
            payload_sha256=command.fingerprint,
            status=status,
            code=code,
            result=stored_result,
            staff_id=device.staff_id,
            organisation_id=device.organisation_id,
            person_id=person_id,
            visit_id=visit_id,
            body_type=body_type or _body_type(command.payload),
        )
        await repository.insert_log_entry(
            session,
            {
                "id": entry.id,
                "device_id": entry.device_id,
                "seq": entry.seq,
                "command_id": entry.command_id,
                "original": entry.original,
                "body_type": entry.body_type,
                "payload": dict(command.payload),
                "payload_sha256": entry.payload_sha256,
                "prev_hash": _text_or_none(command.payload.get("prevHash")),
                "status": entry.status,
                "code": entry.code,
                "flags": list(flags),
                "result": stored_result,
                "staff_id": entry.staff_id,
                "organisation_id": entry.organisation_id,
                "person_id": entry.person_id,
                "visit_id": entry.visit_id,
                "occurred_at": occurred_at,
                "device_occurred_at": device_occurred_at,
                "received_at": self.received_at,
                "actor": self.actor,
                "app_version": self.upload.app_version,
                "protocol_version": self.upload.protocol_version,
                "document_id": self.upload.document_id,
            },
        )
        return entry

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        """Turn transient database failures into `_Deferred`; others propagate."""
        try:
            yield
        except HubError:
            raise
        except Exception as error:
            if _is_transient(error):
                log.info(
                    "mobile.upload.deferred",
                    device_id=str(self.upload.device_id),
                    error=type(error).__name__,
                )
                raise _Deferred from error
            raise


# ---------------------------------------------------------------------------------------------

_REUSED = (
    "this commandId was already used for a different command; the first one stands and this "
    "one is kept for the office to review"
)


def _engine_of(sessions: SessionFactory) -> AsyncEngine:
    bind = sessions.kw.get("bind")
    if not isinstance(bind, AsyncEngine):
        raise TypeError("the session factory must be bound to an AsyncEngine")
    return bind


def _sqlstate(error: BaseException) -> str | None:
    original = getattr(error, "orig", None)
    state = getattr(original, "sqlstate", None) or getattr(error, "sqlstate", None)
    return state if isinstance(state, str) else None


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, InterfaceError | OSError):  # OSError: connection refused/reset, timeouts
        return True
    state = _sqlstate(error)
    return state is not None and (state in _TRANSIENT_SQLSTATES or state.startswith("08"))


def _code_of(error: HubError) -> str:
    """Input problems are VALIDATION_FAILED (the message names the field and the reason)
    unless their class names a sharper code (TASK_NOT_FOUND, SUPERSEDED_FACT_NOT_FOUND);
    other refusals keep their own (VISIT_NOT_FOUND, …)."""
    if isinstance(error, InvalidInput):
        own = type(error).code
        return own if own != InvalidInput.code else "VALIDATION_FAILED"
    return error.code


def _status_of(entry: _Logged) -> AnswerStatus:
    return (
        AnswerStatus.APPLIED if entry.status is CommandStatus.APPLIED else AnswerStatus.QUARANTINED
    )


def _from_stored(
    stored: Mapping[str, Any], command: IncomingCommand, status: AnswerStatus
) -> CommandAnswer:
    return CommandAnswer(
        seq=command.seq,
        command_id=command.command_id,
        status=status,
        first_status=AnswerStatus(stored["status"]),
        code=stored.get("code"),
        message=stored.get("message"),
        flags=tuple(stored.get("flags") or ()),
        receipt_id=uuid.UUID(stored["receiptId"]),
        received_at=datetime.fromisoformat(stored["receivedAt"]),
        entity_ids=tuple(stored.get("entityIds") or ()),
    )


def _body_type(payload: Mapping[str, Any]) -> str | None:
    body = payload.get("body")
    if isinstance(body, Mapping):
        members = [name for name, value in body.items() if value is not None]
        if len(members) == 1:
            return str(members[0])
    return None


_RAW_COMMAND_IDS = uuid.UUID("0d5c7f63-8a2e-5b4e-9a49-6f1d3c2b7e10")


def _command_id_of(sent: Any, device_id: uuid.UUID) -> uuid.UUID:
    if isinstance(sent, str):
        try:
            return uuid.UUID(sent)
        except ValueError:
            pass
    return uuid.uuid5(_RAW_COMMAND_IDS, f"{device_id}:{canonical_bytes(sent).decode()}")


def _without_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
