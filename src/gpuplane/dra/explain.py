"""Why a pod's claims got no devices on a node, in words a user can act on.

The search itself only knows "no solution"; this looks at each request on its own and
counts what the node offers: devices in usable pools, those that pass the class and
request selectors, and those still free. A request whose count exceeds the free matching
devices is named; if every request fits on its own, the conflict is between requests or
constraints, and that is said instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gpuplane.dra.allocator import AllocatedState, Allocator

if TYPE_CHECKING:
    from gpuplane.dra.features import Features
    from gpuplane.dra.session import AllocationInput


def _matches(allocator: Allocator, entry, class_selectors, selectors) -> bool:  # type: ignore[no-untyped-def]
    for sel in list(class_selectors) + list(selectors):
        if sel.cel is None or allocator.selector_result(entry, sel.cel.expression) is not True:
            return False
    return True


def explain_unsatisfiable(inp: "AllocationInput", features: "Features") -> str:
    state = AllocatedState.from_claims(inp.allocated, features)
    allocator = Allocator(features, state, inp.classes, inp.slices)
    try:
        pools = allocator.pools_for(inp.node)
    except Exception as err:  # noqa: BLE001 - the explanation must never fail the command
        return f"could not inspect pools: {err}"
    lines: list[str] = []
    skipped = [p for p in pools if p.incomplete or p.invalid]
    usable = [p for p in pools if not (p.incomplete or p.invalid)]
    total = sum(len(p.entries) for p in usable)
    lines.append(f"the node sees {total} devices in {len(usable)} usable pool(s)")
    for p in skipped:
        why = "being updated (incomplete)" if p.incomplete else f"invalid: {p.invalid_reason}"
        lines.append(f"pool {p} is skipped: {why}")
    entries = [e for p in usable for e in p.entries]
    every_request_fits = True
    for claim in inp.pending:
        cname = f"{claim.metadata.namespace}/{claim.metadata.name}"
        for request in claim.spec.devices.requests:
            alternatives = (
                [(f"{request.name}/{s.name}", s) for s in request.first_available]
                if request.first_available
                else [(request.name, request.exactly)]
            )
            parts = []
            any_fits = False
            for name, spec in alternatives:
                if spec is None:
                    continue
                cls = inp.classes.get(spec.device_class_name)
                class_selectors = cls.spec.selectors if cls else []
                matching = [e for e in entries if _matches(allocator, e, class_selectors, spec.selectors)]
                free = [e for e in matching if e.id not in state.devices]
                need = len(matching) if spec.allocation_mode == "All" else spec.count
                fits = len(free) >= need and (need > 0 or spec.allocation_mode != "All")
                any_fits = any_fits or fits
                parts.append(
                    f"request {name} needs {'all' if spec.allocation_mode == 'All' else need} device(s) of class "
                    f"{spec.device_class_name}: {len(matching)} match the selectors, {len(free)} of them free"
                )
            every_request_fits = every_request_fits and any_fits
            verdict = "" if any_fits else " (too few)"
            lines.append(f"claim {cname}: " + "; ".join(parts) + verdict)
    if every_request_fits:
        lines.append(
            "each request fits on its own: the devices conflict between requests or claims, or a "
            "constraint (matchAttribute/distinctAttribute), a taint, shared counters or capacity rules them out"
        )
    return "\n  ".join(lines)
