"""Per-pod results carried between cycles (``account.CycleMemo``) and the allocate fast paths,
against the plain paths.

* Carried shapes, demands and charges: random histories of cluster states (tests/test_running_account's),
  where unchanged pods keep their ``PodInfo``, with the GPU memory of a node (so the snapshot's
  ``min_gpu_memory_mib``) changing between steps; after each step every carried entry equals
  the value computed afresh, and ``run_rounds`` with the account decides as without it (fair
  shares and requests included).
* ``_pending_pods``' one-pod path against the list-and-sort path, for PodGroups with and without
  SubGroups, at every call of whole runs.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuplane.api.core import PENDING
from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.account import RunningAccount
from gpuplane.scheduler.cycle import MB, GroupInfo, PodInfo, _Cluster, run_rounds
from gpuplane.scheduler.snapshot import build_snapshot
from gpuplane.scheduler.subgang import required_first

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_running_account import CFG, NOW, Reuse, assert_same_result, histories  # noqa: E402


def _with_gpu_memory(objs: list[dict[str, Any]], mib: int) -> list[dict[str, Any]]:
    """``objs`` with node n0's GPU memory set to ``mib`` (the snapshot's minimum follows it)."""
    out = []
    for o in objs:
        if o.get("kind") == "Node" and o["metadata"]["name"] == "n0":
            o = m.node("n0", gpus=4, cpu=o["status"]["allocatable"]["cpu"], memory="64Gi", gpu_memory_mib=mib)
        out.append(o)
    return out


def _check_memo(acct: RunningAccount, snap: Any) -> None:
    """Every carried entry is what the plain functions compute for its pod now."""
    fresh = _Cluster(snap, CFG, NOW)
    for pod, shape in acct.memo.shapes.values():
        assert shape == _Cluster._shape_key(pod)
    for pod, values in acct.memo.demand.values():  # what requested adds: the pod's charge
        if values is not None:
            gpu, cpu, mem_bytes = values
            assert fresh.charge_for(pod) == {"gpu": gpu, "cpu": cpu, "memory": Fraction(mem_bytes) / MB}
        else:
            assert pod.claims or pod.gpu.is_shared and not pod.gpu.whole
    mems = {n.gpu_memory_mib for n in snap.nodes}
    for (_, mem), (pod, charge) in acct.memo.charges.items():
        node = next((n for n in snap.nodes if n.gpu_memory_mib == mem), None) if mem is not None else None
        if mem is None or mem in mems:
            assert charge == fresh._charge(pod, node, None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(histories(), st.lists(st.sampled_from([8000, 16000, 40000]), min_size=6, max_size=6))
def test_carried_memo_matches_plain(steps: list[list[dict[str, Any]]], mems: list[int]) -> None:
    acct = RunningAccount()
    reuse = Reuse()
    for objs, mib in zip(steps, mems):
        snap = reuse.snapshot(_with_gpu_memory(objs, mib))
        expected = run_rounds(snap, 1, CFG, NOW)
        got = run_rounds(snap, 1, CFG, NOW, account=acct)
        assert_same_result(expected, got)
        assert got.requested == expected.requested
        assert got.fair_share == expected.fair_share
        _check_memo(acct, snap)


class ReuseGroups(Reuse):
    """:class:`Reuse` that also hands back the last ``GroupInfo`` of a group that did not
    change (as the incremental snapshot does), whatever happened to its pods."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: dict[Any, GroupInfo] = {}

    def snapshot(self, objs: list[dict[str, Any]], keep: bool = True) -> Any:
        snap = super().snapshot(objs)
        groups = {}
        for k, g in snap.groups.items():
            old = self.groups.get(k)
            groups[k] = self.groups[k] = old if old == g else g
        return dataclasses.replace(snap, groups=groups)


def _resize_pending(objs: list[dict[str, Any]], cpu: str) -> list[dict[str, Any]]:
    """``objs`` with every pod not bound to a node asking for ``cpu`` (a pod that changes and
    stays pending: a new PodInfo, its group unchanged)."""
    out = []
    for o in objs:
        if o.get("kind") == "Pod" and not o["spec"].get("nodeName"):
            o = json.loads(json.dumps(o))
            for c in o["spec"]["containers"]:
                c.setdefault("resources", {}).setdefault("requests", {})["cpu"] = cpu
        out.append(o)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(histories(), st.integers(1, 2), st.lists(st.sampled_from([None, "1", "12"]), min_size=6, max_size=6))
def test_carried_collect_matches_plain(steps: list[list[dict[str, Any]]], rounds: int, cpus: list[str | None]) -> None:
    """collect_jobs with pending pods carried (still facts: same group, same pods) decides, orders and
    explains as the plain collect_jobs (tests/_round_reference.py's: every group, every round)."""
    import _round_reference as ref

    acct = RunningAccount()
    reuse = ReuseGroups()
    for objs, cpu in zip(steps, cpus):
        snap = reuse.snapshot(_resize_pending(objs, cpu) if cpu else objs)
        mp = pytest.MonkeyPatch()
        mp.setattr(_Cluster, "collect_jobs", ref._ref_cluster_collect_jobs)
        try:
            expected = run_rounds(snap, rounds, CFG, NOW)
        finally:
            mp.undo()
        got = run_rounds(snap, rounds, CFG, NOW, account=acct)
        assert_same_result(expected, got)
        assert list(got.reasons.items()) == list(expected.reasons.items())
        assert list(got.group_reasons.items()) == list(expected.group_reasons.items())
        assert [(q, [g.key for g in gs]) for q, gs in got.cluster.jobs.items()] == \
            [(q, [g.key for g in gs]) for q, gs in expected.cluster.jobs.items()]
        assert got.requested == expected.requested
        assert got.fair_share == expected.fair_share


def test_memo_drops_pods_that_left() -> None:
    """Cycle after cycle of new pods: the memo keeps about the live pods only."""
    acct = RunningAccount()
    base = [m.queue("q", gpu_quota=2), m.node("n0", gpus=1, gpu_memory_mib=16000)]
    for i in range(40):
        pods = [m.pod(f"p{i}-{j}", queue="q", gpus=1 + j % 2) for j in range(20)]
        pods.append(m.pod(f"s{i}", queue="q", fraction="0.5"))
        snap = build_snapshot(m.schedule_objects(base + pods))
        run_rounds(snap, 1, CFG, NOW, account=acct)
        assert len(acct.memo.shapes) <= 2 * len(snap.pods) + 256 + len(snap.pods)
        assert len(acct.memo.charges) <= 2 * len(snap.pods) + 256 + len(snap.pods)
    live = {id(p) for p in snap.pods.values()}
    assert live <= set(acct.memo.shapes)


def _plain_pending(c: _Cluster, group: GroupInfo) -> list[PodInfo]:
    """``_pending_pods`` by the list-and-sort path for every group."""
    out = [c.snap.pods[k] for k in group.pods]
    out = [p for p in out if p.ours and (p.state == PENDING or p.key in c.released) and p.key not in c.placements]
    out.sort(key=lambda p: (p.creation, p.key))
    tree = c.subgroup_tree(group) if group.raw is not None and out else None
    if tree is not None:
        return required_first(c, group, tree, [p for p in out if p.key not in tree.unknown])
    return out


def _one_pod_objects(draw: Any) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [m.queue("qa", gpu_quota=2), m.queue("qb", gpu_quota=1),
                                  m.node("n0", gpus=2), m.node("n1", gpus=2)]
    for j in range(draw(st.integers(1, 8))):
        q = draw(st.sampled_from(["qa", "qb"]))
        kind = draw(st.sampled_from(["pg", "pg", "sub", "badsub", "lone", "pair"]))
        name = f"g{j}"
        gpus = draw(st.integers(0, 2))
        running = draw(st.booleans())
        node = draw(st.sampled_from(["n0", "n1"])) if running else None
        if kind == "lone":
            objs.append(m.pod(f"p{j}", queue=q, gpus=gpus, node_name=node))
            continue
        pg = m.podgroup(name, 1, q)
        pod = m.pod(f"p{j}", queue=q, group=name, gpus=gpus, node_name=node)
        if kind in ("sub", "badsub"):
            pg["spec"]["subGroups"] = [{"name": "w", "minMember": 1}]
            pod["metadata"].setdefault("labels", {})["kai.scheduler/subgroup-name"] = "w" if kind == "sub" else "x"
        objs += [pg, pod]
        if kind == "pair":
            objs.append(m.pod(f"p{j}b", queue=q, group=name, gpus=gpus, created="2025-12-31T00:00:00Z"))
    return objs


@settings(max_examples=80, deadline=None)
@given(st.data(), st.integers(1, 3))
def test_one_pod_pending_matches_list_path(data: Any, rounds: int) -> None:
    objs = _one_pod_objects(data.draw)
    calls = {"n": 0}
    orig = _Cluster._pending_pods

    def checking(self: _Cluster, group: GroupInfo) -> list[PodInfo]:
        got = orig(self, group)
        assert got == _plain_pending(self, group)
        calls["n"] += 1
        return got

    snap = build_snapshot(m.schedule_objects(objs))
    _Cluster._pending_pods = checking  # type: ignore[method-assign]
    try:
        c = run_rounds(snap, rounds, CFG, NOW).cluster
        for group in snap.groups.values():  # and in the final state (placed, evicted, recreated pods)
            checking(c, group)
    finally:
        _Cluster._pending_pods = orig  # type: ignore[method-assign]
    assert calls["n"] >= len(snap.groups)


def _plain_next_queue(c: _Cluster, jobs: dict[str, list[GroupInfo]]) -> str | None:
    """The queue order without the memos: from the roots down, the child with jobs below it
    with the smallest ``_queue_key``."""
    tree = c.snap.tree
    with_jobs = {a for q, gs in jobs.items() if gs for a in [q] + tree.ancestors(q)}
    level = [q for q in tree.roots if q in with_jobs]
    while level:
        q = min(level, key=c._queue_key)
        level = [k for k in tree.children(q) if k in with_jobs]
    return q if with_jobs else None


def _tree_objects(draw: Any) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [m.queue("d1", gpu_quota=4), m.queue("d2", gpu_quota=2),
                                  m.queue("qa", parent="d1", gpu_quota=2), m.queue("qb", parent="d1", gpu_quota=1),
                                  m.queue("qc", parent="d2", gpu_quota=1), m.queue("qd", gpu_quota=1)]
    objs += [m.node(f"n{i}", gpus=draw(st.integers(0, 4))) for i in range(draw(st.integers(1, 3)))]
    for j in range(draw(st.integers(1, 14))):
        q = draw(st.sampled_from(["qa", "qb", "qc", "qd", "d1"]))
        running = draw(st.sampled_from([None, None, "n0"]))
        objs.append(m.pod(f"p{j}", queue=q, gpus=draw(st.integers(0, 3)), node_name=running,
                          created=f"2026-01-01T00:00:{j:02d}Z"))
    return objs


@settings(max_examples=80, deadline=None)
@given(st.data(), st.integers(1, 3), st.sampled_from([None, 2]))
def test_allocate_queue_order_matches_plain(data: Any, rounds: int, depth: int | None) -> None:
    """``allocate`` (live queues kept, ``_next_among``) tries the jobs in the order the plain
    loop (``next_queue`` recomputed from ``jobs`` every time, without memos) does."""
    import _round_reference as ref
    from gpuplane.scheduler.config import SchedulerConfig

    objs = _tree_objects(data.draw)
    cfg = SchedulerConfig(queue_depth={"allocate": depth}) if depth else CFG
    orig_group = _Cluster.allocate_group

    def run(plain: bool) -> tuple[list[Any], Any]:
        order: list[Any] = []

        def recording(self: _Cluster, group: GroupInfo) -> bool:
            order.append((self.round, group.key))
            return orig_group(self, group)

        saved = (_Cluster.allocate, _Cluster.next_queue)
        _Cluster.allocate_group = recording  # type: ignore[method-assign]
        if plain:
            _Cluster.allocate = ref._ref_cluster_allocate  # type: ignore[method-assign]
            _Cluster.next_queue = _plain_next_queue  # type: ignore[method-assign, assignment]
        try:
            res = run_rounds(build_snapshot(m.schedule_objects(objs)), rounds, cfg, NOW)
        finally:
            _Cluster.allocate_group = orig_group  # type: ignore[method-assign]
            _Cluster.allocate, _Cluster.next_queue = saved  # type: ignore[method-assign]
        return order, res

    fast, a = run(False)
    plain, b = run(True)
    assert fast == plain
    assert_same_result(b, a)
    assert a.fair_share == b.fair_share


def test_one_pod_groups_with_subgroups_are_not_carried() -> None:
    """A one-pod PodGroup with SubGroups is collected the plain way every cycle: its pod naming
    no SubGroup is explained again in the next cycle (nothing carried skips _unplaceable)."""
    pg = m.podgroup("g", 1, "qa")
    pg["spec"]["subGroups"] = [{"name": "w", "minMember": 1}]
    pod = m.pod("p", queue="qa", group="g", gpus=1)
    pod["metadata"]["labels"]["kai.scheduler/subgroup-name"] = "x"
    objs = [m.queue("qa", gpu_quota=2), m.node("n0", gpus=2), pg, pod, m.pod("lone", queue="qa", gpus=4)]
    acct = RunningAccount()
    reuse = ReuseGroups()
    for _ in range(3):
        snap = reuse.snapshot(objs)
        got = run_rounds(snap, 1, CFG, NOW, account=acct)
        assert got.reasons[("default", "p")].code == "SubGroupNotFound"
        assert got.reasons == run_rounds(snap, 1, CFG, NOW).reasons
    assert any(e.group.key == ("default", "lone") for e in acct.memo.still.values())  # the lone pod is carried


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["qa", "qb"]), st.sampled_from(["1", "0.0005", "1500m", "0.3333"]),
                          st.sampled_from(["1Gi", "1000001", "0.5"]), st.integers(0, 2),
                          st.sampled_from([None, "0.5"])), min_size=1, max_size=10))
def test_requested_matches_reference(pods: list[tuple[str, str, str, int, str | None]]) -> None:
    """requested (whole values added as ints, the rest as Fractions) against the reference
    requested of tests/_round_reference.py, with whole and fractional CPU and memory."""
    import _round_reference as ref

    objs: list[dict[str, Any]] = [m.queue("qa", gpu_quota=2), m.queue("qb", gpu_quota=1), m.node("n0", gpus=1)]
    for j, (q, cpu, mem, gpus, fraction) in enumerate(pods):
        objs.append(m.pod(f"p{j}", queue=q, cpu=cpu, memory=mem, gpus=0 if fraction else gpus, fraction=fraction))
    c = run_rounds(build_snapshot(m.schedule_objects(objs)), 0, CFG, NOW).cluster
    assert c.requested(c.jobs) == ref._ref_cluster_requested(c, c.jobs)
