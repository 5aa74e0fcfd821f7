"""Our statistics against hand-computed values."""

from __future__ import annotations

import math

import pytest

from judgeflow.stats import pairwise_stats, wilson_interval


def test_wilson_matches_the_formula_for_the_published_example():
    # b = 10 of 26 decisive: p = 0.3846, z = 1.96 -> [0.2243, 0.5747] (NOVA-REFERENCE.md)
    low, high = wilson_interval(10, 26)
    assert low == pytest.approx(0.22429, abs=1e-4) and high == pytest.approx(0.57465, abs=1e-4)


def test_wilson_edges():
    assert wilson_interval(0, 0) is None
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.27753, abs=1e-4)
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and low == pytest.approx(0.72247, abs=1e-4)


def test_pairwise_verdicts():
    assert pairwise_stats(16, 10, 0, 0).verdict == "inconclusive"
    assert pairwise_stats(5, 40, 0, 0).verdict == "B better"
    assert pairwise_stats(40, 5, 0, 0).verdict == "A better"
    assert pairwise_stats(10, 10, 0, 10).verdict == "unreliable"  # 33% errors
    assert pairwise_stats(0, 0, 5, 0).verdict == "unreliable"  # no decisive item
    assert pairwise_stats(0, 0, 0, 0).verdict == "unreliable"


def test_tie_half_and_error_rates():
    s = pairwise_stats(a_wins=6, b_wins=10, ties=4, errors=1)
    assert s.tie_half_win_rate == pytest.approx((10 + 2) / 20)
    assert s.error_rate == pytest.approx(1 / 21)
    assert s.b_share_decisive == pytest.approx(10 / 16)
    assert math.isclose(s.total, 21)
