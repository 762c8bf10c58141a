"""The round's speed work takes the same decisions as the code it replaced (differential).

The reference (tests/_round_reference.py) is the code before the speed work: collect_jobs,
allocate, begin_round, requested, capacity, _carry_nominations, subgroup_tree and
finish_evictions of the cluster; reclaim (plan_reclaim, _reclaim_acceptable, _leveled,
_charge_sum), preempt, consolidation and stale-gang eviction of the actions; fair shares through
the Fraction path. Random clusters
(running jobs from a first round, pending gangs in a queue hierarchy, nominations, broken gangs,
pods of another scheduler, SubGroups naming no SubGroup) run 1-3 rounds both ways: every output
object, placement, reason, eviction, nomination, fair share and request must be equal.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuplane.api import kai
from gpuplane.scheduler import actions, cycle
from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.actions import _charge_sum, _held_sum
from gpuplane.scheduler.config import SchedulerConfig
from gpuplane.scheduler.fairshare import _float_down, compute_fair_shares_exact
from gpuplane.scheduler.output import result_objects
from gpuplane.scheduler.snapshot import build_snapshot

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _round_reference as ref  # noqa: E402

NOW = "2026-06-01T12:00:00Z"
PRIOS = ["train", "build-preemptible", "inference"]
CLUSTER_METHODS = ["collect_jobs", "begin_round", "requested", "capacity", "_carry_nominations", "subgroup_tree",
                   "finish_evictions", "allocate"]
ACTIONS = ["_charge_sum", "_leveled", "_reclaim_acceptable", "plan_reclaim", "reclaim", "preempt",
           "stale_gang_eviction", "consolidation"]


def _reference_fair_shares(tree, capacity, demand, usage=None, k_value=1, mode="exact"):
    exact = compute_fair_shares_exact(tree, capacity, demand, usage, k_value)
    return {q: {r: _float_down(v) for r, v in res.items()} for q, res in exact.items()}


def _run(snap, rounds: int, reference: bool, config: SchedulerConfig) -> Any:
    if not reference:
        return cycle.run_rounds(snap, rounds, config, NOW)
    with pytest.MonkeyPatch.context() as mp:
        for name in CLUSTER_METHODS:
            mp.setattr(cycle._Cluster, name, getattr(ref, f"_ref_cluster_{name.lstrip('_')}"))
        for name in ACTIONS:
            mp.setattr(actions, name, getattr(ref, name))
        mp.setattr(cycle, "compute_fair_shares", _reference_fair_shares)
        return cycle.run_rounds(snap, rounds, config, NOW)


def _digest(res: Any) -> dict[str, Any]:
    return {
        "objects": result_objects(res),
        "placements": {k: (p.node, p.gpu_indices, p.gpu_share, p.charge, p.preemptible, p.round)
                       for k, p in res.placements.items()},
        "reasons": {k: r.to_dict() for k, r in res.reasons.items()},
        "group_reasons": {repr(k): r.to_dict() for k, r in sorted(res.group_reasons.items(), key=repr)},
        "evictions": res.evictions, "evicted": res.evicted, "recreated": res.recreated, "nominated": res.nominated,
        "fair_share": res.fair_share, "requested": res.requested, "allocated": res.allocated,
        "allocated_np": res.allocated_np,
    }


@st.composite
def clusters(draw) -> tuple[list[dict], list[dict], list[dict], int]:
    n_nodes = draw(st.integers(2, 4))
    base = [m.node(f"n{i}", gpus=draw(st.sampled_from([2, 4])), cpu="16", memory="64Gi") for i in range(n_nodes)]
    base += [m.queue("dept", gpu_quota=draw(st.sampled_from([1, 2, 4])), weight=draw(st.sampled_from([1, 2]))),
             m.queue("qa", parent="dept", gpu_quota=draw(st.sampled_from([0, 1, 2])), weight=draw(st.sampled_from([0, 1, 2]))),
             m.queue("qb", parent="dept", gpu_quota=draw(st.sampled_from([0, 1, 2])), weight=draw(st.sampled_from([1, 3]))),
             m.queue("qc", gpu_quota=draw(st.sampled_from([0, 1, 3])), weight=draw(st.sampled_from([1, 2])),
                     priority=draw(st.sampled_from([None, 50, 150])))]

    def jobs(prefix: str, hour: int, queues: list[str], most: int) -> list[dict]:
        objs: list[dict] = []
        for j in range(draw(st.integers(0, most))):
            name = f"{prefix}{j}"
            q = draw(st.sampled_from(queues))
            prio = draw(st.sampled_from(PRIOS))
            size = draw(st.integers(1, 3))
            gpus = draw(st.integers(0, 2))
            created = f"2026-06-01T{hour:02d}:{j:02d}:00Z"
            if size == 1 and draw(st.booleans()):
                objs.append(m.pod(name, queue=q, gpus=gpus, priority_class=prio, created=created))
                continue
            pg = m.podgroup(name, draw(st.integers(1, size)), q, priority_class=prio)
            pg["metadata"]["creationTimestamp"] = created
            objs.append(pg)
            objs += [m.pod(f"{name}-{k}", queue=q, gpus=gpus, priority_class=prio, created=created, group=name)
                     for k in range(size)]
        return objs

    early = jobs("e", 1, ["qb", "qb", "qc", "qa"], 7)
    late = jobs("l", 5, ["qa", "qa", "qb", "qc"], 5)
    return base, early, late, draw(st.integers(0, 2 ** 16))


def _prepare(case: tuple[list[dict], list[dict], list[dict], int], draw_extra: Any) -> Any:
    """Running pods from a first round of the early jobs, then the late jobs and the odd cases."""
    base, early, late, seed = case
    first = result_objects(cycle.run_rounds(build_snapshot(m.schedule_objects(base + early)), 1, SchedulerConfig(), NOW))
    running = [o for o in first if o["kind"] == "Pod" and o["spec"].get("nodeName")]
    groups = [o for o in early if o["kind"] == "PodGroup"]
    extra: list[dict] = []
    if draw_extra(st.booleans()) and running:  # a broken gang: one running pod is gone, the gang is stale
        gang = [o for o in running if (o["metadata"].get("annotations") or {}).get("pod-group-name")]
        if gang:
            lost = gang[0]
            running.remove(lost)
            pg_name = lost["metadata"]["annotations"]["pod-group-name"]
            replacement = {**lost, "metadata": {**lost["metadata"], "creationTimestamp": "2026-06-01T02:00:00Z"},
                           "spec": {k: v for k, v in lost["spec"].items() if k != "nodeName"}}
            replacement.pop("status", None)
            replacement["metadata"].pop("annotations", None)
            replacement["metadata"]["annotations"] = {"pod-group-name": pg_name}
            extra.append(replacement)
    if draw_extra(st.booleans()):  # a gang with fewer pods than its minMember, all running, stale since 10:00
        names = sorted({(o["metadata"].get("annotations") or {}).get("pod-group-name") for o in running} - {None})
        if names:
            pick = draw_extra(st.sampled_from(names))
            i = next(i for i, g in enumerate(groups) if g["metadata"]["name"] == pick)
            pods = sum(1 for o in running if (o["metadata"].get("annotations") or {}).get("pod-group-name") == pick)
            pg = {**groups[i], "spec": {**groups[i]["spec"], "minMember": pods + 1},
                  "metadata": {**groups[i]["metadata"],
                               "annotations": {actions.STALE_SINCE_ANNOTATION: "2026-06-01T10:00:00Z"}}}
            groups = groups[:i] + [pg] + groups[i + 1:]
    if draw_extra(st.booleans()):  # a pending pod nominated on a node (or on a node that does not exist)
        nominated = m.pod("nom", queue="qa", gpus=1, priority_class="train", created="2026-06-01T06:00:00Z")
        nominated["status"] = {"phase": "Pending", "nominatedNodeName": draw_extra(st.sampled_from(["n0", "n1", "gone"]))}
        extra.append(nominated)
    if draw_extra(st.booleans()):  # pods of another scheduler, waiting and running
        extra.append(m.pod("other", queue="qb", gpus=1, scheduler="default-scheduler"))
        extra.append(m.pod("other-run", queue="qb", gpus=1, scheduler="default-scheduler", node_name="n1"))
    if draw_extra(st.booleans()):  # a PodGroup with SubGroups and a pod naming none of them
        pg = m.podgroup("sg", 1, "qa", priority_class="train")
        pg["spec"]["subGroups"] = [{"name": "workers", "minMember": 1}]
        extra.append(pg)
        for name, label in (("sg-0", "workers"), ("sg-1", "nope")):
            p = m.pod(name, queue="qa", gpus=1, priority_class="train", group="sg", created="2026-06-01T07:00:00Z")
            p["metadata"]["labels"][kai.SUBGROUP_LABEL] = label
            extra.append(p)
    return build_snapshot(m.schedule_objects(base + groups + running + late + extra))


def _check_held_sums(c: Any) -> None:
    """What the actions sum for a victim's pods: the reference's sum of held_charge, exactly."""
    for g in c.snap.groups.values():
        pods = [c.snap.pods[k] for k in g.pods if c.holds(c.snap.pods[k])]
        got, want = _held_sum(c, pods), ref._charge_sum([c.held_charge(p) for p in pods])
        assert got == want, (g.key, got, want)


def _same(snap: Any, config: SchedulerConfig) -> list[dict[str, Any]]:
    out = []
    for rounds in (1, 2, 3):
        result = _run(snap, rounds, False, config)
        _check_held_sums(result.cluster)
        now = _digest(result)
        was = _digest(_run(snap, rounds, True, config))
        for key in was:
            assert now[key] == was[key], (rounds, key)
        out.append(now)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(clusters(), st.data(), st.sampled_from([SchedulerConfig(), SchedulerConfig(reclaim_min_runtime_s=3600.0)]))
def test_rounds_decide_as_the_reference(case, data, config):
    _same(_prepare(case, data.draw), config)


def test_reference_scenario_evicts_by_every_action():
    """A fixed cluster where reclaim, preempt and stale-gang eviction all evict: the differential
    above compares those paths, not only quiet rounds."""
    objs = [m.node("n0", gpus=4, cpu="16", memory="64Gi"), m.node("n1", gpus=4, cpu="16", memory="64Gi"),
            m.queue("dept", gpu_quota=8), m.queue("qa", parent="dept", gpu_quota=4),
            m.queue("qb", parent="dept", gpu_quota=4), m.queue("qc", gpu_quota=2)]
    # qb borrows qa's quota with preemptible jobs; qc runs a broken gang (within its quota: no reclaim victim)
    for i in range(6):
        objs.append(m.pod(f"b{i}", queue="qb", gpus=1, priority_class="train", node_name=f"n{i % 2}",
                          held=f"gpu-{i // 2}", created="2026-06-01T01:00:00Z"))
    pg = m.podgroup("gang", 3, "qc", priority_class="train")
    pg["metadata"]["annotations"] = {actions.STALE_SINCE_ANNOTATION: "2026-06-01T10:00:00Z"}
    objs.append(pg)
    objs += [m.pod(f"gang-{k}", queue="qc", gpus=1, priority_class="train", group="gang", node_name="n1",
                   held="gpu-3", created="2026-06-01T01:00:00Z") for k in range(1)]
    objs.append(m.pod("gang-9", queue="qc", gpus=1, priority_class="train", group="gang", created="2026-06-01T02:00:00Z"))
    # qa wants its quota back (reclaim); a high-priority job of qb preempts a qb training job
    objs += [m.pod(f"a{i}", queue="qa", gpus=1, priority_class="train", created="2026-06-01T03:00:00Z") for i in range(3)]
    objs.append(m.pod("b-urgent", queue="qb", gpus=2, priority_class="inference", created="2026-06-01T04:00:00Z"))
    snap = build_snapshot(m.schedule_objects(objs))
    digests = _same(snap, SchedulerConfig())
    done = {e["action"] for e in digests[-1]["evictions"]}
    assert {"reclaim", "stalegangeviction"} <= done, digests[-1]["evictions"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.fixed_dictionaries({r: st.one_of(st.integers(0, 9), st.fractions(0, 20, max_denominator=15625))
                                       for r in ("gpu", "cpu", "memory")}), max_size=6))
def test_charge_sum_is_the_exact_sum(charges):
    got = _charge_sum(charges)
    for r in ("gpu", "cpu", "memory"):
        want = sum((c[r] for c in charges), Fraction(0))
        assert got[r] == want
        assert type(got[r]) is (int if want.denominator == 1 else Fraction)
