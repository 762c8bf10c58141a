"""DRA feature gates, with the defaults of Kubernetes 1.37.

The allocator behaves differently depending on these gates, exactly like the
upstream structured allocator does; each gate can be switched from the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

# Gate name -> default in Kubernetes 1.37 (shared/reference/dra-api.md section 4).
DEFAULT_GATES: dict[str, bool] = {
    "DRAPrioritizedList": True,
    "DRAAdminAccess": True,
    "DRAPartitionableDevices": True,
    "DRADeviceTaints": True,
    "DRAConsumableCapacity": True,
    "DRADeviceBindingConditions": True,
    "DRAResourceClaimDeviceStatus": True,
    "DRAListTypeAttributes": False,
}


class FeatureGateError(ValueError):
    """A --feature-gates value that cannot be applied."""


@dataclass(frozen=True)
class Features:
    """The allocator-facing feature set (upstream ``structured.Features``)."""

    prioritized_list: bool = True
    admin_access: bool = True
    partitionable_devices: bool = True
    device_taints: bool = True
    consumable_capacity: bool = True
    device_binding_and_status: bool = True
    list_type_attributes: bool = False

    @classmethod
    def from_gates(cls, gates: dict[str, bool]) -> "Features":
        g = {**DEFAULT_GATES, **gates}
        return cls(
            prioritized_list=g["DRAPrioritizedList"],
            admin_access=g["DRAAdminAccess"],
            partitionable_devices=g["DRAPartitionableDevices"],
            device_taints=g["DRADeviceTaints"],
            consumable_capacity=g["DRAConsumableCapacity"],
            device_binding_and_status=g["DRADeviceBindingConditions"] and g["DRAResourceClaimDeviceStatus"],
            list_type_attributes=g["DRAListTypeAttributes"],
        )

    @property
    def upstream_variant(self) -> str:
        """Which upstream allocator kube-scheduler would pick for these gates.

        Upstream falls back to its older "stable" allocator when neither consumable
        capacity nor binding conditions are on; that variant iterates pools in Go map order
        (not deterministic) and lacks distinctAttribute. gpuplane always applies the 1.37
        ("incubating") semantics with the chosen gates.
        """
        return "incubating" if (self.consumable_capacity or self.device_binding_and_status) else "stable"

    def names(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name)]


def parse_feature_gates(text: str | None) -> dict[str, bool]:
    """Parse ``NAME=BOOL,...`` as kube components do; unknown names are errors."""
    gates: dict[str, bool] = {}
    if not text:
        return gates
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip().lower()
        if not sep or value not in ("true", "false"):
            raise FeatureGateError(f"invalid feature gate {item!r}: expected NAME=true|false")
        if name not in DEFAULT_GATES:
            known = ", ".join(sorted(DEFAULT_GATES))
            raise FeatureGateError(f"unknown feature gate {name!r}; known gates: {known}")
        gates[name] = value == "true"
    return gates
