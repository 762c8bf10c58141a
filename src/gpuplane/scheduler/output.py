"""The objects ``gpuplane schedule`` prints: every Pod, ResourceClaim, PodGroup and Queue.

Per the contract (``shared/spec/cli-contracts.md``):

- a pod bound in the run: ``spec.nodeName``, ``status.phase: Running``, condition
  ``PodScheduled: True`` and the annotation ``gpuplane.io/gpus`` (the GPUs it received,
  comma-separated and sorted: DRA device names and ``gpu-<index>``; absent for a pod with no GPU);
- a pod of this scheduler still pending: ``status.phase: Pending`` and condition
  ``PodScheduled: False``, reason ``Unschedulable``, with the reason in words;
- a pod evicted in the last round (reclaim, preempt, consolidation, stale-gang eviction):
  ``metadata.deletionTimestamp`` set to ``now`` (Releasing), everything else as before;
- a pod evicted in an earlier round: recreated by its controller, so a Pending pod again (no
  ``spec.nodeName``, no ``gpuplane.io/gpus``, a fresh status);
- a pending pod waiting for resources that victims are releasing: ``status.nominatedNodeName``;
- other pods as they came in (a template claim's pod also gets ``status.resourceClaimStatuses``);
- ResourceClaims (those generated from templates included) with the new ``status.allocation``
  and ``status.reservedFor``;
- PodGroups with ``status.schedulingConditions`` when not scheduled;
- Queues (the implicit ``default-queue`` included) with ``status.allocated``,
  ``status.allocatedNonPreemptible``, ``status.requested`` and ``status.fairShare``, each with
  ``gpu`` (GPUs), ``cpu`` (millicores) and ``memory`` (MB), the units of the Queue spec.

Objects come out sorted (kind, then namespace and name), so the same input always gives the
same output.
"""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

from .cycle import ScheduleResult
from .queues import RESOURCES
from .snapshot import GPUS_ANNOTATION

__all__ = ["result_objects", "number"]


def number(value: Fraction | float | int) -> int | float:
    """An int when whole, else a float rounded to 6 decimals (stable text across platforms)."""
    if isinstance(value, Fraction) and value.denominator == 1:
        return int(value)
    f = float(value)
    if f.is_integer() and abs(f) < 2**53:
        return int(f)
    return round(f, 6)


def _resources(values: dict[str, Any]) -> dict[str, int | float]:
    return {r: number(values.get(r, 0)) for r in RESOURCES}


def _set_condition(status: dict[str, Any], condition: dict[str, Any]) -> None:
    conds = [c for c in status.get("conditions") or [] if not (isinstance(c, dict) and c.get("type") == condition["type"])]
    conds.append(condition)
    status["conditions"] = conds


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    status = obj.get("status")
    if not isinstance(status, dict):
        status = obj["status"] = {}
    return status


def _pods(result: ScheduleResult) -> list[dict[str, Any]]:
    snap = result.snapshot
    out = []
    for key, info in snap.pods.items():
        obj = copy.deepcopy(info.raw)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", key[0])
        template_refs = [(ref.pod_claim_name, ref.claim) for ref in info.claims
                         if ref.claim is not None and ref.claim in snap.generated_claims]
        if template_refs:
            st = _status(obj)
            existing = {s.get("name") for s in st.get("resourceClaimStatuses") or [] if isinstance(s, dict)}
            extra = [{"name": n, "resourceClaimName": ck[1]} for n, ck in template_refs if n not in existing]
            if extra:
                st["resourceClaimStatuses"] = list(st.get("resourceClaimStatuses") or []) + extra
        placement = result.placements.get(key)
        if key in result.recreated and placement is None:
            # evicted in an earlier round: deleted and recreated by its controller as a new Pending pod
            obj.get("spec", {}).pop("nodeName", None)
            meta.pop("deletionTimestamp", None)
            annotations = meta.get("annotations")
            if isinstance(annotations, dict):
                annotations.pop(GPUS_ANNOTATION, None)
                if not annotations:
                    meta.pop("annotations", None)
            obj["status"] = {"phase": "Pending"}
        if placement is not None:
            obj.setdefault("spec", {})["nodeName"] = placement.node
            st = _status(obj)
            st["phase"] = "Running"
            st.pop("nominatedNodeName", None)
            _set_condition(st, {"type": "PodScheduled", "status": "True"})
            names = placement.gpu_names
            if names:
                annotations = meta.get("annotations")
                if not isinstance(annotations, dict):
                    annotations = meta["annotations"] = {}
                annotations[GPUS_ANNOTATION] = ",".join(names)
        elif key in result.reasons and key not in result.evicted:  # an evicted pod is Releasing, not Pending
            reason = result.reasons[key]
            st = _status(obj)
            st["phase"] = "Pending"
            _set_condition(st, {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                "message": reason.message})
        if key in result.nominated and (placement is None or key in result.evicted):
            # a pod moved by consolidation: Releasing where it runs, nominated where it goes
            _status(obj)["nominatedNodeName"] = result.nominated[key]
        if key in result.evicted:
            meta["deletionTimestamp"] = result.now or result.evicted_at
        out.append(obj)
    return out


def _claims(result: ScheduleResult) -> list[dict[str, Any]]:
    snap = result.snapshot
    out = []
    for key, raw in snap.claims.items():
        obj = copy.deepcopy(raw)
        allocation = result.claim_allocations.get(key)
        if allocation is not None:
            _status(obj)["allocation"] = allocation
        elif key in result.freed_claims:  # its job was evicted: deallocated, no longer reserved
            st = _status(obj)
            st.pop("allocation", None)
            st.pop("reservedFor", None)
            if not st:
                obj.pop("status", None)
        pods = result.claim_reserved.get(key, [])
        if pods:
            st = _status(obj)
            reserved = list(st.get("reservedFor") or [])
            have = {(r.get("resource"), r.get("name")) for r in reserved if isinstance(r, dict)}
            for pk in pods:
                if ("pods", pk[1]) in have:
                    continue
                ref: dict[str, Any] = {"resource": "pods", "name": pk[1]}
                uid = snap.pods[pk].pod.metadata.uid
                if uid:
                    ref["uid"] = uid
                reserved.append(ref)
            st["reservedFor"] = reserved
        out.append(obj)
    return out


def _podgroups(result: ScheduleResult) -> list[dict[str, Any]]:
    out = []
    for key, group in result.snapshot.groups.items():
        if group.kind != "PodGroup" or group.raw is None:
            continue
        obj = copy.deepcopy(group.raw)
        obj.setdefault("metadata", {}).setdefault("namespace", key[0])
        reason = result.group_reasons.get(key)
        st = _status(obj)
        if reason is not None:
            st["schedulingConditions"] = [{
                "type": "UnschedulableOnNodePool",
                "nodePool": "default",
                "status": "True",
                "reasons": [{"reason": reason.code, "message": reason.message}],
            }]
        else:
            st.pop("schedulingConditions", None)
            if not st:
                obj.pop("status", None)
        out.append(obj)
    return out


def _queues(result: ScheduleResult) -> list[dict[str, Any]]:
    tree = result.snapshot.tree
    requested: dict[str, dict[str, Fraction]] = {q: {r: Fraction(0) for r in RESOURCES} for q in tree}
    for q, vals in result.requested.items():
        for target in [q] + tree.ancestors(q):
            for r in RESOURCES:
                requested[target][r] += vals.get(r, 0)
    out = []
    for name, raw in result.snapshot.queues_raw.items():
        obj = copy.deepcopy(raw)
        st = _status(obj)
        st["allocated"] = _resources(result.allocated.get(name, {}))
        st["allocatedNonPreemptible"] = _resources(result.allocated_np.get(name, {}))
        st["requested"] = _resources(requested.get(name, {}))
        st["fairShare"] = _resources(result.fair_share.get(name, {}))
        kids = tree.children(name) if name in tree else []
        if kids:
            st["childQueues"] = kids
        out.append(obj)
    return out


def result_objects(result: ScheduleResult) -> list[dict[str, Any]]:
    """Pods, then ResourceClaims, PodGroups and Queues, each sorted by namespace and name."""
    return _pods(result) + _claims(result) + _podgroups(result) + _queues(result)

