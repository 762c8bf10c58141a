"""Synthetic NVIDIA-like DRA clusters and claims for benchmarks/bench_allocate.py.

Everything is a plain v1 dict in its stored (API-defaulted) form, so the same objects can
be decoded by gpuplane and sent to the Go oracle unchanged. Generation is deterministic:
object contents depend only on (variant, node index) and the seed.

Variants (one pool per node, pool name = node name, driver ``gpu.nvidia.com``,
attributes as published by the NVIDIA DRA driver, shared/reference/dra-api.md 7.3):

* ``gpu``    - one ResourceSlice per node with 8 full H200 GPUs.
* ``mig``    - dynamic MIG (partitionable devices, Kubernetes >= 1.35 layout): a counter
  slice with one counter set per GPU (``gpu-<i>-counter-set``: multiprocessors, engines,
  memory, memory-slice-0..7) and one device slice per GPU holding the full GPU plus every
  placement of the MIG profiles 1g.18gb (7), 2g.35gb (3), 3g.71gb (2) and 7g.141gb (1),
  H200 geometry (shared/reference/gpu-stack.md section 4): 9 slices, 112 devices per node.
* ``shared`` - ConsumableShares=memory: 8 GPUs with ``allowMultipleAllocations`` and a
  ``memory`` capacity with requestPolicy validRange {min 1Mi, max = memory, step 1Mi}.
"""

from __future__ import annotations

import random
import uuid
from typing import Any, Callable

from gpuplane.driver.hardware import H200_MEMORY_MIB, H200_MIG
from gpuplane.driver.slices import GpuSpec, build_slices

DRIVER = "gpu.nvidia.com"
GPUS_PER_NODE = 8
GPU_MEMORY_MI = H200_MEMORY_MIB  # 150,754,820,096 B, rounded down to 1 MiB
PRODUCT = "NVIDIA H200"
NAMESPACE = "bench"

VARIANTS = ("gpu", "mig", "shared")

def node_name(i: int) -> str:
    return f"node-{i:05d}"


def _gpu_uuid(node: int, gpu: int) -> str:
    return "GPU-" + str(uuid.UUID(int=(0x5B1E7D2A << 96) | (node << 8) | gpu))


def _mig_uuid(node: int, gpu: int, profile_id: int, start: int) -> str:
    return "MIG-" + str(uuid.UUID(int=(0x3A9C << 112) | (node << 24) | (gpu << 16) | (profile_id << 8) | start))


def device_classes() -> list[dict[str, Any]]:
    """The two classes the NVIDIA Helm chart installs that the workloads use (dra-api.md 7.2)."""

    def cls(name: str, typ: str) -> dict[str, Any]:
        return {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "DeviceClass",
            "metadata": {"name": name},
            "spec": {"selectors": [{"cel": {"expression": f"device.driver == '{DRIVER}' && device.attributes['{DRIVER}'].type == '{typ}'"}}]},
        }

    return [cls("gpu.nvidia.com", "gpu"), cls("mig.nvidia.com", "mig")]


def node_object(i: int) -> dict[str, Any]:
    name = node_name(i)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "nvidia.com/gpu.present": "true"}},
    }


def gpu_spec(node: int, gpu: int) -> GpuSpec:
    """GPU ``gpu`` of node ``node``: HGX H200 layout (GPUs 0-3 on NUMA node 0, 4-7 on 1; two per PCIe root)."""
    bus = 0x18 + 0x10 * gpu
    return GpuSpec(
        minor=gpu, uuid=_gpu_uuid(node, gpu), product_name=PRODUCT, memory_mib=GPU_MEMORY_MI,
        driver_version="580.159.04", cuda_driver_version="13.0", compute_capability="9.0",
        pci_bus_id=f"0000:{bus:02x}:00.0", pcie_root=f"pci0000:{0x10 * (gpu // 2 + 1):02x}", numa_node=gpu // 4,
        mig_profiles=H200_MIG,
    )


def node_slices(variant: str, node: int) -> list[dict[str, Any]]:
    """The ResourceSlices that node ``node`` publishes in ``variant`` (built by gpuplane.driver.slices)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}")
    gpus = [gpu_spec(node, g) for g in range(GPUS_PER_NODE)]
    return build_slices(node_name(node), gpus, mode=variant,
                        mig_uuid=lambda g: (lambda p, start: _mig_uuid(node, g.minor, p.profile_id, start)))


# --- claims ------------------------------------------------------------------------------


def _request(name: str, cls: str, count: int = 1, selectors: list[str] | None = None, capacity: dict | None = None) -> dict:
    exact: dict[str, Any] = {"deviceClassName": cls, "allocationMode": "ExactCount", "count": count}
    if selectors:
        exact["selectors"] = [{"cel": {"expression": e}} for e in selectors]
    if capacity:
        exact["capacity"] = {"requests": capacity}
    return {"name": name, "exactly": exact}


def _claim(name: str, namespace: str, requests: list[dict], constraints: list[dict] | None = None) -> dict[str, Any]:
    devices: dict[str, Any] = {"requests": requests}
    if constraints:
        devices["constraints"] = constraints
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{name}"))},
        "spec": {"devices": devices},
    }


# name -> (variant, description, claim factory)
WORKLOADS: dict[str, tuple[str, str, Callable[[str], dict[str, Any]]]] = {
    "1gpu": (
        "gpu",
        "1 GPU (class gpu.nvidia.com + CEL selector on productName)",
        lambda n: _claim(n, NAMESPACE, [_request("gpu", "gpu.nvidia.com", selectors=[f"device.attributes['{DRIVER}'].productName == '{PRODUCT}'"])]),
    ),
    "8gpu-match": (
        "gpu",
        "8 GPUs, matchAttribute gpu.nvidia.com/productName",
        lambda n: _claim(
            n, NAMESPACE, [_request("gpus", "gpu.nvidia.com", count=8)], [{"requests": ["gpus"], "matchAttribute": f"{DRIVER}/productName"}]
        ),
    ),
    "mig-1g": (
        "mig",
        "1 MIG device, class mig.nvidia.com + CEL profile == '1g.18gb'",
        lambda n: _claim(n, NAMESPACE, [_request("mig", "mig.nvidia.com", selectors=[f"device.attributes['{DRIVER}'].profile == '1g.18gb'"])]),
    ),
    "shared-10Gi": (
        "shared",
        "1 shared GPU, capacity.requests memory 10Gi",
        lambda n: _claim(n, NAMESPACE, [_request("gpu", "gpu.nvidia.com", capacity={"memory": "10Gi"})]),
    ),
}


def allocated_claim(name: str, node: int, results: list[dict[str, Any]], cls: str, count: int, namespace: str = "bench-init") -> dict:
    """An already-allocated claim (what the API server holds after binding)."""
    claim = _claim(name, namespace, [_request(results[0]["request"], cls, count=count)])
    claim["status"] = {
        "allocation": {
            "devices": {"results": results},
            "nodeSelector": {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name(node)]}]}]},
        }
    }
    return claim


def _result(node: int, device: str, request: str = "gpu", share: str | None = None, consumed: str | None = None) -> dict:
    r: dict[str, Any] = {"request": request, "driver": DRIVER, "pool": node_name(node), "device": device}
    if share is not None:
        r["shareID"] = share
        r["consumedCapacity"] = {"memory": consumed}
    return r


def _share_id(node: int, gpu: int, k: int) -> str:
    return str(uuid.UUID(int=(0x5A4E << 112) | (node << 24) | (gpu << 8) | k))


def gpu_usage_claims(variant: str, node: int, used_gpus: list[int], mig_1g: dict[int, int] | None = None,
                     share_mem: dict[int, str] | None = None) -> list[dict[str, Any]]:
    """Allocated claims that make ``used_gpus`` unusable for every workload on ``node``:
    gpu: the GPU device; mig: the full-GPU device (consumes every counter of its set);
    shared: one share of 140Gi (leaves 3771Mi, less than 10Gi). ``mig_1g`` adds that many
    1g.18gb instances on other GPUs, ``share_mem`` one share of the given size on others."""
    out = []
    nn = node_name(node)
    for g in used_gpus:
        name = f"{nn}-used-gpu-{g}"
        if variant in ("gpu", "mig"):
            out.append(allocated_claim(name, node, [_result(node, f"gpu-{g}")], "gpu.nvidia.com", 1))
        else:
            out.append(allocated_claim(name, node, [_result(node, f"gpu-{g}", share=_share_id(node, g, 0), consumed="140Gi")], "gpu.nvidia.com", 1))
    for g, n in (mig_1g or {}).items():
        for start in range(n):
            dev = f"gpu-{g}-mig-1g18gb-19-{start}"
            out.append(allocated_claim(f"{nn}-mig-{g}-{start}", node, [_result(node, dev, request="mig")], "mig.nvidia.com", 1))
    for g, mem in (share_mem or {}).items():
        out.append(allocated_claim(f"{nn}-share-{g}", node, [_result(node, f"gpu-{g}", share=_share_id(node, g, 1), consumed=mem)], "gpu.nvidia.com", 1))
    return out


def prefill(variant: str, nodes: int, seed: int, full: float = 0.3, partial: float = 0.3) -> dict[int, list[dict[str, Any]]]:
    """Initial allocated state (scheduler_perf's "init pods"): a fraction ``full`` of the
    nodes has every GPU in use, a fraction ``partial`` has 1-7 random GPUs in use (plus, for
    mig, some 1g.18gb instances and, for shared, a 40Gi share on a free GPU), the rest is empty.
    Which nodes are which is random (seeded)."""
    rng = random.Random(f"{seed}-{variant}-{nodes}")
    order = list(range(nodes))
    rng.shuffle(order)
    n_full = int(nodes * full)
    n_partial = int(nodes * partial)
    state: dict[int, list[dict[str, Any]]] = {}
    for i in order[:n_full]:
        state[i] = gpu_usage_claims(variant, i, list(range(GPUS_PER_NODE)))
    for i in order[n_full : n_full + n_partial]:
        k = rng.randint(1, GPUS_PER_NODE - 1)
        used = sorted(rng.sample(range(GPUS_PER_NODE), k))
        free = [g for g in range(GPUS_PER_NODE) if g not in used]
        extra_gpu = rng.choice(free)
        mig = {extra_gpu: rng.randint(1, 6)} if variant == "mig" else None
        share = {extra_gpu: "40Gi"} if variant == "shared" else None
        state[i] = gpu_usage_claims(variant, i, used, mig_1g=mig, share_mem=share)
    return state


# Node states for the per-node Allocate comparison: name -> (description, used GPUs per workload).
def per_node_states(workload: str) -> list[tuple[str, str, list[int]]]:
    """(state, description, used GPUs) for the single-node comparison of ``workload``."""
    all_gpus = list(range(GPUS_PER_NODE))
    if workload == "8gpu-match":
        partial = ("1/8 used", "1 of 8 GPUs in use: unsat after trying every combination of the 7 free", [3])
    else:
        partial = ("7/8 used", "7 of 8 GPUs in use: succeeds on the last GPU", all_gpus[:-1])
    return [
        ("empty", "no device in use: succeeds at once", []),
        partial,
        ("full", "every GPU in use: unsat", all_gpus),
    ]
