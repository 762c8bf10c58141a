"""Topology-aware gang placement: which groups of nodes to try for a gang, in which order.

Pure helpers (no cluster state of their own) for KAI's topology plugin semantics
(``kai.scheduler/v1alpha1`` ``Topology``; ``topologyConstraint`` on a PodGroup or SubGroup):

* A :class:`Topology` is a list of node labels, outermost first (e.g. block, rack, hostname);
  a level may be named by its label or its alias. A *domain* at level i is the set of nodes
  sharing the values of levels 0..i (a rack is inside its block); nodes lacking one of those
  labels belong to no domain at that level.
* ``requiredTopologyLevel``: the whole gang must fit in one domain of that level. The candidate
  domains are those that can host the gang, tightest first (KAI's bin-packing order: the
  highest demand / free ratio, i.e. the fewest free GPUs that still fit), then the most used,
  then by name. When none can, the reason says by how much the best one falls short.
* ``preferredTopologyLevel``: soft. Within each candidate (a required domain, or the whole
  cluster), nodes are ordered by their preferred-level domain: domains that can host the gang
  first (tightest first), then the others with the most free first (to concentrate the pods);
  without a required level, each preferred domain that fits is also a group of its own, and a
  last group holds every node (the fallback across domains).
* NVLink: :func:`clique_groups` groups nodes by ``nvidia.com/gpu.clique`` (NVL72 partitions);
  a Topology may also use that label as a level. gpuplane's default (not KAI's; see
  docs/subgroups.md): a gang of two or more pods that all use whole GPUs, without a
  ``topologyConstraint``, *prefers* one clique when nodes carry the label
  (:func:`clique_preference`): the tightest clique that can host it, else all nodes, filled
  clique by clique.

Entry point for the cycle: :func:`order_nodes_for_gang` ``(nodes, topology, constraint,
gang_demand) -> (ordered node groups, reason)``; the allocate action
(:mod:`gpuplane.scheduler.cycle`) uses it for PodGroup-level constraints (SubGroup-level
constraints go through :mod:`gpuplane.scheduler.subgang`, which calls it per SubGroup inside
the domain chosen for the parent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable, Mapping, NamedTuple, Optional, Sequence, Union

__all__ = [
    "CLIQUE_LABEL", "TopoNode", "Topology", "TopologyConstraint", "GangDemand", "NodeGroup",
    "order_nodes_for_gang", "clique_groups", "domains_at", "clique_preference", "CLIQUE_TOPOLOGY",
]

CLIQUE_LABEL = "nvidia.com/gpu.clique"
HOSTNAME_LABEL = "kubernetes.io/hostname"


class TopoNode(NamedTuple):
    """A node as the topology helpers see it: labels and GPUs (free now, and in total). (A
    named tuple: built for every node each time a gang looks for a domain.)"""

    name: str
    labels: Mapping[str, str]
    free_gpus: Union[int, Fraction] = 0
    gpus: Union[int, Fraction] = 0


@dataclass(frozen=True)
class Topology:
    name: str
    levels: tuple[str, ...]  # node labels, outermost first
    aliases: tuple[Optional[str], ...] = ()

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> "Topology":
        """From a ``Topology`` object (``metadata.name``, ``spec.levels[].{nodeLabel, alias}``)."""
        levels = (obj.get("spec") or {}).get("levels") or []
        return cls(name=(obj.get("metadata") or {}).get("name", ""),
                   levels=tuple(lv["nodeLabel"] for lv in levels),
                   aliases=tuple(lv.get("alias") for lv in levels))

    def index(self, level: str) -> int:
        """Index of a level named by its node label or alias; ``ValueError`` if unknown."""
        if level in self.levels:
            return self.levels.index(level)
        for i, a in enumerate(self.aliases):
            if a and a == level:
                return i
        raise ValueError(f"topology {self.name or '(unnamed)'} has no level {level!r}"
                         f" (levels: {', '.join(self.levels)})")

    def word(self, i: int) -> str:
        """How a level reads in messages: its alias, else the label's last word (``rack``)."""
        if i < len(self.aliases) and self.aliases[i]:
            return str(self.aliases[i])
        label = self.levels[i]
        if label == HOSTNAME_LABEL:
            return "node"
        tail = label.rsplit("/", 1)[-1]
        for prefix in ("topology-", "topology."):
            if tail.startswith(prefix):
                tail = tail[len(prefix):]
        return tail or label


@dataclass(frozen=True)
class TopologyConstraint:
    topology: str = ""
    required_level: Optional[str] = None
    preferred_level: Optional[str] = None

    @classmethod
    def from_dict(cls, d: Optional[Mapping[str, Any]]) -> "TopologyConstraint":
        """From ``topologyConstraint`` (``topology``, ``requiredTopologyLevel``, ``preferredTopologyLevel``)."""
        d = d or {}
        return cls(d.get("topology", "") or "", d.get("requiredTopologyLevel") or None,
                   d.get("preferredTopologyLevel") or None)


@dataclass(frozen=True)
class GangDemand:
    """``pods`` pods of ``gpus_per_pod`` GPUs each (a pod needs them on one node); with
    ``divisible`` (a bare GPU total, see :meth:`total`) the GPUs may come from any nodes."""

    pods: int
    gpus_per_pod: Fraction = Fraction(1)
    divisible: bool = False

    @classmethod
    def total(cls, gpus: Union[int, Fraction]) -> "GangDemand":
        return cls(1, Fraction(gpus), True)

    @property
    def gpus(self) -> Fraction:
        return self.pods * Fraction(self.gpus_per_pod)

    def pods_fitting(self, free: Iterable[Fraction]) -> int:
        """How many of the gang's pods fit on nodes with these free GPUs (per node)."""
        per = _num(self.gpus_per_pod)
        if self.divisible:
            return self.pods if sum(_num(f) for f in free) >= self.gpus else 0
        if per <= 0:
            return self.pods
        return sum(int(_num(f) // per) for f in free)


@dataclass
class NodeGroup:
    """Nodes to try together, best first. ``level``: the label the group is a domain of (``""``
    for the whole cluster); ``value``: the domain's value at that level."""

    level: str
    value: str
    nodes: list[str]
    free_gpus: Fraction
    gpus: Fraction
    fits: bool
    path: tuple[str, ...] = field(default=())


def _num(v: Union[int, float, Fraction]) -> Union[int, Fraction]:
    """An exact number, as a plain int when it is whole (int arithmetic is much faster than
    Fraction's, and GPU counts are whole but for shared GPUs)."""
    if type(v) is int:
        return v
    f = v if isinstance(v, Fraction) else Fraction(v)
    return f.numerator if f.denominator == 1 else f


def _free(nodes: Sequence[TopoNode]) -> Union[int, Fraction]:
    return sum(_num(n.free_gpus) for n in nodes)


def _total(nodes: Sequence[TopoNode]) -> Union[int, Fraction]:
    return sum(_num(n.gpus) for n in nodes)


def domains_at(nodes: Iterable[TopoNode], topology: Topology, index: int) -> tuple[dict[tuple[str, ...], list[TopoNode]], list[TopoNode]]:
    """Nodes grouped by their values of levels 0..index; and the nodes lacking one of them."""
    out: dict[tuple[str, ...], list[TopoNode]] = {}
    missing: list[TopoNode] = []
    labels = topology.levels[: index + 1]
    for n in nodes:
        path = tuple(map(n.labels.get, labels))
        if None in path or "" in path:
            missing.append(n)
            continue
        group = out.get(path)  # type: ignore[arg-type]
        if group is None:
            out[path] = [n]  # type: ignore[index]
        else:
            group.append(n)
    return out, missing


def clique_groups(nodes: Iterable[TopoNode], label: str = CLIQUE_LABEL) -> dict[str, list[str]]:
    """NVLink cliques: node names by their ``nvidia.com/gpu.clique`` value (sorted; nodes
    without the label are left out)."""
    out: dict[str, list[str]] = {}
    for n in nodes:
        v = n.labels.get(label)
        if v:
            out.setdefault(v, []).append(n.name)
    return {k: sorted(v) for k, v in sorted(out.items())}


CLIQUE_TOPOLOGY = Topology("nvlink-clique", (CLIQUE_LABEL,), ("clique",))


def clique_preference(pods: Sequence[tuple[int, bool]]) -> Optional[tuple[Topology, "TopologyConstraint"]]:
    """The implicit constraint "prefer one NVLink clique" for a gang without a
    ``topologyConstraint``, given each pending pod's ``(whole GPUs, shared?)``: only for two or
    more pods that all use whole GPUs (a multi-node NVLink job); ``None`` otherwise. The caller
    applies it only when some node has the ``nvidia.com/gpu.clique`` label."""
    if len(pods) < 2 or not all(whole > 0 and not shared for whole, shared in pods):
        return None
    return CLIQUE_TOPOLOGY, TopologyConstraint(CLIQUE_TOPOLOGY.name, None, CLIQUE_LABEL)


def _as_demand(d: Union[GangDemand, int, Fraction]) -> GangDemand:
    if isinstance(d, GangDemand):
        return d
    return GangDemand.total(d)


def _amount(v: Fraction) -> str:
    return str(int(v)) if v == int(v) else f"{float(v):g}"


def _node_order(nodes: Sequence[TopoNode]) -> list[TopoNode]:
    # tightest node first (fewest free GPUs, binpack), nodes with nothing free last, then name
    return sorted(nodes, key=lambda n: (_num(n.free_gpus) <= 0, _num(n.free_gpus), n.name))


def _domain_key(nodes: Sequence[TopoNode], demand: GangDemand, fits: bool, path: tuple[str, ...]) -> tuple:
    free = _free(nodes)
    total = _total(nodes)
    used = Fraction(total - free) / total if total else Fraction(0)
    if fits:  # tightest (fewest free that still fit), then most used, then name
        return (0, free, -used, path)
    return (1, -free, path)  # cannot host it all: the most free first (concentrate the pods)


def _ordered_domains(nodes: Sequence[TopoNode], topology: Topology, index: int,
                     demand: GangDemand) -> list[tuple[tuple[str, ...], list[TopoNode], bool]]:
    groups, _ = domains_at(nodes, topology, index)
    keyed = []
    for path, members in groups.items():
        fits = demand.pods_fitting(n.free_gpus for n in members) >= demand.pods
        keyed.append((_domain_key(members, demand, fits, path), path, members, fits))
    keyed.sort(key=lambda t: t[0])
    return [(path, members, fits) for _, path, members, fits in keyed]


def _preferred_order(nodes: Sequence[TopoNode], topology: Topology, pref: Optional[int],
                     demand: GangDemand) -> list[str]:
    if pref is None:
        return [n.name for n in _node_order(nodes)]
    ordered: list[str] = []
    for _, members, _ in _ordered_domains(nodes, topology, pref, demand):
        ordered += [n.name for n in _node_order(members)]
    _, missing = domains_at(nodes, topology, pref)
    ordered += [n.name for n in _node_order(missing)]
    return ordered


def _shortfall(topology: Topology, index: int, demand: GangDemand, nodes: Sequence[TopoNode],
               domains: list[tuple[tuple[str, ...], list[TopoNode], bool]], missing: int) -> str:
    word = topology.word(index)
    need = (f"needs {_amount(demand.gpus)} GPUs" if demand.pods == 1 else
            f"needs {demand.pods} pods x {_amount(Fraction(demand.gpus_per_pod))} GPUs ({_amount(demand.gpus)} GPUs)")
    where = f"in one {word}"
    if topology.name:
        where += f" (topology {topology.name}, required level {topology.levels[index]})"
    if not domains:
        msg = f"{need} {where}; no node has the label {topology.levels[index]}"
        if index:
            msg = f"{need} {where}; no node has all of the labels {', '.join(topology.levels[: index + 1])}"
        return msg
    def rank(t: tuple[tuple[str, ...], list[TopoNode], bool]) -> tuple:
        pods = demand.pods_fitting(n.free_gpus for n in t[1])
        return (-pods, -_free(t[1]), t[0])
    path, members, _ = min(domains, key=rank)
    free = _free(members)
    msg = f"{need} {where}; best {word} {path[-1]} has {_amount(free)} free"
    if demand.pods > 1:
        msg += f" (room for {demand.pods_fitting(n.free_gpus for n in members)} of the {demand.pods} pods)"
    if missing:
        msg += f"; {missing} node{'s' if missing != 1 else ''} lack the label {topology.levels[index]}"
    return msg


def order_nodes_for_gang(nodes: Sequence[TopoNode], topology: Optional[Topology],
                         constraint: Optional[TopologyConstraint],
                         gang_demand: Union[GangDemand, int, Fraction]) -> tuple[list[NodeGroup], str]:
    """Node groups to try for a gang, best first, and why there is none (``""`` when there is).

    * no topology or constraint: one group of every node (tightest node first);
    * ``required_level``: one group per domain of that level that can host the gang, tightest
      first; nodes inside ordered by ``preferred_level`` domain if set. None: ``([], reason)``;
    * ``preferred_level`` only: one group per preferred domain that can host the gang (tightest
      first), then a group of every node ordered by preferred domain (the soft fallback).

    ``ValueError`` if the constraint names a level the topology does not have."""
    demand = _as_demand(gang_demand)
    nodes = list(nodes)
    if topology is None or constraint is None or not (constraint.required_level or constraint.preferred_level):
        return [NodeGroup("", "", [n.name for n in _node_order(nodes)], _free(nodes), _total(nodes),
                          demand.pods_fitting(n.free_gpus for n in nodes) >= demand.pods)], ""
    req = topology.index(constraint.required_level) if constraint.required_level else None
    pref = topology.index(constraint.preferred_level) if constraint.preferred_level else None
    if req is not None and pref is not None and pref < req:
        pref = None  # a preferred level above the required one adds nothing
    if req is not None:
        domains = _ordered_domains(nodes, topology, req, demand)
        _, missing = domains_at(nodes, topology, req)
        groups = [NodeGroup(topology.levels[req], path[-1], _preferred_order(members, topology, pref, demand),
                            _free(members), _total(members), True, path)
                  for path, members, fits in domains if fits]
        if not groups:
            return [], _shortfall(topology, req, demand, nodes, domains, len(missing))
        return groups, ""
    assert pref is not None
    groups = [NodeGroup(topology.levels[pref], path[-1], [n.name for n in _node_order(members)],
                        _free(members), _total(members), True, path)
              for path, members, fits in _ordered_domains(nodes, topology, pref, demand) if fits]
    groups.append(NodeGroup("", "", _preferred_order(nodes, topology, pref, demand), _free(nodes), _total(nodes),
                            demand.pods_fitting(n.free_gpus for n in nodes) >= demand.pods))
    return groups, ""
