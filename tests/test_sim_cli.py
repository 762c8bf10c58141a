"""``gpuplane sim``: exit codes, files written, metrics.json keys (shared/spec/cli-contracts.md)."""
from __future__ import annotations

import importlib.util
import json

import pytest
from click.testing import CliRunner

from gpuplane.cli.main import cli
from gpuplane.sim.scenario import DEFAULT_SCENARIO, ScenarioError, parse_scenario, parse_seconds

needs_parts = pytest.mark.skipif(
    importlib.util.find_spec("gpuplane.sim.profiles") is None or importlib.util.find_spec("gpuplane.sim.synthetic") is None,
    reason="gpuplane.sim.profiles / synthetic not merged yet")

SMALL = """\
name: small
seed: 3
period: 30s
cluster:
  - {profile: hgx-h100, count: 2}
queues:
  - {name: dept, gpu: {quota: 16}}
  - {name: team-a, parent: dept, gpu: {quota: 8}}
  - {name: team-b, parent: dept, gpu: {quota: 8}}
workload:
  synthetic: {hours: 0.5, load: 0.9}
"""

CONTRACT_KEYS = {"scenario", "seed", "sim_seconds", "wall_seconds", "gpus", "gpu_allocation_mean", "pods_submitted",
                 "pods_completed", "queueing_delay_s", "queues", "jain_fairness"}


def run(args, tmp_path):
    return CliRunner().invoke(cli, ["sim", *args], catch_exceptions=False)


@pytest.mark.parametrize("text, needle", [
    (SMALL.replace("seed: 3", "sead: 3"), "sead: unknown field"),
    (SMALL.replace("count: 2}", "count: 2, colour: red}"), "cluster[0].colour: unknown field"),
    (SMALL.replace("hours: 0.5", "hours: 0.5, burst: 2"), "workload.synthetic.burst: unknown field"),
    (SMALL.replace("count: 2}", "count: 2, mode: magic}"), "cluster[0].mode: unsupported value 'magic'"),
    (SMALL.replace("parent: dept, gpu: {quota: 8}}\n  - {name: team-b", "parent: nope, gpu: {quota: 8}}\n  - {name: team-b"),
     "queues[1].parent: queue 'nope' is not defined"),
    (SMALL.replace("period: 30s", "period: soon"), "period: must be seconds"),
    (SMALL + "scheduler: {placementStrategy: {gpu: magic}}\n", "scheduler: placementStrategy.gpu"),
    ("cluster: [\n", "invalid YAML"),
    ("- a\n- b\n", "must be a mapping"),
    (SMALL.replace("  synthetic: {hours: 0.5, load: 0.9}\n", "  {}\n"), "workload: exactly one of"),
])
def test_invalid_scenarios_exit_2_naming_the_field(tmp_path, text, needle):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    result = run([str(path), "--out", str(tmp_path / "out")], tmp_path)
    assert result.exit_code == 2, result.output
    assert needle in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_missing_file_exits_2(tmp_path):
    result = run([str(tmp_path / "nope.yaml")], tmp_path)
    assert result.exit_code == 2 and "cannot read" in result.output


def test_default_scenario_is_valid():
    s = parse_scenario(DEFAULT_SCENARIO)
    assert s.name == "default" and s.workload.synthetic is not None
    assert {g.profile for g in s.cluster} == {"hgx-h200", "a100-80gb", "l40s"}
    leaves = {q.name for q in s.queues} - {q.parent for q in s.queues}
    assert len(leaves) == 4


@pytest.mark.parametrize("value, seconds", [(90, 90.0), ("90s", 90.0), ("30m", 1800.0), ("8h", 28800.0), ("2d", 172800.0),
                                            ("1.5h", 5400.0)])
def test_durations(value, seconds):
    assert parse_seconds(value, "duration") == seconds


@pytest.mark.parametrize("value", ["-5s", "5x", True, "h"])
def test_bad_durations(value):
    with pytest.raises(ScenarioError, match="duration"):
        parse_seconds(value, "duration")


@needs_parts
def test_unknown_profile_exits_2(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SMALL.replace("hgx-h100", "dgx-9000"))
    result = run([str(path), "--out", str(tmp_path / "out")], tmp_path)
    assert result.exit_code == 2 and "cluster[0].profile: unknown profile 'dgx-9000'" in result.output


@needs_parts
def test_small_scenario_writes_report_and_metrics(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SMALL)
    out = tmp_path / "out"
    result = run([str(path), "--out", str(out), "--quiet"], tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output == ""  # --quiet
    metrics = json.loads((out / "metrics.json").read_text())
    assert CONTRACT_KEYS <= set(metrics)
    assert metrics["scenario"] == "small" and metrics["seed"] == 3 and metrics["gpus"] == 16
    assert set(metrics["queues"]) >= {"team-a", "team-b"}
    assert {"mean", "p50", "p99"} <= set(metrics["queueing_delay_s"])
    assert (out / "report.html").read_text().startswith("<!")
    # same seed, same numbers (wall-clock figures aside); another seed, another workload
    again = run([str(path), "--out", str(tmp_path / "again"), "--quiet"], tmp_path)
    assert again.exit_code == 0
    m2 = json.loads((tmp_path / "again" / "metrics.json").read_text())
    for key in ("sim_seconds", "gpu_allocation_mean", "pods_submitted", "pods_completed", "queueing_delay_s", "jain_fairness"):
        assert metrics[key] == m2[key], key


@needs_parts
def test_summary_is_printed(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SMALL)
    result = run([str(path), "--out", str(tmp_path / "out"), "--seed", "5"], tmp_path)
    assert result.exit_code == 0, result.output
    assert "metrics.json" in result.output and "small" in result.output
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["seed"] == 5
