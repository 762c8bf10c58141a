"""KAI Scheduler kinds: Queue (``scheduling.run.ai/v2``), PodGroup (``scheduling.run.ai/v2alpha2``),
Topology (``kai.scheduler/v1alpha1``), plus KAI's implicit objects and label conventions.

Field names are KAI's (see ``shared/reference/kai-semantics.md`` §2), so KAI users' manifests
decode unchanged. Validation returns apiserver-style :class:`~gpuplane.api.errors.FieldError`
entries (``Kind/ns/name: path: message``):

- :func:`validate_queue`, :func:`validate_podgroup`, :func:`validate_topology`: one object.
- :func:`validate_kai_objects`: across objects (duplicate names, unknown parent queue, cycles
  in the queue hierarchy, PodGroup topology references to unknown Topologies or levels).
- :func:`decode_kai` / :func:`decode_and_validate_kai`: dict -> model (-> checked).

Queue resource semantics (KAI): for ``quota`` and ``limit`` the value ``-1`` means unlimited
(a quota of -1 deserves everything its parent has); any other negative value is invalid.
``overQuotaWeight`` >= 0; 0 means no share of what is left over above quota.

Defaults for fields left out (see docs/fairness.md, "Omitted fields"): quota 0, limit -1
(unlimited), overQuotaWeight 1, priority 100.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Union

import msgspec

from .core import PriorityClass, decode_typed
from .errors import FieldError, ValidationFailed
from .models import Base, ObjectMeta, QuantityValue
from .validation import _dns1123_label, _dns1123_subdomain, _qualified_name  # same messages as the DRA kinds

__all__ = [
    "Queue",
    "QueueSpec",
    "QueueResources",
    "QueueResource",
    "QueueStatus",
    "PodGroup",
    "PodGroupSpec",
    "SubGroup",
    "TopologyConstraint",
    "Topology",
    "TopologyLevel",
    "QUEUE_API_VERSION",
    "PODGROUP_API_VERSION",
    "TOPOLOGY_API_VERSION",
    "DEFAULT_QUEUE",
    "UNLIMITED",
    "BUILTIN_PRIORITY_CLASSES",
    "decode_kai",
    "decode_and_validate_kai",
    "validate_queue",
    "validate_podgroup",
    "validate_topology",
    "validate_kai_objects",
    "subgroup_membership_errors",
    "podgroup_min_pods",
    "implicit_default_queue",
    "with_default_queue",
    "builtin_priority_classes",
    "resolve_priority",
    "is_preemptible",
    "pod_queue_name",
    "parse_duration",
    "resource_values",
    "ResourceValues",
    "queue_priority",
    "topology_level_index",
]

QUEUE_API_VERSION = "scheduling.run.ai/v2"
PODGROUP_API_VERSION = "scheduling.run.ai/v2alpha2"
TOPOLOGY_API_VERSION = "kai.scheduler/v1alpha1"

DEFAULT_QUEUE = "default-queue"
UNLIMITED = -1.0
DEFAULT_QUEUE_PRIORITY = 100
DEFAULT_QUOTA = 0.0
DEFAULT_LIMIT = UNLIMITED
DEFAULT_OVER_QUOTA_WEIGHT = 1.0
QUEUE_RESOURCES = ("gpu", "cpu", "memory")

QUEUE_LABEL = "kai.scheduler/queue"
LEGACY_QUEUE_LABEL = "runai/queue"
PROJECT_LABEL = "project"
PREEMPTIBILITY_LABEL = "kai.scheduler/preemptibility"
SUBGROUP_LABEL = "kai.scheduler/subgroup-name"
PODGROUP_ANNOTATION = "pod-group-name"
HOSTNAME_LABEL = "kubernetes.io/hostname"

PREEMPTIBLE = "preemptible"
NON_PREEMPTIBLE = "non-preemptible"
PREEMPTIBILITY_VALUES = (PREEMPTIBLE, NON_PREEMPTIBLE)
NON_PREEMPTIBLE_MIN_PRIORITY = 100

BUILTIN_PRIORITY_CLASSES: dict[str, int] = {
    "train": 50,
    "build-preemptible": 75,
    "build": 100,
    "inference": 125,
}
DEFAULT_PODGROUP_PRIORITY = 50
TOPOLOGY_MAX_LEVELS = 16


# --- Queue -----------------------------------------------------------------------------------


class QueueResource(Base):
    quota: Optional[float] = None
    over_quota_weight: Optional[float] = None
    limit: Optional[float] = None


class QueueResources(Base):
    gpu: Optional[QueueResource] = None
    cpu: Optional[QueueResource] = None  # millicores
    memory: Optional[QueueResource] = None  # MB (10^6 bytes)


class QueueSpec(Base):
    display_name: str = ""
    parent_queue: str = ""
    priority: Optional[int] = None
    preempt_min_runtime: Optional[str] = None
    reclaim_min_runtime: Optional[str] = None
    resources: Optional[QueueResources] = None


class QueueCondition(Base):
    type: str = ""
    status: str = ""
    reason: str = ""
    message: str = ""
    last_probe_time: Optional[str] = None
    last_transition_time: Optional[str] = None


class QueueStatus(Base):
    conditions: list[QueueCondition] = []
    child_queues: list[str] = []
    allocated: dict[str, QuantityValue] = {}
    allocated_non_preemptible: dict[str, QuantityValue] = {}
    requested: dict[str, QuantityValue] = {}


class Queue(Base):
    api_version: str = QUEUE_API_VERSION
    kind: str = "Queue"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: QueueSpec = msgspec.field(default_factory=QueueSpec)
    status: QueueStatus = msgspec.field(default_factory=QueueStatus)


@dataclass(frozen=True)
class ResourceValues:
    """One queue resource with defaults applied: ``-1`` = unlimited for quota and limit."""

    quota: float = DEFAULT_QUOTA
    over_quota_weight: float = DEFAULT_OVER_QUOTA_WEIGHT
    limit: float = DEFAULT_LIMIT


def resource_values(queue: Queue, resource: str) -> ResourceValues:
    """``spec.resources.<resource>`` of a queue with the defaults for omitted fields."""
    res = queue.spec.resources
    r: Optional[QueueResource] = getattr(res, resource) if res is not None else None
    if r is None:
        return ResourceValues()
    return ResourceValues(
        quota=DEFAULT_QUOTA if r.quota is None else float(r.quota),
        over_quota_weight=DEFAULT_OVER_QUOTA_WEIGHT if r.over_quota_weight is None else float(r.over_quota_weight),
        limit=DEFAULT_LIMIT if r.limit is None else float(r.limit),
    )


def queue_priority(queue: Queue) -> int:
    return DEFAULT_QUEUE_PRIORITY if queue.spec.priority is None else queue.spec.priority


# --- PodGroup --------------------------------------------------------------------------------


class TopologyConstraint(Base):
    topology: str = ""
    required_topology_level: str = ""
    preferred_topology_level: str = ""


class SubGroup(Base):
    name: str = ""
    min_member: Optional[int] = None
    min_sub_group: Optional[int] = None
    parent: Optional[str] = None
    topology_constraint: Optional[TopologyConstraint] = None


class PodGroupSpec(Base):
    min_member: Optional[int] = None
    min_sub_group: Optional[int] = None
    queue: str = ""
    priority_class_name: str = ""
    preemptibility: str = ""
    topology_constraint: Optional[TopologyConstraint] = None
    sub_groups: list[SubGroup] = []
    mark_unschedulable: Optional[bool] = None
    scheduling_backoff: Optional[int] = None
    preemption_delay: Optional[str] = None
    staleness_grace_period: Optional[str] = None


class PodGroupStatus(Base):
    conditions: list[dict[str, Any]] = []
    scheduling_conditions: list[dict[str, Any]] = []
    resources_status: Optional[dict[str, Any]] = None


class PodGroup(Base):
    api_version: str = PODGROUP_API_VERSION
    kind: str = "PodGroup"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PodGroupSpec = msgspec.field(default_factory=PodGroupSpec)
    status: PodGroupStatus = msgspec.field(default_factory=PodGroupStatus)


# --- Topology --------------------------------------------------------------------------------


class TopologyLevel(Base):
    node_label: str = ""
    alias: str = ""


class TopologySpec(Base):
    levels: list[TopologyLevel] = []


class Topology(Base):
    api_version: str = TOPOLOGY_API_VERSION
    kind: str = "Topology"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: TopologySpec = msgspec.field(default_factory=TopologySpec)


KaiObject = Union[Queue, PodGroup, Topology]
_MODELS: dict[tuple[str, str], type] = {
    (QUEUE_API_VERSION, "Queue"): Queue,
    (PODGROUP_API_VERSION, "PodGroup"): PodGroup,
    (TOPOLOGY_API_VERSION, "Topology"): Topology,
}


def decode_kai(obj: dict) -> Optional[KaiObject]:
    """Decode a Queue/PodGroup/Topology of KAI's served version; ``None`` for other objects.

    Another version of a KAI kind (e.g. ``scheduling.run.ai/v2alpha1`` PodGroup) is an error.
    """
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    model = _MODELS.get((api_version, kind))
    if model is None:
        wanted = {k: v for (v, k) in _MODELS}
        if kind in wanted and isinstance(api_version, str) and api_version.split("/")[0] == wanted[kind].split("/")[0]:
            meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
            raise ValidationFailed([FieldError(kind, str(meta.get("namespace", "") or ""), str(meta.get("name", "") or ""),
                                               "apiVersion", f"Unsupported value: {api_version!r}: supported values: {wanted[kind]!r}")])
        return None
    return decode_typed(obj, model, kind)


def decode_and_validate_kai(obj: dict) -> Optional[KaiObject]:
    typed = decode_kai(obj)
    if typed is None:
        return None
    if isinstance(typed, Queue):
        errs = validate_queue(typed)
    elif isinstance(typed, PodGroup):
        errs = validate_podgroup(typed)
    else:
        errs = validate_topology(typed)
    if errs:
        raise ValidationFailed(errs)
    return typed


# --- message helpers -------------------------------------------------------------------------

def _label_errors(value: str) -> list[str]:
    return list(_dns1123_label(value))


def _subdomain_errors(value: str) -> list[str]:
    return list(_dns1123_subdomain(value))


def _qualified_name_errors(value: str) -> list[str]:
    return list(_qualified_name(value))


def _go(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _invalid(value: Any, detail: str) -> str:
    return f"Invalid value: {_go(value)}: {detail}"


class _Errs:
    def __init__(self, kind: str, namespace: str, name: str) -> None:
        self.kind, self.namespace, self.name = kind, namespace, name
        self.items: list[FieldError] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(FieldError(self.kind, self.namespace, self.name, path, message))


def _meta_name(meta: ObjectMeta, errs: _Errs, label: bool = False) -> None:
    if not meta.name:
        errs.add("metadata.name", "Required value: name or generateName is required")
        return
    for msg in (_label_errors if label else _subdomain_errors)(meta.name):
        errs.add("metadata.name", _invalid(meta.name, msg))


# --- durations -------------------------------------------------------------------------------

_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Go's ``time.ParseDuration`` (``"1h30m"``, ``"-5s"``, ``"0"``) in seconds; ``ValueError`` if invalid."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"invalid duration {text!r}")
    s, sign = text, 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    pos, total = 0, 0.0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            raise ValueError(f"invalid duration {text!r}")
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def _check_duration(value: Optional[str], path: str, errs: _Errs, allow_negative: bool) -> None:
    if value is None:
        return
    try:
        seconds = parse_duration(value)
    except ValueError:
        errs.add(path, _invalid(value, "must be a duration such as \"30s\", \"5m\" or \"1h30m\""))
        return
    if seconds < 0 and not allow_negative:
        errs.add(path, _invalid(value, "must be greater than or equal to 0"))


# --- Queue validation ------------------------------------------------------------------------


def _finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


def validate_queue(queue: Queue) -> list[FieldError]:
    """Single-object checks of a Queue (hierarchy checks are in :func:`validate_kai_objects`)."""
    errs = _Errs("Queue", "", queue.metadata.name)
    _meta_name(queue.metadata, errs)
    spec = queue.spec
    if spec.parent_queue:
        for msg in _subdomain_errors(spec.parent_queue):
            errs.add("spec.parentQueue", _invalid(spec.parent_queue, msg))
        if spec.parent_queue == queue.metadata.name:
            errs.add("spec.parentQueue", _invalid(spec.parent_queue, "a queue cannot be its own parent"))
    _check_duration(spec.preempt_min_runtime, "spec.preemptMinRuntime", errs, allow_negative=False)
    _check_duration(spec.reclaim_min_runtime, "spec.reclaimMinRuntime", errs, allow_negative=False)
    res = spec.resources
    if res is not None:
        for rname in QUEUE_RESOURCES:
            r: Optional[QueueResource] = getattr(res, rname)
            if r is None:
                continue
            base = f"spec.resources.{rname}"
            ok = {}
            for field, value in (("quota", r.quota), ("limit", r.limit)):
                if value is None:
                    continue
                if not _finite(value):
                    errs.add(f"{base}.{field}", _invalid(value, "must be a finite number"))
                elif value < 0 and value != UNLIMITED:
                    errs.add(f"{base}.{field}", _invalid(value, "must be -1 (unlimited) or greater than or equal to 0"))
                else:
                    ok[field] = value
            if r.over_quota_weight is not None:
                w = r.over_quota_weight
                if not _finite(w):
                    errs.add(f"{base}.overQuotaWeight", _invalid(w, "must be a finite number"))
                elif w < 0:
                    errs.add(f"{base}.overQuotaWeight", _invalid(w, "must be greater than or equal to 0"))
            q, lim = ok.get("quota"), ok.get("limit")
            if q is not None and lim is not None and lim != UNLIMITED and (q == UNLIMITED or q > lim):
                errs.add(f"{base}.quota", _invalid(q, f"must be less than or equal to limit ({_go(lim)})"))
    return errs.items


# --- PodGroup validation ---------------------------------------------------------------------


def _check_topology_constraint(tc: Optional[TopologyConstraint], path: str, errs: _Errs) -> None:
    if tc is None:
        return
    if (tc.required_topology_level or tc.preferred_topology_level) and not tc.topology:
        errs.add(f"{path}.topology", "Required value: a topology is required when a topology level is set")
    if tc.topology:
        for msg in _subdomain_errors(tc.topology):
            errs.add(f"{path}.topology", _invalid(tc.topology, msg))


def validate_podgroup(pg: PodGroup) -> list[FieldError]:
    """Single-object checks of a PodGroup: gang sizes, the SubGroup tree, enums, durations."""
    errs = _Errs("PodGroup", pg.metadata.namespace, pg.metadata.name)
    _meta_name(pg.metadata, errs)
    spec = pg.spec
    if spec.min_member is not None and spec.min_member < 0:
        errs.add("spec.minMember", _invalid(spec.min_member, "must be greater than or equal to 0"))
    if spec.min_sub_group is not None and spec.min_sub_group < 0:
        errs.add("spec.minSubGroup", _invalid(spec.min_sub_group, "must be greater than or equal to 0"))
    if spec.min_member is not None and spec.min_sub_group is not None:
        errs.add("spec", "Invalid value: \"object\": minMember and minSubGroup are mutually exclusive")
    if spec.queue:
        for msg in _subdomain_errors(spec.queue):
            errs.add("spec.queue", _invalid(spec.queue, msg))
    if spec.preemptibility and spec.preemptibility not in PREEMPTIBILITY_VALUES:
        errs.add("spec.preemptibility", f"Unsupported value: {_go(spec.preemptibility)}: supported values: \"preemptible\", \"non-preemptible\"")
    if spec.scheduling_backoff is not None and spec.scheduling_backoff not in (-1, 1):
        errs.add("spec.schedulingBackoff", f"Unsupported value: {spec.scheduling_backoff}: supported values: \"-1\", \"1\"")
    _check_duration(spec.preemption_delay, "spec.preemptionDelay", errs, allow_negative=False)
    _check_duration(spec.staleness_grace_period, "spec.stalenessGracePeriod", errs, allow_negative=True)
    _check_topology_constraint(spec.topology_constraint, "spec.topologyConstraint", errs)

    names: dict[str, int] = {}
    for i, sg in enumerate(spec.sub_groups):
        path = f"spec.subGroups[{i}]"
        if not sg.name:
            errs.add(f"{path}.name", "Required value")
        else:
            for msg in _label_errors(sg.name):
                errs.add(f"{path}.name", _invalid(sg.name, msg))
            if sg.name in names:
                errs.add(f"{path}.name", f"Duplicate value: {_go(sg.name)}")
            else:
                names[sg.name] = i
        if sg.min_member is not None and sg.min_member < 0:
            errs.add(f"{path}.minMember", _invalid(sg.min_member, "must be greater than or equal to 0"))
        if sg.min_sub_group is not None and sg.min_sub_group < 0:
            errs.add(f"{path}.minSubGroup", _invalid(sg.min_sub_group, "must be greater than or equal to 0"))
        if sg.min_member is not None and sg.min_sub_group is not None:
            errs.add(path, "Invalid value: \"object\": minMember and minSubGroup are mutually exclusive")
        _check_topology_constraint(sg.topology_constraint, f"{path}.topologyConstraint", errs)

    children: dict[Optional[str], int] = {}
    for i, sg in enumerate(spec.sub_groups):
        if sg.parent is not None:
            if sg.parent not in names:
                errs.add(f"spec.subGroups[{i}].parent", f"Not found: {_go(sg.parent)}")
                continue
            if sg.parent == sg.name:
                errs.add(f"spec.subGroups[{i}].parent", _invalid(sg.parent, "a SubGroup cannot be its own parent"))
                continue
        children[sg.parent] = children.get(sg.parent, 0) + 1
    # cycles among SubGroups
    parent_of = {sg.name: sg.parent for sg in spec.sub_groups if sg.name}
    reported: set[str] = set()
    for i, sg in enumerate(spec.sub_groups):
        seen, cur = set(), sg.name
        while cur is not None and cur in parent_of and cur not in seen:
            seen.add(cur)
            cur = parent_of[cur]
        if cur is not None and cur in seen and cur == sg.name and sg.name not in reported and sg.parent != sg.name:
            reported.update(seen)
            errs.add(f"spec.subGroups[{i}].parent", _invalid(sg.parent, "SubGroup parents form a cycle: " + " -> ".join(_cycle(parent_of, sg.name))))
    # minSubGroup counts direct children
    if spec.sub_groups and spec.min_sub_group is not None and spec.min_sub_group > children.get(None, 0):
        errs.add("spec.minSubGroup", _invalid(spec.min_sub_group, f"must be less than or equal to the number of top-level SubGroups ({children.get(None, 0)})"))
    for i, sg in enumerate(spec.sub_groups):
        if sg.min_sub_group is not None and sg.min_sub_group >= 0:
            n = children.get(sg.name, 0)
            if n == 0:
                errs.add(f"spec.subGroups[{i}].minSubGroup", _invalid(sg.min_sub_group, "minSubGroup can only be set on a SubGroup that has child SubGroups"))
            elif sg.min_sub_group > n:
                errs.add(f"spec.subGroups[{i}].minSubGroup", _invalid(sg.min_sub_group, f"must be less than or equal to the number of child SubGroups ({n})"))
        if sg.min_member is not None and sg.min_sub_group is None and sg.name and children.get(sg.name, 0):
            errs.add(f"spec.subGroups[{i}].minMember", _invalid(sg.min_member, "minMember can only be set on a leaf SubGroup (this one has child SubGroups; use minSubGroup)"))
    return errs.items


def podgroup_min_pods(pg: PodGroup) -> int:
    """The fewest pods that satisfy a PodGroup's gang: ``minMember``; with SubGroups, the
    smallest sum over the SubGroup tree (a leaf's ``minMember``, omitted = 1; an inner
    SubGroup's or the root's ``minSubGroup`` cheapest children, omitted = all), and at least
    ``spec.minMember`` when that is set too. Assumes a valid PodGroup."""
    spec = pg.spec
    if not spec.sub_groups:
        return spec.min_member or 0
    kids: dict[Optional[str], list[SubGroup]] = {}
    for sg in spec.sub_groups:
        kids.setdefault(sg.parent, []).append(sg)

    def need(children: list[SubGroup], required: Optional[int], depth: int) -> int:
        if depth > len(spec.sub_groups):
            return 0  # a cycle (reported by validate_podgroup)
        costs = sorted(cost(c, depth + 1) for c in children)
        return sum(costs[: len(costs) if required is None else max(0, required)])

    def cost(sg: SubGroup, depth: int) -> int:
        children = kids.get(sg.name, [])
        if not children:
            return 1 if sg.min_member is None else max(0, sg.min_member)
        return need(children, sg.min_sub_group, depth)

    return max(need(kids.get(None, []), spec.min_sub_group, 0), spec.min_member or 0)


def subgroup_membership_errors(pg: PodGroup, pods: Iterable[tuple[str, str, dict[str, str]]]) -> list[FieldError]:
    """Pods (``(namespace, name, labels)``) of a PodGroup whose ``kai.scheduler/subgroup-name``
    label names no SubGroup of it, or a SubGroup with children (pods join leaf SubGroups). The
    scheduler leaves such pods pending with this finding as the reason (reason
    ``SubGroupNotFound``); ``gpuplane`` input checks may report it as an error."""
    subs = {sg.name for sg in pg.spec.sub_groups if sg.name}
    parents = {sg.parent for sg in pg.spec.sub_groups if sg.parent}
    ref = f"{pg.metadata.namespace or 'default'}/{pg.metadata.name}"
    out: list[FieldError] = []
    path = f"metadata.labels[{SUBGROUP_LABEL}]"
    for ns, name, labels in pods:
        want = (labels or {}).get(SUBGROUP_LABEL, "")
        if not want:
            continue
        if want not in subs:
            known = ", ".join(_go(n) for n in sorted(subs)) or "none"
            out.append(FieldError("Pod", ns, name, path, f"Not found: {_go(want)}: PodGroup {ref} has no SubGroup with this name (its SubGroups: {known})"))
        elif want in parents:
            out.append(FieldError("Pod", ns, name, path, _invalid(want, f"SubGroup {want} of PodGroup {ref} has child SubGroups; pods join leaf SubGroups only")))
    return out


def _cycle(parent_of: dict[str, Optional[str]], start: str) -> list[str]:
    out, cur = [start], parent_of.get(start)
    while cur is not None and cur != start and len(out) <= len(parent_of):
        out.append(cur)
        cur = parent_of.get(cur)
    out.append(start)
    return out


# --- Topology validation ---------------------------------------------------------------------


def validate_topology(topo: Topology) -> list[FieldError]:
    errs = _Errs("Topology", "", topo.metadata.name)
    _meta_name(topo.metadata, errs)
    levels = topo.spec.levels
    if not levels:
        errs.add("spec.levels", "Required value: at least 1 level is required")
    elif len(levels) > TOPOLOGY_MAX_LEVELS:
        errs.add("spec.levels", f"Too many: {len(levels)}: must have at most {TOPOLOGY_MAX_LEVELS} items")
    labels: set[str] = set()
    aliases: set[str] = set()
    for i, lvl in enumerate(levels):
        path = f"spec.levels[{i}]"
        if not lvl.node_label:
            errs.add(f"{path}.nodeLabel", "Required value")
        else:
            for msg in _qualified_name_errors(lvl.node_label):
                errs.add(f"{path}.nodeLabel", _invalid(lvl.node_label, msg))
            if lvl.node_label in labels:
                errs.add(f"{path}.nodeLabel", f"Duplicate value: {_go(lvl.node_label)}")
            labels.add(lvl.node_label)
            if lvl.node_label == HOSTNAME_LABEL and i != len(levels) - 1:
                errs.add(f"{path}.nodeLabel", _invalid(lvl.node_label, f"{HOSTNAME_LABEL} may only be the last level"))
        if lvl.alias:
            if lvl.alias in aliases or (lvl.alias in labels and lvl.alias != lvl.node_label):
                errs.add(f"{path}.alias", f"Duplicate value: {_go(lvl.alias)}")
            aliases.add(lvl.alias)
    return errs.items


def topology_level_index(topo: Topology, level: str) -> int:
    """Index (0 = top) of a level given by node label or alias; -1 if unknown."""
    for i, lvl in enumerate(topo.spec.levels):
        if level == lvl.node_label or (lvl.alias and level == lvl.alias):
            return i
    return -1


# --- cross-object validation -----------------------------------------------------------------


def validate_kai_objects(
    queues: Iterable[Queue] = (),
    podgroups: Iterable[PodGroup] = (),
    topologies: Iterable[Topology] = (),
) -> list[FieldError]:
    """Checks across objects: duplicate names, unknown parent queues, cycles in the queue
    hierarchy, PodGroup topology constraints naming unknown Topologies or levels, or a
    preferred level above the required one. (A PodGroup naming an unknown queue is not an
    input error: KAI leaves it unscheduled with reason ``QueueDoesNotExist``.)"""
    queues, podgroups, topologies = list(queues), list(podgroups), list(topologies)
    errors: list[FieldError] = []
    by_name: dict[str, Queue] = {}
    for q in queues:
        if q.metadata.name in by_name:
            errors.append(FieldError("Queue", "", q.metadata.name, "metadata.name", f"Duplicate value: {_go(q.metadata.name)}"))
        else:
            by_name[q.metadata.name] = q
    for q in queues:
        parent = q.spec.parent_queue
        if parent and parent != q.metadata.name and parent not in by_name:
            errors.append(FieldError("Queue", "", q.metadata.name, "spec.parentQueue",
                                     f"Not found: {_go(parent)}: parent queue does not exist"))
    # cycles: walk each queue's parent chain
    in_cycle: set[str] = set()
    for name in sorted(by_name):
        chain, cur = [], name
        while cur and cur in by_name and cur not in chain:
            chain.append(cur)
            cur = by_name[cur].spec.parent_queue
        if cur and cur in chain:
            cyc = chain[chain.index(cur):]
            if len(cyc) > 1 and not in_cycle.intersection(cyc):
                in_cycle.update(cyc)
                first = min(cyc)
                k = cyc.index(first)
                ordered = cyc[k:] + cyc[:k] + [first]
                errors.append(FieldError("Queue", "", first, "spec.parentQueue",
                                         _invalid(by_name[first].spec.parent_queue,
                                                  "queue hierarchy has a cycle: " + " -> ".join(ordered))))

    topo_by_name = {t.metadata.name: t for t in topologies}
    seen_pg: set[tuple[str, str]] = set()
    for pg in podgroups:
        key = (pg.metadata.namespace, pg.metadata.name)
        if key in seen_pg:
            errors.append(FieldError("PodGroup", key[0], key[1], "metadata.name", f"Duplicate value: {_go(key[1])}"))
        seen_pg.add(key)
        constraints = [("spec.topologyConstraint", pg.spec.topology_constraint)]
        constraints += [(f"spec.subGroups[{i}].topologyConstraint", sg.topology_constraint) for i, sg in enumerate(pg.spec.sub_groups)]
        for path, tc in constraints:
            if tc is None or not tc.topology:
                continue
            topo = topo_by_name.get(tc.topology)
            if topo is None:
                errors.append(FieldError("PodGroup", key[0], key[1], f"{path}.topology", f"Not found: {_go(tc.topology)}: no Topology with this name"))
                continue
            idx = {}
            for field, level in (("requiredTopologyLevel", tc.required_topology_level), ("preferredTopologyLevel", tc.preferred_topology_level)):
                if not level:
                    continue
                i = topology_level_index(topo, level)
                if i < 0:
                    errors.append(FieldError("PodGroup", key[0], key[1], f"{path}.{field}",
                                             _invalid(level, f"not a level of Topology {_go(tc.topology)}")))
                idx[field] = i
            req, pref = idx.get("requiredTopologyLevel", -1), idx.get("preferredTopologyLevel", -1)
            if req >= 0 and pref >= 0 and pref < req:
                errors.append(FieldError("PodGroup", key[0], key[1], f"{path}.preferredTopologyLevel",
                                         _invalid(tc.preferred_topology_level, "must be the required level or a level below it")))
    return errors


# --- implicit objects and label rules --------------------------------------------------------


def implicit_default_queue() -> Queue:
    """``default-queue``: top level, no quota, no limit (the contract's implicit queue)."""
    none = QueueResource(quota=0.0, over_quota_weight=1.0, limit=UNLIMITED)
    return Queue(
        metadata=ObjectMeta(name=DEFAULT_QUEUE),
        spec=QueueSpec(resources=QueueResources(gpu=none, cpu=none, memory=none)),
    )


def with_default_queue(queues: Iterable[Queue]) -> list[Queue]:
    """The queues plus the implicit ``default-queue`` unless one is given."""
    out = list(queues)
    if not any(q.metadata.name == DEFAULT_QUEUE for q in out):
        out.append(implicit_default_queue())
    return out


def builtin_priority_classes() -> dict[str, PriorityClass]:
    return {
        name: PriorityClass(metadata=ObjectMeta(name=name), value=value,
                            preemption_policy="PreemptLowerPriority")
        for name, value in BUILTIN_PRIORITY_CLASSES.items()
    }


def resolve_priority(class_name: str, classes: Optional[dict[str, PriorityClass]] = None,
                     default: int = DEFAULT_PODGROUP_PRIORITY) -> Optional[int]:
    """The value of a priority class: given PriorityClass objects first, then the built-in
    ``train``/``build-preemptible``/``build``/``inference``. An empty name gives the
    ``globalDefault`` class's value if there is one, else ``default``. ``None`` if the name is
    unknown."""
    classes = classes or {}
    if not class_name:
        defaults = sorted((pc for pc in classes.values() if pc.global_default), key=lambda pc: pc.metadata.name)
        return defaults[0].value if defaults else default
    pc = classes.get(class_name)
    if pc is not None:
        return pc.value
    return BUILTIN_PRIORITY_CLASSES.get(class_name)


def is_preemptible(priority: int, preemptibility: str = "") -> bool:
    """KAI's rule: an explicit ``preemptible`` / ``non-preemptible`` wins; otherwise a job is
    preemptible iff its priority is below 100."""
    if preemptibility == PREEMPTIBLE:
        return True
    if preemptibility == NON_PREEMPTIBLE:
        return False
    return priority < NON_PREEMPTIBLE_MIN_PRIORITY


def pod_queue_name(labels: dict[str, str]) -> str:
    """The queue label ``kai.scheduler/queue``, else ``default-queue`` (the CLI contract; KAI's
    podgrouper also falls back to the legacy ``runai/queue`` and ``project`` labels, which
    gpuplane does not)."""
    return labels.get(QUEUE_LABEL) or DEFAULT_QUEUE
