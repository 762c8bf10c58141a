"""Scenarios: a cluster, its queues, a workload and a scheduler configuration, from YAML or built in.

A scenario file (every field optional except ``cluster`` and ``workload``; unknown fields are an
error that names them)::

    name: my-run
    seed: 7                      # the workload's random seed (``--seed`` overrides)
    duration: 8h                 # stop the clock here (seconds, or 90s / 30m / 8h / 2d); default: when all jobs end
    period: 30s                  # scheduling period (cycles only run when something changed)
    cluster:                     # node groups, from gpuplane.sim.profiles
      - {profile: hgx-h200, count: 8}
      - {profile: a100-80gb, count: 4, mode: dra}      # mode: device-plugin (default) or dra
      - {profile: gb200-nvl72, count: 18, clique: rack-a}
    queues:                      # KAI Queues; a queue with a parent is in that department
      - {name: research, gpu: {quota: 48, overQuotaWeight: 2}}
      - {name: research-train, parent: research, gpu: {quota: 32, limit: -1}, priority: 0}
    workload:                    # exactly one of:
      synthetic: {hours: 4, load: 0.9, queues: [research-train]}   # queues: default every leaf queue
      philly: {trace: shared/traces/philly/..., vcs: ..., scale: 0.25, jobs: 5000}
      openb: {pods: shared/traces/openb/....csv, jobs: 2000}
    scheduler: {placementStrategy: {gpu: binpack}}   # what ``gpuplane schedule --config`` accepts

The built-in default (:data:`DEFAULT_SCENARIO`): 12 HGX H200, 1 A100 80GB with MIG (DRA) and 4
L40S nodes (120 GPUs); two departments with two queues each; six hours of arrivals of the
synthetic mix at 2.2x the cluster's capacity (training gangs, fractional inference, notebooks, MIG
requests), enough to queue jobs and make queues reclaim their quota from each other; the clock
stops at eight hours.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import msgspec
import yaml

from ..scheduler.config import ConfigError, SchedulerConfig, parse_config
from .jobs import SimJob

__all__ = ["Scenario", "ScenarioError", "load_scenario", "parse_scenario", "default_scenario", "build_run", "Run",
           "parse_seconds", "DEFAULT_SCENARIO"]

Seconds = Union[int, float, str]


class ScenarioError(ValueError):
    """The scenario is invalid; the message names the field."""


class Resource(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    quota: float = -1
    limit: float = -1
    over_quota_weight: float = 1


class QueueSpec(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    parent: Optional[str] = None
    priority: Optional[int] = None
    gpu: Resource = msgspec.field(default_factory=Resource)
    cpu: Resource = msgspec.field(default_factory=Resource)
    memory: Resource = msgspec.field(default_factory=Resource)


class NodeGroup(msgspec.Struct, forbid_unknown_fields=True):
    profile: str
    count: int = 1
    mode: str = "device-plugin"
    clique: Optional[str] = None
    labels: dict[str, str] = {}
    name: Optional[str] = None  # node name prefix (default: the profile name)


class Synthetic(msgspec.Struct, forbid_unknown_fields=True):
    hours: float = 4.0
    load: float = 0.9
    queues: Optional[list[str]] = None


class Philly(msgspec.Struct, forbid_unknown_fields=True):
    trace: str
    vcs: str
    scale: float = 0.25
    jobs: Optional[int] = None  # the first N jobs only


class OpenB(msgspec.Struct, forbid_unknown_fields=True):
    pods: str
    jobs: Optional[int] = None


class Workload(msgspec.Struct, forbid_unknown_fields=True):
    synthetic: Optional[Synthetic] = None
    philly: Optional[Philly] = None
    openb: Optional[OpenB] = None


class Scenario(msgspec.Struct, forbid_unknown_fields=True):
    cluster: list[NodeGroup]
    workload: Workload
    name: str = "scenario"
    seed: int = 1
    duration: Optional[Seconds] = None
    period: Seconds = 10
    queues: list[QueueSpec] = []
    scheduler: dict[str, Any] = {}
    base_dir: str = ""  # where relative trace paths start (the scenario file's folder); not a YAML field


MODES = ("device-plugin", "dra")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_seconds(value: Seconds, field: str) -> float:
    if isinstance(value, bool):
        raise ScenarioError(f"{field}: must be seconds or a duration like 30s, 5m, 8h, 2d, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(value))
        if not m:
            raise ScenarioError(f"{field}: must be seconds or a duration like 30s, 5m, 8h, 2d, got {value!r}")
        seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if seconds < 0:
        raise ScenarioError(f"{field}: must be >= 0, got {value!r}")
    return seconds


def _check(s: Scenario) -> Scenario:
    if not s.cluster:
        raise ScenarioError("cluster: Required value: at least one node group")
    for i, g in enumerate(s.cluster):
        if g.mode not in MODES:
            raise ScenarioError(f"cluster[{i}].mode: unsupported value {g.mode!r} (device-plugin or dra)")
        if g.count < 1:
            raise ScenarioError(f"cluster[{i}].count: must be >= 1, got {g.count}")
    chosen = [k for k in ("synthetic", "philly", "openb") if getattr(s.workload, k) is not None]
    if len(chosen) != 1:
        raise ScenarioError(f"workload: exactly one of synthetic, philly, openb is required, got {chosen or 'none'}")
    names = [q.name for q in s.queues]
    for i, q in enumerate(s.queues):
        if names.count(q.name) > 1:
            raise ScenarioError(f"queues[{i}].name: Duplicate value: {q.name!r}")
        if q.parent is not None and q.parent not in names:
            raise ScenarioError(f"queues[{i}].parent: queue {q.parent!r} is not defined")
    if s.duration is not None:
        parse_seconds(s.duration, "duration")
    parse_seconds(s.period, "period")
    try:
        parse_config(s.scheduler)
    except ConfigError as err:
        raise ScenarioError(f"scheduler: {err}") from None
    if s.workload.synthetic is not None:
        syn = s.workload.synthetic
        if syn.hours <= 0 or syn.load <= 0:
            raise ScenarioError("workload.synthetic: hours and load must be > 0")
        for q in syn.queues or []:
            if q not in names:
                raise ScenarioError(f"workload.synthetic.queues: queue {q!r} is not defined in queues")
    return s


def parse_scenario(doc: Any, base_dir: str = "") -> Scenario:
    """A scenario from parsed YAML; raises :class:`ScenarioError` naming the field."""
    if not isinstance(doc, dict):
        raise ScenarioError(f"the scenario must be a mapping, got {type(doc).__name__}")
    if "base_dir" in doc:
        raise ScenarioError("base_dir: unknown field")
    try:
        s = msgspec.convert(doc, Scenario)
    except msgspec.ValidationError as err:
        text = str(err)
        m = re.match(r"Object contains unknown field `([^`]*)`(?: - at `\$(.*)`)?", text)
        if m:
            where = (m.group(2) or "").lstrip(".")
            raise ScenarioError(f"{where + '.' if where else ''}{m.group(1)}: unknown field") from None
        m = re.match(r"(.*?)(?: - at `\$(.*)`)?$", text)
        where = (m.group(2) or "").lstrip(".") if m else ""
        raise ScenarioError(f"{where or 'scenario'}: {m.group(1) if m else text}") from None
    s.base_dir = base_dir
    return _check(s)


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except OSError as err:
        raise ScenarioError(f"cannot read {p}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ScenarioError(f"{p}: invalid YAML: {err}") from None
    return parse_scenario(doc, str(p.parent))


DEFAULT_SCENARIO: dict[str, Any] = {
    "name": "default",
    "seed": 1,
    "period": "30s",
    "duration": "8h",
    "cluster": [
        {"profile": "hgx-h200", "count": 12},
        {"profile": "a100-80gb", "count": 1, "mode": "dra"},
        {"profile": "l40s", "count": 4},
    ],
    "queues": [
        {"name": "research", "gpu": {"quota": 60, "overQuotaWeight": 2}},
        {"name": "research-training", "parent": "research", "gpu": {"quota": 40}},
        {"name": "research-notebooks", "parent": "research", "gpu": {"quota": 20, "limit": 28}},
        {"name": "product", "gpu": {"quota": 60, "overQuotaWeight": 1}},
        {"name": "product-inference", "parent": "product", "gpu": {"quota": 34}, "priority": 10},
        {"name": "product-batch", "parent": "product", "gpu": {"quota": 26}},
    ],
    # ~230 jobs over six hours, offered load 2.2x the cluster: queueing, reclaim between queues,
    # gangs waiting for whole nodes; the clock stops at 8 h with the cluster still busy.
    "workload": {"synthetic": {"hours": 6, "load": 2.2}},
}


def default_scenario() -> Scenario:
    return parse_scenario(DEFAULT_SCENARIO)


# --- from scenario to objects ------------------------------------------------------------------

@dataclass
class Run:
    cluster_objects: list[dict[str, Any]]
    queues: list[dict[str, Any]]
    jobs: list[SimJob]
    config: SchedulerConfig
    period_s: float
    until: Optional[float]


def _queue_object(q: QueueSpec) -> dict[str, Any]:
    spec: dict[str, Any] = {"resources": {
        r: {"quota": getattr(q, r).quota, "overQuotaWeight": getattr(q, r).over_quota_weight, "limit": getattr(q, r).limit}
        for r in ("gpu", "cpu", "memory")}}
    if q.parent:
        spec["parentQueue"] = q.parent
    if q.priority is not None:
        spec["priority"] = q.priority
    return {"apiVersion": "scheduling.run.ai/v2", "kind": "Queue", "metadata": {"name": q.name}, "spec": spec}


def _path(base: str, p: str) -> str:
    path = Path(p)
    if not path.is_absolute() and base and not path.exists():
        path = Path(base) / path
    return str(path)


def _cluster(s: Scenario) -> list[dict[str, Any]]:
    from . import profiles

    objects: list[dict[str, Any]] = []
    if any(g.mode == "dra" for g in s.cluster):
        objects.extend(profiles.device_classes())
    for i, g in enumerate(s.cluster):
        profile = profiles.PROFILES.get(g.profile)
        if profile is None:
            raise ScenarioError(f"cluster[{i}].profile: unknown profile {g.profile!r} "
                                f"(known: {', '.join(sorted(profiles.PROFILES))})")
        prefix = g.name or g.profile
        for n in range(g.count):
            objects.extend(profiles.node_objects(profile, f"{prefix}-{n}", mode=g.mode, clique=g.clique,
                                                 labels=dict(g.labels) or None))
    return objects


def _gpus(objects: list[dict[str, Any]]) -> int:
    from .engine import _node_gpu_count

    return sum(_node_gpu_count(o) for o in objects if o.get("kind") == "Node")


def build_run(s: Scenario, seed: int) -> Run:
    """The objects and jobs of a scenario, the workload drawn with ``seed``."""
    cluster = _cluster(s)
    queues = [_queue_object(q) for q in s.queues]
    parents = {q.parent for q in s.queues if q.parent}
    leaves = [q.name for q in s.queues if q.name not in parents]
    w = s.workload
    from .openb.trace import TraceError

    jobs: list[SimJob]
    if w.synthetic is not None:
        from .profiles import mig_profile_names
        from .synthetic import synthetic_mix

        mig = mig_profile_names(cluster)  # MIG jobs only of profiles the cluster offers (none: no MIG jobs)
        jobs = synthetic_mix(seed, w.synthetic.hours, w.synthetic.queues or leaves or ["default-queue"], _gpus(cluster),
                             w.synthetic.load, mig_profiles=mig[:2] if mig else ())
    elif w.philly is not None:
        from .traces import philly_jobs

        try:
            jobs, quotas = philly_jobs(_path(s.base_dir, w.philly.trace), _path(s.base_dir, w.philly.vcs), w.philly.scale)
        except OSError as err:
            raise ScenarioError(f"workload.philly: cannot read {err.filename}: {err.strerror}") from None
        except TraceError as err:
            raise ScenarioError(f"workload.philly: {err}") from None
        if w.philly.jobs is not None:
            jobs = sorted(jobs, key=lambda j: (j.submit_s, j.name))[: w.philly.jobs]
        if not queues:
            queues = [_queue_object(QueueSpec(name=vc, gpu=Resource(quota=q))) for vc, q in sorted(quotas.items())]
    else:
        from .traces import openb_jobs

        assert w.openb is not None
        try:
            jobs = openb_jobs(_path(s.base_dir, w.openb.pods))
        except OSError as err:
            raise ScenarioError(f"workload.openb: cannot read {err.filename}: {err.strerror}") from None
        except TraceError as err:
            raise ScenarioError(f"workload.openb: {err}") from None
        if w.openb.jobs is not None:
            jobs = sorted(jobs, key=lambda j: (j.submit_s, j.name))[: w.openb.jobs]
    known = {q["metadata"]["name"] for q in queues}
    missing = sorted({j.queue for j in jobs} - known - {"default-queue"})
    if missing and not s.queues:
        queues += [_queue_object(QueueSpec(name=q, gpu=Resource(quota=0))) for q in missing]
    elif missing:
        raise ScenarioError(f"workload: jobs use queues not defined in queues: {', '.join(missing[:5])}")
    return Run(cluster, queues, jobs, parse_config(s.scheduler), parse_seconds(s.period, "period"),
               parse_seconds(s.duration, "duration") if s.duration is not None else None)
