"""Reasoning parsers that are the think-tag block with options, registered under SGLang's names.

SGLang maps many ``--reasoning-parser`` names onto its ``<think>`` detector with settings; here each setting
is a class attribute of one subclass of :class:`ThinkReasoningParser`:

- ``tool_start``: a tool-call marker that also ends an unclosed block (the model went straight to a call).
  Whichever of the closing tag and the marker comes first ends the block, so that a prefix of the output
  always splits the way the whole output does; the marker stays in the content for the tool-call parser.
  With ``tool_start_at_line_start`` only a marker that begins a line counts (a mention mid-sentence does not).
- ``starts_opened``: the output starts inside the block whatever the prompt says (DeepSeek-R1-style
  templates that open it for the model; an echoed opening tag is dropped).
- ``open_tags`` / ``close_tags``: more than one spelling (K2 Horizon's effort levels).

Which of SGLang's names want thinking switched on by a chat-template flag is a server-side default; here the
prompt itself says whether the block was opened (see ``provider._ReasoningStart``).
"""

from __future__ import annotations

from typing import ClassVar

from .base import ParsedReasoning, ReasoningStream, SplitReasoningStream, marker_prefix_length
from .think import ThinkReasoningParser

__all__ = [
    "HunyuanReasoningParser",
    "K2HorizonReasoningParser",
    "OpenedThinkReasoningParser",
    "ToolStartThinkReasoningParser",
]


def _first(text: str, markers: tuple[str, ...]) -> tuple[int, str] | None:
    found = [(index, marker) for marker in markers if (index := text.find(marker)) != -1]
    return min(found, key=lambda item: (item[0], -len(item[1]))) if found else None


class _ThinkVariant(ThinkReasoningParser):
    tool_start: ClassVar[str | None] = None
    tool_start_at_line_start: ClassVar[bool] = False
    starts_opened: ClassVar[bool] = False
    open_tags: ClassVar[tuple[str, ...]] = ()
    close_tags: ClassVar[tuple[str, ...]] = ()

    @property
    def markers(self) -> tuple[str, ...]:
        tags = (*(self.open_tags or (self.open_tag,)), *(self.close_tags or (self.close_tag,)))
        return (*tags, self.tool_start) if self.tool_start else tags

    def split(self, text: str, *, opened: bool, final: bool) -> tuple[str | None, str]:
        opens = self.open_tags or (self.open_tag,)
        closes = self.close_tags or (self.close_tag,)
        opened = opened or self.starts_opened
        stripped = text.lstrip()
        if not final and any(tag.startswith(stripped) for tag in opens):
            return "", ""  # may still become the opening tag
        start = next((tag for tag in opens if stripped.startswith(tag)), None)
        if start is not None:
            body = stripped[len(start) :]
        elif opened:
            body = text
        else:
            return None, text
        close = _first(body, closes)
        call = self._tool_start_index(body)
        if call != -1 and (close is None or call < close[0]):
            return body[:call].strip("\n"), body[call:]
        if close is not None:
            index, marker = close
            return body[:index].strip("\n"), body[index + len(marker) :].lstrip("\n")
        if not final:
            ends = (*closes, self.tool_start) if self.tool_start else closes
            body = body[: len(body) - max(marker_prefix_length(body, marker) for marker in ends)]
        return body.strip("\n"), ""

    def _tool_start_index(self, body: str) -> int:
        """Where the first tool-call marker that ends the block starts (-1: none)."""
        if not self.tool_start:
            return -1
        index = body.find(self.tool_start)
        while index > 0 and self.tool_start_at_line_start and body[index - 1] != "\n":
            index = body.find(self.tool_start, index + 1)
        return index

    def parse(self, text: str, *, opened: bool = False) -> ParsedReasoning:
        reasoning, content = self.split(text, opened=opened, final=True)
        return ParsedReasoning(reasoning=reasoning, content=content)

    def stream(self, *, opened: bool = False) -> ReasoningStream:
        return SplitReasoningStream(lambda text, final: self.split(text, opened=opened, final=final))


class ToolStartThinkReasoningParser(_ThinkVariant):
    """``<think>…</think>`` ended early by ``<tool_call>``: SGLang's Qwen3 detector under these names, its
    GLM-4.5 one for Ling3 and its Granite 4.2 one (``…\\n</think>\\n`` then the answer)."""

    names = ("dots", "interns1", "mimo", "poolside_v1", "ling3", "granite_thinking_parser")
    tool_start = "<tool_call>"


class HunyuanReasoningParser(_ThinkVariant):
    """Hunyuan: ``<think>…</think>``, ended early by the ``<tool_calls>`` section."""

    names = ("hunyuan",)
    tool_start = "<tool_calls>"


class OpenedThinkReasoningParser(_ThinkVariant):
    """Output that starts inside ``<think>`` (the template opened it): everything up to ``</think>``."""

    names = ("gigachat35", "iquest_q1")
    starts_opened = True


class K2HorizonReasoningParser(_ThinkVariant):
    """K2 Horizon (K2-v3): the template opens ``<ifm|think>`` (or its ``_fast``/``_faster`` effort forms),
    the output reasons up to the matching close tag; a tool call (``<ifm|tool_call``…) beginning a line also
    ends it (K2 Horizon mentions calls inside its reasoning)."""

    names = ("k2_horizon",)
    open_tag, close_tag = "<ifm|think>", "</ifm|think>"
    open_tags = ("<ifm|think>", "<ifm|think_fast>", "<ifm|think_faster>")
    close_tags = ("</ifm|think>", "</ifm|think_fast>", "</ifm|think_faster>")
    tool_start = "<ifm|tool_call"
    tool_start_at_line_start = True
    starts_opened = True
