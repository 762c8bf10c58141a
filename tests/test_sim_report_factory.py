"""A small self-contained cluster model that produces realistic ``SimLog``s for report tests.

Not the simulator: a tiny periodic scheduler (water-filled fair share, least-served queue first,
best-fit packing on 8-GPU nodes, fractional pods share a GPU) so report tests and figure reviews
don't depend on the engine. Deterministic for a seed.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from gpuplane.sim.log import CycleRecord, JobRecord, OccupancyFrame, Sample, SimLog


@dataclass
class _Job:
    rec: JobRecord
    per_pod: float  # GPUs per pod (fractions < 1 share one GPU)
    placed: list[tuple[int, list[int]]] = field(default_factory=list)  # (node, gpu indices) per pod


def water_fill(capacity: float, demand: dict[str, float], weight: dict[str, float]) -> dict[str, float]:
    """Max-min fair division of capacity among queues by weight, capped by demand."""
    share = {q: 0.0 for q in demand}
    active = {q for q, d in demand.items() if d > 0}
    left = capacity
    while active and left > 1e-9:
        total_w = sum(weight[q] for q in active)
        step = {q: left * weight[q] / total_w for q in active}
        left = 0.0
        for q in list(active):
            give = min(step[q], demand[q] - share[q])
            share[q] += give
            left += step[q] - give
            if demand[q] - share[q] <= 1e-9:
                active.discard(q)
    return share


def make_log(seed: int = 1, nodes: int = 12, gpus_per_node: int = 8, hours: float = 24.0,
             queues: tuple[str, ...] = ("research", "production", "notebooks", "batch"),
             load: float = 1.1, period_s: float = 60.0, frames: int = 8) -> SimLog:
    rng = random.Random(seed)
    capacity = nodes * gpus_per_node
    weight = {q: (3, 2)[i] if i < 2 else 1 for i, q in enumerate(queues)}
    horizon = hours * 3600
    shapes = [(1, 1.0, "train", 0.35), (1, 0.5, "inference", 0.2), (1, 0.25, "notebook", 0.15), (1, 2.0, "train", 0.1),
              (1, 4.0, "train", 0.08), (1, 8.0, "train", 0.07), (2, 8.0, "train", 0.05)]
    mean_gpu_s = sum(p * g * w for p, g, _, w in shapes) * 3600 * 1.6
    rate = load * capacity / mean_gpu_s  # jobs per second
    jobs: list[_Job] = []
    t = 0.0
    while True:
        t += rng.expovariate(rate)
        if t > horizon * 0.8:
            break
        pods, per_pod, kind, _ = rng.choices(shapes, weights=[s[3] for s in shapes])[0]
        queue = rng.choices(queues, weights=[weight[q] for q in queues])[0]
        duration = min(rng.lognormvariate(8.0, 1.0), 12 * 3600)
        rec = JobRecord(f"j{len(jobs)}", queue, kind, pods, pods * per_pod, duration, submit_s=t)
        jobs.append(_Job(rec, per_pod))
    log = SimLog(scenario=f"factory-{seed}", seed=seed, gpus=capacity, nodes=nodes, policy="factory")
    log.jobs = {j.rec.name: j.rec for j in jobs}
    used = [[0.0] * gpus_per_node for _ in range(nodes)]
    running: list[_Job] = []
    pending: list[_Job] = []
    arrivals = iter(jobs)
    nxt = next(arrivals, None)
    frame_every = max(1, int(horizon / period_s / frames))
    cycle = 0
    now = 0.0
    while now <= horizon:
        while nxt is not None and nxt.rec.submit_s <= now:
            pending.append(nxt)
            nxt = next(arrivals, None)
        for job in [j for j in running if j.rec.start_s + j.rec.duration_s <= now]:
            running.remove(job)
            job.rec.end_s = job.rec.start_s + job.rec.duration_s
            for node, gpu_ids in job.placed:
                for g in gpu_ids:
                    used[node][g] = round(used[node][g] - min(1.0, job.per_pod), 6)
        alloc = {q: sum(j.rec.gpus for j in running if j.rec.queue == q) for q in queues}
        demand = {q: alloc[q] + sum(j.rec.gpus for j in pending if j.rec.queue == q) for q in queues}
        fair = water_fill(capacity, demand, weight)
        bound = 0
        for job in sorted(pending, key=lambda j: (alloc[j.rec.queue] / max(fair[j.rec.queue], 1e-9), j.rec.submit_s)):
            placement = _place(used, job, gpus_per_node)
            if placement is None:
                continue
            job.placed = placement
            for node, gpu_ids in placement:
                for g in gpu_ids:
                    used[node][g] += min(1.0, job.per_pod)
            job.rec.start_s = job.rec.first_start_s = now
            pending.remove(job)
            running.append(job)
            alloc[job.rec.queue] += job.rec.gpus
            bound += job.rec.pods
        free_gpus = sum(1 for row in used for u in row if u == 0)
        whole = sum(min(j.rec.gpus, 8) for j in pending if j.per_pod >= 1)
        frag = float(free_gpus) if pending and whole and free_gpus < min(whole, 8) else 0.0
        log.samples.append(Sample(
            t=now, gpus_allocated=sum(alloc.values()), queue_allocated=dict(alloc), queue_fair_share=fair,
            queue_requested=demand, pending_pods=sum(j.rec.pods for j in pending),
            running_pods=sum(j.rec.pods for j in running), fragmentation=frag))
        log.cycles.append(CycleRecord(t=now, wall_s=0.002 + 0.00005 * len(pending) + rng.random() * 0.001,
                                      pods_bound=bound, pods_evicted=0, pending=len(pending)))
        if cycle % frame_every == 0:
            log.occupancy.append(OccupancyFrame(t=now, nodes=[f"node-{i:02d}" for i in range(nodes)],
                                                used=[list(row) for row in used]))
        cycle += 1
        now += period_s
    log.sim_seconds = horizon
    log.wall_seconds = 3.2
    return log


def _place(used: list[list[float]], job: _Job, per_node: int) -> list[tuple[int, list[int]]] | None:
    """Best fit: each pod on the node with the fewest free GPUs that still fits it."""
    trial = [row[:] for row in used]
    out = []
    for _ in range(job.rec.pods):
        best = None
        for n, row in enumerate(trial):
            if job.per_pod < 1:
                fits = [g for g, u in enumerate(row) if 0 < u and u + job.per_pod <= 1.0 + 1e-9] or \
                       [g for g, u in enumerate(row) if u == 0]
                if fits:
                    cand = (0 if row[fits[0]] > 0 else 1, sum(1 for u in row if u == 0), n, fits[:1])
                    best = cand if best is None or cand < best else best
            else:
                free = [g for g, u in enumerate(row) if u == 0]
                if len(free) >= job.per_pod:
                    cand = (0, len(free), n, free[: int(job.per_pod)])
                    best = cand if best is None or cand < best else best
        if best is None:
            return None
        _, _, n, gpu_ids = best
        for g in gpu_ids:
            trial[n][g] += min(1.0, job.per_pod)
        out.append((n, gpu_ids))
    return out
