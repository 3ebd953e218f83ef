"""NVIDIA Nemotron 3 reasoning (``nemotron_3``): ``<think>…</think>``, also ended by a ``<tool_call>``.

Nemotron 3's template opens ``<think>`` in the prompt when ``enable_thinking`` is on (``<think></think>`` when
off); its calls are Qwen3-Coder XML (``qwen3_coder``).
"""

from __future__ import annotations

from .think import ThinkReasoningParser

__all__ = ["Nemotron3ReasoningParser"]


class Nemotron3ReasoningParser(ThinkReasoningParser):
    """As Qwen3's: a ``<tool_call>`` at the start of a line also ends the block."""

    names = ("nemotron_3",)
