"""Typed views of the core/v1 and scheduling.k8s.io kinds the scheduler reads: Pod, PriorityClass.

The models follow :mod:`gpuplane.api.models` (msgspec Structs, camelCase on the wire, unknown
fields dropped from the typed view). On top of them:

- :func:`decode_pod` / :func:`decode_priority_class`: dict -> model, type errors become
  :class:`~gpuplane.api.errors.ValidationFailed` naming the object and the field path.
- :func:`pod_requests`: the pod's effective resource requests, as kube-scheduler computes them
  (``max(sum of containers + restartable init containers, each init container + the sidecars
  started before it) + overhead``), with a limit standing in for an absent request (the
  apiserver's defaulting, which is what makes ``limits: {nvidia.com/gpu: 2}`` a request).
- :func:`gpu_demand`: what GPUs the pod asks for: whole devices (``nvidia.com/gpu``), a shared
  portion (``gpu-fraction`` annotation or a fractional ``nvidia.com/gpu`` limit <= 1, KAI's
  legacy form), GPU memory (``gpu-memory`` annotation, MiB), each on
  ``gpu-fraction-num-devices`` devices. Checks are KAI's admission checks
  (``gpu_request_validator.go``), with KAI's messages, reported as field errors.
- :func:`pod_state`: Pending / Running / Releasing / Succeeded / Failed per the CLI contract.

Quantities come back as exact :class:`fractions.Fraction` values in base units (cores, bytes,
devices).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Optional

import msgspec

from .errors import FieldError, ValidationFailed
from .models import Base, ObjectMeta, QuantityValue
from .quantity import QuantityError, parse_quantity

__all__ = [
    "Pod",
    "PodSpec",
    "PodStatus",
    "Container",
    "ResourceRequirements",
    "PodResourceClaim",
    "Toleration",
    "PodCondition",
    "PriorityClass",
    "GpuDemand",
    "decode_typed",
    "decode_pod",
    "decode_priority_class",
    "pod_requests",
    "gpu_demand",
    "pod_state",
    "GPU_RESOURCE",
    "GPU_FRACTION_ANNOTATION",
    "GPU_MEMORY_ANNOTATION",
    "GPU_FRACTION_NUM_DEVICES_ANNOTATION",
    "GPU_FRACTION_CONTAINER_NAME_ANNOTATION",
]

GPU_RESOURCE = "nvidia.com/gpu"
GPU_FRACTION_ANNOTATION = "gpu-fraction"
GPU_MEMORY_ANNOTATION = "gpu-memory"
GPU_FRACTION_NUM_DEVICES_ANNOTATION = "gpu-fraction-num-devices"
GPU_FRACTION_CONTAINER_NAME_ANNOTATION = "gpu-fraction-container-name"
MPS_ANNOTATION = "mps"


# --- models ----------------------------------------------------------------------------------


class ResourceRequirements(Base):
    requests: dict[str, QuantityValue] = {}
    limits: dict[str, QuantityValue] = {}
    claims: list[dict[str, Any]] = []


class Container(Base):
    name: str = ""
    image: str = ""
    resources: ResourceRequirements = msgspec.field(default_factory=ResourceRequirements)
    restart_policy: Optional[str] = None  # "Always" on an init container makes it a sidecar


class PodResourceClaim(Base):
    name: str = ""
    resource_claim_name: Optional[str] = None
    resource_claim_template_name: Optional[str] = None


class Toleration(Base):
    key: str = ""
    operator: str = ""
    value: str = ""
    effect: str = ""
    toleration_seconds: Optional[int] = None


class PodSpec(Base):
    node_name: str = ""
    scheduler_name: str = ""
    priority_class_name: str = ""
    priority: Optional[int] = None
    preemption_policy: Optional[str] = None
    containers: list[Container] = []
    init_containers: list[Container] = []
    resource_claims: list[PodResourceClaim] = []
    node_selector: dict[str, str] = {}
    affinity: Optional[dict[str, Any]] = None
    tolerations: list[Toleration] = []
    overhead: dict[str, QuantityValue] = {}
    scheduling_gates: list[dict[str, Any]] = []


class PodCondition(Base):
    type: str = ""
    status: str = ""
    reason: str = ""
    message: str = ""
    last_transition_time: Optional[str] = None
    last_probe_time: Optional[str] = None


class PodResourceClaimStatus(Base):
    name: str = ""
    resource_claim_name: Optional[str] = None


class PodStatus(Base):
    phase: str = ""
    nominated_node_name: str = ""
    conditions: list[PodCondition] = []
    resource_claim_statuses: list[PodResourceClaimStatus] = []


class Pod(Base):
    api_version: str = "v1"
    kind: str = "Pod"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PodSpec = msgspec.field(default_factory=PodSpec)
    status: PodStatus = msgspec.field(default_factory=PodStatus)


class PriorityClass(Base):
    api_version: str = "scheduling.k8s.io/v1"
    kind: str = "PriorityClass"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    value: int = 0
    global_default: bool = False
    preemption_policy: str = ""
    description: str = ""


# --- decoding --------------------------------------------------------------------------------


def _ref(obj: Any) -> tuple[str, str, str]:
    kind = obj.get("kind", "") if isinstance(obj, dict) else ""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    ns = meta.get("namespace", "")
    name = meta.get("name", "")
    return str(kind), ns if isinstance(ns, str) else "", name if isinstance(name, str) else ""


def decode_typed(obj: dict, model: type, kind: str) -> Any:
    """``msgspec.convert`` with type errors as a :class:`ValidationFailed` naming the field."""
    try:
        return msgspec.convert(obj, model)
    except msgspec.ValidationError as exc:
        _, ns, name = _ref(obj)
        text = str(exc)
        path = ""
        if " - at `$." in text:
            text, _, path = text.rpartition(" - at `$.")
            path = path.rstrip("`")
        raise ValidationFailed([FieldError(kind, ns, name, path, f"Invalid value: {text}")]) from None


def decode_pod(obj: dict) -> Pod:
    return decode_typed(obj, Pod, "Pod")


def decode_priority_class(obj: dict) -> PriorityClass:
    return decode_typed(obj, PriorityClass, "PriorityClass")


# --- resources -------------------------------------------------------------------------------


def _pod_error(pod: Pod, path: str, message: str) -> FieldError:
    return FieldError("Pod", pod.metadata.namespace, pod.metadata.name, path, message)


def _qty(pod: Pod, value: QuantityValue, path: str) -> Fraction:
    try:
        return parse_quantity(value).value
    except (QuantityError, ValueError, OverflowError):
        raise ValidationFailed(
            [_pod_error(pod, path, f"Invalid value: {value!r}: quantities must match the regular expression "
                        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
        ) from None


def _container_requests(pod: Pod, c: Container, path: str) -> dict[str, Fraction]:
    out: dict[str, Fraction] = {}
    res = c.resources
    for name, value in res.limits.items():
        out[name] = _qty(pod, value, f"{path}.resources.limits[{name}]")
    for name, value in res.requests.items():  # a request wins over the limit
        out[name] = _qty(pod, value, f"{path}.resources.requests[{name}]")
    return out


def _add(into: dict[str, Fraction], other: dict[str, Fraction]) -> None:
    for k, v in other.items():
        into[k] = into.get(k, Fraction(0)) + v


def _max(into: dict[str, Fraction], other: dict[str, Fraction]) -> None:
    for k, v in other.items():
        if k not in into or v > into[k]:
            into[k] = v


def pod_requests(pod: Pod) -> dict[str, Fraction]:
    """Effective requests per resource name (``cpu`` in cores, ``memory`` in bytes, ...).

    - Per container, a resource listed only under ``limits`` is requested at its limit (the
      apiserver defaults ``requests`` from ``limits``; for extended resources such as
      ``nvidia.com/gpu`` the two must be equal anyway).
    - Regular containers and restartable init containers (sidecars, ``restartPolicy: Always``)
      are summed; every other init container needs its own requests plus the sidecars started
      before it; the pod needs the maximum of these, per resource; ``spec.overhead`` is added.
    """
    total: dict[str, Fraction] = {}
    for i, c in enumerate(pod.spec.containers):
        _add(total, _container_requests(pod, c, f"spec.containers[{i}]"))
    sidecars: dict[str, Fraction] = {}
    init_peak: dict[str, Fraction] = {}
    for i, c in enumerate(pod.spec.init_containers):
        req = _container_requests(pod, c, f"spec.initContainers[{i}]")
        if c.restart_policy == "Always":
            _add(sidecars, req)
            _max(init_peak, sidecars)
        else:
            need = dict(sidecars)
            _add(need, req)
            _max(init_peak, need)
    _add(total, sidecars)
    _max(total, init_peak)
    for name, value in pod.spec.overhead.items():
        _add(total, {name: _qty(pod, value, f"spec.overhead[{name}]")})
    return {k: v for k, v in total.items()}


# --- GPU demand ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuDemand:
    """The GPUs one pod asks for.

    Exactly one form is used: ``whole`` devices, or a shared request on ``num_devices``
    devices of ``fraction`` each, or of ``memory_mib`` each. ``whole == 0`` and neither shared
    form means no GPU (DRA claims are accounted separately).
    """

    whole: int = 0
    fraction: Optional[Fraction] = None
    memory_mib: Optional[int] = None
    num_devices: int = 1
    container_index: int = 0  # the container that receives a shared GPU

    @property
    def is_shared(self) -> bool:
        return self.fraction is not None or self.memory_mib is not None

    @property
    def is_empty(self) -> bool:
        return self.whole == 0 and not self.is_shared

    def gpus(self, gpu_memory_mib: Optional[int] = None) -> Fraction:
        """GPU units for quota accounting: whole + fraction x devices, or memory / device memory.

        A ``gpu-memory`` request needs the device memory (MiB) to become a fraction; KAI uses
        the node label ``nvidia.com/gpu.memory`` (the cluster minimum for queue requests, the
        maximum for limit checks). Without it a memory request raises ``ValueError``.
        """
        if self.fraction is not None:
            return self.fraction * self.num_devices
        if self.memory_mib is not None:
            if not gpu_memory_mib or gpu_memory_mib <= 0:
                raise ValueError("a gpu-memory request needs the GPU memory size to count as GPUs")
            return min(Fraction(1), Fraction(self.memory_mib, gpu_memory_mib)) * self.num_devices
        return Fraction(self.whole)


def _parse_uint(text: str) -> Optional[int]:
    """Go's ``strconv.ParseUint(s, 10, 64)``: ASCII digits only, no sign, no spaces."""
    if not text or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value < 2**64 else None


def _parse_go_float(text: str) -> Optional[float]:
    """Go's ``strconv.ParseFloat(s, 64)`` closely enough for annotation values (no NaN)."""
    t = text.strip()
    if t != text or not t or "_" in t:
        return None
    try:
        value = float(t)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def _gpu_container_index(pod: Pod) -> int:
    name = pod.metadata.annotations.get(GPU_FRACTION_CONTAINER_NAME_ANNOTATION)
    if name:
        for i, c in enumerate(pod.spec.containers):
            if c.name == name:
                return i
        return -1
    return 0


def gpu_demand(pod: Pod) -> GpuDemand:
    """Parse the pod's GPU request; raise :class:`ValidationFailed` on KAI-invalid requests.

    Rules (KAI admission, ``gpu_request_validator.go``, messages kept):

    - ``nvidia.com/gpu`` in a container's limits (or requests, when limits lack it) is summed
      over containers (init containers: maximum, as for any resource). A whole value >= 0 is a
      whole-device request; a non-integer value <= 1 on the GPU container is KAI's legacy
      fractional form; a non-integer above 1 is invalid; a negative value is invalid.
    - ``gpu-fraction``: a number with 0 < f < 1 (KAI rejects 1 and above; whole GPUs use
      ``nvidia.com/gpu``); not together with ``nvidia.com/gpu``.
    - ``gpu-memory``: MiB, a positive integer; not together with ``gpu-fraction`` or
      ``nvidia.com/gpu``.
    - ``gpu-fraction-num-devices``: a positive integer N; only with ``gpu-fraction`` or
      ``gpu-memory``; the pod gets N devices, each with the fraction (or the memory).
    - ``mps: "true"`` only on a shared request.
    - ``gpu-fraction-container-name`` must name a container (default: the first).
    """
    ann = pod.metadata.annotations
    errs: list[FieldError] = []

    def err(path: str, msg: str) -> None:
        errs.append(_pod_error(pod, path, msg))

    idx = _gpu_container_index(pod)
    if idx < 0:
        err(f"metadata.annotations[{GPU_FRACTION_CONTAINER_NAME_ANNOTATION}]",
            f"Invalid value: {ann.get(GPU_FRACTION_CONTAINER_NAME_ANNOTATION)!r}: no container with this name")
        idx = 0

    whole_total = Fraction(0)
    init_max = Fraction(0)
    legacy_fraction: Optional[Fraction] = None
    has_gpu_resource = False
    for group, containers in (("containers", pod.spec.containers), ("initContainers", pod.spec.init_containers)):
        for i, c in enumerate(containers):
            res = c.resources
            if GPU_RESOURCE in res.limits:
                raw, path = res.limits[GPU_RESOURCE], f"spec.{group}[{i}].resources.limits[{GPU_RESOURCE}]"
            elif GPU_RESOURCE in res.requests:
                raw, path = res.requests[GPU_RESOURCE], f"spec.{group}[{i}].resources.requests[{GPU_RESOURCE}]"
            else:
                continue
            has_gpu_resource = True
            try:
                value = parse_quantity(raw).value
            except (QuantityError, ValueError, OverflowError):
                err(path, f"Invalid value: {raw!r}: quantities must match the regular expression "
                          "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
                continue
            if value < 0:
                err(path, f"Invalid value: {raw!r}: GPU resource limit cannot be negative")
                continue
            if value.denominator != 1:
                if group == "containers" and i == idx and value <= 1:
                    legacy_fraction = value
                    continue
                err(path, f"Invalid value: {raw!r}: GPU resource limit annotation cannot be larger than 1"
                    if value > 1 else f"Invalid value: {raw!r}: must be a whole number of GPUs")
                continue
            if group == "containers":
                whole_total += value
            else:
                init_max = max(init_max, value)

    frac_raw = ann.get(GPU_FRACTION_ANNOTATION)
    mem_raw = ann.get(GPU_MEMORY_ANNOTATION)
    num_raw = ann.get(GPU_FRACTION_NUM_DEVICES_ANNOTATION)
    frac_path = f"metadata.annotations[{GPU_FRACTION_ANNOTATION}]"
    mem_path = f"metadata.annotations[{GPU_MEMORY_ANNOTATION}]"
    num_path = f"metadata.annotations[{GPU_FRACTION_NUM_DEVICES_ANNOTATION}]"

    if frac_raw is not None and has_gpu_resource:
        err(frac_path, "Forbidden: cannot have both GPU fraction request and whole GPU resource request/limit")
    if mem_raw is not None and (frac_raw is not None or has_gpu_resource):
        err(mem_path, "Forbidden: cannot request both GPU and GPU memory")
    if num_raw is not None and frac_raw is None and mem_raw is None:
        err(num_path, "Forbidden: cannot request multiple fractional devices without specifying fraction portion or gpu-memory")

    fraction: Optional[Fraction] = None
    if frac_raw is not None:
        f = _parse_go_float(frac_raw)
        if f is None or not (0 < f < 1):
            err(frac_path, f"Invalid value: {frac_raw!r}: gpu-fraction annotation value must be a positive number smaller than 1.0")
        else:
            try:
                fraction = parse_quantity(frac_raw).value  # KAI also requires a valid quantity
            except (QuantityError, ValueError):
                err(frac_path, f"Invalid value: {frac_raw!r}: gpu-fraction annotation value must be a valid quantity")
    memory: Optional[int] = None
    if mem_raw is not None:
        memory = _parse_uint(mem_raw)
        if not memory:
            err(mem_path, f"Invalid value: {mem_raw!r}: gpu-memory annotation value must be a positive integer greater than 0")
            memory = None
    num_devices = 1
    if num_raw is not None:
        n = _parse_uint(num_raw)
        if not n:
            err(num_path, f"Invalid value: {num_raw!r}: fraction count annotation value must be a positive integer greater than 0")
        else:
            num_devices = n
    if ann.get(MPS_ANNOTATION) == "true" and fraction is None and memory is None and legacy_fraction is None:
        err(f"metadata.annotations[{MPS_ANNOTATION}]", "Forbidden: MPS is only supported with GPU fraction request")

    if errs:
        raise ValidationFailed(errs)
    if fraction is not None:
        return GpuDemand(fraction=fraction, num_devices=num_devices, container_index=idx)
    if memory is not None:
        return GpuDemand(memory_mib=memory, num_devices=num_devices, container_index=idx)
    if legacy_fraction is not None:
        if whole_total or init_max:
            raise ValidationFailed([_pod_error(pod, "spec.containers", "Forbidden: cannot combine a fractional and a whole nvidia.com/gpu request")])
        if legacy_fraction == 0:
            return GpuDemand()
        if legacy_fraction == 1:
            return GpuDemand(whole=1)
        return GpuDemand(fraction=legacy_fraction, container_index=idx)
    return GpuDemand(whole=int(max(whole_total, init_max)))


# --- pod state -------------------------------------------------------------------------------

PENDING, RUNNING, RELEASING, SUCCEEDED, FAILED = "Pending", "Running", "Releasing", "Succeeded", "Failed"


def pod_state(pod: Pod) -> str:
    """The contract's pod states: Pending, Running, Releasing, Succeeded or Failed."""
    phase = pod.status.phase
    if phase == "Succeeded":
        return SUCCEEDED
    if phase == "Failed":
        return FAILED
    if pod.metadata.deletion_timestamp:
        return RELEASING
    if not pod.spec.node_name:
        return PENDING
    return RUNNING
