"""Output formats declared by a checkpoint's ``response_template`` (``response_template``; ``beam`` with Beam's).

A response template (the ``response_template`` of a tokenizer config, read by transformers'
``parse_response``) names the regions of an assistant message by their opening and closing delimiters:
``thinking`` (reasoning), ``content`` (the answer) and ``tool_calls`` (each call's name and arguments, with a
content parser such as ``json`` or ``xml-inline``). Here the output is cut into those regions the way
transformers' streaming parser does (the earliest delimiter wins; one that may still grow is held back), and
each tool region is read with transformers' own ``parse_response`` on its text, arguments cast by the tool's
schema.

The reasoning parser keeps every tool region as written in the content for the tool-call parser, which takes
calls out of it; text outside every region stays content. A tool region the output ends in without its closer
is a call when its arguments are whole (a closer such as Beam's ``<|call|>`` is a stop token, trimmed from the
text); an empty one, or one whose last value is cut off, is unparsed markup.

SGLang builds ``response_template``'s template from the served checkpoint at run time; here the parser reads
the tokenizer's ``response_template`` (``for_tokenizer``, which the provider calls), and without one the output
is all content. Needs transformers>=5.13.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from .base import ParsedToolCalls, ToolCall
from .json_calls import every_call, named_call
from .reasoning import SplitReasoningParser
from .split import Found, SplitToolCallParser, Tools

__all__ = [
    "BEAM_RESPONSE_TEMPLATE",
    "BeamReasoningParser",
    "BeamToolCallParser",
    "ResponseTemplateReasoningParser",
    "ResponseTemplateToolCallParser",
]

THINKING, CONTENT, TOOL_CALLS = "thinking", "content", "tool_calls"
_TAG = re.compile(r"<[^<>\s]+>")

BEAM_RESPONSE_TEMPLATE: dict[str, Any] = {
    # Beam's harmony-style messages (SGLang 0.5.23, ``parser/beam.py``): the prompt ends with
    # "<|start|>assistant"; reasoning on the analysis channel, the answer on the final channel, each call a
    # message to the tool with inline-XML parameters whose values sit between newlines.
    "defaults": {"role": "assistant"},
    "start_anchor_pattern": r"<\|start\|>assistant",
    "fields": {
        THINKING: {"open": "<|channel|>analysis<|message|>", "close": "<|end|><|start|>assistant"},
        CONTENT: {"open": "<|channel|>final<|message|>", "close": ["<|return|>", "<|end|>", "<|call|>"]},
        TOOL_CALLS: {
            "open_pattern": r" to=(?P<name>[^\s<]+)<\|channel\|>analysis <\|constrain\|>xml<\|message\|>",
            "close": ["<|end|><|start|>assistant", "<|call|>"],
            "repeats": True,
            "content": "xml-inline",
            "content_args": {
                "tag_pattern": (
                    r'<rfl:parameter name="(?P<key>[^"]+)">'
                    r'\n(?P<value>.*?)\n(?:</rfl:parameter>|(?=<rfl:parameter name="))'
                ),
                "value_parser": {"name": "text", "args": {"strip": False}},
            },
            "transform": {"type": "function", "function": {"name": "{name}", "arguments": "{content}"}},
        },
    },
}


@dataclass(frozen=True)
class _Region:
    field: str | None
    """None: text outside every region."""
    raw: str
    """As written, delimiters included."""
    body: str
    closed: bool


def _can_grow(field: Any, kind: str, match: Any, text: str) -> bool:
    """Whether a complete delimiter match at the end of the text could still change with more text."""
    if match.end() < len(text):
        return False
    literals = field.open_literals if kind == "open" else field.close_literals
    can_extend = field.open_literal_can_extend if kind == "open" else field.close_literal_can_extend
    return literals is None or can_extend or match.start() == match.end()


def _next_delimiter(watched: list[tuple[str, Any]], text: str, position: int, final: bool) -> tuple[Any, int]:
    """((kind, field, match) of the earliest delimiter that is decided, or None; where undecided text starts)."""
    best, best_key, held = None, None, len(text)
    for kind, field in watched:
        pattern = field.open_re if kind == "open" else field.close_re
        match = pattern.search(text, position, partial=not final)
        if match is None:
            continue
        if not final and (match.partial or _can_grow(field, kind, match, text)):
            held = min(held, match.start())
            continue
        key = (match.start(), match.start() - match.end(), kind != "open")
        if best_key is None or key < best_key:
            best, best_key = (kind, field, match), key
    if best is not None and best[2].start() >= held:
        best = None
    return best, held


def _regions(spec: Any, text: str, *, opened: bool, final: bool) -> Iterator[_Region]:
    """The regions of ``text`` in order; before the end, undecided delimiters are left out."""
    position = opening = body_start = 0
    current = spec.fields.get(THINKING) if opened else None
    while True:
        if current is None:
            watched = [("open", field) for field in spec.fields.values() if field.open_re is not None]
            found, held = _next_delimiter(watched, text, position, final)
            stop = found[2].start() if found else (len(text) if final else held)
            if stop > position:
                implicit = spec.implicit
                yield _Region(implicit, text[position:stop], text[position:stop], True)
            if found is None:
                return
            _, current, match = found
            opening, body_start = match.start(), match.end()
            if match.end() == match.start():
                return  # a zero-width opening would never advance
            position = match.end()
            continue
        watched = [("close", current)] if current.close_re is not None else []
        found, held = _next_delimiter(watched, text, body_start, final)
        if found is None:
            end = len(text) if final else held
            yield _Region(current.name, text[opening:end], text[body_start:end], False)
            return
        match = found[2]
        yield _Region(current.name, text[opening : match.end()], text[body_start : match.start()], True)
        position, current = match.end(), None


def _loaded(template: dict[str, Any]) -> Any:
    return _loaded_json(json.dumps(template, sort_keys=True))


@functools.lru_cache(maxsize=16)
def _loaded_json(template: str) -> Any:
    """The template validated and compiled by transformers (once per template: parsers are made per request)."""
    try:
        from transformers.utils.chat_parsing.response_templates import load_response_template
    except ImportError as error:
        raise ImportError("response templates need transformers>=5.13 (transformers.utils.chat_parsing)") from error
    return load_response_template(json.loads(template))


def _all_tagged(field: Any, body: str) -> bool:
    """For inline-XML arguments, whether the tags cover the body (a value cut off leaves text outside them)."""
    if field.content != "xml-inline":
        return True
    import regex

    tags, position = regex.compile(field.content_args.get("tag_pattern", ""), regex.DOTALL), 0
    for tag in tags.finditer(body):
        if body[position : tag.start()].strip():
            return False
        position = tag.end()
    return not body[position:].strip()


def _region_calls(region: _Region, spec: Any, tools: Tools) -> list[ToolCall] | None:
    from transformers.utils.chat_parsing.response_parser import parse_response

    if not region.body.strip() or not _all_tagged(spec.fields[TOOL_CALLS], region.body):
        return None
    raw = region.raw
    try:
        message = parse_response(raw, spec, prefix="", tools=list(tools or ()))
    except (ValueError, TypeError, KeyError):
        return None
    values = message.get(TOOL_CALLS)
    return every_call([_call(value) for value in (values if isinstance(values, list) else [values])])


def _call(value: Any) -> ToolCall | None:
    """A call as transformers' template transform writes it (``{"function": {...}}`` or the function itself)."""
    function = value.get("function", value) if isinstance(value, dict) else None
    if not isinstance(function, dict):
        return None
    return named_call(function.get("name"), function.get("arguments", {}), decode=True)


class _TemplateBound:
    """A parser reading the regions of one response template (none: the output is all content)."""

    template: ClassVar[dict[str, Any] | None] = None

    def __init__(self, template: dict[str, Any] | None = None) -> None:
        template = template if template is not None else self.template
        self._spec = _loaded(template) if template is not None else None

    @classmethod
    def for_tokenizer(cls, tokenizer: Any):
        """A parser for the tokenizer's own ``response_template`` (transformers reads it from the tokenizer
        config), else for this class's template."""
        return cls(getattr(tokenizer, "response_template", None))

    @property
    def markers(self) -> tuple[str, ...]:
        """The delimiters, and each tag-shaped piece of them (``<|channel|>`` of ``<|channel|>final<|message|>``,
        also in a pattern's text), so that the special-token check sees the tokens they are made of."""
        if self._spec is None:
            return ()
        literals = [
            literal
            for field in self._spec.fields.values()
            for literal in (*(field.open_literals or ()), *(field.close_literals or ()))
        ]
        patterns = [
            pattern.pattern.replace("\\", "")
            for field in self._spec.fields.values()
            for pattern in (field.open_re, field.close_re)
            if pattern is not None
        ]
        return tuple(dict.fromkeys([*literals, *(tag for source in patterns for tag in _TAG.findall(source))]))


class ResponseTemplateToolCallParser(_TemplateBound, SplitToolCallParser):
    def split(self, text: str, tools: Tools, *, final: bool) -> ParsedToolCalls:
        if self._spec is None:
            return ParsedToolCalls(text)
        found = Found()
        for region in _regions(self._spec, text, opened=False, final=final):
            if region.field != TOOL_CALLS:
                found.content.append(region.body if region.field in (THINKING, CONTENT) else region.raw)
                continue
            if not region.closed and not final:
                break  # a call still being written
            found.add(_region_calls(region, self._spec, tools), region.raw)
        return found.parsed()


class ResponseTemplateReasoningParser(_TemplateBound, SplitReasoningParser):
    @property
    def open_tag(self) -> str | None:
        field = self._spec.fields.get(THINKING) if self._spec is not None else None
        return field.open_literals[0] if field is not None and field.open_literals else None

    @property
    def close_tag(self) -> str | None:
        field = self._spec.fields.get(THINKING) if self._spec is not None else None
        return field.close_literals[0] if field is not None and field.close_literals else None

    def split(self, text: str, *, opened: bool, final: bool) -> tuple[str | None, str]:
        """(reasoning, content): thinking regions are reasoning, answers unwrapped, tool regions kept whole."""
        if self._spec is None:
            return None, text
        reasoning: list[str] | None = None
        content: list[str] = []
        opened = opened and THINKING in self._spec.fields
        for region in _regions(self._spec, text, opened=opened, final=final):
            if region.field == THINKING:
                reasoning = [*(reasoning or []), region.body]
            elif region.field == CONTENT:
                content.append(region.body)
            else:
                content.append(region.raw)
        return (None if reasoning is None else "".join(reasoning)), "".join(content)


class BeamToolCallParser(ResponseTemplateToolCallParser):
    """Beam (``beam``): its response template, built in."""

    template = BEAM_RESPONSE_TEMPLATE


class BeamReasoningParser(ResponseTemplateReasoningParser):
    template = BEAM_RESPONSE_TEMPLATE
