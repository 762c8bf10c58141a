"""Synthetic scheduler inputs for benchmarks/bench_schedule.py.

Every scenario is a list of plain manifests (as ``gpuplane schedule -f`` would read them from
YAML) built with :mod:`gpuplane.scheduler.manifests` and, for DRA, the NVIDIA-like
ResourceSlices of :mod:`_clusters` (variant ``gpu``: one slice per node, 8 H200 GPUs, driver
``gpu.nvidia.com``, DeviceClasses ``gpu.nvidia.com`` / ``mig.nvidia.com``).

Common to all scenarios:

* nodes ``node-00000`` ...: 8 GPUs each (device-plugin ``nvidia.com/gpu: 8`` with
  ``nvidia.com/gpu.memory: 143771``, or for DRA no ``nvidia.com/gpu`` and one ResourceSlice
  with 8 GPUs), 224 CPUs, 2Ti memory, 110 pods;
* queues: 4 departments ``dept-0..3`` x 5 leaf queues ``dept-<d>-q<j>`` (KAI Queue
  ``scheduling.run.ai/v2``); GPU quota = cluster GPUs / 4 per department, / 20 per leaf,
  over-quota weight 1, no limit; CPU and memory quota unlimited (-1);
* pending pods ``p-00000`` ...: 1 CPU, 1Gi, default priority (``train``: preemptible), in
  leaf queue ``i % 20`` (gangs: gang ``i % 20``), all created at the same instant.

Workloads (``WORKLOADS``):

| name | pending pods |
|---|---|
| ``1gpu`` | one device-plugin GPU each (``limits: nvidia.com/gpu: 1``) |
| ``gang8x8`` | gangs of 8 pods x 8 GPUs (PodGroup ``minMember: 8``) |
| ``frac0.5`` | ``gpu-fraction: "0.5"`` |
| ``dra1gpu`` | one ResourceClaim each, from the ResourceClaimTemplate ``gpu-1`` (1 device of class ``gpu.nvidia.com``) |
"""

from __future__ import annotations

from typing import Any

import _clusters as C
from gpuplane.scheduler import manifests as M

GPUS_PER_NODE = 8
DEPARTMENTS = 4
QUEUES_PER_DEPARTMENT = 5
NAMESPACE = "bench"
CREATED = "2026-01-01T00:00:00Z"

WORKLOADS: dict[str, str] = {
    "1gpu": "one-GPU pods (device plugin)",
    "gang8x8": "gangs of 8 pods x 8 GPUs (PodGroup minMember 8)",
    "frac0.5": "fractional pods, gpu-fraction 0.5",
    "dra1gpu": "DRA claim pods (ResourceClaimTemplate, 1 x gpu.nvidia.com)",
}


def leaf_queues() -> list[str]:
    return [f"dept-{d}-q{j}" for d in range(DEPARTMENTS) for j in range(QUEUES_PER_DEPARTMENT)]


def queues(total_gpus: int) -> list[dict[str, Any]]:
    out = []
    dept_quota = total_gpus / DEPARTMENTS
    for d in range(DEPARTMENTS):
        out.append(M.queue(f"dept-{d}", gpu_quota=dept_quota))
        for j in range(QUEUES_PER_DEPARTMENT):
            out.append(M.queue(f"dept-{d}-q{j}", parent=f"dept-{d}", gpu_quota=dept_quota / QUEUES_PER_DEPARTMENT))
    return out


def _node(i: int, dra: bool) -> dict[str, Any]:
    name = C.node_name(i)
    obj = M.node(name, gpus=0 if dra else GPUS_PER_NODE, cpu="224", memory="2Ti",
                 gpu_memory_mib=None if dra else C.GPU_MEMORY_MI)
    obj["metadata"]["labels"]["nvidia.com/gpu.present"] = "true"
    return obj


def claim_template() -> dict[str, Any]:
    return M.claim_template("gpu-1", count=1, namespace=NAMESPACE, device_class_name="gpu.nvidia.com")


def scenario(workload: str, nodes: int, pods: int) -> list[dict[str, Any]]:
    """The manifests of one scenario (before ``manifests.schedule_objects``)."""
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r} (one of {', '.join(WORKLOADS)})")
    dra = workload == "dra1gpu"
    objs: list[dict[str, Any]] = queues(nodes * GPUS_PER_NODE)
    leaves = leaf_queues()
    if dra:
        objs += C.device_classes()
        objs.append(claim_template())
    for i in range(nodes):
        objs.append(_node(i, dra))
        if dra:
            objs += C.node_slices("gpu", i)
    common = dict(namespace=NAMESPACE, created=CREATED)
    if workload == "1gpu":
        objs += [M.pod(f"p-{i:05d}", queue=leaves[i % len(leaves)], gpus=1, **common) for i in range(pods)]
    elif workload == "frac0.5":
        objs += [M.pod(f"p-{i:05d}", queue=leaves[i % len(leaves)], fraction="0.5", **common) for i in range(pods)]
    elif workload == "dra1gpu":
        ref = [{"name": "gpu", "resourceClaimTemplateName": "gpu-1"}]
        objs += [M.pod(f"p-{i:05d}", queue=leaves[i % len(leaves)], claims=ref, **common) for i in range(pods)]
    elif workload == "gang8x8":
        gangs = max(1, pods // 8)
        for g in range(gangs):
            q = leaves[g % len(leaves)]
            objs.append(M.podgroup(f"g-{g:04d}", 8, q, namespace=NAMESPACE))
            objs += [M.pod(f"p-{g:04d}-{k}", queue=q, gpus=8, group=f"g-{g:04d}", **common) for k in range(8)]
    return objs


def gpu_capacity_pods(workload: str, nodes: int) -> int:
    """How many of the scenario's pods the empty cluster can hold (by GPUs)."""
    gpus = nodes * GPUS_PER_NODE
    return {"1gpu": gpus, "dra1gpu": gpus, "frac0.5": 2 * gpus, "gang8x8": nodes}[workload]


# --- the simulator's case: a small cluster, re-scheduled after every event ----------------------

SIM_NODES = 88
SIM_RUNNING = 700


def sim_scenario(pending: int, nodes: int = SIM_NODES, running: int = SIM_RUNNING) -> list[dict[str, Any]]:
    """What a simulator hands ``build_snapshot`` after an event: ``nodes`` one-GPU-pod nodes
    (8 GPUs), ``running`` one-GPU pods Running on them (``gpuplane.io/gpus`` names the GPU,
    filled node by node), ``pending`` one-GPU pods, the 4 x 5 queue tree; every object with
    ``metadata.uid`` and ``metadata.resourceVersion`` (as an informer cache holds them)."""
    objs: list[dict[str, Any]] = queues(nodes * GPUS_PER_NODE)
    for i in range(nodes):
        objs.append(_node(i, False))
    leaves = leaf_queues()
    common = dict(namespace=NAMESPACE, created=CREATED)
    for i in range(running):
        node, gpu = divmod(i, GPUS_PER_NODE)
        objs.append(M.pod(f"r-{i:05d}", queue=leaves[i % len(leaves)], gpus=1, node_name=C.node_name(node % nodes),
                          held=f"gpu-{gpu}", **common))
    objs += [M.pod(f"p-{i:05d}", queue=leaves[i % len(leaves)], gpus=1, **common) for i in range(pending)]
    for k, obj in enumerate(objs):
        obj["metadata"]["uid"] = f"uid-{k:06d}"
        obj["metadata"]["resourceVersion"] = "1"
    return objs
