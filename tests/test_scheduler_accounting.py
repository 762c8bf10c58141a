"""Queue accounting from the DRA devices actually allocated: whole GPU 1, MIG slice its share of
the GPU's memory slices, shared device its consumed capacity's share (docs/fairness.md)."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import pytest

from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.config import SchedulerConfig
from gpuplane.scheduler.cycle import _Cluster, run_rounds
from gpuplane.scheduler.output import result_objects
from gpuplane.scheduler.snapshot import build_snapshot, gpu_device_index, node_gpu_capacity

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import _clusters as bc  # noqa: E402

NOW = "2026-06-01T12:00:00Z"


def node(i: int) -> dict:
    n = bc.node_object(i)
    n["status"] = {"allocatable": {"cpu": "64", "memory": "512Gi", "pods": "110"}}
    return n


def template(name: str, cls: str, selectors=None, capacity=None) -> dict:
    req = bc._request("gpu", cls, selectors=selectors, capacity=capacity)
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
            "metadata": {"name": name, "namespace": "default"}, "spec": {"spec": {"devices": {"requests": [req]}}}}


MIG_1G = template("mig-1g", "mig.nvidia.com", [f"device.attributes['{bc.DRIVER}'].profile == '1g.18gb'"])
MIG_3G = template("mig-3g", "mig.nvidia.com", [f"device.attributes['{bc.DRIVER}'].profile == '3g.71gb'"])
FULL = template("full", "gpu.nvidia.com")
SHARE_10G = template("share-10g", "gpu.nvidia.com", capacity={"memory": "10Gi"})


def cluster(variant: str, nodes: int = 1) -> list[dict]:
    objs = bc.device_classes()
    for i in range(nodes):
        objs += [node(i)] + bc.node_slices(variant, i)
    return objs


def claim_pod(name: str, queue: str, tmpl: str, **kw) -> dict:
    return m.pod(name, queue=queue, claims=[{"name": "gpu", "resourceClaimTemplateName": tmpl}], **kw)


def run(objs, rounds=1):
    snap = build_snapshot(m.schedule_objects(objs))
    return run_rounds(snap, rounds, SchedulerConfig(), NOW)


def test_mig_capacity_counts_gpus_not_partitions():
    slices = [s for s in build_snapshot(m.schedule_objects(cluster("mig", 2))).slices]
    assert node_gpu_capacity(slices) == {bc.node_name(0): 8, bc.node_name(1): 8}
    snap = build_snapshot(m.schedule_objects(cluster("mig", 2)))
    assert _Cluster(snap, SchedulerConfig(), NOW).capacity()["gpu"] == 16


def test_device_units_from_memory_slices_and_capacity():
    idx = gpu_device_index(build_snapshot(m.schedule_objects(cluster("mig"))).slices)
    pool = bc.node_name(0)
    assert idx[(bc.DRIVER, pool, "gpu-0")].units == 1
    assert idx[(bc.DRIVER, pool, "gpu-0-mig-1g18gb-19-3")].units == Fraction(1, 8)
    assert idx[(bc.DRIVER, pool, "gpu-2-mig-2g35gb-14-2")].units == Fraction(2, 8)
    assert idx[(bc.DRIVER, pool, "gpu-2-mig-3g71gb-9-4")].units == Fraction(4, 8)
    assert idx[(bc.DRIVER, pool, "gpu-7-mig-7g141gb-0-0")].units == 1


def test_mig_pods_charge_their_slice_share():
    objs = cluster("mig") + [MIG_1G, MIG_3G, m.queue("qa")]
    objs += [claim_pod(f"p{i}", "qa", "mig-1g") for i in range(3)] + [claim_pod("big", "qa", "mig-3g")]
    result = run(objs)
    assert len(result.placements) == 4
    assert result.allocated["qa"]["gpu"] == Fraction(3, 8) + Fraction(4, 8)
    queue = next(o for o in result_objects(result) if o["kind"] == "Queue" and o["metadata"]["name"] == "qa")
    assert queue["status"]["allocated"]["gpu"] in ("0.875", 0.875)


def test_shared_device_charges_consumed_memory_share():
    objs = cluster("shared") + [SHARE_10G, m.queue("qa")] + [claim_pod("s0", "qa", "share-10g")]
    result = run(objs)
    assert list(result.placements) == [("default", "s0")]
    assert result.allocated["qa"]["gpu"] == Fraction(10 * 1024, bc.GPU_MEMORY_MI)


def test_snapshot_allocations_are_charged_by_device():
    # running pods whose claims the snapshot already allocated: 2 MIG 1g slices, 1 full GPU
    claims = bc.gpu_usage_claims("mig", 0, [5], mig_1g={1: 2})
    for c in claims:
        c["metadata"]["namespace"] = "default"
    objs = cluster("mig") + claims + [m.queue("qa")]
    for c in claims:
        objs.append(m.pod(f"r-{c['metadata']['name']}", queue="qa", node_name=bc.node_name(0),
                          claims=[{"name": "gpu", "resourceClaimName": c["metadata"]["name"]}]))
    result = run(objs)
    assert result.allocated["qa"]["gpu"] == 1 + Fraction(2, 8)


@pytest.mark.parametrize("limit,expect", [(1, 8), (0.5, 4), (2, 16)])
def test_queue_limit_counts_mig_shares_multi_round(limit, expect):
    """A queue limited to ``limit`` GPUs gets exactly ``limit * 8`` 1g.18gb slices, settled over rounds."""
    objs = cluster("mig", 1) + [MIG_1G, m.queue("qa", gpu_limit=limit)]
    objs += [claim_pod(f"p{i:02d}", "qa", "mig-1g", created=f"2026-06-01T00:{i:02d}:00Z") for i in range(20)]
    snap = build_snapshot(m.schedule_objects(objs))
    prev, settled_at = None, None
    for rounds in range(1, 12):
        result = run_rounds(snap, rounds, SchedulerConfig(), NOW)
        state = sorted(result.placements)
        if state == prev and settled_at is None:
            settled_at = rounds - 1
        if settled_at is not None and rounds > settled_at:
            assert state == prev
        prev = state
        if settled_at is not None and rounds >= settled_at + 5:
            break
    assert settled_at is not None
    assert len(prev) == expect
    assert result.allocated["qa"]["gpu"] == Fraction(expect, 8) <= limit
    # a pod left pending says the limit stops it
    pending = next(k for k in snap.pods if k not in result.placements)
    assert result.reasons[pending].code == "OverLimit"


def test_evicted_share_frees_its_capacity_multi_round():
    """qb's shares fill every GPU's memory; qa reclaims one: the evicted share's capacity goes back
    to the device and qa's 10Gi share is allocated there; then nothing changes for 5 rounds."""
    claims = bc.gpu_usage_claims("shared", 0, list(range(8)))
    objs = cluster("shared") + [SHARE_10G, m.queue("qa", gpu_quota=4), m.queue("qb", gpu_quota=4)]
    for i, c in enumerate(claims):
        c["metadata"]["namespace"] = "default"
        objs.append(c)
        objs.append(m.pod(f"b{i}", queue="qb", node_name=bc.node_name(0), priority_class="train",
                          created=f"2026-06-01T0{i}:00:00Z",
                          claims=[{"name": "gpu", "resourceClaimName": c["metadata"]["name"]}]))
    objs.append(claim_pod("a", "qa", "share-10g", created="2026-06-01T09:00:00Z"))
    share = Fraction(140 * 1024, bc.GPU_MEMORY_MI)
    first = run(objs, 1)
    assert [e["pod"] for e in first.evictions] == ["default/b7"]
    assert first.allocated["qb"]["gpu"] == 8 * share
    outputs = []
    for rounds in range(2, 9):
        result = run(objs, rounds)
        outputs.append((sorted(result.placements), [e["pod"] for e in result.evictions]))
        if rounds == 2:
            got = result.claim_allocations[("default", "a-gpu")]["devices"]["results"][0]
            assert got["device"] == "gpu-7"
            assert result.allocated["qa"]["gpu"] == Fraction(10 * 1024, bc.GPU_MEMORY_MI)
            assert result.allocated["qb"]["gpu"] == 7 * share
    assert all(o == outputs[0] for o in outputs), outputs


def test_pending_claims_are_estimated_from_the_devices_they_match():
    from gpuplane.scheduler.snapshot import RequestEstimator, requested_gpu_units

    objs = cluster("mig") + [MIG_1G, MIG_3G, FULL, m.queue("qa")]
    objs += [claim_pod("p1", "qa", "mig-1g"), claim_pod("p3", "qa", "mig-3g"), claim_pod("pf", "qa", "full")]
    snap = build_snapshot(m.schedule_objects(objs))
    est = RequestEstimator(snap.slices, snap.classes)
    got = {k[1]: requested_gpu_units(c, est) for k, c in snap.typed_claims.items()}
    assert got == {"p1-gpu": Fraction(1, 8), "p3-gpu": Fraction(1, 2), "pf-gpu": 1}
    # without the estimator: the class name rule (mig.nvidia.com has no "gpu" in it)
    assert requested_gpu_units(snap.typed_claims[("default", "p1-gpu")]) == 0
    # the fair-share demand of the queue counts the pending pods by that estimate
    result = run_rounds(snap, 0, SchedulerConfig(), NOW)
    assert result.requested["qa"]["gpu"] == Fraction(1, 8) + Fraction(1, 2) + 1

    shared = cluster("shared") + [SHARE_10G]
    snap = build_snapshot(m.schedule_objects(shared + [claim_pod("s", "qa", "share-10g"), m.queue("qa")]))
    est = RequestEstimator(snap.slices, snap.classes)
    assert requested_gpu_units(snap.typed_claims[("default", "s-gpu")], est) == Fraction(10 * 1024, bc.GPU_MEMORY_MI)
