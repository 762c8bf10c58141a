"""Kubernetes CEL libraries (quantity, semver, k8s lists, regex, DRA includes) for cel-expr-python.

Representation
--------------
At *runtime* a Quantity or Semver is a CEL ``bytes`` value: a tag (``\\x01Q`` / ``\\x01S``)
and a canonical, order-preserving encoding of the value (a quantity as the integer number of
nano-units, a version as length-prefixed numbers and pre-release identifiers without build
metadata). Canonical means equal values have equal bytes, so CEL's native ``==`` compares by
value (``quantity("1Gi") == quantity("1024Mi")``; build metadata is ignored, as upstream).
Order-preserving means native ``bytes < bytes`` orders two values of the same kind, which lets
``_analysis`` turn ``a.compareTo(b) >= 0`` / ``isGreaterThan`` / ``isLessThan`` into native
comparisons (no Python call). Bytes also cross into Python cheaply (a proto message costs
~1.5 us per crossing, measured).

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
import re
from fractions import Fraction
from functools import lru_cache

from cel_expr_python import cel

from gpuplane.api.quantity import QuantityError, parse_quantity
from gpuplane.api.semver import Semver, SemverError, parse_semver

QTAG = b"\x01Q"
STAG = b"\x01S"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INCLUDES_MAX_LIST = 48


class LibError(ValueError):
    """An evaluation error raised inside a library function (becomes a CEL error value)."""


# ---------------------------------------------------------------------------------------------
# encoding
#
# Order-preserving and NUL-free (cel-expr-python truncates Python bytes at the first NUL):
# ``bytes < bytes`` on two encodings of the same kind orders them like the values, so
# compareTo/isGreaterThan/isLessThan can be rewritten to native comparisons (_analysis).

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


def encode_quantity(value: Fraction) -> bytes:
    """Quantities are exact multiples of 1n (apimachinery's precision); encode value*1e9."""
    k = value * _NANO
    if k.denominator != 1:
        k = -((-k.numerator) // k.denominator)  # ceil, as apimachinery rounds up
    return QTAG + _enc_int(int(k))


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
            obj = Fraction(_dec_int(key[2:]), _NANO)
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


def _q(b) -> Fraction:
    v = _decode(b)
    if not isinstance(v, Fraction):
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
    return encode_quantity(parse_quantity(text).value)


@lru_cache(maxsize=4096)
def semver_bytes(text: str, normalize: bool = False) -> bytes:
    """Encode a semver string; raises SemverError."""
    return encode_semver(parse_semver(text, normalize))


# ---------------------------------------------------------------------------------------------
# quantity library


def f_quantity(s: str) -> bytes:
    try:
        return quantity_bytes(s)
    except QuantityError as e:
        raise LibError(str(e)) from None


def f_is_quantity(s: str) -> bool:
    try:
        quantity_bytes(s)
        return True
    except QuantityError:
        return False


def f_sign(b) -> int:
    v = _q(b)
    return (v > 0) - (v < 0)


def f_is_integer(b) -> bool:
    v = _q(b)
    return v.denominator == 1 and INT64_MIN <= v.numerator <= INT64_MAX


def f_as_integer(b) -> int:
    v = _q(b)
    if v.denominator != 1 or not INT64_MIN <= v.numerator <= INT64_MAX:
        raise LibError("cannot convert value to integer")
    return v.numerator


def f_as_approximate_float(b) -> float:
    v = _q(b)
    try:
        return float(v)
    except OverflowError:
        return float("inf") if v > 0 else float("-inf")


def f_add(a, b) -> bytes:
    other = Fraction(b) if isinstance(b, int) else _q(b)
    return encode_quantity(_q(a) + other)


def f_sub(a, b) -> bytes:
    other = Fraction(b) if isinstance(b, int) else _q(b)
    return encode_quantity(_q(a) - other)


def _cmp(a, b) -> int:
    x, y = bytes(a), bytes(b)
    tag = x[:2]
    if tag != y[:2] or tag not in (QTAG, STAG):
        raise LibError("no such overload")
    _decode(x), _decode(y)  # validate
    return (x > y) - (x < y)


def f_compare_to(a, b) -> int:
    return _cmp(a, b)


def f_is_greater_than(a, b) -> bool:
    return _cmp(a, b) > 0


def f_is_less_than(a, b) -> bool:
    return _cmp(a, b) < 0


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


def f_sum(xs: list):
    if not xs:
        return 0
    kinds = {_cls(x) for x in xs}
    if len(kinds) != 1 or not kinds <= {"num", "duration"}:
        raise LibError("no such overload")
    if "duration" in kinds:
        total = datetime.timedelta(0)
        for x in xs:
            total += x
        return total
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
    best = xs[0]
    for x in xs[1:]:
        if _key(x) < _key(best):
            best = x
    return bytes(best) if isinstance(best, bytearray) else best


def f_max(xs: list):
    if not xs:
        raise LibError("max called on empty list")
    _check_comparable(xs)
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
        if len(recv) > INCLUDES_MAX_LIST:
            raise LibError(f"includes: list has {len(recv)} elements, more than the maximum of {INCLUDES_MAX_LIST}")
        return any(cel_equal(x, v) for x in recv)
    return cel_equal(recv, v)


# ---------------------------------------------------------------------------------------------
# k8s regex library (Python ``re``; RE2-only syntax may be rejected with a runtime error)


@lru_cache(maxsize=256)
def _regex(pattern: str):
    try:
        return re.compile(pattern)
    except re.error as e:
        raise LibError(f"error parsing regexp: {e}") from None


def f_find(s: str, pattern: str) -> str:
    m = _regex(pattern).search(s)
    return m.group(0) if m else ""


def f_find_all(s: str, pattern: str, limit: int = -1) -> list:
    if limit == 0:
        return []
    out = []
    for m in _regex(pattern).finditer(s):
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
    add("sign", I, [B], True, f_sign)
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


_LIST_T = _t("list", _t("T"))

# (function, overload id, target or None, [args], return)
_CHECK_DECLS = [
    ("quantity", "string_to_quantity", None, [_t("string")], _t(QUANTITY_TYPE)),
    ("isQuantity", "is_quantity_string", None, [_t("string")], _t("bool")),
    ("sign", "quantity_sign", _t(QUANTITY_TYPE), [], _t("int")),
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
    ("isSorted", "list_is_sorted", _LIST_T, [], _t("bool")),
    ("sum", "list_sum", _LIST_T, [], _t("T")),
    ("min", "list_min", _LIST_T, [], _t("T")),
    ("max", "list_max", _LIST_T, [], _t("T")),
    ("find", "string_find_string", _t("string"), [_t("string")], _t("string")),
    ("findAll", "string_find_all_string", _t("string"), [_t("string")], _t("list", _t("string"))),
    ("findAll", "string_find_all_string_int", _t("string"), [_t("string"), _t("int")], _t("list", _t("string"))),
    ("includes", "dra_includes_dyn_dyn", _t("dyn"), [_t("dyn")], _t("bool")),
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
