"""Simulator invariants on small random clusters and workloads, without the hardware profiles."""
from __future__ import annotations

import dataclasses

from hypothesis import given, settings, strategies as st

from gpuplane.sim.engine import Engine, run_jobs
from gpuplane.sim.jobs import SimJob
from _sim_helpers import node, queue


NODES = [node("n0"), node("n1")]
QUEUES = [queue("a", 8), queue("b", 8)]


def _engine(jobs, **kw) -> Engine:
    args = dict(config=None, period_s=10.0, progress=None, until=None, scenario="t", seed=0, policy="default",
                write_status=True, frames=5, namespace="default")
    args.update(kw)
    return Engine(NODES, QUEUES, jobs, **args)


shapes = st.one_of(
    st.builds(lambda g, p: dict(gpus_per_pod=g, pods=p), st.sampled_from([1, 2, 4, 8]), st.integers(1, 2)),
    st.builds(lambda f: dict(gpu_fraction=f, priority_class="inference", kind="inference"), st.sampled_from([0.25, 0.5])),
    st.just(dict()),  # CPU only
)
job_lists = st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 600), st.integers(30, 900), shapes),
                     min_size=1, max_size=10).map(
    lambda xs: [SimJob(name=f"j{i}", queue=q, submit_s=float(t), duration_s=float(d), **shape)
                for i, (q, t, d, shape) in enumerate(xs)])


@settings(max_examples=12, deadline=None)
@given(job_lists)
def test_invariants(jobs):
    eng = _engine(jobs)
    log = eng.run()
    # conservation: never more GPUs allocated than the cluster has, per sample and per GPU
    for s in log.samples:
        assert s.gpus_allocated <= log.gpus + 1e-9
        assert abs(s.gpus_allocated - sum(s.queue_allocated.values())) < 1e-9
    for frame in log.occupancy:
        assert all(0.0 <= u <= 1.0 for row in frame.used for u in row)
    # no pod runs before it is bound
    for ev in eng.store.watch(0, {"Pod"}):
        if (ev.object.get("status") or {}).get("phase") == "Running":
            assert ev.object["spec"].get("nodeName"), ev.object["metadata"]["name"]
    # every job ends, after running its full duration, started after submission
    for job in jobs:
        rec = log.jobs[job.name]
        assert rec.end_s is not None and rec.start_s is not None
        assert rec.start_s >= job.submit_s
        assert abs(rec.end_s - rec.start_s - job.duration_s) < 1e-6
    assert eng.store.count("Pod") == 0 and eng.store.count("PodGroup") == 0  # everything left


@settings(max_examples=5, deadline=None)
@given(job_lists, st.integers(0, 3))
def test_same_seed_same_log(jobs, seed):
    a = run_jobs(NODES, QUEUES, jobs, seed=seed)
    b = run_jobs(NODES, QUEUES, jobs, seed=seed)
    assert a.jobs == b.jobs and a.samples == b.samples and a.occupancy == b.occupancy
    assert [dataclasses.replace(c, wall_s=0) for c in a.cycles] == [dataclasses.replace(c, wall_s=0) for c in b.cycles]


@settings(max_examples=6, deadline=None)
@given(job_lists)
def test_skipping_idle_cycles_changes_nothing_recorded(jobs):
    """With nothing pending a cycle decides nothing: the engine's own sample equals the scheduler's."""
    fast = run_jobs(NODES, QUEUES, jobs, skip_idle=True)
    full = run_jobs(NODES, QUEUES, jobs, skip_idle=False)
    assert fast.jobs == full.jobs
    assert len(fast.samples) == len(full.samples) and len(fast.cycles) <= len(full.cycles)
    for a, b in zip(fast.samples, full.samples):
        assert a.t == b.t and a.pending_pods == b.pending_pods and a.running_pods == b.running_pods
        for got, want in ((a.queue_allocated, b.queue_allocated), (a.queue_fair_share, b.queue_fair_share),
                          (a.queue_requested, b.queue_requested)):
            assert got.keys() == want.keys() and all(abs(got[q] - want[q]) < 1e-9 for q in got), (a, b)


def test_gang_waits_for_all_pods_and_queue_reclaims_quota():
    # queue a takes the whole cluster over quota; b's later job reclaims its quota: a's jobs restart in full
    jobs = [SimJob(name=f"a{i}", queue="a", submit_s=0, duration_s=3600, gpus_per_pod=8) for i in range(2)]
    jobs.append(SimJob(name="b0", queue="b", submit_s=100, duration_s=600, pods=2, gpus_per_pod=4))
    log = run_jobs(NODES, QUEUES, jobs, period_s=10)
    b = log.jobs["b0"]
    assert b.start_s is not None and b.start_s < 3600  # did not wait for a to finish
    evicted = [r for r in log.jobs.values() if r.evictions]
    assert len(evicted) == 1 and evicted[0].queue == "a"
    r = evicted[0]
    assert r.first_start_s == 0 and r.end_s - r.start_s == r.duration_s and r.start_s >= b.start_s
    assert sum(c.pods_evicted for c in log.cycles) == 1


def test_cycles_are_skipped_when_nothing_changes():
    jobs = [SimJob(name="big", queue="a", submit_s=0, duration_s=10_000, gpus_per_pod=8, pods=3)]  # never fits
    jobs.append(SimJob(name="small", queue="a", submit_s=5, duration_s=50, gpus_per_pod=1))
    log = run_jobs(NODES, QUEUES, jobs, until=20_000)
    # submissions at 0 and 5 share the cycle at t=10; the finish at 60 brings one more; then nothing
    assert [c.t for c in log.cycles] == [0.0, 10.0, 60.0] == [s.t for s in log.samples]
    assert log.jobs["big"].start_s is None and log.jobs["small"].end_s == 60.0


def test_fractional_and_whole_gpu_jobs_share_a_node_and_status_is_written():
    jobs = [SimJob(name="inf", queue="a", submit_s=0, duration_s=100, gpu_fraction=0.5, priority_class="inference"),
            SimJob(name="tr", queue="b", submit_s=0, duration_s=100, gpus_per_pod=8, pods=3)]  # 24 GPUs: pending
    eng = _engine(jobs, until=50)
    log = eng.run()
    assert log.jobs["inf"].start_s == 0 and log.jobs["tr"].start_s is None
    pods = {p["metadata"]["name"]: p for p in eng.store.list("Pod")[0]}
    assert pods["inf-0"]["status"]["phase"] == "Running" and pods["inf-0"]["metadata"]["annotations"]["gpuplane.io/gpus"]
    cond = [c for c in pods["tr-0"]["status"]["conditions"] if c["type"] == "PodScheduled"][0]
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    q = eng.store.get("Queue", "a")
    assert q["status"]["allocated"]["gpu"] == 0.5
    assert log.samples[-1].queue_allocated == {"a": 0.5, "b": 0.0}


def test_dra_and_mig_jobs_get_claims_that_leave_with_them():
    dra = node("d0", 0)
    devices = [{"name": f"gpu-{i}", "attributes": {"type": {"string": "gpu"}}} for i in range(4)]
    devices += [{"name": f"gpu-4-mig-1g10gb-19-{i}", "attributes": {"type": {"string": "mig"}, "profile": {"string": "1g.10gb"}}}
                for i in range(7)]
    rslice = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": "d0-gpu"},
              "spec": {"driver": "gpu.nvidia.com", "nodeName": "d0", "pool": {"name": "d0", "generation": 1, "resourceSliceCount": 1},
                       "devices": devices}}
    classes = [{"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": f"{t}.nvidia.com"},
                "spec": {"selectors": [{"cel": {"expression": f"device.attributes['gpu.nvidia.com'].type == '{t}'"}}]}}
               for t in ("gpu", "mig")]
    jobs = [SimJob(name="w", queue="a", submit_s=0, duration_s=100, gpus_per_pod=2, dra=True, pods=2),
            SimJob(name="m", queue="a", submit_s=0, duration_s=50, mig_profile="1g.10gb", pods=3)]
    eng = Engine([dra, rslice] + classes, [queue("a", 4)], jobs, None, 10, None, None, "t", 0, "default", True, 5, "default")
    log = eng.run()
    assert log.jobs["w"].end_s == 100 and log.jobs["m"].end_s == 50
    allocated: dict[str, list[str]] = {}
    deleted = set()
    for ev in eng.store.watch(0, {"ResourceClaim"}):
        name = ev.object["metadata"]["name"]
        if ev.type == "DELETED":
            deleted.add(name)
        results = ((ev.object.get("status") or {}).get("allocation") or {}).get("devices", {}).get("results", [])
        if results:
            allocated[name] = [r["device"] for r in results]
    assert sorted(allocated) == ["m-0-gpu", "m-1-gpu", "m-2-gpu", "w-0-gpu", "w-1-gpu"] == sorted(deleted)
    assert all("mig" in d for n in ("m-0-gpu", "m-1-gpu", "m-2-gpu") for d in allocated[n])
    assert sorted(allocated["w-0-gpu"] + allocated["w-1-gpu"]) == ["gpu-0", "gpu-1", "gpu-2", "gpu-3"]


def test_time_moves_on_after_evictions():
    """A cycle with evictions is followed by one ``period_s`` later, never by one at the same instant."""
    jobs = [SimJob(name=f"a{i}", queue="a", submit_s=0, duration_s=3600, gpus_per_pod=8) for i in range(2)]
    jobs.append(SimJob(name="b0", queue="b", submit_s=100, duration_s=600, pods=2, gpus_per_pod=4))
    for period in (0.0, 10.0, 300.0):
        log = run_jobs(NODES, QUEUES, jobs, period_s=period)
        times = [c.t for c in log.cycles]
        assert len(times) == len(set(times)), (period, times)


def test_fragmentation_is_fgd_over_the_workload_shapes_at_each_frame():
    # Workload shapes: one 8-GPU gang pod and one half GPU. With the half GPU placed, the other 7.5 idle
    # GPUs of its node cannot take the 8-GPU shape (p = 1/2): 7.5 x 1/2 = 3.75 GPUs fragmented; the idle
    # half GPU fits the 0.5 shape, so that shape adds nothing there. The empty node n1 adds nothing.
    jobs = [SimJob(name="inf", queue="a", submit_s=0, duration_s=1000, gpu_fraction=0.5, priority_class="inference"),
            SimJob(name="big", queue="b", submit_s=2000, duration_s=100, gpus_per_pod=8)]
    log = _engine(jobs, frames=4).run()
    measured = [(f.t, f.fragmentation) for f in log.occupancy]
    assert measured and all(v is not None and v >= 0 for _, v in measured)
    assert measured[0] == (0.0, 3.75)
    idle = [sum(1 - u for row in f.used for u in row) for f in log.occupancy]
    assert all(v <= i + 1e-9 for (_, v), i in zip(measured, idle))


def test_a_run_leaves_the_garbage_collector_as_it_found_it():
    import gc

    jobs = [SimJob(name="j0", queue="a", submit_s=0.0, duration_s=60.0, gpus_per_pod=1)]
    before = gc.get_threshold()
    run_jobs(NODES, QUEUES, jobs)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    gc.freeze()  # a caller's frozen heap stays frozen: the run never unfreezes it
    unfreezes = []
    real_unfreeze = gc.unfreeze
    try:
        gc.unfreeze = lambda: unfreezes.append(1)  # type: ignore[assignment]
        run_jobs(NODES, QUEUES, jobs)
        assert not unfreezes and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze = real_unfreeze  # type: ignore[assignment]
        gc.unfreeze()


class _CopyingStore:
    """Every call of the engine's store with ``copy=False`` made with ``copy=True`` instead."""

    @staticmethod
    def make():
        from gpuplane.cluster.store import ObjectStore

        class CopyingStore(ObjectStore):
            def get(self, *a, copy=True, **k):
                return super().get(*a, **k)

            def list(self, *a, copy=True, **k):
                return super().list(*a, **k)

            def create(self, obj, copy=True):
                return super().create(obj)

            def update_status(self, obj, copy=True):
                return super().update_status(obj)

            def bind(self, *a, copy=True, **k):
                return super().bind(*a, **k)

            def delete(self, *a, copy=True, **k):
                return super().delete(*a, **k)

        return CopyingStore


@settings(max_examples=8, deadline=None)
@given(job_lists)
def test_the_engine_without_store_copies_runs_the_same_simulation(jobs):
    """The engine hands the store what it builds and reads stored dicts (``copy=False``): the
    run, and every object the store ever held (its watch history), are those of a store that
    copies everything."""
    import gpuplane.sim.engine as engine_module

    trusting = _engine(jobs)
    log = trusting.run()
    real = engine_module.ObjectStore
    engine_module.ObjectStore = _CopyingStore.make()
    try:
        copying = _engine(jobs)
    finally:
        engine_module.ObjectStore = real
    assert type(copying.store).__name__ == "CopyingStore"
    want = copying.run()
    assert log.jobs == want.jobs and log.samples == want.samples and log.occupancy == want.occupancy
    assert [dataclasses.replace(c, wall_s=0) for c in log.cycles] == [dataclasses.replace(c, wall_s=0) for c in want.cycles]
    assert list(trusting.store.watch(0)) == list(copying.store.watch(0))


@settings(max_examples=10, deadline=None)
@given(job_lists)
def test_progress_reports_are_stepped_and_end_at_the_end(jobs):
    """Progress is reported at most once per 1/PROGRESS_STEPS of the horizon (plus the end),
    in time order, and the last report is the simulation's end; the run decides as without it."""
    from gpuplane.sim import engine as en

    seen: list[tuple[float, float]] = []
    eng = _engine(jobs, progress=lambda t, total: seen.append((t, total)))
    log = eng.run()
    plain = _engine(jobs).run()
    assert [(r.name, r.start_s, r.end_s) for r in log.jobs.values()] == \
        [(r.name, r.start_s, r.end_s) for r in plain.jobs.values()]
    assert seen and seen[-1][0] == eng.now
    times = [t for t, _ in seen]
    assert times == sorted(times)
    step = eng.horizon / en.PROGRESS_STEPS
    assert all(b - a >= step for a, b in zip(times, times[1:-1]))
    assert len(seen) <= en.PROGRESS_STEPS + 2
