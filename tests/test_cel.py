"""gpuplane.cel: the DRA device-selector CEL environment (upstream cel/compile.go semantics)."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuplane import cel
from gpuplane.api.models import Device, DeviceAttribute, DeviceCapacity
from gpuplane.cel import (
    CelCompileError,
    CelError,
    CelRuntimeError,
    CompiledSelector,
    compile_selector,
    device_input,
)

DRIVER = "gpu.nvidia.com"


def gpu(**overrides) -> Device:
    attrs = {
        "index": DeviceAttribute(int_=3),
        "productName": DeviceAttribute(string="NVIDIA H100 80GB HBM3"),
        "driverVersion": DeviceAttribute(version="560.35.3"),
        "cudaVersion": DeviceAttribute(version="12.4.0-rc.1"),
        "mig": DeviceAttribute(bool_=False),
        "gpu.nvidia.com/uuid": DeviceAttribute(string="GPU-123"),
        "other.example.com/zone": DeviceAttribute(string="a"),
        "ids": DeviceAttribute(ints=[3, 1, 2]),
        "names": DeviceAttribute(strings=["a", "b"]),
        "versions": DeviceAttribute(versions=["1.0.0", "2.0.0-beta"]),
    }
    caps = {
        "memory": DeviceCapacity(value="80Gi"),
        "cores": DeviceCapacity(value=132),
        "other.example.com/bandwidth": DeviceCapacity(value="1.5"),
    }
    attrs.update(overrides.pop("attributes", {}))
    caps.update(overrides.pop("capacity", {}))
    return Device(name=overrides.pop("name", "gpu-0"), attributes=attrs, capacity=caps, **overrides)


@pytest.fixture(scope="module")
def dev():
    return device_input(DRIVER, gpu())


def ev(expr: str, d=None, **kw) -> bool:
    return compile_selector(expr, **kw).matches(d if d is not None else device_input(DRIVER, gpu()))


def compile_error(expr: str, **kw) -> str:
    with pytest.raises(CelCompileError) as info:
        compile_selector(expr, **kw)
    return str(info.value)


def runtime_error(expr: str, d=None) -> str:
    sel = compile_selector(expr)
    with pytest.raises(CelRuntimeError) as info:
        sel.matches(d if d is not None else device_input(DRIVER, gpu()))
    return str(info.value)


# --- variables and device materialisation ---------------------------------------------------


def test_error_hierarchy():
    assert issubclass(CelCompileError, CelError) and issubclass(CelRuntimeError, CelError)
    assert issubclass(CelError, Exception)


def test_driver_and_typical_selector(dev):
    assert ev('device.driver == "gpu.nvidia.com"', dev)
    assert ev(
        'device.driver == "gpu.nvidia.com" && device.attributes["gpu.nvidia.com"].productName == "NVIDIA H100 80GB HBM3"'
        ' && device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("40Gi")) >= 0',
        dev,
    )
    assert not ev('device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("81Gi")) >= 0', dev)
    assert ev('device.attributes["gpu.nvidia.com"].driverVersion.isGreaterThan(semver("550.0.0"))', dev)


def test_driver_domain_default(dev):
    # names without a domain belong to the driver's domain; a qualified name to its own domain
    assert ev('device.attributes["gpu.nvidia.com"].index == 3', dev)
    assert ev('device.attributes["gpu.nvidia.com"].uuid == "GPU-123"', dev)
    assert ev('device.attributes["other.example.com"].zone == "a"', dev)
    assert ev('!has(device.attributes["gpu.nvidia.com"].zone)', dev)
    assert ev('device.capacity["other.example.com"].bandwidth == quantity("1500m")', dev)
    assert ev('device.capacity["gpu.nvidia.com"].cores == quantity("132")', dev)
    # split at the first "/"
    d = device_input("drv.com", Device(name="x", attributes={"a.com/b/c": DeviceAttribute(int_=1)}))
    assert ev('device.attributes["a.com"]["b/c"] == 1', d)


def test_attribute_value_types(dev):
    assert ev('device.attributes["gpu.nvidia.com"].index + 1 == 4', dev)
    assert ev('device.attributes["gpu.nvidia.com"].mig == false', dev)
    assert ev('device.attributes["gpu.nvidia.com"].ids == [3, 1, 2]', dev)
    assert ev('device.attributes["gpu.nvidia.com"].names.exists(n, n == "b")', dev)
    assert ev('device.attributes["gpu.nvidia.com"].versions.exists(v, v == semver("2.0.0-beta"))', dev)
    assert ev('device.attributes["gpu.nvidia.com"].driverVersion.major() == 560', dev)


def test_unknown_domain_is_empty_map(dev):
    assert ev('!has(device.attributes["x.com"].y)', dev)
    assert ev('device.attributes["x.com"].size() == 0', dev)
    assert ev('device.capacity["x.com"] == {}', dev)
    assert ev('device.attributes.nodomain.size() == 0', dev)
    assert ev('device.attributes["x.com"].?y.orValue(7) == 7', dev)
    # membership and iteration see only real domains (upstream's mapper only defaults lookups)
    assert ev('!("x.com" in device.attributes)', dev)
    assert ev('"gpu.nvidia.com" in device.attributes', dev)
    assert ev('device.attributes.all(d, d in ["gpu.nvidia.com", "other.example.com"])', dev)
    assert ev('"x.com" in device.attributes && device.attributes["x.com"].y == 1', dev) is False
    assert runtime_error('device.attributes["x.com"].y == 1', dev) == "no such key: y"


def test_unknown_key_in_known_domain_is_runtime_error(dev):
    assert runtime_error('device.attributes["gpu.nvidia.com"].nosuch == 1', dev) == "no such key: nosuch"
    assert runtime_error('device.capacity["gpu.nvidia.com"].nosuch.isInteger()', dev) == "no such key: nosuch"
    assert ev('device.attributes["gpu.nvidia.com"].?nosuch.orValue(0) == 0', dev)
    assert ev('!("nosuch" in device.attributes["gpu.nvidia.com"])', dev)


def test_equality_with_quantity_or_semver_like_upstream(dev):
    # upstream's Semver/Quantity Equal: "no such overload" for another type on the right
    assert runtime_error('device.attributes["gpu.nvidia.com"].driverVersion == 0', dev) == "no such overload"
    # cel-go's != is Equal(a, b) != true: never an error
    assert ev('device.attributes["gpu.nvidia.com"].driverVersion != "560.35.3"', dev)
    assert ev('device.capacity["gpu.nvidia.com"].memory != false', dev)
    assert runtime_error('device.capacity["gpu.nvidia.com"].memory == 1', dev) == "no such overload"
    assert runtime_error('quantity("1") == device.attributes["gpu.nvidia.com"].productName', dev) == "no such overload"
    # ... but int/string Equal on the left just says false, and null compares false
    assert ev('0 != device.attributes["gpu.nvidia.com"].driverVersion', dev)
    assert ev('device.attributes["gpu.nvidia.com"].driverVersion != null', dev)
    assert ev('device.attributes["gpu.nvidia.com"].driverVersion == semver("560.35.3")', dev)
    assert ev('device.attributes["gpu.nvidia.com"].index == 3 && device.attributes["gpu.nvidia.com"].productName != "x"', dev)
    assert ev('device.attributes["gpu.nvidia.com"].ids.exists(x, x == 1)', dev)


def test_unset_attribute_fails_every_selector():
    d = device_input(DRIVER, gpu(attributes={"broken": DeviceAttribute()}))
    msg = runtime_error("true", d)
    assert msg == "attribute broken: unsupported attribute value"
    assert "unsupported attribute value" in runtime_error('device.driver == "x"', d)
    bad_version = device_input(DRIVER, gpu(attributes={"v": DeviceAttribute(version="1.0")}))
    assert runtime_error("true", bad_version).startswith("attribute v: parse semantic version:")


def test_allow_multiple_allocations():
    shared = device_input(DRIVER, gpu(allow_multiple_allocations=True))
    plain = device_input(DRIVER, gpu())
    assert ev("device.allowMultipleAllocations", shared)
    assert ev("device.allowMultipleAllocations == false", plain)
    # upstream's "stable" allocator does not pass the field: false
    stable = device_input(DRIVER, gpu(allow_multiple_allocations=True), consumable_capacity=False)
    assert ev("device.allowMultipleAllocations == false", stable)


def test_scheduler_environment_ignores_feature_gates():
    # the scheduler compiles in upstream's StoredExpressions environment: always declared
    sel = compile_selector("device.allowMultipleAllocations", consumable_capacity=False)
    assert sel is compile_selector("device.allowMultipleAllocations", consumable_capacity=True)
    assert sel.matches(device_input(DRIVER, gpu(allow_multiple_allocations=True)))
    # apiserver validation of new expressions honours the gate
    msg = compile_error("device.allowMultipleAllocations", consumable_capacity=False, new_expressions=True)
    assert "undefined field 'allowMultipleAllocations'" in msg
    assert compile_selector("device.allowMultipleAllocations", consumable_capacity=True, new_expressions=True)


def test_list_attributes_take_precedence_like_upstream():
    both = device_input(DRIVER, gpu(attributes={"x": DeviceAttribute(int_=1, ints=[1, 2])}))
    assert ev('device.attributes["gpu.nvidia.com"].x == [1, 2]', both)


# --- compile errors -------------------------------------------------------------------------


def test_syntax_error_has_position():
    msg = compile_error('device.driver == ')
    assert msg.startswith("compilation failed: ERROR: <input>:1:18: Syntax error: mismatched input '<EOF>'")
    assert "\n | device.driver == \n | .................^" in msg


def test_type_errors_at_compile_time():
    assert "undefined field 'foo'" in compile_error("device.foo == 1")
    assert "<input>:1:7:" in compile_error("device.foo == 1")
    assert "undeclared reference to 'nosuchFn'" in compile_error("nosuchFn(1)")
    assert "found no matching overload for '_<_' applied to '(kubernetes.Quantity, kubernetes.Quantity)'" in compile_error(
        'quantity("1") < quantity("2")'
    )
    assert "'(kubernetes.Semver, kubernetes.Quantity)'" in compile_error('semver("1.0.0").compareTo(quantity("1"))')
    assert "applied to '(kubernetes.Quantity, string)'" in compile_error('quantity("1") == "1"')
    # capacity values are Quantities: no ordering/arithmetic on them either
    assert "'_<_'" in compile_error('device.capacity["gpu.nvidia.com"].memory < device.capacity["gpu.nvidia.com"].cores')
    assert "does not support field selection" in compile_error('quantity("1").q == "1"')
    assert "undeclared reference to 'kubernetes.Quantity'" in compile_error('kubernetes.Quantity{q: "1"} == quantity("1")')
    assert "expected type 'int' but found 'string'" in compile_error('[1, "a"].size() == 2')


def test_result_must_be_bool(dev):
    assert compile_error("device.driver") == "must evaluate to bool or the unknown type, not string"
    assert compile_error('quantity("1")') == "must evaluate to bool or the unknown type, not kubernetes.Quantity"
    assert compile_error("1 + 1") == "must evaluate to bool or the unknown type, not int"
    # dyn results are checked when evaluated
    assert runtime_error('device.attributes["gpu.nvidia.com"].productName', dev) == (
        "CEL result of type string could not be converted to bool"
    )
    assert runtime_error('device.capacity["gpu.nvidia.com"].memory', dev) == (
        "CEL result of type kubernetes.Quantity could not be converted to bool"
    )
    assert ev('device.attributes["gpu.nvidia.com"].mig == false && dyn(true)', dev)


def test_expression_length_limit():
    ok = "true" + " " * (10 * 1024 - 4)
    assert compile_selector(ok).matches(device_input(DRIVER, gpu()))
    assert "too long" in compile_error(ok + " ")


def test_non_string_expression():
    with pytest.raises(CelCompileError):
        compile_selector(None)  # type: ignore[arg-type]
    with pytest.raises(CelCompileError):
        compile_selector(["true"])  # type: ignore[arg-type]


# --- quantity library -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        'quantity("1Gi") == quantity("1024Mi")',
        'quantity("1") == quantity("1000m")',
        'quantity("1Gi") != quantity("1G")',
        'isQuantity("1.5Gi") && !isQuantity("1GG") && !isQuantity("")',
        'quantity("2").isInteger() && !quantity("1.5").isInteger()',
        'quantity("2k").asInteger() == 2000',
        'quantity("1.5").asApproximateFloat() == 1.5',
        'sign(quantity("-3")) == -1 && sign(quantity("0")) == 0 && sign(quantity("1m")) == 1',
        'quantity("1Gi").add(quantity("1Gi")) == quantity("2Gi")',
        'quantity("1").add(2) == quantity("3")',
        'quantity("1").sub(quantity("500m")) == quantity("0.5")',
        'sign(quantity("1").sub(3)) == -1',
        'quantity("2Gi").isGreaterThan(quantity("1Gi")) && !quantity("1Gi").isGreaterThan(quantity("1Gi"))',
        'quantity("1Gi").isLessThan(quantity("2Gi"))',
        'quantity("1Gi").compareTo(quantity("1024Mi")) == 0',
        'quantity("-1").compareTo(quantity("-2")) == 1 && quantity("-2").compareTo(quantity("-1")) == -1',
        # Python-implemented path (compareTo not directly compared with -1/0/1)
        'cel.bind(c, quantity("1").compareTo(quantity("2")), c == -1)',
        'cel.bind(c, quantity("3").compareTo(quantity("2")), c + 1 == 2)',
        '[quantity("1"), quantity("2")].exists(q, q.isGreaterThan(quantity("1500m")))',
        'device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("80Gi")) == 0',
        'device.capacity["gpu.nvidia.com"].memory.isGreaterThan(quantity("79Gi"))',
        '0 <= device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("40Gi"))',
        'device.capacity["gpu.nvidia.com"].memory.sub(quantity("40Gi")) == quantity("40Gi")',
        'device.capacity["gpu.nvidia.com"].cores.asInteger() == 132',
        '!device.capacity["other.example.com"].bandwidth.isInteger()',
    ],
)
def test_quantity_library(dev, expr):
    assert ev(expr, dev) is True


@pytest.mark.parametrize(
    "expr, expected",
    [
        # isInteger/asInteger follow apimachinery's internal representation (Quantity.AsInt64)
        ('quantity("1000m").isInteger()', False),
        ('quantity("1.5Gi").isInteger()', False),
        ('quantity("1.5k").isInteger() && quantity("1.5k").asInteger() == 1500', True),
        ('quantity("1e3").isInteger()', True),
        ('quantity("1e30").isInteger()', False),
        ('quantity("1").add(quantity("500m")).isInteger()', False),
        ('quantity("1").add(quantity("1")).isInteger()', True),
        ('quantity("1.5").add(quantity("500m")).isInteger()', False),
        # equality and ordering are by value whatever the representation
        ('quantity("1") == quantity("1000m")', True),
        ('quantity("1.5Gi") == quantity("1536Mi")', True),
        ('quantity("1000m").compareTo(quantity("1")) == 0', True),
        ('device.capacity["gpu.nvidia.com"].cores.compareTo(quantity("132000m")) >= 0', True),
        ('device.capacity["gpu.nvidia.com"].cores.compareTo(quantity("132000m")) > 0', False),
        ('device.capacity["gpu.nvidia.com"].cores.compareTo(quantity("132000m")) <= 0', True),
        ('device.capacity["gpu.nvidia.com"].cores.compareTo(quantity("132000m")) < 0', False),
        ('device.capacity["gpu.nvidia.com"].cores.isGreaterThan(quantity("131999m"))', True),
        ('quantity("132000m").isLessThan(device.capacity["gpu.nvidia.com"].cores)', False),
        ('device.capacity["gpu.nvidia.com"].cores == quantity("132000m")', True),
        ('device.capacity["gpu.nvidia.com"].memory != quantity("80Gi")', False),
        ('device.capacity["gpu.nvidia.com"].cores != quantity("132000m")', False),
        ('quantity("1") != quantity("1000m")', False),
        ('device.capacity["gpu.nvidia.com"].cores != "x"', True),
    ],
)
def test_quantity_representation_semantics(dev, expr, expected):
    assert ev(expr, dev) is expected


def test_quantity_runtime_errors(dev):
    assert runtime_error('sign(quantity("abc")) == 0', dev) == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )
    assert runtime_error('quantity("1.5").asInteger() == 1', dev) == "cannot convert value to integer"
    assert runtime_error('quantity("100E").asInteger() > 0', dev) == "cannot convert value to integer"


# --- semver library -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        'semver("1.2.3").major() == 1 && semver("1.2.3").minor() == 2 && semver("1.2.3").patch() == 3',
        'isSemver("1.2.3") && !isSemver("1.2") && !isSemver("v1.2.3")',
        'isSemver("v1.2", true) && semver("v1.2", true) == semver("1.2.0")',
        'semver("01.002.3", true) == semver("1.2.3")',
        'semver("v1.0.03-rc.1", true) == semver("1.0.3-rc.1") && !isSemver("1.2-rc", true)',
        'semver("1.0.0+build.1") == semver("1.0.0+build.2")',
        'semver("1.10.0").isGreaterThan(semver("1.9.0"))',
        'semver("1.0.0").compareTo(semver("1.0.0")) == 0',
        'semver("2.0.0").compareTo(semver("10.0.0")) == -1',
        # pre-release ordering (semver 2.0.0 precedence)
        'semver("1.0.0-alpha").isLessThan(semver("1.0.0"))',
        'semver("1.0.0-alpha").isLessThan(semver("1.0.0-alpha.1"))',
        'semver("1.0.0-alpha.1").isLessThan(semver("1.0.0-alpha.beta"))',
        'semver("1.0.0-alpha.beta").isLessThan(semver("1.0.0-beta"))',
        'semver("1.0.0-beta.2").isLessThan(semver("1.0.0-beta.11"))',
        'semver("1.0.0-beta.11").isLessThan(semver("1.0.0-rc.1"))',
        'semver("1.0.0-rc.1").isLessThan(semver("1.0.0"))',
        'cel.bind(c, semver("1.0.0-rc.1").compareTo(semver("1.0.0-rc.2")), c == -1)',
        'device.attributes["gpu.nvidia.com"].cudaVersion.isLessThan(semver("12.4.0"))',
        'device.attributes["gpu.nvidia.com"].cudaVersion == semver("12.4.0-rc.1")',
        'device.attributes["gpu.nvidia.com"].driverVersion.compareTo(semver("560.35.3")) == 0',
    ],
)
def test_semver_library(dev, expr):
    assert ev(expr, dev) is True


def test_semver_errors(dev):
    assert "invalid semantic version" in runtime_error('semver("1.0").major() == 1', dev)


# --- k8s lists, regex, extensions --------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "[1, 2, 3].isSorted() && ![3, 1].isSorted() && ['a', 'b'].isSorted()",
        "[1, 2, 3].sum() == 6 && [1.5, 2.5].sum() == 4.0 && [1u, 2u].sum() == 3u",
        "[3, 1, 2].min() == 1 && [3, 1, 2].max() == 3 && ['b', 'a'].min() == 'a'",
        "[1, 2, 1].indexOf(1) == 0 && [1, 2, 1].lastIndexOf(1) == 2 && [1].indexOf(5) == -1",
        "['a', 'b'].indexOf('b') == 1",
        'device.attributes["gpu.nvidia.com"].ids.sum() == 6',
        'device.attributes["gpu.nvidia.com"].ids.min() == 1',
        'device.attributes["gpu.nvidia.com"].names.indexOf("b") == 1',
        'device.attributes["gpu.nvidia.com"].ids.includes(2) && device.attributes["gpu.nvidia.com"].index.includes(3)',
        '"abcabc".find("b.") == "bc" && "abc".find("z") == ""',
        '"a1b22c333".findAll("[0-9]+") == ["1", "22", "333"] && "a1b22".findAll("[0-9]+", 1) == ["1"]',
        '"abc".matches("^a.c$")',
        # strings extension
        '"abc".charAt(1) == "b" && "abc".indexOf("c") == 2 && "abca".lastIndexOf("a") == 3',
        '"AbC".lowerAscii() == "abc" && "abc".upperAscii() == "ABC" && " x ".trim() == "x"',
        '"a,b".split(",") == ["a", "b"] && ["a", "b"].join("-") == "a-b" && "abc".substring(1, 2) == "b"',
        '"aaa".replace("a", "b", 2) == "bba" && strings.quote("a") == "\\"a\\"" && "%s-%s".format(["x", "y"]) == "x-y" && "%d".format([dyn(1)]) == "1"',
        # sets
        "sets.contains([1, 2, 3], [1, 2]) && sets.equivalent([1, 1, 2], [2, 1]) && sets.intersects([1], [1, 5])",
        # lists extension
        "lists.range(3) == [0, 1, 2] && [1, 2, 3].slice(1, 2) == [2] && [[1], [2, 3]].flatten() == [1, 2, 3]",
        "[3, 1, 2].sort() == [1, 2, 3] && [1, 1, 2].distinct() == [1, 2] && [1, 2].reverse() == [2, 1]",
        "['bb', 'a'].sortBy(s, s.size()) == ['a', 'bb'] && [1, 2].first().value() == 1",
        # optional
        'optional.of(1).hasValue() && !optional.none().hasValue() && optional.none().orValue(2) == 2',
        '{"a": 1}[?"b"].orValue(5) == 5 && {"a": 1}.?a.value() == 1',
        # bindings and two-variable comprehensions
        'cel.bind(x, 2, x * x == 4)',
        '[10, 20].all(i, v, v == (i + 1) * 10) && {"a": 1}.exists(k, v, k == "a" && v == 1)',
        '[1, 2].transformList(i, v, v * 2) == [2, 4]',
        # standard library
        'duration("1h") > duration("1m") && timestamp("2020-01-01T00:00:00Z").getFullYear() == 2020',
        'dyn(1) == 1.0 && dyn(1) < 1.5 && size("abc") == 3 && int("5") == 5 && string(5) == "5"',
        '[1, 2].map(x, x * 2).filter(x, x > 2) == [4] && [1, 2].exists_one(x, x == 1)',
    ],
)
def test_other_libraries(dev, expr):
    assert ev(expr, dev) is True


def test_library_runtime_errors(dev):
    assert runtime_error("[].min() == 1", dev) == "min called on empty list"
    assert "not supported" in runtime_error("[duration('1s')].sum() == duration('1s')", dev)
    assert runtime_error("1 / 0 == 1", dev) == "division by zero"
    assert runtime_error("[1][3] == 1", dev).startswith("index '3' out of range")
    assert "error parsing regexp" in runtime_error('"a".find("[") == ""', dev)


def test_unsupported_functions_fail_to_compile():
    assert "not supported" in compile_error('{"a": 1}.transformMap(k, v, v + 1) == {"a": 2}')
    assert "undeclared reference to 'math'" in compile_error("math.greatest(1, 2) == 2")
    assert "undeclared reference" in compile_error('url("https://x").getHost() == "x"')
    assert "undeclared reference" in compile_error('ip("1.2.3.4").family() == 4')


# --- cost limit -----------------------------------------------------------------------------


def test_cost_limit_rejects_pathological_expressions_quickly():
    nested = 'device.attributes["gpu.nvidia.com"]'
    deep = f"{nested}.exists(a, {nested}.exists(b, {nested}.exists(c, {nested}.exists(d, a == d))))"
    cases = [
        deep,
        "lists.range(100000000).exists(i, i < 0)",
        # cel-cpp copies the accumulator on every append: map/filter are quadratic
        "lists.range(5000).map(x, x).size() > 0",
        'lists.range(device.attributes["gpu.nvidia.com"].index).size() > 0',
        # exponential growth through bindings: 2^25 characters
        "cel.bind(s0, 'xx', " + "".join(f"cel.bind(s{i}, s{i - 1} + s{i - 1}, " for i in range(1, 24)) + "s23.size() > 0" + ")" * 24,
    ]
    for expr in cases:
        start = time.monotonic()
        msg = compile_error(expr)
        assert time.monotonic() - start < 2.0
        assert msg.startswith("too complex, exceeds cost limit"), msg
    # three levels over the device's bounded maps is fine
    three = f"{nested}.exists(a, {nested}.exists(b, {nested}.exists(c, a == c && b == c)))"
    sel = compile_selector(three)
    assert sel.cost <= cel.MAX_COST
    assert sel.matches(device_input(DRIVER, gpu()))


def test_runtime_iteration_budget():
    sel = compile_selector("lists.range(6000).all(a, a >= 0) && lists.range(6000).all(b, b >= 0)")
    start = time.monotonic()
    with pytest.raises(CelRuntimeError, match="iteration budget exceeded"):
        sel.matches(device_input(DRIVER, gpu()))
    assert time.monotonic() - start < 2.0


def test_cost_estimate_of_typical_selector_is_small():
    sel = compile_selector('device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("40Gi")) >= 0')
    assert 0 < sel.cost < 100


# --- cache ----------------------------------------------------------------------------------


def test_compile_cache_reuse():
    a = compile_selector('device.driver == "cache-test"')
    b = compile_selector('device.driver == "cache-test"')
    c = compile_selector('device.driver == "cache-test"', consumable_capacity=False, new_expressions=True)
    assert isinstance(a, CompiledSelector) and a is b and a is not c
    assert a.expression == 'device.driver == "cache-test"'
    # errors are cached too, and a fresh exception is raised each time
    e1 = compile_error("1 +")
    e2 = compile_error("1 +")
    assert e1 == e2
    info = cel.cache_info()
    assert 0 < info["size"] <= info["max_size"]


def test_device_input_is_reusable_across_selectors(dev):
    sels = [compile_selector(f'device.attributes["gpu.nvidia.com"].index == {i}') for i in range(6)]
    assert [s.matches(dev) for s in sels] == [False, False, False, True, False, False]
    assert [s.matches(dev) for s in sels] == [False, False, False, True, False, False]


# --- fuzzing: only CelError subclasses, never other exceptions or crashes ------------------------

SEEDS = [
    'device.driver == "gpu.nvidia.com"',
    'device.attributes["gpu.nvidia.com"].index == 3',
    'device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("40Gi")) >= 0',
    'device.attributes["gpu.nvidia.com"].driverVersion.isGreaterThan(semver("550.0.0"))',
    'has(device.attributes["x.com"].y) || device.attributes["gpu.nvidia.com"].mig',
    'device.attributes["gpu.nvidia.com"].ids.exists(x, x > 2)',
    'cel.bind(a, "x", a + a == "xx")',
    '[1, 2, 3].sum() == 6 && [3, 1].min() == 1',
    'lists.range(5).map(x, x * 2).filter(y, y > 2).size() == 3',
    '{"a": 1}.all(k, v, v > 0)',
    'quantity("1Gi").add(quantity("1Mi")).isInteger()',
    'semver("v1.2", true).minor() == 2',
    'device.attributes["gpu.nvidia.com"].?productName.orValue("") == "x"',
    '"a,b".split(",").join("-") == "a-b"',
    'sets.contains([1, 2], [1]) && "abc".matches("b+")',
    'sign(device.capacity["gpu.nvidia.com"].memory.sub(1)) == 1',
]
TOKENS = list('abcdefgxyz0123456789.[](){}"\'\\ ,+-*/%<>=!&|?:_@#$^~`\n\t') + [
    "device",
    ".attributes",
    ".capacity",
    '["gpu.nvidia.com"]',
    "quantity(",
    "semver(",
    ".compareTo(",
    "has(",
    ".exists(",
    ".map(",
    "cel.bind(",
    "lists.range(",
    "\x00",
    "\u00e9",
    "\U0001f4a5",
    "9223372036854775807",
    "-9223372036854775808",
    "1u",
    "1e308",
    'b"',
    'r"',
    '"""',
    "optional.",
    ".?",
    "[?",
    "null",
    "dyn(",
    "1/0",
]

# GPUPLANE_CEL_FUZZ_EXAMPLES=20000 for a longer run.
_fuzz_settings = settings(
    max_examples=int(os.environ.get("GPUPLANE_CEL_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _check_only_cel_errors(expr: str) -> None:
    try:
        sel = compile_selector(expr)
    except CelCompileError as e:
        assert str(e)
        return
    for d in (_FUZZ_DEV, _FUZZ_BROKEN):
        try:
            out = sel.matches(d)
        except CelRuntimeError as e:
            assert str(e)
        else:
            assert out is True or out is False


_FUZZ_DEV = device_input(DRIVER, gpu())
_FUZZ_BROKEN = device_input(DRIVER, gpu(attributes={"broken": DeviceAttribute()}))


@_fuzz_settings
@given(st.text(max_size=120))
def test_fuzz_random_text(expr):
    _check_only_cel_errors(expr)


@_fuzz_settings
@given(st.lists(st.sampled_from(TOKENS), max_size=30).map("".join))
def test_fuzz_random_tokens(expr):
    _check_only_cel_errors(expr)


@st.composite
def mutated(draw):
    src = list(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(src)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        tok = draw(st.sampled_from(TOKENS))
        if op == "insert" or not src:
            src[pos:pos] = [tok]
        elif op == "delete":
            del src[min(pos, len(src) - 1)]
        else:
            src[min(pos, len(src) - 1)] = tok
    return "".join(src)


@_fuzz_settings
@given(mutated())
def test_fuzz_mutated_valid_expressions(expr):
    _check_only_cel_errors(expr)


_ATOMS = st.sampled_from(
    [
        "1",
        "0",
        "-1",
        "2.5",
        "1u",
        "true",
        "null",
        '"s"',
        "b'x'",
        "[]",
        "{}",
        "[1, 2]",
        '{"a": 1}',
        "device.driver",
        'device.attributes["gpu.nvidia.com"]',
        'device.attributes["x.com"]',
        'device.attributes["gpu.nvidia.com"].index',
        'device.attributes["gpu.nvidia.com"].ids',
        'device.attributes["gpu.nvidia.com"].driverVersion',
        'device.attributes["gpu.nvidia.com"].nosuch',
        'device.capacity["gpu.nvidia.com"].memory',
        'quantity("1Gi")',
        'quantity("bad")',
        'semver("1.0.0")',
        "device.allowMultipleAllocations",
        "lists.range(3)",
    ]
)


def _combine(children):
    unary = st.sampled_from(["!{}", "-{}", "dyn({})", "size({})", "has({}.x)", "{}.size()", "[{}]", "optional.of({}).orValue(1)"])
    binary = st.sampled_from(
        [
            "{} == {}",
            "{} != {}",
            "{} < {}",
            "{} + {}",
            "{} && {}",
            "{} || {}",
            "{} in {}",
            "{}[{}]",
            "{}.compareTo({})",
            "{}.isGreaterThan({})",
            "{}.add({})",
            "{}.indexOf({})",
            "{}.exists(x, x == {})",
            "{}.map(x, {})",
            "cel.bind(v, {}, v == {})",
            "[{}, {}].sum()",
            "{}.includes({})",
            "{} ? true : {}",
        ]
    )
    return st.one_of(
        st.tuples(unary, children).map(lambda t: t[0].format(t[1])),
        st.tuples(binary, children, children).map(lambda t: t[0].format(t[1], t[2])),
    )


@_fuzz_settings
@given(st.recursive(_ATOMS, _combine, max_leaves=12))
def test_fuzz_generated_expressions(expr):
    _check_only_cel_errors(expr)
    _check_only_cel_errors(f"({expr}) == true")


@_fuzz_settings
@given(st.recursive(_ATOMS.map(lambda a: f"dyn({a})"), _combine, max_leaves=12))
def test_fuzz_generated_dyn_expressions(expr):
    # dyn() atoms get past the type checker, so most of these are evaluated at runtime
    _check_only_cel_errors(f"dyn({expr}) == true")
