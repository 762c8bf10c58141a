"""Nominations survive from one cycle to the next, so evictions are not repeated (no thrash).

An evicting action (reclaim, preempt, consolidation) nominates the job it evicted for on the
node that frees up (``status.nominatedNodeName``). The next cycle must place that job there
first; otherwise the freed GPUs go to whoever comes first (often the recreated victims) and the
action evicts again, every cycle."""
from __future__ import annotations

from gpuplane.cluster.store import format_time
from gpuplane.sim.engine import EPOCH_S, Engine, run_jobs
from gpuplane.sim.jobs import SimJob
from gpuplane.sim.manifests import job_objects, owner_reference, pod_object
from _sim_helpers import node, queue


def _engine(nodes, queues, jobs, **kw) -> Engine:
    args = dict(config=None, period_s=10.0, progress=None, until=None, scenario="t", seed=0, policy="default",
                write_status=False, frames=0, namespace="default")
    args.update(kw)
    return Engine(nodes, queues, jobs, **args)


def _submit(eng: Engine, job: SimJob, nominated: str = "") -> None:
    group, extra = job_objects(job)
    owner = owner_reference(eng.store.create(group))
    for obj in extra:
        obj["metadata"]["ownerReferences"] = [owner]
        eng.store.create(obj)
    for i in range(job.pods):
        pod = eng.store.create(pod_object(job, i, "default", owner))
        if nominated:
            eng.store.update_status({"kind": "Pod", "metadata": pod["metadata"],
                                     "status": {**(pod.get("status") or {}), "nominatedNodeName": nominated}})


def test_a_nominated_job_is_placed_first_on_its_node_in_the_next_cycle():
    nodes = [node("n0"), node("n1")]
    queues = [queue("a", 8), queue("b", 8), queue("z", 8)]
    eng = _engine(nodes, queues, [SimJob(name="r", queue="a", submit_s=0, duration_s=10_000, gpus_per_pod=8)], until=0)
    eng.run()
    used = eng.store.get("Pod", "r-0", "default")["spec"]["nodeName"]
    free = "n1" if used == "n0" else "n0"
    # both want the free node; queue b sorts before z (same share, same age, name), but z's job
    # was nominated there by an eviction of the previous cycle
    _submit(eng, SimJob(name="q", queue="b", submit_s=0, duration_s=100, gpus_per_pod=8))
    _submit(eng, SimJob(name="p", queue="z", submit_s=0, duration_s=100, gpus_per_pod=8), nominated=free)
    out = eng.loop.run_cycle(format_time(EPOCH_S + 10))
    bound = {k[1]: out.result.placements[k].node for k in out.bound}
    assert bound == {"p-0": free}
    assert not out.evicted


def test_a_nomination_on_a_missing_node_is_ignored():
    eng = _engine([node("n0")], [queue("a", 8)], [], until=0)
    eng.run()
    _submit(eng, SimJob(name="p", queue="a", submit_s=0, duration_s=100, gpus_per_pod=8), nominated="gone")
    out = eng.loop.run_cycle(format_time(EPOCH_S))
    assert [k[1] for k in out.bound] == ["p-0"] and out.result.placements[out.bound[0]].node == "n0"


def _consolidation_jobs() -> list[SimJob]:
    # a (4) and b (4, short) fill n0, c (4) goes to n1; b ends: 4 + 4 GPUs idle on two nodes;
    # x (8) then fits only if consolidation moves a or c next to the other
    return [SimJob(name="a", queue="q", submit_s=0, duration_s=10_000, gpus_per_pod=4),
            SimJob(name="b", queue="q", submit_s=0, duration_s=50, gpus_per_pod=4),
            SimJob(name="c", queue="q", submit_s=0, duration_s=10_000, gpus_per_pod=4),
            SimJob(name="x", queue="q", submit_s=100, duration_s=500, gpus_per_pod=8)]


def test_consolidation_moves_once_and_the_moved_job_keeps_its_new_node():
    nodes, queues = [node("n0"), node("n1")], [queue("q", 16)]
    eng = _engine(nodes, queues, _consolidation_jobs(), until=100)
    log = eng.run()
    moved = [r.name for r in log.jobs.values() if r.evictions]
    assert len(moved) == 1 and moved[0] in ("a", "c")
    pod = eng.store.get("Pod", f"{moved[0]}-0", "default")
    assert pod["status"].get("nominatedNodeName") in ("n0", "n1")  # recreated, still nominated
    assert eng.store.get("Pod", "x-0", "default")["status"].get("nominatedNodeName") in ("n0", "n1")


def test_decisions_settle_then_nothing_changes_for_five_more_cycles():
    nodes, queues = [node("n0"), node("n1")], [queue("q", 16)]
    for write_status in (False, True):
        log = run_jobs(nodes, queues, _consolidation_jobs(), period_s=10, write_status=write_status, frames=0)
        assert sum(r.evictions for r in log.jobs.values()) == 1
        assert log.jobs["x"].start_s == 110.0  # the cycle after the move
        assert all(r.end_s is not None for r in log.jobs.values())
        evicting = [c.t for c in log.cycles if c.pods_evicted]
        assert evicting == [100.0]


def test_reclaim_settles_with_many_borrowers_and_no_status_writes():
    # queue b borrows the whole cluster; c (no quota, a share of the spare) and then a's jobs
    # reclaim what they are owed: every victim goes once, and then nothing moves
    nodes = [node(f"n{i}") for i in range(4)]
    queues = [queue("a", 16), queue("b", 16), queue("c", 0)]
    jobs = [SimJob(name=f"b{i}", queue="b", submit_s=0, duration_s=50_000, gpus_per_pod=8) for i in range(4)]
    jobs += [SimJob(name=f"c{i}", queue="c", submit_s=5, duration_s=50_000, gpus_per_pod=4) for i in range(2)]
    jobs += [SimJob(name=f"a{i}", queue="a", submit_s=100 + 30 * i, duration_s=1_000, gpus_per_pod=8) for i in range(2)]
    log = run_jobs(nodes, queues, jobs, period_s=10, write_status=False, frames=0, until=5_000)
    assert log.jobs["a0"].start_s is not None and log.jobs["a1"].start_s is not None
    assert log.jobs["a0"].start_s < 1_000 and log.jobs["a1"].start_s < 1_000  # did not wait for b to finish
    assert all(r.evictions <= 1 for r in log.jobs.values())
    evicting = [c.t for c in log.cycles if c.pods_evicted]
    assert evicting and max(evicting) <= 130  # settled once a1 (submitted at 130) was served


def test_consolidation_does_not_move_jobs_for_a_job_over_its_fair_share():
    # same layout as above in queue a (quota 8); queue b (quota 8) asks for 16 GPUs it cannot get,
    # so a's fair share is 8: x would put a at 16, reclaimable at once. Moving a job (which
    # restarts it) to make room for x would only start the loop reclaim -> consolidation -> ...
    nodes, queues = [node("n0"), node("n1")], [queue("a", 8), queue("b", 8)]
    jobs = [j.__class__(**{**j.__dict__, "queue": "a"}) for j in _consolidation_jobs()]
    jobs.append(SimJob(name="big", queue="b", submit_s=90, duration_s=100, pods=3, gpus_per_pod=8))
    log = run_jobs(nodes, queues, jobs, period_s=10, write_status=False, frames=0, until=1_000)
    assert sum(r.evictions for r in log.jobs.values()) == 0
    assert log.jobs["x"].start_s is None
    # with b's demand gone a may grow: x's consolidation happens (the rule is the fair share, not the quota)
    log = run_jobs(nodes, queues, jobs[:-1], period_s=10, write_status=False, frames=0, until=1_000)
    assert sum(r.evictions for r in log.jobs.values()) == 1 and log.jobs["x"].start_s == 110.0
