"""Reasoning parsers that are the think-tag block with options, registered under SGLang's names.

SGLang maps many ``--reasoning-parser`` names onto its ``<think>`` detectors with settings; here each is a
subclass of :class:`ThinkReasoningParser` that sets them: the tool-call markers that also end an unclosed
block (``tool_markers``, at a line start or anywhere), whether the output starts inside the block whatever the
prompt says (:class:`OpenedThinkReasoningParser`: DeepSeek-R1-style templates that open it for the model), and
more than one spelling of the tags (K2 Horizon's effort levels).

Which of SGLang's names want thinking switched on by a chat-template flag is a server-side default; here the
prompt itself says whether the block was opened (see ``provider._ReasoningStart``).
"""

from __future__ import annotations

from typing import ClassVar

from .base import marker_prefix_length
from .think import ThinkReasoningParser

__all__ = [
    "HunyuanReasoningParser",
    "K2HorizonReasoningParser",
    "OpenedThinkReasoningParser",
    "QwenStyleThinkReasoningParser",
]


class QwenStyleThinkReasoningParser(ThinkReasoningParser):
    """``<think>…</think>``, ended early by ``<tool_call>`` at a line start: SGLang's Qwen3 detector under
    these names, its GLM-4.5 one for Ling 3 and its Granite 4.2 one (``…\\n</think>\\n`` then the answer)."""

    names = ("dots", "interns1", "mimo", "poolside_v1", "ling3", "granite_thinking_parser")


class HunyuanReasoningParser(ThinkReasoningParser):
    """Hunyuan: ``<think>…</think>``, ended early by the ``<tool_calls>`` section (a special token)."""

    names = ("hunyuan",)
    tool_markers = ("<tool_calls>",)
    tool_markers_at_line_start = False


class OpenedThinkReasoningParser(ThinkReasoningParser):
    """Output that starts inside ``<think>`` (the template opened it): everything up to ``</think>``."""

    names = ("gigachat35", "iquest_q1")
    tool_markers = ()

    def split(self, text: str, *, opened: bool, final: bool) -> tuple[str | None, str]:
        return super().split(text, opened=True, final=final)


class K2HorizonReasoningParser(OpenedThinkReasoningParser):
    """K2 Horizon (K2-v3): the template opens ``<ifm|think>`` (or its ``_fast``/``_faster`` effort forms), the
    output reasons up to the matching close tag; a tool call (``<ifm|tool_call``…) beginning a line also ends
    it (K2 Horizon mentions calls inside its reasoning)."""

    names = ("k2_horizon",)
    open_tag, close_tag = "<ifm|think>", "</ifm|think>"
    open_tags: ClassVar[tuple[str, ...]] = ("<ifm|think>", "<ifm|think_fast>", "<ifm|think_faster>")
    close_tags: ClassVar[tuple[str, ...]] = ("</ifm|think>", "</ifm|think_fast>", "</ifm|think_faster>")
    tool_markers = ("<ifm|tool_call",)
    tool_markers_at_line_start = True

    @property
    def markers(self) -> tuple[str, ...]:
        return (*self.open_tags, *self.close_tags, *self.tool_markers)

    def _end(self, body: str) -> tuple[int, int] | None:
        best = super()._end(body)
        for tag in self.close_tags:
            index = body.find(tag)
            if index != -1 and (best is None or index < best[0]):
                best = (index, index + len(tag))
        return best

    def _held(self, body: str) -> int:
        return max(super()._held(body), *(marker_prefix_length(body, tag) for tag in self.close_tags))

    def split(self, text: str, *, opened: bool, final: bool) -> tuple[str | None, str]:
        stripped = text.lstrip()
        echoed = next((tag for tag in self.open_tags if stripped.startswith(tag)), None)
        if echoed is not None:
            text = stripped[len(echoed) :]
        elif not final and stripped and any(tag.startswith(stripped) for tag in self.open_tags):
            return "", ""  # may still be an opening tag written again
        return super().split(text, opened=True, final=final)
