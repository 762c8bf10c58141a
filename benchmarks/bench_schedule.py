"""Scheduler benchmark: ``gpuplane schedule``'s allocate cycle on large synthetic clusters.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/bench_schedule.py [--quick]`` (``make bench``
runs the full version). Read benchmarks/README.md ("bench_schedule.py") for every figure.

For each workload (benchmarks/_snapshots.py: one-GPU pods, gangs of 8 x 8 GPUs, fractional 0.5
pods, DRA-claim pods) and cluster size (500 / 1,000 / 5,000 nodes x 8 GPUs, 4 departments x 5
queues), in process:

1. the manifests are generated and prepared as the CLI would after YAML parsing
   (``manifests.schedule_objects``: v1 conversion + defaults), not timed as part of anything;
2. ``build_snapshot`` is timed ("snapshot");
3. one scheduling cycle = ``run_rounds(snapshot, rounds=1)`` (cluster state + DRA allocator
   set-up, fair shares, the allocate action; the other actions are still stubs) is timed, and
   repeated on the same immutable snapshot to get p50 / p99. pods/s = pods bound in the cycle /
   cycle time.

Each scenario is capped (``--timeout``, default 120 s wall for all its cycles): a cycle still
running at the cap is interrupted and reported as "timed out" with the pods bound so far.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import math
import platform
import pstats
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

import _snapshots as S  # noqa: E402
from gpuplane.scheduler import cycle as _cycle  # noqa: E402
from gpuplane.scheduler import manifests as M  # noqa: E402
from gpuplane.scheduler.cycle import run_rounds  # noqa: E402
from gpuplane.scheduler.snapshot import SnapshotCache, build_snapshot  # noqa: E402

SIZES = (500, 1000, 5000)
QUICK_SIZES = (500,)

# Targets from the issue, printed beside the figures.
TARGETS = {
    # (workload, nodes) -> (kind, threshold, text)
    ("1gpu", 5000): ("pods/s", 1000.0, ">= 1,000 pods/s (kube-scheduler CI floor 680)"),
    ("dra1gpu", 500): ("pods/s", 300.0, ">= 300 pods/s (kube-scheduler DRA 51-81 on CI)"),
}
CYCLE_TARGET = ("1gpu", 5000, 1.0, "10k pending @ 5,000 nodes: cycle p99 < 1 s (KAI: minutes @ 1,000)")


class ScenarioTimeout(BaseException):
    """Raised by SIGALRM inside a cycle (BaseException so the scheduler's ``except`` clauses
    do not swallow it)."""


def _alarm(signum: int, frame: Any) -> None:
    raise ScenarioTimeout()


# Progress probe: counts placements while a cycle runs, so that a timed-out cycle still says
# how far it got. It wraps the cycle's private ``_Cluster.apply`` when that exists (the
# scheduler is under active development; without it a timed-out row says "?" bound).
_PROGRESS = {"applied": 0}
_ORIG_APPLY = getattr(getattr(_cycle, "_Cluster", None), "apply", None)
if _ORIG_APPLY is not None:
    def _counting_apply(self: Any, *args: Any, **kwargs: Any) -> Any:
        _PROGRESS["applied"] += 1
        return _ORIG_APPLY(self, *args, **kwargs)

    _cycle._Cluster.apply = _counting_apply  # type: ignore[attr-defined]

# Phase breakdown: time spent in the cluster set-up (``_Cluster.__init__``), ``begin_round``
# (jobs, fair shares) and each action, by wrapping those private methods when they exist.
NOW = "2026-01-01T01:00:00Z"  # fixed: run_rounds reads the wall clock when no time is given
_PHASES: dict[str, float] = {}
_PHASE_NAMES = ("__init__", "begin_round") + tuple(getattr(_cycle, "ACTION_ORDER", ()))


def _timed(name: str, fn: Any) -> Any:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(self, *args, **kwargs)
        finally:
            _PHASES[name] = _PHASES.get(name, 0.0) + time.perf_counter() - t0
    return wrapper


for _name in _PHASE_NAMES:
    _fn = getattr(getattr(_cycle, "_Cluster", None), _name, None)
    if callable(_fn):
        setattr(_cycle._Cluster, _name, _timed("init" if _name == "__init__" else _name, _fn))


@dataclass
class Row:
    workload: str
    nodes: int
    pods: int
    prep_s: float = 0.0
    snapshot_s: float = 0.0
    cycles: list[float] = field(default_factory=list)
    bound: int = 0
    timed_out: bool = False
    partial_bound: Optional[int] = None  # pods applied when the timed-out cycle was interrupted
    partial_s: float = 0.0
    error: str = ""
    phases: dict[str, float] = field(default_factory=dict)  # summed over the measured cycles

    def p(self, q: float) -> float:
        xs = sorted(self.cycles)
        if not xs:
            return math.nan
        # nearest-rank percentile (with few cycles p99 is the slowest one)
        return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))]

    @property
    def pods_per_s(self) -> float:
        if self.cycles:
            return self.bound / statistics.median(self.cycles)
        if self.partial_bound is not None and self.partial_s > 0:
            return self.partial_bound / self.partial_s
        return math.nan


def _fmt_s(x: float) -> str:
    if math.isnan(x):
        return "-"
    if x < 0.01:
        return f"{x * 1000:.1f} ms"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def run_scenario(workload: str, nodes: int, pods: int, timeout: float, max_cycles: int) -> Row:
    row = Row(workload, nodes, pods)
    try:
        t0 = time.perf_counter()
        objs = M.schedule_objects(S.scenario(workload, nodes, pods))
        row.prep_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        snap = build_snapshot(objs)
        row.snapshot_s = time.perf_counter() - t0
        del objs
    except Exception as err:  # noqa: BLE001
        row.error = f"building the snapshot: {type(err).__name__}: {err}"
        return row
    gc.collect()
    gc.freeze()  # the snapshot is long-lived (like an informer cache): keep the cyclic GC off it
    old = signal.signal(signal.SIGALRM, _alarm)
    start = time.perf_counter()
    try:
        while len(row.cycles) < max_cycles:
            left = timeout - (time.perf_counter() - start)
            if row.cycles and max(row.cycles) > left:
                break  # another cycle would not fit in the cap
            if left <= 0:
                break
            _PROGRESS["applied"] = 0
            _PHASES.clear()
            signal.setitimer(signal.ITIMER_REAL, left)
            t0 = time.perf_counter()
            try:
                result = run_rounds(snap, 1, now=NOW)
            except ScenarioTimeout:
                if not row.cycles:
                    row.timed_out = True
                    row.partial_s = time.perf_counter() - t0
                    row.partial_bound = _PROGRESS["applied"] if _ORIG_APPLY is not None else None
                break
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            row.cycles.append(time.perf_counter() - t0)
            for k, v in _PHASES.items():
                row.phases[k] = row.phases.get(k, 0.0) + v
            row.bound = len(result.placements)
            del result
    except Exception as err:  # noqa: BLE001 - the scheduler is being edited; report, do not die
        row.error = f"{type(err).__name__}: {err}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        gc.unfreeze()
        del snap
        gc.collect()
    return row


def _verdict(row: Row) -> str:
    t = TARGETS.get((row.workload, row.nodes))
    parts = []
    if t is not None:
        ok = row.pods_per_s >= t[1] if not math.isnan(row.pods_per_s) else False
        parts.append(f"{'MET' if ok and not row.timed_out else 'MISSED'} {t[2]}")
    if (row.workload, row.nodes) == CYCLE_TARGET[:2]:
        if row.pods >= 10000:
            ok = bool(row.cycles) and row.p(0.99) < CYCLE_TARGET[2]
            parts.append(f"{'MET' if ok else 'MISSED'} {CYCLE_TARGET[3]}")
        else:
            parts.append(f"(cycle target needs 10,000 pods; ran {row.pods:,})")
    return "; ".join(parts)


def print_table(rows: list[Row]) -> None:
    head = ("workload", "nodes", "pending", "bound", "cap", "prep", "snapshot", "cycles", "cycle p50", "cycle p99",
            "pods/s", "target")
    lines = [head]
    for r in rows:
        if r.error:
            lines.append((r.workload, f"{r.nodes:,}", f"{r.pods:,}", "-", "-", _fmt_s(r.prep_s), _fmt_s(r.snapshot_s),
                          "0", "error", "error", "-", r.error[:80]))
            continue
        cap = S.gpu_capacity_pods(r.workload, r.nodes)
        if r.timed_out:
            bound = f"{r.partial_bound:,}+" if r.partial_bound is not None else "?"
            pps = f"~{r.pods_per_s:,.0f} (partial)" if not math.isnan(r.pods_per_s) else "-"
            p50 = p99 = f"timed out (> {r.partial_s:.0f} s)"
            n = "0"
        else:
            bound = f"{r.bound:,}"
            pps = f"{r.pods_per_s:,.0f}"
            p50, p99 = _fmt_s(r.p(0.5)), _fmt_s(r.p(0.99))
            n = str(len(r.cycles))
        lines.append((r.workload, f"{r.nodes:,}", f"{r.pods:,}", bound, f"{min(cap, r.pods):,}", _fmt_s(r.prep_s),
                      _fmt_s(r.snapshot_s), n, p50, p99, pps, _verdict(r)))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    for k, line in enumerate(lines):
        print("  ".join(str(c).ljust(w) if i in (0, 11) else str(c).rjust(w) for i, (c, w) in enumerate(zip(line, widths))).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))


def profile(workload: str, nodes: int, pods: int, top: int) -> None:
    objs = M.schedule_objects(S.scenario(workload, nodes, pods))
    snap = build_snapshot(objs)
    del objs
    gc.collect()
    gc.freeze()
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    result = run_rounds(snap, 1, now=NOW)
    prof.disable()
    wall = time.perf_counter() - t0
    print(f"\ncProfile: {workload} @ {nodes:,} nodes, {pods:,} pending pods: one cycle {wall:.2f} s under the profiler,"
          f" {len(result.placements):,} bound")
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        st = pstats.Stats(prof, stream=out)
        st.strip_dirs().sort_stats(key).print_stats(top)
        text = out.getvalue()
        body = text[text.find("   ncalls"):] if "   ncalls" in text else text
        print(f"\n-- top {top} by {key} --")
        print(body.rstrip())


# --- the simulator's case ------------------------------------------------------------------------

SIM_PENDING = (100, 1000, 3000)


def _sim_event(objs: list[dict[str, Any]], k: int) -> None:
    """One event: a pending pod changes (new cpu request, new resourceVersion), round robin."""
    pods = [o for o in objs if o.get("kind") == "Pod" and not o["spec"].get("nodeName")]
    pod = pods[k % len(pods)]
    pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] = str(1 + k % 3)
    meta = pod["metadata"]
    meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)


def run_sim(pending_counts: tuple[int, ...], events: int) -> None:
    """Per event: ``build_snapshot(objects, cache=...)`` + ``run_rounds(snapshot, 1)`` on the
    simulator-sized cluster (``_snapshots.sim_scenario``), after one uncached build warmed the cache."""
    head = ("pending", "running", "nodes", "build (no cache)", "build (cache) p50", "cycle p50", "cycle p99",
            "event p50", "event p99", "bound", "evicted")
    lines: list[tuple] = [head]
    phase_names = ("init", "begin_round") + tuple(getattr(_cycle, "ACTION_ORDER", ()))
    phase_rows: list[tuple] = [("pending",) + phase_names]
    for pending in pending_counts:
        objs = M.schedule_objects(S.sim_scenario(pending))
        cache = SnapshotCache()
        t0 = time.perf_counter()
        build_snapshot(objs)
        cold = time.perf_counter() - t0
        build_snapshot(objs, cache=cache)
        builds, cycles, totals = [], [], []
        bound = evicted = 0
        phases: dict[str, float] = {}
        for k in range(events):
            _sim_event(objs, k)
            _PHASES.clear()
            t0 = time.perf_counter()
            snap = build_snapshot(objs, cache=cache)
            t1 = time.perf_counter()
            result = run_rounds(snap, 1, now=NOW)
            t2 = time.perf_counter()
            builds.append(t1 - t0)
            cycles.append(t2 - t1)
            totals.append(t2 - t0)
            bound, evicted = len(result.placements), len(result.evictions)
            for name, v in _PHASES.items():
                phases[name] = phases.get(name, 0.0) + v
        phase_rows.append((f"{pending:,}",) + tuple(_fmt_s(phases.get(n, 0.0) / events) for n in phase_names))
        row = Row("sim", S.SIM_NODES, pending, cycles=cycles)
        tot = Row("sim", S.SIM_NODES, pending, cycles=totals)
        lines.append((f"{pending:,}", f"{S.SIM_RUNNING:,}", str(S.SIM_NODES), _fmt_s(cold),
                      _fmt_s(statistics.median(builds)), _fmt_s(row.p(0.5)), _fmt_s(row.p(0.99)),
                      _fmt_s(tot.p(0.5)), _fmt_s(tot.p(0.99)), f"{bound:,}", f"{evicted:,}"))
        print(f"  .. sim @ {pending:,} pending: event p50 {_fmt_s(tot.p(0.5))}", file=sys.stderr, flush=True)
    print()
    print(f"simulator case: {events} events per row, each = one pending pod changed (new resourceVersion), then"
          " build_snapshot(objects, cache=SnapshotCache()) + run_rounds(snapshot, 1)")
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    for k, line in enumerate(lines):
        print("  ".join(str(c).rjust(w) for c, w in zip(line, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))
    print("where a simulator cycle's time goes (mean per event):")
    widths = [max(len(str(line[i])) for line in phase_rows) for i in range(len(phase_rows[0]))]
    for k, line in enumerate(phase_rows):
        print("  ".join(str(c).rjust(w) for c, w in zip(line, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="500 nodes, 500 pods, 15 s cap per scenario (< 1 min)")
    ap.add_argument("--sizes", default=None, help="comma-separated node counts (default 500,1000,5000)")
    ap.add_argument("--workloads", default=None, help=f"comma-separated subset of {','.join(S.WORKLOADS)}")
    ap.add_argument("--pods", type=int, default=None, help="pending pods per scenario (default 10,000; quick 500)")
    ap.add_argument("--timeout", type=float, default=None, help="wall-clock cap per scenario, s (default 120; quick 12)")
    ap.add_argument("--cycles", type=int, default=None, help="cycles per scenario at most (default 5; quick 2)")
    ap.add_argument("--profile", default=None, metavar="WORKLOAD@NODES[xPODS]",
                    help="instead of the table: cProfile one cycle, e.g. 1gpu@5000x1000")
    ap.add_argument("--top", type=int, default=25, help="profile rows to print")
    ap.add_argument("--sim", default=None, metavar="N[,N...]",
                    help="only the simulator case, with these pending-pod counts (default 100,1000,3000)")
    ap.add_argument("--sim-events", type=int, default=None, help="events per simulator row (default 20; quick 5)")
    ap.add_argument("--no-sim", action="store_true", help="skip the simulator case")
    args = ap.parse_args(argv)
    sim_events = args.sim_events if args.sim_events is not None else (5 if args.quick else 20)
    if args.sim:
        run_sim(tuple(int(x) for x in args.sim.split(",")), sim_events)
        return 0

    if args.profile:
        workload, _, size = args.profile.partition("@")
        nodes, _, pods = size.partition("x")
        if workload not in S.WORKLOADS:
            ap.error(f"--profile: unknown workload {workload!r}")
        profile(workload, int(nodes or 500), int(pods or 1000), args.top)
        return 0

    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else (QUICK_SIZES if args.quick else SIZES)
    workloads = tuple(args.workloads.split(",")) if args.workloads else tuple(S.WORKLOADS)
    for w in workloads:
        if w not in S.WORKLOADS:
            ap.error(f"unknown workload {w!r}")
    pods = args.pods if args.pods is not None else (500 if args.quick else 10000)
    timeout = args.timeout if args.timeout is not None else (12.0 if args.quick else 120.0)
    max_cycles = args.cycles if args.cycles is not None else (2 if args.quick else 5)

    print(f"bench_schedule: {'quick' if args.quick else 'full'} mode; Python {platform.python_version()}"
          f" on {platform.machine()}, {platform.system()}; cap {timeout:.0f} s per scenario, up to {max_cycles} cycles")
    print("queues: 4 departments x 5 leaf queues (KAI Queue scheduling.run.ai/v2, GPU quota = cluster GPUs / 20 per leaf);"
          " nodes x 8 GPUs")
    for w in workloads:
        print(f"  {w:8s} {S.WORKLOADS[w]}")
    started = time.perf_counter()
    rows: list[Row] = []
    for n in sizes:
        for w in workloads:
            row = run_scenario(w, n, pods, timeout, max_cycles)
            rows.append(row)
            status = ("timed out" if row.timed_out else row.error or
                      f"p50 {_fmt_s(row.p(0.5))}, {row.pods_per_s:,.0f} pods/s")
            print(f"  .. {w} @ {n:,} nodes: {status}", file=sys.stderr, flush=True)
    print()
    print_table(rows)
    names = [n for n in ("init", "begin_round") + tuple(getattr(_cycle, "ACTION_ORDER", ()))
             if any(n in r.phases for r in rows)]
    if names:
        print()
        print("where a cycle's time goes (mean per cycle; init = cluster state + DRA allocator set-up, begin_round ="
              " jobs + fair shares):")
        head = ("workload", "nodes") + tuple(names)
        lines = [head]
        for r in rows:
            if r.cycles:
                lines.append((r.workload, f"{r.nodes:,}") + tuple(_fmt_s(r.phases.get(n, 0.0) / len(r.cycles)) for n in names))
        widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
        for k, line in enumerate(lines):
            print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(line, widths))))
            if k == 0:
                print("  ".join("-" * w for w in widths))
    print()
    print("prep = manifests -> v1 + defaults (what `gpuplane schedule` does after YAML parsing; not part of any figure);"
          " snapshot = build_snapshot; cycle = run_rounds(snapshot, 1);")
    print("pods/s = pods bound / cycle p50; cap = pods the empty cluster can hold by GPUs; timed-out rows: pods bound"
          " before the interruption / time until it.")
    if not args.no_sim:
        run_sim((100,) if args.quick else SIM_PENDING, sim_events)
    print(f"total wall time {time.perf_counter() - started:.1f} s")
    return 1 if any(r.error for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
