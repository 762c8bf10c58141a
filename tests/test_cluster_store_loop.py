"""The scheduler loop on the embedded store: decisions are written back as an API server client would."""
from __future__ import annotations

import sys
from pathlib import Path

from gpuplane.cluster import ObjectStore
from gpuplane.cluster.loop import SchedulerLoop
from gpuplane.scheduler.snapshot import build_snapshot

sys.path.insert(0, str(Path(__file__).parent))
from test_sim_engine import node, queue  # noqa: E402


def pod(name: str, gpus: int, q: str = "a") -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"kai.scheduler/queue": q}},
            "spec": {"schedulerName": "gpuplane", "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]},
            "status": {"phase": "Pending"}}


def cluster() -> ObjectStore:
    store = ObjectStore(clock=lambda: 1_767_225_600.0)
    store.create(node("n0", 4))
    store.create(queue("a", 4))
    return store


def test_binds_and_writes_statuses():
    store = cluster()
    store.create(pod("fits", 3))
    store.create(pod("too-big", 8))
    out = SchedulerLoop(store).run_cycle("2026-01-01T00:00:00Z")
    assert out.bound == [("default", "fits")] and out.evicted == [] and out.conflicts == 0
    fits = store.get("Pod", "fits")
    assert fits["spec"]["nodeName"] == "n0" and fits["metadata"]["annotations"]["gpuplane.io/gpus"] == "gpu-0,gpu-1,gpu-2"
    assert fits["status"]["phase"] == "Pending"  # the kubelet's to change
    assert {"type": "PodScheduled", "status": "True"} in fits["status"]["conditions"]
    big = store.get("Pod", "too-big")
    assert "nodeName" not in big["spec"]
    assert big["status"]["conditions"][0]["reason"] == "Unschedulable"
    q = store.get("Queue", "a")["status"]
    assert q["allocated"]["gpu"] == 3 and q["requested"]["gpu"] == 11
    # a second cycle on the unchanged store writes nothing
    rv = store.resource_version
    again = SchedulerLoop(store).run_cycle("2026-01-01T00:00:00Z")
    assert again.bound == [] and again.status_writes == 0 and store.resource_version == rv


def test_without_status_writes_only_decisions_are_written():
    store = cluster()
    store.create(pod("fits", 1))
    store.create(pod("too-big", 8))
    out = SchedulerLoop(store, write_status=False).run_cycle("2026-01-01T00:00:00Z")
    assert out.bound == [("default", "fits")] and out.status_writes == 0
    assert store.get("Pod", "too-big")["status"] == {"phase": "Pending"}
    assert "status" not in store.get("Queue", "a")


def test_a_pod_gone_between_list_and_bind_is_a_skipped_conflict():
    store = cluster()
    store.create(pod("doomed", 1))
    store.create(pod("other", 1))

    def racing_build(objects, scheduler_name):
        snap = build_snapshot(objects, scheduler_name)
        store.delete("Pod", "doomed")  # someone deletes it while the cycle runs
        return snap

    out = SchedulerLoop(store, snapshot_builder=racing_build).run_cycle("2026-01-01T00:00:00Z")
    assert out.bound == [("default", "other")] and out.conflicts >= 1
    assert [p["metadata"]["name"] for p in store.list("Pod")[0]] == ["other"]
