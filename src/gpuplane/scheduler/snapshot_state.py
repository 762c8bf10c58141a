"""The snapshot, kept between scheduling cycles and updated by what changed.

Why: a scheduler loop rebuilds the snapshot every cycle, from every object of the cluster,
while between two cycles only a few pods and PodGroups change (bindings, new jobs, finished
ones). :class:`SnapshotState` keeps the derived :class:`~.snapshot.PodInfo` /
:class:`~.snapshot.GroupInfo` objects and recomputes only those a change touches:

- a changed, added or deleted Pod: its PodInfo, its old and new group;
- a changed, added or deleted PodGroup: that group, and the queue of its member pods;
- a changed, added or deleted Queue (the loop writes Queue statuses every cycle): the queue
  tree and ``queues_raw``, which nothing else reads;
- a changed ResourceClaim or ResourceClaimTemplate, or a changed pod with
  ``spec.resourceClaims``: the claims (generated ones included) and the claim references of
  the pods with ``spec.resourceClaims`` (their number, not the cluster's);
- anything else (PriorityClass, Topology, Node, DeviceClass, ResourceSlice), or a new dict
  without ``uid`` + ``resourceVersion``: a full :func:`~.snapshot.build_snapshot` (with a
  :class:`~.snapshot.SnapshotCache`), which also raises every validation error.

The result is always the snapshot ``build_snapshot(objects)`` gives (same dicts, same order,
equal values). Finding what changed costs set operations on object ids, not Python work per
object: the same dict as last time is unchanged (objects are never changed in place: a change
is a new dict, as the store's ``list(copy=False)`` hands them out); a new dict with the same
``metadata.uid`` and ``metadata.resourceVersion`` as a known object is unchanged too.

Identity: a pod whose object and context did not change keeps *the same* PodInfo object
(``is``) as in the previous snapshot; after a full build too, where an equal PodInfo replaces
the new one. Running-pod accounting kept between cycles relies on this as its fast test.
"""
from __future__ import annotations

import bisect
import dataclasses
import itertools
import operator
from fractions import Fraction
from typing import Any, Optional

from ..api import kai
from ..api.core import GpuDemand, Pod, PriorityClass, decode_pod
from ..api.errors import FieldError, ValidationFailed
from ..api.validation import decode
from .queues import QueueTree
from .snapshot import (
    DEFAULT_SCHEDULER_NAME,
    NO_GROUP,
    USED_KINDS,
    GroupInfo,
    PodInfo,
    Snapshot,
    SnapshotCache,
    _build,
    _claim_refs,
    _decode_claims,
    _default_queue_raw,
    _demand_key,
    _group_fields,
    _key,
    _pod_demand,
    _pod_info,
    _pod_priority,
    _pod_queue,
    _podgroup_info,
    _single_group,
    _sub,
    _version_key,
)

__all__ = ["SnapshotState"]

Key = tuple[str, str]
GroupKey = tuple  # (namespace, name) of a PodGroup, ("pod", namespace, name) of a lone pod
Version = Optional[tuple[str, str]]  # (uid, resourceVersion); None: unknown, always changed

# kinds compared as whole lists: a change of a Queue, ResourceClaim or ResourceClaimTemplate
# is followed, any other makes the build a full one ("Namespace" is listed but not read)
_OTHER_KINDS = tuple(k for k in USED_KINDS if k not in ("Pod", "PodGroup", "Namespace"))


_DEMANDS_KEPT = 4096  # pod shapes whose requests are kept (cleared when full)


class _Fallback(Exception):
    """The incremental update cannot tell: build in full (which raises what is invalid)."""


def _raw_key(raw: dict[str, Any]) -> tuple[Key, Version]:
    m = raw.get("metadata")
    if not isinstance(m, dict):
        raise _Fallback
    uid, rv = m.get("uid"), m.get("resourceVersion")
    version = (uid, rv) if uid and rv and type(uid) is str and type(rv) is str else None
    return (str(m.get("namespace") or ""), str(m.get("name") or "")), version


def _delta(items: list[dict[str, Any]], known: dict[Key, Any], ids: dict[int, Key], pods: bool
           ) -> tuple[list[tuple[Key, dict[str, Any], Version]], list[Key]]:
    """``(changed or added, deleted)`` raw keys against ``known`` (raw key -> entry: version
    first, the object last; ``ids``: id of each known object -> its raw key).

    A known object (the same dict) is unchanged: found by set operations on ids, without
    Python work per object. Only the other objects are read: one with a known raw key and
    version is unchanged too (``known`` and ``ids`` then follow the new dict)."""
    by_id = dict(zip(map(id, items), items))
    if len(by_id) != len(items):
        raise _Fallback  # the same object twice
    fresh = by_id.keys() - ids.keys()
    gone = ids.keys() - by_id.keys()
    if not fresh and not gone:
        return [], []
    changed: list[tuple[Key, dict[str, Any], Version]] = []
    renewed: set[Key] = set()
    gone_keys = {ids[i] for i in gone}
    for i in fresh:
        raw = by_id[i]
        if pods and raw.get("apiVersion") != "v1":
            continue  # not a core Pod: build_snapshot skips it
        rk, version = _raw_key(raw)
        if rk in renewed:
            raise _Fallback  # two objects for one key
        renewed.add(rk)
        entry = known.get(rk)
        if entry is not None and rk not in gone_keys:
            raise _Fallback  # a second object for a known key
        if entry is not None and version is not None and entry[0] == version:
            del ids[id(entry[-1])]  # the same version in a new dict
            ids[i] = rk
            known[rk] = (*entry[:-1], raw)
        else:
            changed.append((rk, raw, version))
    changed.sort(key=lambda c: c[0])  # deterministic order of work
    deleted = sorted(gone_keys - renewed)
    return changed, deleted


def _by_kind(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """``objects`` grouped by ``str(kind)`` as ``build_snapshot`` groups them; each kind's objects
    in one run (as a client lists them kind by kind) are cut out as a slice, without Python work
    per object."""
    try:
        kinds = list(map(dict.get, objects, itertools.repeat("kind")))
        distinct = set(kinds)
    except TypeError:  # an object that is not a dict, or a kind that is not hashable
        distinct = None
    by_kind: dict[str, list[dict[str, Any]]] = {}
    if distinct is not None and all(type(k) is str for k in distinct):
        for kind in distinct:
            start, count = kinds.index(kind), kinds.count(kind)
            if kinds[start:start + count].count(kind) != count:
                break  # not one run
            by_kind[kind] = objects[start:start + count]
        else:
            return by_kind
        by_kind = {}
    for obj in objects:
        by_kind.setdefault(str(obj.get("kind")), []).append(obj)
    return by_kind


class SnapshotState:
    """A snapshot builder that keeps its work between calls of :meth:`build`. Not thread-safe."""

    def __init__(self, scheduler_name: str = DEFAULT_SCHEDULER_NAME) -> None:
        self.scheduler_name = scheduler_name
        self.cache = SnapshotCache()  # decoded objects, for the full builds
        self._demands: dict[bytes, tuple[GpuDemand, tuple[Fraction, Fraction, dict[str, Fraction]]]] = {}
        self.full_builds = 0
        self.incremental_builds = 0
        self._reset()

    def _reset(self) -> None:
        self._snap: Optional[Snapshot] = None
        self._others: dict[str, tuple[list[dict[str, Any]], list[Optional[tuple]]]] = {}  # kind -> (objects, version keys)
        self._pods: dict[Key, tuple[Version, Key, bool, dict[str, Any]]] = {}  # raw key -> (version, key, has claims, raw)
        self._pgs: dict[Key, tuple[Version, Optional[Key], dict[str, Any]]] = {}  # raw key -> (version, group key, raw)
        self._pod_ids: dict[int, Key] = {}  # id of a kept Pod object -> its raw key
        self._pg_ids: dict[int, Key] = {}
        self._infos: dict[Key, PodInfo] = {}
        self._pod_keys: list[Key] = []  # sorted
        self._groups: dict[GroupKey, GroupInfo] = {}
        self._group_keys: list[GroupKey] = []  # sorted
        self._members: dict[Key, set[Key]] = {}  # PodGroup key -> its pods (non-empty)
        self._podgroups: dict[Key, tuple[kai.PodGroup, dict[str, Any]]] = {}
        self._classes_all: dict[str, PriorityClass] = {}
        self._tree = QueueTree([])
        self._claims: dict[Key, dict[str, Any]] = {}
        self._typed_claims: dict[Key, Any] = {}
        self._generated: frozenset[Key] = frozenset()
        self._claim_cache: dict[tuple, Any] = {}  # generated claims and decoded claims, by version
        self._claims_dirty = False  # a claim, template or pod with claims changed: _reclaim
        self._queues_raw: dict[str, dict[str, Any]] = {}
        self._topologies: list[kai.Topology] = []

    def build(self, objects: list[dict[str, Any]]) -> Snapshot:
        """The snapshot of ``objects``, equal to ``build_snapshot(objects, scheduler_name)``."""
        by_kind = _by_kind(objects)
        if self._snap is not None:
            try:
                snap = self._incremental(by_kind)
            except _Fallback:
                pass
            else:
                self.incremental_builds += 1
                self._snap = snap
                return snap
        return self._full(by_kind)

    # --- full build -----------------------------------------------------------------------
    def _full(self, by_kind: dict[str, list[dict[str, Any]]]) -> Snapshot:
        previous = self._infos
        self._reset()
        ctx: dict[str, Any] = {}
        try:
            snap = _build(by_kind, self.scheduler_name, self.cache, ctx)
        except ValidationFailed:
            self._infos = previous  # kept for identity only: the next build is a full one
            raise
        self.cache._sweep()
        self.full_builds += 1
        key_of = {id(info.raw): info for info in snap.pods.values()}
        # equal PodInfos keep their identity across a full build
        pods = {k: (old if (old := previous.get(k)) is not None and old == info else info) for k, info in snap.pods.items()}
        snap = dataclasses.replace(snap, pods=pods)
        groups_of: dict[int, Key] = {id(raw): gk for gk, (_, raw) in ctx["podgroups"].items()}
        for raw in by_kind.get("PodGroup", []):
            rk, version = _raw_key_or_none(raw)
            gk = groups_of.get(id(raw))
            if rk is None or rk in self._pgs or (gk is None and _decodes(raw)):
                return self._disabled(snap)  # two PodGroups for one key: the later wins; rebuild in full
            self._pgs[rk] = (version, gk, raw)
            self._pg_ids[id(raw)] = rk
        for raw in by_kind.get("Pod", []):
            if raw.get("apiVersion") != "v1":
                continue
            rk, version = _raw_key_or_none(raw)
            if rk is None:
                return self._disabled(snap)
            info = key_of[id(raw)]
            self._pods[rk] = (version, info.key, bool(info.pod.spec.resource_claims), raw)
            self._pod_ids[id(raw)] = rk
        for kind in _OTHER_KINDS:
            items = by_kind.get(kind, [])
            self._others[kind] = (items, [_version_key(o) for o in items])
        self._infos = dict(pods)
        self._pod_keys = list(pods)
        self._groups = dict(snap.groups)
        self._group_keys = list(snap.groups)
        self._members = {gk: set(ms) for gk, ms in ctx["group_members"].items()}
        self._podgroups = dict(ctx["podgroups"])
        self._classes_all = ctx["classes_all"]
        self._tree, self._queues_raw = snap.tree, dict(snap.queues_raw)
        self._claims, self._typed_claims, self._generated = dict(snap.claims), dict(snap.typed_claims), snap.generated_claims
        self._topologies = list(ctx["topologies"])
        self._snap = snap
        return snap

    def _disabled(self, snap: Snapshot) -> Snapshot:
        """Input the incremental update does not follow: the next build is a full one too."""
        infos = dict(snap.pods)
        self._reset()
        self._infos = infos  # for identity only
        return snap

    # --- incremental update ---------------------------------------------------------------
    def _incremental(self, by_kind: dict[str, list[dict[str, Any]]]) -> Snapshot:
        """The new snapshot from the previous one and what changed (see the module's docstring);
        raises ``_Fallback`` when it cannot tell, leaving the state to the full build (which resets it)."""
        queues: Optional[tuple[QueueTree, dict[str, dict[str, Any]]]] = None
        for kind in _OTHER_KINDS:
            items = by_kind.get(kind, [])
            prev, versions = self._others.get(kind, ([], []))
            if len(items) == len(prev) and all(map(operator.is_, items, prev)):
                continue
            if len(items) == len(prev) and all(v is not None and _version_key(o) == v for o, v in zip(items, versions)):
                self._others[kind] = (items, versions)  # the same versions in new dicts
                continue
            if kind == "Queue":
                queues = _queues(items)  # a status write (the loop's Queue status), a new quota
            elif kind in ("ResourceClaim", "ResourceClaimTemplate"):
                self._claims_dirty = True
            else:
                raise _Fallback
            self._others[kind] = (items, [_version_key(o) for o in items])
        pod_changed, pod_deleted = _delta(by_kind.get("Pod", []), self._pods, self._pod_ids, pods=True)
        pg_changed, pg_deleted = _delta(by_kind.get("PodGroup", []), self._pgs, self._pg_ids, pods=False)
        for rk in pod_deleted:
            if self._pods[rk][2]:
                self._claims_dirty = True  # its claims (generated ones) go with it
        for rk, _, _ in pod_changed:
            old = self._pods.get(rk)
            if old is not None and old[2]:
                self._claims_dirty = True
        prev = self._snap
        assert prev is not None
        if queues is not None:
            self._tree, self._queues_raw = queues
        if not (pod_changed or pod_deleted or pg_changed or pg_deleted or self._claims_dirty):
            return self._snapshot(prev)
        # from here on the state changes: a _Fallback leaves it to the full build, which resets it
        self._snap = None
        touched: set[GroupKey] = set()
        changed_pgs = self._apply_podgroups(pg_changed, pg_deleted)
        touched |= changed_pgs
        for rk in pod_deleted:
            _, key, _, raw = self._pods.pop(rk)
            del self._pod_ids[id(raw)]
            self._drop_pod(key, touched)
        for rk, raw, version in pod_changed:
            self._apply_pod(rk, raw, version, touched)
        for gk in changed_pgs:  # the PodGroup's queue is its pods' queue
            for k in self._members.get(gk, ()):
                info = self._infos[k]
                queue = _pod_queue(info.pod, gk, self._podgroups)
                if queue != info.queue:
                    self._infos[k] = dataclasses.replace(info, queue=queue)
        for gk in touched:
            self._regroup(gk)
        if self._claims_dirty:
            self._reclaim(by_kind)
        return self._snapshot(prev)

    def _reclaim(self, by_kind: dict[str, list[dict[str, Any]]]) -> None:
        """Claims, and the claim references of every pod with ``spec.resourceClaims``, as the full
        build makes them (pods in input order: a claim made for one pod is seen by the next)."""
        generated: set[Key] = set()
        generated_keys: dict[Key, Optional[tuple]] = {}
        errors: list[FieldError] = []
        cache = _Kept(self._claim_cache)
        try:
            claims, typed_known, templates, template_keys = _decode_claims(by_kind, cache)
            for raw in by_kind.get("Pod", []):
                rk = self._pod_ids.get(id(raw))
                if rk is None or not self._pods[rk][2]:
                    continue  # not a core Pod, or no claims
                info = self._infos[self._pods[rk][1]]
                refs = tuple(_claim_refs(raw, info.pod, info.key, _version_key(raw), claims, templates, template_keys,
                                         cache, generated, generated_keys, errors))
                if errors:
                    raise _Fallback
                if refs != info.claims:
                    self._infos[info.key] = dataclasses.replace(info, claims=refs)
            typed_claims: dict[Key, Any] = {}
            for ck, raw in claims.items():
                typed = typed_known.get(ck)
                typed_claims[ck] = typed if typed is not None else cache.get(_sub(generated_keys.get(ck), "typed"),
                                                                             lambda: decode(raw))
        except ValidationFailed:
            raise _Fallback from None
        self._claim_cache = cache.new
        self._claims = dict(sorted(claims.items()))
        self._typed_claims = typed_claims
        self._generated = frozenset(generated)
        self._claims_dirty = False

    def _apply_podgroups(self, changed: list[tuple[Key, dict[str, Any], Version]], deleted: list[Key]) -> set[GroupKey]:
        out: set[GroupKey] = set()
        for rk in deleted:
            _, gk, old_raw = self._pgs.pop(rk)
            del self._pg_ids[id(old_raw)]
            if gk is not None:
                del self._podgroups[gk]
                out.add(gk)
        for rk, raw, version in changed:
            old = self._pgs.get(rk)
            if old is not None:
                del self._pg_ids[id(old[2])]
                if old[1] is not None:
                    del self._podgroups[old[1]]
                    out.add(old[1])
            try:
                typed = kai.decode_and_validate_kai(raw)
            except ValidationFailed:
                raise _Fallback from None
            gk: Optional[Key] = None
            if typed is not None:
                if not isinstance(typed, kai.PodGroup) or kai.validate_kai_objects((), [typed], self._topologies):
                    raise _Fallback
                gk = (typed.metadata.namespace or "default", typed.metadata.name)
                if gk in self._podgroups:
                    raise _Fallback  # two PodGroups for one key
                self._podgroups[gk] = (typed, raw)
                out.add(gk)
            self._pgs[rk] = (version, gk, raw)
            self._pg_ids[id(raw)] = rk
        return out

    def _apply_pod(self, rk: Key, raw: dict[str, Any], version: Version, touched: set[GroupKey]) -> None:
        old = self._pods.get(rk)
        try:
            pod = decode_pod(raw)
            key = (pod.metadata.namespace or "default", pod.metadata.name)
            demand, (cpu, memory, reqs) = self._demand(pod)
            priority = _pod_priority(pod, self._classes_all, key)
        except ValidationFailed:
            raise _Fallback from None
        has_claims = bool(pod.spec.resource_claims)
        if has_claims:
            self._claims_dirty = True  # its claim references: in _reclaim
        info = _pod_info(key, raw, pod, demand, cpu, memory, dict(reqs), priority, (), self.scheduler_name,
                         self._podgroups)
        before = self._infos.get(old[1]) if old is not None else None
        if old is not None:
            del self._pod_ids[id(old[3])]
        self._pods[rk] = (version, key, has_claims, raw)
        self._pod_ids[id(raw)] = rk
        if before is not None and before.key == key and before.group == info.group \
                and _group_fields(before) == _group_fields(info):
            self._infos[key] = info  # a binding, a status write: its group does not change
            return
        if old is not None:
            self._drop_pod(old[1], touched)
        if key in self._infos:
            raise _Fallback  # a duplicate (namespace "" and "default")
        self._infos[key] = info
        bisect.insort(self._pod_keys, key)
        if info.group == NO_GROUP:
            touched.add(("pod", *key))
        else:
            self._members.setdefault(info.group, set()).add(key)
            touched.add(info.group)

    def _demand(self, pod: Pod) -> tuple[GpuDemand, tuple[Fraction, Fraction, dict[str, Fraction]]]:
        """``_pod_demand(pod)``, shared by pods of the same shape (see ``_demand_key``)."""
        key = _demand_key(pod)
        if key is None:
            return _pod_demand(pod)
        got = self._demands.get(key)
        if got is None:
            got = _pod_demand(pod)  # raises for an invalid pod: nothing kept
            if len(self._demands) >= _DEMANDS_KEPT:
                self._demands.clear()
            self._demands[key] = got
        return got

    def _drop_pod(self, key: Key, touched: set[GroupKey]) -> None:
        info = self._infos.pop(key)
        del self._pod_keys[bisect.bisect_left(self._pod_keys, key)]
        if info.group == NO_GROUP:
            touched.add(("pod", *key))
        else:
            members = self._members[info.group]
            members.discard(key)
            if not members:
                del self._members[info.group]
            touched.add(info.group)

    def _regroup(self, gk: GroupKey) -> None:
        group: Optional[GroupInfo] = None
        if len(gk) == 3:  # a pod without pod-group-name
            info = self._infos.get(gk[1:])
            if info is not None and info.group == NO_GROUP:
                group = _single_group(info)
        else:
            members, pg = self._members.get(gk), self._podgroups.get(gk)
            if members or pg is not None:
                made = _podgroup_info(gk, tuple(sorted(members or ())), self._infos, pg, self._classes_all)
                if isinstance(made, FieldError):
                    raise _Fallback
                group = made
        had = gk in self._groups
        if group is not None:
            self._groups[gk] = group
            if not had:
                bisect.insort(self._group_keys, gk)
        elif had:
            del self._groups[gk]
            del self._group_keys[bisect.bisect_left(self._group_keys, gk)]

    def _snapshot(self, prev: Snapshot) -> Snapshot:
        """``prev`` with the kept pods and groups (its other fields did not change)."""
        infos, groups = self._infos, self._groups
        return Snapshot(
            nodes=prev.nodes,
            # (zip and map build the same dicts as comprehensions would, without a Python step per item)
            pods=dict(zip(self._pod_keys, map(infos.__getitem__, self._pod_keys))),
            groups=dict(zip(self._group_keys, map(groups.__getitem__, self._group_keys))),
            tree=self._tree,
            queues_raw=dict(self._queues_raw),
            priority_classes=dict(prev.priority_classes),
            classes=dict(prev.classes),
            slices=prev.slices,
            claims=dict(self._claims),
            typed_claims=dict(self._typed_claims),
            generated_claims=self._generated,
            scheduler_name=prev.scheduler_name,
            min_gpu_memory_mib=prev.min_gpu_memory_mib,
            topologies=prev.topologies,
        )


def _queues(items: list[dict[str, Any]]) -> tuple[QueueTree, dict[str, dict[str, Any]]]:
    """The queue tree and ``queues_raw`` of the Queue objects, as the full build makes them
    (nothing else in the snapshot reads Queues); ``_Fallback`` on anything invalid."""
    queues: list[kai.Queue] = []
    raws: dict[str, dict[str, Any]] = {}
    for raw in items:
        try:
            typed = kai.decode_and_validate_kai(raw)
        except ValidationFailed:
            raise _Fallback from None
        if typed is None:
            continue
        if not isinstance(typed, kai.Queue):
            raise _Fallback
        queues.append(typed)
        raws[typed.metadata.name] = raw
    if kai.validate_kai_objects(queues, (), ()):
        raise _Fallback
    try:
        tree = QueueTree.from_queues(queues)
    except ValidationFailed:
        raise _Fallback from None
    if kai.DEFAULT_QUEUE not in raws:
        raws[kai.DEFAULT_QUEUE] = _default_queue_raw()
    return tree, dict(sorted(raws.items()))


class _Kept:
    """``SnapshotCache.get`` over what the previous ``_reclaim`` made: keeps only what is used again."""

    def __init__(self, old: dict[tuple, Any]) -> None:
        self.old = old
        self.new: dict[tuple, Any] = {}

    def get(self, key: Optional[tuple], make: Any) -> Any:
        if key is None:
            return make()
        if key in self.new:
            return self.new[key]
        value = self.old[key] if key in self.old else make()
        self.new[key] = value
        return value


def _raw_key_or_none(raw: dict[str, Any]) -> tuple[Optional[Key], Version]:
    try:
        return _raw_key(raw)
    except _Fallback:
        return None, None


def _decodes(raw: dict[str, Any]) -> bool:
    """Whether a PodGroup-kind object is a KAI PodGroup (the full build skipped it, or another won)."""
    try:
        return kai.decode_and_validate_kai(raw) is not None
    except ValidationFailed:
        return True
