"""DeepSeek V3.2 tool calls in DSML markup (``deepseekv32``), and the DSML reading V4 and V4.1 share.

V3.2 (its reference encoder, ``encoding/encoding_dsv32.py``) writes calls after a blank line::

    <｜DSML｜function_calls>
    <｜DSML｜invoke name="get_weather">
    <｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>
    <｜DSML｜parameter name="days" string="false">3</｜DSML｜parameter>
    </｜DSML｜invoke>
    </｜DSML｜function_calls>

A ``string="true"`` value is the string exactly as written; any other value is JSON (text that is not JSON is
kept as a string, as SGLang does). An invoke may instead hold one JSON object, or close itself
(``<｜DSML｜invoke name="f"/>``, no arguments). An invoke holding anything else (an unclosed parameter, a
repeated name, stray text) is malformed: its raw text is unparsed markup, and the other invokes are read.
"""

from __future__ import annotations

import json
import re
from typing import ClassVar

from .base import ToolCall
from .json_calls import arguments_text, frame_end
from .split import BlockToolCallParser, Part, Tools

__all__ = ["DSML", "DeepSeekV32ToolCallParser", "DsmlToolCallParser"]

DSML = "｜DSML｜"
_NAME = r'\s+name="([^"]+)"'
_SPACE = re.compile(r"\s*")


def _reject_constant(value: str) -> None:
    raise ValueError(value)


def _value(text: str, string: str) -> object:
    if string == "true":
        return text
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return text.strip()


class DsmlToolCallParser(BlockToolCallParser):
    """Calls in one DSML dialect: ``<{DSML}{block}>`` holding ``<{DSML}{invoke} name=…>`` elements."""

    block_tag: ClassVar[str]
    invoke_tag: ClassVar[str]
    parameter_tag: ClassVar[str]

    def __init_subclass__(cls, **kwargs: object) -> None:
        if hasattr(cls, "block_tag"):
            cls.open, cls.close = f"<{DSML}{cls.block_tag}>", f"</{DSML}{cls.block_tag}>"
            invoke_end = f"</{DSML}{cls.invoke_tag}>"
            parameter_end = f"</{DSML}{cls.parameter_tag}>"
            cls.extra_markers = (f"<{DSML}{cls.invoke_tag}", invoke_end, f"<{DSML}{cls.parameter_tag}", parameter_end)
            cls._invoke = re.compile(rf"\s*<{re.escape(DSML + cls.invoke_tag)}{_NAME}\s*(/?)>")
            parameter = rf'\s*<{re.escape(DSML + cls.parameter_tag)}{_NAME}\s+string="([^"]*)"\s*>'
            cls._parameter = re.compile(rf"{parameter}(.*?){re.escape(parameter_end)}", re.DOTALL)
            cls._invoke_end = re.compile(rf"\s*{re.escape(invoke_end)}")
        super().__init_subclass__(**kwargs)

    def starts_call(self, text: str, start: int) -> bool | None:
        """DSML markup follows a block's opening marker (after whitespace); prose after it is a mention."""
        rest = text[start:].lstrip()
        tags = (f"<{DSML}", f"</{DSML}")
        if any(rest.startswith(tag) for tag in tags):
            return True
        return None if any(tag.startswith(rest) for tag in tags) else False

    def block_parts(self, payload: str, tools: Tools, closed: bool) -> list[Part] | None:
        parts: list[Part] = []
        position = 0
        while payload[position:].strip():
            call, end = self._invoke_at(payload, position)
            if call is None:  # malformed or cut off: up to its end tag, or to the next invoke
                position = _SPACE.match(payload, position).end()
                end = frame_end(payload, position + 1, f"<{DSML}{self.invoke_tag}", f"</{DSML}{self.invoke_tag}>")
                end = len(payload) if end == -1 else end
            parts.append(payload[position:end] if call is None else call)
            position = end
        return parts or None

    def _invoke_at(self, payload: str, position: int) -> tuple[ToolCall | None, int]:
        """The invoke at ``position`` and where it ends; None when it is not one well-formed invoke."""
        invoke = self._invoke.match(payload, position)
        if invoke is None:
            return None, position
        position = invoke.end()
        arguments: str | None = "{}"
        if not invoke.group(2):  # not self-closing: parameters or one JSON object, then the end tag
            arguments, position = self._arguments(payload, position)
            end = self._invoke_end.match(payload, position)
            if arguments is None or end is None:
                return None, position
            position = end.end()
        return ToolCall(name=invoke.group(1).strip(), arguments=arguments), position

    def _arguments(self, payload: str, position: int) -> tuple[str | None, int]:
        """The arguments of one invoke from ``position`` on, and where they end."""
        body_start = len(payload) - len(payload[position:].lstrip())
        if payload.startswith("{", body_start):
            end = payload.find(f"</{DSML}{self.invoke_tag}>", body_start)
            if end == -1:
                return None, position
            return arguments_text(payload[body_start:end].strip()), end
        values: dict[str, object] = {}
        while (parameter := self._parameter.match(payload, position)) is not None:
            name, string, text = parameter.groups()
            if name in values:
                return None, position
            values[name] = _value(text, string)
            position = parameter.end()
        return json.dumps(values, ensure_ascii=False), position


class DeepSeekV32ToolCallParser(DsmlToolCallParser):
    block_tag, invoke_tag, parameter_tag = "function_calls", "invoke", "parameter"
    structural_tag_name = "deepseek_v3_2"
    # ``renderer:NAME`` is a family renderer used instead of a chat template (``renderers``)
    template_signs = (("deepseekv32", "renderer:deepseekv32"), ("deepseekv32", "function_calls>", DSML))
