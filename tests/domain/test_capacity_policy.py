"""The capacity policy on plain values: no moto, no DynamoDB. GIVEN what the ledger and the
quota reads would say, THEN the decision."""

from __future__ import annotations

import random

from judgeflow import capacity_policy as policy
from judgeflow.stages.capacity import CapacityState

BUDGET = policy.WaitBudget(region="us-east-1", attempt=0, waited_seconds=0, initial=60, maximum=180, total=3600)


def waiter(holder: str, at_ms: int, types=("ml.g5.12xlarge",), instances=1, woken=False, token="t") -> policy.Waiter:
    return policy.Waiter(holder=holder, run_id=f"jf-{holder}", enqueued_at_ms=at_ms, instance_types=tuple(types),
                         instances=instances, task_token=token, woken=woken)


def test_use_counts_reservations_and_running_jobs_no_reservation_accounts_for():
    reservations = [{"job_name": "jf-a-judge-0", "instances": 1}, {"job_name": "jf-b-judge-0", "instances": 2}]
    running = {"jf-a-judge-0": 1, "other-team-job": 4}
    assert policy.instances_in_use(reservations, running) == 1 + 2 + 4


def test_a_slot_fits_only_after_what_is_used_and_promised_to_runs_ahead():
    assert policy.fits(used=1, ahead=0, instances=1, limit=2)
    assert not policy.fits(used=1, ahead=1, instances=1, limit=2)
    assert not policy.fits(used=0, ahead=0, instances=2, limit=1)


def test_runs_ahead_are_those_queued_earlier_that_accept_the_type():
    line = [waiter("a", 100), waiter("b", 200, types=("ml.g5.24xlarge",)), waiter("c", 300, instances=2),
            waiter("d", 300), waiter("e", 400)]
    # Same millisecond: the holder orders them (c before d).
    assert policy.instances_ahead(line, place=(300, "d"), instance_type="ml.g5.12xlarge") == 1 + 2
    assert policy.instances_ahead(line, place=(50, "z"), instance_type="ml.g5.12xlarge") == 0


def test_a_freed_slot_wakes_the_first_in_line_that_takes_the_type_and_is_not_already_woken():
    line = [waiter("c", 300), waiter("a", 100, woken=True), waiter("b", 200, types=("ml.g5.24xlarge",)),
            waiter("d", 400)]
    assert [w.holder for w in policy.wake_candidates(line, "ml.g5.12xlarge")] == ["c", "d"]


def test_backoff_grows_with_jitter_and_is_capped():
    rng = random.Random(1)
    waits = [policy.next_wait_seconds(n, initial=60, maximum=900, rng=rng) for n in range(8)]
    assert 48 <= waits[0] <= 72 and 96 <= waits[1] <= 144
    assert max(waits) <= 900 and waits[-1] >= 720


def test_runs_far_back_in_line_sleep_longer_and_the_budget_ends_the_wait():
    near = policy.wait_decision("full", BUDGET, quotas={}, hint_type="ml.g5.12xlarge", rng=random.Random(0))
    far = policy.wait_decision("full", BUDGET, quotas={}, hint_type="ml.g5.12xlarge", rng=random.Random(0),
                               far_back=True)
    assert 48 <= near.wait_seconds <= 72 and 2880 <= far.wait_seconds <= 3600
    spent = policy.WaitBudget(**{**BUDGET.__dict__, "waited_seconds": 3590})
    given_up = policy.wait_decision("full", spent, quotas={}, hint_type="ml.g5.12xlarge")
    assert given_up.exhausted and "Gave up waiting for SageMaker capacity after 3590 s" in given_up.reason
    assert "'ml.g5.12xlarge for training job usage'" in given_up.reason


def test_the_reason_says_whether_quotas_are_full_or_promised_to_runs_ahead():
    seen = {"ml.g5.12xlarge": {"quota_name": policy.quota_name("ml.g5.12xlarge"), "quota": 2, "in_use": 2}}
    assert policy.full_situation(seen, 1).startswith("All allowed quotas are in use ('ml.g5.12xlarge for")
    seen["ml.g5.12xlarge"] |= {"in_use": 1, "queued_ahead": 1}
    assert policy.full_situation(seen, 1) == ("Free slots go to runs that waited longer ('ml.g5.12xlarge for "
                                              "training job usage' = 2, in use 1, 1 wanted by runs ahead in line)")
    nothing = policy.no_quota_decision(["ml.g5.12xlarge"], {}, "us-east-1")
    assert nothing.exhausted and "request-service-quota-increase" in nothing.reason


def test_the_state_between_capacity_states_keeps_only_what_is_set():
    state = CapacityState.from_event({"acquired": False, "wait_seconds": 60, "woken": {"woken_by": "x"},
                                      "unknown_key": 1})
    assert state.woken == {"woken_by": "x"} and state.attempt == -1
    event = CapacityState(reason="full", wait_seconds=60).to_event()
    assert "request" not in event and "next_check_at" not in event and event["exhausted"] is False
