"""Statistics judgeflow computes beside the service's own numbers (always labelled as ours)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Z_95 = 1.959963984540054
# Above this share of inference errors the verdict is "unreliable", whatever the interval says.
UNRELIABLE_ERROR_RATE = 0.2

# What a count counts: an item (one line of the dataset), or one of the service's judgments
# (judgeflow.nova_output.SERVICE_COUNT_UNIT: the pairwise judge counts each item in both orders).
ITEM = "item"

B_BETTER = "B better"
A_BETTER = "A better"
INCONCLUSIVE = "inconclusive"
UNRELIABLE = "unreliable"


def wilson_interval(successes: float, trials: float, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval for a binomial proportion; None when there are no trials."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # Clamp: the interval always contains p (floating point can put a bound a hair past it).
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


@dataclass(frozen=True)
class PairwiseStats:
    a_wins: int
    b_wins: int
    ties: int
    errors: int
    total: int
    b_share_decisive: float | None
    wilson_low: float | None
    wilson_high: float | None
    tie_half_win_rate: float | None
    error_rate: float
    verdict: str
    verdict_reason: str
    unit: str = ITEM

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def pairwise_stats(a_wins: int, b_wins: int, ties: int, errors: int, *, unit: str = ITEM) -> PairwiseStats:
    """Our numbers for B vs A, over counts of `unit`. Verdict rule (README "Verdict"):

    unreliable if error rate > 20% or no decisive verdicts; else B better if the Wilson 95%
    interval for B's share of decisive verdicts lies above 0.5, A better if below, else
    inconclusive.
    """
    total = a_wins + b_wins + ties + errors
    decisive = a_wins + b_wins
    judged = decisive + ties
    interval = wilson_interval(b_wins, decisive)
    share = b_wins / decisive if decisive else None
    tie_half = (b_wins + 0.5 * ties) / judged if judged else None
    error_rate = errors / total if total else 1.0
    over = f"over {decisive} decisive {unit}s"
    if total == 0:
        verdict, reason = UNRELIABLE, f"nothing was judged (0 {unit}s)"
    elif error_rate > UNRELIABLE_ERROR_RATE:
        verdict, reason = UNRELIABLE, (f"{error_rate:.0%} of {unit}s were inference errors "
                                       f"(limit {UNRELIABLE_ERROR_RATE:.0%})")
    elif interval is None:
        verdict, reason = UNRELIABLE, "no decisive verdicts (all ties or errors)"
    elif interval[0] > 0.5:
        verdict, reason = B_BETTER, f"Wilson 95% interval [{interval[0]:.3f}, {interval[1]:.3f}] {over} is above 0.5"
    elif interval[1] < 0.5:
        verdict, reason = A_BETTER, f"Wilson 95% interval [{interval[0]:.3f}, {interval[1]:.3f}] {over} is below 0.5"
    else:
        verdict, reason = INCONCLUSIVE, (f"Wilson 95% interval [{interval[0]:.3f}, {interval[1]:.3f}] {over} "
                                         "contains 0.5")
    return PairwiseStats(
        a_wins=a_wins, b_wins=b_wins, ties=ties, errors=errors, total=total,
        b_share_decisive=share,
        wilson_low=interval[0] if interval else None,
        wilson_high=interval[1] if interval else None,
        tie_half_win_rate=tie_half, error_rate=error_rate, verdict=verdict, verdict_reason=reason, unit=unit,
    )
