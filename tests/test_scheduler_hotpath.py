"""The per-pod hot paths of ``_Cluster`` against their plain computations.

``charge_for`` memoises the charge of claimless pods per (pod object, GPU memory): it must
equal the charge computed afresh for every pod on every node (and without a node), hand out
a fresh dict each call, and not be fooled by a different pod object with the same key.
``release`` / ``rehold`` of a pod the snapshot says is running must give back exactly the
node and queue state from before (values, not types: ints while whole).
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.config import SchedulerConfig
from gpuplane.scheduler.cycle import _Cluster
from gpuplane.scheduler.snapshot import build_snapshot

NOW = "2026-06-01T12:00:00Z"
NODES = [("n0", 4, 16000), ("n1", 4, 24000), ("n2", 2, None), ("c0", 0, None)]
QUEUES = ["qa", "qb", "qc"]


def _objects(specs: list[tuple[str, str, Any, bool, int]]) -> list[dict[str, Any]]:
    objs = [m.queue("dept"), m.queue("qa", parent="dept", gpu_quota=2), m.queue("qb", parent="dept", gpu_quota=1),
            m.queue("qc", gpu_quota=2)]
    for name, gpus, mem in NODES:
        objs.append(m.node(name, gpus=gpus, cpu="3", memory="6Gi", gpu_memory_mib=mem))  # cpu and memory run out too
    for i, (queue, kind, amount, running, node) in enumerate(specs):
        kw: dict[str, Any] = {"queue": queue, "cpu": "500m" if i % 2 else "1", "memory": "1500Mi" if i % 3 else "1Gi"}
        if kind == "whole":
            kw["gpus"] = amount
        elif kind == "frac":
            kw["fraction"] = amount
        elif kind == "mem":
            kw["gpu_memory"] = amount
        obj = m.pod(f"p{i}", **kw)
        if running:
            obj["spec"]["nodeName"] = NODES[node][0]
            obj["status"] = {"phase": "Running"}
        objs.append(obj)
    return objs


pod_specs = st.lists(st.tuples(
    st.sampled_from(QUEUES),
    st.sampled_from(["cpu", "whole", "frac", "mem"]).flatmap(lambda k: st.tuples(st.just(k), {
        "cpu": st.just(0), "whole": st.integers(1, 2), "frac": st.sampled_from(["0.5", "0.25", "0.3"]),
        "mem": st.sampled_from([4000, 8000, 30000])}[k])),
    st.booleans(), st.integers(0, 2)), min_size=1, max_size=8).map(
        lambda xs: [(q, k, a, r, n) for q, (k, a), r, n in xs])


def _state(c: _Cluster) -> Any:
    nodes = {n: (s.cpu, s.memory, s.pods, dict(s.other), list(s.gpu_used), s.gpu_free) for n, s in c.nodes.items()}
    index = ({v: list(b) for v, b in c.free_index.buckets.items()}, c.free_index.total, set(c.free_index.partial),
             set(c.free_index.odd))
    return nodes, index, {q: dict(r) for q, r in c.alloc.items()}, {q: dict(r) for q, r in c.alloc_np.items()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pod_specs)
def test_charge_for_memo_equals_fresh(specs: list[tuple[str, str, Any, bool, int]]) -> None:
    snap = build_snapshot(m.schedule_objects(_objects(specs)))
    c = _Cluster(snap, SchedulerConfig(), NOW)
    for _ in range(2):  # the second pass hits the memo
        for pod in snap.pods.values():
            for node in [None, *snap.nodes]:
                got = c.charge_for(pod, node)
                assert got == c._charge(pod, node, None)
                assert got is not c.charge_for(pod, node)  # a fresh dict each call
                got["gpu"] = Fraction(99)  # a caller's change does not reach the memo
                assert c.charge_for(pod, node) == c._charge(pod, node, None)
    for pod in snap.pods.values():  # a holder's charge (the memo's dict) is the fresh one too
        if pod.holds_resources:
            assert c.held_charge(pod) == c._charge(pod, c.node_info.get(pod.node_name), None)
    # another object under the same key (a recreated pod) is not answered from the memo
    for pod in snap.pods.values():
        other = dataclasses.replace(pod, cpu_milli=pod.cpu_milli + 7)
        assert c.charge_for(other)["cpu"] == pod.cpu_milli + 7


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pod_specs)
def test_release_rehold_round_trip(specs: list[tuple[str, str, Any, bool, int]]) -> None:
    snap = build_snapshot(m.schedule_objects(_objects(specs)))
    c = _Cluster(snap, SchedulerConfig(), NOW)
    holders = [p for p in snap.pods.values() if p.holds_resources]
    before = _state(c)
    tokens = [(p, c.release(p)) for p in holders]
    if holders:  # every holder released: the nodes are as empty as without them
        empty = _Cluster(dataclasses.replace(snap, pods={k: p for k, p in snap.pods.items() if not p.holds_resources}),
                         SchedulerConfig(), NOW)
        got, want = _state(c), _state(empty)
        assert got[0] == want[0] and got[2] == want[2] and got[3] == want[3]
        assert got[1][1:] == want[1][1:]
        assert {v: sorted(b) for v, b in got[1][0].items()} == {v: sorted(b) for v, b in want[1][0].items()}
    for p, token in reversed(tokens):
        c.rehold(p, token)
    assert _state(c) == before


def _scan_result(c: _Cluster, pod: Any) -> Any:
    group = c._group_of(pod)
    out = c._scan(pod, group, list(c.snap.nodes), None, [], [], None, c._static_key(pod), c.charge_for(pod))
    if not isinstance(out, tuple):
        return out.code, out.message
    best, counts, total = out
    return (None if best is None else (best.node, best.gpu_indices)), counts, total


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pod_specs, st.lists(st.tuples(st.sampled_from(["place", "place", "release", "rehold", "undo"]),
                                     st.integers(0, 100)), max_size=12))
def test_scan_node_memo_equals_fresh_scan(specs: list[tuple[str, str, Any, bool, int]],
                                          ops: list[tuple[str, int]]) -> None:
    """``_scan`` reuses a node's reason for a pod shape while the node's epoch is unchanged: after
    any sequence of placements, undos, releases and reholds it answers as a scan without the memo."""
    snap = build_snapshot(m.schedule_objects(_objects(specs)))
    c = _Cluster(snap, SchedulerConfig(), NOW)
    pending = [p for p in snap.pods.values() if not p.holds_resources]
    running = [p for p in snap.pods.values() if p.holds_resources]
    placed: list[Any] = []
    released: list[Any] = []
    for op, i in ops:
        if op == "place" and pending:
            pod = pending[i % len(pending)]
            if pod.key not in c.placements:
                res = c.place(pod, c._group_of(pod))
                if not hasattr(res, "code"):
                    placed.append((pod, res))
        elif op == "undo" and placed:
            pod, pl = placed.pop(i % len(placed))
            c.undo(pl, pod)
        elif op == "release" and running:
            pod = running[i % len(running)]
            if pod.key not in c.released:
                released.append((pod, c.release(pod)))
        elif op == "rehold" and released:
            pod, token = released.pop(i % len(released))
            c.rehold(pod, token)
        for pod in pending:
            got = _scan_result(c, pod)
            memo, c._why_nodes = c._why_nodes, {}  # (a scan without the memo's entries)
            want = _scan_result(c, pod)
            c._why_nodes = memo
            assert got == want
