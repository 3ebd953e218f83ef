"""MiniCPM tool calls (``minicpm5``, MiniCPM-4 "V3" template): XML functions with named params.

Format::

    <function name="get_weather"><param name="city">Paris</param><param name="days">3</param></function>
    <function name="note"><param name="text"><![CDATA[two
    lines]]></param></function>

Values are stripped text (CDATA kept verbatim, XML entities decoded otherwise), typed with the tool's schema.
A param without a name, a repeated one, or one the tool does not declare makes the block content.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import unescape

from .base import ToolCall
from .json_calls import back_to_back
from .split import BlockToolCallParser, Tools
from .typed import typed_arguments

__all__ = ["MiniCPM5ToolCallParser"]

_HEAD = re.compile(r"""\s+name=(["'])([^"']+)\1[^>]*>(.*)""", re.DOTALL)
_PARAM = re.compile(r"""\s*<param\s+name=(["'])([^"']+)\1\s*>(.*?)</param>\s*""", re.DOTALL)
_NAME_ATTRIBUTE = re.compile(r"\s+name\s*=")
_NAME_ATTRIBUTE_BEGUN = re.compile(r"(?:\s+(?:n(?:a(?:m(?:e\s*)?)?)?)?)?")
_CDATA = re.compile(r"<!\[CDATA\[(.*)\]\]>", re.DOTALL)


def _declared(name: str, tools: Tools) -> set[str] | None:
    for tool in tools or ():
        function = tool.get("function") or {}
        if function.get("name") == name:
            return set((function.get("parameters") or {}).get("properties") or {}) or None
    return None


def _value(raw: str) -> str:
    cdata = _CDATA.fullmatch(raw.strip())
    return cdata.group(1).strip() if cdata else unescape(raw, {"&quot;": '"', "&apos;": "'"}).strip()


class MiniCPM5ToolCallParser(BlockToolCallParser):
    open, close = "<function", "</function>"
    extra_markers = ("<param", "</param>")

    def starts_call(self, text: str, start: int) -> bool | None:
        """``<function`` opens a call only when a ``name=`` attribute follows (else it is prose)."""
        if _NAME_ATTRIBUTE.match(text, start):
            return True
        return None if _NAME_ATTRIBUTE_BEGUN.fullmatch(text, start) else False

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        head = _HEAD.fullmatch(payload)
        params = None if head is None else back_to_back(_PARAM, head.group(3))
        if params is None:
            return None  # no name, text outside params, or a param without a name
        name = head.group(2).strip()
        pairs = [(match.group(2).strip(), _value(match.group(3))) for match in params]
        keys = [key for key, _ in pairs]
        declared = _declared(name, tools)
        if len(set(keys)) != len(keys) or (declared is not None and not set(keys) <= declared):
            return None
        return [ToolCall(name=name, arguments=typed_arguments(name, pairs, tools))]
