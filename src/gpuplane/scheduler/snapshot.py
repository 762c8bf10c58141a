"""An immutable snapshot of a cluster, built from the input objects of ``gpuplane schedule``.

Contract: ``shared/spec/cli-contracts.md`` (``gpuplane schedule``). The snapshot holds:

- nodes with their allocatable ``cpu`` (millicores), ``memory`` (bytes), ``pods`` and
  ``nvidia.com/gpu``; a device-plugin GPU node with N GPUs has devices ``gpu-0`` ..
  ``gpu-<N-1>``, each of ``nvidia.com/gpu.memory`` MiB when the node carries that label;
- pods with their state (Pending / Running / Releasing / Succeeded / Failed), requests, GPU
  demand, queue, gang, priority and preemptibility, and for Running / Releasing pods what
  they hold (the ``gpuplane.io/gpus`` annotation names the GPUs);
- the queue tree (with the implicit ``default-queue``), PodGroups, PriorityClasses (with the
  implicit ``train`` / ``build-preemptible`` / ``build`` / ``inference``);
- DRA objects: DeviceClasses, ResourceSlices, ResourceClaims and ResourceClaimTemplates. A
  pod's claim from a template is the claim ``<pod>-<podClaimName>`` in the pod's namespace,
  created from the template the way the resource-claim controller would (deterministically,
  so that the same input gives the same output); one that already exists is used as is.

Everything here is read-only after :func:`build_snapshot`; the scheduling cycle
(:mod:`gpuplane.scheduler.cycle`) keeps its own mutable state. A caller that rebuilds the
snapshot often (a simulator, after every event) passes a :class:`SnapshotCache`: objects that
come back with the same ``metadata.uid`` and ``metadata.resourceVersion`` are not decoded again.

Errors in the input (type errors, invalid KAI objects, invalid GPU annotations, unknown
priority classes) are raised as :class:`~gpuplane.api.errors.ValidationFailed`, naming the
object and field.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Optional

import msgspec

from ..api import kai
from ..api.core import (
    GPU_RESOURCE,
    FAILED,
    PENDING,
    RELEASING,
    RUNNING,
    SUCCEEDED,
    GpuDemand,
    Pod,
    PriorityClass,
    decode_pod,
    decode_priority_class,
    gpu_demand,
    pod_requests,
    pod_state,
)
from ..api.errors import FieldError, ValidationFailed
from ..api.models import DeviceClass, Node, NodeSelector, ResourceClaim, ResourceClaimTemplate, ResourceSlice
from ..api.quantity import QuantityError, parse_quantity
from ..api.validation import decode
from .queues import QueueTree

__all__ = [
    "GPUS_ANNOTATION",
    "GPU_MEMORY_LABEL",
    "DEFAULT_SCHEDULER_NAME",
    "USED_KINDS",
    "NodeInfo",
    "PodInfo",
    "GroupInfo",
    "Snapshot",
    "build_snapshot",
    "claim_gpu_units",
    "SnapshotCache",
    "allocation_gpu_units",
    "gpu_device_index",
    "node_gpu_capacity",
    "requested_gpu_units",
    "RequestEstimator",
    "GpuDevice",
]

GPUS_ANNOTATION = "gpuplane.io/gpus"
GPU_MEMORY_LABEL = "nvidia.com/gpu.memory"
DEFAULT_SCHEDULER_NAME = "gpuplane"
POD_CLAIM_NAME_ANNOTATION = "resource.kubernetes.io/pod-claim-name"
DEFAULT_MAX_PODS = 110

USED_KINDS = (
    "Node", "Pod", "PriorityClass", "Namespace", "Queue", "PodGroup", "Topology",
    "DeviceClass", "ResourceSlice", "ResourceClaim", "ResourceClaimTemplate",
)

Key = tuple[str, str]  # (namespace, name)


def _ref(kind: str, key: Key) -> str:
    return f"{kind}/{key[0]}/{key[1]}" if key[0] else f"{kind}/{key[1]}"


@dataclass(frozen=True)
class NodeInfo:
    name: str
    node: Node
    cpu_milli: Fraction
    memory: Fraction  # bytes
    max_pods: int
    gpus: int  # device-plugin GPUs (nvidia.com/gpu)
    gpu_memory_mib: Optional[int]
    other: dict[str, Fraction]  # other allocatable resources (extended resources)
    dra_gpus: int  # GPU-like devices published in ResourceSlices for this node
    unschedulable: bool
    taints: tuple[dict[str, Any], ...]

    @property
    def gpu_names(self) -> list[str]:
        return [f"gpu-{i}" for i in range(self.gpus)]


@dataclass(frozen=True)
class PodClaimRef:
    """One entry of ``spec.resourceClaims``: the claim it stands for (``None`` if missing)."""

    pod_claim_name: str
    claim: Optional[Key]
    missing: str = ""  # why there is no claim (unknown claim or template)


@dataclass(frozen=True)
class PodInfo:
    key: Key
    raw: dict[str, Any]
    pod: Pod
    state: str
    ours: bool  # spec.schedulerName is the scheduler's name
    node_name: str
    queue: str
    group: Key
    priority: int
    preemptible: bool
    cpu_milli: Fraction
    memory: Fraction
    other: dict[str, Fraction]  # other requested resources (extended), by name
    gpu: GpuDemand
    claims: tuple[PodClaimRef, ...]
    creation: str
    held_gpus: tuple[str, ...]  # gpuplane.io/gpus annotation (Running/Releasing pods)

    @property
    def name(self) -> str:
        return self.key[1]

    @property
    def namespace(self) -> str:
        return self.key[0]

    @property
    def ref(self) -> str:
        return f"{self.key[0]}/{self.key[1]}"

    @property
    def holds_resources(self) -> bool:
        return self.state in (RUNNING, RELEASING) and bool(self.node_name)


@dataclass(frozen=True)
class GroupInfo:
    """A gang: a PodGroup, or a pod without ``pod-group-name`` (a group of one)."""

    key: Key
    kind: str  # "PodGroup" or "Pod"
    min_member: int
    queue: str
    priority: int
    preemptible: bool
    creation: str
    pods: tuple[Key, ...]
    raw: Optional[dict[str, Any]] = None  # the PodGroup object, if there is one

    @property
    def ref(self) -> str:
        return f"{self.key[0]}/{self.key[1]}"


@dataclass(frozen=True)
class Snapshot:
    nodes: tuple[NodeInfo, ...]
    pods: dict[Key, PodInfo]
    groups: dict[Key, GroupInfo]
    tree: QueueTree
    queues_raw: dict[str, dict[str, Any]]  # every Queue, the implicit default-queue included
    priority_classes: dict[str, PriorityClass]
    classes: dict[str, DeviceClass]
    slices: tuple[ResourceSlice, ...]
    claims: dict[Key, dict[str, Any]]  # raw claims, generated ones included
    typed_claims: dict[Key, ResourceClaim]
    generated_claims: frozenset[Key]
    scheduler_name: str
    min_gpu_memory_mib: Optional[int] = None
    topologies: tuple[dict[str, Any], ...] = ()

    def node(self, name: str) -> Optional[NodeInfo]:
        for n in self.nodes:
            if n.name == name:
                return n
        return None


# --- helpers -----------------------------------------------------------------------------------


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def _key(obj: dict[str, Any]) -> Key:
    m = _meta(obj)
    return (str(m.get("namespace") or ""), str(m.get("name") or ""))


def _quantity(kind: str, key: Key, path: str, value: Any) -> Fraction:
    try:
        return parse_quantity(value).value
    except (QuantityError, ValueError, OverflowError, TypeError):
        raise ValidationFailed([FieldError(kind, key[0], key[1], path, f"Invalid value: {value!r}: not a quantity")]) from None


def _is_gpu_driver(driver: str) -> bool:
    return "gpu" in driver.lower()


# --- GPU accounting of DRA devices ---------------------------------------------------------------
#
# A queue is charged for the share of physical GPUs a claim's devices take: a whole GPU counts 1;
# a partition (MIG) counts the memory slices it consumes out of its GPU's counter set (H200
# 1g.18gb: 1 of 8 -> 1/8); a device that several claims share (allowMultipleAllocations, consumable
# capacity) counts the capacity consumed out of the device's capacity (memory when both give it).
# See docs/fairness.md, "GPUs of DRA devices".

MEMORY_SLICE_PREFIX = "memory-slice-"

DeviceID = tuple[str, str, str]  # (driver, pool, device)


@dataclass(frozen=True)
class GpuDevice:
    """What one published GPU-driver device counts for: a fixed share, or a capacity to divide by."""

    units: Fraction  # whole GPU: 1; MIG partition: memory slices used / memory slices of the GPU
    capacity: dict[str, Fraction]  # device capacity (bytes, counts): for shared devices
    shared: bool  # allowMultipleAllocations


def _amount(value: Any) -> Optional[Fraction]:
    try:
        return parse_quantity(value if value is not None else 0).value
    except (QuantityError, ValueError, OverflowError, TypeError):
        return None


def _memory_slices(counters: dict[str, Any]) -> int:
    return sum(1 for name in counters if name.startswith(MEMORY_SLICE_PREFIX))


def gpu_device_index(slices: tuple[ResourceSlice, ...] | list[ResourceSlice]) -> dict[DeviceID, GpuDevice]:
    """Every device of a GPU driver, with what it counts for (see :func:`claim_gpu_units`)."""
    sets: dict[tuple[str, str, str], int] = {}  # (driver, pool, counter set) -> memory slices in it
    for s in slices:
        for cs in s.spec.shared_counters:
            sets[(s.spec.driver, s.spec.pool.name, cs.name)] = _memory_slices(cs.counters)
    out: dict[DeviceID, GpuDevice] = {}
    for s in slices:
        driver, pool = s.spec.driver, s.spec.pool.name
        if not _is_gpu_driver(driver):
            continue
        for d in s.spec.devices:
            units = Fraction(1)
            for cc in d.consumes_counters:
                total = sets.get((driver, pool, cc.counter_set), 0)
                used = _memory_slices(cc.counters)
                if total and used:
                    units = min(Fraction(1), Fraction(used, total))
                    break
            cap: dict[str, Fraction] = {}
            for name, c in d.capacity.items():
                v = _amount(c.value)
                if v is not None and v > 0:
                    cap[name] = v
            out[(driver, pool, d.name)] = GpuDevice(units, cap, bool(d.allow_multiple_allocations))
    return out


def node_gpu_capacity(slices: tuple[ResourceSlice, ...] | list[ResourceSlice]) -> dict[str, int]:
    """Physical GPUs each node publishes through GPU drivers: devices that partition a counter set
    with memory slices (MIG) count once per counter set, every other device once."""
    sets_with_slices = {(s.spec.driver, s.spec.pool.name, cs.name) for s in slices for cs in s.spec.shared_counters
                        if _memory_slices(cs.counters)}
    per_node: dict[str, set[Any]] = {}
    for s in slices:
        driver, pool = s.spec.driver, s.spec.pool.name
        if not s.spec.node_name or not _is_gpu_driver(driver):
            continue
        units = per_node.setdefault(s.spec.node_name, set())
        for d in s.spec.devices:
            part = next((cc.counter_set for cc in d.consumes_counters
                         if (driver, pool, cc.counter_set) in sets_with_slices and _memory_slices(cc.counters)), None)
            units.add(("set", driver, pool, part) if part is not None else ("dev", driver, pool, d.name))
    return {n: len(u) for n, u in per_node.items()}


def result_gpu_units(driver: str, pool: str, device: str, admin: Any, consumed: Any,
                     devices: Optional[dict[DeviceID, GpuDevice]]) -> Fraction:
    """GPUs one allocation result counts for (0 for admin access and non-GPU drivers)."""
    if admin or not _is_gpu_driver(driver):
        return Fraction(0)
    dev = devices.get((driver, pool, device)) if devices is not None else None
    if dev is None:
        return Fraction(1)
    return _device_units(dev, consumed)


def _device_units(dev: GpuDevice, consumed: Any) -> Fraction:
    """A device's units, times the share of its capacity ``consumed`` takes (memory when given)."""
    if consumed and dev.capacity:
        ratios = {}
        for name, q in consumed.items():
            v, total = _amount(q), dev.capacity.get(name)
            if v is not None and total:
                ratios[name] = min(Fraction(1), v / total)
        if ratios:
            return dev.units * ratios.get("memory", max(ratios.values()))
    return dev.units


def allocation_gpu_units(allocation: dict[str, Any], devices: Optional[dict[DeviceID, GpuDevice]] = None) -> Fraction:
    """:func:`result_gpu_units` summed over an AllocationResult dict (as the allocator returns it)."""
    total = Fraction(0)
    for r in allocation.get("devices", {}).get("results", []):
        total += result_gpu_units(r.get("driver", ""), r.get("pool", ""), r.get("device", ""), r.get("adminAccess"),
                                  r.get("consumedCapacity"), devices)
    return total


class RequestEstimator:
    """The GPUs one device of a request would count for at least, before allocation: the smallest
    :func:`result_gpu_units` over the published GPU-driver devices that the request's device
    class and selectors match (a shared device: the capacity requested over the device's).
    Devices are told apart by (driver, device name, capacity, counters consumed): a device of the
    same name and shape on another node is taken to match the same selectors (the NVIDIA driver
    names devices by GPU index and MIG profile/placement). ``None``: no GPU-driver device
    matches, or a selector cannot be evaluated (the caller falls back to the class name rule)."""

    def __init__(self, slices: tuple[ResourceSlice, ...] | list[ResourceSlice], classes: dict[str, DeviceClass]) -> None:
        self.classes = classes
        self.devices = gpu_device_index(slices)
        shapes: dict[Any, tuple[str, Any, GpuDevice]] = {}
        for s in slices:
            if not _is_gpu_driver(s.spec.driver):
                continue
            for d in s.spec.devices:
                key = (s.spec.driver, d.name, msgspec.json.encode(d.capacity), msgspec.json.encode(d.consumes_counters))
                if key not in shapes:
                    shapes[key] = (s.spec.driver, d, self.devices[(s.spec.driver, s.spec.pool.name, d.name)])
        self.shapes = list(shapes.values())
        self._memo: dict[bytes, Optional[Fraction]] = {}

    def unit(self, spec: Any) -> Optional[Fraction]:
        key = msgspec.json.encode(spec)
        if key in self._memo:
            return self._memo[key]
        self._memo[key] = out = self._unit(spec)
        return out

    def _unit(self, spec: Any) -> Optional[Fraction]:
        from .. import cel  # the CEL evaluator (scheduler -> dra -> cel)

        cls = self.classes.get(spec.device_class_name)
        if cls is None:
            return None
        exprs = [sel.cel.expression for sel in list(cls.spec.selectors) + list(spec.selectors) if sel.cel is not None]
        try:
            compiled = [cel.compile_selector(e, consumable_capacity=True) for e in exprs]
        except cel.CelError:
            return None
        want = spec.capacity.requests if spec.capacity is not None else {}
        best: Optional[Fraction] = None
        for driver, device, dev in self.shapes:
            try:
                inp = cel.device_input(driver, device, consumable_capacity=True)
                if not all(c.matches(inp) for c in compiled):
                    continue
            except cel.CelError:
                continue
            # a shared device without a capacity request: the request policy's default (taken as all of it)
            units = _device_units(dev, want) if dev.shared else dev.units
            if best is None or units < best:
                best = units
        return best


def requested_gpu_units(claim: ResourceClaim, estimator: Optional[RequestEstimator] = None) -> Fraction:
    """An estimate before allocation, per request (``ExactCount``: ``count`` devices; ``All``: 1;
    ``firstAvailable``: the first subrequest): with ``estimator``, the fewest GPUs a matching
    device counts for; else (or when it knows no matching device) 1 per device when the device
    class name contains ``gpu``, 0 otherwise. The queue checks are repeated with the devices
    actually chosen, so an estimate below the truth never lets a queue over its limit."""
    total = Fraction(0)
    for req in claim.spec.devices.requests:
        spec = req.exactly if req.exactly is not None else (req.first_available[0] if req.first_available else None)
        if spec is None or getattr(spec, "admin_access", None):
            continue
        count = spec.count if spec.allocation_mode == "ExactCount" else 1
        unit = estimator.unit(spec) if estimator is not None else None
        if unit is None:
            unit = Fraction(1) if "gpu" in spec.device_class_name.lower() else Fraction(0)
        total += count * unit
    return total


def claim_gpu_units(claim: ResourceClaim, devices: Optional[dict[DeviceID, GpuDevice]] = None,
                    estimator: Optional[RequestEstimator] = None) -> Fraction:
    """GPUs a claim counts for in queue accounting.

    Allocated: the sum over its results of :func:`result_gpu_units` — with ``devices`` (from
    :func:`gpu_device_index`) a MIG device counts its memory slices' share of the GPU and a
    shared device its consumed capacity's share; without, every GPU-driver device counts 1.
    Not allocated: :func:`requested_gpu_units`."""
    alloc = claim.status.allocation
    if alloc is not None:
        return sum((result_gpu_units(r.driver, r.pool, r.device, r.admin_access, r.consumed_capacity, devices)
                    for r in alloc.devices.results), Fraction(0))
    return requested_gpu_units(claim, estimator)


# --- parse cache -------------------------------------------------------------------------------

_MISSING = object()


class SnapshotCache:
    """Decoded objects kept between :func:`build_snapshot` calls, like an informer cache.

    An object is reused when it comes back with the same ``metadata.uid`` and
    ``metadata.resourceVersion`` (the API server gives every change a new resourceVersion);
    objects without both are decoded every time. What is kept is only what depends on the
    object alone (typed models, requests, GPU demand, a node's resources, a claim generated from
    a template for a pod); everything that depends on other objects (priorities, claim
    references, groups, queues) is rebuilt each time, so the snapshot is the one
    ``build_snapshot(objects)`` makes without a cache. After a successful build, entries of
    objects that were not in it are dropped (deleted objects do not pile up). Not thread-safe.
    """

    __slots__ = ("_entries", "_used", "hits", "misses")

    def __init__(self) -> None:
        self._entries: dict[tuple, Any] = {}
        self._used: set[tuple] = set()
        self.hits = 0  # lookups answered from the cache (cumulative)
        self.misses = 0  # lookups that decoded (cumulative)

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:  # an empty cache is still a cache (``cache or SnapshotCache()`` keeps it)
        return True

    def clear(self) -> None:
        self._entries.clear()
        self._used.clear()

    def get(self, key: Optional[tuple], make: Any) -> Any:
        """``make()``, or what it returned for the same key before (``key`` None: no caching)."""
        if key is None:
            return make()
        self._used.add(key)
        value = self._entries.get(key, _MISSING)
        if value is not _MISSING:
            self.hits += 1
            return value
        self.misses += 1
        value = self._entries[key] = make()
        return value

    def _sweep(self) -> None:
        if len(self._used) != len(self._entries):
            self._entries = {k: v for k, v in self._entries.items() if k in self._used}
        self._used = set()


def _version_key(raw: dict[str, Any]) -> Optional[tuple]:
    """``(kind, apiVersion, uid, resourceVersion)``, or None when the object lacks uid or resourceVersion."""
    m = raw.get("metadata")
    if not isinstance(m, dict):
        return None
    uid, rv = m.get("uid"), m.get("resourceVersion")
    if not uid or not rv or not isinstance(uid, str) or not isinstance(rv, str):
        return None
    return (raw.get("kind"), raw.get("apiVersion"), uid, rv)


class _NoCache:
    """``SnapshotCache``'s interface without caching (``build_snapshot`` without a cache)."""

    @staticmethod
    def get(key: Optional[tuple], make: Any) -> Any:
        return make()

    @staticmethod
    def _sweep() -> None:
        pass


def _sub(key: Optional[tuple], *more: Any) -> Optional[tuple]:
    return None if key is None else (key, *more)


# --- nodes -------------------------------------------------------------------------------------


def _node_info(raw: dict[str, Any], dra_gpus: int) -> NodeInfo:
    typed = decode(raw)
    assert isinstance(typed, Node)
    key = ("", typed.metadata.name)
    alloc = dict(typed.status.capacity)
    alloc.update(typed.status.allocatable)
    vals = {name: _quantity("Node", key, f"status.allocatable[{name}]", v) for name, v in alloc.items()}
    cpu = vals.pop("cpu", Fraction(0)) * 1000
    memory = vals.pop("memory", Fraction(0))
    pods = vals.pop("pods", None)
    gpus = vals.pop(GPU_RESOURCE, Fraction(0))
    gpu_mem = None
    label = typed.metadata.labels.get(GPU_MEMORY_LABEL)
    if label is not None:
        try:
            gpu_mem = int(label)
        except ValueError:
            raise ValidationFailed([FieldError("Node", "", key[1], f"metadata.labels[{GPU_MEMORY_LABEL}]",
                                               f"Invalid value: {label!r}: must be an integer (MiB)")]) from None
        if gpu_mem <= 0:
            gpu_mem = None
    for k in ("ephemeral-storage", "hugepages-1Gi", "hugepages-2Mi"):
        vals.pop(k, None)
    return NodeInfo(
        name=typed.metadata.name,
        node=typed,
        cpu_milli=cpu,
        memory=memory,
        max_pods=int(pods) if pods is not None else DEFAULT_MAX_PODS,
        gpus=max(0, int(gpus)),
        gpu_memory_mib=gpu_mem,
        other=vals,
        dra_gpus=dra_gpus,
        unschedulable=bool(typed.spec.unschedulable),
        taints=tuple(t for t in typed.spec.taints if isinstance(t, dict)),
    )


# --- pods --------------------------------------------------------------------------------------


def _pod_priority(pod: Pod, classes: dict[str, PriorityClass], key: Key) -> int:
    if pod.spec.priority is not None:
        return pod.spec.priority
    value = kai.resolve_priority(pod.spec.priority_class_name, classes)
    if value is None:
        raise ValidationFailed([FieldError("Pod", key[0], key[1], "spec.priorityClassName",
                                           f'Not found: "{pod.spec.priority_class_name}": no PriorityClass with this name')])
    return value


def _pod_demand(pod: Pod) -> tuple[GpuDemand, tuple[Fraction, Fraction, dict[str, Fraction]]]:
    """What the pod alone asks for: GPUs, and CPU / memory / other requests."""
    demand = gpu_demand(pod)
    return demand, _split_requests(pod_requests(pod))


_DEMAND_KEY_SKIP = (GPUS_ANNOTATION, kai.PODGROUP_ANNOTATION)
_demand_encoder = msgspec.json.Encoder()


def _demand_key(pod: Pod) -> Optional[bytes]:
    """What :func:`_pod_demand` reads, as bytes: the containers, init containers, overhead and
    annotations (the binding's ``gpuplane.io/gpus`` and ``pod-group-name`` aside; the pod's name
    only names errors). Pods of one shape, and a pod bound since, share one quantity parsing.
    ``None`` if it cannot be encoded."""
    ann = pod.metadata.annotations
    if GPUS_ANNOTATION in ann or kai.PODGROUP_ANNOTATION in ann:
        ann = dict(ann)
        for k in _DEMAND_KEY_SKIP:
            ann.pop(k, None)
    try:
        return _demand_encoder.encode((pod.spec.containers, pod.spec.init_containers, pod.spec.overhead, ann))
    except (TypeError, ValueError, msgspec.EncodeError):
        return None


def _split_requests(reqs: dict[str, Fraction]) -> tuple[Fraction, Fraction, dict[str, Fraction]]:
    """``(cpu millicores, memory bytes, other requests)`` of a pod's requests."""
    other = dict(reqs)
    cpu = other.pop("cpu", Fraction(0)) * 1000
    memory = other.pop("memory", Fraction(0))
    other.pop(GPU_RESOURCE, None)
    other.pop("ephemeral-storage", None)
    return cpu, memory, other


def _held_gpus(pod: Pod) -> tuple[str, ...]:
    text = pod.metadata.annotations.get(GPUS_ANNOTATION, "")
    return tuple(sorted({p.strip() for p in text.split(",") if p.strip()}))


def _template_claim(tmpl_raw: dict[str, Any], pod_raw: dict[str, Any], pod: Pod, pod_claim_name: str) -> dict[str, Any]:
    """The claim the resource-claim controller makes from a template for a pod (deterministic)."""
    spec = tmpl_raw.get("spec") if isinstance(tmpl_raw.get("spec"), dict) else {}
    tmeta = spec.get("metadata") if isinstance(spec.get("metadata"), dict) else {}
    meta: dict[str, Any] = {"name": f"{pod.metadata.name}-{pod_claim_name}", "namespace": pod.metadata.namespace}
    if tmeta.get("labels"):
        meta["labels"] = copy.deepcopy(tmeta["labels"])
    annotations = dict(tmeta.get("annotations") or {})
    annotations[POD_CLAIM_NAME_ANNOTATION] = pod_claim_name
    meta["annotations"] = annotations
    owner = {"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name, "controller": True, "blockOwnerDeletion": True}
    if pod.metadata.uid:
        owner["uid"] = pod.metadata.uid
    meta["ownerReferences"] = [owner]
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": meta,
        "spec": copy.deepcopy(spec.get("spec") if isinstance(spec.get("spec"), dict) else {}),
    }


# --- building ----------------------------------------------------------------------------------

def _default_queue_raw() -> dict[str, Any]:
    """The implicit ``default-queue`` of ``queues_raw`` when the input has none."""
    return {
        "apiVersion": kai.QUEUE_API_VERSION, "kind": "Queue", "metadata": {"name": kai.DEFAULT_QUEUE},
        "spec": {"resources": {r: {"quota": 0, "overQuotaWeight": 1, "limit": -1} for r in ("gpu", "cpu", "memory")}},
    }


NO_GROUP: Key = ("", "")  # PodInfo.group of a pod without pod-group-name


def _pod_queue(pod: Pod, group: Optional[Key], podgroups: dict[Key, tuple[kai.PodGroup, dict[str, Any]]]) -> str:
    """The PodGroup's queue when it names one, else the pod's queue label."""
    pg = podgroups.get(group) if group else None
    return pg[0].spec.queue if pg and pg[0].spec.queue else kai.pod_queue_name(pod.metadata.labels)


def _pod_info(key: Key, raw: dict[str, Any], pod: Pod, demand: GpuDemand, cpu: Fraction, memory: Fraction,
              reqs: dict[str, Fraction], priority: int, refs: tuple[PodClaimRef, ...], scheduler_name: str,
              podgroups: dict[Key, tuple[kai.PodGroup, dict[str, Any]]]) -> PodInfo:
    """One pod's PodInfo (shared by the full build and the incremental one, so they cannot differ)."""
    group_name = pod.metadata.annotations.get(kai.PODGROUP_ANNOTATION, "")
    group = (key[0], group_name) if group_name else None
    preemptibility = pod.metadata.labels.get(kai.PREEMPTIBILITY_LABEL, "")
    return PodInfo(
        key=key, raw=raw, pod=pod, state=pod_state(pod),
        ours=pod.spec.scheduler_name == scheduler_name,
        node_name=pod.spec.node_name,
        queue=_pod_queue(pod, group, podgroups),
        group=group if group else NO_GROUP,
        priority=priority,
        preemptible=kai.is_preemptible(priority, preemptibility),
        cpu_milli=cpu, memory=memory, other=reqs, gpu=demand,
        claims=refs,
        creation=pod.metadata.creation_timestamp or "",
        held_gpus=_held_gpus(pod),
    )


def _group_fields(info: PodInfo) -> tuple[str, int, bool, str, str]:
    """All that :func:`_single_group` and :func:`_podgroup_info` read of a member pod (besides its
    key and group): a pod change that keeps these keeps its group's GroupInfo."""
    return (info.queue, info.priority, info.preemptible, info.creation,
            info.pod.metadata.labels.get(kai.PREEMPTIBILITY_LABEL, ""))


def _decode_claims(by_kind: dict[str, list[dict[str, Any]]], cache: Any) -> tuple[
        dict[Key, dict[str, Any]], dict[Key, ResourceClaim], dict[Key, dict[str, Any]], dict[Key, Optional[tuple]]]:
    """ResourceClaims and ResourceClaimTemplates decoded through ``cache``: the raw claims by key,
    their decoded forms, the raw templates by key, and the templates' version keys."""
    claims: dict[Key, dict[str, Any]] = {}
    typed_known: dict[Key, ResourceClaim] = {}
    templates: dict[Key, dict[str, Any]] = {}
    template_keys: dict[Key, Optional[tuple]] = {}
    for raw in by_kind.get("ResourceClaim", []):
        typed = cache.get(_version_key(raw), lambda: decode(raw))
        if typed is not None:
            claims[_key(raw)] = raw
            typed_known[_key(raw)] = typed
    for raw in by_kind.get("ResourceClaimTemplate", []):
        vkey = _version_key(raw)
        if cache.get(vkey, lambda: decode(raw)) is not None:
            templates[_key(raw)] = raw
            template_keys[_key(raw)] = vkey
    return claims, typed_known, templates, template_keys


def _claim_refs(raw: dict[str, Any], pod: Pod, key: Key, pkey: Optional[tuple], claims: dict[Key, dict[str, Any]],
                templates: dict[Key, dict[str, Any]], template_keys: dict[Key, Optional[tuple]], cache: Any,
                generated: set[Key], generated_keys: dict[Key, Optional[tuple]],
                errors: list[FieldError]) -> list[PodClaimRef]:
    """The pod's ``spec.resourceClaims`` as claim references; a claim made from a template is
    added to ``claims`` (and ``generated``), so pods must come in input order (a later pod sees it)."""
    refs: list[PodClaimRef] = []
    for i, rc in enumerate(pod.spec.resource_claims):
        if rc.resource_claim_name:
            ck = (key[0], rc.resource_claim_name)
            refs.append(PodClaimRef(rc.name, ck if ck in claims else None,
                                    "" if ck in claims else f"ResourceClaim {ck[0]}/{ck[1]} does not exist"))
        elif rc.resource_claim_template_name:
            ck = (key[0], f"{pod.metadata.name}-{rc.name}")
            tk = (key[0], rc.resource_claim_template_name)
            if ck in claims:
                refs.append(PodClaimRef(rc.name, ck))
            elif tk in templates:
                gen_key = None if template_keys.get(tk) is None else _sub(pkey, "claim", template_keys[tk], rc.name)
                claims[ck] = cache.get(gen_key, lambda: _template_claim(templates[tk], raw, pod, rc.name))
                generated_keys[ck] = gen_key
                generated.add(ck)
                refs.append(PodClaimRef(rc.name, ck))
            else:
                refs.append(PodClaimRef(rc.name, None, f"ResourceClaimTemplate {tk[0]}/{tk[1]} does not exist"))
        else:
            errors.append(FieldError("Pod", key[0], key[1], f"spec.resourceClaims[{i}]",
                                     "Required value: resourceClaimName or resourceClaimTemplateName"))
    return refs


def _single_group(info: PodInfo) -> GroupInfo:
    """The group of one of a pod without pod-group-name (key ``("pod", namespace, name)``)."""
    return GroupInfo(key=info.key, kind="Pod", min_member=1, queue=info.queue, priority=info.priority,
                     preemptible=info.preemptible, creation=info.creation, pods=(info.key,))


def _podgroup_info(gk: Key, members: tuple[Key, ...], pods: dict[Key, PodInfo],
                   pg_raw: Optional[tuple[kai.PodGroup, dict[str, Any]]],
                   classes_all: dict[str, PriorityClass]) -> GroupInfo | FieldError:
    """A PodGroup's gang (``members`` sorted), or the error of its unknown priorityClassName."""
    first = pods[members[0]] if members else None
    if pg_raw is not None:
        pg, raw = pg_raw
        min_member = max(1, kai.podgroup_min_pods(pg))  # with SubGroups: the fewest pods that satisfy the tree
        queue = pg.spec.queue or (first.queue if first else kai.DEFAULT_QUEUE)
        if pg.spec.priority_class_name:
            prio = kai.resolve_priority(pg.spec.priority_class_name, classes_all)
            if prio is None:
                return FieldError("PodGroup", gk[0], gk[1], "spec.priorityClassName",
                                  f'Not found: "{pg.spec.priority_class_name}": no PriorityClass with this name')
        else:
            prio = max((pods[m].priority for m in members), default=kai.DEFAULT_PODGROUP_PRIORITY)
        preemptibility = pg.spec.preemptibility or (
            first.pod.metadata.labels.get(kai.PREEMPTIBILITY_LABEL, "") if first else "")
        creation = pg.metadata.creation_timestamp or min((pods[m].creation for m in members), default="")
        return GroupInfo(key=gk, kind="PodGroup", min_member=min_member, queue=queue, priority=prio,
                         preemptible=kai.is_preemptible(prio, preemptibility), creation=creation,
                         pods=members, raw=raw)
    # pods name a PodGroup that is not in the snapshot: schedule them as one group, minMember 1
    assert first is not None
    return GroupInfo(key=gk, kind="PodGroup", min_member=1, queue=first.queue,
                     priority=max(pods[m].priority for m in members), preemptible=first.preemptible,
                     creation=min(pods[m].creation for m in members), pods=members)



def build_snapshot(objects: list[dict[str, Any]], scheduler_name: str = DEFAULT_SCHEDULER_NAME,
                   cache: Optional[SnapshotCache] = None) -> Snapshot:
    """Build the snapshot from converted, defaulted, validated v1 dicts (see ``cli.main.load_inputs``).

    Objects of kinds outside :data:`USED_KINDS` are skipped. Raises ``ValidationFailed``.
    ``cache``: reuse what earlier builds decoded for unchanged objects (see :class:`SnapshotCache`);
    the snapshot is the same as without it."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_kind.setdefault(str(obj.get("kind")), []).append(obj)
    snap = _build(by_kind, scheduler_name, cache if cache is not None else _NoCache())
    if cache is not None:
        cache._sweep()
    return snap


def _build(by_kind: dict[str, list[dict[str, Any]]], scheduler_name: str, cache: Any,
           ctx: Optional[dict[str, Any]] = None) -> Snapshot:
    """``by_kind``: the objects grouped by ``str(kind)``, in input order within each kind (read only).
    ``ctx``: filled with what :class:`~gpuplane.scheduler.snapshot_state.SnapshotState` keeps
    between builds (typed PodGroups, priority classes, Topologies, group members)."""
    errors: list[FieldError] = []

    # priority classes
    pcs: dict[str, PriorityClass] = {}
    for raw in by_kind.get("PriorityClass", []):
        try:
            pc = cache.get(_version_key(raw), lambda: decode_priority_class(raw))
        except ValidationFailed as err:
            errors.extend(err.errors)
            continue
        pcs[pc.metadata.name] = pc
    classes_all = {**kai.builtin_priority_classes(), **pcs}

    # KAI objects
    queues: list[kai.Queue] = []
    queues_raw: dict[str, dict[str, Any]] = {}
    podgroups: dict[Key, tuple[kai.PodGroup, dict[str, Any]]] = {}
    topologies: list[kai.Topology] = []
    for kind in ("Queue", "PodGroup", "Topology"):
        for raw in by_kind.get(kind, []):
            try:
                typed = cache.get(_version_key(raw), lambda: kai.decode_and_validate_kai(raw))
            except ValidationFailed as err:
                errors.extend(err.errors)
                continue
            if typed is None:
                continue  # another API group using the same kind name
            if isinstance(typed, kai.Queue):
                queues.append(typed)
                queues_raw[typed.metadata.name] = raw
            elif isinstance(typed, kai.PodGroup):
                podgroups[(typed.metadata.namespace or "default", typed.metadata.name)] = (typed, raw)
            else:
                topologies.append(typed)
    errors.extend(kai.validate_kai_objects(queues, [pg for pg, _ in podgroups.values()], topologies))
    if errors:
        raise ValidationFailed(errors)
    tree = QueueTree.from_queues(queues)
    if kai.DEFAULT_QUEUE not in queues_raw:
        queues_raw[kai.DEFAULT_QUEUE] = _default_queue_raw()

    # DRA objects
    classes: dict[str, DeviceClass] = {}
    slices: list[ResourceSlice] = []
    for raw in by_kind.get("DeviceClass", []):
        typed = cache.get(_version_key(raw), lambda: decode(raw))
        if isinstance(typed, DeviceClass):
            classes[typed.metadata.name] = typed
    for raw in by_kind.get("ResourceSlice", []):
        typed = cache.get(_version_key(raw), lambda: decode(raw))
        if isinstance(typed, ResourceSlice):
            slices.append(typed)
    # typed_known: claims decoded here (not decoded a second time below)
    claims, typed_known, templates, template_keys = _decode_claims(by_kind, cache)
    dra_gpus_on = node_gpu_capacity(slices)

    # nodes
    nodes: list[NodeInfo] = []
    for raw in by_kind.get("Node", []):
        vkey = _version_key(raw)
        try:
            typed = cache.get(vkey, lambda: decode(raw))
        except ValidationFailed as err:
            errors.extend(err.errors)
            continue
        if isinstance(typed, Node):
            dra = dra_gpus_on.get(typed.metadata.name, 0)
            try:
                nodes.append(cache.get(_sub(vkey, "info", dra), lambda: _node_info(raw, dra)))
            except ValidationFailed as err:
                errors.extend(err.errors)
    nodes.sort(key=lambda n: n.name)

    # pods
    pods: dict[Key, PodInfo] = {}
    generated: set[Key] = set()
    generated_keys: dict[Key, Optional[tuple]] = {}  # generated claim -> its cache key
    group_members: dict[Key, list[Key]] = {}
    for raw in by_kind.get("Pod", []):
        if raw.get("apiVersion") != "v1":
            continue
        pkey = _version_key(raw)
        try:
            pod = cache.get(pkey, lambda: decode_pod(raw))
            key = (pod.metadata.namespace or "default", pod.metadata.name)
            if key in pods:
                raise ValidationFailed([FieldError("Pod", key[0], key[1], "metadata.name", f'Duplicate value: "{key[1]}"')])
            demand, (cpu, memory, reqs) = cache.get(_sub(pkey, "demand"), lambda: _pod_demand(pod))
            priority = _pod_priority(pod, classes_all, key)
        except ValidationFailed as err:
            errors.extend(err.errors)
            continue
        reqs = dict(reqs)  # each PodInfo has its own
        refs = _claim_refs(raw, pod, key, pkey, claims, templates, template_keys, cache, generated, generated_keys,
                           errors)
        info = _pod_info(key, raw, pod, demand, cpu, memory, reqs, priority, tuple(refs), scheduler_name, podgroups)
        pods[key] = info
        if info.group != NO_GROUP:
            group_members.setdefault(info.group, []).append(key)
    if errors:
        raise ValidationFailed(errors)

    typed_claims: dict[Key, ResourceClaim] = {}
    for ck, raw in claims.items():
        typed = typed_known.get(ck)
        typed_claims[ck] = typed if typed is not None else cache.get(_sub(generated_keys.get(ck), "typed"),
                                                                     lambda: decode(raw))

    # groups
    groups: dict[Key, GroupInfo] = {}
    for key, info in pods.items():
        if info.group == NO_GROUP:
            groups[("pod", *key)] = _single_group(info)  # type: ignore[index]
    for gk in set(group_members) | set(podgroups):
        group = _podgroup_info(gk, tuple(sorted(group_members.get(gk, []))), pods, podgroups.get(gk), classes_all)
        if isinstance(group, FieldError):
            errors.append(group)
        else:
            groups[gk] = group
    if errors:
        raise ValidationFailed(errors)
    if ctx is not None:
        ctx.update(podgroups=podgroups, classes_all=classes_all, topologies=topologies, group_members=group_members)

    mems = [n.gpu_memory_mib for n in nodes if n.gpu_memory_mib]
    return Snapshot(
        nodes=tuple(nodes),
        pods=dict(sorted(pods.items())),
        groups=dict(sorted(groups.items())),
        tree=tree,
        queues_raw=dict(sorted(queues_raw.items())),
        priority_classes=classes_all,
        classes=classes,
        slices=tuple(slices),
        claims=dict(sorted(claims.items())),
        typed_claims=typed_claims,
        generated_claims=frozenset(generated),
        scheduler_name=scheduler_name,
        min_gpu_memory_mib=min(mems) if mems else None,
        topologies=tuple(msgspec.to_builtins(t) for t in topologies),
    )


def pod_affinity_selector(pod: Pod) -> Optional[NodeSelector]:
    """``requiredDuringSchedulingIgnoredDuringExecution`` of the pod's node affinity, typed."""
    aff = pod.spec.affinity or {}
    na = aff.get("nodeAffinity") if isinstance(aff, dict) else None
    req = na.get("requiredDuringSchedulingIgnoredDuringExecution") if isinstance(na, dict) else None
    if not isinstance(req, dict):
        return None
    try:
        return msgspec.convert(req, NodeSelector)
    except msgspec.ValidationError:
        return None


__all__ += ["pod_affinity_selector", "PodClaimRef", "PENDING", "RUNNING", "RELEASING", "SUCCEEDED", "FAILED"]
