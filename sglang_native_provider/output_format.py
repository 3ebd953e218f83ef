"""How this model's output reads: the tool-call and reasoning parsers (set, or detected from the chat template),
whether SGLang must keep special tokens in ``text`` for them, and how the prompt leaves the output to start."""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any

from .config import DeploymentConfig
from .errors import bad_request
from .parsers import REASONING_PARSERS, TOOL_CALL_PARSERS, detect_reasoning_parser, detect_tool_call_parser

__all__ = ["OutputFormat", "ReasoningStart"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ReasoningStart:
    """How the output can start, for a tag-delimited reasoning parser: inside the block the prompt opened
    (QwQ/R1-style templates end with the opening tag), and whether it may start with reasoning at all (not
    when the prompt closed the block: Qwen3 with thinking off, DeepSeek-V3.1 without thinking)."""

    opened: bool = False
    may_reason: bool = False

    @classmethod
    def of(cls, tokenizer, prompt_ids: list[int], reasoning_parser: Any) -> ReasoningStart:
        open_tag, close_tag = (getattr(reasoning_parser, name, None) for name in ("open_tag", "close_tag"))
        if open_tag is None or close_tag is None:
            return cls()
        # Enough tokens for either tag whatever the tokenizer (a tag that is no special token may take one each
        # character: Kimi K3's ``<|open|>think<|sep|>``), plus whitespace after it.
        tail = tokenizer.decode(prompt_ids[-(len(open_tag) + len(close_tag) + 8) :]).rstrip()
        return cls(opened=tail.endswith(open_tag), may_reason=not tail.endswith(close_tag))


@dataclasses.dataclass(frozen=True)
class OutputFormat:
    """The parsers of one deployment's output, by SGLang's names (None: the output is plain content)."""

    tool_parser_name: str | None
    reasoning_parser_name: str | None
    tool_parser: Any
    reasoning_parser: Any

    @classmethod
    def of(cls, config: DeploymentConfig, tokenizer, template_source: str, model: str) -> OutputFormat:
        """The deployment's parsers: its settings, else those the chat template's markup implies."""
        tool_name = config.tool_call_parser or _detected(model, "tool_call_parser", template_source)
        reasoning_name = config.reasoning_parser or _detected(model, "reasoning_parser", template_source)
        return cls(
            tool_name,
            reasoning_name,
            _parser("tool_call_parser", tool_name, TOOL_CALL_PARSERS, model, tokenizer),
            _parser("reasoning_parser", reasoning_name, REASONING_PARSERS, model, tokenizer),
        )

    def keep_special_markers(self, sampling_params: dict[str, Any], tokenizer) -> None:
        """Families whose markup is made of special tokens (Kimi, DeepSeek, Mistral, Llama's python tag) need
        SGLang to keep special tokens in ``text``; the caller's own ``skip_special_tokens`` wins."""
        parsers = (self.tool_parser, self.reasoning_parser)
        markers = {marker for parser in parsers if parser is not None for marker in parser.markers}
        if markers & _special_token_texts(tokenizer):
            sampling_params.setdefault("skip_special_tokens", False)


def _parser(kind: str, name: str | None, registry: dict[str, type], model: str, tokenizer) -> Any:
    """The named parser; one that reads the model's own format description from its tokenizer
    (``response_template``) gets the tokenizer."""
    if name is None:
        return None
    parser = registry.get(name)
    if parser is None:
        raise bad_request(f"Unknown {kind} {name!r} for {model!r}; known: {', '.join(sorted(registry))}", model)
    try:
        return parser.for_tokenizer(tokenizer) if hasattr(parser, "for_tokenizer") else parser()
    except ImportError as exc:  # a parser built on a newer transformers than the one installed
        raise bad_request(f"The {kind} {name!r} for {model!r} cannot be used here: {exc}", model) from None


@functools.lru_cache(maxsize=256)
def _detected(model: str, kind: str, chat_template: str) -> str | None:
    """The parser the chat template implies (cached, so each choice is logged once per model)."""
    detect = detect_tool_call_parser if kind == "tool_call_parser" else detect_reasoning_parser
    name = detect(chat_template)
    logger.info("sglang_native: %s for %r detected from its chat template: %s", kind, model, name)
    return name


@functools.lru_cache(maxsize=16)
def _special_token_texts(tokenizer) -> frozenset[str]:
    special = set(getattr(tokenizer, "all_special_tokens", ()))
    special.update(added.content for added in getattr(tokenizer, "added_tokens_decoder", {}).values() if added.special)
    return frozenset(special)
