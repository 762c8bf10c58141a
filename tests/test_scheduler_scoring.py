"""FGD fragmentation measure and fragmentation-aware GPU scoring (scheduler.fragmentation,
scheduler.placement), and the OpenB ``default`` policy that runs the scheduler's scoring."""

from __future__ import annotations

import statistics
from fractions import Fraction
from pathlib import Path

import pytest

from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.config import ConfigError, parse_config
from gpuplane.scheduler.fragmentation import (
    FragModel, TypicalPod, frag_increase, key_after, node_key, shape_distribution, sigmoid_score,
)
from gpuplane.scheduler.placement import (
    FragScorer, fgd_best_gpus, gpu_placement_key, node_score, workload_from_snapshot,
)
from gpuplane.scheduler.snapshot import build_snapshot

# M: 50% (2 cores, 500 milli x 1 GPU), 25% (1 core, 1 whole GPU), 25% CPU-only (1 core)
M = shape_distribution([(2000, 500, 1, ""), (2000, 500, 1, ""), (1000, 1000, 1, ""), (1000, 0, 0, "")])


def test_shape_distribution_weights_and_order():
    assert [(t.cpu_milli, t.gpu_milli, t.num_gpu, t.count) for t in M] == [
        (2000, 500, 1, 2), (1000, 1000, 1, 1), (1000, 0, 0, 1)]
    assert [t.p for t in M] == [0.5, 0.25, 0.25]
    # 95 % of 20 pods = 19: the rarest shape (1 pod) is cut, weights renormalised over 19
    cut = shape_distribution([(1000, 1000, 1, "")] * 19 + [(1000, 0, 0, "")])
    assert len(cut) == 1 and cut[0].p == 1.0


def test_frag_hand_examples():
    fm = FragModel(M)
    idle = node_key("", 8000, [1000, 1000])
    assert fm.frag(idle) == pytest.approx(0.25 * 2000)  # only CPU-only pods count idle GPUs
    sliver = node_key("", 8000, [1000, 300])
    assert sliver == ("", 8000, (300, 1000))
    # 300 left is a fragment for both GPU shapes; CPU-only counts all 1300
    assert fm.frag(sliver) == pytest.approx(0.5 * 300 + 0.25 * 300 + 0.25 * 1300)  # 550
    low_cpu = node_key("", 1500, [300, 1000])  # the 2-core shape cannot run: all idle counts
    assert fm.frag(low_cpu) == pytest.approx(0.5 * 1300 + 0.25 * 300 + 0.25 * 1300)


def test_frag_increase_hand_examples():
    fm = FragModel(M)
    sliver = ("", 8000, (300, 1000))
    # a 300-milli pod on the 300 sliver: (0, 1000) -> F = 0.25 x 1000 = 250: increase -300
    assert key_after(sliver, 1000, [300], 300) == ("", 7000, (0, 1000))
    assert frag_increase(fm, sliver, 1000, [300], 300) == pytest.approx(250 - 550)
    # the same pod on the whole GPU: (300, 700) -> 0.5x300 + 0.25x1000 + 0.25x1000 = 650: +100
    assert frag_increase(fm, sliver, 1000, [1000], 300) == pytest.approx(650 - 550)
    inc, taken = fgd_best_gpus(fm, sliver, 1000, 300, 1, shared=True)
    assert taken == [300] and inc == pytest.approx(-300)
    # whole GPU pod: takes the free GPU -> (0, 300): 0.5x300 + 0.25x300 + 0.25x300 = 300: -250
    inc, taken = fgd_best_gpus(fm, sliver, 1000, 1000, 1, shared=False)
    assert taken == [1000] and inc == pytest.approx(300 - 550)
    assert fgd_best_gpus(fm, sliver, 1000, 1000, 2, shared=False) is None
    assert sigmoid_score(0) == 50 and sigmoid_score(300) == 57 and sigmoid_score(-300) == 42


def test_gpu_placement_key():
    # fgd: FGD's integer score (higher is better, so its negation sorts first), ties left to the name
    assert gpu_placement_key("fgd", Fraction(3), 4, -300.0) < gpu_placement_key("fgd", Fraction(0), 4, 100.0)
    assert gpu_placement_key("fgd", Fraction(3), 4, 1.0) == gpu_placement_key("fgd", Fraction(0), 4, 2.0)
    # without an increase fgd falls back to binpack
    assert gpu_placement_key("fgd", Fraction(1), 4) < gpu_placement_key("fgd", Fraction(2), 4)
    assert gpu_placement_key("binpack", Fraction(1), 4) < gpu_placement_key("binpack", Fraction(2), 4)
    assert gpu_placement_key("spread", Fraction(3), 4) < gpu_placement_key("spread", Fraction(1), 4)


def _snap(objs):
    return build_snapshot(m.schedule_objects(objs))


def test_frag_scorer_on_snapshot_objects():
    snap = _snap([m.node("n1", gpus=2, cpu="8"), m.node("n2", gpus=2, cpu="8"),
                  m.pod("frac", fraction="0.3", cpu="1"), m.pod("whole", gpus=1, cpu="1")])
    n1 = snap.node("n1")
    frac = next(p for p in snap.pods.values() if p.name == "frac")
    whole = next(p for p in snap.pods.values() if p.name == "whole")
    scorer = FragScorer(M)
    used = [Fraction(0), Fraction(7, 10)]  # gpu-1 has 300 milli left
    inc, idx = scorer.best(n1, frac, used, Fraction(8000))
    assert idx == [1] and inc == pytest.approx(-300)
    assert scorer.choose_gpus(n1, whole, used, Fraction(8000)) == [0]
    assert scorer.increase(n1, frac, used, Fraction(8000), [0], Fraction(3, 10)) == pytest.approx(100)
    # node_score: the node where the fraction fills the sliver beats an idle node
    strategies = {"gpu": "fgd", "cpu": "binpack"}
    n2 = snap.node("n2")
    on_sliver = node_score(n1, frac, strategies, Fraction(1), Fraction(7000), True, True, inc)
    idle_inc = scorer.increase(n2, frac, [Fraction(0)] * 2, Fraction(8000), [0], Fraction(3, 10))
    on_idle = node_score(n2, frac, strategies, Fraction(17, 10), Fraction(7000), False, True, idle_inc)
    assert on_sliver < on_idle


def test_workload_from_snapshot():
    snap = _snap([m.node("n1", gpus=2), m.pod("a", gpus=1, cpu="2"), m.pod("b", gpus=1, cpu="2"),
                  m.pod("c", fraction="0.5", cpu="1"), m.pod("d", cpu="1")])
    wl = workload_from_snapshot(snap)
    assert [(t.cpu_milli, t.gpu_milli, t.num_gpu, t.p) for t in wl] == [
        (2000, 1000, 1, 0.5), (1000, 500, 1, 0.25), (1000, 0, 0, 0.25)]


def test_config_accepts_fgd_for_gpus_only():
    assert parse_config({"placementStrategy": {"gpu": "fgd"}}).gpu_strategy == "fgd"
    assert parse_config({}).gpu_strategy == "binpack"  # the config default stays KAI's binpack
    with pytest.raises(ConfigError, match="placementStrategy.cpu: unsupported value 'fgd'"):
        parse_config({"placementStrategy": {"cpu": "fgd"}})


# --- OpenB: the `default` policy is the scheduler's scoring ---------------------------------

openb = pytest.importorskip("gpuplane.sim.openb")
from gpuplane.sim.openb.engine import SchedulerDefaultPolicy, resolve_policy  # noqa: E402
from gpuplane.sim.openb.published import find_shared  # noqa: E402

SHARED = find_shared(Path(__file__).resolve().parent)


def test_openb_default_policy_is_the_scheduler_scoring():
    assert resolve_policy("default") == "default"
    assert SchedulerDefaultPolicy.name == "default"


@pytest.mark.skipif(SHARED is None, reason="shared/traces/openb not found (set GPUPLANE_SHARED)")
def test_openb_default_beats_bestfit_on_a_sample():
    nodes = openb.load_nodes(SHARED / "traces" / "openb" / "openb_node_list_gpu_node.csv")[::8]
    pods = openb.load_pods(SHARED / "traces" / "openb" / "openb_pod_list_default.csv")[::8]
    ours, best = [], []
    for seed in (42, 43, 44):
        ours.append(openb.run(nodes, pods, "default", seed=seed, tune=1.3).allocation_ratio["100"])
        best.append(openb.run(nodes, pods, "bestfit", seed=seed, tune=1.3).allocation_ratio["100"])
    assert all(a >= b for a, b in zip(ours, best)), (ours, best)
    assert statistics.mean(ours) >= statistics.mean(best) + 1.0


# --- end to end through the cycle (once the cycle passes FragScorer to node_score) ------------

def _cycle_wired() -> bool:
    import inspect

    from gpuplane.scheduler import cycle

    return "FragScorer" in inspect.getsource(cycle)


@pytest.mark.skipif(not _cycle_wired(), reason="the cycle does not compute fragmentation increases yet")
def test_fgd_strategy_end_to_end():
    from gpuplane.scheduler.config import SchedulerConfig
    from gpuplane.scheduler.cycle import run_rounds
    from gpuplane.scheduler.output import result_objects

    objs = [m.node("n1", gpus=2), m.node("n2", gpus=2),
            m.pod("r1", fraction="0.5", node_name="n1", held="gpu-0", phase="Running"),
            m.pod("r2", fraction="0.5", node_name="n1", held="gpu-1", phase="Running"),
            m.pod("r3", fraction="0.75", node_name="n2", held="gpu-0", phase="Running"),
            m.pod("p", fraction="0.25")]
    # M: 0.5 (p .5), 0.75 (.25), 0.25 (.25). n1 (500, 500) -> (250, 500): F 250 -> 312.5, +62.5;
    # n2 (250, 1000) -> (0, 1000): F 187.5 -> 0, -187.5. binpack would take n1 (0.75 left).
    for strategy, where in (("fgd", "n2"), ("binpack", "n1")):
        snap = build_snapshot(m.schedule_objects(objs))
        out = result_objects(run_rounds(snap, 1, SchedulerConfig(gpu_strategy=strategy)))
        pod = next(o for o in out if o["kind"] == "Pod" and o["metadata"]["name"] == "p")
        assert pod["spec"]["nodeName"] == where, strategy
