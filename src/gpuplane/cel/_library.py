"""Kubernetes CEL libraries (quantity, semver, k8s lists, regex, DRA includes) for cel-expr-python.

Representation
--------------
At *runtime* a Quantity or Semver is a CEL ``bytes`` value starting with a tag (``\\x01Q`` /
``\\x01S``), NUL-free (cel-expr-python truncates Python bytes at a NUL).

* Semver: canonical and order-preserving (length-prefixed numbers and pre-release identifiers,
  no build metadata), so native ``==`` compares by value as upstream's ``Semver.Equal`` (build
  metadata ignored) and native ``<`` orders by semver precedence.
* Quantity: the exact value (integer number of nano-units, canonical and order-preserving),
  then ``\\x01`` and apimachinery's internal representation (``int64Amount`` scale, or
  ``inf.Dec``), because upstream's ``isInteger()``/``asInteger()`` depend on it
  (``quantity("1000m").isInteger()`` is false). Hence ``_analysis`` routes ``==``/``!=`` on
  quantities to :func:`f_equals`, and compares against literals natively with the literal's
  lower/upper bound (:func:`quantity_bounds`).

Order preservation lets ``_analysis`` turn ``a.compareTo(quantity("40Gi")) >= 0``,
``isGreaterThan`` and ``isLessThan`` into native comparisons (no Python call). Bytes also
cross into Python cheaply (a proto message costs ~1.5 us per crossing, measured).

At *type-check* time the same functions are declared with the message types
``kubernetes.Quantity`` / ``kubernetes.Semver`` (see ``_protos.py``), so ``quantity("1") < 2``,
``quantity("1") == "1"`` and ``semver("1.0.0").compareTo(quantity("1"))`` are compile errors
with upstream's type names.

cel-expr-python registers runtime overloads by argument *kind* and a ``dyn`` parameter never
matches at runtime, so every runtime overload below is declared with concrete kinds, and
functions shared by Quantity and Semver (``compareTo`` ...) have one bytes implementation that
dispatches on the tag.
"""

from __future__ import annotations

import datetime
import math
import re
from fractions import Fraction
from functools import lru_cache

from cel_expr_python import cel

from gpuplane.api.quantity import QuantityError, parse_quantity
from gpuplane.api.semver import Semver, SemverError, parse_semver

QTAG = b"\x01Q"
STAG = b"\x01S"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INT64_MIN, _INT64_MAX = INT64_MIN, INT64_MAX


class LibError(ValueError):
    """An evaluation error raised inside a library function (becomes a CEL error value)."""


# ---------------------------------------------------------------------------------------------
# encoding (see the module docstring)

_COMPLEMENT = str.maketrans("0123456789", "9876543210")


def _enc_nat(n: int) -> bytes:
    d = str(n)
    return f"{len(d):03d}".encode() + d.encode()


def _enc_int(k: int) -> bytes:
    if k == 0:
        return b"O"
    d = str(abs(k))
    if k > 0:
        return b"P" + f"{len(d):03d}".encode() + d.encode()
    return b"N" + f"{999 - len(d):03d}".encode() + d.translate(_COMPLEMENT).encode()


def _dec_int(b: bytes) -> int:
    if b == b"O":
        return 0
    digits = b[4:].decode()
    if b[:1] == b"P" and len(digits) == int(b[1:4]):
        return int(digits)
    if b[:1] == b"N" and len(digits) == 999 - int(b[1:4]):
        return -int(digits.translate(_COMPLEMENT))
    raise ValueError("bad quantity encoding")


_NANO = 10**9


class K8sQuantity:
    """A quantity as apimachinery holds it: the exact value plus its internal representation,
    ``int64Amount{value, scale}`` (``scale`` not None) or ``inf.Dec`` (``scale`` None).
    The representation decides ``isInteger()``/``asInteger()`` (``Quantity.AsInt64``):
    ``quantity("1000m").isInteger()`` and ``quantity("1.5Gi").isInteger()`` are false upstream."""

    __slots__ = ("value", "scale")

    def __init__(self, value: Fraction, scale: int | None) -> None:
        self.value = value
        self.scale = scale

    def int64_amount(self) -> int | None:
        """``int64Amount.value`` when the representation is int64Amount."""
        if self.scale is None:
            return None
        v = self.value / Fraction(10) ** self.scale
        return v.numerator if v.denominator == 1 else None

    def as_int64(self) -> int | None:
        """apimachinery ``Quantity.AsInt64``."""
        amount = self.int64_amount()
        if amount is None or self.scale < 0:
            return None
        v = amount * 10**self.scale
        return v if _INT64_MIN <= v <= _INT64_MAX else None

    def approximate_float(self) -> float:
        """apimachinery ``AsApproximateFloat64``: base * Pow10(exponent)."""
        amount = self.int64_amount()
        try:
            if amount is not None:
                return float(amount) if self.scale == 0 else float(amount) * 10.0**self.scale
            nano = self.value * _NANO
            return float(nano.numerator // nano.denominator) * 1e-9 if self.value else 0.0
        except OverflowError:
            return math.inf if self.value > 0 else -math.inf


# binary suffix exponents and decimal suffix exponents as in apimachinery's suffix tables
_BIN_EXP = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DEC_EXP = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def _int64_representation(text: str) -> tuple[int, int] | None:
    """(value, scale) when apimachinery's ``ParseQuantity`` builds an int64Amount, else None.

    Mirrors parseQuantityString + the fast path of ParseQuantity (k8s.io/apimachinery
    pkg/api/resource/quantity.go); ``text`` is already known to be a valid quantity."""
    if text == "0":
        return (0, 0)
    pos, end = 0, len(text)
    positive = True
    if pos < end and text[pos] in "+-":
        positive = text[pos] != "-"
        pos += 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:  # only zeros: num "0", no suffix
        return _fast_path("0", "", "", positive)
    start = pos
    while pos < end and text[pos].isdigit():
        pos += 1
    num = text[start:pos] or "0"
    denom = ""
    if pos < end and text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos].isdigit():
            pos += 1
        denom = text[start:pos]
    return _fast_path(num, denom, text[pos:], positive)


def _fast_path(num: str, denom: str, suffix: str, positive: bool) -> tuple[int, int] | None:
    if suffix in _DEC_EXP:
        scale, binary, exponent = _DEC_EXP[suffix], False, _DEC_EXP[suffix]
    elif suffix in _BIN_EXP:
        scale, binary, exponent = 0, True, _BIN_EXP[suffix]
    elif len(suffix) > 1 and suffix[0] in "eE":
        exponent = int(suffix[1:])
        if not -(2**31) <= exponent < 2**31:
            return None
        scale, binary = exponent, False
    else:
        return None
    mantissa = 1
    if not binary:
        precision = 18 - (len(num) + len(denom))
    elif exponent >= 0 and not denom:
        mantissa = 1 << exponent
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1
    else:
        precision = -1
    if precision < 0:
        return None
    scale -= len(denom)
    if scale < -9:
        return None
    value = int(num + denom)
    result = value * mantissa
    if not _INT64_MIN <= result <= _INT64_MAX:
        return None
    return (result if positive else -result, scale)


def _int64_add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int] | None:
    """apimachinery ``int64Amount.Add``: None when it would overflow (-> inf.Dec)."""
    (av, asc), (bv, bsc) = a, b
    if bv == 0:
        return a
    if av == 0:
        return b
    if asc == bsc:
        c = av + bv
    elif asc > bsc:
        c = av * 10 ** (asc - bsc)
        if not _INT64_MIN <= c <= _INT64_MAX:
            return None
        c, asc = c + bv, bsc
    else:
        c = bv * 10 ** (bsc - asc)
        if not _INT64_MIN <= c <= _INT64_MAX:
            return None
        c = av + c
    if not _INT64_MIN <= c <= _INT64_MAX:
        return None
    return (c, asc)


def _enc_value(value: Fraction) -> bytes:
    k = value * _NANO
    if k.denominator != 1:
        k = -((-k.numerator) // k.denominator)  # ceil, as apimachinery rounds up
    return QTAG + _enc_int(int(k))


def encode_k8s_quantity(q: K8sQuantity) -> bytes:
    """Value part (canonical, order-preserving) + ``\\x01`` + representation (``I<scale>`` or
    ``D``). Only the value part takes part in comparisons; see quantity_bounds."""
    rep = b"D" if q.scale is None else b"I" + _enc_int(q.scale)
    return _enc_value(q.value) + b"\x01" + rep


def quantity_bounds(encoded: bytes) -> tuple[bytes, bytes]:
    """(lo, hi) with lo <= every encoding of the same value <= hi, lo/hi < any other value."""
    value_part = encoded[: encoded.index(b"\x01", 2)]
    return value_part + b"\x01", value_part + b"\x02"


def encode_quantity(value: Fraction, text: str | None = None) -> bytes:
    rep = _int64_representation(text) if text is not None else None
    return encode_k8s_quantity(K8sQuantity(value, rep[1] if rep is not None else None))


def encode_semver(v: Semver) -> bytes:
    out = [STAG, _enc_nat(v.major), _enc_nat(v.minor), _enc_nat(v.patch)]
    if v.pre:
        out.append(b"\x02")
        for ident in v.pre:
            if ident.isdigit():
                out.append(b"\x02" + _enc_nat(int(ident)) + b"\x01")
            else:
                out.append(b"\x03" + ident.encode() + b"\x01")
    else:
        out.append(b"\x03")  # a release sorts after all of its pre-releases
    return b"".join(out)


def _dec_semver(b: bytes) -> Semver:
    pos = 0

    def nat() -> int:
        nonlocal pos
        n = int(b[pos : pos + 3])
        val = int(b[pos + 3 : pos + 3 + n])
        pos += 3 + n
        return val

    major, minor, patch = nat(), nat(), nat()
    pre: list[str] = []
    if b[pos : pos + 1] == b"\x02":
        pos += 1
        while pos < len(b):
            kind = b[pos : pos + 1]
            pos += 1
            if kind == b"\x02":
                pre.append(str(nat()))
            elif kind == b"\x03":
                end = b.index(b"\x01", pos)
                pre.append(b[pos:end].decode())
                pos = end
            else:
                raise ValueError("bad semver encoding")
            if b[pos : pos + 1] != b"\x01":
                raise ValueError("bad semver encoding")
            pos += 1
    elif b[pos:] != b"\x03":
        raise ValueError("bad semver encoding")
    text = f"{major}.{minor}.{patch}" + ("-" + ".".join(pre) if pre else "")
    return Semver(major, minor, patch, tuple(pre), "", text)


_DECODED: dict[bytes, object] = {}


def _decode(b) -> object:
    key = bytes(b)
    obj = _DECODED.get(key)
    if obj is not None:
        return obj
    tag = key[:2]
    try:
        if tag == QTAG:
            sep = key.index(b"\x01", 2)
            rep = key[sep + 1 :]
            if rep == b"D":
                scale = None
            elif rep[:1] == b"I":
                scale = _dec_int(rep[1:])
            else:
                raise ValueError("bad quantity encoding")
            obj = K8sQuantity(Fraction(_dec_int(key[2:sep]), _NANO), scale)
        elif tag == STAG:
            obj = _dec_semver(key[2:])
        else:
            raise LibError("no such overload")
    except (ValueError, IndexError, UnicodeDecodeError):
        raise LibError("no such overload") from None
    if len(_DECODED) > 65536:
        _DECODED.clear()
    _DECODED[key] = obj
    return obj


def _q(b) -> K8sQuantity:
    v = _decode(b)
    if not isinstance(v, K8sQuantity):
        raise LibError("no such overload")
    return v


def _sv(b) -> Semver:
    v = _decode(b)
    if not isinstance(v, Semver):
        raise LibError("no such overload")
    return v


@lru_cache(maxsize=4096)
def quantity_bytes(text: str) -> bytes:
    """Encode a quantity string; raises QuantityError."""
    return encode_quantity(parse_quantity(text).value, text)


def capacity_bytes(raw) -> bytes:
    """A DeviceCapacity value (str, or a number written unquoted) as upstream's JSON decoding
    would parse it; raises QuantityError."""
    if isinstance(raw, str):
        return quantity_bytes(raw.strip())
    if isinstance(raw, bool):
        raise QuantityError(f"quantities must be strings or numbers, not {raw!r}")
    if isinstance(raw, int):
        return quantity_bytes(str(raw))
    if isinstance(raw, float):
        text = repr(raw)
        return quantity_bytes(text if "e" not in text and "inf" not in text and "nan" not in text else f"{raw:f}")
    return encode_quantity(parse_quantity(raw).value)


def _normalize_and_parse(s: str) -> Semver:
    """Upstream ``normalizeAndParse`` (semverlib.go): drop one leading "v", strip leading zeros
    of the three dot-separated parts, pad ``1`` / ``1.2`` with zeros, then parse strictly."""
    if s.startswith("v"):
        s = s[1:]
    parts = s.split(".", 2)
    for i, p in enumerate(parts):
        if len(p) > 1:
            p = p.lstrip("0")
            if not p or p[0] not in "0123456789":
                p = "0" + p
            parts[i] = p
    if len(parts) < 3:
        if any(c in parts[-1] for c in "+-"):
            raise SemverError("short version cannot contain PreRelease/Build meta data")
        parts += ["0"] * (3 - len(parts))
    return parse_semver(".".join(parts))


@lru_cache(maxsize=4096)
def semver_bytes(text: str, normalize: bool = False) -> bytes:
    """Encode a semver string; raises SemverError."""
    return encode_semver(_normalize_and_parse(text) if normalize else parse_semver(text))


# ---------------------------------------------------------------------------------------------
# quantity library


_QUANTITY_FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def f_quantity(s: str) -> bytes:
    try:
        return quantity_bytes(s)
    except QuantityError:
        raise LibError(_QUANTITY_FORMAT_ERROR) from None


def f_is_quantity(s: str) -> bool:
    try:
        quantity_bytes(s)
        return True
    except QuantityError:
        return False


def f_sign(b) -> int:
    v = _q(b).value
    return (v > 0) - (v < 0)


def f_is_integer(b) -> bool:
    return _q(b).as_int64() is not None


def f_as_integer(b) -> int:
    v = _q(b).as_int64()
    if v is None:
        raise LibError("cannot convert value to integer")
    return v


def f_as_approximate_float(b) -> float:
    return _q(b).approximate_float()


def _arith(a, b, sign: int) -> bytes:
    """apimachinery ``Quantity.Add``/``Sub`` on a copy (int with ``NewQuantity(i, DecimalExponent)``)."""
    x = _q(a)
    y = K8sQuantity(Fraction(b), 0) if isinstance(b, int) else _q(b)
    rep = None
    xa, ya = x.int64_amount(), y.int64_amount()
    if xa is not None and ya is not None:
        rep = _int64_add((xa, x.scale), (sign * ya, y.scale))
    return encode_k8s_quantity(K8sQuantity(x.value + sign * y.value, rep[1] if rep is not None else None))


def f_add(a, b) -> bytes:
    return _arith(a, b, 1)


def f_sub(a, b) -> bytes:
    return _arith(a, b, -1)


def _cmp(a, b) -> int:
    x, y = _decode(a), _decode(b)
    if isinstance(x, K8sQuantity) and isinstance(y, K8sQuantity):
        return (x.value > y.value) - (x.value < y.value)
    if isinstance(x, Semver) and isinstance(y, Semver):
        return x.compare(y)
    raise LibError("no such overload")


def f_compare_to(a, b) -> int:
    return _cmp(a, b)


def f_is_greater_than(a, b) -> bool:
    return _cmp(a, b) > 0


def f_is_less_than(a, b) -> bool:
    return _cmp(a, b) < 0


def f_equals(a, b) -> bool:
    """cel-go ``types.Equal`` with upstream's Quantity/Semver ``Equal`` on the left."""
    if isinstance(a, (bytes, bytearray)) and bytes(a[:2]) in (QTAG, STAG):
        x = _decode(a)
        y = _decode(b) if isinstance(b, (bytes, bytearray)) and bytes(b[:2]) in (QTAG, STAG) else None
        if isinstance(x, K8sQuantity) and isinstance(y, K8sQuantity):
            return x.value == y.value
        if isinstance(x, Semver) and isinstance(y, Semver):
            return x.compare(y) == 0
        raise LibError("no such overload")
    if isinstance(b, (bytes, bytearray)) and bytes(b[:2]) == QTAG:
        return False  # int/string/... Equal(Quantity) is false
    return cel_equal(a, b)


# ---------------------------------------------------------------------------------------------
# semver library


def f_semver(s: str, normalize: bool = False) -> bytes:
    try:
        return semver_bytes(s, bool(normalize))
    except SemverError as e:
        raise LibError(str(e)) from None


def f_is_semver(s: str, normalize: bool = False) -> bool:
    try:
        semver_bytes(s, bool(normalize))
        return True
    except SemverError:
        return False


def f_major(b) -> int:
    return _sv(b).major


def f_minor(b) -> int:
    return _sv(b).minor


def f_patch(b) -> int:
    return _sv(b).patch


# ---------------------------------------------------------------------------------------------
# CEL value helpers for lists passed into Python

_NUM = (int, float)


def _cls(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, _NUM):
        return "num"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (bytes, bytearray)):
        return "bytes"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        return "map"
    if isinstance(v, datetime.timedelta):
        return "duration"
    if isinstance(v, datetime.datetime):
        return "timestamp"
    return type(v).__name__


def cel_equal(a, b) -> bool:
    """CEL heterogeneous equality on values converted to Python."""
    ca, cb = _cls(a), _cls(b)
    if ca != cb:
        return False
    if ca == "bytes":
        return bytes(a) == bytes(b)
    if ca == "list":
        return len(a) == len(b) and all(cel_equal(x, y) for x, y in zip(a, b))
    if ca == "map":
        if len(a) != len(b):
            return False
        for k, v in a.items():
            found = False
            for k2, v2 in b.items():
                if cel_equal(k, k2):
                    found = cel_equal(v, v2)
                    break
            if not found:
                return False
        return True
    try:
        return bool(a == b)
    except Exception:  # pragma: no cover - defensive
        return False


_COMPARABLE = {"num", "string", "bytes", "bool", "duration", "timestamp"}


def _check_comparable(xs: list) -> None:
    kinds = {_cls(x) for x in xs}
    if len(kinds) > 1 or (kinds and not kinds <= _COMPARABLE):
        raise LibError("no such overload")


def _key(x):
    return bytes(x) if isinstance(x, bytearray) else x


def f_is_sorted(xs: list) -> bool:
    _check_comparable(xs)
    ks = [_key(x) for x in xs]
    return all(ks[i - 1] <= ks[i] for i in range(1, len(ks)))


_NOT_RETURNABLE = "lists of durations or timestamps are not supported by sum/min/max here"


def f_sum(xs: list):
    if not xs:
        return 0
    kinds = {_cls(x) for x in xs}
    if kinds & {"duration", "timestamp"}:
        raise LibError(_NOT_RETURNABLE)  # cel-expr-python cannot return them from Python
    if len(kinds) != 1 or not kinds <= {"num"}:
        raise LibError("no such overload")
    if all(isinstance(x, int) for x in xs):
        s = sum(xs)
        if not INT64_MIN <= s <= 2**64 - 1:
            raise LibError("integer overflow")
        return s
    return float(sum(xs))


def f_min(xs: list):
    if not xs:
        raise LibError("min called on empty list")
    _check_comparable(xs)
    if isinstance(xs[0], (datetime.timedelta, datetime.datetime)):
        raise LibError(_NOT_RETURNABLE)
    best = xs[0]
    for x in xs[1:]:
        if _key(x) < _key(best):
            best = x
    return bytes(best) if isinstance(best, bytearray) else best


def f_max(xs: list):
    if not xs:
        raise LibError("max called on empty list")
    _check_comparable(xs)
    if isinstance(xs[0], (datetime.timedelta, datetime.datetime)):
        raise LibError(_NOT_RETURNABLE)
    best = xs[0]
    for x in xs[1:]:
        if _key(x) > _key(best):
            best = x
    return bytes(best) if isinstance(best, bytearray) else best


def f_index_of(xs: list, v) -> int:
    for i, x in enumerate(xs):
        if cel_equal(x, v):
            return i
    return -1


def f_last_index_of(xs: list, v) -> int:
    for i in range(len(xs) - 1, -1, -1):
        if cel_equal(xs[i], v):
            return i
    return -1


def f_includes(recv, v) -> bool:
    if isinstance(recv, list):
        return any(cel_equal(x, v) for x in recv)
    return cel_equal(recv, v)


# ---------------------------------------------------------------------------------------------
# k8s regex library
#
# Upstream uses RE2 (linear time). Python's ``re`` backtracks, so a hostile pattern could run for
# hours inside one evaluation. Without RE2 bindings installed (``google-re2``, used when
# importable) patterns are screened: no back-references or look-arounds (not RE2 syntax either),
# no repetition of a sub-pattern that itself repeats or alternates (``(a+)+``, ``(a|aa)*``), at
# most 3 unbounded repetitions, and the searched string is limited to 4096 characters.

try:  # pragma: no cover - optional dependency
    import re2 as _re2  # type: ignore[import-not-found]
except Exception:  # pragma: no cover
    _re2 = None

try:
    import re._constants as _sre_c
    import re._parser as _sre_p
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as _sre_c  # type: ignore[no-redef]
    import sre_parse as _sre_p  # type: ignore[no-redef]

FIND_MAX_INPUT = 4096
_MAX_UNBOUNDED_REPEATS = 3
_REPEATS = {_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT, getattr(_sre_c, "POSSESSIVE_REPEAT", None)} - {None}
_FORBIDDEN = {_sre_c.GROUPREF, _sre_c.GROUPREF_EXISTS, _sre_c.ASSERT, _sre_c.ASSERT_NOT}


def _screen(items, inside_repeat: bool, counts: list) -> None:
    for op, av in items:
        if op in _FORBIDDEN:
            raise LibError("error parsing regexp: invalid or unsupported Perl syntax")
        if op in _REPEATS:
            lo, hi, sub = av
            if hi > 1:
                if inside_repeat:
                    raise LibError("regexp not supported: nested repetition could take exponential time")
                if hi == _sre_c.MAXREPEAT:
                    counts[0] += 1
            _screen(sub, inside_repeat or hi > 1, counts)
        elif op == _sre_c.BRANCH:
            if inside_repeat:
                raise LibError("regexp not supported: repeated alternation could take exponential time")
            for branch in av[1]:
                _screen(branch, inside_repeat, counts)
        elif op == _sre_c.SUBPATTERN:
            _screen(av[-1], inside_repeat, counts)
        elif op == getattr(_sre_c, "ATOMIC_GROUP", object()):
            _screen(av, inside_repeat, counts)
    if counts[0] > _MAX_UNBOUNDED_REPEATS:
        raise LibError(f"regexp not supported: more than {_MAX_UNBOUNDED_REPEATS} unbounded repetitions")


@lru_cache(maxsize=256)
def _regex(pattern: str):
    if _re2 is not None:  # pragma: no cover - optional dependency
        try:
            return _re2.compile(pattern)
        except Exception as e:
            raise LibError(f"error parsing regexp: {e}") from None
    try:
        tree = _sre_p.parse(pattern)
        compiled = re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as e:
        raise LibError(f"error parsing regexp: {e}") from None
    _screen(tree.data if hasattr(tree, "data") else list(tree), False, [0])
    return compiled


def _searchable(s: str) -> str:
    if _re2 is None and len(s) > FIND_MAX_INPUT:
        raise LibError(f"find/findAll: string longer than {FIND_MAX_INPUT} characters")
    return s


def f_find(s: str, pattern: str) -> str:
    m = _regex(pattern).search(_searchable(s))
    return m.group(0) if m else ""


def f_find_all(s: str, pattern: str, limit: int = -1) -> list:
    if limit == 0:
        return []
    out = []
    for m in _regex(pattern).finditer(_searchable(s)):
        out.append(m.group(0))
        if 0 < limit <= len(out):
            break
    return out


# ---------------------------------------------------------------------------------------------
# runtime registration (kinds only; the runtime env never type-checks)

T = cel.Type
_SCALAR_KINDS = [T.INT, T.UINT, T.DOUBLE, T.BOOL, T.STRING, T.BYTES]
_ALL_KINDS = _SCALAR_KINDS + [T.LIST, T.MAP, T.DURATION, T.TIMESTAMP]


def _wrap(fn):
    """Turn Python exceptions into CEL errors with a clean message."""

    def impl(*args):
        try:
            return fn(*args)
        except LibError:
            raise
        except RecursionError:
            raise LibError("recursion limit exceeded") from None
        except Exception as e:  # defensive: never let odd inputs escape as non-CEL errors
            raise LibError(f"{type(e).__name__}: {e}") from None

    impl.__name__ = getattr(fn, "__name__", "impl")
    return impl


NO_SUCH_OVERLOAD_FN = "@gpuplane_no_such_overload"
EQUALS_FN = "@gpuplane_equals"
NOT_EQUALS_FN = "@gpuplane_not_equals"


def f_not_equals(a, b) -> bool:
    """cel-go ``!=``: ``Equal(a, b) != true`` -- never an error."""
    try:
        return f_equals(a, b) is not True
    except LibError:
        return True


def f_no_such_overload(_value) -> bool:
    raise LibError("no such overload")


def runtime_extension() -> cel.CelExtension:
    decls: dict[str, list] = {}
    n = 0

    def add(name, ret, params, member, fn):
        nonlocal n
        n += 1
        decls.setdefault(name, []).append(cel.Overload(f"gpuplane_rt_{name}_{n}", ret, params, is_member=member, impl=_wrap(fn)))

    S, B, I, L = T.STRING, T.BYTES, T.INT, T.LIST
    add("quantity", B, [S], False, f_quantity)
    add("isQuantity", T.BOOL, [S], False, f_is_quantity)
    add("sign", I, [B], False, f_sign)
    add("isInteger", T.BOOL, [B], True, f_is_integer)
    add("asInteger", I, [B], True, f_as_integer)
    add("asApproximateFloat", T.DOUBLE, [B], True, f_as_approximate_float)
    add("add", B, [B, B], True, f_add)
    add("add", B, [B, I], True, f_add)
    add("sub", B, [B, B], True, f_sub)
    add("sub", B, [B, I], True, f_sub)
    add("compareTo", I, [B, B], True, f_compare_to)
    add("isGreaterThan", T.BOOL, [B, B], True, f_is_greater_than)
    add("isLessThan", T.BOOL, [B, B], True, f_is_less_than)
    add("semver", B, [S], False, f_semver)
    add("semver", B, [S, T.BOOL], False, f_semver)
    add("isSemver", T.BOOL, [S], False, f_is_semver)
    add("isSemver", T.BOOL, [S, T.BOOL], False, f_is_semver)
    add("major", I, [B], True, f_major)
    add("minor", I, [B], True, f_minor)
    add("patch", I, [B], True, f_patch)
    add("isSorted", T.BOOL, [L], True, f_is_sorted)
    add("sum", T.DYN, [L], True, f_sum)
    add("min", T.DYN, [L], True, f_min)
    add("max", T.DYN, [L], True, f_max)
    for k in _ALL_KINDS:
        add("indexOf", I, [L, k], True, f_index_of)
        add("lastIndexOf", I, [L, k], True, f_last_index_of)
    add("find", S, [S, S], True, f_find)
    add("findAll", L, [S, S], True, f_find_all)
    add("findAll", L, [S, S, I], True, f_find_all)
    for r in _SCALAR_KINDS + [L]:
        for k in _SCALAR_KINDS:
            add("includes", T.BOOL, [r, k], True, f_includes)
    for k in _ALL_KINDS:
        add(NO_SUCH_OVERLOAD_FN, T.BOOL, [k], False, f_no_such_overload)
        for k2 in _ALL_KINDS:
            add(EQUALS_FN, T.BOOL, [k, k2], False, f_equals)
            add(NOT_EQUALS_FN, T.BOOL, [k, k2], False, f_not_equals)
    return cel.CelExtension("gpuplane_k8s_runtime", [cel.FunctionDecl(name, ovs) for name, ovs in decls.items()])


# ---------------------------------------------------------------------------------------------
# type-check declarations (no implementations)

QUANTITY_TYPE = "kubernetes.Quantity"
SEMVER_TYPE = "kubernetes.Semver"


def _t(name: str, *params: str) -> str:
    if name.isupper() and len(name) == 1:
        return f"{{type_name: {name}, is_type_param: true}}"
    if params:
        return f"{{type_name: {name}, params: [{', '.join(params)}]}}"
    return f"{{type_name: {name}}}"


# upstream library/lists.go
_SUMMABLE_TYPES = [("int", "int"), ("uint", "uint"), ("double", "double"), ("duration", "google.protobuf.Duration")]
_COMPARABLE_TYPES = [
    ("int", "int"),
    ("uint", "uint"),
    ("double", "double"),
    ("bool", "bool"),
    ("duration", "google.protobuf.Duration"),
    ("timestamp", "google.protobuf.Timestamp"),
    ("string", "string"),
    ("bytes", "bytes"),
]

# (function, overload id, target or None, [args], return)
_CHECK_DECLS = [
    ("quantity", "string_to_quantity", None, [_t("string")], _t(QUANTITY_TYPE)),
    ("isQuantity", "is_quantity_string", None, [_t("string")], _t("bool")),
    ("sign", "quantity_sign", None, [_t(QUANTITY_TYPE)], _t("int")),
    ("isInteger", "quantity_is_integer", _t(QUANTITY_TYPE), [], _t("bool")),
    ("asInteger", "quantity_get_integer", _t(QUANTITY_TYPE), [], _t("int")),
    ("asApproximateFloat", "quantity_get_float", _t(QUANTITY_TYPE), [], _t("double")),
    ("add", "quantity_add", _t(QUANTITY_TYPE), [_t(QUANTITY_TYPE)], _t(QUANTITY_TYPE)),
    ("add", "quantity_add_int", _t(QUANTITY_TYPE), [_t("int")], _t(QUANTITY_TYPE)),
    ("sub", "quantity_sub", _t(QUANTITY_TYPE), [_t(QUANTITY_TYPE)], _t(QUANTITY_TYPE)),
    ("sub", "quantity_sub_int", _t(QUANTITY_TYPE), [_t("int")], _t(QUANTITY_TYPE)),
    ("isGreaterThan", "quantity_is_greater_than", _t(QUANTITY_TYPE), [_t(QUANTITY_TYPE)], _t("bool")),
    ("isGreaterThan", "semver_is_greater_than", _t(SEMVER_TYPE), [_t(SEMVER_TYPE)], _t("bool")),
    ("isLessThan", "quantity_is_less_than", _t(QUANTITY_TYPE), [_t(QUANTITY_TYPE)], _t("bool")),
    ("isLessThan", "semver_is_less_than", _t(SEMVER_TYPE), [_t(SEMVER_TYPE)], _t("bool")),
    ("compareTo", "quantity_compare_to", _t(QUANTITY_TYPE), [_t(QUANTITY_TYPE)], _t("int")),
    ("compareTo", "semver_compare_to", _t(SEMVER_TYPE), [_t(SEMVER_TYPE)], _t("int")),
    ("semver", "string_to_semver", None, [_t("string")], _t(SEMVER_TYPE)),
    ("semver", "string_bool_to_semver", None, [_t("string"), _t("bool")], _t(SEMVER_TYPE)),
    ("isSemver", "is_semver_string", None, [_t("string")], _t("bool")),
    ("isSemver", "is_semver_string_bool", None, [_t("string"), _t("bool")], _t("bool")),
    ("major", "semver_major", _t(SEMVER_TYPE), [], _t("int")),
    ("minor", "semver_minor", _t(SEMVER_TYPE), [], _t("int")),
    ("patch", "semver_patch", _t(SEMVER_TYPE), [], _t("int")),
    *[("isSorted", f"list_{n}_is_sorted_bool", _t("list", _t(t)), [], _t("bool")) for n, t in _COMPARABLE_TYPES],
    *[("sum", f"list_{n}_sum_{n}", _t("list", _t(t)), [], _t(t)) for n, t in _SUMMABLE_TYPES],
    *[("max", f"list_{n}_max_{n}", _t("list", _t(t)), [], _t(t)) for n, t in _COMPARABLE_TYPES],
    *[("min", f"list_{n}_min_{n}", _t("list", _t(t)), [], _t(t)) for n, t in _COMPARABLE_TYPES],
    ("find", "string_find_string", _t("string"), [_t("string")], _t("string")),
    ("findAll", "string_find_all_string", _t("string"), [_t("string")], _t("list", _t("string"))),
    ("findAll", "string_find_all_string_int", _t("string"), [_t("string"), _t("int")], _t("list", _t("string"))),
    ("includes", "list_includes_dyn_dyn", _t("dyn"), [_t("dyn")], _t("bool")),
]

# The strings extension also declares indexOf/lastIndexOf; a YAML declaration of the same name
# is rejected ("declared multiple times"), but a CelExtension's declarations are merged.
CHECK_MERGED_DECLS = [("indexOf", "list_index_of"), ("lastIndexOf", "list_last_index_of")]

EXTENSIONS_YAML = """extensions:
  - name: strings
  - name: sets
  - name: lists
  - name: two-var-comprehensions
  - name: bindings
  - name: optional
"""


def checker_yaml() -> str:
    by_name: dict[str, list[str]] = {}
    for name, oid, target, args, ret in _CHECK_DECLS:
        lines = [f"      - id: {oid}"]
        if target is not None:
            lines.append(f"        target: {target}")
        if args:
            lines.append(f"        args: [{', '.join(args)}]")
        lines.append(f"        return: {ret}")
        by_name.setdefault(name, []).append("\n".join(lines))
    out = [EXTENSIONS_YAML.rstrip("\n"), "functions:"]
    for name, ovs in by_name.items():
        out.append(f"  - name: {name}\n    overloads:\n" + "\n".join(ovs))
    return "\n".join(out) + "\n"


def checker_extension() -> cel.CelExtension:
    L, D = T.List(T.DYN), T.DYN
    return cel.CelExtension(
        "gpuplane_k8s_check",
        [cel.FunctionDecl(name, [cel.Overload(oid, T.INT, [L, D], is_member=True)]) for name, oid in CHECK_MERGED_DECLS],
    )


# Functions whose runtime implementation lives in this module (used by the cost estimator).
PY_FUNCTIONS = frozenset(name for name, *_ in _CHECK_DECLS) | {"indexOf", "lastIndexOf"}
