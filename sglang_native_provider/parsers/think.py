"""``<think>...</think>`` reasoning, used by Qwen3, QwQ and DeepSeek-R1 style models.

The model opens the block itself (Qwen3), or the prompt already opened it (QwQ, R1 distills: the chat
template ends with ``<think>``). Output cut off inside the block (``length``) is all reasoning.
"""

from __future__ import annotations

from .base import ParsedReasoning, ReasoningParser, ReasoningStream, marker_prefix_length

__all__ = ["ThinkReasoningParser"]

_OPEN, _CLOSE = "<think>", "</think>"


def _split(text: str, *, opened: bool, final: bool) -> tuple[str | None, str]:
    """(reasoning, content) so far; before the end, undecided text is held back from both."""
    body = text
    if not opened:
        stripped = text.lstrip()
        if not final and _OPEN.startswith(stripped):
            return "", ""  # may still become "<think>"
        if not stripped.startswith(_OPEN):
            return None, text
        body = stripped[len(_OPEN) :]
    if _CLOSE in body:
        reasoning, _, content = body.partition(_CLOSE)
        return reasoning.strip("\n"), content.lstrip("\n")
    if not final:
        body = body[: len(body) - marker_prefix_length(body, _CLOSE)]
    return body.strip("\n"), ""


class _ThinkStream(ReasoningStream):
    def __init__(self, opened: bool) -> None:
        self._opened = opened
        self._text = ""
        self._reasoning = ""
        self._content = ""

    def _emit(self, final: bool) -> tuple[str, str]:
        reasoning, content = _split(self._text, opened=self._opened, final=final)
        reasoning = reasoning or ""
        reasoning_delta = reasoning[len(self._reasoning) :] if reasoning.startswith(self._reasoning) else ""
        content_delta = content[len(self._content) :] if content.startswith(self._content) else ""
        self._reasoning += reasoning_delta
        self._content += content_delta
        return reasoning_delta, content_delta

    def feed(self, delta: str) -> tuple[str, str]:
        self._text += delta
        return self._emit(final=False)

    def finish(self) -> tuple[str, str]:
        return self._emit(final=True)


class ThinkReasoningParser(ReasoningParser):
    names = ("qwen3", "qwen3-thinking", "deepseek-r1")

    def parse(self, text: str, *, opened: bool = False) -> ParsedReasoning:
        reasoning, content = _split(text, opened=opened, final=True)
        return ParsedReasoning(reasoning=reasoning, content=content)

    def stream(self, *, opened: bool = False) -> ReasoningStream:
        return _ThinkStream(opened)
