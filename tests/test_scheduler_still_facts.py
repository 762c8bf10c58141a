"""What a run keeps of the jobs it has not touched (``_Cluster._still_facts``, ``_touched``)
and the short paths built on it, against the same runs computed afresh:

* the same decisions, reasons and nominations, in 1 and 3 rounds, with every job counted as
  touched, on the clusters of the evicting actions' tests (fragmented, overdrawn, crowded,
  general) and of the victims property test (DRA claims, MIG, elastic gangs);
* at every call of 3-round runs on those clusters (``CHECKS``): an untouched job's pending pods
  and active count, the pending jobs in queue order without a sort, the victims asked of the
  groups held or placed only (consolidation's and reclaim's), and consolidation's short checks,
  each against the plain computation;
* carried between cycles by the account: an entry is not reused once the snapshot has another
  object for one of the group's pods, and a node's answer for a pod shape not once the node
  changed; the touched set after a stale-gang eviction and a carried nomination.
"""

from __future__ import annotations

import dataclasses
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuplane.scheduler import actions
from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.account import RunningAccount
from gpuplane.scheduler.config import SchedulerConfig
from gpuplane.scheduler.cycle import GroupInfo, PodInfo, _Cluster, run_rounds
from gpuplane.scheduler.snapshot import build_snapshot

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_scheduler_victims_property as victims  # noqa: E402
from test_scheduler_actions_fast import crowded, fragmented, overdrawn  # noqa: E402
from test_scheduler_actions_property import NOW, _prepare, clusters  # noqa: E402
from test_running_account import Reuse  # noqa: E402


class _Everything(set):
    """A touched set that holds every group: the run takes the fresh paths everywhere."""

    def __contains__(self, item: object) -> bool:
        return True


@contextmanager
def _all_touched() -> Iterator[None]:
    init = _Cluster.__init__

    def touched_init(self: _Cluster, *a: Any, **k: Any) -> None:
        init(self, *a, **k)
        self._touched = _Everything()

    _Cluster.__init__ = touched_init  # type: ignore[method-assign]
    try:
        yield
    finally:
        _Cluster.__init__ = init  # type: ignore[method-assign]


def _decisions(snap: Any, rounds: int) -> tuple:
    r = run_rounds(snap, rounds, SchedulerConfig(), NOW)
    return (r.placements, r.evicted, r.nominated, r.evictions, r.fair_share,
            {k: v.to_dict() for k, v in r.reasons.items()}, r.recreated, r.claim_allocations)


def _same(snap: Any) -> None:
    for rounds in (1, 3):
        kept = _decisions(snap, rounds)
        with _all_touched():
            fresh = _decisions(snap, rounds)
        assert kept == fresh


def _check_pending(c: _Cluster, group: GroupInfo, got: list[PodInfo]) -> None:
    """_Cluster.pending_pods: the fresh answer (an untouched job's is kept)."""
    if group.raw is None or c.subgroup_tree(group) is None:
        assert [p.key for p in got] == [p.key for p in c._pending_pods(group)]


def _check_active(c: _Cluster, group: GroupInfo, got: int) -> None:
    assert got == c._active_now(group)


def _plain_pending_jobs(c: _Cluster) -> list[GroupInfo]:
    """``actions._pending_jobs_now`` as it was: every job's pods and nominations, one sort."""
    out = []
    for groups in c.jobs.values():
        for g in groups:
            pending = c._pending_pods(g)
            if pending and not any(c.nominated_round.get(p.key) == c.round for p in pending):
                out.append(g)
    return sorted(out, key=lambda g: (c._queue_key(g.queue), -g.priority, g.creation, g.key))


def _check_pending_jobs(c: _Cluster, got: list[GroupInfo]) -> None:
    """actions._pending_jobs_now (queue order without a sort), against the sort."""
    assert [g.key for g in got] == [g.key for g in _plain_pending_jobs(c)]


def _check_every_victim(c: _Cluster, got: list[Any]) -> None:
    """actions._every_victim (only groups held in the snapshot or placed in the run are asked),
    against asking every group."""
    plain = []
    for g in c.snap.groups.values():
        pods, ch = actions._victim_gpus(c, g)
        if pods is not None and ch["gpu"] > 0:
            plain.append((g, pods))
    actions._sort_victims(plain)
    assert [(g.key, [p.key for p in pods]) for g, pods in got] == \
        [(g.key, [p.key for p in pods]) for g, pods in plain]


def _check_maybe_victims(c: _Cluster, groups: Any, got: list[GroupInfo]) -> None:
    """actions._maybe_victims: every group it skips is no victim; the others in their order."""
    kept = {id(g) for g in got}
    assert [g for g in groups if id(g) in kept] == got
    assert all(actions._victim_ok(c, g) is None for g in groups if id(g) not in kept)


def _check_still_gpus(c: _Cluster, job: GroupInfo, got: Any) -> None:
    """actions._still_gpus (consolidation's short checks), against the full ones."""
    pending, need = c._pending_pods(job), max(1, job.min_member - c._active_now(job))
    if job.raw is not None and c.subgroup_tree(job) is not None:
        assert got is None
    elif not pending or len(pending) < need:
        assert got == 0
    elif all(not p.claims and not p.gpu.is_shared for p in pending[:need]):
        assert got == sum(p.gpu.whole for p in pending[:need])
    else:
        assert got is None


CHECKS = {  # (owner, name) -> check(arguments..., answer), run after every call
    (_Cluster, "pending_pods"): _check_pending,
    (_Cluster, "active_count"): _check_active,
    (actions, "_pending_jobs_now"): _check_pending_jobs,
    (actions, "_every_victim"): _check_every_victim,
    (actions, "_maybe_victims"): _check_maybe_victims,
    (actions, "_still_gpus"): _check_still_gpus,
}


def _checked(orig: Any, check: Any, calls: list[int]) -> Any:
    def checked(*args: Any) -> Any:
        got = orig(*args)
        check(*args, got)
        calls[0] += 1
        return got
    return checked


@contextmanager
def _checking(only: tuple[str, ...] = ()) -> Iterator[dict[str, list[int]]]:
    """Install the checks (those named in ``only``, else all); their call counts."""
    calls: dict[str, list[int]] = {}
    with ExitStack() as stack:
        for (owner, name), check in CHECKS.items():
            if only and name not in only:
                continue
            calls[name] = [0]
            orig = getattr(owner, name)
            setattr(owner, name, _checked(orig, check, calls[name]))
            stack.callback(setattr, owner, name, orig)
        yield calls


def _check(snap: Any, rounds: int = 3, only: tuple[str, ...] = ()) -> dict[str, list[int]]:
    with _checking(only) as calls:
        run_rounds(snap, rounds, SchedulerConfig(), NOW)
    return calls


def _same_and_checked(snap: Any) -> dict[str, list[int]]:
    _same(snap)
    return _check(snap)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(fragmented(), overdrawn(), crowded()))
def test_kept_and_short_answers_are_fresh(objs: list[dict[str, Any]]) -> None:
    calls = _same_and_checked(build_snapshot(m.schedule_objects(objs)))
    assert calls["pending_pods"][0] > 0


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_kept_and_short_answers_are_fresh_general(case: Any) -> None:
    _same_and_checked(_prepare(case))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(victims.clusters())
def test_kept_and_short_answers_are_fresh_with_claims_and_mig(case: Any) -> None:
    _same_and_checked(victims._prepare(case))


def test_carried_entry_follows_a_bound_pod() -> None:
    """Cycle 1: a pending PodGroup pod (its group's facts are kept). Cycle 2: the pod is bound
    and Running, its group's ``GroupInfo`` the same object (as the incremental snapshot keeps
    it): the job is active and nothing of it is pending, as a run without the account says."""
    base = [m.queue("q", gpu_quota=8), m.node("n0", gpus=8), m.podgroup("job", 1, "q")]
    pending = m.pod("job-0", queue="q", gpus=1, group="job")
    running = m.pod("job-0", queue="q", gpus=1, group="job", node_name="n0")
    blocker = m.pod("big", queue="q", gpus=8, node_name="n0")
    acct, reuse = RunningAccount(), Reuse()
    first = reuse.snapshot(base + [pending, blocker])
    out = run_rounds(first, 1, SchedulerConfig(), NOW, account=acct)
    assert ("default", "job-0") in out.reasons  # pending: no GPU free
    job = first.groups[("default", "job")]
    assert acct.memo.still[id(job)].pending  # its facts were kept

    second = reuse.snapshot(base + [running])
    second = dataclasses.replace(second, groups={**second.groups, ("default", "job"): job})
    got = run_rounds(second, 1, SchedulerConfig(), NOW, account=acct)
    plain = run_rounds(second, 1, SchedulerConfig(), NOW)
    assert got.cluster.active_count(job) == plain.cluster.active_count(job) == 1
    assert got.cluster.pending_pods(job) == plain.cluster.pending_pods(job) == []
    assert got.placements == plain.placements and got.reasons == plain.reasons


def test_a_stale_gang_evicted_last_is_touched() -> None:
    """Stale-gang eviction runs last in a round and evicts without releasing first: after the
    run the gang's pods are not active, as a fresh count says."""
    from test_scheduler_actions import stale_case

    snap = build_snapshot(m.schedule_objects(stale_case("10s")))
    c = run_rounds(snap, 1, SchedulerConfig(), NOW).cluster
    assert [e["action"] for e in c.evictions] == ["stalegangeviction"] * 2
    g = snap.groups[("default", "g")]
    assert c.active_count(g) == c._active_now(g) == 0


def test_a_carried_nomination_is_touched() -> None:
    """A pending pod nominated in an earlier cycle (``status.nominatedNodeName``) is placed with
    a preference for that node: its job is no plain shape for the actions or the gang cache."""

    pod = m.pod("p", queue="q", gpus=1)
    pod["status"] = {"phase": "Pending", "nominatedNodeName": "n1"}
    objs = [m.queue("q", gpu_quota=2), m.node("n0", gpus=1), m.node("n1", gpus=1),
            m.pod("a", queue="q", gpus=1, node_name="n0"), m.pod("b", queue="q", gpus=1, node_name="n1"), pod]
    snap = build_snapshot(m.schedule_objects(objs))
    c = run_rounds(snap, 1, SchedulerConfig(), NOW).cluster
    job = snap.groups[("pod", "default", "p")]
    assert c.nominated == {("default", "p"): "n1"}
    assert actions._shape_of(c, job) is None
    assert c._gang_key(job, c.pending_pods(job), 1) is None


def test_every_victim_includes_a_job_placed_in_an_earlier_round() -> None:
    """A pod placed in round 1 holds nothing in the snapshot; in round 2 it is a victim."""

    objs = [m.queue("q", gpu_quota=4), m.node("n0", gpus=2), m.pod("a", queue="q", gpus=1, node_name="n0"),
            m.pod("new", queue="q", gpus=1)]
    c = run_rounds(build_snapshot(m.schedule_objects(objs)), 1, SchedulerConfig(), NOW).cluster
    assert ("default", "new") in c.placements
    c.round = 2  # (what begin_round sets for the next round)
    assert sorted(g.key[1] for g, _ in actions._every_victim(c)) == ["a", "new"]


def test_node_answers_follow_a_node_that_changed_between_cycles() -> None:
    """Cycle 1: a 1-GPU pod does not fit the only node (a job holds both GPUs); why is kept for
    its shape and the node. Cycle 2: the job has left (the node's state is another): the pod is
    placed, as a run without the account places it. (Spread: every node is scanned, no binpack
    shortcut; allocate alone: the evicting actions' simulations would rescan the node.)"""
    cfg = dataclasses.replace(SchedulerConfig(), gpu_strategy="spread", disabled_actions=frozenset(
        {"consolidation", "reclaim", "preempt", "stalegangeviction"}))
    base = [m.queue("q", gpu_quota=2), m.node("n0", gpus=2)]
    waiting = m.pod("p", queue="q", gpus=1)
    holder = m.pod("big", queue="q", gpus=2, node_name="n0", held="gpu-0,gpu-1")
    acct, reuse = RunningAccount(), Reuse()
    for _ in range(2):  # (the account is warm from the second snapshot on: its templates are kept)
        first = run_rounds(reuse.snapshot(base + [holder, waiting]), 1, cfg, NOW, account=acct)
    assert ("default", "p") in first.reasons and not first.placements
    assert acct.memo.why  # the node's answer for the pod's shape was kept
    snap = reuse.snapshot(base + [waiting])
    got = run_rounds(snap, 1, cfg, NOW, account=acct)
    plain = run_rounds(snap, 1, cfg, NOW)
    assert set(got.placements) == set(plain.placements) == {("default", "p")}


def test_consolidation_short_checks_for_short_and_elastic_gangs() -> None:
    """A gang with fewer pods than minMember has nothing to place (0); an elastic one (minMember
    1, three 2-GPU pods) needs one pod's 2 GPUs, not all 6."""
    objs = [m.queue("q", gpu_quota=8), m.node("n0", gpus=8), m.pod("r", queue="q", gpus=7, node_name="n0"),
            m.podgroup("short", 3, "q"), m.podgroup("elastic", 1, "q")]
    objs += [m.pod(f"s{i}", queue="q", gpus=1, group="short") for i in range(2)]
    objs += [m.pod(f"e{i}", queue="q", gpus=2, group="elastic") for i in range(3)]
    snap = build_snapshot(m.schedule_objects(objs))
    assert _check(snap, only=("_still_gpus",))["_still_gpus"][0] > 0
    c = run_rounds(snap, 0, SchedulerConfig(), NOW).cluster
    assert actions._still_gpus(c, snap.groups[("default", "short")]) == 0
    assert actions._still_gpus(c, snap.groups[("default", "elastic")]) == 2


def test_node_answers_after_changes_in_a_run_stay_in_that_run() -> None:
    """Two cycles from the same node template: in the first, a 2-GPU pod is placed on the node
    before a 3-GPU pod is tried (no room); in the second, a 1-GPU pod is placed instead. The
    node is at its first change in both, but in other states: the 3-GPU pod fits in the second,
    as a run without the account says."""
    cfg = dataclasses.replace(SchedulerConfig(), gpu_strategy="spread", disabled_actions=frozenset(
        {"consolidation", "reclaim", "preempt", "stalegangeviction"}))
    base = [m.queue("q", gpu_quota=8), m.node("n0", gpus=4)]
    wide = m.pod("w", queue="q", gpus=3, created="2026-06-01T11:00:00Z")
    two = m.pod("a", queue="q", gpus=2, created="2026-06-01T10:00:00Z")
    one = m.pod("b", queue="q", gpus=1, created="2026-06-01T10:00:00Z")
    acct, reuse = RunningAccount(), Reuse()
    for _ in range(2):  # (warm: the node's template is kept from here on)
        first = run_rounds(reuse.snapshot(base + [two, wide]), 1, cfg, NOW, account=acct)
    assert set(first.placements) == {("default", "a")}
    snap = reuse.snapshot(base + [one, wide])
    got = run_rounds(snap, 1, cfg, NOW, account=acct)
    plain = run_rounds(snap, 1, cfg, NOW)
    assert set(got.placements) == set(plain.placements) == {("default", "b"), ("default", "w")}
