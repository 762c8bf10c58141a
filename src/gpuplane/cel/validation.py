"""Selector validation as the API server does it when an object is created.

kube-apiserver compiles every CEL selector of a DeviceClass, ResourceClaim and
ResourceClaimTemplate (in its "new expressions" environment) and rejects the object if one
does not compile, so such objects never reach an allocator. Commands that read manifests
apply the same check, naming the object and the field.
"""

from __future__ import annotations

from typing import Any, Iterator

from gpuplane.api.errors import FieldError
from gpuplane.api.models import DeviceClass, DeviceSelector, ResourceClaim, ResourceClaimSpec, ResourceClaimTemplate
from gpuplane.cel import CelCompileError, compile_selector


def _claim_selectors(spec: ResourceClaimSpec, path: str) -> Iterator[tuple[str, DeviceSelector]]:
    for i, request in enumerate(spec.devices.requests):
        if request.exactly is not None:
            for j, sel in enumerate(request.exactly.selectors):
                yield f"{path}.devices.requests[{i}].exactly.selectors[{j}].cel.expression", sel
        for k, sub in enumerate(request.first_available):
            for j, sel in enumerate(sub.selectors):
                yield f"{path}.devices.requests[{i}].firstAvailable[{k}].selectors[{j}].cel.expression", sel


def selector_errors(obj: Any, consumable_capacity: bool = True) -> list[FieldError]:
    """Compile errors of every selector in a typed object (empty for other kinds)."""
    if isinstance(obj, DeviceClass):
        found = ((f"spec.selectors[{j}].cel.expression", s) for j, s in enumerate(obj.spec.selectors))
    elif isinstance(obj, ResourceClaim):
        found = _claim_selectors(obj.spec, "spec")
    elif isinstance(obj, ResourceClaimTemplate):
        found = _claim_selectors(obj.spec.spec, "spec.spec")
    else:
        return []
    meta = obj.metadata
    errors = []
    for path, sel in found:
        if sel.cel is None:
            continue
        try:
            compile_selector(sel.cel.expression, consumable_capacity=consumable_capacity, new_expressions=True)
        except CelCompileError as err:
            expr = sel.cel.expression if len(sel.cel.expression) <= 80 else sel.cel.expression[:77] + "..."
            errors.append(FieldError(obj.kind, meta.namespace if isinstance(obj, (ResourceClaim, ResourceClaimTemplate)) else "",
                                     meta.name, path, f"Invalid value: {expr!r}: {err}"))
    return errors
