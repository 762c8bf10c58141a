"""Parsing of the OpenB trace CSVs (alibaba/clusterdata cluster-trace-gpu-v2023).

Node list columns: ``sn, cpu_milli, memory_mib, gpu, model``.
Pod list columns: ``name, cpu_milli, memory_mib, num_gpu, gpu_milli`` and optionally
``gpu_spec, qos, pod_phase, creation_time, deletion_time, scheduled_time`` (the ``multigpu*``
files have only the first five).

Every problem is reported as a :class:`TraceError` naming the file, the line and the column;
callers turn it into a one-line error message (never a traceback).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

MILLI = 1000

NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")
POD_OPTIONAL = ("gpu_spec", "qos", "pod_phase", "creation_time", "deletion_time", "scheduled_time")


class TraceError(ValueError):
    """A trace file is missing, unreadable or has a bad row."""


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    cpu_milli: int
    memory_mib: int
    gpu: int
    model: str  # "" for CPU-only nodes


@dataclass(frozen=True, slots=True)
class Pod:
    name: str
    cpu_milli: int
    memory_mib: int
    num_gpu: int
    gpu_milli: int  # per-GPU share; 1000 = a whole GPU; 0 for CPU-only pods
    gpu_spec: str = ""  # allowed GPU models, "|"-separated; "" = any
    qos: str = ""
    pod_phase: str = ""
    creation_time: Optional[int] = None
    deletion_time: Optional[int] = None
    scheduled_time: Optional[int] = None

    @property
    def total_gpu_milli(self) -> int:
        return self.num_gpu * self.gpu_milli

    @property
    def gpu_models(self) -> frozenset[str]:
        return frozenset(m for m in self.gpu_spec.split("|") if m)

    @property
    def is_gpu_share(self) -> bool:
        return self.num_gpu == 1 and self.gpu_milli < MILLI


def _read(path: str | Path, required: tuple[str, ...]) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            try:
                header = next(reader)
            except StopIteration:
                raise TraceError(f"{p}: empty file (expected a header line with {', '.join(required)})") from None
            header = [h.strip() for h in header]
            missing = [c for c in required if c not in header]
            if missing:
                raise TraceError(f"{p}:1: missing column(s) {', '.join(missing)} (header: {','.join(header)})")
            rows = []
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue  # blank line
                if len(row) != len(header):
                    raise TraceError(f"{p}:{line}: expected {len(header)} fields, got {len(row)}")
                rows.append((line, dict(zip(header, (c.strip() for c in row)))))
    except OSError as err:
        raise TraceError(f"{p}: cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise TraceError(f"{p}: not UTF-8 text ({err.reason})") from None
    except csv.Error as err:
        raise TraceError(f"{p}: malformed CSV: {err}") from None
    return header, rows


def _int(p: Path, line: int, row: dict[str, str], col: str, *, lo: int = 0, hi: Optional[int] = None,
         optional: bool = False) -> Optional[int]:
    raw = row.get(col, "")
    if raw == "":
        if optional:
            return None
        raise TraceError(f"{p}:{line}: column {col!r} is empty")
    try:
        value = float(raw)
        if value != int(value):
            raise ValueError
        value = int(value)
    except (ValueError, OverflowError):
        raise TraceError(f"{p}:{line}: column {col!r}: {raw!r} is not an integer") from None
    if value < lo or (hi is not None and value > hi):
        bound = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise TraceError(f"{p}:{line}: column {col!r}: {value} must be {bound}")
    return value


def load_nodes(path: str | Path) -> list[Node]:
    """Parse a node list (``openb_node_list_*.csv``)."""
    p = Path(path)
    _, rows = _read(p, NODE_COLUMNS)
    nodes: list[Node] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        name = row["sn"]
        if not name:
            raise TraceError(f"{p}:{line}: column 'sn' is empty")
        if name in seen:
            raise TraceError(f"{p}:{line}: duplicate node {name!r} (first on line {seen[name]})")
        seen[name] = line
        gpu = _int(p, line, row, "gpu", hi=64)
        model = row["model"]
        if gpu and not model:
            raise TraceError(f"{p}:{line}: node {name} has {gpu} GPU(s) but no 'model'")
        nodes.append(Node(name, _int(p, line, row, "cpu_milli"), _int(p, line, row, "memory_mib"), gpu, model if gpu else ""))
    if not nodes:
        raise TraceError(f"{p}: no nodes")
    return nodes


def load_pods(path: str | Path) -> list[Pod]:
    """Parse a pod list (``openb_pod_list_*.csv``)."""
    p = Path(path)
    _, rows = _read(p, POD_COLUMNS)
    pods: list[Pod] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        name = row["name"]
        if not name:
            raise TraceError(f"{p}:{line}: column 'name' is empty")
        if name in seen:
            raise TraceError(f"{p}:{line}: duplicate pod {name!r} (first on line {seen[name]})")
        seen[name] = line
        num = _int(p, line, row, "num_gpu", hi=64)
        milli = _int(p, line, row, "gpu_milli", hi=MILLI)
        if num == 0 and milli != 0:
            raise TraceError(f"{p}:{line}: pod {name}: gpu_milli {milli} with num_gpu 0")
        if num >= 1 and milli == 0:
            raise TraceError(f"{p}:{line}: pod {name}: num_gpu {num} with gpu_milli 0")
        if num > 1 and milli != MILLI:
            raise TraceError(f"{p}:{line}: pod {name}: only single-GPU pods may share a GPU "
                             f"(num_gpu {num}, gpu_milli {milli}; expected 1000)")
        spec = row.get("gpu_spec", "")
        if spec and any(not part for part in spec.split("|")):
            raise TraceError(f"{p}:{line}: column 'gpu_spec': {spec!r} has an empty model name")
        pods.append(Pod(
            name=name,
            cpu_milli=_int(p, line, row, "cpu_milli"),
            memory_mib=_int(p, line, row, "memory_mib"),
            num_gpu=num,
            gpu_milli=milli,
            gpu_spec=spec,
            qos=row.get("qos", ""),
            pod_phase=row.get("pod_phase", ""),
            creation_time=_int(p, line, row, "creation_time", optional=True),
            deletion_time=_int(p, line, row, "deletion_time", optional=True),
            scheduled_time=_int(p, line, row, "scheduled_time", optional=True),
        ))
    if not pods:
        raise TraceError(f"{p}: no pods")
    return pods
