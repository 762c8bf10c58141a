"""Comparing gpuplane's outcome with the oracle's answer for one case.

Both sides are reduced by :func:`normalize` to ``{"status": ..., "allocations": [...]}``:

- status ``ok`` / ``unsat`` / ``unsat:invalid-pools`` / ``error``. Upstream's
  ``ErrFailedAllocationOnNode`` ("invalid resource pools were encountered") is an
  error for the oracle and an ``unsat`` with that reason for gpuplane; both become
  ``unsat:invalid-pools``. Error messages are otherwise not compared.
- for ``ok``: the allocations (v1 AllocationResult dicts) with every ``shareID``
  replaced by a placeholder (its presence still counts). Quantities in
  ``consumedCapacity`` are compared as strings.

:func:`compare` classifies a difference: ``status``, ``allocation``,
``quantity-format`` (allocations equal except for consumedCapacity strings that
denote the same quantity, e.g. "1Gi" vs "1024Mi"), ``empty-vs-absent`` (equal once
empty lists/maps/nulls are dropped) or ``crash`` (gpuplane raised).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Optional

INVALID_POOLS = "invalid resource pools were encountered"
SHARE_ID = "<shareID>"


def _as_dict(answer: Any) -> dict[str, Any]:
    """An oracle answer (dict) or a gpuplane Outcome as a plain dict."""
    if isinstance(answer, dict):
        return answer
    return {
        "status": answer.status,
        "allocations": answer.allocations,
        "error": answer.error,
    }


def _status(answer: dict[str, Any]) -> str:
    status = answer["status"]
    error = answer.get("error") or ""
    if status in ("error", "unsat") and error.startswith(INVALID_POOLS):
        return "unsat:invalid-pools"
    return status


def normalize(answer: Any) -> dict[str, Any]:
    """Comparable form of an oracle answer or a gpuplane Outcome."""
    a = _as_dict(answer)
    status = _status(a)
    out: dict[str, Any] = {"status": status}
    if status == "ok":
        # A JSON round trip gives both sides the same plain types.
        allocations = json.loads(json.dumps(a.get("allocations") or []))
        for alloc in allocations:
            for result in (alloc.get("devices") or {}).get("results") or []:
                if "shareID" in result:
                    result["shareID"] = SHARE_ID
        out["allocations"] = allocations
    return out


# --- quantities (own parser: the comparison must not trust the code under test) ------

_Q = re.compile(r"^([+-]?)(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
_BIN = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DEC = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def quantity_value(text: str) -> Optional[Fraction]:
    m = _Q.match(text)
    if not m:
        return None
    sign, digits, suffix = m.groups()
    v = Fraction(digits)
    if suffix in _BIN:
        v *= 1024 ** _BIN[suffix]
    elif suffix in _DEC:
        v *= Fraction(10) ** _DEC[suffix]
    elif suffix:
        v *= Fraction(10) ** int(suffix[1:])
    return -v if sign == "-" else v


def _quantities_to_values(allocations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = copy.deepcopy(allocations)
    for alloc in out:
        for result in (alloc.get("devices") or {}).get("results") or []:
            cc = result.get("consumedCapacity")
            if isinstance(cc, dict):
                result["consumedCapacity"] = {
                    k: (str(quantity_value(v)) if isinstance(v, str) and quantity_value(v) is not None else v)
                    for k, v in cc.items()
                }
    return out


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = _drop_empty(v)
            if v is None or v == [] or v == {}:
                continue
            out[k] = v
        return out
    if isinstance(value, list):
        return [_drop_empty(v) for v in value]
    return value


@dataclass
class Mismatch:
    category: str
    oracle: dict[str, Any]
    gpuplane: dict[str, Any]
    detail: str = ""


def compare(oracle_answer: Any, gpuplane_outcome: Any) -> Optional[Mismatch]:
    """None when the two agree, else the kind of disagreement."""
    if isinstance(gpuplane_outcome, BaseException):
        return Mismatch("crash", normalize(oracle_answer), {"status": "crash"}, repr(gpuplane_outcome))
    o = normalize(oracle_answer)
    g = normalize(gpuplane_outcome)
    if o["status"] != g["status"]:
        detail = f"oracle error: {_as_dict(oracle_answer).get('error', '')!s:.300}; gpuplane error: {_as_dict(gpuplane_outcome).get('error', '')!s:.300}"
        return Mismatch("status", o, g, detail)
    if o == g:
        return None
    oa, ga = o.get("allocations", []), g.get("allocations", [])
    if _quantities_to_values(oa) == _quantities_to_values(ga):
        return Mismatch("quantity-format", o, g, first_difference(oa, ga))
    if _drop_empty(oa) == _drop_empty(ga):
        return Mismatch("empty-vs-absent", o, g, first_difference(oa, ga))
    return Mismatch("allocation", o, g, first_difference(oa, ga))


def first_difference(a: Any, b: Any, path: str = "") -> str:
    """Path and values of the first place where two JSON values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a:
                return f"{path}.{k}: oracle has no key, gpuplane {json.dumps(b[k])[:200]}"
            if k not in b:
                return f"{path}.{k}: oracle {json.dumps(a[k])[:200]}, gpuplane has no key"
            if a[k] != b[k]:
                return first_difference(a[k], b[k], f"{path}.{k}")
        return ""
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
        if len(a) != len(b):
            return f"{path}: oracle {len(a)} items, gpuplane {len(b)} items"
        return ""
    return f"{path}: oracle {json.dumps(a)[:200]}, gpuplane {json.dumps(b)[:200]}"


# --- running gpuplane on an oracle case ------------------------------------------------


def run_gpuplane(case: dict[str, Any]) -> Any:
    """gpuplane's Outcome for an oracle case, or the exception it raised."""
    from gpuplane.dra.features import Features
    from gpuplane.dra.session import allocate_objects

    try:
        return allocate_objects(copy.deepcopy(case["objects"]), case["node"], Features.from_gates(case["features"]))
    except Exception as exc:  # a crash is a finding, not a test error
        return exc


def describe(m: Mismatch) -> str:
    lines = [f"category: {m.category}"]
    if m.detail:
        lines.append(f"detail:   {m.detail}")
    lines.append("oracle:   " + json.dumps(m.oracle, sort_keys=True)[:3000])
    lines.append("gpuplane: " + json.dumps(m.gpuplane, sort_keys=True)[:3000])
    return "\n".join(lines)
