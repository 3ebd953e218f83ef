"""What the fake model writes under a grammar that forces a tool call.

SGLang's legacy structural tag with ``at_least_one`` (what ``tool_choice`` "required" or a named function sends
for most families) admits no free text: the output is one of the tag's structures, ``begin`` + JSON arguments
+ ``end``. A model-native tag (``{"type": "structural_tag", "format": ...}``, xgrammar's formats) that forces a
call is written out the same way: its first call, in the family's markup (JSON, or the ``style`` of XML its
arguments take), with the constant text around it. Unless a completion is scripted, the fake model writes that
call with the smallest arguments its schema admits. Other grammars (and tags that admit free text instead of a
call) are accepted and not enforced.
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


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _dsml_parameters(dsml: str):
    def write(key: str, value: Any) -> str:
        string = "true" if isinstance(value, str) else "false"
        return f'<{dsml}parameter name="{key}" string="{string}">{_value_text(value)}</{dsml}parameter>\n'

    return write


# How each xgrammar ``json_schema`` style writes one argument (the arguments being a JSON object).
_XML_ARGUMENT: dict[str, Any] = {
    "qwen_xml": lambda key, value: f"<parameter={key}>\n{_value_text(value)}\n</parameter>\n",
    "glm_xml": lambda key, value: f"<arg_key>{key}</arg_key><arg_value>{_value_text(value)}</arg_value>",
    "deepseek_xml": _dsml_parameters("｜DSML｜"),
    "deepseek_v4_1_xml": _dsml_parameters("｜DSML｜ "),
}
# Text the regexes of the model-native tags match (Kimi's call index).
_REGEX_TEXT = {r"\d+": "0"}


class _FreeText(Exception):
    """The format admits output without a call: it forces none."""


def _arguments_text(node: dict[str, Any]) -> str:
    value = _smallest_instance(node.get("json_schema"))
    style = node.get("style", "json")
    if style == "json":
        return json.dumps(value, ensure_ascii=False)
    write = _XML_ARGUMENT.get(style)
    if write is None:
        raise _FreeText(style)  # a style we cannot write: leave the output unconstrained
    return "".join(write(key, item) for key, item in value.items()) if isinstance(value, dict) else ""


def _is_call(node: Any) -> bool:
    """Whether a format writes arguments (a tool call), not only text."""
    if not isinstance(node, dict):
        return False
    if node.get("type") == "json_schema":
        return True
    children = [node.get("content"), *(node.get("elements") or ()), *(node.get("tags") or ())]
    return any(_is_call(child) for child in children)


def _write(node: Any, *, in_tag: bool = False) -> str:
    """The text a native format admits that makes its first call (free text written empty inside a tag, such as
    a reasoning block; as an alternative to the call it means no call is forced)."""
    kind = node.get("type") if isinstance(node, dict) else None
    if kind == "const_string":
        return node["value"]
    if kind == "json_schema":
        return _arguments_text(node)
    if kind == "regex" and node.get("pattern") in _REGEX_TEXT:
        return _REGEX_TEXT[node["pattern"]]
    if kind == "any_text" and in_tag:
        return ""
    if kind == "tag" and isinstance(node.get("begin"), str):
        end = node["end"][0] if isinstance(node["end"], list) else node["end"]
        if isinstance(end, str):
            return node["begin"] + _write(node["content"], in_tag=True) + end
    if kind == "sequence":
        return "".join(_write(element, in_tag=in_tag) for element in node["elements"])
    if kind in ("or", "optional"):
        options = [node["content"]] if kind == "optional" else node["elements"]
        calls = [option for option in options if _is_call(option)]
        if calls:
            return _write(calls[0], in_tag=in_tag)
    # Triggered tags that need no call admit free text; tags with a separator are written with their first call.
    if kind == "tags_with_separator" or (kind == "triggered_tags" and node.get("at_least_one")):
        calls = [tag for tag in node.get("tags") or () if _is_call(tag)]
        if calls:
            return _write(calls[0], in_tag=in_tag)
    raise _FreeText(kind)


def _native_call_text(tag: dict[str, Any]) -> str | None:
    try:
        return _write(tag.get("format"))
    except (_FreeText, KeyError, TypeError, AttributeError):
        return None


def forced_call_text(structural_tag: str | None) -> str | None:
    """The call a structural tag forces, or None when it forces none."""
    try:
        tag = json.loads(structural_tag) if structural_tag else None
    except json.JSONDecodeError:
        return None
    if isinstance(tag, dict) and "format" in tag:
        return _native_call_text(tag)
    if not (isinstance(tag, dict) and tag.get("at_least_one") and tag.get("structures")):
        return None
    first = tag["structures"][0]
    arguments = json.dumps(_smallest_instance(first.get("schema")), ensure_ascii=False)
    return f"{first['begin']}{arguments}{first['end']}"
