"""Apertus 2509 (``apertus2509``, Swiss AI): tool calls and reasoning.

Tool calls are a JSON list of single-key objects, the key the function's name::

    <|tools_prefix|>[{"get_weather": {"city": "Paris"}}, {"get_time": {"zone": "CET"}}]<|tools_suffix|>

Reasoning sits in ``<|inner_prefix|>…<|inner_suffix|>`` blocks, possibly several, and the model may call a
tool from inside one: such a call is content (for the tool-call parser), the text around it reasoning.
"""

from __future__ import annotations

from .base import CallFrame, ToolCall, without_partial
from .json_blocks import JsonPayloadEnd
from .json_calls import every_call, json_value, named_call
from .mentions import CallStart
from .reasoning import SplitReasoningParser
from .split import BlockToolCallParser, Tools

__all__ = ["ApertusReasoningParser", "ApertusToolCallParser"]

TOOLS_OPEN, TOOLS_CLOSE = "<|tools_prefix|>", "<|tools_suffix|>"


class ApertusToolCallParser(CallStart, JsonPayloadEnd, BlockToolCallParser):
    open, close = TOOLS_OPEN, TOOLS_CLOSE
    call_starts = ("[",)
    call_frame = CallFrame(TOOLS_OPEN + '[{"{name}": ', "}]" + TOOLS_CLOSE, TOOLS_OPEN)

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        items = json_value(payload)
        if not isinstance(items, list):
            return None
        pairs = [item.popitem() if isinstance(item, dict) and len(item) == 1 else ("", None) for item in items]
        return every_call([named_call(name, arguments) for name, arguments in pairs])


class ApertusReasoningParser(SplitReasoningParser):
    open_tag, close_tag = "<|inner_prefix|>", "<|inner_suffix|>"
    markers = (open_tag, close_tag)

    def split(self, text: str, *, opened: bool, final: bool) -> tuple[str | None, str]:
        """(reasoning, content): every inner block's text is reasoning, calls inside them and the rest content."""
        reasoning: list[str] = []
        content: list[str] = []
        inside, seen, position = opened, opened, 0
        while True:
            if not inside:
                start = text.find(self.open_tag, position)
                if start == -1:
                    tail = text[position:]
                    content.append(tail if final else without_partial(tail, (self.open_tag,)))
                    break
                content.append(text[position:start])
                position, inside, seen = start + len(self.open_tag), True, True
                continue
            end, call = text.find(self.close_tag, position), text.find(TOOLS_OPEN, position)
            if call != -1 and (end == -1 or call < end):
                reasoning.append(text[position:call])
                call_end = text.find(TOOLS_CLOSE, call)
                if call_end == -1:
                    tail = text[call:]
                    content.append(tail if final else without_partial(tail, (TOOLS_CLOSE,)))
                    break
                content.append(text[call : call_end + len(TOOLS_CLOSE)])
                position = call_end + len(TOOLS_CLOSE)
                continue
            if end == -1:
                tail = text[position:]
                reasoning.append(tail if final else without_partial(tail, (self.close_tag, TOOLS_OPEN)))
                break
            reasoning.append(text[position:end])
            position, inside = end + len(self.close_tag), False
        return ("".join(reasoning) if seen else None), "".join(content)
