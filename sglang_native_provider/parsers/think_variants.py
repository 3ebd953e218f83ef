"""Reasoning parsers that are the think-tag block with options, shared by several of SGLang's names.

SGLang maps many ``--reasoning-parser`` names onto its ``<think>`` detectors with settings; the families with
settings of their own subclass :class:`ThinkReasoningParser` in their modules, and the ones here serve names
that need none of their own: :class:`QwenStyleThinkReasoningParser` (Qwen3's block under other names) and
:class:`OpenedThinkReasoningParser` (output that starts inside the block whatever the prompt says: templates
that open it for the model).

Which of SGLang's names want thinking switched on by a chat-template flag is a server-side default; here the
prompt itself says whether the block was opened (see ``provider._ReasoningStart``).
"""

from __future__ import annotations

from .think import ThinkReasoningParser

__all__ = ["OpenedThinkReasoningParser", "QwenStyleThinkReasoningParser"]


class QwenStyleThinkReasoningParser(ThinkReasoningParser):
    """``<think>…</think>``, ended early by ``<tool_call>`` at a line start: SGLang's Qwen3 detector under
    these names, its GLM-4.5 one for Ling 3 and its Granite 4.2 one (``…\\n</think>\\n`` then the answer).

    Also Nanbeige's (its calls are Qwen3-Coder XML, ``nanbeige`` being a name of that parser too, as in SGLang)
    and NVIDIA Nemotron 3's (``nemotron_3``: the template opens ``<think>`` in the prompt when
    ``enable_thinking`` is on, writes ``<think></think>`` when off; its calls are Qwen3-Coder XML)."""


class OpenedThinkReasoningParser(ThinkReasoningParser):
    """Output that starts inside ``<think>`` (the template opened it): everything up to ``</think>``."""

    tool_markers = ()

    def split(self, text: str, *, opened: bool, final: bool) -> tuple[str | None, str]:
        return super().split(text, opened=True, final=final)
