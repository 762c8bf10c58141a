"""OpenB / FGD fragmentation benchmark: trace parsing, protocol invariants, policies, CLI, and a
reduced reproduction of the published artifact means (docs/openb.md)."""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuplane.sim.openb import POLICIES, TraceError, load_nodes, load_pods, run, typical_pods
from gpuplane.sim.openb.cli import openb_command
from gpuplane.sim.openb.engine import FragModel, TypicalPod, arrival_sequence
from gpuplane.sim.openb.published import find_shared, published
from gpuplane.sim.openb.trace import Node, Pod

SHARED = find_shared(Path(__file__).resolve().parent)
needs_traces = pytest.mark.skipif(SHARED is None, reason="shared/traces/openb not found (set GPUPLANE_SHARED)")


def _trace(name: str) -> Path:
    assert SHARED is not None
    return SHARED / "traces" / "openb" / name


@pytest.fixture(scope="module")
def gpu_nodes():
    return load_nodes(_trace("openb_node_list_gpu_node.csv"))


@pytest.fixture(scope="module")
def default_pods():
    return load_pods(_trace("openb_pod_list_default.csv"))


# --------------------------------------------------------------------------- parsing (real files)

@needs_traces
def test_gpu_node_list(gpu_nodes):
    assert len(gpu_nodes) == 1213
    assert sum(n.gpu for n in gpu_nodes) == 6212
    assert sum(n.cpu_milli for n in gpu_nodes) == 107018 * 1000
    by_model: dict[str, int] = {}
    for n in gpu_nodes:
        by_model[n.model] = by_model.get(n.model, 0) + n.gpu
    assert by_model == {"G2": 4392, "T4": 842, "G3": 312, "P100": 265, "V100M32": 204, "V100M16": 195, "A10": 2}


@needs_traces
def test_all_node_list_has_cpu_only_nodes():
    nodes = load_nodes(_trace("openb_node_list_all_node.csv"))
    assert len(nodes) == 1523
    assert sum(1 for n in nodes if n.gpu == 0 and n.model == "") == 310


@needs_traces
def test_default_pod_list(default_pods):
    pods = default_pods
    assert len(pods) == 8152
    assert sum(1 for p in pods if p.num_gpu == 0) == 1088
    single = [p for p in pods if p.num_gpu == 1]
    assert len(single) == 6989
    assert sum(1 for p in single if p.gpu_milli == 1000) == 3911
    assert sum(1 for p in single if p.is_gpu_share) == 3078
    assert sum(1 for p in pods if p.num_gpu > 1) == 75
    assert sum(p.total_gpu_milli for p in pods) == 6086800
    assert sum(1 for p in pods if p.pod_phase == "Pending" and p.scheduled_time is None) == 897
    assert pods[0].name == "openb-pod-0000" and pods[0].creation_time == 0


@needs_traces
def test_variant_pod_lists_parse():
    multi = load_pods(_trace("openb_pod_list_multigpu20.csv"))  # only the first five columns
    assert len(multi) == 8324 and all(p.gpu_spec == "" and p.qos == "" for p in multi)
    spec = load_pods(_trace("openb_pod_list_gpuspec33.csv"))
    assert sum(1 for p in spec if p.gpu_spec) == 2388
    assert frozenset({"V100M16", "V100M32"}) in {p.gpu_models for p in spec}


def _write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


NODE_HDR = "sn,cpu_milli,memory_mib,gpu,model\n"
POD_HDR = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n"


@pytest.mark.parametrize("body,needle", [
    ("n1,abc,1,1,T4\n", ":2: column 'cpu_milli': 'abc' is not an integer"),
    ("n1,1000,1,-1,T4\n", ":2: column 'gpu': -1 must be in [0, 64]"),
    ("n1,1000,1,2,\n", ":2: node n1 has 2 GPU(s) but no 'model'"),
    ("n1,1000,1,1,T4\nn1,1000,1,1,T4\n", ":3: duplicate node 'n1'"),
    ("n1,1000,1,1\n", ":2: expected 5 fields, got 4"),
    ("", "no nodes"),
])
def test_bad_node_rows(tmp_path, body, needle):
    with pytest.raises(TraceError) as err:
        load_nodes(_write(tmp_path, NODE_HDR + body))
    assert needle in str(err.value)


@pytest.mark.parametrize("body,needle", [
    ("p1,1000,1,1,1200,\n", "column 'gpu_milli': 1200 must be in [0, 1000]"),
    ("p1,1000,1,0,500,\n", "gpu_milli 500 with num_gpu 0"),
    ("p1,1000,1,2,500,\n", "only single-GPU pods may share a GPU"),
    ("p1,1000,1,1,0,\n", "num_gpu 1 with gpu_milli 0"),
    ("p1,,1,1,1000,\n", "column 'cpu_milli' is empty"),
    ("p1,1000,1,1,1000,T4||P100\n", "has an empty model name"),
])
def test_bad_pod_rows(tmp_path, body, needle):
    with pytest.raises(TraceError) as err:
        load_pods(_write(tmp_path, POD_HDR + body))
    assert needle in str(err.value) and ":2:" in str(err.value)


def test_missing_columns_and_files(tmp_path):
    with pytest.raises(TraceError, match="missing column"):
        load_pods(_write(tmp_path, "name,cpu_milli\np,1\n"))
    with pytest.raises(TraceError, match="cannot read"):
        load_nodes(tmp_path / "absent.csv")
    with pytest.raises(TraceError, match="empty file"):
        load_nodes(_write(tmp_path, ""))


def test_cli_bad_input_exit_2_without_traceback(tmp_path):
    nodes = _write(tmp_path, NODE_HDR + "n1,8000,1000,x,T4\n", "n.csv")
    pods = _write(tmp_path, POD_HDR + "p1,1000,1,1,500,\n", "p.csv")
    res = CliRunner().invoke(openb_command, ["--nodes", str(nodes), "--pods", str(pods)])
    assert res.exit_code == 2
    assert "n.csv:2: column 'gpu'" in res.output and "Traceback" not in res.output
    good = _write(tmp_path, NODE_HDR + "n1,8000,1000,1,T4\n", "g.csv")
    res = CliRunner().invoke(openb_command, ["--nodes", str(good), "--pods", str(pods), "--tune", "-1"])
    assert res.exit_code == 2 and "--tune" in res.output
    res = CliRunner().invoke(openb_command, ["--nodes", str(good), "--pods", str(pods), "--policy", "nope"])
    assert res.exit_code == 2


# --------------------------------------------------------------------------- target workload, frag

@needs_traces
def test_typical_pods_cover_95_percent(default_pods):
    tp = typical_pods(default_pods)
    assert math.isclose(sum(t.p for t in tp), 1.0)
    covered = sum(t.count for t in tp)
    assert covered >= 0.95 * len(default_pods)
    assert covered - tp[-1].count < 0.95 * len(default_pods)  # minimal prefix
    counts = [t.count for t in tp]
    assert counts == sorted(counts, reverse=True)
    assert (tp[0].cpu_milli, tp[0].gpu_milli, tp[0].num_gpu) == (3152, 810, 1)


def test_frag_measure_hand_example():
    # M: 50% pods (2 cores, 500 milli, 1 GPU), 25% (1 core, 1000 milli, 1 GPU), 25% CPU-only
    tp = [TypicalPod(2000, 500, 1, "", 2, 0.5), TypicalPod(1000, 1000, 1, "", 1, 0.25), TypicalPod(1000, 0, 0, "", 1, 0.25)]
    fm = FragModel(tp)
    # idle 2-GPU node: only CPU-only pods count its idle GPU as fragment
    assert fm.frag(("T4", 8000, (1000, 1000))) == pytest.approx(0.25 * 2000)
    # GPUs with 300 and 1000 left: the 300 sliver is a fragment for both GPU shapes
    assert fm.frag(("T4", 8000, (300, 1000))) == pytest.approx(0.5 * 300 + 0.25 * 300 + 0.25 * 1300)
    # CPU exhausted below 2 cores: the 500-milli shape cannot run -> all idle GPU is fragment
    assert fm.frag(("T4", 1500, (300, 1000))) == pytest.approx(0.5 * 1300 + 0.25 * 300 + 0.25 * 1300)
    # GPU model constraint that the node does not satisfy -> all idle GPU is fragment
    fm2 = FragModel([TypicalPod(1000, 500, 1, "V100M32", 1, 1.0)])
    assert fm2.frag(("T4", 8000, (1000,))) == pytest.approx(1000)
    assert fm2.frag(("V100M32", 8000, (1000,))) == 0
    assert fm.frag(("T4", 8000, (0, 0))) == 0


# --------------------------------------------------------------------------- protocol invariants

@needs_traces
def test_arrival_sequence(default_pods):
    cap = 6212 * 1000
    seq = arrival_sequence(default_pods, cap, 42, 1.3)
    assert seq == arrival_sequence(default_pods, cap, 42, 1.3)
    assert seq != arrival_sequence(default_pods, cap, 43, 1.3)
    first = seq[: len(default_pods)]
    assert sorted(p.name for p in first) == sorted(p.name for p in default_pods)  # all originals, shuffled
    assert [p.name for p in first] != [p.name for p in default_pods]
    total = sum(p.total_gpu_milli for p in seq)
    assert 1.29 * cap < total <= 1.3 * cap
    names = {p.name for p in default_pods}
    assert all(p.name in names for p in seq[len(default_pods):])  # copies of trace pods
    down = arrival_sequence(default_pods, cap, 42, 0.5)  # trace above target: random pods dropped
    assert sum(p.total_gpu_milli for p in down) <= 0.5 * cap < sum(p.total_gpu_milli for p in down) + 8000


@needs_traces
@pytest.mark.parametrize("policy", [p for p in POLICIES if p != "default"])
def test_full_run_respects_capacity_and_is_deterministic(policy, gpu_nodes, default_pods):
    r = run(gpu_nodes, default_pods, policy, seed=7, tune=1.3, keep_cluster=True, record_curve=True)
    r.cluster.check_capacity()
    allocated = sum(1000 * n - sum(g) for n, g in zip(r.cluster.ngpu, r.cluster.gpus))
    assert math.isclose(100.0 * allocated / (6212 * 1000), r.curve[-1][1])
    alloc = [c[1] for c in r.curve]
    assert alloc == sorted(alloc)  # arrival-only: allocation never decreases
    assert all(c[1] <= c[0] + 1e-9 for c in r.curve)  # never more allocated than arrived
    again = run(gpu_nodes, default_pods, policy, seed=7, tune=1.3)
    assert again.allocation_ratio == r.allocation_ratio and again.pods_failed == r.pods_failed
    assert set(r.allocation_ratio) == {"90", "100", "110", "130"}
    assert all(v is not None for v in r.allocation_ratio.values())


def _check_placements(nodes, r):
    """Replay the placements: per node CPU/memory/GPU sums within capacity, GPU model allowed,
    sharing pods on one GPU, whole-GPU pods on distinct GPUs."""
    cpu = [0] * len(nodes)
    mem = [0] * len(nodes)
    gpu = [[0] * nd.gpu for nd in nodes]
    for pod, n, ids in r.placements:
        cpu[n] += pod.cpu_milli
        mem[n] += pod.memory_mib
        assert len(ids) == pod.num_gpu and len(set(ids)) == len(ids)
        if pod.num_gpu and pod.gpu_models:
            assert nodes[n].model in pod.gpu_models
        for i in ids:
            gpu[n][i] += pod.gpu_milli
    for n, nd in enumerate(nodes):
        assert cpu[n] <= nd.cpu_milli and mem[n] <= nd.memory_mib
        assert all(v <= 1000 for v in gpu[n])
    assert len(r.placements) == r.pods_arrived - r.pods_failed


@needs_traces
@pytest.mark.parametrize("policy", ["fgd", "packing", "random"])
def test_gpu_model_constraints_respected(gpu_nodes, policy):
    pods = load_pods(_trace("openb_pod_list_gpuspec33.csv"))
    r = run(gpu_nodes, pods, policy, seed=1, tune=1.0, keep_cluster=True)
    r.cluster.check_capacity()
    _check_placements(gpu_nodes, r)
    assert sum(1 for p, _, _ in r.placements if p.gpu_spec) > 1000


def _small_cluster(draw_nodes, draw_pods):
    nodes = [Node(f"n{i}", cpu, mem, g, m) for i, (cpu, mem, g, m) in enumerate(draw_nodes)]
    pods = [Pod(f"p{i:03d}", cpu, mem, num, milli if num else 0, spec)
            for i, (cpu, mem, num, milli, spec) in enumerate(draw_pods)]
    return nodes, pods


node_st = st.tuples(st.sampled_from([4000, 16000, 64000]), st.sampled_from([16384, 65536]),
                    st.sampled_from([1, 2, 4, 8]), st.sampled_from(["T4", "G2", "P100"]))
pod_st = st.tuples(st.sampled_from([500, 2000, 8000, 30000]), st.sampled_from([1024, 8192, 40000]),
                   st.sampled_from([0, 1, 1, 1, 2, 4, 8]), st.sampled_from([100, 250, 500, 810, 1000]),
                   st.sampled_from(["", "", "T4", "G2|P100"]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(node_st, min_size=1, max_size=8), st.lists(pod_st, min_size=1, max_size=40),
       st.sampled_from([p for p in POLICIES]), st.integers(0, 2**31), st.sampled_from([0.7, 1.3, 2.0]))
def test_random_clusters_never_overcommit(draw_nodes, draw_pods, policy, seed, tune):
    nodes, pods = _small_cluster(draw_nodes, draw_pods)
    pods = [dataclasses.replace(p, gpu_milli=1000) if p.num_gpu > 1 else p for p in pods]
    if not any(p.num_gpu for p in pods):
        return
    r = run(nodes, pods, policy, seed=seed, tune=tune, keep_cluster=True)
    r.cluster.check_capacity()
    _check_placements(nodes, r)
    assert 0 <= r.pods_failed <= r.pods_arrived
    again = run(nodes, pods, policy, seed=seed, tune=tune)
    assert again.allocation_ratio == r.allocation_ratio and again.fragmentation_amount == r.fragmentation_amount


def test_sharing_pods_share_one_gpu_and_whole_gpus_are_exclusive():
    nodes = [Node("n0", 64000, 65536, 2, "T4")]
    pods = [Pod("a", 1000, 1, 1, 600), Pod("b", 1000, 1, 1, 400), Pod("c", 1000, 1, 1, 1000), Pod("d", 1000, 1, 1, 100)]
    for policy in POLICIES:
        r = run(nodes, pods, policy, seed=0, tune=0, keep_cluster=True)
        # a and b fill one GPU exactly, c takes the other whole GPU, d cannot fit
        assert sorted(r.cluster.gpus[0]) == [0, 0] or r.pods_failed >= 1
        r.cluster.check_capacity()
        assert r.pods_failed == 1 and r.cluster.cpu_left[0] == 64000 - 3000


def test_default_policy_is_fgd():
    nodes = [Node(f"n{i}", 32000, 65536, 4, "T4") for i in range(4)]
    pods = [Pod(f"p{i}", 2000, 1024, 1, m) for i, m in enumerate([300, 500, 700, 1000, 250, 810] * 3)]
    a, b = run(nodes, pods, "default", seed=5), run(nodes, pods, "fgd", seed=5)
    assert a.allocation_ratio == b.allocation_ratio and a.fragmentation_amount == b.fragmentation_amount


# --------------------------------------------------------------------------- CLI contract

@needs_traces
def test_cli_json_contract():
    args = ["--nodes", str(_trace("openb_node_list_gpu_node.csv")), "--pods", str(_trace("openb_pod_list_default.csv")),
            "--policy", "bestfit", "--seed", "42", "--tune", "1.3", "-o", "json"]
    res = CliRunner().invoke(openb_command, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    for key, typ in [("policy", str), ("seed", int), ("gpus", int), ("pods_arrived", int), ("pods_failed", int),
                     ("allocation_ratio", dict), ("fragmentation_amount", dict), ("seconds", float)]:
        assert isinstance(out[key], typ), key
    assert out["policy"] == "bestfit" and out["seed"] == 42 and out["gpus"] == 6212
    assert set(out["allocation_ratio"]) == {"90", "100", "110", "130"}
    assert set(out["fragmentation_amount"]) == {"90", "100", "130"}
    assert all(isinstance(v, float) for v in [*out["allocation_ratio"].values(), *out["fragmentation_amount"].values()])
    table = CliRunner().invoke(openb_command, args[:-2])
    assert table.exit_code == 0 and "GPU allocation" in table.output and "130%" in table.output


# --------------------------------------------------------------------------- reproduction

# Seeds 42-44 instead of the artifact's 42-51 keep this under ~3 s. Across the 10 seeds our
# per-seed allocation at 100% arrival has a standard deviation of 0.13 (FGD) and 0.20 (BestFit)
# points, so a 3-seed mean has a standard error of <= 0.12 and the published 10-seed mean one of
# <= 0.07: a 0.5-point tolerance is > 3.5 sigma of the comparison noise, while the modelling errors
# it guards against are several points (uniform tie-breaking costs FGD ~5; ignoring CPU in the
# fragment measure or the typical-pod cut moves FGD by > 1).
REPRO_SEEDS = (42, 43, 44)
TOLERANCE = 0.5


@needs_traces
@pytest.mark.parametrize("policy", ["fgd", "bestfit"])
def test_reproduces_published_allocation(policy, gpu_nodes, default_pods):
    pub = published(SHARED)[policy]
    runs = [run(gpu_nodes, default_pods, policy, seed=s, tune=1.3) for s in REPRO_SEEDS]
    for level in (100, 130):
        ours = statistics.mean(r.allocation_ratio[str(level)] for r in runs)
        assert abs(ours - pub["allocation_ratio"][level]) <= TOLERANCE, (policy, level, ours, pub["allocation_ratio"][level])
    frag = statistics.mean(r.fragmentation_amount["100"] for r in runs)
    assert abs(frag - pub["fragmentation_amount"][100]) <= TOLERANCE, (policy, frag)


@needs_traces
def test_published_figures_loaded():
    pub = published(SHARED)
    assert pub["fgd"]["allocation_ratio"][100] == 95.23
    assert pub["bestfit"]["allocation_ratio"][100] == 92.86
    assert set(pub) == {"random", "dotprod", "clustering", "packing", "bestfit", "fgd"}
