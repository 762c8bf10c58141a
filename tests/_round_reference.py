"""The scheduler round's code as it was before the speed work (gpuplane main at 123a2b4), kept
as the reference of tests/test_scheduler_round_reference.py: the current code must take the
same decisions. Scans every group and pod per round, Fraction arithmetic throughout.

Cluster methods are named ``_ref_cluster_<name>`` (patched onto ``_Cluster`` by the test); the
actions functions keep their names (patched onto :mod:`gpuplane.scheduler.actions`)."""

# flake8: noqa
from __future__ import annotations

from fractions import Fraction
from typing import Optional

from gpuplane.api.core import PENDING, SUCCEEDED
from gpuplane.scheduler.actions import (DEFAULT_STALENESS_GRACE_S, EPS, STALE_SINCE_ANNOTATION, STALENESS_ANNOTATION,
                                        Plan, _active, _commit, _delay_elapsed, _job_setting, _min_runtime_left,
                                        _needed, _pending_jobs, _pg_annotations, _pods, _quota, _ratio, _search,
                                        _seconds, _shape_of, _victim_ok, _victim_order, _victim_units,
                                        _why_not_victim, can_reclaim, plan_preempt, _simulate,
                                        MAX_CONSOLIDATION_PREEMPTEES)
from gpuplane.scheduler.cycle import (NOT_LEAF_QUEUE, QUEUE_DOES_NOT_EXIST, MB, PendingReason, _exact_sum, _zero,
                                      format_amount, parse_time)
from gpuplane.scheduler.queues import RESOURCES
from gpuplane.scheduler.snapshot import GroupInfo, PodInfo
from gpuplane.scheduler.subgroups import SubGroupTree, build_tree


def _ref_cluster_collect_jobs(self) -> dict[str, list[GroupInfo]]:
    tree = self.snap.tree
    jobs: dict[str, list[GroupInfo]] = {}
    for group in self.snap.groups.values():
        if group.raw is not None:
            self._unplaceable(group)
        pending = self.pending_pods(group)
        if not pending:
            continue
        if group.queue not in tree:
            msg = f"queue {group.queue} does not exist (no Queue object has this name)"
            self._fail_group(group, pending, PendingReason(QUEUE_DOES_NOT_EXIST, msg, queue=group.queue))
            continue
        if not tree.is_leaf(group.queue):
            msg = f"queue {group.queue} is a parent queue; only leaf queues take jobs"
            self._fail_group(group, pending, PendingReason(NOT_LEAF_QUEUE, msg, queue=group.queue))
            continue
        jobs.setdefault(group.queue, []).append(group)
    for q in jobs:
        jobs[q].sort(key=lambda g: (-g.priority, g.creation, g.key))
    return jobs


def _ref_cluster_begin_round(self) -> None:
    if self.round <= 1:
        self._carry_nominations()
    self.finish_evictions()
    self.reasons = {}
    self.group_reasons = {}
    self.jobs = self.collect_jobs()
    self.compute_fair(self.jobs)


def _ref_cluster_requested(self, jobs: dict[str, list[GroupInfo]]) -> dict[str, dict[str, Fraction]]:
    """Allocated + pending requests per leaf queue."""
    tree = self.snap.tree
    parts: dict[str, dict[str, list[Fraction | int]]] = {}
    for q in tree:
        if tree.is_leaf(q):
            parts[q] = {r: [v] for r, v in self.alloc[q].items()}
    for q, groups in jobs.items():
        row = parts[q]
        for g in groups:
            for p in self.pending_pods(g):
                c = self.charge_for(p)
                for r in RESOURCES:
                    row[r].append(c[r])
    return {q: {r: _exact_sum(vs) for r, vs in row.items()} for q, row in parts.items()}


def _ref_cluster_capacity(self) -> dict[str, Fraction]:
    gpu = Fraction(sum(n.gpus + n.dra_gpus for n in self.snap.nodes))
    cpu = _exact_sum([n.cpu_milli for n in self.snap.nodes])
    mem = _exact_sum([n.memory for n in self.snap.nodes]) / MB
    return {"gpu": gpu, "cpu": cpu, "memory": mem}


def _ref_cluster_carry_nominations(self) -> None:
    """Pending pods that a reclaim, preempt or consolidation of an earlier cycle nominated
    (``status.nominatedNodeName`` on a node that exists) keep their nomination: allocate
    places them first, on that node if it fits. Without it the resources their victims
    released go to whoever comes first in the next cycle (often the victims themselves,
    recreated), and the action evicts again: a loop (docs/fairness.md)."""
    for key, pod in self.snap.pods.items():
        if pod.state != PENDING or not pod.ours or key in self.nominated:
            continue
        status = pod.raw.get("status")
        node = status.get("nominatedNodeName") if isinstance(status, dict) else None
        if isinstance(node, str) and node in self.nodes:
            self.nominated[key] = node
    # (added with the pins, gpuplane nomfix: the pins carried from earlier cycles are pruned the same way)
    for key in [k for k, pl in self.pinned.items() if self.nominated.get(k) != pl.node]:
        del self.pinned[key]


def _ref_cluster_subgroup_tree(self, group: GroupInfo) -> Optional[SubGroupTree]:
    """The PodGroup's SubGroup tree (``None`` without ``spec.subGroups``), built once per run."""
    trees = getattr(self, "_sg_trees", None)
    if trees is None:
        trees = self._sg_trees = {}
    if group.key not in trees:
        labels = {k: self.snap.pods[k].pod.metadata.labels or {} for k in group.pods}
        trees[group.key] = build_tree(group.key, group.raw, labels) if group.raw is not None else None
    return trees[group.key]


def _ref_cluster_finish_evictions(self) -> None:
    """Between rounds: pods evicted in the round are deleted and come back as Pending pods."""
    for key in sorted(self.evicted):
        pod = self.snap.pods[key]
        self.release(pod)
    self.evicted = {}
    self.releasing_q = {q: _zero() for q in self.snap.tree}
    self.pipelined_q = {q: _zero() for q in self.snap.tree}
    for key in [k for k in self.nominated if k in self.placements]:
        del self.nominated[key]
        self.pinned.pop(key, None)  # (added with the pins)


def _ref_cluster_allocate(self) -> None:
    jobs = {q: list(gs) for q, gs in self.jobs.items()}
    # jobs nominated by reclaim/preempt/consolidation go first: the resources their victims
    # released are theirs (otherwise the victims, recreated, could take them back: a loop)
    nominated = [g for gs in jobs.values() for g in gs
                 if self.nominated and any(p.key in self.nominated for p in self.pending_pods(g))]
    nominated = sorted(nominated, key=lambda g: (self._queue_key(g.queue), -g.priority, g.creation, g.key))
    if self.pinned and nominated:  # (added with the pins: the pods of each nominated job pinned first)
        self._place_pinned(nominated)
    for group in nominated:
        jobs[group.queue].remove(group)
        self.allocate_group(group)
    depth = self.config.queue_depth.get("allocate")
    tried: dict[str, int] = {}
    while True:
        q = self.next_queue(jobs)
        if q is None:
            break
        group = jobs[q].pop(0)
        tried[q] = tried.get(q, 0) + 1
        if depth is not None and tried[q] >= depth:
            for g in jobs[q]:
                self._fail_group(g, self.pending_pods(g), PendingReason(
                    "QueueDepth", f"queue {q} reached queueDepthPerAction.allocate ({depth}) this round", queue=q))
            jobs[q] = []
        self.allocate_group(group)



def _charge_sum(charges: list[dict[str, Fraction]]) -> dict[str, Fraction]:
    out = {r: Fraction(0) for r in RESOURCES}
    for ch in charges:
        for r in RESOURCES:
            out[r] += ch[r]
    return out


def _leveled(c: "_Cluster", a: str, b: str) -> tuple[str, str]:
    tree = c.snap.tree
    pa = [a] + tree.ancestors(a)
    pb = [b] + tree.ancestors(b)
    common = set(pa) & set(pb)
    ra = next((i for i, q in enumerate(pa) if q in common), len(pa))
    rb = next((i for i, q in enumerate(pb) if q in common), len(pb))
    return pa[ra - 1], pb[rb - 1]


def _reclaim_acceptable(c: "_Cluster", job: GroupInfo, request: dict[str, Fraction], rs: list[str]):
    """A victim may be added if its queue (at the leveled level) still meets one strategy, and the
    post-check holds, with all victims chosen so far removed."""
    removed: dict[str, dict[str, Fraction]] = {}

    def check(cand: tuple[GroupInfo, list[PodInfo]]) -> bool:
        g, pods = cand
        rl, vl = _leveled(c, job.queue, g.queue)
        ch = _charge_sum([c.held_charge(p) for p in pods])
        prev = removed.get(vl, {r: Fraction(0) for r in RESOURCES})
        ra = c.eff_alloc(rl)
        va = c.eff_alloc(vl)
        rem = {r: float(va[r] - prev[r] - ch[r]) for r in RESOURCES}
        vfair = c.fair.get(vl, {})
        rfair = c.fair.get(rl, {})
        maintain = all(rem[r] >= vfair.get(r, 0.0) - EPS for r in rs)
        guarantee = False
        if not maintain:
            rq = [_quota(c, rl, r) for r in rs]
            vq = [_quota(c, vl, r) for r in rs]
            fits = all(q is not None and float(ra[r] + request[r]) <= q + EPS for q, r in zip(rq, rs))
            guarantee = fits and any(q is not None and rem[r] > q + EPS for q, r in zip(vq, rs))
        if not (maintain or guarantee):
            return False
        # post-check: the reclaimer (with the job) stays the lowest of the two
        for r in rs:
            ratio_r = _ratio(float(ra[r] + request[r]), rfair.get(r, 0.0))
            if ratio_r <= 1 + EPS or vfair.get(r, 0.0) <= 0:
                continue
            if not ratio_r < _ratio(rem[r], vfair.get(r, 0.0)):
                return False
        removed[vl] = {r: prev[r] + ch[r] for r in RESOURCES}
        return True
    return check


def plan_reclaim(c: "_Cluster", job: GroupInfo, explain: bool = False) -> Plan:
    """The reclaim search for one pending job (see the module docstring)."""
    plan = Plan("reclaim")
    pending, need = _needed(c, job)
    request = _charge_sum([c.charge_for(p) for p in pending[:need]])
    if not can_reclaim(c, job, request):
        if explain:
            a, fair = c.eff_alloc(job.queue), c.fair.get(job.queue, {})
            r = next(r for r in RESOURCES if float(a[r] + request[r]) > fair.get(r, 0.0) + EPS)
            plan.why = (f"queue {job.queue} would go above its fair share: {format_amount(r, a[r])} allocated + "
                        f"{format_amount(r, request[r])} requested > fair share {format_amount(r, fair.get(r, 0.0))}")
        return plan
    rs = ["gpu"] if request["gpu"] > 0 else [r for r in RESOURCES if request[r] > 0]
    if not rs:
        if explain:
            plan.why = "the job requests no resources to reclaim"
        return plan
    cands = []
    fits_cache: dict[str, bool] = {}

    def hopeful(vl: str, ch: dict[str, Fraction]) -> bool:
        """Whether accept() could take a victim of leveled queue ``vl`` holding ``ch``: victims
        chosen before it only lower what ``vl`` keeps, so if neither strategy holds with this
        victim alone, none does (a necessary condition, cheap: no search)."""
        va, vfair = c.eff_alloc(vl), c.fair.get(vl, {})
        if all(float(va[r] - ch[r]) >= vfair.get(r, 0.0) - EPS for r in rs):
            return True  # MaintainFairShare may hold
        rl = _leveled(c, job.queue, vl)[0]
        fits = fits_cache.get(rl)
        if fits is None:
            ra = c.eff_alloc(rl)
            fits = fits_cache[rl] = all(q is not None and float(ra[r] + request[r]) <= q + EPS
                                        for q, r in ((_quota(c, rl, r), r) for r in rs))
        return fits and any((q := _quota(c, vl, r)) is not None and float(va[r] - ch[r]) > q + EPS for r in rs)

    zero = {r: Fraction(0) for r in RESOURCES}
    open_q: dict[str, bool] = {}  # leveled victim queue -> could any victim of it be accepted
    for g in c.snap.groups.values():
        if g.queue == job.queue or g.queue not in c.snap.tree:
            continue
        if not explain:
            vq = _leveled(c, job.queue, g.queue)[1]
            ok = open_q.get(vq)
            if ok is None:
                ok = open_q[vq] = hopeful(vq, zero)  # victims only lower what it keeps
            if not ok:
                continue
        pods = _victim_ok(c, g)
        if pods is None:
            if explain:
                why = _why_not_victim(c, g)
                if why and any(c.held_charge(p)[r] > 0 for p in _active(c, g) for r in rs):
                    plan.block(why, g)
            continue
        _, vl = _leveled(c, job.queue, g.queue)
        ch = _charge_sum([c.held_charge(p) for p in pods])
        if not any(ch[r] > 0 for r in rs):
            continue
        if not explain and len(pods) <= max(g.min_member, 1) and not hopeful(vl, ch):
            continue  # accept() would refuse it whatever was chosen before it (it has no surplus pods)
        left = _min_runtime_left(c, g, vl, "reclaimMinRuntime")
        if explain and left > 0:
            plan.block(f"within reclaimMinRuntime ({_seconds(left)} left)", g)
        cands += _victim_units(c, g, pods, left <= 0)
    if not cands:
        if explain:
            plan.why = f"no job of another queue holding {'/'.join(rs)} may be evicted"
        return plan

    def over(q: str) -> float:
        a = c.eff_alloc(q)
        return max((_ratio(float(a[r]), c.fair.get(q, {}).get(r, 0.0)) for r in rs), default=0.0)

    cands.sort(key=lambda v: (-over(v[0].queue), v[0].queue, _victim_order(v[0])))
    accept = _reclaim_acceptable(c, job, request, rs)
    taken = [0]
    if explain:
        inner = accept

        def accept(cand: tuple[GroupInfo, list[PodInfo]]) -> bool:  # type: ignore[no-redef]
            ok = inner(cand)
            if not ok:
                plan.block(f"its queue {_leveled(c, job.queue, cand[0].queue)[1]} would fall below its fair share", cand[0])
            else:
                taken[0] += 1
            return ok
    found = _search(c, job, cands, accept)
    if found is not None:
        plan.victims, plan.fit = found
        plan.blocked = {}
    elif explain:
        plan.why = ("evicting the jobs of other queues that may be evicted would not make room" if taken[0] else
                    f"no job of another queue holding {'/'.join(rs)} may be evicted")
    return plan


def reclaim(c: "_Cluster") -> None:
    failed: set[tuple] = set()  # shapes whose search found nothing since the last commit
    for job in _pending_jobs(c):
        pending, need = _needed(c, job)
        if not pending or not _delay_elapsed(c, job):
            continue
        shape = _shape_of(c, job)
        if shape is not None and shape in failed:
            continue
        plan = plan_reclaim(c, job)
        if plan.victims is not None and plan.fit is not None:
            _commit(c, "reclaim", job, plan.victims, plan.fit)
            failed.clear()
        elif shape is not None:
            failed.add(shape)


def preempt(c: "_Cluster") -> None:
    by_queue: dict[str, list[GroupInfo]] = {}  # the groups of each queue, in snapshot order
    lowest: dict[str, int] = {}  # per queue, the lowest priority of a job holding something
    for g in c.snap.groups.values():
        by_queue.setdefault(g.queue, []).append(g)
        if g.preemptible and (g.queue not in lowest or g.priority < lowest[g.queue]) and _active(c, g):
            lowest[g.queue] = g.priority
    for job in _pending_jobs(c):
        if job.queue not in lowest or job.priority <= lowest[job.queue]:
            continue  # no victim: nothing preemptible of a lower priority runs in its queue
        if not c.pending_pods(job) or not _delay_elapsed(c, job):
            continue
        plan = plan_preempt(c, job, by_queue)
        if plan.victims is not None and plan.fit is not None:
            _commit(c, "preempt", job, plan.victims, plan.fit)


def stale_gang_eviction(c: "_Cluster") -> None:
    for g in c.snap.groups.values():
        if g.kind != "PodGroup" or g.min_member <= 1 and g.raw is None:
            continue
        pods = _pods(c, g)
        active = [p for p in pods if c.is_active(p)]
        if not active or len(active) >= g.min_member:
            continue
        if any(p.state == SUCCEEDED for p in pods):
            continue
        if not g.preemptible:
            # KAI evicts broken gangs whatever their preemptibility; gpuplane keeps the
            # guarantee that non-preemptible work is never evicted, and explains instead.
            continue
        if any(c.placements.get(p.key) is not None and c.placements[p.key].round == c.round for p in active):
            continue
        if any(not p.ours for p in active):  # (a pod of another scheduler is never evicted)
            continue
        grace = _job_setting(c, g, "stalenessGracePeriod", STALENESS_ANNOTATION)
        if grace is None:
            grace = DEFAULT_STALENESS_GRACE_S
        if grace < 0:
            continue
        since = parse_time(_pg_annotations(g).get(STALE_SINCE_ANNOTATION))
        if since is None:
            created = [parse_time(p.creation) for p in c.pending_pods(g)]
            known = [t for t in created if t is not None]
            since = min(known) if known else None
        if since is None or c.now_s - since <= grace:
            continue
        short = g.min_member - len(active)
        for p in active:
            c.evict(p, "stalegangeviction",
                    f"stale gang {g.ref}: {len(active)} of minMember {g.min_member} pods running (short by {short})"
                    f" for longer than the staleness grace period ({grace:g}s)")


def consolidation(c: "_Cluster") -> None:
    """KAI ``actions/consolidation``, conservatively: a pending preemptible job that wants GPUs and
    fits nowhere, while the cluster has enough idle GPUs in total, may move preemptible running
    jobs (of any queue) to other nodes: the victims are evicted and nominated on their new nodes,
    and the scenario is only taken if *every* victim pod is placed again (none is lost) and the
    job fits. At most 16 victim pods. Off with a ``spread`` placement strategy, as in KAI."""
    if "spread" in c.strategies.values():
        return
    failed: set[tuple] = set()  # shapes whose search found nothing since the last commit
    shared: Optional[list[tuple[GroupInfo, list[PodInfo]]]] = None
    for job in _pending_jobs(c):
        if not job.preemptible:
            continue
        pending, need = _needed(c, job)
        if not pending or len(pending) < need or not _delay_elapsed(c, job):
            continue
        request = _charge_sum([c.charge_for(p) for p in pending[:need]])
        if request["gpu"] <= 0:
            continue
        if not can_reclaim(c, job, request):
            continue  # over its fair share: reclaim would take it back (docs/fairness.md)
        idle = c.free_index.total  # == sum of ns.gpu_free over c.nodes, kept up to date
        if idle < request["gpu"]:
            continue
        shape = _shape_of(c, job)
        if shape is not None and shape in failed:
            continue
        # the candidates are the same for every job holding nothing (it is no victim itself)
        # until something is committed: built once then
        own = c.active_count(job) > 0
        cands = None if own else shared
        if cands is None:
            cands = []
            for g in c.snap.groups.values():
                if g.key == job.key:
                    continue
                pods = _victim_ok(c, g)
                if pods is None or not any(c.held_charge(p)["gpu"] > 0 for p in pods):
                    continue
                cands.append((g, pods))
            cands.sort(key=lambda v: _victim_order(v[0]))
            if not own:
                shared = cands

        count = [0]

        def small(cand: tuple[GroupInfo, list[PodInfo]]) -> bool:
            if count[0] + len(cand[1]) > MAX_CONSOLIDATION_PREEMPTEES:
                return False
            count[0] += len(cand[1])
            return True

        found = _search(c, job, cands, small, lambda cl, j, v: _simulate(cl, j, v, move=True))
        if found is not None:
            _commit(c, "consolidation", job, *found)
            failed.clear()
            shared = None
        elif shape is not None:
            failed.add(shape)
