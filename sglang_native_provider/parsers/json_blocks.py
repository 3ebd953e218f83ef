"""Blocks whose payload is JSON end where the JSON does, so a closing marker inside a string value is text; and
a block cut off after its JSON closed holds a complete call."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from .base import ToolCall
from .json_calls import json_end
from .split import Part, Tools

__all__ = ["JsonPayloadEnd"]

_SPACE = re.compile(r"\s*")


class JsonPayloadEnd:
    """Mixin for a :class:`BlockToolCallParser`: a payload that begins as JSON (``json_start``, after any
    whitespace) ends at the closing marker after its brackets close; any other at the first closing marker. A
    block cut off (its closing marker never written) is read when its JSON is complete: nothing after the closed
    brackets can change the calls."""

    json_start: ClassVar[re.Pattern[str]] = re.compile(r"[\[{]")

    def block_end(self, text: str, start: int) -> int:
        first = _SPACE.match(text, start).end()
        if not self.json_start.match(text, first):
            return super().block_end(text, start)
        scanned = json_end(text, first, (self.close,))
        if scanned is None:
            return -1
        end, closed = scanned
        return text.find(self.close, end) if closed else end

    def block_parts(self, payload: str, tools: Tools, closed: bool) -> Sequence[Part] | None:
        if closed:
            return super().block_parts(payload, tools, closed)
        first = _SPACE.match(payload).end()
        scanned = json_end(payload, first, (self.close,)) if self.json_start.match(payload, first) else None
        if scanned is None or not scanned[1]:
            return None
        calls: list[ToolCall] | None = self.block_calls(payload[: scanned[0]], tools)
        return None if calls is None else [*calls, payload[scanned[0] :]]
