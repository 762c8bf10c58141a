"""The discrete-event simulator: jobs arrive, the scheduler loop places them on the store, pods run and leave.

Clock and events: a heap keyed ``(time, order, seq)``; at one instant job finishes come before
submissions. A submission creates the job's objects in the store (PodGroup, claim template,
Pods, see :mod:`gpuplane.sim.manifests`).

Scheduling cycles: a cycle runs when something changed (a job arrived, finished or was evicted)
and never more often than every ``period_s`` simulated seconds: after a change at ``t`` the
cycle runs at the next multiple of ``period_s`` (``period_s=0``: at ``t`` itself, after every
event of that instant). Nothing changed, no cycle (KAI runs every second, but a cycle on an
unchanged cluster decides nothing new; time-driven rules such as min-runtime are only
re-evaluated at the next change). After a cycle with evictions the next one is ``max(period_s,
1)`` later. With ``skip_idle`` (the default), a change that leaves no pod pending (a job
finished on a cluster with nothing waiting) runs no cycle either: nothing can be bound,
reclaimed or preempted then. Its ``Sample`` comes from the engine's copy of the scheduler's
accounting (what each job was charged when bound); with nothing pending every queue's demand is
met, so fair share = requested = allocated, which is what a cycle would report.

Pods: a pod bound in a cycle starts running at once (kubelet-like status write: phase Running,
``startTime``). A job starts when ``minMember`` of its pods run and finishes ``duration_s``
later: its pods are marked Succeeded and its PodGroup is deleted, which deletes pods, claim
templates and claims by cascade (ownerReferences).

Evictions (reclaim, preemption, consolidation, stale gangs): the whole job restarts. Its other
pods are deleted, all its pods are recreated Pending (same names), and when it runs again it
runs for its full ``duration_s`` (no checkpoint). ``JobRecord.evictions`` counts these restarts;
``start_s`` is the latest start, ``first_start_s`` the first.

What is recorded (:class:`~gpuplane.sim.log.SimLog`): a ``Sample`` after each cycle from the
scheduler's own accounting (allocated GPUs, fair share and requested per leaf queue), a
``CycleRecord`` per cycle (its wall time: the decision latency), and about ``frames``
``OccupancyFrame`` s spread over the run.
"""
from __future__ import annotations

import gc
import heapq
import math
import re
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Optional

from ..api.errors import ValidationFailed
from ..cluster.loop import CycleOutcome, SchedulerLoop
from ..cluster.store import ObjectStore, StoreError, format_time
from ..scheduler.config import SchedulerConfig
from ..scheduler.fragmentation import FragModel, shape_distribution
from .jobs import SimJob
from .log import CycleRecord, JobRecord, OccupancyFrame, Sample, SimLog
from .manifests import job_objects, owner_reference, pod_name, pod_object

__all__ = ["Engine", "run_jobs", "simulate", "SimulationError", "EPOCH_S", "DEFAULT_PERIOD_S", "job_gpus"]

EPOCH_S = 1_767_225_600.0  # 2026-01-01T00:00:00Z: simulated t=0
DEFAULT_PERIOD_S = 10.0
FINISH, SUBMIT, CYCLE = 0, 1, 2
MIG_SLICES = 7  # compute slices of an A100/H100/H200
GC_YOUNG_THRESHOLD = 10_000  # allocations between young-generation collections during a run (default 700)
PROGRESS_STEPS = 1000  # progress reports per run (one per 1/1000 of the horizon, see Engine._run)
_MIG_RE = re.compile(r"^(\d+)g\.")

Progress = Callable[[float, float], None]


class SimulationError(Exception):
    """The scenario cannot run (invalid objects, a job that names nothing it can use)."""


def job_gpus(job: SimJob) -> float:
    """GPUs the job holds while running: MIG devices as compute slices / 7 of a GPU."""
    if job.mig_profile:
        return job.pods * _device_share(job, None)
    return job.gpus


@dataclass
class _JobState:
    job: SimJob
    record: JobRecord
    owner: Optional[dict[str, Any]] = None
    attempt: int = 0
    running: set[str] = field(default_factory=set)
    started: bool = False
    done: bool = False
    active: bool = False  # submitted and not finished
    charge: float = 0.0  # GPUs the scheduler charged its queue for its bound pods

    @property
    def pending(self) -> int:
        return self.job.pods - len(self.running) if self.active else 0


class Engine:
    """One simulation run (``run_jobs`` is the usual way in; tests reach the store through ``store``)."""

    def __init__(self, cluster_objects: list[dict[str, Any]], queues: list[dict[str, Any]], jobs: list[SimJob],
                 config: Optional[SchedulerConfig], period_s: float, progress: Optional[Progress], until: Optional[float],
                 scenario: str, seed: int, policy: str, write_status: bool, frames: int, namespace: str,
                 skip_idle: bool = True) -> None:
        self.now = 0.0
        self.store = ObjectStore(clock=lambda: EPOCH_S + self.now, seed=seed)
        self.loop = SchedulerLoop(self.store, config, write_status=write_status)
        self.period = max(0.0, float(period_s))
        self.progress = progress
        self.until = until
        self.ns = namespace
        names = [j.name for j in jobs]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})[:3]
            raise SimulationError(f"jobs: duplicate job names {', '.join(dup)}")
        for obj in list(cluster_objects) + list(queues):
            try:
                self.store.create(obj)
            except StoreError as err:
                raise SimulationError(str(err)) from None
        self._frag_model: Optional[FragModel] = None
        self.node_gpus = {o["metadata"]["name"]: _node_gpu_count(o) for o in cluster_objects if o.get("kind") == "Node"}
        self.node_gpu_mem = {o["metadata"]["name"]: _label_int(o, "nvidia.com/gpu.memory") for o in cluster_objects
                             if o.get("kind") == "Node"}
        self.log = SimLog(scenario=scenario, seed=seed, gpus=sum(self.node_gpus.values()), nodes=len(self.node_gpus),
                          policy=policy)
        self.jobs: dict[str, _JobState] = {}
        self.pod_job: dict[str, str] = {}
        self.heap: list[tuple[float, int, int, str, int]] = []
        self.seq = 0
        for job in sorted(jobs, key=lambda j: (j.submit_s, j.name)):
            rec = JobRecord(name=job.name, queue=job.queue, kind=job.kind, pods=job.pods, gpus=job_gpus(job),
                            duration_s=job.duration_s, submit_s=job.submit_s)
            self.jobs[job.name] = _JobState(job, rec)
            self.log.jobs[job.name] = rec
            for i in range(job.pods):
                self.pod_job[pod_name(job, i)] = job.name
            self._push(job.submit_s, SUBMIT, job.name, 0)
        ends = [j.submit_s + j.duration_s for j in jobs]
        self.horizon = until if until is not None else (max(ends) if ends else 0.0)
        self.frame_every = self.horizon / frames if frames > 0 and self.horizon > 0 else math.inf
        self.next_frame = 0.0
        self.dirty = False
        self.cycle_at = math.inf
        self.skip_idle = skip_idle
        self.pending = 0  # pods waiting to be bound, over all jobs
        self.running_pods = 0
        parents = {(q.get("spec") or {}).get("parentQueue") for q in queues}
        self.queue_alloc: dict[str, float] = {q["metadata"]["name"]: 0.0 for q in queues
                                              if q["metadata"]["name"] not in parents}
        self.evicting = False

    # --- events ---------------------------------------------------------------------------
    def _push(self, t: float, order: int, name: str, attempt: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, order, self.seq, name, attempt))

    def _changed(self, delay: float = 0.0) -> None:
        t = self.now + delay
        at = math.ceil(t / self.period) * self.period if self.period > 0 else t
        if at < t:  # float rounding
            at += self.period
        self.cycle_at = min(self.cycle_at, at) if self.dirty else at
        self.dirty = True

    def run(self) -> SimLog:
        """Run to the end (or ``until``), with the cyclic garbage collector tuned for the run: a
        simulation allocates millions of dicts (objects, snapshots, placements) and, with the
        default young threshold of 700, collections were about a fifth of a run's time. The
        young generation is made larger and what exists at the start is frozen (full collections
        skip it); both are undone afterwards. Collection still happens, just less often."""
        threshold = gc.get_threshold()
        gc.set_threshold(max(threshold[0], GC_YOUNG_THRESHOLD), *threshold[1:])
        freeze = gc.get_freeze_count() == 0  # else the caller froze the heap: theirs to undo
        if freeze:
            gc.freeze()  # what exists now (jobs, records, cluster) lives through the run: not walked again
        try:
            return self._run()
        finally:
            if freeze:
                gc.unfreeze()
            gc.set_threshold(*threshold)

    def _run(self) -> SimLog:
        wall0 = time.perf_counter()
        # progress is reported in steps of 1/1000 of the horizon (and at the end), not after every
        # event: a progress bar's update costs about as much as a small event
        step = self.horizon / PROGRESS_STEPS if self.horizon > 0 else 0.0
        reported = -math.inf
        while True:
            t_evt = self.heap[0][0] if self.heap else math.inf
            t_cyc = self.cycle_at if self.dirty else math.inf
            t = min(t_evt, t_cyc)
            if t == math.inf or (self.until is not None and t > self.until):
                break
            self.now = t
            if t_evt <= t_cyc:
                while self.heap and self.heap[0][0] == t:
                    _, order, _, name, attempt = heapq.heappop(self.heap)
                    if order == SUBMIT:
                        self._submit(self.jobs[name])
                    else:
                        self._finish(self.jobs[name], attempt)
            else:
                self.dirty = False
                if self.skip_idle and self.pending == 0 and not self.evicting:
                    self._quiet_sample()
                else:
                    self._cycle()
            if self.progress is not None and self.now - reported >= step:
                self.progress(self.now, self.horizon)
                reported = self.now
        if self.progress is not None and reported != self.now:
            self.progress(self.now, self.horizon)
        self.log.sim_seconds = self.now if self.until is None else min(self.until, max(self.now, 0.0))
        self.log.wall_seconds = time.perf_counter() - wall0
        return self.log

    # The engine is the store's trusted in-process caller: it hands over freshly built objects
    # and only reads what it gets back, so its store calls pass ``copy=False`` (no deep copies).
    def _submit(self, st: _JobState) -> None:
        group, extra = job_objects(st.job, self.ns)
        created = self.store.create(group, copy=False)
        st.owner = owner_reference(created)
        for obj in extra:
            obj["metadata"]["ownerReferences"] = [st.owner]
            self.store.create(obj, copy=False)
        self._create_pods(st)

    def _create_pods(self, st: _JobState) -> None:
        for i in range(st.job.pods):
            self.store.create(pod_object(st.job, i, self.ns, st.owner), copy=False)
        before = st.pending
        st.active = True
        self.pending += st.pending - before
        self._changed()

    def _finish(self, st: _JobState, attempt: int) -> None:
        if attempt != st.attempt or st.done:
            return  # the job was evicted and restarted since
        for name in sorted(st.running):
            self._set_status("Pod", name, self.ns, {"phase": "Succeeded"})
        self.store.delete("PodGroup", st.job.name, self.ns, copy=False)
        for i in range(st.job.pods):
            self.pod_job.pop(pod_name(st.job, i), None)
        self.pending -= st.pending
        self.running_pods -= len(st.running)
        self._uncharge(st)
        st.active = False
        st.running.clear()
        st.done = True
        st.record.end_s = self.now
        self._changed()

    # --- cycles ---------------------------------------------------------------------------
    def _cycle(self) -> None:
        try:
            out = self.loop.run_cycle(format_time(EPOCH_S + self.now))
        except ValidationFailed as err:
            raise SimulationError(f"the scheduler rejected the cluster: {err}") from None
        restarted: set[str] = set()
        for key in out.evicted:
            job = self.pod_job.get(key[1])
            if job is not None and job not in restarted:
                restarted.add(job)
        running = {"phase": "Running", "startTime": format_time(EPOCH_S + self.now)}
        for key in out.bound:
            job = self.pod_job.get(key[1])
            if job is None or job in restarted:
                continue
            self._set_status("Pod", key[1], key[0], running)
            st = self.jobs[job]
            st.running.add(key[1])
            self.pending -= 1
            self.running_pods += 1
            charged = float(out.result.placements[key].charge.get("gpu", 0))
            st.charge += charged
            self.queue_alloc[st.job.queue] = self.queue_alloc.get(st.job.queue, 0.0) + charged
            need = st.job.min_member or st.job.pods
            if not st.started and len(st.running) >= need:
                st.started = True
                st.record.start_s = self.now
                if st.record.first_start_s is None:
                    st.record.first_start_s = self.now
                self._push(self.now + st.job.duration_s, FINISH, job, st.attempt)
        for job in sorted(restarted):
            self._restart(self.jobs[job])
        self._keep_nominations(out, restarted)
        self._record(out)
        self.evicting = bool(out.evicted)
        if out.evicted:  # the restarts asked for a cycle now; the next one waits (no loop at one instant)
            self.dirty = False
            self._changed(max(self.period, 1.0))

    def _keep_nominations(self, out: CycleOutcome, restarted: set[str]) -> None:
        """The nominations of this cycle stay on the pending pods (``status.nominatedNodeName``),
        also on a moved (consolidated) job's recreated pods and without ``write_status``: the next
        cycle places those jobs first, where their victims made room (else the room goes to
        whoever comes first, and the action evicts again)."""
        bound = set(out.bound)
        for key, node in out.result.nominated.items():
            job = self.pod_job.get(key[1])
            if job is None or key in bound and job not in restarted:
                continue
            try:
                pod = self.store.get("Pod", key[1], key[0], copy=False)
            except StoreError:
                continue
            status = pod.get("status") or {}
            if status.get("phase", "Pending") != "Pending" or pod.get("spec", {}).get("nodeName") \
                    or status.get("nominatedNodeName") == node:
                continue
            self.store.update_status({"kind": "Pod", "metadata": pod["metadata"],
                                      "status": {**status, "nominatedNodeName": node}}, copy=False)

    def _set_status(self, kind: str, name: str, namespace: str, fields: dict[str, Any]) -> None:
        """The kubelet-like status write: ``fields`` over the stored status, without copies (the
        new status dict is built here and handed over)."""
        obj = self.store.get(kind, name, namespace, copy=False)
        self.store.update_status({"kind": kind, "metadata": obj["metadata"],
                                  "status": {**obj.get("status", {}), **fields}}, copy=False)

    def _restart(self, st: _JobState) -> None:
        """An evicted job: delete what is left of it, recreate all its pods Pending, run it again in full."""
        st.attempt += 1
        st.record.evictions += 1
        st.started = False
        self.pending -= st.pending
        self.running_pods -= len(st.running)
        self._uncharge(st)
        st.active = False
        st.running.clear()
        for i in range(st.job.pods):
            try:
                self.store.delete("Pod", pod_name(st.job, i), self.ns, copy=False)
            except StoreError:
                pass  # the scheduler deleted it
        self._create_pods(st)

    def _uncharge(self, st: _JobState) -> None:
        if st.charge:
            left = self.queue_alloc.get(st.job.queue, 0.0) - st.charge
            self.queue_alloc[st.job.queue] = 0.0 if abs(left) < 1e-9 else left
        st.charge = 0.0

    def _quiet_sample(self) -> None:
        """The sample a cycle would record with nothing pending (see the module docstring)."""
        last = self.log.samples[-1].queue_allocated if self.log.samples else self.queue_alloc
        alloc = {q: self.queue_alloc.get(q, 0.0) for q in last}
        self.log.samples.append(Sample(t=self.now, gpus_allocated=sum(alloc.values()), queue_allocated=alloc,
                                       queue_fair_share=dict(alloc), queue_requested=dict(alloc), pending_pods=0,
                                       running_pods=self.running_pods))
        if self.now >= self.next_frame:
            self.log.occupancy.append(self._frame())
            self.next_frame = (math.floor(self.now / self.frame_every) + 1) * self.frame_every

    def _record(self, out: CycleOutcome) -> None:
        res = out.result
        snap = res.snapshot
        tree = snap.tree
        leaves = [q for q in tree.leaves()]
        alloc = {q: float(res.allocated.get(q, {}).get("gpu", 0)) for q in leaves}
        requested = {q: float(res.requested.get(q, {}).get("gpu", 0)) for q in leaves}
        fair = {q: float(res.fair_share.get(q, {}).get("gpu", 0)) for q in leaves}
        if "default-queue" in alloc and not (alloc["default-queue"] or requested["default-queue"]):
            for d in (alloc, requested, fair):
                d.pop("default-queue", None)
        pending = running = 0  # one pass over the pods (this runs every cycle)
        placements = res.placements
        for k, p in snap.pods.items():
            state = p.state
            if state == "Pending":
                if k not in placements:
                    pending += 1
            elif state == "Running":
                running += 1
        running += len(out.bound) - len(out.evicted)
        self.log.samples.append(Sample(t=self.now, gpus_allocated=sum(alloc.values()), queue_allocated=alloc,
                                       queue_fair_share=fair, queue_requested=requested, pending_pods=pending,
                                       running_pods=running))
        self.log.cycles.append(CycleRecord(t=self.now, wall_s=out.wall_s, pods_bound=len(out.bound),
                                           pods_evicted=len(out.evicted), pending=pending))
        if self.now >= self.next_frame:
            self.log.occupancy.append(self._frame())
            self.next_frame = (math.floor(self.now / self.frame_every) + 1) * self.frame_every

    def _frame(self) -> OccupancyFrame:
        nodes = sorted(self.node_gpus, key=_natural)  # hgx-2 before hgx-10
        index = {n: i for i, n in enumerate(nodes)}
        used = [[0.0] * self.node_gpus[n] for n in nodes]
        pods, _ = self.store.list("Pod", copy=False)
        for pod in pods:
            node = pod.get("spec", {}).get("nodeName")
            job = self.pod_job.get(pod["metadata"]["name"])
            names = (pod["metadata"].get("annotations") or {}).get("gpuplane.io/gpus", "")
            if not node or node not in index or job is None or not names:
                continue
            share = _device_share(self.jobs[job].job, self.node_gpu_mem.get(node))
            row = used[index[node]]
            for dev in names.split(","):
                m = re.match(r"^gpu-(\d+)", dev)
                if m and int(m.group(1)) < len(row):
                    row[int(m.group(1))] = min(1.0, row[int(m.group(1))] + share)
        return OccupancyFrame(t=self.now, nodes=nodes, used=used, fragmentation=self._fragmentation(used))

    def _fragmentation(self, used: list[list[float]]) -> float:
        """FGD's fragmentation F(M) summed over nodes, in GPUs: idle GPU capacity that the
        workload's typical GPU shapes (M, from every job of the run) could not use where it is.
        CPU and GPU model are left out: the sim's jobs constrain neither."""
        if self._frag_model is None:
            shapes = []
            for st in self.jobs.values():
                j = st.job
                share = _device_share(j, None) if not j.gpus_per_pod else 1.0
                num = j.gpus_per_pod or (1 if (j.gpu_fraction or j.gpu_memory_mib or j.mig_profile) else 0)
                shapes.extend([(0, int(round(share * 1000)) if num else 0, num, "")] * j.pods)
            self._frag_model = FragModel(shape_distribution(shapes))
        total = 0.0
        for row in used:
            free = tuple(sorted(max(0, int(round((1.0 - u) * 1000))) for u in row))
            total += self._frag_model.frag(("", 0, free))
        return total / 1000.0


def _natural(name: str) -> list:
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name)]


def _device_share(job: SimJob, gpu_mem: Optional[int]) -> float:
    if job.mig_profile:
        m = _MIG_RE.match(job.mig_profile)
        return int(m.group(1)) / MIG_SLICES if m else 1 / MIG_SLICES
    if job.gpu_fraction is not None:
        return float(job.gpu_fraction)
    if job.gpu_memory_mib is not None:
        return min(1.0, job.gpu_memory_mib / gpu_mem) if gpu_mem else 1.0
    return 1.0


def _label_int(node: dict[str, Any], label: str) -> Optional[int]:
    value = (node.get("metadata", {}).get("labels") or {}).get(label)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _node_gpu_count(node: dict[str, Any]) -> int:
    count = _label_int(node, "nvidia.com/gpu.count")
    if count is not None:
        return count
    cap = (node.get("status") or {}).get("capacity") or (node.get("status") or {}).get("allocatable") or {}
    try:
        return int(Fraction(str(cap.get("nvidia.com/gpu", 0))))
    except (ValueError, ZeroDivisionError):
        return 0


def run_jobs(cluster_objects: list[dict[str, Any]], queues: list[dict[str, Any]], jobs: list[SimJob],
             config: Optional[SchedulerConfig] = None, period_s: float = DEFAULT_PERIOD_S,
             progress: Optional[Progress] = None, until: Optional[float] = None, scenario: str = "jobs",
             seed: int = 0, policy: str = "default", write_status: bool = True, frames: int = 20,
             namespace: str = "default", skip_idle: bool = True) -> SimLog:
    """Simulate ``jobs`` on a cluster (Nodes, ResourceSlices, DeviceClasses...) with these Queues.

    Runs until every job has finished, or until simulated time ``until``. ``write_status=False``
    skips the status writes that only inform users (pending conditions, Queue status): faster,
    same decisions."""
    return Engine(cluster_objects, queues, jobs, config, period_s, progress, until, scenario, seed, policy,
                   write_status, frames, namespace, skip_idle).run()


def simulate(scenario: Any, seed: int, progress: Optional[Progress] = None) -> SimLog:
    """Run a :class:`~gpuplane.sim.scenario.Scenario` with ``seed`` (its workload is drawn with it)."""
    from .scenario import build_run

    run = build_run(scenario, seed)
    return run_jobs(run.cluster_objects, run.queues, run.jobs, run.config, run.period_s, progress, run.until,
                    scenario.name, seed, "default", True, 20)
