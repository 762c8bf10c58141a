"""Typed views of the Kubernetes objects gpuplane reads.

The models are msgspec Structs decoded from plain dicts (``msgspec.convert``) so that
decoding is fast and type errors carry a path. Unknown fields are not kept on the typed
view: the loader keeps the original dict beside it, and output is written from that dict,
so nothing a user wrote is lost.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import msgspec
from msgspec import field

QuantityValue = Union[str, int, float]


class Base(msgspec.Struct, rename="camel", omit_defaults=True, forbid_unknown_fields=False, gc=False):
    """Common options: camelCase names on the wire, defaults left out of dumps.

    ``gc=False``: objects are trees (no reference cycles), and keeping tens of thousands
    of slices out of the cyclic collector's scans makes big clusters several times faster.
    """


# --- core/v1 -------------------------------------------------------------------------------


class OwnerReference(Base):
    api_version: str = ""
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: Optional[bool] = None


class ObjectMeta(Base):
    name: str = ""
    generate_name: str = ""
    namespace: str = ""
    uid: str = ""
    resource_version: str = ""
    generation: int = 0
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    owner_references: list[OwnerReference] = []
    finalizers: list[str] = []
    deletion_timestamp: Optional[str] = None
    creation_timestamp: Optional[str] = None


class NodeSelectorRequirement(Base):
    key: str = ""
    operator: str = ""
    values: list[str] = []


class NodeSelectorTerm(Base):
    match_expressions: list[NodeSelectorRequirement] = []
    match_fields: list[NodeSelectorRequirement] = []


class NodeSelector(Base):
    node_selector_terms: list[NodeSelectorTerm] = []


class NodeStatus(Base):
    capacity: dict[str, QuantityValue] = {}
    allocatable: dict[str, QuantityValue] = {}


class NodeSpec(Base):
    unschedulable: bool = False
    taints: list[dict[str, Any]] = []


class Node(Base):
    api_version: str = "v1"
    kind: str = "Node"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: NodeSpec = msgspec.field(default_factory=NodeSpec)
    status: NodeStatus = msgspec.field(default_factory=NodeStatus)


class Namespace(Base):
    api_version: str = "v1"
    kind: str = "Namespace"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)


# --- resource.k8s.io/v1: ResourceSlice -----------------------------------------------------


class DeviceAttribute(Base):
    int_: Optional[int] = field(default=None, name="int")
    bool_: Optional[bool] = field(default=None, name="bool")
    string: Optional[str] = None
    version: Optional[str] = None
    ints: Optional[list[int]] = None
    bools: Optional[list[bool]] = None
    strings: Optional[list[str]] = None
    versions: Optional[list[str]] = None


class CapacityRequestPolicyRange(Base):
    min: Optional[QuantityValue] = None
    max: Optional[QuantityValue] = None
    step: Optional[QuantityValue] = None


class CapacityRequestPolicy(Base):
    default: Optional[QuantityValue] = None
    valid_values: list[QuantityValue] = []
    valid_range: Optional[CapacityRequestPolicyRange] = None


class DeviceCapacity(Base):
    value: Optional[QuantityValue] = None
    request_policy: Optional[CapacityRequestPolicy] = None


class Counter(Base):
    value: Optional[QuantityValue] = None


class CounterSet(Base):
    name: str = ""
    counters: dict[str, Counter] = {}


class DeviceCounterConsumption(Base):
    counter_set: str = ""
    counters: dict[str, Counter] = {}


class DeviceTaint(Base):
    key: str = ""
    value: str = ""
    effect: str = ""
    time_added: Optional[str] = None


class Device(Base):
    name: str = ""
    attributes: dict[str, DeviceAttribute] = {}
    capacity: dict[str, DeviceCapacity] = {}
    consumes_counters: list[DeviceCounterConsumption] = []
    node_name: Optional[str] = None
    node_selector: Optional[NodeSelector] = None
    all_nodes: Optional[bool] = None
    taints: list[DeviceTaint] = []
    binds_to_node: Optional[bool] = None
    binding_conditions: list[str] = []
    binding_failure_conditions: list[str] = []
    allow_multiple_allocations: Optional[bool] = None


class ResourcePool(Base):
    name: str = ""
    generation: int = 0
    resource_slice_count: int = 0


class ResourceSliceSpec(Base):
    driver: str = ""
    pool: ResourcePool = msgspec.field(default_factory=ResourcePool)
    node_name: Optional[str] = None
    node_selector: Optional[NodeSelector] = None
    all_nodes: Optional[bool] = None
    per_device_node_selection: Optional[bool] = None
    devices: list[Device] = []
    shared_counters: list[CounterSet] = []


class ResourceSlice(Base):
    api_version: str = "resource.k8s.io/v1"
    kind: str = "ResourceSlice"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ResourceSliceSpec = msgspec.field(default_factory=ResourceSliceSpec)


# --- DeviceClass ---------------------------------------------------------------------------


class CELDeviceSelector(Base):
    expression: str = ""


class DeviceSelector(Base):
    cel: Optional[CELDeviceSelector] = None


class OpaqueDeviceConfiguration(Base):
    driver: str = ""
    parameters: Any = None


class DeviceClassConfiguration(Base):
    opaque: Optional[OpaqueDeviceConfiguration] = None


class DeviceClassSpec(Base):
    selectors: list[DeviceSelector] = []
    config: list[DeviceClassConfiguration] = []
    extended_resource_name: Optional[str] = None


class DeviceClass(Base):
    api_version: str = "resource.k8s.io/v1"
    kind: str = "DeviceClass"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: DeviceClassSpec = msgspec.field(default_factory=DeviceClassSpec)


# --- ResourceClaim -------------------------------------------------------------------------


class DeviceToleration(Base):
    key: str = ""
    operator: str = ""
    value: str = ""
    effect: str = ""
    toleration_seconds: Optional[int] = None


class CapacityRequirements(Base):
    requests: dict[str, QuantityValue] = {}


class ExactDeviceRequest(Base):
    device_class_name: str = ""
    selectors: list[DeviceSelector] = []
    allocation_mode: str = ""
    count: int = 0
    admin_access: Optional[bool] = None
    tolerations: list[DeviceToleration] = []
    capacity: Optional[CapacityRequirements] = None


class DeviceSubRequest(Base):
    name: str = ""
    device_class_name: str = ""
    selectors: list[DeviceSelector] = []
    allocation_mode: str = ""
    count: int = 0
    tolerations: list[DeviceToleration] = []
    capacity: Optional[CapacityRequirements] = None


class DeviceRequest(Base):
    name: str = ""
    exactly: Optional[ExactDeviceRequest] = None
    first_available: list[DeviceSubRequest] = []


class DeviceConstraint(Base):
    requests: list[str] = []
    match_attribute: Optional[str] = None
    distinct_attribute: Optional[str] = None


class DeviceClaimConfiguration(Base):
    requests: list[str] = []
    opaque: Optional[OpaqueDeviceConfiguration] = None


class DeviceClaim(Base):
    requests: list[DeviceRequest] = []
    constraints: list[DeviceConstraint] = []
    config: list[DeviceClaimConfiguration] = []


class ResourceClaimSpec(Base):
    devices: DeviceClaim = msgspec.field(default_factory=DeviceClaim)


class DeviceRequestAllocationResult(Base):
    request: str = ""
    driver: str = ""
    pool: str = ""
    device: str = ""
    admin_access: Optional[bool] = None
    tolerations: list[DeviceToleration] = []
    binding_conditions: list[str] = []
    binding_failure_conditions: list[str] = []
    share_id: Optional[str] = field(default=None, name="shareID")
    consumed_capacity: dict[str, QuantityValue] = {}


class DeviceAllocationConfiguration(Base):
    source: str = ""
    requests: list[str] = []
    opaque: Optional[OpaqueDeviceConfiguration] = None


class DeviceAllocationResult(Base):
    results: list[DeviceRequestAllocationResult] = []
    config: list[DeviceAllocationConfiguration] = []


class AllocationResult(Base):
    devices: DeviceAllocationResult = msgspec.field(default_factory=DeviceAllocationResult)
    node_selector: Optional[NodeSelector] = None
    allocation_timestamp: Optional[str] = None


class ResourceClaimConsumerReference(Base):
    api_group: str = ""
    resource: str = ""
    name: str = ""
    uid: str = ""


class ResourceClaimStatus(Base):
    allocation: Optional[AllocationResult] = None
    reserved_for: list[ResourceClaimConsumerReference] = []
    devices: list[dict[str, Any]] = []


class ResourceClaim(Base):
    api_version: str = "resource.k8s.io/v1"
    kind: str = "ResourceClaim"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ResourceClaimSpec = msgspec.field(default_factory=ResourceClaimSpec)
    status: ResourceClaimStatus = msgspec.field(default_factory=ResourceClaimStatus)


class ResourceClaimTemplateSpec(Base):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ResourceClaimSpec = msgspec.field(default_factory=ResourceClaimSpec)


class ResourceClaimTemplate(Base):
    api_version: str = "resource.k8s.io/v1"
    kind: str = "ResourceClaimTemplate"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ResourceClaimTemplateSpec = msgspec.field(default_factory=ResourceClaimTemplateSpec)


TYPED_KINDS: dict[str, type[Base]] = {
    "Node": Node,
    "Namespace": Namespace,
    "ResourceSlice": ResourceSlice,
    "DeviceClass": DeviceClass,
    "ResourceClaim": ResourceClaim,
    "ResourceClaimTemplate": ResourceClaimTemplate,
}

NAMESPACED_KINDS = frozenset({"ResourceClaim", "ResourceClaimTemplate", "Pod", "PodGroup"})
