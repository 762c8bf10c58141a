"""GPUs of device-plugin nodes: whole and fractional (shared) use, and choosing devices.

A node with ``nvidia.com/gpu: N`` has GPUs ``gpu-0`` .. ``gpu-<N-1>``. Each GPU's use is an
exact fraction in [0, 1]: a whole-GPU pod takes 1 of a GPU that nobody uses; a fractional pod
(``gpu-fraction``) takes its fraction, a ``gpu-memory`` pod ``memory / GPU memory`` (the node's
``nvidia.com/gpu.memory`` label, MiB), on each of its ``gpu-fraction-num-devices`` GPUs. A GPU
never holds more than 1 (KAI's rule that whole and shared pods do not mix follows: a GPU with a
share in use has less than 1 free).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Optional

from ..api.core import GpuDemand

__all__ = ["gpu_index", "per_device_share", "choose_gpus"]

_ZERO = Fraction(0)  # (Fractions are immutable: shared rather than built per call)
_ONE = Fraction(1)


def gpu_index(name: str, count: int) -> Optional[int]:
    """``gpu-3`` -> 3 when the node has more than 3 GPUs, else ``None``."""
    if not name.startswith("gpu-"):
        return None
    text = name[4:]
    if not text.isdigit():
        return None
    i = int(text)
    return i if i < count else None


def per_device_share(demand: GpuDemand, gpu_memory_mib: Optional[int]) -> Optional[Fraction]:
    """The portion of each GPU a shared request takes (``None`` if it cannot be known)."""
    if demand.fraction is not None:
        return demand.fraction
    if demand.memory_mib is not None:
        if not gpu_memory_mib:
            return None
        return min(_ONE, Fraction(demand.memory_mib, gpu_memory_mib))
    return None


def choose_gpus(used: list[Fraction], demand: GpuDemand, gpu_memory_mib: Optional[int],
                strategy: str = "binpack") -> tuple[Optional[list[int]], Fraction, str]:
    """Which GPUs of a node a pod gets: ``(indices, share per GPU, "")`` or ``(None, 0, why)``.

    Whole GPUs: the free GPUs with the lowest indices. Shared: GPUs with room for the share;
    ``binpack`` fills partially used GPUs first (most used first, KAI's gpupack), ``spread``
    the least used first (gpuspread); ties by index."""
    if demand.whole:
        free = [i for i, u in enumerate(used) if not u]
        if len(free) < demand.whole:
            return None, _ZERO, f"fewer than {demand.whole} free GPUs"
        return free[:demand.whole], _ONE, ""
    if demand.is_shared:
        if not used:
            return None, _ZERO, "no GPUs"
        share = per_device_share(demand, gpu_memory_mib)
        if share is None:
            return None, _ZERO, "no nvidia.com/gpu.memory label (needed for a gpu-memory request)"
        room = 1 - share
        fits = [i for i, u in enumerate(used) if u <= room]
        if len(fits) < demand.num_devices:
            what = f"{demand.memory_mib}MiB of GPU memory" if demand.memory_mib is not None else f"{float(share):g} of a GPU"
            if demand.num_devices == 1:
                return None, _ZERO, f"no GPU with {what} free"
            return None, _ZERO, f"fewer than {demand.num_devices} GPUs with {what} free"
        if strategy == "spread":
            fits.sort(key=lambda i: (used[i], i))
        else:
            fits.sort(key=lambda i: (-used[i], i))
        return sorted(fits[:demand.num_devices]), share, ""
    return [], _ZERO, ""
