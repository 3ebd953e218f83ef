"""Reasoning between an opening and a closing tag: ``<think>...</think>`` (Qwen3, QwQ, DeepSeek-R1/V3,
GLM-4.5), ``◁think▷...◁/think▷`` (Kimi) and ``[THINK]...[/THINK]`` (Mistral).

The model opens the block itself (Qwen3), or the prompt already opened it (QwQ, R1 distills: the chat
template ends with the opening tag). Output cut off inside the block (``length``) is all reasoning.
"""

from __future__ import annotations

from typing import ClassVar

from .base import ParsedReasoning, ReasoningParser, ReasoningStream, SplitReasoningStream, marker_prefix_length

__all__ = ["KimiReasoningParser", "MistralReasoningParser", "ThinkReasoningParser"]


class ThinkReasoningParser(ReasoningParser):
    names = ("qwen3", "qwen3-thinking", "deepseek-r1", "deepseek-v3", "glm45")
    open_tag: ClassVar[str] = "<think>"
    close_tag: ClassVar[str] = "</think>"

    @property
    def markers(self) -> tuple[str, ...]:
        return (self.open_tag, self.close_tag)

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
        if self.close_tag in body:
            reasoning, _, content = body.partition(self.close_tag)
            return reasoning.strip("\n"), content.lstrip("\n")
        if not final:
            body = body[: len(body) - marker_prefix_length(body, self.close_tag)]
        return body.strip("\n"), ""

    def parse(self, text: str, *, opened: bool = False) -> ParsedReasoning:
        reasoning, content = self.split(text, opened=opened, final=True)
        return ParsedReasoning(reasoning=reasoning, content=content)

    def stream(self, *, opened: bool = False) -> ReasoningStream:
        return SplitReasoningStream(lambda text, final: self.split(text, opened=opened, final=final))


class KimiReasoningParser(ThinkReasoningParser):
    names = ("kimi", "kimi_k2")
    open_tag, close_tag = "◁think▷", "◁/think▷"


class MistralReasoningParser(ThinkReasoningParser):
    names = ("mistral",)
    open_tag, close_tag = "[THINK]", "[/THINK]"
