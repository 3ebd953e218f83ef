"""What the model wrote: the text its sampled ids decode to, which is what is parsed and shown.

The ids are the truth: they are what the model sampled, what the next turn continues on and what a trainer
trains on. SGLang's ``text`` is checked against them (``validation.text_mismatch``); where this tokenizer's
decoding reproduces SGLang's detokenizer exactly (byte-level BPE), the content follows the ids, so a server whose
text departs from its ids cannot put words (or a tool call) into the answer the ids do not hold.

A matched stop token that belongs to the family's markup is given back to the parsers: SGLang trims the matched
stop token from ``text`` unless the server runs that family's tool-call parser (gpt-oss's ``<|call|>``, id 200012,
is kept only under ``--tool-call-parser gpt-oss``), so without it a complete call would read as cut off. The
matched id is in ``output_ids`` and ``finish_reason.matched`` whatever the server's flags.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from .errors import invalid_output
from .protocol import GenerateOutput
from .validation import decodes_exactly, expected_texts

__all__ = ["StreamedText", "restored_stop_marker", "written_text"]


def restored_stop_marker(output: GenerateOutput, text: str, tokenizer, markers: Collection[str]) -> str:
    """The family's end marker SGLang trimmed from ``text`` as the matched stop token ("" if none was)."""
    finish = output.meta_info.finish_reason
    matched = finish.matched if finish is not None else None
    if not isinstance(matched, int) or not output.output_ids or output.output_ids[-1] != matched:
        return ""
    marker = tokenizer.convert_ids_to_tokens(matched)
    return marker if isinstance(marker, str) and marker in markers and not text.endswith(marker) else ""


def written_text(output: GenerateOutput, tokenizer, options: Mapping[str, Any], markers: Collection[str]) -> str:
    """The text to parse for a finished output: SGLang's ``text`` when its ids decode to it, else what they decode
    to (where that can be reproduced exactly), with a trimmed end marker of the family given back."""
    text = output.text
    if decodes_exactly(tokenizer):
        expected = expected_texts(output, tokenizer, options)
        if text not in expected:
            text = expected[0]
    return text + restored_stop_marker(output, text, tokenizer, markers)


class StreamedText:
    """One streamed sequence's text as its ids decode it, paced by SGLang's events.

    SGLang holds back text while it may still change (an incomplete UTF-8 character, the start of a stop string),
    so each event shows at most as many characters as SGLang's text has reached; the characters come from the
    ids, decoded in windows as SGLang's detokenizer does. Where decoding cannot be reproduced exactly, SGLang's
    text is taken as it is."""

    def __init__(self, tokenizer, options: Mapping[str, Any], markers: Collection[str], model: str) -> None:
        self._tokenizer = tokenizer
        self._options = options
        self._markers = markers
        self._model = model
        self._exact = decodes_exactly(tokenizer)
        self._ids: list[int] = []
        self._decoded = ""
        self._window = (0, 0)  # SGLang's (surrogate offset, read offset) into the ids
        self.shown = ""
        """The text released so far."""

    def _decode(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode(
            list(ids),
            skip_special_tokens=self._options.get("skip_special_tokens", True),
            spaces_between_special_tokens=self._options.get("spaces_between_special_tokens", True),
        )

    def _feed_ids(self, new_ids: Sequence[int]) -> None:
        self._ids.extend(new_ids)
        start, read = self._window
        window = self._decode(self._ids[start:])
        if window.endswith("\ufffd"):
            return  # an incomplete character: wait for its other bytes
        self._decoded += window[len(self._decode(self._ids[start:read])) :]
        self._window = (read, len(self._ids))

    def event(self, new_ids: Sequence[int], server_text: str) -> str:
        """This event's new text; ``server_text`` is SGLang's text so far."""
        if self._exact:
            self._feed_ids(new_ids)
            visible = self._decoded[: len(server_text)]
        else:
            visible = server_text
        if not visible.startswith(self.shown):
            return ""  # SGLang's text went back on itself; the final text settles it
        delta, self.shown = visible[len(self.shown) :], visible
        return delta

    def finish(self, output: GenerateOutput) -> str:
        """The last new text, once ``output`` (the whole finished sequence) is known; a 502 if what was already
        released is not how the finished text begins."""
        final = written_text(output, self._tokenizer, self._options, self._markers)
        if not final.startswith(self.shown):
            raise invalid_output(
                f"the streamed text {self.shown[-40:]!r} is not how the finished text begins ({final[:80]!r})",
                self._model,
            )
        delta, self.shown = final[len(self.shown) :], final
        return delta
