"""``_Cluster.pending_pods`` is memoized per group (invalidated by ``_pp_gen``, which every change
to placements, released pods and evictions bumps). Differential checks against the unmemoized
``_pending_pods``: at every call of whole scheduling runs (all actions, evictions included), and
after every step of random sequences of the state-changing operations."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from gpuplane.scheduler import manifests as M
from gpuplane.scheduler.cycle import Placement, _Cluster, run_rounds
from gpuplane.scheduler.snapshot import build_snapshot

NOW = "2026-01-01T01:00:00Z"


def _objs(nodes: list[int], running: list[tuple[int, int, int]], gangs: list[tuple[int, int, int]],
          lone: list[tuple[int, int]]) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [M.queue("dept", gpu_quota=8), M.queue("qa", parent="dept", gpu_quota=6),
                                  M.queue("qb", parent="dept", gpu_quota=2)]
    objs += [M.node(f"n{i}", gpus=g, cpu="8") for i, g in enumerate(nodes)]
    for j, (node, gpus, cpu) in enumerate(running):  # mostly queue qb's, over its quota: reclaim victims
        objs.append(M.pod(f"r{j}", queue="qb" if j % 3 else "qa", gpus=gpus, cpu=str(cpu),
                          node_name=f"n{node % len(nodes)}"))
    for j, (members, min_member, gpus) in enumerate(gangs):
        q = "qa" if j % 2 == 0 else "qb"
        objs.append(M.podgroup(f"g{j}", min_member, q))
        objs += [M.pod(f"g{j}-{k}", queue=q, group=f"g{j}", gpus=gpus, created=f"2026-01-01T00:00:{k:02d}Z")
                 for k in range(members)]
    objs += [M.pod(f"p{j}", queue="qa" if j % 2 else "qb", gpus=g, cpu=str(c)) for j, (g, c) in enumerate(lone)]
    return M.schedule_objects(objs)


_nodes = st.lists(st.integers(min_value=0, max_value=8), min_size=1, max_size=4)
_running = st.lists(st.tuples(st.integers(min_value=0, max_value=3), st.integers(min_value=0, max_value=4),
                              st.integers(min_value=1, max_value=3)), max_size=6)
_gangs = st.lists(st.tuples(st.integers(min_value=1, max_value=4), st.integers(min_value=1, max_value=4),
                            st.integers(min_value=0, max_value=4)), max_size=5)
_lone = st.lists(st.tuples(st.integers(min_value=0, max_value=4), st.integers(min_value=1, max_value=4)), max_size=5)


@settings(max_examples=60, deadline=None)
@given(nodes=_nodes, running=_running, gangs=_gangs, lone=_lone, rounds=st.integers(min_value=1, max_value=3))
def test_memo_matches_unmemoized_in_whole_runs(nodes: list[int], running: list[tuple[int, int, int]],
                                               gangs: list[tuple[int, int, int]], lone: list[tuple[int, int]],
                                               rounds: int) -> None:
    orig = _Cluster.pending_pods
    calls = {"n": 0}

    def checking(self: _Cluster, group: Any) -> Any:
        got = orig(self, group)
        assert got == self._pending_pods(group)
        calls["n"] += 1
        return got

    objs = _objs(nodes, running, gangs, lone)
    plain = run_rounds(build_snapshot(objs), rounds, now=NOW)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_Cluster, "pending_pods", checking)
        checked = run_rounds(build_snapshot(objs), rounds, now=NOW)
    assert ({k: (p.node, p.gpu_indices) for k, p in plain.placements.items()}
            == {k: (p.node, p.gpu_indices) for k, p in checked.placements.items()})
    assert plain.evictions == checked.evictions


@settings(max_examples=80, deadline=None)
@given(nodes=_nodes, running=_running, gangs=_gangs, lone=_lone,
       ops=st.lists(st.tuples(st.sampled_from(["place", "undo", "release", "rehold", "evict", "finish"]),
                              st.integers(min_value=0, max_value=1000)), max_size=25))
def test_memo_matches_unmemoized_over_random_operations(nodes: list[int], running: list[tuple[int, int, int]],
                                                        gangs: list[tuple[int, int, int]], lone: list[tuple[int, int]],
                                                        ops: list[tuple[str, int]]) -> None:
    snap = build_snapshot(_objs(nodes, running, gangs, lone))
    c = run_rounds(snap, 0, now=NOW).cluster  # begin_round done, nothing placed yet
    groups = list(snap.groups.values())
    placed: list[tuple[Any, Placement]] = []
    tokens: list[tuple[Any, Any]] = []

    def check() -> None:
        for g in groups:
            assert c.pending_pods(g) == c._pending_pods(g)

    check()
    for op, n in ops:
        if op == "place":
            pend = [(g, p) for g in groups for p in c.pending_pods(g)]
            if pend:
                g, pod = pend[n % len(pend)]
                r = c.place(pod, g)
                if isinstance(r, Placement):
                    placed.append((pod, r))
        elif op == "undo" and placed:
            pod, p = placed.pop(n % len(placed))
            if c.placements.get(pod.key) is p:
                c.undo(p, pod)
        elif op == "release":
            holders = [p for p in snap.pods.values() if c.holds(p) and p.key not in c.evicted]
            if holders:
                pod = holders[n % len(holders)]
                tokens.append((pod, c.release(pod)))
                placed = [(q, p) for q, p in placed if q.key != pod.key]
        elif op == "rehold" and tokens:
            pod, token = tokens.pop()  # last released first (how the actions use it)
            c.rehold(pod, token)
        elif op == "evict" and not tokens:
            active = [p for p in snap.pods.values() if c.is_active(p)]
            if active:
                c.evict(active[n % len(active)], "test", "test")
        elif op == "finish" and not tokens:
            c.finish_evictions()
            placed = [(q, p) for q, p in placed if c.placements.get(q.key) is p]
        check()
