"""Loading the connector's recorded sample payloads for tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import connectors.nhs_referrals

SAMPLES = Path(connectors.nhs_referrals.__file__).parent / "samples"


def load(name: str) -> dict[str, Any]:
    """A fresh copy of a sample payload, safe for a test to modify."""
    data: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return data
