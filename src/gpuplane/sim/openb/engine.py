"""The OpenB simulation: protocol, fragmentation measure and the six scoring policies.

Faithful to the authors' simulator (``hkust-adsl/kubernetes-scheduler-simulator`` @8f3d641, the
artifact behind the published figures), re-implemented here:

* protocol (``core.go``/``simulator.go``): pods sorted by name and shuffled with the seed; random
  copies sampled with replacement from the trace are appended while the requested GPU total stays
  within ``tune`` x cluster GPU capacity (or random pods are dropped when the trace asks for more);
  pods arrive one by one, never leave, and are placed on arrival or fail.
* filtering (NodeResourcesFit + Open-Gpu-Share): CPU and memory fit, the GPU model is allowed, a GPU
  with enough free milli (sharing pods) or enough fully free GPUs (whole-GPU pods).
* scoring: only the policy's score plugin is enabled; integer scores exactly as the plugins compute
  them. Ties between best-scored nodes go to the first of them in a fixed random node order drawn
  once per run. The artifact renames its nodes with a seeded random prefix and runs a patched
  scheduler (mental2008/kubernetes v1.20.5-minor); its published means are reproduced with this
  rule, not with kube-scheduler's uniform reservoir sampling (``tie_break="random"``), which
  spreads pods over idle nodes so that 8-GPU pods find no empty node (FGD ~5 points lower).
  Random keeps its own uniform pick among feasible nodes (its PreScore draws one).
* GPU choice inside the node: best fit (``-gpusel best``) for DotProd, GpuClustering, GpuPacking and
  BestFit; random for Random; the FGD score itself for FGD; whole GPUs take the first fully free
  GPUs in index order.
* fragmentation (``frag.go``): target workload M = the trace's pod shapes (CPU, GPU milli, GPU count,
  GPU model) by popularity, the top ones covering 95% of pods, CPU-only pods included.
  The measure is :mod:`gpuplane.scheduler.fragmentation` (shared with the scheduler's ``fgd`` GPU
  strategy); ``default`` runs the scheduler's own scoring (:class:`SchedulerDefaultPolicy`).

Speed: per pod shape, node scores are kept in integer buckets and recomputed lazily only for the
nodes that changed since that shape was last seen; fragmentation and FGD scores are memoised on the
node state (model, CPU left, sorted GPU milli left).
"""

from __future__ import annotations

import random
import time
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

from gpuplane.scheduler.fragmentation import FragModel, TypicalPod, sigmoid_score, typical_pods
from gpuplane.scheduler.fragmentation import frag_increase
from gpuplane.scheduler.placement import DEFAULT_GPU_STRATEGY, cpu_placement_key, fgd_best_gpus, gpu_placement_key
from gpuplane.sim.openb.trace import MILLI, Node, Pod

MAX_SPEC_CPU = 128000  # milli-CPU, normaliser used by BestFit/DotProd (open-gpu-share utils/const.go)
MAX_SPEC_GPU = 8000  # milli-GPU
MAX_NODE_SCORE = 100

POLICIES = ("random", "dotprod", "clustering", "packing", "bestfit", "fgd", "default")
# `default` is the scheduler's own GPU scoring (gpuplane.scheduler.placement, strategy fgd).
DEFAULT_POLICY_IMPL = "default"

ALLOC_LEVELS = (90, 100, 110, 130)
FRAG_LEVELS = (90, 100, 130)


# --------------------------------------------------------------------------- target workload
# The fragmentation measure lives in the scheduler (gpuplane.scheduler.fragmentation), shared with
# its `fgd` GPU placement strategy; re-exported here under the names this module always had.

_sigmoid_score = sigmoid_score


# --------------------------------------------------------------------------- cluster state

@dataclass(slots=True)
class Shape:
    sid: int
    cpu: int
    mem: int
    num: int
    milli: int
    spec: frozenset[str]
    total_milli: int
    shared: bool
    tag: str  # GPU-affinity class for GpuClustering


def _affinity_tag(num: int, milli: int) -> str:
    if num == 0:
        return ""
    if num == 1 and milli < MILLI:
        return "share-gpu"
    return f"{num}-gpu"


class Cluster:
    def __init__(self, nodes: Sequence[Node]) -> None:
        self.nodes = list(nodes)
        self.n = len(nodes)
        self.model = [nd.model for nd in nodes]
        self.cpu_cap = [nd.cpu_milli for nd in nodes]
        self.mem_cap = [nd.memory_mib for nd in nodes]
        self.ngpu = [nd.gpu for nd in nodes]
        self.cpu_left = list(self.cpu_cap)
        self.mem_left = list(self.mem_cap)
        self.gpus = [[MILLI] * nd.gpu for nd in nodes]
        self.gpu_left_total = [MILLI * nd.gpu for nd in nodes]
        self.affinity: list[dict[str, int]] = [{} for _ in nodes]
        self.key = [(nd.model, nd.cpu_milli, tuple([MILLI] * nd.gpu)) for nd in nodes]
        self.gpu_capacity = sum(self.ngpu)

    def feasible(self, n: int, s: Shape) -> bool:
        if self.cpu_left[n] < s.cpu or self.mem_left[n] < s.mem:
            return False
        if s.total_milli > 0:
            if not self.ngpu[n]:
                return False
            if s.spec and self.model[n] not in s.spec:
                return False
            gpus = self.key[n][2]
            if len(gpus) - bisect_left(gpus, s.milli) < s.num:
                return False
        return True

    def place(self, n: int, s: Shape, gpu_ids: Sequence[int]) -> None:
        self.cpu_left[n] -= s.cpu
        self.mem_left[n] -= s.mem
        g = self.gpus[n]
        for i in gpu_ids:
            g[i] -= s.milli
        self.gpu_left_total[n] -= s.milli * len(gpu_ids)
        if s.tag:
            aff = self.affinity[n]
            aff[s.tag] = aff.get(s.tag, 0) + 1
        self.key[n] = (self.model[n], self.cpu_left[n], tuple(sorted(g)))

    def check_capacity(self) -> None:
        """Raise AssertionError if any node is over-committed (test/debug helper)."""
        for n in range(self.n):
            assert self.cpu_left[n] >= 0, f"node {self.nodes[n].name}: CPU over-committed"
            assert self.mem_left[n] >= 0, f"node {self.nodes[n].name}: memory over-committed"
            for v in self.gpus[n]:
                assert 0 <= v <= MILLI, f"node {self.nodes[n].name}: GPU milli left {v}"
            assert self.gpu_left_total[n] == sum(self.gpus[n])


def _exclusive_gpus(gpus: list[int], num: int) -> list[int]:
    """AllocateExclusiveGpuId: the first ``num`` fully free GPUs in index order."""
    out = []
    for i, v in enumerate(gpus):
        if len(out) >= num:
            break
        if v == MILLI:
            out.append(i)
    return out


def _best_fit_gpu(gpus: list[int], milli: int) -> int:
    best = -1
    for i, v in enumerate(gpus):
        if v >= milli and (best < 0 or v < gpus[best]):
            best = i
    return best


# --------------------------------------------------------------------------- policies

class Policy:
    name = ""
    memo_by_state = True  # score depends only on (node state key, shape)

    def __init__(self, cluster: Cluster, frag: FragModel, rng: random.Random) -> None:
        self.c = cluster
        self.frag = frag
        self.rng = rng

    def score(self, n: int, s: Shape) -> int:
        raise NotImplementedError

    def pick_gpus(self, n: int, s: Shape) -> list[int]:
        g = self.c.gpus[n]
        if s.total_milli == 0:
            return []
        if s.shared:
            return [_best_fit_gpu(g, s.milli)]
        return _exclusive_gpus(g, s.num)


class RandomPolicy(Policy):
    """01-Random: a random feasible node, a random fitting GPU."""
    name = "random"

    def score(self, n: int, s: Shape) -> int:
        return MAX_NODE_SCORE

    def pick_gpus(self, n: int, s: Shape) -> list[int]:
        if s.shared:
            g = self.c.gpus[n]
            return [self.rng.choice([i for i, v in enumerate(g) if v >= s.milli])]
        return super().pick_gpus(n, s)


class DotProdPolicy(Policy):
    """02-DotProd (Tetris): 1 - <free, request>/2 with both vectors [CPU, total GPU] normalised by
    the max node spec; best-fit GPU."""
    name = "dotprod"

    def score(self, n: int, s: Shape) -> int:
        c = self.c
        dot = 0.0
        dot += (c.cpu_left[n] / MAX_SPEC_CPU) * (s.cpu / MAX_SPEC_CPU)
        dot += (c.gpu_left_total[n] / MAX_SPEC_GPU) * (s.total_milli / MAX_SPEC_GPU)
        return int(MAX_NODE_SCORE * (1 - dot / 2))


class ClusteringPolicy(Policy):
    """03-GpuClustering: nodes hosting only pods of the same GPU-request class first, then mixed
    nodes with that class, then idle nodes, then others; within a tier, less free GPU first."""
    name = "clustering"
    memo_by_state = False

    def score(self, n: int, s: Shape) -> int:
        if not s.tag:
            return 0
        c = self.c
        part = MAX_NODE_SCORE // 4 * (MAX_SPEC_GPU - c.gpu_left_total[n]) // MAX_SPEC_GPU
        aff = c.affinity[n]
        if aff.get(s.tag, 0) > 0:
            return part + (MAX_NODE_SCORE * 3 // 4 if len(aff) == 1 else MAX_NODE_SCORE * 2 // 4)
        return part + (MAX_NODE_SCORE // 4 if not aff else 0)


class PackingPolicy(Policy):
    """04-GpuPacking: partially used GPUs first, then fully free GPUs on used nodes (fewer is
    better), idle nodes last."""
    name = "packing"

    def score(self, n: int, s: Shape) -> int:
        if s.total_milli == 0:
            return 0
        c = self.c
        gpus = c.key[n][2]  # ascending, as SortedMilliGpuLeftIndexList(true)
        free = sum(1 for v in gpus if v == MILLI)
        if free == c.ngpu[n]:
            return max(MAX_NODE_SCORE // 3 - free, free)
        req = s.num
        free_used = 0
        used: list[int] = []
        for v in gpus:
            if req == 0:
                break
            if s.milli <= v:
                req -= 1
                used.append(v)
                if v == MILLI:
                    free_used += 1
        if req:
            return 0
        if free_used > 0:
            return max(MAX_NODE_SCORE // 2 - free_used, MAX_NODE_SCORE // 3)
        ratio = sum(v * 100 // MILLI for v in used)
        return max(MAX_NODE_SCORE - ratio // 10, MAX_NODE_SCORE // 2)


class BestFitPolicy(Policy):
    """05-BestFit: minimise 0.5 (CPU left after)/128 cores + 0.5 (GPU left after)/8 GPUs."""
    name = "bestfit"

    def score(self, n: int, s: Shape) -> int:
        c = self.c
        sc = 0.0
        sc += (c.cpu_left[n] - s.cpu) / MAX_SPEC_CPU * 0.5
        sc += (c.gpu_left_total[n] - s.total_milli) / MAX_SPEC_GPU * 0.5
        return int((1.0 - sc) * MAX_NODE_SCORE)


class FGDPolicy(Policy):
    """06-FGD: the node (and, for a sharing pod, the GPU) whose fragmentation F_n(M) grows least;
    score sigmoid(-dF/1000) x 100 truncated to an integer, as in fgd_score.go."""
    name = "fgd"

    def _after_shared(self, key: tuple[str, int, tuple[int, ...]], s: Shape, v: int) -> tuple[str, int, tuple[int, ...]]:
        gpus = list(key[2])
        gpus[gpus.index(v)] = v - s.milli
        gpus.sort()
        return (key[0], key[1] - s.cpu, tuple(gpus))

    def score(self, n: int, s: Shape) -> int:
        key = self.c.key[n]
        f0 = self.frag.frag(key)
        if s.shared:
            best = None
            for v in set(key[2]):
                if v >= s.milli:
                    sc = _sigmoid_score(f0 - self.frag.frag(self._after_shared(key, s, v)))
                    if best is None or sc > best:
                        best = sc
            return best if best is not None else 0
        gpus = list(key[2])  # Sub(): take the least-sufficient GPUs, ascending
        need = s.num
        for i, v in enumerate(gpus):
            if need <= 0:
                break
            if s.milli <= v:
                gpus[i] = v - s.milli
                need -= 1
        after = (key[0], key[1] - s.cpu, tuple(sorted(gpus)))
        return _sigmoid_score(f0 - self.frag.frag(after))

    def pick_gpus(self, n: int, s: Shape) -> list[int]:
        if not s.shared:
            return super().pick_gpus(n, s)
        key = self.c.key[n]
        f0 = self.frag.frag(key)
        g = self.c.gpus[n]
        best_i, best = -1, 0
        cache: dict[int, int] = {}
        for i, v in enumerate(g):
            if v >= s.milli:
                sc = cache.get(v)
                if sc is None:
                    sc = cache[v] = _sigmoid_score(f0 - self.frag.frag(self._after_shared(key, s, v)))
                if best_i < 0 or sc > best:
                    best_i, best = i, sc
        return [best_i]


def _negate(key) -> tuple:
    """A smallest-best key of numbers (nested tuples flattened) as a largest-best one."""
    out: list = []
    for v in key:
        if isinstance(v, tuple):
            out.extend(_negate(v))
        else:
            out.append(-v)
    return tuple(out)


class SchedulerDefaultPolicy(Policy):
    """``default``: the gpuplane scheduler's own GPU node scoring
    (:func:`gpuplane.scheduler.placement.gpu_placement_key` with ``DEFAULT_GPU_STRATEGY``, FGD
    increase from :func:`~gpuplane.scheduler.placement.fgd_best_gpus`), behind KAI's
    gpusharingorder band (a sharing pod prefers a node where it lands on a partly used GPU)
    when ``SHARING_BAND`` is set. The scheduler's key is smallest-best and exact (no sigmoid,
    no integer truncation); here it is negated so that the largest score wins, and remaining
    ties go to the run's fixed random node order as for the other policies (the scheduler
    itself breaks them by node name)."""
    name = "default"
    SHARING_BAND = True

    def _best(self, n: int, s: Shape) -> Optional[tuple[float, list[int]]]:
        return fgd_best_gpus(self.frag, self.c.key[n], s.cpu, s.milli, s.num, s.shared)

    def score(self, n: int, s: Shape):  # type: ignore[override]
        c = self.c
        key = c.key[n]
        if s.total_milli == 0:  # CPU-only pod (all OpenB nodes have GPUs)
            inc = frag_increase(self.frag, key, s.cpu, (), 0)
            place = cpu_placement_key("binpack", c.cpu_left[n] - s.cpu, c.cpu_cap[n], DEFAULT_GPU_STRATEGY, inc)
            return _negate((1, 1, place))
        found = self._best(n, s)
        if found is None:
            return None
        inc, taken = found
        partial = s.shared and any(v < MILLI for v in taken)
        band = 0 if (partial or not self.SHARING_BAND) else 1
        place = gpu_placement_key(DEFAULT_GPU_STRATEGY, c.gpu_left_total[n] - s.total_milli, c.ngpu[n] * MILLI, inc)
        return _negate((band, 0, place))

    def pick_gpus(self, n: int, s: Shape) -> list[int]:
        if s.total_milli == 0:
            return []
        found = self._best(n, s)
        assert found is not None
        g = self.c.gpus[n]
        out: list[int] = []
        for v in found[1]:
            out.append(next(i for i, f in enumerate(g) if f == v and i not in out))
        return sorted(out)


POLICY_CLASSES: dict[str, type[Policy]] = {
    cls.name: cls for cls in (RandomPolicy, DotProdPolicy, ClusteringPolicy, PackingPolicy, BestFitPolicy, FGDPolicy,
                              SchedulerDefaultPolicy)
}


def resolve_policy(name: str) -> str:
    if name == "default":
        return DEFAULT_POLICY_IMPL
    if name not in POLICY_CLASSES:
        raise ValueError(f"unknown policy {name!r} (choose from {', '.join(POLICIES)})")
    return name


# --------------------------------------------------------------------------- score index

class _ShapeIndex:
    """Integer score buckets of all feasible nodes for one pod shape."""

    __slots__ = ("score", "pos", "buckets", "synced")

    def __init__(self, n: int) -> None:
        self.score: list[Optional[int]] = [None] * n
        self.pos = [0] * n
        self.buckets: dict[int, list[int]] = {}
        self.synced = 0

    def set(self, n: int, sc: Optional[int]) -> None:
        old = self.score[n]
        if old == sc:
            return
        if old is not None:
            lst = self.buckets[old]
            i = self.pos[n]
            last = lst.pop()
            if last != n:
                lst[i] = last
                self.pos[last] = i
            if not lst:
                del self.buckets[old]
        if sc is not None:
            lst = self.buckets.get(sc)
            if lst is None:
                lst = self.buckets[sc] = []
            self.pos[n] = len(lst)
            lst.append(n)
        self.score[n] = sc

    def best(self) -> Optional[list[int]]:
        if not self.buckets:
            return None
        return self.buckets[max(self.buckets)]


# --------------------------------------------------------------------------- protocol

def arrival_sequence(pods: Sequence[Pod], capacity_milli: int, seed: int, tune: float) -> list[Pod]:
    """Shuffle the trace with the seed, then append random copies (sampled with replacement)
    while the requested GPU total stays within ``tune`` x capacity (or drop random pods while it
    exceeds it); ``tune <= 0`` keeps the shuffled trace as is."""
    rng = random.Random(seed)
    base = sorted(pods, key=lambda p: p.name)
    seq = list(base)
    rng.shuffle(seq)
    if tune <= 0:
        return seq
    target = tune * capacity_milli
    total = sum(p.total_gpu_milli for p in seq)
    if total > target:
        while total > target and seq:
            p = seq.pop(rng.randrange(len(seq)))
            total -= p.total_gpu_milli
    else:
        while True:
            p = base[rng.randrange(len(base))]
            if total + p.total_gpu_milli > target:
                break
            total += p.total_gpu_milli
            seq.append(p)
    return seq


@dataclass
class Result:
    policy: str
    seed: int
    tune: float
    nodes: int
    gpus: int
    pods_arrived: int
    pods_failed: int
    arrived_gpu_pct: float
    allocation_ratio: dict[str, Optional[float]]
    fragmentation_amount: dict[str, Optional[float]]
    seconds: float
    curve: list[tuple[float, float, float]] = field(default_factory=list)  # (arrived %, alloc %, frag %)
    cluster: Optional[Cluster] = field(default=None, repr=False)
    placements: list[tuple[Pod, int, tuple[int, ...]]] = field(default_factory=list, repr=False)  # keep_cluster only

    def to_json(self) -> dict:
        return {
            "policy": self.policy,
            "seed": self.seed,
            "tune": self.tune,
            "nodes": self.nodes,
            "gpus": self.gpus,
            "pods_arrived": self.pods_arrived,
            "pods_failed": self.pods_failed,
            "arrived_gpu_pct": round(self.arrived_gpu_pct, 4),
            "allocation_ratio": self.allocation_ratio,
            "fragmentation_amount": self.fragmentation_amount,
            "seconds": round(self.seconds, 3),
        }


def run(nodes: Sequence[Node], pods: Sequence[Pod], policy: str = "fgd", seed: int = 42, tune: float = 1.3,
        alloc_levels: Sequence[int] = ALLOC_LEVELS, frag_levels: Sequence[int] = FRAG_LEVELS,
        record_curve: bool = False, keep_cluster: bool = False, tie_break: str = "rank",
        on_progress: Optional[Callable[[int, int], None]] = None) -> Result:
    """Run one seed of the OpenB protocol under ``policy``.

    ``allocation_ratio[a]`` / ``fragmentation_amount[a]``: allocated GPU milli / fragmented GPU
    milli as % of cluster GPU capacity at the moment the arrived GPU demand first reaches ``a`` %
    of capacity. The run ends just below ``tune`` x capacity (copies are appended only while they
    fit), so a level the run ends within 0.5 points of (the artifact rounds the arrival ratio to
    whole percents) takes the end-of-run value; a level further away is ``None``.
    """
    started = time.perf_counter()
    impl = resolve_policy(policy)
    if tie_break not in ("rank", "random"):
        raise ValueError(f"tie_break must be 'rank' or 'random', not {tie_break!r}")
    cluster = Cluster(nodes)
    cap = cluster.gpu_capacity * MILLI
    if cap <= 0:
        raise ValueError("the node list has no GPUs")
    seq = arrival_sequence(pods, cap, seed, tune)
    frag = FragModel(typical_pods(pods))
    rng = random.Random(seed * 7919 + 17)  # scheduler tie-breaks and random GPU choice
    pol = POLICY_CLASSES[impl](cluster, frag, rng)
    rank = list(range(cluster.n))
    rng.shuffle(rank)  # fixed random node order of this run: ties go to the first node in it

    shapes: dict[tuple, Shape] = {}
    indexes: dict[int, _ShapeIndex] = {}
    memo: dict[int, dict] = {}
    changed: list[int] = []
    N = cluster.n
    feasible = cluster.feasible
    score = pol.score
    keys = cluster.key

    frag_total = sum(frag.frag(k) for k in keys)
    alloc_milli = 0
    arrived = 0
    failed = 0
    levels = sorted(set(alloc_levels) | set(frag_levels))
    li = 0
    alloc_at: dict[int, float] = {}
    frag_at: dict[int, float] = {}
    curve: list[tuple[float, float, float]] = []
    placements: list[tuple[Pod, int, tuple[int, ...]]] = []

    def rescore(idx: _ShapeIndex, s: Shape, todo: Iterable[int]) -> None:
        m = memo.get(s.sid) if pol.memo_by_state else None
        for n in todo:
            if not feasible(n, s):
                idx.set(n, None)
                continue
            if m is None:
                idx.set(n, score(n, s))
            else:
                k = keys[n]
                sc = m.get(k)
                if sc is None:
                    sc = m[k] = score(n, s)
                idx.set(n, sc)

    total_pods = len(seq)
    for step, pod in enumerate(seq):
        sk = (pod.cpu_milli, pod.memory_mib, pod.num_gpu, pod.gpu_milli, pod.gpu_spec)
        s = shapes.get(sk)
        if s is None:
            s = shapes[sk] = Shape(len(shapes), pod.cpu_milli, pod.memory_mib, pod.num_gpu, pod.gpu_milli,
                                   pod.gpu_models, pod.total_gpu_milli, pod.is_gpu_share,
                                   _affinity_tag(pod.num_gpu, pod.gpu_milli))
            memo[s.sid] = {}
        idx = indexes.get(s.sid)
        if idx is None:
            idx = indexes[s.sid] = _ShapeIndex(N)
            rescore(idx, s, range(N))
        elif idx.synced < len(changed):
            pending = changed[idx.synced:]
            rescore(idx, s, range(N) if len(pending) >= N else set(pending))
        idx.synced = len(changed)

        arrived += s.total_milli
        best = idx.best()
        if best is None:
            failed += 1
        else:
            if len(best) == 1:
                n = best[0]
            elif tie_break == "random" or impl == "random":
                n = rng.choice(best)
            else:
                n = min(best, key=rank.__getitem__)
            gpu_ids = pol.pick_gpus(n, s)
            old = keys[n]
            cluster.place(n, s, gpu_ids)
            alloc_milli += s.total_milli
            frag_total += frag.frag(keys[n]) - frag.frag(old)
            changed.append(n)
            if keep_cluster:
                placements.append((pod, n, tuple(gpu_ids)))
        if record_curve:
            curve.append((100.0 * arrived / cap, 100.0 * alloc_milli / cap, 100.0 * frag_total / cap))
        while li < len(levels) and arrived * 100 >= levels[li] * cap:
            alloc_at[levels[li]] = 100.0 * alloc_milli / cap
            frag_at[levels[li]] = 100.0 * frag_total / cap
            li += 1
        if on_progress is not None and step % 500 == 0:
            on_progress(step, total_pods)

    end_pct = 100.0 * arrived / cap
    for lv in levels[li:]:
        if lv - end_pct <= 0.5:
            alloc_at[lv] = 100.0 * alloc_milli / cap
            frag_at[lv] = 100.0 * frag_total / cap

    def pick(src: dict[int, float], lvls: Sequence[int]) -> dict[str, Optional[float]]:
        return {str(lv): (round(src[lv], 4) if lv in src else None) for lv in lvls}

    return Result(
        policy=policy, seed=seed, tune=tune, nodes=N, gpus=cluster.gpu_capacity,
        pods_arrived=len(seq), pods_failed=failed, arrived_gpu_pct=end_pct,
        allocation_ratio=pick(alloc_at, alloc_levels), fragmentation_amount=pick(frag_at, frag_levels),
        seconds=time.perf_counter() - started, curve=curve, cluster=cluster if keep_cluster else None,
        placements=placements,
    )
