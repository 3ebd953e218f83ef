"""Tool-call and reasoning parsers, registered under SGLang's parser names.

A new family is one module with a parser class (usually a :class:`BlockToolCallParser` or
:class:`TrailingToolCallParser` that says how one block or tail reads), added to the tuples below, plus a
line in :func:`detect_tool_call_parser` if its chat template can be recognised.
"""

from __future__ import annotations

from .aliases import (
    IQuestQ1ToolCallParser,
    Ling3ToolCallParser,
    MimoToolCallParser,
    PoolsideV1ToolCallParser,
    Spark25ToolCallParser,
    TrinityToolCallParser,
)
from .apertus import ApertusReasoningParser, ApertusToolCallParser
from .base import (
    ParsedReasoning,
    ParsedToolCalls,
    ReasoningParser,
    ReasoningStream,
    ToolCall,
    ToolCallParser,
    ToolCallStream,
)
from .cohere import CohereReasoningParser, CohereToolCallParser
from .deepseek import DeepSeekV3ToolCallParser, DeepSeekV31ToolCallParser
from .deepseek_v4 import DeepSeekReasoningParser, DeepSeekV4ToolCallParser, DeepSeekV41ToolCallParser
from .deepseek_v32 import DeepSeekV32ToolCallParser
from .dots import DotsToolCallParser
from .gemma4 import Gemma4ReasoningParser, Gemma4ToolCallParser
from .gigachat import GigaChat3ToolCallParser, GigaChat35ToolCallParser
from .glm45 import Glm45ToolCallParser
from .glm47 import Glm47ToolCallParser
from .gpt_oss import GptOssReasoningParser, GptOssToolCallParser
from .hermes import HermesToolCallParser
from .hunyuan import HunyuanToolCallParser
from .inkling import InklingReasoningParser, InklingToolCallParser
from .internlm import InternLMToolCallParser
from .k2_horizon import K2HorizonToolCallParser
from .kimi_k2 import KimiK2ToolCallParser
from .kimi_k3 import KimiK3ReasoningParser, KimiK3ToolCallParser
from .lfm2 import Lfm2ToolCallParser
from .llama3 import Llama3ToolCallParser
from .minicpm5 import MiniCPM5ToolCallParser
from .minimax import (
    MinimaxAppendThinkReasoningParser,
    MinimaxM2ToolCallParser,
    MinimaxM3ReasoningParser,
    MinimaxM3ToolCallParser,
    MinimaxReasoningParser,
)
from .mistral import MistralToolCallParser
from .muse import MuseReasoningParser, MuseToolCallParser
from .nanbeige import NanbeigeReasoningParser
from .nemotron import Nemotron3ReasoningParser
from .pythonic import PythonicToolCallParser
from .qwen3_coder import Qwen3CoderToolCallParser
from .response_template import (
    BeamReasoningParser,
    BeamToolCallParser,
    ResponseTemplateReasoningParser,
    ResponseTemplateToolCallParser,
)
from .split import BlockToolCallParser, SplitToolCallParser, TrailingToolCallParser
from .step import Step3ToolCallParser, StepReasoningParser
from .think import (
    DeepSeekR1ReasoningParser,
    KimiK2ReasoningParser,
    KimiReasoningParser,
    MistralReasoningParser,
    ThinkReasoningParser,
)
from .think_variants import (
    HunyuanReasoningParser,
    K2HorizonReasoningParser,
    OpenedThinkReasoningParser,
    QwenStyleThinkReasoningParser,
)

__all__ = [
    "REASONING_PARSERS",
    "TOOL_CALL_PARSERS",
    "BlockToolCallParser",
    "ParsedReasoning",
    "ParsedToolCalls",
    "ReasoningParser",
    "ReasoningStream",
    "SplitToolCallParser",
    "ToolCall",
    "ToolCallParser",
    "ToolCallStream",
    "TrailingToolCallParser",
    "detect_reasoning_parser",
    "detect_tool_call_parser",
]

_TOOL_CALL_PARSER_CLASSES: tuple[type[SplitToolCallParser], ...] = (
    HermesToolCallParser,
    Qwen3CoderToolCallParser,
    Glm45ToolCallParser,
    KimiK2ToolCallParser,
    DeepSeekV3ToolCallParser,
    DeepSeekV31ToolCallParser,
    DeepSeekV32ToolCallParser,
    DeepSeekV4ToolCallParser,
    DeepSeekV41ToolCallParser,
    Llama3ToolCallParser,
    MistralToolCallParser,
    PythonicToolCallParser,
    GptOssToolCallParser,
    TrinityToolCallParser,
    MimoToolCallParser,
    PoolsideV1ToolCallParser,
    Spark25ToolCallParser,
    Ling3ToolCallParser,
    IQuestQ1ToolCallParser,
    InternLMToolCallParser,
    Lfm2ToolCallParser,
    MiniCPM5ToolCallParser,
    DotsToolCallParser,
    HunyuanToolCallParser,
    GigaChat3ToolCallParser,
    GigaChat35ToolCallParser,
    ApertusToolCallParser,
    CohereToolCallParser,
    K2HorizonToolCallParser,
    InklingToolCallParser,
    MuseToolCallParser,
    BeamToolCallParser,
    ResponseTemplateToolCallParser,
    Glm47ToolCallParser,
    KimiK3ToolCallParser,
    MinimaxM2ToolCallParser,
    MinimaxM3ToolCallParser,
    Gemma4ToolCallParser,
    Step3ToolCallParser,
)
TOOL_CALL_PARSERS: dict[str, type[SplitToolCallParser]] = {
    name: parser for parser in _TOOL_CALL_PARSER_CLASSES for name in parser.names
}
REASONING_PARSERS: dict[str, type[ReasoningParser]] = {
    name: parser
    for parser in (
        ThinkReasoningParser,
        DeepSeekR1ReasoningParser,
        KimiReasoningParser,
        KimiK2ReasoningParser,
        MistralReasoningParser,
        GptOssReasoningParser,
        QwenStyleThinkReasoningParser,
        HunyuanReasoningParser,
        OpenedThinkReasoningParser,
        K2HorizonReasoningParser,
        ApertusReasoningParser,
        CohereReasoningParser,
        InklingReasoningParser,
        MuseReasoningParser,
        BeamReasoningParser,
        ResponseTemplateReasoningParser,
        KimiK3ReasoningParser,
        MinimaxReasoningParser,
        MinimaxAppendThinkReasoningParser,
        MinimaxM3ReasoningParser,
        Gemma4ReasoningParser,
        StepReasoningParser,
        Nemotron3ReasoningParser,
        NanbeigeReasoningParser,
        DeepSeekReasoningParser,
    )
    for name in parser.names
}

# (a marker the chat template contains, the parser it implies), most specific first.
_TOOL_CALL_SIGNS = (
    ("<|channel|>", "gpt-oss"),
    ("<|open|>", "kimi_k3"),
    ("<|tool_call>", "gemma4"),
    ("<minimax:tool_call>", "minimax-m2"),
    ("]<]minimax[>[", "minimax-m3"),
    ("<steptml:invoke", "step3"),
    ("<|tool_calls_section_begin|>", "kimi_k2"),
    ("renderer:deepseekv41", "deepseekv41"),  # a family renderer instead of a template (templating.py)
    ("renderer:deepseekv4", "deepseekv4"),
    ("renderer:deepseekv32", "deepseekv32"),
    ("function_calls>", "deepseekv32"),  # checked only together with DSML, below
    ("｜DSML｜", "deepseekv4"),
    ("```json", "deepseekv3"),  # checked only together with DeepSeek's marker, below
    ("<｜tool▁calls▁begin｜>", "deepseekv31"),
    ("<function=", "qwen3_coder"),
    ("{function-name}<arg_key>", "glm47"),  # GLM-4.7 writes the name and its first key on one line
    ("<arg_key>", "glm45"),
    ("[TOOL_CALLS]", "mistral"),
    ("<|python_tag|>", "llama3"),
    ("<tool_call>", "qwen25"),
)
_REASONING_SIGNS = (
    ("<|channel|>", "gpt-oss"),
    ("<|open|>", "kimi_k3"),
    ("<|channel>", "gemma4"),
    ("<minimax:tool_call>", "minimax"),
    ("<mm:think>", "minimax-m3"),
    ("◁/think▷", "kimi"),
    ("[/THINK]", "mistral"),
    ("renderer:deepseekv41", "deepseek-v41"),
    ("renderer:deepseekv4", "deepseek-v4"),
    ("renderer:deepseekv32", "deepseek-v3"),
    ("｜DSML｜", "deepseek-v4"),
    ("<|tool_calls_section_begin|>", "kimi_k2"),  # K2-Thinking/K2.5/K2.6: <think>, ended by the tool section
    ("</think>", "qwen3"),
)


def detect_tool_call_parser(chat_template: str) -> str | None:
    """The tool-call parser a chat template's markup implies, if any."""
    deepseek = "<｜tool▁calls▁begin｜>" in chat_template
    dsml = "｜DSML｜" in chat_template
    for sign, name in _TOOL_CALL_SIGNS:
        if sign in chat_template and (name != "deepseekv3" or deepseek) and (sign != "function_calls>" or dsml):
            return name
    return None


def detect_reasoning_parser(chat_template: str) -> str | None:
    """The reasoning parser a chat template's thinking markup implies, if any."""
    return next((name for sign, name in _REASONING_SIGNS if sign in chat_template), None)
