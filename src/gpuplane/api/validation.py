"""Decoding into typed models and kube-apiserver validation of the DRA kinds.

- :func:`decode` converts beta objects to v1 (:func:`~gpuplane.api.convert.to_v1`), decodes
  the dict with ``msgspec.convert`` into the model of :data:`~gpuplane.api.models.TYPED_KINDS`
  and applies the apiserver's defaults (``allocationMode: ExactCount``, ``count: 1``,
  toleration ``operator: Equal``). Type errors become :class:`ValidationFailed` with the field
  path. Kinds without a model, and model kinds of another group, give ``None``.
- :func:`validate` returns the apiserver's field errors (``pkg/apis/resource/validation``)
  for DeviceClass, ResourceSlice, ResourceClaim (spec and ``status.allocation`` /
  ``status.reservedFor``) and ResourceClaimTemplate, with the apiserver's paths and messages.
- :func:`decode_and_validate` does both and raises :class:`ValidationFailed` listing every
  error.

Not checked here: CEL compilation and cost of selector expressions (only their length),
immutability/update rules, feature-gate field dropping, ``status.devices``, ownerReferences
and finalizers in metadata.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Callable, Optional

import msgspec

from . import models as m
from .convert import BETA_VERSIONS, V1, to_v1
from .errors import FieldError, InputError, ValidationFailed
from .loader import NAMESPACED
from .quantity import Quantity, QuantityError, format_quantity, parse_quantity

__all__ = ["decode", "validate", "decode_and_validate", "apply_defaults", "VALIDATED_KINDS"]

VALIDATED_KINDS = frozenset({"ResourceSlice", "DeviceClass", "ResourceClaim", "ResourceClaimTemplate"})
_RESOURCE_GROUP = "resource.k8s.io/"
_SUPPORTED_VERSIONS = (V1, "resource.k8s.io/v1beta1", "resource.k8s.io/v1beta2")

# --- limits (k8s.io/api/resource/v1 and the internal API) -----------------------------------

DEVICE_REQUESTS_MAX = 32
FIRST_AVAILABLE_MAX = 8
SELECTORS_MAX = 32
CONSTRAINTS_MAX = 32
CONFIG_MAX = 32
ALLOCATION_RESULTS_MAX = 32
RESERVED_FOR_MAX = 256
SLICE_MAX_DEVICES = 128
SLICE_MAX_DEVICES_ADVANCED = 64
ATTRS_AND_CAPS_MAX = 32
ATTRIBUTE_VALUES_MAX = 48
ATTRIBUTE_VALUE_MAX_LEN = 64
DEVICE_MAX_ID_LEN = 32
DEVICE_MAX_DOMAIN_LEN = 63
COUNTER_SETS_MAX = 8
COUNTERS_PER_SET_MAX = 32
CONSUMES_COUNTERS_MAX = 2
COUNTERS_PER_CONSUMPTION_MAX = 32
TAINTS_MAX = 16
TOLERATIONS_MAX = 16
BINDING_CONDITIONS_MAX = 4
CEL_EXPRESSION_MAX_LEN = 10 * 1024
OPAQUE_PARAMETERS_MAX_LEN = 10 * 1024
POOL_NAME_MAX_LEN = 253
VALID_VALUES_MAX = 10
ANNOTATIONS_MAX_BYTES = 256 * 1024
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_ATTR_KEY_TRUNCATE = DEVICE_MAX_DOMAIN_LEN + 1 + DEVICE_MAX_ID_LEN

# --- message helpers (k8s.io/apimachinery/pkg/util/validation/field) ------------------------


def _go(value: Any) -> str:
    """A bad value as field.Error prints it (strings quoted, other values as JSON)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        try:
            return repr(value)
        except ValueError:  # an integer past Python's int -> str digit limit
            return f"<{value.bit_length()}-bit integer>"
    if isinstance(value, Quantity):
        return json.dumps(format_quantity(value))
    if isinstance(value, msgspec.Struct):
        value = msgspec.to_builtins(value)
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _required(detail: str = "") -> str:
    return f"Required value: {detail}" if detail else "Required value"


def _invalid(value: Any, detail: str) -> str:
    return f"Invalid value: {_go(value)}: {detail}" if detail else f"Invalid value: {_go(value)}"


def _forbidden(detail: str) -> str:
    return f"Forbidden: {detail}"


def _too_many(actual: int, limit: int) -> str:
    return f"Too many: {actual}: must have at most {limit} {'item' if limit == 1 else 'items'}"


def _too_long(limit: int) -> str:
    return f"Too long: may not be more than {limit} {'byte' if limit == 1 else 'bytes'}"


def _duplicate(value: Any) -> str:
    return f"Duplicate value: {_go(value)}"


def _not_supported(value: Any, valid: tuple[str, ...]) -> str:
    return f"Unsupported value: {_go(value)}: supported values: " + ", ".join(json.dumps(v) for v in valid)


def _blen(s: str) -> int:
    """Length in bytes, as Go's len() counts."""
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))


def _truncate_key(key: str, max_len: int) -> str:
    max_len = max(max_len, 16)
    if len(key) <= max_len:
        return key
    remaining = max_len - 3
    return key[: (remaining + 1) // 2] + "..." + key[len(key) - remaining // 2 :]


# --- name formats (k8s.io/apimachinery/pkg/util/validation) ----------------------------------


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    out = msg + " (e.g. "
    for i, ex in enumerate(examples):
        if i:
            out += " or "
        out += f"'{ex}', "
    return out + f"regex used for validation is '{fmt}')"


def _max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_MSG = _regex_error(
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character",
    _DNS1123_LABEL_FMT,
    "my-name",
    "123-abc",
)
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = _regex_error(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character",
    _DNS1123_SUBDOMAIN_FMT,
    "example.com",
)
_C_IDENTIFIER_FMT = "[A-Za-z_][A-Za-z0-9_]*"
_C_IDENTIFIER_MSG = _regex_error(
    "a valid C identifier must start with alphabetic character or '_', followed by a string of "
    "alphanumeric characters or '_'",
    _C_IDENTIFIER_FMT,
    "my_name",
    "MY_NAME",
    "MyName",
)
_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_MSG = _regex_error(
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
    _QNAME_FMT,
    "MyName",
    "my.name",
    "123-abc",
)
_LABEL_VALUE_FMT = "(" + _QNAME_FMT + ")?"
_LABEL_VALUE_MSG = _regex_error(
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character",
    _LABEL_VALUE_FMT,
    "MyValue",
    "my_value",
    "12345",
)

_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_C_IDENTIFIER_RE = re.compile(_C_IDENTIFIER_FMT)
_QNAME_RE = re.compile(_QNAME_FMT)
_SEMVER_RE = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*)?"
    r"(\+[0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*)?",
    re.ASCII,
)


def _cached(fn: Callable[[str], tuple]) -> Callable[[str], tuple]:
    """Memoize a pure str -> tuple check (names repeat a lot across objects)."""
    cache: dict[str, tuple] = {}

    def wrapper(value: str) -> tuple:
        try:
            return cache[value]
        except KeyError:
            pass
        result = fn(value)
        if len(cache) >= 200_000:
            cache.clear()
        cache[value] = result
        return result

    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    wrapper.cache = cache  # type: ignore[attr-defined]
    return wrapper


@_cached
def _dns1123_label(value: str) -> tuple[str, ...]:
    errs = []
    if _blen(value) > 63:
        errs.append(_max_len_error(63))
    if not _DNS1123_LABEL_RE.fullmatch(value):
        errs.append(_DNS1123_LABEL_MSG)
    return tuple(errs)


@_cached
def _dns1123_subdomain(value: str) -> tuple[str, ...]:
    errs = []
    if _blen(value) > 253:
        errs.append(_max_len_error(253))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(_DNS1123_SUBDOMAIN_MSG)
    return tuple(errs)


@_cached
def _qualified_name(value: str) -> tuple[str, ...]:
    """IsQualifiedName (label keys, annotation keys, taint keys, condition types)."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + msg for msg in _dns1123_subdomain(prefix))
    else:
        return (
            "a qualified name "
            + _regex_error(
                "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                _QNAME_FMT,
                "MyName",
                "my.name",
                "123-abc",
            )
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
        )
    if not name:
        errs.append("name part must be non-empty")
    elif _blen(name) > 63:
        errs.append("name part " + _max_len_error(63))
    if not _QNAME_RE.fullmatch(name):
        errs.append("name part " + _QNAME_MSG)
    return tuple(errs)


@_cached
def _label_value(value: str) -> tuple[str, ...]:
    errs = []
    if _blen(value) > 63:
        errs.append(_max_len_error(63))
    if value and not _QNAME_RE.fullmatch(value):
        errs.append(_LABEL_VALUE_MSG)
    return tuple(errs)


@_cached
def _driver_name(value: str) -> tuple[str, ...]:
    """ValidateCSIDriverName as full messages (the path is the caller's)."""
    if not value:
        return (_required(),)
    errs = []
    if _blen(value) > 63:
        errs.append(_too_long(63))
    errs.extend(_invalid(value, msg) for msg in _dns1123_subdomain(value.lower()))
    return tuple(errs)


def _c_identifier_msgs(value: str) -> list[str]:
    errs = []
    if _blen(value) > DEVICE_MAX_ID_LEN:
        errs.append(_too_long(DEVICE_MAX_ID_LEN))
    if not _C_IDENTIFIER_RE.fullmatch(value):
        errs.append(_invalid(value, _C_IDENTIFIER_MSG))
    return errs


@_cached
def _resource_qualified_name(name: str) -> tuple[str, ...]:
    """validateQualifiedName of the resource API (attribute and capacity names)."""
    parts = name.split("/")
    if len(parts) == 1:
        return tuple(_c_identifier_msgs(parts[0]))
    if len(parts) == 2:
        errs: list[str] = []
        if not parts[0]:
            errs.append(_invalid("", "the domain must not be empty"))
        else:
            errs.extend(_driver_name(parts[0]))
        if not parts[1]:
            errs.append(_invalid("", "the name must not be empty"))
        else:
            errs.extend(_c_identifier_msgs(parts[1]))
        return tuple(errs)
    return (_invalid(name, "must not contain more than one slash"),)


@_cached
def _fully_qualified_name(name: str) -> tuple[str, ...]:
    errs = list(_resource_qualified_name(name))
    if "/" not in name:
        errs.append(_invalid(name, "a fully qualified name must be a domain and a name separated by a slash"))
    return tuple(errs)


@_cached
def _version_value(value: str) -> tuple[str, ...]:
    errs = []
    if not _SEMVER_RE.fullmatch(value):
        errs.append(_invalid(value, "must be a string compatible with semver.org spec 2.0.0"))
    if _blen(value) > ATTRIBUTE_VALUE_MAX_LEN:
        errs.append(_too_long(ATTRIBUTE_VALUE_MAX_LEN))
    return tuple(errs)


def _mask_trailing_dash(name: str) -> str:
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


# --- the collector -----------------------------------------------------------------------


class _Errors:
    """Field errors of one object, as (path, message) pairs."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self.items.append((path, message))

    def extend(self, path: str, messages) -> None:
        for message in messages:
            self.items.append((path, message))

    def invalid_each(self, path: str, value: str, msgs) -> None:
        for msg in msgs:
            self.items.append((path, _invalid(value, msg)))


# --- common pieces --------------------------------------------------------------------------


def _validate_labels(labels: dict, path: str, errs: _Errors) -> None:
    for key, value in labels.items():
        errs.invalid_each(path, key, _qualified_name(key))
        errs.invalid_each(path, value, _label_value(value))


def _validate_annotations(annotations: dict, path: str, errs: _Errors) -> None:
    total = 0
    for key, value in annotations.items():
        errs.invalid_each(path, key, _qualified_name(key.lower()))
        total += _blen(key) + _blen(value)
    if total > ANNOTATIONS_MAX_BYTES:
        errs.add(path, _too_long(ANNOTATIONS_MAX_BYTES))


def _validate_object_meta(meta: m.ObjectMeta, namespaced: bool, errs: _Errors) -> None:
    if meta.generate_name:
        errs.invalid_each("metadata.generateName", meta.generate_name, _dns1123_subdomain(_mask_trailing_dash(meta.generate_name)))
    if meta.name:
        errs.invalid_each("metadata.name", meta.name, _dns1123_subdomain(meta.name))
    elif not meta.generate_name:
        errs.add("metadata.name", _required("name or generateName is required"))
    if namespaced and meta.namespace:
        errs.invalid_each("metadata.namespace", meta.namespace, _dns1123_label(meta.namespace))
    if meta.labels:
        _validate_labels(meta.labels, "metadata.labels", errs)
    if meta.annotations:
        _validate_annotations(meta.annotations, "metadata.annotations", errs)


_OBJECT_META_FIELDS = (
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
)


def _validate_template_meta(meta: m.ObjectMeta, raw_meta: Any, path: str, errs: _Errors) -> None:
    if meta.annotations:
        _validate_annotations(meta.annotations, path + ".annotations", errs)
    if meta.labels:
        _validate_labels(meta.labels, path + ".labels", errs)
    if isinstance(raw_meta, dict):
        for key in _OBJECT_META_FIELDS:
            if key in ("labels", "annotations"):
                continue
            value = raw_meta.get(key)
            if value is not None and value != "" and value != 0 and value != [] and value != {}:
                errs.add(f"{path}.{key}", _forbidden("cannot be set"))


_QUANTITY_EXPONENT = re.compile(r"[eE]([+-]?\d+)\s*$")
_QUANTITY_MAX_EXPONENT = 1000


def _quantity(value: Any, path: str, errs: _Errors) -> Optional[Quantity]:
    if isinstance(value, str):
        # parse_quantity works with exact fractions: keep "1e999999999" from taking forever.
        m_exp = _QUANTITY_EXPONENT.search(value)
        if m_exp and (len(m_exp.group(1)) > 6 or abs(int(m_exp.group(1))) > _QUANTITY_MAX_EXPONENT):
            errs.add(path, _invalid(value, f"quantity exponent must be within +/-{_QUANTITY_MAX_EXPONENT}"))
            return None
    elif isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        errs.add(path, _invalid(repr(value), "quantities must be finite numbers"))
        return None
    try:
        return parse_quantity(value)
    except (QuantityError, ValueError, OverflowError, ZeroDivisionError):
        errs.add(
            path,
            _invalid(
                value,
                "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            ),
        )
        return None


def _int64(value: int, path: str, errs: _Errors) -> bool:
    if _INT64_MIN <= value <= _INT64_MAX:
        return True
    errs.add(path, _invalid(value, "must fit in a signed 64-bit integer"))
    return False


def _validate_pool_name(name: str, path: str, errs: _Errors) -> None:
    if not name:
        errs.add(path, _required())
        return
    if _blen(name) > POOL_NAME_MAX_LEN:
        errs.add(path, _too_long(POOL_NAME_MAX_LEN))
    for part in name.split("/"):
        errs.invalid_each(path, part, _dns1123_subdomain(part))


def _validate_node_name(name: str, path: str, errs: _Errors) -> None:
    errs.invalid_each(path, name, _dns1123_subdomain(name))


def _validate_node_selector(selector: m.NodeSelector, path: str, errs: _Errors) -> None:
    terms_path = path + ".nodeSelectorTerms"
    if not selector.node_selector_terms:
        errs.add(terms_path, _required("must have at least one node selector term"))
        return
    for i, term in enumerate(selector.node_selector_terms):
        tpath = f"{terms_path}[{i}]"
        for j, req in enumerate(term.match_expressions):
            rpath = f"{tpath}.matchExpressions[{j}]"
            op = req.operator
            if op in ("In", "NotIn"):
                if not req.values:
                    errs.add(rpath + ".values", _required("must be specified when `operator` is 'In' or 'NotIn'"))
            elif op in ("Exists", "DoesNotExist"):
                if req.values:
                    errs.add(rpath + ".values", _forbidden("may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
            elif op in ("Gt", "Lt"):
                if len(req.values) != 1:
                    errs.add(rpath + ".values", _required("must be specified single value when `operator` is 'Lt' or 'Gt'"))
            else:
                errs.add(rpath + ".operator", _invalid(op, "not a valid selector operator"))
            errs.invalid_each(rpath + ".key", req.key, _qualified_name(req.key))
            for k, value in enumerate(req.values):
                errs.invalid_each(f"{rpath}.values[{k}]", value, _label_value(value))
        for j, req in enumerate(term.match_fields):
            rpath = f"{tpath}.matchFields[{j}]"
            if req.operator in ("In", "NotIn"):
                if len(req.values) != 1:
                    errs.add(
                        rpath + ".values",
                        _required("must be only one value when `operator` is 'In' or 'NotIn' for node field selector"),
                    )
            else:
                errs.add(rpath + ".operator", _invalid(req.operator, "not a valid selector operator"))
            if req.key != "metadata.name":
                errs.add(rpath + ".key", _invalid(req.key, "not a valid field selector key"))
            else:
                for k, value in enumerate(req.values):
                    errs.invalid_each(f"{rpath}.values[{k}]", value, _dns1123_subdomain(value))


def _validate_opaque(config: Optional[m.OpaqueDeviceConfiguration], path: str, errs: _Errors) -> None:
    if config is None:
        errs.add(path + ".opaque", _required())
        return
    path += ".opaque"
    errs.extend(path + ".driver", _driver_name(config.driver))
    params = config.parameters
    ppath = path + ".parameters"
    if params is None:
        errs.add(ppath, _required())
        return
    try:
        size = len(msgspec.json.encode(params))
    except Exception as err:  # noqa: BLE001 - anything not encodable as JSON
        errs.add(ppath, _invalid("<value omitted>", f"error parsing data as JSON: {err}"))
        return
    if size > OPAQUE_PARAMETERS_MAX_LEN:
        errs.add(ppath, _too_long(OPAQUE_PARAMETERS_MAX_LEN))
    elif not isinstance(params, dict):
        errs.add(ppath, _invalid("<value omitted>", "must be a valid JSON object"))


def _validate_selectors(selectors: list[m.DeviceSelector], path: str, errs: _Errors) -> None:
    if len(selectors) > SELECTORS_MAX:
        errs.add(path, _too_many(len(selectors), SELECTORS_MAX))
        return
    for i, selector in enumerate(selectors):
        if selector.cel is None:
            errs.add(f"{path}[{i}].cel", _required())
            continue
        expression = selector.cel.expression
        epath = f"{path}[{i}].cel.expression"
        if len(expression) > CEL_EXPRESSION_MAX_LEN // 4 and _blen(expression) > CEL_EXPRESSION_MAX_LEN:
            errs.add(epath, _too_long(CEL_EXPRESSION_MAX_LEN))


_EFFECTS = ("NoExecute", "NoSchedule", "None")
_OPERATORS = ("Equal", "Exists")


def _validate_tolerations(tolerations: list[m.DeviceToleration], path: str, errs: _Errors, limit: bool = True) -> None:
    if limit and len(tolerations) > TOLERATIONS_MAX:
        errs.add(path, _too_many(len(tolerations), TOLERATIONS_MAX))
        return
    for i, tol in enumerate(tolerations):
        tpath = f"{path}[{i}]"
        if tol.key:
            errs.invalid_each(tpath + ".key", tol.key, _qualified_name(tol.key))
        op = tol.operator
        if op == "Exists":
            if tol.value:
                errs.add(tpath + ".value", _invalid(tol.value, "must be empty for operator `Exists`"))
        elif op == "Equal":
            errs.invalid_each(tpath + ".value", tol.value, _label_value(tol.value))
        elif op == "":
            errs.add(tpath + ".operator", _required())
        else:
            errs.add(tpath + ".operator", _not_supported(op, _OPERATORS))
        if tol.effect and tol.effect not in _EFFECTS:
            errs.add(tpath + ".effect", _not_supported(tol.effect, _EFFECTS))
        if tol.toleration_seconds is not None:
            _int64(tol.toleration_seconds, tpath + ".tolerationSeconds", errs)


def _validate_binding_conditions(conditions: list[str], failure: list[str], path: str, errs: _Errors) -> None:
    if not conditions and not failure:
        return
    for field_name, items in (("bindingConditions", conditions), ("bindingFailureConditions", failure)):
        fpath = f"{path}.{field_name}"
        if len(items) > BINDING_CONDITIONS_MAX:
            errs.add(fpath, _too_many(len(items), BINDING_CONDITIONS_MAX))
        else:
            for i, cond in enumerate(items):
                errs.invalid_each(f"{fpath}[{i}]", cond, _qualified_name(cond))
    seen: set[str] = set()
    for i, cond in enumerate(conditions):
        if cond in seen:
            errs.add(f"{path}.bindingConditions[{i}]", _duplicate(cond))
        seen.add(cond)
    seen_failure: set[str] = set()
    for i, cond in enumerate(failure):
        if cond in seen_failure:
            errs.add(f"{path}.bindingFailureConditions[{i}]", _duplicate(cond))
        seen_failure.add(cond)
        if cond in seen:
            errs.add(
                f"{path}.bindingFailureConditions[{i}]",
                _invalid(cond, "bindingFailureConditions must not overlap with bindingConditions"),
            )
    if not conditions and failure:
        errs.add(path + ".bindingConditions", _invalid(conditions, "bindingConditions are required to use bindingFailureConditions"))
    if not failure and conditions:
        errs.add(
            path + ".bindingFailureConditions",
            _invalid(failure, "bindingFailureConditions are required to use bindingConditions"),
        )


def _validate_uid(uid: str, path: str, errs: _Errors) -> None:
    try:
        parsed = uuid.UUID(uid)
    except (ValueError, TypeError, AttributeError):
        if len(uid) not in (32, 36, 38, 45):
            detail = f"error validating uid: invalid UUID length: {len(uid)}"
        else:
            detail = "error validating uid: invalid UUID format"
        errs.add(path, _invalid(uid, detail))
        return
    if len(uid) != 36 or uid != uid.lower() or str(parsed) != uid:
        errs.add(
            path,
            _invalid(
                uid,
                "uid must be in RFC 4122 normalized form, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` with lowercase hexadecimal characters",
            ),
        )


# --- DeviceClass ----------------------------------------------------------------------------

_NATIVE_PREFIX = "kubernetes.io/"


def _is_extended_resource_name(name: str) -> bool:
    if "/" not in name or _NATIVE_PREFIX in name or name.startswith("requests."):
        return False
    return not _qualified_name("requests." + name)


def _validate_device_class(obj: m.DeviceClass, raw: dict, errs: _Errors) -> None:
    _validate_object_meta(obj.metadata, False, errs)
    spec = obj.spec
    _validate_selectors(spec.selectors, "spec.selectors", errs)
    if len(spec.config) > CONFIG_MAX:
        errs.add("spec.config", _too_many(len(spec.config), CONFIG_MAX))
    else:
        for i, config in enumerate(spec.config):
            _validate_opaque(config.opaque, f"spec.config[{i}]", errs)
    if spec.extended_resource_name is not None and not _is_extended_resource_name(spec.extended_resource_name):
        errs.add("spec.extendedResourceName", _invalid(spec.extended_resource_name, "must be a valid extended resource name"))


# --- ResourceClaim / ResourceClaimTemplate ------------------------------------------------------

_ALLOCATION_MODES = ("All", "ExactCount")


def _validate_allocation_mode(mode: str, count: int, path: str, errs: _Errors) -> None:
    if mode == "All":
        if count != 0:
            errs.add(path + ".count", _invalid(count, "must not be specified when allocationMode is 'All'"))
    elif mode == "ExactCount":
        if count <= 0:
            errs.add(path + ".count", _invalid(count, "must be greater than zero"))
        else:
            _int64(count, path + ".count", errs)
    else:
        errs.add(path + ".allocationMode", _not_supported(mode, _ALLOCATION_MODES))


def _validate_device_class_ref(name: str, path: str, errs: _Errors) -> None:
    if not name:
        errs.add(path, _required())
    else:
        errs.invalid_each(path, name, _dns1123_subdomain(name))


def _validate_capacity_requests(capacity: Optional[m.CapacityRequirements], path: str, errs: _Errors) -> None:
    if capacity is None:
        return
    for key, value in capacity.requests.items():
        errs.extend(path + ".requests", _resource_qualified_name(key))
        _quantity(value, f"{path}.requests[{_truncate_key(key, _ATTR_KEY_TRUNCATE)}]", errs)


def _validate_exact(req: m.ExactDeviceRequest, path: str, errs: _Errors) -> None:
    _validate_device_class_ref(req.device_class_name, path + ".deviceClassName", errs)
    _validate_selectors(req.selectors, path + ".selectors", errs)
    _validate_allocation_mode(req.allocation_mode, req.count, path, errs)
    _validate_tolerations(req.tolerations, path + ".tolerations", errs)
    _validate_capacity_requests(req.capacity, path + ".capacity", errs)


def _validate_subrequest(sub: m.DeviceSubRequest, path: str, errs: _Errors) -> None:
    errs.invalid_each(path + ".name", sub.name, _dns1123_label(sub.name))
    _validate_device_class_ref(sub.device_class_name, path + ".deviceClassName", errs)
    _validate_selectors(sub.selectors, path + ".selectors", errs)
    _validate_allocation_mode(sub.allocation_mode, sub.count, path, errs)
    _validate_tolerations(sub.tolerations, path + ".tolerations", errs)
    _validate_capacity_requests(sub.capacity, path + ".capacity", errs)


def _request_names(claim: m.DeviceClaim) -> dict[str, Optional[set[str]]]:
    names: dict[str, Optional[set[str]]] = {}
    for req in claim.requests:
        if not req.first_available:
            names[req.name] = None
        else:
            names[req.name] = {sub.name for sub in req.first_available}
    return names


_REQUEST_REF_MSG = "must be the name of a request in the claim or the name of a request and a subrequest separated by '/'"


def _validate_request_ref(name: str, path: str, names: dict[str, Optional[set[str]]], errs: _Errors) -> None:
    segments = name.split("/")
    if len(segments) > 2:
        errs.add(path, _invalid(name, _REQUEST_REF_MSG))
        return
    for segment in segments:
        errs.invalid_each(path, segment, _dns1123_label(segment))
    found = segments[0] in names
    if found and len(segments) == 2:
        subs = names[segments[0]]
        found = subs is not None and segments[1] in subs
    if not found:
        errs.add(path, _invalid(name, _REQUEST_REF_MSG))


def _validate_request_refs(refs: list[str], path: str, names: dict, errs: _Errors) -> None:
    if len(refs) > DEVICE_REQUESTS_MAX:
        errs.add(path, _too_many(len(refs), DEVICE_REQUESTS_MAX))
        return
    seen: set[str] = set()
    for i, ref in enumerate(refs):
        _validate_request_ref(ref, f"{path}[{i}]", names, errs)
    for i, ref in enumerate(refs):
        if ref in seen:
            errs.add(f"{path}[{i}]", _duplicate(ref))
        seen.add(ref)


def _validate_device_claim(claim: m.DeviceClaim, path: str, errs: _Errors) -> dict:
    names = _request_names(claim)
    rpath = path + ".requests"
    if len(claim.requests) > DEVICE_REQUESTS_MAX:
        errs.add(rpath, _too_many(len(claim.requests), DEVICE_REQUESTS_MAX))
    else:
        for i, req in enumerate(claim.requests):
            qpath = f"{rpath}[{i}]"
            errs.invalid_each(qpath + ".name", req.name, _dns1123_label(req.name))
            has_first = bool(req.first_available)
            has_exactly = req.exactly is not None
            if not has_first and not has_exactly:
                errs.add(qpath, _required("exactly one of `exactly` or `firstAvailable` is required"))
            elif has_first and has_exactly:
                errs.add(qpath, _invalid(None, "exactly one of `exactly` or `firstAvailable` is required, but multiple fields are set"))
            elif has_first:
                fpath = qpath + ".firstAvailable"
                subs = req.first_available
                if len(subs) > FIRST_AVAILABLE_MAX:
                    errs.add(fpath, _too_many(len(subs), FIRST_AVAILABLE_MAX))
                else:
                    for j, sub in enumerate(subs):
                        _validate_subrequest(sub, f"{fpath}[{j}]", errs)
                    seen_sub: set[str] = set()
                    for j, sub in enumerate(subs):
                        if sub.name in seen_sub:
                            errs.add(f"{fpath}[{j}]", _duplicate(sub.name))
                        seen_sub.add(sub.name)
            else:
                _validate_exact(req.exactly, qpath + ".exactly", errs)  # type: ignore[arg-type]
        seen: set[str] = set()
        for i, req in enumerate(claim.requests):
            if req.name in seen:
                errs.add(f"{rpath}[{i}]", _duplicate(req.name))
            seen.add(req.name)

    cpath = path + ".constraints"
    if len(claim.constraints) > CONSTRAINTS_MAX:
        errs.add(cpath, _too_many(len(claim.constraints), CONSTRAINTS_MAX))
    else:
        for i, constraint in enumerate(claim.constraints):
            kpath = f"{cpath}[{i}]"
            _validate_request_refs(constraint.requests, kpath + ".requests", names, errs)
            match, distinct = constraint.match_attribute, constraint.distinct_attribute
            if match is not None and distinct is not None:
                errs.add(
                    kpath,
                    _invalid("{matchAttribute, distinctAttribute}", "must specify exactly one of: `matchAttribute`, `distinctAttribute`"),
                )
            elif match is not None:
                errs.extend(kpath + ".matchAttribute", _fully_qualified_name(match))
            elif distinct is not None:
                errs.extend(kpath + ".distinctAttribute", _fully_qualified_name(distinct))
            else:
                errs.add(kpath, _required('exactly one of "matchAttribute" or "distinctAttribute" is required, but multiple fields are set'))

    gpath = path + ".config"
    if len(claim.config) > CONFIG_MAX:
        errs.add(gpath, _too_many(len(claim.config), CONFIG_MAX))
    else:
        for i, config in enumerate(claim.config):
            _validate_request_refs(config.requests, f"{gpath}[{i}].requests", names, errs)
            _validate_opaque(config.opaque, f"{gpath}[{i}]", errs)
    return names


_CONFIG_SOURCES = ("FromClaim", "FromClass")


def _validate_allocation(alloc: m.AllocationResult, path: str, names: dict, errs: _Errors) -> None:
    dpath = path + ".devices"
    results = alloc.devices.results
    rpath = dpath + ".results"
    if len(results) > ALLOCATION_RESULTS_MAX:
        errs.add(rpath, _too_many(len(results), ALLOCATION_RESULTS_MAX))
    else:
        for i, result in enumerate(results):
            p = f"{rpath}[{i}]"
            _validate_request_ref(result.request, p + ".request", names, errs)
            errs.extend(p + ".driver", _driver_name(result.driver))
            _validate_pool_name(result.pool, p + ".pool", errs)
            errs.invalid_each(p + ".device", result.device, _dns1123_label(result.device))
            _validate_binding_conditions(result.binding_conditions, result.binding_failure_conditions, p, errs)
            _validate_tolerations(result.tolerations, p + ".tolerations", errs, limit=False)
            if result.share_id is not None:
                _validate_uid(result.share_id, p + ".shareID", errs)
            for key, value in result.consumed_capacity.items():
                errs.extend(p + ".consumedCapacity", _resource_qualified_name(key))
                _quantity(value, f"{p}.consumedCapacity[{_truncate_key(key, _ATTR_KEY_TRUNCATE)}]", errs)
    configs = alloc.devices.config
    gpath = dpath + ".config"
    if len(configs) > 2 * CONFIG_MAX:
        errs.add(gpath, _too_many(len(configs), 2 * CONFIG_MAX))
    else:
        for i, config in enumerate(configs):
            p = f"{gpath}[{i}]"
            if config.source == "":
                errs.add(p + ".source", _required())
            elif config.source not in _CONFIG_SOURCES:
                errs.add(p + ".source", _not_supported(config.source, _CONFIG_SOURCES))
            _validate_request_refs(config.requests, p + ".requests", names, errs)
            _validate_opaque(config.opaque, p, errs)
    if alloc.node_selector is not None:
        _validate_node_selector(alloc.node_selector, path + ".nodeSelector", errs)


def _validate_claim_status(status: m.ResourceClaimStatus, names: dict, errs: _Errors) -> None:
    reserved = status.reserved_for
    rpath = "status.reservedFor"
    if len(reserved) > RESERVED_FOR_MAX:
        errs.add(rpath, _too_many(len(reserved), RESERVED_FOR_MAX))
    else:
        seen: set[str] = set()
        for i, ref in enumerate(reserved):
            p = f"{rpath}[{i}]"
            if not ref.resource:
                errs.add(p + ".resource", _required())
            if not ref.name:
                errs.add(p + ".name", _required())
            if not ref.uid:
                errs.add(p + ".uid", _required())
        for i, ref in enumerate(reserved):
            if ref.uid in seen:
                errs.add(f"{rpath}[{i}]", _duplicate(ref.uid))
            seen.add(ref.uid)
    if reserved and status.allocation is None:
        errs.add(rpath, _forbidden("may not be specified when `allocated` is not set"))
    if status.allocation is not None:
        _validate_allocation(status.allocation, "status.allocation", names, errs)


def _validate_resource_claim(obj: m.ResourceClaim, raw: dict, errs: _Errors) -> None:
    _validate_object_meta(obj.metadata, True, errs)
    names = _validate_device_claim(obj.spec.devices, "spec.devices", errs)
    _validate_claim_status(obj.status, names, errs)


def _validate_resource_claim_template(obj: m.ResourceClaimTemplate, raw: dict, errs: _Errors) -> None:
    _validate_object_meta(obj.metadata, True, errs)
    raw_spec = raw.get("spec")
    raw_meta = raw_spec.get("metadata") if isinstance(raw_spec, dict) else None
    _validate_template_meta(obj.spec.metadata, raw_meta, "spec.metadata", errs)
    _validate_device_claim(obj.spec.spec.devices, "spec.spec.devices", errs)


# --- ResourceSlice ------------------------------------------------------------------------------


def _validate_counters(counters: dict[str, m.Counter], limit: int, path: str, errs: _Errors) -> None:
    if len(counters) > limit:
        errs.add(path, _too_many(len(counters), limit))
        return
    for key, counter in counters.items():
        errs.invalid_each(path, key, _dns1123_label(key))
        cpath = f"{path}[{_truncate_key(key, 63)}].value"
        if counter.value is None:
            errs.add(cpath, _required())
        else:
            _quantity(counter.value, cpath, errs)


def _validate_request_policy(value: Optional[Quantity], policy: m.CapacityRequestPolicy, path: str, errs: _Errors) -> None:
    if policy.valid_values and policy.valid_range is not None:
        errs.add(path, _forbidden('exactly one policy can be specified, cannot specify "validValues" and "validRange" at the same time'))
        return
    default = None
    if policy.default is not None:
        default = _quantity(policy.default, path + ".default", errs)
        if default is None:
            return
    if policy.valid_values:
        if policy.default is None:
            errs.add(path + ".default", _required("required when validValues is defined"))
            return
        vpath = path + ".validValues"
        options = [_quantity(v, f"{vpath}[{i}]", errs) for i, v in enumerate(policy.valid_values)]
        if any(o is None for o in options):
            return
        for i in range(len(options) - 1):
            if options[i].value > options[i + 1].value:  # type: ignore[union-attr]
                errs.add(f"{vpath}[{i + 1}]", _invalid(format_quantity(options[i + 1]), "values must be sorted in ascending order"))  # type: ignore[arg-type]
        if len(options) > VALID_VALUES_MAX:
            errs.add(vpath, _too_many(len(options), VALID_VALUES_MAX))
        else:
            found_default = False
            seen: set = set()
            for i, option in enumerate(options):
                if value is not None and option.value > value.value:  # type: ignore[union-attr]
                    errs.add(
                        f"{vpath}[{i}]",
                        _invalid(format_quantity(option), f"option is larger than capacity value: {format_quantity(value)}"),  # type: ignore[arg-type]
                    )
                if option.value == default.value:  # type: ignore[union-attr]
                    found_default = True
                key = -(-option.value // 1)  # Quantity.Value() rounds up  # type: ignore[union-attr]
                if key in seen:
                    errs.add(f"{vpath}[{i}]", _duplicate(format_quantity(option)))  # type: ignore[arg-type]
                seen.add(key)
            if not found_default:
                errs.add(vpath, _invalid(format_quantity(default), "default value is not valid according to the requestPolicy"))  # type: ignore[arg-type]
    elif policy.valid_range is not None:
        rng = policy.valid_range
        rpath = path + ".validRange"
        if policy.default is None:
            errs.add(path + ".default", _required("required when validRange is defined"))
            return
        if rng.min is None:
            errs.add(rpath + ".min", _required("required when validRange is defined"))
            return
        lo = _quantity(rng.min, rpath + ".min", errs)
        hi = _quantity(rng.max, rpath + ".max", errs) if rng.max is not None else None
        step = _quantity(rng.step, rpath + ".step", errs) if rng.step is not None else None
        if lo is None or (rng.max is not None and hi is None) or (rng.step is not None and step is None):
            return
        fq = format_quantity
        if value is not None and lo.value > value.value:
            errs.add(rpath + ".min", _invalid(fq(lo), f"min is larger than capacity value: {fq(value)}"))
        if default.value < lo.value:  # type: ignore[union-attr]
            errs.add(rpath + ".default", _invalid(fq(default), f"default is less than min: {fq(lo)}"))  # type: ignore[arg-type]
        if hi is not None:
            if lo.value > hi.value:
                errs.add(rpath + ".max", _invalid(fq(lo), f"min is larger than max: {fq(hi)}"))
            if value is not None and hi.value > value.value:
                errs.add(rpath + ".max", _invalid(fq(hi), f"max is larger than capacity value: {fq(value)}"))
            if default.value > hi.value:  # type: ignore[union-attr]
                errs.add(rpath + ".default", _invalid(fq(default), f"default is more than max: {fq(hi)}"))  # type: ignore[arg-type]
        if step is not None:
            spath = rpath + ".step"
            if step.value <= 0:
                errs.add(spath, _invalid(fq(step), "must be greater than zero"))
            else:
                if value is not None and lo.value + step.value > value.value:
                    errs.add(spath, _invalid(fq(step), f"one step {fq(lo.add(step))} is larger than capacity value: {fq(value)}"))
                for v in (default, hi):
                    if v is not None and (v.value - lo.value) % step.value != 0:
                        errs.add(spath, _invalid(fq(v), f"value is not a multiple of a given step ({fq(step)}) from ({fq(lo)})"))


def _attribute_slow(key: str, attr: m.DeviceAttribute, apath: str, errs: _Errors) -> int:
    """Checks of one attribute value (anything but a single valid scalar); returns the
    number of values it holds."""
    kpath = f"{apath}[{_truncate_key(key, _ATTR_KEY_TRUNCATE)}]"
    i, s, v = attr.int_, attr.string, attr.version
    count = (i is not None) + (attr.bool_ is not None) + (s is not None) + (v is not None)
    if s is not None and _blen(s) > ATTRIBUTE_VALUE_MAX_LEN:
        errs.add(kpath + ".string", _too_long(ATTRIBUTE_VALUE_MAX_LEN))
    if v is not None:
        errs.extend(kpath + ".version", _version_value(v))
    if i is not None and not (_INT64_MIN <= i <= _INT64_MAX):
        _int64(i, kpath + ".int", errs)
    values = 0
    if attr.ints is not None or attr.bools is not None or attr.strings is not None or attr.versions is not None:
        count += _validate_list_attribute(attr, kpath, errs)
        values = len(attr.ints or ()) + len(attr.bools or ()) + len(attr.strings or ()) + len(attr.versions or ())
    else:
        values = 1
    if count == 0:
        errs.add(kpath, _invalid("", "exactly one value must be specified"))
    elif count > 1:
        errs.add(kpath, _invalid(attr, "exactly one value must be specified"))
    return values


_GOOD_NAMES: set[str] = set()  # attribute/capacity names known to be valid
_GOOD_VERSIONS: set[str] = set()
_QUANTITY_CACHE: dict[str, Quantity] = {}


def _check_names(names, path: str, errs: _Errors) -> None:
    """Attribute or capacity names (a set lookup when all are known good)."""
    if _GOOD_NAMES.issuperset(names):
        return
    for key in names:
        key_errs = _resource_qualified_name(key)
        if key_errs:
            errs.extend(path, key_errs)
        elif len(_GOOD_NAMES) < 100_000:
            _GOOD_NAMES.add(key)


def _validate_attributes(attributes: dict[str, m.DeviceAttribute], apath: str, errs: _Errors) -> int:
    """Validate attribute values; returns the number of values (list items count each).

    The common case, one valid scalar per attribute, takes a few attribute reads (plain
    attribute access on Structs is the fastest check in CPython); anything else goes
    through the full per-attribute checks, which also build the error paths."""
    values = 0
    good_versions = _GOOD_VERSIONS
    for key, attr in attributes.items():
        if attr.ints is None and attr.bools is None and attr.strings is None and attr.versions is None:
            s = attr.string
            if s is not None:
                if (
                    attr.int_ is None
                    and attr.bool_ is None
                    and attr.version is None
                    and (len(s) <= 16 or (len(s) <= ATTRIBUTE_VALUE_MAX_LEN and (s.isascii() or _blen(s) <= ATTRIBUTE_VALUE_MAX_LEN)))
                ):
                    values += 1
                    continue
            else:
                version = attr.version
                if version is not None:
                    if attr.int_ is None and attr.bool_ is None:
                        if version in good_versions:
                            values += 1
                            continue
                        if not _version_value(version) and len(good_versions) < 100_000:
                            good_versions.add(version)
                            values += 1
                            continue
                else:
                    i = attr.int_
                    if i is not None:
                        if attr.bool_ is None and _INT64_MIN <= i <= _INT64_MAX:
                            values += 1
                            continue
                    elif attr.bool_ is not None:
                        values += 1
                        continue
        values += _attribute_slow(key, attr, apath, errs)
    return values


def _validate_device(device: m.Device, path: str, per_device_nodes: bool, errs: _Errors) -> None:
    name_errs = _dns1123_label(device.name)
    if name_errs:
        errs.invalid_each(path + ".name", device.name, name_errs)
    attributes = device.attributes
    capacity = device.capacity
    n = len(attributes) + len(capacity)
    if n > ATTRS_AND_CAPS_MAX:
        errs.add(path, _invalid(n, f"the total number of attributes and capacities must not exceed {ATTRS_AND_CAPS_MAX}"))
    values = 0
    if attributes:
        apath = path + ".attributes"
        _check_names(attributes, apath, errs)
        values = _validate_attributes(attributes, apath, errs)
    if values > ATTRIBUTE_VALUES_MAX:
        errs.add(path, _invalid(values, f"the total number of attribute values must not exceed {ATTRIBUTE_VALUES_MAX}"))
    if capacity:
        cpath = path + ".capacity"
        _check_names(capacity, cpath, errs)
        multi = device.allow_multiple_allocations is True
        qcache = _QUANTITY_CACHE
        for key, cap in capacity.items():
            raw_value = cap.value
            policy = cap.request_policy
            if policy is None and raw_value.__class__ is str and raw_value in qcache:
                continue
            vpath = f"{cpath}[{_truncate_key(key, _ATTR_KEY_TRUNCATE)}]"
            value = None
            if raw_value is None:
                errs.add(vpath + ".value", _required())
            else:
                value = _quantity(raw_value, vpath + ".value", errs)
                if value is not None and raw_value.__class__ is str:
                    if len(qcache) > 100_000:
                        qcache.clear()
                    qcache[raw_value] = value
            if policy is not None:
                if multi:
                    if raw_value is None or value is not None:
                        _validate_request_policy(value, policy, vpath + ".requestPolicy", errs)
                else:
                    errs.add(vpath + ".requestPolicy", _forbidden("allowMultipleAllocations must be true"))
    if device.taints:
        tpath = path + ".taints"
        if len(device.taints) > TAINTS_MAX:
            errs.add(tpath, _too_many(len(device.taints), TAINTS_MAX))
        else:
            for j, taint in enumerate(device.taints):
                p = f"{tpath}[{j}]"
                errs.invalid_each(p + ".key", taint.key, _qualified_name(taint.key))
                if taint.value:
                    errs.invalid_each(p + ".value", taint.value, _label_value(taint.value))
                if not taint.effect:
                    errs.add(p + ".effect", _required())
                elif taint.effect not in _EFFECTS:
                    errs.add(p + ".effect", _not_supported(taint.effect, _EFFECTS))
    if device.consumes_counters:
        ccpath = path + ".consumesCounters"
        consumption = device.consumes_counters
        if len(consumption) > CONSUMES_COUNTERS_MAX:
            errs.add(ccpath, _too_many(len(consumption), CONSUMES_COUNTERS_MAX))
        else:
            seen: set[str] = set()
            for j, cc in enumerate(consumption):
                p = f"{ccpath}[{j}]"
                if not cc.counter_set:
                    errs.add(p + ".counterSet", _required())
                else:
                    errs.invalid_each(p + ".counterSet", cc.counter_set, _dns1123_label(cc.counter_set))
                if not cc.counters:
                    errs.add(p + ".counters", _required())
                else:
                    _validate_counters(cc.counters, COUNTERS_PER_CONSUMPTION_MAX, p + ".counters", errs)
            for j, cc in enumerate(consumption):
                if cc.counter_set in seen:
                    errs.add(f"{ccpath}[{j}]", _duplicate(cc.counter_set))
                seen.add(cc.counter_set)
    has_node_fields = device.node_name is not None or device.node_selector is not None or device.all_nodes is not None
    if per_device_nodes:
        set_fields = []
        if device.node_name is not None:
            if device.node_name:
                set_fields.append("`nodeName`")
                _validate_node_name(device.node_name, path + ".nodeName", errs)
            else:
                errs.add(path + ".nodeName", _invalid("", "must not be empty"))
        if device.node_selector is not None:
            set_fields.append("`nodeSelector`")
            _validate_node_selector(device.node_selector, path + ".nodeSelector", errs)
        if device.all_nodes is not None:
            if device.all_nodes:
                set_fields.append("`allNodes`")
            else:
                errs.add(path + ".allNodes", _invalid(False, "must be either unset or set to true"))
        msg = (
            "exactly one of `nodeName`, `nodeSelector`, or `allNodes` is required when "
            "`perDeviceNodeSelection` is set to true in the ResourceSlice spec"
        )
        if not set_fields:
            errs.add(path, _required(msg))
        elif len(set_fields) > 1:
            errs.add(path, _invalid("{" + ", ".join(set_fields) + "}", msg))
    elif has_node_fields:
        errs.add(
            path,
            _invalid(
                None,
                "`nodeName`, `nodeSelector` and `allNodes` can only be set if `perDeviceNodeSelection` is set to true in the ResourceSlice spec",
            ),
        )
    if device.binding_conditions or device.binding_failure_conditions:
        _validate_binding_conditions(device.binding_conditions, device.binding_failure_conditions, path, errs)


def _validate_list_attribute(attr: m.DeviceAttribute, path: str, errs: _Errors) -> int:
    count = 0
    for name, items in (("bools", attr.bools), ("ints", attr.ints), ("strings", attr.strings), ("versions", attr.versions)):
        if items is None:
            continue
        count += 1
        if not items:
            errs.add(f"{path}.{name}", _invalid([], "must not be empty if specified"))
        if name == "strings":
            for j, item in enumerate(items):
                if _blen(item) > ATTRIBUTE_VALUE_MAX_LEN:
                    errs.add(f"{path}.strings[{j}]", _too_long(ATTRIBUTE_VALUE_MAX_LEN))
        elif name == "versions":
            for j, item in enumerate(items):
                errs.extend(f"{path}.versions[{j}]", _version_value(item))
        elif name == "ints":
            for j, item in enumerate(items):
                if not (_INT64_MIN <= item <= _INT64_MAX):
                    _int64(item, f"{path}.ints[{j}]", errs)
    return count


def _validate_resource_slice(obj: m.ResourceSlice, raw: dict, errs: _Errors) -> None:
    _validate_object_meta(obj.metadata, False, errs)
    spec = obj.spec
    errs.extend("spec.driver", _driver_name(spec.driver))
    pool = spec.pool
    _validate_pool_name(pool.name, "spec.pool.name", errs)
    if pool.resource_slice_count <= 0:
        errs.add("spec.pool.resourceSliceCount", _invalid(pool.resource_slice_count, "must be greater than zero"))
    else:
        _int64(pool.resource_slice_count, "spec.pool.resourceSliceCount", errs)
    if pool.generation < 0:
        errs.add("spec.pool.generation", _invalid(pool.generation, "must be greater than or equal to zero"))
    else:
        _int64(pool.generation, "spec.pool.generation", errs)

    set_fields = []
    if spec.node_name is not None:
        if spec.node_name:
            set_fields.append("`nodeName`")
            _validate_node_name(spec.node_name, "spec.nodeName", errs)
        else:
            errs.add("spec.nodeName", _invalid("", "must be either unset or set to a non-empty string"))
    if spec.node_selector is not None:
        set_fields.append("`nodeSelector`")
        _validate_node_selector(spec.node_selector, "spec.nodeSelector", errs)
        if len(spec.node_selector.node_selector_terms) != 1:
            errs.add(
                "spec.nodeSelector.nodeSelectorTerms",
                _invalid(msgspec.to_builtins(spec.node_selector.node_selector_terms), "must have exactly one node selector term"),
            )
    if spec.all_nodes is not None:
        if spec.all_nodes:
            set_fields.append("`allNodes`")
        else:
            errs.add("spec.allNodes", _invalid(False, "must be either unset or set to true"))
    if spec.per_device_node_selection is not None:
        if spec.per_device_node_selection:
            set_fields.append("`perDeviceNodeSelection`")
        else:
            errs.add("spec.perDeviceNodeSelection", _invalid(False, "must be either unset or set to true"))
    one_of = "exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required"
    if not set_fields:
        errs.add("spec", _required(one_of))
    elif len(set_fields) > 1:
        errs.add("spec", _invalid("{" + ", ".join(set_fields) + "}", one_of + ", but multiple fields are set"))

    raw_spec = raw.get("spec")
    if isinstance(raw_spec, dict) and raw_spec.get("sharedCounters") is not None and raw_spec.get("devices") is not None:
        errs.add("spec", _invalid("", "only one of `sharedCounters` or `devices` is allowed"))

    devices = spec.devices
    advanced = False
    for device in devices if len(devices) > SLICE_MAX_DEVICES_ADVANCED else ():
        if device.taints or device.consumes_counters:
            advanced = True
            break
        for attr in device.attributes.values():
            if attr.ints is not None or attr.bools is not None or attr.strings is not None or attr.versions is not None:
                advanced = True
                break
    max_devices = SLICE_MAX_DEVICES_ADVANCED if advanced else SLICE_MAX_DEVICES
    if len(devices) > max_devices:
        errs.add("spec.devices", _too_many(len(devices), max_devices))
    else:
        per_device = spec.per_device_node_selection is True
        for i, device in enumerate(devices):
            _validate_device(device, f"spec.devices[{i}]", per_device, errs)
        seen: set[str] = set()
        for i, device in enumerate(devices):
            if device.name in seen:
                errs.add(f"spec.devices[{i}]", _duplicate(device.name))
            seen.add(device.name)

    sets = spec.shared_counters
    if len(sets) > COUNTER_SETS_MAX:
        errs.add("spec.sharedCounters", _too_many(len(sets), COUNTER_SETS_MAX))
    elif sets:
        for i, counter_set in enumerate(sets):
            p = f"spec.sharedCounters[{i}]"
            if not counter_set.name:
                errs.add(p + ".name", _required())
            else:
                errs.invalid_each(p + ".name", counter_set.name, _dns1123_label(counter_set.name))
            if not counter_set.counters:
                errs.add(p + ".counters", _required())
            else:
                _validate_counters(counter_set.counters, COUNTERS_PER_SET_MAX, p + ".counters", errs)
        seen_sets: set[str] = set()
        for i, counter_set in enumerate(sets):
            if counter_set.name in seen_sets:
                errs.add(f"spec.sharedCounters[{i}]", _duplicate(counter_set.name))
            seen_sets.add(counter_set.name)


# --- decoding -------------------------------------------------------------------------------

_VALIDATORS: dict[type, Callable[[Any, dict, _Errors], None]] = {
    m.ResourceSlice: _validate_resource_slice,
    m.DeviceClass: _validate_device_class,
    m.ResourceClaim: _validate_resource_claim,
    m.ResourceClaimTemplate: _validate_resource_claim_template,
}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _identity(obj: Any) -> tuple[str, str, str]:
    """kind, namespace, name of a raw object for error messages."""
    if not isinstance(obj, dict):
        return "", "", ""
    kind = _str(obj.get("kind"))
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return kind, "", ""
    name = _str(meta.get("name")) or _str(meta.get("generateName"))
    namespace = ""
    if kind in NAMESPACED:
        namespace = _str(meta.get("namespace")) or "default"
    return kind, namespace, name


_TYPE_WORDS = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "object": "object", "array": "array"}
_PATH_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[(\.\.\.)\]")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def _resolve(node: Any, tokens: list, got: Optional[str]) -> Optional[tuple[list[str], Any]]:
    """Follow a msgspec error path through the raw dict; ``[...]`` tries every map key."""
    if not tokens:
        if got is None or _json_type(node) == got:
            return [], node
        return None
    kind, arg = tokens[0]
    rest = tokens[1:]
    if kind == "field":
        if isinstance(node, dict) and arg in node:
            found = _resolve(node[arg], rest, got)
            if found is not None:
                return ["." + arg] + found[0], found[1]
        return None
    if kind == "index":
        if isinstance(node, (list, tuple)) and arg < len(node):
            found = _resolve(node[arg], rest, got)
            if found is not None:
                return [f"[{arg}]"] + found[0], found[1]
        return None
    if isinstance(node, dict):
        for key, value in node.items():
            found = _resolve(value, rest, got)
            if found is not None:
                return [f"[{key}]"] + found[0], found[1]
    return None


def _decode_error(err: Exception, raw: Any) -> FieldError:
    kind, namespace, name = _identity(raw)
    text = str(err)
    message, sep, where = text.partition(" - at `")
    if not sep:
        return FieldError(kind, namespace, name, "", f"Invalid value: {message}")
    where = where.rstrip("`")
    key_error = False
    if where.startswith("key` in `"):
        key_error = True
        where = where[len("key` in `") :]
    tokens: list = []
    for match in _PATH_TOKEN.finditer(where[1:] if where.startswith("$") else where):
        if match.group(1) is not None:
            tokens.append(("field", match.group(1)))
        elif match.group(2) is not None:
            tokens.append(("index", int(match.group(2))))
        else:
            tokens.append(("key", None))
    expected_m = re.match(r"Expected `([^`]*)`, got `([^`]*)`", message)
    got = expected_m.group(2) if expected_m else None
    found = _resolve(raw, tokens, None if key_error else got)
    if found is None:
        found = _resolve(raw, tokens, None)
    if found is not None:
        path = "".join(found[0]).lstrip(".")
        value = found[1]
    else:
        path = where.lstrip("$").lstrip(".")
        value = None
    if key_error:
        bad = None
        if isinstance(value, dict):
            bad = next((k for k in value if not isinstance(k, str)), None)
        return FieldError(kind, namespace, name, path, _invalid(bad, "map keys must be strings"))
    if expected_m:
        words = []
        for part in expected_m.group(1).split(" | "):
            if part != "null":
                word = _TYPE_WORDS.get(part, part)
                if word not in words:
                    words.append(word)
        if found is not None:
            if isinstance(value, (dict, list, tuple)):
                shown = f"{_TYPE_WORDS.get(_json_type(value), _json_type(value))}"
                return FieldError(kind, namespace, name, path, f"Invalid value: {shown}: must be of type {' or '.join(words)}")
            return FieldError(kind, namespace, name, path, _invalid(value, f"must be of type {' or '.join(words)}"))
        return FieldError(kind, namespace, name, path, f"Invalid value: must be of type {' or '.join(words)}, got {got}")
    return FieldError(kind, namespace, name, path, f"Invalid value: {message}")


def _defaults_exact(req: Any) -> None:
    if req.allocation_mode == "":
        req.allocation_mode = "ExactCount"
    if req.allocation_mode == "ExactCount" and req.count == 0:
        req.count = 1
    for tol in req.tolerations:
        if tol.operator == "":
            tol.operator = "Equal"


def _defaults_claim_spec(spec: m.ResourceClaimSpec) -> None:
    for req in spec.devices.requests:
        if req.exactly is not None:
            _defaults_exact(req.exactly)
        for sub in req.first_available:
            _defaults_exact(sub)


def apply_defaults(typed: Any) -> Any:
    """The apiserver's defaulting for v1 (in place): allocationMode ExactCount, count 1 for
    ExactCount, toleration operator Equal."""
    if isinstance(typed, m.ResourceClaim):
        _defaults_claim_spec(typed.spec)
        if typed.status.allocation is not None:
            for result in typed.status.allocation.devices.results:
                for tol in result.tolerations:
                    if tol.operator == "":
                        tol.operator = "Equal"
    elif isinstance(typed, m.ResourceClaimTemplate):
        _defaults_claim_spec(typed.spec.spec)
    return typed


def _to_v1(obj: Any) -> Any:
    """The object to decode (v1 form), or None when it is not one of our typed kinds."""
    if not isinstance(obj, dict):
        raise InputError(f"expected a mapping, got {type(obj).__name__}")
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in m.TYPED_KINDS:
        return None
    api_version = obj.get("apiVersion")
    if kind in VALIDATED_KINDS:
        if not isinstance(api_version, str) or not api_version.startswith(_RESOURCE_GROUP):
            return None
        if api_version == V1:
            return obj
        if api_version in BETA_VERSIONS:
            return to_v1(obj)
        k, ns, name = _identity(obj)
        raise ValidationFailed([FieldError(k, ns, name, "apiVersion", _not_supported(api_version, _SUPPORTED_VERSIONS))])
    if api_version != "v1":
        return None
    return obj


_FREE_FORM_FIELDS = frozenset({"parameters", "data"})


def _strip_nulls(node: Any) -> Any:
    """A copy without null mapping values: for the apiserver (Go's encoding/json) ``null``
    is the same as leaving a field out; free-form fields (opaque ``parameters``, device
    status ``data``) are kept as written."""
    if isinstance(node, dict):
        return {k: (v if k in _FREE_FORM_FIELDS else _strip_nulls(v)) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_strip_nulls(v) for v in node]
    return node


def _convert(obj: dict) -> Any:
    cls = m.TYPED_KINDS[obj["kind"]]
    try:
        return msgspec.convert(obj, cls)
    except msgspec.ValidationError as err:
        if "got `null`" not in str(err):
            raise ValidationFailed([_decode_error(err, obj)]) from None
    # Explicit nulls (``tolerations:`` with nothing after it) mean "not set"; decoding them
    # is the rare case, so the copy without them is only made when needed.
    try:
        obj = _strip_nulls(obj)
        return msgspec.convert(obj, cls)
    except msgspec.ValidationError as err:
        raise ValidationFailed([_decode_error(err, obj)]) from None
    except RecursionError:
        k, ns, name = _identity(obj)
        raise ValidationFailed([FieldError(k, ns, name, "", "Invalid value: object nested too deeply")]) from None
    except Exception as err:  # noqa: BLE001 - msgspec may raise TypeError/ValueError on odd data
        k, ns, name = _identity(obj)
        raise ValidationFailed([FieldError(k, ns, name, "", f"Invalid value: {err}")]) from None


def decode(obj: dict) -> Any:
    """The typed, defaulted model of a raw object (any served resource.k8s.io version).

    Returns None for kinds without a model. Raises ValidationFailed on type errors."""
    v1 = _to_v1(obj)
    if v1 is None:
        return None
    return apply_defaults(_convert(v1))


def validate(typed: Any, raw: Optional[dict] = None) -> list[FieldError]:
    """All apiserver validation errors of a decoded object (empty when valid).

    ``raw`` is the v1-shaped dict the object was decoded from; it is needed to tell an
    absent list from an empty one (devices vs sharedCounters) and to find fields that the
    typed model does not keep (ResourceClaimTemplate ``spec.metadata``)."""
    validator = _VALIDATORS.get(type(typed))
    if validator is None:
        return []
    if raw is None:
        raw = msgspec.to_builtins(typed)
    elif raw.get("apiVersion") in BETA_VERSIONS:
        raw = to_v1(raw)
    errs = _Errors()
    validator(typed, raw, errs)
    if not errs.items:
        return []
    meta = typed.metadata
    kind = typed.kind or type(typed).__name__
    namespace = (meta.namespace or "default") if kind in NAMESPACED else ""
    name = meta.name or meta.generate_name
    return [FieldError(kind, namespace, name, path, message) for path, message in errs.items]


def decode_and_validate(obj: dict) -> Any:
    """decode + validate; raises ValidationFailed with every error. None for other kinds."""
    v1 = _to_v1(obj)
    if v1 is None:
        return None
    typed = apply_defaults(_convert(v1))
    validator = _VALIDATORS.get(type(typed))
    if validator is None:
        return typed
    errs = _Errors()
    try:
        validator(typed, v1, errs)
    except RecursionError:
        k, ns, name = _identity(v1)
        raise ValidationFailed([FieldError(k, ns, name, "", "Invalid value: object nested too deeply")]) from None
    if errs.items:
        meta = typed.metadata
        kind = typed.kind or type(typed).__name__
        namespace = (meta.namespace or "default") if kind in NAMESPACED else ""
        name = meta.name or meta.generate_name
        raise ValidationFailed([FieldError(kind, namespace, name, path, message) for path, message in errs.items])
    return typed
