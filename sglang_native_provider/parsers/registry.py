"""SGLang's parser names, one line each, and the detection of a parser from chat-template markup.

Each line maps a name as SGLang spells it (``--tool-call-parser`` / ``--reasoning-parser``) to the family's
parser class; a class learns its names (``names``) from here. Everything else about a family (its markers, how
SGLang forces a call in it, the chat-template markup that implies it) is declared on the class itself.

Detection goes down the lines in order and answers with the first name whose class declares a template sign
for it (:attr:`~.base.ToolCallParser.template_signs`) that the template holds: a name whose template also holds
another family's markup is listed before that family (GLM-4.7 before GLM-4.5, any family before Qwen2.5's
``<tool_call>``, any reasoning before Qwen3's ``</think>``).
"""

from __future__ import annotations

from typing import TypeVar

from .aliases import IQuestQ1ToolCallParser, Ling3ToolCallParser, MimoToolCallParser, TrinityToolCallParser
from .apertus import ApertusReasoningParser, ApertusToolCallParser
from .base import ReasoningParser, ToolCallParser
from .cohere import CohereReasoningParser, CohereToolCallParser
from .deepseek import DeepSeekR1ReasoningParser, DeepSeekV3ToolCallParser, DeepSeekV31ToolCallParser
from .deepseek_v4 import DeepSeekReasoningParser, DeepSeekV4ToolCallParser, DeepSeekV41ToolCallParser
from .deepseek_v32 import DeepSeekV32ToolCallParser
from .dots import DotsToolCallParser
from .gemma4 import Gemma4ReasoningParser, Gemma4ToolCallParser
from .gigachat import GigaChat3ToolCallParser, GigaChat35ToolCallParser
from .glm45 import Glm45ReasoningParser, Glm45ToolCallParser
from .glm47 import Glm47ToolCallParser
from .gpt_oss import GptOssReasoningParser, GptOssToolCallParser
from .hermes import HermesToolCallParser, Qwen25ToolCallParser
from .hunyuan import HunyuanReasoningParser, HunyuanToolCallParser
from .inkling import InklingReasoningParser, InklingToolCallParser
from .internlm import InternLMToolCallParser
from .k2_horizon import K2HorizonReasoningParser, K2HorizonToolCallParser
from .kimi_k2 import KimiK2ReasoningParser, KimiK2ToolCallParser
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
from .mistral import MistralReasoningParser, MistralToolCallParser
from .muse import MuseReasoningParser, MuseToolCallParser
from .pythonic import PythonicToolCallParser
from .qwen3_coder import Qwen3CoderToolCallParser
from .response_template import (
    BeamReasoningParser,
    BeamToolCallParser,
    ResponseTemplateReasoningParser,
    ResponseTemplateToolCallParser,
)
from .split import SplitToolCallParser
from .step import Step3ToolCallParser, StepReasoningParser
from .think import KimiReasoningParser, ThinkReasoningParser
from .think_variants import OpenedThinkReasoningParser, QwenStyleThinkReasoningParser

__all__ = ["REASONING_PARSERS", "TOOL_CALL_PARSERS", "detect_reasoning_parser", "detect_tool_call_parser"]

Parser = TypeVar("Parser", ToolCallParser, ReasoningParser)


def _registered(lines: dict[str, type[Parser]]) -> dict[str, type[Parser]]:
    """The registry, each class given the names it is registered under."""
    for parser in set(lines.values()):
        parser.names = tuple(name for name, registered in lines.items() if registered is parser)
    return lines


TOOL_CALL_PARSERS: dict[str, type[SplitToolCallParser]] = _registered(
    {
        # families recognised from their chat template, most specific markup first
        "gpt-oss": GptOssToolCallParser,
        "kimi_k3": KimiK3ToolCallParser,
        "gemma4": Gemma4ToolCallParser,
        "minimax-m2": MinimaxM2ToolCallParser,
        "minimax-m3": MinimaxM3ToolCallParser,
        "step3": Step3ToolCallParser,
        "kimi_k2": KimiK2ToolCallParser,
        "deepseekv41": DeepSeekV41ToolCallParser,
        "deepseekv32": DeepSeekV32ToolCallParser,
        "deepseekv4": DeepSeekV4ToolCallParser,
        "deepseekv3": DeepSeekV3ToolCallParser,
        "deepseekv31": DeepSeekV31ToolCallParser,
        "qwen3_coder": Qwen3CoderToolCallParser,
        "nanbeige": Qwen3CoderToolCallParser,
        "step3p5": Qwen3CoderToolCallParser,
        "glm47": Glm47ToolCallParser,
        "glm45": Glm45ToolCallParser,
        "glm": Glm45ToolCallParser,
        "poolside_v1": Glm45ToolCallParser,
        "spark25": Glm45ToolCallParser,
        "mistral": MistralToolCallParser,
        "llama3": Llama3ToolCallParser,
        "qwen25": Qwen25ToolCallParser,
        "qwen": Qwen25ToolCallParser,
        # by name only
        "hermes": HermesToolCallParser,
        "pythonic": PythonicToolCallParser,
        "trinity": TrinityToolCallParser,
        "mimo": MimoToolCallParser,
        "ling3": Ling3ToolCallParser,
        "iquest_q1": IQuestQ1ToolCallParser,
        "interns1": InternLMToolCallParser,
        "lfm2": Lfm2ToolCallParser,
        "minicpm5": MiniCPM5ToolCallParser,
        "dots": DotsToolCallParser,
        "hunyuan": HunyuanToolCallParser,
        "gigachat3": GigaChat3ToolCallParser,
        "gigachat35": GigaChat35ToolCallParser,
        "apertus2509": ApertusToolCallParser,
        "cohere_command4": CohereToolCallParser,
        "k2_horizon": K2HorizonToolCallParser,
        "inkling": InklingToolCallParser,
        "muse": MuseToolCallParser,
        "beam": BeamToolCallParser,
        "response_template": ResponseTemplateToolCallParser,
    }
)
REASONING_PARSERS: dict[str, type[ReasoningParser]] = _registered(
    {
        # families recognised from their chat template, most specific markup first
        "gpt-oss": GptOssReasoningParser,
        "kimi_k3": KimiK3ReasoningParser,
        "gemma4": Gemma4ReasoningParser,
        "minimax": MinimaxReasoningParser,
        "minimax-m3": MinimaxM3ReasoningParser,
        "kimi": KimiReasoningParser,
        "mistral": MistralReasoningParser,
        "deepseek-v41": DeepSeekReasoningParser,
        "deepseek-v4": DeepSeekReasoningParser,
        "deepseek-v3": DeepSeekReasoningParser,
        "kimi_k2": KimiK2ReasoningParser,
        "qwen3": ThinkReasoningParser,
        "qwen3-thinking": ThinkReasoningParser,
        "glm45": Glm45ReasoningParser,
        # by name only
        "deepseek-r1": DeepSeekR1ReasoningParser,
        "dots": QwenStyleThinkReasoningParser,
        "interns1": QwenStyleThinkReasoningParser,
        "mimo": QwenStyleThinkReasoningParser,
        "poolside_v1": QwenStyleThinkReasoningParser,
        "ling3": QwenStyleThinkReasoningParser,
        "granite_thinking_parser": QwenStyleThinkReasoningParser,
        "nanbeige": QwenStyleThinkReasoningParser,
        "nemotron_3": QwenStyleThinkReasoningParser,
        "hunyuan": HunyuanReasoningParser,
        "gigachat35": OpenedThinkReasoningParser,
        "iquest_q1": OpenedThinkReasoningParser,
        "k2_horizon": K2HorizonReasoningParser,
        "apertus2509": ApertusReasoningParser,
        "cohere_command4": CohereReasoningParser,
        "inkling": InklingReasoningParser,
        "muse": MuseReasoningParser,
        "beam": BeamReasoningParser,
        "response_template": ResponseTemplateReasoningParser,
        "minimax-append-think": MinimaxAppendThinkReasoningParser,
        "step3": StepReasoningParser,
        "step3p5": StepReasoningParser,
    }
)


def _detected(registry: dict[str, type[Parser]], chat_template: str) -> str | None:
    for name, parser in registry.items():
        for implied, *markup in parser.template_signs:
            if implied == name and all(marker in chat_template for marker in markup):
                return name
    return None


def detect_tool_call_parser(chat_template: str) -> str | None:
    """The tool-call parser a chat template's markup implies, if any."""
    return _detected(TOOL_CALL_PARSERS, chat_template)


def detect_reasoning_parser(chat_template: str) -> str | None:
    """The reasoning parser a chat template's thinking markup implies, if any."""
    return _detected(REASONING_PARSERS, chat_template)
