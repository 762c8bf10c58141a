"""Shared plumbing for tests that run cases through both gpuplane and the oracle.

- :func:`shared_oracle` — one oracle process per test session (skips locally and fails
  in CI when Go is missing).
- :func:`run_both` — one case through both sides; asserts that they agree.
- small builders for v1 objects (``node``, ``slice_``, ``device``, ``device_class``,
  ``claim``, ``exact``, ``sub``, ``first_available``, ``allocated``), and
  :func:`picked` to read (request, pool, device) triples from an allocation.
"""

from __future__ import annotations

import atexit
import copy
import os
from typing import Any, Optional

import pytest

from gpuplane.api.defaults import apply_defaults
from tests.difftest.compare import compare, describe, normalize, run_gpuplane
from tests.difftest.oracle_client import Oracle, oracle_path
from gpuplane.dra.features import DEFAULT_GATES

GPU = "gpu.example.com"
NIC = "nic.example.com"

_ORACLE: Optional[Oracle] = None
_ORACLE_ERROR: Optional[str] = None  # why the oracle could not be built (tried once)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def shared_oracle() -> Oracle:
    """The session's oracle process; skip (locally) or fail (CI) without Go."""
    global _ORACLE, _ORACLE_ERROR
    if _ORACLE is None:
        if _ORACLE_ERROR is None:
            try:
                path = oracle_path()
            except RuntimeError as err:
                _ORACLE_ERROR = str(err)
        if _ORACLE_ERROR is not None:
            if in_ci():
                pytest.fail(f"the Go oracle is required in CI but could not be built: {_ORACLE_ERROR}", pytrace=False)
            pytest.skip(f"Go oracle not available: {_ORACLE_ERROR.splitlines()[0]}")
        _ORACLE = Oracle(path)
        atexit.register(_ORACLE.close)
    return _ORACLE


ALL_GATES = dict(DEFAULT_GATES)


class Both:
    """Outcome of one case on both sides (they are asserted to agree)."""

    def __init__(self, oracle: dict[str, Any], gpuplane: Any) -> None:
        self.oracle = oracle
        self.gpuplane = gpuplane
        self.norm = normalize(oracle)

    @property
    def status(self) -> str:
        return self.norm["status"]

    @property
    def allocations(self) -> list[dict[str, Any]]:
        return self.norm.get("allocations", [])

    @property
    def error(self) -> str:
        return self.oracle.get("error", "")


def run_both(objects: list[dict[str, Any]], node: str = "node-a", gates: Optional[dict[str, bool]] = None) -> Both:
    """Run one case on both sides and require identical outcomes."""
    case = {
        "id": 0,
        "node": node,
        "features": {**ALL_GATES, **(gates or {})},
        "objects": [apply_defaults(copy.deepcopy(o)) for o in objects],
    }
    answer = shared_oracle().run([case])[0]
    assert not answer.get("error", "").startswith("input:"), f"bad test input: {answer['error']}"
    assert answer.get("allocator") == "incubating", answer
    outcome = run_gpuplane(case)
    mismatch = compare(answer, outcome)
    assert mismatch is None, "gpuplane differs from the upstream allocator:\n" + describe(mismatch)
    return Both(answer, outcome)


def picked(both: Both, claim_index: int = 0) -> list[tuple[str, str, str]]:
    """(request, pool, device) of each result of one claim, in result order."""
    assert both.status == "ok", (both.status, both.error)
    results = both.allocations[claim_index]["devices"].get("results", [])
    return [(r["request"], r["pool"], r["device"]) for r in results]


def results(both: Both, claim_index: int = 0) -> list[dict[str, Any]]:
    assert both.status == "ok", (both.status, both.error)
    return both.allocations[claim_index]["devices"].get("results", [])


# --- object builders ---------------------------------------------------------------------


def node(name: str = "node-a", labels: Optional[dict[str, str]] = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}}}


def device(name: str, **fields: Any) -> dict[str, Any]:
    """A device; ``attrs={"model": "a100", "index": 0}`` is shorthand for typed attributes."""
    attrs = fields.pop("attrs", None)
    out: dict[str, Any] = {"name": name}
    if attrs:
        typed = {}
        for k, v in attrs.items():
            if isinstance(v, dict):
                typed[k] = v
            elif isinstance(v, bool):
                typed[k] = {"bool": v}
            elif isinstance(v, int):
                typed[k] = {"int": v}
            else:
                typed[k] = {"string": v}
        out["attributes"] = typed
    cap = fields.pop("capacity", None)
    if cap:
        out["capacity"] = {k: (v if isinstance(v, dict) else {"value": v}) for k, v in cap.items()}
    out.update(fields)
    return out


def slice_(
    name: str,
    devices: Optional[list[dict[str, Any]]] = None,
    *,
    driver: str = GPU,
    pool: str = "pool-a",
    generation: int = 0,
    count: int = 1,
    node_name: Optional[str] = "node-a",
    all_nodes: bool = False,
    node_selector: Optional[dict[str, Any]] = None,
    per_device: bool = False,
    counters: Optional[list[dict[str, Any]]] = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "driver": driver,
        "pool": {"name": pool, "generation": generation, "resourceSliceCount": count},
    }
    if per_device:
        spec["perDeviceNodeSelection"] = True
    elif all_nodes:
        spec["allNodes"] = True
    elif node_selector is not None:
        spec["nodeSelector"] = node_selector
    else:
        spec["nodeName"] = node_name
    if devices is not None:
        spec["devices"] = devices
    if counters is not None:
        spec["sharedCounters"] = counters
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": name}, "spec": spec}


def device_class(name: str = "gpu", selectors: Optional[list[str]] = None, config: Optional[list[dict[str, Any]]] = None) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if selectors:
        spec["selectors"] = [{"cel": {"expression": e}} for e in selectors]
    if config:
        spec["config"] = [{"opaque": c} for c in config]
    return {"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": name}, "spec": spec}


def exact(name: str, cls: str = "gpu", count: Optional[int] = 1, *, all_: bool = False, selectors: Optional[list[str]] = None, **fields: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"deviceClassName": cls}
    if all_:
        e["allocationMode"] = "All"
    else:
        e["allocationMode"] = "ExactCount"
        e["count"] = count
    if selectors:
        e["selectors"] = [{"cel": {"expression": s}} for s in selectors]
    e.update(fields)
    return {"name": name, "exactly": e}


def sub(name: str, cls: str = "gpu", count: int = 1, *, all_: bool = False, selectors: Optional[list[str]] = None, **fields: Any) -> dict[str, Any]:
    e = exact(name, cls, count, all_=all_, selectors=selectors, **fields)["exactly"]
    return {"name": name, **e}


def first_available(name: str, *subs: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "firstAvailable": list(subs)}


def claim(
    name: str,
    *requests: dict[str, Any],
    constraints: Optional[list[dict[str, Any]]] = None,
    config: Optional[list[dict[str, Any]]] = None,
) -> dict[str, Any]:
    devices: dict[str, Any] = {"requests": list(requests)}
    if constraints:
        devices["constraints"] = constraints
    if config:
        devices["config"] = config
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"devices": devices},
    }


def allocated(name: str, *results: dict[str, Any], admin: bool = False, cls: str = "gpu") -> dict[str, Any]:
    """An already allocated claim whose results are given as dicts (request defaults to r0)."""
    res = []
    for r in results:
        r = {"request": "r0", "driver": GPU, "pool": "pool-a", **r}
        if admin:
            r["adminAccess"] = True
        res.append(r)
    c = claim(name, exact("r0", cls, len(res), **({"adminAccess": True} if admin else {})))
    c["status"] = {"allocation": {"devices": {"results": res}}}
    return c
