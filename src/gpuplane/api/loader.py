"""Reading manifests: files, directories, multi-document YAML, JSON and ``List`` objects.

Every problem with the input becomes an :class:`~gpuplane.api.errors.InputError` whose
message names the source (and line or document), never a traceback.

- ``PATH`` is a YAML or JSON file or a directory (``*.yaml``, ``*.yml``, ``*.json`` in it,
  sorted by name, not recursive); ``-`` reads standard input.
- A YAML file may hold several documents; empty documents are skipped.
- ``kind: List`` (any apiVersion) and ``<Kind>List`` objects with ``items`` are expanded in
  order. Items of a ``<Kind>List`` without ``kind``/``apiVersion`` (as the API server returns
  them) take ``<Kind>`` and the list's apiVersion.
- Each object must be a mapping with non-empty string ``apiVersion`` and ``kind``;
  ``metadata`` must be a mapping (absent or null becomes ``{}``). Namespaced kinds without
  ``metadata.namespace`` are put in ``default``.
- YAML timestamps stay strings (as in Kubernetes' YAML decoding), ``!!binary`` stays its
  text and ``!!set`` becomes a mapping to null, so every loaded value is plain JSON data.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, Iterable, Iterator

import msgspec
import yaml

from .errors import InputError
from .models import NAMESPACED_KINDS

__all__ = ["load_paths", "load_text", "load_bytes", "NAMESPACED", "MANIFEST_SUFFIXES"]

NAMESPACED = frozenset(NAMESPACED_KINDS | {"Pod", "PodGroup", "ResourceClaim", "ResourceClaimTemplate"})
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

# Aliases can make a small document expand to an enormous tree ("billion laughs"). Once the
# expanded size passes this many nodes it must also stay within _ALIAS_RATIO times the
# number of distinct nodes, as go-yaml does.
_ALIAS_MIN_NODES = 400_000
_ALIAS_RATIO = 10


# --- YAML loader ---------------------------------------------------------------------------


class _Loader(yaml.CSafeLoader):  # type: ignore[misc]
    """CSafeLoader without timestamp resolution and with JSON-only values."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


def _construct_str(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    raise yaml.constructor.ConstructorError(None, None, f"expected a scalar node, but found {node.id}", node.start_mark)


def _construct_binary(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return "".join(str(loader.construct_scalar(node)).split())
    return _construct_str(loader, node)


def _construct_set(loader: yaml.SafeLoader, node: yaml.Node) -> Iterator[dict]:
    data: dict = {}
    yield data
    data.update(loader.construct_mapping(node))


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_str)
_Loader.add_constructor("tag:yaml.org,2002:binary", _construct_binary)
_Loader.add_constructor("tag:yaml.org,2002:set", _construct_set)


def _line_col(text: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def _yaml_error(err: Exception, source: str, text: str) -> InputError:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None)
    if mark is not None and problem:
        context = getattr(err, "context", None)
        msg = f"{source}:{mark.line + 1}:{mark.column + 1}: invalid YAML: {problem}"
        if context:
            msg += f" ({context})"
        return InputError(msg)
    position = getattr(err, "position", None)
    reason = getattr(err, "reason", None)
    if isinstance(position, int) and reason:
        line, col = _line_col(text, position)
        return InputError(f"{source}:{line}:{col}: invalid YAML: {reason}")
    detail = str(err).replace('"<unicode string>"', "input").replace("\n", " ")
    return InputError(f"{source}: invalid YAML: {detail}")


def _check_aliasing(doc: Any, where: str) -> None:
    """Reject self-referencing documents and alias bombs (needs only one pass over the DAG)."""
    if not isinstance(doc, (dict, list)):
        return
    size: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(doc, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        children = node.values() if isinstance(node, dict) else node
        if finished:
            active.discard(key)
            total = 1
            for child in children:
                total += size.get(id(child), 1) if isinstance(child, (dict, list, tuple)) else 1
            size[key] = total
            continue
        if key in size:
            continue
        active.add(key)
        stack.append((node, True))
        for child in children:
            if isinstance(child, (dict, list, tuple)):
                ckey = id(child)
                if ckey in active:
                    raise InputError(f"{where}: document refers to itself through a YAML alias")
                if ckey not in size:
                    stack.append((child, False))
    expanded = size[id(doc)]
    if expanded > _ALIAS_MIN_NODES and expanded > _ALIAS_RATIO * len(size):
        raise InputError(f"{where}: document contains excessive aliasing ({expanded} nodes after expanding aliases)")


# Where a YAML anchor can start: after whitespace, a flow indicator, or a key/entry marker.
_ANCHOR = re.compile(r"(?:^|[\s,\[\{:?\-])&[^\s,\[\]\{\}]")


def _yaml_documents(text: str, source: str) -> Iterator[tuple[int, Any]]:
    check_aliases = "&" in text and _ANCHOR.search(text) is not None
    index = 0
    try:
        for doc in yaml.load_all(text, Loader=_Loader):
            index += 1
            if check_aliases:
                _check_aliasing(doc, f"{source}: document {index}")
            yield index, doc
    except InputError:
        raise
    except yaml.YAMLError as err:
        raise _yaml_error(err, source, text) from None
    except RecursionError:
        raise InputError(f"{source}: document {index + 1}: nested too deeply") from None
    except (ValueError, TypeError, OverflowError, MemoryError) as err:
        raise InputError(f"{source}: document {index + 1}: invalid YAML: {err}") from None


_JSON_BYTE = re.compile(r"\(byte (\d+)\)")


def _json_document(data: bytes | str, source: str) -> Any:
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as err:
        msg = str(err)
        m = _JSON_BYTE.search(msg)
        if m:
            raw = data.encode() if isinstance(data, str) else data
            offset = int(m.group(1))
            prefix = raw[:offset].decode("utf-8", "replace")
            line, col = _line_col(prefix, len(prefix))
            return _raise(f"{source}:{line}:{col}: invalid JSON: {msg[: m.start()].strip()}")
        return _raise(f"{source}: invalid JSON: {msg}")
    except RecursionError:
        return _raise(f"{source}: invalid JSON: nested too deeply")
    except (ValueError, TypeError, OverflowError, MemoryError) as err:
        return _raise(f"{source}: invalid JSON: {err}")


def _raise(msg: str) -> Any:
    raise InputError(msg)


# --- objects -------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def _is_list_kind(obj: dict) -> bool:
    kind = obj.get("kind")
    if not isinstance(kind, str):
        return False
    return kind == "List" or (kind.endswith("List") and "items" in obj)


def _add_objects(doc: Any, where: str, out: list[dict], depth: int = 0) -> None:
    if not isinstance(doc, dict):
        raise InputError(f"{where}: expected a mapping with apiVersion and kind, got a {_type_name(doc)}")
    if _is_list_kind(doc):
        items = doc.get("items")
        if items is None:
            return
        if not isinstance(items, list):
            raise InputError(f"{where}: items: expected a list, got a {_type_name(items)}")
        if depth > 32:
            raise InputError(f"{where}: Lists nested too deeply")
        kind = doc["kind"]
        item_kind = kind[: -len("List")] if kind != "List" else None
        item_api = doc.get("apiVersion") if item_kind else None
        for i, item in enumerate(items):
            if item_kind and isinstance(item, dict):
                if "kind" not in item:
                    item["kind"] = item_kind
                if "apiVersion" not in item and isinstance(item_api, str):
                    item["apiVersion"] = item_api
            _add_objects(item, f"{where}, items[{i}]", out, depth + 1)
        return
    api_version = doc.get("apiVersion")
    kind = doc.get("kind")
    if api_version is None or api_version == "":
        raise InputError(f"{where}: apiVersion is missing")
    if not isinstance(api_version, str):
        raise InputError(f"{where}: apiVersion: expected a string, got a {_type_name(api_version)}")
    if kind is None or kind == "":
        raise InputError(f"{where}: kind is missing")
    if not isinstance(kind, str):
        raise InputError(f"{where}: kind: expected a string, got a {_type_name(kind)}")
    meta = doc.get("metadata")
    if meta is None:
        meta = doc["metadata"] = {}
    elif not isinstance(meta, dict):
        raise InputError(f"{where}: {kind}: metadata: expected a mapping, got a {_type_name(meta)}")
    if kind in NAMESPACED:
        ns = meta.get("namespace")
        if ns is None or ns == "":
            meta["namespace"] = "default"
    out.append(doc)


def _objects(docs: Iterable[tuple[int, Any]], source: str) -> list[dict]:
    out: list[dict] = []
    for index, doc in docs:
        if doc is None:
            continue
        _add_objects(doc, f"{source}: document {index}", out)
    return out


def load_text(text: str, source: str = "<input>") -> list[dict]:
    """Objects in a YAML (or JSON) text, in order; ``source`` names it in error messages."""
    if not isinstance(text, str):
        raise InputError(f"{source}: expected text, got {type(text).__name__}")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        # JSON is YAML; decoding it as JSON is much faster. Fall back to YAML when it is not
        # plain JSON (the YAML parser then reports the problem).
        try:
            doc = msgspec.json.decode(text)
        except Exception:  # noqa: BLE001 - not plain JSON: the YAML parser reports it
            pass
        else:
            return _objects([(1, doc)], source)
    return _objects(_yaml_documents(text, source), source)


def _decode_text(data: bytes, source: str) -> str:
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        prefix = data[: err.start].decode("utf-8", "replace")
        line, col = _line_col(prefix, len(prefix))
        raise InputError(f"{source}:{line}:{col}: not valid UTF-8 text") from None


def load_bytes(data: bytes, source: str = "<input>", json: bool | None = None) -> list[dict]:
    """Objects in raw file contents. ``json`` forces (True) or forbids (False) JSON decoding;
    by default the text is decoded as YAML, which accepts JSON too."""
    if json:
        doc = _json_document(data[3:] if data.startswith(b"\xef\xbb\xbf") else data, source)
        return _objects([(1, doc)], source)
    return load_text(_decode_text(data, source), source)


def _read(path: str) -> bytes:
    try:
        if path == "-":
            return sys.stdin.buffer.read()
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file or directory") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory") from None
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise InputError(f"{path}: cannot read: {reason}") from None


def _files(path: str) -> list[str]:
    if path == "-":
        return [path]
    try:
        is_dir = os.path.isdir(path)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: {err}") from None
    if not is_dir:
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file or directory")
        return [path]
    try:
        names = sorted(os.listdir(path))
    except OSError as err:
        raise InputError(f"{path}: cannot list directory: {err.strerror or err}") from None
    out = []
    for name in names:
        if name.endswith(MANIFEST_SUFFIXES):
            full = os.path.join(path, name)
            if os.path.isfile(full):
                out.append(full)
    return out


def load_paths(paths: list[str]) -> list[dict]:
    """Objects from files and directories (see the module docstring), in order."""
    if isinstance(paths, (str, bytes)):
        paths = [paths]  # type: ignore[list-item]
    out: list[dict] = []
    for path in paths:
        path = os.fsdecode(path)
        for file in _files(path):
            data = _read(file)
            out.extend(load_bytes(data, file, json=True if file.endswith(".json") else None))
    return out
