"""Scheduling rounds over a :class:`~gpuplane.scheduler.snapshot.Snapshot`.

``run_rounds(snapshot, rounds, config, now)`` runs ``rounds`` scheduling cycles. Each cycle
runs KAI's actions in KAI's order: **allocate**, consolidation, reclaim, preempt,
stale-gang eviction. Allocate is below; consolidation (conservative), reclaim, preempt and
stale-gang eviction are in :mod:`gpuplane.scheduler.actions`. Jobs nominated by those actions
are allocated first in the next round.

Rounds (the contract's semantics, and KAI's multi-round test harness): pods bound in a round
are Running from the next round on (they keep their placement and count as allocated). A pod
evicted in a round is Releasing for the rest of it: it keeps its node resources (nothing else
may use them) while its queue's allocation, as the actions see it, no longer counts it. Between
rounds, evicted pods are deleted and come back as new Pending pods with the same name (what the
snapshot said they held is gone). The job an eviction was for is nominated on the node(s) that
free up (``status.nominatedNodeName``) and counts for its queue in the rest of the round; in
later rounds allocate places it, preferring the nominated node. ``now`` (RFC3339, default the
wall clock) is the time for durations (preemption delay, min-runtime, stale-gang grace) and
for ``metadata.deletionTimestamp`` of pods evicted in the last round.

Allocate (KAI's ``actions/allocate`` with the proportion, priority, gpupack/gpuspread,
gpusharingorder, resourcetype and nodeplacement plugins):

1. Fair shares: :func:`~gpuplane.scheduler.fairshare.compute_fair_shares` over each queue's
   demand (allocated + pending requests) and the cluster capacity (GPUs, CPU millicores,
   memory MB), once per round.
2. Queue order, at every level of the queue tree: smallest dominant ``allocated / fairShare``
   first, then higher queue priority, then older queue, then name. It is re-evaluated after
   every job, so queues take turns as their allocations grow.
3. Job order inside a queue: higher priority first, then older, then name.
4. A job (gang) is all or nothing: its pods are placed one by one in a tentative state and the
   whole placement is rolled back unless at least ``minMember`` pods (counting pods already
   running) are placed. Pods beyond ``minMember`` that fit are bound too (elastic). A PodGroup
   with ``spec.subGroups`` is placed SubGroup by SubGroup (:mod:`gpuplane.scheduler.subgang`).
5. Per pod: the queue's ``limit`` is never exceeded at any level of the tree; a
   non-preemptible pod (priority >= 100 unless marked) never takes its queue, or any ancestor,
   over its ``quota`` (KAI: non-preemptible work only uses in-quota resources). Then nodes
   are filtered (static filters, pods, cpu, memory, extended resources, GPUs, DRA claims) and
   the best node by :func:`~gpuplane.scheduler.placement.node_score` is taken.

Everything is deterministic: inputs are sorted, ties broken by name; the clock is read only
when ``now`` is not given.

Speed without changing a decision: node and queue accounting hold ints while values are whole
(exact, and ~10x cheaper than Fraction arithmetic; results still carry Fractions); whole-GPU and
fractional pods visit nodes in binpack order through a free-GPU index and stop at the first fit;
DRA pods do the same in the scan's order after one full scan per claim shape, skipping nodes
where the allocator already found no devices for that shape (see ``_DraFit``); a pod shape that
fits nowhere is not rescanned while the node state is the same, also after a gang rollback.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from dataclasses import dataclass, field
from fractions import Fraction
from bisect import bisect_left, insort
from typing import TYPE_CHECKING, Any, Iterator, Optional

import msgspec

from ..api.core import PENDING, RELEASING, RUNNING
from ..api.models import NodeSelector, ResourceClaim
from ..dra.allocator import AllocatedState, AllocationError, Allocator, NodeAllocationError
from ..dra.features import Features
from ..dra.nodeselect import NodeSelectorError, selector_matches
from .config import SchedulerConfig
from .fairshare import compute_fair_shares
from .gpus import choose_gpus, gpu_index, per_device_share
from .subgroups import SubGroupTree, build_tree
from .topology import CLIQUE_LABEL, CLIQUE_TOPOLOGY, clique_preference
from .placement import FragScorer, node_score, static_filter
from .queues import RESOURCES, UNLIMITED
from .snapshot import (GroupInfo, Key, NodeInfo, PodInfo, RequestEstimator, Snapshot, allocation_gpu_units,
                       claim_gpu_units, requested_gpu_units)
from .topology import GangDemand, NodeGroup, TopoNode, Topology, TopologyConstraint, order_nodes_for_gang

if TYPE_CHECKING:
    from .account import RunningAccount

__all__ = ["parse_time", "Placement", "PendingReason", "ScheduleResult", "run_rounds", "format_amount"]

ACTION_ORDER = ("allocate", "consolidation", "reclaim", "preempt", "stalegangeviction")
MB = 10**6

# reason codes (KAI's structured reasons where one exists)
QUEUE_DOES_NOT_EXIST = "QueueDoesNotExist"
NOT_LEAF_QUEUE = "QueueIsNotLeaf"
OVER_LIMIT = "OverLimit"
NON_PREEMPTIBLE_OVER_QUOTA = "NonPreemptibleOverQuota"
NO_NODE_FITS = "NoNodeFits"
GANG_SHORT = "GangShortfall"
CLAIM_MISSING = "ResourceClaimNotFound"
DRA_ERROR = "ResourceClaimError"
NO_NODES = "NoNodes"
TOPOLOGY_UNSATISFIED = "TopologyConstraintUnsatisfied"
SUBGROUP_NOT_FOUND = "SubGroupNotFound"


def parse_time(text: Optional[str]) -> Optional[float]:
    """RFC3339 time to POSIX seconds; ``None`` when absent or invalid."""
    if not text or not isinstance(text, str):
        return None
    t = text.strip()
    try:
        d = datetime.fromisoformat(t[:-1] + "+00:00" if t.endswith(("Z", "z")) else t)
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d.timestamp()


def format_amount(resource: str, value: Fraction | float) -> str:
    """A queue-unit amount in words: ``2 GPUs``, ``0.5 GPU``, ``4 cores``, ``512 MB``."""
    v = float(value)
    if resource == "gpu":
        return f"{v:g} GPU" + ("" if v == 1 or 0 < v < 1 else "s")
    if resource == "cpu":
        cores = v / 1000
        return f"{cores:g} core" + ("" if cores == 1 else "s")
    if resource == "memory":
        return f"{round(v):,} MB" if abs(v) >= 100 else f"{v:g} MB"
    return f"{v:g} {resource}"


@dataclass
class Placement:
    pod: Key
    node: str
    gpu_indices: list[int]
    gpu_share: Fraction
    claims: list[tuple[Key, dict[str, Any]]]  # new allocations
    dra_devices: list[str]
    charge: dict[str, Fraction]
    preemptible: bool
    round: int = 0

    @property
    def gpu_names(self) -> list[str]:
        return sorted([f"gpu-{i}" for i in self.gpu_indices] + self.dra_devices)


@dataclass
class PendingReason:
    """Why a pod is still pending: a code, a message in words, and the facts behind it."""

    code: str
    message: str
    queue: str = ""
    queue_level: str = ""  # the queue whose limit or quota stops the pod
    resource: str = ""
    nodes_total: int = 0
    node_reasons: dict[str, int] = field(default_factory=dict)
    gang: Optional[dict[str, Any]] = None
    pod_reason: Optional["PendingReason"] = None  # for gang failures: the member that failed
    topology: Optional[dict[str, Any]] = None  # for a gang with a topologyConstraint: what it needed, where


    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.queue:
            d["queue"] = self.queue
        if self.queue_level:
            d["queueLevel"] = self.queue_level
        if self.resource:
            d["resource"] = self.resource
        if self.code in (NO_NODE_FITS, NO_NODES):
            d["nodes"] = self.nodes_total
            d["nodeReasons"] = dict(sorted(self.node_reasons.items(), key=lambda kv: (-kv[1], kv[0])))
        if self.gang is not None:
            d["gang"] = self.gang
        if self.pod_reason is not None:
            d["podReason"] = self.pod_reason.to_dict()
        if self.topology is not None:
            d["topology"] = self.topology
        return d


@dataclass
class ScheduleResult:
    snapshot: Snapshot
    rounds: int
    now: Optional[str]
    placements: dict[Key, Placement]
    reasons: dict[Key, PendingReason]
    group_reasons: dict[Any, PendingReason]
    allocated: dict[str, dict[str, Fraction]]
    allocated_np: dict[str, dict[str, Fraction]]
    requested: dict[str, dict[str, Fraction]]
    fair_share: dict[str, dict[str, float]]
    claim_allocations: dict[Key, dict[str, Any]]
    claim_reserved: dict[Key, list[Key]]
    evicted: dict[Key, str] = field(default_factory=dict)  # evicted in the last round (Releasing), by node
    recreated: frozenset[Key] = frozenset()  # evicted in an earlier round: deleted, back as new Pending pods
    nominated: dict[Key, str] = field(default_factory=dict)  # pending pods waiting for releasing resources
    evictions: list[dict[str, Any]] = field(default_factory=list)  # every eviction of the run, in order
    evicted_at: str = ""  # the time used for deletionTimestamp (``now``, or the wall clock)
    freed_claims: frozenset[Key] = frozenset()  # claims deallocated by an eviction (not allocated again)
    cluster: Any = field(default=None, repr=False, compare=False)  # the final state (explain's what-if searches)


def _zero() -> dict[str, Fraction]:
    return {r: Fraction(0) for r in RESOURCES}


def _zero_int() -> dict[str, Fraction | int]:
    """Queue usage inside a run: ints while whole (int arithmetic is ~10x Fraction's)."""
    return {r: 0 for r in RESOURCES}


def _num(x: Fraction | int) -> Fraction | int:
    """``x`` as an int when it is whole, else unchanged: sums of ints stay ints (fast) and
    mix with Fractions exactly."""
    try:
        return x.numerator if x.denominator == 1 else x
    except AttributeError:  # a float
        return x


def _le0(x: Fraction | int | float) -> bool:
    """``x <= 0`` without Fraction's slow comparison."""
    try:
        return x.numerator <= 0  # denominators are > 0
    except AttributeError:  # a float
        return x <= 0


def _exact_sum(values: Iterator[Fraction | int] | list[Fraction | int]) -> Fraction:
    """``sum(values)`` of Fractions/ints, exactly, adding numerators per denominator (most values
    share a few denominators) instead of one Fraction addition per value."""
    by_den: dict[int, int] = {}
    for v in values:
        d = v.denominator
        by_den[d] = by_den.get(d, 0) + v.numerator
    if len(by_den) == 1:  # (the common case: one denominator, one Fraction and no addition)
        for d, n in by_den.items():
            return Fraction(n, d)
    total = Fraction(0)
    for d, n in by_den.items():
        total += Fraction(n, d)
    return total


def _tree_copy(x: Any) -> Any:
    """``copy.deepcopy`` for JSON-like trees (dicts, lists, immutable scalars), ~5x faster;
    anything else is deep-copied."""
    t = type(x)
    if t is dict:
        return {k: _tree_copy(v) for k, v in x.items()}
    if t is list:
        return [_tree_copy(v) for v in x]
    if t is str or t is int or t is bool or t is float or x is None:
        return x
    return copy.deepcopy(x)


def _fractions(table: dict[str, dict[str, Fraction | int]]) -> dict[str, dict[str, Fraction]]:
    return {q: {r: Fraction(v) for r, v in row.items()} for q, row in table.items()}


_UNSET = object()
_CAPACITY_MEMO: Optional[tuple[tuple[NodeInfo, ...], dict[str, Fraction]]] = None  # _Cluster.capacity
_F0 = Fraction(0)  # a shared zero for the hot paths (Fractions are immutable)
_F1 = Fraction(1)


def _gt(a: Fraction | int, b: Fraction | int) -> bool:
    """``a > b`` for Fractions and ints, without Fraction's slow comparison (denominators are > 0)."""
    try:
        return a.numerator * b.denominator > b.numerator * a.denominator
    except AttributeError:  # a float
        return a > b


class _FreeIndex:
    """Node names bucketed by free GPUs (``_NodeState.gpu_free``), each bucket in name order:
    lets a whole-GPU pod visit nodes in binpack order (fewest free GPUs first, then name)."""

    __slots__ = ("buckets", "partial", "odd", "total", "changes")

    def __init__(self) -> None:
        self.buckets: dict[Fraction, list[str]] = {}
        self.total: Fraction | int = 0  # sum of gpu_free over the nodes (exact)
        self.partial: set[str] = set()  # nodes with a GPU in use but not full (0 < used < 1)
        self.odd: set[str] = set()  # nodes with a GPU used below 0 or above 1 (over-committed by held pods)
        self.changes = 0  # bumped when a bucket changes (positions in a bucket shift)

    def refresh(self, name: str, used: list[Fraction]) -> None:
        """Update ``partial`` and ``odd`` for a node after its GPU use changed."""
        partial = odd = False
        for u in used:  # Fractions (or ints): denominator > 0
            n = u.numerator
            if n:
                d = u.denominator
                if n < 0 or n > d:
                    odd = True
                elif n < d:
                    partial = True
        (self.partial.add if partial else self.partial.discard)(name)
        (self.odd.add if odd else self.odd.discard)(name)

    def add(self, value: Fraction, name: str) -> None:
        insort(self.buckets.setdefault(value, []), name)
        self.total += value
        self.changes += 1

    def remove(self, value: Fraction, name: str) -> None:
        b = self.buckets[value]
        del b[bisect_left(b, name)]
        if not b:
            del self.buckets[value]
        self.total -= value
        self.changes += 1

    def ordered(self, at_least: Fraction | int) -> Iterator[str]:
        """Names of nodes with at least ``at_least`` free GPUs, fewest free first, then by name."""
        for value in sorted(v for v in self.buckets if v >= at_least):
            yield from self.buckets[value]


class _DraFit:
    """First-fit state of one DRA claim shape (``place``'s ``dra_shape``) for one pod shape
    (what node checks before the allocator read, and its already-allocated claims), so that a DRA pod
    visits nodes in the scan's order and stops at the first that fits, skipping nodes where the
    allocator already said no.

    ``probe``: ``(DRA rollback count, freeing count)`` when a full scan of every node last ran
    for this shape without an ``AllocationError``; the first-fit is used only while it is
    current (an error on a node the first-fit would not visit must still fail the pod, as the
    full scan does; only rollbacks and freed resources can let the allocator reach devices it
    had not evaluated). ``dead``: node -> its DRA epoch when the allocator found no devices
    there. ``skip``: per free-index bucket, how many leading names are dead (valid while
    ``skip_at`` equals the index's ``changes``)."""

    __slots__ = ("probe", "dead", "skip", "skip_at")

    def __init__(self, probe: tuple[int, int]) -> None:
        self.probe = probe
        self.dead: dict[str, int] = {}
        self.skip: dict[Any, int] = {}
        self.skip_at = -1


class _NodeState:
    """One node's free resources in a run. ``epoch``: bumped on every change once the run's
    cluster is set up (apply, undo, release, rehold), so a node's answer for a pod shape can be
    reused while its epoch is the same (see ``_Cluster._scan``)."""

    __slots__ = ("cpu", "memory", "pods", "other", "gpu_used", "_gpu_free", "name", "index", "epoch", "origin")

    def __init__(self, cpu: Fraction, memory: Fraction, pods: int, other: dict[str, Fraction],
                 gpu_used: list[Fraction], gpu_free: Fraction = Fraction(0), name: str = "",
                 index: Optional[_FreeIndex] = None) -> None:
        self.cpu = cpu
        self.memory = memory
        self.pods = pods
        self.other = other
        self.gpu_used = gpu_used
        self._gpu_free = gpu_free  # sum of (1 - used) over the GPUs
        self.name = name
        self.index = index
        self.epoch = 0
        # what the state was made from, as long as ``epoch`` is 0: an account's template (the
        # same object while the node did not change between cycles), else the run's token
        self.origin: object = None
        if index is not None:
            index.add(gpu_free, name)

    @property
    def gpu_free(self) -> Fraction:
        return self._gpu_free

    @gpu_free.setter
    def gpu_free(self, value: Fraction) -> None:
        old = self._gpu_free
        if self.index is not None:
            if value != old:
                self.index.remove(old, self.name)
                self.index.add(value, self.name)
            self.index.refresh(self.name, self.gpu_used)  # every change of gpu_used comes with one of gpu_free
        self._gpu_free = value
        self.epoch += 1


def _bytes(value: Fraction) -> str:
    """Memory in the largest binary unit that keeps it readable: ``200Gi``, ``512Mi``, ``1.5Gi``."""
    v = float(value)
    for unit, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if v >= size:
            return f"{v / size:.4g}{unit}"
    return f"{v:g} bytes"


def _gpu_hold(pod: PodInfo, info: NodeInfo) -> tuple[Fraction | int, int, list[int]]:
    """``(share per GPU, GPU count, annotated GPU indices)`` of a holder pod on ``info``: what
    ``_Cluster._hold_gpus`` and the :class:`~gpuplane.scheduler.account.RunningAccount` both use."""
    demand = pod.gpu
    share = 1 if demand.whole else per_device_share(demand, info.gpu_memory_mib)
    share = 0 if share is None else _num(share)
    count = demand.whole or demand.num_devices
    named = [i for i in (gpu_index(g, info.gpus) for g in pod.held_gpus) if i is not None]
    return share, count, named


@dataclass(eq=False, slots=True)
class StillFacts:
    """What the scheduler reads of a job while nothing in the run has touched its pods (see
    ``_Cluster._still_facts``): a function of the group and its pods' objects alone."""

    group: GroupInfo
    pods: tuple[PodInfo, ...]  # the snapshot's pods of the group when computed
    pending: Optional[list[PodInfo]]  # pending_pods (None: the group has SubGroups, not kept)
    active: int  # active_count
    run: object  # the run that last checked the entry against its snapshot
    gang_tail: Optional[tuple[int, Optional[tuple]]] = None  # (need, _Cluster._gang_tail)
    shape: Any = _UNSET  # actions._shape_of_now
    facts: Optional[tuple[Optional[float], Any]] = None  # actions._job_facts
    first_gpus: Any = _UNSET  # actions._still_gpus


def _only_gpus(used: list[Fraction], keep: list[int]) -> list[Fraction]:
    """A node's GPU use with every GPU but ``keep`` shown full: :func:`choose_gpus` can only
    pick among ``keep``."""
    return [u if i in keep else _F1 for i, u in enumerate(used)]


def _devices_of(p: Placement) -> set[tuple[str, str, str]]:
    """The DRA devices (driver, pool, device) of a placement's new claim allocations."""
    return {(r["driver"], r["pool"], r["device"]) for _, a in p.claims for r in a.get("devices", {}).get("results", [])}


class _Cluster:
    """The mutable state of a run: free resources, GPU use, DRA allocations, queue usage."""

    def __init__(self, snap: Snapshot, config: SchedulerConfig, now: Optional[str] = None,
                 account: Optional[RunningAccount] = None) -> None:
        """``account``: running-pod accounting kept between cycles by the caller (see
        :class:`~gpuplane.scheduler.account.RunningAccount`); the node states and queue usage
        start from it instead of from every holder pod. ``None``: :meth:`_account_running`."""
        self.snap = snap
        self.config = config
        self.strategies = {"gpu": config.gpu_strategy, "cpu": config.cpu_strategy}
        self.frag = FragScorer.from_snapshot(snap) if config.gpu_strategy == "fgd" else None
        self.features = Features()
        self.free_index = _FreeIndex()
        # the account (if any) syncs from the snapshot alone; its node states already hold the holders
        synced = account is not None and account.sync(snap)
        states = account.node_states() if synced else [  # type: ignore[union-attr]
            # ints while whole (see _num): the hot paths add and compare these per pod
            _NodeState(_num(n.cpu_milli), _num(n.memory), n.max_pods, dict(n.other), [0] * n.gpus, n.gpus,
                       n.name, None)  # indexed after _account_running (one insert per node)
            for n in snap.nodes
        ]
        self.nodes: dict[str, _NodeState] = {ns.name: ns for ns in states}
        # the binpack shortcut in place() visits nodes by name: it needs one node per name
        self.unique_names = len(self.nodes) == len(snap.nodes)
        self.node_info: dict[str, NodeInfo] = {n.name: n for n in snap.nodes}
        allocated_claims = [c for c in snap.typed_claims.values() if c.status.allocation is not None]
        self.allocator = Allocator(self.features, AllocatedState.from_claims(allocated_claims, self.features),
                                   snap.classes, list(snap.slices))
        # memo of the DRA allocator per (node, claims): valid while the allocator's in-use state
        # for that node is unchanged. Only when every ResourceSlice is local to one node and no
        # pool spans nodes (so an allocation on a node changes no other node's outcome).
        pool_nodes: dict[tuple[str, str], set[str]] = {}
        for sl in snap.slices:
            pool_nodes.setdefault((sl.spec.driver, sl.spec.pool.name), set()).add(sl.spec.node_name or "")
        self._dra_memo_ok = not self.allocator.slices_shared and all(len(v) == 1 for v in pool_nodes.values())
        self._dra_memo: dict[tuple, tuple[int, int, Any]] = {}
        self._dra_epoch: dict[str, int] = {}  # per node: bumped when an allocation is recorded there
        self._dra_global = 0  # bumped on rollback (restore replaces the whole state)
        self._freed = 0  # bumped when node resources are given back (undo, release, DRA rollback)
        self._dra_fit: dict[tuple, _DraFit] = {}  # first-fit state per (claim shape, pod shape) (see _DraFit)
        self.claim_alloc: dict[Key, dict[str, Any]] = {}
        self.claim_reserved: dict[Key, list[Key]] = {}
        self.placements: dict[Key, Placement] = {}
        # queue usage: ints while whole (see _num); run_rounds hands out Fractions
        self.alloc: dict[str, dict[str, Fraction]] = {q: _zero_int() for q in snap.tree}
        self.alloc_np: dict[str, dict[str, Fraction]] = {q: _zero_int() for q in snap.tree}
        self.fair: dict[str, dict[str, float]] = {q: {r: 0.0 for r in RESOURCES} for q in snap.tree}
        # node-state version (the "no node fits" cache's key): equal versions mean equal node and
        # DRA state. A change gets a new version (_bump), except that a claimless placement from a
        # given version gets the same version every time (_vtab), and undoing the latest
        # placement returns to the version before it (_vstack): a gang rolled back and the next
        # gang of the same shape placed the same way see the cache entries of the first
        self.version = 0
        self._vnext = 0
        self._vtab: dict[tuple, int] = {}
        self._vstack: list[tuple[Placement, int]] = []
        self._fail_cache: dict[tuple, tuple[int, str, dict[str, int]]] = {}  # pod shape -> (version, NoNodeFits)
        # _place_gang: a claimless gang that failed (and was rolled back), by everything its
        # attempt reads (see _gang_key) -> (queue state, pods placed, their nodes, (index, reason) failures)
        self._gang_fail: dict[tuple, tuple[Any, int, list[str], list[tuple[int, PendingReason]]]] = {}
        self._chains: dict[str, list[str]] = {}
        self._static_memo: dict[tuple[bytes, str], Optional[str]] = {}  # (pod static key, node) -> static_filter
        # _next_among: the latest queues with jobs, those and their ancestors, each one's children among them
        self._with_jobs: Optional[tuple[tuple[str, ...], set[str], dict[Optional[str], list[str]]]] = None
        # _pod_shape: id(pod) -> (pod, its _shape_key); with an account, shared by its cycles
        # (and so are the claimless charges, see _shared_charge): see account.CycleMemo
        memo = account.memo if account is not None else None
        if memo is not None:
            memo.start(snap)
            self._charges = memo.charges
        self._shapes: dict[int, tuple[PodInfo, tuple]] = memo.shapes if memo is not None else {}
        self._why_nodes = memo.why if memo is not None else {}
        self._demand: dict[int, tuple[PodInfo, Optional[tuple[int, Fraction | int, Fraction | int]]]] = (
            memo.demand if memo is not None else {})  # requested: id(pod) -> (pod, its _pod_demand)
        self._jobs_memo: dict[int, tuple[Any, ...]] = memo.jobs if memo is not None else {}  # actions._job_facts
        self._victims_memo: dict[int, tuple[Any, ...]] = memo.victims if memo is not None else {}  # actions._victim_gpus
        self._skeys: dict[Key, bytes] = {}  # place: the pod's _static_key (pods do not change in a run)
        self._limited: dict[str, tuple[str, ...]] = {}  # queue_check: per queue, resources with a limit or quota
        self._qkeys: dict[str, tuple] = {}  # _queue_key memo: dropped for a queue when its allocation changes
        self._qgen = 0  # bumped whenever a queue key may change (allocations, fair shares)
        self._qstates: dict[str, Optional[tuple]] = {}  # _queue_state memo: dropped when any allocation changes
        self._topo_memo: dict[int, tuple[GroupInfo, Any]] = {}  # _group_topology, untouched groups
        self.reasons: dict[Key, PendingReason] = {}
        self.group_reasons: dict[Any, PendingReason] = {}
        self.round = 0
        self.now = now if now is not None else datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.now_s = parse_time(self.now) or 0.0
        self.held_gpu: dict[Key, tuple[list[int], Fraction]] = {}
        self.evicted: dict[Key, str] = {}  # evicted this round: still holds its node resources
        self.released: set[Key] = set()  # evicted in an earlier round: deleted and recreated as Pending
        # pending_pods memo: id(group) -> (group, pending list), of generation ``_pp_at``.
        # ``_pp_gen`` goes up on every change to ``placements``, ``released`` or ``evicted``
        # (apply, undo, release, rehold, evict, finish_evictions, begin_round), the only state
        # pending_pods reads besides the snapshot's pods, which do not change in a run
        self._pp_gen = 0
        self._pp_at = 0
        self._pp_memo: dict[int, tuple[GroupInfo, list[PodInfo]]] = {}
        # groups (by id) whose pods were placed, undone, released, reheld, evicted or nominated
        # in this run: every other group's pods are as the snapshot has them, so what is read
        # of those alone is kept (see _still_facts), with an account between cycles too
        self._touched: set[int] = set()
        self._still: dict[int, StillFacts] = memo.still if memo is not None else {}
        self._run_token = object()  # (a StillFacts entry checked against this run's snapshot has it)
        self.nominated: dict[Key, str] = {}
        self.nominated_round: dict[Key, int] = {}
        # nominated pods' placements as the evicting action that nominated them simulated them,
        # in its order (see pin); with an account, carried to the next cycles (CycleMemo.pinned)
        self.pinned: dict[Key, Placement] = memo.pinned if memo is not None else {}
        self.group_evicted_at: dict[Any, float] = {}
        zero = _zero()  # (Fractions are immutable: one set of zeros for every row, as in finish_evictions)
        self.releasing_q: dict[str, dict[str, Fraction]] = {q: dict(zero) for q in snap.tree}
        self.pipelined_q: dict[str, dict[str, Fraction]] = {q: dict(zero) for q in snap.tree}
        self.evictions: list[dict[str, Any]] = []
        self.jobs: dict[str, list[GroupInfo]] = {}
        if synced:
            account.fill(self)  # type: ignore[union-attr]
        else:  # no account, or it is not exact here
            self._account_running()
        index = account.free_index(states) if synced else None  # type: ignore[union-attr]
        if index is None:  # (states made here, or changed by fill after the templates: this run's own)
            for ns in states:
                ns.origin = self._run_token
        if index is not None:  # the account's copy (its node names are unique)
            self.free_index = index
            for ns in states:
                ns.index = index
        else:
            for ns in states:  # every state, as when each registered itself (a duplicate name's too)
                self.free_index.add(ns.gpu_free, ns.name)
                if self.nodes[ns.name] is ns:
                    ns.index = self.free_index
                    self.free_index.refresh(ns.name, ns.gpu_used)

    # --- accounting ----------------------------------------------------------------------

    # claims whose snapshot allocation was released by an eviction in this run (their pods are
    # recreated: the claim is allocated again from scratch); per instance once one is released
    freed_claims: frozenset[Key] | set[Key] = frozenset()
    _gpu_devices: Optional[dict] = None

    _estimator: Optional[RequestEstimator] = None
    _round_pending: Optional[dict[int, list[PodInfo]]] = None  # collect_jobs -> requested (see begin_round)
    _collected: Optional[dict[int, list[PodInfo]]] = None

    def gpu_devices(self) -> dict:
        """Published GPU-driver devices and what each counts for (built once per run)."""
        if self._gpu_devices is None:
            self._gpu_devices = self.estimator().devices
        return self._gpu_devices

    def estimator(self) -> RequestEstimator:
        """GPUs an unallocated claim's request counts for at least (built once per run)."""
        if self._estimator is None:
            self._estimator = RequestEstimator(self.snap.slices, self.snap.classes)
        return self._estimator

    # charge_for of claimless pods: (id(pod), GPU memory or None) -> (pod, charge); see _shared_charge
    _charges: Optional[dict[tuple[int, Optional[int]], tuple[PodInfo, dict[str, Fraction]]]] = None

    def charge_for(self, pod: PodInfo, node: Optional[NodeInfo] = None,
                   new_claims: Optional[dict[Key, dict[str, Any]]] = None) -> dict[str, Fraction]:
        """What the pod counts against its queue: GPUs, CPU millicores, memory MB.

        DRA claims count the devices actually allocated (``new_claims``: allocations being made
        now; then those made earlier in the run; then the snapshot's), see
        :func:`~gpuplane.scheduler.snapshot.claim_gpu_units`; an unallocated claim counts its
        request estimate.

        A claimless pod's charge depends only on the pod (unchanged in a run) and, for a shared
        GPU, the node's GPU memory: memoised per pod object (see :meth:`_shared_charge`), which
        saves building its Fractions on every call (the hot paths call this millions of times).
        The result is a fresh dict (callers may keep it, e.g. as a Placement's charge)."""
        if not pod.claims:
            return self._shared_charge(pod, node).copy()
        return self._charge(pod, node, new_claims)

    def _shared_charge(self, pod: PodInfo, node: Optional[NodeInfo]) -> dict[str, Fraction]:
        """:meth:`charge_for` of a claimless pod, the memo's own dict: read it, never modify it.
        Only a shared-GPU pod's charge depends on the node (its GPU memory): one entry per pod
        for the others, whatever the node."""
        mem = node.gpu_memory_mib if node is not None and pod.gpu.is_shared else None
        charges = self._charges
        if charges is None:
            charges = self._charges = {}
        hit = charges.get((id(pod), mem))
        if hit is not None and hit[0] is pod:
            return hit[1]
        charge = self._charge(pod, node, None)
        charges[(id(pod), mem)] = (pod, charge)  # the pod is kept: its id is not reused
        return charge

    def _charge(self, pod: PodInfo, node: Optional[NodeInfo],
                new_claims: Optional[dict[Key, dict[str, Any]]]) -> dict[str, Fraction]:
        """:meth:`charge_for` computed."""
        gpu = Fraction(0)
        if pod.gpu.whole:
            gpu = Fraction(pod.gpu.whole)
        elif pod.gpu.is_shared:
            mem = (node.gpu_memory_mib if node is not None and node.gpu_memory_mib else None) or self.snap.min_gpu_memory_mib
            try:
                gpu = pod.gpu.gpus(mem)
            except ValueError:
                gpu = Fraction(0)
        if pod.claims:
            seen = set()
            for ref in pod.claims:
                ck = ref.claim
                if ck is None or ck in seen:
                    continue
                seen.add(ck)
                alloc = new_claims.get(ck) if new_claims else None
                if alloc is None:
                    alloc = self.claim_alloc.get(ck)
                if alloc is not None:
                    gpu += allocation_gpu_units(alloc, self.gpu_devices())
                elif ck in self.freed_claims:
                    gpu += requested_gpu_units(self.snap.typed_claims[ck], self.estimator())
                else:
                    gpu += claim_gpu_units(self.snap.typed_claims[ck], self.gpu_devices(), self.estimator())
        return {"gpu": gpu, "cpu": pod.cpu_milli, "memory": pod.memory / MB}

    def _add_queue(self, queue: str, charge: dict[str, Fraction], preemptible: bool, sign: int) -> None:
        if queue not in self.snap.tree:
            return
        qkeys = self._qkeys
        self._qgen += 1
        if self._qstates:
            self._qstates = {}  # (every queue below a changed one reads it: all go)
        items = [(r, _num(charge[r])) for r in RESOURCES if charge[r]]
        for q in self._chain(queue):
            qkeys.pop(q, None)
            alloc, alloc_np = self.alloc[q], self.alloc_np[q]
            for r, c in items:
                if sign > 0:
                    alloc[r] += c
                    if not preemptible:
                        alloc_np[r] += c
                else:
                    alloc[r] -= c
                    if not preemptible:
                        alloc_np[r] -= c

    def _chain(self, queue: str) -> list[str]:
        """``[queue] + tree.ancestors(queue)`` (memoised; do not modify the list)."""
        chain = self._chains.get(queue)
        if chain is None:
            chain = self._chains[queue] = [queue] + self.snap.tree.ancestors(queue)
        return chain

    def _group_of(self, pod: PodInfo) -> GroupInfo:
        if pod.group == ("", ""):
            return self.snap.groups[("pod", *pod.key)]  # type: ignore[index]
        return self.snap.groups[pod.group]

    def _account_running(self) -> None:
        """Resources held by Running and Releasing pods (annotated pods first, then in name order).

        The oracle of :class:`~gpuplane.scheduler.account.RunningAccount` (the same state kept
        between cycles; tests/test_running_account.py): a change here needs the same there."""
        holders = [p for p in self.snap.pods.values() if p.holds_resources and p.node_name in self.nodes]
        holders.sort(key=lambda p: (0 if p.held_gpus else 1, p.key))
        for pod in holders:
            ns = self.nodes[pod.node_name]
            info = self.node_info[pod.node_name]
            ns.cpu -= _num(pod.cpu_milli)
            ns.memory -= _num(pod.memory)
            ns.pods -= 1
            for r, v in pod.other.items():
                ns.other[r] = ns.other.get(r, Fraction(0)) - v
            self._hold_gpus(pod, info, ns)
        # queue usage: summed per (queue, preemptible) first (exact), then one _add_queue each
        sums: dict[tuple[str, bool], dict[str, list[Fraction]]] = {}
        for pod in self.snap.pods.values():
            if pod.holds_resources and pod.ours:
                group = self._group_of(pod)
                node = self.node_info.get(pod.node_name)
                charge = self.charge_for(pod, node)
                row = sums.get((group.queue, group.preemptible))
                if row is None:
                    row = sums[(group.queue, group.preemptible)] = {r: [] for r in RESOURCES}
                for r in RESOURCES:
                    row[r].append(charge[r])
        for (queue, preemptible), row in sums.items():
            self._add_queue(queue, {r: _exact_sum(vs) for r, vs in row.items()}, preemptible, +1)

    def _hold_gpus(self, pod: PodInfo, info: NodeInfo, ns: _NodeState) -> None:
        demand = pod.gpu
        if demand.is_empty or not ns.gpu_used:
            return
        share, count, named = _gpu_hold(pod, info)
        if not named:
            order = sorted(range(len(ns.gpu_used)), key=lambda i: (ns.gpu_used[i] + share > 1, i))
            named = order[:count]
        used = named[:count] if len(named) >= count else named
        for i in used:
            ns.gpu_used[i] += share
        if used:
            ns.gpu_free -= len(used) * share  # one index update per pod
        self.held_gpu[pod.key] = (list(used), share)

    # --- queue checks --------------------------------------------------------------------

    def queue_check(self, pod: PodInfo, group: GroupInfo, charge: dict[str, Fraction]) -> Optional[PendingReason]:
        tree = self.snap.tree
        chain = self._chain(group.queue)
        for q in chain:
            limited = self._limited.get(q)
            if limited is None:
                node = tree[q]
                limited = self._limited[q] = tuple(
                    r for r in RESOURCES if node.spec(r).limit != UNLIMITED or node.spec(r).quota != UNLIMITED)
            if not limited:
                continue
            level = "" if q == group.queue else f" (an ancestor of queue {group.queue})"
            node = tree[q]
            for r in limited:  # the resources with a limit or a quota (nothing to check for the others)
                need = charge[r]
                if _le0(need):
                    continue
                spec = node.spec(r)
                if spec.limit != UNLIMITED and self.alloc[q][r] + need > Fraction(spec.limit):
                    msg = (f"queue {q}{level} would exceed its {r} limit: {format_amount(r, self.alloc[q][r])} allocated"
                           f" + {format_amount(r, need)} requested by this pod > limit {format_amount(r, spec.limit)}")
                    return PendingReason(OVER_LIMIT, msg, queue=group.queue, queue_level=q, resource=r)
                if not group.preemptible and spec.quota != UNLIMITED and self.alloc_np[q][r] + need > Fraction(spec.quota):
                    msg = (f"non-preemptible pod (priority {group.priority}) would take queue {q}{level} over its {r} quota:"
                           f" {format_amount(r, self.alloc_np[q][r])} non-preemptible allocated + {format_amount(r, need)}"
                           f" requested > quota {format_amount(r, spec.quota)}; non-preemptible work may only use"
                           f" in-quota resources")
                    return PendingReason(NON_PREEMPTIBLE_OVER_QUOTA, msg, queue=group.queue, queue_level=q, resource=r)
        return None

    # --- placing one pod -----------------------------------------------------------------

    def _claim_allocation(self, ck: Key) -> Optional[Any]:
        new = self.claim_alloc.get(ck)
        if new is not None:
            ns = new.get("nodeSelector")
            return msgspec.convert(ns, NodeSelector) if ns else "any"
        if ck in self.freed_claims:  # deallocated by an eviction in this run
            return None
        alloc = self.snap.typed_claims[ck].status.allocation
        if alloc is None:
            return None
        return alloc.node_selector if alloc.node_selector is not None else "any"

    def _fit_node(self, pod: PodInfo, info: NodeInfo, to_allocate: list[ResourceClaim],
                  allocated_selectors: list[tuple[Key, Any]],
                  dra_shape: Optional[tuple] = None, static_key: Optional[bytes] = None,
                  pin: Optional[Placement] = None) -> tuple[Optional[str], Optional[Placement]]:
        """Whether the pod fits on the node, and with which GPUs and devices. ``pin``: choose
        among the GPUs and DRA devices of that placement alone (see :meth:`_fit_pinned`)."""
        if static_key is None:
            why = static_filter(info, pod)
        else:  # static filters depend only on the node and the pod's tolerations, selector, affinity
            memo_key = (static_key, info.name)
            why = self._static_memo.get(memo_key, _UNSET)
            if why is _UNSET:
                why = self._static_memo[memo_key] = static_filter(info, pod)
        if why:
            return why, None
        ns = self.nodes[info.name]
        if ns.pods < 1:
            return "too many pods", None
        if _gt(pod.cpu_milli, ns.cpu):
            return f"insufficient cpu (pod requests {format_amount('cpu', pod.cpu_milli)})", None
        if _gt(pod.memory, ns.memory):
            return f"insufficient memory (pod requests {_bytes(pod.memory)})", None
        if pod.other:
            for r, v in sorted(pod.other.items()):
                if v > ns.other.get(r, Fraction(0)):
                    return f"insufficient {r}", None
        indices: list[int] = []
        share = _F0
        if pod.gpu.whole or pod.gpu.is_shared:
            if not ns.gpu_used:
                return "no nvidia.com/gpu on the node", None
            if pod.gpu.whole and _gt(pod.gpu.whole, ns.gpu_free):
                return f"fewer than {pod.gpu.whole} free GPUs", None
            used = ns.gpu_used if pin is None else _only_gpus(ns.gpu_used, pin.gpu_indices)
            chosen, share, why = choose_gpus(used, pod.gpu, info.gpu_memory_mib, self.strategies["gpu"])
            if chosen is not None and self.frag is not None and pod.gpu.is_shared and pin is None:
                chosen = self.frag.choose_gpus(info, pod, ns.gpu_used, ns.cpu) or chosen
            if chosen is None:
                return why, None
            indices = chosen
        for ck, sel in allocated_selectors:
            if sel != "any":
                try:
                    ok = selector_matches(sel, info.node)
                except NodeSelectorError:
                    ok = False
                if not ok:
                    return f"ResourceClaim {ck[1]} is allocated on another node", None
        new_claims: list[tuple[Key, dict[str, Any]]] = []
        devices: list[str] = []
        if to_allocate:
            memo_key = (info.name, dra_shape) if dra_shape is not None else None
            hit = self._dra_memo.get(memo_key) if memo_key is not None else None
            if hit is not None and hit[0] == self._dra_global and hit[1] == self._dra_epoch.get(info.name, 0):
                results = hit[2]  # the allocator's answer for the same claims and the same in-use state
            else:
                try:
                    results = self.allocator.allocate(info.node, to_allocate,
                                                      only=_devices_of(pin) if pin is not None else None)
                except NodeAllocationError as err:
                    return f"ResourceClaims: {err}", None
                if memo_key is not None:
                    self._dra_memo[memo_key] = (self._dra_global, self._dra_epoch.get(info.name, 0), results)
            if results is None:
                return "ResourceClaims cannot be allocated (not enough matching free devices)", None
            for claim, allocation in zip(to_allocate, results):
                key = (claim.metadata.namespace or "default", claim.metadata.name)
                new_claims.append((key, allocation))
                devices += [r["device"] for r in allocation.get("devices", {}).get("results", []) if not r.get("adminAccess")]
        return None, Placement(pod.key, info.name, indices, share, new_claims, sorted(set(devices)) if devices else [],
                               {}, False, self.round)

    def place(self, pod: PodInfo, group: GroupInfo, only: Optional[frozenset[str]] = None,
              rank: Optional[dict[str, int]] = None) -> Placement | PendingReason:
        """Find the best node for a pod and apply it; or say why none will do. ``only``: the
        nodes allowed (a topology domain); ``rank``: a node's preferred-domain rank, lowest
        first, before the node score."""
        to_allocate: list[ResourceClaim] = []
        allocated_selectors: list[tuple[Key, Any]] = []
        seen = set()
        for ref in pod.claims:
            if ref.claim is None:
                return PendingReason(CLAIM_MISSING, f"pod claim {ref.pod_claim_name}: {ref.missing}", queue=group.queue)
            if ref.claim in seen:
                continue
            seen.add(ref.claim)
            sel = self._claim_allocation(ref.claim)
            if sel is None:
                to_allocate.append(self.snap.typed_claims[ref.claim])
            else:
                allocated_selectors.append((ref.claim, sel))
        charge = self.charge_for(pod) if pod.claims else self._shared_charge(pod, None)  # read only
        reason = self.queue_check(pod, group, charge)
        if reason is not None:
            return reason
        if not self.snap.nodes:
            return PendingReason(NO_NODES, "there are no nodes in the snapshot", queue=group.queue)
        claims_shape = (tuple((c.metadata.namespace, msgspec.json.encode(c.spec)) for c in to_allocate)
                        if to_allocate else None)
        dra_shape = claims_shape if self._dra_memo_ok else None
        skey = self._skeys.get(pod.key)
        if skey is None:
            skey = self._skeys[pod.key] = self._static_key(pod)
        pin = self.pinned.get(pod.key) if self.pinned else None
        if pin is not None and (only is None or pin.node in only):
            found = self._fit_pinned(pod, pin, to_allocate, allocated_selectors, skey)
            bound = self._bind(found, pod, group) if found is not None else None
            if isinstance(bound, Placement):
                return bound
        found = None
        if only is not None:
            return self._place_among(pod, group, only, rank or {}, to_allocate, allocated_selectors, dra_shape,
                                     skey, charge)
        fkey = None
        if not pod.claims or (claims_shape is not None and not allocated_selectors):
            # node fitting depends only on the pod's shape (and its new claims' specs) and the
            # node and DRA state: while nothing changed (``version``), a pod of the same shape
            # that found no node finds none again (checked before the binpack shortcuts: they would
            # find none either)
            fkey = (self._pod_shape(pod), claims_shape)
            hit = self._fail_cache.get(fkey)
            if hit is not None and hit[0] == self.version:
                return PendingReason(NO_NODE_FITS, hit[1], queue=group.queue, nodes_total=len(self.snap.nodes),
                                     node_reasons=dict(hit[2]))
        if self._binpack_applies(pod):
            if pod.gpu.whole > 0:
                found = self._binpack_whole(pod, skey)
            elif self._binpack_fraction_applies(pod):
                found = self._binpack_fraction(pod, skey)
        if found is not None:
            return self._bind(found, pod, group)
        first_fit = dra_shape is not None and self._dra_first_fit_applies(pod, charge)
        if first_fit:
            # per claim shape and pod shape: pods of one shape pass the same checks before the
            # allocator on a node, so the probe scan asked the allocator on every node they can reach
            fit_key = (dra_shape, self._pod_shape(pod), tuple(ck for ck, _ in allocated_selectors))
            found = self._dra_first_fit(pod, to_allocate, allocated_selectors, dra_shape, skey, fit_key)
            if found is not None:
                return self._bind(found, pod, group)
            probe = (self._dra_global, self._freed)
        scan = self._scan(pod, group, self.snap.nodes, None, to_allocate, allocated_selectors, dra_shape, skey, charge)
        if isinstance(scan, PendingReason):
            return scan
        if first_fit:
            fit = self._dra_fit.get(fit_key)
            if fit is None or fit.probe != probe:
                self._dra_fit[fit_key] = _DraFit(probe)
        best, counts, total = scan
        if best is None:
            parts = ", ".join(f"{n} {why}" for why, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
            msg = f"0/{total} nodes are available: {parts}"
            if fkey is not None:
                self._fail_cache[fkey] = (self.version, msg, dict(counts))
            return PendingReason(NO_NODE_FITS, msg, queue=group.queue, nodes_total=total, node_reasons=counts)
        return self._bind(best, pod, group)

    def _fit_pinned(self, pod: PodInfo, pin: Placement, to_allocate: list[ResourceClaim],
                    allocated_selectors: list[tuple[Key, Any]], skey: bytes) -> Optional[Placement]:
        """The pod's pinned placement (see :meth:`pin`) if it still fits exactly: the same node,
        GPUs, share and DRA devices, checked by :meth:`_fit_node` like any other placement.
        ``None`` if not (the caller takes the usual path): another pod took a GPU or device,
        the claims to allocate are no longer the pinned ones, or the allocator refused."""
        if {(c.metadata.namespace or "default", c.metadata.name) for c in to_allocate} != {ck for ck, _ in pin.claims}:
            return None
        info = self.node_info.get(pin.node)
        if info is None:
            return None
        try:  # (no DRA memo: its answers are for the whole node)
            _, placement = self._fit_node(pod, info, to_allocate, allocated_selectors, None, skey, pin)
        except AllocationError:
            return None
        if (placement is None or placement.gpu_indices != pin.gpu_indices or placement.gpu_share != pin.gpu_share
                or _devices_of(placement) != _devices_of(pin)):
            return None
        return placement

    def _place_among(self, pod: PodInfo, group: GroupInfo, only: frozenset[str], rank: dict[str, int],
                     to_allocate: list[ResourceClaim], allocated_selectors: list[tuple[Key, Any]],
                     dra_shape: Optional[tuple], skey: bytes, charge: dict[str, Fraction]) -> Placement | PendingReason:
        """:meth:`place`'s full scan over the nodes in ``only`` (no shortcuts, no failure cache)."""
        nodes = [info for info in self.snap.nodes if info.name in only]
        scan = self._scan(pod, group, nodes, rank, to_allocate, allocated_selectors, dra_shape, skey, charge)
        if isinstance(scan, PendingReason):
            return scan
        best, counts, total = scan
        if best is None:
            parts = ", ".join(f"{n} {why}" for why, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
            msg = f"0/{total} nodes are available: {parts}"
            return PendingReason(NO_NODE_FITS, msg, queue=group.queue, nodes_total=total, node_reasons=counts)
        return self._bind(best, pod, group)

    # _scan: (pod shape, node) -> (node state origin, epoch, why not); with an account, carried
    # between cycles (see account.CycleMemo.why)
    _why_nodes: dict[tuple[tuple, str], tuple[object, int, str]]

    def _scan(self, pod: PodInfo, group: GroupInfo, nodes: list[NodeInfo], rank: Optional[dict[str, int]],
              to_allocate: list[ResourceClaim], allocated_selectors: list[tuple[Key, Any]],
              dra_shape: Optional[tuple], skey: bytes, charge: dict[str, Fraction]
              ) -> tuple[Optional[Placement], dict[str, int], int] | PendingReason:
        """Fit the pod on every node in ``nodes``; the best placement, the per-reason counts of
        the nodes that did not fit, and how many nodes were looked at. Ranking: nominated node
        first, then ``rank`` (topology domain order), then :func:`node_score`."""
        counts: dict[str, int] = {}
        best: Optional[tuple[tuple, Placement]] = None
        uses_gpu = not pod.gpu.is_empty or charge["gpu"] > 0
        shared = pod.gpu.is_shared
        # why a node did not fit a claimless pod depends only on the pod's shape and the node's
        # state: kept per (shape, node) while the node's state is the same. At epoch 0 the state
        # is its origin's (the next cycle's scans find the nodes that did not change); after k
        # changes in this run it is this run's alone (another run changes it otherwise): this
        # run's token and the epoch (the actions' simulations rescan every node after changing
        # one or two)
        run = self._run_token
        nodes_by_name = self.nodes
        memo = None
        if not pod.claims and self.unique_names:
            memo = self._why_nodes
        shape = self._pod_shape(pod) if memo is not None else None
        nominated = self.nominated.get(pod.key)
        for info in nodes:
            if memo is not None:
                ns = nodes_by_name[info.name]
                mkey = (shape, info.name)
                hit = memo.get(mkey)
                if hit is not None and hit[1] == ns.epoch and hit[0] is (ns.origin if not ns.epoch else run):
                    why = hit[2]
                    counts[why] = counts.get(why, 0) + 1
                    continue
            try:
                why, placement = self._fit_node(pod, info, to_allocate, allocated_selectors, dra_shape, skey)
            except AllocationError as err:
                return PendingReason(DRA_ERROR, f"its ResourceClaims cannot be allocated: {err}", queue=group.queue)
            if placement is None:
                why = why or "does not fit"
                counts[why] = counts.get(why, 0) + 1
                if memo is not None:
                    memo[mkey] = (ns.origin if not ns.epoch else run, ns.epoch, why)
                continue
            ns = self.nodes[info.name]
            gpu_free = (ns.gpu_free - len(placement.gpu_indices) * placement.gpu_share if placement.gpu_indices
                        else ns.gpu_free)
            partial = bool(shared and any(ns.gpu_used[i] for i in placement.gpu_indices))
            inc = (self.frag.increase(info, pod, ns.gpu_used, ns.cpu, placement.gpu_indices, placement.gpu_share)
                   if self.frag is not None and ns.gpu_used else None)
            key = (0 if nominated == info.name else 1, rank.get(info.name, 0) if rank else 0,
                   node_score(info, pod, self.strategies, gpu_free, None if uses_gpu else ns.cpu - pod.cpu_milli,
                              partial, uses_gpu, inc))
            if best is None or key < best[0]:
                best = (key, placement)
        return (best[1] if best else None), counts, len(nodes)

    @staticmethod
    def _static_key(pod: PodInfo) -> bytes:
        """What :func:`static_filter` reads from the pod."""
        spec = pod.pod.spec
        return msgspec.json.encode((spec.tolerations, spec.node_selector, spec.affinity))

    def _pod_shape(self, pod: PodInfo) -> tuple:
        """:meth:`_shape_key`, once per pod object (a function of the frozen pod alone; the
        entry keeps the pod, so a hit on its id is that pod: see account.CycleMemo)."""
        hit = self._shapes.get(id(pod))
        if hit is not None and hit[0] is pod:
            return hit[1]
        shape = self._shape_key(pod)
        self._shapes[id(pod)] = (pod, shape)
        return shape

    @staticmethod
    def _shape_key(pod: PodInfo) -> tuple:
        """Everything about a claimless pod that node fitting reads (its equivalence class).
        Whole amounts as ints (see _num): equal and hashed alike, but hashing a Fraction is slow
        and the key is hashed on every lookup."""
        return (_num(pod.cpu_milli), _num(pod.memory), tuple(sorted(pod.other.items())), repr(pod.gpu),
                _Cluster._static_key(pod))

    def _bind(self, placement: Placement, pod: PodInfo, group: GroupInfo) -> Placement | PendingReason:
        if placement.claims:  # private copies: the allocator memo keeps its own
            placement.claims = [(k, _tree_copy(a)) for k, a in placement.claims]
        placement.charge = self.charge_for(pod, self.node_info[placement.node],
                                           dict(placement.claims) if placement.claims else None)
        if placement.claims:  # the queue check again, with the devices actually chosen (a MIG slice counts its share)
            reason = self.queue_check(pod, group, placement.charge)
            if reason is not None:
                return reason
        placement.preemptible = group.preemptible
        self.apply(placement, pod)
        return placement

    def _binpack_applies(self, pod: PodInfo) -> bool:
        """No claims, not nominated, plain binpack: the shortcuts below find the node the full
        scan would (the first that fits in the order of the scan's key), visiting few nodes."""
        return (not pod.claims and self.frag is None and self.strategies["gpu"] == "binpack" and self.unique_names
                and pod.key not in self.nominated)

    def _binpack_fraction_applies(self, pod: PodInfo) -> bool:
        """A ``gpu-fraction`` pod (the same share on every node), 0 < share < 1, and no GPU
        anywhere used beyond [0, 1] (so a node that fits has at least devices x share free)."""
        d = pod.gpu
        return (d.fraction is not None and not d.whole and 0 < d.fraction < 1 and d.num_devices >= 1
                and not self.free_index.odd)

    def _binpack_fraction(self, pod: PodInfo, skey: Optional[bytes] = None) -> Optional[Placement]:
        """For a fractional pod the scan's key is ``(0 if it shares a partly used GPU else 1, 0,
        free GPUs - devices x share, name)``. Sharing a partly used GPU needs a node in
        ``free_index.partial``: those first, in (free, name) order, keeping the first that fits
        and shares; else the first node that fits in (free, name) order (none of them shares)."""
        need = pod.gpu.fraction * pod.gpu.num_devices
        idx = self.free_index
        for name in sorted(idx.partial, key=lambda n: (self.nodes[n].gpu_free, n)):
            ns = self.nodes[name]
            if ns.gpu_free < need:
                continue
            _, placement = self._fit_node(pod, self.node_info[name], [], [], None, skey)
            if placement is not None and any(ns.gpu_used[i] for i in placement.gpu_indices):
                return placement
        for name in idx.ordered(need):
            _, placement = self._fit_node(pod, self.node_info[name], [], [], None, skey)
            if placement is not None:
                return placement
        return None

    def _binpack_whole(self, pod: PodInfo, skey: Optional[bytes] = None) -> Optional[Placement]:
        """The node the full scan in :meth:`place` would pick, found by visiting nodes in the
        order of its key: for such a pod the key is ``(1, 1, 0, free GPUs - whole, name)``.
        Nodes with fewer free GPUs than the pod needs never fit. ``None`` when nothing fits
        (the caller then scans every node to count the reasons)."""
        for name in self.free_index.ordered(pod.gpu.whole):
            _, placement = self._fit_node(pod, self.node_info[name], [], [], None, skey)
            if placement is not None:
                return placement
        return None

    def _dra_first_fit_applies(self, pod: PodInfo, charge: dict[str, Fraction]) -> bool:
        """A pod whose only GPUs come from new DRA claims, plain binpack, not nominated: the
        scan's key is then ``(1, 0, (1, 0, free device-plugin GPUs, name))`` whatever the
        claims get, i.e. the free index's order, so the first node that fits in that order
        is the scan's pick."""
        return (pod.gpu.is_empty and charge["gpu"] > 0 and self.frag is None and self.strategies["gpu"] == "binpack"
                and self.unique_names and pod.key not in self.nominated)

    def _dra_first_fit(self, pod: PodInfo, to_allocate: list[ResourceClaim], allocated_selectors: list[tuple[Key, Any]],
                       dra_shape: tuple, skey: bytes, fit_key: tuple) -> Optional[Placement]:
        """The node the full scan would pick for a DRA pod (see :meth:`_dra_first_fit_applies`),
        visiting nodes in the scan's order and skipping nodes where the allocator found nothing
        for this claim shape since their last change. ``None``: not known (no current probe, see
        :class:`_DraFit`) or no node fits; the caller then runs the full scan."""
        fit = self._dra_fit.get(fit_key)
        if fit is None or fit.probe != (self._dra_global, self._freed):
            return None
        idx = self.free_index
        if fit.skip_at != idx.changes:
            fit.skip = {}
            fit.skip_at = idx.changes
        epochs, dead, skip, memo = self._dra_epoch, fit.dead, fit.skip, self._dra_memo
        for value in sorted(idx.buckets):
            names = idx.buckets[value]
            i = skip.get(value, 0)
            prefix = True  # names[:i] are all dead
            while i < len(names):
                name = names[i]
                i += 1
                epoch = epochs.get(name, 0)
                if dead.get(name, -1) != epoch:
                    try:
                        _, placement = self._fit_node(pod, self.node_info[name], to_allocate, allocated_selectors,
                                                      dra_shape, skey)
                    except AllocationError:
                        return None  # the full scan reports it
                    if placement is not None:
                        return placement
                    hit = memo.get((name, dra_shape))
                    if hit is None or hit[2] is not None or hit[0] != self._dra_global or hit[1] != epoch:
                        prefix = False  # did not fit for another reason (or the allocator was not asked)
                        continue
                    dead[name] = epoch
                if prefix:
                    skip[value] = i
        return None

    def _bump(self) -> None:
        """A node state not seen before: a new version; no undo returns to an earlier one."""
        self._vnext += 1
        self.version = self._vnext
        self._vstack.clear()

    def apply(self, p: Placement, pod: PodInfo) -> None:
        if p.claims or pod.claims:
            self._bump()
        else:  # the new state is the old one plus exactly this (see __init__)
            # whole amounts as ints (see _num): equal and hashed alike, hashed much faster
            sig = (self.version, p.node, tuple(p.gpu_indices), _num(p.gpu_share), _num(pod.cpu_milli),
                   _num(pod.memory), tuple(sorted(pod.other.items())) if pod.other else ())
            v = self._vtab.get(sig)
            if v is None:
                self._vnext += 1
                v = self._vtab[sig] = self._vnext
            self._vstack.append((p, self.version))
            self.version = v
        ns = self.nodes[p.node]
        ns.epoch += 1
        ns.cpu -= _num(pod.cpu_milli)
        ns.memory -= _num(pod.memory)
        ns.pods -= 1
        for r, v in pod.other.items():
            ns.other[r] = ns.other.get(r, Fraction(0)) - v
        if p.gpu_indices:
            share = _num(p.gpu_share)
            used = ns.gpu_used
            for i in p.gpu_indices:
                used[i] += share
            ns.gpu_free -= len(p.gpu_indices) * share
        if p.claims:
            self.allocator.record([a for _, a in p.claims])
            self._dra_epoch[p.node] = self._dra_epoch.get(p.node, 0) + 1
            for fit in self._dra_fit.values():
                if p.node in fit.dead:  # its dead entry is stale now: the skip prefixes may cover it
                    fit.skip_at = -1
            for ck, a in p.claims:
                self.claim_alloc[ck] = a
        for ref in pod.claims:
            if ref.claim is not None:
                self.claim_reserved.setdefault(ref.claim, [])
                if pod.key not in self.claim_reserved[ref.claim]:
                    self.claim_reserved[ref.claim].append(pod.key)
        group = self._group_of(pod)
        self._touched.add(id(group))
        self._add_queue(group.queue, p.charge, p.preemptible, +1)
        self.placements[pod.key] = p
        self.released.discard(pod.key)
        self._pp_gen += 1

    def undo(self, p: Placement, pod: PodInfo) -> None:
        if self._vstack and self._vstack[-1][0] is p:
            self.version = self._vstack.pop()[1]  # back to the state before p
        else:
            self._bump()
        self._freed += 1
        ns = self.nodes[p.node]
        ns.epoch += 1
        ns.cpu += _num(pod.cpu_milli)
        ns.memory += _num(pod.memory)
        ns.pods += 1
        for r, v in pod.other.items():
            ns.other[r] = ns.other.get(r, Fraction(0)) + v
        if p.gpu_indices:
            share = _num(p.gpu_share)
            used = ns.gpu_used
            for i in p.gpu_indices:
                used[i] -= share
            ns.gpu_free += len(p.gpu_indices) * share
        for ck, _ in p.claims:
            self.claim_alloc.pop(ck, None)
        for ref in pod.claims:
            if ref.claim is not None and pod.key in self.claim_reserved.get(ref.claim, []):
                self.claim_reserved[ref.claim].remove(pod.key)
                if not self.claim_reserved[ref.claim]:
                    del self.claim_reserved[ref.claim]
        group = self._group_of(pod)
        self._touched.add(id(group))
        self._add_queue(group.queue, p.charge, p.preemptible, -1)
        del self.placements[pod.key]
        if pod.state != PENDING:
            self.released.add(pod.key)  # a recreated pod: what the snapshot says it held is gone
        self._pp_gen += 1

    def _dra_checkpoint(self) -> AllocatedState:
        return self.allocator.checkpoint()

    def _dra_rollback(self, state: AllocatedState) -> None:
        self._bump()
        self._freed += 1
        self._dra_global += 1
        self.allocator.restore(state)

    # --- jobs ----------------------------------------------------------------------------

    def pending_pods(self, group: GroupInfo) -> list[PodInfo]:
        """The group's pods waiting to be placed, oldest first. With SubGroups: the pods that
        would satisfy the tree first, and pods naming no leaf SubGroup left out (they can never
        be placed; :meth:`_unplaceable` explains them).

        Memoized per group while ``_pp_gen`` stands (see __init__): the answer is a function of
        the snapshot's pods (fixed in a run), ``placements`` and ``released`` (and, through
        SubGroup ordering, ``evicted`` and active counts, which read the same state), and every
        change to those bumps ``_pp_gen``. A fresh list each call (callers may keep or change it).

        For a group not touched in this run (see __init__) and without SubGroups (whose order
        reads more), the answer is the one at the start of the run: kept for the run."""
        if id(group) not in self._touched:
            pending = self._still_facts(group).pending
            if pending is not None:
                return pending[:]
        gen = self._pp_gen
        if gen != self._pp_at:  # the entries are of an older generation
            self._pp_memo = {}
            self._pp_at = gen
        hit = self._pp_memo.get(id(group))
        if hit is not None and hit[0] is group:
            return hit[1][:]
        out = self._pending_pods(group)
        if gen == self._pp_gen:  # nothing changed while computing it
            self._pp_memo[id(group)] = (group, out)
            return out[:]
        return out

    def _pending_pods(self, group: GroupInfo) -> list[PodInfo]:
        """:meth:`pending_pods` without the memo."""
        if len(group.pods) == 1:  # one pod (the common case): no list building, no sort
            p = self.snap.pods[group.pods[0]]
            if not (p.ours and (p.state == PENDING or p.key in self.released) and p.key not in self.placements):
                return []
            out = [p]
        else:
            out = [self.snap.pods[k] for k in group.pods]
            out = [p for p in out
                   if p.ours and (p.state == PENDING or p.key in self.released) and p.key not in self.placements]
            out.sort(key=lambda p: (p.creation, p.key))
        if group.raw is not None and out:
            tree = self.subgroup_tree(group)
            if tree is not None:
                from .subgang import required_first

                return required_first(self, group, tree, [p for p in out if p.key not in tree.unknown])
        return out

    def subgroup_tree(self, group: GroupInfo) -> Optional[SubGroupTree]:
        """The PodGroup's SubGroup tree (``None`` without ``spec.subGroups``), built once per run."""
        raw = group.raw
        if raw is None:
            return None
        if type(raw) is dict:
            spec = raw.get("spec")
            if spec is None or (type(spec) is dict and not spec.get("subGroups")):
                return None  # what build_tree answers, without building the pods' labels first
        trees = getattr(self, "_sg_trees", None)
        if trees is None:
            trees = self._sg_trees = {}
        if group.key not in trees:
            labels = {k: self.snap.pods[k].pod.metadata.labels or {} for k in group.pods}
            trees[group.key] = build_tree(group.key, raw, labels)
        return trees[group.key]

    def _unplaceable(self, group: GroupInfo) -> None:
        """Pods naming a SubGroup their PodGroup lacks (or an inner one) stay pending, explained."""
        tree = self.subgroup_tree(group) if group.raw is not None else None
        if tree is None or not tree.unknown:
            return
        for k, why in tree.unknown.items():
            p = self.snap.pods[k]
            if p.ours and (p.state == PENDING or k in self.released) and k not in self.placements:
                self.reasons[k] = PendingReason(SUBGROUP_NOT_FOUND, why, queue=group.queue)

    def _still_facts(self, group: GroupInfo) -> StillFacts:
        """The :class:`~gpuplane.scheduler.account.StillFacts` of a group not touched in this run
        (call only while it is untouched). Its pods' state is then the snapshot's (nothing placed,
        evicted, released or nominated), so what is read of them alone is a function of the
        group and its pods' objects: kept per group, and reused while the snapshot has those
        very objects (in later cycles too, with an account: the snapshot keeps unchanged ones)."""
        entry = self._still.get(id(group))
        if entry is not None and entry.group is group:
            if entry.run is self._run_token:
                return entry
            pods = self.snap.pods
            for k, p in zip(group.pods, entry.pods):
                if pods[k] is not p:
                    break
            else:
                entry.run = self._run_token
                return entry
        plain = group.raw is None or self.subgroup_tree(group) is None
        entry = self._still[id(group)] = StillFacts(
            group, tuple(self.snap.pods[k] for k in group.pods), self._pending_pods(group) if plain else None,
            self._active_now(group), self._run_token)
        return entry

    def active_count(self, group: GroupInfo) -> int:
        if id(group) not in self._touched:
            return self._still_facts(group).active
        return self._active_now(group)

    def _active_now(self, group: GroupInfo) -> int:
        """:meth:`active_count` without the memo."""
        n = 0
        for k in group.pods:
            p = self.snap.pods[k]
            if self.is_active(p):
                n += 1
        return n

    def allocate_group(self, group: GroupInfo) -> bool:
        pending = self.pending_pods(group)
        if not pending:
            return False
        if group.raw is not None:
            tree = self.subgroup_tree(group)
            if tree is not None:
                from .subgang import allocate_subgroups  # (it builds on this module)

                return allocate_subgroups(self, group, tree, pending)
        active = self.active_count(group)
        need = max(0, group.min_member - active)
        if len(pending) < need:
            short = need - len(pending)
            msg = (f"gang {group.kind} {group.ref} needs {group.min_member} pods (minMember) but only "
                   f"{active + len(pending)} exist ({active} running, {len(pending)} pending): short by {short} "
                   f"pod{'' if short == 1 else 's'}")
            self._fail_group(group, pending, PendingReason(GANG_SHORT, msg, queue=group.queue,
                                                            gang={**self._gang_info(group, active, pending),
                                                                  "placed": 0, "short": short}))
            return False
        topo = self._group_topology(group, pending) if group.raw is not None else None
        if topo is not None:
            return self._allocate_with_topology(group, pending, active, need, self._gang_info(group, active, pending),
                                                *topo)
        ok, n_placed, failures = self._place_gang(group, pending, need)
        if ok:
            return True
        # (the gang facts are read only for a gang: need > 1, see _gang_failed)
        self._gang_failed(group, pending, active, need, self._gang_info(group, active, pending) if need > 1 else {},
                          n_placed, failures)
        return False

    @staticmethod
    def _gang_info(group: GroupInfo, active: int, pending: list[PodInfo]) -> dict[str, Any]:
        """The gang facts of a gang reason (``PendingReason.gang``), before placing."""
        return {"name": group.ref, "kind": group.kind, "minMember": group.min_member, "active": active,
                "pending": len(pending)}

    def _place_gang(self, group: GroupInfo, pending: list[PodInfo], need: int,
                    nodes: Optional[frozenset[str]] = None, rank: Optional[dict[str, int]] = None
                    ) -> tuple[bool, int, dict[Key, PendingReason]]:
        """Place the gang's pods one by one (only on ``nodes`` if given); keep them if at least
        ``need`` fit, else roll back. ``(kept, pods placed, failures)``."""
        gkey = self._gang_key(group, pending, need) if nodes is None else None
        if gkey is not None:
            qstate = self._queue_state(group.queue)
            hit = self._gang_fail.get(gkey)
            if hit is not None and hit[0] == qstate:  # (compared, not hashed: Fraction hashes are slow)
                _, n_placed, on_nodes, fails = hit
                # what the attempt would leave behind besides the identical node and queue state
                # (caches only: node epochs, the freed counter)
                for name in on_nodes:
                    self.nodes[name].epoch += 2
                self._freed += n_placed
                return False, n_placed, {pending[i].key: r for i, r in fails}
            version = self.version
        # (one pod: if it fails nothing was recorded, so there is nothing to roll back)
        checkpoint = self._dra_checkpoint() if len(pending) > 1 and any(p.claims for p in pending) else None
        placed: list[tuple[PodInfo, Placement]] = []
        failures: dict[Key, PendingReason] = {}
        fails: list[tuple[int, PendingReason]] = []
        for i, pod in enumerate(pending):
            result = self.place(pod, group) if nodes is None else self.place(pod, group, nodes, rank)
            if isinstance(result, Placement):
                placed.append((pod, result))
            else:
                failures[pod.key] = result
                fails.append((i, result))
                if len(placed) + (len(pending) - i - 1) < need:
                    break
        if len(placed) >= need and placed:
            for pod in pending:
                if pod.key in failures:
                    self.reasons[pod.key] = failures[pod.key]
                elif pod.key not in self.placements:
                    self.reasons.pop(pod.key, None)
            for pod, _ in placed:
                self.reasons.pop(pod.key, None)
            self.group_reasons.pop(group.key if group.kind == "PodGroup" else None, None)
            return True, len(placed), failures
        for pod, p in reversed(placed):
            self.undo(p, pod)
        if checkpoint is not None:
            self._dra_rollback(checkpoint)
        if gkey is not None and self.version == version:
            self._gang_fail[gkey] = (qstate, len(placed), [p.node for _, p in placed], fails)
        return False, len(placed), failures

    def _queue_state(self, queue: str) -> Optional[tuple]:
        """What :meth:`queue_check` reads of the queue usage for ``queue``: its chain's rows
        (memoised until an allocation changes: only _add_queue changes them)."""
        hit = self._qstates.get(queue, _UNSET)
        if hit is not _UNSET:
            return hit
        if queue not in self.snap.tree:
            state = None
        else:
            alloc, alloc_np = self.alloc, self.alloc_np
            state = tuple((tuple(alloc[q].values()), tuple(alloc_np[q].values())) for q in self._chain(queue))
        self._qstates[queue] = state
        return state

    def _gang_key(self, group: GroupInfo, pending: list[PodInfo], need: int) -> Optional[tuple]:
        """The gang-failure cache's key for placing ``pending`` anywhere (``None``: not cached).

        Why it is exact: for claimless, not-nominated pods, :meth:`place` reads only the pod's
        shape (:meth:`_pod_shape`: what node fitting, scoring and the charge read), the node
        state (``version``: equal versions are equal node states, see __init__), the queue
        state the queue check reads (the ``alloc`` and ``alloc_np`` rows of the queue's chain,
        :meth:`_queue_state`, kept in the entry and compared on a hit) and the group's queue, preemptibility and priority (the check's inputs and messages).
        What it does to that state is again a function of the same inputs (the placement
        found, the charge added), so the whole attempt (pods in order, the stop rule from
        ``need``) is. A failed attempt is rolled back; it is cached only if that returned to
        the same version (claimless placements undone in reverse order do), so the node and
        queue state after a hit are the ones the attempt would leave (node epochs and
        ``_freed``, which only invalidate caches, are bumped as it would). Reasons carry no
        pod names; the gang's own pod keys are put back by index.

        Everything but the version is kept for a group not touched in the run (its pending
        pods, and so ``need``, are the snapshot's: see _still_facts); ``pending`` is then its
        pending pods (the only other caller, _place_pinned, passes pods of nominated groups,
        which are touched)."""
        if id(group) not in self._touched:
            entry = self._still_facts(group)
            hit = entry.gang_tail
            if hit is None or hit[0] != need:
                hit = entry.gang_tail = (need, self._gang_tail(group, pending, need))
            return None if hit[1] is None else (self.version, hit[1])
        tail = self._gang_tail(group, pending, need)
        return None if tail is None else (self.version, tail)

    def _gang_tail(self, group: GroupInfo, pending: list[PodInfo], need: int) -> Optional[tuple]:
        """:meth:`_gang_key` without the version."""
        nominated = self.nominated
        for p in pending:
            if p.claims or p.key in nominated:
                return None
        return (group.queue, group.preemptible, group.priority, need, tuple(map(self._pod_shape, pending)))

    def _gang_failed(self, group: GroupInfo, pending: list[PodInfo], active: int, need: int,
                     gang_info: dict[str, Any], n_placed: int, failures: dict[Key, PendingReason],
                     prefix: str = "", topology: Optional[dict[str, Any]] = None) -> None:
        """Record why a gang that was tried could not be placed (``gang_info`` is read only when
        ``need > 1``)."""
        first_key = next(iter(failures))
        first = failures[first_key]
        if need <= 1:
            # not a gang problem: each pod says why it did not fit (untried pods share the first reason)
            for pod in pending:
                self.reasons[pod.key] = failures.get(pod.key, first)
            if group.kind == "PodGroup" and group.raw is not None:
                self.group_reasons[group.key] = first
            return
        short = need - n_placed
        msg = (f"{prefix}gang {group.kind} {group.ref} needs {need} more pod{'' if need == 1 else 's'} to reach minMember "
               f"{group.min_member} ({active} running) but only {n_placed} could be placed: short by {short} "
               f"pod{'' if short == 1 else 's'}; pod {first_key[1]}: {first.message}")
        reason = PendingReason(GANG_SHORT, msg, queue=group.queue,
                               gang={**gang_info, "placed": n_placed, "short": short}, pod_reason=first,
                               topology=topology)
        self._fail_group(group, pending, reason)

    # --- topology constraints (PodGroup level) ---------------------------------------------

    def _group_topology(self, group: GroupInfo, pending: list[PodInfo]
                        ) -> Optional[tuple[Optional[Topology], TopologyConstraint]]:
        """:meth:`_topology_for` the group's pending pods, kept for the run while the group is
        untouched (it reads the group, its pending pods and the snapshot's nodes and Topologies)."""
        if id(group) in self._touched:
            return self._topology_for(group, pending)
        memo = self._topo_memo
        hit = memo.get(id(group))
        if hit is None or hit[0] is not group:
            hit = memo[id(group)] = (group, self._topology_for(group, pending))
        return hit[1]

    def _topology_for(self, group: GroupInfo, pending: Optional[list[PodInfo]] = None
                      ) -> Optional[tuple[Optional[Topology], TopologyConstraint]]:
        """The PodGroup's ``spec.topologyConstraint`` (with a level set) and its Topology (``None``
        if no Topology has that name); else the implicit NVLink-clique preference
        (:func:`~gpuplane.scheduler.topology.clique_preference`) when it applies; else ``None``."""
        spec = group.raw.get("spec") if isinstance(group.raw, dict) else None
        tc = spec.get("topologyConstraint") if isinstance(spec, dict) else None
        found = self._constraint(tc) if isinstance(tc, dict) else None
        if found is None and pending is not None and self._has_cliques():
            return clique_preference([(p.gpu.whole, p.gpu.is_shared) for p in pending])
        return found

    def _has_cliques(self) -> bool:
        has = getattr(self, "_cliques", None)
        if has is None:
            has = self._cliques = any(CLIQUE_LABEL in (n.node.metadata.labels or {}) for n in self.snap.nodes)
        return has

    def _constraint(self, tc: Optional[dict[str, Any]]) -> Optional[tuple[Optional[Topology], TopologyConstraint]]:
        """A ``topologyConstraint`` with a level set and its Topology (``None`` if no Topology has
        that name); ``None`` when no level is set."""
        if not isinstance(tc, dict):
            return None
        c = TopologyConstraint.from_dict(tc)
        if not (c.required_level or c.preferred_level):
            return None
        topos = getattr(self, "_topos", None)
        if topos is None:
            topos = self._topos = {}
            for obj in self.snap.topologies:
                t = Topology.from_object(obj)
                topos.setdefault(t.name, t)
        return topos.get(c.topology), c

    def _topo_nodes(self, only: Optional[frozenset[str]] = None) -> list[TopoNode]:
        """The nodes (those in ``only`` if given) as the topology helpers see them: labels, free
        and total GPUs now (whole numbers as ints: the domain arithmetic is much faster)."""
        out = []
        for n in self.snap.nodes:
            if only is not None and n.name not in only:
                continue
            ns = self.nodes[n.name]
            free = ns.gpu_free
            out.append(TopoNode(n.name, n.node.metadata.labels or {},
                                free.numerator if free.denominator == 1 else free, len(ns.gpu_used)))
        return out

    def _gang_demand(self, pending: list[PodInfo], need: int) -> GangDemand:
        n = max(need, 1)
        charges = [self.charge_for(p)["gpu"] for p in pending[:n]]
        if len(set(charges)) <= 1:
            return GangDemand(n, charges[0] if charges else Fraction(0))
        return GangDemand.total(sum(charges, Fraction(0)))

    def _pref_rank(self, g: NodeGroup, topo: Topology, c: TopologyConstraint) -> Optional[dict[str, int]]:
        """Within a group that spans several preferred-level domains: each node's domain rank
        (the order the domains appear in ``g.nodes``), so pods fill one domain before the next."""
        if not c.preferred_level:
            return None
        try:
            pi = topo.index(c.preferred_level)
            if c.required_level and pi < topo.index(c.required_level):
                return None
        except ValueError:
            return None
        if g.level == topo.levels[pi]:
            return None  # the group is one preferred domain
        labels = topo.levels[: pi + 1]
        seen: dict[Optional[tuple[str, ...]], int] = {}
        rank: dict[str, int] = {}
        for name in g.nodes:
            info = self.node_info.get(name)
            lab = (info.node.metadata.labels if info is not None else None) or {}
            path: Optional[tuple[str, ...]] = tuple(lab.get(lv) or "" for lv in labels)
            if path is not None and "" in path:
                path = None
            rank[name] = seen.setdefault(path, len(seen))
        return rank

    def _allocate_with_topology(self, group: GroupInfo, pending: list[PodInfo], active: int, need: int,
                                gang_info: dict[str, Any], topo: Optional[Topology], c: TopologyConstraint) -> bool:
        """A gang with a topologyConstraint: try its candidate domains in the order of
        :func:`~gpuplane.scheduler.topology.order_nodes_for_gang`; the first where the whole gang
        fits wins. Required: none fits, the gang stays pending. Preferred only: the last group is
        the whole cluster (the fallback)."""
        info: dict[str, Any] = {"topology": c.topology, "requiredLevel": c.required_level or "",
                                "preferredLevel": c.preferred_level or ""}
        groups: list[NodeGroup] = []
        why = ""
        if topo is None:
            why = f"topology {c.topology or '(none)'} not found (no Topology object has this name)"
        else:
            nodes = self._topo_nodes()
            demand = self._gang_demand(pending, need)
            info["gpus"] = float(demand.gpus)
            try:
                groups, why = order_nodes_for_gang(nodes, topo, c, demand)
            except ValueError as err:
                why = str(err)
        if not groups:
            if not c.required_level:  # a soft constraint that cannot be read: place as if there were none
                ok, n_placed, failures = self._place_gang(group, pending, need)
                if not ok:
                    self._gang_failed(group, pending, active, need, gang_info, n_placed, failures)
                return ok
            info["message"] = why
            msg = f"gang {group.kind} {group.ref} {why}" if why.startswith("needs ") else f"gang {group.kind} {group.ref}: {why}"
            self._fail_group(group, pending, PendingReason(
                TOPOLOGY_UNSATISFIED, msg, queue=group.queue,
                gang={**gang_info, "placed": 0, "short": need}, topology=info))
            return False
        attempts: list[tuple[NodeGroup, int, dict[Key, PendingReason]]] = []
        for g in groups:
            ok, n_placed, failures = self._place_gang(group, pending, need, frozenset(g.nodes), self._pref_rank(g, topo, c))
            if ok:
                return True
            attempts.append((g, n_placed, failures))
        assert topo is not None
        if c.required_level:
            g, n_placed, failures = max(attempts, key=lambda a: a[1])  # the first with the most pods placed
            word = topo.word(topo.index(c.required_level))
            prefix = (f"topology {topo.name}, required level {c.required_level}: no {word} could host the gang "
                      f"({len(attempts)} candidate {word}{'s' if len(attempts) != 1 else ''} tried); "
                      f"in {word} {g.value}: ")
            info["message"] = (f"no {word} could host the gang ({len(attempts)} candidate {word}"
                               f"{'s' if len(attempts) != 1 else ''} tried); best attempt: {word} {g.value}")
            info["domain"] = g.value
        else:
            g, n_placed, failures = attempts[-1]  # the whole cluster
            prefix = ""
        implicit = topo is CLIQUE_TOPOLOGY  # the default clique preference: nothing the user asked for
        self._gang_failed(group, pending, active, need, gang_info, n_placed, failures, prefix,
                          None if implicit else info)
        return False

    def _fail_group(self, group: GroupInfo, pending: list[PodInfo], reason: PendingReason) -> None:
        for pod in pending:
            self.reasons[pod.key] = reason
        if group.kind == "PodGroup" and group.raw is not None:
            self.group_reasons[group.key] = reason

    # --- fair share and queue order --------------------------------------------------------

    def capacity(self) -> dict[str, Fraction]:
        """The cluster's GPUs, CPU millicores and memory MB (a new dict). The sums are kept while
        the snapshot holds the same NodeInfo objects (frozen: the same objects, the same sums)."""
        global _CAPACITY_MEMO
        nodes = self.snap.nodes
        memo = _CAPACITY_MEMO
        if memo is None or len(memo[0]) != len(nodes) or any(a is not b for a, b in zip(memo[0], nodes)):
            gpu = Fraction(sum(n.gpus + n.dra_gpus for n in nodes))
            cpu = _exact_sum([n.cpu_milli for n in nodes])
            mem = _exact_sum([n.memory for n in nodes]) / MB
            memo = _CAPACITY_MEMO = (nodes, {"gpu": gpu, "cpu": cpu, "memory": mem})
        return dict(memo[1])

    def requested(self, jobs: dict[str, list[GroupInfo]]) -> dict[str, dict[str, Fraction]]:
        """Allocated + pending requests per leaf queue."""
        tree = self.snap.tree
        parts: dict[str, dict[str, list[Fraction | int]]] = {}
        for q in tree:
            if tree.is_leaf(q):
                parts[q] = {r: [v] for r, v in self.alloc[q].items()}
        known = self._round_pending  # collect_jobs' pending lists while nothing has changed since
        carried = self._demand
        for q, groups in jobs.items():
            row = parts[q]
            gpu, cpu, mem = row["gpu"], row["cpu"], row["memory"]
            mem_bytes: list[Fraction | int] = []
            # the whole values of the pods with a _pod_demand, added as ints (the same exact sums)
            gpu_n = cpu_n = mem_n = 0
            for g in groups:
                pending = known.get(id(g)) if known is not None else None
                for p in (pending if pending is not None else self.pending_pods(g)):
                    hit = carried.get(id(p))
                    if hit is None or hit[0] is not p:
                        hit = carried[id(p)] = (p, self._pod_demand(p))
                    values = hit[1]
                    if values is not None:
                        # memory summed in bytes: one Fraction division per queue instead of one
                        # per pod (the same sum)
                        n_gpu, n_cpu, n_mem = values
                        gpu_n += n_gpu
                        if type(n_cpu) is int:
                            cpu_n += n_cpu
                        else:
                            cpu.append(n_cpu)
                        if type(n_mem) is int:
                            mem_n += n_mem
                        else:
                            mem_bytes.append(n_mem)
                        continue
                    c = self.charge_for(p)
                    for r in RESOURCES:
                        row[r].append(c[r])
            gpu.append(gpu_n)
            cpu.append(cpu_n)
            mem_bytes.append(mem_n)
            mem.append(_exact_sum(mem_bytes) / MB)
        return {q: {r: _exact_sum(vs) for r, vs in row.items()} for q, row in parts.items()}

    @staticmethod
    def _pod_demand(pod: PodInfo) -> Optional[tuple[int, Fraction | int, Fraction | int]]:
        """``(GPUs, CPU millicores, memory bytes)`` that :meth:`requested` adds for a pod whose
        :meth:`charge_for` is those (memory in MB) whatever the state: no claims, and whole
        GPUs or GPUs not shared by memory; ``None`` for the others. A function of the frozen
        pod alone (whole values as ints, see :func:`_num`: the sums are the same, and exact),
        so carried between cycles by pod identity (see account.CycleMemo)."""
        d = pod.gpu
        if not pod.claims and (d.whole or not d.is_shared) and type(pod.memory) is Fraction:
            return d.whole, _num(pod.cpu_milli), _num(pod.memory)
        return None

    def compute_fair(self, jobs: dict[str, list[GroupInfo]]) -> None:
        demand = self.requested(jobs)
        self.fair = compute_fair_shares(self.snap.tree, self.capacity(), demand, k_value=self.config.k_value)
        self._qkeys = {}
        self._qgen += 1
        self.demand = demand

    def _queue_key(self, q: str) -> tuple:
        key = self._qkeys.get(q)
        if key is None:
            key = self._qkeys[q] = self._compute_queue_key(q)
        return key

    def _compute_queue_key(self, q: str) -> tuple:
        ratios = []
        for r in RESOURCES:
            a, fs = self.alloc[q][r], self.fair.get(q, {}).get(r, 0.0)
            if fs > 0:
                ratios.append(float(a) / fs)
            elif a > 0:
                ratios.append(1000.0 + float(a))
        node = self.snap.tree[q]
        return (max(ratios, default=0.0), -node.priority, node.creation_timestamp, q)

    @staticmethod
    def _live(jobs: dict[str, list[GroupInfo]]) -> tuple[str, ...]:
        """The queues of ``jobs`` that have jobs left, in ``jobs`` order."""
        return tuple(q for q, gs in jobs.items() if gs)

    def next_queue(self, jobs: dict[str, list[GroupInfo]]) -> Optional[str]:
        """The leaf queue to take the next job from (``None``: no jobs left)."""
        live = self._live(jobs)
        return self._next_among(live) if live else None

    def _next_among(self, live: tuple[str, ...]) -> str:
        """:meth:`next_queue` where ``live`` (not empty) are the queues with jobs: at each level,
        the child with jobs below it with the smallest :meth:`_queue_key` (read from its memo,
        filled first; the same keys, so the same queue)."""
        tree = self.snap.tree
        memo = self._with_jobs
        if memo is None or (memo[0] is not live and memo[0] != live):
            with_jobs: set[str] = set()
            for q in live:
                with_jobs.update(self._chain(q))
            # queues with jobs below them: the roots, and each queue's children (filled lazily)
            memo = self._with_jobs = (live, with_jobs, {None: [q for q in tree.roots if q in with_jobs]})
        _, with_jobs, kids_of = memo
        level = kids_of[None]
        while True:
            if len(level) > 1:
                qkeys = self._qkeys
                if not all(map(qkeys.__contains__, level)):
                    for c in level:
                        self._queue_key(c)
                q = min(level, key=qkeys.__getitem__)
            else:
                q = level[0]
            kids = kids_of.get(q)
            if kids is None:
                kids = kids_of[q] = [c for c in tree.children(q) if c in with_jobs]
            if not kids:
                return q
            level = kids

    # --- the allocate action ---------------------------------------------------------------

    def _static_pods(self) -> tuple[list[PodInfo], set[Any], set[Any], set[Any], list[PodInfo]]:
        """Once per run (pods do not change in a run): this scheduler's Pending pods in snapshot
        order, the ``snap.groups`` keys of their groups, the keys of groups with a pod that
        holds nothing in the snapshot (not Running/Releasing on a node), the keys of groups
        with a pod that does (the only ones with an active pod, besides those placed in the
        run), and the Pending pods with a ``status.nominatedNodeName`` (in snapshot order)."""
        memo = self.__dict__.get("_static_memo_pods")
        if memo is None:
            pending: list[PodInfo] = []
            pending_groups: set[Any] = set()
            unheld: set[Any] = set()
            held: set[Any] = set()
            nominated: list[PodInfo] = []
            for key, p in self.snap.pods.items():
                gk = p.group if p.group != ("", "") else ("pod", *key)
                if p.state in (RUNNING, RELEASING) and p.node_name:
                    held.add(gk)
                    continue
                unheld.add(gk)
                if p.state == PENDING and p.ours:
                    pending.append(p)
                    pending_groups.add(gk)
                    if p.pod.status.nominated_node_name:  # (the typed object: no dict lookups)
                        nominated.append(p)
            memo = self._static_memo_pods = (pending, pending_groups, unheld, held, nominated)
        return memo

    def _held_groups(self) -> set[int]:
        """Once per run: the ids of the groups with a pod held in the snapshot (see _static_pods)."""
        held = self.__dict__.get("_held_memo")
        if held is None:
            groups = self.snap.groups
            held = self._held_memo = {id(groups[gk]) for gk in self._static_pods()[3] if gk in groups}
        return held

    def _group_key(self, key: Key) -> Any:
        """The ``snap.groups`` key of a pod's group."""
        g = self.snap.pods[key].group
        return g if g != ("", "") else ("pod", *key)

    def collect_jobs(self) -> dict[str, list[GroupInfo]]:
        tree = self.snap.tree
        jobs: dict[str, list[GroupInfo]] = {}
        # only groups with a pod that can be waiting: Pending in the snapshot (and ours), or
        # recreated after an eviction in this run; the others have nothing to collect (pending_pods
        # is empty, and _unplaceable explains only waiting pods)
        maybe = self._static_pods()[1]
        if self.released:
            maybe = maybe | {self._group_key(k) for k in self.released}
        known: dict[int, list[PodInfo]] = {}
        self._collected = known  # begin_round hands these to requested (see there)
        leaf: dict[str, Optional[str]] = {}  # queue -> why it takes no jobs (None: it does)
        groups = self.snap.groups
        for gk in filter(maybe.__contains__, groups):  # (in snapshot order; the filter in C)
            group = groups[gk]
            if group.raw is not None:
                self._unplaceable(group)
            pending = self.pending_pods(group)  # (an untouched group's: its still facts, carried)
            if not pending:
                continue
            known[id(group)] = pending
            q = group.queue
            why = leaf.get(q, _UNSET)
            if why is _UNSET:
                why = leaf[q] = (QUEUE_DOES_NOT_EXIST if q not in tree else
                                 NOT_LEAF_QUEUE if not tree.is_leaf(q) else None)
            if why is None:
                jobs.setdefault(q, []).append(group)
            elif why == QUEUE_DOES_NOT_EXIST:
                msg = f"queue {q} does not exist (no Queue object has this name)"
                self._fail_group(group, pending, PendingReason(QUEUE_DOES_NOT_EXIST, msg, queue=q))
            else:
                msg = f"queue {q} is a parent queue; only leaf queues take jobs"
                self._fail_group(group, pending, PendingReason(NOT_LEAF_QUEUE, msg, queue=q))
        for q in jobs:
            jobs[q].sort(key=lambda g: (-g.priority, g.creation, g.key))
        return jobs

    def begin_round(self) -> None:
        self._pp_gen += 1
        if self.round <= 1:
            self._carry_nominations()
        self.finish_evictions()
        self.reasons = {}
        self.group_reasons = {}
        self.jobs = self.collect_jobs()
        # requested() reuses the pending lists collect_jobs just built: valid until something is
        # placed or evicted, so only for this call
        self._round_pending = self._collected
        try:
            self.compute_fair(self.jobs)
        finally:
            self._round_pending = None

    def _carry_nominations(self) -> None:
        """Pending pods that a reclaim, preempt or consolidation of an earlier cycle nominated
        (``status.nominatedNodeName`` on a node that exists) keep their nomination: allocate
        places them first, on that node if it fits. Without it the resources their victims
        released go to whoever comes first in the next cycle (often the victims themselves,
        recreated), and the action evicts again: a loop (docs/fairness.md)."""
        for pod in self._static_pods()[4]:  # this scheduler's Pending pods with one, in snapshot order
            key = pod.key
            if key in self.nominated:
                continue
            status = pod.raw.get("status")
            node = status.get("nominatedNodeName") if isinstance(status, dict) else None
            if isinstance(node, str) and node in self.nodes:
                self.nominated[key] = node
                self._touched.add(id(self._group_of(pod)))
        # pins carried from an earlier cycle (see pin) count while their pod is nominated there
        stale = [k for k, pl in self.pinned.items() if self.nominated.get(k) != pl.node]
        for key in stale:
            del self.pinned[key]

    def allocate(self) -> None:
        jobs = {q: list(gs) for q, gs in self.jobs.items()}
        # jobs nominated by reclaim/preempt/consolidation go first: the resources their victims
        # released are theirs (otherwise the victims, recreated, could take them back: a loop)
        nom = self.nominated
        nominated = [g for gs in jobs.values() for g in gs  # (pending pods listed only where a pod is nominated)
                     if any(k in nom for k in g.pods) and any(p.key in nom for p in self.pending_pods(g))] if nom else []
        nominated.sort(key=self._nominated_order)
        if self.pinned and nominated:
            self._place_pinned(nominated)
        for group in nominated:
            jobs[group.queue].remove(group)
            self.allocate_group(group)
        depth = self.config.queue_depth.get("allocate")
        tried: dict[str, int] = {}
        live = self._live(jobs)  # (changes only when a queue runs out of jobs: only here)
        # the last pick, while the queues with jobs and every queue key are what they were: the
        # same queue again (a job that fails changes neither)
        last: Optional[tuple[tuple[str, ...], int, str]] = None
        while live:
            if last is not None and last[0] is live and last[1] == self._qgen:
                q = last[2]
            else:
                q = self._next_among(live)
                last = (live, self._qgen, q)
            group = jobs[q].pop(0)
            tried[q] = tried.get(q, 0) + 1
            if depth is not None and tried[q] >= depth:
                for g in jobs[q]:
                    self._fail_group(g, self.pending_pods(g), PendingReason(
                        "QueueDepth", f"queue {q} reached queueDepthPerAction.allocate ({depth}) this round", queue=q))
                jobs[q] = []
            if not jobs[q]:
                live = self._live(jobs)
            self.allocate_group(group)

    def _nominated_order(self, group: GroupInfo) -> tuple:
        """The order of allocate's pass over nominated jobs: the queue farthest below its fair
        share first (:meth:`_queue_key`), then higher priority, older, by name."""
        return self._queue_key(group.queue), -group.priority, group.creation, group.key

    def _place_pinned(self, groups: list[GroupInfo]) -> None:
        """Place the nominated groups' pinned pods (see :meth:`pin`) before any other pod, in the
        usual order (:meth:`_nominated_order`; a group's pods in the order they were pinned),
        each group's all or none (:meth:`_place_gang`; :meth:`place` tries the pin first).

        One simulation's pins hold GPUs, devices and counters that do not overlap, so while each
        still fits, all of them do, whatever the order. But the usual pass places all of a
        group's pods in turn: a pod the simulation did not place (a pinned job's pods beyond
        minMember) would go before a later group's pins and could take what one of them holds
        (on a dynamic-MIG GPU, the very partition: the allocator picks the same first fit);
        that job would miss its room and evict again. Groups whose placement has more rules
        (SubGroups, a topology constraint) and a group's unpinned pods are left to the usual
        pass that follows (where :meth:`place` still tries each pin first)."""
        rank = {k: i for i, k in enumerate(self.pinned)}
        for group in groups:
            pending = self.pending_pods(group)
            if group.raw is not None and (self.subgroup_tree(group) is not None
                                          or self._topology_for(group, pending) is not None):
                continue
            pods = sorted((p for p in pending if p.key in rank), key=lambda p: rank[p.key])
            if pods:
                self._place_gang(group, pods, len(pods))

    # --- eviction state (used by the actions in :mod:`gpuplane.scheduler.actions`) ----------

    def holds(self, pod: PodInfo) -> bool:
        """The pod holds node resources now (Running, Releasing, bound in this run, or evicted this round)."""
        if pod.key in self.placements:
            return True
        return pod.holds_resources and pod.node_name in self.nodes and pod.key not in self.released

    def is_active(self, pod: PodInfo) -> bool:
        """Holds resources and is not being evicted in this round."""
        if pod.key in self.evicted:
            return False
        if pod.key in self.placements:
            return True
        return pod.state in (RUNNING, RELEASING) and bool(pod.node_name) and pod.key not in self.released

    def node_of(self, pod: PodInfo) -> str:
        p = self.placements.get(pod.key)
        return p.node if p is not None else pod.node_name

    def held_charge(self, pod: PodInfo) -> dict[str, Fraction]:
        """What a holder pod counts for (read it, never modify it: it may be a Placement's or a memo's)."""
        p = self.placements.get(pod.key)
        if p is not None:
            return p.charge
        node = self.node_info.get(pod.node_name)
        return self.charge_for(pod, node) if pod.claims else self._shared_charge(pod, node)

    def claim_users(self, ck: Key) -> list[Key]:
        """Every pod of the snapshot that names claim ``ck``."""
        users = self.__dict__.get("_claim_users")
        if users is None:
            users = {}
            for p in self.snap.pods.values():
                for ref in p.claims:
                    if ref.claim is not None and p.key not in users.setdefault(ref.claim, []):
                        users[ref.claim].append(p.key)
            self._claim_users = users
        return users.get(ck, [])

    def _claim_results(self, ck: Key) -> list[tuple[Any, ...]]:
        """The allocation results a claim holds now: (driver, pool, device, admin, shareID, consumed)."""
        new = self.claim_alloc.get(ck)
        if new is not None:
            return [(r["driver"], r["pool"], r["device"], r.get("adminAccess"), r.get("shareID"), r.get("consumedCapacity"))
                    for r in new.get("devices", {}).get("results", [])]
        if ck in self.freed_claims:
            return []
        alloc = self.snap.typed_claims[ck].status.allocation
        if alloc is None:
            return []
        return [(r.driver, r.pool, r.device, r.admin_access, r.share_id, r.consumed_capacity) for r in alloc.devices.results]

    def _free_claims(self, pod: PodInfo) -> Optional[tuple[Any, list[Key]]]:
        """Deallocate the claims only this pod's job uses, once no other pod holding them is left:
        the devices go back to the DRA allocator. ``(allocator state before, claims freed)``."""
        group = self._group_of(pod).key if pod.claims else None
        freeing: list[Key] = []
        for ref in pod.claims:
            ck = ref.claim
            if ck is None or ck in freeing:
                continue
            users = self.claim_users(ck)
            if any(self._group_of(self.snap.pods[u]).key != group for u in users):
                continue  # shared with another job: stays allocated
            if any(u != pod.key and self.holds(self.snap.pods[u]) for u in users):
                continue  # another pod of the job still holds it
            if self._claim_results(ck):
                freeing.append(ck)
        if not freeing:
            return None
        before = self.allocator.checkpoint()
        after = before.copy()
        for ck in freeing:
            for r in self._claim_results(ck):
                after.remove_result(*r, self.features)
        if not isinstance(self.freed_claims, set):
            self.freed_claims = set(self.freed_claims)
        for ck in freeing:
            self.freed_claims.add(ck)
        self._dra_rollback(after)
        return before, freeing

    def release(self, pod: PodInfo) -> Any:
        """Free what a pod holds (node, queue, DRA claims only its job uses); a token for :meth:`rehold`."""
        p = self.placements.get(pod.key)
        if p is not None:
            freed = self._free_claims(pod) if pod.claims else None
            self.undo(p, pod)
            if pod.state != PENDING:
                self.released.add(pod.key)
            self._pp_gen += 1
            return (p, freed) if freed is not None else p
        self._bump()
        self._freed += 1
        self._shift_holder(pod, +1)
        freed = self._free_claims(pod) if pod.claims else None
        self.released.add(pod.key)
        self._pp_gen += 1
        return (None, freed) if freed is not None else None

    def rehold(self, pod: PodInfo, token: Any) -> None:
        freed = None
        if isinstance(token, tuple):
            token, freed = token
        if freed is not None:
            before, claims = freed
            self._dra_rollback(before)
            for ck in claims:
                self.freed_claims.discard(ck)  # type: ignore[union-attr]
        if token is not None:
            # the placement's new claims never left the allocator (or ``before`` has them back):
            # apply() must not record them twice
            p = token
            saved, p.claims = p.claims, []
            self.apply(p, pod)
            p.claims = saved
            for ck, a in saved:
                self.claim_alloc[ck] = a
            self._pp_gen += 1
            return
        self.released.discard(pod.key)
        self._pp_gen += 1
        self._bump()
        self._shift_holder(pod, -1)

    def _shift_holder(self, pod: PodInfo, sign: int) -> None:
        """A snapshot holder's node resources and queue charge given back (``sign`` +1:
        :meth:`release`) or taken again (-1: :meth:`rehold`). Ints while whole (see _num): the
        same values, cheaper; one free-index update per pod."""
        ns = self.nodes[pod.node_name]
        ns.epoch += 1
        ns.cpu += sign * _num(pod.cpu_milli)
        ns.memory += sign * _num(pod.memory)
        ns.pods += sign
        for r, v in pod.other.items():
            ns.other[r] = ns.other.get(r, Fraction(0)) + sign * v
        held = self.held_gpu.get(pod.key)
        if held is not None and held[0]:
            indices, share = held
            share = sign * _num(share)
            used = ns.gpu_used
            for i in indices:
                used[i] -= share
            ns.gpu_free += len(indices) * share
        group = self._group_of(pod)
        self._touched.add(id(group))
        if not pod.ours:
            return  # a pod of another scheduler holds node resources only: no queue charge (_account_running)
        node = self.node_info[pod.node_name]
        charge = self.charge_for(pod, node) if pod.claims else self._shared_charge(pod, node)  # read only
        self._add_queue(group.queue, charge, group.preemptible, -sign)

    def _add_chain(self, table: dict[str, dict[str, Fraction]], queue: str, charge: dict[str, Fraction], sign: int) -> None:
        if queue not in self.snap.tree:
            return
        # no Fraction products, nothing added for a zero: the same sums (the rows are Fractions)
        items = [(r, _num(charge[r])) for r in RESOURCES if charge[r]]
        for q in self._chain(queue):
            row = table[q]
            for r, c in items:
                if sign > 0:
                    row[r] += c
                else:
                    row[r] -= c

    def evict(self, pod: PodInfo, action: str, message: str) -> None:
        """Mark a pod evicted in this round: it is Releasing until the round ends."""
        group = self._group_of(pod)
        self._touched.add(id(group))
        self.evicted[pod.key] = self.node_of(pod)
        self._pp_gen += 1
        if pod.ours:  # (another scheduler's pod is not in its queue's alloc: see _account_running)
            self._add_chain(self.releasing_q, group.queue, self.held_charge(pod), +1)
        self.group_evicted_at[group.key if group.kind == "PodGroup" else ("pod", *pod.key)] = self.now_s
        self.evictions.append({"round": self.round, "action": action, "pod": pod.ref,
                               "node": self.evicted[pod.key], "message": message})

    def nominate(self, pod: PodInfo, group: GroupInfo, node: str, charge: dict[str, Fraction], message: str) -> None:
        self.nominated[pod.key] = node
        self._touched.add(id(self._group_of(pod)))
        self.nominated_round[pod.key] = self.round
        self._pp_gen += 1  # (what the actions memoise per job reads the nominations too)
        self._add_chain(self.pipelined_q, group.queue, charge, +1)
        self.reasons[pod.key] = PendingReason("Pipelined", message, queue=group.queue)

    def pin(self, fit: dict[Key, Placement]) -> None:
        """Remember the placements an evicting action simulated for the pods it nominates (the
        job's, and the victims consolidation moves: node, GPUs, share, DRA devices), in the
        order it placed them (KAI's pipelined tasks): allocate tries each one exactly before
        anything else (:meth:`_place_pinned`), so what it does is what the action saw fit. A pod
        pinned again goes to the end. Dropped once the pod is placed, or (next cycles) when it
        is no longer nominated on that node."""
        for key, pl in fit.items():
            self.pinned.pop(key, None)
            self.pinned[key] = pl

    def finish_evictions(self) -> None:
        """Between rounds: pods evicted in the round are deleted and come back as Pending pods."""
        for key in sorted(self.evicted):
            pod = self.snap.pods[key]
            self.release(pod)
        self.evicted = {}
        self._pp_gen += 1
        zero = _zero()  # (Fractions are immutable: one set of zeros for every row)
        self.releasing_q = {q: dict(zero) for q in self.snap.tree}
        self.pipelined_q = {q: dict(zero) for q in self.snap.tree}
        for key in [k for k in self.nominated if k in self.placements]:
            del self.nominated[key]
            self.pinned.pop(key, None)

    def eff_alloc(self, q: str) -> dict[str, Fraction]:
        """Queue allocation as the actions see it: minus pods being evicted, plus nominated pods."""
        a, rel, pip = self.alloc[q], self.releasing_q[q], self.pipelined_q[q]
        # (most queues have nothing releasing or nominated: skip the Fraction arithmetic)
        return {r: (a[r] - rel[r] + pip[r]) if (rel[r] or pip[r]) else a[r] for r in RESOURCES}

    # KAI's other actions live in gpuplane.scheduler.actions
    def consolidation(self) -> None:
        from . import actions
        actions.consolidation(self)

    def reclaim(self) -> None:
        from . import actions
        actions.reclaim(self)

    def preempt(self) -> None:
        from . import actions
        actions.preempt(self)

    def stalegangeviction(self) -> None:
        from . import actions
        actions.stale_gang_eviction(self)


def run_rounds(snapshot: Snapshot, rounds: int = 1, config: Optional[SchedulerConfig] = None,
               now: Optional[str] = None, account: Optional[RunningAccount] = None) -> ScheduleResult:
    """Run ``rounds`` scheduling cycles; see the module docstring.

    ``account``: a :class:`~gpuplane.scheduler.account.RunningAccount` the caller keeps between
    cycles (the running pods' node and queue usage, updated for the pods that changed since the
    last snapshot); same result as without it."""
    config = config or SchedulerConfig()
    cluster = _Cluster(snapshot, config, now, account)
    for r in range(max(0, rounds)):
        cluster.round = r + 1
        cluster.begin_round()
        for action in ACTION_ORDER:
            if config.action_enabled(action):
                getattr(cluster, action)()
    if rounds <= 0:
        cluster.begin_round()
    return ScheduleResult(
        snapshot=snapshot,
        rounds=rounds,
        now=now,
        placements=dict(sorted(cluster.placements.items())),
        reasons=dict(sorted(cluster.reasons.items())),
        group_reasons=cluster.group_reasons,
        allocated=_fractions(cluster.alloc),
        allocated_np=_fractions(cluster.alloc_np),
        requested=getattr(cluster, "demand", {}),
        fair_share=cluster.fair,
        claim_allocations=dict(cluster.claim_alloc),
        claim_reserved=dict(cluster.claim_reserved),
        evicted=dict(sorted(cluster.evicted.items())),
        recreated=frozenset(k for k in cluster.released if k not in cluster.placements),
        nominated={k: v for k, v in sorted(cluster.nominated.items())
                   if k not in cluster.placements or k in cluster.evicted},  # evicted: moved by consolidation
        evictions=list(cluster.evictions),
        evicted_at=cluster.now,
        freed_claims=frozenset(k for k in cluster.freed_claims if k not in cluster.claim_alloc),
        cluster=cluster,
    )

