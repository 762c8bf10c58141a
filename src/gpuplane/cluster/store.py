"""An embedded object store with the Kubernetes API server's semantics the scheduler relies on.

Why embedded: the simulator runs the scheduler loop on this store through the same
:class:`~gpuplane.cluster.client.ClusterClient` interface it will use on a real API server, so
what the loop does here (list, bind, status writes, deletes) is what it will do there.

Semantics kept from the API server:

* ``metadata.resourceVersion``: a string, from one counter shared by all kinds, increasing with
  every write; ``list`` returns the store's current version.
* optimistic concurrency: ``update``/``update_status``/``delete`` with a ``resourceVersion``
  that is not the stored one fail with :class:`Conflict`; without one they apply.
* status subresource: ``update`` keeps the stored ``.status``; ``update_status`` changes only
  ``.status``. ``metadata.generation`` starts at 1 and grows when anything outside
  ``metadata``/``status`` changes. A write that changes nothing keeps the resourceVersion.
* ``create`` sets ``uid`` (deterministic, from a seed), ``creationTimestamp`` (from the injected
  clock: simulated time), ``generation`` and ``resourceVersion``; ``generateName`` is honoured;
  an existing name fails with :class:`AlreadyExists`.
* ``bind``: the ``pods/binding`` subresource (sets ``spec.nodeName`` and the binding's
  annotations; a bound pod fails with :class:`Conflict`).
* ``delete``: objects whose ``ownerReferences`` name the deleted object's uid are deleted too
  (background cascade, done at once: there is no garbage-collector lag in simulated time).
* ``watch(since)``: ADDED/MODIFIED/DELETED events after a resourceVersion, in order; history
  is bounded and a watch from a version older than it fails with :class:`Expired` (HTTP 410).

Stored objects are never mutated in place: every write stores a fresh copy, so ``list(...,
copy=False)`` can hand out the stored dicts to readers that promise not to change them (the
scheduler loop), without copying thousands of pods per cycle.

Copies: by default every object handed in is copied before it is stored and every object handed
out (``get``, ``list``, ``watch``, and what the writes return) is a copy, so no caller can change
the store through a reference. Trusted in-process callers (the simulator's engine, the scheduler
loop) may pass ``copy=False`` (``get``, ``list``, ``watch``, ``create``, ``update_status``,
``bind``, ``delete``): what comes back is then the stored dict, which the caller must not change;
``create``/``update_status`` also take the object (resp. its ``.status``) handed in as the
store's own, so the caller must not change or reuse it afterwards (``create`` fills its
``metadata`` in place). Why: a simulated job costs a handful of store writes, and deep copies
were most of their cost.
"""
from __future__ import annotations

import random
import time
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Optional

__all__ = [
    "StoreError", "NotFound", "AlreadyExists", "Conflict", "Invalid", "Expired",
    "WatchEvent", "ObjectStore", "CLUSTER_SCOPED", "deep_copy", "format_time",
]

# kinds without a namespace (everything else defaults to namespace "default")
CLUSTER_SCOPED = frozenset({
    "Node", "Namespace", "PriorityClass", "Queue", "Topology", "DeviceClass", "ResourceSlice",
    "SchedulingShard", "ClusterRole", "StorageClass",
})

Key = tuple[str, str]


class StoreError(Exception):
    """A failed request; ``reason`` is the API server's status reason."""

    reason = "InternalError"

    def __init__(self, kind: str, namespace: str, name: str, message: str) -> None:
        self.kind, self.namespace, self.name = kind, namespace, name
        where = f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
        super().__init__(f"{where}: {message}")


class NotFound(StoreError):
    reason = "NotFound"


class AlreadyExists(StoreError):
    reason = "AlreadyExists"


class Conflict(StoreError):
    reason = "Conflict"


class Invalid(StoreError):
    reason = "Invalid"


class Expired(StoreError):
    reason = "Expired"


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED
    object: dict[str, Any]
    resource_version: int


def deep_copy(value: Any) -> Any:
    """Copy JSON-like data (dicts, lists, scalars): several times faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: deep_copy(v) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    if isinstance(value, list):
        return [deep_copy(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


_last_time: tuple[Optional[int], str] = (None, "")  # (whole seconds, text): the latest format_time


def format_time(seconds: float) -> str:
    """RFC3339 (UTC, whole seconds), the form of ``metadata.creationTimestamp``.

    The latest answer is kept (one tuple, swapped whole): a simulation formats the same instant
    for every object it writes then."""
    global _last_time
    whole = int(seconds)
    last = _last_time
    if last[0] == whole:
        return last[1]
    text = datetime.fromtimestamp(whole, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    _last_time = (whole, text)
    return text


def _without(obj: dict[str, Any], *drop: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in drop}


class ObjectStore:
    """The store; implements :class:`~gpuplane.cluster.client.ClusterClient`."""

    def __init__(self, clock: Callable[[], float] = time.time, seed: int = 0, history: int = 100_000) -> None:
        self._clock = clock
        self._rng = random.Random(seed)
        self._rv = 0
        self._objects: dict[str, dict[Key, dict[str, Any]]] = {}
        # each kind's keys in list order (sorted, kept so with bisect as objects come and go) and
        # its objects in the same order, replaced in place on every write: a list is one slice,
        # not a sort and a lookup per object on every call
        self._order: dict[str, list[Key]] = {}
        self._ordered: dict[str, list[dict[str, Any]]] = {}
        self._dependents: dict[str, set[tuple[str, Key]]] = {}  # owner uid -> dependents
        # (resourceVersion, type, object): plain tuples, a WatchEvent is made when one is watched
        self._events: deque[tuple[int, str, dict[str, Any]]] = deque(maxlen=history)
        self._generated = 0

    # --- reads ----------------------------------------------------------------------------
    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def get(self, kind: str, name: str, namespace: str = "", copy: bool = True) -> dict[str, Any]:
        """The object; ``copy=False`` returns the stored dict itself: callers must not change it."""
        ns = self._namespace(kind, namespace)
        obj = self._objects.get(kind, {}).get((ns, name))
        if obj is None:
            raise NotFound(kind, ns, name, "not found")
        return deep_copy(obj) if copy else obj

    def list(self, kind: str, namespace: Optional[str] = None, label_selector: Optional[dict[str, str]] = None,
             copy: bool = True) -> tuple[list[dict[str, Any]], str]:
        """Objects of ``kind`` (sorted by namespace and name) and the store's resourceVersion.

        ``copy=False`` returns the stored dicts themselves: callers must not change them."""
        bucket = self._objects.get(kind)
        if not bucket:
            return [], str(self._rv)
        items = self._ordered[kind]
        if namespace is None:
            items = items[:]
        else:  # the keys of one namespace are a run of the sorted keys
            keys = self._order[kind]
            items = items[bisect_left(keys, (namespace, "")):bisect_left(keys, (namespace + "\0", ""))]
        if label_selector:
            items = [obj for obj in items
                     if all((obj["metadata"].get("labels") or {}).get(k) == v for k, v in label_selector.items())]
        if copy:
            items = [deep_copy(obj) for obj in items]
        return items, str(self._rv)

    def count(self, kind: str) -> int:
        return len(self._objects.get(kind, {}))

    def watch(self, since: str | int = 0, kinds: Optional[set[str]] = None, copy: bool = True) -> Iterator[WatchEvent]:
        """Events after resourceVersion ``since`` (in order), up to now; raises ``Expired`` if
        the history no longer reaches back that far. ``copy=False``: the events carry the
        stored dicts (callers must not change them).

        Only the new events are visited (from the newest back), so a watcher that keeps up pays
        for what changed, not for the whole history."""
        since_rv = int(since)
        events = self._events
        if events and since_rv < events[0][0] - 1:
            raise Expired("", "", "watch", f"resourceVersion {since_rv} is too old (oldest kept: {events[0][0]})")
        new: list[tuple[int, str, dict[str, Any]]] = []
        for ev in reversed(events):
            if ev[0] <= since_rv:
                break
            new.append(ev)
        for rv, type_, obj in reversed(new):
            if kinds is None or obj.get("kind") in kinds:
                yield WatchEvent(type_, deep_copy(obj) if copy else obj, rv)

    # --- writes ---------------------------------------------------------------------------
    def create(self, obj: dict[str, Any], copy: bool = True) -> dict[str, Any]:
        """Store a new object. ``copy=False``: ``obj`` itself is stored (its ``metadata`` filled
        in) and returned; the caller hands it over and must not change it afterwards."""
        kind, ns, name = self._identity(obj, creating=True)
        bucket = self._objects.setdefault(kind, {})
        if (ns, name) in bucket:  # before anything is filled in: a failed create leaves obj as it was
            raise AlreadyExists(kind, ns, name, "already exists")
        new = deep_copy(obj) if copy else obj
        meta = new.setdefault("metadata", {})
        if not name:  # a generated name is one not taken
            name = self._generate_name(kind, ns, meta.get("generateName"))
        meta["name"] = name
        if kind not in CLUSTER_SCOPED:
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        meta["uid"] = self._uid()
        meta["creationTimestamp"] = format_time(self._clock())
        meta["generation"] = 1
        meta.pop("deletionTimestamp", None)
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        bucket[(ns, name)] = new
        keys = self._order.setdefault(kind, [])
        at = bisect_left(keys, (ns, name))
        keys.insert(at, (ns, name))
        self._ordered.setdefault(kind, []).insert(at, new)
        for ref in meta.get("ownerReferences") or []:
            if isinstance(ref, dict) and ref.get("uid"):
                self._dependents.setdefault(ref["uid"], set()).add((kind, (ns, name)))
        self._events.append((self._rv, "ADDED", new))
        return deep_copy(new) if copy else new

    def update(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Replace metadata (labels, annotations, ownerReferences...) and spec; keep status."""
        kind, ns, name = self._identity(obj)
        old = self._current(kind, ns, name, obj)
        new = deep_copy(_without(obj, "status"))
        if "status" in old:
            new["status"] = old["status"]
        meta = new.setdefault("metadata", {})
        ometa = old["metadata"]
        for k in ("name", "uid", "creationTimestamp", "generation", "resourceVersion"):
            meta[k] = ometa[k]
        if "namespace" in ometa:
            meta["namespace"] = ometa["namespace"]
        if _without(new, "metadata", "status") != _without(old, "metadata", "status"):
            meta["generation"] = ometa["generation"] + 1
        self._reindex_owners(kind, (ns, name), ometa, meta)
        return self._replace(kind, ns, name, old, new)

    def update_status(self, obj: dict[str, Any], copy: bool = True) -> dict[str, Any]:
        """Replace ``.status`` only (the status subresource). ``copy=False``: ``obj["status"]``
        itself is stored and the stored object returned; the caller must not change either."""
        kind, ns, name = self._identity(obj)
        old = self._current(kind, ns, name, obj)
        status = obj.get("status")
        if status == old.get("status") and (status is not None or "status" not in old):
            return deep_copy(old) if copy else old  # nothing changes: no write, same resourceVersion
        new = dict(old)
        if status is None:
            new.pop("status", None)
        else:
            new["status"] = deep_copy(status) if copy else status
        new["metadata"] = dict(old["metadata"])
        return self._replace(kind, ns, name, old, new, force=True, copy=copy)  # it differs: no second compare

    def bind(self, name: str, namespace: str, node: str, annotations: Optional[dict[str, str]] = None,
             copy: bool = True) -> dict[str, Any]:
        """The ``pods/binding`` subresource: set ``spec.nodeName`` (once) and merge annotations.
        ``copy=False`` returns the stored pod (not to be changed)."""
        ns = self._namespace("Pod", namespace)
        old = self._current("Pod", ns, name, {})
        if old.get("spec", {}).get("nodeName"):
            raise Conflict("Pod", ns, name, f"pod is already assigned to node {old['spec']['nodeName']!r}")
        if old["metadata"].get("deletionTimestamp"):
            raise Conflict("Pod", ns, name, "pod is being deleted, cannot be assigned to a host")
        new = dict(old)
        new["spec"] = dict(old.get("spec") or {})
        new["spec"]["nodeName"] = node
        new["metadata"] = dict(old["metadata"])
        if annotations:
            new["metadata"]["annotations"] = {**(old["metadata"].get("annotations") or {}), **annotations}
        return self._replace("Pod", ns, name, old, new, force=True, copy=copy)

    def delete(self, kind: str, name: str, namespace: str = "", resource_version: Optional[str] = None,
               copy: bool = True) -> dict[str, Any]:
        """Delete an object, then (background cascade) every object it owns; returns the object
        as it was (``copy=False``: the dict the watch history keeps, not to be changed)."""
        old = self._delete(kind, name, namespace, resource_version)
        return deep_copy(old) if copy else old

    def _delete(self, kind: str, name: str, namespace: str = "", resource_version: Optional[str] = None) -> dict[str, Any]:
        ns = self._namespace(kind, namespace)
        old = self._current(kind, ns, name, {"metadata": {"resourceVersion": resource_version}} if resource_version else {})
        del self._objects[kind][(ns, name)]
        keys = self._order[kind]
        at = bisect_left(keys, (ns, name))
        del keys[at]
        del self._ordered[kind][at]
        self._rv += 1
        self._events.append((self._rv, "DELETED", old))
        uid = old["metadata"].get("uid")
        for ref in old["metadata"].get("ownerReferences") or []:
            if isinstance(ref, dict) and ref.get("uid") in self._dependents:
                self._dependents[ref["uid"]].discard((kind, (ns, name)))
        for dkind, (dns, dname) in sorted(self._dependents.pop(uid, set())):
            if (dns, dname) in self._objects.get(dkind, {}):
                self._delete(dkind, dname, dns)
        return old

    # --- helpers --------------------------------------------------------------------------
    def _namespace(self, kind: str, namespace: Optional[str]) -> str:
        return "" if kind in CLUSTER_SCOPED else (namespace or "default")

    def _identity(self, obj: dict[str, Any], creating: bool = False) -> tuple[str, str, str]:
        if not isinstance(obj, dict):
            raise Invalid("", "", "", f"an object must be a mapping, got {type(obj).__name__}")
        kind = obj.get("kind")
        meta = obj.get("metadata")
        if not isinstance(kind, str) or not kind:
            raise Invalid("", "", "", "kind: Required value")
        if not isinstance(meta, dict):
            raise Invalid(kind, "", "", "metadata: Required value")
        name = meta.get("name") or ""
        ns = self._namespace(kind, meta.get("namespace"))
        if not isinstance(name, str) or (not name and not (creating and meta.get("generateName"))):
            raise Invalid(kind, ns, str(name), "metadata.name: Required value")
        return kind, ns, name

    def _current(self, kind: str, ns: str, name: str, obj: dict[str, Any]) -> dict[str, Any]:
        old = self._objects.get(kind, {}).get((ns, name))
        if old is None:
            raise NotFound(kind, ns, name, "not found")
        want = (obj.get("metadata") or {}).get("resourceVersion")
        if want and str(want) != old["metadata"]["resourceVersion"]:
            raise Conflict(kind, ns, name, "the object has been modified; please apply your changes to the latest "
                           f"version and try again (resourceVersion {want}, current {old['metadata']['resourceVersion']})")
        return old

    def _replace(self, kind: str, ns: str, name: str, old: dict[str, Any], new: dict[str, Any],
                 force: bool = False, copy: bool = True) -> dict[str, Any]:
        if not force and new == old:
            return deep_copy(old) if copy else old
        self._rv += 1
        new["metadata"]["resourceVersion"] = str(self._rv)
        self._objects[kind][(ns, name)] = new
        self._ordered[kind][bisect_left(self._order[kind], (ns, name))] = new
        self._events.append((self._rv, "MODIFIED", new))
        return deep_copy(new) if copy else new

    def _reindex_owners(self, kind: str, key: Key, old_meta: dict[str, Any], new_meta: dict[str, Any]) -> None:
        for ref in old_meta.get("ownerReferences") or []:
            if isinstance(ref, dict) and ref.get("uid") in self._dependents:
                self._dependents[ref["uid"]].discard((kind, key))
        for ref in new_meta.get("ownerReferences") or []:
            if isinstance(ref, dict) and ref.get("uid"):
                self._dependents.setdefault(ref["uid"], set()).add((kind, key))

    def _uid(self) -> str:
        h = f"{self._rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"

    def _generate_name(self, kind: str, ns: str, prefix: Any) -> str:
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        while True:
            name = f"{prefix}{''.join(self._rng.choice(alphabet) for _ in range(5))}"
            if (ns, name) not in self._objects.get(kind, {}):
                return name
