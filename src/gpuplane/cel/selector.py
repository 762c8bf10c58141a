"""Compile and evaluate DRA device selectors (see the package docstring for the design)."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from cel_expr_python import cel

from . import _analysis as A
from . import _library as lib
from . import _protos as P
from .errors import CelCompileError, CelError, CelRuntimeError

if TYPE_CHECKING:  # pragma: no cover
    from gpuplane.api.models import Device

MAX_EXPRESSION_LENGTH = 10 * 1024  # resourceapi.CELSelectorExpressionMaxLength (bytes)
MAX_COST = 1_000_000  # resourceapi.CELSelectorExpressionMaxCost
CACHE_SIZE = 4096

_DEVICE_TYPE = {True: "kubernetes.DRADevice", False: "kubernetes.DRADeviceNoConsumable"}

# ------------------------------------------------------------------------------------------
# environments (built once per process)

_CHECK_ENVS: dict[bool, Any] = {}
_RUNTIME_ENV: Any = None
_ENV_LOCK = threading.Lock()


def _check_env(with_multi_alloc: bool):
    env = _CHECK_ENVS.get(with_multi_alloc)
    if env is None:
        with _ENV_LOCK:
            env = _CHECK_ENVS.get(with_multi_alloc)
            if env is None:
                env = cel.NewEnv(
                    P.POOL,
                    config=cel.NewEnvConfigFromYaml(lib.checker_yaml()),
                    variables={"device": cel.Type(_DEVICE_TYPE[with_multi_alloc])},
                    extensions=[lib.checker_extension()],
                )
                _CHECK_ENVS[with_multi_alloc] = env
    return env


def _runtime_env():
    global _RUNTIME_ENV
    if _RUNTIME_ENV is None:
        with _ENV_LOCK:
            if _RUNTIME_ENV is None:
                _RUNTIME_ENV = cel.NewEnv(
                    config=cel.NewEnvConfigFromYaml(lib.EXTENSIONS_YAML),
                    extensions=[lib.runtime_extension()],
                )
    return _RUNTIME_ENV


# ------------------------------------------------------------------------------------------
# messages

_STATUS_PREFIX = re.compile(r"^[A-Z][A-Z_]+: ")
_STATUS_SUFFIX = re.compile(r"\s*\[[A-Z][A-Z_]+\]\s*$")
_KEY_NOT_FOUND = re.compile(r"^Key not found in map : (.*)$", re.S)
_NO_OVERLOAD = re.compile(r"^No matching overloads? found ?: ?(.*)$", re.S)
_INDEX = re.compile(r"^Index error: index=(-?\d+) size=(\d+)$")


def _strip_status(msg: str) -> str:
    msg = _STATUS_SUFFIX.sub("", msg.strip())
    return _STATUS_PREFIX.sub("", msg, count=1)


def _runtime_message(raw: Any) -> str:
    msg = _strip_status(str(raw))
    m = _KEY_NOT_FOUND.match(msg)
    if m:
        key = m.group(1)
        if len(key) >= 2 and key[0] == key[-1] == '"':
            key = key[1:-1]
        return f"no such key: {key}"
    m = _NO_OVERLOAD.match(msg)
    if m:
        return f"no such overload: {m.group(1)}" if m.group(1) else "no such overload"
    m = _INDEX.match(msg)
    if m:
        return f"index '{m.group(1)}' out of range in list size '{m.group(2)}'"
    if msg == "divide by zero":
        return "division by zero"
    if msg == "Iteration budget exceeded":
        # cel-expr-python's fixed limit on comprehension iterations per evaluation
        return "operation cancelled: comprehension iteration budget exceeded"
    return msg or "evaluation failed"


def _position(checked, source: str, node_id: int) -> tuple[int, int]:
    offset = checked.source_info.positions.get(node_id, 0)
    line, line_start = 1, 0
    for lo in checked.source_info.line_offsets:
        if lo <= offset:
            line += 1
            line_start = lo
        else:
            break
    return line, offset - line_start + 1


def _format_issue(checked, source: str, node_id: int, message: str) -> str:
    line, col = _position(checked, source, node_id)
    lines = source.split("\n")
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return f"ERROR: <input>:{line}:{col}: {message}\n | {text}\n | {'.' * (col - 1)}^"


_RUNTIME_TYPE_NAMES = {
    "BOOL": "bool",
    "INT": "int",
    "UINT": "uint",
    "DOUBLE": "double",
    "STRING": "string",
    "BYTES": "bytes",
    "NULL": "null_type",
    "LIST": "list",
    "MAP": "map",
    "TIMESTAMP": "google.protobuf.Timestamp",
    "DURATION": "google.protobuf.Duration",
    "TYPE": "type",
}


def _result_type_name(value) -> str:
    try:
        name = value.type().name()
    except Exception:  # pragma: no cover - defensive
        return "unknown"
    base = name.split("<", 1)[0]
    if base == "BYTES":
        try:
            raw = bytes(value.value())
            if raw.startswith(lib.QTAG):
                return lib.QUANTITY_TYPE
            if raw.startswith(lib.STAG):
                return lib.SEMVER_TYPE
        except Exception:  # pragma: no cover - defensive
            pass
    return _RUNTIME_TYPE_NAMES.get(base, name)


# ------------------------------------------------------------------------------------------
# device input


class DeviceInput:
    """One device materialised for CEL: built once, reused for every selector."""

    __slots__ = ("driver", "name", "data", "activation", "error")

    def __init__(self, driver: str, name: str, data: dict, error: str | None) -> None:
        self.driver = driver
        self.name = name
        self.data = data
        self.error = error
        self.activation = None
        if error is None:
            try:
                self.activation = _runtime_env().Activation({"device": data})
            except Exception as e:  # e.g. an int attribute outside int64
                self.error = f"device {name}: {_strip_status(str(e))}"

    def __repr__(self) -> str:
        return f"DeviceInput(driver={self.driver!r}, name={self.name!r})"


def _qualified(name: str, driver: str) -> tuple[str, str]:
    domain, sep, ident = name.partition("/")
    if not sep:
        return driver, name
    return domain, ident


def _attribute_value(attr) -> Any:
    """Upstream ``getAttributeValue`` (same precedence: lists first); ValueError with its wording."""
    if attr.ints is not None:
        return list(attr.ints)
    if attr.bools is not None:
        return list(attr.bools)
    if attr.strings is not None:
        return list(attr.strings)
    if attr.versions is not None:
        try:
            return [lib.semver_bytes(v) for v in attr.versions]
        except ValueError as e:
            raise ValueError(f"parse semantic version: {e}") from None
    if attr.int_ is not None:
        return attr.int_
    if attr.bool_ is not None:
        return attr.bool_
    if attr.string is not None:
        return attr.string
    if attr.version is not None:
        try:
            return lib.semver_bytes(attr.version)
        except ValueError as e:
            raise ValueError(f"parse semantic version: {e}") from None
    raise ValueError("unsupported attribute value")


def device_input(driver: str, device: "Device", *, consumable_capacity: bool = True) -> DeviceInput:
    """Materialise ``device`` (published by ``driver``) as the CEL variable ``device``.

    ``device.allowMultipleAllocations`` is the device's field when ``consumable_capacity`` is
    true, else false. Upstream's "incubating"/"experimental" allocators pass the field whatever
    the DRAConsumableCapacity gate; only the "stable" allocator (picked when every enabled
    feature is one it supports) leaves it unset, i.e. false.

    Errors that upstream raises while materialising (an attribute without a value, an invalid
    version) are recorded and raised by every :meth:`CompiledSelector.matches` call.
    """
    error: str | None = None
    attributes: dict[str, dict[str, Any]] = {}
    for name, attr in (device.attributes or {}).items():
        domain, ident = _qualified(name, driver)
        try:
            value = _attribute_value(attr)
        except ValueError as e:
            error = error or f"attribute {name}: {e}"
            continue
        attributes.setdefault(domain, {})[ident] = value
    capacity: dict[str, dict[str, bytes]] = {}
    for name, cap in (device.capacity or {}).items():
        domain, ident = _qualified(name, driver)
        raw = cap.value if cap is not None and cap.value is not None else "0"
        try:
            value = lib.capacity_bytes(raw)
        except ValueError as e:
            error = error or f"capacity {name}: {e}"
            continue
        capacity.setdefault(domain, {})[ident] = value
    data: dict[str, Any] = {
        "driver": driver,
        "attributes": attributes,
        "capacity": capacity,
        "allowMultipleAllocations": bool(consumable_capacity and device.allow_multiple_allocations),
    }
    return DeviceInput(driver, getattr(device, "name", ""), data, error)


# ------------------------------------------------------------------------------------------
# compiled selector


class CompiledSelector:
    """A type-checked, cost-checked selector ready for evaluation."""

    __slots__ = ("expression", "cost", "_program")

    def __init__(self, expression: str, cost: float, program) -> None:
        self.expression = expression
        self.cost = cost  # estimated worst-case cost (see _analysis)
        self._program = program

    def matches(self, dev: DeviceInput) -> bool:
        """Evaluate against one device. Raises CelRuntimeError on any evaluation error."""
        if dev.error is not None:
            raise CelRuntimeError(dev.error)
        try:
            value = self._program.eval(dev.activation)
            result = value.value()
        except Exception as e:
            raise CelRuntimeError(_runtime_message(e)) from None
        if result is True or result is False:
            return result
        try:
            is_error = value.type() == cel.Type.ERROR
        except Exception:  # pragma: no cover - defensive
            is_error = False
        if is_error:
            raise CelRuntimeError(_runtime_message(result))
        raise CelRuntimeError(f"CEL result of type {_result_type_name(value)} could not be converted to bool")

    def __repr__(self) -> str:
        return f"CompiledSelector({self.expression!r})"


_CACHE: "OrderedDict[tuple[str, bool], CompiledSelector | str]" = OrderedDict()
_CACHE_LOCK = threading.Lock()


def compile_selector(expression: str, *, consumable_capacity: bool = True, new_expressions: bool = False) -> CompiledSelector:
    """Compile (or fetch from the LRU cache) a device selector. Raises CelCompileError.

    By default this is the scheduler's view (upstream's ``StoredExpressions`` environment, which
    ignores feature gates): ``device.allowMultipleAllocations`` is always declared and
    ``consumable_capacity`` does not matter. ``new_expressions=True`` is the apiserver's
    validation of new expressions: there the field exists only with ``consumable_capacity``.
    """
    with_multi_alloc = bool(consumable_capacity) or not new_expressions
    key = (expression, with_multi_alloc)
    try:
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
            if hit is not None:
                _CACHE.move_to_end(key)
    except TypeError:  # unhashable expression
        raise CelCompileError(f"expression must be a string, not {type(expression).__name__}") from None
    if hit is None:
        try:
            hit = _compile(expression, with_multi_alloc)
        except CelCompileError as e:
            hit = str(e)
        with _CACHE_LOCK:
            _CACHE[key] = hit
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.popitem(last=False)
    if isinstance(hit, str):
        raise CelCompileError(hit)
    return hit


def cache_clear() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


def cache_info() -> dict:
    with _CACHE_LOCK:
        return {"size": len(_CACHE), "max_size": CACHE_SIZE}


def _compile(expression: str, with_multi_alloc: bool) -> CompiledSelector:
    if not isinstance(expression, str):
        raise CelCompileError(f"expression must be a string, not {type(expression).__name__}")
    try:
        length = len(expression.encode("utf-8"))
    except UnicodeEncodeError:
        raise CelCompileError("compilation failed: expression is not valid UTF-8") from None
    if length > MAX_EXPRESSION_LENGTH:
        raise CelCompileError(f"expression too long: {length} bytes, may not be more than {MAX_EXPRESSION_LENGTH}")
    if "\x00" in expression:
        # cel-cpp would see a truncated string; report it like a lexer error.
        col = expression.index("\x00") + 1
        raise CelCompileError(f"compilation failed: ERROR: <input>:1:{col}: Syntax error: token recognition error at: '\\x00'")
    try:
        checked_expr = _check_env(with_multi_alloc).compile(expression)
    except Exception as e:
        raise CelCompileError(f"compilation failed: {_strip_status(str(e))}") from None
    try:
        checked = P.decode_checked(checked_expr.serialize())
    except Exception:
        raise CelCompileError("compilation failed: expression is too deeply nested") from None

    analyzer = A.Analyzer(checked)
    root_type = checked.type_map[checked.expr.id] if checked.expr.id in checked.type_map else None
    if root_type is not None and A._kind(root_type) not in ("bool", "dyn"):
        raise CelCompileError(f"must evaluate to bool or the unknown type, not {A.type_str(root_type)}")
    try:
        cost, _ = analyzer.estimate(checked.expr, {})
    except A.AnalysisError as e:
        raise CelCompileError(f"compilation failed: {_format_issue(checked, expression, e.node_id, e.message)}") from None
    except RecursionError:
        raise CelCompileError("compilation failed: expression is too deeply nested") from None
    if not cost <= MAX_COST:  # also catches inf/nan
        shown = "unbounded" if cost != cost or cost == A.INF else f"{cost:.0f}"
        raise CelCompileError(f"too complex, exceeds cost limit: estimated worst-case cost {shown} > {MAX_COST}")

    try:
        analyzer.rewrite(checked.expr)
        parsed = P.ParsedExpr(expr=checked.expr)
        parsed.source_info.positions.update(checked.source_info.positions)
        parsed.source_info.line_offsets.extend(checked.source_info.line_offsets)
        program = _runtime_env().deserialize(P.encode_any(parsed, P.PARSED_EXPR_URL))
    except RecursionError:
        raise CelCompileError("compilation failed: expression is too deeply nested") from None
    except Exception as e:
        raise CelCompileError(f"compilation failed: {_strip_status(str(e))}") from None
    return CompiledSelector(expression, cost, program)


__all__ = [
    "CelCompileError",
    "CelError",
    "CelRuntimeError",
    "CompiledSelector",
    "DeviceInput",
    "MAX_COST",
    "MAX_EXPRESSION_LENGTH",
    "cache_clear",
    "cache_info",
    "compile_selector",
    "device_input",
]
