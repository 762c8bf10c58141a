"""The scheduler's allocate action: gangs, queue limits and quotas, fractional GPUs, DRA, rounds."""

from __future__ import annotations

import json

from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.config import SchedulerConfig
from gpuplane.scheduler.cycle import run_rounds
from gpuplane.scheduler.output import result_objects
from gpuplane.scheduler.snapshot import build_snapshot


def schedule(objects, rounds=1, config=None):
    snap = build_snapshot(m.schedule_objects(objects))
    result = run_rounds(snap, rounds, config or SchedulerConfig(), "2026-06-01T12:00:00Z")
    return result, result_objects(result)


def pods_out(out):
    return {o["metadata"]["name"]: o for o in out if o["kind"] == "Pod"}


def gpus_of(p):
    text = p["metadata"].get("annotations", {}).get("gpuplane.io/gpus", "")
    return text.split(",") if text else []


def unschedulable_message(p):
    for c in p.get("status", {}).get("conditions", []):
        if c["type"] == "PodScheduled" and c["status"] == "False":
            assert c["reason"] == "Unschedulable"
            return c["message"]
    return None


def test_gang_all_or_nothing_binds_when_it_fits():
    objs = [m.node("n1", gpus=4), m.node("n2", gpus=4), m.podgroup("job", 4, "default-queue")]
    objs += [m.pod(f"w{i}", gpus=2, group="job") for i in range(4)]
    _, out = schedule(objs)
    pods = pods_out(out)
    assert all(p["spec"].get("nodeName") for p in pods.values())
    # binpack: two workers per node, GPUs in index order
    assert sorted(",".join(gpus_of(p)) for p in pods.values()) == ["gpu-0,gpu-1", "gpu-0,gpu-1", "gpu-2,gpu-3", "gpu-2,gpu-3"]


def test_gang_all_or_nothing_rolls_back_when_short():
    objs = [m.node("n1", gpus=4), m.node("n2", gpus=2), m.podgroup("job", 4, "default-queue")]
    objs += [m.pod(f"w{i}", gpus=2, group="job") for i in range(4)]
    objs += [m.pod("small", gpus=1, created="2026-01-02T00:00:00Z")]
    result, out = schedule(objs)
    pods = pods_out(out)
    for i in range(4):
        p = pods[f"w{i}"]
        assert "nodeName" not in p["spec"]
        msg = unschedulable_message(p)
        assert "short by 1 pod" in msg and "minMember 4" in msg
    # the rolled-back gang left its GPUs free for the single pod
    assert pods["small"]["spec"]["nodeName"]
    pg = next(o for o in out if o["kind"] == "PodGroup")
    cond = pg["status"]["schedulingConditions"][0]
    assert cond["type"] == "UnschedulableOnNodePool" and cond["reasons"][0]["reason"] == "GangShortfall"


def test_gang_with_too_few_pods():
    objs = [m.node("n1", gpus=8), m.podgroup("job", 3, "default-queue")]
    objs += [m.pod(f"w{i}", gpus=1, group="job") for i in range(2)]
    _, out = schedule(objs)
    for p in pods_out(out).values():
        assert "only 2 exist" in unschedulable_message(p)


def test_queue_limit_never_exceeded():
    objs = [m.node("n1", gpus=8), m.queue("team", gpu_quota=2, gpu_limit=3)]
    objs += [m.pod(f"p{i}", queue="team", gpus=1, created=f"2026-01-01T00:00:0{i}Z") for i in range(5)]
    result, out = schedule(objs, rounds=3)
    pods = pods_out(out)
    bound = [n for n, p in pods.items() if p["spec"].get("nodeName")]
    assert bound == ["p0", "p1", "p2"]
    msg = unschedulable_message(pods["p3"])
    assert "queue team would exceed its gpu limit" in msg and "limit 3 GPUs" in msg
    q = next(o for o in out if o["kind"] == "Queue" and o["metadata"]["name"] == "team")
    assert q["status"]["allocated"]["gpu"] == 3


def test_parent_queue_limit():
    objs = [m.node("n1", gpus=8), m.queue("dept", gpu_limit=2), m.queue("a", parent="dept"), m.queue("b", parent="dept")]
    objs += [m.pod("pa", queue="a", gpus=2), m.pod("pb", queue="b", gpus=1)]
    _, out = schedule(objs)
    pods = pods_out(out)
    assert sum(1 for p in pods.values() if p["spec"].get("nodeName")) == 1
    pending = next(p for p in pods.values() if not p["spec"].get("nodeName"))
    assert "queue dept (an ancestor of queue" in unschedulable_message(pending)


def test_non_preemptible_stays_within_quota():
    objs = [m.node("n1", gpus=8), m.queue("serve", gpu_quota=1)]
    objs += [m.pod(f"i{i}", queue="serve", gpus=1, priority_class="inference", created=f"2026-01-01T00:00:0{i}Z") for i in range(2)]
    objs += [m.pod("t0", queue="serve", gpus=1, priority_class="train", created="2026-01-01T00:00:09Z")]
    _, out = schedule(objs)
    pods = pods_out(out)
    assert pods["i0"]["spec"]["nodeName"] and pods["t0"]["spec"]["nodeName"]
    assert "quota" in unschedulable_message(pods["i1"])


def test_fractional_gpus_fill_partially_used_gpus_first():
    objs = [m.node("n1", gpus=2), m.node("n2", gpus=2)]
    objs += [m.pod("running", fraction="0.5", node_name="n2", held="gpu-1")]
    objs += [m.pod(f"f{i}", fraction="0.25", created=f"2026-01-01T00:00:0{i}Z") for i in range(3)]
    _, out = schedule(objs)
    pods = pods_out(out)
    # f0, f1 fill n2's gpu-1 (0.5 + 0.25 + 0.25); f2 then takes a new GPU
    assert (pods["f0"]["spec"]["nodeName"], gpus_of(pods["f0"])) == ("n2", ["gpu-1"])
    assert (pods["f1"]["spec"]["nodeName"], gpus_of(pods["f1"])) == ("n2", ["gpu-1"])
    assert gpus_of(pods["f2"]) in (["gpu-0"],)


def test_fractional_memory_and_num_devices():
    objs = [m.node("n1", gpus=2, gpu_memory_mib=40000)]
    objs += [m.pod("mem", gpu_memory=20000, num_devices=2), m.pod("mem2", gpu_memory=30000, created="2026-01-02T00:00:00Z")]
    _, out = schedule(objs)
    pods = pods_out(out)
    assert gpus_of(pods["mem"]) == ["gpu-0", "gpu-1"]
    assert "nodeName" not in pods["mem2"]["spec"]
    assert "no GPU with 30000MiB of GPU memory free" in unschedulable_message(pods["mem2"])


def test_whole_gpu_does_not_share_with_fraction():
    objs = [m.node("n1", gpus=1), m.pod("half", fraction="0.5", node_name="n1"), m.pod("whole", gpus=1)]
    _, out = schedule(objs)
    assert "fewer than 1 free GPUs" in unschedulable_message(pods_out(out)["whole"])


def test_dra_claim_from_template():
    objs = [m.node("d1"), m.device_class(), m.gpu_slice("d1", 2), m.claim_template("two", count=2),
            m.pod("dra", claims=[{"name": "gpus", "resourceClaimTemplateName": "two"}]),
            m.pod("dra2", claims=[{"name": "gpus", "resourceClaimTemplateName": "two"}], created="2026-01-02T00:00:00Z")]
    _, out = schedule(objs)
    pods = pods_out(out)
    assert pods["dra"]["spec"]["nodeName"] == "d1"
    assert gpus_of(pods["dra"]) == ["gpu-0", "gpu-1"]
    assert pods["dra"]["status"]["resourceClaimStatuses"] == [{"name": "gpus", "resourceClaimName": "dra-gpus"}]
    claims = {o["metadata"]["name"]: o for o in out if o["kind"] == "ResourceClaim"}
    assert set(claims) == {"dra-gpus", "dra2-gpus"}
    alloc = claims["dra-gpus"]["status"]["allocation"]
    assert [r["device"] for r in alloc["devices"]["results"]] == ["gpu-0", "gpu-1"]
    assert claims["dra-gpus"]["status"]["reservedFor"] == [{"resource": "pods", "name": "dra"}]
    assert "allocation" not in claims["dra2-gpus"].get("status", {})
    assert "ResourceClaims cannot be allocated" in unschedulable_message(pods["dra2"])


def test_dra_gang_rollback_frees_devices():
    objs = [m.node("d1"), m.device_class(), m.gpu_slice("d1", 3), m.claim_template("one"),
            m.podgroup("g", 4, "default-queue")]
    objs += [m.pod(f"w{i}", group="g", claims=[{"name": "gpu", "resourceClaimTemplateName": "one"}]) for i in range(4)]
    objs += [m.pod("solo", claims=[{"name": "gpu", "resourceClaimTemplateName": "one"}], created="2026-01-02T00:00:00Z")]
    _, out = schedule(objs)
    pods = pods_out(out)
    assert all("nodeName" not in pods[f"w{i}"]["spec"] for i in range(4))
    assert pods["solo"]["spec"]["nodeName"] == "d1" and gpus_of(pods["solo"]) == ["gpu-0"]


def test_missing_queue_and_priority_class_order():
    objs = [m.node("n1", gpus=1)]
    objs += [m.pod("lost", queue="nope", gpus=1)]
    objs += [m.pod("low", gpus=1, priority_class="train", created="2026-01-01T00:00:00Z"),
             m.pod("high", gpus=1, priority_class="build-preemptible", created="2026-01-01T00:00:05Z")]
    _, out = schedule(objs)
    pods = pods_out(out)
    assert unschedulable_message(pods["lost"]) == "queue nope does not exist (no Queue object has this name)"
    assert pods["high"]["spec"]["nodeName"] == "n1"
    assert "0/1 nodes are available: 1 fewer than 1 free GPUs" in unschedulable_message(pods["low"])


def test_other_schedulers_pods_use_resources_but_are_not_scheduled():
    objs = [m.node("n1", gpus=1), m.pod("theirs", gpus=1, node_name="n1", scheduler="default-scheduler"),
            m.pod("pending-theirs", gpus=1, scheduler="default-scheduler"), m.pod("ours", gpus=1)]
    _, out = schedule(objs)
    pods = pods_out(out)
    assert "conditions" not in pods["pending-theirs"].get("status", {})
    assert "nodeName" not in pods["ours"]["spec"]


def test_placement_strategy_spread():
    objs = [m.node("n1", gpus=4), m.node("n2", gpus=4), m.pod("a", gpus=1), m.pod("b", gpus=1, created="2026-01-02T00:00:00Z")]
    _, out = schedule(objs, config=SchedulerConfig(gpu_strategy="spread"))
    pods = pods_out(out)
    assert {pods["a"]["spec"]["nodeName"], pods["b"]["spec"]["nodeName"]} == {"n1", "n2"}
    _, out = schedule(objs)
    pods = pods_out(out)
    assert pods["a"]["spec"]["nodeName"] == pods["b"]["spec"]["nodeName"]


def test_fair_share_queue_order():
    # two equal queues, 2 GPUs: each gets one even though team-a's jobs are older
    objs = [m.node("n1", gpus=2), m.queue("team-a"), m.queue("team-b")]
    objs += [m.pod(f"a{i}", queue="team-a", gpus=1, created=f"2026-01-01T00:00:0{i}Z") for i in range(3)]
    objs += [m.pod(f"b{i}", queue="team-b", gpus=1, created=f"2026-01-01T00:01:0{i}Z") for i in range(3)]
    _, out = schedule(objs)
    bound = sorted(n for n, p in pods_out(out).items() if p["spec"].get("nodeName"))
    assert bound == ["a0", "b0"]
    queues = {o["metadata"]["name"]: o for o in out if o["kind"] == "Queue"}
    assert queues["team-a"]["status"]["fairShare"]["gpu"] == 1
    assert queues["team-a"]["status"]["allocated"]["gpu"] == 1


def test_deterministic_output():
    objs = [m.node(f"n{i}", gpus=4) for i in range(3)] + [m.queue("q1"), m.queue("q2", gpu_limit=3)]
    objs += [m.pod(f"p{i}", queue="q1" if i % 2 else "q2", gpus=1 + i % 3) for i in range(10)]
    objs += [m.pod(f"f{i}", queue="q1", fraction="0.3") for i in range(5)]
    _, out1 = schedule(objs, rounds=2)
    _, out2 = schedule(list(reversed(objs)), rounds=2)
    assert json.dumps(out1) == json.dumps(schedule(objs, rounds=2)[1])
    # the input order does not matter either
    assert json.dumps(out1, sort_keys=True) == json.dumps(out2, sort_keys=True)


def test_rounds_settle():
    """Rounds until nothing changes, then 5 more rounds with no change (KAI's fixed-point harness)."""
    objs = [m.node("n1", gpus=4), m.node("n2", gpus=2), m.queue("q1", gpu_quota=2), m.queue("q2", gpu_quota=2)]
    objs += [m.pod(f"a{i}", queue="q1", gpus=1) for i in range(4)] + [m.pod(f"b{i}", queue="q2", gpus=2) for i in range(3)]
    prev = None
    settled_at = None
    for rounds in range(1, 10):
        _, out = schedule(objs, rounds=rounds)
        text = json.dumps(out)
        if text == prev:
            settled_at = rounds - 1
            break
        prev = text
    assert settled_at is not None
    for extra in range(1, 6):
        assert json.dumps(schedule(objs, rounds=settled_at + extra)[1]) == prev


def test_pod_states_hold_resources():
    releasing = m.pod("releasing", gpus=1, node_name="n1")
    releasing["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    objs = [m.node("n1", gpus=4),
            m.pod("running", gpus=1, node_name="n1"),  # no annotation: takes gpu-0
            releasing,  # still holds gpu-1
            m.pod("done", gpus=2, node_name="n1", phase="Succeeded"),  # holds nothing
            m.pod("new", gpus=2)]
    _, out = schedule(objs)
    pods = pods_out(out)
    assert gpus_of(pods["new"]) == ["gpu-2", "gpu-3"]
    assert "gpuplane.io/gpus" not in pods["running"]["metadata"].get("annotations", {})


def test_held_annotation_names_the_gpus():
    objs = [m.node("n1", gpus=4), m.pod("running", gpus=2, node_name="n1", held="gpu-0,gpu-2"), m.pod("new", gpus=2)]
    _, out = schedule(objs)
    assert gpus_of(pods_out(out)["new"]) == ["gpu-1", "gpu-3"]


def test_elastic_gang_binds_extra_pods_and_explains_the_rest():
    objs = [m.node("n1", gpus=3), m.podgroup("job", 2, "default-queue")]
    objs += [m.pod(f"w{i}", gpus=1, group="job") for i in range(4)]
    result, out = schedule(objs)
    pods = pods_out(out)
    assert [n for n, p in sorted(pods.items()) if p["spec"].get("nodeName")] == ["w0", "w1", "w2"]
    assert "fewer than 1 free GPUs" in unschedulable_message(pods["w3"])
    pg = next(o for o in out if o["kind"] == "PodGroup")
    assert "schedulingConditions" not in pg.get("status", {})


def test_cpu_only_pods_prefer_cpu_nodes_and_respect_taints_and_selectors():
    tainted = m.node("t1")
    tainted["spec"] = {"taints": [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]}
    objs = [m.node("g1", gpus=4), m.node("c1"), tainted]
    sel = m.pod("sel", created="2026-01-02T00:00:00Z")
    sel["spec"]["nodeSelector"] = {"kubernetes.io/hostname": "g1"}
    objs += [m.pod("plain"), sel]
    _, out = schedule(objs)
    pods = pods_out(out)
    assert pods["plain"]["spec"]["nodeName"] == "c1"
    assert pods["sel"]["spec"]["nodeName"] == "g1"
    objs = [tainted, m.pod("p", cpu="1")]
    _, out = schedule(objs)
    assert unschedulable_message(pods_out(out)["p"]) == "0/1 nodes are available: 1 untolerated taint dedicated"


def test_config_can_disable_allocate():
    from gpuplane.scheduler.config import parse_config

    config = parse_config({"actions": {"allocate": {"enabled": False}}, "placementStrategy": {"cpu": "spread"}})
    assert config.cpu_strategy == "spread" and config.gpu_strategy == "binpack"
    result, out = schedule([m.node("n1"), m.pod("p")], config=config)
    assert "nodeName" not in pods_out(out)["p"]["spec"] and not result.placements
