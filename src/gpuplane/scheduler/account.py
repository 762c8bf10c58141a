"""Running-pod accounting kept between scheduling cycles.

Every cycle, :class:`~gpuplane.scheduler.cycle._Cluster` needs what the Running and Releasing
pods hold: per node CPU, memory, pod slots, extended resources and per-GPU use; per queue the
usage (``alloc``, ``alloc_np``). Summing that from every holder pod costs O(running pods) per
cycle. :class:`RunningAccount` keeps each holder pod's contribution and, for the next snapshot,
takes out the contributions of pods that left or changed and adds those of new or changed ones:
O(pods that changed). A pod is unchanged when the snapshot has *the same* ``PodInfo`` object as
the last one (``is``); anything else is remove + add (always exact, only slower).

Exact, not approximate: the result equals ``_Cluster._account_running`` on the same snapshot
(values; whole values may be ints on one side and whole Fractions on the other). Where
incremental is not exact, the full path is kept:

* pods with GPUs but no ``gpuplane.io/gpus`` annotation get their GPUs chosen in name order
  after the annotated pods (the choice depends on the others): their GPUs are chosen again
  every cycle, in that order, on top of the kept state;
* a pod whose annotation names no GPU of its node is placed in order among the annotated pods:
  the cycle falls back to the full ``_account_running``;
* pods with DRA claims: their queue charge depends on the claims' allocations, so it is
  computed every cycle (their node resources are kept: those do not depend on claims);
* a different node set (names, GPU counts, GPU memory, ``min_gpu_memory_mib``): rebuilt from
  scratch; other node changes (capacity): every node state recomputed; duplicate node names:
  full path;
* a PodGroup whose queue or preemptibility changed: its pods' charges move to the new row.

Node states are kept as ready values per node (capacity minus use, recomputed only for nodes
whose pods changed) with their free-GPU index; ``_Cluster`` gets copies (88 small objects, no
per-pod work). The index copy is skipped when unannotated GPU holders exist (see above).

Queue usage is kept per (queue, preemptible) row as exact sums (numerators per denominator) and
spread over the queue tree of the current snapshot each cycle (``_Cluster._add_queue``), so a
changed queue tree needs nothing. Nothing here reads the scheduler configuration.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import compress
from operator import attrgetter, is_not, ne
from typing import Any, Optional

from .cycle import MB, Placement, StillFacts, _Cluster, _FreeIndex, _gpu_hold, _NodeState, _num
from .queues import RESOURCES
from .snapshot import Key, NodeInfo, PodInfo, Snapshot

__all__ = ["CycleMemo", "RunningAccount"]

Row = tuple[str, bool]  # (queue, preemptible)
_UNSET = object()
_ROW = attrgetter("queue", "preemptible")


def _plain_charge(pod: PodInfo, node: Optional[NodeInfo], min_gpu_memory_mib: Optional[int]) -> dict[str, Any]:
    """``_Cluster.charge_for(pod, node)`` for a pod without claims (the only ones kept here): it
    needs no cluster, so the account syncs before the cluster's state exists."""
    gpu = Fraction(0)
    if pod.gpu.whole:
        gpu = Fraction(pod.gpu.whole)
    elif pod.gpu.is_shared:
        mem = (node.gpu_memory_mib if node is not None and node.gpu_memory_mib else None) or min_gpu_memory_mib
        try:
            gpu = pod.gpu.gpus(mem)
        except ValueError:
            gpu = Fraction(0)
    return {"gpu": gpu, "cpu": pod.cpu_milli, "memory": pod.memory / MB}


def _group_key(pod: PodInfo) -> Key:
    """The key ``_Cluster._group_of`` looks the pod's group up with."""
    return ("pod", *pod.key) if pod.group == ("", "") else pod.group  # type: ignore[return-value]


class _Held:
    """What one holder pod contributed (enough to take it out again)."""

    __slots__ = ("info", "node", "gpus", "share", "odd", "row", "charge", "group")

    def __init__(self, info: PodInfo) -> None:
        self.info = info
        self.node: Optional[str] = None  # the node it is accounted on (None: not a node of the snapshot)
        self.gpus: Optional[list[int]] = None  # annotated GPU indices it holds
        self.share: Fraction | int = 0
        self.odd = False  # its annotation names no GPU of the node (see RunningAccount._odd)
        self.row: Optional[Row] = None  # the queue row charged (ours, without claims)
        self.charge: Optional[dict[str, Any]] = None
        self.group: Optional[Key] = None


class _Use:
    """Per node: the sums over its holder pods (subtracted from the node's capacity)."""

    __slots__ = ("cpu", "memory", "pods", "other", "other_n", "gpu_used", "gpu_total")

    def __init__(self, gpus: int) -> None:
        self.cpu: Fraction | int = 0
        self.memory: Fraction | int = 0
        self.pods = 0
        self.other: dict[str, Fraction] = {}
        self.other_n: dict[str, int] = {}  # how many holders request each extended resource
        self.gpu_used: list[Fraction | int] = [0] * gpus  # annotated holders only
        self.gpu_total: Fraction | int = 0  # sum of gpu_used


class CycleMemo:
    """Pure per-pod results carried from one cycle's ``_Cluster`` to the next.

    Keyed by ``id(pod)``; each entry keeps the ``PodInfo`` itself, and a lookup counts only when
    the entry's pod ``is`` the pod asked about (the pod is kept alive, so its id is not reused
    while the entry exists). ``PodInfo`` is frozen and the snapshot keeps the same object for a
    pod that did not change, so a hit is the value the function would compute again: exact.
    ``shapes``: ``_Cluster._shape_key``; ``demand``: ``_Cluster._pod_demand`` (both read the
    pod only). ``charges``: ``_Cluster._charge`` of claimless pods per (pod, GPU memory), which
    also reads the snapshot's ``min_gpu_memory_mib``: dropped when that changes. :meth:`start`
    drops entries of pods (groups) no longer in the snapshot once there are more than twice as
    many as pods (memory stays bounded). ``jobs``, ``victims`` and ``still``: per group results
    (``actions._job_facts``, ``actions._victim_gpus``, ``_Cluster._still_facts``), keyed by
    ``id(group)`` and checked against the group's pods likewise, pruned with groups. ``why``:
    ``_Cluster._scan``'s answers per (pod shape, node), tied to the account's node templates. ``pinned``: ``_Cluster.pinned``, the
    placements the evicting actions simulated for the pods they nominated, by pod key (the one
    entry not tied to an object: ``_Cluster._carry_nominations`` keeps a pin while its pod is
    nominated on its node, and each one is checked again, an exact fit, when used)."""

    def __init__(self) -> None:
        self.shapes: dict[int, tuple[PodInfo, tuple]] = {}
        self.demand: dict[int, tuple[PodInfo, Optional[tuple[int, Fraction | int, Fraction | int]]]] = {}
        self.charges: dict[tuple[int, Optional[int]], tuple[PodInfo, dict[str, Fraction]]] = {}
        self._min_mem: Any = _UNSET  # the min_gpu_memory_mib the charges were computed with
        # the evicting actions' facts of a job (``actions._job_facts``): id(group) -> (group, its
        # pods, facts); a hit also needs the snapshot's pods of the group to be those pods
        self.jobs: dict[int, tuple[Any, ...]] = {}
        self.victims: dict[int, tuple[Any, ...]] = {}  # ``actions._victim_gpus``, likewise
        self.still: dict[int, StillFacts] = {}  # ``_Cluster._still_facts``, likewise
        # ``_Cluster._scan``'s (pod shape, node) -> (node state origin, epoch, why not): the
        # origin is the account's node template, a new object whenever the node changed
        self.why: dict[Any, tuple[object, int, str]] = {}
        self.pinned: dict[Key, Placement] = {}

    def start(self, snap: Snapshot) -> None:
        """Get ready for a run over ``snap``."""
        if snap.min_gpu_memory_mib != self._min_mem:
            self._min_mem = snap.min_gpu_memory_mib
            self.charges = {}
        limit = 2 * len(snap.pods) + 256
        if len(self.jobs) > limit or len(self.victims) > limit or len(self.still) > limit:
            groups = {id(g): g for g in snap.groups.values()}
            self.jobs = {i: e for i, e in self.jobs.items() if groups.get(i) is e[0]}
            self.victims = {i: e for i, e in self.victims.items() if groups.get(i) is e[0]}
            self.still = {i: e for i, e in self.still.items() if groups.get(i) is e.group}
        if len(self.why) > 64 * limit:
            self.why = {}
        if len(self.shapes) > limit or len(self.demand) > limit or len(self.charges) > limit:
            live = {id(p): p for p in snap.pods.values()}
            self.shapes = {i: e for i, e in self.shapes.items() if live.get(i) is e[0]}
            self.demand = {i: e for i, e in self.demand.items() if live.get(i) is e[0]}
            self.charges = {k: e for k, e in self.charges.items() if live.get(k[0]) is e[0]}


class RunningAccount:
    """Holder pods' node and queue usage, kept between cycles (see the module docstring).

    The caller keeps one per scheduler and passes it to every ``run_rounds``; snapshots are
    expected from the same cluster in time order (any other sequence is still exact, just slower).
    ``_Cluster.__init__`` calls :meth:`sync` (before its own state exists), then takes its node
    states from :meth:`node_states` and the rest from :meth:`fill`.

    Cold and warm: a warm account is updated incrementally, also through bursts of changes
    (remove + add costs about twice the full path's work per changed pod). When no pod at all
    is the same object as in the last snapshot and more than ``COLD_MIN`` changed (a snapshot
    builder that makes new ``PodInfo`` objects every time) it goes cold: it only remembers the
    pods and the cycle takes the full path, so it costs next to nothing where it cannot help. A
    cold account (also at the first snapshot) is rebuilt from every holder on the next snapshot
    that shares a ``PodInfo`` with the last one (a rebuild costs about the full path).
    ``incremental``/``rebuilt``/``full`` count the cycles served each way. ``memo``: per-pod
    results the cycles share (:class:`CycleMemo`)."""

    COLD_MIN = 64

    def __init__(self) -> None:
        self.incremental = 0
        self.rebuilt = 0
        self.full = 0
        self._nodes: tuple[NodeInfo, ...] = ()  # the snapshot's nodes last seen
        self._sig: Optional[tuple] = None  # what the contributions depend on (names, GPUs, GPU memory)
        self._ok_nodes = False  # node names are unique
        self._node_info: dict[str, NodeInfo] = {}
        self._order: list[str] = []
        self._tmpl: dict[str, tuple] = {}  # node -> its state values (capacity - use)
        self._dirty: set[str] = set()  # nodes whose template is out of date
        self._index = _FreeIndex()  # the free-GPU index of the templates (kept with them)
        self._ifree: dict[str, Any] = {}  # node -> its gpu_free in self._index
        self._warm = False  # the contributions below match self._pods
        self.memo = CycleMemo()
        self._reset()

    def _reset(self) -> None:
        self._pods: dict[Key, PodInfo] = {}  # every pod of the last snapshot
        self._held: dict[Key, _Held] = {}  # holder pods
        self._use: dict[str, _Use] = {}
        self._held_gpu: dict[Key, tuple[list[int], Fraction | int]] = {}
        self._rows: dict[Row, dict[str, dict[int, int]]] = {}  # row -> resource -> denominator -> numerator sum
        self._row_total: dict[Row, dict[str, Fraction]] = {}  # row -> its sums as Fractions (dropped on change)
        self._by_group: dict[Key, set[Key]] = {}  # group key -> pods charged under it
        self._group_row: dict[Key, Row] = {}  # group key -> the row its pods were last checked against
        self._dynamic: set[Key] = set()  # GPU holders without annotation: GPUs chosen every cycle
        self._claims: set[Key] = set()  # our holders with claims: charged every cycle
        self._odd = 0  # holders whose annotation names no GPU of the node: full path
        self._dirty = set(self._order)

    # --- per cycle ---------------------------------------------------------------------------

    def sync(self, snap: Snapshot) -> bool:
        """Bring the account up to ``snap``. False: not exact for it (the cycle takes the full
        ``_account_running``); True: :meth:`node_states` and :meth:`fill` give its state."""
        try:
            ok = self._sync(snap)
        except BaseException:
            self._sig = None  # half-updated: start over next time
            self._nodes = ()
            self._warm = False
            self._reset()
            raise
        if not ok:
            self.full += 1
        return ok

    def _sync_nodes(self, snap: Snapshot) -> None:
        nodes = snap.nodes
        if self._sig is not None and len(nodes) == len(self._nodes) and not any(map(is_not, nodes, self._nodes)):
            return  # the same NodeInfo objects
        self._nodes = nodes
        self._node_info = {n.name: n for n in nodes}
        self._ok_nodes = len(self._node_info) == len(nodes)
        self._order = [n.name for n in nodes]
        self._dirty = set(self._order)  # capacities may differ: every template again
        self._index, self._ifree = _FreeIndex(), {}
        sig = (snap.min_gpu_memory_mib, tuple((n.name, n.gpus, n.gpu_memory_mib) for n in nodes))
        if sig != self._sig:
            self._sig = sig
            self._pods = {}  # the contributions depend on these: start over
            if self._warm:
                self._warm = False
                self._reset()

    def _sync(self, snap: Snapshot) -> bool:
        self._sync_nodes(snap)
        if snap.min_gpu_memory_mib != self._sig[0]:  # type: ignore[index]
            self._sig = None
            self._nodes = ()
            return self._sync(snap)
        if not self._ok_nodes:
            return False
        pods = snap.pods
        old = self._pods
        # the pods that are not the same object as in the last snapshot (C-level loop)
        changed = list(compress(pods.values(), map(is_not, pods.values(), map(old.get, pods))))
        gone = old.keys() - pods.keys()
        kept = len(pods) - len(changed)  # pods that are the same object as last time
        if self._warm and not kept and len(changed) + len(gone) > self.COLD_MIN:
            self._warm = False
            self._reset()
        if not self._warm and not kept:
            self._pods = dict(pods)
            return False
        if not self._warm:
            self._reset()
            self._use = {n.name: _Use(n.gpus) for n in snap.nodes}
            for p in pods.values():
                if p.holds_resources:
                    self._add(snap, p)
            self._warm = True
            served = "rebuilt"
        else:
            for k in gone:
                h = self._held.get(k)
                if h is not None:
                    self._remove(k, h)
            for p in changed:
                h = self._held.get(p.key)
                if h is not None:
                    self._remove(p.key, h)
                if p.holds_resources:
                    self._add(snap, p)
            served = "incremental"
        self._pods = dict(pods)
        self._regroup(snap)
        if self._odd:
            return False
        setattr(self, served, getattr(self, served) + 1)
        return True

    def _regroup(self, snap: Snapshot) -> None:
        """Move the charges of pods whose group's queue or preemptibility changed (the groups are
        compared in C-level loops)."""
        keys_ = list(self._by_group)
        rows = list(map(_ROW, map(snap.groups.__getitem__, keys_)))  # KeyError as _group_of would
        group_row = self._group_row
        for gk, row in compress(zip(keys_, rows), map(ne, rows, map(group_row.__getitem__, keys_))):
            group_row[gk] = row
            for k in self._by_group[gk]:
                h = self._held[k]
                if h.row != row:
                    self._charge(h.row, h.charge, -1)  # type: ignore[arg-type]
                    self._charge(row, h.charge, +1)  # type: ignore[arg-type]
                    h.row = row

    def node_states(self) -> list[_NodeState]:
        """Fresh node states (not in the free index yet), in the snapshot's node order, as
        ``_Cluster`` has them after the annotated holders (only nodes that changed are recomputed)."""
        tmpl = self._tmpl
        if self._dirty:
            info, use = self._node_info, self._use
            for name in self._dirty:
                n, u = info[name], use[name]
                other = dict(n.other)
                for r, v in u.other.items():
                    other[r] = other.get(r, Fraction(0)) - v
                gpu_free = n.gpus - u.gpu_total if u.gpu_total else n.gpus
                tmpl[name] = (_num(n.cpu_milli) - u.cpu, _num(n.memory) - u.memory, n.max_pods - u.pods,
                              other, u.gpu_used, gpu_free)
                old = self._ifree.get(name, _UNSET)
                if old is not gpu_free:
                    if old is not _UNSET:
                        self._index.remove(old, name)
                    self._index.add(gpu_free, name)
                    self._ifree[name] = gpu_free
                self._index.refresh(name, u.gpu_used)
            self._dirty = set()
        out = []
        for name in self._order:
            t = tmpl[name]
            cpu, memory, pods, other, gpu_used, gpu_free = t
            ns = _NodeState(cpu, memory, pods, dict(other), list(gpu_used), gpu_free, name, None)
            ns.origin = t  # (a node that changed gets a new template: see _Cluster._scan)
            out.append(ns)
        return out

    def free_index(self, states: list[_NodeState]) -> Optional[_FreeIndex]:
        """A copy of the templates' free-GPU index for the states :meth:`node_states` gave (as
        ``_Cluster`` builds it: one insert per node); None when :meth:`fill` chose GPUs for
        unannotated pods (their nodes' free GPUs changed after the templates)."""
        if self._dynamic:
            return None
        src, idx = self._index, _FreeIndex()
        idx.buckets = {v: list(b) for v, b in src.buckets.items()}
        idx.total = src.total
        idx.partial = set(src.partial)
        idx.odd = set(src.odd)
        idx.changes = len(states)
        return idx

    def fill(self, c: _Cluster) -> None:
        """The rest of ``c``'s running-pod state (its node states came from :meth:`node_states`):
        held GPUs, unannotated GPU holders, queue usage."""
        nodes = c.nodes
        c.held_gpu = dict(self._held_gpu)  # the lists are never changed in place
        pods = c.snap.pods
        for k in sorted(self._dynamic):  # after every annotated pod, in name order (as _account_running)
            pod = pods[k]
            c._hold_gpus(pod, c.node_info[pod.node_name], nodes[pod.node_name])
        totals: dict[Row, dict[str, Fraction]] = {}
        cache = self._row_total
        for row, sums in self._rows.items():
            t = cache.get(row)
            if t is None:
                t = cache[row] = {r: sum((Fraction(n, d) for d, n in by_den.items()), Fraction(0))
                                  for r, by_den in sums.items()}
            totals[row] = t
        for k in self._claims:  # (their charge depends on the claims' allocations: every cycle)
            pod = pods[k]
            g = c._group_of(pod)
            charge = c.charge_for(pod, c.node_info.get(pod.node_name))
            row = (g.queue, g.preemptible)
            t = totals.get(row)
            t = dict(t) if t is not None else {r: Fraction(0) for r in RESOURCES}  # the cache stays as it is
            for r in RESOURCES:
                t[r] += charge[r]
            totals[row] = t
        for (queue, preemptible), t in totals.items():
            c._add_queue(queue, t, preemptible, +1)

    # --- one pod -------------------------------------------------------------------------------

    def _add(self, snap: Snapshot, pod: PodInfo) -> None:
        k = pod.key
        h = _Held(pod)
        info = self._node_info.get(pod.node_name)
        if info is not None:
            h.node = pod.node_name
            self._dirty.add(pod.node_name)
            u = self._use[pod.node_name]
            u.cpu = _num(u.cpu + _num(pod.cpu_milli))  # ints while whole (see cycle._num)
            u.memory = _num(u.memory + _num(pod.memory))
            u.pods += 1
            for r, v in pod.other.items():
                u.other[r] = u.other.get(r, Fraction(0)) + v
                u.other_n[r] = u.other_n.get(r, 0) + 1
            if not pod.gpu.is_empty and info.gpus:
                share, count, named = _gpu_hold(pod, info)
                if named:
                    used = named[:count]
                    if used:
                        gpu_used = u.gpu_used = list(u.gpu_used)  # node_states' templates share the old list
                        for i in used:
                            gpu_used[i] = _num(gpu_used[i] + share)
                        u.gpu_total = _num(u.gpu_total + len(used) * share)
                    h.gpus, h.share = used, share
                    self._held_gpu[k] = (list(used), share)
                elif pod.held_gpus:
                    self._odd += 1
                    h.odd = True
                else:
                    self._dynamic.add(k)
        if pod.ours:
            if pod.claims:
                self._claims.add(k)
            else:
                h.group = _group_key(pod)
                h.row = _ROW(snap.groups[h.group])
                h.charge = _plain_charge(pod, info, snap.min_gpu_memory_mib)
                self._charge(h.row, h.charge, +1)
                self._by_group.setdefault(h.group, set()).add(k)
                self._group_row.setdefault(h.group, h.row)
        self._held[k] = h

    def _remove(self, k: Key, h: _Held) -> None:
        pod = h.info
        del self._held[k]
        if h.node is not None:
            self._dirty.add(h.node)
            u = self._use[h.node]
            u.cpu = _num(u.cpu - _num(pod.cpu_milli))
            u.memory = _num(u.memory - _num(pod.memory))
            u.pods -= 1
            for r, v in pod.other.items():
                n = u.other_n[r] - 1
                if n:
                    u.other_n[r] = n
                    u.other[r] -= v
                else:
                    del u.other_n[r], u.other[r]
            if h.gpus is not None:
                if h.gpus:
                    gpu_used = u.gpu_used = list(u.gpu_used)
                    for i in h.gpus:
                        gpu_used[i] = _num(gpu_used[i] - h.share)
                    u.gpu_total = _num(u.gpu_total - len(h.gpus) * h.share)
                del self._held_gpu[k]
            elif h.odd:
                self._odd -= 1
            self._dynamic.discard(k)
        self._claims.discard(k)
        if h.row is not None:
            self._charge(h.row, h.charge, -1)  # type: ignore[arg-type]
            keys = self._by_group[h.group]  # type: ignore[index]
            keys.discard(k)
            if not keys:
                del self._by_group[h.group]  # type: ignore[arg-type]
                del self._group_row[h.group]  # type: ignore[arg-type]

    def _charge(self, row: Row, charge: dict[str, Any], sign: int) -> None:
        self._row_total.pop(row, None)
        sums = self._rows.get(row)
        if sums is None:
            sums = self._rows[row] = {r: {} for r in RESOURCES}
        for r in RESOURCES:
            v = charge[r]
            n = v.numerator
            if n:
                by_den = sums[r]
                d = v.denominator
                by_den[d] = by_den.get(d, 0) + sign * n
