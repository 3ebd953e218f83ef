"""Reasoning between an opening and a closing tag: ``<think>...</think>`` (Qwen3, QwQ, GLM-4.5) and
``◁think▷...◁/think▷`` (Kimi-VL thinking); the base of every family whose reasoning is such a block (their
subclasses, in the families' modules, set the tags and the tool-call markers that end it).

The model opens the block itself (Qwen3), or the prompt already opened it (QwQ, R1 distills, Qwen3.5, Kimi
K2-Thinking: the chat template ends with the opening tag); an opening tag written again is dropped. Output cut
off inside the block (``length``) is all reasoning. A model may also go from reasoning straight to a tool call
without closing the block (Qwen3.5, GLM, Kimi K2): the family's tool-call marker then ends the block and stays
in the content for the tool-call parser. A marker that is a special token ends it wherever it appears;
``<tool_call>``, which is plain text, only at the start of a line (mid-sentence it is the model mentioning it).
"""

from __future__ import annotations

from typing import ClassVar

from .base import marker_prefix_length
from .reasoning import SplitReasoningParser

__all__ = ["KimiReasoningParser", "ThinkReasoningParser"]


class ThinkReasoningParser(SplitReasoningParser):
    """``<think>…</think>`` (Qwen3 and the families that reuse it), ended early by a tool-call marker."""

    template_signs = (("qwen3", "</think>"),)
    open_tag: ClassVar[str] = "<think>"
    close_tag: ClassVar[str] = "</think>"
    tool_markers: ClassVar[tuple[str, ...]] = ("<tool_call>",)
    """Tool-call markers that end an unclosed block."""
    tool_markers_at_line_start: ClassVar[bool] = True
    """The markers end the block only at the start of a line (they are plain text, not special tokens)."""

    @property
    def markers(self) -> tuple[str, ...]:
        return (self.open_tag, self.close_tag, *self.tool_markers)

    def _end(self, body: str) -> tuple[int, int] | None:
        """Where the block ends in ``body`` and where the content starts, if it ends there."""
        close = body.find(self.close_tag)
        best = (close, close + len(self.close_tag)) if close != -1 else None
        for marker in self.tool_markers:
            index = body.find(marker)
            while index != -1 and self.tool_markers_at_line_start and body[:index].rstrip(" \t")[-1:] not in ("", "\n"):
                index = body.find(marker, index + 1)
            if index != -1 and (best is None or index < best[0]):
                best = (index, index)
        return best

    def _held(self, body: str) -> int:
        """How much of the end of ``body`` could still become the closing tag or a tool-call marker."""
        return max(marker_prefix_length(body, marker) for marker in (self.close_tag, *self.tool_markers))

    def split(self, text: str, *, opened: bool, final: bool) -> tuple[str | None, str]:
        """(reasoning, content) so far; before the end, undecided text is held back from both."""
        body = text
        if not opened:
            stripped = text.lstrip()
            if not final and self.open_tag.startswith(stripped):
                return "", ""  # may still become the opening tag
            if not stripped.startswith(self.open_tag):
                return None, text
            body = stripped[len(self.open_tag) :]
        while (stripped := body.lstrip()).startswith(self.open_tag):
            body = stripped[len(self.open_tag) :]  # the opening tag written again
        if not final and (not stripped or self.open_tag.startswith(stripped)):
            return "", ""  # may still be the opening tag written again
        end = self._end(body)
        if end is not None:
            return body[: end[0]].strip("\n"), body[end[1] :].lstrip("\n")
        if not final:
            body = body[: len(body) - self._held(body)]
        return body.strip("\n"), ""


class KimiReasoningParser(ThinkReasoningParser):
    """Kimi-VL thinking: ``◁think▷…◁/think▷``."""

    template_signs = (("kimi", "◁/think▷"),)
    open_tag, close_tag = "◁think▷", "◁/think▷"
    tool_markers = ()
