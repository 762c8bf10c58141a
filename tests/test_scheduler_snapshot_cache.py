"""SnapshotCache: build_snapshot reuses decoded objects with the same uid + resourceVersion.

The cache must never change a snapshot: every test compares with a build without a cache."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from hypothesis import given, settings, strategies as st

from gpuplane.scheduler import manifests as M
from gpuplane.scheduler.cycle import run_rounds
from gpuplane.scheduler.snapshot import SnapshotCache, build_snapshot

NOW = "2026-01-01T01:00:00Z"


def _versioned(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = M.schedule_objects(objs)
    for k, obj in enumerate(out):
        obj["metadata"]["uid"] = f"uid-{obj['kind']}-{obj['metadata']['name']}"
        obj["metadata"]["resourceVersion"] = "1"
    return out


def _cluster(pending: int = 6, running: int = 3) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [M.queue("dept", gpu_quota=8), M.queue("q1", parent="dept", gpu_quota=4),
                                  M.queue("q2", parent="dept", gpu_quota=4)]
    objs += [M.node(f"n{i}", gpus=4, gpu_memory_mib=80000) for i in range(3)]
    objs += [M.device_class(), M.gpu_slice("d0", 4), M.node("d0"), M.claim_template("one", count=1)]
    objs += [M.pod(f"r{i}", queue="q1", gpus=1, node_name=f"n{i % 3}", held=f"gpu-{i // 3}") for i in range(running)]
    objs += [M.pod(f"p{i}", queue="q1" if i % 2 else "q2", gpus=1 + i % 2) for i in range(pending)]
    objs += [M.pod("c0", queue="q2", claims=[{"name": "gpu", "resourceClaimTemplateName": "one"}])]
    return _versioned(objs)


def _decisions(objs: list[dict[str, Any]], cache: SnapshotCache | None) -> Any:
    res = run_rounds(build_snapshot(objs, cache=cache), 1, now=NOW)
    return ({k: (p.node, p.gpu_indices, p.gpu_share, p.charge, p.dra_devices, p.claims) for k, p in res.placements.items()},
            {k: r.to_dict() for k, r in res.reasons.items()}, res.allocated, res.requested, res.fair_share)


def _same(a: Any, b: Any) -> bool:
    """Snapshots equal field by field (QueueTree has no ``==``: its queues are compared)."""
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "tree":
            x, y = {q: x[q] for q in x}, {q: y[q] for q in y}
        if x != y:
            return False
    return True


def _bump(obj: dict[str, Any]) -> None:
    meta = obj["metadata"]
    meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)


def _find(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


def test_unchanged_objects_are_reused() -> None:
    objs = _cluster()
    cache = SnapshotCache()
    first = build_snapshot(objs, cache=cache)
    misses = cache.misses
    assert misses > 0 and cache.hits == 0
    second = build_snapshot(copy.deepcopy(objs), cache=cache)
    assert cache.misses == misses  # nothing decoded again
    assert cache.hits == misses
    for key, info in first.pods.items():
        assert second.pods[key].pod is info.pod
        assert second.pods[key] == info
    assert second.nodes == first.nodes
    assert second.typed_claims == first.typed_claims
    gen = next(iter(first.generated_claims))
    assert second.typed_claims[gen] is first.typed_claims[gen]
    assert second.claims == build_snapshot(objs).claims


def test_changed_object_is_decoded_again() -> None:
    objs = _cluster()
    cache = SnapshotCache()
    before = build_snapshot(objs, cache=cache)
    pod = _find(objs, "Pod", "p0")
    pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "3"
    _bump(pod)
    misses = cache.misses
    after = build_snapshot(objs, cache=cache)
    assert cache.misses > misses
    key = ("default", "p0")
    assert after.pods[key].cpu_milli == 3000 != before.pods[key].cpu_milli
    assert after.pods[key].pod is not before.pods[key].pod
    assert after.pods[("default", "p1")].pod is before.pods[("default", "p1")].pod
    assert _same(after, build_snapshot(objs))


def test_deleted_object_is_gone() -> None:
    objs = _cluster()
    cache = SnapshotCache()
    build_snapshot(objs, cache=cache)
    size = len(cache)
    objs = [o for o in objs if not (o["kind"] == "Pod" and o["metadata"]["name"] in ("p0", "c0"))]
    snap = build_snapshot(objs, cache=cache)
    assert ("default", "p0") not in snap.pods and ("default", "c0-gpu") not in snap.claims
    assert len(cache) < size
    assert _same(snap, build_snapshot(objs))


def test_objects_without_version_are_always_decoded() -> None:
    objs = _cluster()
    for o in objs:
        del o["metadata"]["resourceVersion"]
    cache = SnapshotCache()
    build_snapshot(objs, cache=cache)
    build_snapshot(objs, cache=cache)
    assert cache.hits == 0 and len(cache) == 0


def test_same_decisions_with_and_without_cache() -> None:
    objs = _cluster(pending=10, running=5)
    cache = SnapshotCache()
    assert _decisions(objs, cache) == _decisions(objs, None)
    assert _decisions(objs, cache) == _decisions(objs, None)  # from the cache this time


_EVENTS = st.lists(st.tuples(st.sampled_from(["add", "delete", "cpu", "gpus", "node", "bind"]),
                             st.integers(min_value=0, max_value=50)), min_size=1, max_size=8)


@settings(max_examples=30, deadline=None)
@given(_EVENTS)
def test_event_sequences_match_uncached_builds(events: list[tuple[str, int]]) -> None:
    """A simulator's loop: after each event, the cached build decides exactly as a fresh one."""
    objs = _cluster()
    cache = SnapshotCache()
    serial = 0
    for kind, n in events:
        pods = [o for o in objs if o["kind"] == "Pod"]
        pod = pods[n % len(pods)]
        if kind == "add":
            serial += 1
            new = _versioned([M.pod(f"x{serial}", queue="q2", gpus=1 + n % 3)])[0]
            new["metadata"]["uid"] += f"-{serial}"
            objs.append(new)
        elif kind == "delete":
            objs.remove(pod)
        elif kind == "cpu":
            pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] = str(1 + n % 4)
            _bump(pod)
        elif kind == "gpus":
            pod["spec"]["containers"][0]["resources"]["limits"] = {"nvidia.com/gpu": str(1 + n % 4)}
            _bump(pod)
        elif kind == "node":
            node = _find(objs, "Node", f"n{n % 3}")
            node["status"]["allocatable"]["nvidia.com/gpu"] = str(2 + n % 4)
            _bump(node)
        elif kind == "bind" and not pod["spec"].get("nodeName"):
            pod["spec"]["nodeName"] = f"n{n % 3}"
            pod["status"] = {"phase": "Running"}
            _bump(pod)
        assert _same(build_snapshot(objs, cache=cache), build_snapshot(objs))
        assert _decisions(objs, cache) == _decisions(objs, None)
