"""Metrics on hand-built SimLogs: every expected number is worked out by hand in the comments."""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpuplane.sim.log import CycleRecord, JobRecord, Sample, SimLog
from gpuplane.sim.metrics import (
    bounded_slowdown,
    distribution,
    integrate,
    jain_index,
    percentile,
    summarize,
    time_mean,
)


def sample(t, alloc, qa=None, qf=None, qr=None, pending=0, running=0, frag=0.0):
    return Sample(t=t, gpus_allocated=alloc, queue_allocated=qa or {}, queue_fair_share=qf or {},
                  queue_requested=qr or {}, pending_pods=pending, running_pods=running, fragmentation=frag)


def hand_log() -> SimLog:
    """8 GPUs, two queues over 100 s.

    Samples (each holds until the next, the last until sim_seconds=100):
      t=0..10   alloc 0, pending 2              (10 s)
      t=10..50  alloc 4 (a 4/ fair a 4, b 4), pending 1, frag 2   (40 s)
      t=50..100 alloc 8 (a 4, b 4 / fair a 4, b 4), pending 0     (50 s)
    """
    log = SimLog(scenario="hand", seed=7, gpus=8, nodes=1, sim_seconds=100.0, wall_seconds=1.5)
    log.samples = [
        sample(0, 0, {}, {"a": 4, "b": 4}, {"a": 4, "b": 4}, pending=2),
        sample(10, 4, {"a": 4}, {"a": 4, "b": 4}, {"a": 4, "b": 4}, pending=1, running=1, frag=2),
        sample(50, 8, {"a": 4, "b": 4}, {"a": 4, "b": 4}, {"a": 4, "b": 4}, running=2),
    ]
    log.jobs = {
        # a: submit 0, start 10, end 90 -> delay 10, JCT 90, duration 80 -> slowdown 90/80
        "ja": JobRecord("ja", "a", "train", pods=1, gpus=4, duration_s=80, submit_s=0, start_s=10,
                        first_start_s=10, end_s=90),
        # b: submit 0, start 50, end 100 -> delay 50, JCT 100, duration 5 -> slowdown 100/10 = 10
        "jb": JobRecord("jb", "b", "notebook", pods=2, gpus=4, duration_s=5, submit_s=0, start_s=50,
                        first_start_s=50, end_s=100, evictions=1),
        # b: submit 60, never started
        "jc": JobRecord("jc", "b", "train", pods=3, gpus=2, duration_s=10, submit_s=60),
    }
    log.cycles = [CycleRecord(t=0, wall_s=0.001, pods_bound=0, pods_evicted=0, pending=2),
                  CycleRecord(t=10, wall_s=0.003, pods_bound=1, pods_evicted=0, pending=1),
                  CycleRecord(t=50, wall_s=0.002, pods_bound=2, pods_evicted=1, pending=0)]
    return log


def test_percentile_nearest_rank():
    values = [15, 20, 35, 40, 50]
    assert percentile(values, 5) == 15  # rank ceil(0.25) = 1
    assert percentile(values, 30) == 20  # rank ceil(1.5) = 2
    assert percentile(values, 40) == 20  # rank 2 exactly
    assert percentile(values, 50) == 35  # rank ceil(2.5) = 3
    assert percentile(values, 100) == 50
    assert percentile(list(range(1, 101)), 99) == 99  # rank 99, no float drift
    assert percentile([], 50) == 0.0
    with pytest.raises(ValueError, match="p must be in"):
        percentile(values, 101)


def test_time_weighted_integrals():
    log = hand_log()
    # 0*10 + 4*40 + 8*50 = 560 GPU-s; mean over 100 s = 5.6
    assert integrate(log.samples, 100, lambda s: s.gpus_allocated) == 560
    assert time_mean(log.samples, 100, lambda s: s.gpus_allocated) == pytest.approx(5.6)
    # unsorted input gives the same answer
    assert integrate(list(reversed(log.samples)), 100, lambda s: s.gpus_allocated) == 560
    # a single sample at the end: zero-length window falls back to the plain mean
    assert time_mean([sample(5, 3)], 5, lambda s: s.gpus_allocated) == 3


def test_summary_contract_numbers():
    m = summarize(hand_log())
    assert m["gpu_allocation_mean"] == pytest.approx(5.6)
    assert m["gpu_allocation_ratio_mean"] == pytest.approx(0.7)
    assert m["gpu_allocation_max"] == 8
    # frag 2 GPUs for 40 of 100 s -> 0.8
    assert m["fragmentation_gpu_mean"] == pytest.approx(0.8)
    assert m["pods_submitted"] == 6 and m["pods_completed"] == 3
    assert m["jobs_submitted"] == 3 and m["jobs_completed"] == 2 and m["jobs_never_started"] == 1
    assert m["evictions"] == 1 and m["pods_evicted"] == 1
    # delays 10 and 50 (jc never started): mean 30, p50 rank 1 -> 10, p99 rank 2 -> 50
    assert m["queueing_delay_s"] == {"count": 2, "mean": 30.0, "p50": 10.0, "p95": 50.0, "p99": 50.0, "max": 50.0}
    # JCT 90 and 100
    assert m["jct_s"]["mean"] == 95.0 and m["jct_s"]["p50"] == 90.0 and m["jct_s"]["p99"] == 100.0
    # slowdowns 1.125 and 10 (5 s duration floored at 10 s)
    assert m["bounded_slowdown"]["mean"] == pytest.approx((1.125 + 10) / 2)
    assert m["makespan_s"] == 100.0


def test_per_queue_and_fairness():
    m = summarize(hand_log())
    a, b = m["queues"]["a"], m["queues"]["b"]
    # a: 4 GPUs from 10 to 100 s = 360 GPU-s -> mean 3.6; fair share 4 all along
    assert a["allocated_gpu_mean"] == pytest.approx(3.6)
    assert a["fair_share_gpu_mean"] == pytest.approx(4.0)
    # b: 4 GPUs from 50 to 100 s = 200 GPU-s -> mean 2.0
    assert b["allocated_gpu_mean"] == pytest.approx(2.0)
    assert a["share_ratio"] == pytest.approx(0.9) and b["share_ratio"] == pytest.approx(0.5)
    assert a["queueing_delay_s"]["mean"] == 10 and b["queueing_delay_s"]["mean"] == 50
    assert b["jobs_submitted"] == 2 and b["jobs_completed"] == 1 and b["evictions"] == 1
    # Jain over x = (0.9, 0.5): 1.4^2 / (2 * (0.81 + 0.25)) = 1.96 / 2.12
    assert m["jain_fairness"] == pytest.approx(1.96 / 2.12)
    assert m["jain_queues"] == 2
    # deviation: |0-4|+|0-4| = 8 for 10 s, |4-4|+|0-4| = 4 for 40 s, 0 for 50 s -> 240/100/8 GPUs = 0.3
    assert m["fair_share_deviation"] == pytest.approx(0.3)


def test_utilization_and_idle_while_pending():
    m = summarize(hand_log())
    # busy window: first submit 0 to end of run 100 (jc unfinished) -> 560 / (8*100) = 0.7
    assert m["utilization"] == pytest.approx(0.7)
    # offered load: (4*80 + 4*5 + 2*10) / 800 = 360/800 = 0.45 -> utilization/min(1, rho) = 0.7/0.45
    assert m["offered_load"] == pytest.approx(0.45)
    assert m["utilization_over_load"] == pytest.approx(0.7 / 0.45)
    # idle while pending: 8 idle for 10 s + 4 idle for 40 s = 240 GPU-s
    assert m["idle_gpu_hours_while_pending"] == pytest.approx(240 / 3600)


def test_decision_latency():
    d = summarize(hand_log())["decision_latency"]
    # walls 1, 3, 2 ms: p50 rank 2 of (1, 2, 3) -> 2; p99 rank 3 -> 3
    assert d["cycles"] == 3 and d["p50_ms"] == pytest.approx(2.0) and d["p99_ms"] == pytest.approx(3.0)
    assert d["mean_ms"] == pytest.approx(2.0) and d["max_ms"] == pytest.approx(3.0)
    # 3 pods bound in 6 ms of scheduler time
    assert d["pods_bound_per_s"] == pytest.approx(500.0)


def test_jain_skips_queues_without_entitlement():
    log = hand_log()
    for s in log.samples:
        s.queue_fair_share["c"] = 0.0
        s.queue_allocated["c"] = 1.0
    m = summarize(log)
    assert m["jain_queues"] == 2 and m["jain_fairness"] == pytest.approx(1.96 / 2.12)
    assert m["queues"]["c"]["share_ratio"] is None


def test_empty_log_is_all_zeros_and_json():
    m = summarize(SimLog(scenario="empty", seed=0, gpus=0, nodes=0))
    assert m["gpu_allocation_mean"] == 0.0 and m["jain_fairness"] == 1.0
    assert m["queueing_delay_s"]["count"] == 0 and m["queueing_delay_s"]["p99"] == 0.0
    assert m["queues"] == {} and m["utilization"] == 0.0
    json.dumps(m, allow_nan=False)


def test_slowdown_never_below_one():
    job = JobRecord("j", "q", "train", pods=1, gpus=1, duration_s=100, submit_s=0, start_s=0, end_s=50)
    assert bounded_slowdown(job) == 1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e7, allow_nan=False), min_size=1, max_size=50))
def test_distribution_is_ordered(values):
    d = distribution(values)
    assert min(values) <= d["p50"] <= d["p95"] <= d["p99"] <= d["max"] == max(values)
    assert min(values) - 1e-6 <= d["mean"] <= max(values) + 1e-6


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1, max_size=20))
def test_jain_bounds(xs):
    j = jain_index(xs)
    assert 1 / len(xs) - 1e-9 <= j <= 1 + 1e-9


@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=1, max_value=64),
    st.lists(st.tuples(st.floats(min_value=0, max_value=1000), st.floats(min_value=0, max_value=1)),
             min_size=1, max_size=30),
)
def test_allocation_mean_within_capacity(gpus, points):
    # random step function with 0 <= allocation <= capacity: the mean and utilization stay in [0, 1] of capacity
    log = SimLog(scenario="p", seed=0, gpus=gpus, nodes=1)
    log.samples = [sample(t, share * gpus) for t, share in points]
    log.sim_seconds = max(t for t, _ in points) + 1
    log.jobs = {"j": JobRecord("j", "q", "train", 1, 1, 1, submit_s=0, start_s=0, first_start_s=0,
                               end_s=log.sim_seconds)}
    m = summarize(log)
    assert -1e-9 <= m["gpu_allocation_mean"] <= gpus + 1e-9
    assert -1e-9 <= m["utilization"] <= 1 + 1e-9
    assert not any(isinstance(v, float) and math.isnan(v) for v in m.values())


def test_single_instant_uses_plain_means():
    log = SimLog(scenario="one", seed=0, gpus=8, nodes=1)
    log.samples = [sample(5, 6, {"a": 6}, {"a": 8}, {"a": 8})]
    m = summarize(log)
    assert m["gpu_allocation_mean"] == 6.0
    assert m["queues"]["a"]["allocated_gpu_mean"] == 6.0 and m["queues"]["a"]["fair_share_gpu_mean"] == 8.0


queue_maps = st.dictionaries(st.sampled_from(["a", "b", "c"]), st.floats(min_value=0, max_value=50), max_size=3)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=50), queue_maps, queue_maps, queue_maps),
                min_size=1, max_size=25),
       st.integers(min_value=0, max_value=60))
def test_one_pass_queue_integrals_match_direct_definition(rows, sim_end):
    """The fused per-queue pass agrees with integrating each definition on its own (duplicate times included)."""
    log = SimLog(scenario="p", seed=0, gpus=64, nodes=1, sim_seconds=float(sim_end))
    log.samples = [sample(float(t), sum(qa.values()), qa, qf, qr) for t, qa, qf, qr in rows]
    end = max(float(sim_end), max(float(t) for t, *_ in rows))
    m = summarize(log)
    for q, got in m["queues"].items():
        assert got["allocated_gpu_mean"] == pytest.approx(
            time_mean(log.samples, end, lambda s: s.queue_allocated.get(q, 0.0)), abs=1e-9)
        assert got["fair_share_gpu_mean"] == pytest.approx(
            time_mean(log.samples, end, lambda s: s.queue_fair_share.get(q, 0.0)), abs=1e-9)
        assert got["requested_gpu_mean"] == pytest.approx(
            time_mean(log.samples, end, lambda s: s.queue_requested.get(q, 0.0)), abs=1e-9)

    def deviation(s):
        keys = s.queue_allocated.keys() | s.queue_fair_share.keys()
        return sum(abs(s.queue_allocated.get(k, 0.0) - s.queue_fair_share.get(k, 0.0)) for k in keys)

    assert m["fair_share_deviation"] == pytest.approx(time_mean(log.samples, end, deviation) / 64, abs=1e-9)
    json.dumps(m, allow_nan=False)


def test_never_started_by_shape():
    m = summarize(hand_log())
    # ja: 4 GPUs in 1 pod; jb: 4 GPUs in 2 pods; jc: 2 GPUs in 3 pods (never started) -> share
    assert m["never_started_by_shape"] == {
        "2-gpu": {"jobs": 1, "never_started": 0, "rate": 0.0},
        "4-gpu": {"jobs": 1, "never_started": 0, "rate": 0.0},
        "share": {"jobs": 1, "never_started": 1, "rate": 1.0},
    }


def test_jain_extremes():
    assert jain_index([]) == 1.0 and jain_index([0.0, 0.0]) == 1.0
    assert jain_index([1.0, 0.0, 0.0, 0.0]) == pytest.approx(0.25)  # one queue gets all: 1/n
    assert jain_index([1e300, 1e300]) == pytest.approx(1.0)  # no overflow
    assert jain_index([math.inf, 1.0]) == pytest.approx(0.5)
