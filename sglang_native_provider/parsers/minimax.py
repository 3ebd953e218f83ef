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
"""

from __future__ import annotations

import re

from .base import ParsedReasoning, ReasoningParser, ReasoningStream, ToolCall
from .split import BlockToolCallParser, Tools
from .think import ThinkReasoningParser
from .typed import typed_arguments

__all__ = ["MinimaxAppendThinkReasoningParser", "MinimaxM2ToolCallParser", "MinimaxReasoningParser"]

_INVOKE = re.compile(r'\s*<invoke name="([^"<>\n]+)">(.*?)</invoke>\s*', re.DOTALL)
_PARAMETER = re.compile(r'\s*<parameter name="([^"<>\n]+)">\n?(.*?)\n?</parameter>\s*', re.DOTALL)


def _invocation(name: str, body: str, tools: Tools) -> ToolCall | None:
    pairs = []
    position = 0
    for match in _PARAMETER.finditer(body):
        if match.start() != position:
            return None  # text outside parameters: not this format
        pairs.append((match.group(1).strip(), match.group(2)))
        position = match.end()
    if body[position:].strip():
        return None
    name = name.strip()
    return ToolCall(name=name, arguments=typed_arguments(name, pairs, tools))


class MinimaxM2ToolCallParser(BlockToolCallParser):
    names = ("minimax-m2",)
    open, close = "<minimax:tool_call>", "</minimax:tool_call>"
    extra_markers = ('<invoke name="', "</invoke>", '<parameter name="', "</parameter>")

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        calls = []
        position = 0
        for match in _INVOKE.finditer(payload):
            call = _invocation(match.group(1), match.group(2), tools) if match.start() == position else None
            if call is None:
                return None
            calls.append(call)
            position = match.end()
        if payload[position:].strip() or not calls:
            return None
        return calls


class MinimaxReasoningParser(ThinkReasoningParser):
    """``<think>…</think>``, also ended by a call written before the block was closed."""

    names = ("minimax",)
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

    names = ("minimax-append-think",)
    open_tag, close_tag = "<think>", "</think>"
    markers = (open_tag, close_tag)

    def parse(self, text: str, *, opened: bool = False) -> ParsedReasoning:
        return ParsedReasoning(reasoning=None, content=(self.open_tag if opened else "") + text)

    def stream(self, *, opened: bool = False) -> ReasoningStream:
        return _PrefixedStream(self.open_tag if opened else "")
