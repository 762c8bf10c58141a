"""Node selection for slices and devices (upstream ``NodeMatches`` + nodeaffinity).

Terms of a NodeSelector are ORed; requirements inside a term are ANDed; an empty term
matches nothing. ``matchFields`` supports only ``metadata.name`` with In/NotIn, as the
kube-scheduler's node affinity does.
"""

from __future__ import annotations

from typing import Optional

from gpuplane.api.models import Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm


class NodeSelectorError(ValueError):
    """A node selector that cannot be evaluated (bad operator or values)."""


def _int_or_none(text: str) -> Optional[int]:
    try:
        return int(text, 10)
    except ValueError:
        return None


def _check_requirement(req: NodeSelectorRequirement, field: bool) -> None:
    op = req.operator
    if field:
        if req.key != "metadata.name":
            raise NodeSelectorError(f"{req.key!r}: not a supported field selector (only metadata.name)")
        if op not in ("In", "NotIn"):
            raise NodeSelectorError(f"{op!r}: not a valid field selector operator")
        if len(req.values) != 1:
            raise NodeSelectorError("must have exactly one value for metadata.name field selector")
        return
    if op in ("In", "NotIn"):
        if not req.values:
            raise NodeSelectorError(f"{req.key}: values must be non-empty for operator {op}")
    elif op in ("Exists", "DoesNotExist"):
        if req.values:
            raise NodeSelectorError(f"{req.key}: values must be empty for operator {op}")
    elif op in ("Gt", "Lt"):
        if len(req.values) != 1 or _int_or_none(req.values[0]) is None:
            raise NodeSelectorError(f"{req.key}: operator {op} needs one integer value")
    else:
        raise NodeSelectorError(f"{op!r} is not a valid label selector operator")


def _label_matches(req: NodeSelectorRequirement, labels: dict[str, str]) -> bool:
    op = req.operator
    has = req.key in labels
    if op == "In":
        return has and labels[req.key] in req.values
    if op == "NotIn":
        return not has or labels[req.key] not in req.values
    if op == "Exists":
        return has
    if op == "DoesNotExist":
        return not has
    value = _int_or_none(labels[req.key]) if has else None
    if value is None:
        return False
    limit = int(req.values[0])
    return value > limit if op == "Gt" else value < limit


def _term_matches(term: NodeSelectorTerm, node: Node) -> bool:
    if not term.match_expressions and not term.match_fields:
        return False
    labels = node.metadata.labels
    for req in term.match_expressions:
        if not _label_matches(req, labels):
            return False
    for req in term.match_fields:
        inside = node.metadata.name in req.values
        if inside != (req.operator == "In"):
            return False
    return True


def selector_matches(selector: NodeSelector, node: Node) -> bool:
    """Whether ``node`` matches; raises NodeSelectorError for an unparsable selector."""
    for term in selector.node_selector_terms:
        for req in term.match_expressions:
            _check_requirement(req, field=False)
        for req in term.match_fields:
            _check_requirement(req, field=True)
    return any(_term_matches(term, node) for term in selector.node_selector_terms)


def node_matches(node: Node, node_name: Optional[str], all_nodes: Optional[bool], selector: Optional[NodeSelector]) -> bool:
    """Upstream ``NodeMatches``: nodeName, then allNodes, then the selector."""
    if node_name:
        return node.metadata.name == node_name
    if all_nodes:
        return True
    if selector is not None:
        return selector_matches(selector, node)
    return False
