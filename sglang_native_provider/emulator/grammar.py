"""What the fake model writes under a grammar that forces a tool call.

SGLang's structural tag with ``at_least_one`` (what ``tool_choice`` "required" or a named function sends)
admits no free text: the output is one of the tag's structures, ``begin`` + JSON arguments + ``end``. Unless a
completion is scripted, the fake model writes the first structure with the smallest arguments its schema
admits. Other grammars are accepted and not enforced.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["forced_call_text"]

_EMPTY_BY_TYPE: dict[str, Any] = {"string": "", "integer": 0, "number": 0, "boolean": False, "array": [], "null": None}


def _smallest_instance(schema: Any) -> Any:
    """A small value the JSON schema admits: required properties only, each the empty value of its type."""
    if not isinstance(schema, dict):
        return {}
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    if kind == "object" or "properties" in schema or kind is None:
        properties = schema.get("properties") or {}
        return {name: _smallest_instance(properties.get(name)) for name in schema.get("required") or ()}
    return _EMPTY_BY_TYPE.get(kind, {})


def forced_call_text(structural_tag: str | None) -> str | None:
    """The call a structural tag forces, or None when it forces none (or is not a legacy tag)."""
    try:
        tag = json.loads(structural_tag) if structural_tag else None
    except json.JSONDecodeError:
        return None
    if not (isinstance(tag, dict) and tag.get("at_least_one") and tag.get("structures")):
        return None
    first = tag["structures"][0]
    arguments = json.dumps(_smallest_instance(first.get("schema")), ensure_ascii=False)
    return f"{first['begin']}{arguments}{first['end']}"
