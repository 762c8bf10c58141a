"""Simulated (kwok-like) nodes from real hardware profiles: Node objects and their ResourceSlices.

A :class:`NodeProfile` is one server model. :func:`node_objects` turns it into what a cluster with
the NVIDIA GPU stack holds for such a node: a v1 Node with capacity/allocatable and the GPU
feature-discovery labels (gpu-stack.md section 2), and, in DRA mode, the ResourceSlices the
``gpu.nvidia.com`` driver publishes, built by :mod:`gpuplane.driver.slices` (the same code the node
driver uses). Sources: MIG tables in :mod:`gpuplane.driver.hardware` (the H200 one is the real
probe of shared/fixtures/h200); OpenB node types from
shared/traces/openb/openb_node_list_gpu_node.csv (the most common shape of each GPU model).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from gpuplane.driver import hardware as hw
from gpuplane.driver.slices import DRIVER, GpuSpec, MigProfile, build_slices

MODES = ("device-plugin", "dra", "dra-gpu", "dra-shared")
CLIQUE_LABEL = "nvidia.com/gpu.clique"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"

FAMILIES = {"Volta": "volta", "Turing": "turing", "Ampere": "ampere", "Ada": "ada-lovelace", "Hopper": "hopper",
            "Blackwell": "blackwell", "Pascal": "pascal", "Unknown": "undefined"}


@dataclass(frozen=True)
class NodeProfile:
    """One server model. ``gpu_product`` is the GFD label value; ``product_name`` NVML's name."""

    name: str
    gpus: int
    gpu_product: str
    gpu_memory_mib: int  # 0 = unknown (no nvidia.com/gpu.memory label)
    cpu_milli: int
    memory_mib: int
    product_name: str = ""
    architecture: str = "Hopper"
    compute_capability: str = "9.0"
    mig_profiles: tuple[MigProfile, ...] = ()
    numa_nodes: int = 2
    arch: str = "amd64"  # kubernetes.io/arch
    nvlink: bool = False
    clique_size: int = 0  # nodes per NVLink domain (GB200 NVL72: 18 trays); 0 = none
    source: str = ""

    @property
    def mig_capable(self) -> bool:
        return bool(self.mig_profiles)


PROFILES: dict[str, NodeProfile] = {
    "hgx-h100": NodeProfile(
        "hgx-h100", 8, "NVIDIA-H100-80GB-HBM3", hw.H100_MEMORY_MIB, 224_000, 2_097_152, "NVIDIA H100 80GB HBM3",
        mig_profiles=hw.H100_MIG, nvlink=True, source="DGX/HGX H100: 8x H100 SXM5 80GB, NVSwitch, 2x56-core Xeon, 2 TiB"),
    "hgx-h200": NodeProfile(
        "hgx-h200", 8, "NVIDIA-H200", hw.H200_MEMORY_MIB, 224_000, 2_097_152, "NVIDIA H200",
        mig_profiles=hw.H200_MIG, nvlink=True, source="HGX H200: 8x H200 141GB (MIG geometry: shared/fixtures/h200)"),
    "gb200-nvl72": NodeProfile(
        "gb200-nvl72", 4, "NVIDIA-GB200", 189_471, 144_000, 983_040, "NVIDIA GB200", "Blackwell", "10.0",
        numa_nodes=2, arch="arm64", nvlink=True, clique_size=18,
        source="GB200 NVL72 compute tray: 2 Grace + 4 B200; 18 trays per rack share one NVLink domain"),
    "a100-80gb": NodeProfile(
        "a100-80gb", 8, "NVIDIA-A100-SXM4-80GB", hw.A100_80GB_MEMORY_MIB, 256_000, 1_048_576, "NVIDIA A100-SXM4-80GB",
        "Ampere", "8.0", mig_profiles=hw.A100_80GB_MIG, nvlink=True, source="DGX A100 80GB: 8x A100 SXM4, 2x64-core EPYC, 1 TiB"),
    "l40s": NodeProfile(
        "l40s", 4, "NVIDIA-L40S", 46_068, 128_000, 524_288, "NVIDIA L40S", "Ada", "8.9",
        source="PCIe server: 4x L40S 48GB (no NVLink, no MIG)"),
}

# OpenB GPU models: most common (GPUs, CPU, memory) of openb_node_list_gpu_node.csv, and the
# framebuffer of the models that are public (G2/G3 are undisclosed internal codes).
OPENB_MEMORY_MIB = {"P100": 16_280, "T4": 15_360, "V100M16": 16_160, "V100M32": 32_510, "A10": 23_028}
OPENB_SHAPES = {  # model -> (GPUs, cpu_milli, memory_mib), from the CSV (see openb_profiles)
    "A10": (1, 128_000, 1_048_576),
    "G2": (8, 96_000, 393_216),
    "G3": (8, 128_000, 786_432),
    "P100": (2, 16_000, 122_880),
    "T4": (2, 104_000, 524_288),
    "V100M16": (4, 32_000, 131_072),
    "V100M32": (8, 96_000, 786_432),
}


def _openb_profile(model: str, gpus: int, cpu_milli: int, memory_mib: int) -> NodeProfile:
    return NodeProfile(f"openb-{model.lower()}", gpus, model, OPENB_MEMORY_MIB.get(model, 0), cpu_milli, memory_mib,
                       product_name=model, architecture="Unknown", compute_capability="0.0", nvlink=False,
                       source="OpenB (Alibaba GPU-sharing trace) node type")


for _model, (_g, _c, _m) in OPENB_SHAPES.items():
    PROFILES[f"openb-{_model.lower()}"] = _openb_profile(_model, _g, _c, _m)


def openb_profiles(node_csv: str | Path) -> dict[str, NodeProfile]:
    """``openb-<model>`` profiles read from an OpenB node list: each model's most common shape."""
    from gpuplane.sim.openb.trace import load_nodes

    shapes: dict[str, Counter] = {}
    for n in load_nodes(node_csv):
        if n.gpu:
            shapes.setdefault(n.model, Counter())[(n.gpu, n.cpu_milli, n.memory_mib)] += 1
    out = {}
    for model, counts in sorted(shapes.items()):
        (g, c, m), _ = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        out[f"openb-{model.lower()}"] = _openb_profile(model, g, c, m)
    return out


def get_profile(name: str) -> NodeProfile:
    """The profile called ``name``, or a ValueError listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown node profile {name!r} (known: {', '.join(sorted(PROFILES))})") from None


def gpu_specs(profile: NodeProfile, node: str) -> list[GpuSpec]:
    """The node's GPUs: HGX-style PCI layout (two GPUs per PCIe root, GPUs split evenly over NUMA nodes)."""
    specs = []
    per_numa = max(1, -(-profile.gpus // max(1, profile.numa_nodes)))
    for g in range(profile.gpus):
        bus = 0x18 + 0x10 * g
        specs.append(GpuSpec(
            minor=g, uuid="GPU-" + str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{node}.gpu-{g}.gpuplane.sim")),
            product_name=profile.product_name or profile.gpu_product, memory_mib=profile.gpu_memory_mib,
            architecture=profile.architecture, compute_capability=profile.compute_capability,
            pci_bus_id=f"0000:{bus:02x}:00.0", pcie_root=f"pci0000:{0x10 * (g // 2 + 1):02x}", numa_node=g // per_numa,
            mig_profiles=profile.mig_profiles,
            **_engines(profile)))
    return specs


def _engines(profile: NodeProfile) -> dict[str, int]:
    full = [p for p in profile.mig_profiles if p.size == 8]
    if not full:
        return {}
    p = full[0]
    return dict(multiprocessors=p.multiprocessors, copy_engines=p.copy_engines, decoders=p.decoders, encoders=p.encoders,
                jpeg_engines=p.jpeg_engines, ofa_engines=p.ofa_engines)


def gfd_labels(profile: NodeProfile, clique: Optional[str] = None) -> dict[str, str]:
    """The GPU feature-discovery labels of a node of this profile (no MIG strategy, no sharing)."""
    if profile.gpus == 0:
        return {}
    major, _, minor = profile.compute_capability.partition(".")
    labels = {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": profile.gpu_product,
        "nvidia.com/gpu.count": str(profile.gpus),
        "nvidia.com/gpu.replicas": "1",
        "nvidia.com/gpu.sharing-strategy": "none",
        "nvidia.com/gpu.mode": "compute",
        "nvidia.com/gpu.family": FAMILIES.get(profile.architecture, "undefined"),
        "nvidia.com/gpu.compute.major": major,
        "nvidia.com/gpu.compute.minor": minor or "0",
        "nvidia.com/mig.capable": "true" if profile.mig_capable else "false",
        "nvidia.com/mps.capable": "false",
    }
    if profile.gpu_memory_mib:
        labels["nvidia.com/gpu.memory"] = str(profile.gpu_memory_mib)
    if clique:
        labels[CLIQUE_LABEL] = clique
    return labels


_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def node_objects(profile: NodeProfile, name: str, mode: str = "device-plugin", clique: str | None = None,
                 labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """A v1 Node for ``profile`` (plus its ResourceSlices in the DRA modes).

    ``device-plugin``: ``nvidia.com/gpu`` in capacity/allocatable. ``dra``: no extended resource;
    slices with dynamic MIG on MIG-capable GPUs, else full GPUs. ``dra-gpu``: full GPUs only.
    ``dra-shared``: ConsumableShares=memory. ``clique`` sets ``nvidia.com/gpu.clique``
    (``<clusterUUID>.<cliqueId>``).
    """
    if mode not in MODES:
        raise ValueError(f"node {name}: unknown mode {mode!r} (expected one of {', '.join(MODES)})")
    if clique is not None and not _LABEL_VALUE.match(clique):
        raise ValueError(f"node {name}: clique {clique!r} is not a valid label value")
    lab = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": profile.arch,
           "type": "kwok", "gpuplane.io/node-profile": profile.name}
    lab.update(gfd_labels(profile, clique))
    lab.update(labels or {})
    resources = {"cpu": f"{profile.cpu_milli}m", "memory": f"{profile.memory_mib}Mi", "pods": "110"}
    if mode == "device-plugin" and profile.gpus:
        resources["nvidia.com/gpu"] = str(profile.gpus)
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": lab, "annotations": {KWOK_ANNOTATION: "fake"}},
        "status": {"capacity": dict(resources), "allocatable": dict(resources)},
    }
    if mode == "device-plugin" or not profile.gpus:
        return [node]
    if mode == "dra-shared" and not profile.gpu_memory_mib:
        raise ValueError(f"node {name}: profile {profile.name} has no known GPU memory size; mode dra-shared needs one")
    gpus = gpu_specs(profile, name)
    slice_mode = {"dra": "mig" if profile.mig_capable else "gpu", "dra-gpu": "gpu", "dra-shared": "shared"}[mode]
    return [node, *build_slices(name, gpus, mode=slice_mode)]


def gb200_rack(rack: int, mode: str = "device-plugin", prefix: str = "gb200") -> list[dict[str, Any]]:
    """One GB200 NVL72 rack: 18 trays x 4 GPUs sharing clique ``<clusterUUID>.<cliqueId>``."""
    profile = PROFILES["gb200-nvl72"]
    cluster_uuid = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{prefix}-rack-{rack}.gpuplane.sim"))
    clique = f"{cluster_uuid}.{rack}"
    out: list[dict[str, Any]] = []
    for tray in range(profile.clique_size):
        out.extend(node_objects(profile, f"{prefix}-r{rack:02d}-n{tray:02d}", mode, clique=clique))
    return out


def device_classes(extended_resource: bool = True) -> list[dict[str, Any]]:
    """DeviceClasses ``gpu.nvidia.com`` and ``mig.nvidia.com`` as the NVIDIA chart installs them on resource.k8s.io/v1."""

    def cls(name: str, typ: str, ext: Optional[str]) -> dict[str, Any]:
        spec: dict[str, Any] = {"selectors": [{"cel": {"expression": f"device.driver == '{DRIVER}' && device.attributes['{DRIVER}'].type == '{typ}'"}}]}
        if ext:
            spec["extendedResourceName"] = ext
        return {"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": name}, "spec": spec}

    return [cls("gpu.nvidia.com", "gpu", "nvidia.com/gpu" if extended_resource else None), cls("mig.nvidia.com", "mig", None)]


def mig_profile_names(objects: list[dict[str, Any]]) -> list[str]:
    """MIG profiles offered by the ResourceSlices among ``objects`` (sorted), e.g. to draw MIG jobs that can run."""
    names = {d["attributes"]["profile"]["string"] for o in objects if o.get("kind") == "ResourceSlice"
             for d in o.get("spec", {}).get("devices", []) or [] if "profile" in d.get("attributes", {})}
    return sorted(names)

