"""Consumable capacity (DRAConsumableCapacity): how much of a device a request consumes.

Mirrors upstream ``consumable_capacity.go`` with DRAFractionalCapacityRange off: range
rounding works on integer values (a quantity's ``Value()`` rounds up).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Optional

from gpuplane.api.models import DeviceCapacity
from gpuplane.api.quantity import Quantity, parse_quantity

MAX_INT64 = 2**63 - 1


class CapacityError(Exception):
    """A capacity request that cannot be computed (upstream returns an error)."""


def _q(value: object) -> Quantity:
    return parse_quantity(value)  # type: ignore[arg-type]


def _int_value(q: Quantity) -> int:
    """apimachinery ``Quantity.Value()``: rounded up to an integer."""
    return math.ceil(q.value)


def consumed_for(requested: Optional[Quantity], cap: DeviceCapacity) -> Quantity:
    """``calculateConsumedCapacity``: the amount one allocation takes from ``cap``."""
    policy = cap.request_policy
    if requested is None:
        if policy is not None and policy.default is not None:
            return _q(policy.default)
        return _q(cap.value if cap.value is not None else 0)
    if policy is None:
        return requested
    rng = policy.valid_range
    if rng is not None and rng.min is not None:
        lo = _q(rng.min)
        if requested.value < lo.value:
            return lo
        if rng.step is None:
            return requested
        if requested.value > MAX_INT64:
            raise CapacityError(
                f"capacity request cannot be represented in the device's range arithmetic: request {requested} exceeds MaxInt64"
            )
        step = _q(rng.step)
        req_i, step_i, min_i = _int_value(requested), _int_value(step), _int_value(lo)
        added = req_i - min_i
        n = _go_div(added, step_i)
        if _go_mod(added, step_i) != 0:
            n += 1
        if min_i >= 0 and n > _go_div(MAX_INT64 - min_i, step_i):
            raise CapacityError(
                "capacity request cannot be represented in the device's range arithmetic: "
                f"rounding request {requested} up to the next step passes MaxInt64"
            )
        return Quantity(Fraction(min_i + step_i * n), step.fmt)
    if policy.valid_values:
        for v in policy.valid_values:
            vq = _q(v)
            if requested.value <= vq.value:
                return vq
        return requested
    return requested


def compact(value: Fraction) -> "Fraction | int":
    """Whole numbers as int: exact still, and much cheaper to add and compare."""
    return value.numerator if value.denominator == 1 else value


def _go_div(a: int, b: int) -> int:
    """Go integer division truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _go_mod(a: int, b: int) -> int:
    return a - b * _go_div(a, b)


def violates_policy(consumed: Quantity, cap: DeviceCapacity) -> bool:
    policy = cap.request_policy
    if policy is None:
        return False
    if policy.default is not None and _same_quantity(consumed, _q(policy.default)):
        return False
    rng = policy.valid_range
    if rng is not None:
        if rng.max is not None and consumed.value > _q(rng.max).value:
            return True
        if rng.step is not None:
            requested = _int_value(consumed)
            step = _int_value(_q(rng.step))
            lo = _int_value(_q(rng.min)) if rng.min is not None else 0
            if step == 0:
                raise CapacityError("integer divide by zero in capacity step")
            if _go_mod(requested - lo, step) != 0:
                return True
        return False
    if policy.valid_values:
        return not any(consumed.value == _q(v).value for v in policy.valid_values)
    return False


def _same_quantity(a: Quantity, b: Quantity) -> bool:
    # Go compares the Quantity structs here; equal value and format is the closest
    # faithful reading for quantities that were parsed from the same text.
    # Here the kept text (apimachinery's cached string) must match too.
    return a.value == b.value and a.fmt == b.fmt and a.text == b.text


StaticFit = Optional[tuple[tuple[str, Fraction, Fraction], ...]]


def static_fit(requests: Optional[dict[str, Quantity]], capacity: dict[str, DeviceCapacity]) -> StaticFit:
    """The part of ``CmpRequestOverCapacity`` that depends only on request and device.

    None when the request names a capacity the device lacks or a request policy is
    violated; else (name, consumed, limit) per capacity. Raises CapacityError where
    upstream returns an error. Pure, so callers may cache it per (request, device).
    """
    if requests:
        for name in requests:
            if name not in capacity:
                return None
    consumed: dict[str, Quantity] = {}
    for name, cap in capacity.items():
        q = consumed_for(requests.get(name) if requests else None, cap)
        if q.value < 0:
            raise CapacityError(f'capacity "{name}": capacity value is negative')
        consumed[name] = q
    out = []
    for name, cap in capacity.items():
        q = consumed[name]
        if violates_policy(q, cap):
            return None
        out.append((name, compact(q.value), compact(_q(cap.value if cap.value is not None else 0).value)))
    return tuple(out)


def fits_now(fit: StaticFit, already: dict[str, Fraction], allocating: dict[str, Fraction]) -> bool:
    """The dynamic part: what is in use plus this allocation stays within each capacity."""
    if fit is None:
        return False
    for name, consumed, limit in fit:
        if already.get(name, 0) + consumed + allocating.get(name, 0) > limit:
            return False
    return True


def request_fits(
    requests: Optional[dict[str, Quantity]],
    capacity: dict[str, DeviceCapacity],
    already: dict[str, Fraction],
    allocating: dict[str, Fraction],
) -> bool:
    """``CmpRequestOverCapacity``: does one more allocation fit on this device?"""
    return fits_now(static_fit(requests, capacity), already, allocating)


def consumed_capacity(requests: Optional[dict[str, Quantity]], capacity: dict[str, DeviceCapacity]) -> dict[str, Quantity]:
    """``GetConsumedCapacityFromRequest``: every capacity of the device, defaults applied."""
    return {name: consumed_for(requests.get(name) if requests else None, cap) for name, cap in capacity.items()}
