"""Victims: elastic jobs lose pods above minMember first; jobs holding DRA claims can be victims
(their claims are deallocated); min-runtime defaults from the scheduler config. Multi-round
KAI-style: rounds until nothing changes, then five more rounds with no change."""

from __future__ import annotations

import json

import pytest

from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.config import ConfigError, SchedulerConfig, parse_config
from gpuplane.scheduler.cycle import run_rounds
from gpuplane.scheduler.output import result_objects
from gpuplane.scheduler.snapshot import build_snapshot

NOW = "2026-06-01T12:00:00Z"


def schedule(objects, rounds=1, now=NOW, config=None):
    snap = build_snapshot(m.schedule_objects(objects))
    result = run_rounds(snap, rounds, config or SchedulerConfig(), now)
    objs = result_objects(result)
    return result, {o["metadata"]["name"]: o for o in objs if o["kind"] == "Pod"}, \
        {o["metadata"]["name"]: o for o in objs if o["kind"] == "ResourceClaim"}


def running(name, node, queue, gpus=1, held=None, prio="train", created="2026-06-01T00:00:00Z", group=None,
            started=None, claims=None):
    p = m.pod(name, queue=queue, gpus=gpus, node_name=node, held=held, priority_class=prio, created=created,
              group=group, claims=claims)
    if started:
        p["status"]["startTime"] = started
    return p


def evicted(pods):
    return sorted(n for n, p in pods.items() if p["metadata"].get("deletionTimestamp"))


def bound(pods):
    return {n: p["spec"].get("nodeName") for n, p in pods.items()
            if p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp")}


def settle(objs, config=None, max_rounds=8):
    """Rounds until nothing changes; then five more rounds must not change anything. The result
    at the fixed point and its pods."""
    def state(n):
        result, pods, claims = schedule(objs, n, config=config)
        return result, pods, json.dumps({k: [p["spec"].get("nodeName"), bool(p["metadata"].get("deletionTimestamp")),
                                             p.get("status", {}).get("nominatedNodeName")] for k, p in sorted(pods.items())})
    prev = None
    for n in range(1, max_rounds + 1):
        result, pods, s = state(n)
        if s == prev and not any(e["round"] == n for e in result.evictions):
            break
        prev = s
    else:
        raise AssertionError(f"no fixed point within {max_rounds} rounds")
    for k in range(1, 6):
        r2, _, s2 = state(n + k)
        assert s2 == prev, f"round {n + k} changed"
        assert not any(e["round"] > n for e in r2.evictions), r2.evictions
    return result, pods


# --- elastic victims -------------------------------------------------------------------------


def elastic_setup(need=2, min_member=2):
    objs = [m.node("n1", gpus=4), m.queue("qa", gpu_quota=2), m.queue("qb", gpu_quota=2), m.podgroup("g", min_member, "qb")]
    objs += [running(f"g{i}", "n1", "qb", held=f"gpu-{i}", group="g", created=f"2026-06-01T0{i}:00:00Z") for i in range(4)]
    objs += [m.pod("a", queue="qa", gpus=need, created="2026-06-01T05:00:00Z")]
    return objs


def test_elastic_victim_loses_pods_above_min_member_only():
    _, pods, _ = schedule(elastic_setup())
    assert evicted(pods) == ["g2", "g3"]  # the youngest pods above minMember 2; the gang's core stays
    result, pods = settle(elastic_setup())
    assert bound(pods) == {"g0": "n1", "g1": "n1", "a": "n1"}
    assert sorted(e["pod"] for e in result.evictions) == ["default/g2", "default/g3"]


def test_elastic_core_goes_with_all_its_surplus():
    # qa needs all 4 GPUs: the whole gang has to go, the core with the pods above it
    objs = [m.node("n1", gpus=4), m.queue("qa", gpu_quota=4), m.queue("qb", gpu_quota=0), m.podgroup("g", 2, "qb")]
    objs += [running(f"g{i}", "n1", "qb", held=f"gpu-{i}", group="g", created=f"2026-06-01T0{i}:00:00Z") for i in range(4)]
    objs += [m.pod("a", queue="qa", gpus=4, created="2026-06-01T05:00:00Z")]
    _, pods, _ = schedule(objs)
    assert evicted(pods) == ["g0", "g1", "g2", "g3"]
    result, pods = settle(objs)
    assert bound(pods)["a"] == "n1"


def test_elastic_surplus_evictable_while_core_is_min_runtime_protected():
    objs = elastic_setup()
    objs[2]["spec"]["reclaimMinRuntime"] = "1h"
    for p in objs:
        if p["kind"] == "Pod" and p["metadata"]["name"].startswith("g"):
            p["status"]["startTime"] = "2026-06-01T11:50:00Z"
    _, pods, _ = schedule(objs)
    assert evicted(pods) == ["g2", "g3"]
    # needing all 4 would take the protected core (unprotected, the whole gang goes: see
    # test_elastic_core_goes_with_all_its_surplus): nothing is evicted, and it stays so
    objs[-1] = m.pod("a", queue="qa", gpus=4, created="2026-06-01T05:00:00Z")
    objs[1]["spec"]["resources"]["gpu"]["quota"] = 4
    objs[2]["spec"]["resources"]["gpu"]["quota"] = 0
    result, pods = settle(objs)
    assert result.evictions == [] and "a" not in bound(pods)


def test_elastic_preempt_in_queue():
    objs = [m.node("n1", gpus=4), m.queue("qa", gpu_quota=4), m.podgroup("g", 1, "qa")]
    objs += [running(f"g{i}", "n1", "qa", held=f"gpu-{i}", group="g", created=f"2026-06-01T0{i}:00:00Z") for i in range(4)]
    objs += [m.pod("hi", queue="qa", gpus=1, priority_class="build-preemptible", created="2026-06-01T06:00:00Z")]
    result, pods = settle(objs)
    assert sorted(e["pod"] for e in result.evictions) == ["default/g3"]
    assert bound(pods) == {"g0": "n1", "g1": "n1", "g2": "n1", "hi": "n1"}


# --- DRA claims ------------------------------------------------------------------------------


def allocated_claim(name, node, device):
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": name, "namespace": "default"},
            "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu.example.com",
                                                                            "allocationMode": "ExactCount", "count": 1}}]}},
            "status": {"allocation": {"devices": {"results": [
                {"request": "gpu", "driver": "gpu.example.com", "pool": node, "device": device}]},
                "nodeSelector": {"nodeSelectorTerms": [{"matchFields": [
                    {"key": "metadata.name", "operator": "In", "values": [node]}]}]}},
                "reservedFor": [{"resource": "pods", "name": f"b-{device}"}]}}


def dra_setup():
    objs = [m.node("n1"), m.device_class(), m.gpu_slice("n1", 4), m.claim_template("one", 1),
            m.queue("qa", gpu_quota=2), m.queue("qb", gpu_quota=2)]
    for i in range(4):
        objs.append(allocated_claim(f"c{i}", "n1", f"gpu-{i}"))
        objs.append(running(f"b-gpu-{i}", "n1", "qb", gpus=0, created=f"2026-06-01T0{i}:00:00Z",
                            claims=[{"name": "gpu", "resourceClaimName": f"c{i}"}]))
    objs += [m.pod(f"a{i}", queue="qa", created="2026-06-01T05:00:00Z",
                   claims=[{"name": "gpu", "resourceClaimTemplateName": "one"}]) for i in range(2)]
    return objs


def test_jobs_with_claims_are_reclaimed_and_their_devices_freed():
    result, pods, claims = schedule(dra_setup())
    assert evicted(pods) == ["b-gpu-2", "b-gpu-3"]
    assert result.allocated["qb"]["gpu"] == 4  # Releasing pods still count for their queue
    result, pods, claims = schedule(dra_setup(), rounds=2)
    on = bound(pods)
    assert on == {"b-gpu-0": "n1", "b-gpu-1": "n1", "a0": "n1", "a1": "n1"}
    got = sorted(r["device"] for n in ("a0-gpu", "a1-gpu") for r in claims[n]["status"]["allocation"]["devices"]["results"])
    assert got == ["gpu-2", "gpu-3"]  # the devices the victims' claims released
    for n in ("c2", "c3"):  # deallocated: the recreated pods wait for a new allocation
        assert "allocation" not in claims[n].get("status", {})
    assert "allocation" in claims["c0"]["status"]
    assert result.allocated["qa"]["gpu"] == 2 and result.allocated["qb"]["gpu"] == 2


def test_claims_reclaim_settles_without_double_booking():
    result, pods = settle(dra_setup())
    devices = [r["device"] for a in result.claim_allocations.values() for r in a["devices"]["results"]]
    snap_held = {"gpu-0", "gpu-1"}
    assert len(devices) == len(set(devices)) and not (set(devices) & snap_held)
    assert sorted(e["pod"] for e in result.evictions) == ["default/b-gpu-2", "default/b-gpu-3"]


def test_claim_shared_with_another_job_protects_the_victim():
    objs = dra_setup()
    # pod x (another job, Running) also names claim c3: evicting b-gpu-3 would free nothing
    objs.append(running("x", "n1", "qb", gpus=0, claims=[{"name": "gpu", "resourceClaimName": "c3"}]))
    _, pods, _ = schedule(objs)
    assert "b-gpu-3" not in evicted(pods) and "x" not in evicted(pods)


# --- min-runtime defaults from the config ----------------------------------------------------


def min_runtime_setup():
    objs = [m.node("n1", gpus=4), m.queue("qa", gpu_quota=2), m.queue("qb", gpu_quota=2),
            m.pod("a", queue="qa", gpus=2, created="2026-06-01T05:00:00Z")]
    objs += [running(f"b{i}", "n1", "qb", held=f"gpu-{i}", created=f"2026-06-01T0{i}:00:00Z",
                     started="2026-06-01T11:30:00Z") for i in range(4)]
    return objs


def test_reclaim_min_runtime_default_from_config():
    cfg = parse_config({"minRuntime": {"reclaimMinRuntime": "1h"}})
    assert cfg.reclaim_min_runtime_s == 3600 and cfg.preempt_min_runtime_s == 0
    result, pods = settle(min_runtime_setup(), config=cfg)
    assert result.evictions == []  # ran 30 minutes < the 1h default
    _, pods, _ = schedule(min_runtime_setup(), config=parse_config({"minRuntime": {"reclaimMinRuntime": "20m"}}))
    assert evicted(pods) == ["b2", "b3"]
    objs = min_runtime_setup()
    objs[2]["spec"]["reclaimMinRuntime"] = "0s"  # the queue's own value wins over the default
    _, pods, _ = schedule(objs, config=cfg)
    assert evicted(pods) == ["b2", "b3"]


def test_preempt_min_runtime_default_from_config():
    objs = [m.node("n1", gpus=1), m.queue("qa", gpu_quota=1),
            running("low", "n1", "qa", held="gpu-0", started="2026-06-01T11:55:00Z"),
            m.pod("high", queue="qa", gpus=1, priority_class="build-preemptible")]
    cfg = parse_config({"kind": "SchedulingShard", "apiVersion": "kai.scheduler/v1", "metadata": {"name": "s"},
                        "spec": {"minRuntime": {"preemptMinRuntime": "10m"}}})
    result, _ = settle(objs, config=cfg)
    assert result.evictions == []
    _, pods, _ = schedule(objs, now="2026-06-01T12:06:00Z", config=cfg)
    assert evicted(pods) == ["low"]


@pytest.mark.parametrize("value", ["soon", "-5m", 10, ""])
def test_min_runtime_config_errors_name_the_field(value):
    with pytest.raises(ConfigError, match=r"minRuntime\.preemptMinRuntime: must be a duration"):
        parse_config({"minRuntime": {"preemptMinRuntime": value}})
