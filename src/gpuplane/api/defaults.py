"""API-server defaulting for the DRA kinds, applied to plain dicts.

kube-apiserver fills these in before anything else sees an object, so the allocator
(ours and upstream's) must never see them empty: ``allocationMode`` defaults to
``ExactCount``, ``count`` to 1 in that mode, and a toleration's ``operator`` to ``Equal``.
"""

from __future__ import annotations

from typing import Any


def _list(value: Any) -> list[Any]:
    """Malformed input is left for validation to report; defaulting just skips it."""
    return value if isinstance(value, list) else []


def _default_request(req: dict[str, Any]) -> None:
    if not isinstance(req, dict):
        return
    if not req.get("allocationMode"):
        req["allocationMode"] = "ExactCount"
    if req.get("allocationMode") == "ExactCount" and req.get("count") in (None, 0):
        req["count"] = 1
    for tol in _list(req.get("tolerations")):
        if isinstance(tol, dict) and not tol.get("operator"):
            tol["operator"] = "Equal"


def _default_claim_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        return
    devices = spec.get("devices")
    if not isinstance(devices, dict):
        return
    for request in _list(devices.get("requests")):
        if not isinstance(request, dict):
            continue
        if isinstance(request.get("exactly"), dict):
            _default_request(request["exactly"])
        for sub in _list(request.get("firstAvailable")):
            _default_request(sub)


def apply_defaults(obj: dict[str, Any]) -> dict[str, Any]:
    """Default a v1 object in place and return it."""
    kind = obj.get("kind")
    if kind == "ResourceClaim":
        _default_claim_spec(obj.get("spec"))
    elif kind == "ResourceClaimTemplate":
        inner = obj.get("spec")
        if isinstance(inner, dict):
            _default_claim_spec(inner.get("spec"))
    return obj
