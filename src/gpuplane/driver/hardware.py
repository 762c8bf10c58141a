"""Measured GPU facts the slice builder and the simulator's node profiles share.

H200: the real probe of shared/fixtures/h200 (``nvml.json`` + ``nvml-probe2.txt``; tests check this
table against the fixture when it is present). H100 80GB and A100 80GB: gpu-stack.md section 4
(same placements as the H200; memory sizes from nvidia-smi / the MIG user guide).
"""

from __future__ import annotations

from gpuplane.driver.slices import MigProfile

# name, GI profile id, SMs, CE, DEC, ENC, JPEG, OFA, memory MiB, placement starts, size (memory slices)
H200_MIG_ALL: tuple[MigProfile, ...] = (
    MigProfile("1g.18gb", 19, 16, 1, 1, 0, 1, 0, 16384, (0, 1, 2, 3, 4, 5, 6), 1),
    MigProfile("2g.35gb", 14, 32, 2, 2, 0, 2, 0, 33280, (0, 2, 4), 2),
    MigProfile("3g.71gb", 9, 60, 3, 3, 0, 3, 0, 71424, (0, 4), 4),
    MigProfile("4g.71gb", 5, 64, 4, 4, 0, 4, 0, 71424, (0,), 4),
    MigProfile("7g.141gb", 0, 132, 8, 7, 0, 7, 1, 143360, (0,), 8),
    MigProfile("1g.18gb+me", 20, 16, 1, 1, 0, 1, 1, 16384, (0, 1, 2, 3, 4, 5, 6), 1),
    MigProfile("1g.35gb", 15, 26, 1, 1, 0, 1, 0, 33280, (0, 2, 4, 6), 2),
)
# The profiles the simulator publishes in dynamic-MIG mode (the mig-parted "all-balanced" family).
H200_MIG = tuple(p for p in H200_MIG_ALL if p.name in ("1g.18gb", "2g.35gb", "3g.71gb", "7g.141gb"))
H200_MEMORY_MIB = 143771  # 150,754,820,096 B

H100_MIG = (
    MigProfile("1g.10gb", 19, 16, 1, 1, 0, 1, 0, 9984, (0, 1, 2, 3, 4, 5, 6), 1),
    MigProfile("2g.20gb", 14, 32, 2, 2, 0, 2, 0, 20096, (0, 2, 4), 2),
    MigProfile("3g.40gb", 9, 60, 3, 3, 0, 3, 0, 40448, (0, 4), 4),
    MigProfile("7g.80gb", 0, 132, 8, 7, 0, 7, 1, 81152, (0,), 8),
)
H100_MEMORY_MIB = 81559

A100_80GB_MIG = (
    MigProfile("1g.10gb", 19, 14, 1, 0, 0, 0, 0, 9856, (0, 1, 2, 3, 4, 5, 6), 1),
    MigProfile("2g.20gb", 14, 28, 2, 1, 0, 0, 0, 19968, (0, 2, 4), 2),
    MigProfile("3g.40gb", 9, 42, 3, 2, 0, 0, 0, 40192, (0, 4), 4),
    MigProfile("7g.80gb", 0, 98, 7, 5, 0, 1, 1, 80384, (0,), 8),
)
A100_80GB_MEMORY_MIB = 81920
