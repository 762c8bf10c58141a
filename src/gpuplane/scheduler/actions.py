"""KAI's evicting actions: reclaim, preempt, stale-gang eviction (and the consolidation stub).

They run after allocate in every round (:func:`gpuplane.scheduler.cycle.run_rounds`), on the
round's mutable state (``cycle._Cluster``). An eviction does not free anything in the round
itself: the victim is Releasing (its ``metadata.deletionTimestamp`` is set in the output if
this is the last round) and keeps its node resources until the round ends; then it is deleted
and comes back as a new Pending pod with the same name. The job that caused the eviction is
*nominated*: its pods get ``status.nominatedNodeName`` (the node that frees up) and are
placed by allocate in a later round, which prefers the nominated node.

Common rules (KAI: ``actions/common/solvers``, ``plugins/proportion``, ``plugins/minruntime``):

- Victims are whole jobs (gangs): every active pod of a PodGroup, or a lone pod — except
  elastic jobs (more active pods than ``minMember``): each pod above ``minMember`` (youngest
  first) is a victim of its own, tried before the job's core, and may go even while min-runtime
  protects the core; the core (``minMember`` pods) only goes with all of them (KAI
  ``splitVictimTasks``). Only preemptible jobs of this scheduler are victims; non-preemptible
  jobs, pods of other schedulers, jobs bound in the current round (still "binding"), jobs
  already Releasing in the input, and jobs holding a DRA ResourceClaim that a pod of another
  job also names never are. Evicting a job deallocates the claims only it uses (the devices go
  back to the allocator once its last pod holding them is gone; the output drops their
  ``status.allocation`` and ``reservedFor`` from the round after the eviction).
- Victim order: the reversed job order — lower priority first, then younger (later
  creationTimestamp), then name; for reclaim, queues most over their fair share first.
- Search: victims are added one job at a time until the pending job's missing gang members
  (``minMember`` minus running, at least one pod) fit with the victims' resources freed (a
  simulation; skipped while a count of whole free GPUs per node shows it cannot fit; at most
  64 simulations per job and action); then victims on nodes the job does not use, and then
  any other victim not needed (last added first), are dropped, so no job is evicted for nothing.
- A pending job may only trigger evictions after its ``preemptionDelay`` (PodGroup
  ``spec.preemptionDelay`` or annotation ``kai.scheduler/preemption-delay`` on the PodGroup or
  the pod), counted from the later of its creation, its PodGroup annotation
  ``kai.scheduler/last-eviction-timestamp`` and its last eviction in this run.
- Min-runtime: a victim that started less than ``preemptMinRuntime`` (preempt; resolved from
  the victim's queue upward) or ``reclaimMinRuntime`` (reclaim; resolved from the victim's
  ancestor just below the lowest common ancestor with the reclaimer, upward; when no queue sets
  it, the scheduler config's ``minRuntime`` default, else 0) ago is protected. The start is the PodGroup annotation ``kai.scheduler/last-start-timestamp``, else
  the latest ``status.startTime`` (else ``creationTimestamp``) of its running pods; pods bound
  in this run started "now". Times are measured against ``--now``.

Reclaim (KAI ``actions/reclaim`` + proportion ``reclaimable``): a pending job of leaf queue Q
may reclaim when ``allocated(Q) + request(job) <= fairShare(Q)`` in every resource (``allocated``
here excludes pods being evicted and includes jobs already nominated this round). Victims are in
other queues. With the leveled queues R (reclaimer side) and V (victim side) — the ancestors
just below their lowest common ancestor — each victim must satisfy one strategy on the reclaimed
resources (GPU when the job wants GPUs, else the resources it requests):

- MaintainFairShare: V's allocation after removing the victims stays >= its fair share;
- GuaranteeDeservedQuota: R + request fits under R's quota (deserved), and V's remaining
  allocation stays above V's quota in some reclaimed resource.

Post-check (``reclaimingQueuesRemainWithinBoundaries``): for each V that loses resources and
each reclaimed resource, ``ratio(R with the request) <= 1`` or ``fairShare(V) <= 0`` or
``ratio(R) < ratio(V after the victims)``, where ratio = allocated / fairShare.

Preempt (KAI ``actions/preempt``): a pending job may evict preemptible jobs of its own queue with
strictly lower priority. A non-preemptible preemptor still may not go over its queue's quota
(the allocate check applies to the simulated placement).

Stale-gang eviction (KAI ``actions/stalegangeviction``): a PodGroup with running pods, no
Succeeded pod, and fewer running pods than ``minMember`` is stale. It is stale since its PodGroup
annotation ``kai.scheduler/stale-podgroup-timestamp``, else since the earliest creation of its
pending pods (the replacements of the pods it lost). Once stale for longer than its grace period
(``spec.stalenessGracePeriod``, annotation ``kai.scheduler/staleness-grace-period``, default
60s; negative disables), all its running pods are evicted — as in KAI, whatever their
preemptibility (this is not preemption: the gang is broken) — unless one of them is a pod of
another scheduler (never evicted).

Consolidation: see :func:`consolidation` (conservative: all victims must be placed again).

:func:`plan_reclaim` and :func:`plan_preempt` are the searches of reclaim and preempt for one
job, without committing; with ``explain=True`` they also say why nothing would be evicted
(``gpuplane explain`` uses them, see :mod:`gpuplane.scheduler.unblock`).
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional

from ..api.core import RELEASING, SUCCEEDED
from ..api.kai import parse_duration
from .cycle import _UNSET, MB, Placement, format_amount, parse_time
from .queues import RESOURCES, UNLIMITED
from .snapshot import GroupInfo, Key, PodInfo

if TYPE_CHECKING:  # pragma: no cover
    from .cycle import _Cluster

__all__ = ["reclaim", "preempt", "stale_gang_eviction", "consolidation", "plan_reclaim", "plan_preempt", "Plan",
           "delay_left", "DEFAULT_STALENESS_GRACE_S"]

DEFAULT_STALENESS_GRACE_S = 60.0
EPS = 1e-9

PREEMPTION_DELAY_ANNOTATION = "kai.scheduler/preemption-delay"
STALENESS_ANNOTATION = "kai.scheduler/staleness-grace-period"
LAST_START_ANNOTATION = "kai.scheduler/last-start-timestamp"
LAST_EVICTION_ANNOTATION = "kai.scheduler/last-eviction-timestamp"
STALE_SINCE_ANNOTATION = "kai.scheduler/stale-podgroup-timestamp"


# --- small helpers ---------------------------------------------------------------------------


def _duration(text: Any) -> Optional[float]:
    if text is None or text == "":
        return None
    try:
        return parse_duration(str(text))
    except ValueError:
        return None


def _group_id(group: GroupInfo) -> Any:
    return group.key if group.kind == "PodGroup" else ("pod", *group.key)


def _pg_annotations(group: GroupInfo) -> dict[str, Any]:
    if group.raw is None:
        return {}
    ann = (group.raw.get("metadata") or {}).get("annotations") or {}
    return ann if isinstance(ann, dict) else {}


def _pg_spec(group: GroupInfo) -> dict[str, Any]:
    if group.raw is None:
        return {}
    spec = group.raw.get("spec") or {}
    return spec if isinstance(spec, dict) else {}


def _pods(c: "_Cluster", group: GroupInfo) -> list[PodInfo]:
    return [c.snap.pods[k] for k in group.pods]


def _active(c: "_Cluster", group: GroupInfo) -> list[PodInfo]:
    return [p for p in _pods(c, group) if c.is_active(p)]


def _job_setting(c: "_Cluster", group: GroupInfo, field: str, annotation: str) -> Optional[float]:
    v = _duration(_pg_spec(group).get(field))
    if v is None:
        v = _duration(_pg_annotations(group).get(annotation))
    if v is None:
        for p in _pods(c, group):
            v = _duration((p.pod.metadata.annotations or {}).get(annotation))
            if v is not None:
                break
    return v


def _charge_sum(charges: list[dict[str, Fraction]]) -> dict[str, Fraction]:
    """The sum of the charges, exactly; a whole amount as an int (the searches subtract and
    compare these a lot, and int arithmetic is much cheaper than Fraction's)."""
    return {r: _exact_total([ch[r] for ch in charges]) for r in RESOURCES}


def _exact_total(values: list[Fraction]) -> Fraction:
    """``sum(values)`` exactly, adding numerators per denominator (values share a few); a whole
    sum as an int."""
    by_den: dict[int, int] = {}
    try:
        for v in values:
            d = v.denominator
            by_den[d] = by_den.get(d, 0) + v.numerator
    except AttributeError:  # a float among them: plain addition
        return sum(values, Fraction(0))
    if len(by_den) == 1:
        (d, n), = by_den.items()
        total: Fraction | int = n if d == 1 else Fraction(n, d)
    else:
        total = Fraction(0)
        for d, n in by_den.items():
            total += Fraction(n, d)
    return total.numerator if total.denominator == 1 else total  # type: ignore[return-value]


def _held_sum(c: "_Cluster", pods: list[PodInfo]) -> dict[str, Fraction]:
    """``_charge_sum([c.held_charge(p) for p in pods])``. A pod held since the snapshot with no
    claims and no shared GPU counts its whole GPUs, its CPU and its memory / 10^6 (what
    ``charge_for`` says, whatever the node): those are added up first, and their memory divided
    once, instead of one charge dict and one Fraction division per pod."""
    charges: list[dict[str, Fraction]] = []
    gpu = 0
    cpu: list[Fraction] = []
    mem: list[Fraction] = []
    placements = c.placements
    for p in pods:
        d = p.gpu
        if p.key in placements or p.claims or (not d.whole and d.is_shared) or type(p.memory) is not Fraction:
            charges.append(c.held_charge(p))
            continue
        gpu += d.whole
        cpu.append(p.cpu_milli)
        mem.append(p.memory)
    if not mem:
        return _charge_sum(charges)
    memory = Fraction(_exact_total(mem)) / MB
    simple = {"gpu": gpu, "cpu": _exact_total(cpu),
              "memory": memory.numerator if memory.denominator == 1 else memory}  # (as _charge_sum's)
    return _charge_sum(charges + [simple]) if charges else simple


def _held_gpu_sum(c: "_Cluster", pods: list[PodInfo]) -> dict[str, Fraction]:
    """``{"gpu": _held_sum(c, pods)["gpu"]}``, the same value, without the other resources (the
    reclaim search of a job that wants GPUs reads nothing else of a victim's charge): the
    simple pods' whole GPUs added last, as :func:`_held_sum` adds them."""
    gpus: list[Any] = []
    whole = 0
    simple = False
    placements = c.placements
    for p in pods:
        d = p.gpu
        if p.key in placements or p.claims or (not d.whole and d.is_shared) or type(p.memory) is not Fraction:
            gpus.append(c.held_charge(p)["gpu"])
            continue
        whole += d.whole
        simple = True
    if not simple:
        return {"gpu": _exact_total(gpus)}
    if not gpus:
        return {"gpu": whole}
    gpus.append(whole)
    return {"gpu": _exact_total(gpus)}


def _queue_min_runtime(c: "_Cluster", queue: str, field: str) -> float:
    """The first ``field`` (preemptMinRuntime / reclaimMinRuntime) set from ``queue`` upward; else
    the scheduler config's ``minRuntime.<field>`` (KAI's plugin default; 0 when not configured).
    Memoised per run (queues and config do not change in a run)."""
    return _per_run(c, "_min_runtime_memo", _queue_min_runtime_of, queue, field)


def _per_run(c: "_Cluster", name: str, fn: Any, *args: Any) -> Any:
    """``fn(c, *args)``, computed once per run (kept in ``c.<name>``): for what reads only inputs
    fixed in a run (the queue tree, the configuration)."""
    memo = c.__dict__.get(name)
    if memo is None:
        memo = c.__dict__[name] = {}
    hit = memo.get(args)
    if hit is None:
        hit = memo[args] = fn(c, *args)
    return hit


def _queue_min_runtime_of(c: "_Cluster", queue: str, field: str) -> float:
    for q in [queue] + c.snap.tree.ancestors(queue):
        raw = c.snap.queues_raw.get(q) or {}
        v = _duration((raw.get("spec") or {}).get(field))
        if v is not None:
            return v
    if field == "preemptMinRuntime":
        return c.config.preempt_min_runtime_s
    return c.config.reclaim_min_runtime_s


def _started(c: "_Cluster", group: GroupInfo) -> float:
    t = parse_time(_pg_annotations(group).get(LAST_START_ANNOTATION))
    if t is not None:
        return t
    best: Optional[float] = None
    for p in _active(c, group):
        if p.key in c.placements:
            s: Optional[float] = c.now_s
        else:
            status = p.raw.get("status") if isinstance(p.raw.get("status"), dict) else {}
            s = parse_time(status.get("startTime")) or parse_time(p.creation)
        if s is not None and (best is None or s > best):
            best = s
    return best if best is not None else float("-inf")


def delay_left(c: "_Cluster", group: GroupInfo) -> float:
    """Seconds until the job's ``preemptionDelay`` has elapsed (0 when it has, or there is none)."""
    delay = _preemption_delay(c, group)
    if not delay or delay <= 0:
        return 0.0
    since = [parse_time(group.creation), parse_time(_pg_annotations(group).get(LAST_EVICTION_ANNOTATION)),
             c.group_evicted_at.get(_group_id(group))]
    known = [s for s in since if s is not None]
    start = max(known) if known else float("-inf")
    left = delay - (c.now_s - start)
    return left if left > 0 else 0.0


def _preemption_delay(c: "_Cluster", group: GroupInfo) -> Optional[float]:
    """The job's ``preemptionDelay`` setting (see :func:`_job_facts`)."""
    return _job_facts(c, group)[0]


_NO_SPEC_KEY = object()  # (the PodGroup's spec or annotations cannot be sorted)


def _job_facts(c: "_Cluster", group: GroupInfo) -> tuple[Optional[float], Any]:
    """``(preemptionDelay setting, spec key for _shape_of)`` of a job: they read only the group
    (its PodGroup) and its pods' objects, so they are kept per group (``c._jobs_memo``, carried
    between cycles by the account) and reused while the group and the snapshot's pods of it are
    the very objects they were computed from (the snapshot keeps unchanged ones); for a job
    untouched in the run, with its still facts (``_Cluster._still_facts``: the same check)."""
    if id(group) not in c._touched:
        entry = c._still_facts(group)
        if entry.facts is None:
            entry.facts = _job_facts_now(c, group)
        return entry.facts
    return _job_facts_now(c, group)


def _job_facts_now(c: "_Cluster", group: GroupInfo) -> tuple[Optional[float], Any]:
    """:func:`_job_facts` without the still facts."""
    pods = c.snap.pods
    hit = c._jobs_memo.get(id(group))
    if hit is not None and hit[0] is group:
        for k, p in zip(group.pods, hit[1]):  # (a loop: no generator per call)
            if pods[k] is not p:
                break
        else:
            return hit[2], hit[3]
    delay = _job_setting(c, group, "preemptionDelay", PREEMPTION_DELAY_ANNOTATION)
    spec = _pg_spec(group)
    try:
        spec_key: Any = (repr(sorted((k, repr(v)) for k, v in spec.items() if k != "minMember")),
                         repr(sorted((k, repr(v)) for k, v in _pg_annotations(group).items())))
    except TypeError:
        spec_key = _NO_SPEC_KEY
    c._jobs_memo[id(group)] = (group, tuple(pods[k] for k in group.pods), delay, spec_key)
    return delay, spec_key


def _delay_elapsed(c: "_Cluster", group: GroupInfo) -> bool:
    """``delay_left(c, group) <= 0`` (at once without a delay: the common case)."""
    delay = _preemption_delay(c, group)
    if not delay or delay <= 0:
        return True
    return delay_left(c, group) <= 0


# --- victims and the simulated placement -------------------------------------------------------


def _victim_ok(c: "_Cluster", group: GroupInfo) -> Optional[list[PodInfo]]:
    """The active pods of a job that may be evicted at all, or ``None``."""
    if not group.preemptible or group.queue not in c.snap.tree:
        return None
    active = _active(c, group)
    if not active:
        return None
    for p in _pods(c, group):
        if c.holds(p) and not p.ours:
            return None
        for ref in p.claims if c.holds(p) else ():
            if ref.claim is not None and any(c._group_of(c.snap.pods[u]).key != group.key for u in c.claim_users(ref.claim)):
                return None  # a claim shared with another job: evicting this one frees nothing of it
    for p in active:
        pl = c.placements.get(p.key)
        if pl is not None and pl.round == c.round:
            return None  # bound in this round: still binding
        if pl is None and p.state == RELEASING:
            return None  # already being deleted
    return active


def _victim_gpus(c: "_Cluster", group: GroupInfo) -> tuple[Optional[list[PodInfo]], Optional[dict[str, Fraction]]]:
    """``(_victim_ok(c, group), _held_gpu_sum of those pods)`` (``(None, None)`` if it is no
    victim), memoised for the evicting actions of one round: consolidation and reclaim both ask
    it of every job. Between their commits the state they read is the same whenever they ask
    (their searches undo what they try). A commit evicts pods: of the jobs, only the victims'
    own answers change (their pods stop being active), so only those are dropped; unless a
    victim holds claims (another job may share them: everything is dropped). The key counts
    placements too, for a caller between two binds."""
    memo = c.__dict__.get("_victim_gpus_memo")
    if memo is None or memo[0] != c.round or memo[1] != len(c.placements):
        memo = c.__dict__["_victim_gpus_memo"] = (c.round, len(c.placements), {}, [len(c.evicted)])
    table, seen = memo[2], memo[3]
    if len(c.evicted) != seen[0]:  # (evicted only grows in a round, in order)
        for k in list(c.evicted)[seen[0]:]:
            pod = c.snap.pods[k]
            if pod.claims:
                table.clear()
                break
            table.pop(id(c._group_of(pod)), None)
        seen[0] = len(c.evicted)
    hit = table.get(id(group))
    if hit is not None and hit[0] is group:
        return hit[1], hit[2]
    pods, ch = _victim_gpus_carried(c, group)
    table[id(group)] = (group, pods, ch)
    return pods, ch


def _victim_gpus_carried(c: "_Cluster", group: GroupInfo) -> tuple[Optional[list[PodInfo]], Optional[dict[str, Fraction]]]:
    """:func:`_victim_gpus` without the round's memo, carried between cycles for plain jobs.

    For a job none of whose pods this run has placed, evicted or released, and whose pods have
    no claims, no shared GPU and exact memory, the answer reads only the group, its pods'
    objects (state, node, ownership, whole GPUs: fixed per object), whether its queue exists
    and whether its pods' nodes exist (``holds``). Kept per group (``c._victims_memo``, the
    account's between cycles) with those pods, and reused while they are the very objects of
    the snapshot, still untouched, on existing nodes."""
    snap_pods, placements, evicted, released, nodes = c.snap.pods, c.placements, c.evicted, c.released, c.nodes
    memo = c._victims_memo
    hit = memo.get(id(group))
    if hit is not None and hit[0] is group:
        moved = id(group) in c._touched  # (else none of its pods is placed, evicted or released)
        for k, p in zip(group.pods, hit[1]):
            if snap_pods[k] is not p or (p.node_name and p.node_name not in nodes) \
                    or moved and (k in placements or k in evicted or k in released):
                break
        else:
            return (hit[2], hit[3]) if group.queue in c.snap.tree else (None, None)
    pods = _victim_ok(c, group)
    ch = None if pods is None else _held_gpu_sum(c, pods)
    mine = tuple(snap_pods[k] for k in group.pods)
    if group.queue in c.snap.tree and all(
            not p.claims and not p.gpu.is_shared and type(p.memory) is Fraction and k not in placements
            and k not in evicted and k not in released and (not p.node_name or p.node_name in nodes)
            for k, p in zip(group.pods, mine)):
        memo[id(group)] = (group, mine, pods, ch)
    return pods, ch


class _Surplus(list):
    """The pods of a victim unit above its job's minMember (elastic): evictable one by one,
    before the job's core, and even while the core is min-runtime protected."""


def _victim_units(c: "_Cluster", group: GroupInfo, pods: list[PodInfo], core_ok: bool = True
                  ) -> list[tuple[GroupInfo, list[PodInfo]]]:
    """KAI ``splitVictimTasks``: an elastic job (more active pods than minMember) offers each pod
    above minMember as its own victim (youngest first), then its core (minMember pods) as one
    unit; any other job is one unit. ``core_ok``: whether the core (the whole job) may go.
    A PodGroup with SubGroups is one unit too: its minimum is per SubGroup, so "the youngest pods
    above minMember" could cut a required SubGroup below its own minimum."""
    extra = len(pods) - max(group.min_member, 1)
    if group.kind != "PodGroup" or extra <= 0 or c.subgroup_tree(group) is not None:
        return [(group, pods)] if core_ok else []
    order = sorted(pods, key=lambda p: (p.creation, p.key), reverse=True)
    units: list[tuple[GroupInfo, list[PodInfo]]] = [(group, _Surplus([p])) for p in order[:extra]]
    if core_ok:
        units.append((group, order[extra:]))
    return units


def _closure(chosen: list[tuple[GroupInfo, list[PodInfo]]], keep: list[tuple[GroupInfo, list[PodInfo]]]
             ) -> list[tuple[GroupInfo, list[PodInfo]]]:
    """``keep`` plus, for every job whose core it keeps, that job's surplus pods from ``chosen``:
    a gang is never cut below minMember while pods above it stay."""
    cores = {(g.kind, g.key) for g, pods in keep if not isinstance(pods, _Surplus)}
    ids = {id(v) for v in keep}
    return [v for v in chosen if id(v) in ids or ((v[0].kind, v[0].key) in cores and isinstance(v[1], _Surplus))]


def _needed(c: "_Cluster", job: GroupInfo) -> tuple[list[PodInfo], int]:
    pending = c.pending_pods(job)
    need = max(1, job.min_member - c.active_count(job))
    return pending, need


def _simulate(c: "_Cluster", job: GroupInfo, victims: list[tuple[GroupInfo, list[PodInfo]]],
              move: bool = False) -> Optional[dict[Key, Placement]]:
    """Free the victims, try to place the job's missing pods (and, with ``move``, every victim pod
    again elsewhere), undo everything; the placements if it all fits."""
    pending, need = _needed(c, job)
    if len(pending) < need:
        return None
    tokens = []
    for _, pods in victims:
        for p in pods:
            tokens.append((p, c.release(p)))
    out = _try_released(c, job, pending, need, victims, move)
    for p, token in reversed(tokens):
        c.rehold(p, token)
    return out


def _try_released(c: "_Cluster", job: GroupInfo, pending: list[PodInfo], need: int,
                  victims: list[tuple[GroupInfo, list[PodInfo]]], move: bool) -> Optional[dict[Key, Placement]]:
    """:func:`_simulate` with the victims already released: place, undo; the placements if it all fits."""
    checkpoint = c._dra_checkpoint() if any(p.claims for p in pending) else None
    placed: list[tuple[PodInfo, Placement]] = []
    for pod in pending:
        result = c.place(pod, job)
        if isinstance(result, Placement):
            placed.append((pod, result))
            if len(placed) >= need:
                break
    ok = len(placed) >= need
    if ok and move:
        for g, pods in victims:
            for pod in pods:
                result = c.place(pod, g)
                if not isinstance(result, Placement):
                    ok = False
                    break
                placed.append((pod, result))
            if not ok:
                break
    out = {pod.key: p for pod, p in placed} if ok else None
    for pod, p in reversed(placed):
        c.undo(p, pod)
    if checkpoint is not None:
        c._dra_rollback(checkpoint)
    return out


MAX_SIMULATIONS = 64  # simulated scenarios per pending job and action (KAI bounds its search by time)


_NO_HOLD: tuple[tuple[int, ...], Fraction] = ((), Fraction(0))  # (held_gpu's default, built once)


def _gpu_freed(c: "_Cluster", pod: PodInfo) -> Fraction:
    p = c.placements.get(pod.key)
    if p is not None:
        return len(p.gpu_indices) * p.gpu_share
    indices, share = c.held_gpu.get(pod.key, _NO_HOLD)
    return len(indices) * share


def _search(c: "_Cluster", job: GroupInfo, candidates: list[tuple[GroupInfo, list[PodInfo]]],
            accept=None, simulate=None, move: bool = False
            ) -> Optional[tuple[list[tuple[GroupInfo, list[PodInfo]]], dict[Key, Placement]]]:
    """Add victims in order until the job fits; then drop the ones not needed.

    ``accept(candidate)`` says whether a victim may be added to those chosen so far (and records
    it); dropping a victim never breaks the rules, so it is not asked then. A cheap upper bound
    (whole free GPUs per node) skips simulations that cannot succeed.

    ``move``: simulate with :func:`_simulate`'s ``move=True`` (consolidation). Then, while victims
    are added, those chosen so far stay released between two simulations instead of being held
    again and released again for the next one: :func:`_simulate` releases the chosen victims in
    order from the state the search started in, undoes its placements exactly and holds them
    again exactly, so simulation k here sees the very state it would see there (that state plus
    victims 1..k released in order). Only for an ``accept`` that reads no cluster state (the
    victims stay released while it runs; consolidation's counts pods). All are held again, in
    reverse order, before the victims not needed are dropped."""
    if move and simulate is None:
        return _search_move(c, job, candidates, accept)
    simulate = simulate or _simulate
    pending, need = _needed(c, job)
    if len(pending) < need:
        return None
    fit = None
    sims = 0
    chosen: list[tuple[GroupInfo, list[PodInfo]]] = []
    for chosen in _growing(c, candidates, accept, pending, need):
        fit = simulate(c, job, chosen)
        sims += 1
        if fit is not None or sims >= MAX_SIMULATIONS:
            break
    if fit is None:
        return None
    return _drop_unneeded(c, job, chosen, fit, sims, simulate)


class _PodBudget:
    """Consolidation's ``accept``: victims are taken while their pods add up to at most ``limit``
    (it reads no cluster state)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    def __call__(self, cand: tuple[GroupInfo, list[PodInfo]]) -> bool:
        if self.count + len(cand[1]) > self.limit:
            return False
        self.count += len(cand[1])
        return True

    def full(self) -> bool:
        return self.count >= self.limit


def _growing(c: "_Cluster", candidates: list[tuple[GroupInfo, list[PodInfo]]], accept,
             pending: list[PodInfo], need: int) -> Iterator[list[tuple[GroupInfo, list[PodInfo]]]]:
    """The growing phase of :func:`_search`: the victims chosen so far (the same list, grown in
    place), each time one more is accepted and the cheap upper bound (whole free GPUs per node,
    for whole-GPU pods without claims) leaves room for the ``need`` pods."""
    whole = [p.gpu.whole for p in pending]
    w = min(whole) if whole and all(whole) and not any(p.claims for p in pending) else 0
    avail = {n: ns.gpu_free for n, ns in c.nodes.items()}
    slots = sum(int(a // w) for a in avail.values()) if w else 0
    chosen: list[tuple[GroupInfo, list[PodInfo]]] = []
    skipped: set[tuple[str, Key]] = set()  # jobs with a surplus pod not taken: their core may not go
    for cand in candidates:
        surplus = isinstance(cand[1], _Surplus)
        if not surplus and (cand[0].kind, cand[0].key) in skipped:
            continue
        if accept is not None and not accept(cand):
            if surplus:
                skipped.add((cand[0].kind, cand[0].key))
            if type(accept) is _PodBudget and accept.full():
                break  # it takes no candidate any more (each has a pod): nothing more to yield
            continue
        chosen.append(cand)
        if w:
            for p in cand[1]:
                node = c.node_of(p)
                if node in avail:
                    slots -= int(avail[node] // w)
                    avail[node] += _gpu_freed(c, p)
                    slots += int(avail[node] // w)
            if slots < need:
                continue
        yield chosen


def _room_with_all(c: "_Cluster", pending: list[PodInfo], need: int,
                   candidates: list[tuple[GroupInfo, list[PodInfo]]],
                   memo: Optional[dict[Any, Any]] = None, key: Any = None) -> bool:
    """Whether the cheap upper bound of :func:`_growing` (whole free GPUs per node, for whole-GPU
    pods without claims) leaves room for ``need`` pods with *every* candidate released. If not,
    a search (without ``move``) finds nothing: the victims it may choose are some of them,
    releasing fewer frees no more on any node, so the bound never lets it simulate. The free
    GPUs per node with every candidate released are kept in ``memo`` under ``key`` (the
    candidates' own memo key: the same candidates, the same cluster state)."""
    whole = [p.gpu.whole for p in pending]
    w = min(whole) if whole and all(whole) and not any(p.claims for p in pending) else 0
    if not w:
        return True
    avail = memo.get(("room", key)) if memo is not None and key is not None else None
    if avail is None:
        avail = {n: ns.gpu_free for n, ns in c.nodes.items()}
        for _, pods in candidates:
            for p in pods:
                node = c.node_of(p)
                if node in avail:
                    avail[node] += _gpu_freed(c, p)
        if memo is not None and key is not None:
            memo[("room", key)] = avail
    slots = 0
    for a in avail.values():
        slots += int(a // w)
        if slots >= need:
            return True
    return False


def _search_move(c: "_Cluster", job: GroupInfo, candidates: list[tuple[GroupInfo, list[PodInfo]]],
                 accept=None) -> Optional[tuple[list[tuple[GroupInfo, list[PodInfo]]], dict[Key, Placement]]]:
    """:func:`_search` with ``move=True`` (see there): the same steps, the chosen victims kept
    released between the simulations of the growing phase."""
    pending, need = _needed(c, job)
    if len(pending) < need:
        return None
    fit = None
    sims = 0
    chosen: list[tuple[GroupInfo, list[PodInfo]]] = []
    tokens: list[tuple[PodInfo, Any]] = []  # the victims released so far, in order
    released = 0  # how many of ``chosen`` are released
    bound = _MoveBound(c, pending, need)
    bounded = 0  # how many of ``chosen`` the bound has
    try:
        for chosen in _growing(c, candidates, accept, pending, need):
            for _, pods in chosen[bounded:]:
                bound.add(pods)
            bounded = len(chosen)
            if not bound.feasible():
                # the simulation would fail: no placement of the job and the victims fits the
                # GPUs. It still counts (the search stops after as many as before)
                sims += 1
                if sims >= MAX_SIMULATIONS:
                    break
                continue
            for _, pods in chosen[released:]:
                for p in pods:
                    tokens.append((p, c.release(p)))
            released = len(chosen)
            fit = _try_released(c, job, pending, need, chosen, True)
            sims += 1
            if fit is not None or sims >= MAX_SIMULATIONS:
                break
    finally:
        for p, token in reversed(tokens):
            c.rehold(p, token)
    if fit is None:
        return None
    return _drop_unneeded(c, job, chosen, fit, sims, lambda cl, j, v: _simulate(cl, j, v, move=True))


class _MoveBound:
    """A necessary condition for a consolidation simulation to succeed, kept up to date while
    victims are added: the job's ``need`` pods and every victim pod must be placed at once, each
    whole-GPU pod on GPUs nobody uses. Node n has at most ``floor(free_n)`` such GPUs (``free_n``:
    its free GPUs once the victims are released), and pods of ``x`` GPUs or more placed on it add
    up to at most that, so for every ``x > 0``::

        sum over those pods of floor(gpus / x)  <=  sum over nodes of floor(free_n / x)

    (floor is superadditive). Pods that ask for no whole GPU count 0 (the condition only gets
    weaker). When it fails for some ``x``, the simulation would fail too, so it is not run. The
    ``x`` checked: 1, 2, 4, ... up to the largest pod, and every pod size seen."""

    def __init__(self, c: "_Cluster", pending: list[PodInfo], need: int) -> None:
        self.c = c
        self.free: dict[str, Any] = {n: ns.gpu_free for n, ns in c.nodes.items()}
        self.cap: dict[int, int] = {}  # x -> sum over nodes of floor(free_n / x)
        self.demand: dict[int, int] = {}  # x -> sum over the pods of floor(gpus / x)
        self.sizes: list[int] = []
        # the job's pods that the simulation may place: any ``need`` of them; the smallest count least
        for size in sorted(p.gpu.whole for p in pending)[:need]:
            self._item(size)

    def _threshold(self, x: int) -> None:
        self.cap[x] = sum(int(f // x) for f in self.free.values())
        self.demand[x] = sum(s // x for s in self.sizes)

    def _item(self, size: int) -> None:
        if size <= 0:
            return
        x = 1
        while x <= size:
            if x not in self.cap:
                self._threshold(x)
            x *= 2
        if size not in self.cap:
            self._threshold(size)
        self.sizes.append(size)
        for x in self.demand:
            self.demand[x] += size // x

    def add(self, pods: list[PodInfo]) -> None:
        """A victim: its pods are released (their nodes gain what they hold) and placed again."""
        for p in pods:
            node = self.c.node_of(p)
            if node in self.free:
                old = self.free[node]
                new = self.free[node] = old + _gpu_freed(self.c, p)
                for x in self.cap:
                    self.cap[x] += int(new // x) - int(old // x)
            self._item(p.gpu.whole)

    def feasible(self) -> bool:
        return all(self.demand[x] <= cap for x, cap in self.cap.items())


def _drop_unneeded(c: "_Cluster", job: GroupInfo, chosen: list[tuple[GroupInfo, list[PodInfo]]],
                   fit: dict[Key, Placement], sims: int, simulate
                   ) -> Optional[tuple[list[tuple[GroupInfo, list[PodInfo]]], dict[Key, Placement]]]:
    """The end of :func:`_search`: drop the victims the job's fit does not need."""
    # victims on nodes the job does not use are not needed
    used = {pl.node for key, pl in fit.items() if c._group_of(c.snap.pods[key]).key == job.key}
    near = _closure(chosen, [v for v in chosen if any(c.node_of(p) in used for p in v[1])])
    if near and len(near) < len(chosen):
        again = simulate(c, job, near)
        if again is not None:
            chosen, fit = near, again
    for v in list(reversed(chosen)):
        if len(chosen) == 1 or sims >= 2 * MAX_SIMULATIONS:
            break
        if not any(x is v for x in chosen):
            continue
        trial = _closure(chosen, [x for x in chosen if x is not v])
        if len(trial) == len(chosen):
            continue  # a surplus pod of a job whose core goes: not droppable alone
        again = simulate(c, job, trial)
        sims += 1
        if again is not None:
            chosen, fit = trial, again
    return chosen, fit


def _maybe_victims(c: "_Cluster", groups: Iterable[GroupInfo]) -> list[GroupInfo]:
    """``groups`` (in their order) less those with no pod held in the snapshot or placed in the
    run: those have no active pod, so they are no victim (``_victim_ok`` is None)."""
    held = c._held_groups()
    if c.placements:
        placed = {id(c._group_of(c.snap.pods[k])) for k in c.placements}
        return [g for g in groups if id(g) in held or id(g) in placed]
    return [g for g in groups if id(g) in held]


def _still_gpus(c: "_Cluster", job: GroupInfo) -> Optional[int]:
    """For consolidation's first checks, of a job untouched in the run (kept with its still
    facts): 0 when it has nothing to place (no pending pod, or fewer than it needs), the whole
    GPUs of the pods it needs when those are whole-GPU pods without claims, else None."""
    entry = c._still_facts(job)
    if entry.first_gpus is _UNSET:
        pending = entry.pending
        need = max(1, job.min_member - entry.active)
        if pending is None:  # (SubGroups: not kept)
            entry.first_gpus = None
        elif not pending or len(pending) < need:
            entry.first_gpus = 0
        else:
            first = pending[:need]
            plain = all(not p.claims and not p.gpu.is_shared for p in first)
            entry.first_gpus = sum(p.gpu.whole for p in first) if plain else None
    return entry.first_gpus


def _every_victim(c: "_Cluster") -> list[tuple[GroupInfo, list[PodInfo]]]:
    """Every job's victim unit holding GPUs (its pods that may be evicted), in victim order."""
    everyone = []
    for g in _maybe_victims(c, c.snap.groups.values()):  # (in snapshot order, as the sort expects)
        pods, ch = _victim_gpus(c, g)
        if pods is None or not ch["gpu"] > 0:  # (no pod holds a GPU: charges are >= 0)
            continue
        everyone.append((g, pods))
    _sort_victims(everyone)
    return everyone


def _commit(c: "_Cluster", action: str, job: GroupInfo, victims: list[tuple[GroupInfo, list[PodInfo]]],
            fit: dict[Key, Placement]) -> None:
    names = ", ".join(dict.fromkeys(f"{g.kind} {g.ref}" for g, _ in victims))
    for g, pods in victims:
        for p in pods:
            c.evict(p, action, f"{action}: evicted for {job.kind} {job.ref} (queue {job.queue}, priority {job.priority})")
    for key, pl in sorted(fit.items()):
        pod = c.snap.pods[key]
        charge = c.charge_for(pod, c.node_info[pl.node])
        group = c._group_of(pod)
        if group.key == job.key:
            c.nominate(pod, job, pl.node, charge,
                       f"nominated to node {pl.node}: waiting for resources released by {action} of {names}")
        else:  # consolidation: a victim moved to another node
            c.nominate(pod, group, pl.node, charge,
                       f"moved by consolidation for {job.kind} {job.ref}: nominated to node {pl.node}")
    c.pin(fit)  # (in the simulation's order: the job's pods, then the victims moved)


def _settled(c: "_Cluster") -> tuple:
    """A version of what the actions read of the round's placements, evictions, nominations and
    released pods, for reads between their searches (not inside one). There, within a round,
    those only grow: allocate binds before the actions run, a commit evicts and nominates, and
    a search puts back exactly what it tried (a nomination may move a nominated pod to another
    node: readers here ask only whether a pod is nominated). So equal sizes are equal states."""
    return (c.round, len(c.placements), len(c.evicted), len(c.nominated), len(c.released))


def _job_needs(c: "_Cluster", job: GroupInfo) -> tuple[list[PodInfo], int]:
    """:func:`_needed` for the actions' loops (between searches), memoised per job while
    :func:`_settled` stands (it reads the job's pods' placements, evictions and releases). A
    fresh list each call. An untouched job's answer (see ``_Cluster._still_facts``) is kept for the run."""
    if id(job) not in c._touched:
        return _needed(c, job)  # (its pending pods and active count are kept for the run)
    memo = c.__dict__.get("_needs_memo")
    state = _settled(c)
    if memo is None or memo[0] != state:
        memo = c.__dict__["_needs_memo"] = (state, {})
    hit = memo[1].get(id(job))
    if hit is not None and hit[0] is job:
        return list(hit[1]), hit[2]
    pending, need = _needed(c, job)
    memo[1][id(job)] = (job, list(pending), need)
    return pending, need


def _shape_of(c: "_Cluster", job: GroupInfo) -> Optional[tuple]:
    """What an evicting action's search reads of a pending job, for jobs where that is all it
    reads: no active pod (the job is no victim of its own search), no claims, no pod nominated
    (placement would prefer that node). Jobs of one shape in one queue get the same answer from
    the same cluster state, so a failed search is not repeated for the next job of that shape
    until something is committed (the state changes). ``None``: not memoizable.

    Memoised per job while :func:`_settled` stands: besides the job and its pods (fixed in a
    run) it reads which of its pods are placed, evicted, released (active count, pending pods)
    and nominated."""
    if id(job) not in c._touched:  # none of those changed: kept with the job's still facts
        entry = c._still_facts(job)
        if entry.shape is _UNSET:
            entry.shape = _shape_of_now(c, job)
        return entry.shape
    memo = c.__dict__.get("_shape_memo")
    if memo is None:
        memo = c.__dict__["_shape_memo"] = {}
    state = _settled(c)
    hit = memo.get(id(job))
    if hit is not None and hit[0] is job and hit[1] == state:
        return hit[2]
    shape = _shape_of_now(c, job)
    memo[id(job)] = (job, state, shape)
    return shape


def _shape_of_now(c: "_Cluster", job: GroupInfo) -> Optional[tuple]:
    """:func:`_shape_of` without the memo."""
    if c.active_count(job):
        return None
    pending = c.pending_pods(job)
    if any(p.claims or p.key in c.nominated for p in pending):
        return None
    spec_key = _job_facts(c, job)[1]
    if spec_key is _NO_SPEC_KEY:
        return None
    return (job.queue, job.kind, job.priority, job.preemptible, job.min_member, spec_key,
            tuple(c._pod_shape(p) for p in pending))


def _pending_jobs(c: "_Cluster") -> list[GroupInfo]:
    """The jobs with pods waiting and none nominated in this round, in job order. Memoised while
    ``c._pp_gen`` stands: it reads the pending pods, the nominations (``nominate`` bumps it) and
    the queue order (from ``alloc`` and the fair shares, which change only with placements and
    releases, or in ``begin_round``: all bump it). A fresh list each call."""
    hit = c.__dict__.get("_pending_jobs_memo")
    if hit is not None and hit[0] == c._pp_gen:
        return list(hit[1])
    gen = c._pp_gen
    out = _pending_jobs_now(c)
    c.__dict__["_pending_jobs_memo"] = (gen, out)
    return list(out)


def _pending_jobs_now(c: "_Cluster") -> list[GroupInfo]:
    """:func:`_pending_jobs` without the memo: the jobs sorted by (queue key, -priority,
    creation, key). ``c.jobs`` lists each queue's jobs sorted by the rest (collect_jobs) and a
    queue key is unique per queue (it ends with the name): so the queues in key order, each
    one's jobs in their order, are that order, without sorting the jobs."""
    out = []
    touched, nominated_round, rnd = c._touched, c.nominated_round, c.round
    for q in sorted(c.jobs, key=c._queue_key):
        for g in c.jobs[q]:
            pending = c.pending_pods(g)
            if not pending:
                continue
            # (an untouched job has no pod nominated in the run)
            if id(g) in touched and any(nominated_round.get(p.key) == rnd for p in pending):
                continue
            out.append(g)
    return out


def _victim_order(g: GroupInfo) -> tuple:
    # reversed job order: lower priority first, then younger, then name (reversed)
    return _victim_order_of(g.priority, g.creation, g.key)


@lru_cache(maxsize=1 << 16)
def _victim_order_of(priority: int, creation: str, key: tuple) -> tuple:
    return (priority, _neg_text(creation), _neg_text("/".join(key)))


def _sort_victims(units: list[tuple[GroupInfo, list[PodInfo]]]) -> None:
    """Sort victim units in place by :func:`_victim_order`, equal ones kept in order: the same
    order from plain keys sorted in reverse (priority negated; the creation and name strings
    descending are what their ``_neg_text`` ascending is), without comparing tuples of ints."""
    units.sort(key=lambda v: (-v[0].priority, v[0].creation, "/".join(v[0].key)), reverse=True)


@lru_cache(maxsize=1 << 16)
def _neg_text(s: str) -> tuple:
    return tuple(-ord(ch) for ch in s) + (1,)


# --- preempt -----------------------------------------------------------------------------------


def _why_not_victim(c: "_Cluster", group: GroupInfo) -> str:
    """Why :func:`_victim_ok` refuses a job that holds resources (for ``explain``); "" if it
    holds nothing (not a victim to speak of)."""
    active = _active(c, group)
    if not active:
        return ""
    if not group.preemptible:
        return "non-preemptible"
    pods = _pods(c, group)
    if any(c.holds(p) and not p.ours for p in pods):
        return "pods of another scheduler"
    if any(c.holds(p) and ref.claim is not None
           and any(c._group_of(c.snap.pods[u]).key != group.key for u in c.claim_users(ref.claim))
           for p in pods for ref in p.claims):
        return "holds a ResourceClaim shared with another job"
    if any((pl := c.placements.get(p.key)) is not None and pl.round == c.round for p in active):
        return "bound in this round (still binding)"
    return "already being deleted (Releasing)"


class Plan:
    """What an evicting action would do for one pending job: the victims and the placement it
    would nominate, or why it would do nothing (``why``: a sentence; ``blocked``: victims refused,
    by reason, with the job names). Computed without committing anything."""

    def __init__(self, action: str) -> None:
        self.action = action
        self.victims: Optional[list[tuple[GroupInfo, list[PodInfo]]]] = None
        self.fit: Optional[dict[Key, Placement]] = None
        self.why = ""
        self.blocked: dict[str, list[str]] = {}

    def block(self, reason: str, group: GroupInfo) -> None:
        names = self.blocked.setdefault(reason, [])
        if group.ref not in names:
            names.append(group.ref)


def _min_runtime_left(c: "_Cluster", group: GroupInfo, queue: str, field: str) -> float:
    min_rt = _queue_min_runtime(c, queue, field)
    if min_rt <= 0:
        return 0.0
    left = min_rt - (c.now_s - _started(c, group))
    return left if left > 0 else 0.0


def plan_preempt(c: "_Cluster", job: GroupInfo, by_queue: Optional[dict[str, list[GroupInfo]]] = None,
                 explain: bool = False) -> Plan:
    """The preempt search for one pending job (see the module docstring)."""
    plan = Plan("preempt")
    groups = by_queue.get(job.queue, ()) if by_queue is not None else [
        g for g in c.snap.groups.values() if g.queue == job.queue]
    cands = []
    lower = 0
    for g in groups:
        if g.key == job.key or g.priority >= job.priority:
            continue
        pods = _victim_ok(c, g)
        if pods is None:
            if explain:
                why = _why_not_victim(c, g)
                if why:
                    lower += 1
                    plan.block(why, g)
            continue
        lower += 1
        left = _min_runtime_left(c, g, g.queue, "preemptMinRuntime")
        units = _victim_units(c, g, pods, left <= 0)
        if explain and left > 0:
            plan.block(f"within preemptMinRuntime ({_seconds(left)} left)", g)
        cands += units
    if not cands:
        if explain:
            plan.why = (f"no running job in queue {job.queue} has a priority below {job.priority}" if not lower else
                        f"no lower-priority job of queue {job.queue} may be evicted")
        return plan
    _sort_victims(cands)
    found = _search(c, job, cands)
    if found is not None:
        plan.victims, plan.fit = found
    elif explain:
        plan.why = (f"evicting every lower-priority job of queue {job.queue} that may be evicted "
                    f"({len({g.key for g, _ in cands})}) would not make room")
    return plan


def _seconds(v: float) -> str:
    v = int(round(v))
    h, rest = divmod(v, 3600)
    m, sec = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((h, "h"), (m, "m"), (sec, "s")) if n) or "0s"


def _groups_by_queue(c: "_Cluster") -> dict[str, list[GroupInfo]]:
    """The groups of each queue, in snapshot order (once per run: the snapshot does not change)."""
    by_queue = c.__dict__.get("_groups_by_queue")
    if by_queue is None:
        by_queue = {}
        for g in c.snap.groups.values():
            by_queue.setdefault(g.queue, []).append(g)
        c.__dict__["_groups_by_queue"] = by_queue
    return by_queue


def preempt(c: "_Cluster") -> None:
    jobs = _pending_jobs(c)
    if not jobs:
        return
    by_queue = _groups_by_queue(c)  # the groups of each queue, in snapshot order
    floor = c.__dict__.get("_preemptible_floor")
    if floor is None:  # per queue, the lowest priority of a preemptible job (once per run)
        floor = {}
        for q, gs in by_queue.items():
            prios = [g.priority for g in gs if g.preemptible]
            if prios:
                floor[q] = min(prios)
        c.__dict__["_preemptible_floor"] = floor
    lowest: dict[str, int] = {}  # per queue, the lowest priority of a job holding something
    # only the queues with a pending job above that floor: for the others lowest (the same
    # minimum over fewer jobs: those holding something) is either missing or at least the
    # floor, so each of their jobs is skipped below all the same
    for q in {job.queue for job in jobs if job.queue in floor and job.priority > floor[job.queue]}:
        for g in by_queue.get(q, ()):
            if g.preemptible and (g.queue not in lowest or g.priority < lowest[g.queue]) and _active(c, g):
                lowest[g.queue] = g.priority
    for job in jobs:
        if job.queue not in lowest or job.priority <= lowest[job.queue]:
            continue  # no victim: nothing preemptible of a lower priority runs in its queue
        if not c.pending_pods(job) or not _delay_elapsed(c, job):
            continue
        plan = plan_preempt(c, job, by_queue)
        if plan.victims is not None and plan.fit is not None:
            _commit(c, "preempt", job, plan.victims, plan.fit)


# --- reclaim -----------------------------------------------------------------------------------


def _leveled(c: "_Cluster", a: str, b: str) -> tuple[str, str]:
    """The ancestors-or-selves of ``a`` and ``b`` just below their lowest common ancestor
    (memoised per run: the queue tree does not change)."""
    return _per_run(c, "_leveled_memo", _leveled_of, a, b)


def _leveled_of(c: "_Cluster", a: str, b: str) -> tuple[str, str]:
    tree = c.snap.tree
    pa = [a] + tree.ancestors(a)
    pb = [b] + tree.ancestors(b)
    common = set(pa) & set(pb)
    ra = next((i for i, q in enumerate(pa) if q in common), len(pa))
    rb = next((i for i, q in enumerate(pb) if q in common), len(pb))
    return pa[ra - 1], pb[rb - 1]


def _ratio(alloc: float, fair: float) -> float:
    if fair <= 0:
        return float("inf") if alloc > EPS else 0.0
    return alloc / fair


def _quota(c: "_Cluster", q: str, r: str) -> Optional[float]:
    spec = c.snap.tree[q].spec(r)
    return None if spec.quota == UNLIMITED else float(spec.quota)


def can_reclaim(c: "_Cluster", job: GroupInfo, request: dict[str, Fraction]) -> bool:
    """KAI ``CanReclaimResources``: the queue with the job stays within its fair share."""
    a = c.eff_alloc(job.queue)
    fair = c.fair.get(job.queue, {})
    return all(float(a[r] + request[r]) <= fair.get(r, 0.0) + EPS for r in RESOURCES)


def _reclaim_acceptable(c: "_Cluster", job: GroupInfo, request: dict[str, Fraction], rs: list[str],
                        charges: Optional[dict[int, tuple[list[PodInfo], dict[str, Fraction]]]] = None):
    """A victim may be added if its queue (at the leveled level) still meets one strategy, and the
    post-check holds, with all victims chosen so far removed. ``charges``: a victim's pods list
    (by ``id``) -> ``(that list, what its pods hold)``, where already known."""
    removed: dict[str, dict[str, Fraction]] = {}
    # queue allocations as the actions see them: the searches between two checks undo what they
    # try exactly, so they stay what they were when the check started
    eff: dict[str, dict[str, Fraction]] = {}

    def check(cand: tuple[GroupInfo, list[PodInfo]]) -> bool:
        g, pods = cand
        rl, vl = _leveled(c, job.queue, g.queue)
        hit = charges.get(id(pods)) if charges is not None else None
        ch = hit[1] if hit is not None and hit[0] is pods else _held_sum(c, pods)
        prev = removed.get(vl) or zero
        ra = eff.get(rl) or eff.setdefault(rl, c.eff_alloc(rl))
        va = eff.get(vl) or eff.setdefault(vl, c.eff_alloc(vl))
        vfair = c.fair.get(vl, {})
        rfair = c.fair.get(rl, {})
        rem: dict[str, float] = {}  # (only the reclaimed resources are read)
        maintain = True
        for r in rs:  # (one pass without comprehensions: this runs for every candidate)
            x = rem[r] = float(va[r] - prev[r] - ch[r])
            if maintain and not x >= vfair.get(r, 0.0) - EPS:
                maintain = False
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
        removed[vl] = {r: prev[r] + ch[r] for r in rs}
        return True
    zero = {r: 0 for r in rs}
    return check


def plan_reclaim(c: "_Cluster", job: GroupInfo, explain: bool = False,
                 known: Optional[dict[Any, Any]] = None) -> Plan:
    """The reclaim search for one pending job (see the module docstring). ``known``: a memo of
    what each victim job offers (:func:`_victim_ok`, its charge, its min-runtime left), valid
    while nothing is committed (the caller drops it then; a search undoes what it tries)."""
    plan = Plan("reclaim")
    pending, need = _job_needs(c, job)
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
    eff: dict[str, dict[str, Fraction]] = {}  # eff_alloc per queue (nothing changes before the search)
    # a victim's pods list (by id) -> (the list, what its pods hold); the list is kept so that its id
    # is not reused by another list while this search runs
    unit_ch: dict[int, tuple[list[PodInfo], dict[str, Fraction]]] = {}

    def hopeful(vl: str, ch: dict[str, Fraction]) -> bool:
        """Whether accept() could take a victim of leveled queue ``vl`` holding ``ch``: victims
        chosen before it only lower what ``vl`` keeps, so if neither strategy holds with this
        victim alone, none does (a necessary condition, cheap: no search)."""
        va, vfair = eff.get(vl) or eff.setdefault(vl, c.eff_alloc(vl)), c.fair.get(vl, {})
        if all(float(va[r] - ch[r]) >= vfair.get(r, 0.0) - EPS for r in rs):
            return True  # MaintainFairShare may hold
        rl = _leveled(c, job.queue, vl)[0]
        fits = fits_cache.get(rl)
        if fits is None:
            ra = eff.get(rl) or eff.setdefault(rl, c.eff_alloc(rl))
            fits = fits_cache[rl] = all(q is not None and float(ra[r] + request[r]) <= q + EPS
                                        for q, r in ((_quota(c, rl, r), r) for r in rs))
        return fits and any((q := _quota(c, vl, r)) is not None and float(va[r] - ch[r]) > q + EPS for r in rs)

    zero = {r: Fraction(0) for r in RESOURCES}
    hopes: dict[tuple, bool] = {}
    open_q: dict[str, bool] = {}  # leveled victim queue -> could any victim of it be accepted

    def victim_groups() -> Any:
        """Every group (explain: all of them are explained), else the groups of the queues whose
        leveled queue could accept a victim at all, queue by queue: the candidates are sorted
        below by a key that orders groups of different queues, and each queue's groups come in
        snapshot order, as before."""
        if explain:
            yield from c.snap.groups.values()
            return
        for q, gs in _groups_by_queue(c).items():
            if q == job.queue or q not in c.snap.tree:
                continue
            vq = _leveled(c, job.queue, q)[1]
            ok = open_q.get(vq)
            if ok is None:
                ok = open_q[vq] = hopeful(vq, zero)  # victims only lower what it keeps
            if ok:
                yield from gs

    memo = known if known is not None and not explain else None
    gpu_only = rs == ["gpu"] and not explain  # (then only a victim's GPUs are read: ch[r] for r in rs)
    # The sorted candidates (and their charges) read of the job only its queue, ``rs`` and, through
    # hopeful(), whether the request fits under the quota of each leveled reclaimer queue ``rl``
    # (every rl: one per queue the loop below may visit); the rest is cluster state, unchanged
    # until a commit (when the caller drops ``known``). So jobs that agree on those get the same
    # list: it is memoised in ``known`` under that key.
    ckey = None
    cached = None
    if memo is not None:
        for q in _groups_by_queue(c):
            if q == job.queue or q not in c.snap.tree:
                continue
            rl = _leveled(c, job.queue, q)[0]
            if rl not in fits_cache:  # (hopeful's expression)
                ra = eff.get(rl) or eff.setdefault(rl, c.eff_alloc(rl))
                fits_cache[rl] = all(q is not None and float(ra[r] + request[r]) <= q + EPS
                                     for q, r in ((_quota(c, rl, r), r) for r in rs))
        ckey = ("cands", job.queue, tuple(rs), tuple(sorted(fits_cache.items())))
        cached = memo.get(ckey)
        if cached is not None:
            cands, unit_ch = cached
    def offer(g: GroupInfo, vl: str, unit_ch: dict[int, tuple[list[PodInfo], dict[str, Fraction]]]
              ) -> list[tuple[GroupInfo, list[PodInfo]]]:
        """The victim units group ``g`` (of leveled victim queue ``vl``) offers this job; what its
        pods hold goes into ``unit_ch``."""
        if memo is not None and gpu_only:
            pods, ch = _victim_gpus(c, g)  # (shared with consolidation)
        else:
            hit = memo.get(id(g)) if memo is not None else None
            if hit is None:
                pods = _victim_ok(c, g)
                ch = None if pods is None else _held_gpu_sum(c, pods) if gpu_only else _held_sum(c, pods)
                if memo is not None:
                    memo[id(g)] = (pods, ch)
            else:
                pods, ch = hit
        if pods is None:
            if explain:
                why = _why_not_victim(c, g)
                if why and any(c.held_charge(p)[r] > 0 for p in _active(c, g) for r in rs):
                    plan.block(why, g)
            return []
        if not (ch["gpu"] > 0 if gpu_only else any(ch[r] > 0 for r in rs)):
            return []
        unit_ch[id(pods)] = (pods, ch)  # (the unit of a job that is not elastic is this very list)
        if not explain and len(pods) <= max(g.min_member, 1):
            # hopeful() is pure in (vl, the charge's values on rs) for this job: one call per
            # distinct pair (the types are part of the key: float and Fraction arithmetic differ)
            hkey = ((vl, type(ch["gpu"]), ch["gpu"]) if gpu_only else
                    (vl, *((type(ch[r]), ch[r]) for r in rs)))
            hope = hopes.get(hkey)
            if hope is None:
                hope = hopes[hkey] = hopeful(vl, ch)
            if not hope:
                return []  # accept() would refuse it whatever was chosen before it (it has no surplus pods)
        if memo is not None:
            left = memo.get((id(g), vl))
            if left is None:
                left = memo[(id(g), vl)] = _min_runtime_left(c, g, vl, "reclaimMinRuntime")
        else:
            left = _min_runtime_left(c, g, vl, "reclaimMinRuntime")
        if explain and left > 0:
            plan.block(f"within reclaimMinRuntime ({_seconds(left)} left)", g)
        return _victim_units(c, g, pods, left <= 0)

    overs: dict[str, float] = {}

    def over(q: str) -> float:
        hit = overs.get(q)
        if hit is None:
            a = eff.get(q) or eff.setdefault(q, c.eff_alloc(q))
            hit = overs[q] = max((_ratio(float(a[r]), c.fair.get(q, {}).get(r, 0.0)) for r in rs), default=0.0)
        return hit

    in_order = False  # whether ``cands`` is already sorted
    if cached is None and memo is not None:
        # Queue by queue, each queue's units memoised in ``known`` for every job that agrees on
        # what they read: the queue, its leveled victim queue vl, ``rs`` and whether the request
        # fits under the quota of the leveled reclaimer queue rl (all hopeful() reads of rl). The sort key below starts with the group's queue's
        # (-over, name), unique per queue, and a stable sort keeps each queue's own order: so
        # the queues in that order, each one's units sorted by victim order, are the sorted list.
        parts = []
        for q, gs in _groups_by_queue(c).items():
            if q == job.queue or q not in c.snap.tree:
                continue
            rl, vl = _leveled(c, job.queue, q)
            qkey = ("queue units", q, vl, tuple(rs), fits_cache[rl])
            part = memo.get(qkey)
            if part is None:
                units: list[tuple[GroupInfo, list[PodInfo]]] = []
                charges: dict[int, tuple[list[PodInfo], dict[str, Fraction]]] = {}
                ok = open_q.get(vl)
                if ok is None:
                    ok = open_q[vl] = hopeful(vl, zero)  # victims only lower what it keeps
                if ok:
                    for g in _maybe_victims(c, gs):
                        units += offer(g, vl, charges)
                    _sort_victims(units)
                part = memo[qkey] = (units, charges)
            if part[0]:
                parts.append((q, part))
            unit_ch.update(part[1])
        parts.sort(key=lambda qp: (-over(qp[0]), qp[0]))
        cands = [u for _, (units, _) in parts for u in units]
        in_order = True
    for g in (() if cached is not None or in_order else victim_groups()):
        if g.queue == job.queue or g.queue not in c.snap.tree:
            continue
        cands += offer(g, _leveled(c, job.queue, g.queue)[1], unit_ch)
    if not cands:
        if explain:
            plan.why = f"no job of another queue holding {'/'.join(rs)} may be evicted"
        if ckey is not None:
            memo[ckey] = (cands, unit_ch)  # type: ignore[index]
        return plan

    if cached is None:
        if not in_order:
            cands.sort(key=lambda v: (-over(v[0].queue), v[0].queue, _victim_order(v[0])))
        if ckey is not None:
            memo[ckey] = (cands, unit_ch)  # type: ignore[index]
    accept = _reclaim_acceptable(c, job, request, rs, unit_ch)
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
    if not explain and not _room_with_all(c, pending, need, cands, memo, ckey):
        return plan  # the search would find nothing (see there)
    found = _search(c, job, cands, accept)
    if found is not None:
        plan.victims, plan.fit = found
        plan.blocked = {}
    elif explain:
        plan.why = ("evicting the jobs of other queues that may be evicted would not make room" if taken[0] else
                    f"no job of another queue holding {'/'.join(rs)} may be evicted")
    return plan


def _keep_untouched(c: "_Cluster", known: dict[Any, Any], job: GroupInfo,
                    victims: list[tuple[GroupInfo, list[PodInfo]]]) -> None:
    """After a reclaim commit, keep of plan_reclaim's memo what the commit did not change: the
    units of the queues it did not touch. A commit evicts the
    victims and nominates the job: only the queues on the chains of theirs see their usage
    (``eff_alloc``) change, and only the victims' own groups their pods; a queue's units read
    its groups, its leveled queue's usage, fair share and quota, and the key's rest (module
    docstring). Claims may tie jobs of several queues together: then everything goes."""
    if any(p.claims for _, pods in victims for p in pods) or any(p.claims for p in c.pending_pods(job)):
        known.clear()
        return
    touched: set[str] = set()
    for q in {job.queue, *(g.queue for g, _ in victims)}:
        if q in c.snap.tree:
            touched.update(c._chain(q))
    kept = {k: v for k, v in known.items()
            if type(k) is tuple and len(k) == 5 and k[0] == "queue units" and k[1] not in touched and k[2] not in touched}
    known.clear()
    known.update(kept)


def reclaim(c: "_Cluster") -> None:
    failed: set[tuple] = set()  # shapes whose search found nothing since the last commit
    known: dict[Any, Any] = {}  # plan_reclaim's victim memo, until the next commit
    for job in _pending_jobs(c):
        # (the shape is pure and a search commits nothing when it fails: with no failed shape
        # yet it is only needed after a failure. Its check first: most jobs stop there)
        shape = _shape_of(c, job) if failed else None
        if shape is not None and shape in failed:
            continue
        pending, need = _job_needs(c, job)
        if not pending or not _delay_elapsed(c, job):
            continue
        plan = plan_reclaim(c, job, known=known)
        if plan.victims is not None and plan.fit is not None:
            _commit(c, "reclaim", job, plan.victims, plan.fit)
            failed.clear()
            _keep_untouched(c, known, job, plan.victims)
        else:
            if not failed:
                shape = _shape_of(c, job)
            if shape is not None:
                failed.add(shape)


# --- stale gangs ---------------------------------------------------------------------------------


def _maybe_short(c: "_Cluster") -> set[Any]:
    """``snap.groups`` keys of the groups that may have a pod that is not active: one holding
    nothing in the snapshot, or one evicted or recreated in this run. Every pod of any other
    group is active."""
    unheld = c._static_pods()[2]
    if not c.evicted and not c.released:
        return unheld
    return unheld | {c._group_key(k) for k in c.evicted} | {c._group_key(k) for k in c.released}


def stale_gang_eviction(c: "_Cluster") -> None:
    maybe = _maybe_short(c)
    for gk, g in c.snap.groups.items():
        if g.kind != "PodGroup" or g.min_member <= 1:
            continue  # (minMember <= 1: a group with an active pod is never short)
        if gk not in maybe and len(g.pods) >= g.min_member:
            continue  # every pod active, at least minMember of them: not short
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
        if any(not p.ours for p in active):
            # a pod of another scheduler is never evicted (as for victims, see _victim_ok): not
            # gpuplane's to delete, and never charged to a queue (_account_running), so its
            # release would take from the queue what was never added
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


# --- consolidation -------------------------------------------------------------------------------

MAX_CONSOLIDATION_PREEMPTEES = 16


def consolidation(c: "_Cluster") -> None:
    """KAI ``actions/consolidation``, conservatively: a pending preemptible job that wants GPUs and
    fits nowhere, while the cluster has enough idle GPUs in total, may move preemptible running
    jobs (of any queue) to other nodes: the victims are evicted and nominated on their new nodes,
    and the scenario is only taken if *every* victim pod is placed again (none is lost) and the
    job fits. At most 16 victim pods. Off with a ``spread`` placement strategy, as in KAI."""
    if "spread" in c.strategies.values():
        return
    failed: set[tuple] = set()  # shapes with nothing to search, or whose search found nothing, since the last commit
    shared: Optional[list[tuple[GroupInfo, list[PodInfo]]]] = None
    everyone: Optional[list[tuple[GroupInfo, list[PodInfo]]]] = None  # every job's candidate unit
    for job in _pending_jobs(c):
        if not job.preemptible:
            continue
        idle = c.free_index.total  # == sum of ns.gpu_free over c.nodes, kept up to date
        if id(job) not in c._touched:  # (the checks below in short, from its still facts)
            gpus = _still_gpus(c, job)
            if gpus is not None and (gpus <= 0 or idle < gpus):
                continue
        pending, need = _job_needs(c, job)
        if not pending or len(pending) < need:
            continue
        first = pending[:need]
        if all(not p.claims and not p.gpu.is_shared for p in first):
            # (the GPUs such pods are charged: their whole GPUs. The checks below are pure, so
            # the cheap ones go first: most jobs of a busy cluster stop here)
            gpus = sum(p.gpu.whole for p in first)
            if gpus <= 0 or idle < gpus:
                continue
        shape = _shape_of(c, job)
        if shape is not None and shape in failed:
            continue
        if not _delay_elapsed(c, job):
            continue
        request = _charge_sum([c.charge_for(p) for p in first])
        # (over its fair share: reclaim would take it back, docs/fairness.md)
        if request["gpu"] <= 0 or not can_reclaim(c, job, request) or idle < request["gpu"]:
            # the request and these checks are the same for every job of the shape (its pods'
            # shapes give their charges; the queue is part of it) until something is committed
            if shape is not None:
                failed.add(shape)
            continue
        # the candidates are the same for every job holding nothing (it is no victim itself)
        # until something is committed: built once then. Whether a job may be a victim does not
        # depend on the pending job, so every job's candidates are those of all jobs
        # (``everyone``, built once per commit too) without its own: filtering that sorted list
        # keeps the order sorting the filtered one gives (the sort is stable, the key per job)
        own = c.active_count(job) > 0
        cands = None if own else shared
        if cands is None:
            if everyone is None:
                everyone = _every_victim(c)
            cands = [v for v in everyone if v[0].key != job.key]
            if not own:
                shared = cands

        found = _search(c, job, cands, _PodBudget(MAX_CONSOLIDATION_PREEMPTEES), move=True)
        if found is not None:
            _commit(c, "consolidation", job, *found)
            failed.clear()
            shared = everyone = None
        elif shape is not None:
            failed.add(shape)
