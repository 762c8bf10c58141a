"""RunningAccount (running-pod accounting kept between cycles) against the full path.

The oracle is ``_Cluster._account_running`` / ``run_rounds`` without an account. Random
sequences of cluster states (pods added, removed, bound, moved, released, finished; with and
without the GPU annotation, whole and shared GPUs, elastic gangs, several queues, a PodGroup
changing queue, pods of another scheduler, DRA claim pods): after each step, a ``_Cluster``
started from the account equals one built from scratch, and ``run_rounds`` gives the same
result. Snapshots reuse the ``PodInfo`` of every pod whose object did not change (as an
incremental snapshot does), so the account's ``is`` test sees real unchanged pods.
"""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.account import RunningAccount
from gpuplane.scheduler.config import SchedulerConfig
from gpuplane.scheduler.cycle import _Cluster, run_rounds
from gpuplane.scheduler.snapshot import NodeInfo, PodInfo, Snapshot, build_snapshot

NOW = "2026-06-01T12:00:00Z"
CFG = SchedulerConfig()
NODES = [("n0", 4, 16000), ("n1", 4, 24000), ("n2", 2, None), ("c0", 0, None)]
QUEUES = ["qa", "qb", "qc"]
EXT = "example.com/nic"


def base_objects(n0_cpu: str = "16") -> list[dict[str, Any]]:
    objs = [m.queue("dept"), m.queue("qa", parent="dept", gpu_quota=2), m.queue("qb", parent="dept", gpu_quota=1),
            m.queue("qc", gpu_quota=2)]
    for name, gpus, mem in NODES:
        objs.append(m.node(name, gpus=gpus, cpu=n0_cpu if name == "n0" else "16", memory="64Gi", gpu_memory_mib=mem))
    objs[-1]["status"]["allocatable"][EXT] = "4"  # c0 has an extended resource
    objs += [m.node("d0", cpu="8", memory="64Gi"), m.device_class(), m.gpu_slice("d0", 2), m.claim_template("one")]
    return objs


class Reuse:
    """Keeps one PodInfo per distinct pod object: the next snapshot gets the same PodInfo for
    a pod that did not change (what an incremental snapshot builder does)."""

    def __init__(self) -> None:
        self.seen: dict[str, PodInfo] = {}
        self.nodes: dict[str, NodeInfo] = {}

    def snapshot(self, objs: list[dict[str, Any]], keep: bool = True) -> Snapshot:
        snap = build_snapshot(m.schedule_objects(objs))
        if not keep:
            return snap
        pods = {}
        for k, p in snap.pods.items():
            sig = json.dumps(p.raw, sort_keys=True, default=str)
            pods[k] = self.seen.setdefault(sig, p)
        nodes = []
        for n in snap.nodes:  # an unchanged node keeps its NodeInfo too
            old = self.nodes.get(n.name)
            nodes.append(old if old == n else n)
            self.nodes[n.name] = nodes[-1]
        return dataclasses.replace(snap, pods=pods, nodes=tuple(nodes))


def pod_obj(draw, name: str, groups: list[str]) -> dict[str, Any]:
    kind = draw(st.sampled_from(["cpu", "whole", "whole", "frac", "mem", "claim", "other"]))
    queue = draw(st.sampled_from(QUEUES))
    group = draw(st.sampled_from([None] + groups))
    kw: dict[str, Any] = {"queue": queue, "group": group, "cpu": draw(st.sampled_from(["1", "500m", "1500m"])),
                          "memory": draw(st.sampled_from(["1Gi", "1500Mi"]))}
    if kind == "whole":
        kw["gpus"] = draw(st.integers(1, 2))
    elif kind == "frac":
        kw["fraction"] = draw(st.sampled_from(["0.5", "0.25", "0.3"]))
        if draw(st.booleans()):
            kw["num_devices"] = 2
    elif kind == "mem":
        kw["gpu_memory"] = draw(st.sampled_from([4000, 8000]))
    elif kind == "claim":
        kw["claims"] = [{"name": "gpu", "resourceClaimTemplateName": "one"}]
    elif kind == "other":
        kw["scheduler"] = "someone-else"
        kw["gpus"] = 1
    obj = m.pod(name, **kw)
    if draw(st.integers(0, 3)) == 0:  # an extended resource (on c0 only: elsewhere it goes negative)
        obj["spec"]["containers"][0]["resources"]["requests"][EXT] = "1"
    return obj


def place(draw, obj: dict[str, Any]) -> None:
    """Bind ``obj`` to a random node, with a random (sometimes missing or bad) GPU annotation."""
    claim = bool(obj["spec"].get("resourceClaims"))
    node = "d0" if claim else draw(st.sampled_from([n[0] for n in NODES]))
    obj["spec"]["nodeName"] = node
    obj["status"] = {"phase": "Running"}
    ann = obj["metadata"].setdefault("annotations", {})
    ann.pop("gpuplane.io/gpus", None)
    how = draw(st.sampled_from(["ann", "ann", "none", "none", "bad"]))
    if how == "ann":
        ann["gpuplane.io/gpus"] = ",".join(f"gpu-{i}" for i in sorted(draw(st.sets(st.integers(0, 3), min_size=1, max_size=2))))
    elif how == "bad":
        ann["gpuplane.io/gpus"] = "gpu-9"


@st.composite
def histories(draw):
    groups = ["g0", "g1"]
    pods: dict[str, dict[str, Any]] = {}
    group_queue = {g: draw(st.sampled_from(QUEUES)) for g in groups}
    group_min = {g: draw(st.integers(1, 2)) for g in groups}
    steps = []
    n = 0
    n0_cpu = "16"
    for _ in range(draw(st.integers(2, 6))):
        for _ in range(draw(st.integers(1, 4))):
            op = draw(st.sampled_from(["add", "add", "bind", "remove", "move", "release", "finish", "regroup", "resize"]))
            names = sorted(pods)
            if op == "add" or not names:
                obj = pod_obj(draw, f"p{n}", groups)
                n += 1
                if draw(st.booleans()):
                    place(draw, obj)
                pods[obj["metadata"]["name"]] = obj
                continue
            name = draw(st.sampled_from(names))
            obj = json.loads(json.dumps(pods[name]))
            if op == "bind" or op == "move":
                place(draw, obj)
            elif op == "remove":
                del pods[name]
                continue
            elif op == "release" and obj["spec"].get("nodeName"):
                obj["metadata"]["deletionTimestamp"] = "2026-06-01T11:00:00Z"
            elif op == "finish":
                obj["status"] = {"phase": "Succeeded"}
            elif op == "resize":  # a node's capacity changes (its GPUs do not)
                n0_cpu = draw(st.sampled_from(["8", "16", "32"]))
                continue
            elif op == "regroup":
                g = draw(st.sampled_from(groups))
                group_queue[g] = draw(st.sampled_from(QUEUES))
                continue
            pods[name] = obj
        objs = base_objects(n0_cpu) + [m.podgroup(g, group_min[g], group_queue[g]) for g in groups]
        steps.append(objs + [pods[k] for k in sorted(pods)])
    return steps


def node_view(c: _Cluster) -> dict[str, tuple]:
    return {name: (ns.cpu, ns.memory, ns.pods, ns.other, list(ns.gpu_used), ns.gpu_free)
            for name, ns in c.nodes.items()}


def index_view(c: _Cluster) -> tuple:
    fi = c.free_index
    return ({v: list(b) for v, b in fi.buckets.items() if b}, fi.partial, fi.odd, fi.total, fi.changes)


def assert_same_cluster(full: _Cluster, inc: _Cluster) -> None:
    assert node_view(inc) == node_view(full)
    assert index_view(inc) == index_view(full)
    assert inc.alloc == full.alloc
    assert inc.alloc_np == full.alloc_np
    assert inc.held_gpu == full.held_gpu
    for name, ns in inc.nodes.items():
        assert ns.index is inc.free_index


def assert_same_result(a, b) -> None:
    assert a.placements == b.placements
    assert a.reasons == b.reasons
    assert a.evictions == b.evictions
    assert a.evicted == b.evicted
    assert a.nominated == b.nominated
    assert a.allocated == b.allocated
    assert a.allocated_np == b.allocated_np
    assert a.recreated == b.recreated


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(histories(), st.booleans())
def test_account_matches_full_accounting(steps, keep):
    eager = RunningAccount()
    eager.COLD_MIN = float("inf")  # always incremental (after the first snapshot)
    lazy = RunningAccount()  # the default: cold when most pods changed
    reuse = Reuse()
    for objs in steps:
        snap = reuse.snapshot(objs, keep)
        full = _Cluster(snap, CFG, NOW)
        for acct in (eager, lazy):
            assert_same_cluster(full, _Cluster(snap, CFG, NOW, account=acct))
        expected = run_rounds(snap, 1, CFG, NOW)
        for acct in (eager, lazy):
            assert_same_result(expected, run_rounds(snap, 1, CFG, NOW, account=acct))
    if keep and len(steps) > 2:
        assert eager.incremental + eager.full + eager.rebuilt >= len(steps)


def test_unchanged_pods_are_not_recounted():
    """A pod object that did not change keeps its contribution; a changed one is replaced."""
    reuse = Reuse()
    objs = base_objects() + [m.pod("a", queue="qa", gpus=1, node_name="n0", held="gpu-1"),
                             m.pod("b", queue="qb", fraction="0.5", node_name="n0", held="gpu-2")]
    acct = RunningAccount()
    acct.COLD_MIN = float("inf")
    for _ in range(2):
        snap = reuse.snapshot(objs)
        assert_same_cluster(_Cluster(snap, CFG, NOW), _Cluster(snap, CFG, NOW, account=acct))
    assert (acct.full, acct.rebuilt, acct.incremental) == (1, 1, 0)  # first: cold; then rebuilt
    snap = reuse.snapshot(objs)
    c = _Cluster(snap, CFG, NOW, account=acct)
    assert acct.incremental == 1
    assert c.nodes["n0"].gpu_used == [0, 1, 0.5, 0]
    objs[-1] = m.pod("b", queue="qb", fraction="0.5", node_name="n1", held="gpu-0")  # moved
    snap = reuse.snapshot(objs)
    c = _Cluster(snap, CFG, NOW, account=acct)
    assert_same_cluster(_Cluster(snap, CFG, NOW), c)
    assert c.nodes["n0"].gpu_used == [0, 1, 0, 0] and c.nodes["n1"].gpu_used == [0.5, 0, 0, 0]


def test_bad_annotation_falls_back_to_the_full_path():
    reuse = Reuse()
    objs = base_objects() + [m.pod("a", queue="qa", gpus=1, node_name="n0", held="gpu-9"),
                             m.pod("b", queue="qa", gpus=1, node_name="n0", held="gpu-0")]
    acct = RunningAccount()
    for _ in range(3):
        snap = reuse.snapshot(objs)
        assert_same_cluster(_Cluster(snap, CFG, NOW), _Cluster(snap, CFG, NOW, account=acct))
    assert acct.incremental == 0 and acct.full == 3


def test_new_nodes_rebuild():
    reuse = Reuse()
    objs = base_objects() + [m.pod("a", queue="qa", gpus=1, node_name="n0", held="gpu-1")]
    acct = RunningAccount()
    for i in range(3):
        snap = reuse.snapshot(objs)
        assert_same_cluster(_Cluster(snap, CFG, NOW), _Cluster(snap, CFG, NOW, account=acct))
    objs.append(m.node("n9", gpus=8, cpu="16", memory="64Gi"))
    for i in range(2):
        snap = reuse.snapshot(objs)
        assert_same_cluster(_Cluster(snap, CFG, NOW), _Cluster(snap, CFG, NOW, account=acct))
    assert acct.rebuilt == 2


def test_unannotated_pods_take_gpus_in_name_order_every_cycle():
    """Pods without the annotation get GPUs chosen after the annotated ones, in name order: a
    whole-GPU pod before a fractional one on the same node differs from the other order."""
    reuse = Reuse()
    objs = base_objects() + [m.pod("a", queue="qa", gpus=1, node_name="n0"),
                             m.pod("b", queue="qa", fraction="0.3", node_name="n0"),
                             m.pod("c", queue="qb", gpus=1, node_name="n0", held="gpu-0")]
    acct = RunningAccount()
    acct.COLD_MIN = float("inf")
    for step in range(4):
        if step == 3:  # "a" leaves: "b" moves to the first free GPU
            objs = [o for o in objs if o["metadata"]["name"] != "a"]
        snap = reuse.snapshot(objs)
        full, inc = _Cluster(snap, CFG, NOW), _Cluster(snap, CFG, NOW, account=acct)
        assert_same_cluster(full, inc)
    assert inc.held_gpu[("default", "b")] == ([1], Fraction(3, 10))
    assert acct.incremental == 2


def test_extended_resources_come_and_go():
    reuse = Reuse()
    pod = m.pod("a", queue="qa", node_name="c0")
    pod["spec"]["containers"][0]["resources"]["requests"][EXT] = "2"
    objs = base_objects() + [pod, m.pod("b", queue="qa", node_name="c0")]
    acct = RunningAccount()
    acct.COLD_MIN = float("inf")
    for step in range(4):
        if step == 3:
            objs = [o for o in objs if o["metadata"]["name"] != "a"]
        snap = reuse.snapshot(objs)
        full, inc = _Cluster(snap, CFG, NOW), _Cluster(snap, CFG, NOW, account=acct)
        assert_same_cluster(full, inc)
    assert inc.nodes["c0"].other == {EXT: 4}


def test_goes_cold_when_every_pod_is_new_and_warms_up_again():
    """A builder that makes new PodInfo objects every time: the account stops updating (the
    full path serves) until snapshots share most pods again."""
    reuse = Reuse()
    objs = base_objects() + [m.pod(f"p{i}", queue="qa", cpu="100m", node_name="c0") for i in range(8)]
    acct = RunningAccount()
    acct.COLD_MIN = 0
    served = []
    for keep in (True, True, True, False, False, True, True):
        snap = reuse.snapshot(objs, keep)
        assert_same_cluster(_Cluster(snap, CFG, NOW), _Cluster(snap, CFG, NOW, account=acct))
        served.append((acct.full, acct.rebuilt, acct.incremental))
    assert served == [(1, 0, 0), (1, 1, 0), (1, 1, 1), (2, 1, 1), (3, 1, 1), (4, 1, 1), (4, 2, 1)]


def _reusing_snapshot(orig):
    """SchedulerLoop.snapshot that hands a pod's last PodInfo back while its object (uid and
    resourceVersion) and decoded value are the same: what an incremental snapshot does."""
    def snapshot(self, objects):
        snap = orig(self, objects)
        prev = getattr(self, "_test_prev_pods", {})
        pods = {}
        for k, p in snap.pods.items():
            o = prev.get(k)
            md = p.raw.get("metadata", {})
            same = (o is not None and md.get("uid") and md.get("resourceVersion")
                    and (md.get("uid"), md.get("resourceVersion")) ==
                    (o.raw["metadata"].get("uid"), o.raw["metadata"].get("resourceVersion")) and o == p)
            pods[k] = o if same else p
        self._test_prev_pods = pods
        return dataclasses.replace(snap, pods=pods)
    return snapshot


def test_simulation_decides_the_same_with_the_account(monkeypatch):
    """The engine's scheduler loop with the account (pods reused between cycles) against the
    loop without it: the same bindings, evictions and job times."""
    import sys
    from pathlib import Path

    from gpuplane.cluster import loop as loop_mod
    from gpuplane.sim.engine import run_jobs
    from gpuplane.sim.jobs import SimJob

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_sim_engine import node, queue

    import random
    rng = random.Random(7)
    jobs = [SimJob(name=f"j{i}", queue=rng.choice("abc"), submit_s=float(rng.randint(0, 3000)),
                   duration_s=float(rng.randint(60, 1500)),
                   **rng.choice([dict(gpus_per_pod=1), dict(gpus_per_pod=2, pods=2), dict(gpus_per_pod=8),
                                 dict(gpu_fraction=0.5, priority_class="inference", kind="inference"), {}]))
            for i in range(60)]
    cluster = [node(f"n{i}") for i in range(3)]
    queues = [queue("a", 8), queue("b", 8), queue("c", 4)]

    def outcome(log):
        return sorted((r.name, r.first_start_s, r.end_s, r.evictions) for r in log.jobs.values())

    monkeypatch.setattr(loop_mod.SchedulerLoop, "snapshot", _reusing_snapshot(loop_mod.SchedulerLoop.snapshot))
    accounts = []
    orig_init = loop_mod.SchedulerLoop.__init__

    def init(self, *a, **kw):
        orig_init(self, *a, **kw)
        accounts.append(self.account)
    monkeypatch.setattr(loop_mod.SchedulerLoop, "__init__", init)
    with_account = outcome(run_jobs(cluster, queues, jobs, period_s=60, write_status=False, frames=0))
    assert accounts[0].incremental > 10

    def init_without(self, *a, **kw):
        orig_init(self, *a, **kw)
        self.account = None
    monkeypatch.setattr(loop_mod.SchedulerLoop, "__init__", init_without)
    without = outcome(run_jobs(cluster, queues, jobs, period_s=60, write_status=False, frames=0))
    assert with_account == without
    assert any(e for *_, e in without)  # the workload has evictions (reclaim), not only bindings
