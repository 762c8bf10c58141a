"""A :class:`~gpuplane.sim.jobs.SimJob` as the Kubernetes objects a KAI user would submit.

One job becomes a PodGroup (``scheduling.run.ai/v2alpha2``: ``minMember``, ``queue``,
``priorityClassName``) and its pods, each with the ``kai.scheduler/queue`` label, the
``pod-group-name`` annotation and ``schedulerName: gpuplane``; pods are owned by the PodGroup
(ownerReferences, filled in by the engine once the store has given the PodGroup its uid), so
deleting the PodGroup removes the job. The GPU shape:

* whole GPUs on device-plugin nodes: ``nvidia.com/gpu`` in the container's limits;
* ``gpu-fraction`` / ``gpu-memory`` annotations (KAI GPU sharing);
* DRA (``dra: true``) or a MIG profile: a ResourceClaimTemplate per job (``gpu.nvidia.com``
  devices, or one ``mig.nvidia.com`` device whose ``profile`` attribute is the profile, the
  selector NVIDIA's examples use), referenced from each pod's ``spec.resourceClaims``.
"""
from __future__ import annotations

from typing import Any, Optional

from ..api.kai import PODGROUP_ANNOTATION, PODGROUP_API_VERSION, QUEUE_LABEL
from .jobs import SimJob

__all__ = ["job_objects", "pod_name", "pod_object", "JOB_LABEL", "SCHEDULER_NAME"]

SCHEDULER_NAME = "gpuplane"
JOB_LABEL = "gpuplane.io/job"
RESOURCE_API = "resource.k8s.io/v1"


def pod_name(job: SimJob, index: int) -> str:
    return f"{job.name}-{index}"


def _claim_template(job: SimJob, namespace: str) -> dict[str, Any]:
    if job.mig_profile:
        request = {"name": "gpu", "exactly": {
            "deviceClassName": "mig.nvidia.com",
            "selectors": [{"cel": {"expression": f"device.attributes['gpu.nvidia.com'].profile == '{job.mig_profile}'"}}],
        }}
    else:
        request = {"name": "gpu", "exactly": {"deviceClassName": "gpu.nvidia.com", "count": max(1, job.gpus_per_pod)}}
    return {
        "apiVersion": RESOURCE_API, "kind": "ResourceClaimTemplate",
        "metadata": {"name": f"{job.name}-gpu", "namespace": namespace, "labels": {JOB_LABEL: job.name}},
        "spec": {"spec": {"devices": {"requests": [request]}}},
    }


def _uses_claim(job: SimJob) -> bool:
    return bool(job.mig_profile) or (job.dra and job.gpus_per_pod > 0)


def pod_object(job: SimJob, index: int, namespace: str = "default", owner: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Pod ``index`` of ``job`` (the controller recreates pods with this after an eviction)."""
    resources: dict[str, Any] = {"requests": {"cpu": f"{job.cpu_milli}m", "memory": f"{job.memory_mib}Mi"}}
    annotations = {PODGROUP_ANNOTATION: job.name}
    spec: dict[str, Any] = {"schedulerName": SCHEDULER_NAME, "priorityClassName": job.priority_class}
    if _uses_claim(job):
        spec["resourceClaims"] = [{"name": "gpu", "resourceClaimTemplateName": f"{job.name}-gpu"}]
        resources["claims"] = [{"name": "gpu"}]
    elif job.gpus_per_pod:
        resources["limits"] = {"nvidia.com/gpu": str(job.gpus_per_pod)}
    elif job.gpu_fraction is not None:
        annotations["gpu-fraction"] = repr(float(job.gpu_fraction))
    elif job.gpu_memory_mib is not None:
        annotations["gpu-memory"] = str(job.gpu_memory_mib)
    spec["containers"] = [{"name": "main", "image": "gpuplane/sim-workload", "resources": resources}]
    if job.node_selector:
        spec["nodeSelector"] = dict(job.node_selector)
    meta: dict[str, Any] = {"name": pod_name(job, index), "namespace": namespace,
                            "labels": {QUEUE_LABEL: job.queue, JOB_LABEL: job.name},
                            "annotations": annotations}
    if owner:
        meta["ownerReferences"] = [owner]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": {"phase": "Pending"}}


def job_objects(job: SimJob, namespace: str = "default") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(PodGroup, [ResourceClaimTemplate]): the objects created before the job's pods."""
    group = {
        "apiVersion": PODGROUP_API_VERSION, "kind": "PodGroup",
        "metadata": {"name": job.name, "namespace": namespace, "labels": {JOB_LABEL: job.name}},
        "spec": {"minMember": job.min_member or job.pods, "queue": job.queue, "priorityClassName": job.priority_class},
    }
    extra = [_claim_template(job, namespace)] if _uses_claim(job) else []
    return group, extra


def owner_reference(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}
