"""Reasoning between an opening and a closing tag: ``<think>...</think>`` (Qwen3, QwQ, GLM-4.5) and
``◁think▷...◁/think▷`` (Kimi-VL thinking); the base of every family whose reasoning is such a block (their
subclasses, in the families' modules, set the tags and the tool-call markers that end it).

The model opens the block itself (Qwen3), or the prompt already opened it (QwQ, R1 distills, Qwen3.5, Kimi
K2-Thinking: the chat template ends with the opening tag); an opening tag written again is dropped. Output cut
off inside the block (``length``) is all reasoning. A model may also go from reasoning straight to a tool call
without closing the block (Qwen3.5, GLM, Kimi K2): the family's tool-call marker then ends the block and stays
in the content for the tool-call parser. A marker that is a special token ends it wherever it appears;
``<tool_call>``, which is plain text, only at the start of a line (mid-sentence it is the model mentioning it),
or where a family says what follows it begins a call (GLM). A block that is closed ends at its closing tag: a
marker written before it is reasoning text (so, while the output streams, text from a marker on is held back
until the closing tag comes or the output ends).
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

    def _close(self, body: str) -> tuple[int, int] | None:
        """Where the closing tag starts and ends in ``body``, if it is there."""
        close = body.find(self.close_tag)
        return None if close == -1 else (close, close + len(self.close_tag))

    def marker_ends(self, body: str, index: int, marker: str) -> bool | None:
        """Whether the tool-call ``marker`` at ``body[index]`` ends a block never closed; None while too little
        follows it to tell. By default: always, or (``tool_markers_at_line_start``) at the start of a line."""
        return not self.tool_markers_at_line_start or body[:index].rstrip(" \t")[-1:] in ("", "\n")

    def _tool_start(self, body: str, final: bool) -> int | None:
        """Where the first tool-call marker that ends the block (or may still end it) starts."""
        best = None
        for marker in self.tool_markers:
            index = body.find(marker)
            while index != -1 and (best is None or index < best):
                ends = self.marker_ends(body, index, marker)
                if ends is None and final:  # cut off after the marker: markup unless nothing follows it
                    ends = bool(body[index + len(marker) :].strip())
                if ends is not False:
                    best = index
                    break
                index = body.find(marker, index + 1)
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
        close = self._close(body)
        if close is not None:  # closed: a tool-call marker before the closing tag is reasoning text
            return body[: close[0]].strip("\n"), body[close[1] :].lstrip("\n")
        tool = self._tool_start(body, final)
        if tool is not None:  # ends the block, unless (before the end) the closing tag still comes
            return body[:tool].strip("\n"), body[tool:] if final else ""
        if not final:
            body = body[: len(body) - self._held(body)]
        return body.strip("\n"), ""


class KimiReasoningParser(ThinkReasoningParser):
    """Kimi-VL thinking: ``◁think▷…◁/think▷``."""

    template_signs = (("kimi", "◁/think▷"),)
    open_tag, close_tag = "◁think▷", "◁/think▷"
    tool_markers = ()
