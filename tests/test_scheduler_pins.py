"""Pins: the placement an evicting action simulated for a pod it nominated is the one allocate
makes, checked again and kept only if it still fits exactly (``_Cluster.pin``).

The regressions that found this (dynamic MIG, consolidation) are in
tests/test_scheduler_victims_property.py; these tests use whole GPUs, where the pin fixes the
GPU indices and comes before every pod without one."""

from __future__ import annotations

from fractions import Fraction

from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.config import SchedulerConfig
from gpuplane.scheduler.cycle import Placement, _Cluster
from gpuplane.scheduler.snapshot import build_snapshot

NOW = "2026-06-01T12:00:00Z"


def _nominated(pod: dict, node: str) -> dict:
    pod["status"] = {"phase": "Pending", "nominatedNodeName": node}
    return pod


def _cluster(objs: list[dict], pins: dict[str, list[int]]) -> _Cluster:
    """Round 1 begun (nominations carried from the pods' status), then ``pins`` (pod name ->
    GPU indices on n0) set as a commit would have."""
    c = _Cluster(build_snapshot(m.schedule_objects(objs)), SchedulerConfig(), NOW)
    c.round = 1
    c.begin_round()
    c.pin({("default", name): Placement(("default", name), "n0", gpus, Fraction(1), [], [], {}, True, 0)
           for name, gpus in pins.items()})
    return c


def test_a_pinned_pod_gets_its_gpus_and_falls_back_when_they_are_taken():
    objs = [m.node("n0", gpus=4), m.queue("q", gpu_quota=4),
            _nominated(m.pod("a", queue="q", gpus=2), "n0"), _nominated(m.pod("b", queue="q", gpus=2), "n0")]
    c = _cluster(objs, {"a": [2, 3], "b": [2, 3]})  # (binpack alone would give a 0 and 1)
    c.allocate()
    assert c.placements[("default", "a")].gpu_indices == [2, 3]
    assert c.placements[("default", "b")].gpu_indices == [0, 1]  # its pin is a's: the usual choice


def test_pinned_pods_go_before_the_unpinned_pods_of_their_jobs():
    """Job j (minMember 1) was nominated for one pod; its second pod must not take the GPU that
    the same commit pinned for the moved pod v (j comes first in the usual order: older)."""
    pg = m.podgroup("j", 1, "q")
    objs = [m.node("n0", gpus=2), m.queue("q", gpu_quota=2), pg,
            _nominated(m.pod("j-0", queue="q", gpus=1, group="j", created="2026-01-01T00:00:00Z"), "n0"),
            m.pod("j-1", queue="q", gpus=1, group="j", created="2026-01-01T00:00:00Z"),
            _nominated(m.pod("v", queue="q", gpus=1, created="2026-01-01T01:00:00Z"), "n0")]
    c = _cluster(objs, {"j-0": [0], "v": [1]})
    c.allocate()
    assert c.placements[("default", "j-0")].gpu_indices == [0]
    assert c.placements[("default", "v")].gpu_indices == [1]
    assert ("default", "j-1") not in c.placements


def test_pins_are_dropped_once_placed_or_no_longer_nominated_there():
    objs = [m.node("n0", gpus=2), m.node("n1", gpus=2), m.queue("q", gpu_quota=8),
            _nominated(m.pod("a", queue="q", gpus=1), "n0"), _nominated(m.pod("b", queue="q", gpus=3), "n1")]
    c = _cluster(objs, {"a": [1], "b": [0, 1]})  # b fits nowhere; its pin is on n0, its nomination on n1
    c.allocate()
    assert c.placements[("default", "a")].gpu_indices == [1]
    c.round = 2
    c.begin_round()
    assert list(c.pinned) == [("default", "b")]  # a is placed: its pin is dropped
    c._carry_nominations()  # (as a cycle's first round does with the pins carried from the last)
    assert not c.pinned
