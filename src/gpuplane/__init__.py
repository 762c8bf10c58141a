"""gpuplane: an open GPU stack for Kubernetes (DRA allocation, AI scheduling, node driver)."""

__version__ = "0.1.0"
