"""Protobuf descriptors built at runtime (no protoc, private descriptor pool).

* ``cel.expr`` ``CheckedExpr``/``ParsedExpr``/``Expr``: a wire-compatible subset of cel-spec's
  ``syntax.proto`` and ``checked.proto``, used to read the checked AST that cel-expr-python's
  ``Expression.serialize()`` returns (an ``Any`` wrapping ``cel.expr.CheckedExpr``) and to write
  a rewritten one back for ``Env.deserialize()``.
* ``kubernetes.Quantity``, ``kubernetes.Semver``, ``kubernetes.DRADevice`` and
  ``kubernetes.DRADeviceNoConsumable``: types for the *type-checking* environment only, so that
  compile errors name the upstream types (``kubernetes.Quantity``) and ``device.foo`` fails with
  ``undefined field 'foo'``. Runtime values never use these messages (see ``env.py``).
"""

from __future__ import annotations

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory, struct_pb2

_F = descriptor_pb2.FieldDescriptorProto
_OPT, _REP = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
_SCALARS = {
    "int64": _F.TYPE_INT64,
    "uint64": _F.TYPE_UINT64,
    "int32": _F.TYPE_INT32,
    "bool": _F.TYPE_BOOL,
    "string": _F.TYPE_STRING,
    "bytes": _F.TYPE_BYTES,
    "double": _F.TYPE_DOUBLE,
}


def _add_msg(container, name: str, fields: list[tuple], oneofs: tuple[str, ...] = ()):
    """fields: (name, number, type, label='opt', oneof_index=None)."""
    m = container.add(name=name)
    for o in oneofs:
        m.oneof_decl.add(name=o)
    for f in fields:
        fname, num, ftype = f[0], f[1], f[2]
        label = _REP if (len(f) > 3 and f[3] == "rep") else _OPT
        fd = m.field.add(name=fname, number=num, label=label, json_name=fname)
        if ftype in _SCALARS:
            fd.type = _SCALARS[ftype]
        else:
            fd.type = _F.TYPE_MESSAGE
            fd.type_name = ftype
        if len(f) > 4 and f[4] is not None:
            fd.oneof_index = f[4]
    return m


def _add_map_entry(msg, entry_name: str, key_type: str, value_type: str):
    e = _add_msg(msg.nested_type, entry_name, [("key", 1, key_type), ("value", 2, value_type)])
    e.options.map_entry = True
    return e


def _cel_expr_file() -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(name="gpuplane/cel_expr_subset.proto", package="cel.expr", syntax="proto3")
    mt = fdp.message_type
    E = ".cel.expr.Expr"
    _add_msg(mt, "Empty", [])
    _add_msg(
        mt,
        "Constant",
        [
            ("null_value", 1, "int32", "opt", 0),
            ("bool_value", 2, "bool", "opt", 0),
            ("int64_value", 3, "int64", "opt", 0),
            ("uint64_value", 4, "uint64", "opt", 0),
            ("double_value", 5, "double", "opt", 0),
            ("string_value", 6, "string", "opt", 0),
            ("bytes_value", 7, "bytes", "opt", 0),
        ],
        oneofs=("constant_kind",),
    )
    expr = _add_msg(
        mt,
        "Expr",
        [
            ("id", 2, "int64"),
            ("const_expr", 3, ".cel.expr.Constant", "opt", 0),
            ("ident_expr", 4, ".cel.expr.Expr.Ident", "opt", 0),
            ("select_expr", 5, ".cel.expr.Expr.Select", "opt", 0),
            ("call_expr", 6, ".cel.expr.Expr.Call", "opt", 0),
            ("list_expr", 7, ".cel.expr.Expr.CreateList", "opt", 0),
            ("struct_expr", 8, ".cel.expr.Expr.CreateStruct", "opt", 0),
            ("comprehension_expr", 9, ".cel.expr.Expr.Comprehension", "opt", 0),
        ],
        oneofs=("expr_kind",),
    )
    nt = expr.nested_type
    _add_msg(nt, "Ident", [("name", 1, "string")])
    _add_msg(nt, "Select", [("operand", 1, E), ("field", 2, "string"), ("test_only", 3, "bool")])
    _add_msg(nt, "Call", [("target", 1, E), ("function", 2, "string"), ("args", 3, E, "rep")])
    _add_msg(nt, "CreateList", [("elements", 1, E, "rep"), ("optional_indices", 2, "int32", "rep")])
    cs = _add_msg(nt, "CreateStruct", [("message_name", 1, "string"), ("entries", 2, ".cel.expr.Expr.CreateStruct.Entry", "rep")])
    _add_msg(
        cs.nested_type,
        "Entry",
        [
            ("id", 1, "int64"),
            ("field_key", 2, "string", "opt", 0),
            ("map_key", 3, E, "opt", 0),
            ("value", 4, E),
            ("optional_entry", 5, "bool"),
        ],
        oneofs=("key_kind",),
    )
    _add_msg(
        nt,
        "Comprehension",
        [
            ("iter_var", 1, "string"),
            ("iter_range", 2, E),
            ("accu_var", 3, "string"),
            ("accu_init", 4, E),
            ("loop_condition", 5, E),
            ("loop_step", 6, E),
            ("result", 7, E),
            ("iter_var2", 8, "string"),
        ],
    )
    si = _add_msg(
        mt,
        "SourceInfo",
        [
            ("syntax_version", 1, "string"),
            ("location", 2, "string"),
            ("line_offsets", 3, "int32", "rep"),
            ("positions", 4, ".cel.expr.SourceInfo.PositionsEntry", "rep"),
            ("macro_calls", 5, ".cel.expr.SourceInfo.MacroCallsEntry", "rep"),
        ],
    )
    _add_map_entry(si, "PositionsEntry", "int64", "int32")
    _add_map_entry(si, "MacroCallsEntry", "int64", E)
    T = ".cel.expr.Type"
    ty = _add_msg(
        mt,
        "Type",
        [
            ("dyn", 1, ".cel.expr.Empty", "opt", 0),
            ("null", 2, "int32", "opt", 0),
            ("primitive", 3, "int32", "opt", 0),
            ("wrapper", 4, "int32", "opt", 0),
            ("well_known", 5, "int32", "opt", 0),
            ("list_type", 6, ".cel.expr.Type.ListType", "opt", 0),
            ("map_type", 7, ".cel.expr.Type.MapType", "opt", 0),
            ("message_type", 9, "string", "opt", 0),
            ("type_param", 10, "string", "opt", 0),
            ("type", 11, T, "opt", 0),
            ("error", 12, ".cel.expr.Empty", "opt", 0),
            ("abstract_type", 14, ".cel.expr.Type.AbstractType", "opt", 0),
        ],
        oneofs=("type_kind",),
    )
    _add_msg(ty.nested_type, "ListType", [("elem_type", 1, T)])
    _add_msg(ty.nested_type, "MapType", [("key_type", 1, T), ("value_type", 2, T)])
    _add_msg(ty.nested_type, "AbstractType", [("name", 1, "string"), ("parameter_types", 2, T, "rep")])
    _add_msg(mt, "Reference", [("name", 1, "string"), ("overload_id", 3, "string", "rep"), ("value", 4, ".cel.expr.Constant")])
    ce = _add_msg(
        mt,
        "CheckedExpr",
        [
            ("reference_map", 2, ".cel.expr.CheckedExpr.ReferenceMapEntry", "rep"),
            ("type_map", 3, ".cel.expr.CheckedExpr.TypeMapEntry", "rep"),
            ("expr", 4, E),
            ("source_info", 5, ".cel.expr.SourceInfo"),
            ("expr_version", 6, "string"),
        ],
    )
    _add_map_entry(ce, "ReferenceMapEntry", "int64", ".cel.expr.Reference")
    _add_map_entry(ce, "TypeMapEntry", "int64", T)
    _add_msg(mt, "ParsedExpr", [("expr", 2, E), ("source_info", 3, ".cel.expr.SourceInfo")])
    return fdp


def _kubernetes_file() -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(name="gpuplane/kubernetes_cel.proto", package="kubernetes", syntax="proto3")
    fdp.dependency.append("google/protobuf/struct.proto")
    mt = fdp.message_type
    # Field names are never reachable from expressions (see env._validate).
    _add_msg(mt, "Quantity", [("q", 1, "string")])
    _add_msg(mt, "Semver", [("v", 1, "string")])
    # Checker-only shape of the ``device`` variable. Proto maps cannot nest, so the inner map is a
    # google.protobuf.Struct (CEL type map<string, dyn>) for attributes; capacity values are
    # Quantity via a one-field wrapper map ... which CEL would see as a message, not a map. So
    # capacity's inner map is Struct too (values dyn); quantity functions accept dyn receivers.
    for name, with_multi in (("DRADevice", True), ("DRADeviceNoConsumable", False)):
        m = _add_msg(
            mt,
            name,
            [
                ("driver", 1, "string"),
                ("attributes", 2, f".kubernetes.{name}.AttributesEntry", "rep"),
                ("capacity", 3, f".kubernetes.{name}.CapacityEntry", "rep"),
            ]
            + ([("allowMultipleAllocations", 4, "bool")] if with_multi else []),
        )
        _add_map_entry(m, "AttributesEntry", "string", ".google.protobuf.Struct")
        _add_map_entry(m, "CapacityEntry", "string", ".google.protobuf.Struct")
    return fdp


POOL = descriptor_pool.DescriptorPool()
POOL.AddSerializedFile(struct_pb2.DESCRIPTOR.serialized_pb)
POOL.Add(_cel_expr_file())
POOL.Add(_kubernetes_file())


def _cls(name: str):
    return message_factory.GetMessageClass(POOL.FindMessageTypeByName(name))


CheckedExpr = _cls("cel.expr.CheckedExpr")
ParsedExpr = _cls("cel.expr.ParsedExpr")
Expr = _cls("cel.expr.Expr")
CHECKED_EXPR_URL = "type.googleapis.com/cel.expr.CheckedExpr"
PARSED_EXPR_URL = "type.googleapis.com/cel.expr.ParsedExpr"


def decode_checked(serialized: bytes):
    """Parse ``Expression.serialize()`` output into a CheckedExpr message."""
    anyv = any_pb2.Any()
    anyv.ParseFromString(serialized)
    msg = CheckedExpr()
    msg.ParseFromString(anyv.value)
    return msg


def encode_any(msg, url: str) -> bytes:
    anyv = any_pb2.Any(type_url=url, value=msg.SerializeToString())
    return anyv.SerializeToString()
