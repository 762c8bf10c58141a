"""Kubernetes DRA device-selector CEL environment on cel-expr-python (cel-cpp).

Mirrors kubernetes/dynamic-resource-allocation ``cel/compile.go`` (checked against v0.37.2)::

    sel = compile_selector('device.attributes["gpu.nvidia.com"].index == 0')   # LRU-cached
    dev = device_input("gpu.nvidia.com", device)        # once per device, reused
    sel.matches(dev)                                    # bool, or CelRuntimeError

Design
------
Two environments:

* a *checking* environment declares ``device`` as the runtime-built proto message
  ``kubernetes.DRADevice`` (``driver`` string, ``attributes``/``capacity`` as
  ``map<string, map<string, dyn>>``, ``allowMultipleAllocations`` bool) and the Kubernetes
  libraries with ``kubernetes.Quantity``/``kubernetes.Semver`` message types, for upstream-like
  compile errors with positions (``undefined field 'foo'``, ``found no matching overload for
  '_<_' applied to '(kubernetes.Quantity, kubernetes.Quantity)'``). Like upstream's scheduler,
  which compiles in the ``StoredExpressions`` environment where feature gates are ignored, every
  field (and ``includes``) is always declared; ``compile_selector(..., new_expressions=True,
  consumable_capacity=False)`` is the apiserver's stricter view without
  ``allowMultipleAllocations``.
* a *runtime* environment evaluates a rewritten copy of the checked AST (``_analysis``), with
  Quantity and Semver carried as tagged, order-preserving ``bytes`` (``_library``). Unknown
  attribute/capacity domains become empty maps by rewriting ``device.attributes[K]`` to
  ``device.attributes[?K].orValue({})``; ``quantity("40Gi")``-style literals are folded;
  ``compareTo``/``isGreaterThan``/``isLessThan`` against literals become native comparisons;
  ``==`` keeps upstream's Quantity/Semver ``Equal`` semantics (``version_attr == 0`` is a
  "no such overload" error; ``!=`` never fails, as in cel-go).

Cost/time limit
---------------
cel-expr-python has no cost tracking and evaluation runs in C++ that cannot be interrupted from
Python, so a wall-clock limit cannot be enforced. Instead every expression gets a static
worst-case cost estimate at compile time (``_analysis``), using the size bounds the API puts on a
device (32 domains x 32 ids, strings <= 64, lists <= 64): ``compile_selector`` rejects an
estimate above ``MAX_COST`` (1,000,000, upstream's ``CELSelectorExpressionMaxCost``) with
``CelCompileError("too complex, exceeds cost limit: ...")``, and unbounded constructs (e.g.
``lists.range(n)`` with a non-literal ``n``) are rejected the same way. For API-valid devices the
estimate bounds the work of every evaluation, which is what upstream's runtime ``CostLimit``
guarantees; measured worst cases under the limit evaluate in well under 0.1 s (upstream's
per-call limit). cel-expr-python adds its own runtime guard: about 10,000 comprehension
iterations per evaluation (``CelRuntimeError("operation cancelled: comprehension iteration
budget exceeded")``). Expressions longer than 10 KiB are rejected; cel-cpp's parser also limits
nesting to depth 32.

Not supported / different from upstream
---------------------------------------
* compile errors: URL, IP, CIDR, Authz libraries; ``transformMap``/``transformMapEntry``
  (cel-expr-python lacks their runtime helper); cross-type numeric comparisons such as
  ``1 < 1.5`` (CrossTypeNumericComparisons) in the checker -- they work at runtime on ``dyn``
  values; ``math``/``encoders``/``protos`` (not in upstream's environment either);
* runtime errors: ``sum()``/``min()``/``max()`` of durations or timestamps (cel-expr-python
  cannot return them from Python); ``find``/``findAll`` use Python ``re`` (or ``re2`` when
  installed) and refuse back-references, look-arounds, nested or alternated repetition, more
  than 3 unbounded repetitions and inputs over 4096 characters;
* ``in``, ``indexOf``, ``sets.*`` over lists of quantities compare the encoded representation
  (``quantity("1") in [quantity("1000m")]`` is false), and a Semver compared with ``<``-style
  rewrites against a Quantity gives a result instead of an error.
"""

from .errors import CelCompileError, CelError, CelRuntimeError
from .selector import (
    MAX_COST,
    MAX_EXPRESSION_LENGTH,
    CompiledSelector,
    DeviceInput,
    cache_clear,
    cache_info,
    compile_selector,
    device_input,
)

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
