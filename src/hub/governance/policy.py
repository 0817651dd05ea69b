"""A contract's governance policy, as data: the thresholds its rules use and its escalation
ladder, with the defaults that apply when the contract sets none.

The escalation ladder (seed 003's "timed escalation"): a case opens at level 0, owned by its
rule's first owner (usually the coordinator). Step n names who the case goes to at level n
and how many minutes after the case *opened* that happens if the case is still not resolved:

    level 0  coordinator            (on opening)
    level 1  on-call manager        30 minutes after opening
    level 2  registered manager     60 minutes
    level 3  commissioner notified  120 minutes

Minutes count from the opening, not from the previous step, so the ladder reads as the
contract writes it ("the commissioner is told of any missed call unresolved after 2 hours").
Acknowledging a case does not stop the clock: escalation is about resolution, not attention.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hub.errors import InvalidInput

MAX_LADDER_STEPS = 8
MAX_LADDER_MINUTES = 14 * 24 * 60


class EscalationTarget(StrEnum):
    """Who a case goes to at a rung of the ladder."""

    COORDINATOR = "coordinator"
    ON_CALL_MANAGER = "on_call_manager"
    REGISTERED_MANAGER = "registered_manager"
    COMMISSIONER = "commissioner"  # a notification: the commissioner is told, the provider acts


@dataclass(frozen=True, slots=True)
class EscalationStep:
    level: int
    target: EscalationTarget
    after_minutes: int


DEFAULT_LADDER: tuple[EscalationStep, ...] = (
    EscalationStep(1, EscalationTarget.ON_CALL_MANAGER, 30),
    EscalationStep(2, EscalationTarget.REGISTERED_MANAGER, 60),
    EscalationStep(3, EscalationTarget.COMMISSIONER, 120),
)


def validate_ladder(steps: Sequence[tuple[EscalationTarget, int]]) -> tuple[EscalationStep, ...]:
    """Steps in order (level 1 first), each strictly later than the one before."""
    if len(steps) > MAX_LADDER_STEPS:
        raise InvalidInput("steps", f"at most {MAX_LADDER_STEPS} steps", code="TOO_MANY")
    ladder: list[EscalationStep] = []
    previous = -1
    for index, (target, minutes) in enumerate(steps):
        if not 0 <= minutes <= MAX_LADDER_MINUTES:
            raise InvalidInput(
                f"steps[{index}].afterMinutes",
                f"must be between 0 and {MAX_LADDER_MINUTES} minutes",
                code="OUT_OF_RANGE",
            )
        if minutes <= previous:
            raise InvalidInput(
                f"steps[{index}].afterMinutes",
                f"must be later than the step before ({previous} minutes): minutes count from "
                "the case's opening",
                code="LADDER_OUT_OF_ORDER",
            )
        previous = minutes
        ladder.append(EscalationStep(index + 1, target, minutes))
    return tuple(ladder)


def step_at(ladder: Sequence[EscalationStep], level: int) -> EscalationStep | None:
    """The step that takes a case to `level`, if the ladder has one."""
    for step in ladder:
        if step.level == level:
            return step
    return None


def next_escalation_at(
    ladder: Sequence[EscalationStep], opened_at: datetime, level: int
) -> datetime | None:
    """When a case at `level` goes up a rung, or None at the top of the ladder."""
    step = step_at(ladder, level + 1)
    return opened_at + timedelta(minutes=step.after_minutes) if step else None


@dataclass(frozen=True, slots=True)
class RuleSettings:
    """Per-contract thresholds of the exception rules. Defaults apply when a contract sets none.

    - `pain_threshold`: a pain observation scoring this or more (0-10) opens a review.
    - `low_fluid_ml`: a hydration observation recording less than this opens a review.
    - `repeat_count` cases for one person within `repeat_window_days` open a repeat-pattern
      review for the registered manager.
    - `acknowledge_within_minutes` / `resolve_within_minutes`: a case's due times.
    """

    pain_threshold: int = 7
    low_fluid_ml: int = 200
    repeat_count: int = 3
    repeat_window_days: int = 7
    acknowledge_within_minutes: int = 30
    resolve_within_minutes: int = 240

    def __post_init__(self) -> None:
        for name, value, low, high in (
            ("painThreshold", self.pain_threshold, 1, 10),
            ("lowFluidMl", self.low_fluid_ml, 1, 5000),
            ("repeatCount", self.repeat_count, 2, 100),
            ("repeatWindowDays", self.repeat_window_days, 1, 366),
            ("acknowledgeWithinMinutes", self.acknowledge_within_minutes, 1, 24 * 60),
            ("resolveWithinMinutes", self.resolve_within_minutes, 1, 30 * 24 * 60),
        ):
            if not low <= value <= high:
                raise InvalidInput(
                    f"settings.{name}", f"must be between {low} and {high}", code="OUT_OF_RANGE"
                )
        if self.resolve_within_minutes < self.acknowledge_within_minutes:
            raise InvalidInput(
                "settings.resolveWithinMinutes",
                f"must not be before the acknowledgement is due "
                f"({self.acknowledge_within_minutes} minutes)",
                code="OUT_OF_ORDER",
            )

    @property
    def repeat_window(self) -> timedelta:
        return timedelta(days=self.repeat_window_days)


DEFAULT_RULE_SETTINGS = RuleSettings()
