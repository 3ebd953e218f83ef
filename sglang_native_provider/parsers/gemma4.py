"""Gemma 4 (``gemma4``): calls written in Gemma's own object notation; reasoning in the thought channel.

Format (Gemma 4 chat template)::

    <|tool_call>call:get_weather{city:<|"|>Paris<|"|>,days:3,metric:true}<tool_call|>

Keys are bare and written as they are (``key with space:1``), strings are delimited by ``<|"|>`` and opaque
(marker text inside one is text), other values (numbers, booleans, null, nested ``{…}`` and ``[…]``) are
written as in JSON. Reasoning is ``<|channel>thought\\n…<channel|>``; with thinking off the prompt
ends with an empty thought channel.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .base import ToolCall
from .json_calls import named_call
from .split import BlockToolCallParser, Tools
from .think import ThinkReasoningParser

__all__ = ["Gemma4ReasoningParser", "Gemma4ToolCallParser"]

QUOTE = '<|"|>'
_CALL = re.compile(r"\s*call:([^{}\s<>]+)\{(.*)\}\s*", re.DOTALL)
_BARE = re.compile(r"[^,:{}\[\]<>\s]+")
_KEY = re.compile(r"\s*([^,:{}\[\]<>\n]*[^,:{}\[\]<>\s])\s*:")  # bare, as written: spaces and all
_STRING_END = re.compile(re.escape(QUOTE))


class _Malformed(ValueError):
    pass


class _Reader:
    """Reads Gemma's object notation from ``text``; raises :class:`_Malformed` on anything else."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def _skip_space(self) -> None:
        while self.position < len(self.text) and self.text[self.position].isspace():
            self.position += 1

    def _expect(self, token: str) -> None:
        self._skip_space()
        if not self.text.startswith(token, self.position):
            raise _Malformed(token)
        self.position += len(token)

    def _peek(self, token: str) -> bool:
        self._skip_space()
        return self.text.startswith(token, self.position)

    def members(self, closing: str) -> dict[str, Any]:
        """``key:value`` pairs up to ``closing`` (or the end of the text when it is empty)."""
        result: dict[str, Any] = {}
        while not (self._peek(closing) if closing else self._at_end()):
            if result:
                self._expect(",")
            if self._peek(QUOTE):
                key = self._string()
                self._expect(":")
            else:
                match = _KEY.match(self.text, self.position)
                if match is None:
                    raise _Malformed("key")
                key, self.position = match.group(1), match.end()
            result[key] = self.value()
        return result

    def _at_end(self) -> bool:
        self._skip_space()
        return self.position >= len(self.text)

    def _string(self) -> str:
        self._expect(QUOTE)
        end = self.text.find(QUOTE, self.position)
        if end == -1:
            raise _Malformed("unterminated string")
        value, self.position = self.text[self.position : end], end + len(QUOTE)
        return value

    def value(self) -> Any:
        if self._peek(QUOTE):
            return self._string()
        if self._peek("{"):
            self.position += 1
            value = self.members("}")
            self._expect("}")
            return value
        if self._peek("["):
            self.position += 1
            items: list[Any] = []
            while not self._peek("]"):
                if items:
                    self._expect(",")
                items.append(self.value())
            self._expect("]")
            return items
        match = _BARE.match(self.text, self.position)
        if match is None:
            raise _Malformed("value")
        self.position = match.end()
        try:
            return json.loads(match.group())
        except json.JSONDecodeError:
            return match.group()  # a bare word, as written


def gemma_arguments(text: str) -> dict[str, Any] | None:
    """The arguments between a call's outer braces, or None when they are not Gemma's notation."""
    try:
        return _Reader(text).members("")
    except _Malformed:
        return None


class Gemma4ToolCallParser(BlockToolCallParser):
    open, close = "<|tool_call>", "<tool_call|>"
    extra_markers = (QUOTE,)
    value_open = QUOTE  # a string is opaque: markers inside it are its text
    template_signs = (("gemma4", "<|tool_call>"),)

    def value_end(self) -> re.Pattern[str]:
        return _STRING_END

    def block_calls(self, payload: str, tools: Tools) -> list[ToolCall] | None:
        match = _CALL.fullmatch(payload)
        call = None if match is None else named_call(match.group(1), gemma_arguments(match.group(2)))
        return None if call is None else [call]


class Gemma4ReasoningParser(ThinkReasoningParser):
    """The thought channel, also ended by a call written before the channel was closed."""

    template_signs = (("gemma4", "<|channel>"),)
    open_tag, close_tag = "<|channel>thought", "<channel|>"
    tool_markers = (Gemma4ToolCallParser.open,)
    tool_markers_at_line_start = False
