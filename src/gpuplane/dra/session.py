"""One allocation request end to end: objects in, claims with allocations out.

This is what ``gpuplane allocate`` and the differential test both drive, so that the
command and the test exercise exactly the same path. Objects arrive as v1 dicts that the
API server would have stored (converted and defaulted); typed views are made here.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from gpuplane.api.models import DeviceClass, Node, ObjectMeta, ResourceClaim, ResourceSlice
from gpuplane.api.validation import decode
from gpuplane.dra.allocator import AllocatedState, AllocationError, Allocator, NodeAllocationError
from gpuplane.dra.features import Features

USED_KINDS = ("Node", "DeviceClass", "ResourceSlice", "ResourceClaim")


@dataclass
class AllocationInput:
    node: Node
    node_found: bool
    classes: dict[str, DeviceClass]
    slices: list[ResourceSlice]
    allocated: list[ResourceClaim]
    pending: list[ResourceClaim]
    pending_raw: list[dict[str, Any]]
    ignored_kinds: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """``ok`` with one allocation per pending claim, ``unsat``, or ``error``."""

    status: str
    allocations: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    claims: list[dict[str, Any]] = field(default_factory=list)


def build_input(objects: list[dict[str, Any]], node_name: str) -> AllocationInput:
    """Sort decoded objects by role. Objects must already be validated v1 dicts."""
    node: Optional[Node] = None
    classes: dict[str, DeviceClass] = {}
    slices: list[ResourceSlice] = []
    allocated: list[ResourceClaim] = []
    pending: list[ResourceClaim] = []
    pending_raw: list[dict[str, Any]] = []
    ignored: list[str] = []
    for raw in objects:
        kind = raw.get("kind")
        if kind not in USED_KINDS:
            if kind not in ignored:
                ignored.append(str(kind))
            continue
        typed = decode(raw)
        if isinstance(typed, Node):
            if typed.metadata.name == node_name:
                node = typed
        elif isinstance(typed, DeviceClass):
            classes[typed.metadata.name] = typed
        elif isinstance(typed, ResourceSlice):
            slices.append(typed)
        elif isinstance(typed, ResourceClaim):
            if typed.status.allocation is not None:
                allocated.append(typed)
            else:
                pending.append(typed)
                pending_raw.append(raw)
    found = node is not None
    if node is None:
        node = Node(metadata=ObjectMeta(name=node_name))
    return AllocationInput(node, found, classes, slices, allocated, pending, pending_raw, ignored)


def run_allocation(inp: AllocationInput, features: Features, timeout: Optional[float] = 10.0) -> Outcome:
    """Allocate all pending claims together on the input's node."""
    allocator = Allocator(features, AllocatedState.from_claims(inp.allocated, features), inp.classes, inp.slices)
    deadline = time.monotonic() + timeout if timeout else None
    try:
        results = allocator.allocate(inp.node, inp.pending, deadline)
    except NodeAllocationError as err:
        return Outcome("unsat", error=str(err))
    except AllocationError as err:
        return Outcome("error", error=str(err))
    if results is None:
        return Outcome("unsat")
    claims = []
    for raw, allocation in zip(inp.pending_raw, results):
        out = copy.deepcopy(raw)
        status = out.setdefault("status", {})
        if not isinstance(status, dict):
            status = out["status"] = {}
        status["allocation"] = allocation
        claims.append(out)
    return Outcome("ok", allocations=results, claims=claims)


def allocate_objects(objects: list[dict[str, Any]], node_name: str, features: Features, timeout: Optional[float] = 10.0) -> Outcome:
    """Convenience for tests: build the input and run it."""
    return run_allocation(build_input(objects, node_name), features, timeout)
