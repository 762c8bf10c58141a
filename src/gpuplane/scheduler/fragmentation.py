"""FGD's GPU fragmentation measure (Weng et al., USENIX ATC'23, ``frag.go`` / ``fgd_score.go``).

Pure functions shared by the scheduler (``placementStrategy.gpu: fgd``) and the OpenB simulator
(``gpuplane.sim.openb``, which imports them from here: the scheduler never imports the sim).

Units are integers: CPU in millicores, GPU in milli-GPU (1000 = one whole GPU).

* **Target workload M** (:func:`typical_pods` / :func:`shape_distribution`): pod shapes
  ``(cpu milli, GPU milli per GPU, GPU count, GPU model constraint)`` by decreasing count, the
  shortest prefix covering ``threshold_pct`` % of pods, popularity ``p`` renormalised.
* **Node fragmentation** ``F_n(M)`` (:meth:`FragModel.frag`): for each shape m, weight ``p_m``
  times the node's idle GPU milli if m cannot run there (lacks CPU or GPUs, wrong GPU model, or
  m is CPU-only), otherwise the idle milli on GPUs with less free than m needs per GPU.
* **Fragmentation increase** (:func:`frag_increase`): ``F_n`` after placing a pod on chosen
  GPUs minus ``F_n`` before; FGD takes the node/GPUs with the smallest increase.

A node state is a *key* ``(model, cpu milli left, GPU milli left sorted ascending)``; results are
memoised per key, so repeated states (most nodes in a homogeneous cluster) cost one dict lookup.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Optional, Sequence

__all__ = [
    "MILLI", "TypicalPod", "FragModel", "NodeKey", "typical_pods", "shape_distribution", "node_key",
    "key_after", "frag_increase", "sigmoid_score", "to_milli",
]

MILLI = 1000
MAX_NODE_SCORE = 100

NodeKey = tuple[str, int, tuple[int, ...]]  # (GPU model, CPU milli left, GPU milli left ascending)


@dataclass(frozen=True, slots=True)
class TypicalPod:
    cpu_milli: int
    gpu_milli: int  # per GPU
    num_gpu: int
    gpu_spec: str  # allowed GPU models joined by "|", "" = any
    count: int
    p: float  # popularity, sums to 1 over the returned list


def shape_distribution(shapes: Iterable[tuple[int, int, int, str]], threshold_pct: float = 95.0,
                       step: int = 1) -> list[TypicalPod]:
    """Target workload from one ``(cpu milli, GPU milli, GPU count, model spec)`` per pod:
    shapes by decreasing count (equal counts by decreasing shape, as the artifact's Go sort),
    cut where they cover ``threshold_pct`` % of pods, popularity renormalised."""
    counts: dict[tuple[int, int, int, str], int] = {}
    total = 0
    for key in shapes:
        counts[key] = counts.get(key, 0) + 1
        total += 1
    if not total:
        return []
    ordered = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
    expected = threshold_pct * total / 100.0
    cum, i, take = 0, 0, 0
    while cum < expected and i < len(ordered):
        take += max(1, step)
        while i < take and i < len(ordered):
            cum += ordered[i][1]
            i += 1
    denom = total if i >= len(ordered) else cum
    return [TypicalPod(k[0], k[1], k[2], k[3], c, c / denom) for k, c in ordered[:i]]


def typical_pods(pods: Iterable, threshold_pct: float = 95.0, step: int = 1,
                 include_cpu_pods: bool = True) -> list[TypicalPod]:
    """``GetTypicalPods`` over objects with ``cpu_milli``, ``gpu_milli``, ``num_gpu``, ``gpu_spec``
    (the artifact runs with threshold 95, step 1, CPU-only pods included)."""
    return shape_distribution(((p.cpu_milli, p.gpu_milli, p.num_gpu, p.gpu_spec) for p in pods
                               if include_cpu_pods or p.num_gpu != 0), threshold_pct, step)


class FragModel:
    """F_n(M) of FGD (``NodeGpuShareFragAmountScore``), memoised per node key."""

    def __init__(self, typical: Sequence[TypicalPod]) -> None:
        self.typical = list(typical)
        self._per_model: dict[str, tuple[float, tuple[tuple[float, int, int, int], ...]]] = {}
        self._memo: dict[NodeKey, float] = {}

    def _model(self, model: str) -> tuple[float, tuple[tuple[float, int, int, int], ...]]:
        entry = self._per_model.get(model)
        if entry is None:
            const = 0.0
            items = []
            for t in self.typical:
                allowed = [m for m in t.gpu_spec.split("|") if m]
                accessible = not allowed or (bool(model) and model in allowed)
                if t.gpu_milli == 0 or not accessible:
                    const += t.p
                else:
                    items.append((t.p, t.cpu_milli, t.gpu_milli, t.num_gpu))
            entry = (const, tuple(items))
            self._per_model[model] = entry
        return entry

    def frag(self, key: NodeKey) -> float:
        """key = (model, CPU milli left, GPU milli left sorted ascending)."""
        f = self._memo.get(key)
        if f is not None:
            return f
        model, cpu_left, gpus = key
        total = sum(gpus)
        f = 0.0
        if total:
            const, items = self._model(model)
            f = const * total
            for p, cpu, milli, num in items:
                if cpu_left >= cpu:
                    j = bisect_left(gpus, milli)  # gpus[j:] have >= milli free
                    if len(gpus) - j >= num:
                        f += p * sum(gpus[:j])
                        continue
                f += p * total
        self._memo[key] = f
        return f


def to_milli(value: Fraction | int | float) -> int:
    """A GPU amount (1 = one GPU) or CPU cores in milli, rounded to the nearest integer."""
    return int(round(Fraction(value) * MILLI)) if not isinstance(value, int) else value * MILLI


def node_key(model: str, cpu_left_milli: int, gpu_left_milli: Iterable[int]) -> NodeKey:
    return (model, int(cpu_left_milli), tuple(sorted(int(v) for v in gpu_left_milli)))


def key_after(key: NodeKey, cpu_milli: int, taken: Sequence[int], milli: int) -> NodeKey:
    """The key after a pod takes ``milli`` from GPUs that had ``taken`` milli left (one value
    per GPU used, as they appear in ``key``) and ``cpu_milli`` of CPU."""
    gpus = list(key[2])
    for v in taken:
        gpus[gpus.index(v)] = v - milli  # any GPU with that much left: the key is a multiset
    gpus.sort()
    return (key[0], key[1] - cpu_milli, tuple(gpus))


def frag_increase(model: FragModel, key: NodeKey, cpu_milli: int, taken: Sequence[int], milli: int) -> float:
    """``F_n(after) - F_n(before)`` in milli-GPU (smaller is better; may be negative)."""
    return model.frag(key_after(key, cpu_milli, taken, milli)) - model.frag(key)


def least_sufficient(key: NodeKey, milli: int, num: int) -> Optional[list[int]]:
    """FGD's ``Sub()`` for multi-GPU requests: the ``num`` GPUs with the least milli left that
    still fit ``milli`` (free values), or ``None``."""
    gpus = key[2]
    j = bisect_left(gpus, milli)
    if len(gpus) - j < num:
        return None
    return list(gpus[j:j + num])


def sigmoid_score(delta_frag_decrease: float) -> int:
    """The artifact's integer node score: ``int(sigmoid((F_before - F_after)/1000) x 100)``."""
    return int(1.0 / (1.0 + math.exp(-delta_frag_decrease / 1000.0)) * MAX_NODE_SCORE)
