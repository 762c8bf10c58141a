"""``gpuplane bench philly``: queueing on the Philly trace, FIFO / SJF-oracle baselines vs gpuplane.

Protocol (shared/reference/anchors.md 2.3): Philly jobs (Sia's subset) on the Helios VC sizes
scaled by ``--scale`` (x0.25 = 704 GPUs, 88 nodes of 8 GPUs); jobs of VCs without a size and
jobs larger than their VC are dropped; jobs of up to 8 GPUs run inside one node.

* ``fifo`` / ``sjf``: the reference per-VC simulators of :mod:`gpuplane.sim.baselines` (each VC
  owns ``node num x scale`` nodes; node8 placement).
* ``gpuplane``: the real scheduler on the simulated cluster (:func:`gpuplane.sim.engine.run_jobs`):
  one shared cluster of the same total size (HGX H100 nodes, device-plugin GPUs), one KAI Queue per
  VC with ``gpu quota`` = the VC's GPUs at that scale, ``limit`` unlimited and ``overQuotaWeight``
  = the quota. So, as KAI does by default, a VC may borrow idle GPUs beyond its quota, the spare
  capacity is split in proportion to VC size, and borrowed GPUs are reclaimable when the owner
  needs them back (the reclaimed job restarts from scratch).

JCT = finish - submit; queueing delay = first start - submit; percentiles are nearest-rank.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NoReturn, Optional, Sequence

import click

from gpuplane.sim.baselines import GPUS_PER_NODE, JobOutcome, Stats, lower_bound, run_baseline
from gpuplane.sim.jobs import SimJob
from gpuplane.sim.traces import TraceError, philly_jobs

POLICIES = ("fifo", "sjf", "gpuplane")
REPO_ROOT = Path(__file__).resolve().parents[3]


def _shared_philly() -> Path:
    """``../shared/traces/philly`` beside the repository (one level further up for a worktree)."""
    for base in (REPO_ROOT.parent, REPO_ROOT.parent.parent):
        if (base / "shared" / "traces" / "philly").is_dir():
            return base / "shared" / "traces" / "philly"
    return REPO_ROOT.parent / "shared" / "traces" / "philly"


_PHILLY_DIR = _shared_philly()
DEFAULT_TRACE = _PHILLY_DIR / "philly_sia_trace.csv"
DEFAULT_VCS = _PHILLY_DIR / "philly_vc_nodes_helios.csv"
NODE_PROFILE = "hgx-h100"

# anchors.md 2.3, Helios x0.25 (704 GPUs), node8 placement: avg JCT, p99 JCT, avg queue, p99 queue.
REFERENCE = {
    "fifo": {"avg_jct_s": 238_724, "p99_jct_s": 3_390_313, "avg_queue_s": 225_587, "p99_queue_s": 3_345_076},
    "sjf": {"avg_jct_s": 35_044, "p99_jct_s": 538_157, "avg_queue_s": 21_907, "p99_queue_s": 240_812},
    "lower_bound": {"avg_jct_s": 13_137},
}
GOAL_FACTOR = 1.5  # gpuplane's default should stay within 1.5x of SJF-oracle's average JCT


@dataclass
class PolicyResult:
    policy: str
    stats: Stats
    wall_s: float
    unfinished: int = 0
    evictions: int = 0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"policy": self.policy, **self.stats.as_dict(), "wall_s": round(self.wall_s, 3)}
        if self.policy == "gpuplane":
            out["unfinished"] = self.unfinished
            out["evictions"] = self.evictions
        return out


def philly_cluster(gpus: int) -> list[dict[str, Any]]:
    """``gpus / 8`` HGX H100 nodes (device-plugin mode) named ``philly-NNN``."""
    from gpuplane.sim.profiles import PROFILES, node_objects

    return [o for i in range(math.ceil(gpus / GPUS_PER_NODE)) for o in node_objects(PROFILES[NODE_PROFILE], f"philly-{i:03d}")]


def philly_queues(quotas: dict[str, int]) -> list[dict[str, Any]]:
    """One KAI Queue per VC: quota = VC GPUs, no limit, over-quota weight = quota."""
    from gpuplane.scheduler.manifests import queue

    return [queue(vc, gpu_quota=g, gpu_limit=-1, weight=g) for vc, g in quotas.items()]


def run_gpuplane(jobs: Sequence[SimJob], quotas: dict[str, int], period_s: float = 300.0,
                 progress: Optional[Callable[[float, float], None]] = None) -> PolicyResult:
    """The gpuplane scheduler on one shared cluster of ``sum(quotas)`` GPUs (see module doc)."""
    from gpuplane.sim.engine import run_jobs

    t0 = time.perf_counter()
    log = run_jobs(philly_cluster(sum(quotas.values())), philly_queues(quotas), list(jobs), period_s=period_s,
                   progress=progress, scenario="philly", policy="default", write_status=False, frames=0)
    wall = time.perf_counter() - t0
    outs = [JobOutcome(r.name, r.queue, r.submit_s, r.first_start_s if r.first_start_s is not None else r.start_s,
                       r.end_s - (r.first_start_s if r.first_start_s is not None else r.start_s))
            for r in log.jobs.values() if r.end_s is not None and r.start_s is not None]
    unfinished = sum(1 for r in log.jobs.values() if r.end_s is None)
    return PolicyResult("gpuplane", Stats.of(outs), wall, unfinished, sum(r.evictions for r in log.jobs.values()))


def run_policy(policy: str, jobs: Sequence[SimJob], quotas: dict[str, int], period_s: float = 300.0,
               progress: Optional[Callable[[float, float], None]] = None) -> PolicyResult:
    if policy == "gpuplane":
        return run_gpuplane(jobs, quotas, period_s, progress)
    t0 = time.perf_counter()
    stats = Stats.of(run_baseline(jobs, quotas, policy, "node8"))
    return PolicyResult(policy, stats, time.perf_counter() - t0)


def _fail(message: str) -> NoReturn:
    from ..cli.main import fail

    fail(message)


def _s(v: float) -> str:
    return f"{v:,.0f}"


def render(results: list[PolicyResult], lb: Stats, scale: float, jobs: int, gpus: int, trace_s: float) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Philly, {jobs:,} jobs, Helios VCs x{scale:g} = {gpus} GPUs ({gpus // GPUS_PER_NODE} nodes x 8)")
    for col in ("policy", "avg JCT s", "p50 JCT", "p99 JCT", "avg queue s", "p50 queue", "p99 queue", "reference avg JCT", "wall s"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    reference = scale == 0.25 and jobs == REFERENCE_JOBS
    for r in results:
        ref = REFERENCE.get(r.policy, {}).get("avg_jct_s") if reference else None
        table.add_row(r.policy, _s(r.stats.avg_jct_s), _s(r.stats.p50_jct_s), _s(r.stats.p99_jct_s), _s(r.stats.avg_queue_s),
                      _s(r.stats.p50_queue_s), _s(r.stats.p99_queue_s), _s(ref) if ref else "-", f"{r.wall_s:.1f}")
    table.add_row("lower bound", _s(lb.avg_jct_s), _s(lb.p50_jct_s), _s(lb.p99_jct_s), "0", "0", "0",
                  _s(REFERENCE["lower_bound"]["avg_jct_s"]) if reference else "-", "")
    buf = StringIO()
    console = Console(file=buf, width=140, force_terminal=False, color_system=None)
    console.print(table)
    by = {r.policy: r for r in results}
    if "gpuplane" in by and "sjf" in by:
        ratio = by["gpuplane"].stats.avg_jct_s / by["sjf"].stats.avg_jct_s
        verdict = "within" if ratio <= GOAL_FACTOR else "NOT within"
        console.print(f"gpuplane / SJF-oracle average JCT: {ratio:.2f}x ({verdict} the {GOAL_FACTOR}x goal); "
                      f"unfinished jobs {by['gpuplane'].unfinished}, evictions {by['gpuplane'].evictions}")
    console.print(f"trace read in {trace_s:.1f} s. fifo/sjf: per-VC reference simulators (anchors.md 2.3, node8); "
                  "gpuplane: the scheduler on one shared cluster, one KAI queue per VC (quota = VC GPUs, may borrow idle GPUs).")
    return buf.getvalue()


REFERENCE_JOBS = 82_229  # jobs kept at x0.25 (the reference figures are for the whole trace)


@click.command("philly", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--trace", "trace_csv", default=str(DEFAULT_TRACE), show_default=True, metavar="CSV",
              help="Philly jobs (Sia's philly.csv).")
@click.option("--vcs", "vc_csv", default=str(DEFAULT_VCS), show_default=True, metavar="CSV",
              help="VC sizes in 8-GPU nodes (HeliosArtifact philly_vc.csv).")
@click.option("--scale", type=float, default=0.25, show_default=True, help="Multiply every VC's node count.")
@click.option("--policy", type=click.Choice(POLICIES + ("all",)), default="all", show_default=True)
@click.option("--limit", type=int, default=None, metavar="N", help="Only the first N jobs by submit time (quick runs).")
@click.option("--period", "period_s", type=float, default=300.0, show_default=True,
              help="gpuplane: at most one scheduling cycle per this many simulated seconds.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def philly_command(trace_csv: str, vc_csv: str, scale: float, policy: str, limit: Optional[int], period_s: float,
                   output: str) -> None:
    """Average / p50 / p99 JCT and queueing delay on the Philly trace: FIFO and SJF-oracle
    reference baselines and gpuplane's default scheduler on the same cluster size."""
    for label, path in (("--trace", trace_csv), ("--vcs", vc_csv)):
        if not Path(path).is_file():
            _fail(f"{label}: {path} does not exist (the traces live in shared/traces/philly; pass the path)")
    if not scale > 0 or scale > 100:
        _fail(f"--scale: {scale} must be in (0, 100]")
    if limit is not None and limit < 1:
        _fail(f"--limit: {limit} must be >= 1")
    if period_s < 0:
        _fail(f"--period: {period_s} must be >= 0")
    t0 = time.perf_counter()
    try:
        jobs, quotas = philly_jobs(trace_csv, vc_csv, scale)
    except TraceError as err:
        _fail(str(err))
    trace_s = time.perf_counter() - t0
    if limit is not None:
        order = sorted(range(len(jobs)), key=lambda k: (jobs[k].submit_s, jobs[k].duration_s, k))[:limit]
        jobs = [jobs[k] for k in sorted(order)]
    if not jobs:
        _fail(f"{trace_csv}: no job belongs to a VC of {vc_csv}")
    policies = list(POLICIES) if policy == "all" else [policy]
    results = []
    for p in policies:
        if p == "gpuplane" and output == "table":
            from rich.progress import Progress

            with Progress(transient=True) as bar:
                task = bar.add_task("gpuplane (simulated time)", total=None)
                results.append(run_policy(p, jobs, quotas, period_s,
                                          lambda t, total: bar.update(task, completed=t, total=total)))
        else:
            results.append(run_policy(p, jobs, quotas, period_s))
    lb = lower_bound(jobs)
    gpus = sum(quotas.values())
    if output == "json":
        doc = {"trace": trace_csv, "vcs": vc_csv, "scale": scale, "jobs": len(jobs), "gpus": gpus, "vcs_count": len(quotas),
               "policies": [r.as_dict() for r in results], "lower_bound": lb.as_dict(),
               "reference": REFERENCE if scale == 0.25 and len(jobs) == REFERENCE_JOBS else None}
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(render(results, lb, scale, len(jobs), gpus, trace_s), nl=False)
