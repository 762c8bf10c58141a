"""Properties of `gpuplane schedule` over small random snapshots (hypothesis).

- no GPU is double-booked: per GPU, whole pods are alone and fractional shares add up to <= 1;
- CPU and pod counts never exceed a node's allocatable;
- queue GPU limits are never exceeded, at any level of the tree;
- gangs are all or nothing: a PodGroup has 0 or at least minMember pods bound;
- every pending pod of the scheduler says why; the output is deterministic.
"""

from __future__ import annotations

import json
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.config import SchedulerConfig
from gpuplane.scheduler.cycle import run_rounds

# A fixed clock: eviction timestamps must not depend on when the test runs.
NOW = "2026-06-01T12:00:00Z"
from gpuplane.scheduler.output import result_objects
from gpuplane.scheduler.snapshot import build_snapshot

QUEUES = ["dept", "qa", "qb", "qc"]


@st.composite
def snapshots(draw):
    objs = []
    nodes = []
    for i in range(draw(st.integers(1, 3))):
        gpus = draw(st.integers(0, 4))
        cpu = draw(st.sampled_from([2, 4, 8]))
        nodes.append((f"n{i}", gpus, cpu))
        objs.append(m.node(f"n{i}", gpus=gpus, cpu=str(cpu), memory="64Gi"))
    dra_devices = draw(st.integers(0, 3))
    if dra_devices:
        objs += [m.node("d0", cpu="8", memory="64Gi"), m.device_class(), m.gpu_slice("d0", dra_devices),
                 m.claim_template("one"), m.claim_template("two", count=2)]
        nodes.append(("d0", 0, 8))
    limits = {}
    dept_limit = draw(st.sampled_from([-1, 2, 4]))
    dept_quota = draw(st.sampled_from([0, 1, 2, 4]))
    objs.append(m.queue("dept", gpu_quota=dept_quota if dept_limit == -1 else min(dept_quota, dept_limit), gpu_limit=dept_limit))
    for q in ("qa", "qb"):
        limit = draw(st.sampled_from([-1, 0, 1, 3]))
        quota = draw(st.sampled_from([0, 1, 2]))
        objs.append(m.queue(q, parent="dept", gpu_quota=quota if limit == -1 else min(quota, limit), gpu_limit=limit))
    qc_limit = draw(st.sampled_from([-1, 1, 2]))
    qc_quota = draw(st.sampled_from([0, 1, 2]))
    objs.append(m.queue("qc", gpu_quota=qc_quota if qc_limit == -1 else min(qc_quota, qc_limit), gpu_limit=qc_limit))
    for o in objs:
        if o["kind"] == "Queue":
            limits[o["metadata"]["name"]] = o["spec"]["resources"]["gpu"]["limit"]
    groups = {}
    for g in range(draw(st.integers(0, 2))):
        size = draw(st.integers(1, 3))
        groups[f"g{g}"] = (draw(st.integers(1, size)), draw(st.sampled_from(["qa", "qb", "qc"])), size)
        objs.append(m.podgroup(f"g{g}", groups[f"g{g}"][0], groups[f"g{g}"][1]))
    pods = []
    for g, (_, q, size) in groups.items():
        gpus = draw(st.integers(0, 2))
        for k in range(size):
            pods.append(m.pod(f"{g}-{k}", queue=q, group=g, gpus=gpus, cpu="1"))
    for i in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["whole", "fraction", "cpu", "dra"] if dra_devices else ["whole", "fraction", "cpu"]))
        q = draw(st.sampled_from(["qa", "qb", "qc", None]))
        prio = draw(st.sampled_from([None, "train", "inference"]))
        created = f"2026-01-01T00:00:{i:02d}Z"
        if kind == "whole":
            pods.append(m.pod(f"p{i}", queue=q, gpus=draw(st.integers(1, 3)), priority_class=prio, created=created))
        elif kind == "fraction":
            pods.append(m.pod(f"p{i}", queue=q, fraction=draw(st.sampled_from(["0.25", "0.5", "0.75"])),
                              priority_class=prio, created=created))
        elif kind == "dra":
            tmpl = draw(st.sampled_from(["one", "two"]))
            pods.append(m.pod(f"p{i}", queue=q, priority_class=prio, created=created,
                              claims=[{"name": "gpu", "resourceClaimTemplateName": tmpl}]))
        else:
            pods.append(m.pod(f"p{i}", queue=q, cpu=draw(st.sampled_from(["500m", "1", "3"])), priority_class=prio,
                              created=created))
    return objs + pods, nodes, limits, groups, draw(st.integers(1, 3)), draw(st.sampled_from(["binpack", "spread"]))


def _pod_gpu(p) -> tuple[int, Fraction]:
    ann = p["metadata"].get("annotations", {})
    if p["spec"].get("resourceClaims"):
        return len(ann.get("gpuplane.io/gpus", "").split(",")), Fraction(0)
    if "gpu-fraction" in ann:
        return 0, Fraction(ann["gpu-fraction"])
    return int(p["spec"]["containers"][0]["resources"].get("limits", {}).get("nvidia.com/gpu", 0)), Fraction(0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots())
def test_invariants(case):
    objs, nodes, limits, groups, rounds, strategy = case
    config = SchedulerConfig(gpu_strategy=strategy, cpu_strategy=strategy)
    snap = build_snapshot(m.schedule_objects(objs))
    out = result_objects(run_rounds(snap, rounds, config, NOW))
    assert json.dumps(out) == json.dumps(result_objects(run_rounds(snap, rounds, config, NOW)))
    pods = [o for o in out if o["kind"] == "Pod"]
    assert len(pods) == sum(1 for o in objs if o["kind"] == "Pod")
    node_gpus = {name: gpus for name, gpus, _ in nodes}
    node_cpu = {name: cpu * 1000 for name, _, cpu in nodes}
    use: dict[tuple[str, str], Fraction] = {}
    whole_holders: dict[tuple[str, str], int] = {}
    cpu_used: dict[str, int] = {}
    queue_gpu: dict[str, Fraction] = {}
    queue_np_gpu: dict[str, Fraction] = {}  # held by non-preemptible pods (KAI's inference class here)
    bound_in_group: dict[str, int] = {}
    for p in pods:
        node = p["spec"].get("nodeName")
        if not node:
            conds = p.get("status", {}).get("conditions", [])
            assert any(c["type"] == "PodScheduled" and c["status"] == "False" and c["message"] for c in conds)
            continue
        assert p["status"]["phase"] == "Running"
        whole, frac = _pod_gpu(p)
        names = [g for g in p["metadata"].get("annotations", {}).get("gpuplane.io/gpus", "").split(",") if g]
        assert len(names) == (whole or (1 if frac else 0))
        for g in names:
            if not p["spec"].get("resourceClaims"):
                assert int(g.split("-")[1]) < node_gpus[node]
            use[(node, g)] = use.get((node, g), Fraction(0)) + (1 if whole else frac)
            if whole:
                whole_holders[(node, g)] = whole_holders.get((node, g), 0) + 1
        cpu = p["spec"]["containers"][0]["resources"]["requests"]["cpu"]
        cpu_used[node] = cpu_used.get(node, 0) + (int(cpu[:-1]) if cpu.endswith("m") else int(cpu) * 1000)
        q = p["metadata"].get("labels", {}).get("kai.scheduler/queue", "default-queue")
        group = p["metadata"].get("annotations", {}).get("pod-group-name")
        if group:
            q = groups[group][1]
            bound_in_group[group] = bound_in_group.get(group, 0) + 1
        queue_gpu[q] = queue_gpu.get(q, Fraction(0)) + whole + frac
        if p["spec"].get("priorityClassName") == "inference":
            queue_np_gpu[q] = queue_np_gpu.get(q, Fraction(0)) + whole + frac
    for key, total in use.items():
        assert total <= 1, key
        if whole_holders.get(key):
            assert whole_holders[key] == 1 and total == 1
    for node, used in cpu_used.items():
        assert used <= node_cpu[node]
    queue_gpu["dept"] = queue_gpu.get("qa", Fraction(0)) + queue_gpu.get("qb", Fraction(0))
    for q, limit in limits.items():
        if limit != -1:
            assert queue_gpu.get(q, 0) <= limit, (q, queue_gpu)
    # non-preemptible work never goes over quota, at any level of the queue tree
    quotas = {o["metadata"]["name"]: o["spec"]["resources"]["gpu"].get("quota", 0) for o in objs if o["kind"] == "Queue"}
    queue_np_gpu["dept"] = queue_np_gpu.get("qa", Fraction(0)) + queue_np_gpu.get("qb", Fraction(0))
    for q, used in queue_np_gpu.items():
        quota = quotas.get(q, 0)  # default-queue: quota 0
        if quota != -1:
            assert used <= Fraction(str(quota)), (q, used, quota)
    for g, (min_member, _, _) in groups.items():
        assert bound_in_group.get(g, 0) in (0,) or bound_in_group[g] >= min_member
    queues = {o["metadata"]["name"]: o for o in out if o["kind"] == "Queue"}
    for q, total in queue_gpu.items():
        assert Fraction(str(queues[q]["status"]["allocated"]["gpu"])) == total


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots())
def test_output_is_a_valid_snapshot_and_a_fixed_point(case):
    """Feeding the output of one round back in equals running two rounds: bound pods are
    Running with their GPUs recorded in ``gpuplane.io/gpus``, and nothing moves."""
    objs, _, _, _, _, strategy = case
    config = SchedulerConfig(gpu_strategy=strategy)
    first = result_objects(run_rounds(build_snapshot(m.schedule_objects(objs)), 1, config, NOW))
    rest = [o for o in objs if o["kind"] not in ("Pod", "ResourceClaim", "PodGroup", "Queue")]
    again = result_objects(run_rounds(build_snapshot(m.schedule_objects(rest + first)), 1, config, NOW))
    two = result_objects(run_rounds(build_snapshot(m.schedule_objects(objs)), 2, config, NOW))
    assert json.dumps(again, sort_keys=True) == json.dumps(two, sort_keys=True)
