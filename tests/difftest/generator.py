"""Seeded random inputs for the differential test (gpuplane vs the upstream Go allocator).

``make_case(seed)`` returns one oracle case (hack/oracle/README.md)::

    {"id": seed, "node": "node-0", "features": {gate: bool, ...}, "objects": [...]}

Everything is drawn from ``random.Random(seed)`` only, so a seed always yields the
same case. Objects are valid as the API server would store them (after
``apply_defaults``); the allocator-level oddities that validation cannot rule out
(duplicate device names across slices of a pool, dangling counter references,
incomplete/stale pools, CEL runtime errors, references to missing classes,
objects that use a feature whose gate is now off) are generated on purpose.

``case_tags(case)`` lists which features a case exercises (for coverage reports).
"""

from __future__ import annotations

import math
import random
import uuid
from typing import Any, Optional

from gpuplane.api.defaults import apply_defaults

GPU = "gpu.example.com"
NIC = "nic.example.com"
FPGA = "fpga.acme.io"
DRIVERS = [GPU, NIC, FPGA]
TOPO = "topo.example.org"  # a foreign attribute domain

# Gates that reach the allocator (1.37 defaults: all on, list-type attributes off).
GATES = [
    "DRAPrioritizedList",
    "DRAAdminAccess",
    "DRAPartitionableDevices",
    "DRADeviceTaints",
    "DRAConsumableCapacity",
    "DRADeviceBindingConditions",
    "DRAResourceClaimDeviceStatus",
]

MODELS = ["a100", "h100", "l4"]
VERSIONS = ["1.2.0", "1.10.3", "2.0.0-rc.1", "2.0.0", "0.9.1", "1.2.0+build.7", "1.2.0+build.8", "2.0.0-rc.1.2"]
PCIE = ["p0", "p1", "p2"]
TIME_ADDED = "2026-01-02T03:04:05Z"
SEARCH_LIMIT = 20_000


# Templates: {d} a driver domain, {T} the foreign domain, {m} a model, {q} a quantity,
# {v} a version, {n} a small int. All compile with the scheduler's CEL environment;
# several can fail at runtime on some devices (that is compared too).
EXOTIC_SELECTORS = [
    # maps and macros
    'device.attributes["{d}"].exists(k, k.startsWith("m"))',
    'device.attributes["{d}"].all(k, k.size() < 6)',
    'device.attributes["{d}"].exists_one(k, k == "index")',
    '"{d}" in device.attributes',
    '"{T}" in device.attributes && "pcie" in device.attributes["{T}"]',
    "device.attributes.size() >= 2",
    'device.capacity["{d}"].size() == 0',
    'device.attributes["{d}"].filter(k, k.endsWith("x")).size() == 0',
    'device.attributes["{d}"].map(k, k.size()).exists(x, x > 5)',
    'device.attributes["{d}"].all(k, v, k != "index" || v > {n})',
    # optionals, bind, ternary
    'device.attributes["{d}"].?model.orValue("none") != "none"',
    'device.attributes["{d}"].?model.hasValue()',
    'cel.bind(a, device.attributes["{d}"], has(a.model) && a.model.upperAscii() == "{m}".upperAscii())',
    '(has(device.attributes["{d}"].index) ? device.attributes["{d}"].index : -1) >= {n}',
    # strings
    'has(device.attributes["{d}"].model) && device.attributes["{d}"].model.matches("^[ah][0-9]+$")',
    'has(device.attributes["{d}"].model) && device.attributes["{d}"].model.contains("10")',
    'device.driver.split(".")[0] + "x" == "gpux"',
    'device.driver.indexOf(".") == 3',
    'device.driver.substring(0, 3) in ["gpu", "nic"]',
    '"{m}".charAt(0) == device.attributes["{d}"].?model.orValue("").charAt(0)',
    'has(device.attributes["{d}"].model) && device.attributes["{d}"].model.find("[0-9]+") == "100"',
    # ints and arithmetic (division by zero and overflow are runtime errors)
    'has(device.attributes["{d}"].index) && device.attributes["{d}"].index % 2 == 0',
    'has(device.attributes["{d}"].index) && 10 / device.attributes["{d}"].index > 2',
    'has(device.attributes["{d}"].big) && device.attributes["{d}"].big + 1 > 0',
    'has(device.attributes["{d}"].big) && device.attributes["{d}"].big - 1 < 0',
    'has(device.attributes["{d}"].index) && double(device.attributes["{d}"].index) / 2.0 >= 1.0',
    'has(device.attributes["{d}"].index) && string(device.attributes["{d}"].index) == "1"',
    'has(device.attributes["{d}"].index) && uint(device.attributes["{d}"].index) >= 1u',
    '[1, 2, 3].exists(x, x == device.attributes["{d}"].?index.orValue(0))',
    '[3, 1, 2].sort()[0] == device.attributes["{d}"].?index.orValue(1)',
    'lists.range(3).exists(i, i == device.attributes["{d}"].?index.orValue(9))',
    '[2, 5, 1].max() == device.attributes["{d}"].?index.orValue(2) + 3',
    'sets.contains(["a100", "h100"], [device.attributes["{d}"].?model.orValue("x")])',
    # cross-type comparisons: equality of different types is false in CEL, but a version
    # (a custom type) compared with another type is a runtime error
    'device.attributes["{T}"].?numa.orValue(1) == 0',
    'device.attributes["{T}"].?numa.orValue("x") == "0"',
    'has(device.attributes["{T}"].numa) && device.attributes["{T}"].numa != false',
    'has(device.attributes["{d}"].drv) && device.attributes["{d}"].drv == "{v}"',
    'has(device.attributes["{T}"].numa) && device.attributes["{T}"].numa > 0',
    # quantities
    'has(device.capacity["{d}"].memory) && device.capacity["{d}"].memory == quantity("{q}")',
    'has(device.capacity["{d}"].memory) && device.capacity["{d}"].memory.isLessThan(quantity("{q}").add(quantity("512Mi")))',
    'has(device.capacity["{d}"].memory) && device.capacity["{d}"].memory.sub(quantity("{q}")).isLessThan(quantity("0"))',
    'has(device.capacity["{d}"].memory) && sign(device.capacity["{d}"].memory.sub(quantity("{q}"))) >= 0',
    'has(device.capacity["{d}"].memory) && device.capacity["{d}"].memory.asApproximateFloat() > 1.5e10',
    'has(device.capacity["{d}"].memory) && device.capacity["{d}"].memory.add(1).isInteger()',
    'has(device.capacity["{d}"].cores) && device.capacity["{d}"].cores.asInteger() > 8',
    'has(device.capacity["{d}"].cores) && device.capacity["{d}"].cores.compareTo(quantity("{q}")) <= 0',
    'has(device.capacity["{T}"].bw) && device.capacity["{T}"].bw.isGreaterThan(quantity("50G"))',
    'isQuantity("{q}") && quantity("{q}").isInteger()',
    # versions
    'has(device.attributes["{d}"].drv) && device.attributes["{d}"].drv == semver("{v}")',
    'has(device.attributes["{d}"].drv) && device.attributes["{d}"].drv.compareTo(semver("{v}")) < 0',
    'has(device.attributes["{d}"].drv) && device.attributes["{d}"].drv.isLessThan(semver("v1.10", true))',
    'has(device.attributes["{d}"].drv) && device.attributes["{d}"].drv.minor() > 2',
    'has(device.attributes["{d}"].drv) && device.attributes["{d}"].drv.patch() == 0',
    'isSemver("{v}") && semver("{v}").major() < 3',
    # unguarded lookups: runtime errors on devices without the key
    'device.attributes["{d}"].index >= 0',
    'device.capacity["{d}"].memory.isGreaterThan(quantity("{q}"))',
    'device.attributes["{T}"].pcie == "p0"',
]


def _gi(n: int, rng: random.Random) -> str:
    """n GiB written in one of several equivalent ways."""
    r = rng.random()
    if r < 0.6:
        return f"{n}Gi"
    if r < 0.85:
        return f"{n * 1024}Mi"
    return str(n * 1024**3)


class _Builder:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.objects: list[dict[str, Any]] = []
        self.slice_names: set[str] = set()
        self.device_budget = self.rng.choice([8, 14, 20, 28, 40])
        self.devices_made = 0
        # Every device published (any generation, any node): (driver, pool, dict).
        self.all_devices: list[tuple[str, str, dict[str, Any]]] = []
        # Devices of current generations, usable as allocated-claim targets.
        self.current_devices: list[tuple[str, str, dict[str, Any]]] = []
        self.counter = 0
        self.visible: dict[str, int] = {}  # driver -> devices probably visible on the node

    # --- helpers -------------------------------------------------------------------

    def p(self, prob: float) -> bool:
        return self.rng.random() < prob

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def unique_slice_name(self, base: str) -> str:
        name = base
        i = 0
        while name in self.slice_names:
            i += 1
            name = f"{base}-{i}"
        self.slice_names.add(name)
        return name

    # --- nodes ---------------------------------------------------------------------

    def make_nodes(self) -> None:
        rng = self.rng
        n = rng.randint(1, 3)
        self.nodes: list[str] = [f"node-{i}" for i in range(n)]
        self.node_labels: dict[str, dict[str, str]] = {}
        for name in self.nodes:
            labels = {"zone": rng.choice(["a", "b"]), "tier": rng.choice(["1", "2", "3", "3", "gold", "01"])}
            if self.p(0.03):
                # Valid label values that strconv.ParseInt rejects (no match for Gt/Lt).
                labels["tier"] = rng.choice(["1_000", "99999999999999999999"])
            if self.p(0.5):
                labels["gpu"] = "true"
            self.node_labels[name] = labels
            self.objects.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}})
        if self.p(0.04):
            self.target = "node-x"  # no Node object: the allocator uses a bare node
        else:
            self.target = rng.choice(self.nodes)
        self.others = [n for n in self.nodes if n != self.target] or ["node-z"]

    def requirement(self) -> dict[str, Any]:
        rng = self.rng
        kind = rng.randrange(7)
        if kind == 0:
            vals = rng.choice([["a"], ["b"], ["a", "b"], ["b", "a"]])
            return {"key": "zone", "operator": "In", "values": list(vals)}
        if kind == 1:
            return {"key": "zone", "operator": "NotIn", "values": [rng.choice(["a", "b"])]}
        if kind == 2:
            return {"key": "gpu", "operator": rng.choice(["Exists", "DoesNotExist"])}
        if kind == 3:
            # "-1" passes API validation but is not a valid label value: upstream fails to parse it.
            return {"key": "tier", "operator": rng.choice(["Gt", "Lt"]), "values": [rng.choice(["1", "2"]) if not self.p(0.04) else "-1"]}
        if kind == 4:
            return {"key": "tier", "operator": "In", "values": [rng.choice(["1", "2", "3"])]}
        if kind == 5:
            return {"key": "rack", "operator": "DoesNotExist"}
        return {"key": "zone", "operator": "Exists"}

    def node_selector(self) -> dict[str, Any]:
        rng = self.rng
        term: dict[str, Any] = {}
        r = rng.random()
        if r < 0.75:
            term["matchExpressions"] = [self.requirement() for _ in range(rng.randint(1, 2))]
        if r >= 0.6 or not term:
            node = self.target if self.p(0.6) else rng.choice(self.others)
            term["matchFields"] = [{"key": "metadata.name", "operator": rng.choice(["In", "In", "NotIn"]), "values": [node]}]
        return {"nodeSelectorTerms": [term]}

    def node_choice(self, where: str) -> dict[str, Any]:
        """Node selection fields (for a slice spec or a device)."""
        if where == "local":
            return {"nodeName": self.target}
        if where == "other":
            return {"nodeName": self.rng.choice(self.others)}
        if where == "all":
            return {"allNodes": True}
        return {"nodeSelector": self.node_selector()}

    # --- devices -------------------------------------------------------------------

    def attributes(self, driver: str, index: int) -> dict[str, Any]:
        rng = self.rng
        attrs: dict[str, Any] = {}

        def name(ident: str) -> str:
            # Driver-domain attributes are written with or without the domain.
            return f"{driver}/{ident}" if self.p(0.3) else ident

        if self.p(0.85):
            attrs[name("model")] = {"string": rng.choice(MODELS)}
        if self.p(0.8):
            attrs[name("index")] = {"int": index if self.p(0.8) else rng.randint(0, 3)}
        if self.p(0.6):
            attrs[name("healthy")] = {"bool": self.p(0.8)}
        if self.p(0.6):
            attrs[name("drv")] = {"version": rng.choice(VERSIONS)}
        if self.p(0.6):
            attrs[f"{TOPO}/pcie"] = {"string": rng.choice(PCIE)}
        if self.p(0.5):
            attrs[f"{TOPO}/socket"] = {"int": rng.randint(0, 1)}
        if self.p(0.05):
            attrs[name("big")] = {"int": rng.choice([2**63 - 1, -(2**63), 2**62])}
        if self.p(0.15):
            # Same id, other type: exercises type-aware constraint comparison.
            attrs[f"{TOPO}/numa"] = rng.choice([{"int": 0}, {"string": "0"}, {"bool": False}, {"version": "0.0.0"}])
        return attrs

    def policy(self, unit: str, total: int) -> Optional[dict[str, Any]]:
        """A requestPolicy for a capacity of ``total`` units (unit: 'gi' or 'cores')."""
        rng = self.rng
        fmt = (lambda n: _gi(n, rng)) if unit == "gi" else (lambda n: str(n))
        kind = rng.randrange(4)
        if kind == 0:
            return None
        if unit == "cores" and self.p(0.25):
            # Fractional policies: without DRAFractionalCapacityRange the step arithmetic
            # uses Value() (rounded up to an integer) while max is compared exactly.
            if self.p(0.6):
                r: dict[str, Any] = {"min": "500m", "step": "500m"}
                if self.p(0.5):
                    r["max"] = rng.choice(["2", "2500m", str(total)])
                return {"default": rng.choice(["500m", "1", "1500m"]), "validRange": r}
            return {"default": "500m", "validValues": ["250m", "500m", "1", "1500m"]}
        if kind == 1:
            return {"default": fmt(rng.randint(1, total))}
        if kind == 2:
            step = rng.choice([1, 2, 4])
            if step * 2 > total:
                step = 1
            lo = step * rng.randint(0, 1)
            if lo + step > total:
                lo = 0
            rng_: dict[str, Any] = {"min": fmt(lo)}
            hi = None
            if self.p(0.6):
                hi = step * rng.randint(max(1, lo // step), total // step)
                rng_["max"] = fmt(hi)
            use_step = self.p(0.7)
            if use_step:
                rng_["step"] = fmt(step)
            upper = hi if hi is not None else total
            candidates = [v for v in range(lo, upper + 1) if (not use_step or (v - lo) % step == 0) and v > 0]
            default = rng.choice(candidates) if candidates else lo
            return {"default": fmt(default), "validRange": rng_}
        values = sorted(rng.sample([1, 2, 4, 8, 16, 32], rng.randint(1, 4)))
        values = [v for v in values if v <= total] or [1]
        return {"default": fmt(rng.choice(values)), "validValues": [fmt(v) for v in values]}

    def capacity(self, driver: str, multi: bool) -> dict[str, Any]:
        rng = self.rng
        cap: dict[str, Any] = {}
        if self.p(0.8):
            total = rng.choice([8, 16, 40, 80])
            entry: dict[str, Any] = {"value": _gi(total, rng)}
            if self.p(0.1):
                entry["value"] = rng.choice(["40G", "16e9", "1.5Ti", "100Gi", "1Ei", "+10Gi", "41.500G", "017Gi"])
            elif multi:
                pol = self.policy("gi", total)
                if pol:
                    entry["requestPolicy"] = pol
            cap["memory" if self.p(0.75) else f"{driver}/memory"] = entry
        if self.p(0.5):
            total = rng.choice([4, 16, 64])
            entry = {"value": str(total)}
            if multi:
                pol = self.policy("cores", total)
                if pol:
                    entry["requestPolicy"] = pol
            cap["cores"] = entry
        if self.p(0.2):
            cap[f"{TOPO}/bw"] = {"value": rng.choice(["100G", "25G", "400G"])}
        return cap

    def taints(self) -> list[dict[str, Any]]:
        rng = self.rng
        out = []
        for _ in range(rng.randint(1, 2)):
            t: dict[str, Any] = {
                "key": rng.choice(["maint", "example.com/degraded"]),
                "effect": rng.choice(["NoSchedule", "NoExecute", "None"]),
                "timeAdded": TIME_ADDED,
            }
            v = rng.choice(["", "yes", "v1"])
            if v:
                t["value"] = v
            out.append(t)
        return out

    def device(
        self,
        driver: str,
        name: str,
        index: int,
        counter_sets: Optional[list[dict[str, Any]]],
        per_device: bool,
        binding_pool: bool,
        multi_pool: bool,
    ) -> dict[str, Any]:
        rng = self.rng
        dev: dict[str, Any] = {"name": name}
        attrs = self.attributes(driver, index)
        if attrs:
            dev["attributes"] = attrs
        multi = multi_pool and self.p(0.7) or self.p(0.05)
        cap = self.capacity(driver, multi)
        if cap:
            dev["capacity"] = cap
        if multi:
            dev["allowMultipleAllocations"] = True
        if counter_sets is not None and self.p(0.85):
            dev["consumesCounters"] = self.consumption(counter_sets)
        if per_device:
            r = rng.random()
            where = "local" if r < 0.35 else "other" if r < 0.5 else "all" if r < 0.75 else "selector"
            dev.update(self.node_choice(where))
        if self.p(0.08):
            dev["taints"] = self.taints()
        if binding_pool and self.p(0.6) or self.p(0.03):
            dev["bindingConditions"] = [rng.choice(["example.com/Ready", "Attached"])]
            dev["bindingFailureConditions"] = ["example.com/Failed"]
            if self.p(0.5):
                dev["bindsToNode"] = True
        return dev

    def counter_sets(self) -> list[dict[str, Any]]:
        rng = self.rng
        sets = []
        for i in range(rng.randint(1, 3)):
            counters = {"mem": {"value": _gi(rng.choice([8, 16, 40]), rng)}}
            if self.p(0.7):
                counters["sm"] = {"value": str(rng.choice([2, 4, 7]))}
            if self.p(0.2):
                counters["enc"] = {"value": "1"}
            sets.append({"name": f"cs-{i}", "counters": counters})
        return sets

    def consumption(self, counter_sets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rng = self.rng
        out = []
        chosen = rng.sample(counter_sets, min(len(counter_sets), rng.choice([1, 1, 1, 2])))
        for cs in chosen:
            counters: dict[str, Any] = {}
            for cname in cs["counters"]:
                if self.p(0.7):
                    if cname == "mem":
                        counters[cname] = {"value": _gi(rng.choice([4, 8, 16]), rng)}
                    else:
                        counters[cname] = {"value": str(rng.choice([1, 2, 3]))}
            if not counters:
                first = next(iter(cs["counters"]))
                counters[first] = {"value": "1" if first != "mem" else "4Gi"}
            name = cs["name"]
            if self.dangling_pool and self.p(0.3):
                # Dangling reference: the pool becomes invalid.
                if self.p(0.5):
                    name = "cs-missing"
                else:
                    counters["nosuch"] = {"value": "1"}
            out.append({"counterSet": name, "counters": counters})
        return out

    # --- pools ---------------------------------------------------------------------

    def make_pools(self) -> None:
        rng = self.rng
        self.drivers = rng.sample(DRIVERS, rng.choice([1, 1, 2, 2, 3]))
        npools = rng.randint(1, 4)
        used: set[tuple[str, str]] = set()
        for pi in range(npools):
            if self.devices_made >= self.device_budget:
                break
            driver = rng.choice(self.drivers)
            pname = rng.choice([self.target, f"pool-{pi}", "shared", f"rack-{rng.randint(0, 1)}/pool"])
            if (driver, pname) in used:
                pname = f"pool-{pi}-b"
            used.add((driver, pname))
            self.make_pool(driver, pname)

    def make_pool(self, driver: str, pname: str) -> None:
        rng = self.rng
        generation = rng.randint(0, 3)
        style = rng.choices(["local", "all", "selector", "per-device", "mixed"], [4, 2, 2, 1.5, 1.5])[0]
        partitionable = self.p(0.25)
        binding_pool = self.p(0.12)
        multi_pool = self.p(0.22)
        nslices = rng.randint(1, 3)
        dup_pool = self.p(0.07)
        counter_sets = self.counter_sets() if partitionable else None
        self.dangling_pool = self.p(0.1)
        slices: list[dict[str, Any]] = []

        def where_for_slice() -> str:
            if style == "local":
                return "local" if self.p(0.9) else "other"
            if style == "all":
                return "all"
            if style == "selector":
                return "selector"
            if style == "per-device":
                return "per-device"
            return rng.choice(["local", "other", "all", "selector", "per-device"])

        base = f"{driver.split('.')[0]}-{pname.replace('/', '-')}"
        names_in_pool: list[str] = []
        for si in range(nslices):
            where = where_for_slice()
            spec: dict[str, Any] = {
                "driver": driver,
                "pool": {"name": pname, "generation": generation, "resourceSliceCount": 0},
            }
            if where == "per-device":
                spec["perDeviceNodeSelection"] = True
            else:
                spec.update(self.node_choice(where))
            ndev = rng.randint(1, 5)
            ndev = max(1, min(ndev, self.device_budget - self.devices_made))
            devices = []
            for di in range(ndev):
                idx = len(names_in_pool)
                dname = f"dev-{idx}"
                if names_in_pool and dup_pool and self.p(0.3):
                    dname = rng.choice(names_in_pool)  # duplicate: invalid pool
                names_in_pool.append(dname)
                dev = self.device(driver, dname, idx, counter_sets, where == "per-device", binding_pool, multi_pool)
                devices.append(dev)
                self.all_devices.append((driver, pname, dev))
                self.current_devices.append((driver, pname, dev))
            self.devices_made += ndev
            if where in ("local", "all", "per-device") and not dup_pool:
                self.visible[driver] = self.visible.get(driver, 0) + ndev
            spec["devices"] = devices
            slices.append(spec)

        if counter_sets is not None:
            cs_list = counter_sets
            spec = {"driver": driver, "pool": {"name": pname, "generation": generation, "resourceSliceCount": 0}}
            spec.update(self.node_choice(rng.choice(["all", "all", "local", "other", "selector"])))
            if self.p(0.08):
                # The same counter set name in a second slice: invalid pool.
                dup = {"driver": driver, "pool": dict(spec["pool"]), "allNodes": True,
                       "sharedCounters": [{"name": cs_list[0]["name"], "counters": {"mem": {"value": "1Gi"}}}]}
                slices.append(dup)
            # Counters may also be split over two slices.
            if len(cs_list) > 1 and self.p(0.3):
                spec2 = {"driver": driver, "pool": dict(spec["pool"])}
                spec2.update(self.node_choice("all"))
                spec["sharedCounters"] = cs_list[:1]
                spec2["sharedCounters"] = cs_list[1:]
                slices.append(spec)
                slices.append(spec2)
            else:
                spec["sharedCounters"] = cs_list
                slices.append(spec)

        if self.p(0.04):
            # A slice without devices still counts towards the pool's slice count.
            empty = {"driver": driver, "pool": {"name": pname, "generation": generation, "resourceSliceCount": 0}}
            empty.update(self.node_choice(rng.choice(["local", "all"])))
            slices.append(empty)
        count = len(slices)
        if self.p(0.07):
            count += rng.randint(1, 2)  # incomplete pool
        for spec in slices:
            spec["pool"]["resourceSliceCount"] = count
        if len(slices) > 1 and self.p(0.04):
            # Inconsistent counts (a driver bug the API cannot catch): the first slice
            # the allocator sees decides.
            rng.choice(slices)["pool"]["resourceSliceCount"] = max(1, count + rng.choice([-1, 1]))
        order = list(range(len(slices)))
        rng.shuffle(order)  # slice names decide the order inside a pool, not creation order
        for k, spec in zip(order, slices):
            self.add_slice(f"{base}-s{k}", spec)

        # Stale slices of an older generation (ignored by consumers).
        if generation > 0 and self.p(0.25):
            spec = {
                "driver": driver,
                "pool": {"name": pname, "generation": generation - 1, "resourceSliceCount": rng.randint(1, 2)},
            }
            spec.update(self.node_choice(rng.choice(["local", "all"])))
            spec["devices"] = [
                self.device(driver, f"dev-{i}", i, None, False, False, multi_pool) for i in range(rng.randint(1, 2))
            ]
            for d in spec["devices"]:
                self.all_devices.append((driver, pname, d))
            self.add_slice(f"{base}-old", spec)
        # A newer generation published only for another node: makes the pool obsolete
        # when the node's view is incomplete.
        if self.p(0.06):
            spec = {
                "driver": driver,
                "pool": {"name": pname, "generation": generation + 1, "resourceSliceCount": 1},
                "nodeName": rng.choice(self.others),
                "devices": [self.device(driver, "dev-new", 0, None, False, False, False)],
            }
            self.add_slice(f"{base}-new", spec)

    def add_slice(self, name: str, spec: dict[str, Any]) -> None:
        self.objects.append(
            {
                "apiVersion": "resource.k8s.io/v1",
                "kind": "ResourceSlice",
                "metadata": {"name": self.unique_slice_name(name)},
                "spec": spec,
            }
        )

    # --- classes -------------------------------------------------------------------

    def make_classes(self) -> None:
        rng = self.rng
        classes: list[tuple[str, list[str]]] = [
            ("gpu", [f'device.driver == "{GPU}"']),
            ("nic", [f'device.driver == "{NIC}"']),
            ("fpga", [f'device.driver == "{FPGA}"']),
            ("any", []),
        ]
        # Weights for picking a class in a request: mostly classes of drivers that publish.
        self.class_weights = [6 if self.visible.get(d) else 0.5 if d in self.drivers else 0.12 for d in (GPU, NIC, FPGA)] + [3]
        extra = rng.choice(["none", "healthy", "multi", "mem", "model", "strict"])
        if extra != "none":
            self.class_weights.append(2 if self.visible.get(GPU) or extra == "multi" else 0.3)
        if extra == "healthy":
            classes.append(("healthy", [f'device.attributes["{GPU}"].?healthy.orValue(true)']))
        elif extra == "multi":
            classes.append(("shared", ["device.allowMultipleAllocations"]))
        elif extra == "mem":
            classes.append(
                (
                    "bigmem",
                    [
                        f'device.driver == "{GPU}"',
                        f'has(device.capacity["{GPU}"].memory) && device.capacity["{GPU}"].memory.compareTo(quantity("16Gi")) >= 0',
                    ],
                )
            )
        elif extra == "strict":
            # An unguarded lookup in a class selector: a runtime error on any device
            # without a gpu.example.com "model" attribute that reaches this class.
            classes.append(("strict", [f'device.attributes["{GPU}"].model != ""']))
        elif extra == "model":
            classes.append(("h100", [f'"model" in device.attributes["{GPU}"] && device.attributes["{GPU}"].model == "h100"']))
        self.class_names = [c[0] for c in classes]
        for name, selectors in classes:
            spec: dict[str, Any] = {}
            if selectors:
                spec["selectors"] = [{"cel": {"expression": e}} for e in selectors]
            if self.p(0.3):
                spec["config"] = [
                    {"opaque": {"driver": rng.choice(DRIVERS), "parameters": self.parameters({"kind": "ClassConfig", "class": name, "n": i})}}
                    for i in range(rng.randint(1, 2))
                ]
            self.objects.append(
                {"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": name}, "spec": spec}
            )

    def parameters(self, base: dict[str, Any]) -> dict[str, Any]:
        """Opaque config parameters: any JSON object, copied verbatim into the result."""
        if self.p(0.7):
            return base
        extra = self.rng.choice([
            {"nested": {"list": [1, 2.5, "x", None, True, {"deep": []}]}},
            {"unicode": "gpu-\u00e9\u4e2d", "empty": {}, "float": 1e-3},
            {"apiVersion": "gpu.example.com/v1", "kind": "GpuConfig", "sharing": {"strategy": "TimeSlicing", "replicas": 4}},
            {"big": 12345678901234567, "neg": -1, "zero": 0.0},
        ])
        return {**base, **extra}

    # --- claims --------------------------------------------------------------------

    def selector(self, domain: Optional[str] = None) -> str:
        rng = self.rng
        d = domain if domain and self.p(0.85) else rng.choice(self.drivers + [GPU])
        if self.p(0.35):
            return self.exotic_selector(d)
        kind = rng.randrange(17)
        if kind == 0:
            return f'device.driver == "{rng.choice(DRIVERS)}"'
        if kind == 1:
            return f'has(device.attributes["{d}"].model) && device.attributes["{d}"].model == "{rng.choice(MODELS)}"'
        if kind == 2:
            return f'"index" in device.attributes["{d}"] && device.attributes["{d}"].index >= {rng.randint(0, 4)}'
        if kind == 3:
            return f'device.attributes["{d}"].?healthy.orValue(false)'
        if kind == 4:
            v = rng.choice(["1.5.0", "1.10.3", "2.0.0-alpha", "0.1.0"])
            return f'has(device.attributes["{d}"].drv) && device.attributes["{d}"].drv.isGreaterThan(semver("{v}"))'
        if kind == 5:
            q = rng.choice(["8Gi", "16Gi", "20000Mi", "40G", "64Gi"])
            op = rng.choice([">=", "<", "=="])
            return f'has(device.capacity["{d}"].memory) && device.capacity["{d}"].memory.compareTo(quantity("{q}")) {op} 0'
        if kind == 6:
            return "device.allowMultipleAllocations" if self.p(0.6) else "!device.allowMultipleAllocations"
        if kind == 7:
            return f'has(device.attributes["{TOPO}"].pcie) && device.attributes["{TOPO}"].pcie in ["{rng.choice(PCIE)}", "{rng.choice(PCIE)}"]'
        if kind == 8:
            return f'"socket" in device.attributes["{TOPO}"] && device.attributes["{TOPO}"].socket == {rng.randint(0, 1)}'
        if kind == 9:
            # Heterogeneous equality: comparing an int attribute with a string is false, not an error.
            return f'has(device.attributes["{d}"].index) && device.attributes["{d}"].index == "1"'
        if kind == 10:
            return f'has(device.attributes["{d}"].drv) && device.attributes["{d}"].drv.major() >= 2'
        if kind == 11:
            return f'has(device.capacity["{d}"].cores) && device.capacity["{d}"].cores.isGreaterThan(quantity("{rng.choice(["4", "15", "16"])}"))'
        if kind == 12:
            return f'has(device.attributes["{d}"].model) && device.attributes["{d}"].model.startsWith("{rng.choice(["a", "h", "l"])}")'
        if kind == 13:
            return f'device.attributes["{d}"].size() >= {rng.randint(1, 4)}'
        if kind == 14:
            return f'!has(device.attributes["{d}"].healthy) || device.attributes["{d}"].healthy'
        if kind == 15:
            # Unguarded lookups: a runtime error as soon as a device without the key is evaluated.
            if self.p(0.5):
                return f'device.attributes["{d}"].nosuch == 1'
            return f'device.attributes["{d}"].model == "{rng.choice(MODELS)}"'
        return f'device.capacity["{d}"].size() > 0'

    def exotic_selector(self, d: str) -> str:
        """Less common CEL (libraries, macros, cross-type comparisons, runtime errors)."""
        rng = self.rng
        template = rng.choice(EXOTIC_SELECTORS)
        return template.format(
            d=d,
            T=TOPO,
            m=rng.choice(MODELS),
            q=rng.choice(["16Gi", "16384Mi", "17179869184", "40G", "1.5Gi", "40960Mi", "0.5", "100m", "80Gi"]),
            v=rng.choice(["1.2.0", "1.10.3", "2.0.0-rc.1", "2.0.0", "1.2.0+build.7", "0.9.1", "2.0.0-rc.1+x"]),
            n=rng.randint(0, 3),
        )

    def maybe_selectors(self, prob: float, domain: Optional[str] = None) -> Optional[list[dict[str, Any]]]:
        if not self.p(prob):
            return None
        exprs = []
        for _ in range(self.rng.randint(1, 2)):
            e = self.selector(domain)
            # Keep outright runtime errors rare.
            if ("nosuch" in e or (e.startswith("device.attributes") and "==" in e and "has(" not in e)) and not self.p(0.3):
                e = f'device.driver == "{self.rng.choice(DRIVERS)}"'
            exprs.append(e)
        return [{"cel": {"expression": e}} for e in exprs]

    def tolerations(self) -> list[dict[str, Any]]:
        rng = self.rng
        out = []
        for _ in range(rng.randint(1, 2)):
            t: dict[str, Any] = {}
            r = rng.random()
            if r < 0.35:
                t["key"] = rng.choice(["maint", "example.com/degraded"])
                t["operator"] = "Exists"
            elif r < 0.5:
                t["operator"] = "Exists"  # empty key + Exists tolerates everything
            else:
                t["key"] = rng.choice(["maint", "example.com/degraded"])
                if self.p(0.5):
                    t["operator"] = "Equal"  # else left to defaulting
                v = rng.choice(["", "yes", "v1"])
                if v:
                    t["value"] = v
            if self.p(0.5):
                t["effect"] = rng.choice(["NoSchedule", "NoExecute"])
                if t["effect"] == "NoExecute" and self.p(0.3):
                    t["tolerationSeconds"] = rng.choice([0, 60])
            out.append(t)
        return out

    def capacity_request(self) -> dict[str, Any]:
        rng = self.rng
        req: dict[str, Any] = {}
        if self.p(0.8):
            req[rng.choice(["memory", "memory", "memory", f"{GPU}/memory"])] = rng.choice(
                ["1Gi", "1536Mi", "3Gi", "4096Mi", "5G", "10Gi", "20Gi", "100Gi", "0.5Gi", "2500M",
                 "1.5Gi", ".5Gi", "+2Gi", "1.0Gi", "1025Mi", "1073741824", "1e9", "2.5e9", "3G", "1024Ki", "1Ei", "100Ei",
                 "1.500G", "02Gi", "+3G"]
            )
        if self.p(0.4) or not req:
            req["cores"] = rng.choice(["1", "3", "1500m", "20", "500m", "2.5", "1e1", "2000m", "0.001", "4"])
        if self.p(0.05):
            req["nosuch"] = "1"
        return {"requests": req}

    def exact(self, allow_admin: bool) -> dict[str, Any]:
        rng = self.rng
        cls = rng.choices(self.class_names, self.class_weights)[0] if not self.p(0.008) else "missing-class"
        e: dict[str, Any] = {"deviceClassName": cls}
        domain = {"gpu": GPU, "nic": NIC, "fpga": FPGA}.get(cls, GPU if cls in ("healthy", "bigmem", "h100", "strict") else None)
        sels = self.maybe_selectors(0.2, domain)
        if sels:
            e["selectors"] = sels
        if self.p(0.08):
            e["allocationMode"] = "All"
        else:
            if self.p(0.7):
                e["allocationMode"] = "ExactCount"
            if self.p(0.6):
                e["count"] = rng.choices([1, 2, 3, 4], [8, 4, 2, 1])[0]
        if allow_admin and self.p(0.1):
            e["adminAccess"] = True
        if self.p(0.25):
            e["tolerations"] = self.tolerations()
        if self.p(0.15):
            e["capacity"] = self.capacity_request()
        return e

    def claim_spec(self) -> dict[str, Any]:
        rng = self.rng
        requests = []
        names: list[str] = []
        nreq = rng.choices([1, 2, 3], [6, 3, 1])[0]
        for ri in range(nreq):
            name = f"r{ri}"
            if self.p(0.3):
                subs = []
                for si in range(rng.randint(1, 3)):
                    subs.append({"name": f"s{si}", **self.exact(allow_admin=False)})
                    names.append(f"{name}/s{si}")
                requests.append({"name": name, "firstAvailable": subs})
            else:
                requests.append({"name": name, "exactly": self.exact(allow_admin=True)})
            names.append(name)
        devices: dict[str, Any] = {"requests": requests}
        if self.p(0.25):
            drv = self.rng.choice(self.drivers)
            constraints = []
            for _ in range(rng.randint(1, 2)):
                c: dict[str, Any] = {}
                if self.p(0.5):
                    c["requests"] = rng.sample(names, rng.randint(1, min(3, len(names))))
                if self.p(0.55):
                    c["matchAttribute"] = rng.choices(
                        [f"{drv}/model", f"{TOPO}/pcie", f"{TOPO}/socket", f"{drv}/drv", f"{TOPO}/numa", f"{drv}/healthy", f"{GPU}/model"],
                        [3, 3, 3, 1, 1, 1, 1],
                    )[0]
                else:
                    c["distinctAttribute"] = rng.choices(
                        [f"{drv}/index", f"{TOPO}/pcie", f"{TOPO}/socket", f"{drv}/model", f"{TOPO}/numa", f"{GPU}/index"],
                        [4, 2, 1, 1, 1, 1],
                    )[0]
                constraints.append(c)
            devices["constraints"] = constraints
        if self.p(0.25):
            config = []
            for i in range(rng.randint(1, 2)):
                c = {"opaque": {"driver": rng.choice(DRIVERS), "parameters": self.parameters({"kind": "ClaimConfig", "i": i})}}
                if self.p(0.6):
                    c = {"requests": rng.sample(names, rng.randint(1, min(2, len(names)))), **c}
                config.append(c)
            devices["config"] = config
        return {"devices": devices}

    def make_pending_claims(self) -> None:
        n = self.rng.choices([1, 2, 3], [6, 3, 1])[0]
        for i in range(n):
            self.objects.append(
                {
                    "apiVersion": "resource.k8s.io/v1",
                    "kind": "ResourceClaim",
                    "metadata": {"name": f"claim-{i}", "namespace": "default", "uid": self.uid()},
                    "spec": self.claim_spec(),
                }
            )

    def make_allocated_claims(self) -> None:
        rng = self.rng
        n = rng.choices([0, 1, 2, 3], [4, 3, 2, 1])[0]
        pool_devs = [t for t in self.current_devices]
        old_devs = [t for t in self.all_devices if t not in pool_devs]
        if not pool_devs:
            return
        for i in range(n):
            admin = self.p(0.2)
            results = []
            for _ in range(rng.randint(1, 3)):
                driver, pname, dev = rng.choice(pool_devs if not old_devs or self.p(0.9) else old_devs)
                r: dict[str, Any] = {"request": "r0", "driver": driver, "pool": pname, "device": dev["name"]}
                if admin:
                    r["adminAccess"] = True
                elif dev.get("allowMultipleAllocations") and self.p(0.85) or self.p(0.03):
                    r["shareID"] = self.uid()
                    consumed = {}
                    for cname, cap in (dev.get("capacity") or {}).items():
                        pol = cap.get("requestPolicy") or {}
                        consumed[cname] = pol.get("default") if pol.get("default") and self.p(0.6) else rng.choice(
                            ["1Gi", "2Gi", "4Gi", "1", "2"] if "memory" in cname else ["1", "2", "4"]
                        )
                    if consumed:
                        r["consumedCapacity"] = consumed
                results.append(r)
            exact: dict[str, Any] = {"deviceClassName": rng.choice(self.class_names), "allocationMode": "ExactCount", "count": len(results)}
            if admin:
                exact["adminAccess"] = True
            claim = {
                "apiVersion": "resource.k8s.io/v1",
                "kind": "ResourceClaim",
                "metadata": {"name": f"allocated-{i}", "namespace": "default", "uid": self.uid()},
                "spec": {"devices": {"requests": [{"name": "r0", "exactly": exact}]}},
                "status": {"allocation": {"devices": {"results": results}}},
            }
            self.objects.append(claim)

    def search_bound(self, claims: list[dict[str, Any]]) -> int:
        """A crude upper bound of the backtracking search over the pending claims."""
        per_driver: dict[str, int] = {}
        for driver, _, _ in self.current_devices:
            per_driver[driver] = per_driver.get(driver, 0) + 1
        total = len(self.current_devices)
        class_driver = {"gpu": GPU, "nic": NIC, "fpga": FPGA, "healthy": None, "bigmem": GPU, "h100": GPU, "strict": None}
        bound = 1
        for claim in claims:
            for r in claim["spec"]["devices"]["requests"]:
                subs = [r["exactly"]] if "exactly" in r else r["firstAvailable"]
                ways = 0
                for e in subs:
                    drv = class_driver.get(e["deviceClassName"])
                    n = per_driver.get(drv, 0) if drv else total
                    if e.get("allocationMode") == "All":
                        ways += 1
                    else:
                        ways += max(1, math.comb(n, e.get("count", 1)))
                bound *= max(1, ways)
        return bound

    def limit_search(self) -> None:
        """Shrink request counts until the search space is small: both sides must finish
        every case quickly, and a case that hits a timeout compares nothing."""
        claims = [o for o in self.objects if o["kind"] == "ResourceClaim" and "status" not in o]
        while self.search_bound(claims) > SEARCH_LIMIT:
            biggest = None
            for claim in claims:
                for r in claim["spec"]["devices"]["requests"]:
                    for e in [r["exactly"]] if "exactly" in r else r["firstAvailable"]:
                        if e.get("count", 1) > 1 and (biggest is None or e["count"] > biggest["count"]):
                            biggest = e
            if biggest is None:
                # Only single devices left: drop the last request of the largest claim.
                claim = max(claims, key=lambda c: len(c["spec"]["devices"]["requests"]))
                reqs = claim["spec"]["devices"]["requests"]
                if len(reqs) == 1:
                    if len(claims) == 1:
                        return
                    self.objects.remove(claims.pop())
                    continue
                dropped = reqs.pop()["name"]
                devs = claim["spec"]["devices"]
                for key in ("constraints", "config"):
                    kept = []
                    for c in devs.get(key, []):
                        names = [n for n in c.get("requests", []) if n.split("/")[0] != dropped]
                        if "requests" in c and not names:
                            continue
                        if "requests" in c:
                            c["requests"] = names
                        kept.append(c)
                    if kept:
                        devs[key] = kept
                    else:
                        devs.pop(key, None)
                continue
            biggest["count"] -= 1

    def features(self) -> dict[str, bool]:
        gates = {g: True for g in GATES}
        gates["DRAListTypeAttributes"] = False
        if self.p(0.2):
            while True:
                off = self.rng.sample(GATES, self.rng.choice([1, 1, 2]))
                # Both ConsumableCapacity and binding/status off would select the
                # "stable" allocator upstream; gpuplane models "incubating" only.
                binding = "DRADeviceBindingConditions" in off or "DRAResourceClaimDeviceStatus" in off
                if not ("DRAConsumableCapacity" in off and binding):
                    break
            for g in off:
                gates[g] = False
        return gates

    def build(self) -> dict[str, Any]:
        self.make_nodes()
        self.make_pools()
        self.make_classes()
        self.make_allocated_claims()
        self.make_pending_claims()
        self.limit_search()
        features = self.features()
        # Objects in a random order: the allocator must not depend on input order
        # (except for the order of the claims to allocate, which is kept).
        claims = [o for o in self.objects if o["kind"] == "ResourceClaim" and "status" not in o]
        rest = [o for o in self.objects if not (o["kind"] == "ResourceClaim" and "status" not in o)]
        self.rng.shuffle(rest)
        objects = [apply_defaults(o) for o in rest + claims]
        return {"id": self.seed, "node": self.target, "features": features, "objects": objects}


def make_case(seed: int) -> dict[str, Any]:
    """One random, valid oracle case; deterministic in ``seed``."""
    return _Builder(seed).build()


# --- coverage ------------------------------------------------------------------------


def case_tags(case: dict[str, Any]) -> set[str]:
    """Which features a case exercises (for distribution reports)."""
    tags: set[str] = set()
    for g, on in case["features"].items():
        if not on and g != "DRAListTypeAttributes":
            tags.add(f"gate-off:{g}")
    pools: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for o in case["objects"]:
        kind = o["kind"]
        if kind == "ResourceSlice":
            s = o["spec"]
            pools.setdefault((s["driver"], s["pool"]["name"]), []).append(s)
            for k in ("nodeName", "nodeSelector", "allNodes", "perDeviceNodeSelection", "sharedCounters"):
                if k in s:
                    tags.add(f"slice:{k}")
            for d in s.get("devices", []):
                for k in ("taints", "consumesCounters", "allowMultipleAllocations", "bindingConditions", "bindsToNode"):
                    if k in d:
                        tags.add(f"device:{k}")
                for c in (d.get("capacity") or {}).values():
                    pol = c.get("requestPolicy")
                    if pol:
                        tags.add("device:requestPolicy:" + ("validRange" if "validRange" in pol else "validValues" if "validValues" in pol else "default"))
                for t in d.get("taints", []):
                    tags.add(f"taint:{t['effect']}")
        elif kind == "DeviceClass":
            if o["spec"].get("config"):
                tags.add("class:config")
        elif kind == "ResourceClaim":
            devs = o["spec"]["devices"]
            if "status" in o:
                tags.add("claim:allocated")
                for r in o["status"]["allocation"]["devices"]["results"]:
                    if r.get("adminAccess"):
                        tags.add("allocated:adminAccess")
                    if r.get("shareID"):
                        tags.add("allocated:shareID")
                continue
            for c in devs.get("constraints", []):
                tags.add("constraint:match" if "matchAttribute" in c else "constraint:distinct")
                if any("/s" in r for r in c.get("requests", [])):
                    tags.add("constraint:subrequest-name")
            if devs.get("config"):
                tags.add("claim:config")
            for r in devs["requests"]:
                reqs = [r["exactly"]] if "exactly" in r else r["firstAvailable"]
                if "firstAvailable" in r:
                    tags.add("request:firstAvailable")
                for e in reqs:
                    tags.add(f"mode:{e['allocationMode']}")
                    if e.get("adminAccess"):
                        tags.add("request:adminAccess")
                    if e.get("tolerations"):
                        tags.add("request:tolerations")
                    if e.get("capacity"):
                        tags.add("request:capacity")
                    if e.get("selectors"):
                        tags.add("request:selectors")
                    if e["deviceClassName"] == "missing-class":
                        tags.add("request:missing-class")
    for pid, specs in pools.items():
        gens = {s["pool"]["generation"] for s in specs}
        if len(gens) > 1:
            tags.add("pool:multiple-generations")
        top = max(gens)
        cur = [s for s in specs if s["pool"]["generation"] == top]
        if len(cur) != cur[0]["pool"]["resourceSliceCount"]:
            tags.add("pool:incomplete")
        names = [d["name"] for s in cur for d in s.get("devices", [])]
        if len(names) != len(set(names)):
            tags.add("pool:duplicate-device")
        csets = {cs["name"]: cs for s in cur for cs in s.get("sharedCounters", [])}
        if sum(len(s.get("sharedCounters", [])) for s in cur) != len(csets):
            tags.add("pool:duplicate-counter-set")
        for s in cur:
            for d in s.get("devices", []):
                for cc in d.get("consumesCounters", []):
                    cs = csets.get(cc["counterSet"])
                    if cs is None or any(k not in cs["counters"] for k in cc["counters"]):
                        tags.add("pool:dangling-counter")
    return tags
