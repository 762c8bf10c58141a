"""`gpuplane allocate` against its contract (shared/spec/cli-contracts.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "cluster"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpuplane.cli.main", *args],
        capture_output=True, text=True, input=stdin, cwd=ROOT, timeout=120,
    )


def write(tmp_path: Path, name: str, docs: list[dict]) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


SLICE = {
    "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": "s1"},
    "spec": {"driver": "gpu.example.com", "nodeName": "n1", "pool": {"name": "n1", "generation": 1, "resourceSliceCount": 1},
             "devices": [{"name": f"gpu-{i}", "attributes": {"index": {"int": i}}} for i in range(4)]},
}
CLASS = {"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": "gpu.example.com"},
         "spec": {"selectors": [{"cel": {"expression": "device.driver == 'gpu.example.com'"}}]}}


def claim(name: str, count: int = 1, **exact: object) -> dict:
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": name},
            "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu.example.com", "count": count, **exact}}]}}}


def test_example_cluster_allocates_two_gpus_on_one_numa_node() -> None:
    out = run("allocate", "--node", "node-a", "-f", str(EXAMPLE))
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert [d["metadata"]["name"] for d in docs] == ["trainer-0-gpus"]
    results = docs[0]["status"]["allocation"]["devices"]["results"]
    # gpu-0 is held by another claim, gpu-3 carries a NoSchedule taint.
    assert [r["device"] for r in results] == ["gpu-1", "gpu-2"]
    config = docs[0]["status"]["allocation"]["devices"]["config"]
    assert config[0]["source"] == "FromClaim" and "requests" not in config[0]


def test_yaml_and_json_outputs_carry_the_full_input_object(tmp_path: Path) -> None:
    c = claim("c1", 2)
    c["metadata"]["labels"] = {"team": "a"}
    c["spec"]["futureField"] = {"kept": True}
    f = write(tmp_path, "in.yaml", [SLICE, CLASS, c])
    out = run("allocate", "--node", "n1", "-f", str(f), "-o", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["apiVersion"] == "v1" and doc["kind"] == "List"
    item = doc["items"][0]
    assert item["metadata"]["labels"] == {"team": "a"}
    assert item["spec"]["futureField"] == {"kept": True}
    assert [r["device"] for r in item["status"]["allocation"]["devices"]["results"]] == ["gpu-0", "gpu-1"]
    assert item["status"]["allocation"]["nodeSelector"]["nodeSelectorTerms"][0]["matchFields"][0]["values"] == ["n1"]
    out = run("allocate", "--node", "n1", "-f", str(f))
    assert out.returncode == 0 and out.stdout.startswith("---")


def test_claims_of_one_pod_are_allocated_together_in_input_order(tmp_path: Path) -> None:
    f = write(tmp_path, "in.yaml", [SLICE, CLASS, claim("a", 3), claim("b", 1)])
    out = run("allocate", "--node", "n1", "-f", str(f), "-o", "json")
    items = json.loads(out.stdout)["items"]
    assert [i["metadata"]["name"] for i in items] == ["a", "b"]
    assert [r["device"] for r in items[1]["status"]["allocation"]["devices"]["results"]] == ["gpu-3"]
    f = write(tmp_path, "in2.yaml", [SLICE, CLASS, claim("a", 3), claim("b", 2)])
    out = run("allocate", "--node", "n1", "-f", str(f))
    assert out.returncode == 1 and out.stdout == ""


def test_no_solution_exits_1_with_reason(tmp_path: Path) -> None:
    f = write(tmp_path, "in.yaml", [SLICE, CLASS, claim("c1", 5)])
    out = run("allocate", "--node", "n1", "-f", str(f))
    assert out.returncode == 1
    assert out.stdout == ""
    assert "no allocation on node n1" in out.stderr
    assert "needs 5 device(s)" in out.stderr and "4 match the selectors" in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_class_exits_2_naming_the_claim(tmp_path: Path) -> None:
    c = claim("c1")
    c["spec"]["devices"]["requests"][0]["exactly"]["deviceClassName"] = "nope.example.com"
    f = write(tmp_path, "in.yaml", [SLICE, CLASS, c])
    out = run("allocate", "--node", "n1", "-f", str(f))
    assert out.returncode == 2
    assert "default/c1" in out.stderr and "nope.example.com" in out.stderr
    assert "Traceback" not in out.stderr


def test_cel_runtime_error_exits_2(tmp_path: Path) -> None:
    c = claim("c1", selectors=[{"cel": {"expression": "device.attributes['gpu.example.com'].nosuch == 1"}}])
    f = write(tmp_path, "in.yaml", [SLICE, CLASS, c])
    out = run("allocate", "--node", "n1", "-f", str(f))
    assert out.returncode == 2
    assert "CEL runtime error" in out.stderr and "nosuch" in out.stderr


def test_more_than_32_devices_exits_2(tmp_path: Path) -> None:
    f = write(tmp_path, "in.yaml", [SLICE, CLASS, claim("c1", 33)])
    out = run("allocate", "--node", "n1", "-f", str(f))
    assert out.returncode == 2
    assert "claim limit of 32" in out.stderr or "at most 32" in out.stderr


def test_invalid_object_exits_2_with_kind_name_and_field(tmp_path: Path) -> None:
    c = claim("c1")
    c["spec"]["devices"]["requests"][0]["exactly"]["allocationMode"] = "Some"
    f = write(tmp_path, "in.yaml", [SLICE, CLASS, c])
    out = run("allocate", "--node", "n1", "-f", str(f))
    assert out.returncode == 2
    assert "ResourceClaim/default/c1" in out.stderr and "allocationMode" in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_yaml_and_missing_file_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed\n")
    for path in (str(bad), str(tmp_path / "missing.yaml")):
        out = run("allocate", "--node", "n1", "-f", path)
        assert out.returncode == 2, out
        assert "Traceback" not in out.stderr


def test_other_kinds_warn_once_per_kind(tmp_path: Path) -> None:
    pods = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}"}} for i in range(3)]
    f = write(tmp_path, "in.yaml", [SLICE, CLASS, claim("c1"), *pods])
    out = run("allocate", "--node", "n1", "-f", str(f))
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("Pod") == 1


def test_feature_gates_switch_behaviour(tmp_path: Path) -> None:
    c = claim("c1")
    c["spec"]["devices"]["requests"] = [{"name": "gpu", "firstAvailable": [
        {"name": "big", "deviceClassName": "gpu.example.com", "count": 8},
        {"name": "small", "deviceClassName": "gpu.example.com", "count": 1}]}]
    f = write(tmp_path, "in.yaml", [SLICE, CLASS, c])
    out = run("allocate", "--node", "n1", "-f", str(f), "-o", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["items"][0]["status"]["allocation"]["devices"]["results"][0]["request"] == "gpu/small"
    out = run("allocate", "--node", "n1", "-f", str(f), "--feature-gates", "DRAPrioritizedList=false")
    assert out.returncode == 2 and "DRAPrioritizedList" in out.stderr
    out = run("allocate", "--node", "n1", "-f", str(f), "--feature-gates", "NoSuchGate=true")
    assert out.returncode == 2 and "NoSuchGate" in out.stderr


def test_v1beta1_input_is_converted(tmp_path: Path) -> None:
    s = json.loads(json.dumps(SLICE))
    s["apiVersion"] = "resource.k8s.io/v1beta1"
    s["spec"]["devices"] = [{"name": d["name"], "basic": {"attributes": d["attributes"]}} for d in SLICE["spec"]["devices"]]
    c = {"apiVersion": "resource.k8s.io/v1beta1", "kind": "ResourceClaim", "metadata": {"name": "c1"},
         "spec": {"devices": {"requests": [{"name": "gpu", "deviceClassName": "gpu.example.com", "count": 2}]}}}
    f = write(tmp_path, "in.yaml", [s, CLASS, c])
    out = run("allocate", "--node", "n1", "-f", str(f), "-o", "json")
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)["items"][0]["status"]["allocation"]["devices"]["results"]
    assert [r["device"] for r in results] == ["gpu-0", "gpu-1"]


def test_cel_compile_error_is_a_validation_error_even_without_candidates(tmp_path: Path) -> None:
    c = claim("c1", selectors=[{"cel": {"expression": "device.driver =="}}])
    s = json.loads(json.dumps(SLICE))
    s["spec"]["nodeName"] = "other-node"  # no device on n1: the allocator would never compile it
    f = write(tmp_path, "in.yaml", [s, CLASS, c])
    out = run("allocate", "--node", "n1", "-f", str(f))
    assert out.returncode == 2
    assert "ResourceClaim/default/c1: spec.devices.requests[0].exactly.selectors[0].cel.expression" in out.stderr
    assert "Syntax error" in out.stderr


def test_list_type_attributes_gate_is_refused(tmp_path: Path) -> None:
    f = write(tmp_path, "in.yaml", [SLICE, CLASS, claim("c1")])
    out = run("allocate", "--node", "n1", "-f", str(f), "--feature-gates", "DRAListTypeAttributes=true")
    assert out.returncode == 2 and "DRAListTypeAttributes" in out.stderr
