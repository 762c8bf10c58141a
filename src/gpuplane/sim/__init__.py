"""Simulators built on gpuplane (workload traces, placement benchmarks)."""
