"""The connector's valid samples against a real `hub serve --demo` process, as a partner would
try them: the demo's GP practice and hospital clients send them over HTTP and they are
accepted for the demo provider, with no warning."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.embedded import free_port
from tests.support.processes import HubProcess, hub_env, kill_servers, run_hub, wait_no_servers

# Starting the embedded PostgreSQL and loading the demo can take minutes on a loaded machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SAMPLES = Path(__file__).parents[2] / "connectors" / "nhs_referrals" / "samples"
FHIR_JSON = "application/fhir+json"


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "hub-data"
    try:
        yield path
    finally:
        kill_servers(path)


def _partner_token(env: dict[str, str], ods_code: str) -> str:
    result = run_hub(
        "token",
        "--role",
        "partner_client",
        "--organisation",
        ods_code,
        "--scopes",
        "referrals:read referrals:write",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _severities(body: dict[str, Any]) -> set[str]:
    """Every issue severity in the answer: an OperationOutcome, or the one a response message
    Bundle carries."""
    outcomes = (
        [body]
        if body["resourceType"] == "OperationOutcome"
        else [
            entry["resource"]
            for entry in body.get("entry", [])
            if entry["resource"]["resourceType"] == "OperationOutcome"
        ]
    )
    assert outcomes, body
    return {issue["severity"] for outcome in outcomes for issue in outcome["issue"]}


def test_the_valid_samples_pass_against_hub_serve_demo(data_dir: Path, tmp_path: Path) -> None:
    env = hub_env(HUB_DATA_DIR=str(data_dir))
    log = tmp_path / "hub.log"
    hub = HubProcess("--demo", env=env, port=free_port(), log_path=log)
    try:
        hub.wait_ready(timeout=240)  # embedded PostgreSQL, migrations and the demo load
        sent = [
            ("Y99901", "ServiceRequest", "valid_gp_referral.json"),
            ("RX9", "$process-message", "valid_hospital_discharge_bundle.json"),
        ]
        for ods_code, interaction, name in sent:
            response = httpx.post(
                f"{hub.url}/fhir/{interaction}",
                content=(SAMPLES / name).read_bytes(),
                headers={
                    "authorization": f"Bearer {_partner_token(env, ods_code)}",
                    "content-type": FHIR_JSON,
                    "accept": FHIR_JSON,
                },
                timeout=30,
            )
            assert response.status_code == 201, (name, response.text)
            assert _severities(response.json()) == {"information"}, (name, response.text)
    finally:
        hub.stop(signal.SIGINT)
    assert wait_no_servers(data_dir) == [], log.read_text()
