"""Trace replay workloads: the Philly job trace and the OpenB pod trace as ``SimJob`` lists.

Philly (``shared/traces/philly/philly_sia_trace.csv``, Sia's processed subset) gives each job a
submit time, a run time, a GPU count and a virtual cluster (VC); the Helios artifact's
``philly_vc_nodes_helios.csv`` gives each VC's size in 8-GPU nodes. One job becomes one gang:
jobs of up to 8 GPUs are one pod, larger jobs ``ceil(g/8)`` equal pods (12 GPUs = 2 x 6).

OpenB (``openb_pod_list_*.csv``) is replayed with departures: each pod arrives at its
``creation_time`` and leaves at its ``deletion_time``.

Every bad row is reported as a :class:`TraceError` naming the file, line and column.
"""

from __future__ import annotations

import calendar
import csv
import math
import re
from pathlib import Path

from gpuplane.sim.jobs import SimJob
from gpuplane.sim.openb.trace import MILLI, TraceError, load_pods

GPUS_PER_NODE = 8
PHILLY_COLUMNS = ("timestamp", "duration", "num_gpus", "cluster")
VC_COLUMNS = ("vc", "node num")

__all__ = ["TraceError", "philly_vcs", "philly_jobs", "openb_jobs", "gang_shape"]


def _rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            if not header:
                raise TraceError(f"{path}: empty file (expected a header with {', '.join(required)})")
            missing = [c for c in required if c not in header]
            if missing:
                raise TraceError(f"{path}:1: missing column(s) {', '.join(missing)} (header: {','.join(header)})")
            out = []
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != len(header):
                    raise TraceError(f"{path}:{reader.line_num}: expected {len(header)} fields, got {len(row)}")
                out.append((reader.line_num, dict(zip(header, (c.strip() for c in row)))))
            return out
    except OSError as err:
        raise TraceError(f"{path}: cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise TraceError(f"{path}: not UTF-8 text ({err.reason})") from None
    except csv.Error as err:
        raise TraceError(f"{path}: malformed CSV: {err}") from None


def _number(path: Path, line: int, col: str, raw: str, *, integer: bool = False, positive: bool = False) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise TraceError(f"{path}:{line}: column {col!r}: {raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or (positive and value <= 0):
        raise TraceError(f"{path}:{line}: column {col!r}: {raw!r} must be {'> 0' if positive else '>= 0'}")
    if integer and value != int(value):
        raise TraceError(f"{path}:{line}: column {col!r}: {raw!r} is not an integer")
    return value


_TIMESTAMP = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$")


def _utc_seconds(text: str) -> float | None:
    """'YYYY-MM-DD HH:MM:SS' (taken as UTC) to POSIX seconds; None when malformed or not a real date."""
    m = _TIMESTAMP.match(text)
    if not m:
        return None
    y, mo, d, h, mi, sec = (int(g) for g in m.groups())
    if not (1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1] and h < 24 and mi < 60 and sec < 60):
        return None
    return float(calendar.timegm((y, mo, d, h, mi, sec)))


def philly_vcs(vc_csv: str | Path, scale: float = 0.25) -> dict[str, int]:
    """VC -> GPU quota at ``scale``: ``round(node num x scale)`` nodes (at least 1) of 8 GPUs."""
    if not scale > 0:
        raise TraceError(f"scale must be > 0, got {scale}")
    path = Path(vc_csv)
    quotas: dict[str, int] = {}
    for line, row in _rows(path, VC_COLUMNS):
        vc = row["vc"]
        if not vc:
            raise TraceError(f"{path}:{line}: column 'vc' is empty")
        if vc in quotas:
            raise TraceError(f"{path}:{line}: duplicate vc {vc!r}")
        nodes = int(_number(path, line, "node num", row["node num"], integer=True, positive=True))
        quotas[vc] = max(1, round(nodes * scale)) * GPUS_PER_NODE
    if not quotas:
        raise TraceError(f"{path}: no VCs")
    return quotas


def gang_shape(gpus: int) -> tuple[int, int]:
    """(pods, GPUs per pod) for a ``gpus``-GPU job: one pod up to a node, else equal pods per node."""
    if gpus <= GPUS_PER_NODE:
        return 1, gpus
    pods = math.ceil(gpus / GPUS_PER_NODE)
    while gpus % pods:
        pods += 1
    return pods, gpus // pods


def philly_jobs(trace_csv: str | Path, vc_csv: str | Path, scale: float = 0.25) -> tuple[list[SimJob], dict[str, int]]:
    """Philly jobs (file order; submit relative to the earliest row) and VC -> GPU quota at ``scale``.

    Jobs of VCs missing from ``vc_csv`` and jobs larger than their VC are dropped, as in the
    reference protocol (anchors.md 2.3). Job names are ``philly-<row>`` (0-based data row).
    """
    quotas = philly_vcs(vc_csv, scale)
    path = Path(trace_csv)
    parsed: list[tuple[int, float, float, int, str]] = []
    for i, (line, row) in enumerate(_rows(path, PHILLY_COLUMNS)):
        ts = _utc_seconds(row["timestamp"])
        if ts is None:
            raise TraceError(f"{path}:{line}: column 'timestamp': {row['timestamp']!r} is not YYYY-MM-DD HH:MM:SS")
        duration = _number(path, line, "duration", row["duration"])
        gpus = int(_number(path, line, "num_gpus", row["num_gpus"], integer=True, positive=True))
        if not row["cluster"]:
            raise TraceError(f"{path}:{line}: column 'cluster' is empty")
        parsed.append((i, ts, duration, gpus, row["cluster"]))
    if not parsed:
        raise TraceError(f"{path}: no jobs")
    t0 = min(p[1] for p in parsed)
    jobs = []
    for i, ts, duration, gpus, vc in parsed:
        if vc not in quotas or gpus > quotas[vc]:
            continue
        pods, per_pod = gang_shape(gpus)
        jobs.append(SimJob(name=f"philly-{i}", queue=vc, submit_s=ts - t0, duration_s=duration, pods=pods,
                           gpus_per_pod=per_pod, kind="train", priority_class="train"))
    return jobs, quotas


def openb_jobs(pod_csv: str | Path) -> list[SimJob]:
    """OpenB pods with departures: arrive at ``creation_time``, leave at ``deletion_time``.

    Pods that never got a deletion time (``Pending`` in the trace) stay until the trace's last
    deletion. CPU-only pods are kept (they take CPU, no GPU). A single-model ``gpu_spec`` becomes a
    ``nvidia.com/gpu.product`` node selector on the OpenB profiles' product label; multi-model
    specs are not expressible as one selector and are dropped (the pod may run on any model).
    """
    path = Path(pod_csv)
    pods = load_pods(path)
    if any(p.creation_time is None for p in pods):
        bad = next(p for p in pods if p.creation_time is None)
        raise TraceError(f"{path}: pod {bad.name} has no creation_time (the multigpu* files cannot be replayed with departures)")
    end = max((p.deletion_time for p in pods if p.deletion_time is not None), default=0)
    jobs = []
    for p in pods:
        created = float(p.creation_time or 0)
        deleted = float(p.deletion_time if p.deletion_time is not None else max(end, p.creation_time or 0))
        if deleted < created:
            raise TraceError(f"{path}: pod {p.name}: deletion_time {deleted:.0f} before creation_time {created:.0f}")
        models = sorted(p.gpu_models)
        selector = {"nvidia.com/gpu.product": models[0]} if len(models) == 1 else {}
        common = dict(name=p.name, queue="default", submit_s=created, duration_s=deleted - created,
                      cpu_milli=p.cpu_milli, memory_mib=p.memory_mib, node_selector=selector,
                      kind="inference" if p.qos == "LS" else "batch")
        if p.is_gpu_share:
            jobs.append(SimJob(gpu_fraction=p.gpu_milli / MILLI, **common))
        else:
            jobs.append(SimJob(gpus_per_pod=p.num_gpu, **common))
    return jobs
