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

DRIVER = "gpu.nvidia.com"
GPUS_PER_NODE = 8
GPU_MEMORY = "143771Mi"  # H200: 150,754,820,096 B, rounded down to 1 MiB
GPU_MEMORY_MI = 143771
PRODUCT = "NVIDIA H200"
NAMESPACE = "bench"

VARIANTS = ("gpu", "mig", "shared")

# H200 MIG profiles (measured table): name, GI profile id, SMs, memory MiB,
# copy engines, decoders, jpeg engines, ofa engines, placement starts, size in memory slices.
MIG_PROFILES = (
    ("1g.18gb", 19, 16, 16384, 1, 1, 1, 0, (0, 1, 2, 3, 4, 5, 6), 1),
    ("2g.35gb", 14, 32, 33280, 2, 2, 2, 0, (0, 2, 4), 2),
    ("3g.71gb", 9, 60, 71424, 3, 3, 3, 0, (0, 4), 4),
    ("7g.141gb", 0, 132, 143360, 8, 7, 7, 1, (0,), 8),
)
FULL_GPU_ENGINES = {"multiprocessors": 132, "copy-engines": 8, "decoders": 7, "jpeg-engines": 7, "ofa-engines": 1}


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


def _common_attributes(node: int, gpu: int) -> dict[str, Any]:
    # HGX H200: GPUs 0-3 on NUMA node 0, 4-7 on NUMA node 1; two GPUs per PCIe root.
    bus = 0x18 + 0x10 * gpu
    return {
        "productName": {"string": PRODUCT},
        "brand": {"string": "Nvidia"},
        "architecture": {"string": "Hopper"},
        "cudaComputeCapability": {"version": "9.0.0"},
        "driverVersion": {"version": "580.159.4"},
        "cudaDriverVersion": {"version": "13.0.0"},
        "resource.kubernetes.io/pciBusID": {"string": f"0000:{bus:02x}:00.0"},
        "resource.kubernetes.io/pcieRoot": {"string": f"pci0000:{0x10 * (gpu // 2 + 1):02x}"},
        "resource.kubernetes.io/numaNode": {"int": gpu // 4},
    }


def _gpu_device(node: int, gpu: int, shared: bool) -> dict[str, Any]:
    attrs = {"type": {"string": "gpu"}, "uuid": {"string": _gpu_uuid(node, gpu)}}
    attrs.update(_common_attributes(node, gpu))
    dev: dict[str, Any] = {"name": f"gpu-{gpu}", "attributes": attrs}
    if shared:
        dev["allowMultipleAllocations"] = True
        dev["capacity"] = {
            "memory": {
                "value": GPU_MEMORY,
                "requestPolicy": {"default": GPU_MEMORY, "validRange": {"min": "1Mi", "max": GPU_MEMORY, "step": "1Mi"}},
            }
        }
    else:
        dev["capacity"] = {"memory": {"value": GPU_MEMORY}}
    return dev


def _slice(node: int, suffix: str, count: int, **spec: Any) -> dict[str, Any]:
    name = node_name(node)
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": f"{name}-{DRIVER}-{suffix}"},
        "spec": {"driver": DRIVER, "nodeName": name, "pool": {"name": name, "generation": 1, "resourceSliceCount": count}, **spec},
    }


def _counters(values: dict[str, Any]) -> dict[str, Any]:
    return {k: {"value": str(v)} for k, v in values.items()}


def _mig_devices(node: int, gpu: int) -> list[dict[str, Any]]:
    cset = f"gpu-{gpu}-counter-set"
    full = _gpu_device(node, gpu, shared=False)
    full_consumes = dict(FULL_GPU_ENGINES)
    full_consumes["memory"] = GPU_MEMORY
    for s in range(8):
        full_consumes[f"memory-slice-{s}"] = 1
    full["consumesCounters"] = [{"counterSet": cset, "counters": _counters(full_consumes)}]
    devices = [full]
    common = _common_attributes(node, gpu)
    for profile, pid, sms, mem, ce, dec, jpg, ofa, starts, size in MIG_PROFILES:
        for start in starts:
            attrs = {
                "type": {"string": "mig"},
                "uuid": {"string": _mig_uuid(node, gpu, pid, start)},
                "parentUUID": {"string": _gpu_uuid(node, gpu)},
                "profile": {"string": profile},
            }
            attrs.update(common)
            consumes: dict[str, Any] = {"multiprocessors": sms, "copy-engines": ce, "decoders": dec, "jpeg-engines": jpg}
            if ofa:
                consumes["ofa-engines"] = ofa
            consumes["memory"] = f"{mem}Mi"
            for s in range(start, start + size):
                consumes[f"memory-slice-{s}"] = 1
            capacity = {
                "multiprocessors": {"value": str(sms)},
                "copyEngines": {"value": str(ce)},
                "decoders": {"value": str(dec)},
                "jpegEngines": {"value": str(jpg)},
                "memory": {"value": f"{mem}Mi"},
            }
            if ofa:
                capacity["ofaEngines"] = {"value": str(ofa)}
            devices.append(
                {
                    "name": f"gpu-{gpu}-mig-{profile.replace('.', '')}-{pid}-{start}",
                    "attributes": attrs,
                    "capacity": capacity,
                    "consumesCounters": [{"counterSet": cset, "counters": _counters(consumes)}],
                }
            )
    return devices


def node_slices(variant: str, node: int) -> list[dict[str, Any]]:
    """The ResourceSlices that node ``node`` publishes in ``variant``."""
    if variant == "gpu":
        return [_slice(node, "gpus", 1, devices=[_gpu_device(node, g, shared=False) for g in range(GPUS_PER_NODE)])]
    if variant == "shared":
        return [_slice(node, "gpus", 1, devices=[_gpu_device(node, g, shared=True) for g in range(GPUS_PER_NODE)])]
    if variant == "mig":
        total = GPUS_PER_NODE + 1
        counter_sets = []
        for g in range(GPUS_PER_NODE):
            values: dict[str, Any] = dict(FULL_GPU_ENGINES)
            values["memory"] = GPU_MEMORY
            for s in range(8):
                values[f"memory-slice-{s}"] = 1
            counter_sets.append({"name": f"gpu-{g}-counter-set", "counters": _counters(values)})
        out = [_slice(node, "counters", total, sharedCounters=counter_sets)]
        for g in range(GPUS_PER_NODE):
            out.append(_slice(node, f"gpu-{g}", total, devices=_mig_devices(node, g)))
        return out
    raise ValueError(f"unknown variant {variant!r}")


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
