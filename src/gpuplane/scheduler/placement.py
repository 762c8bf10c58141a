"""Node filters that do not depend on what is in use, and node scoring.

Static filters (kube-scheduler's): the node is schedulable, the pod tolerates its
``NoSchedule`` / ``NoExecute`` taints, ``spec.nodeSelector`` and the required node affinity
match. Each failure is a short reason in words; the cycle counts reasons over nodes.

Scoring follows KAI's score bands, highest band first (lexicographic):
- fractional pods: nodes with a partially used GPU that fits the share first (gpusharingorder);
- CPU-only pods: CPU-only nodes first (resourcetype);
- then ``placementStrategy``: ``binpack`` takes the node with the least free left (of GPUs for
  GPU pods, of CPU for CPU-only pods), ``spread`` the one with the largest free fraction;
  ``fgd`` (GPU only) the node whose FGD fragmentation grows least when the pod is placed, by
  FGD's integer score (:class:`FragScorer`, measure in :mod:`gpuplane.scheduler.fragmentation`);
  with ``fgd`` a CPU-only pod on a GPU node is scored the same way (its CPU can strand GPUs);
- then the node name.

``fgd`` needs the node's per-GPU use, which only the cycle knows: the cycle builds one
:class:`FragScorer` per run (``FragScorer.from_snapshot(snap)``), picks GPUs for a shared pod
with :meth:`FragScorer.choose_gpus` and passes :meth:`FragScorer.increase` to
:func:`node_score` as ``frag_increase``. Without it ``fgd`` scores like ``binpack``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Iterable, Optional, Sequence

from ..api.core import PENDING, RELEASING, RUNNING
from ..dra.nodeselect import NodeSelectorError, selector_matches
from .fragmentation import (MILLI, FragModel, NodeKey, TypicalPod, frag_increase, shape_distribution, sigmoid_score,
                            to_milli)
from .gpus import per_device_share
from .snapshot import NodeInfo, PodInfo, Snapshot, pod_affinity_selector

__all__ = ["static_filter", "node_score", "gpu_placement_key", "fgd_best_gpus", "workload_from_snapshot",
           "FragScorer", "DEFAULT_GPU_STRATEGY", "GPU_STRATEGIES", "cpu_placement_key"]

GPU_STRATEGIES = ("binpack", "spread", "fgd")
# The recommended GPU strategy (``gpuplane bench openb --policy default`` runs it). The config
# default stays ``binpack`` (KAI's nodeplacement default, asserted by the scheduler tests).
DEFAULT_GPU_STRATEGY = "fgd"


def _tolerates(tolerations: list[Any], taint: dict[str, Any]) -> bool:
    for t in tolerations:
        if t.effect and t.effect != taint.get("effect"):
            continue
        if t.operator == "Exists":
            if not t.key or t.key == taint.get("key"):
                return True
        elif t.key == taint.get("key") and (t.value or "") == (taint.get("value") or ""):
            return True
    return False


def static_filter(node: NodeInfo, pod: PodInfo) -> Optional[str]:
    """Why the pod can never go to this node, or ``None``."""
    if node.unschedulable:
        return "node is unschedulable (cordoned)"
    for taint in node.taints:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(pod.pod.spec.tolerations, taint):
            return f"untolerated taint {taint.get('key')}"
    labels = node.node.metadata.labels
    for k, v in pod.pod.spec.node_selector.items():
        if labels.get(k) != v:
            return "node selector does not match"
    sel = pod_affinity_selector(pod.pod)
    if sel is not None:
        try:
            if not selector_matches(sel, node.node):
                return "required node affinity does not match"
        except NodeSelectorError:
            return "required node affinity is invalid"
    return None


def gpu_placement_key(strategy: str, free_gpu_after: Fraction | int, total_gpus: Fraction | int,
                      frag_increase: Optional[float] = None) -> Any:
    """The ``placementStrategy.gpu`` part of a GPU pod's node key (smaller is better).

    ``binpack``: GPUs left free after placing; ``spread``: minus the free fraction; ``fgd``:
    minus FGD's integer score ``int(100 sigmoid(-increase/1000))`` of the fragmentation
    increase (milli-GPU). The coarse integer score is deliberate: on OpenB, ranking by the
    exact increase, or breaking score ties by binpack or spread, allocates 1-5 points less
    than leaving ties to a fixed node order (the node name here). ``fgd`` without
    ``frag_increase`` (a caller that does not compute it) falls back to binpack."""
    if strategy == "spread":
        return -(Fraction(free_gpu_after) / Fraction(total_gpus))
    if strategy == "fgd":
        if frag_increase is None:
            return (0, free_gpu_after)
        return (-sigmoid_score(-frag_increase), 0)
    return free_gpu_after


def cpu_placement_key(strategy: str, free_cpu_after: Fraction | int, total_cpu: Fraction | int,
                      gpu_strategy: str = "binpack", frag_increase: Optional[float] = None) -> Any:
    """The placement part of a CPU-only pod's node key (smaller is better): with the ``fgd`` GPU
    strategy and a ``frag_increase`` (a GPU node: CPU taken can strand its GPUs), FGD's score
    alone, as the artifact scores every pod (a CPU binpack tie-break costs ~1 point on OpenB);
    otherwise ``placementStrategy.cpu``."""
    base = Fraction(free_cpu_after) if strategy == "binpack" else -(Fraction(free_cpu_after) / Fraction(total_cpu))
    if gpu_strategy == "fgd":
        return (-sigmoid_score(-frag_increase), 0) if frag_increase is not None else (0, base)
    return base


def node_score(node: NodeInfo, pod: PodInfo, strategies: dict[str, str], free_gpu_after: Fraction,
               free_cpu_after: Fraction, shares_partial_gpu: bool, uses_gpu: bool,
               frag_increase: Optional[float] = None) -> tuple:
    """Sort key: the smallest key is the best node. ``frag_increase``: see :class:`FragScorer`
    (used by the ``fgd`` GPU strategy only, for GPU pods and for CPU-only pods on GPU nodes)."""
    if uses_gpu:
        total = max(node.gpus + node.dra_gpus, 1)  # an int: only spread divides (as a Fraction)
        placement = gpu_placement_key(strategies["gpu"], free_gpu_after, total, frag_increase)
        return (0 if shares_partial_gpu else 1, 0, placement, node.name)
    total = node.cpu_milli or 1  # only spread divides (as a Fraction)
    placement = cpu_placement_key(strategies["cpu"], free_cpu_after, total, strategies["gpu"], frag_increase)
    cpu_only_node = node.gpus == 0 and node.dra_gpus == 0
    return (1, 0 if cpu_only_node else 1, placement, node.name)


# --- fragmentation-aware GPU placement (FGD) ------------------------------------------------


def fgd_best_gpus(model: FragModel, key: NodeKey, cpu_milli: int, milli: int, num: int,
                  shared: bool, partial_first: bool = True) -> Optional[tuple[float, list[int]]]:
    """FGD on one node: ``(fragmentation increase, milli left of each GPU taken)`` for the best
    choice of GPUs, or ``None`` when the pod does not fit.

    Whole GPUs take fully free GPUs (which ones does not change the measure). A shared pod on
    one GPU tries each distinct amount left that fits (only partly used GPUs when one fits and
    ``partial_first``, KAI's gpusharingorder) and keeps the smallest increase (ties: the fuller
    GPU, i.e. binpack); on several GPUs it takes the ``num`` GPUs whose increase alone is
    smallest (a greedy approximation)."""
    gpus = key[2]
    if not shared:
        if sum(1 for v in gpus if v >= MILLI) < num:
            return None
        taken = [MILLI] * num
        return frag_increase(model, key, cpu_milli, taken, milli), taken
    options = sorted({v for v in gpus if v >= milli})
    if not options:
        return None
    if partial_first and num <= 1 and any(v < MILLI for v in options):
        options = [v for v in options if v < MILLI]  # KAI's gpusharingorder: partly used GPUs first
    single = sorted((frag_increase(model, key, cpu_milli, [v], milli), v) for v in options)
    if num <= 1:
        inc, v = single[0]
        return inc, [v]
    taken: list[int] = []
    left = list(gpus)
    for _, v in single:
        while v in left and len(taken) < num:
            left.remove(v)
            taken.append(v)
    if len(taken) < num:
        return None
    return frag_increase(model, key, cpu_milli, taken, milli), taken


def _pod_shape(pod: PodInfo, gpu_memory_mib: Optional[int]) -> Optional[tuple[int, int, int, str]]:
    cpu = int(round(pod.cpu_milli))
    d = pod.gpu
    if d.whole:
        return (cpu, MILLI, d.whole, "")
    if d.is_shared:
        if d.fraction is not None:
            share = d.fraction
        elif d.memory_mib is not None and gpu_memory_mib:
            share = min(Fraction(1), Fraction(d.memory_mib, gpu_memory_mib))
        else:
            return None
        return (cpu, to_milli(share), d.num_devices, "")
    return (cpu, 0, 0, "")


def workload_from_snapshot(snap: Snapshot, threshold_pct: float = 95.0) -> list[TypicalPod]:
    """FGD's target workload M from the snapshot's Pending, Running and Releasing pods (CPU-only
    pods included, as in the artifact; ``gpu-memory`` requests become fractions of the cluster's
    smallest GPU memory, and are left out when it is unknown)."""
    shapes = []
    for pod in snap.pods.values():
        if pod.state not in (PENDING, RUNNING, RELEASING):
            continue
        shape = _pod_shape(pod, snap.min_gpu_memory_mib)
        if shape is not None:
            shapes.append(shape)
    return shape_distribution(shapes, threshold_pct)


class FragScorer:
    """FGD for the scheduler: fragmentation increase of a pod on a node, and the GPUs to use.

    Build once per run: ``FragScorer.from_snapshot(snap)`` (target workload from the snapshot's
    pods) or ``FragScorer(typical)`` (a configured distribution). Node states are memoised."""

    def __init__(self, typical: Sequence[TypicalPod]) -> None:
        self.model = FragModel(typical)

    @classmethod
    def from_snapshot(cls, snap: Snapshot, typical: Optional[Sequence[TypicalPod]] = None) -> "FragScorer":
        return cls(typical if typical is not None else workload_from_snapshot(snap))

    @staticmethod
    def key(node: NodeInfo, gpu_used: Sequence[Fraction], cpu_left: Fraction) -> NodeKey:
        return ("", int(round(cpu_left)), tuple(sorted(MILLI - to_milli(u) for u in gpu_used)))

    def _demand(self, node: NodeInfo, pod: PodInfo) -> Optional[tuple[int, int, bool]]:
        shape = _pod_shape(pod, node.gpu_memory_mib)
        if shape is None or shape[2] == 0:
            return None
        return shape[1], shape[2], bool(pod.gpu.is_shared)

    def best(self, node: NodeInfo, pod: PodInfo, gpu_used: Sequence[Fraction],
             cpu_left: Fraction) -> Optional[tuple[float, list[int]]]:
        """``(increase, GPU indices)`` of the best GPUs for the pod on this node, or ``None``."""
        demand = self._demand(node, pod)
        if demand is None:
            return None
        milli, num, shared = demand
        found = fgd_best_gpus(self.model, self.key(node, gpu_used, cpu_left), int(round(pod.cpu_milli)),
                              milli, num, shared)
        if found is None:
            return None
        inc, taken = found
        free = [MILLI - to_milli(u) for u in gpu_used]
        share = Fraction(1) if not shared else per_device_share(pod.gpu, node.gpu_memory_mib)
        if share is None:
            return None
        indices: list[int] = []
        for v in taken:  # the lowest-index GPU with that much left (exactly enough: milli rounds)
            i = next((i for i, f in enumerate(free)
                      if f == v and i not in indices and gpu_used[i] + share <= 1), None)
            if i is None:
                return None
            indices.append(i)
        return inc, sorted(indices)

    def choose_gpus(self, node: NodeInfo, pod: PodInfo, gpu_used: Sequence[Fraction],
                    cpu_left: Fraction) -> Optional[list[int]]:
        found = self.best(node, pod, gpu_used, cpu_left)
        return None if found is None else found[1]

    def increase(self, node: NodeInfo, pod: PodInfo, gpu_used: Sequence[Fraction], cpu_left: Fraction,
                 indices: Iterable[int], share: Fraction) -> float:
        """Fragmentation increase (milli-GPU) of taking ``share`` of each GPU in ``indices``
        and the pod's CPU, on a node with ``gpu_used`` and ``cpu_left`` before the pod."""
        key = self.key(node, gpu_used, cpu_left)
        taken = [MILLI - to_milli(gpu_used[i]) for i in indices]
        return frag_increase(self.model, key, int(round(pod.cpu_milli)), taken, to_milli(share))
