"""Blocks whose payload is JSON end where the JSON does, so a closing marker inside a string value is text."""

from __future__ import annotations

import re
from typing import ClassVar

from .json_calls import json_end

__all__ = ["JsonPayloadEnd"]

_SPACE = re.compile(r"\s*")


class JsonPayloadEnd:
    """Mixin for a :class:`BlockToolCallParser`: a payload that begins as JSON (``json_start``, after any
    whitespace) ends at the closing marker after its brackets close; any other at the first closing marker."""

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
