"""Checked-AST analysis: extra validation, runtime rewrites, worst-case cost estimate.

Works on the ``cel.expr.CheckedExpr`` decoded from ``Expression.serialize()``.

Validation (beyond cel-cpp's checker)
  * no field selection on ``kubernetes.Quantity``/``kubernetes.Semver`` and no construction of
    ``kubernetes.*`` messages (they only exist for type checking);
  * capacity values are ``dyn`` to the checker (proto maps cannot nest), so ordering, arithmetic,
    ``size`` and conversions applied directly to ``device.capacity[d][id]`` are rejected here, as
    upstream's checker rejects them on Quantity;
  * homogeneous aggregate literals (list elements, map keys and values share one type, ``dyn``
    excepted), as upstream's base environment requires;
  * ``transformMap``/``transformMapEntry`` are rejected: cel-expr-python 0.1.3 does not register
    their runtime helper ``cel.@mapInsert``.

Rewrites (for the runtime program)
  * ``device.attributes[K]`` / ``device.capacity[K]`` (and ``.K`` selects) become
    ``device.attributes[?K].orValue({})``: an unknown domain is an empty map, as upstream's
    ``mapper`` with a default value; ``K in device.attributes`` and iteration are unchanged;
  * ``quantity("lit")``/``semver("lit"[, bool])`` with valid literals are folded to constants;
  * ``a.isGreaterThan(b)``, ``a.isLessThan(b)`` and ``a.compareTo(b) OP c`` (c in -1, 0, 1) become
    native bytes comparisons when the checker resolved them to Semver-only overloads, or to
    Quantity-only overloads with a literal on one side (the runtime encoding is
    order-preserving, see ``_library``);
  * ``==`` with a Quantity operand (or two dyn operands) calls a Python implementation of
    upstream's ``Equal`` (quantity encodings also carry apimachinery's representation, which
    ``isInteger()`` depends on, so their bytes are not canonical);
  * ``A == B`` where A may be a Quantity/Semver at runtime (type dyn) and B cannot be one gets a
    type guard, so that ``version_attr == 0`` fails with "no such overload" as upstream's
    ``Semver.Equal`` does (bytes-vs-int equality would just be false). ``!=`` never fails in
    cel-go (``Equal(a, b) != true``), so it is left alone.

Cost
  A static worst-case estimate in the spirit of cel-go's ``checker.Cost`` with the declared size
  bounds of the DRA device (<=32 domains, <=32 ids per domain, strings <=64 characters, list
  attributes <=64 elements). Every node tracks an upper bound on its size (string length or
  list/map entries, recursively for elements and keys); comprehensions multiply the per-iteration
  cost by the range size; growth of macro accumulators is extrapolated linearly (macros only
  append) and, since cel-cpp copies the accumulated list on each append, ``map``/``filter`` pay
  a quadratic copy term. Unbounded sizes (e.g. ``lists.range(n)`` with a non-constant ``n``) are
  infinite. (cel-expr-python itself also stops any evaluation after ~10,000 comprehension
  iterations in total: "Iteration budget exceeded".)
"""

from __future__ import annotations

import math
from typing import Optional

from . import _library as lib
from . import _protos as P

INF = math.inf

# Size: (n, elem, key) -- n = max length/entries; elem/key: sizes of values/keys (or None).
Size = tuple
SCALAR: Size = (1.0, None, None)
STR32: Size = (32.0, None, None)
STR63: Size = (63.0, None, None)
STR64: Size = (64.0, None, None)
ATTR_VALUE: Size = (64.0, STR64, None)  # a string <= 64 chars or a list <= 64 of such
MAX_ENTRIES = 32.0
ATTR_DOMAIN: Size = (MAX_ENTRIES, ATTR_VALUE, STR32)
ATTRIBUTES: Size = (MAX_ENTRIES, ATTR_DOMAIN, STR63)
CAP_DOMAIN: Size = (MAX_ENTRIES, STR64, STR32)
CAPACITY: Size = (MAX_ENTRIES, CAP_DOMAIN, STR63)
DEVICE_FIELDS = {"driver": STR63, "attributes": ATTRIBUTES, "capacity": CAPACITY, "allowMultipleAllocations": SCALAR}
_DEFAULT: Size = ATTR_VALUE  # anything of unknown shape that does not come from a bounded input
# A call into Python costs about ten native steps, and its arguments are converted to Python
# objects (measured: a few us for a 64-element list of 64-character strings).
PY_CALL_COST = 10.0
PY_UNIT_COST = 0.05


class AnalysisError(Exception):
    def __init__(self, node_id: int, message: str) -> None:
        super().__init__(message)
        self.node_id = node_id
        self.message = message


def join(a: Optional[Size], b: Optional[Size]) -> Optional[Size]:
    if a is None:
        return b
    if b is None:
        return a
    return (max(a[0], b[0]), join(a[1], b[1]), join(a[2], b[2]))


def total(s: Optional[Size]) -> float:
    """Upper bound on the number of leaf units (characters/elements) in a value."""
    if s is None:
        return 1.0
    n, e, k = s
    if n == 0:
        return 0.0
    inner = (total(e) if e is not None else 0.0) + (total(k) if k is not None else 0.0)
    return n * max(1.0, inner)


def _n(s: Optional[Size]) -> float:
    return 1.0 if s is None else s[0]


def _elem(s: Optional[Size]) -> Size:
    return s[1] if s is not None and s[1] is not None else SCALAR


def _key(s: Optional[Size]) -> Size:
    return s[2] if s is not None and s[2] is not None else SCALAR


# ------------------------------------------------------------------------------------------
# type helpers


def type_str(t) -> str:
    """cel-go style name of a checked type (``list(int)``, ``map(string, dyn)``)."""
    if t is None:
        return "dyn"
    kind = t.WhichOneof("type_kind")
    if kind == "primitive":
        return {1: "bool", 2: "int", 3: "uint", 4: "double", 5: "string", 6: "bytes"}.get(t.primitive, "dyn")
    if kind == "wrapper":
        return "wrapper(" + {1: "bool", 2: "int", 3: "uint", 4: "double", 5: "string", 6: "bytes"}.get(t.wrapper, "dyn") + ")"
    if kind == "well_known":
        return {1: "any", 2: "google.protobuf.Timestamp", 3: "google.protobuf.Duration"}.get(t.well_known, "dyn")
    if kind == "list_type":
        return f"list({type_str(t.list_type.elem_type)})"
    if kind == "map_type":
        return f"map({type_str(t.map_type.key_type)}, {type_str(t.map_type.value_type)})"
    if kind == "message_type":
        return t.message_type
    if kind == "type_param":
        return t.type_param
    if kind == "type":
        return f"type({type_str(t.type)})"
    if kind == "null":
        return "null_type"
    if kind == "error":
        return "*error*"
    if kind == "abstract_type":
        params = ", ".join(type_str(p) for p in t.abstract_type.parameter_types)
        return f"{t.abstract_type.name}({params})" if params else t.abstract_type.name
    return "dyn"


def _kind(t) -> str:
    if t is None:
        return "dyn"
    k = t.WhichOneof("type_kind")
    if k == "primitive":
        return {1: "bool", 2: "int", 3: "uint", 4: "double", 5: "string", 6: "bytes"}.get(t.primitive, "dyn")
    if k == "list_type":
        return "list"
    if k == "map_type":
        return "map"
    if k == "message_type":
        return "message"
    if k == "abstract_type":
        return "optional" if t.abstract_type.name == "optional_type" else "abstract"
    return k or "dyn"


_ORDERING_OR_ARITH = {"_<_", "_<=_", "_>_", "_>=_", "_+_", "_-_", "_*_", "_/_", "_%_", "-_", "size", "string", "bytes", "int", "uint", "double"}
_K8S_MESSAGES = (lib.QUANTITY_TYPE, lib.SEMVER_TYPE)


class Analyzer:
    def __init__(self, checked) -> None:
        self.checked = checked
        self.types = checked.type_map
        self.refs = checked.reference_map
        self.max_id = 0

    # -- helpers ---------------------------------------------------------------------------

    def _type(self, node):
        return self.types[node.id] if node.id in self.types else None

    def _is_device(self, node, bound) -> bool:
        return node.WhichOneof("expr_kind") == "ident_expr" and node.ident_expr.name == "device" and "device" not in bound

    def _device_map(self, node, bound) -> bool:
        """``device.attributes`` or ``device.capacity``."""
        return (
            node.WhichOneof("expr_kind") == "select_expr"
            and not node.select_expr.test_only
            and node.select_expr.field in ("attributes", "capacity")
            and self._is_device(node.select_expr.operand, bound)
        )

    def _capacity_value(self, node, bound) -> bool:
        """``device.capacity[d][id]`` / ``device.capacity[d].id`` (either index form)."""
        inner = self._indexed_operand(node)
        if inner is None:
            return False
        dom = self._indexed_operand(inner)
        if dom is None:
            return False
        return self._device_map(dom, bound) and dom.select_expr.field == "capacity"

    @staticmethod
    def _indexed_operand(node):
        kind = node.WhichOneof("expr_kind")
        if kind == "select_expr" and not node.select_expr.test_only:
            return node.select_expr.operand
        if kind == "call_expr" and node.call_expr.function == "_[_]" and len(node.call_expr.args) == 2 and not node.call_expr.HasField("target"):
            return node.call_expr.args[0]
        return None

    # -- validation + estimation in one walk -----------------------------------------------

    def estimate(self, node, bound: dict) -> tuple[float, Size]:
        """Returns (cost, size) and validates. ``bound`` maps comprehension variables to sizes."""
        self.max_id = max(self.max_id, node.id)
        kind = node.WhichOneof("expr_kind")
        if kind == "const_expr":
            c = node.const_expr
            ck = c.WhichOneof("constant_kind")
            if ck == "string_value":
                return 0.0, (float(len(c.string_value)), None, None)
            if ck == "bytes_value":
                return 0.0, (float(len(c.bytes_value)), None, None)
            return 0.0, SCALAR
        if kind == "ident_expr":
            name = node.ident_expr.name
            if name in bound:
                return 1.0, bound[name]
            return 1.0, SCALAR
        if kind == "select_expr":
            sel = node.select_expr
            if self._is_device(sel.operand, bound):
                return 1.0, DEVICE_FIELDS.get(sel.field, _DEFAULT)
            ot = self._type(sel.operand)
            if ot is not None and ot.WhichOneof("type_kind") == "message_type" and ot.message_type in _K8S_MESSAGES:
                raise AnalysisError(node.id, f"type '{ot.message_type}' does not support field selection")
            c, s = self.estimate(sel.operand, bound)
            if sel.test_only:
                return c + 1.0, SCALAR
            return c + 1.0, _elem(s)
        if kind == "list_expr":
            cost, size = 1.0, None
            elems = node.list_expr.elements
            self._homogeneous(elems, node.list_expr.optional_indices)
            for el in elems:
                c, s = self.estimate(el, bound)
                cost += c
                size = join(size, s)
            return cost, (float(len(elems)), size, None)
        if kind == "struct_expr":
            st = node.struct_expr
            if st.message_name:
                ref = self.refs[node.id].name if node.id in self.refs else st.message_name
                if ref.startswith("kubernetes.") or st.message_name.startswith("kubernetes."):
                    raise AnalysisError(node.id, f"undeclared reference to '{st.message_name}'")
            cost, vsize, ksize = 1.0, None, None
            if not st.message_name:
                self._homogeneous([e.map_key for e in st.entries if e.HasField("map_key")], ())
                self._homogeneous([e.value for e in st.entries], [i for i, e in enumerate(st.entries) if e.optional_entry])
            for ent in st.entries:
                self.max_id = max(self.max_id, ent.id)
                if ent.HasField("map_key"):
                    c, s = self.estimate(ent.map_key, bound)
                    cost += c
                    ksize = join(ksize, s)
                c, s = self.estimate(ent.value, bound)
                cost += c
                vsize = join(vsize, s)
            return cost, (float(len(st.entries)), vsize, ksize)
        if kind == "comprehension_expr":
            return self._comprehension(node, bound)
        if kind == "call_expr":
            return self._call(node, bound)
        return 1.0, _DEFAULT

    def _homogeneous(self, elems, optional_indices) -> None:
        first = None
        opt = set(optional_indices)
        for i, el in enumerate(elems):
            t = self._type(el)
            if t is None:
                continue
            if i in opt and t.WhichOneof("type_kind") == "abstract_type" and t.abstract_type.name == "optional_type" and t.abstract_type.parameter_types:
                t = t.abstract_type.parameter_types[0]
            if "dyn" in type_str(t) or t.WhichOneof("type_kind") in ("error", "type_param"):
                continue
            if first is None:
                first = t
            elif type_str(first) != type_str(t):
                raise AnalysisError(el.id, f"expected type '{type_str(first)}' but found '{type_str(t)}'")

    def _comprehension(self, node, bound):
        comp = node.comprehension_expr
        c_range, r = self.estimate(comp.iter_range, bound)
        rk = _kind(self._type(comp.iter_range))
        n_iter = _n(r)
        inner = dict(bound)
        if comp.iter_var2:
            if rk == "list":
                inner[comp.iter_var] = SCALAR
            elif rk == "map":
                inner[comp.iter_var] = _key(r)
            else:
                inner[comp.iter_var] = join(SCALAR, _key(r))
            inner[comp.iter_var2] = _elem(r)
        else:
            if rk == "list":
                inner[comp.iter_var] = _elem(r)
            elif rk == "map":
                inner[comp.iter_var] = _key(r)
            else:
                inner[comp.iter_var] = join(_elem(r), _key(r))
        c_init, a0 = self.estimate(comp.accu_init, bound)
        inner[comp.accu_var] = a0
        c_cond, _ = self.estimate(comp.loop_condition, inner)
        c_step, a1 = self.estimate(comp.loop_step, inner)
        a_final = join(a0, a1)
        if a0 is not None and a1 is not None and a1[0] > a0[0]:
            grown = a0[0] + (n_iter * (a1[0] - a0[0]) if n_iter > 0 else 0.0)
            a_final = (grown, a_final[1], a_final[2])
        res_scope = dict(bound)
        res_scope[comp.accu_var] = a_final
        c_result, s_result = self.estimate(comp.result, res_scope)
        per_iter = max(1.0, c_cond + c_step)
        loop = n_iter * per_iter if n_iter > 0 else 0.0
        if a0 is not None and a1 is not None and a1[0] > a0[0] and n_iter > 0:
            # cel-cpp copies the accumulated list on every append (measured: quadratic map/filter)
            loop += n_iter * (a0[0] + a_final[0]) / 2.0
        return c_range + c_init + loop + c_result, s_result

    def _call(self, node, bound):
        call = node.call_expr
        fn = call.function
        if fn == "cel.@mapInsert":
            raise AnalysisError(node.id, "transformMap and transformMapEntry are not supported by this CEL runtime")
        nodes = ([call.target] if call.HasField("target") else []) + list(call.args)
        if fn in _ORDERING_OR_ARITH:
            for a in nodes:
                if self._capacity_value(a, bound):
                    others = ", ".join("kubernetes.Quantity" if self._capacity_value(x, bound) else type_str(self._type(x)) for x in nodes)
                    raise AnalysisError(node.id, f"found no matching overload for '{fn}' applied to '({others})'")
        costs, sizes = [], []
        for a in nodes:
            c, s = self.estimate(a, bound)
            costs.append(c)
            sizes.append(s)
        base = sum(costs)
        if fn in ("_&&_", "_||_"):
            return base + 1.0, SCALAR
        if fn == "_?_:_":
            return costs[0] + max(costs[1], costs[2]) + 1.0, join(sizes[1], sizes[2])
        c, s = self._function(fn, nodes, sizes)
        if fn in lib.PY_FUNCTIONS or (fn in ("_==_", "_!=_") and self._python_equality(nodes)):
            # implemented in Python: a call plus converting every argument to Python objects
            c = max(c, PY_CALL_COST + PY_UNIT_COST * sum(total(x) for x in sizes))
        return base + c, s

    def _python_equality(self, nodes) -> bool:
        """Mirrors _rewrite_equality: equalities that end up in lib.f_equals."""
        if len(nodes) != 2:
            return False
        ka, kb = _kind(self._type(nodes[0])), _kind(self._type(nodes[1]))
        if "null" in (ka, kb):
            return False
        q = lib.QUANTITY_TYPE
        return self._k8s_type(nodes[0]) == q or self._k8s_type(nodes[1]) == q or (ka == "dyn" and kb == "dyn")

    def _int_const(self, node) -> Optional[int]:
        if node.WhichOneof("expr_kind") == "const_expr":
            c = node.const_expr
            if c.WhichOneof("constant_kind") == "int64_value":
                return c.int64_value
            if c.WhichOneof("constant_kind") == "uint64_value":
                return c.uint64_value
        return None

    def _function(self, fn: str, nodes, sizes) -> tuple[float, Size]:
        """Cost of the call itself (arguments excluded) and the result size."""
        n = [_n(s) for s in sizes]
        kinds = [_kind(self._type(x)) for x in nodes]
        strlike = lambda i: kinds[i] in ("string", "bytes", "dyn")  # noqa: E731
        if fn in ("_==_", "_!=_"):
            return 1.0 + 0.1 * min(total(sizes[0]), total(sizes[1])), SCALAR
        if fn == "@in":
            if kinds[1] == "map":
                return 1.0 + 0.1 * n[0], SCALAR
            return 1.0 + 0.1 * _n(sizes[1]) * min(total(sizes[0]), total(_elem(sizes[1]))), SCALAR
        if fn == "_+_":
            if kinds[0] == "list" or kinds[1] == "list" or (sizes[0] and sizes[0][1] is not None) or (sizes[1] and sizes[1][1] is not None):
                appended = n[1]
                copy = 0.0 if (nodes[0].WhichOneof("expr_kind") == "ident_expr" and nodes[0].ident_expr.name.startswith("@")) else n[0]
                size = (n[0] + n[1], join(_elem_or_none(sizes[0]), _elem_or_none(sizes[1])), None)
                return 1.0 + copy + appended, size
            if strlike(0) or strlike(1):
                return 1.0 + 0.1 * (n[0] + n[1]), (n[0] + n[1], None, None)
            return 1.0, SCALAR
        if fn in ("_[_]", "_[?_]", "_?._"):
            return 1.0, _elem(sizes[0])
        if fn in ("_<_", "_<=_", "_>_", "_>=_"):
            return 1.0 + 0.1 * min(n[0], n[1]), SCALAR
        if fn in ("size", "!_", "-_", "_-_", "_*_", "_/_", "_%_", "@not_strictly_false", "type", "int", "uint", "double", "bool", "duration", "timestamp"):
            return 1.0, SCALAR
        if fn == "dyn":
            return 0.0, sizes[0] if sizes else SCALAR
        if fn == "string":
            if kinds and kinds[0] in ("string", "bytes", "dyn"):
                return 1.0 + 0.1 * n[0], (max(n[0], 32.0), None, None)
            return 1.0, (32.0, None, None)
        if fn == "bytes":
            return 1.0 + 0.1 * n[0], (4.0 * n[0], None, None)
        if fn in ("matches", "contains", "startsWith", "endsWith", "find"):
            return 1.0 + 0.1 * (n[0] + n[1]) + (0.1 * n[0] * n[1] if fn in ("matches", "find") else 0.0), (n[0], None, None) if fn == "find" else SCALAR
        if fn == "findAll":
            return 1.0 + 0.1 * n[0] * max(1.0, n[1]), (n[0] + 1.0, (n[0], None, None), None)
        if fn in ("lowerAscii", "upperAscii", "trim", "substring", "charAt"):
            return 1.0 + 0.1 * n[0], (n[0], None, None)
        if fn in ("indexOf", "lastIndexOf"):
            return 1.0 + 0.1 * (total(sizes[0]) + total(sizes[1])), SCALAR
        if fn == "replace":
            out = n[0] + (n[0] + 1.0) * n[2] if len(n) > 2 else n[0]
            return 1.0 + 0.1 * (out + n[0]), (out, None, None)
        if fn == "split":
            return 1.0 + 0.1 * n[0], (n[0] + 1.0, (n[0], None, None), None)
        if fn == "join":
            sep = n[1] if len(n) > 1 else 0.0
            out = total(sizes[0]) + n[0] * sep
            return 1.0 + 0.1 * out, (out, None, None)
        if fn == "strings.quote":
            return 1.0 + 0.1 * n[0], (6.0 * n[0] + 2.0, None, None)
        if fn == "format":
            out = n[0] + 24.0 * (total(sizes[1]) if len(sizes) > 1 else 0.0)
            return 1.0 + 0.1 * out, (out, None, None)
        if fn == "reverse":
            return 1.0 + n[0], sizes[0]
        if fn == "lists.range":
            k = self._int_const(nodes[0])
            count = float(max(0, k)) if k is not None else INF
            return 1.0 + count, (count, SCALAR, None)
        if fn in ("slice", "distinct", "sort", "@sortByAssociatedKeys"):
            extra = n[0] * n[0] * 0.1 if fn == "distinct" else n[0] * max(1.0, math.log2(n[0] + 1.0) if n[0] < INF else INF)
            return 1.0 + extra, sizes[0]
        if fn == "flatten":
            depth = self._int_const(nodes[1]) if len(nodes) > 1 else 1
            s = sizes[0]
            levels = depth if depth is not None else 64
            for _ in range(max(0, min(levels, 64))):
                e = s[1] if s is not None else None
                if e is None or e[1] is None and e[0] <= 1.0:
                    break
                s = (s[0] * e[0], e[1], None)
            return 1.0 + _n(s), s
        if fn in ("first", "last"):
            return 1.0, _elem(sizes[0])
        if fn in ("sets.contains", "sets.equivalent", "sets.intersects"):
            return 1.0 + n[0] * n[1], SCALAR
        if fn in ("isSorted", "sum", "min", "max"):
            return 1.0 + total(sizes[0]), _elem(sizes[0]) if fn != "isSorted" else SCALAR
        if fn == "includes":
            return 1.0 + total(sizes[0]) + total(sizes[1]), SCALAR
        if fn in ("optional.of", "optional.ofNonZeroValue"):
            return 1.0, sizes[0]
        if fn in ("optional.none",):
            return 1.0, SCALAR
        if fn in ("value", "orValue", "or"):
            return 1.0, join(sizes[0], sizes[1]) if len(sizes) > 1 else sizes[0]
        if fn in lib.PY_FUNCTIONS:
            return 1.0 + 0.1 * sum(n), (64.0, None, None)
        # Unknown or size-preserving functions: never larger than the largest argument.
        size = None
        for s in sizes:
            size = join(size, s)
        return 1.0 + 0.1 * sum(n), size if size is not None else SCALAR

    # -- rewrites --------------------------------------------------------------------------

    def rewrite(self, node, bound: frozenset = frozenset()) -> None:
        """In-place runtime rewrites (domain defaults, literal folding)."""
        kind = node.WhichOneof("expr_kind")
        if kind == "comprehension_expr":
            comp = node.comprehension_expr
            self.rewrite(comp.iter_range, bound)
            self.rewrite(comp.accu_init, bound)
            inner = bound | {comp.iter_var, comp.accu_var} | ({comp.iter_var2} if comp.iter_var2 else set())
            self.rewrite(comp.loop_condition, inner)
            self.rewrite(comp.loop_step, inner)
            self.rewrite(comp.result, bound | {comp.accu_var})
            return
        if kind == "select_expr":
            sel = node.select_expr
            self.rewrite(sel.operand, bound)
            if not sel.test_only and self._device_map(sel.operand, bound):
                key = P.Expr(id=self._next_id())
                key.const_expr.string_value = sel.field
                self._default_domain(node, sel.operand, key)
            return
        if kind == "list_expr":
            for el in node.list_expr.elements:
                self.rewrite(el, bound)
            return
        if kind == "struct_expr":
            for ent in node.struct_expr.entries:
                if ent.HasField("map_key"):
                    self.rewrite(ent.map_key, bound)
                self.rewrite(ent.value, bound)
            return
        if kind != "call_expr":
            return
        call = node.call_expr
        if call.HasField("target"):
            self.rewrite(call.target, bound)
        for a in call.args:
            self.rewrite(a, bound)
        fn = call.function
        if fn in ("isGreaterThan", "isLessThan") and call.HasField("target") and len(call.args) == 1:
            kind = self._single_kind(node)
            if kind and self._native_order(node, kind, ">" if fn == "isGreaterThan" else "<", call.target, call.args[0]):
                return
        if fn in _CMP_OPS and not call.HasField("target") and len(call.args) == 2:
            if self._rewrite_compare_to(node):
                return
        if fn in ("_==_", "_!=_") and not call.HasField("target") and len(call.args) == 2:
            self._rewrite_equality(node)
            return
        if fn == "_[_]" and not call.HasField("target") and len(call.args) == 2 and self._device_map(call.args[0], bound):
            operand, key = P.Expr(), P.Expr()
            operand.CopyFrom(call.args[0])
            key.CopyFrom(call.args[1])
            self._default_domain(node, operand, key)
            return
        if fn in ("quantity", "semver") and not call.HasField("target") and call.args:
            consts = [a.const_expr for a in call.args if a.WhichOneof("expr_kind") == "const_expr"]
            if len(consts) != len(call.args) or consts[0].WhichOneof("constant_kind") != "string_value":
                return
            try:
                if fn == "quantity" and len(consts) == 1:
                    value = lib.quantity_bytes(consts[0].string_value)
                elif fn == "semver" and len(consts) == 1:
                    value = lib.semver_bytes(consts[0].string_value, False)
                elif fn == "semver" and len(consts) == 2 and consts[1].WhichOneof("constant_kind") == "bool_value":
                    value = lib.semver_bytes(consts[0].string_value, consts[1].bool_value)
                else:
                    return
            except ValueError:
                return  # invalid literal: leave the call, it fails at evaluation like upstream
            node_id = node.id
            node.Clear()
            node.id = node_id
            node.const_expr.bytes_value = value

    def _single_kind(self, node) -> str | None:
        """"quantity"/"semver" if the checker resolved a compare-like call to that type only."""
        ref = self.refs[node.id] if node.id in self.refs else None
        if ref is None or not ref.overload_id:
            return None
        kinds = {oid.split("_", 1)[0] for oid in ref.overload_id}
        if len(kinds) == 1 and kinds <= {"quantity", "semver"}:
            return kinds.pop()
        return None

    def _native_order(self, node, kind: str, op: str, a, b) -> bool:
        """node := a OP b natively on the order-preserving encodings. Semver encodings are
        canonical, so any operands work. A quantity encoding also carries apimachinery's
        representation after its value, so one side must be a folded literal, replaced by the
        lower or upper bound of its value's encodings (see _library.quantity_bounds)."""
        if kind == "quantity":
            if op not in ("<", "<=", ">", ">="):
                return False
            if not _is_quantity_const(b):
                if not _is_quantity_const(a):
                    return False
                a, b, op = b, a, _FLIP[op]
            lo, hi = lib.quantity_bounds(b.const_expr.bytes_value)
            bound = P.Expr(id=b.id)
            bound.const_expr.bytes_value = hi if op in (">", "<=") else lo
            b = bound
        x, y = P.Expr(), P.Expr()
        x.CopyFrom(a)
        y.CopyFrom(b)
        self._native_compare(node, op, x, y)
        return True

    def _rewrite_compare_to(self, node) -> bool:
        """``a.compareTo(b) OP c`` (c in -1/0/1) -> native ``a OP' b`` on the ordered encoding."""
        call = node.call_expr
        op = _CMP_OPS[call.function]
        x, c = call.args[0], call.args[1]
        if x.WhichOneof("expr_kind") != "call_expr":
            x, c = c, x
            op = _FLIP[op]
        if x.WhichOneof("expr_kind") != "call_expr" or c.WhichOneof("expr_kind") != "const_expr":
            return False
        cmp = x.call_expr
        if cmp.function != "compareTo" or not cmp.HasField("target") or len(cmp.args) != 1:
            return False
        kind = self._single_kind(x)
        if kind is None or c.const_expr.WhichOneof("constant_kind") != "int64_value":
            return False
        k = c.const_expr.int64_value
        holds = frozenset(v for v in (-1, 0, 1) if _PY_OPS[op](v, k))
        native = _SET_TO_OP.get(holds)
        if native is None:
            return False
        return self._native_order(node, kind, native, cmp.target, cmp.args[0])

    def _rewrite_equality(self, node) -> None:
        call = node.call_expr
        a, b = call.args[0], call.args[1]
        ka, kb = _kind(self._type(a)), _kind(self._type(b))
        qa, qb = self._k8s_type(a), self._k8s_type(b)
        if "null" in (ka, kb):
            return  # cel-go: anything == null is a plain bool
        if qa == lib.QUANTITY_TYPE or qb == lib.QUANTITY_TYPE or (ka == "dyn" and kb == "dyn"):
            # a quantity's encoding carries its representation: compare values in Python,
            # with upstream's Quantity/Semver Equal semantics
            x, y = P.Expr(), P.Expr()
            x.CopyFrom(a)
            y.CopyFrom(b)
            node_id = node.id
            node.Clear()
            node.id = node_id
            node.call_expr.function = lib.EQUALS_FN if call.function == "_==_" else lib.NOT_EQUALS_FN
            node.call_expr.args.add().CopyFrom(x)
            node.call_expr.args.add().CopyFrom(y)
            return
        if call.function == "_==_":  # cel-go's != is Equal(a, b) != true: never an error
            self._guard_equality(node)

    def _k8s_type(self, node) -> str | None:
        t = self._type(node)
        if t is not None and t.WhichOneof("type_kind") == "message_type" and t.message_type in _K8S_MESSAGES:
            return t.message_type
        return None

    def _guard_equality(self, node) -> None:
        """Upstream's Quantity/Semver ``Equal`` fails with "no such overload" for any other type
        on the right (``version_attr == 0``); bytes-vs-int equality would just be false here.
        (cel-go's ``!=`` is ``Equal(a, b) != true``, which never fails, so only ``==``.)
        ``A == B`` with A of type dyn and B statically neither dyn, bytes, null nor a
        Quantity/Semver becomes ``cel.bind(@t, A, type(@t) == bytes ? @noSuchOverload(@t) :
        @t == B)``; symmetrically for a Quantity/Semver A and a dyn B."""
        call = node.call_expr
        a, b = call.args[0], call.args[1]
        ka, kb = _kind(self._type(a)), _kind(self._type(b))
        tb = self._type(b)
        b_is_k8s = tb is not None and tb.WhichOneof("type_kind") == "message_type" and tb.message_type in _K8S_MESSAGES
        ta = self._type(a)
        a_is_k8s = ta is not None and ta.WhichOneof("type_kind") == "message_type" and ta.message_type in _K8S_MESSAGES
        if ka == "dyn" and kb not in ("dyn", "bytes", "null", "error", "type_param") and not b_is_k8s:
            guarded, other, guarded_first = a, b, True
        elif a_is_k8s and kb == "dyn":
            guarded, other, guarded_first = b, a, False
        else:
            return
        fn = call.function
        var = f"@gpuplane_eq{self._next_id()}"
        bound, rest = P.Expr(), P.Expr()
        bound.CopyFrom(guarded)
        rest.CopyFrom(other)
        node_id = node.id
        node.Clear()
        node.id = node_id
        comp = node.comprehension_expr
        comp.iter_var = "#unused"
        comp.iter_range.id = self._next_id()
        comp.iter_range.list_expr.SetInParent()
        comp.accu_var = var
        comp.accu_init.CopyFrom(bound)
        comp.loop_condition.id = self._next_id()
        comp.loop_condition.const_expr.bool_value = False
        comp.loop_step.id = self._next_id()
        comp.loop_step.ident_expr.name = var
        # result: type(var) == bytes [|| type(var) == null_type] ? ... : ...
        res = comp.result
        res.id = self._next_id()
        res.call_expr.function = "_?_:_"
        cond = res.call_expr.args.add()
        self._type_is(cond, var, "bytes")
        if not guarded_first:  # a dyn right operand may also be null: types.Equal handles null
            either = P.Expr(id=self._next_id())
            either.call_expr.function = "_||_"
            either.call_expr.args.add().CopyFrom(cond)
            self._type_is(either.call_expr.args.add(), var, "null_type")
            cond.CopyFrom(either)
        compare = P.Expr(id=self._next_id())
        compare.call_expr.function = fn
        ident = P.Expr(id=self._next_id())
        ident.ident_expr.name = var
        if guarded_first:
            compare.call_expr.args.add().CopyFrom(ident)
            compare.call_expr.args.add().CopyFrom(rest)
        else:
            compare.call_expr.args.add().CopyFrom(rest)
            compare.call_expr.args.add().CopyFrom(ident)
        error = P.Expr(id=self._next_id())
        error.call_expr.function = lib.NO_SUCH_OVERLOAD_FN
        error.call_expr.args.add().CopyFrom(ident)
        if guarded_first:
            res.call_expr.args.add().CopyFrom(error)
            res.call_expr.args.add().CopyFrom(compare)
        else:
            res.call_expr.args.add().CopyFrom(compare)
            res.call_expr.args.add().CopyFrom(error)

    def _type_is(self, out, var: str, type_name: str) -> None:
        out.id = self._next_id()
        out.call_expr.function = "_==_"
        t = out.call_expr.args.add()
        t.id = self._next_id()
        t.call_expr.function = "type"
        v = t.call_expr.args.add()
        v.id = self._next_id()
        v.ident_expr.name = var
        name = out.call_expr.args.add()
        name.id = self._next_id()
        name.ident_expr.name = type_name

    def _native_compare(self, node, op: str, a, b) -> None:
        node_id = node.id
        node.Clear()
        node.id = node_id
        node.call_expr.function = _OP_FN[op]
        node.call_expr.args.add().CopyFrom(a)
        node.call_expr.args.add().CopyFrom(b)

    def _next_id(self) -> int:
        self.max_id += 1
        return self.max_id

    def _default_domain(self, node, operand, key) -> None:
        """node := operand[?key].orValue({})"""
        node_id = node.id
        node.Clear()
        node.id = node_id
        call = node.call_expr
        call.function = "orValue"
        target = call.target
        target.id = self._next_id()
        target.call_expr.function = "_[?_]"
        target.call_expr.args.add().CopyFrom(operand)
        target.call_expr.args.add().CopyFrom(key)
        empty = call.args.add()
        empty.id = self._next_id()
        empty.struct_expr.SetInParent()


_CMP_OPS = {"_<_": "<", "_<=_": "<=", "_>_": ">", "_>=_": ">=", "_==_": "==", "_!=_": "!="}
_OP_FN = {v: k for k, v in _CMP_OPS.items()}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_PY_OPS = {
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
    "==": lambda x, y: x == y,
    "!=": lambda x, y: x != y,
}
_SET_TO_OP = {
    frozenset({1}): ">",
    frozenset({-1}): "<",
    frozenset({0}): "==",
    frozenset({0, 1}): ">=",
    frozenset({-1, 0}): "<=",
    frozenset({-1, 1}): "!=",
}


def _is_quantity_const(node) -> bool:
    return (
        node.WhichOneof("expr_kind") == "const_expr"
        and node.const_expr.WhichOneof("constant_kind") == "bytes_value"
        and node.const_expr.bytes_value.startswith(lib.QTAG)
    )


def _elem_or_none(s: Optional[Size]) -> Optional[Size]:
    return None if s is None else s[1]
