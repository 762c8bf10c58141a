"""The evicting actions: reclaim, preempt, stale-gang eviction; KAI-style multi-round runs."""

from __future__ import annotations

import json

from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.config import SchedulerConfig
from gpuplane.scheduler.cycle import run_rounds
from gpuplane.scheduler.output import result_objects
from gpuplane.scheduler.snapshot import build_snapshot

NOW = "2026-06-01T12:00:00Z"


def schedule(objects, rounds=1, now=NOW, config=None):
    snap = build_snapshot(m.schedule_objects(objects))
    result = run_rounds(snap, rounds, config or SchedulerConfig(), now)
    return result, {o["metadata"]["name"]: o for o in result_objects(result) if o["kind"] == "Pod"}


def running(name, node, queue, gpus=1, held=None, prio="train", created="2026-06-01T00:00:00Z", group=None,
            started=None):
    p = m.pod(name, queue=queue, gpus=gpus, node_name=node, held=held, priority_class=prio, created=created, group=group)
    if started:
        p["status"]["startTime"] = started
    return p


def evicted(pods):
    return sorted(n for n, p in pods.items() if p["metadata"].get("deletionTimestamp"))


def nominated(pods):
    return {n: p["status"]["nominatedNodeName"] for n, p in pods.items() if p.get("status", {}).get("nominatedNodeName")}


def bound(pods):
    return {n: p["spec"].get("nodeName") for n, p in pods.items()
            if p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp")}


def two_queues(qa_quota=2, qb_quota=2):
    return [m.node("n1", gpus=4), m.queue("qa", gpu_quota=qa_quota), m.queue("qb", gpu_quota=qb_quota)]


def qb_four(prio="train"):
    return [running(f"b{i}", "n1", "qb", held=f"gpu-{i}", prio=prio, created=f"2026-06-01T0{i}:00:00Z") for i in range(4)]


# --- reclaim -------------------------------------------------------------------------------


def test_reclaim_youngest_victims_and_nomination():
    objs = two_queues() + qb_four() + [m.pod("a", queue="qa", gpus=2, created="2026-06-01T05:00:00Z")]
    result, pods = schedule(objs)
    assert evicted(pods) == ["b2", "b3"]  # youngest first, only as many as needed
    assert nominated(pods) == {"a": "n1"}
    assert "nodeName" not in pods["a"]["spec"]
    assert pods["b3"]["metadata"]["deletionTimestamp"] == NOW
    assert {e["action"] for e in result.evictions} == {"reclaim"}
    # round 2: the victims are recreated as Pending pods, the reclaimer binds on the nominated node
    _, pods = schedule(objs, rounds=2)
    assert bound(pods) == {"b0": "n1", "b1": "n1", "a": "n1"}
    assert pods["b2"]["status"]["phase"] == "Pending" and "nodeName" not in pods["b2"]["spec"]
    assert "gpuplane.io/gpus" not in pods["b2"]["metadata"].get("annotations", {})
    assert evicted(pods) == []


def test_reclaim_needs_the_queue_under_its_fair_share():
    # qa already holds its fair share (2 GPUs): its extra job may not reclaim
    objs = [m.node("n1", gpus=4), m.queue("qa", gpu_quota=2), m.queue("qb", gpu_quota=2)]
    objs += [running("a0", "n1", "qa", gpus=2, held="gpu-0,gpu-1"), running("b0", "n1", "qb", gpus=2, held="gpu-2,gpu-3")]
    objs += [m.pod("a1", queue="qa", gpus=1)]
    _, pods = schedule(objs)
    assert evicted(pods) == [] and nominated(pods) == {}


def test_reclaim_keeps_victim_queue_at_its_fair_share():
    # qb holds exactly its fair share (2 GPUs, one per node); qa's 2-GPU pod fits on no node. Evicting
    # would take qb below its fair share and its quota, so reclaim does nothing (consolidation's case)
    objs = [m.node("n1", gpus=2), m.node("n2", gpus=2), m.queue("qa", gpu_quota=2), m.queue("qb", gpu_quota=2)]
    objs += [running("b0", "n1", "qb", held="gpu-0"), running("b1", "n2", "qb", held="gpu-0")]
    objs += [m.pod("a", queue="qa", gpus=2)]
    no_consolidation = SchedulerConfig(disabled_actions=frozenset({"consolidation"}))
    _, pods = schedule(objs, config=no_consolidation)
    assert evicted(pods) == [] and nominated(pods) == {}


# --- consolidation ---------------------------------------------------------------------------


def test_consolidation_moves_a_pod_to_make_room():
    objs = [m.node("n1", gpus=2), m.node("n2", gpus=2), m.queue("qa", gpu_quota=2), m.queue("qb", gpu_quota=2)]
    objs += [running("b0", "n1", "qb", held="gpu-0"), running("b1", "n2", "qb", held="gpu-0")]
    objs += [m.pod("a", queue="qa", gpus=2)]
    result, pods = schedule(objs)
    assert evicted(pods) == ["b1"]
    assert nominated(pods) == {"a": "n2", "b1": "n1"}  # the victim is moved, not lost
    assert [e["action"] for e in result.evictions] == ["consolidation"]
    _, pods = schedule(objs, rounds=2)
    assert bound(pods) == {"b0": "n1", "b1": "n1", "a": "n2"}
    assert_settles(objs)


def test_consolidation_never_loses_a_pod():
    # moving b1 would need a free GPU elsewhere; n1 is full of non-preemptible work
    objs = [m.node("n1", gpus=2), m.node("n2", gpus=2), m.queue("qa", gpu_quota=2), m.queue("qb", gpu_quota=2)]
    objs += [running("b0", "n1", "qb", held="gpu-0", prio="inference"), running("b1", "n2", "qb", held="gpu-0"),
             running("c0", "n1", "qb", held="gpu-1", prio="inference")]
    objs += [m.pod("a", queue="qa", gpus=2)]
    result, pods = schedule(objs, config=SchedulerConfig(disabled_actions=frozenset({"reclaim"})))
    assert evicted(pods) == [] and result.evictions == []


def test_consolidation_off_with_spread():
    objs = [m.node("n1", gpus=2), m.node("n2", gpus=2), m.queue("qa", gpu_quota=2), m.queue("qb", gpu_quota=2)]
    objs += [running("b0", "n1", "qb", held="gpu-0"), running("b1", "n2", "qb", held="gpu-0")]
    objs += [m.pod("a", queue="qa", gpus=2)]
    result, _ = schedule(objs, config=SchedulerConfig(gpu_strategy="spread"))
    assert result.evictions == []


def test_non_preemptible_is_never_reclaimed():
    objs = two_queues() + qb_four(prio="inference") + [m.pod("a", queue="qa", gpus=2)]
    objs[2]["spec"]["resources"]["gpu"]["quota"] = 4
    _, pods = schedule(objs)
    assert evicted(pods) == [] and nominated(pods) == {}
    assert "nodeName" not in pods["a"]["spec"]


def test_reclaim_evicts_whole_gangs():
    objs = [m.node("n1", gpus=6), m.queue("qa", gpu_quota=3), m.queue("qb", gpu_quota=1), m.podgroup("g", 2, "qb")]
    objs += [running("s1", "n1", "qb", gpus=2, held="gpu-0,gpu-1", created="2026-06-01T01:00:00Z"),
             running("s2", "n1", "qb", gpus=2, held="gpu-2,gpu-3", created="2026-06-01T02:00:00Z"),
             running("g0", "n1", "qb", held="gpu-4", group="g", created="2026-06-01T03:00:00Z"),
             running("g1", "n1", "qb", held="gpu-5", group="g", created="2026-06-01T03:00:00Z"),
             m.pod("a", queue="qa", gpus=2)]
    _, pods = schedule(objs)
    assert evicted(pods) == ["g0", "g1"]
    assert nominated(pods) == {"a": "n1"}


def test_reclaim_min_runtime():
    objs = two_queues() + [m.pod("a", queue="qa", gpus=2, created="2026-06-01T05:00:00Z")]
    objs[2]["spec"]["reclaimMinRuntime"] = "1h"
    objs += [running(f"b{i}", "n1", "qb", held=f"gpu-{i}", created=f"2026-06-01T0{i}:00:00Z",
                     started="2026-06-01T11:30:00Z") for i in range(4)]
    _, pods = schedule(objs)  # ran 30 minutes < 1h
    assert evicted(pods) == []
    _, pods = schedule(objs, now="2026-06-01T13:00:00Z")
    assert evicted(pods) == ["b2", "b3"]


# --- preempt -------------------------------------------------------------------------------


def test_preempt_lower_priority_in_the_same_queue():
    objs = [m.node("n1", gpus=2), m.queue("qa", gpu_quota=2)]
    objs += [running("low", "n1", "qa", held="gpu-0", prio="train"),
             running("keep", "n1", "qa", held="gpu-1", prio="inference"),
             m.pod("high", queue="qa", gpus=1, priority_class="build-preemptible")]
    result, pods = schedule(objs)
    assert evicted(pods) == ["low"]
    assert nominated(pods) == {"high": "n1"}
    assert [e["action"] for e in result.evictions] == ["preempt"]
    _, pods = schedule(objs, rounds=2)
    assert bound(pods) == {"keep": "n1", "high": "n1"}


def test_preempt_needs_strictly_higher_priority_and_preemptible_victims():
    objs = [m.node("n1", gpus=2), m.queue("qa", gpu_quota=2)]
    objs += [running("same", "n1", "qa", held="gpu-0", prio="train"),
             running("np", "n1", "qa", held="gpu-1", prio="build"),
             m.pod("p", queue="qa", gpus=2, priority_class="train")]
    _, pods = schedule(objs)
    assert evicted(pods) == []
    objs[-1] = m.pod("p", queue="qa", gpus=2, priority_class="inference")
    _, pods = schedule(objs)
    assert evicted(pods) == []  # would need the non-preemptible pod too


def test_preemption_delay():
    objs = [m.node("n1", gpus=1), m.queue("qa", gpu_quota=1), running("low", "n1", "qa", held="gpu-0"),
            m.podgroup("hi", 1, "qa", priority_class="build-preemptible")]
    objs[-1]["spec"]["preemptionDelay"] = "10m"
    objs[-1]["metadata"]["creationTimestamp"] = "2026-06-01T11:55:00Z"
    objs.append(m.pod("h", queue="qa", gpus=1, group="hi", priority_class="build-preemptible"))
    _, pods = schedule(objs)
    assert evicted(pods) == []
    _, pods = schedule(objs, now="2026-06-01T12:06:00Z")
    assert evicted(pods) == ["low"]


# --- stale gangs ---------------------------------------------------------------------------


def stale_case(grace=None, prio="train"):
    pg = m.podgroup("g", 3, "qa")
    if grace is not None:
        pg["spec"]["stalenessGracePeriod"] = grace
    return [m.node("n1", gpus=2), m.queue("qa", gpu_quota=2), pg,
            running("g0", "n1", "qa", held="gpu-0", group="g", prio=prio),
            running("g1", "n1", "qa", held="gpu-1", group="g", prio=prio),
            m.pod("g2", queue="qa", gpus=1, group="g", created="2026-06-01T11:59:30Z")]


def test_stale_gang_evicted_after_grace_period():
    _, pods = schedule(stale_case())  # stale for 30s < 60s default
    assert evicted(pods) == []
    result, pods = schedule(stale_case(), now="2026-06-01T12:01:00Z")
    assert evicted(pods) == ["g0", "g1"]  # the whole gang
    assert {e["action"] for e in result.evictions} == {"stalegangeviction"}
    _, pods = schedule(stale_case("10s"))
    assert evicted(pods) == ["g0", "g1"]
    _, pods = schedule(stale_case("-1s"), now="2026-06-02T00:00:00Z")
    assert evicted(pods) == []


def test_stale_non_preemptible_gang_is_never_evicted():
    # KAI would evict it; gpuplane keeps "non-preemptible work is never evicted" absolute.
    _, pods = schedule(stale_case(prio="inference"), now="2026-06-02T00:00:00Z")
    assert evicted(pods) == []


def stale_with_other_scheduler():
    """A stale gang (minMember 2, one pod running, the other pending since 11:00 and fitting
    nowhere) whose running pod belongs to another scheduler and asks for more memory than the
    pending one."""
    return [m.node("n1", gpus=2), m.queue("qa", gpu_quota=2), m.podgroup("g", 2, "qa"),
            m.pod("o", queue="qa", gpus=1, memory="2Gi", group="g", node_name="n1", held="gpu-0",
                  scheduler="someone-else"),
            m.pod("p", queue="qa", gpus=2, group="g", created="2026-06-01T11:00:00Z")]


def test_stale_gang_never_evicts_a_pod_of_another_scheduler():
    # Found by tests/test_scheduler_carry.py: the gang was evicted, and the next round took the
    # other scheduler's pod, never charged to qa, off qa's usage: a negative demand, and
    # compute_fair raised ValueError (the whole cycle failed).
    result, _ = schedule(stale_with_other_scheduler(), rounds=2)
    assert result.evictions == []  # (the gang is left alone)
    assert all(v >= 0 for q in result.requested.values() for v in q.values()), result.requested


def test_release_of_a_pod_of_another_scheduler_keeps_queue_usage():
    # _account_running charges only this scheduler's pods to their queues: giving back (and
    # taking again) another scheduler's pod moves its node resources, never its queue's usage.
    from gpuplane.scheduler.cycle import _Cluster

    snap = build_snapshot(m.schedule_objects(stale_with_other_scheduler()))
    c = _Cluster(snap, SchedulerConfig(), NOW)
    other = snap.pods[("default", "o")]
    before = {q: dict(a) for q, a in c.alloc.items()}
    cpu = c.nodes["n1"].cpu
    c.evict(other, "test", "test")
    assert c.eff_alloc("qa") == before["qa"]
    token = c.release(other)
    assert c.alloc == before and c.nodes["n1"].cpu == cpu + other.cpu_milli
    c.rehold(other, token)
    assert c.alloc == before and c.nodes["n1"].cpu == cpu


# --- KAI-style multi-round: settle, then five more rounds without change ----------------------


def state(objs, rounds):
    result, pods = schedule(objs, rounds=rounds)
    return result, json.dumps({n: [p["spec"].get("nodeName"), bool(p["metadata"].get("deletionTimestamp")),
                                   p.get("status", {}).get("nominatedNodeName")] for n, p in sorted(pods.items())})


def assert_settles(objs, expect_evictions=True, max_rounds=6):
    """Run rounds until nothing changes; then five more rounds must not change anything either."""
    prev = None
    for n in range(1, max_rounds + 1):
        result, s = state(objs, n)
        if s == prev and not any(e["round"] == n for e in result.evictions):
            break
        prev = s
    else:
        raise AssertionError(f"no fixed point within {max_rounds} rounds")
    settled = n
    for k in range(1, 6):
        result, s = state(objs, settled + k)
        assert s == prev, f"round {settled + k} changed"
        assert not any(e["round"] > settled for e in result.evictions), result.evictions
    assert bool(result.evictions) == expect_evictions
    return result


def test_rounds_settle_reclaim():
    objs = two_queues() + qb_four() + [m.pod("a", queue="qa", gpus=2, created="2026-06-01T05:00:00Z")]
    result = assert_settles(objs)
    assert len(result.evictions) == 2


def test_rounds_settle_preempt():
    objs = [m.node("n1", gpus=2), m.queue("qa", gpu_quota=2)]
    objs += [running("low", "n1", "qa", held="gpu-0"), running("low2", "n1", "qa", held="gpu-1"),
             m.pod("high", queue="qa", gpus=2, priority_class="build-preemptible")]
    result = assert_settles(objs)
    assert sorted(e["pod"] for e in result.evictions) == ["default/low", "default/low2"]


def test_rounds_settle_stale_gang():
    # after eviction the gang is recreated whole and fits nowhere but its old node: it binds again
    objs = [m.node("n1", gpus=2), m.queue("qa", gpu_quota=2), m.podgroup("g", 3, "qa"),
            running("g0", "n1", "qa", held="gpu-0", group="g"), running("g1", "n1", "qa", held="gpu-1", group="g"),
            m.pod("g2", queue="qa", gpus=1, group="g", created="2026-06-01T11:00:00Z")]
    result = assert_settles(objs)
    assert sorted(e["pod"] for e in result.evictions) == ["default/g0", "default/g1"]


def test_rounds_settle_two_queues_competing():
    # both queues want more than their share: reclaim once, then stable
    objs = [m.node("n1", gpus=4), m.node("n2", gpus=4), m.queue("qa", gpu_quota=4), m.queue("qb", gpu_quota=4)]
    objs += [running(f"b{i}", "n1" if i < 4 else "n2", "qb", held=f"gpu-{i % 4}", created=f"2026-06-01T0{i}:00:00Z")
             for i in range(8)]
    objs += [m.pod(f"a{i}", queue="qa", gpus=1, created=f"2026-06-01T10:0{i}:00Z") for i in range(6)]
    result = assert_settles(objs)
    _, pods = schedule(objs, rounds=8)
    on = bound(pods)
    assert sum(1 for n in on if n.startswith("a")) == 4 and sum(1 for n in on if n.startswith("b")) == 4


# --- the CLI on the example ----------------------------------------------------------------


def test_cli_reclaim_example():
    from pathlib import Path

    import click
    from click.testing import CliRunner

    from gpuplane.scheduler.cli import explain_command, schedule_command

    example = str(Path(__file__).resolve().parents[1] / "examples" / "scheduler" / "reclaim")
    cli = click.Group(commands={"schedule": schedule_command, "explain": explain_command})

    def run(*args):
        res = CliRunner().invoke(cli, list(args))
        assert res.exit_code == 0, res.output
        return res

    def pods(rounds):
        out = json.loads(run("schedule", "-f", example, "-o", "json", "--rounds", str(rounds), "--now", "2026-11-30T09:00:00Z").output)
        items = out["items"] if isinstance(out, dict) else out
        return {o["metadata"]["name"]: o for o in items if o["kind"] == "Pod"}

    one = pods(1)
    assert evicted(one) == ["nlp-eval", "nlp-sweep-3", "nlp-sweep-4", "nlp-sweep-5", "nlp-sweep-6"]
    assert nominated(one) == {"nlp-notebook": "gpu-node-1", "vision-train-0": "gpu-node-2", "vision-train-1": "gpu-node-2"}
    two = pods(2)
    assert bound(two) == {**{f"nlp-sweep-{i}": "gpu-node-1" for i in range(3)}, "nlp-notebook": "gpu-node-1",
                          "vision-train-0": "gpu-node-2", "vision-train-1": "gpu-node-2"}
    assert two["nlp-sweep-6"]["status"]["phase"] == "Pending"
    res = run("explain", "team/nlp-sweep-6", "-f", example, "--rounds", "2", "--now", "2026-11-30T09:00:00Z")
    assert "pending" in res.output


def test_reclaim_in_a_queue_tree_uses_leveled_queues():
    objs = [m.node("n1", gpus=8), m.queue("dept-a", gpu_quota=4), m.queue("dept-b", gpu_quota=4),
            m.queue("qa1", parent="dept-a", gpu_quota=2), m.queue("qa2", parent="dept-a", gpu_quota=2),
            m.queue("qb", parent="dept-b", gpu_quota=4)]
    objs += [running(f"b{i}", "n1", "qb", held=f"gpu-{i}", created=f"2026-06-01T0{i}:00:00Z") for i in range(6)]
    objs += [running(f"a{i}", "n1", "qa1", held=f"gpu-{6 + i}") for i in range(2)]
    objs += [m.pod("new", queue="qa2", gpus=2)]
    result, pods = schedule(objs)
    assert evicted(pods) == ["b4", "b5"]  # dept-b is over its share; qa1 (at its share) keeps its pods
    assert nominated(pods) == {"new": "n1"}
    q = {o["metadata"]["name"]: o for o in result_objects(result) if o["kind"] == "Queue"}
    assert q["dept-b"]["status"]["fairShare"]["gpu"] == 4
    assert_settles(objs)


def test_preempt_for_a_gang_across_nodes():
    objs = [m.node("n1", gpus=2), m.node("n2", gpus=2), m.queue("qa", gpu_quota=4),
            m.podgroup("big", 2, "qa", priority_class="build-preemptible")]
    objs += [running(f"t{i}", "n1" if i < 2 else "n2", "qa", held=f"gpu-{i % 2}", created=f"2026-06-01T0{i}:00:00Z")
             for i in range(4)]
    objs += [m.pod(f"big-{i}", queue="qa", gpus=2, group="big", priority_class="build-preemptible") for i in range(2)]
    _, pods = schedule(objs)
    assert evicted(pods) == ["t0", "t1", "t2", "t3"]
    assert sorted(nominated(pods).values()) == ["n1", "n2"]
    _, pods = schedule(objs, rounds=2)
    assert sorted(bound(pods)) == ["big-0", "big-1"]
    assert_settles(objs)


def test_non_preemptible_preemptor_stays_within_quota():
    # inference (non-preemptible) may only use in-quota GPUs: quota 1 is already used by another inference pod
    objs = [m.node("n1", gpus=2), m.queue("qa", gpu_quota=1),
            running("inf", "n1", "qa", held="gpu-0", prio="inference"), running("low", "n1", "qa", held="gpu-1"),
            m.pod("inf2", queue="qa", gpus=1, priority_class="inference")]
    _, pods = schedule(objs)
    assert evicted(pods) == []
    objs[1] = m.queue("qa", gpu_quota=2)
    _, pods = schedule(objs)
    assert evicted(pods) == ["low"] and nominated(pods) == {"inf2": "n1"}


def test_no_eviction_when_victims_would_not_help():
    # "high" can run on no node (nodeSelector): preempting "low" would not help, so nothing is evicted
    objs = [m.node("n1", gpus=1), m.queue("qa", gpu_quota=1), running("low", "n1", "qa", held="gpu-0"),
            m.pod("high", queue="qa", gpus=1, priority_class="build-preemptible")]
    objs[3]["spec"]["nodeSelector"] = {"never": "x"}
    result, pods = schedule(objs, rounds=3)
    assert bound(pods) == {"low": "n1"} and result.evictions == []
