"""A ``SimLog`` to the numbers of ``metrics.json`` (definitions: shared/reference/anchors.md 6.4).

Pure functions over plain data, so each metric can be checked against a hand-built log.

Conventions, chosen once here:
  * Time-weighted means: a ``Sample`` holds from its ``t`` until the next sample's ``t``; the last
    one holds until the end of the run, ``max(log.sim_seconds, last sample t)``. The window starts
    at the first sample. If the window has zero length, the plain mean of the samples is used.
  * Percentiles are nearest-rank: the value at rank ``ceil(p/100 * n)`` of the sorted values.
  * Queueing delay of a job = ``first_start_s - submit_s`` (the first time its whole gang ran);
    jobs that never started are left out of delay statistics and counted in ``jobs_never_started``.
  * JCT = ``end_s - submit_s`` over finished jobs; bounded slowdown = ``max(1, JCT / max(duration, 10 s))``.
  * Jain's fairness index is taken over queues with x_q = received GPU-time / entitled GPU-time,
    where entitlement is the fair share the scheduler itself computed (``Sample.queue_fair_share``),
    integrated over time. Queues with zero entitled GPU-time are skipped (x_q is undefined). With no
    such queue, or when every x_q is 0, all queues were treated alike and the index is 1.0.
  * Empty statistics (no jobs) are 0.0 with ``count`` 0, so every field keeps its JSON type.
"""
from __future__ import annotations

import math
from collections import defaultdict
from functools import cached_property
from typing import Any, Callable, Iterable, Optional, Sequence

from gpuplane.sim.log import JobRecord, Sample, SimLog

SLOWDOWN_FLOOR_S = 10.0
"""Bounded slowdown divides by at least this many seconds, so tiny jobs don't dominate."""


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of ``values`` (need not be sorted); 0.0 for no values."""
    if not values:
        return 0.0
    if not 0 <= p <= 100:
        raise ValueError(f"percentile: p must be in [0, 100], got {p}")
    ordered = sorted(values)
    rank = max(1, math.ceil(p * len(ordered) / 100 - 1e-9))
    return float(ordered[rank - 1])


def distribution(values: Sequence[float], percentiles: Iterable[float] = (50, 95, 99)) -> dict[str, float | int]:
    """count, mean, the given nearest-rank percentiles (keys ``p50``...) and max."""
    out: dict[str, float | int] = {"count": len(values), "mean": sum(values) / len(values) if values else 0.0}
    ordered = sorted(values)
    for p in percentiles:
        out[f"p{p:g}"] = percentile(ordered, p)
    out["max"] = float(ordered[-1]) if ordered else 0.0
    return out


# ---------------------------------------------------------------- time-weighted integrals


def run_end(log: SimLog) -> float:
    """The end of the observed window: the run's end, or the last sample if that is later."""
    last = max((s.t for s in log.samples), default=0.0)
    return max(log.sim_seconds, last)


class Timeline:
    """Samples in time order with how long each one holds: computed once, integrated many times."""

    def __init__(self, samples: Sequence[Sample], end: float):
        self.samples = sorted(samples, key=lambda s: s.t)
        times = [s.t for s in self.samples]
        self.start = times[0] if times else 0.0
        self.end = max([end, *times[-1:]])
        self.dts = [b - a for a, b in zip(times, times[1:] + [self.end])]
        self.span = self.end - self.start

    def integral(self, value: Callable[[Sample], float]) -> float:
        return sum(value(s) * dt for s, dt in zip(self.samples, self.dts) if dt)

    def mean(self, value: Callable[[Sample], float]) -> float:
        """Time-weighted mean; the plain mean of the samples if the window has no length."""
        return self.mean_of_integral(self.integral(value) if self.span > 0 else 0.0, value)

    def mean_of_integral(self, integral: float, value: Callable[[Sample], float]) -> float:
        """``integral`` / span, or the plain mean of ``value`` when the window has no length."""
        if not self.samples:
            return 0.0
        if self.span <= 0:
            return sum(value(s) for s in self.samples) / len(self.samples)
        return integral / self.span

    @cached_property
    def queue_integrals(self) -> dict[str, dict[str, float]]:
        """Per queue: ∫ allocated, ∫ fair share, ∫ requested GPUs dt (one pass, shared with deviation)."""
        return self._queue_pass[0]

    @cached_property
    def deviation_integral(self) -> float:
        """∫ Σ_q |allocated_q - fair_share_q| dt."""
        return self._queue_pass[1]

    @cached_property
    def _queue_pass(self) -> tuple[dict[str, dict[str, float]], float]:
        alloc: dict[str, float] = defaultdict(float)
        fair: dict[str, float] = defaultdict(float)
        want: dict[str, float] = defaultdict(float)
        deviation = 0.0
        for sample, dt in zip(self.samples, self.dts):
            if not dt:
                continue  # a sample replaced at the same instant holds for no time
            qa, qf = sample.queue_allocated, sample.queue_fair_share
            gap = 0.0
            for q, v in qa.items():
                alloc[q] += v * dt
                gap += abs(v - qf.get(q, 0.0))
            for q, v in qf.items():
                fair[q] += v * dt
                if q not in qa:
                    gap += abs(v)
            for q, v in sample.queue_requested.items():
                want[q] += v * dt
            deviation += gap * dt
        names = set(alloc) | set(fair) | set(want)
        integrals = {q: {"allocated": alloc.get(q, 0.0), "fair_share": fair.get(q, 0.0), "requested": want.get(q, 0.0)}
                     for q in names}
        return integrals, deviation


def integrate(samples: Sequence[Sample], end: float, value: Callable[[Sample], float]) -> float:
    """∫ value dt with each sample holding until the next (the last until ``end``)."""
    return Timeline(samples, end).integral(value)


def time_mean(samples: Sequence[Sample], end: float, value: Callable[[Sample], float]) -> float:
    """Time-weighted mean of ``value`` over [first sample, end]; plain mean if that window is empty."""
    return Timeline(samples, end).mean(value)


# ---------------------------------------------------------------- job statistics


def queueing_delay(job: JobRecord) -> Optional[float]:
    """Seconds from submit to the first time the whole gang ran; None if it never started."""
    start = job.first_start_s if job.first_start_s is not None else job.start_s
    return None if start is None else start - job.submit_s


def jct(job: JobRecord) -> Optional[float]:
    """Job completion time (end - submit); None if the job did not finish."""
    return None if job.end_s is None else job.end_s - job.submit_s


def bounded_slowdown(job: JobRecord) -> Optional[float]:
    """max(1, JCT / max(duration, 10 s)); None if the job did not finish."""
    t = jct(job)
    return None if t is None else max(1.0, t / max(job.duration_s, SLOWDOWN_FLOOR_S))


def _delays(jobs: Iterable[JobRecord]) -> list[float]:
    return [d for d in (queueing_delay(j) for j in jobs) if d is not None]


def job_counts(jobs: Sequence[JobRecord]) -> dict[str, int]:
    started = sum(1 for j in jobs if queueing_delay(j) is not None)
    return {
        "jobs_submitted": len(jobs),
        "jobs_started": started,
        "jobs_completed": sum(1 for j in jobs if j.end_s is not None),
        "jobs_never_started": len(jobs) - started,
        "pods_submitted": sum(j.pods for j in jobs),
        "pods_completed": sum(j.pods for j in jobs if j.end_s is not None),
    }


def delay_and_jct(jobs: Sequence[JobRecord]) -> dict[str, dict[str, float | int]]:
    """Queueing delay, JCT and bounded slowdown distributions (seconds)."""
    jcts = [t for t in (jct(j) for j in jobs) if t is not None]
    slowdowns = [s for s in (bounded_slowdown(j) for j in jobs) if s is not None]
    return {
        "queueing_delay_s": distribution(_delays(jobs)),
        "jct_s": distribution(jcts),
        "bounded_slowdown": distribution(slowdowns),
    }


def makespan(jobs: Sequence[JobRecord]) -> float:
    """Last finish - first submit over finished jobs (0.0 if none finished)."""
    ends = [j.end_s for j in jobs if j.end_s is not None]
    if not ends:
        return 0.0
    return max(ends) - min(j.submit_s for j in jobs)


# ---------------------------------------------------------------- cluster statistics


def busy_window(log: SimLog) -> tuple[float, float]:
    """From the first submit to the last finish (or the end of the run if a job is unfinished)."""
    jobs = list(log.jobs.values())
    if not jobs:
        return (0.0, 0.0)
    start = min(j.submit_s for j in jobs)
    if any(j.end_s is None for j in jobs):
        end = run_end(log)
    else:
        end = max(j.end_s for j in jobs if j.end_s is not None)
    return (start, max(start, end))


def utilization(log: SimLog, timeline: Optional[Timeline] = None) -> dict[str, float]:
    """∫ allocated GPUs dt / (C·T) over the busy window, offered load ρ, and utilization / min(1, ρ).

    ρ counts each job's work once, so runs whose evicted jobs restart from scratch can exceed 1.0 on
    utilization / min(1, ρ): the excess is redone work.
    """
    timeline = timeline or Timeline(log.samples, run_end(log))
    start, end = busy_window(log)
    span = end - start
    if span <= 0 or log.gpus <= 0:
        return {"utilization": 0.0, "offered_load": 0.0, "utilization_over_load": 0.0, "busy_window_s": span}
    allocated = timeline.integral(lambda s: s.gpus_allocated)
    used = allocated / (log.gpus * span)
    rho = sum(j.gpus * j.duration_s for j in log.jobs.values()) / (log.gpus * span)
    bound = min(1.0, rho)
    return {
        "utilization": used,
        "offered_load": rho,
        "utilization_over_load": used / bound if bound > 0 else 0.0,
        "busy_window_s": span,
    }


def idle_gpu_seconds_while_pending(log: SimLog, timeline: Optional[Timeline] = None) -> float:
    """GPU·s left idle while some pod was pending: the gang/fragmentation waste (anchors 6.3)."""
    return (timeline or Timeline(log.samples, run_end(log))).integral(
        lambda s: max(0.0, log.gpus - s.gpus_allocated) if s.pending_pods > 0 else 0.0,
    )


def queue_names(log: SimLog) -> list[str]:
    """Every queue seen in jobs or samples, sorted."""
    names = {j.queue for j in log.jobs.values()}
    for s in log.samples:
        names.update(s.queue_allocated)
        names.update(s.queue_fair_share)
        names.update(s.queue_requested)
    return sorted(names)


def per_queue(log: SimLog, timeline: Optional[Timeline] = None) -> dict[str, dict]:
    """Time-weighted allocation, fair share and demand per queue, with its jobs' delays."""
    timeline = timeline or Timeline(log.samples, run_end(log))
    integrals = timeline.queue_integrals
    span = timeline.span
    jobs_by_queue: dict[str, list[JobRecord]] = defaultdict(list)
    for job in log.jobs.values():
        jobs_by_queue[job.queue].append(job)
    out: dict[str, dict] = {}
    for q in queue_names(log):
        jobs = jobs_by_queue.get(q, [])
        got = integrals.get(q, {"allocated": 0.0, "fair_share": 0.0, "requested": 0.0})
        if span > 0:
            means = {k: v / span for k, v in got.items()}
        else:  # one instant: the plain mean of the samples
            n = max(1, len(timeline.samples))
            means = {k: sum(getattr(s, f"queue_{k}").get(q, 0.0) for s in timeline.samples) / n for k in got}
        counts = job_counts(jobs)
        out[q] = {
            "allocated_gpu_mean": means["allocated"],
            "fair_share_gpu_mean": means["fair_share"],
            "requested_gpu_mean": means["requested"],
            "received_gpu_hours": got["allocated"] / 3600.0,
            "entitled_gpu_hours": got["fair_share"] / 3600.0,
            "share_ratio": got["allocated"] / got["fair_share"] if got["fair_share"] > 0 else None,
            "jobs_submitted": counts["jobs_submitted"],
            "jobs_completed": counts["jobs_completed"],
            "evictions": sum(j.evictions for j in jobs),
            **delay_and_jct(jobs),
        }
    return out


def jain_index(xs: Sequence[float]) -> float:
    """(Σx)² / (n Σx²); 1.0 for no values or all zeros (nobody treated differently).

    Computed on x / max(x) (the index is scale-free) so huge ratios cannot overflow.
    """
    top = max(xs, default=0.0)
    if top <= 0:
        return 1.0
    scaled = [1.0 if x == top else x / top for x in xs] if math.isfinite(top) else [float(x == top) for x in xs]
    return sum(scaled) ** 2 / (len(scaled) * sum(x * x for x in scaled))


def fairness(log: SimLog, timeline: Optional[Timeline] = None) -> dict[str, float | int]:
    """Jain's index over received/entitled GPU-time per queue, and the mean fair-share deviation."""
    timeline = timeline or Timeline(log.samples, run_end(log))
    integrals = timeline.queue_integrals
    ratios = [v["allocated"] / v["fair_share"] for _, v in sorted(integrals.items()) if v["fair_share"] > 0]

    dev = (timeline.mean_of_integral(timeline.deviation_integral, _deviation) / log.gpus) if log.gpus > 0 else 0.0
    return {"jain_fairness": jain_index(ratios), "jain_queues": len(ratios), "fair_share_deviation": dev}


def _deviation(s: Sample) -> float:
    keys = s.queue_allocated.keys() | s.queue_fair_share.keys()
    return sum(abs(s.queue_allocated.get(q, 0.0) - s.queue_fair_share.get(q, 0.0)) for q in keys)


def decision_latency(log: SimLog) -> dict[str, float | int]:
    """Scheduler cycle wall time (ms) and binding throughput over scheduler time."""
    walls_ms = [c.wall_s * 1000.0 for c in log.cycles]
    busy = sum(c.wall_s for c in log.cycles)
    bound = sum(c.pods_bound for c in log.cycles)
    return {
        "cycles": len(walls_ms),
        "mean_ms": sum(walls_ms) / len(walls_ms) if walls_ms else 0.0,
        "p50_ms": percentile(walls_ms, 50),
        "p99_ms": percentile(walls_ms, 99),
        "max_ms": max(walls_ms, default=0.0),
        "scheduler_wall_s": busy,
        "pods_bound": bound,
        "pods_bound_per_s": bound / busy if busy > 0 else 0.0,
    }


def shape_of(job: JobRecord) -> str:
    """A job's pod shape for failure counts: cpu, share (< 1 GPU), or N GPUs per pod."""
    per_pod = job.gpus / job.pods if job.pods else 0.0
    if per_pod <= 0:
        return "cpu"
    if per_pod < 1:
        return "share"
    return f"{per_pod:g}-gpu"


def never_started_by_shape(jobs: Sequence[JobRecord]) -> dict[str, dict[str, float | int]]:
    """Scheduling failures (anchors 6.4): per pod shape, jobs submitted, never started, and the rate."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for job in jobs:
        entry = counts[shape_of(job)]
        entry[0] += 1
        entry[1] += queueing_delay(job) is None
    return {shape: {"jobs": n, "never_started": f, "rate": f / n} for shape, (n, f) in sorted(counts.items())}


def per_kind(jobs: Sequence[JobRecord]) -> dict[str, dict]:
    """Delay and JCT by job kind (train, inference, notebook, ...)."""
    by_kind: dict[str, list[JobRecord]] = defaultdict(list)
    for job in jobs:
        by_kind[job.kind].append(job)
    return {kind: {"jobs_submitted": len(js), **delay_and_jct(js)} for kind, js in sorted(by_kind.items())}


# ---------------------------------------------------------------- the whole summary


def finite(value: Any) -> Any:
    """The same structure with inf/NaN floats replaced by None, so metrics.json stays strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def summarize(log: SimLog) -> dict:
    """Every ``metrics.json`` key of the CLI contract plus the wider set of anchors.md 6.4."""
    jobs = list(log.jobs.values())
    timeline = Timeline(log.samples, run_end(log))
    alloc_mean = timeline.mean(lambda s: s.gpus_allocated)
    # The engine measures FGD fragmentation at its occupancy frames; a hand-built log may carry it per sample.
    frags = [f.fragmentation for f in log.occupancy if f.fragmentation is not None]
    frag_mean = sum(frags) / len(frags) if frags else timeline.mean(lambda s: s.fragmentation)
    stats = delay_and_jct(jobs)
    fair = fairness(log, timeline)
    return finite({
        "scenario": log.scenario,
        "seed": log.seed,
        "policy": log.policy,
        "sim_seconds": float(log.sim_seconds),
        "wall_seconds": float(log.wall_seconds),
        "gpus": int(log.gpus),
        "nodes": int(log.nodes),
        "gpu_allocation_mean": alloc_mean,
        "gpu_allocation_ratio_mean": alloc_mean / log.gpus if log.gpus > 0 else 0.0,
        "gpu_allocation_max": float(max((s.gpus_allocated for s in log.samples), default=0.0)),
        **utilization(log, timeline),
        "fragmentation_gpu_mean": frag_mean,
        "fragmentation_ratio_mean": frag_mean / log.gpus if log.gpus > 0 else 0.0,
        "idle_gpu_hours_while_pending": idle_gpu_seconds_while_pending(log, timeline) / 3600.0,
        **job_counts(jobs),
        "never_started_by_shape": never_started_by_shape(jobs),
        "evictions": sum(j.evictions for j in jobs),
        "pods_evicted": sum(c.pods_evicted for c in log.cycles),
        "makespan_s": makespan(jobs),
        **stats,
        "queues": per_queue(log, timeline),
        "kinds": per_kind(jobs),
        "jain_fairness": fair["jain_fairness"],
        "jain_queues": fair["jain_queues"],
        "fair_share_deviation": fair["fair_share_deviation"],
        "decision_latency": decision_latency(log),
    })
