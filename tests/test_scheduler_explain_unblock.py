"""``gpuplane explain``: what would unblock a pending pod — the evictions reclaim or preempt
would make (or why not), and the capacity missing. Exact texts, JSON, and stability over rounds."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.cli import explain_command, schedule_command
from gpuplane.scheduler.config import SchedulerConfig, parse_config
from gpuplane.scheduler.cycle import run_rounds
from gpuplane.scheduler.explain import explain_pod, format_explanation
from gpuplane.scheduler.output import result_objects
from gpuplane.scheduler.snapshot import build_snapshot

NOW = "2026-06-01T12:00:00Z"


def explain(objs, pod, config=None, rounds=1):
    result = run_rounds(build_snapshot(m.schedule_objects(objs)), rounds, config or SchedulerConfig(), NOW)
    ex = explain_pod(result, pod)
    text = format_explanation(ex)
    return ex, text[text.index("What would unblock it:"):], result


def running(name, node, queue, gpus=1, held=None, prio="train", created="2026-06-01T00:00:00Z", group=None, started=None):
    p = m.pod(name, queue=queue, gpus=gpus, node_name=node, held=held, priority_class=prio, created=created, group=group)
    if started:
        p["status"]["startTime"] = started
    return p


def test_gpus_missing_on_one_node():
    objs = [m.node(f"node-{i}", gpus=8) for i in range(1, 4)] + [m.queue("qa", gpu_quota=8)]
    objs += [running("r1", "node-1", "qa", gpus=8, prio="build"),
             running("r2", "node-2", "qa", gpus=4, prio="build", held="gpu-0,gpu-1,gpu-2,gpu-3"),
             running("r3", "node-3", "qa", gpus=3, prio="build", held="gpu-0,gpu-1,gpu-2"),
             m.pod("big", queue="qa", gpus=8)]
    ex, text, _ = explain(objs, "big")
    assert text == (
        "What would unblock it:\n"
        "  needs 8 GPUs on one node; the most free on any node is 5 (node-3); 3 more GPUs free on one node would place it\n"
        "  (reclaim: no job of another queue holding gpu may be evicted)\n"
        "  (preempt: no running job in queue qa has a priority below 50)\n")
    cap = ex["unblock"]["capacity"]
    assert (cap["kind"], cap["perNode"], cap["mostFree"], cap["node"], cap["missing"]) == ("gpus", 8, 5, "node-3", 3)
    assert "evictions" not in ex["unblock"]


def test_queue_limit_overrun():
    objs = [m.node("n1", gpus=32), m.queue("team-a", gpu_quota=8, gpu_limit=16),
            running("r", "n1", "team-a", gpus=14, prio="build"), m.pod("p", queue="team-a", gpus=4)]
    ex, text, _ = explain(objs, "p")
    assert text == (
        "What would unblock it:\n"
        "  queue team-a limit 16 GPUs, 14 allocated, the job asks 4: 2 over\n"
        "  (reclaim: queue team-a would go above its fair share: 14 GPUs allocated + 4 GPUs requested > fair share 16 GPUs)\n"
        "  (preempt: no running job in queue team-a has a priority below 50)\n")
    cap = ex["unblock"]["capacity"]
    assert cap == {"kind": "queueLimit", "queue": "team-a", "resource": "gpu", "limit": 16.0, "allocated": 14.0,
                   "asks": 4.0, "over": 2.0, "message": "queue team-a limit 16 GPUs, 14 allocated, the job asks 4: 2 over"}


def test_non_preemptible_quota_overrun():
    objs = [m.node("n1", gpus=8), m.queue("qa", gpu_quota=2), running("r", "n1", "qa", gpus=2, prio="build"),
            m.pod("p", queue="qa", gpus=1, priority_class="build")]
    _, text, _ = explain(objs, "p")
    assert text == (
        "What would unblock it:\n"
        "  queue qa quota 2 GPUs, 2 allocated to non-preemptible jobs, the job asks 1: 1 over "
        "(a preemptible job may use resources over quota)\n"
        "  (reclaim: no job of another queue holding gpu may be evicted)\n"
        "  (preempt: no running job in queue qa has a priority below 100)\n")


def reclaim_setup(annotations=None):
    objs = [m.node("n1", gpus=4), m.queue("qa", gpu_quota=2), m.queue("qb", gpu_quota=2)]
    objs += [running(f"b{i}", "n1", "qb", held=f"gpu-{i}", created=f"2026-06-01T0{i}:00:00Z") for i in range(4)]
    a = m.pod("a", queue="qa", gpus=2, created="2026-06-01T11:58:00Z")
    if annotations:
        a["metadata"]["annotations"] = annotations
    return objs + [a]


def test_reclaim_would_evict_once_the_preemption_delay_passes():
    ex, text, result = explain(reclaim_setup({"kai.scheduler/preemption-delay": "5m"}), "a")
    assert result.evictions == []  # the explanation committed nothing
    assert text == (
        "What would unblock it:\n"
        "  once the job's preemptionDelay has passed (3m left), reclaim would evict 2 jobs: Pod default/b3 (queue qb, "
        "1 pod, 1 GPU); Pod default/b2 (queue qb, 1 pod, 1 GPU); the job would then be placed on node n1\n"
        "  otherwise: needs 2 GPUs on one node; the most free on any node is 0 (n1); 2 more GPUs free on one node "
        "would place it\n")
    ev = ex["unblock"]["evictions"]
    assert ev["action"] == "reclaim" and ev["nodes"] == ["n1"]
    assert ev["victims"] == [{"kind": "Pod", "name": "default/b3", "queue": "qb", "pods": 1, "gpus": 1},
                             {"kind": "Pod", "name": "default/b2", "queue": "qb", "pods": 1, "gpus": 1}]
    # the same search the action runs: once the delay has passed, reclaim evicts exactly these
    later = run_rounds(build_snapshot(m.schedule_objects(reclaim_setup({"kai.scheduler/preemption-delay": "5m"}))),
                       1, SchedulerConfig(), "2026-06-01T12:04:00Z")
    assert sorted(e["pod"] for e in later.evictions) == ["default/b2", "default/b3"]


def test_preempt_would_evict_when_enabled():
    objs = [m.node("n1", gpus=2), m.queue("qa", gpu_quota=2), running("low", "n1", "qa", held="gpu-0"),
            running("keep", "n1", "qa", held="gpu-1", prio="inference"),
            m.pod("high", queue="qa", gpus=1, priority_class="build-preemptible")]
    ex, text, _ = explain(objs, "high", parse_config({"actions": {"preempt": {"enabled": False}}}))
    assert text == (
        "What would unblock it:\n"
        "  preempt is disabled (actions.preempt.enabled: false); if it were enabled, preempt would evict 1 job: "
        "Pod default/low (queue qa, 1 pod, 1 GPU); the job would then be placed on node n1\n"
        "  (reclaim: queue qa would go above its fair share: 2 GPUs allocated + 1 GPU requested > fair share 2 GPUs)\n"
        "  otherwise: needs 1 GPU on one node; the most free on any node is 0 (n1); 1 more GPU free on one node "
        "would place it\n")
    assert ex["unblock"]["evictions"]["condition"] == "preempt is disabled (actions.preempt.enabled: false)"


def test_reclaim_blocked_by_non_preemptible_and_min_runtime_victims():
    objs = [m.node("n1", gpus=4), m.queue("qa", gpu_quota=2), m.queue("qb", gpu_quota=2)]
    objs[2]["spec"]["reclaimMinRuntime"] = "1h"
    objs += [running("b0", "n1", "qb", gpus=2, held="gpu-0,gpu-1", prio="build"),
             running("b1", "n1", "qb", gpus=2, held="gpu-2,gpu-3", started="2026-06-01T11:30:00Z"),
             m.pod("a", queue="qa", gpus=2, created="2026-06-01T05:00:00Z")]
    ex, text, _ = explain(objs, "a")
    assert text == (
        "What would unblock it:\n"
        "  needs 2 GPUs on one node; the most free on any node is 0 (n1); 2 more GPUs free on one node would place it\n"
        "  (reclaim: no job of another queue holding gpu may be evicted (non-preemptible: default/b0; within "
        "reclaimMinRuntime (30m left): default/b1))\n"
        "  (preempt: no running job in queue qa has a priority below 50)\n")


def test_reclaim_refused_by_victim_fair_share():
    # qb holds exactly its fair share (2 GPUs); 2 more are held by a pod of another scheduler
    foreign = running("foreign", "n1", "qa", gpus=2, held="gpu-2,gpu-3")
    foreign["spec"]["schedulerName"] = "other"
    objs = [m.node("n1", gpus=4), m.queue("qa", gpu_quota=2), m.queue("qb", gpu_quota=2),
            running("b0", "n1", "qb", held="gpu-0"), running("b1", "n1", "qb", held="gpu-1"), foreign,
            m.pod("a", queue="qa", gpus=2, created="2026-06-01T05:00:00Z")]
    ex, text, result = explain(objs, "a")
    assert result.evictions == []
    assert text.splitlines()[2] == ("  (reclaim: no job of another queue holding gpu may be evicted (its queue qb would "
                                    "fall below its fair share: default/b1, default/b0))")


def test_reclaim_refused_when_the_queue_is_at_its_fair_share():
    objs = [m.node("n1", gpus=2), m.queue("qa", gpu_quota=1), m.queue("qb", gpu_quota=1),
            running("a0", "n1", "qa", held="gpu-0"), running("b0", "n1", "qb", held="gpu-1"),
            m.pod("a", queue="qa", gpus=1, created="2026-06-01T05:00:00Z")]
    ex, _, _ = explain(objs, "a")
    np = {p["action"]: p["message"] for p in ex["unblock"]["notPossible"]}
    assert np["reclaim"] == "queue qa would go above its fair share: 1 GPU allocated + 1 GPU requested > fair share 1 GPU"


def test_gang_room_on_the_nodes():
    objs = [m.node("n1", gpus=8), m.node("n2", gpus=8), m.queue("qa", gpu_quota=16), m.podgroup("g", 3, "qa"),
            running("r", "n1", "qa", gpus=4, prio="build", held="gpu-0,gpu-1,gpu-2,gpu-3"),
            running("r2", "n2", "qa", gpus=4, prio="build", held="gpu-0,gpu-1,gpu-2,gpu-3")]
    objs += [m.pod(f"w{i}", queue="qa", gpus=4, group="g") for i in range(3)]
    _, text, _ = explain(objs, "w0")
    assert text == (
        "What would unblock it:\n"
        "  the gang needs 3 more pods of 4 GPUs each; the nodes have room for 2 (the most free on one node is 4, n1); "
        "room for 1 more pod of 4 GPUs would place it\n"
        "  (reclaim: queue qa would go above its fair share: 8 GPUs allocated + 12 GPUs requested > fair share 16 GPUs)\n"
        "  (preempt: no running job in queue qa has a priority below 50)\n")


def test_gang_missing_pods():
    objs = [m.node("n1", gpus=8), m.queue("qa"), m.podgroup("g", 3, "qa"), m.pod("w0", queue="qa", gpus=1, group="g")]
    ex, text, _ = explain(objs, "w0")
    assert text == "What would unblock it:\n  2 more pods of the gang must exist (minMember 3)\n"
    assert ex["unblock"]["notPossible"] == []


def test_fraction_and_cpu_missing():
    r = running("r", "n1", "qa", gpus=0, prio="build")
    r["metadata"].setdefault("annotations", {}).update({"gpu-fraction": "0.75", "gpuplane.io/gpus": "gpu-0"})
    objs = [m.node("n1", gpus=1), m.queue("qa", gpu_quota=1), r, m.pod("f", queue="qa", fraction="0.5")]
    _, text, _ = explain(objs, "f")
    assert text.splitlines()[1] == ("  needs 0.5 of one GPU; the most free on one GPU is 0.25 (n1); 0.25 more of one GPU "
                                    "free would place it")
    _, text, _ = explain([m.node("n1", cpu="4"), m.queue("qa"), m.pod("c", queue="qa", cpu="8")], "c")
    assert text.splitlines()[1] == ("  needs 8 cores (cpu) on one node; the most free on any node is 4 cores (n1); "
                                    "4 cores more free on one node would place it")


def test_cpu_missing_for_a_gpu_pod():
    # GPUs are free; the node's CPU is what is missing
    objs = [m.node("n1", gpus=8, cpu="2"), m.queue("qa", gpu_quota=8), m.pod("g", queue="qa", gpus=1, cpu="4")]
    ex, text, _ = explain(objs, "g")
    assert ex["unblock"]["capacity"]["kind"] == "cpu"
    assert text.splitlines()[1] == ("  needs 4 cores (cpu) on one node; the most free on any node is 2 cores (n1); "
                                    "2 cores more free on one node would place it")


def test_nominated_pod_needs_nothing_more():
    objs = reclaim_setup()
    ex, text, _ = explain(objs, "a")
    assert ex["reason"]["code"] == "Pipelined"
    assert text == "What would unblock it:\n  nothing: it is nominated to node n1 and binds once the evicted pods are gone\n"


def test_explanation_is_stable_once_rounds_settle():
    """KAI-style: the explanation of a pod that stays pending does not change over 5 more rounds."""
    objs = [m.node("n1", gpus=4), m.queue("qa", gpu_quota=2), m.queue("qb", gpu_quota=2)]
    objs += [running(f"b{i}", "n1", "qb", held=f"gpu-{i}", created=f"2026-06-01T0{i}:00:00Z") for i in range(4)]
    objs += [m.pod("a", queue="qa", gpus=2, created="2026-06-01T05:00:00Z"),
             m.pod("late", queue="qa", gpus=4, created="2026-06-01T06:00:00Z")]
    texts = [explain(objs, "late", rounds=n)[1] for n in range(3, 9)]
    assert len(set(texts)) == 1
    assert "needs 4 GPUs on one node; the most free on any node is 0 (n1)" in texts[0]


def test_schedule_message_keeps_the_short_form(tmp_path):
    objs = [m.node("n1", gpus=32), m.queue("team-a", gpu_quota=8, gpu_limit=16),
            running("r", "n1", "team-a", gpus=14, prio="build"), m.pod("p", queue="team-a", gpus=4)]
    path = tmp_path / "in.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
    cli = click.Group(commands={"schedule": schedule_command, "explain": explain_command})
    out = CliRunner().invoke(cli, ["schedule", "-f", str(path), "--now", NOW, "-o", "json"])
    assert out.exit_code == 0, out.output
    docs = json.loads(out.stdout)
    items = docs["items"] if isinstance(docs, dict) else docs
    pod = next(o for o in items if o["kind"] == "Pod" and o["metadata"]["name"] == "p")
    msg = pod["status"]["conditions"][0]["message"]
    assert msg == ("queue team-a would exceed its gpu limit: 14 GPUs allocated + 4 GPUs requested by this pod > "
                   "limit 16 GPUs")
    res = CliRunner().invoke(cli, ["explain", "p", "-f", str(path), "--now", NOW, "-o", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["unblock"]["message"] == "queue team-a limit 16 GPUs, 14 allocated, the job asks 4: 2 over"
