"""Resource pools as the allocator sees them from one node (upstream ``GatherPools``).

A pool is (driver, pool name). Only the slices of its highest generation count; a pool
whose slices are not all visible is incomplete; duplicate device names or dangling
counter references make it invalid. Pools come back sorted by (driver, pool), with the
pools that have devices with binding conditions last, and slices sorted by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

from gpuplane.api.models import Device, Node, ResourceSlice
from gpuplane.api.quantity import parse_quantity
from gpuplane.dra.features import Features
from gpuplane.dra.nodeselect import NodeSelectorError, node_matches

PoolID = tuple[str, str]
DeviceID = tuple[str, str, str]


class GatherError(Exception):
    """Node selection failed for a slice or device: a fatal allocation error."""


class DeviceStatic:
    """What never changes for one device object: parsed counters, capacity shape, CEL data.

    Kept process-wide (keyed by the device object, which is immutable once decoded), so
    every Allocator, node and pod reuses it; a new slice generation brings new objects.
    """

    __slots__ = ("device", "consumes", "plain_capacity", "cel_input", "selector_results", "capacity_fits")

    def __init__(self, device: Device) -> None:
        self.device = device  # keeps id(device) valid while cached
        self.consumes = _consumption(device)
        self.plain_capacity = _plain_capacity(device)
        self.cel_input: dict[bool, object] = {}
        self.selector_results: dict[tuple[str, bool], object] = {}
        # capacity request key -> static_fit result (or the CapacityError it raised)
        self.capacity_fits: dict[object, object] = {}


_STATIC: dict[int, DeviceStatic] = {}
_STATIC_LIMIT = 2_000_000


def device_static(device: Device) -> DeviceStatic:
    st = _STATIC.get(id(device))
    if st is None or st.device is not device:
        if len(_STATIC) >= _STATIC_LIMIT:
            _STATIC.clear()
        st = DeviceStatic(device)
        _STATIC[id(device)] = st
    return st


@dataclass
class DeviceEntry:
    """A device as seen in one pool gathering, with its static data attached."""

    id: DeviceID
    device: Device
    slice: ResourceSlice
    pool: "Pool"
    static: DeviceStatic
    allow_multiple: bool

    @property
    def consumes(self) -> dict[str, dict[str, Fraction]]:
        return self.static.consumes

    @property
    def plain_capacity(self) -> bool:
        return self.static.plain_capacity


@dataclass
class Pool:
    id: PoolID
    incomplete: bool = False
    invalid: bool = False
    invalid_reason: str = ""
    slices: list[ResourceSlice] = field(default_factory=list)
    slices_not_targeting_node: list[ResourceSlice] = field(default_factory=list)
    # counter set -> counter -> value
    counter_sets: dict[str, dict[str, Fraction]] = field(default_factory=dict)
    entries: list[DeviceEntry] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.id[0]}/{self.id[1]}"


def _pool_id(s: ResourceSlice) -> PoolID:
    return (s.spec.driver, s.spec.pool.name)


def _relevant(slice_: ResourceSlice, node: Node) -> Optional[bool]:
    spec = slice_.spec
    try:
        if spec.node_name or spec.all_nodes or spec.node_selector is not None:
            return node_matches(node, spec.node_name, spec.all_nodes, spec.node_selector)
        if spec.per_device_node_selection:
            for dev in spec.devices:
                try:
                    if node_matches(node, dev.node_name, dev.all_nodes, dev.node_selector):
                        return True
                except NodeSelectorError as err:
                    raise GatherError(
                        f"failed to perform node selection for device {dev.name} in slice {slice_.metadata.name}: {err}"
                    ) from None
            return False
    except NodeSelectorError as err:
        raise GatherError(f"failed to perform node selection for slice {slice_.metadata.name}: {err}") from None
    return None


def _counter_value(value: object) -> "Fraction | int":
    v = parse_quantity(value if value is not None else 0).value  # type: ignore[arg-type]
    return v.numerator if v.denominator == 1 else v


def gather_pools(
    slices_for_node: list[ResourceSlice], node: Node, features: Features, all_slices: list[ResourceSlice]
) -> list[Pool]:
    by_pool: dict[PoolID, list[ResourceSlice]] = {}
    for s in slices_for_node:
        spec = s.spec
        if not features.partitionable_devices and (spec.per_device_node_selection is not None or spec.shared_counters):
            continue
        relevant = _relevant(s, node)
        if relevant is None or not relevant:
            continue
        pid = _pool_id(s)
        have = by_pool.get(pid)
        if have is None:
            by_pool[pid] = [s]
        elif s.spec.pool.generation > have[0].spec.pool.generation:
            by_pool[pid] = [s]
        elif s.spec.pool.generation == have[0].spec.pool.generation:
            have.append(s)

    result: list[Pool] = []
    with_binding: list[Pool] = []
    for pid, pool_slices in by_pool.items():
        first = pool_slices[0].spec.pool
        if len(pool_slices) == first.resource_slice_count:
            pool = _build_pool(pid, pool_slices, features, None)
        else:
            obsolete, all_for_pool = _check_slices_in_pool(all_slices, pid, first.generation)
            if obsolete:
                continue
            if len(all_for_pool) != first.resource_slice_count:
                result.append(Pool(id=pid, incomplete=True))
                continue
            pool = _build_pool(pid, pool_slices, features, all_for_pool)
        if _has_binding_conditions(pool):
            with_binding.append(pool)
        else:
            result.append(pool)
    result.sort(key=lambda p: p.id)
    with_binding.sort(key=lambda p: p.id)
    return result + with_binding


def _check_slices_in_pool(all_slices: list[ResourceSlice], pid: PoolID, generation: int) -> tuple[bool, list[ResourceSlice]]:
    found = []
    for s in all_slices:
        if s.spec.driver != pid[0] or s.spec.pool.name != pid[1]:
            continue
        if s.spec.pool.generation == generation:
            found.append(s)
        elif s.spec.pool.generation > generation:
            return True, []
    return False, found


def _has_binding_conditions(pool: Pool) -> bool:
    # Upstream tests for a non-nil list; an explicitly empty list counts too, but the
    # typed model cannot tell empty from absent, so only non-empty lists are seen here.
    return any(d.binding_conditions for s in pool.slices for d in s.spec.devices)


def _build_pool(pid: PoolID, slices: list[ResourceSlice], features: Features, all_for_pool: Optional[list[ResourceSlice]]) -> Pool:
    slices = sorted(slices, key=lambda s: s.metadata.name)
    device_slices: list[ResourceSlice] = []
    counter_slices: list[ResourceSlice] = []
    not_targeting: list[ResourceSlice] = []
    for s in slices:
        if features.partitionable_devices and s.spec.shared_counters:
            counter_slices.append(s)
        else:
            device_slices.append(s)
    if all_for_pool is not None and len(slices) < len(all_for_pool):
        names = {s.metadata.name for s in slices}
        for s in all_for_pool:
            if s.metadata.name in names:
                continue
            if features.partitionable_devices and s.spec.shared_counters:
                counter_slices.append(s)
            else:
                not_targeting.append(s)

    seen: set[str] = set()
    for s in device_slices:
        for d in s.spec.devices:
            if d.name in seen:
                return Pool(id=pid, invalid=True, invalid_reason=f"duplicate device name {d.name}")
            seen.add(d.name)
    if not features.partitionable_devices:
        return _finish(Pool(id=pid, slices=device_slices), features)

    counter_sets: dict[str, dict[str, Fraction]] = {}
    for s in counter_slices:
        for cs in s.spec.shared_counters:
            if cs.name in counter_sets:
                return Pool(id=pid, invalid=True, invalid_reason=f"duplicate counter set name {cs.name}")
            counter_sets[cs.name] = {name: _counter_value(c.value) for name, c in cs.counters.items()}
    for group in (device_slices, not_targeting):
        for s in group:
            for d in s.spec.devices:
                for cc in d.consumes_counters:
                    cset = counter_sets.get(cc.counter_set)
                    if cset is None:
                        return Pool(id=pid, invalid=True, invalid_reason=f"counter set {cc.counter_set} not found")
                    for cname in cc.counters:
                        if cname not in cset:
                            return Pool(
                                id=pid, invalid=True,
                                invalid_reason=f"counter {cname} not found in counter set {cc.counter_set}",
                            )
    pool = Pool(id=pid, slices=device_slices, slices_not_targeting_node=not_targeting, counter_sets=counter_sets)
    return _finish(pool, features)


def _consumption(device: Device) -> dict[str, dict[str, Fraction]]:
    out: dict[str, dict[str, Fraction]] = {}
    for cc in device.consumes_counters:
        target = out.setdefault(cc.counter_set, {})
        for name, c in cc.counters.items():
            target[name] = target.get(name, 0) + _counter_value(c.value)
    return out


def _plain_capacity(device: Device) -> bool:
    for cap in device.capacity.values():
        if cap.request_policy is not None:
            return False
        try:
            if parse_quantity(cap.value if cap.value is not None else 0).value < 0:
                return False
        except ValueError:
            return False
    return True


def _finish(pool: Pool, features: Features) -> Pool:
    for s in pool.slices:
        driver, pname = s.spec.driver, s.spec.pool.name
        for d in s.spec.devices:
            pool.entries.append(
                DeviceEntry(
                    id=(driver, pname, d.name),
                    device=d,
                    slice=s,
                    pool=pool,
                    static=device_static(d),
                    allow_multiple=bool(features.consumable_capacity and d.allow_multiple_allocations),
                )
            )
    return pool
