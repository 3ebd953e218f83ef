"""Arguments written as strings (XML-style families) converted with the tool's JSON schema."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .split import Tools

__all__ = ["typed_arguments"]

_JSON_TYPES = {"integer", "number", "boolean", "object", "array", "null"}


def _properties(name: str, tools: Tools) -> dict[str, Any]:
    for tool in tools or ():
        function = tool.get("function") or {}
        if function.get("name") == name:
            return (function.get("parameters") or {}).get("properties") or {}
    return {}


def _typed(value: str, schema: Any) -> Any:
    kinds = schema.get("type") if isinstance(schema, dict) else None
    kinds = set(kinds) if isinstance(kinds, list) else {kinds}
    if not kinds & _JSON_TYPES:
        return value
    if "boolean" in kinds and value.strip() in ("True", "False"):  # Python-style booleans from templates
        return value.strip() == "True"
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def typed_arguments(name: str, pairs: Iterable[tuple[str, str]], tools: Tools) -> str:
    """The ``(key, text)`` pairs as a JSON object, each value typed by the tool's parameter schema."""
    properties = _properties(name, tools)
    arguments = {key: _typed(value, properties.get(key)) for key, value in pairs}
    return json.dumps(arguments, ensure_ascii=False)
