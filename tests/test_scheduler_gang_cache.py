"""The failed-gang cache in ``_Cluster._place_gang`` never changes a decision: each case runs
with the cache and with a cache that never answers; placements, reasons (per pod and per
PodGroup) and evictions must be identical."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from gpuplane.scheduler import manifests as M
from gpuplane.scheduler.cycle import _Cluster, run_rounds
from gpuplane.scheduler.queues import RESOURCES
from gpuplane.scheduler.snapshot import build_snapshot

from test_scheduler_fail_cache import NOW, _NeverCache, _run as _decisions


def _run(objs: list[dict[str, Any]], rounds: int) -> Any:
    return _decisions(objs, rounds, allocated=True)


def _both(objs: list[dict[str, Any]], rounds: int) -> tuple[Any, Any, int]:
    hits = {"n": 0}
    orig_init = _Cluster.__init__
    orig_key = _Cluster._gang_key

    def counting(self: _Cluster, *args: Any) -> Any:
        key = orig_key(self, *args)
        if key is not None and key in self._gang_fail:
            hits["n"] += 1
        return key

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_Cluster, "_gang_key", counting)
        cached = _run(objs, rounds)

    def init(self: _Cluster, *args: Any, **kwargs: Any) -> None:
        orig_init(self, *args, **kwargs)
        self._gang_fail = _NeverCache()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_Cluster, "__init__", init)
        uncached = _run(objs, rounds)
    return cached, uncached, hits["n"]


def _objs(nodes: list[int], running: list[tuple[int, int, int]], gangs: list[tuple[int, int, int, int]],
          lone: list[tuple[int, int]]) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [M.queue("dept", gpu_quota=8), M.queue("qa", parent="dept", gpu_quota=6, gpu_limit=10),
                                  M.queue("qb", parent="dept", gpu_quota=2), M.queue("qc", gpu_quota=2)]
    objs += [M.node(f"n{i}", gpus=g, cpu="8") for i, g in enumerate(nodes)]
    for j, (node, gpus, cpu) in enumerate(running):
        objs.append(M.pod(f"r{j}", queue="qb" if j % 3 else "qa", gpus=gpus, cpu=str(cpu),
                          node_name=f"n{node % len(nodes)}"))
    for j, (members, min_member, gpus, cpu) in enumerate(gangs):
        q = "qa" if j % 4 < 3 else "qb"
        objs.append(M.podgroup(f"g{j}", min_member, q, priority_class="high" if j % 5 == 4 else None))
        objs += [M.pod(f"g{j}-{k}", queue=q, group=f"g{j}", gpus=gpus, cpu=str(cpu),
                       priority_class="high" if j % 5 == 4 else None) for k in range(members)]
    # (queue qc shares no ancestor with qa and qb: its pods change the node state alone)
    objs += [M.pod(f"p{j}", queue=("qc", "qa", "qb")[j % 3], gpus=g, cpu=str(c)) for j, (g, c) in enumerate(lone)]
    objs.append({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "high"},
                 "value": 100000})
    return M.schedule_objects(objs)


@settings(max_examples=150, deadline=None)
@given(
    nodes=st.lists(st.integers(min_value=0, max_value=8), min_size=1, max_size=5),
    running=st.lists(st.tuples(st.integers(min_value=0, max_value=4), st.integers(min_value=0, max_value=4),
                               st.integers(min_value=1, max_value=3)), max_size=6),
    shapes=st.lists(st.tuples(st.integers(min_value=1, max_value=4), st.integers(min_value=1, max_value=4),
                              st.integers(min_value=0, max_value=4), st.integers(min_value=1, max_value=3)),
                    min_size=1, max_size=3),
    order=st.lists(st.integers(min_value=0, max_value=100), max_size=10),
    lone=st.lists(st.tuples(st.integers(min_value=0, max_value=4), st.integers(min_value=1, max_value=4)), max_size=6),
    rounds=st.integers(min_value=1, max_value=3),
)
def test_gang_cache_never_changes_a_decision(nodes: list[int], running: list[tuple[int, int, int]],
                                             shapes: list[tuple[int, int, int, int]], order: list[int],
                                             lone: list[tuple[int, int]], rounds: int) -> None:
    """Gangs drawn from a few shapes (so that many are alike and hit the cache), interleaved
    with lone pods that change the node and queue state between them."""
    gangs = [shapes[i % len(shapes)] for i in order]
    cached, uncached, _ = _both(_objs(nodes, running, gangs, lone), rounds)
    assert cached == uncached


def test_identical_failing_gangs_hit_the_cache() -> None:
    """Gangs of 3 x 8 GPUs on 2 full-ish nodes: each places 2 pods and rolls back; the later
    ones are answered from the cache, with the same reasons (their own pod names)."""
    objs = _objs([8, 8], [], [(3, 3, 8, 1)] * 6, [])
    cached, uncached, hits = _both(objs, 1)
    assert cached == uncached
    assert not cached[0]
    assert hits >= 2  # the gangs of each queue after its first
    assert any("g4-" in r["message"] for r in cached[1].values())


def test_a_changed_node_state_is_a_miss() -> None:
    """A pod of an unrelated queue placed between two alike gangs (same queue state, other
    node state): the later gang is tried again, and fewer of its pods fit."""
    s = (3, 3, 2, 1)
    cached, uncached, _ = _both(_objs([4], [], [s, s, s, s], [(1, 1)]), 2)
    assert cached == uncached


def test_a_changed_queue_state_is_a_miss() -> None:
    """Equal node-state versions can come with other queue usage (a claimless placement from a
    version always gets the same next version, whatever the pod's queue): the entry keeps the
    queue state and a different one misses. Here the usage is changed by hand (through
    ``_add_queue``, which also drops the queue-state memo), the version not."""
    objs = _objs([4], [], [(3, 3, 2, 1), (3, 3, 2, 1)], [])

    def attempt(c: _Cluster, name: str) -> Any:
        g = next(g for g in c.snap.groups.values() if g.key[1] == name)
        ok, n, failures = c._place_gang(g, c.pending_pods(g), 3)
        return ok, n, [(k[1][3:], r.to_dict()) for k, r in failures.items()]

    c = run_rounds(build_snapshot(objs), 0, now=NOW).cluster
    first = attempt(c, "g0")
    assert first[:2] == (False, 2)
    assert attempt(c, "g1") == first  # a hit
    eight = {**{r: 0 for r in RESOURCES}, "gpu": 8}
    c._add_queue("qa", eight, True, +1)  # limit 10: now only one 2-GPU pod fits the queue
    fresh = run_rounds(build_snapshot(objs), 0, now=NOW).cluster
    fresh._add_queue("qa", eight, True, +1)
    assert attempt(c, "g1") == attempt(fresh, "g1")
    assert attempt(c, "g1")[1] == 1
