"""``gpuplane schedule --config FILE``: the scheduler configuration.

Field names follow KAI's ``SchedulingShard`` spec (``kai.scheduler/v1``) where one exists. The
file holds either the spec fields at the top level, or a whole ``SchedulingShard`` object
(``apiVersion``/``kind``/``metadata``/``spec``). Unknown fields are an error naming the field.

Used today: ``placementStrategy.{gpu,cpu}`` (``binpack`` | ``spread``, default ``binpack``; ``gpu``
also takes ``fgd``, fragmentation gradient descent, see ``placement.py``),
``kValue`` (fair-share k, default 1), ``queueDepthPerAction.allocate`` (jobs tried per queue
per round), ``actions.<name>.enabled`` and ``minRuntime.{preemptMinRuntime,reclaimMinRuntime}``
(Go durations; the min-runtime of a victim whose queue and ancestors set none — KAI's minruntime
plugin defaults, 0s when absent). Accepted and checked for type but not used yet:
``args``, ``partitionLabelValue``, ``plugins``, ``usageDBConfig``,
``scenarioSearchBudgets``, ``goMemLimitRatio``, ``goMemLimit``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import yaml

from ..api.kai import parse_duration

__all__ = ["SchedulerConfig", "ConfigError", "load_config", "parse_config", "ACTIONS"]

ACTIONS = ("allocate", "consolidation", "reclaim", "preempt", "stalegangeviction")
STRATEGIES = ("binpack", "spread")
GPU_STRATEGIES = ("binpack", "spread", "fgd")


class ConfigError(ValueError):
    """An invalid configuration; the message names the field."""


@dataclass(frozen=True)
class SchedulerConfig:
    gpu_strategy: str = "binpack"
    cpu_strategy: str = "binpack"
    k_value: float = 1.0
    queue_depth: dict[str, int] = field(default_factory=dict)
    disabled_actions: frozenset[str] = frozenset()
    preempt_min_runtime_s: float = 0.0  # minRuntime.preemptMinRuntime
    reclaim_min_runtime_s: float = 0.0  # minRuntime.reclaimMinRuntime

    def action_enabled(self, name: str) -> bool:
        return name not in self.disabled_actions


_SPEC_FIELDS = {
    "placementStrategy", "kValue", "queueDepthPerAction", "actions", "args", "minRuntime",
    "partitionLabelValue", "plugins", "usageDBConfig", "scenarioSearchBudgets", "goMemLimitRatio", "goMemLimit",
}


def _mapping(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: must be a mapping, got {type(value).__name__}")
    return value


def _unknown(d: dict[str, Any], known: set[str], path: str) -> None:
    for k in d:
        if k not in known:
            where = f"{path}.{k}" if path else str(k)
            raise ConfigError(f"{where}: unknown field (known: {', '.join(sorted(known))})")


def parse_config(doc: Any) -> SchedulerConfig:
    doc = _mapping(doc, "config")
    prefix = ""
    if "kind" in doc or "apiVersion" in doc:
        _unknown(doc, {"apiVersion", "kind", "metadata", "spec"}, "")
        if doc.get("kind") != "SchedulingShard":
            raise ConfigError(f"kind: must be SchedulingShard, got {doc.get('kind')!r}")
        doc = _mapping(doc.get("spec"), "spec")
        prefix = "spec."
    _unknown(doc, _SPEC_FIELDS, prefix.rstrip("."))

    ps = _mapping(doc.get("placementStrategy"), f"{prefix}placementStrategy")
    _unknown(ps, {"gpu", "cpu"}, f"{prefix}placementStrategy")
    strategies = {}
    for r in ("gpu", "cpu"):
        v = ps.get(r, "binpack")
        allowed = GPU_STRATEGIES if r == "gpu" else STRATEGIES
        if v not in allowed:
            raise ConfigError(f"{prefix}placementStrategy.{r}: unsupported value {v!r} ({', '.join(allowed[:-1])} or {allowed[-1]})")
        strategies[r] = v

    k = doc.get("kValue", 1.0)
    if isinstance(k, bool) or not isinstance(k, (int, float)) or k < 0:
        raise ConfigError(f"{prefix}kValue: must be a number >= 0, got {k!r}")

    depth: dict[str, int] = {}
    for name, v in _mapping(doc.get("queueDepthPerAction"), f"{prefix}queueDepthPerAction").items():
        if name not in ACTIONS:
            raise ConfigError(f"{prefix}queueDepthPerAction.{name}: unknown action (known: {', '.join(ACTIONS)})")
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"{prefix}queueDepthPerAction.{name}: must be an integer >= 0, got {v!r}")
        depth[name] = v

    disabled = set()
    for name, v in _mapping(doc.get("actions"), f"{prefix}actions").items():
        if name not in ACTIONS:
            raise ConfigError(f"{prefix}actions.{name}: unknown action (known: {', '.join(ACTIONS)})")
        v = _mapping(v, f"{prefix}actions.{name}")
        _unknown(v, {"enabled", "priority"}, f"{prefix}actions.{name}")
        enabled = v.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{prefix}actions.{name}.enabled: must be true or false")
        if "priority" in v and (isinstance(v["priority"], bool) or not isinstance(v["priority"], int)):
            raise ConfigError(f"{prefix}actions.{name}.priority: must be an integer")
        if not enabled:
            disabled.add(name)

    mr = _mapping(doc.get("minRuntime"), f"{prefix}minRuntime")
    _unknown(mr, {"preemptMinRuntime", "reclaimMinRuntime"}, f"{prefix}minRuntime")
    min_rt = {}
    for name in ("preemptMinRuntime", "reclaimMinRuntime"):
        v = mr.get(name)
        if v is None:
            min_rt[name] = 0.0
            continue
        try:
            secs = parse_duration(v) if isinstance(v, str) else None
        except ValueError:
            secs = None
        if secs is None or secs < 0:
            raise ConfigError(f"{prefix}minRuntime.{name}: must be a duration >= 0 such as 10m or 1h30m, got {v!r}")
        min_rt[name] = secs
    for name in ("args", "plugins", "usageDBConfig", "scenarioSearchBudgets"):
        _mapping(doc.get(name), f"{prefix}{name}")
    return SchedulerConfig(gpu_strategy=strategies["gpu"], cpu_strategy=strategies["cpu"], k_value=float(k),
                           queue_depth=depth, disabled_actions=frozenset(disabled),
                           preempt_min_runtime_s=min_rt["preemptMinRuntime"],
                           reclaim_min_runtime_s=min_rt["reclaimMinRuntime"])


def load_config(path: Optional[str]) -> SchedulerConfig:
    """Read and parse a config file; ``ConfigError`` for anything wrong with it."""
    if not path:
        return SchedulerConfig()
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from None
    try:
        return parse_config(doc)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
