"""Properties of eviction with DRA claims, MIG partitions and elastic gangs (hypothesis).

A cluster (device-plugin GPUs, a DRA node with whole GPUs, a dynamic-MIG node) is filled by one
round with "early" jobs, then "late" jobs arrive and rounds run. Checked after every run: no
device, MIG memory slice or GPU is booked twice (Releasing pods included); non-preemptible jobs
are never evicted; an elastic gang keeps at least minMember pods unless it is evicted whole; a
reclaim never leaves the reclaimer above its fair share; nothing is evicted after round 4 of 9.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuplane.scheduler import actions
from gpuplane.scheduler import manifests as m
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


def _base(draw):
    mig = bc.node_object(0)
    mig["status"] = {"allocatable": {"cpu": "64", "memory": "512Gi", "pods": "110"}}
    objs = [m.node("n1", gpus=draw(st.integers(1, 3)), cpu="16", memory="64Gi"), m.node("d1", cpu="16", memory="64Gi"),
            m.device_class(), m.gpu_slice("d1", draw(st.integers(1, 3))), m.claim_template("one", 1), mig]
    objs += bc.device_classes() + _small_mig(draw(st.integers(1, 2)))
    objs += [_template("mig-1g", "mig.nvidia.com", [f"device.attributes['{bc.DRIVER}'].profile == '1g.18gb'"]),
             _template("mig-3g", "mig.nvidia.com", [f"device.attributes['{bc.DRIVER}'].profile == '3g.71gb'"]),
             _template("full", "gpu.nvidia.com")]
    for q in ("qa", "qb"):
        objs.append(m.queue(q, gpu_quota=draw(st.sampled_from([0.5, 1, 2, 3])), weight=draw(st.sampled_from([0, 1, 2]))))
    return objs


@st.composite
def clusters(draw):
    base = _base(draw)

    def jobs(prefix, hour, queues, most):
        objs = []
        for j in range(draw(st.integers(0, most))):
            name = f"{prefix}{j}"
            q = draw(st.sampled_from(queues))
            prio = draw(st.sampled_from(PRIOS))
            kind = draw(st.sampled_from(["gpu", "dra", "mig-1g", "mig-3g", "full"]))
            size = draw(st.integers(1, 3))
            min_member = draw(st.integers(1, size))
            created = f"2026-06-01T{hour:02d}:{j:02d}:00Z"

            def pod(pname, group=None):
                if kind == "gpu":
                    return m.pod(pname, queue=q, gpus=1, priority_class=prio, created=created, group=group)
                tmpl = "one" if kind == "dra" else kind
                return m.pod(pname, queue=q, priority_class=prio, created=created, group=group,
                             claims=[{"name": "gpu", "resourceClaimTemplateName": tmpl}])
            if size == 1:
                objs.append(pod(name))
            else:
                pg = m.podgroup(name, min_member, q, priority_class=prio)
                pg["metadata"]["creationTimestamp"] = created
                objs.append(pg)
                objs += [pod(f"{name}-{k}", name) for k in range(size)]
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
