"""SGLang tool-call parser names whose format is one we already read, each on a subclass of that parser.

- ``trinity``: Hermes ``<tool_call>{json}</tool_call>``; calls written inside ``<think>`` count (the tags are
  dropped before parsing, as SGLang's Trinity detector does).
- ``mimo``: the Qwen3-Coder XML form (``<tool_call><function=f><parameter=k>v</parameter></function>``).
- ``poolside_v1``, ``spark25``: the GLM-4.5 key/value form (``<tool_call>f\\n<arg_key>k</arg_key>
  <arg_value>v</arg_value></tool_call>``).
- ``ling3``: the GLM-4.5 form, also with a literal ``\\n`` (backslash, n) written after the name.
- ``iquest_q1``: the GLM-4.5 form inside ``<iquest_tool_call>…</iquest_tool_call>``.
"""

from __future__ import annotations

from .base import ParsedToolCalls, ToolCall, marker_prefix_length
from .glm45 import Glm45ToolCallParser
from .hermes import HermesToolCallParser
from .qwen3_coder import Qwen3CoderToolCallParser
from .split import BlockToolCallParser, Tools

__all__ = [
    "IQuestQ1ToolCallParser",
    "Ling3ToolCallParser",
    "MimoToolCallParser",
    "PoolsideV1ToolCallParser",
    "Spark25ToolCallParser",
    "TrinityToolCallParser",
]

_THINK_TAGS = ("<think>", "</think>")


class TrinityToolCallParser(HermesToolCallParser):
    names = ("trinity",)

    def split(self, text: str, tools: Tools, *, final: bool) -> ParsedToolCalls:
        if not final:  # a think tag half-written must not reach the content before it is dropped
            text = text[: len(text) - max(marker_prefix_length(text, tag) for tag in _THINK_TAGS)]
        for tag in _THINK_TAGS:
            text = text.replace(tag, "")
        return super().split(text, tools, final=final)


class MimoToolCallParser(Qwen3CoderToolCallParser):
    names = ("mimo",)


class PoolsideV1ToolCallParser(Glm45ToolCallParser):
    names = ("poolside_v1",)


class Spark25ToolCallParser(Glm45ToolCallParser):
    names = ("spark25",)


class Ling3ToolCallParser(Glm45ToolCallParser):
    names = ("ling3",)

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        name, marker, rest = payload.partition("<arg_key>")
        name = name.rstrip()
        if name.endswith("\\n"):
            payload = name[:-2] + "\n" + marker + rest
        return super().block_calls(payload, tools)


class IQuestQ1ToolCallParser(Glm45ToolCallParser):
    names = ("iquest_q1",)
    open, close = "<iquest_tool_call>", "</iquest_tool_call>"
    block_end = BlockToolCallParser.block_end  # GLM's scan of values looks for GLM's own closing tag
