"""The DRA first-fit (``_Cluster._dra_first_fit``) picks exactly what the full node scan picks.

Each case runs the same snapshot twice: as is, and with the first-fit switched off (every DRA
pod scans every node); placements, devices and reasons must be identical."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from gpuplane.scheduler import manifests as M
from gpuplane.scheduler.cycle import _Cluster, run_rounds
from gpuplane.scheduler.snapshot import build_snapshot

NOW = "2026-01-01T01:00:00Z"


def _decisions(objs: list[dict[str, Any]], rounds: int = 1) -> Any:
    res = run_rounds(build_snapshot(objs), rounds, now=NOW)
    return ({k: (p.node, p.gpu_indices, p.dra_devices, p.claims, p.charge) for k, p in res.placements.items()},
            {k: r.to_dict() for k, r in res.reasons.items()}, res.claim_allocations)


def _both(objs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, rounds: int = 1) -> tuple[Any, Any]:
    fast = _decisions(objs, rounds)
    with monkeypatch.context() as m:
        m.setattr(_Cluster, "_dra_first_fit_applies", lambda self, pod, charge: False)
        full = _decisions(objs, rounds)
    return fast, full


def _cluster(devices: list[int], cpus: list[int], pods: list[tuple[int, int, int]], dp_gpus: int) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [M.queue("dept", gpu_quota=100), M.queue("q", parent="dept", gpu_quota=100),
                                  M.device_class()]
    for i, (n, cpu) in enumerate(zip(devices, cpus)):
        objs.append(M.node(f"n{i:02d}", gpus=dp_gpus if i % 2 else 0, cpu=str(cpu)))
        if n:
            objs.append(M.gpu_slice(f"n{i:02d}", n))
    for count in (1, 2, 3):
        objs.append(M.claim_template(f"t{count}", count=count))
    for j, (count, cpu, kind) in enumerate(pods):
        if kind == 0:  # a DRA pod
            objs.append(M.pod(f"p{j:02d}", queue="q", cpu=str(cpu),
                              claims=[{"name": "gpu", "resourceClaimTemplateName": f"t{count}"}]))
        else:  # a device-plugin pod: changes the nodes' free GPUs, hence the DRA pods' node order
            objs.append(M.pod(f"p{j:02d}", queue="q", cpu=str(cpu), gpus=count))
    return M.schedule_objects(objs)


@settings(max_examples=60, deadline=None)
@given(
    devices=st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=8),
    cpus=st.lists(st.integers(min_value=1, max_value=6), min_size=8, max_size=8),
    pods=st.lists(st.tuples(st.integers(min_value=1, max_value=3), st.integers(min_value=1, max_value=3),
                            st.sampled_from([0, 0, 0, 1])), min_size=1, max_size=25),
    dp_gpus=st.integers(min_value=0, max_value=4),
)
def test_first_fit_matches_full_scan(devices: list[int], cpus: list[int], pods: list[tuple[int, int, int]],
                                     dp_gpus: int) -> None:
    objs = _cluster(devices, cpus, pods, dp_gpus)
    with pytest.MonkeyPatch.context() as mp:
        fast, full = _both(objs, mp)
    assert fast == full


def test_first_fit_fills_nodes_in_name_order(monkeypatch: pytest.MonkeyPatch) -> None:
    objs = _cluster([2, 2, 2, 2], [8] * 8, [(1, 1, 0)] * 7, 0)
    fast, full = _both(objs, monkeypatch)
    assert fast == full
    nodes = [v[0] for _, v in sorted(fast[0].items())]
    assert nodes == ["n00", "n00", "n01", "n01", "n02", "n02", "n03"]


def test_first_fit_prefers_fewest_free_device_plugin_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """n01 also has 4 device-plugin GPUs free: binpack puts DRA pods on n00 until it is full."""
    objs = _cluster([2, 2], [8] * 8, [(1, 1, 0)] * 3, 4)
    fast, full = _both(objs, monkeypatch)
    assert fast == full
    assert [v[0] for _, v in sorted(fast[0].items())] == ["n00", "n00", "n01"]


def test_first_fit_after_gang_rollback(monkeypatch: pytest.MonkeyPatch) -> None:
    """A gang that does not fit rolls its DRA allocations back; later pods must see the devices free."""
    objs = _cluster([2, 2], [8] * 8, [(1, 1, 0)] * 2, 0)
    objs += M.schedule_objects([M.podgroup("g", 3, "q")] + [
        M.pod(f"g{k}", queue="q", group="g", claims=[{"name": "gpu", "resourceClaimTemplateName": "t1"}])
        for k in range(3)])
    objs += M.schedule_objects([M.pod("z9", queue="q", claims=[{"name": "gpu", "resourceClaimTemplateName": "t1"}])])
    fast, full = _both(objs, monkeypatch, rounds=2)
    assert fast == full


def test_allocator_error_on_a_node_only_smaller_pods_reach(monkeypatch: pytest.MonkeyPatch) -> None:
    """n01's devices lack the attribute the claim's selector reads (a CEL runtime error there).
    Pod a (4 CPUs) cannot reach n01 (2 CPUs), so its full scan never asks the allocator there;
    pod b (1 CPU) can, and the full scan fails it with the error: so must the first-fit."""
    objs: list[dict[str, Any]] = [M.queue("dept", gpu_quota=100), M.queue("q", parent="dept", gpu_quota=100),
                                  M.device_class(), M.node("n00", cpu="8"), M.gpu_slice("n00", 4),
                                  M.node("n01", cpu="2")]
    bad = M.gpu_slice("n01", 4)
    for dev in bad["spec"]["devices"]:
        dev["attributes"] = {"other": {"int": 1}}
    tmpl = M.claim_template("sel", count=1)
    tmpl["spec"]["spec"]["devices"]["requests"][0]["exactly"]["selectors"] = [
        {"cel": {"expression": "device.attributes['gpu.example.com'].index >= 0"}}]
    objs += [bad, tmpl]
    objs += [M.pod(n, queue="q", cpu=c, claims=[{"name": "gpu", "resourceClaimTemplateName": "sel"}])
             for n, c in (("a", "4"), ("b", "1"), ("c", "4"))]
    fast, full = _both(M.schedule_objects(objs), monkeypatch)
    assert fast == full
    assert fast[0][("default", "a")][0] == "n00"
    assert fast[1][("default", "b")]["code"] == "ResourceClaimError"
