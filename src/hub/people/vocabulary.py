"""Words about a person's care that other domains use too."""

from __future__ import annotations

from enum import StrEnum


class MedicationSupport(StrEnum):
    """How far carers go with medicines, from nothing to administering them."""

    NONE = "none"
    PROMPT = "prompt"
    ASSIST = "assist"
    ADMINISTER = "administer"
