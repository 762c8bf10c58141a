"""The Philly replay through the real scheduler, on a prefix of the real trace (anchors.md 2.3).

Settings of the replay (docs/simulator.md): scheduling period 300 s, no min-runtime (KAI's
default), Philly jobs are KAI ``train`` jobs (preemptible)."""
from __future__ import annotations

from pathlib import Path

import pytest

from gpuplane.sim.baselines import JobOutcome, Stats, run_baseline
from gpuplane.sim.engine import run_jobs
from gpuplane.sim.philly import philly_cluster, philly_queues
from gpuplane.sim.traces import philly_jobs

SHARED = next((p / "shared" / "traces" / "philly" for p in Path(__file__).resolve().parents
               if (p / "shared" / "traces" / "philly" / "philly_sia_trace.csv").is_file()), None)
PERIOD_S = 300.0


@pytest.mark.skipif(SHARED is None, reason="shared/traces/philly not found")
def test_first_2000_jobs_within_goal_of_sjf_and_no_thrash():
    jobs, quotas = philly_jobs(SHARED / "philly_sia_trace.csv", SHARED / "philly_vc_nodes_helios.csv", 0.25)
    jobs = jobs[:2000]
    assert all(j.priority_class == "train" for j in jobs)
    log = run_jobs(philly_cluster(sum(quotas.values())), philly_queues(quotas), jobs, period_s=PERIOD_S,
                   write_status=False, frames=0)
    recs = list(log.jobs.values())
    assert all(r.end_s is not None for r in recs)
    outs = [JobOutcome(r.name, r.queue, r.submit_s, r.first_start_s, r.end_s - r.first_start_s) for r in recs]
    ours = Stats.of(outs)
    sjf = Stats.of(run_baseline(jobs, quotas, "sjf", "node8"))
    assert ours.avg_jct_s <= 1.5 * sjf.avg_jct_s
    assert max(r.evictions for r in recs) <= 3
    # no job waits more than a period for its first start while the cluster has room (this prefix is light)
    assert ours.p50_queue_s <= PERIOD_S
