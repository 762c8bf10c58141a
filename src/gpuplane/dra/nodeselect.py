"""Node selection for slices and devices (upstream ``NodeMatches`` + nodeaffinity).

Terms of a NodeSelector are ORed; requirements inside a term are ANDed; an empty term
matches nothing. ``matchFields`` supports only ``metadata.name`` with In/NotIn, as the
kube-scheduler's node affinity does.
"""

from __future__ import annotations

import re
from typing import Optional

from gpuplane.api.models import Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm


class NodeSelectorError(ValueError):
    """A node selector that cannot be evaluated (bad operator or values)."""


_INT = re.compile(r"[+-]?[0-9]+")


def _int_or_none(text: str) -> Optional[int]:
    """Go's ``strconv.ParseInt(text, 10, 64)``: no spaces, no underscores, int64 range."""
    if not _INT.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _label_key_ok(key: str) -> bool:
    prefix, sep, name = key.rpartition("/")
    if sep and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_NAME.fullmatch(name))


def _label_value_ok(value: str) -> bool:
    return value == "" or (len(value) <= 63 and bool(_NAME.fullmatch(value)))


def _requirement_errors(req: NodeSelectorRequirement) -> list[str]:
    """``labels.NewRequirement`` parse errors for one matchExpressions entry."""
    op = req.operator
    if op not in ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"):
        return [f"operator: Unsupported value: {op!r}"]
    errors = []
    if not _label_key_ok(req.key):
        errors.append(f"key: Invalid value: {req.key!r}: not a valid label key")
    if op in ("In", "NotIn") and not req.values:
        errors.append("values: for 'in', 'notin' operators, values set can't be empty")
    elif op in ("Exists", "DoesNotExist") and req.values:
        errors.append("values: values set must be empty for exists and does not exist")
    elif op in ("Gt", "Lt"):
        if len(req.values) != 1:
            errors.append("values: for 'Gt', 'Lt' operators, exactly one value is required")
        for v in req.values:
            if _int_or_none(v) is None:
                errors.append(f"values: Invalid value: {v!r}: for 'Gt', 'Lt' operators, the value must be an integer")
    for v in req.values:
        if not _label_value_ok(v):
            errors.append(f"values[{req.key}]: Invalid value: {v!r}: not a valid label value")
    return errors


def _field_errors(req: NodeSelectorRequirement) -> list[str]:
    if req.operator not in ("In", "NotIn"):
        return [f"operator: Unsupported value: {req.operator!r}: supported values: \"In\", \"NotIn\""]
    if len(req.values) != 1:
        return ["values: must have one element"]
    return []


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
    labels = node.metadata.labels
    for req in term.match_expressions:
        if not _label_matches(req, labels):
            return False
    if term.match_fields:
        node_fields = {"metadata.name": node.metadata.name} if node.metadata.name else {}
        for req in term.match_fields:
            inside = node_fields.get(req.key, "") == req.values[0]
            if inside != (req.operator == "In"):
                return False
    return True


def selector_matches(selector: NodeSelector, node: Node) -> bool:
    """``nodeaffinity.NewNodeSelector(...).Match(node)``.

    Empty terms are dropped; any parse error in any remaining term is an error (raised
    before matching, as NewNodeSelector does); otherwise the terms are ORed.
    """
    terms = [t for t in selector.node_selector_terms if t.match_expressions or t.match_fields]
    errors: list[str] = []
    for i, term in enumerate(terms):
        for j, req in enumerate(term.match_expressions):
            errors += [f"nodeSelectorTerms[{i}].matchExpressions[{j}].{e}" for e in _requirement_errors(req)]
        for j, req in enumerate(term.match_fields):
            errors += [f"nodeSelectorTerms[{i}].matchFields[{j}].{e}" for e in _field_errors(req)]
    if errors:
        raise NodeSelectorError("; ".join(errors))
    return any(_term_matches(term, node) for term in terms)


def node_matches(node: Node, node_name: Optional[str], all_nodes: Optional[bool], selector: Optional[NodeSelector]) -> bool:
    """Upstream ``NodeMatches``: nodeName, then allNodes, then the selector."""
    if node_name:
        return node.metadata.name == node_name
    if all_nodes:
        return True
    if selector is not None:
        return selector_matches(selector, node)
    return False
