"""The queue hierarchy: an immutable tree of queues of any depth.

A :class:`QueueTree` is built either from KAI ``Queue`` objects (:meth:`QueueTree.from_queues`,
which validates names, parents and cycles) or from plain specs (:meth:`QueueTree.from_specs`),
so that the fair-share code (:mod:`gpuplane.scheduler.fairshare`) works on plain data.

Per resource (``gpu``, ``cpu``, ``memory``) a node holds ``quota``, ``over_quota_weight`` and
``limit``; ``-1`` means unlimited for quota and limit (:data:`UNLIMITED`). Only leaf queues take
jobs; a parent's demand is the sum of its subtree's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Optional

from ..api import kai
from ..api.errors import FieldError, ValidationFailed

__all__ = ["RESOURCES", "UNLIMITED", "ResourceSpec", "QueueNode", "QueueTree"]

RESOURCES = ("gpu", "cpu", "memory")
UNLIMITED = -1.0


@dataclass(frozen=True)
class ResourceSpec:
    quota: float = 0.0
    over_quota_weight: float = 1.0
    limit: float = UNLIMITED

    @property
    def unlimited_quota(self) -> bool:
        return self.quota == UNLIMITED

    @property
    def unlimited_limit(self) -> bool:
        return self.limit == UNLIMITED


@dataclass(frozen=True)
class QueueNode:
    name: str
    parent: Optional[str] = None
    priority: int = kai.DEFAULT_QUEUE_PRIORITY
    resources: Mapping[str, ResourceSpec] = field(default_factory=dict)
    creation_timestamp: str = ""
    uid: str = ""

    def spec(self, resource: str) -> ResourceSpec:
        return self.resources.get(resource) or ResourceSpec()


class QueueTree:
    """Queues by name, with children in a fixed order (creation time, then name)."""

    def __init__(self, nodes: Iterable[QueueNode]) -> None:
        self.nodes: dict[str, QueueNode] = {}
        errors: list[FieldError] = []
        for n in nodes:
            if n.name in self.nodes:
                errors.append(FieldError("Queue", "", n.name, "metadata.name", f'Duplicate value: "{n.name}"'))
            self.nodes[n.name] = n
        for n in self.nodes.values():
            if n.parent is not None and n.parent not in self.nodes:
                errors.append(FieldError("Queue", "", n.name, "spec.parentQueue",
                                         f'Not found: "{n.parent}": parent queue does not exist'))
        if not errors:
            for name in sorted(self.nodes):
                seen, cur = [], name
                while cur is not None and cur not in seen:
                    seen.append(cur)
                    cur = self.nodes[cur].parent
                if cur is not None:
                    cyc = seen[seen.index(cur):]
                    errors.append(FieldError("Queue", "", name, "spec.parentQueue",
                                             "Invalid value: queue hierarchy has a cycle: " + " -> ".join(cyc + [cyc[0]])))
                    break
        if errors:
            raise ValidationFailed(errors)
        self._children: dict[Optional[str], list[str]] = {}
        for n in self.nodes.values():
            self._children.setdefault(n.parent, []).append(n.name)
        for names in self._children.values():
            names.sort(key=lambda q: (self.nodes[q].creation_timestamp, q))

    # --- construction ------------------------------------------------------------------------

    @classmethod
    def from_queues(cls, queues: Iterable["kai.Queue"], add_default: bool = True) -> "QueueTree":
        """Build from KAI Queue objects; ``default-queue`` is added unless present."""
        qs = kai.with_default_queue(queues) if add_default else list(queues)
        errors = [e for q in qs for e in kai.validate_queue(q)] + kai.validate_kai_objects(queues=qs)
        if errors:
            raise ValidationFailed(errors)
        nodes = []
        for q in qs:
            res = {}
            for r in RESOURCES:
                v = kai.resource_values(q, r)
                res[r] = ResourceSpec(quota=v.quota, over_quota_weight=v.over_quota_weight, limit=v.limit)
            nodes.append(QueueNode(
                name=q.metadata.name,
                parent=q.spec.parent_queue or None,
                priority=kai.queue_priority(q),
                resources=res,
                creation_timestamp=q.metadata.creation_timestamp or "",
                uid=q.metadata.uid,
            ))
        return cls(nodes)

    @classmethod
    def from_specs(cls, specs: Mapping[str, Mapping[str, Any]]) -> "QueueTree":
        """Build from plain dicts::

            {"dept-a": {"priority": 100, "gpu": {"quota": 8, "overQuotaWeight": 1, "limit": -1}},
             "team-1": {"parent": "dept-a", "gpu": {"quota": 4}}}

        Omitted values take the defaults quota 0, weight 1, limit -1, priority 100.
        """
        nodes = []
        for name, s in specs.items():
            res = {}
            for r in RESOURCES:
                rs = s.get(r)
                if rs is None:
                    continue
                res[r] = ResourceSpec(
                    quota=float(rs.get("quota", 0.0)),
                    over_quota_weight=float(rs.get("overQuotaWeight", rs.get("over_quota_weight", 1.0))),
                    limit=float(rs.get("limit", UNLIMITED)),
                )
            nodes.append(QueueNode(name=name, parent=s.get("parent") or None,
                                   priority=int(s.get("priority", kai.DEFAULT_QUEUE_PRIORITY)), resources=res,
                                   creation_timestamp=str(s.get("creationTimestamp", ""))))
        return cls(nodes)

    # --- navigation --------------------------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    def __iter__(self) -> Iterator[str]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, name: str) -> QueueNode:
        return self.nodes[name]

    @property
    def roots(self) -> list[str]:
        return list(self._children.get(None, []))

    def children(self, name: Optional[str]) -> list[str]:
        return list(self._children.get(name, []))

    def is_leaf(self, name: str) -> bool:
        return not self._children.get(name)

    def leaves(self) -> list[str]:
        return [n for n in self.walk() if self.is_leaf(n)]

    def ancestors(self, name: str) -> list[str]:
        """Parent, grandparent, ... up to the root (not including ``name``)."""
        out, cur = [], self.nodes[name].parent
        while cur is not None:
            out.append(cur)
            cur = self.nodes[cur].parent
        return out

    def depth(self, name: str) -> int:
        return len(self.ancestors(name))

    def walk(self) -> list[str]:
        """All queues, parents before children (pre-order, children in tree order)."""
        out: list[str] = []
        stack = list(reversed(self.roots))
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(reversed(self._children.get(n, [])))
        return out
