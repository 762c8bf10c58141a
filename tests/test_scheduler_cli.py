"""`gpuplane schedule` and `gpuplane explain` against the contract (shared/spec/cli-contracts.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml
from click.testing import CliRunner

from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.cli import explain_command, schedule_command

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "examples" / "scheduler")
CLI = click.Group(commands={"schedule": schedule_command, "explain": explain_command})


def run(*args: str):
    return CliRunner().invoke(CLI, list(args))


def write(tmp_path: Path, docs: list[dict], name: str = "in.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return str(path)


def by_name(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_example_snapshot():
    res = run("schedule", "-f", EXAMPLE)
    assert res.exit_code == 0, res.stderr
    docs = list(yaml.safe_load_all(res.stdout))
    assert res.stdout.startswith("---\n")
    kinds = [d["kind"] for d in docs]
    assert set(kinds) == {"Pod", "ResourceClaim", "PodGroup", "Queue"}
    assert kinds == sorted(kinds, key=["Pod", "ResourceClaim", "PodGroup", "Queue"].index)
    pods = by_name(docs, "Pod")
    for i in range(4):
        w = pods[f"llm-pretrain-worker-{i}"]
        assert w["status"]["phase"] == "Running" and w["spec"]["nodeName"].startswith("gpu-node-")
        assert len(w["metadata"]["annotations"]["gpuplane.io/gpus"].split(",")) == 2
    # the first new inference pod shares the half-used gpu-3 with the running one
    assert pods["chat-api-1"]["metadata"]["annotations"]["gpuplane.io/gpus"] == "gpu-3"
    assert pods["chat-api-1"]["spec"]["nodeName"] == "gpu-node-1"
    assert pods["notebook-alice"]["spec"]["nodeName"] == "dra-node-1"
    assert pods["etl-prep"]["spec"]["nodeName"] == "cpu-node-1"
    cond = pods["batch-eval"]["status"]["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("PodScheduled", "False", "Unschedulable")
    assert "gpu limit" in cond["message"]
    for i in range(2):
        msg = pods[f"llm-finetune-worker-{i}"]["status"]["conditions"][0]["message"]
        assert "gang PodGroup research/llm-finetune" in msg and "short by 1 pod" in msg
    pgs = by_name(docs, "PodGroup")
    assert pgs["llm-finetune"]["status"]["schedulingConditions"][0]["reasons"][0]["reason"] == "GangShortfall"
    assert "status" not in pgs["llm-pretrain"]
    claim = by_name(docs, "ResourceClaim")["notebook-alice-gpu"]
    assert claim["status"]["allocation"]["devices"]["results"][0]["pool"] == "dra-node-1"
    assert claim["status"]["reservedFor"][0]["name"] == "notebook-alice"
    queues = by_name(docs, "Queue")
    assert "default-queue" in queues
    for q in queues.values():
        for field in ("allocated", "fairShare"):
            assert set(q["status"][field]) == {"gpu", "cpu", "memory"}
    assert queues["research-training"]["status"]["allocated"]["gpu"] == 8


def test_json_output_and_determinism():
    a = run("schedule", "-f", EXAMPLE, "-o", "json", "--rounds", "3", "--now", "2026-11-30T09:00:00Z")
    b = run("schedule", "-f", EXAMPLE, "-o", "json", "--rounds", "3", "--now", "2026-11-30T09:00:00Z")
    assert a.exit_code == 0, a.stderr
    data = json.loads(a.stdout)
    assert data["apiVersion"] == "v1" and data["kind"] == "List" and data["items"]
    assert a.stdout == b.stdout


def test_config_placement_strategy_and_unknown_field(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("placementStrategy:\n  gpu: spread\n  cpu: binpack\n")
    assert run("schedule", "-f", EXAMPLE, "--config", str(good)).exit_code == 0
    shard = tmp_path / "shard.yaml"
    shard.write_text("apiVersion: kai.scheduler/v1\nkind: SchedulingShard\nmetadata: {name: default}\nspec:\n  placementStrategy: {gpu: binpack}\n")
    assert run("schedule", "-f", EXAMPLE, "--config", str(shard)).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("placementStrategy:\n  gpu: spread\n  gpuu: x\n")
    res = run("schedule", "-f", EXAMPLE, "--config", str(bad))
    assert res.exit_code == 2 and "placementStrategy.gpuu" in res.stderr
    bad.write_text("placementStrategi: {gpu: spread}\n")
    res = run("schedule", "-f", EXAMPLE, "--config", str(bad))
    assert res.exit_code == 2 and "placementStrategi: unknown field" in res.stderr
    bad.write_text("placementStrategy: {gpu: pack}\n")
    assert run("schedule", "-f", EXAMPLE, "--config", str(bad)).exit_code == 2


def test_invalid_input_exit_2(tmp_path):
    q = m.queue("team")
    q["spec"]["resources"]["gpu"]["quota"] = -5
    res = run("schedule", "-f", write(tmp_path, [m.node("n1", gpus=1), q]))
    assert res.exit_code == 2
    assert "Queue/team: spec.resources.gpu.quota" in res.stderr and "Traceback" not in res.stderr
    res = run("schedule", "-f", write(tmp_path, [m.pod("p", priority_class="nope")]))
    assert res.exit_code == 2 and "Pod/default/p: spec.priorityClassName" in res.stderr
    p = m.pod("p", fraction="1.5")
    res = run("schedule", "-f", write(tmp_path, [p]))
    assert res.exit_code == 2 and "gpu-fraction" in res.stderr
    res = run("schedule", "-f", write(tmp_path, [m.node("n1")]), "--now", "yesterday")
    assert res.exit_code == 2 and "--now" in res.stderr
    res = run("schedule", "-f", str(tmp_path / "missing.yaml"))
    assert res.exit_code == 2


def test_ignored_kinds_warn_once(tmp_path):
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    res = run("schedule", "-f", write(tmp_path, [m.node("n1"), cm, dict(cm, metadata={"name": "y"}), m.pod("p")]))
    assert res.exit_code == 0
    assert res.stderr.count("ignoring objects of kind ConfigMap") == 1
    assert by_name(yaml.safe_load_all(res.stdout), "Pod")["p"]["spec"]["nodeName"] == "n1"


def test_scheduler_name(tmp_path):
    path = write(tmp_path, [m.node("n1"), m.pod("p", scheduler="kai-scheduler")])
    pods = by_name(yaml.safe_load_all(run("schedule", "-f", path).stdout), "Pod")
    assert "nodeName" not in pods["p"]["spec"]
    pods = by_name(yaml.safe_load_all(run("schedule", "-f", path, "--scheduler-name", "kai-scheduler").stdout), "Pod")
    assert pods["p"]["spec"]["nodeName"] == "n1"


def test_explain_pending_pod():
    res = run("explain", "product/batch-eval", "-f", EXAMPLE)
    assert res.exit_code == 0, res.stderr
    assert "OverLimit" in res.stdout and "stops the pod" in res.stdout and "product-batch" in res.stdout
    res = run("explain", "batch-eval", "-f", EXAMPLE, "-o", "json")
    ex = json.loads(res.stdout)
    assert ex["reason"]["code"] == "OverLimit" and ex["reason"]["queueLevel"] == "product-batch"
    assert ex["chain"][0]["step"] == "queue"


def test_explain_gang_and_nodes(tmp_path):
    objs = [m.node("n1", gpus=4), m.node("n2", gpus=2), m.node("c1"), m.podgroup("job", 4, "default-queue")]
    objs += [m.pod(f"w{i}", gpus=2, group="job") for i in range(4)]
    res = run("explain", "w0", "-f", write(tmp_path, objs), "-o", "json")
    assert res.exit_code == 0, res.stderr
    ex = json.loads(res.stdout)
    steps = {s["step"]: s for s in ex["chain"]}
    assert steps["gang"]["minMember"] == 4 and steps["gang"]["placed"] == 3 and steps["gang"]["short"] == 1
    assert steps["nodes"]["nodes"] == 3
    assert steps["nodes"]["failed"] == {"fewer than 2 free GPUs": 2, "no nvidia.com/gpu on the node": 1}
    text = run("explain", "w0", "-f", write(tmp_path, objs)).stdout
    assert "short by 1" in text and "2 x fewer than 2 free GPUs" in text


def test_explain_not_pending_or_missing():
    res = run("explain", "chat-api-1", "-f", EXAMPLE)
    assert res.exit_code == 1 and "not pending" in res.stderr and "gpu-node-1" in res.stderr
    res = run("explain", "chat-api-0", "-f", EXAMPLE)
    assert res.exit_code == 1 and "Running" in res.stderr
    res = run("explain", "nobody", "-f", EXAMPLE)
    assert res.exit_code == 1 and "not found" in res.stderr
