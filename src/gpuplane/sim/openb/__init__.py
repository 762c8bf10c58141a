"""OpenB / FGD GPU-sharing fragmentation benchmark (Weng et al., USENIX ATC'23).

Re-implementation, in plain Python, of the protocol and the six scoring policies of the
authors' simulator (hkust-adsl/kubernetes-scheduler-simulator): see docs/openb.md.
"""

from gpuplane.sim.openb.trace import Node, Pod, TraceError, load_nodes, load_pods
from gpuplane.sim.openb.engine import POLICIES, Result, run, typical_pods

__all__ = ["Node", "Pod", "TraceError", "load_nodes", "load_pods", "POLICIES", "Result", "run", "typical_pods"]
