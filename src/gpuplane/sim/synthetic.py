"""A synthetic multi-tenant GPU workload: training gangs, fractional inference, notebooks, MIG jobs.

The mix is shaped after what shared GPU clusters report (Philly/Helios/PAI, anchors.md 2): most
jobs are small and short, most GPU time goes to a few large training gangs; inference holds
fractions of a GPU for hours; notebooks are interactive and small. Arrivals are Poisson over
``hours``; the rate is set so that the offered GPU time is ``load`` x ``cluster_gpus`` x ``hours``.
Queues get unequal shares of the jobs (weights 1, 1/2, 1/3, ...), so fair share matters.

Everything comes from one ``random.Random(seed)``: the same arguments give the same jobs.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence

from gpuplane.sim.jobs import SimJob

# kind -> share of jobs. Training dominates GPU time through its gang sizes and run times.
KIND_WEIGHTS = {"train": 0.45, "inference": 0.2, "notebook": 0.2, "mig": 0.15}
TRAIN_SHAPES = ((1, 1), (1, 2), (1, 4), (1, 8), (2, 8), (4, 8))  # (pods, GPUs per pod)
TRAIN_SHAPE_WEIGHTS = (0.35, 0.15, 0.15, 0.15, 0.12, 0.08)
FRACTIONS = (0.25, 0.5)
NOTEBOOK_MEMORY_MIB = (10_240, 20_480)
DEFAULT_MIG_PROFILES = ("1g.10gb", "3g.40gb")  # A100 80GB and H100 80GB names (H200: 1g.18gb, 3g.71gb)


@dataclass(frozen=True)
class _Median:
    """Log-normal run time: median ``median_s``, spread ``sigma``, capped at ``cap`` x the median."""

    median_s: float
    sigma: float = 1.0
    cap: float = 12.0

    @property
    def mean_s(self) -> float:
        """Mean of the log-normal (the cap only trims ~1% of the tail)."""
        return self.median_s * math.exp(self.sigma**2 / 2)

    def draw(self, rng: random.Random) -> float:
        return float(max(60, round(min(self.median_s * self.cap, rng.lognormvariate(math.log(self.median_s), self.sigma)))))


DURATIONS = {"train": _Median(5_400), "inference": _Median(4 * 3600, 0.6), "notebook": _Median(3600, 0.7), "mig": _Median(2 * 3600, 0.8)}


def _shape(kind: str, rng: random.Random, mig_profiles: Sequence[str], dra_mig: bool) -> dict:
    if kind == "train":
        pods, per_pod = rng.choices(TRAIN_SHAPES, TRAIN_SHAPE_WEIGHTS)[0]
        return {"pods": pods, "gpus_per_pod": per_pod, "priority_class": "train"}
    if kind == "inference":
        return {"gpu_fraction": rng.choice(FRACTIONS), "priority_class": "inference"}
    if kind == "notebook":
        if rng.random() < 0.5:
            return {"gpu_memory_mib": rng.choice(NOTEBOOK_MEMORY_MIB), "priority_class": "build"}
        return {"gpu_fraction": 0.5, "priority_class": "build"}
    return {"mig_profile": rng.choice(list(mig_profiles)), "dra": dra_mig, "priority_class": "train"}


def _mig_size(profile: str) -> float:
    """Share of a GPU a MIG profile takes (its compute slices of 7): '3g.71gb' -> 3/7."""
    head = profile.split(".")[0]
    if head.endswith("g") and head[:-1].isdigit():
        return int(head[:-1]) / 7
    raise ValueError(f"MIG profile {profile!r}: expected '<n>g.<size>gb'")


def synthetic_mix(seed: int, hours: float, queues: list[str], cluster_gpus: int, load: float = 0.9,
                  mig_profiles: Sequence[str] = DEFAULT_MIG_PROFILES, dra_mig: bool = True,
                  kind_weights: dict[str, float] | None = None) -> list[SimJob]:
    """Jobs submitted in ``[0, hours)`` for ``queues`` on a ``cluster_gpus``-GPU cluster, sorted by submit time.

    ``mig_profiles`` must be profiles some node offers (see
    :func:`gpuplane.sim.profiles.mig_profile_names`), or MIG jobs never run; the default names exist
    on A100 80GB and H100 80GB. Empty (or a ``mig`` weight of 0) leaves MIG jobs out.
    """
    if not queues:
        raise ValueError("synthetic_mix: queues must name at least one queue")
    if len(set(queues)) != len(queues):
        raise ValueError(f"synthetic_mix: duplicate queue names in {queues}")
    if not hours > 0:
        raise ValueError(f"synthetic_mix: hours must be > 0, got {hours}")
    if cluster_gpus < 1:
        raise ValueError(f"synthetic_mix: cluster_gpus must be >= 1, got {cluster_gpus}")
    if not 0 < load <= 10:
        raise ValueError(f"synthetic_mix: load must be in (0, 10], got {load}")
    weights = dict(kind_weights or KIND_WEIGHTS)
    unknown = set(weights) - set(KIND_WEIGHTS)
    if unknown:
        raise ValueError(f"synthetic_mix: unknown job kind(s) {sorted(unknown)} (known: {', '.join(KIND_WEIGHTS)})")
    if not mig_profiles:
        weights["mig"] = 0.0
    if sum(weights.values()) <= 0:
        raise ValueError("synthetic_mix: kind weights must not all be zero")
    mig_sizes = {p: _mig_size(p) for p in mig_profiles}
    kinds = [k for k in KIND_WEIGHTS if weights.get(k, 0) > 0]
    kw = [weights[k] for k in kinds]

    mean_share = {
        "train": sum(w * p * g for (p, g), w in zip(TRAIN_SHAPES, TRAIN_SHAPE_WEIGHTS)) / sum(TRAIN_SHAPE_WEIGHTS),
        "inference": sum(FRACTIONS) / len(FRACTIONS),
        "notebook": 0.5 * 0.25 + 0.5 * 0.5,
        "mig": sum(mig_sizes.values()) / max(1, len(mig_sizes)),
    }
    mean_gpu_s = sum(w * mean_share[k] * DURATIONS[k].mean_s for k, w in zip(kinds, kw)) / sum(kw)
    rate = load * cluster_gpus / mean_gpu_s  # jobs per second

    rng = random.Random(seed)
    qweights = [1.0 / (i + 1) for i in range(len(queues))]
    horizon = hours * 3600.0
    jobs: list[SimJob] = []
    t = rng.expovariate(rate)
    while t < horizon:
        kind = rng.choices(kinds, kw)[0]
        shape = _shape(kind, rng, mig_profiles, dra_mig)
        jobs.append(SimJob(name=f"{kind}-{len(jobs):05d}", queue=rng.choices(queues, qweights)[0], submit_s=round(t, 3),
                           duration_s=DURATIONS[kind].draw(rng), kind=kind,
                           cpu_milli=2000 * max(1, shape.get("gpus_per_pod", 1)),
                           memory_mib=8192 * max(1, shape.get("gpus_per_pod", 1)), **shape))
        t += rng.expovariate(rate)
    return jobs
