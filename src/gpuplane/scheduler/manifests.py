"""Small builders for scheduler input manifests (plain dicts), for tests, examples and simulations."""

from __future__ import annotations

from typing import Any, Optional

from ..api.models import NAMESPACED_KINDS

__all__ = ["node", "pod", "queue", "podgroup", "device_class", "gpu_slice", "claim_template", "schedule_objects"]


def node(name: str, gpus: int = 0, cpu: str = "32", memory: str = "256Gi", gpu_memory_mib: Optional[int] = None,
         labels: Optional[dict[str, str]] = None, pods: str = "110") -> dict[str, Any]:
    lab = {"kubernetes.io/hostname": name, **(labels or {})}
    if gpu_memory_mib:
        lab["nvidia.com/gpu.memory"] = str(gpu_memory_mib)
    alloc = {"cpu": cpu, "memory": memory, "pods": pods}
    if gpus:
        alloc["nvidia.com/gpu"] = str(gpus)
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": lab}, "status": {"allocatable": alloc}}


def pod(name: str, queue: Optional[str] = None, gpus: int = 0, cpu: str = "1", memory: str = "1Gi",
        namespace: str = "default", group: Optional[str] = None, priority_class: Optional[str] = None,
        fraction: Optional[str] = None, gpu_memory: Optional[int] = None, num_devices: Optional[int] = None,
        node_name: Optional[str] = None, held: Optional[str] = None, created: str = "2026-01-01T00:00:00Z",
        claims: Optional[list[dict[str, Any]]] = None, scheduler: str = "gpuplane",
        phase: Optional[str] = None) -> dict[str, Any]:
    labels = {"kai.scheduler/queue": queue} if queue else {}
    ann: dict[str, str] = {}
    if group:
        ann["pod-group-name"] = group
    if fraction:
        ann["gpu-fraction"] = fraction
    if gpu_memory:
        ann["gpu-memory"] = str(gpu_memory)
    if num_devices:
        ann["gpu-fraction-num-devices"] = str(num_devices)
    if held:
        ann["gpuplane.io/gpus"] = held
    res: dict[str, Any] = {"requests": {"cpu": cpu, "memory": memory}}
    if gpus:
        res["limits"] = {"nvidia.com/gpu": str(gpus)}
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "creationTimestamp": created}
    if labels:
        meta["labels"] = labels
    if ann:
        meta["annotations"] = ann
    spec: dict[str, Any] = {"schedulerName": scheduler, "containers": [{"name": "main", "image": "busybox", "resources": res}]}
    if priority_class:
        spec["priorityClassName"] = priority_class
    if claims:
        spec["resourceClaims"] = claims
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    if node_name:
        spec["nodeName"] = node_name
        obj["status"] = {"phase": phase or "Running"}
    elif phase:
        obj["status"] = {"phase": phase}
    return obj


def queue(name: str, parent: Optional[str] = None, gpu_quota: float = 0, gpu_limit: float = -1,
          weight: float = 1, priority: Optional[int] = None, cpu_quota: float = -1, memory_quota: float = -1) -> dict[str, Any]:
    spec: dict[str, Any] = {"resources": {
        "gpu": {"quota": gpu_quota, "overQuotaWeight": weight, "limit": gpu_limit},
        "cpu": {"quota": cpu_quota, "overQuotaWeight": 1, "limit": -1},
        "memory": {"quota": memory_quota, "overQuotaWeight": 1, "limit": -1},
    }}
    if parent:
        spec["parentQueue"] = parent
    if priority is not None:
        spec["priority"] = priority
    return {"apiVersion": "scheduling.run.ai/v2", "kind": "Queue", "metadata": {"name": name}, "spec": spec}


def podgroup(name: str, min_member: int, queue: str, namespace: str = "default",
             priority_class: Optional[str] = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"minMember": min_member, "queue": queue}
    if priority_class:
        spec["priorityClassName"] = priority_class
    return {"apiVersion": "scheduling.run.ai/v2alpha2", "kind": "PodGroup",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def device_class(name: str = "gpu.example.com", driver: str = "gpu.example.com") -> dict[str, Any]:
    return {"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": name},
            "spec": {"selectors": [{"cel": {"expression": f"device.driver == '{driver}'"}}]}}


def gpu_slice(node_name: str, count: int, driver: str = "gpu.example.com") -> dict[str, Any]:
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": f"{node_name}-{driver}"},
            "spec": {"driver": driver, "nodeName": node_name,
                     "pool": {"name": node_name, "generation": 1, "resourceSliceCount": 1},
                     "devices": [{"name": f"gpu-{i}", "attributes": {"index": {"int": i}}} for i in range(count)]}}


def claim_template(name: str, count: int = 1, namespace: str = "default", device_class_name: str = "gpu.example.com") -> dict[str, Any]:
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"spec": {"devices": {"requests": [{"name": "gpu", "exactly": {
                "deviceClassName": device_class_name, "allocationMode": "ExactCount", "count": count}}]}}}}


def schedule_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objects as the CLI would hand them over (namespaces filled in, DRA defaults applied)."""
    import copy

    from ..api.convert import to_v1
    from ..api.defaults import apply_defaults

    out = []
    for obj in objects:
        obj = copy.deepcopy(obj)
        if obj.get("kind") in NAMESPACED_KINDS:
            obj.setdefault("metadata", {}).setdefault("namespace", "default")
        out.append(apply_defaults(to_v1(obj)))
    return out
