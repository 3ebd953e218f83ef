"""SGLang tool-call parser names whose format is one we already read, each on a subclass of that parser.

- ``trinity``: Hermes ``<tool_call>{json}</tool_call>``; calls written inside ``<think>`` count (the tags are
  dropped before parsing, as SGLang's Trinity detector does). A forced call takes Qwen2.5's frame.
- ``mimo``: the Qwen3-Coder XML form (``<tool_call><function=f><parameter=k>v</parameter></function>``); SGLang's
  MiMo detector names no structural tag, so a call cannot be forced.
- ``ling3``: the GLM-4.5 form, also with a literal ``\\n`` (backslash, n) written after the name.
- ``iquest_q1``: the GLM-4.5 form inside ``<iquest_tool_call>…</iquest_tool_call>``.
"""

from __future__ import annotations

from .base import ParsedToolCalls, ToolCall, without_partial
from .glm45 import Glm45ToolCallParser
from .hermes import Qwen25ToolCallParser
from .qwen3_coder import Qwen3CoderToolCallParser
from .split import Tools

__all__ = [
    "IQuestQ1ToolCallParser",
    "Ling3ToolCallParser",
    "MimoToolCallParser",
    "TrinityToolCallParser",
]

_THINK_TAGS = ("<think>", "</think>")


class TrinityToolCallParser(Qwen25ToolCallParser):
    def split(self, text: str, tools: Tools, *, final: bool) -> ParsedToolCalls:
        if not final:  # a think tag half-written must not reach the content before it is dropped
            text = without_partial(text, _THINK_TAGS)
        for tag in _THINK_TAGS:
            text = text.replace(tag, "")
        return super().split(text, tools, final=final)


class MimoToolCallParser(Qwen3CoderToolCallParser):
    structural_tag_name = None


class Ling3ToolCallParser(Glm45ToolCallParser):
    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        name, marker, rest = payload.partition("<arg_key>")
        name = name.rstrip()
        if name.endswith("\\n"):
            payload = name[:-2] + "\n" + marker + rest
        return super().block_calls(payload, tools)


class IQuestQ1ToolCallParser(Glm45ToolCallParser):
    open, close = "<iquest_tool_call>", "</iquest_tool_call>"
    value_open = None  # the block ends at the first closing tag, values or not
