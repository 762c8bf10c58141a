"""Philly-sized engine run: 88 nodes x 8 GPUs, 14 queues, Philly-like job sizes and run times.

    PYTHONPATH=src python benchmarks/bench_sim_engine.py [JOBS] [PERIOD_S]

Prints wall time, cycles, per-cycle wall time (snapshot/schedule split) and the extrapolation to
the whole Philly trace (82k jobs). The workload is synthetic so the benchmark needs no trace.
"""
from __future__ import annotations

import random
import statistics
import sys
import time

sys.path.insert(0, "tests")
from _sim_helpers import node, queue  # noqa: E402

from gpuplane.sim.engine import run_jobs  # noqa: E402
from gpuplane.sim.jobs import SimJob  # noqa: E402

PHILLY_JOBS = 82_000
PHILLY_SPAN_S = 110 * 86400


def workload(n: int, seed: int = 0) -> list[SimJob]:
    rng = random.Random(seed)
    rate = PHILLY_JOBS / PHILLY_SPAN_S
    t, jobs = 0.0, []
    for i in range(n):
        t += rng.expovariate(rate)
        gpus = rng.choices([1, 2, 4, 8], [0.7, 0.1, 0.1, 0.1])[0]
        jobs.append(SimJob(name=f"j{i}", queue=f"vc{rng.randrange(14)}", submit_s=round(t), gpus_per_pod=gpus,
                           duration_s=round(min(rng.lognormvariate(7.5, 2.0), 30 * 86400)) + 1))
    return jobs


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    period = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    nodes = [node(f"n{i:02d}") for i in range(88)]
    queues = [queue(f"vc{i}", 704 // 14) for i in range(14)]
    jobs = workload(n)
    t0 = time.perf_counter()
    log = run_jobs(nodes, queues, jobs, period_s=period, write_status=False, frames=0)
    wall = time.perf_counter() - t0
    walls = [c.wall_s for c in log.cycles]
    done = sum(1 for r in log.jobs.values() if r.end_s is not None)
    print(f"jobs {n} period {period:g}s: wall {wall:.1f}s, sim {log.sim_seconds / 86400:.1f} days, cycles {len(walls)}, "
          f"jobs done {done}, cycle mean {1000 * statistics.mean(walls):.1f} ms p99 "
          f"{1000 * sorted(walls)[int(0.99 * (len(walls) - 1))]:.1f} ms, max pending {max(c.pending for c in log.cycles)}")
    print(f"extrapolated to {PHILLY_JOBS} jobs: {wall * PHILLY_JOBS / n:.0f}s")


if __name__ == "__main__":
    main()
