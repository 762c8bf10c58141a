"""Kubernetes resource quantities (``resource.Quantity``), exact.

Values are held as :class:`fractions.Fraction`, so ``"1Gi" == "1024Mi"`` and sums of
capacities never drift. Parsing follows apimachinery's grammar; values finer than 1n are
rounded up to 1n as upstream does. :func:`format_quantity` writes the canonical form.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from typing import Optional, Union

_BINARY = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5, "Ei": 1024**6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_RE = re.compile(r"^([+-]?)(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
_NANO = Fraction(1, 10**9)

BINARY_SI = "BinarySI"
DECIMAL_SI = "DecimalSI"
DECIMAL_EXPONENT = "DecimalExponent"


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


class Quantity:
    """An exact quantity, the format it was written in, and (sometimes) its original text.

    apimachinery keeps the text a quantity was parsed from when that text is already a
    cheap, exact int64 form (see :func:`_kept_text`) and prints it back verbatim, e.g.
    ``017Gi``; computed quantities print canonically. ``text`` mirrors that cache.
    """

    __slots__ = ("value", "fmt", "text")

    def __init__(self, value: Fraction, fmt: str = DECIMAL_SI, text: Optional[str] = None) -> None:
        self.value = value
        self.fmt = fmt
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.value == other.value

    def __lt__(self, other: "Quantity") -> bool:
        return self.value < other.value

    def __le__(self, other: "Quantity") -> bool:
        return self.value <= other.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return f"Quantity({format_quantity(self)!r})"

    def __str__(self) -> str:
        return format_quantity(self)

    def add(self, other: "Quantity") -> "Quantity":
        return Quantity(self.value + other.value, self.fmt)

    def sub(self, other: "Quantity") -> "Quantity":
        return Quantity(self.value - other.value, self.fmt)


QuantityLike = Union[str, int, float, Quantity]


@lru_cache(maxsize=65536)
def _parse_str(text: str) -> Quantity:
    if len(text) > 1000:
        raise QuantityError(f"quantity of {len(text)} characters is too long")
    m = _RE.match(text.strip()) if text else None
    if not m or text != text.strip():
        raise QuantityError(f"quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {text!r}")
    sign, digits, suffix = m.group(1), m.group(2), m.group(3) or ""
    value = Fraction(digits)
    if suffix in _BINARY:
        value *= _BINARY[suffix]
        fmt = BINARY_SI
    elif suffix in _DECIMAL:
        value *= Fraction(10) ** _DECIMAL[suffix]
        fmt = DECIMAL_SI
    else:
        exponent = int(suffix[1:])
        if abs(exponent) > 1000:
            # Exact arithmetic on 10**1e9 would never finish; no device has such capacity.
            raise QuantityError(f"quantity {text!r}: exponent {exponent} is out of range (at most 1000 in magnitude)")
        value *= Fraction(10) ** exponent
        fmt = DECIMAL_EXPONENT
    if sign == "-":
        value = -value
    kept = _kept_text(text, digits, suffix, fmt)
    # apimachinery keeps at most nano precision, rounding away from zero.
    scaled = value / _NANO
    if scaled.denominator != 1:
        whole = -((-abs(scaled)) // 1)
        value = (whole if value > 0 else -whole) * _NANO
    return Quantity(value, fmt, kept)


_MAX_INT64 = 2**63 - 1


def _kept_text(text: str, digits: str, suffix: str, fmt: str) -> Optional[str]:
    """The original text if apimachinery's ``ParseQuantity`` would cache it, else None.

    Its int64 fast path stores the input string when the number fits its precision budget
    and is not trivially reducible: for binary suffixes the mantissa is not a multiple of
    8; for decimal ones the scale is a multiple of 3, the digits do not end in ``000`` and
    do not start with ``0``.
    """
    if text == "0":
        return text
    num, _, denom = digits.partition(".")
    num = num.lstrip("0") or "0"
    if fmt == BINARY_SI:
        exponent = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}[suffix]
        if denom:
            return None
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1
        scale = 0
        mantissa = 1 << exponent
    else:
        scale = _DECIMAL[suffix] if fmt == DECIMAL_SI else int(suffix[1:])
        precision = 18 - (len(num) + len(denom))
        mantissa = 1
    if precision < 0:
        return None
    scale -= len(denom)
    if scale < -9:
        return None
    shifted = num + denom
    value = int(shifted)
    if value > _MAX_INT64 or value * mantissa > _MAX_INT64:
        return None
    if fmt == BINARY_SI:
        return text if value & 7 != 0 else None
    if scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0":
        return text
    return None


def parse_quantity(value: QuantityLike) -> Quantity:
    """Parse a quantity from YAML/JSON (strings, or plain numbers written unquoted)."""
    if isinstance(value, Quantity):
        return value
    if isinstance(value, bool):
        raise QuantityError(f"quantities must be strings or numbers, not {value!r}")
    if isinstance(value, int):
        return Quantity(Fraction(value), DECIMAL_SI)
    if isinstance(value, float):
        return _parse_str(repr(value) if "e" not in repr(value) else f"{value:f}")
    if isinstance(value, str):
        return _parse_str(value)
    raise QuantityError(f"quantities must be strings or numbers, not {type(value).__name__}")


def _split_exact(value: Fraction, base: int, max_steps: int, step_exp: int = 1) -> tuple[Fraction, int]:
    """Largest k <= max_steps with value / base**k still an integer."""
    k = 0
    while k < max_steps and value != 0 and (value / base ** (k + 1)).denominator == 1:
        k += 1
    return value / base**k, k


def format_quantity(q: Quantity) -> str:
    """The string apimachinery's ``Quantity.String()`` writes: kept text, else canonical."""
    if q.text is not None:
        return q.text
    value, fmt = q.value, q.fmt
    if value == 0:
        return "0"
    if fmt == BINARY_SI:
        if -1024 < value < 1024 or value.denominator != 1:
            fmt = DECIMAL_SI
        else:
            mant, k = _split_exact(value, 1024, 6)
            return f"{int(mant)}{['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'][k]}"
    # Decimal: integer mantissa with an exponent that is a multiple of 3, as large as exact.
    exp = -9
    mant = value * 10**9
    while exp < 18 and (mant / 1000).denominator == 1:
        mant /= 1000
        exp += 3
    mant_i = int(mant)
    if fmt == DECIMAL_EXPONENT:
        return f"{mant_i}" if exp == 0 else f"{mant_i}e{exp}"
    suffix = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}[exp]
    return f"{mant_i}{suffix}"
