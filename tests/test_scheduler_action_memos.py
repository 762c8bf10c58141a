"""The evicting actions' per-run memos change no decision: a round with them decides exactly what
a round computing every value afresh decides (hypothesis, on the fragmented and overdrawn
clusters of ``test_scheduler_actions_fast`` and the general ones of
``test_scheduler_actions_property``). The memos: the pending jobs in order (``_pending_jobs``),
each job's shape (``_shape_of``) and missing pods (``_job_needs``), its preemption delay setting and spec key (``_job_facts``,
carried between cycles by the account: checked on a pod that changes under a kept group) and,
shared by consolidation and reclaim, whether it may be a victim and the GPUs it holds
(``_victim_gpus``)."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuplane.cluster.loop import SchedulerLoop
from gpuplane.cluster.store import ObjectStore
from gpuplane.scheduler import actions
from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.config import SchedulerConfig
from gpuplane.scheduler.cycle import _Cluster, run_rounds
from gpuplane.scheduler.snapshot import build_snapshot

from test_scheduler_actions import running
from test_scheduler_actions_fast import fragmented, overdrawn
from test_scheduler_actions_property import NOW, _prepare, clusters


@contextmanager
def _no_memos():
    saved = (actions._pending_jobs, actions._shape_of, actions._preemption_delay, actions._victim_gpus, actions._job_facts,
             actions._job_needs)
    job_facts = actions._job_facts

    def fresh_facts(c, g):
        kept, c._jobs_memo = c._jobs_memo, {}
        try:
            return job_facts(c, g)
        finally:
            c._jobs_memo = kept

    actions._job_facts = fresh_facts
    actions._job_needs = actions._needed
    actions._pending_jobs = actions._pending_jobs_now
    actions._shape_of = actions._shape_of_now
    actions._preemption_delay = lambda c, g: actions._job_setting(
        c, g, "preemptionDelay", actions.PREEMPTION_DELAY_ANNOTATION)
    actions._victim_gpus = _fresh_victim_gpus
    try:
        yield
    finally:
        (actions._pending_jobs, actions._shape_of, actions._preemption_delay, actions._victim_gpus, actions._job_facts,
         actions._job_needs) = saved


def _fresh_victim_gpus(c, g):
    pods = actions._victim_ok(c, g)
    return pods, None if pods is None else actions._held_gpu_sum(c, pods)


def _decisions(snap, rounds):
    r = run_rounds(snap, rounds, SchedulerConfig(), NOW)
    return (r.placements, r.evicted, r.nominated, r.evictions, r.fair_share,
            {k: v.to_dict() for k, v in r.reasons.items()}, r.recreated)


def _same(snap):
    for rounds in (1, 3):
        fast = _decisions(snap, rounds)
        with _no_memos():
            plain = _decisions(snap, rounds)
        assert fast == plain


def _checking(snap):
    """Every memoised answer is the fresh one, at every call of a 3-round run."""
    shape_of, pending_jobs, victim_gpus, calls = actions._shape_of, actions._pending_jobs, actions._victim_gpus, [0, 0, 0]

    def checked_shape(c, job):
        got = shape_of(c, job)
        assert got == actions._shape_of_now(c, job)
        calls[0] += 1
        return got

    def checked_jobs(c):
        got = pending_jobs(c)
        assert got == actions._pending_jobs_now(c)
        calls[1] += 1
        return got

    job_needs = actions._job_needs

    def checked_needs(c, job):
        got = job_needs(c, job)
        want = actions._needed(c, job)
        assert ([p.key for p in got[0]], got[1]) == ([p.key for p in want[0]], want[1])
        return got

    def checked_victim(c, g):
        pods, ch = victim_gpus(c, g)
        fresh = _fresh_victim_gpus(c, g)
        assert (pods is None) == (fresh[0] is None)
        if pods is not None:
            assert [p.key for p in pods] == [p.key for p in fresh[0]] and ch == fresh[1]
        calls[2] += 1
        return pods, ch

    actions._shape_of, actions._pending_jobs, actions._victim_gpus = checked_shape, checked_jobs, checked_victim
    actions._job_needs = checked_needs
    try:
        run_rounds(snap, 3, SchedulerConfig(), NOW)
    finally:
        actions._shape_of, actions._pending_jobs, actions._victim_gpus = shape_of, pending_jobs, victim_gpus
        actions._job_needs = job_needs
    return calls


def _same_and_fresh(snap):
    _same(snap)
    _checking(snap)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(fragmented(), overdrawn()))
def test_memos_decide_as_without_and_answer_fresh(objs):
    _same_and_fresh(build_snapshot(m.schedule_objects(objs)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_memos_decide_as_without_and_answer_fresh_general(case):
    _same_and_fresh(_prepare(case))


def test_victims_memo_forgets_the_evicted():
    """Two 3-GPU jobs of qa reclaim in one round from qb's four 1-GPU jobs on two nodes: after
    the first commit, its victims are no victims any more (found by hypothesis when the memo
    kept them)."""
    objs = [m.queue("qa", gpu_quota=4), m.queue("qb", gpu_quota=0), m.queue("qc", gpu_quota=0),
            m.node("n0", gpus=4), m.node("n1", gpus=4)]
    objs += [running(f"r{i}", f"n{i // 2}", "qb", gpus=1, held=f"gpu-{i % 2}") for i in range(4)]
    objs += [m.pod(f"p{j}", queue="qa", gpus=3, priority_class="train", created=f"2026-06-01T11:5{j}:00Z")
             for j in range(2)]
    calls = _checking(build_snapshot(m.schedule_objects(objs)))
    assert calls[2] > 0


def _stored(objs, created_at):
    """``(store, loop)``: the objects in an ObjectStore whose clock reads ``created_at`` (epoch
    seconds), and a SchedulerLoop on it (its snapshot state keeps unchanged objects)."""
    store = ObjectStore(clock=lambda: created_at)
    for o in m.schedule_objects(objs):
        store.create(o)
    return store, SchedulerLoop(store, SchedulerConfig())


def test_job_facts_follow_a_pod_that_changed():
    """A job's facts are carried between cycles while its group and pods are the same objects:
    when only its pod changes (its preemption-delay annotation is dropped, the PodGroup stays),
    the next cycle reads the new setting and reclaims, as a cycle without the carry does."""
    objs = [m.queue("qa", gpu_quota=4), m.queue("qb", gpu_quota=0), m.node("n0", gpus=4),
            running("r0", "n0", "qb", gpus=4, held="gpu-0,gpu-1,gpu-2,gpu-3"), m.podgroup("g", 1, "qa")]
    pod = m.pod("p", queue="qa", group="g", gpus=4, priority_class="train", created="2026-06-01T11:30:00Z")
    pod["metadata"].setdefault("annotations", {})[actions.PREEMPTION_DELAY_ANNOTATION] = "1h"
    store, loop = _stored(objs + [pod], 1_780_313_400.0)  # 2026-06-01T11:30:00Z
    snap = loop.snapshot(loop.list_objects())
    first = run_rounds(snap, 1, SchedulerConfig(), NOW, account=loop.account)
    assert not first.evictions  # 30 minutes of a 1h delay
    stored = store.get("Pod", "p", "default")
    del stored["metadata"]["annotations"][actions.PREEMPTION_DELAY_ANNOTATION]
    store.update(stored)
    later = loop.snapshot(loop.list_objects())
    assert later.groups[("default", "g")] is snap.groups[("default", "g")]  # the group object is kept
    got = run_rounds(later, 1, SchedulerConfig(), NOW, account=loop.account)
    want = run_rounds(build_snapshot(m.schedule_objects(loop.list_objects())), 1, SchedulerConfig(), NOW)
    assert [e["pod"] for e in got.evictions] == [e["pod"] for e in want.evictions] == ["default/r0"]


def test_victims_carry_follows_a_pod_that_changed():
    """A job's victim answer is carried between cycles while its group and pods are the same
    objects: when its running pod starts terminating (the PodGroup stays), the next cycle's
    answer is the fresh one (no victim), not the carried one."""
    objs = [m.queue("qa", gpu_quota=4), m.queue("qb", gpu_quota=0), m.node("n0", gpus=4), m.podgroup("g", 1, "qb"),
            running("r0", "n0", "qb", gpus=4, held="gpu-0,gpu-1,gpu-2,gpu-3", group="g")]
    store, loop = _stored(objs, 1_780_308_000.0)  # 2026-06-01T10:00:00Z
    snap = loop.snapshot(loop.list_objects())
    group = snap.groups[("default", "g")]
    c = _Cluster(snap, SchedulerConfig(), NOW, loop.account)
    c.round = 1
    pods, ch = actions._victim_gpus_carried(c, group)
    assert [p.key for p in pods] == [("default", "r0")] and ch == {"gpu": 4}
    assert loop.account.memo.victims  # carried
    stored = store.get("Pod", "r0", "default")
    stored["metadata"]["deletionTimestamp"] = "2026-06-01T10:00:00Z"
    store.update(stored)
    later = loop.snapshot(loop.list_objects())
    assert later.groups[("default", "g")] is group  # the group object is kept, its pod is new
    c = _Cluster(later, SchedulerConfig(), NOW, loop.account)
    c.round = 1
    assert actions._victim_ok(c, group) is None  # terminating: no victim
    assert actions._victim_gpus_carried(c, group) == (None, None)


def test_victims_carry_follows_a_node_that_left():
    """A running pod of another scheduler on a node is no victim (evicting it is not ours to
    do); once its node is gone from the cluster it holds nothing there, and the carried answer
    gives way to the fresh one."""
    foreign = running("f0", "n1", "qb", gpus=1, held="gpu-0", group="g")
    foreign["spec"]["schedulerName"] = "other"
    base = [m.queue("qa", gpu_quota=4), m.queue("qb", gpu_quota=0), m.node("n0", gpus=4), m.podgroup("g", 1, "qb")]
    store, loop = _stored(base + [m.node("n1", gpus=1), foreign], 1_780_308_000.0)
    snap = loop.snapshot(loop.list_objects())
    group = snap.groups[("default", "g")]
    c = _Cluster(snap, SchedulerConfig(), NOW, loop.account)
    c.round = 1
    assert actions._victim_gpus_carried(c, group) == (None, None) == (actions._victim_ok(c, group), None)
    store.delete("Node", "n1")
    later = loop.snapshot(loop.list_objects())
    # (a Node change rebuilds the snapshot: the group and pod objects as a builder that keeps
    # unchanged ones would give them)
    key = ("default", "f0")
    later = dataclasses.replace(later, groups={**later.groups, ("default", "g"): group},
                                pods={**later.pods, key: snap.pods[key]})
    c = _Cluster(later, SchedulerConfig(), NOW, loop.account)
    c.round = 1
    fresh = actions._victim_ok(c, group)
    assert fresh is not None  # (it holds nothing on a node that exists)
    assert actions._victim_gpus_carried(c, group)[0] == fresh


def test_needs_memo_follows_an_evicted_gang():
    """qa's 4-GPU job reclaims qb's gang g (minMember 2: two running pods, a third pending);
    when reclaim then comes to g itself, it misses both core pods again: its needs are read
    afresh after the commit, not from before it."""
    objs = [m.queue("qa", gpu_quota=4), m.queue("qb", gpu_quota=0), m.node("n0", gpus=4), m.podgroup("g", 2, "qb")]
    objs += [running(f"g{i}", "n0", "qb", gpus=2, held=f"gpu-{2 * i},gpu-{2 * i + 1}", group="g") for i in range(2)]
    objs += [m.pod("g2", queue="qb", group="g", gpus=2, priority_class="train", created="2026-06-01T11:00:00Z"),
             m.pod("p", queue="qa", gpus=4, priority_class="train", created="2026-06-01T11:50:00Z")]
    snap = build_snapshot(m.schedule_objects(objs))
    _checking(snap)
    result = run_rounds(snap, 1, SchedulerConfig(), NOW)
    assert sorted(e["pod"] for e in result.evictions) == ["default/g0", "default/g1"]
