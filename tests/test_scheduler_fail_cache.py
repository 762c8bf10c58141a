"""The "no node fits" cache in ``_Cluster.place`` never changes a decision.

Its key is the node-state version; rolled-back gangs return to an earlier version (see
``_Cluster.apply`` / ``undo``). Each case runs twice, with the cache and with a cache that never
answers, and the placements, reasons and evictions must be identical."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from gpuplane.scheduler import manifests as M
from gpuplane.scheduler.cycle import _Cluster, run_rounds
from gpuplane.scheduler.snapshot import build_snapshot

NOW = "2026-01-01T01:00:00Z"


class _NeverCache(dict):
    def get(self, key: Any, default: Any = None) -> Any:
        return default


def _run(objs: list[dict[str, Any]], rounds: int, allocated: bool = False) -> Any:
    """What a run decides (and, with ``allocated``, the queue usage)."""
    res = run_rounds(build_snapshot(objs), rounds, now=NOW)
    out = ({k: (p.node, p.gpu_indices, p.gpu_share, p.round) for k, p in res.placements.items()},
           {k: r.to_dict() for k, r in res.reasons.items()},
           {k: r.to_dict() for k, r in res.group_reasons.items()}, res.evictions)
    return (*out, {q: dict(v) for q, v in res.allocated.items()}) if allocated else out


def _both(objs: list[dict[str, Any]], rounds: int) -> tuple[Any, Any]:
    cached = _run(objs, rounds)
    orig = _Cluster.__init__

    def init(self: _Cluster, *args: Any, **kwargs: Any) -> None:
        orig(self, *args, **kwargs)
        self._fail_cache = _NeverCache()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_Cluster, "__init__", init)
        uncached = _run(objs, rounds)
    return cached, uncached


def _cluster(nodes: list[int], gangs: list[tuple[int, int, int, int]], lone: list[tuple[int, int]]) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [M.queue("dept", gpu_quota=8), M.queue("qa", parent="dept", gpu_quota=4),
                                  M.queue("qb", parent="dept", gpu_quota=4)]
    objs += [M.node(f"n{i}", gpus=g, cpu="8") for i, g in enumerate(nodes)]
    for j, (members, min_member, gpus, cpu) in enumerate(gangs):
        q = "qa" if j % 2 else "qb"
        objs.append(M.podgroup(f"g{j}", min_member, q))
        objs += [M.pod(f"g{j}-{k}", queue=q, group=f"g{j}", gpus=gpus, cpu=str(cpu)) for k in range(members)]
    objs += [M.pod(f"p{j}", queue="qa" if j % 2 else "qb", gpus=g, cpu=str(c)) for j, (g, c) in enumerate(lone)]
    return M.schedule_objects(objs)


# (members, minMember, GPUs, CPU) per gang; (GPUs, CPU) per lone pod; rounds
_GANGS = st.lists(st.tuples(st.integers(min_value=1, max_value=5), st.integers(min_value=1, max_value=5),
                            st.integers(min_value=0, max_value=4), st.integers(min_value=1, max_value=4)),
                  max_size=8)
_LONE = st.lists(st.tuples(st.integers(min_value=0, max_value=4), st.integers(min_value=1, max_value=4)), max_size=8)
_ROUNDS = st.integers(min_value=1, max_value=3)


@settings(max_examples=40, deadline=None)
@given(
    nodes=st.lists(st.integers(min_value=0, max_value=8), min_size=1, max_size=6),
    gangs=_GANGS,
    lone=_LONE,
    rounds=_ROUNDS,
)
def test_cache_never_changes_a_decision(nodes: list[int], gangs: list[tuple[int, int, int, int]],
                                        lone: list[tuple[int, int]], rounds: int) -> None:
    cached, uncached = _both(_cluster(nodes, gangs, lone), rounds)
    assert cached == uncached


def test_rolled_back_gangs_share_cache_entries() -> None:
    """Gangs of 3 x 8 GPUs on 2 nodes: each places 2 pods, fails on the third and rolls back;
    after the first, the third pod's failure comes from the cache (the state is the same)."""
    objs = _cluster([8, 8], [(3, 3, 8, 1)] * 4, [])
    cached, uncached = _both(objs, 1)
    assert cached == uncached
    assert not cached[0]
    scans = {"n": 0}
    orig = _Cluster._scan

    def counting(self: _Cluster, *args: Any, **kwargs: Any) -> Any:
        scans["n"] += 1
        return orig(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_Cluster, "_scan", counting)
        run_rounds(build_snapshot(objs), 1, now=NOW)
    assert scans["n"] == 1  # only the first gang's third pod scans the nodes


def _fingerprint(c: _Cluster) -> tuple:
    return tuple((name, ns.cpu, ns.memory, ns.pods, tuple(ns.gpu_used), tuple(sorted(ns.other.items())))
                 for name, ns in sorted(c.nodes.items()))


@settings(max_examples=60, deadline=None)
@given(
    nodes=st.lists(st.integers(min_value=0, max_value=8), min_size=1, max_size=5),
    gangs=_GANGS,
    lone=_LONE,
    rounds=_ROUNDS,
)
def test_equal_versions_mean_equal_node_state(nodes: list[int], gangs: list[tuple[int, int, int, int]],
                                               lone: list[tuple[int, int]], rounds: int) -> None:
    """The invariant the cache relies on, checked at every placement attempt."""
    seen: dict[Any, tuple] = {}
    orig = _Cluster.place

    def checking(self: _Cluster, *args: Any, **kwargs: Any) -> Any:
        fp = _fingerprint(self)
        assert seen.setdefault(self.version, fp) == fp
        return orig(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_Cluster, "place", checking)
        run_rounds(build_snapshot(_cluster(nodes, gangs, lone)), rounds, now=NOW)
