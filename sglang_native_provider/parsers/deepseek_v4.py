"""DeepSeek V4 and V4.1 tool calls (``deepseekv4``, ``deepseekv41``): V3.2's DSML markup with other tag names;
and DeepSeek's ``<think>`` reasoning (``deepseek-v3`` for V3.1/V3.2, ``deepseek-v4``, ``deepseek-v41``).

V4 (``encoding/encoding_dsv4.py``) names the block ``tool_calls``::

    <｜DSML｜tool_calls>
    <｜DSML｜invoke name="get_weather">
    <｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>
    </｜DSML｜invoke>
    </｜DSML｜tool_calls>

V4.1 writes a space before each tag name: ``<｜DSML｜ calls>``, ``<｜DSML｜ invoke name=…>``,
``<｜DSML｜ parameter name=… string=…>``.

Reasoning is a ``<think>`` block that the prompt opens in thinking mode (``<｜Assistant｜><think>``) and closes
in chat mode (``<｜Assistant｜></think>``). A calls block also ends it: a model going straight from thinking to
a call without ``</think>`` still calls (the block stays in the content for the tool-call parser).
"""

from __future__ import annotations

from .deepseek import CALLS_BEGIN
from .deepseek_v32 import DSML, DeepSeekV32ToolCallParser, DsmlToolCallParser
from .think import ThinkReasoningParser

__all__ = ["DeepSeekReasoningParser", "DeepSeekV4ToolCallParser", "DeepSeekV41ToolCallParser"]


class DeepSeekV4ToolCallParser(DsmlToolCallParser):
    block_tag, invoke_tag, parameter_tag = "tool_calls", "invoke", "parameter"
    structural_tag_name = "deepseek_v4"
    template_signs = (("deepseekv4", "renderer:deepseekv4"), ("deepseekv4", DSML))


class DeepSeekV41ToolCallParser(DsmlToolCallParser):
    block_tag, invoke_tag, parameter_tag = " calls", " invoke", " parameter"
    structural_tag_name = "deepseek_v4_1"
    template_signs = (("deepseekv41", "renderer:deepseekv41"),)


class DeepSeekReasoningParser(ThinkReasoningParser):
    """``<think>`` reasoning ended by ``</think>`` or by the start of any DeepSeek calls block (single added
    tokens in DeepSeek's tokenizers, so wherever they appear)."""

    template_signs = (
        ("deepseek-v41", "renderer:deepseekv41"),
        ("deepseek-v4", "renderer:deepseekv4"),
        ("deepseek-v4", DSML),
        ("deepseek-v3", "renderer:deepseekv32"),
    )
    tool_markers = (
        CALLS_BEGIN,  # V3.1
        DeepSeekV32ToolCallParser.open,
        DeepSeekV4ToolCallParser.open,
        DeepSeekV41ToolCallParser.open,
    )
    tool_markers_at_line_start = False
