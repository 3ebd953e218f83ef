"""``<think>...</think>`` reasoning, used by Qwen3, QwQ and DeepSeek-R1 style models.

The block may be opened by the prompt (the template ends with ``<think>``), so only ``</think>`` is
required; output cut off inside the block (``length``) is all reasoning.
"""

from __future__ import annotations

from .base import ParsedReasoning, ReasoningParser

__all__ = ["ThinkReasoningParser"]

_OPEN, _CLOSE = "<think>", "</think>"


class ThinkReasoningParser(ReasoningParser):
    names = ("qwen3", "qwen3-thinking", "deepseek-r1")

    def parse(self, text: str) -> ParsedReasoning:
        stripped = text.lstrip()
        opened = stripped.startswith(_OPEN)
        if opened:
            stripped = stripped[len(_OPEN) :]
        if _CLOSE in stripped:
            reasoning, _, content = stripped.partition(_CLOSE)
            return ParsedReasoning(reasoning=reasoning.strip("\n"), content=content.lstrip("\n"))
        if opened:
            return ParsedReasoning(reasoning=stripped.strip("\n"), content="")
        return ParsedReasoning(reasoning=None, content=text)
