"""Conversion of resource.k8s.io/v1beta1 and v1beta2 objects to the v1 shape.

gpuplane works on v1 only. :func:`to_v1` returns a new dict (sharing untouched sub-trees
with the input, which it never modifies) with ``apiVersion: resource.k8s.io/v1``:

- v1beta2 has the v1 shape: only apiVersion changes.
- v1beta1 ResourceSlice: ``spec.nodeName: ""`` and ``spec.allNodes: false`` are dropped (they
  are plain values, not pointers, in v1beta1); each device ``{name, basic: {...}}`` becomes
  ``{name, ...basic fields}``.
- v1beta1 ResourceClaim / ResourceClaimTemplate (``spec.spec``): flat requests
  ``{name, deviceClassName, selectors, allocationMode, count, adminAccess, tolerations,
  capacity, firstAvailable}`` become ``{name, exactly: {...}}`` or, when ``firstAvailable``
  is non-empty, ``{name, firstAvailable: [...]}`` (the exact-request fields are then
  dropped, as the apiserver's conversion does).
- ``status.allocation`` and DeviceClass have the same shape in all versions.

Unknown fields are kept where they were. Objects of other groups/versions are returned
unchanged (the same object).
"""

from __future__ import annotations

from typing import Any

__all__ = ["to_v1", "V1", "V1BETA1", "V1BETA2", "BETA_VERSIONS"]

V1 = "resource.k8s.io/v1"
V1BETA1 = "resource.k8s.io/v1beta1"
V1BETA2 = "resource.k8s.io/v1beta2"
BETA_VERSIONS = frozenset({V1BETA1, V1BETA2})

# Fields of a v1beta1 DeviceRequest that move under `exactly` in v1.
_EXACT_FIELDS = (
    "deviceClassName",
    "selectors",
    "allocationMode",
    "count",
    "adminAccess",
    "tolerations",
    "capacity",
    "derivedAttributes",
)
_EXACT_SET = frozenset(_EXACT_FIELDS)


def to_v1(obj: Any) -> Any:
    """The v1 form of a resource.k8s.io beta object; anything else is returned as is."""
    if not isinstance(obj, dict):
        return obj
    api_version = obj.get("apiVersion")
    if api_version not in BETA_VERSIONS:
        return obj
    out = dict(obj)
    out["apiVersion"] = V1
    if api_version == V1BETA2:
        return out
    kind = obj.get("kind")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return out
    if kind == "ResourceSlice":
        out["spec"] = _slice_spec(spec)
    elif kind == "ResourceClaim":
        out["spec"] = _claim_spec(spec)
    elif kind == "ResourceClaimTemplate":
        inner = spec.get("spec")
        if isinstance(inner, dict):
            new_spec = dict(spec)
            new_spec["spec"] = _claim_spec(inner)
            out["spec"] = new_spec
    return out


def _slice_spec(spec: dict) -> dict:
    out = dict(spec)
    if out.get("nodeName") == "":
        del out["nodeName"]
    if out.get("allNodes") is False:
        del out["allNodes"]
    devices = spec.get("devices")
    if isinstance(devices, list):
        out["devices"] = [_device(d) for d in devices]
    return out


def _device(device: Any) -> Any:
    if not isinstance(device, dict) or "basic" not in device:
        return device
    basic = device["basic"]
    if basic is None:
        basic = {}
    if not isinstance(basic, dict):
        return device  # not convertible; left for decoding to ignore or reject
    out: dict = {}
    if "name" in device:
        out["name"] = device["name"]
    out.update(basic)
    for key, value in device.items():
        if key != "basic" and key not in out:
            out[key] = value
    return out


def _claim_spec(spec: dict) -> dict:
    devices = spec.get("devices")
    if not isinstance(devices, dict):
        return spec
    requests = devices.get("requests")
    if not isinstance(requests, list):
        return dict(spec)
    new_devices = dict(devices)
    new_devices["requests"] = [_request(r) for r in requests]
    out = dict(spec)
    out["devices"] = new_devices
    return out


def _request(request: Any) -> Any:
    if not isinstance(request, dict):
        return request
    first_available = request.get("firstAvailable")
    if first_available is not None and first_available != []:
        return {k: v for k, v in request.items() if k not in _EXACT_SET}
    out: dict = {}
    if "name" in request:
        out["name"] = request["name"]
    out["exactly"] = {k: request[k] for k in _EXACT_FIELDS if k in request}
    for key, value in request.items():
        if key not in _EXACT_SET and key not in out and key != "firstAvailable":
            out[key] = value
    return out
