"""Properties of the evicting actions over small random clusters (hypothesis).

A cluster is filled by one round of allocation with "early" jobs; then "late" jobs arrive and
up to three rounds run. Checked: non-preemptible pods are never evicted by reclaim or preempt;
a reclaim never leaves the reclaiming queue above its fair share (its nominated job included);
gangs are evicted whole; preempt stays inside one queue; consolidation re-places every victim;
and there are no allocate/evict loops (nothing is evicted after round 4 of 9).
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuplane.scheduler import actions
from gpuplane.scheduler import manifests as m
from gpuplane.scheduler.config import SchedulerConfig
from gpuplane.scheduler.cycle import run_rounds
from gpuplane.scheduler.output import result_objects
from gpuplane.scheduler.queues import RESOURCES
from gpuplane.scheduler.snapshot import build_snapshot

NOW = "2026-06-01T12:00:00Z"
PRIOS = ["train", "build-preemptible", "inference"]


@st.composite
def clusters(draw):
    base = [m.node(f"n{i}", gpus=draw(st.integers(1, 4)), cpu="16", memory="64Gi") for i in range(draw(st.integers(1, 2)))]
    for q in ("qa", "qb"):
        base.append(m.queue(q, gpu_quota=draw(st.integers(0, 2)), weight=draw(st.sampled_from([0, 1, 2]))))

    def jobs(prefix, hour):
        objs = []
        for j in range(draw(st.integers(0, 4))):
            name = f"{prefix}{j}"
            q = draw(st.sampled_from(["qa", "qb"]))
            prio = draw(st.sampled_from(PRIOS))
            gpus = draw(st.integers(1, 2))
            size = draw(st.integers(1, 2))
            created = f"2026-06-01T{hour:02d}:{j:02d}:00Z"
            if size == 1:
                objs.append(m.pod(name, queue=q, gpus=gpus, priority_class=prio, created=created))
            else:
                pg = m.podgroup(name, size, q, priority_class=prio)
                pg["metadata"]["creationTimestamp"] = created
                objs.append(pg)
                objs += [m.pod(f"{name}-{k}", queue=q, gpus=gpus, group=name, priority_class=prio, created=created)
                         for k in range(size)]
        return objs

    return base, jobs("e", 1), jobs("l", 5)


def _prepare(case):
    base, early, late = case
    first = result_objects(run_rounds(build_snapshot(m.schedule_objects(base + early)), 1, SchedulerConfig(), NOW))
    running = [o for o in first if o["kind"] == "Pod" and o["spec"].get("nodeName")]
    groups = [o for o in early if o["kind"] == "PodGroup"]
    return build_snapshot(m.schedule_objects(base + groups + running + late))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_eviction_invariants(case):
    snap = _prepare(case)
    checks: list[str] = []
    original = actions._commit

    def checked_commit(c, action, job, victims, fit):
        for g, pods in victims:
            assert g.preemptible, f"{action} evicted non-preemptible {g.ref}"
            active = [p.key for p in (c.snap.pods[k] for k in g.pods) if c.is_active(p)]
            assert sorted(p.key for p in pods) == sorted(active), "gang not evicted whole"
            if action == "preempt":
                assert g.queue == job.queue and g.priority < job.priority
            elif action == "reclaim":
                assert g.queue != job.queue
            else:  # consolidation: every victim pod is placed again
                assert all(p.key in fit for p in pods)
        original(c, action, job, victims, fit)
        if action == "reclaim":
            alloc = c.eff_alloc(job.queue)  # includes the nominated job
            for r in RESOURCES:
                assert float(alloc[r]) <= c.fair[job.queue][r] + 1e-6, (job.queue, r, alloc, c.fair[job.queue])
        checks.append(action)

    actions._commit = checked_commit
    try:
        for rounds in (1, 2, 3):
            result = run_rounds(snap, rounds, SchedulerConfig(), NOW)
            out = {o["metadata"]["name"]: o for o in result_objects(result) if o["kind"] == "Pod"}
            for e in result.evictions:
                assert e["action"] in ("consolidation", "reclaim", "preempt", "stalegangeviction")
            # a gang is Releasing whole or not at all
            for gk, g in snap.groups.items():
                names = [k[1] for k in g.pods if out[k[1]]["spec"].get("nodeName")]
                releasing = [n for n in names if out[n]["metadata"].get("deletionTimestamp")]
                assert not releasing or releasing == names, (g.ref, names, releasing)
            # nothing is over-committed: GPUs on each node, counting Releasing pods
            used: dict[tuple[str, str], Fraction] = {}
            for p in out.values():
                node = p["spec"].get("nodeName")
                gpus = p["metadata"].get("annotations", {}).get("gpuplane.io/gpus", "")
                for g in filter(None, gpus.split(",")):
                    used[(node, g)] = used.get((node, g), Fraction(0)) + 1
            assert all(v <= 1 for v in used.values()), used
        # no allocate/evict loops: after four rounds, five more rounds evict nothing
        result = run_rounds(snap, 9, SchedulerConfig(), NOW)
        assert not [e for e in result.evictions if e["round"] > 4], result.evictions
    finally:
        actions._commit = original
