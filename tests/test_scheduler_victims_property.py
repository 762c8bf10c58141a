"""Properties of eviction with DRA claims, MIG partitions and elastic gangs (hypothesis).

A cluster (device-plugin GPUs, a DRA node with whole GPUs, a dynamic-MIG node) is filled by one
round with "early" jobs, then "late" jobs arrive and rounds run. Checked after every run: no
device, MIG memory slice or GPU is booked twice (Releasing pods included); non-preemptible jobs
are never evicted; an elastic gang keeps at least minMember pods unless it is evicted whole; a
reclaim never leaves the reclaimer above its fair share; nothing is evicted after round 4 of 9.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuplane.scheduler import actions
from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.account import RunningAccount
from gpuplane.scheduler.config import SchedulerConfig
from gpuplane.scheduler.cycle import run_rounds
from gpuplane.scheduler.output import result_objects
from gpuplane.scheduler.queues import RESOURCES
from gpuplane.scheduler.snapshot import build_snapshot, gpu_device_index

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import _clusters as bc  # noqa: E402

NOW = "2026-06-01T12:00:00Z"
PRIOS = ["train", "build-preemptible", "inference"]
MIG_NODE = bc.node_name(0)


def _template(name, cls, selectors=None):
    req = bc._request("gpu", cls, selectors=selectors)
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
            "metadata": {"name": name, "namespace": "default"}, "spec": {"spec": {"devices": {"requests": [req]}}}}


def _small_mig(gpus):
    """The benchmark's dynamic-MIG node cut down to ``gpus`` GPUs (scarce capacity: evictions happen)."""
    out = []
    for sl in bc.node_slices("mig", 0):
        spec = sl["spec"]
        spec["pool"]["resourceSliceCount"] = gpus + 1
        if "sharedCounters" in spec:
            spec["sharedCounters"] = spec["sharedCounters"][:gpus]
            out.append(sl)
        elif int(sl["metadata"]["name"].rsplit("-", 1)[1]) < gpus:
            out.append(sl)
    return out


def _cluster(n1_gpus, d1_gpus, mig_gpus, queues):
    """Node n1 (device-plugin GPUs), node d1 (DRA GPUs), the dynamic-MIG node, the claim
    templates, and queues ``{name: (GPU quota, over-quota weight)}``."""
    mig = bc.node_object(0)
    mig["status"] = {"allocatable": {"cpu": "64", "memory": "512Gi", "pods": "110"}}
    objs = [m.node("n1", gpus=n1_gpus, cpu="16", memory="64Gi"), m.node("d1", cpu="16", memory="64Gi"),
            m.device_class(), m.gpu_slice("d1", d1_gpus), m.claim_template("one", 1), mig]
    objs += bc.device_classes() + _small_mig(mig_gpus)
    objs += [_template("mig-1g", "mig.nvidia.com", [f"device.attributes['{bc.DRIVER}'].profile == '1g.18gb'"]),
             _template("mig-3g", "mig.nvidia.com", [f"device.attributes['{bc.DRIVER}'].profile == '3g.71gb'"]),
             _template("full", "gpu.nvidia.com")]
    return objs + [m.queue(q, gpu_quota=quota, weight=weight) for q, (quota, weight) in queues.items()]


def _base(draw):
    n1, d1, mig = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    queues = {}
    for q in ("qa", "qb"):
        queues[q] = (draw(st.sampled_from([0.5, 1, 2, 3])), draw(st.sampled_from([0, 1, 2])))
    return _cluster(n1, d1, mig, queues)


def _job(name, q, prio, kind, size, min_member, created):
    """A lone pod (``size`` 1) or a PodGroup of ``size`` pods; ``kind``: gpu (one device-plugin
    GPU), dra (claim template one), or the claim template mig-1g, mig-3g or full."""
    def pod(pname, group=None):
        if kind == "gpu":
            return m.pod(pname, queue=q, gpus=1, priority_class=prio, created=created, group=group)
        tmpl = "one" if kind == "dra" else kind
        return m.pod(pname, queue=q, priority_class=prio, created=created, group=group,
                     claims=[{"name": "gpu", "resourceClaimTemplateName": tmpl}])
    if size == 1:
        return [pod(name)]
    pg = m.podgroup(name, min_member, q, priority_class=prio)
    pg["metadata"]["creationTimestamp"] = created
    return [pg] + [pod(f"{name}-{k}", name) for k in range(size)]


@st.composite
def clusters(draw):
    base = _base(draw)

    def jobs(prefix, hour, queues, most):
        objs = []
        for j in range(draw(st.integers(0, most))):
            q = draw(st.sampled_from(queues))
            prio = draw(st.sampled_from(PRIOS))
            kind = draw(st.sampled_from(["gpu", "dra", "mig-1g", "mig-3g", "full"]))
            size = draw(st.integers(1, 3))
            min_member = draw(st.integers(1, size))
            objs += _job(f"{prefix}{j}", q, prio, kind, size, min_member, f"2026-06-01T{hour:02d}:{j:02d}:00Z")
        return objs

    # early jobs mostly in qb fill the cluster; late jobs mostly in qa want their share back
    return base, jobs("e", 1, ["qb", "qb", "qa"], 6), jobs("l", 5, ["qa", "qa", "qb"], 4)


def _prepare(case):
    base, early, late = case
    first = result_objects(run_rounds(build_snapshot(m.schedule_objects(base + early)), 1, SchedulerConfig(), NOW))
    running = [o for o in first if o["kind"] == "Pod" and o["spec"].get("nodeName")]
    claims = [o for o in first if o["kind"] == "ResourceClaim" and o.get("status", {}).get("allocation")]
    groups = [o for o in early if o["kind"] == "PodGroup"]
    return build_snapshot(m.schedule_objects(base + groups + running + claims + late))


def _check_no_double_booking(snap, out_objs):
    pods = {o["metadata"]["name"]: o for o in out_objs if o["kind"] == "Pod"}
    index = gpu_device_index(snap.slices)
    devices: set = set()
    mem_slices: set = set()
    slices_of = {}
    for s in snap.slices:
        for d in s.spec.devices:
            for cc in d.consumes_counters:
                slices_of[(s.spec.driver, s.spec.pool.name, d.name)] = [
                    (s.spec.pool.name, cc.counter_set, n) for n in cc.counters if n.startswith("memory-slice-")]
    for o in out_objs:
        if o["kind"] != "ResourceClaim":
            continue
        alloc = o.get("status", {}).get("allocation")
        if not alloc:
            continue
        for r in alloc["devices"]["results"]:
            dev = (r["driver"], r["pool"], r["device"])
            assert dev in index or r["driver"] == "gpu.example.com", dev
            assert dev not in devices, f"device {dev} booked twice"
            devices.add(dev)
            for ms in slices_of.get(dev, []):
                assert ms not in mem_slices, f"MIG memory slice {ms} booked twice"
                mem_slices.add(ms)
    used: dict = {}
    for p in pods.values():
        node = p["spec"].get("nodeName")
        for g in filter(None, p["metadata"].get("annotations", {}).get("gpuplane.io/gpus", "").split(",")):
            if node == "n1":
                used[g] = used.get(g, Fraction(0)) + 1
    assert all(v <= 1 for v in used.values()), used


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(clusters())
def test_eviction_invariants_with_claims_mig_and_elastic_gangs(case):
    snap = _prepare(case)
    original = actions._commit

    def checked_commit(c, action, job, victims, fit):
        chosen: dict = {}
        for g, pods in victims:
            assert g.preemptible, f"{action} evicted non-preemptible {g.ref}"
            chosen.setdefault((g.kind, g.key), (g, []))[1].extend(p.key for p in pods)
        for g, keys in chosen.values():
            active = [k for k in g.pods if c.is_active(c.snap.pods[k])]
            left = len(active) - len(set(keys))
            assert left == 0 or left >= g.min_member, f"{g.ref} cut below minMember ({left} of {g.min_member})"
        original(c, action, job, victims, fit)
        if action == "reclaim":
            alloc = c.eff_alloc(job.queue)
            for r in RESOURCES:
                assert float(alloc[r]) <= c.fair[job.queue][r] + 1e-6, (job.queue, r, alloc, c.fair[job.queue])

    actions._commit = checked_commit
    try:
        for rounds in (1, 2, 3):
            result = run_rounds(snap, rounds, SchedulerConfig(), NOW)
            _check_no_double_booking(snap, result_objects(result))
        result = run_rounds(snap, 9, SchedulerConfig(), NOW)
        _check_no_double_booking(snap, result_objects(result))
        assert not [e for e in result.evictions if e["round"] > 4], result.evictions
    finally:
        actions._commit = original


# --- regressions: an evicting action's simulated placements are the ones allocate makes (pins) ---

L1 = [("default", "l1-0"), ("default", "l1-1")]


def _t(hhmm):
    return f"2026-06-01T{hhmm}:00Z"


def _mig_consolidation_case():
    """Found by the property test. One MIG GPU held by e0 (3g) and the elastic gang e1 (2 x 1g);
    l1 (2 x 1g, minMember 2) fits only if consolidation re-partitions the GPU: it moves e0 and
    e1 and nominates all five pods there. Before the pins, the next round placed the moved
    victims first (older) and the allocator gave them other partitions than the simulation
    had, l1 no longer fit and consolidation evicted them again, every other round."""
    base = _cluster(1, 1, 1, {"qa": (0.5, 1), "qb": (0.5, 0)})
    early = (_job("e0", "qb", "train", "mig-3g", 1, 1, _t("01:00"))
             + _job("e1", "qb", "train", "mig-1g", 2, 1, _t("01:01")))
    late = _job("l0", "qa", "train", "dra", 1, 1, _t("05:00")) + _job("l1", "qa", "train", "mig-1g", 2, 2, _t("05:01"))
    return base, early, late


def test_consolidation_on_a_mig_node_moves_once_onto_the_simulated_partitions():
    snap = _prepare(_mig_consolidation_case())
    result = run_rounds(snap, 9, SchedulerConfig(), NOW)
    assert {e["round"] for e in result.evictions} == {1}
    _check_no_double_booking(snap, result_objects(result))
    first = run_rounds(snap, 1, SchedulerConfig(), NOW)
    pins = {k: pl.dra_devices for k, pl in first.cluster.pinned.items()}
    assert set(pins) == {*L1, ("default", "e0"), ("default", "e1-0"), ("default", "e1-1")}
    second = run_rounds(snap, 2, SchedulerConfig(), NOW)
    assert {k: second.placements[k].dra_devices for k in pins} == pins


def test_preempt_then_consolidation_on_mig_nodes_settles():
    """Found by the property test: preempt and consolidation on two MIG GPUs, then (before the
    pins) consolidation of the same six pods every other round from round 4."""
    base = _cluster(3, 1, 2, {"qa": (0.5, 0), "qb": (0.5, 1)})
    early = (_job("e0", "qb", "build-preemptible", "mig-3g", 3, 1, _t("01:00"))
             + _job("e1", "qb", "train", "gpu", 1, 1, _t("01:01"))
             + _job("e2", "qb", "train", "mig-1g", 3, 1, _t("01:02"))
             + _job("e3", "qb", "train", "gpu", 1, 1, _t("01:03")))
    late = _job("l0", "qb", "build-preemptible", "mig-1g", 3, 2, _t("05:00"))
    snap = _prepare((base, early, late))
    result = run_rounds(snap, 9, SchedulerConfig(), NOW)
    assert result.evictions and max(e["round"] for e in result.evictions) <= 4
    assert {("default", f"l0-{i}") for i in range(3)} <= set(result.placements)


def test_a_pin_taken_by_another_pod_falls_back_to_the_usual_placement():
    """A pin is a placement to check, not to trust: l1-1, pinned to the partition l1-0 is pinned
    to (and placed after it), gets another one: the usual path."""
    snap = _prepare(_mig_consolidation_case())
    c = run_rounds(snap, 1, SchedulerConfig(), NOW).cluster
    mine, theirs = c.pinned[L1[1]], c.pinned[L1[0]]
    c.pinned[L1[1]] = replace(mine, claims=[(mine.claims[0][0], theirs.claims[0][1])], dra_devices=theirs.dra_devices)
    c.round = 2
    c.begin_round()
    c.allocate()
    got = [c.placements[k].dra_devices for k in L1]
    assert got[0] == theirs.dra_devices and got[1] and got[1] != got[0]


def _next_cycle(base, snap, result):
    """The objects the next cycle of a loop sees: ``base`` (the cluster), and the run's objects
    with the pods evicted in ``result`` deleted and back as Pending pods (keeping their
    nomination), their claims deallocated."""
    evicted = set(result.evicted)
    freed = {ref.claim for k in evicted for ref in snap.pods[k].claims}
    out = result_objects(result)
    kinds = {o["kind"] for o in out}
    objs = [o for o in base if o["kind"] not in kinds]
    for o in out:
        key = (o["metadata"].get("namespace", "default"), o["metadata"]["name"])
        if o["kind"] == "Pod" and key in evicted:
            node = o["status"].get("nominatedNodeName")
            o["metadata"].pop("deletionTimestamp")
            o["metadata"].get("annotations", {}).pop("gpuplane.io/gpus", None)
            o["spec"].pop("nodeName")
            o["status"] = {"phase": "Pending", **({"nominatedNodeName": node} if node else {})}
        if o["kind"] == "ResourceClaim" and key in freed:
            continue
        objs.append(o)
    return objs


def test_pins_carry_to_the_next_cycle_with_the_account():
    """The loop runs one round per cycle: the pins of a cycle's commit are used by the next one
    through the account's memo (nominations alone, from ``status.nominatedNodeName``, let the
    allocator choose the partitions again: the loop comes back)."""
    case = _mig_consolidation_case()
    snap = _prepare(case)
    account = RunningAccount()
    first = run_rounds(snap, 1, SchedulerConfig(), NOW, account=account)
    pins = {k: pl.dra_devices for k, pl in first.cluster.pinned.items()}
    nxt = build_snapshot(m.schedule_objects(_next_cycle(case[0], snap, first)))
    carried = run_rounds(nxt, 1, SchedulerConfig(), NOW, account=account)
    assert {k: carried.placements[k].dra_devices for k in pins} == pins and not carried.evictions
    fresh = run_rounds(nxt, 1, SchedulerConfig(), NOW)  # (no account: the nominations alone)
    assert not set(L1) & set(fresh.placements)  # the moved jobs took other partitions: l1 waits
