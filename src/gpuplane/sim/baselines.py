"""Reference queueing baselines for the Philly trace: FIFO and SJF-with-oracle per VC.

The protocol of shared/reference/anchors.md 2.3, so its table can be reproduced exactly: every
VC is simulated on its own with ``nodes`` nodes of 8 GPUs; jobs are gangs that run for their
trace duration without preemption.

* placement ``node8``: a job of up to 8 GPUs goes on one node, best fit (the node with the fewest
  free GPUs that still fits, lowest index on ties); a larger job takes ``ceil(g/8)`` completely
  free nodes (whole nodes, lowest indices). ``pooled``: a job only needs ``g`` free GPUs in its VC.
* policy ``fifo``: strict head-of-line blocking in submit order; jobs submitted in the same
  second go shortest first (then file order) - the order that reproduces the reference table.
* policy ``sjf``: oracle run-time order (then submit, then file order); every pending job that
  fits starts (backfill). Picking the shortest fitting job until none fits equals one scan of the
  sorted queue, because starting a job only ever removes free GPUs.

This module is deliberately separate from the Kubernetes-object simulator: it is the yardstick
that simulator is measured against, so it must stay small, exact and fast.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Sequence

from gpuplane.sim.jobs import SimJob

GPUS_PER_NODE = 8
POLICIES = ("fifo", "sjf")
PLACEMENTS = ("node8", "pooled")


@dataclass(frozen=True)
class JobOutcome:
    name: str
    queue: str
    submit_s: float
    start_s: float
    duration_s: float

    @property
    def queueing_s(self) -> float:
        return self.start_s - self.submit_s

    @property
    def jct_s(self) -> float:
        return self.start_s - self.submit_s + self.duration_s


def nearest_rank(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending sequence (the value at rank ``ceil(p/100 x n)``)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class Stats:
    jobs: int
    avg_jct_s: float
    p50_jct_s: float
    p99_jct_s: float
    avg_queue_s: float
    p50_queue_s: float
    p99_queue_s: float

    @classmethod
    def of(cls, outcomes: Iterable[JobOutcome]) -> "Stats":
        outs = list(outcomes)
        jct = sorted(o.jct_s for o in outs)
        q = sorted(o.queueing_s for o in outs)
        n = len(outs) or 1
        return cls(len(outs), sum(jct) / n, nearest_rank(jct, 50), nearest_rank(jct, 99),
                   sum(q) / n, nearest_rank(q, 50), nearest_rank(q, 99))

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class _Nodes:
    """Free GPUs per node of one VC, with the two placement rules."""

    def __init__(self, nodes: int, node8: bool) -> None:
        self.free = [GPUS_PER_NODE] * nodes
        self.total = nodes * GPUS_PER_NODE
        self.node8 = node8

    def fits(self, gpus: int) -> bool:
        if not self.node8:
            return gpus <= self.total
        if gpus <= GPUS_PER_NODE:
            return any(f >= gpus for f in self.free)
        return sum(1 for f in self.free if f == GPUS_PER_NODE) >= math.ceil(gpus / GPUS_PER_NODE)

    def take(self, gpus: int) -> list[tuple[int, int]]:
        self.total -= gpus
        if not self.node8:
            return [(-1, gpus)]
        if gpus <= GPUS_PER_NODE:
            best = min((f, i) for i, f in enumerate(self.free) if f >= gpus)[1]
            self.free[best] -= gpus
            return [(best, gpus)]
        want = math.ceil(gpus / GPUS_PER_NODE)
        chosen = [i for i, f in enumerate(self.free) if f == GPUS_PER_NODE][:want]
        for i in chosen:
            self.free[i] = 0
        self.total -= want * GPUS_PER_NODE - gpus  # whole nodes: the remainder is unusable too
        return [(i, GPUS_PER_NODE) for i in chosen]

    def give(self, alloc: list[tuple[int, int]]) -> None:
        for node, gpus in alloc:
            self.total += gpus
            if node >= 0:
                self.free[node] += gpus


def simulate_vc(jobs: Sequence[SimJob], nodes: int, policy: str = "fifo", placement: str = "node8") -> list[JobOutcome]:
    """Run one VC's jobs on ``nodes`` 8-GPU nodes; jobs must be in file order (ties keep it)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r} (expected one of {', '.join(POLICIES)})")
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r} (expected one of {', '.join(PLACEMENTS)})")
    cluster = _Nodes(nodes, placement == "node8")
    order = sorted(range(len(jobs)), key=lambda k: (jobs[k].submit_s, jobs[k].duration_s, k))
    for k in order:
        if int(jobs[k].gpus) > nodes * GPUS_PER_NODE:
            raise ValueError(f"job {jobs[k].name}: {int(jobs[k].gpus)} GPUs exceed the VC's {nodes * GPUS_PER_NODE}")
    running: list[tuple[float, int, list[tuple[int, int]]]] = []
    fifo: deque[int] = deque()
    by_size: dict[int, list[tuple[float, float, int]]] = {}
    outcomes: list[JobOutcome] = []
    seq = 0
    nxt = 0

    def start(k: int, now: float) -> None:
        nonlocal seq
        job = jobs[k]
        alloc = cluster.take(int(job.gpus))
        heapq.heappush(running, (now + job.duration_s, seq, alloc))
        seq += 1
        outcomes.append(JobOutcome(job.name, job.queue, job.submit_s, now, job.duration_s))

    while nxt < len(order) or running:
        now = min(jobs[order[nxt]].submit_s if nxt < len(order) else math.inf, running[0][0] if running else math.inf)
        while running and running[0][0] <= now:
            cluster.give(heapq.heappop(running)[2])
        while nxt < len(order) and jobs[order[nxt]].submit_s <= now:
            k = order[nxt]
            nxt += 1
            if policy == "fifo":
                fifo.append(k)
            else:
                heapq.heappush(by_size.setdefault(int(jobs[k].gpus), []), (jobs[k].duration_s, jobs[k].submit_s, nxt, k))
        if policy == "fifo":
            while fifo and cluster.fits(int(jobs[fifo[0]].gpus)):
                start(fifo.popleft(), now)
        else:
            while True:
                best = None
                for gpus, heap in by_size.items():
                    if heap and (best is None or heap[0] < best[0]) and cluster.fits(gpus):
                        best = (heap[0], gpus)
                if best is None:
                    break
                heapq.heappop(by_size[best[1]])
                start(best[0][3], now)
    return outcomes


def run_baseline(jobs: Sequence[SimJob], quotas: dict[str, int], policy: str = "fifo", placement: str = "node8") -> list[JobOutcome]:
    """Every VC of ``quotas`` (GPUs, multiples of 8) simulated independently; outcomes of all jobs."""
    per_vc: dict[str, list[SimJob]] = {}
    for job in jobs:
        if job.queue not in quotas:
            raise ValueError(f"job {job.name}: queue {job.queue!r} has no VC size")
        per_vc.setdefault(job.queue, []).append(job)
    out: list[JobOutcome] = []
    for vc, vc_jobs in per_vc.items():
        out.extend(simulate_vc(vc_jobs, quotas[vc] // GPUS_PER_NODE, policy, placement))
    return out


def lower_bound(jobs: Sequence[SimJob]) -> Stats:
    """No queueing at all: every job starts at its submit time."""
    return Stats.of(JobOutcome(j.name, j.queue, j.submit_s, j.submit_s, j.duration_s) for j in jobs)
