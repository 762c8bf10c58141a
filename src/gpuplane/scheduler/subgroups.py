"""The SubGroup tree of a PodGroup (``spec.subGroups``): who belongs where, and what each
level requires. Pure data; the allocate action (:mod:`gpuplane.scheduler.cycle`) walks it.

KAI's rules (``shared/reference/kai-semantics.md`` §5.1), as gpuplane applies them:

* Pods join a *leaf* SubGroup with the label ``kai.scheduler/subgroup-name``. Pods without the
  label belong to the root's implicit default SubGroup, which is elastic (minMember 0): they are
  placed after every required SubGroup has its minimum.
* A leaf SubGroup requires ``minMember`` pods (omitted: 1; ``0``: fully elastic).
* A SubGroup with children, and the root, require ``minSubGroup`` satisfied children; omitted
  means all of them.
* ``spec.minMember`` at the root of a PodGroup with SubGroups is, when set, an extra floor on
  the total number of pods of the gang.
* A pod naming a SubGroup the PodGroup does not define, or one that has children, belongs to
  no SubGroup: it is never placed, and its pending reason says why
  (:func:`gpuplane.api.kai.subgroup_membership_errors` gives the same finding as an input error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from ..api import kai

__all__ = ["ROOT", "DEFAULT", "SubGroupNode", "SubGroupTree", "build_tree", "display_name"]

ROOT = ""  # the PodGroup itself
DEFAULT = "(default)"  # the root's implicit SubGroup: pods without the subgroup label (not a DNS label: no clash)

Key = tuple[str, str]


@dataclass(frozen=True)
class SubGroupNode:
    """One node of the tree. A leaf has ``pods``; an inner node (or the root) has ``children``."""

    name: str
    parent: Optional[str]
    children: tuple[str, ...]
    min_member: int  # leaves: pods required
    min_sub_group: Optional[int]  # inner nodes: children required (None: all)
    constraint: Optional[Mapping[str, Any]]  # the raw topologyConstraint (root: the PodGroup's)
    pods: tuple[Key, ...] = ()

    @property
    def is_leaf(self) -> bool:
        return not self.children

    @property
    def required_children(self) -> int:
        if self.min_sub_group is None:
            return len(self.children)
        return min(self.min_sub_group, len(self.children))


@dataclass(frozen=True)
class SubGroupTree:
    group: Key
    nodes: Mapping[str, SubGroupNode]
    unknown: Mapping[Key, str]  # pods that belong to no leaf SubGroup -> why
    total_min: int  # spec.minMember when set (a floor on the gang's total), else 0

    @property
    def root(self) -> SubGroupNode:
        return self.nodes[ROOT]

    def leaves(self, name: str = ROOT) -> list[SubGroupNode]:
        """The leaves under ``name`` (itself if it is one), in declaration order."""
        node = self.nodes[name]
        if node.is_leaf:
            return [node] if name != ROOT else []
        out: list[SubGroupNode] = []
        for c in node.children:
            out += self.leaves(c)
        return out

    def path(self, name: str) -> list[str]:
        """``name`` and its ancestors up to (not including) the root, innermost first."""
        out = []
        cur: Optional[str] = name
        while cur is not None and cur != ROOT:
            out.append(cur)
            cur = self.nodes[cur].parent
        return out


def display_name(name: str) -> str:
    return "(pods without a subgroup label)" if name == DEFAULT else name


def build_tree(group_key: Key, podgroup: Mapping[str, Any], pod_labels: Mapping[Key, Mapping[str, str]]) -> Optional[SubGroupTree]:
    """The tree of a PodGroup object (raw dict) with ``spec.subGroups``; ``None`` without them.
    ``pod_labels``: the gang's pods and their labels. The PodGroup is assumed valid
    (:func:`gpuplane.api.kai.validate_podgroup` found nothing)."""
    spec = podgroup.get("spec") if isinstance(podgroup, Mapping) else None
    subs = spec.get("subGroups") if isinstance(spec, Mapping) else None
    if not subs:
        return None
    declared = [sg for sg in subs if isinstance(sg, Mapping) and sg.get("name")]
    children: dict[str, list[str]] = {ROOT: []}
    for sg in declared:
        children.setdefault(sg.get("parent") or ROOT, []).append(sg["name"])
    members: dict[str, list[Key]] = {}
    unknown: dict[Key, str] = {}
    names = {sg["name"] for sg in declared}
    ref = f"{group_key[0]}/{group_key[1]}"
    for pod, labels in sorted(pod_labels.items()):
        want = labels.get(kai.SUBGROUP_LABEL, "")
        if not want:
            members.setdefault(DEFAULT, []).append(pod)
        elif want not in names:
            unknown[pod] = (f"pod label {kai.SUBGROUP_LABEL}={want} names no SubGroup of PodGroup {ref} "
                            f"(its SubGroups: {', '.join(sorted(names))})")
        elif children.get(want):
            unknown[pod] = (f"pod label {kai.SUBGROUP_LABEL}={want} names SubGroup {want} of PodGroup {ref}, "
                            f"which has child SubGroups; pods join leaf SubGroups only")
        else:
            members.setdefault(want, []).append(pod)
    nodes: dict[str, SubGroupNode] = {}
    for sg in declared:
        name = sg["name"]
        kids = tuple(children.get(name, ()))
        mm = sg.get("minMember")
        nodes[name] = SubGroupNode(
            name=name, parent=sg.get("parent") or ROOT, children=kids,
            min_member=0 if kids else (1 if mm is None else int(mm)),
            min_sub_group=sg.get("minSubGroup") if kids else None,
            constraint=sg.get("topologyConstraint") or None,
            pods=tuple(members.get(name, ())))
    root_kids = tuple(children[ROOT])
    if members.get(DEFAULT):
        nodes[DEFAULT] = SubGroupNode(DEFAULT, ROOT, (), 0, None, None, tuple(members[DEFAULT]))
    nodes[ROOT] = SubGroupNode(ROOT, None, root_kids + ((DEFAULT,) if DEFAULT in nodes else ()), 0,
                               spec.get("minSubGroup") if spec.get("minSubGroup") is not None else len(root_kids),
                               spec.get("topologyConstraint") or None)
    return SubGroupTree(group_key, nodes, unknown, int(spec.get("minMember") or 0))
