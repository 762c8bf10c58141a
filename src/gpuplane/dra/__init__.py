"""The structured DRA allocator, with the semantics of Kubernetes' own (pure logic)."""

from gpuplane.dra.allocator import AllocatedState, AllocationError, Allocator, NodeAllocationError
from gpuplane.dra.features import DEFAULT_GATES, Features, FeatureGateError, parse_feature_gates
from gpuplane.dra.session import AllocationInput, Outcome, allocate_objects, build_input, run_allocation

__all__ = [
    "AllocatedState", "AllocationError", "Allocator", "NodeAllocationError", "DEFAULT_GATES", "Features",
    "FeatureGateError", "parse_feature_gates", "AllocationInput", "Outcome", "allocate_objects", "build_input",
    "run_allocation",
]
