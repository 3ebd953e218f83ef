"""Nanbeige reasoning (``nanbeige``): Qwen3's ``<think>…</think>``, also ended by a ``<tool_call>`` at the start
of a line. Its calls are Qwen3-Coder XML (``nanbeige`` is a name of the ``qwen3_coder`` parser, as in SGLang).
"""

from __future__ import annotations

from .think import ThinkReasoningParser

__all__ = ["NanbeigeReasoningParser"]


class NanbeigeReasoningParser(ThinkReasoningParser):
    names = ("nanbeige",)
