"""MiniMax M2 (``minimax-m2``): XML invocations inside ``<minimax:tool_call>``; reasoning in ``<think>``.

Format (MiniMax-M2 chat template)::

    <minimax:tool_call>
    <invoke name="get_weather">
    <parameter name="city">Paris</parameter>
    <parameter name="days">3</parameter>
    </invoke>
    </minimax:tool_call>

Parameter values are text (non-strings as JSON), typed with the tool's JSON schema. The template opens
``<think>`` in the prompt. Reasoning parser ``minimax`` splits the block off; ``minimax-append-think`` keeps it
in the content instead, with the opening tag the prompt wrote put back in front (for clients that show the
model's thinking inline).

MiniMax M3 (``minimax-m3``) puts a namespace marker before every tag and nests parameters as XML, arrays as
``<item>`` elements; values are typed by the tool's schema (without one, only ``true``/``false``/``null`` are
read as JSON)::

    ]<]minimax[>[<tool_call>
    ]<]minimax[>[<invoke name="get_weather">]<]minimax[>[<city>Paris]<]minimax[>[</city>]<]minimax[>[</invoke>
    ]<]minimax[>[</tool_call>

Its reasoning is ``<mm:think>…</mm:think>``; a reply may open with a stray ``</mm:think>`` (earlier turns
without thinking are written with one), which is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .base import ParsedReasoning, ReasoningParser, ReasoningStream, ToolCall
from .json_calls import back_to_back, every_call, named_call
from .split import BlockToolCallParser, Tools
from .think import ThinkReasoningParser
from .typed import admitted_types, typed_arguments, typed_value

__all__ = [
    "MinimaxAppendThinkReasoningParser",
    "MinimaxM2ToolCallParser",
    "MinimaxM3ReasoningParser",
    "MinimaxM3ToolCallParser",
    "MinimaxReasoningParser",
]

_INVOKE_START = '<invoke name="'
_INVOKE = re.compile(r'\s*<invoke name="([^"<>\n]+)">(.*?)</invoke>\s*', re.DOTALL)
_PARAMETER = re.compile(r'\s*<parameter name="([^"<>\n]+)">\n?(.*?)\n?</parameter>\s*', re.DOTALL)


def _invocation(invoke: re.Match[str], tools: Tools) -> ToolCall | None:
    parameters = back_to_back(_PARAMETER, invoke.group(2))
    if parameters is None:
        return None  # text outside parameters: not this format
    name = invoke.group(1).strip()
    pairs = [(parameter.group(1).strip(), parameter.group(2)) for parameter in parameters]
    return ToolCall(name=name, arguments=typed_arguments(name, pairs, tools))


class MinimaxM2ToolCallParser(BlockToolCallParser):
    open, close = "<minimax:tool_call>", "</minimax:tool_call>"
    extra_markers = (_INVOKE_START, "</invoke>", '<parameter name="', "</parameter>")
    template_signs = (("minimax-m2", "<minimax:tool_call>"),)

    def starts_call(self, text: str, start: int) -> bool | None:
        rest = text[start:].lstrip()
        if len(rest) < len(_INVOKE_START):
            return None if _INVOKE_START.startswith(rest) else False
        return rest.startswith(_INVOKE_START)

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        return every_call([_invocation(invoke, tools) for invoke in back_to_back(_INVOKE, payload) or []])


class MinimaxReasoningParser(ThinkReasoningParser):
    """``<think>…</think>``, also ended by a call written before the block was closed."""

    template_signs = (("minimax", "<minimax:tool_call>"),)
    tool_markers = (MinimaxM2ToolCallParser.open,)
    tool_markers_at_line_start = False


class _PrefixedStream(ReasoningStream):
    def __init__(self, prefix: str) -> None:
        self._prefix = prefix

    def feed(self, delta: str) -> tuple[str, str]:
        prefix, self._prefix = self._prefix, ""
        return "", prefix + delta

    def finish(self) -> tuple[str, str]:
        return self.feed("")


class MinimaxAppendThinkReasoningParser(ReasoningParser):
    """No reasoning split: the whole output is content, starting with the ``<think>`` the prompt opened."""

    open_tag, close_tag = "<think>", "</think>"
    markers = (open_tag, close_tag)

    def parse(self, text: str, *, opened: bool = False) -> ParsedReasoning:
        return ParsedReasoning(reasoning=None, content=(self.open_tag if opened else "") + text)

    def stream(self, *, opened: bool = False) -> ReasoningStream:
        return _PrefixedStream(self.open_tag if opened else "")


NAMESPACE = "]<]minimax[>["
_M3_INVOKE = re.compile(r'invoke name="([^"<>\n]+)"')
_UNTYPED_LITERALS = {"true": True, "false": False, "null": None}


@dataclass
class _Element:
    tag: str
    text: str
    children: list[_Element] = field(default_factory=list)


def _elements(payload: str) -> list[_Element] | None:
    """The XML tree of a block's payload (every tag after the namespace marker), or None when malformed."""
    first, *chunks = payload.split(NAMESPACE)
    if first.strip():
        return None
    root = _Element("", "")
    stack = [root]
    for chunk in chunks:
        chunk = chunk.lstrip()
        end = chunk.find(">")
        if not chunk.startswith("<") or end == -1:
            return None
        if chunk.startswith("</"):
            if len(stack) == 1 or stack[-1].tag.split()[0] != chunk[2:end].strip() or chunk[end + 1 :].strip():
                return None
            stack.pop()
            continue
        if stack[-1].text.strip():
            return None  # text and elements mixed
        tag = chunk[1:end].strip()
        if not tag:
            return None
        element = _Element(tag, chunk[end + 1 :])
        stack[-1].children.append(element)
        stack.append(element)
    return root.children if len(stack) == 1 else None


def _child_schema(schema: Any, tag: str) -> Any:
    if not isinstance(schema, dict):
        return None
    properties = schema.get("properties")
    if isinstance(properties, dict) and tag in properties:
        return properties[tag]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _m3_value(element: _Element, schema: Any, root: Any) -> Any:
    kinds = admitted_types(schema, root)
    if element.children:
        if "array" in kinds or (not kinds and all(child.tag == "item" for child in element.children)):
            items = schema.get("items") if isinstance(schema, dict) else None
            return [_m3_value(child, items, root) for child in element.children]
        members: dict[str, Any] = {}
        for child in element.children:
            value = _m3_value(child, _child_schema(schema, child.tag), root)
            if child.tag not in members:
                members[child.tag] = value
            elif isinstance(members[child.tag], list):
                members[child.tag].append(value)
            else:
                members[child.tag] = [members[child.tag], value]
        return members
    text = element.text.rstrip()  # whitespace before the next tag is layout
    if not kinds:
        return _UNTYPED_LITERALS.get(text.strip(), text)
    if not text.strip() and kinds & {"object", "array"}:
        return [] if "array" in kinds else {}
    return typed_value(text, kinds)


def _parameters_schema(name: str, tools: Tools) -> Any:
    for tool in tools or ():
        function = tool.get("function") or {}
        if function.get("name") == name:
            return function.get("parameters")
    return None


def _m3_call(invoke: _Element, tools: Tools) -> ToolCall | None:
    match = _M3_INVOKE.fullmatch(invoke.tag)
    if match is None or invoke.text.strip():
        return None
    schema = _parameters_schema(match.group(1), tools)
    arguments = _m3_value(_Element("", "", invoke.children), schema, schema) if invoke.children else {}
    return named_call(match.group(1), arguments)


class MinimaxM3ToolCallParser(BlockToolCallParser):
    open, close = NAMESPACE + "<tool_call>", NAMESPACE + "</tool_call>"
    extra_markers = (NAMESPACE,)
    template_signs = (("minimax-m3", NAMESPACE),)

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        return every_call([_m3_call(invoke, tools) for invoke in _elements(payload) or []])


class MinimaxM3ReasoningParser(ThinkReasoningParser):
    template_signs = (("minimax-m3", "<mm:think>"),)
    open_tag, close_tag = "<mm:think>", "</mm:think>"
    tool_markers = (MinimaxM3ToolCallParser.open,)
    tool_markers_at_line_start = False

    def split(self, text: str, *, opened: bool, final: bool) -> tuple[str | None, str]:
        if not opened:
            stripped = text.lstrip()
            if not final and stripped and self.close_tag.startswith(stripped):
                return "", ""  # may still be a stray closing tag
            if stripped.startswith(self.close_tag):
                text = stripped[len(self.close_tag) :]
        return super().split(text, opened=opened, final=final)
