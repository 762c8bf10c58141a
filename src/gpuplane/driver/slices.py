"""A node's GPU inventory as the ResourceSlices NVIDIA's DRA driver (``gpu.nvidia.com``) publishes.

Pure: no NVML. Discovery (real or recorded, see :func:`parse_nvml_probe`) fills :class:`GpuSpec`
values; this module turns them into resource.k8s.io/v1 ResourceSlice dicts with the driver's
device names, attributes and capacities (shared/reference/dra-api.md 7.3, gpu-stack.md 4.5):

* ``gpu``: one slice, one device ``gpu-<minor>`` per GPU (attributes ``type``, ``uuid``,
  ``productName``, ``brand``, ``architecture``, ``cudaComputeCapability``, ``driverVersion``,
  ``cudaDriverVersion``, ``resource.kubernetes.io/pciBusID|pcieRoot|numaNode``; capacity ``memory``).
* ``shared``: the same with ``allowMultipleAllocations`` and a ``memory`` request policy
  (ConsumableShares=memory).
* ``mig``: dynamic MIG (KEP-4815 partitionable devices, Kubernetes >= 1.35 layout): a counter slice
  with one counter set ``gpu-<minor>-counter-set`` per GPU, then one slice per GPU with the full GPU
  and every (profile, placement) as a device consuming its engines, memory and memory slices.
* ``mig-static``: pre-created MIG devices (:class:`MigSpec`) beside the GPUs that are not in MIG mode.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional

DRIVER = "gpu.nvidia.com"
MEMORY_SLICES = 8
MODES = ("gpu", "shared", "mig", "mig-static")

# NVML brand / architecture enums (nvml.h) to the strings the driver publishes.
BRANDS = {0: "Unknown", 2: "Tesla", 14: "Nvidia"}
ARCHITECTURES = {2: "Kepler", 3: "Maxwell", 4: "Pascal", 5: "Volta", 6: "Turing", 7: "Ampere", 8: "Ada", 9: "Hopper", 10: "Blackwell"}


@dataclass(frozen=True)
class MigProfile:
    """One GPU-instance profile: engines, memory and the memory-slice placements it may take."""

    name: str  # e.g. "1g.18gb"
    profile_id: int  # the GI profile id (nvidia-smi's "ID"), not the NVML index
    multiprocessors: int
    copy_engines: int
    decoders: int
    encoders: int
    jpeg_engines: int
    ofa_engines: int
    memory_mib: int
    starts: tuple[int, ...]  # placement starts, in memory slices
    size: int  # memory slices per placement


@dataclass(frozen=True)
class GpuSpec:
    """One physical GPU as discovery reports it."""

    minor: int
    uuid: str
    product_name: str
    memory_mib: int  # 0 = unknown: no memory capacity
    architecture: str = "Hopper"
    brand: str = "Nvidia"
    compute_capability: str = "9.0"
    driver_version: str = "580.159.04"  # raw NVML string; published as strict semver
    cuda_driver_version: str = "13.0"
    pci_bus_id: str = "0000:00:00.0"
    pcie_root: str = "pci0000:00"
    numa_node: Optional[int] = 0
    multiprocessors: int = 132
    copy_engines: int = 8
    decoders: int = 7
    encoders: int = 0
    jpeg_engines: int = 7
    ofa_engines: int = 1
    mig_profiles: tuple[MigProfile, ...] = ()  # profiles offered in dynamic MIG mode


@dataclass(frozen=True)
class MigSpec:
    """A pre-created MIG device (static MIG): a profile at a placement on a parent GPU."""

    parent: GpuSpec
    profile: MigProfile
    start: int
    uuid: str


def semver(raw: str) -> str:
    """NVML version text to the strict semver the driver publishes: '580.159.04' -> '580.159.4', '13.0' -> '13.0.0'."""
    parts = raw.strip().split(".")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"version {raw!r}: expected up to three dot-separated numbers")
    parts = [str(int(p)) for p in parts] + ["0"] * (3 - len(parts))
    return ".".join(parts)


def _common_attributes(gpu: GpuSpec) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "productName": {"string": gpu.product_name},
        "brand": {"string": gpu.brand},
        "architecture": {"string": gpu.architecture},
        "cudaComputeCapability": {"version": semver(gpu.compute_capability)},
        "driverVersion": {"version": semver(gpu.driver_version)},
        "cudaDriverVersion": {"version": semver(gpu.cuda_driver_version)},
        "resource.kubernetes.io/pciBusID": {"string": gpu.pci_bus_id},
        "resource.kubernetes.io/pcieRoot": {"string": gpu.pcie_root},
    }
    if gpu.numa_node is not None:
        attrs["resource.kubernetes.io/numaNode"] = {"int": gpu.numa_node}
    return attrs


def gpu_device(gpu: GpuSpec, shared: bool = False) -> dict[str, Any]:
    """The full-GPU device ``gpu-<minor>``."""
    attrs: dict[str, Any] = {"type": {"string": "gpu"}, "uuid": {"string": gpu.uuid}}
    attrs.update(_common_attributes(gpu))
    memory = f"{gpu.memory_mib}Mi"
    dev: dict[str, Any] = {"name": f"gpu-{gpu.minor}", "attributes": attrs}
    if gpu.memory_mib <= 0:  # framebuffer size unknown (e.g. undisclosed models of a trace)
        if shared:
            raise ValueError(f"GPU {gpu.uuid}: memory sharing needs the GPU's memory size")
        return dev
    if shared:
        dev["allowMultipleAllocations"] = True
        dev["capacity"] = {"memory": {"value": memory, "requestPolicy": {
            "default": memory, "validRange": {"min": "1Mi", "max": memory, "step": "1Mi"}}}}
    else:
        dev["capacity"] = {"memory": {"value": memory}}
    return dev


def _engines(p: MigProfile | GpuSpec) -> list[tuple[str, str, int]]:
    """(counter name, capacity name, value) for the non-zero engines, in the driver's order."""
    rows = [("multiprocessors", "multiprocessors", p.multiprocessors), ("copy-engines", "copyEngines", p.copy_engines),
            ("decoders", "decoders", p.decoders), ("encoders", "encoders", p.encoders),
            ("jpeg-engines", "jpegEngines", p.jpeg_engines), ("ofa-engines", "ofaEngines", p.ofa_engines)]
    return [r for r in rows if r[2]]


def _counters(values: dict[str, Any]) -> dict[str, Any]:
    return {k: {"value": str(v)} for k, v in values.items()}


def counter_set_name(gpu: GpuSpec) -> str:
    return f"gpu-{gpu.minor}-counter-set"


def _consumption(p: MigProfile | GpuSpec, memory_slices: range) -> dict[str, Any]:
    """Counter values of ``p``: its engines, its memory and one per memory slice it takes."""
    values: dict[str, Any] = {c: v for c, _, v in _engines(p)}
    values["memory"] = f"{p.memory_mib}Mi"
    for s in memory_slices:
        values[f"memory-slice-{s}"] = 1
    return values


def _full_counters(gpu: GpuSpec) -> dict[str, Any]:
    return _consumption(gpu, range(MEMORY_SLICES))


def mig_device_name(gpu: GpuSpec, profile: MigProfile, start: int) -> str:
    """``gpu-<minor>-mig-<profile without dots, RFC 1123>-<profile id>-<start>``."""
    slug = re.sub(r"[^a-z0-9-]", "-", profile.name.replace(".", "").lower())
    return f"gpu-{gpu.minor}-mig-{slug}-{profile.profile_id}-{start}"


def _mig_attributes(gpu: GpuSpec, profile: MigProfile, uuid: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {"type": {"string": "mig"}, "uuid": {"string": uuid},
                             "parentUUID": {"string": gpu.uuid}, "profile": {"string": profile.name}}
    attrs.update(_common_attributes(gpu))
    return attrs


def _mig_capacity(profile: MigProfile) -> dict[str, Any]:
    engines = _engines(profile)
    cap = {name: {"value": str(v)} for _, name, v in engines if name != "ofaEngines"}
    cap["memory"] = {"value": f"{profile.memory_mib}Mi"}
    cap.update({name: {"value": str(v)} for _, name, v in engines if name == "ofaEngines"})
    return cap


def dynamic_mig_devices(gpu: GpuSpec, mig_uuid) -> list[dict[str, Any]]:
    """The full GPU plus every (profile, placement) of ``gpu.mig_profiles``, all consuming its counter set.

    ``mig_uuid(profile, start)`` names each would-be MIG device (real ones get theirs at creation).
    """
    cset = counter_set_name(gpu)
    full = gpu_device(gpu)
    full["consumesCounters"] = [{"counterSet": cset, "counters": _counters(_full_counters(gpu))}]
    devices = [full]
    for profile in gpu.mig_profiles:
        for start in profile.starts:
            consumes = _consumption(profile, range(start, start + profile.size))
            devices.append({
                "name": mig_device_name(gpu, profile, start),
                "attributes": _mig_attributes(gpu, profile, mig_uuid(profile, start)),
                "capacity": _mig_capacity(profile),
                "consumesCounters": [{"counterSet": cset, "counters": _counters(consumes)}],
            })
    return devices


def static_mig_device(mig: MigSpec) -> dict[str, Any]:
    """A pre-created MIG device: capacities plus ``memorySlice<i>`` = 1 per occupied slice."""
    cap = _mig_capacity(mig.profile)
    for s in range(mig.start, mig.start + mig.profile.size):
        cap[f"memorySlice{s}"] = {"value": "1"}
    return {"name": mig_device_name(mig.parent, mig.profile, mig.start),
            "attributes": _mig_attributes(mig.parent, mig.profile, mig.uuid), "capacity": cap}


def _slice(node: str, suffix: str, count: int, generation: int, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": f"{node}-{DRIVER}-{suffix}"},
        "spec": {"driver": DRIVER, "nodeName": node, "pool": {"name": node, "generation": generation, "resourceSliceCount": count}, **spec},
    }


def _default_mig_uuid(gpu: GpuSpec):
    import uuid as _uuid

    def make(profile: MigProfile, start: int) -> str:
        return "MIG-" + str(_uuid.uuid5(_uuid.NAMESPACE_URL, f"{gpu.uuid}/{profile.profile_id}/{start}"))

    return make


def build_slices(node: str, gpus: Iterable[GpuSpec], mode: str = "gpu", migs: Iterable[MigSpec] = (),
                 generation: int = 1, mig_uuid=None) -> list[dict[str, Any]]:
    """The ResourceSlices of ``node`` (pool = node name) for ``gpus`` in ``mode`` (see module doc).

    ``mig_uuid(gpu) -> (profile, start) -> str`` names dynamic MIG devices (default: uuid5 of
    the parent UUID, profile and start).
    """
    gpus = list(gpus)
    if mode not in MODES:
        raise ValueError(f"unknown slice mode {mode!r} (expected one of {', '.join(MODES)})")
    if len({g.minor for g in gpus}) != len(gpus):
        raise ValueError(f"node {node}: duplicate GPU minor numbers {[g.minor for g in gpus]}")
    if mode in ("gpu", "shared"):
        return [_slice(node, "gpus", 1, generation, devices=[gpu_device(g, shared=mode == "shared") for g in gpus])]
    if mode == "mig-static":
        migs = list(migs)
        in_mig = {m.parent.minor for m in migs}
        devices = [gpu_device(g) for g in gpus if g.minor not in in_mig] + [static_mig_device(m) for m in migs]
        return [_slice(node, "gpus", 1, generation, devices=devices)]
    naming = mig_uuid or _default_mig_uuid
    total = len(gpus) + 1
    counter_sets = [{"name": counter_set_name(g), "counters": _counters(_full_counters(g))} for g in gpus]
    out = [_slice(node, "counters", total, generation, sharedCounters=counter_sets)]
    for g in gpus:
        out.append(_slice(node, f"gpu-{g.minor}", total, generation, devices=dynamic_mig_devices(g, naming(g))))
    return out


# --- the recorded H200 probe -------------------------------------------------------------

_GI_LINE = re.compile(
    r"^gi\s+(\d+)\s+(\d+)\s+MIG\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\[.*\])\s*$")


def parse_placements(probe_text: str) -> dict[int, tuple[tuple[int, ...], int]]:
    """GI profile id -> (placement starts, size) from ``nvml-probe2.txt`` ``gi`` lines."""
    out: dict[int, tuple[tuple[int, ...], int]] = {}
    for line in probe_text.splitlines():
        m = _GI_LINE.match(line.strip())
        if not m:
            continue
        pairs = re.findall(r"\((\d+),\s*(\d+)\)", m.group(14))
        sizes = {int(b) for _, b in pairs}
        if len(sizes) != 1:
            raise ValueError(f"gi line {line.strip()!r}: placements of unequal size")
        out[int(m.group(2))] = (tuple(int(a) for a, _ in pairs), sizes.pop())
    return out


def parse_nvml_probe(nvml: dict[str, Any] | str, probe_text: str = "") -> list[GpuSpec]:
    """GPUs from a recorded nvidia-ml-py dump (``shared/fixtures/h200/nvml.json``).

    MIG profiles come from ``gpuInstanceProfiles``; their placements from ``probe_text`` (the
    ``gi`` lines of ``nvml-probe2.txt``, because the JSON recorded a wrong call form). Profiles
    without a known placement are left out.
    """
    doc = json.loads(nvml) if isinstance(nvml, str) else nvml
    placements = parse_placements(probe_text) if probe_text else {}
    cuda = int(doc["cudaDriverVersion"])
    cuda_text = f"{cuda // 1000}.{cuda % 1000 // 10}"
    gpus = []
    for dev in doc["devices"]:
        def ok(key: str) -> Any:
            v = dev.get(key)
            return None if isinstance(v, dict) and "error" in v else v

        profiles = []
        full = None
        for entry in dev.get("gpuInstanceProfiles", []):
            info = entry.get("info")
            if not info or "error" in entry:
                continue
            name = info["name"].removeprefix("MIG ").strip()
            if info["sliceCount"] == 7 and info["instanceCount"] == 1:
                full = info
            if info["id"] not in placements:
                continue
            starts, size = placements[info["id"]]
            profiles.append(MigProfile(name, info["id"], info["multiprocessorCount"], info["copyEngineCount"],
                                       info["decoderCount"], info["encoderCount"], info["jpegCount"], info["ofaCount"],
                                       info["memorySizeMB"], starts, size))
        cc = dev["nvmlDeviceGetCudaComputeCapability"]
        pci = dev["nvmlDeviceGetPciInfo"]
        bus_legacy = pci["busIdLegacy"].lower()
        engines = {} if full is None else dict(
            multiprocessors=full["multiprocessorCount"], copy_engines=full["copyEngineCount"], decoders=full["decoderCount"],
            encoders=full["encoderCount"], jpeg_engines=full["jpegCount"], ofa_engines=full["ofaCount"])
        gpus.append(GpuSpec(
            minor=dev["nvmlDeviceGetMinorNumber"], uuid=dev["nvmlDeviceGetUUID"], product_name=dev["nvmlDeviceGetName"],
            memory_mib=dev["nvmlDeviceGetMemoryInfo"]["total"] // 2**20,
            architecture=ARCHITECTURES.get(dev["nvmlDeviceGetArchitecture"], "Unknown"),
            brand=BRANDS.get(dev["nvmlDeviceGetBrand"], "Unknown"),
            compute_capability=f"{cc[0]}.{cc[1]}", driver_version=doc["driverVersion"], cuda_driver_version=cuda_text,
            pci_bus_id=bus_legacy, pcie_root=f"pci{pci['domain']:04x}:{pci['bus']:02x}", numa_node=ok("nvmlDeviceGetNumaNodeId"),
            mig_profiles=tuple(profiles), **engines))
    return gpus


__all__ = ["DRIVER", "MODES", "MigProfile", "GpuSpec", "MigSpec", "semver", "gpu_device", "dynamic_mig_devices",
           "static_mig_device", "build_slices", "parse_nvml_probe", "parse_placements", "mig_device_name", "counter_set_name"]
