"""An opening marker that is not followed by what begins a call is a mention in prose, not markup."""

from __future__ import annotations

import re
from typing import ClassVar

__all__ = ["CallStart"]

_SPACE = re.compile(r"\s*")


class CallStart:
    """Mixin for a :class:`BlockToolCallParser`: a block opens only when, after any whitespace, the text goes
    on with one of ``call_starts``; undecided while what is written could still become one."""

    call_starts: ClassVar[tuple[str, ...]]

    def starts_call(self, text: str, start: int) -> bool | None:
        rest = text[_SPACE.match(text, start).end() :]
        if rest.startswith(self.call_starts):
            return True
        return None if any(begin.startswith(rest) for begin in self.call_starts) else False
