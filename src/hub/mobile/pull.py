"""The rota pull: a carer's visits for the days around today, and what changed since the
phone last asked.

**Window.** Europe/London dates from yesterday to seven days ahead (nine local days), as UTC
instants from local midnight to local midnight, so the clock changes need no special case.

**Cursor.** Opaque to the app, issued by the server, never a device time. It records the
position in the event log up to which the phone's copy is complete (`mark`), the window it
holds, the contracts its visits are on, whom it was issued to (carer and device) and when. It
is signed with a key derived from the hub's field-encryption key, so a phone cannot forge or
edit one, and a cursor copied to another device or carer is not honoured.

**Safe against out-of-order commits.** The mark is a position in the event log in the order
that never passes a late commit: (writing transaction, event id), `hub.events.feed.FeedPosition`.
It is "now" (`current_position`: after every transaction older than any still running), read
before the visits are, so everything at or before it is in what the pull returns. Events past
it — including those of a transaction that took its id early and commits late, even with a
lower event id — are read by the next pull through `hub.events.feed.settled_events_since`.
Overlap is harmless (the app upserts visits and people by id); a gap is not, and this order
avoids one.

**Incremental pulls** return the carer's visits that have `visit.*` events after the mark (a
check-in synced from this very phone included: F22, the app matches it by visit id and fact
id), visits that entered the window as the days moved on, and tombstones: visits cancelled,
unassigned from this carer, or moved or aged out of the window. People come with their visits,
plus anyone with `person.*` events after the mark and anyone whose access window (where the
key-safe code is shown) is open now.

**Reset.** No cursor, a cursor older than `CURSOR_RETENTION`, issued to another device or
carer, tampered with, or more than `MAX_CHANGE_EVENTS` events behind: the answer is
`reset: true` with the whole window. The app replaces its rota with it; it never drops its
outbox for a reset, because uploads do not depend on the pull cursor (F21).

**Pages.** At most `MAX_LIMIT` visits and tombstones a page, tombstones first, then visits by
planned start. While `has_more`, the cursor continues the same sequence (same mark and window);
a sequence's `reset` holds for all its pages, and the app prunes only after the last one.

**Device.** Reads name the device (`own_active_device`): it must be registered to the caller
and not revoked, so a lost phone stops receiving the rota and its key-safe codes.

Key-safe codes and access details are not decided here: they are fields of `Person`, opened by
the people domain's rule (only inside the window of one of the carer's visits).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.config import Settings
from hub.errors import Forbidden, InvalidInput
from hub.events.feed import FeedPosition, current_position, settled_events_since
from hub.events.models import Event
from hub.kit.time import LONDON
from hub.mobile import devices
from hub.mobile.models import DeviceStatus
from hub.people.sealing import field_key
from hub.people.service import ACCESS_WINDOW_MARGIN
from hub.tenancy import AccessScope
from hub.visits import repository as visits
from hub.visits.models import VisitFact
from hub.visits.repository import VisitRecord

WINDOW_DAYS_BEFORE = 1
WINDOW_DAYS_AFTER = 7
# Older cursors answer with a reset: the pull never scans more than a month of events, and the
# event log may be archived by month.
CURSOR_RETENTION = timedelta(days=30)
DEFAULT_LIMIT = 100
MAX_LIMIT = 200
# A phone this far behind gets the window afresh: cheaper than replaying the changes.
MAX_CHANGE_EVENTS = 10_000
# People are few; past this many person events the pull sends every person of the window.
MAX_PERSON_EVENTS = 5_000
CURSOR_VERSION = 1
# Far above any real cursor (a carer's visits span a handful of contracts); longer is refused.
MAX_CURSOR_LENGTH = 16_384

_EVENT_PAGE = 500
_VISIT_PAGE = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KEY_LABEL = b"care-hub/mobile/pull-cursor/v1"


class DeviceRevoked(Forbidden):
    """The office revoked the device: it may not read (what it uploads is still kept)."""

    code = "DEVICE_REVOKED"


class ResetReason(StrEnum):
    """Why a pull answers with the whole window."""

    FIRST_PULL = "first_pull"  # no cursor
    EXPIRED = "expired"  # older than CURSOR_RETENTION
    OTHER_DEVICE = "other_device"  # issued to another device or another carer
    INVALID = "invalid"  # unreadable, tampered with, or of an older format
    TOO_MANY_CHANGES = "too_many_changes"  # more than MAX_CHANGE_EVENTS behind


class TombstoneReason(StrEnum):
    """Why the phone must drop a visit."""

    CANCELLED = "cancelled"
    UNASSIGNED = "unassigned"
    OUT_OF_WINDOW = "out_of_window"


@dataclass(frozen=True, slots=True)
class PullWindow:
    """Europe/London dates `first_day`..`last_day` (inclusive), as UTC instants."""

    first_day: date

    @classmethod
    def around(cls, now: datetime) -> PullWindow:
        return cls(now.astimezone(LONDON).date() - timedelta(days=WINDOW_DAYS_BEFORE))

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=WINDOW_DAYS_BEFORE + WINDOW_DAYS_AFTER)

    @property
    def starts(self) -> datetime:
        return _london_midnight(self.first_day)

    @property
    def ends(self) -> datetime:
        """Exclusive: local midnight after the last day."""
        return _london_midnight(self.last_day + timedelta(days=1))

    def holds(self, instant: datetime) -> bool:
        return self.starts <= instant < self.ends


def _london_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=LONDON).astimezone(UTC)


# --- the cursor -----------------------------------------------------------------------------

# (rank, planned start in µs since the epoch, visit id): tombstones rank 0, visits rank 1.
ItemKey = tuple[int, int, str]


@dataclass(frozen=True, slots=True)
class CursorState:
    """What a cursor says. `after` is set while a sequence of pages is under way; then
    `base`/`base_first_day` are the mark and window the sequence started from (None for a
    snapshot) and `reset_reason` is the sequence's."""

    staff_id: uuid.UUID
    device_id: str
    issued_at: datetime
    mark: FeedPosition
    first_day: date
    contract_ids: tuple[uuid.UUID, ...] = ()
    after: ItemKey | None = None
    base: FeedPosition | None = None
    base_first_day: date | None = None
    reset_reason: ResetReason | None = None

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "v": CURSOR_VERSION,
            "s": str(self.staff_id),
            "d": self.device_id,
            "t": int(self.issued_at.timestamp()),
            "m": [self.mark.txid, self.mark.event_id],
            "w": self.first_day.isoformat(),
            "c": [str(contract) for contract in self.contract_ids],
        }
        if self.after is not None:
            document["a"] = list(self.after)
            document["b"] = [self.base.txid, self.base.event_id] if self.base else None
            document["bw"] = self.base_first_day.isoformat() if self.base_first_day else None
            document["r"] = self.reset_reason.value if self.reset_reason else None
        return document

    @classmethod
    def from_json(cls, document: Any) -> CursorState:
        """Raises ValueError/KeyError/TypeError for anything that is not a cursor we wrote."""
        if not isinstance(document, dict) or document.get("v") != CURSOR_VERSION:
            raise ValueError("not a current cursor")
        after = document.get("a")
        base = document.get("b") if after is not None else None
        base_window = document.get("bw")
        reason = document.get("r")
        return cls(
            staff_id=uuid.UUID(document["s"]),
            device_id=str(document["d"]),
            issued_at=datetime.fromtimestamp(int(document["t"]), UTC),
            mark=FeedPosition(int(document["m"][0]), int(document["m"][1])),
            first_day=date.fromisoformat(document["w"]),
            contract_ids=tuple(uuid.UUID(value) for value in document["c"]),
            after=(int(after[0]), int(after[1]), str(after[2])) if after is not None else None,
            base=FeedPosition(int(base[0]), int(base[1])) if base is not None else None,
            base_first_day=date.fromisoformat(base_window) if base_window else None,
            reset_reason=ResetReason(reason) if reason else None,
        )


class CursorCodec:
    """Signs and checks cursors: `base64url(json) "." base64url(HMAC-SHA256[:16])`."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the cursor key must be at least 32 bytes")
        self._key = key

    def encode(self, state: CursorState) -> str:
        payload = json.dumps(state.as_json(), separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, cursor: str) -> CursorState | None:
        """The state, or None if the cursor is malformed, tampered with or not ours."""
        body, dot, signature = cursor.partition(".")
        if not dot or len(cursor) > MAX_CURSOR_LENGTH:
            return None
        try:
            payload = _unb64(body)
            if not hmac.compare_digest(_unb64(signature), self._mac(payload)):
                return None
            return CursorState.from_json(json.loads(payload))
        except (ValueError, KeyError, TypeError, IndexError, binascii.Error):
            return None

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_codecs: dict[tuple[str | None, str, bool], CursorCodec] = {}
_codecs_lock = threading.Lock()


def cursor_codec(settings: Settings) -> CursorCodec:
    """The process's codec: its key is HMAC(field-encryption key, a fixed label), so it needs
    no setting of its own and changes when that key is rotated (cursors then reset)."""
    where = (
        settings.field_encryption_key,
        str(Path(settings.data_dir).resolve()),
        settings.is_production,
    )
    with _codecs_lock:
        codec = _codecs.get(where)
        if codec is None:
            key = hmac.new(field_key(settings), _KEY_LABEL, hashlib.sha256).digest()
            codec = _codecs[where] = CursorCodec(key)
    return codec


# --- the pull -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tombstone:
    visit_id: uuid.UUID
    reason: TombstoneReason


@dataclass(frozen=True, slots=True)
class PullPage:
    """One page of a pull: what to upsert, what to drop, whom to show, and the next cursor."""

    visits: tuple[VisitRecord, ...]
    tombstones: tuple[Tombstone, ...]
    person_ids: tuple[uuid.UUID, ...]
    # Each visit's facts as the server holds them, in the order they were recorded.
    facts: Mapping[uuid.UUID, tuple[VisitFact, ...]]
    window: PullWindow
    cursor: str
    has_more: bool
    reset: bool
    reset_reason: ResetReason | None


@dataclass(frozen=True, slots=True)
class _Sequence:
    """The sequence of pages a pull belongs to."""

    mark: FeedPosition
    window: PullWindow
    issued_at: datetime
    contract_ids: tuple[uuid.UUID, ...]
    base: FeedPosition | None  # None: a snapshot
    base_window: PullWindow | None
    after: ItemKey | None
    reset_reason: ResetReason | None


async def pull(
    session: AsyncSession,
    *,
    scope: AccessScope,
    device_id: str,
    cursor: str | None,
    limit: int,
    now: datetime,
    codec: CursorCodec,
) -> PullPage:
    """One page of the carer's rota for `device_id` (see the module docstring)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput("limit", f"must be between 1 and {MAX_LIMIT}", code="PAGE_SIZE")
    if not scope.is_carer or scope.staff_id is None:
        raise Forbidden("the rota pull is for carers whose account is linked to a staff record")
    staff_id = scope.staff_id
    sequence = await _sequence(session, codec, cursor, staff_id, device_id, now)
    records = await _carer_visits(session, scope, staff_id, sequence.window)
    current = {found.visit.id: found for found in records}
    extra_people: set[uuid.UUID] = set()

    tombstones: dict[uuid.UUID, TombstoneReason] = {}
    wanted = [found for found in records if found.visit.cancelled_at is None]
    if sequence.base is not None:
        contracts = {*sequence.contract_ids, *(found.contract_id for found in records)}
        changes = await _visit_changes(session, sequence.base, sequence.mark, contracts, staff_id)
        if changes is None:
            # Too far behind: the window afresh, from its first page, costs the phone less.
            sequence = replace(
                sequence,
                base=None,
                base_window=None,
                after=None,
                reset_reason=ResetReason.TOO_MANY_CHANGES,
            )
        else:
            changed_ids, unassigned = changes
            tombstones, wanted = await _classify(
                session, scope, sequence, current, changed_ids, unassigned, staff_id
            )
            if sequence.after is None:
                extra_people = await _people_to_refresh(session, sequence, records, now)
    page = _page(
        sequence, records, wanted, tombstones, extra_people, limit, codec, staff_id, device_id
    )
    return replace(page, facts=await facts_of(session, scope, page.visits))


async def own_active_device(
    session: AsyncSession, scope: AccessScope, device_id: uuid.UUID
) -> None:
    """The caller's registered device, not revoked: a lost phone reads nothing more (key-safe
    codes included). DeviceNotRegistered for an unknown device or another carer's."""
    device = await devices.own_device(session, scope, device_id)
    if device.status is DeviceStatus.REVOKED:
        raise DeviceRevoked(
            "this device was revoked by the office and may not read the rota; what it uploads "
            "is kept for the office to review"
        )


async def facts_of(
    session: AsyncSession, scope: AccessScope, records: Sequence[VisitRecord]
) -> dict[uuid.UUID, tuple[VisitFact, ...]]:
    """The facts of these visits, by visit: what the app matches its own uploads against."""
    grouped: dict[uuid.UUID, list[VisitFact]] = {found.visit.id: [] for found in records}
    if grouped:
        for fact in await visits.facts_of_visits(session, scope, list(grouped)):
            grouped[fact.visit_id].append(fact)
    return {visit_id: tuple(facts) for visit_id, facts in grouped.items()}


async def _sequence(
    session: AsyncSession,
    codec: CursorCodec,
    cursor: str | None,
    staff_id: uuid.UUID,
    device_id: str,
    now: datetime,
) -> _Sequence:
    """Continue the cursor's sequence, start an incremental one after it, or start a snapshot
    (with the reason the cursor cannot be used)."""
    reason: ResetReason | None = None
    state: CursorState | None = None
    if cursor is None or not cursor.strip():
        reason = ResetReason.FIRST_PULL
    else:
        state = codec.decode(cursor.strip())
        if state is None:
            reason = ResetReason.INVALID
        elif state.staff_id != staff_id or state.device_id != device_id:
            reason = ResetReason.OTHER_DEVICE
        elif now - state.issued_at > CURSOR_RETENTION:
            reason = ResetReason.EXPIRED
    if state is not None and reason is None and state.after is not None:
        return _Sequence(
            mark=state.mark,
            window=PullWindow(state.first_day),
            issued_at=state.issued_at,
            contract_ids=state.contract_ids,
            base=state.base,
            base_window=PullWindow(state.base_first_day) if state.base_first_day else None,
            after=state.after,
            reset_reason=state.reset_reason,
        )
    # A new sequence: the mark is read before any visit, so the visits read next reflect it.
    mark = await current_position(session)
    window = PullWindow.around(now)
    if state is None or reason is not None:
        return _Sequence(mark, window, now, (), None, None, None, reason)
    return _Sequence(
        mark=mark,
        window=window,
        issued_at=now,
        contract_ids=state.contract_ids,
        base=state.mark,
        base_window=PullWindow(state.first_day),
        after=None,
        reset_reason=None,
    )


async def _carer_visits(
    session: AsyncSession, scope: AccessScope, staff_id: uuid.UUID, window: PullWindow
) -> list[VisitRecord]:
    """Every visit assigned to the carer starting in the window (cancelled ones included),
    by planned start: tenancy applies (a carer sees only the visits assigned to them)."""
    return await _carer_visits_between(session, scope, staff_id, window.starts, window.ends)


async def _carer_visits_between(
    session: AsyncSession,
    scope: AccessScope,
    staff_id: uuid.UUID,
    starts_from: datetime,
    starts_before: datetime,
) -> list[VisitRecord]:
    found: list[VisitRecord] = []
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        page = await visits.list_page(
            session,
            scope,
            limit=_VISIT_PAGE,
            starts_from=starts_from,
            starts_before=starts_before,
            now=starts_from,  # judges status filters only, and none is given
            after=after,
            carer_id=staff_id,
        )
        found.extend(page)
        if len(page) < _VISIT_PAGE:
            return found
        after = (page[-1].visit.planned_start, page[-1].visit.id)


async def _visit_changes(
    session: AsyncSession,
    base: FeedPosition,
    mark: FeedPosition,
    contract_ids: Iterable[uuid.UUID],
    staff_id: uuid.UUID,
) -> tuple[set[uuid.UUID], set[uuid.UUID]] | None:
    """(visits with events in (base, mark], visits unassigned from the carer there) on the
    given contracts; None when there are more than MAX_CHANGE_EVENTS such events."""
    contracts = sorted(contract_ids)
    changed: set[uuid.UUID] = set()
    unassigned: set[uuid.UUID] = set()
    if not contracts:
        return changed, unassigned
    me = str(staff_id)
    seen = 0
    async for event in _events(session, base, mark, ("visit.",), contracts):
        seen += 1
        if seen > MAX_CHANGE_EVENTS:
            return None
        if event.subject_type != "visit":
            continue
        changed.add(event.subject_id)
        if event.type == "visit.assigned":
            before = {str(value) for value in event.payload.get("previousStaffIds") or ()}
            after = {str(value) for value in event.payload.get("staffIds") or ()}
            # Any removal counts: whether the visit is still the carer's is read from the
            # visits themselves, never from the order of these events.
            if me in before and me not in after:
                unassigned.add(event.subject_id)
    return changed, unassigned


async def _events(
    session: AsyncSession,
    base: FeedPosition,
    mark: FeedPosition,
    prefixes: Sequence[str],
    contract_ids: Sequence[uuid.UUID] | None,
) -> AsyncIterator[Event]:
    """Settled events past `base` up to `mark`, in (transaction, id) order, a page at a time."""
    after = base
    while after < mark:
        page = await settled_events_since(
            session, after, type_prefixes=prefixes, contract_ids=contract_ids, limit=_EVENT_PAGE
        )
        for event in page:
            if FeedPosition.after(event) > mark:
                return
            yield event
        if len(page) < _EVENT_PAGE:
            return
        after = FeedPosition.after(page[-1])


async def _classify(
    session: AsyncSession,
    scope: AccessScope,
    sequence: _Sequence,
    current: dict[uuid.UUID, VisitRecord],
    changed: set[uuid.UUID],
    unassigned: set[uuid.UUID],
    staff_id: uuid.UUID,
) -> tuple[dict[uuid.UUID, TombstoneReason], list[VisitRecord]]:
    """What an incremental pull sends: changed visits still the carer's (or tombstones), plus
    the visits the moving window brought in or aged out."""
    tombstones: dict[uuid.UUID, TombstoneReason] = {}
    wanted: dict[uuid.UUID, VisitRecord] = {}
    old = sequence.base_window
    for found in current.values():
        visit = found.visit
        entered = old is not None and not old.holds(visit.planned_start)
        if visit.cancelled_at is not None:
            # A visit the phone never held (it just entered the window) needs no tombstone.
            if visit.id in changed:
                tombstones[visit.id] = TombstoneReason.CANCELLED
        elif visit.id in changed or entered:
            wanted[visit.id] = found
    elsewhere = [visit_id for visit_id in changed if visit_id not in current]
    still_mine = {
        found.visit.id: found for found in await visits.get_many(session, scope, elsewhere)
    }
    for visit_id in elsewhere:
        moved = still_mine.get(visit_id)
        if moved is not None:
            if old is None or old.holds(moved.visit.planned_start):
                tombstones[visit_id] = TombstoneReason.OUT_OF_WINDOW
        elif visit_id in unassigned:
            tombstones[visit_id] = TombstoneReason.UNASSIGNED
    if old is not None and old.first_day != sequence.window.first_day:
        for found in await _carer_visits_between(session, scope, staff_id, old.starts, old.ends):
            if not sequence.window.holds(found.visit.planned_start):
                tombstones.setdefault(found.visit.id, TombstoneReason.OUT_OF_WINDOW)
    return tombstones, list(wanted.values())


async def _people_to_refresh(
    session: AsyncSession, sequence: _Sequence, records: Sequence[VisitRecord], now: datetime
) -> set[uuid.UUID]:
    """People of the window with `person.*` events in (base, mark] (all of them past
    MAX_PERSON_EVENTS), and those whose access details are readable now: the key-safe code
    depends on the time, not on an event, so a pull inside the window always carries it."""
    assert sequence.base is not None
    live = [found for found in records if found.visit.cancelled_at is None]
    mine = {found.person_id for found in live}
    refresh = {
        found.person_id
        for found in live
        if found.visit.planned_start - ACCESS_WINDOW_MARGIN
        <= now
        <= found.visit.planned_end + ACCESS_WINDOW_MARGIN
    }
    seen = 0
    async for event in _events(session, sequence.base, sequence.mark, ("person.",), None):
        seen += 1
        if seen > MAX_PERSON_EVENTS:
            return mine
        if event.person_id in mine:
            refresh.add(event.person_id)
    return refresh


def _key(found: VisitRecord) -> ItemKey:
    micros = (found.visit.planned_start - _EPOCH) // timedelta(microseconds=1)
    return (1, micros, str(found.visit.id))


def _tombstone_key(visit_id: uuid.UUID) -> ItemKey:
    return (0, 0, str(visit_id))


def _page(
    sequence: _Sequence,
    records: Sequence[VisitRecord],
    wanted: Sequence[VisitRecord],
    tombstones: dict[uuid.UUID, TombstoneReason],
    extra_people: set[uuid.UUID],
    limit: int,
    codec: CursorCodec,
    staff_id: uuid.UUID,
    device_id: str,
) -> PullPage:
    items: list[tuple[ItemKey, VisitRecord | Tombstone]] = [
        (_tombstone_key(visit_id), Tombstone(visit_id, reason))
        for visit_id, reason in tombstones.items()
    ]
    items.extend((_key(found), found) for found in wanted)
    items.sort(key=lambda item: item[0])
    if sequence.after is not None:
        after = sequence.after
        items = [item for item in items if item[0] > after]
    page, has_more = items[:limit], len(items) > limit
    page_visits = tuple(item for _, item in page if isinstance(item, VisitRecord))
    page_tombstones = tuple(item for _, item in page if isinstance(item, Tombstone))
    people = list(dict.fromkeys(found.person_id for found in page_visits))
    people.extend(sorted(extra_people - set(people)))
    if has_more:
        state = CursorState(
            staff_id=staff_id,
            device_id=device_id,
            issued_at=sequence.issued_at,
            mark=sequence.mark,
            first_day=sequence.window.first_day,
            contract_ids=sequence.contract_ids,
            after=page[-1][0],
            base=sequence.base,
            base_first_day=sequence.base_window.first_day if sequence.base_window else None,
            reset_reason=sequence.reset_reason,
        )
    else:
        state = CursorState(
            staff_id=staff_id,
            device_id=device_id,
            issued_at=sequence.issued_at,
            mark=sequence.mark,
            first_day=sequence.window.first_day,
            # Events of these contracts are what the next pull reads.
            contract_ids=tuple(sorted({found.contract_id for found in records})),
        )
    is_snapshot = sequence.base is None
    return PullPage(
        visits=page_visits,
        tombstones=page_tombstones,
        person_ids=tuple(people),
        facts={},
        window=sequence.window,
        cursor=codec.encode(state),
        has_more=has_more,
        reset=is_snapshot,
        reset_reason=sequence.reset_reason if is_snapshot else None,
    )
