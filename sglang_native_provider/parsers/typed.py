"""Arguments written as strings (XML-style families) converted with the tool's JSON schema.

The JSON types a parameter admits are read through ``$ref`` (to the parameters' ``$defs`` or ``definitions``),
``anyOf``/``oneOf``/``allOf``, ``type`` lists, ``enum`` and ``const``, so that pydantic's ``Optional[list[int]]``
(``anyOf: [{type: array}, {type: null}]``) is typed like ``list[int]``. A value becomes the JSON it spells only
when that JSON is of an admitted type (a structured value may also be written JSON-escaped or as a Python
literal, read with ``ast.literal_eval``, never evaluated; a number may be written as a JSON string, ``"42"``,
when the schema admits numbers but not strings); otherwise it stays the string the model wrote.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Mapping
from typing import Any

from .split import Tools

__all__ = ["admitted_types", "typed_arguments", "typed_value"]

_STRUCTURED = {"object", "array"}
_NUMERIC = {"number", "integer"}
_MAX_DEPTH = 32


def _parameters(name: str, tools: Tools) -> dict[str, Any]:
    for tool in tools or ():
        function = tool.get("function") or {}
        if function.get("name") == name:
            parameters = function.get("parameters")
            return parameters if isinstance(parameters, dict) else {}
    return {}


def _resolve(reference: str, root: Mapping[str, Any]) -> Any:
    if not reference.startswith("#/"):
        return None
    node: Any = root
    for part in reference[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string" if isinstance(value, str) else "array" if isinstance(value, list) else "object"


def admitted_types(schema: Any, root: Mapping[str, Any] | None = None, _depth: int = 0) -> set[str]:
    """The JSON types ``schema`` admits (``root`` resolves ``$ref``); empty when it does not say."""
    if not isinstance(schema, dict) or _depth > _MAX_DEPTH:
        return set()
    kinds: set[str] = set()
    declared = schema.get("type")
    if isinstance(declared, str):
        kinds.add(declared)
    elif isinstance(declared, list):
        kinds.update(kind for kind in declared if isinstance(kind, str))
    for key in ("enum", "const"):
        if key in schema:
            values = schema[key] if key == "enum" and isinstance(schema[key], list) else [schema[key]]
            kinds.update(_json_type(value) for value in values)
    if isinstance(schema.get("$ref"), str) and root is not None:
        kinds |= admitted_types(_resolve(schema["$ref"], root), root, _depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key) or ():
            kinds |= admitted_types(option, root, _depth + 1)
    return kinds


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decoded(value: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(value, parse_constant=_no_constants)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        return False, None


def _python_literal(value: str) -> tuple[bool, Any]:
    try:
        decoded = ast.literal_eval(value.strip())
        json.dumps(decoded, allow_nan=False)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None
    return isinstance(decoded, (list, dict)), decoded


def typed_value(value: str, kinds: set[str]) -> Any:
    """``value`` as the JSON it spells when that is of one of ``kinds``, else the string itself."""
    if not kinds - {"string"}:
        return value
    if "boolean" in kinds and value.strip() in ("True", "False"):  # Python-style booleans from templates
        return value.strip() == "True"
    ok, decoded = _decoded(value)
    if not ok and kinds & _STRUCTURED:  # a structured value the model wrote JSON-escaped: [{\"id\": 1}]
        ok, inner = _decoded(f'"{value}"')
        if ok and isinstance(inner, str):
            ok, decoded = _decoded(inner)
    if not ok and kinds & _STRUCTURED:  # or as a Python literal: {'id': 1}
        ok, decoded = _python_literal(value)
    if not ok:
        return value
    if isinstance(decoded, str) and "string" not in kinds and kinds & _NUMERIC:  # a number quoted: "42"
        quoted_ok, number = _decoded(decoded)
        if quoted_ok and _json_type(number) in _NUMERIC:
            decoded = number
    kind = _json_type(decoded)
    if kind in kinds or (kind == "integer" and "number" in kinds):
        return decoded
    if kind == "number" and "integer" in kinds and float(decoded).is_integer():
        return int(decoded)
    return value


def typed_arguments(name: str, pairs: Iterable[tuple[str, str]], tools: Tools) -> str:
    """The ``(key, text)`` pairs as a JSON object, each value typed by the tool's parameter schema."""
    parameters = _parameters(name, tools)
    properties = parameters.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    arguments = {key: typed_value(value, admitted_types(properties.get(key), parameters)) for key, value in pairs}
    return json.dumps(arguments, ensure_ascii=False)
