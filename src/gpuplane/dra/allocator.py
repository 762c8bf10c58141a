"""The structured allocator: which devices a pod's ResourceClaims get on one node.

Semantics are those of ``k8s.io/dynamic-resource-allocation/structured`` v0.37 (the
"incubating" variant that Kubernetes 1.37's default gates select): a depth-first search
over claims, requests, subrequests and device slots; candidates in pool, slice and device
order; combinations rather than permutations inside one request; the first solution wins.
The order in which selectors are evaluated is kept too, because it decides which CEL
error (if any) a user sees.

Speed comes from work done once and reused, never from skipping semantics: pools are
gathered once per node, devices are wrapped once per slice, CEL inputs are built once per
device, and selector results are cached per (expression, device) for as long as the
slice object lives (a new slice generation is a new object, so the cache invalidates).
"""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Collection, Iterable, Optional

from gpuplane import cel
from gpuplane.api.models import (
    DeviceAttribute,
    DeviceClass,
    DeviceRequest,
    DeviceToleration,
    Node,
    NodeSelector,
    ResourceClaim,
    ResourceSlice,
)
from gpuplane.api.quantity import Quantity, format_quantity, parse_quantity
from gpuplane.dra.capacity import CapacityError, compact, consumed_capacity, fits_now, request_fits, static_fit
from gpuplane.dra.features import Features
from gpuplane.dra.nodeselect import NodeSelectorError, node_matches
from gpuplane.dra.pools import DeviceEntry, DeviceID, GatherError, Pool, _counter_value, gather_pools

ALLOCATION_RESULTS_MAX_SIZE = 32

if sys.getrecursionlimit() < 20000:
    sys.setrecursionlimit(20000)


class AllocationError(Exception):
    """A fatal error: the claims cannot be allocated anywhere as written."""


class NodeAllocationError(AllocationError):
    """Allocation failed on this node only (upstream ``ErrFailedAllocationOnNode``)."""


class _MaxSizeExceeded(Exception):
    pass


def _kobj(claim: ResourceClaim) -> str:
    ns = claim.metadata.namespace
    return f"{ns}/{claim.metadata.name}" if ns else claim.metadata.name


def _dev_str(dev_id: DeviceID) -> str:
    return "/".join(dev_id)


@dataclass
class AllocatedState:
    """Devices already in use, built from allocated claims (kube-scheduler's rule)."""

    devices: set[DeviceID] = field(default_factory=set)
    shared: set[tuple[str, str, str, str]] = field(default_factory=set)
    capacity: dict[DeviceID, dict[str, Fraction]] = field(default_factory=dict)

    @classmethod
    def from_claims(cls, claims: Iterable[ResourceClaim], features: Features) -> "AllocatedState":
        state = cls()
        for claim in claims:
            alloc = claim.status.allocation
            if alloc is not None:
                for r in alloc.devices.results:
                    state.add_result(r.driver, r.pool, r.device, r.admin_access, r.share_id, r.consumed_capacity, features)
        return state

    def add_result(
        self, driver: str, pool: str, device: str, admin_access: Optional[bool], share_id: Optional[str],
        consumed: Optional[dict[str, Any]], features: Features,
    ) -> None:
        """Count one allocation result as in use (kube-scheduler's rule)."""
        if admin_access:
            return
        dev_id = (driver, pool, device)
        if features.consumable_capacity and share_id is not None:
            self.shared.add((*dev_id, share_id))
            self._shared_devices.add(dev_id)
            if consumed:
                agg = self.capacity.setdefault(dev_id, {})
                for name, q in consumed.items():
                    agg[name] = agg.get(name, 0) + compact(parse_quantity(q).value)
            return
        self.devices.add(dev_id)

    def remove_result(
        self, driver: str, pool: str, device: str, admin_access: Optional[bool], share_id: Optional[str],
        consumed: Optional[dict[str, Any]], features: Features,
    ) -> None:
        """Undo :meth:`add_result` (a claim deallocated: its pod was evicted)."""
        if admin_access:
            return
        dev_id = (driver, pool, device)
        if features.consumable_capacity and share_id is not None:
            self.shared.discard((*dev_id, share_id))
            agg = self.capacity.get(dev_id)
            if agg is not None and consumed:
                for name, q in consumed.items():
                    if name in agg:
                        agg[name] = compact(Fraction(agg[name]) - parse_quantity(q).value)
            if not any(s[:3] == dev_id for s in self.shared):
                self._shared_devices.discard(dev_id)
                self.capacity.pop(dev_id, None)
            return
        self.devices.discard(dev_id)

    def copy(self) -> "AllocatedState":
        """An independent copy (sets and per-device maps copied; ids are immutable tuples)."""
        other = AllocatedState(set(self.devices), set(self.shared), {k: dict(v) for k, v in self.capacity.items()})
        other._shared_devices = set(self._shared_devices)
        return other

    def add_allocation(self, allocation: dict[str, Any], features: Features) -> None:
        """Count an AllocationResult dict (as ``Allocator.allocate`` returns) as in use."""
        for r in allocation.get("devices", {}).get("results", []):
            self.add_result(
                r["driver"], r["pool"], r["device"], r.get("adminAccess"), r.get("shareID"),
                r.get("consumedCapacity"), features,
            )

    _shared_devices: set = field(default_factory=set)

    def is_allocated(self, dev_id: DeviceID) -> bool:
        """``IsDeviceAllocated``: exclusively, shared, or with capacity in use."""
        return dev_id in self.devices or dev_id in self._shared_devices or dev_id in self.capacity


class _Request:
    """One request or subrequest (upstream ``requestAccessor`` + ``requestData``)."""

    __slots__ = (
        "name", "parent", "class_name", "selectors", "mode", "count", "admin_access",
        "has_admin_access", "tolerations", "capacity", "device_class", "num_devices",
        "all_devices", "selected_sub", "key", "full_name", "capacity_key",
    )

    def __init__(self, key: tuple[int, int, int], name: str, parent: Optional[str], spec: Any, admin: Optional[bool]):
        self.key = key
        self.name = name
        self.parent = parent
        self.full_name = f"{parent}/{name}" if parent else name
        self.class_name: str = spec.device_class_name
        self.selectors = spec.selectors
        self.mode: str = spec.allocation_mode
        self.count: int = spec.count
        self.admin_access = bool(admin)
        self.has_admin_access = admin is not None
        self.tolerations: list[DeviceToleration] = spec.tolerations
        cap = spec.capacity
        self.capacity: Optional[dict[str, Quantity]] = (
            {k: parse_quantity(v) for k, v in cap.requests.items()} if cap is not None else None
        )
        # Identifies the capacity request for caches shared across claims and calls.
        self.capacity_key = (
            tuple(sorted((k, str(v), type(v).__name__) for k, v in cap.requests.items())) if cap is not None else None
        )
        self.device_class: Optional[DeviceClass] = None
        self.num_devices = 0
        self.all_devices: list[DeviceEntry] = []
        self.selected_sub = 0


class _Constraint:
    __slots__ = ("request_names", "attribute", "distinct", "values", "count")

    def __init__(self, request_names: list[str], attribute: str, distinct: bool):
        self.request_names = frozenset(request_names)
        self.attribute = attribute
        self.distinct = distinct
        self.values: list[tuple[str, Any]] = []
        self.count = 0

    def applies(self, base: str, sub: str) -> bool:
        if not self.request_names:
            return True
        if not sub:
            return base in self.request_names
        return base in self.request_names or f"{base}/{sub}" in self.request_names

    def add(self, base: str, sub: str, entry: DeviceEntry) -> bool:
        if not self.applies(base, sub):
            return True
        attr = _lookup_attribute(entry, self.attribute)
        if attr is None:
            return False
        value = _attr_value(attr)
        if self.distinct:
            if value is None:
                return False
            for earlier in self.values:
                if earlier == value:
                    return False
            self.values.append(value)
            return True
        if self.count == 0:
            self.values = [value]
            self.count = 1
            return True
        if value is None or self.values[0] != value:
            return False
        self.count += 1
        return True

    def remove(self, base: str, sub: str, entry: DeviceEntry) -> None:
        if not self.applies(base, sub):
            return
        if self.distinct:
            self.values.pop()
        else:
            self.count -= 1


def _attr_value(attr: DeviceAttribute) -> Optional[tuple[str, Any]]:
    """(type, value) of a scalar attribute; None for a value type that cannot match."""
    if attr.string is not None:
        return ("string", attr.string)
    if attr.int_ is not None:
        return ("int", attr.int_)
    if attr.bool_ is not None:
        return ("bool", attr.bool_)
    if attr.version is not None:
        return ("version", attr.version)
    return None


def _lookup_attribute(entry: DeviceEntry, name: str) -> Optional[DeviceAttribute]:
    attrs = entry.device.attributes
    found = attrs.get(name)
    if found is not None:
        return found
    domain, sep, ident = name.partition("/")
    if not sep or domain != entry.id[0]:
        return None
    return attrs.get(ident)


def _tolerates(tol: DeviceToleration, taint: Any) -> bool:
    if tol.effect and tol.effect != taint.effect:
        return False
    if tol.key and tol.key != taint.key:
        return False
    if tol.operator in ("", "Equal"):
        return tol.value == taint.value
    return tol.operator == "Exists"


def _taint_prevents(entry: DeviceEntry, req: _Request) -> bool:
    for taint in entry.device.taints:
        if taint.effect in ("NoSchedule", "NoExecute"):
            if not any(_tolerates(t, taint) for t in req.tolerations):
                return True
    return False


class Allocator:
    """Reusable across nodes and pods for one cluster state, like upstream's Allocator."""

    def __init__(
        self,
        features: Features,
        allocated: AllocatedState,
        classes: dict[str, DeviceClass],
        slices: list[ResourceSlice],
    ) -> None:
        self.features = features
        self.allocated = allocated
        self.classes = classes
        self.slices = slices
        self.slices_on_node: dict[str, list[ResourceSlice]] = {}
        self.slices_shared: list[ResourceSlice] = []
        for s in slices:
            if s.spec.node_name:
                self.slices_on_node.setdefault(s.spec.node_name, []).append(s)
            else:
                self.slices_shared.append(s)
        self._pools_cache: dict[Any, list[Pool]] = {}
        self._available_counters: dict[tuple[str, str], dict[str, dict[str, Fraction]]] = {}
        # Pools where already-allocated devices overdraw some counter: upstream then
        # rejects every counter-consuming device of the pool.
        self._pool_overdrawn: dict[tuple[str, str], bool] = {}
        self.allocate_one_calls = 0

    def record(self, allocations: Iterable[dict[str, Any]]) -> None:
        """Add new allocations to the in-use state, as kube-scheduler's Reserve does."""
        for allocation in allocations:
            self.allocated.add_allocation(allocation, self.features)
            for r in allocation.get("devices", {}).get("results", []):
                pool_id = (r["driver"], r["pool"])
                self._available_counters.pop(pool_id, None)
                self._pool_overdrawn.pop(pool_id, None)

    def checkpoint(self) -> AllocatedState:
        """A copy of the in-use state, to return to with :meth:`restore` (gang rollback)."""
        return self.allocated.copy()

    def restore(self, state: AllocatedState) -> None:
        """Go back to a checkpoint; caches derived from the in-use state are dropped."""
        self.allocated = state
        self._available_counters.clear()
        self._pool_overdrawn.clear()

    def pools_for(self, node: Node) -> list[Pool]:
        key = (node.metadata.name, tuple(sorted(node.metadata.labels.items())))
        pools = self._pools_cache.get(key)
        if pools is None:
            candidates = self.slices_on_node.get(node.metadata.name, []) + self.slices_shared
            try:
                pools = gather_pools(candidates, node, self.features, self.slices)
            except GatherError as err:
                raise AllocationError(f"gather pool information: {err}") from None
            self._pools_cache[key] = pools
        return pools

    def allocate(
        self, node: Node, claims: list[ResourceClaim], deadline: Optional[float] = None,
        only: Optional[Collection[DeviceID]] = None,
    ) -> Optional[list[dict[str, Any]]]:
        """One AllocationResult (as a v1 JSON dict) per claim, or None if impossible here.

        ``only``: pick devices among these alone (the scheduler re-checks an allocation chosen
        earlier, device for device, with every rule applied as usual; an ``All`` request still
        asks for every matching device).

        Raises AllocationError for fatal problems and NodeAllocationError when invalid
        pools on this node prevented a solution.
        """
        run = _Run(self, node, claims, self.pools_for(node), deadline)
        if only is not None:
            run.entries = [e for e in run.entries if e.id in only]
        return run.run()

    # --- shared caches -----------------------------------------------------------------

    def selector_result(self, entry: DeviceEntry, expression: str) -> Any:
        """Cached CEL outcome for (expression, device): True, False or (kind, CelError)."""
        # kube-scheduler compiles selectors as "stored expressions": the environment keeps
        # the newest device declaration whatever the gates say, so allowMultipleAllocations
        # is always declared and carries the device's own value.
        consumable = True
        static = entry.static
        key = (expression, consumable)
        results = static.selector_results
        if key in results:
            return results[key]
        try:
            compiled = cel.compile_selector(expression, consumable_capacity=consumable)
        except cel.CelError as err:
            results[key] = ("compile", err)
            return results[key]
        inp = static.cel_input.get(consumable)
        if inp is None:
            inp = cel.device_input(entry.id[0], entry.device, consumable_capacity=consumable)
            static.cel_input[consumable] = inp
        try:
            outcome: Any = compiled.matches(inp)
        except cel.CelError as err:
            outcome = ("runtime", err)
        results[key] = outcome
        return outcome

    def available_counters(self, pool: Pool) -> dict[str, dict[str, Fraction]]:
        avail = self._available_counters.get(pool.id)
        if avail is None:
            avail = {name: dict(counters) for name, counters in pool.counter_sets.items()}
            for group in (pool.slices, pool.slices_not_targeting_node):
                for s in group:
                    for d in s.spec.devices:
                        if not self.allocated.is_allocated((s.spec.driver, s.spec.pool.name, d.name)):
                            continue
                        for cc in d.consumes_counters:
                            cset = avail.get(cc.counter_set)
                            if cset is None:
                                continue
                            for cname, c in cc.counters.items():
                                if cname in cset:
                                    cset[cname] -= _counter_value(c.value)
            self._available_counters[pool.id] = avail
            self._pool_overdrawn[pool.id] = any(v < 0 for cset in avail.values() for v in cset.values())
        return avail


class _Run:
    """State of one ``Allocate`` call (upstream's private ``allocator``)."""

    def __init__(self, owner: Allocator, node: Node, claims: list[ResourceClaim], pools: list[Pool], deadline: Optional[float]):
        self.o = owner
        self.f = owner.features
        self.node = node
        self.claims = claims
        self.pools = pools
        self.deadline = deadline
        self.entries: list[DeviceEntry] = [e for p in pools if not (p.incomplete or p.invalid) for e in p.entries]
        self.requests: dict[tuple[int, int, int], _Request] = {}
        self.has_subrequests: dict[tuple[int, int], int] = {}
        self.constraints: list[list[_Constraint]] = []
        self.matches: dict[tuple, bool] = {}
        self.allocating: dict[DeviceID, set[int]] = {}
        self.allocating_capacity: dict[DeviceID, dict[str, Fraction]] = {}
        self.consumed_counters: dict[tuple[str, str], dict[str, dict[str, Fraction]]] = {}
        self.results: list[list[dict[str, Any]]] = [[] for _ in claims]

    # --- setup -------------------------------------------------------------------------

    def run(self) -> Optional[list[dict[str, Any]]]:
        f = self.f
        for ci, claim in enumerate(self.claims):
            min_per_claim = 0
            for ri, request in enumerate(claim.spec.devices.requests):
                subs = request.first_available
                if not f.prioritized_list and subs:
                    raise AllocationError(
                        f"claim {_kobj(claim)}, request {request.name}: has subrequests, but the DRAPrioritizedList feature is disabled"
                    )
                if not f.consumable_capacity:
                    if request.exactly is not None and request.exactly.capacity is not None:
                        raise AllocationError(
                            f"claim {_kobj(claim)}, request {request.name}: has capacity requests, but the DRAConsumableCapacity feature is disabled"
                        )
                    for sub in subs:
                        if sub.capacity is not None:
                            raise AllocationError(
                                f"claim {_kobj(claim)}, subrequest {sub.name}: has capacity requests, but the DRAConsumableCapacity feature is disabled"
                            )
                if subs:
                    min_req = None
                    for si, sub in enumerate(subs):
                        rd = _Request((ci, ri, si), sub.name, request.name, sub, None)
                        self._validate_request(claim, rd)
                        self.requests[(ci, ri, si)] = rd
                        min_req = rd.num_devices if min_req is None else min(min_req, rd.num_devices)
                    self.has_subrequests[(ci, ri)] = len(subs)
                    min_per_request = min_req or 0
                else:
                    exact = request.exactly
                    if exact is None:
                        raise AllocationError(
                            f"claim {_kobj(claim)}, request {request.name}: missing device class name (unsupported request type?)"
                        )
                    rd = _Request((ci, ri, 0), request.name, None, exact, exact.admin_access)
                    self._validate_request(claim, rd)
                    self.requests[(ci, ri, 0)] = rd
                    min_per_request = rd.num_devices
                if min_per_request > ALLOCATION_RESULTS_MAX_SIZE - min_per_claim:
                    raise AllocationError(
                        f"claim {_kobj(claim)}, request {request.name}: adding {min_per_request} devices exceeds the claim limit of "
                        f"{ALLOCATION_RESULTS_MAX_SIZE}, with {min_per_claim} already accounted for"
                    )
                min_per_claim += min_per_request
            constraints = []
            for i, c in enumerate(claim.spec.devices.constraints):
                if c.match_attribute is not None:
                    constraints.append(_Constraint(c.requests, c.match_attribute, distinct=False))
                elif c.distinct_attribute is not None:
                    constraints.append(_Constraint(c.requests, c.distinct_attribute, distinct=True))
                else:
                    raise AllocationError(f"claim {_kobj(claim)}, constraint #{i}: empty constraint (unsupported constraint type?)")
            self.constraints.append(constraints)

        try:
            done = self._allocate_one(0, 0, 0, 0, False, 0)
        except _MaxSizeExceeded:
            done = False
        if not done:
            if any(p.invalid for p in self.pools):
                raise NodeAllocationError("invalid resource pools were encountered")
            return None
        return [self._build_result(ci, claim) for ci, claim in enumerate(self.claims)]

    def _validate_request(self, claim: ResourceClaim, rd: _Request) -> None:
        for i, sel in enumerate(rd.selectors):
            if sel.cel is None:
                raise AllocationError(
                    f"claim {_kobj(claim)}, request {rd.name}, selector #{i}: CEL expression empty (unsupported selector type?)"
                )
        if not self.f.admin_access and rd.has_admin_access:
            raise AllocationError(f"claim {_kobj(claim)}, request {rd.name}: admin access is requested, but the feature is disabled")
        if not rd.class_name:
            raise AllocationError(f"claim {_kobj(claim)}, request {rd.name}: missing device class name (unsupported request type?)")
        cls = self.o.classes.get(rd.class_name)
        if cls is None:
            raise AllocationError(
                f"claim {_kobj(claim)}, request {rd.name}: could not retrieve device class {rd.class_name}: "
                f'deviceclass.resource.k8s.io "{rd.class_name}" not found'
            )
        rd.device_class = cls
        if rd.mode == "ExactCount":
            rd.num_devices = rd.count
        elif rd.mode == "All":
            for pool in self.pools:
                if pool.incomplete:
                    raise AllocationError(
                        f"claim {_kobj(claim)}, request {rd.name}: asks for all devices, but resource pool {pool} is currently being updated"
                    )
                if pool.invalid:
                    raise AllocationError(
                        f"claim {_kobj(claim)}, request {rd.name}: asks for all devices, but resource pool {pool} is currently invalid"
                    )
                for entry in pool.entries:
                    if not self._is_selectable(rd, entry):
                        continue
                    if self.f.consumable_capacity:
                        try:
                            fits = request_fits(rd.capacity, entry.device.capacity, {}, {})
                        except CapacityError as err:
                            raise AllocationError(
                                f"claim {_kobj(claim)}, request {rd.name}: checking capacity for device {entry.device.name}: {err}"
                            ) from None
                        if not fits:
                            continue
                    rd.all_devices.append(entry)
            rd.num_devices = len(rd.all_devices)
        else:
            raise AllocationError(f"claim {_kobj(claim)}, request {rd.name}: unsupported count mode {rd.mode}")

    # --- search ------------------------------------------------------------------------

    def _allocate_one(self, ci: int, ri: int, si: int, di: int, in_sub: bool, start: int) -> bool:
        self.o.allocate_one_calls += 1
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise AllocationError("filter operation aborted: context deadline exceeded")
        if ci >= len(self.claims):
            return True
        claim = self.claims[ci]
        if ri >= len(claim.spec.devices.requests):
            try:
                return self._allocate_one(ci + 1, 0, 0, 0, False, 0)
            except _MaxSizeExceeded:
                return False

        nsubs = self.has_subrequests.get((ci, ri), 0)
        if not in_sub and nsubs:
            all_exceeded = True
            for sub_index in range(nsubs):
                try:
                    ok = self._allocate_one(ci, ri, sub_index, di, True, 0)
                except _MaxSizeExceeded:
                    continue
                all_exceeded = False
                if ok:
                    self.requests[(ci, ri, 0)].selected_sub = sub_index
                    return True
            if all_exceeded:
                raise _MaxSizeExceeded()
            return False

        rd = self.requests[(ci, ri, si)]
        do_all = rd.mode == "All"
        if do_all and not rd.all_devices:
            return False
        if di >= rd.num_devices:
            return self._allocate_one(ci, ri + 1, 0, 0, False, 0)
        if rd.num_devices - di > ALLOCATION_RESULTS_MAX_SIZE - len(self.results[ci]):
            raise _MaxSizeExceeded()

        if do_all:
            entry = rd.all_devices[di]
            undo = self._allocate_device(ci, rd, entry, must=True)
            if undo is None:
                return False
            try:
                done = self._allocate_one(ci, ri, si, di + 1, in_sub, 0)
            except BaseException:
                undo()
                raise
            if not done:
                undo()
            return done

        entries = self.entries
        admin = rd.admin_access
        allocated_devices = self.o.allocated.devices
        allocating = self.allocating
        consumable = self.f.consumable_capacity
        for index in range(start, len(entries)):
            entry = entries[index]
            dev_id = entry.id
            if admin:
                users = allocating.get(dev_id)
                if users and ci in users:
                    continue
            elif dev_id in allocated_devices or allocating.get(dev_id):
                continue
            if not self._is_selectable(rd, entry):
                continue
            if consumable:
                try:
                    fits = self._capacity_fits(rd, entry)
                except CapacityError as err:
                    raise AllocationError(
                        f"claim {_kobj(claim)}, request {rd.name}: checking capacity for device {_dev_str(dev_id)}: {err}"
                    ) from None
                if not fits:
                    continue
            undo = self._allocate_device(ci, rd, entry, must=False, prechecked=True)
            if undo is None:
                continue
            try:
                done = self._allocate_one(ci, ri, si, di + 1, in_sub, index + 1)
            except BaseException:
                undo()
                raise
            if done:
                return True
            undo()
        return False

    def _is_selectable(self, rd: _Request, entry: DeviceEntry) -> bool:
        device = entry.device
        if not self.f.device_binding_and_status and device.binding_conditions:
            return False
        key = (entry.id, rd.key)
        cached = self.matches.get(key)
        if cached is not None:
            return cached
        cls = rd.device_class
        if cls is not None and not self._selectors_match(rd, entry, cls, cls.spec.selectors):
            self.matches[key] = False
            return False
        if not self._selectors_match(rd, entry, None, rd.selectors):
            self.matches[key] = False
            return False
        if entry.slice.spec.per_device_node_selection:
            try:
                ok = node_matches(self.node, device.node_name, device.all_nodes, device.node_selector)
            except NodeSelectorError as err:
                raise AllocationError(f"failed to parse node selector: {err}") from None
            if not ok:
                self.matches[key] = False
                return False
        self.matches[key] = True
        return True

    def _selectors_match(self, rd: _Request, entry: DeviceEntry, cls: Optional[DeviceClass], selectors: list) -> bool:
        claim = self.claims[rd.key[0]]
        for i, sel in enumerate(selectors):
            outcome = self.o.selector_result(entry, sel.cel.expression)
            if outcome is True:
                continue
            if outcome is False:
                return False
            kind, err = outcome
            where = f"class {cls.metadata.name}" if cls is not None else f"claim {_kobj(claim)}"
            if kind == "compile":
                raise AllocationError(f"{where}: selector #{i}: CEL compile error: {err}")
            raise AllocationError(f"{where}: selector #{i} on device {_dev_str(entry.id)}: CEL runtime error: {err}")
        return True

    def _capacity_fits(self, rd: _Request, entry: DeviceEntry) -> bool:
        if rd.capacity is None and entry.plain_capacity:
            if entry.id not in self.o.allocated.capacity and entry.id not in self.allocating_capacity:
                return True
        cache = entry.static.capacity_fits
        key = rd.capacity_key
        if key in cache:
            fit = cache[key]
            if isinstance(fit, CapacityError):
                raise fit
        else:
            try:
                fit = cache[key] = static_fit(rd.capacity, entry.device.capacity)
            except CapacityError as err:
                cache[key] = err
                raise
        return fits_now(fit, self.o.allocated.capacity.get(entry.id, {}), self.allocating_capacity.get(entry.id, {}))

    def _capacity_in_use(self, dev_id: DeviceID) -> bool:
        st = self.o.allocated
        return dev_id in st.capacity or dev_id in st._shared_devices or dev_id in self.allocating_capacity

    def _allocate_device(
        self, ci: int, rd: _Request, entry: DeviceEntry, must: bool, prechecked: bool = False
    ) -> Optional[Callable[[], None]]:
        """Try one candidate; on success return the undo function, else None.

        ``prechecked``: the search loop has just run the in-use and capacity checks on
        unchanged state, so repeating them (as upstream does) cannot change the outcome.
        """
        claim = self.claims[ci]
        dev_id = entry.id
        device = entry.device
        multi = entry.allow_multiple
        if not prechecked:
            if not multi and rd.admin_access:
                users = self.allocating.get(dev_id)
                if users and ci in users:
                    return None
            if not rd.admin_access and (dev_id in self.o.allocated.devices or self.allocating.get(dev_id)):
                return None
        if not self.f.partitionable_devices and device.consumes_counters:
            return None
        skip_counters = multi and self._capacity_in_use(dev_id)
        counters_reserved = False
        if not skip_counters and device.consumes_counters:
            if not self._reserve_counters(entry):
                return None
            counters_reserved = True

        base, sub = (rd.parent, rd.name) if rd.parent else (rd.name, "")
        added: list[_Constraint] = []

        def rollback(marked: bool, cap_inserted: Optional[dict[str, Fraction]], cap_existed: bool, result_added: bool) -> None:
            if result_added:
                self.results[ci].pop()
            if cap_inserted is not None:
                current = self.allocating_capacity.get(dev_id)
                if current is not None:
                    for name, v in cap_inserted.items():
                        if name in current:
                            current[name] -= v
                    if all(v == 0 for v in current.values()):
                        del self.allocating_capacity[dev_id]
                if cap_existed and dev_id not in self.allocating_capacity:
                    self.allocating_capacity[dev_id] = {}
            if marked:
                self.allocating[dev_id].discard(ci)
            for c in reversed(added):
                c.remove(base, sub, entry)
            if counters_reserved:
                self._release_counters(entry)

        if self.f.device_taints and _taint_prevents(entry, rd):
            rollback(False, None, False, False)
            return None
        for c in self.constraints[ci]:
            if not c.add(base, sub, entry):
                rollback(False, None, False, False)
                if must:
                    raise AllocationError(
                        f"claim {_kobj(claim)}, request {rd.name}: cannot add device {_dev_str(dev_id)} because a claim constraint would not be satisfied"
                    )
                return None
            added.append(c)

        marked = False
        if not multi:
            self.allocating.setdefault(dev_id, set()).add(ci)
            marked = True

        consumed: Optional[dict[str, Quantity]] = None
        share_id: Optional[str] = None
        cap_inserted: Optional[dict[str, Fraction]] = None
        cap_existed = False
        if self.f.consumable_capacity:
            try:
                fits = prechecked or self._capacity_fits(rd, entry)
            except CapacityError as err:
                rollback(marked, None, False, False)
                raise AllocationError(
                    f"claim {_kobj(claim)}, request {rd.name}: rechecking capacity for device {_dev_str(dev_id)}: {err}"
                ) from None
            if not fits:
                rollback(marked, None, False, False)
                return None
            if multi:
                try:
                    consumed = consumed_capacity(rd.capacity, device.capacity)
                except CapacityError as err:
                    rollback(marked, None, False, False)
                    raise AllocationError(
                        f"claim {_kobj(claim)}, request {rd.name}: computing consumed capacity for device {_dev_str(dev_id)}: {err}"
                    ) from None
                share_id = str(uuid.uuid4())
                cap_existed = dev_id in self.allocating_capacity
                current = self.allocating_capacity.setdefault(dev_id, {})
                cap_inserted = {name: compact(q.value) for name, q in consumed.items()}
                for name, v in cap_inserted.items():
                    current[name] = current.get(name, 0) + v

        result: dict[str, Any] = {
            "request": rd.full_name,
            "driver": dev_id[0],
            "pool": dev_id[1],
            "device": dev_id[2],
        }
        if rd.admin_access:
            result["adminAccess"] = True
        if rd.tolerations:
            result["_tolerations"] = rd.tolerations
        if self.f.device_binding_and_status:
            if device.binding_conditions:
                result["bindingConditions"] = list(device.binding_conditions)
            if device.binding_failure_conditions:
                result["bindingFailureConditions"] = list(device.binding_failure_conditions)
        if share_id is not None:
            result["shareID"] = share_id
        if consumed:
            result["consumedCapacity"] = {name: format_quantity(q) for name, q in consumed.items()}
        result["_entry"] = entry
        self.results[ci].append(result)
        return lambda: rollback(marked, cap_inserted, cap_existed, True)

    def _reserve_counters(self, entry: DeviceEntry) -> bool:
        """Charge the device's counters; False (and nothing charged) if any runs short.

        Upstream re-checks every counter of the pool after each charge. Only counters this
        device touches can have changed since the last successful check, and untouched
        counters fail only if already overdrawn, so checking those two is equivalent.
        """
        pool = entry.pool
        available = self.o.available_counters(pool)
        consumed_pool = self.consumed_counters.setdefault(pool.id, {})
        for cset, counters in entry.consumes.items():
            target = consumed_pool.setdefault(cset, {})
            for name, v in counters.items():
                target[name] = target.get(name, 0) + v
        ok = not self.o._pool_overdrawn[pool.id]
        if ok:
            for cset, counters in entry.consumes.items():
                avail = available.get(cset, {})
                used = consumed_pool[cset]
                for name in counters:
                    if name in avail and avail[name] < used[name]:
                        ok = False
                        break
                if not ok:
                    break
        if not ok:
            self._release_counters(entry)
        return ok

    def _release_counters(self, entry: DeviceEntry) -> None:
        consumed_pool = self.consumed_counters[entry.pool.id]
        for cset, counters in entry.consumes.items():
            target = consumed_pool[cset]
            for name, v in counters.items():
                target[name] -= v

    # --- results -----------------------------------------------------------------------

    def _build_result(self, ci: int, claim: ResourceClaim) -> dict[str, Any]:
        results = []
        entries: list[DeviceEntry] = []
        for r in self.results[ci]:
            out = {k: v for k, v in r.items() if not k.startswith("_")}
            tolerations = r.get("_tolerations")
            if tolerations:
                out["tolerations"] = [_toleration_dict(t) for t in tolerations]
            # Keep upstream's field order: tolerations come right after adminAccess.
            results.append(_ordered_result(out))
            entries.append(r["_entry"])
        devices: dict[str, Any] = {"results": results}
        config = self._build_config(ci, claim)
        if config:
            devices["config"] = config
        allocation: dict[str, Any] = {"devices": devices}
        selector = self._node_selector(entries)
        if selector is not None:
            allocation["nodeSelector"] = selector
        return allocation

    def _selected(self, ci: int, ri: int) -> _Request:
        if (ci, ri) in self.has_subrequests:
            sub = self.requests[(ci, ri, 0)].selected_sub
            return self.requests[(ci, ri, sub)]
        return self.requests[(ci, ri, 0)]

    def _build_config(self, ci: int, claim: ResourceClaim) -> list[dict[str, Any]]:
        config: list[dict[str, Any]] = []
        class_ranges: dict[str, tuple[int, int]] = {}
        requests = claim.spec.devices.requests
        for ri in range(len(requests)):
            rd = self._selected(ci, ri)
            cls = rd.device_class
            if cls is None:
                continue
            name = cls.metadata.name
            if name in class_ranges:
                lo, hi = class_ranges[name]
                for i in range(lo, hi):
                    config[i]["requests"].append(rd.full_name)
                continue
            lo = len(config)
            for c in cls.spec.config:
                config.append({"source": "FromClass", "requests": [rd.full_name], **_opaque_dict(c.opaque)})
            class_ranges[name] = (lo, len(config))
        for c in claim.spec.devices.config:
            if not c.requests:
                config.append({"source": "FromClaim", **_opaque_dict(c.opaque)})
                continue
            for ri, request in enumerate(requests):
                if request.name in c.requests:
                    config.append({"source": "FromClaim", "requests": list(c.requests), **_opaque_dict(c.opaque)})
                    break
                if (ci, ri) not in self.has_subrequests:
                    continue
                if self._selected(ci, ri).full_name in c.requests:
                    config.append({"source": "FromClaim", "requests": list(c.requests), **_opaque_dict(c.opaque)})
                    break
        for entry in config:
            names = entry.get("requests")
            if not names:
                continue
            if all(
                request.name in names or ((ci, ri) in self.has_subrequests and self._selected(ci, ri).full_name in names)
                for ri, request in enumerate(requests)
            ):
                del entry["requests"]
        return [_ordered_config(c) for c in config]

    def _node_selector(self, entries: list[DeviceEntry]) -> Optional[dict[str, Any]]:
        fields: list[Any] = []
        exprs: list[Any] = []
        for entry in entries:
            spec = entry.slice.spec
            if spec.per_device_node_selection:
                node_name, selector = entry.device.node_name, entry.device.node_selector
            else:
                node_name, selector = spec.node_name, spec.node_selector
            if node_name is not None or entry.device.binds_to_node:
                return {
                    "nodeSelectorTerms": [
                        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [self.node.metadata.name]}]}
                    ]
                }
            if selector is not None:
                terms = selector.node_selector_terms
                if len(terms) == 1:
                    _add_requirements(terms[0].match_fields, fields)
                    _add_requirements(terms[0].match_expressions, exprs)
                elif len(terms) > 1:
                    raise AllocationError(f"unsupported ResourceSlice.NodeSelector with {len(terms)} terms")
        if not fields and not exprs:
            return None
        term: dict[str, Any] = {}
        if exprs:
            term["matchExpressions"] = [_requirement_dict(r) for r in exprs]
        if fields:
            term["matchFields"] = [_requirement_dict(r) for r in fields]
        return {"nodeSelectorTerms": [term]}


def _add_requirements(source: list, target: list) -> None:
    for req in source:
        values = set(req.values)
        if not any(r.key == req.key and r.operator == req.operator and set(r.values) == values for r in target):
            target.append(req)


def _requirement_dict(req: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"key": req.key, "operator": req.operator}
    if req.values:
        out["values"] = list(req.values)
    return out


def _toleration_dict(t: DeviceToleration) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if t.key:
        out["key"] = t.key
    if t.operator:
        out["operator"] = t.operator
    if t.value:
        out["value"] = t.value
    if t.effect:
        out["effect"] = t.effect
    if t.toleration_seconds is not None:
        out["tolerationSeconds"] = t.toleration_seconds
    return out


def _opaque_dict(opaque: Any) -> dict[str, Any]:
    if opaque is None:
        return {}
    out: dict[str, Any] = {"driver": opaque.driver}
    if opaque.parameters is not None:
        out["parameters"] = opaque.parameters
    return {"opaque": out}


_RESULT_ORDER = (
    "request", "driver", "pool", "device", "adminAccess", "tolerations", "bindingConditions",
    "bindingFailureConditions", "shareID", "consumedCapacity",
)


def _ordered_result(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r[k] for k in _RESULT_ORDER if k in r}


def _ordered_config(c: dict[str, Any]) -> dict[str, Any]:
    return {k: c[k] for k in ("source", "requests", "opaque") if k in c}
