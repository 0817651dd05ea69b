"""Webhook signing and verification: the wire format, the time window's edges, rotation,
hostile headers and the replay guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import BadSignature, ReplayedDelivery, StaleTimestamp
from connectors.clock import ManualClock
from connectors.webhooks import (
    SIGNATURE_HEADER,
    InMemoryReplayGuard,
    WebhookVerifier,
    claim_once,
    parse_signature_header,
    sign,
    signature,
)

OLD = b"old-webhook-secret-0123456789abcdef-0001"
NEW = b"new-webhook-secret-0123456789abcdef-0002"
BODY = b'{"delivery_id":"dlv-1","type":"visit_event.recorded","data":{}}'
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
T = int(NOW.timestamp())

SPEC = Path(__file__).parents[2] / "connectors" / "supplier_rest" / "openapi.yaml"


def verifier(*secrets: bytes, now: datetime = NOW) -> WebhookVerifier:
    return WebhookVerifier(list(secrets), clock=ManualClock(now))


def headers(value: str) -> dict[str, str]:
    return {SIGNATURE_HEADER: value}


def test_published_test_vector() -> None:
    """The vector in openapi.yaml, checked independently with `openssl dgst -sha256 -hmac`."""
    body = b'{"delivery_id":"dlv-0001","type":"visit_event.recorded"}'
    secret = b"reference-webhook-secret-0123456789abcdef"
    expected = "d846a4a51f1adc9cc288299ab72ff2b8b4fa7abd7ef81cdbae7eff8ebdafc588"
    assert sign(body, secret, timestamp=1795421040) == f"t=1795421040,v1={expected}"
    assert expected in SPEC.read_text()


def test_good_signature_is_accepted_and_returns_the_body_and_time() -> None:
    signed = verifier(NEW).verify(headers(sign(BODY, NEW, timestamp=T)), BODY)
    assert signed.body == BODY
    assert signed.signed_at == NOW


def test_header_name_is_case_insensitive() -> None:
    value = sign(BODY, NEW, timestamp=T)
    assert verifier(NEW).verify({"care-hub-signature": value}, BODY).body == BODY


@pytest.mark.parametrize(
    "body",
    [
        BODY.replace(b"dlv-1", b"dlv-2"),  # another delivery id
        BODY + b" ",  # re-serialised with different whitespace
        BODY[:-1],  # cut short
    ],
)
def test_any_change_to_the_body_breaks_the_signature(body: bytes) -> None:
    with pytest.raises(BadSignature, match="no signature matches"):
        verifier(NEW).verify(headers(sign(BODY, NEW, timestamp=T)), body)


def test_moving_the_timestamp_breaks_the_signature() -> None:
    value = sign(BODY, NEW, timestamp=T).replace(f"t={T}", f"t={T + 1}")
    with pytest.raises(BadSignature):
        verifier(NEW, now=NOW).verify(headers(value), BODY)


def test_missing_header_is_a_bad_signature() -> None:
    with pytest.raises(BadSignature, match="missing"):
        verifier(NEW).verify({"Content-Type": "application/json"}, BODY)


@pytest.mark.parametrize(
    ("skew", "accepted"),
    [(0, True), (-300, True), (300, True), (-301, False), (301, False), (-86_400, False)],
)
def test_timestamp_window_edges(skew: int, accepted: bool) -> None:
    """Signed `skew` seconds from the receiver's clock: ±300 s inclusive is the window."""
    value = sign(BODY, NEW, timestamp=T + skew)
    check = verifier(NEW, now=NOW)
    if accepted:
        assert check.verify(headers(value), BODY).signed_at == NOW + timedelta(seconds=skew)
    else:
        with pytest.raises(StaleTimestamp, match="window is ±300 s"):
            check.verify(headers(value), BODY)


def test_a_forged_request_with_an_old_timestamp_is_told_only_bad_signature() -> None:
    """Signature first: an unauthenticated timestamp must not choose the error."""
    value = f"t={T - 10_000},v1={'0' * 64}"
    with pytest.raises(BadSignature):
        verifier(NEW).verify(headers(value), BODY)


def test_rotation_sender_signs_with_both_receiver_knows_either() -> None:
    value = sign(BODY, [NEW, OLD], timestamp=T)
    assert value.count("v1=") == 2
    assert verifier(OLD).verify(headers(value), BODY).body == BODY
    assert verifier(NEW).verify(headers(value), BODY).body == BODY


def test_rotation_receiver_holds_both_sender_still_on_old() -> None:
    value = sign(BODY, OLD, timestamp=T)
    assert verifier(NEW, OLD).verify(headers(value), BODY).body == BODY


def test_rotation_retired_secret_is_refused() -> None:
    value = sign(BODY, OLD, timestamp=T)
    with pytest.raises(BadSignature):
        verifier(NEW).verify(headers(value), BODY)


def good() -> str:
    return signature(NEW, T, BODY)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "missing"),
        ("   ", "missing"),
        ("garbage", "no timestamp"),
        ("t=", "not Unix seconds"),
        (f"v1={'a' * 64}", "no timestamp"),
        (f"t=abc,v1={'a' * 64}", "not Unix seconds"),
        (f"t=-5,v1={'a' * 64}", "not Unix seconds"),
        (f"t=99999999999,v1={'a' * 64}", "not Unix seconds"),  # would overflow datetime
        (f"t={T},t={T + 1},v1={'a' * 64}", "more than one timestamp"),
        (f"t={T}", "no v1 signature"),
        (f"t={T},v1=xyz", "no v1 signature"),
        (f"t={T},v1={'a' * 63}", "no v1 signature"),
        ("t=1,v1=é", "not ASCII"),
        ("t=1," + "x" * 3000, "longer than"),
        (f"t={T}," + ",".join(f"v1={i:064x}" for i in range(9)), "more than 8 signatures"),
    ],
)
def test_garbage_headers_are_refused_with_a_reason(value: str, message: str) -> None:
    with pytest.raises(BadSignature, match=message):
        verifier(NEW).verify(headers(value), BODY)


def test_upper_case_hex_is_not_a_signature() -> None:
    with pytest.raises(BadSignature, match="no v1 signature"):
        verifier(NEW).verify(headers(f"t={T},v1={good().upper()}"), BODY)


def test_unknown_entries_and_spaces_are_tolerated() -> None:
    value = f" t = {T} , v0=legacy, v2={'z' * 10}, v1={'0' * 64}, v1={good()} "
    assert verifier(NEW).verify(headers(value), BODY).body == BODY
    assert parse_signature_header(value).signatures == ("0" * 64, good())


def test_the_header_sent_twice_is_refused() -> None:
    value = sign(BODY, NEW, timestamp=T)
    with pytest.raises(BadSignature, match="more than once"):
        verifier(NEW).verify({"Care-Hub-Signature": value, "care-hub-signature": value}, BODY)


def test_secrets_must_be_long_enough() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        WebhookVerifier([b"short"])
    with pytest.raises(ValueError, match="at least 32 bytes"):
        sign(BODY, b"short", timestamp=T)
    with pytest.raises(ValueError, match="non-empty"):
        WebhookVerifier([])


async def test_replay_guard_claims_each_delivery_once_per_source() -> None:
    guard = InMemoryReplayGuard()
    assert await guard.claim("supplier:a", "dlv-1", received_at=NOW)
    assert not await guard.claim("supplier:a", "dlv-1", received_at=NOW + timedelta(seconds=5))
    assert await guard.claim("supplier:b", "dlv-1", received_at=NOW)  # another sender's id
    assert len(guard) == 2


async def test_replay_guard_forgets_claims_after_the_retention() -> None:
    guard = InMemoryReplayGuard(retention=timedelta(hours=1))
    assert await guard.claim("supplier:a", "dlv-1", received_at=NOW)
    later = NOW + timedelta(hours=1, seconds=1)
    assert await guard.claim("supplier:a", "dlv-2", received_at=later)
    assert len(guard) == 1  # dlv-1 was pruned
    with pytest.raises(ValueError, match="twice the signature window"):
        InMemoryReplayGuard(retention=timedelta(minutes=5))


async def test_claim_once_raises_on_a_replay() -> None:
    guard = InMemoryReplayGuard()
    await claim_once(guard, "supplier:a", "dlv-1", received_at=NOW)
    with pytest.raises(ReplayedDelivery) as caught:
        await claim_once(guard, "supplier:a", "dlv-1", received_at=NOW)
    assert caught.value.delivery_id == "dlv-1"
    assert caught.value.code == "WEBHOOK_REPLAYED"
