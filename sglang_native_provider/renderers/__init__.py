"""Family renderers: our own code rendering a conversation to prompt text, for model families that publish a
Python encoder instead of a chat template (DeepSeek V3.2, V4, V4.1).

A renderer is chosen with ``chat_template="renderer:<name>"`` and is called the way a chat template is:
normalized messages, tools, the generation-prompt switches and ``chat_template_kwargs`` (unknown keys are
ignored, as a template ignores variables it does not use). It returns the prompt text, special tokens
spelled out, for the tokenizer to encode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import deepseek_v4, deepseek_v32

__all__ = ["RENDERERS", "RENDERER_PREFIX", "Renderer", "family_renderer"]

RENDERER_PREFIX = "renderer:"

Renderer = Callable[..., str]
"""``(messages, *, tools, add_generation_prompt, continue_final_message, **template_kwargs) -> text``"""

RENDERERS: dict[str, Renderer] = {
    "deepseekv32": deepseek_v32.render,
    "deepseekv4": deepseek_v4.render_v4,
    "deepseekv41": deepseek_v4.render_v41,
}


def family_renderer(chat_template: Any) -> Renderer | None:
    """The renderer a ``renderer:<name>`` chat template names; None for any other template.

    An unknown name is a ``ValueError`` listing the known ones."""
    if not isinstance(chat_template, str) or not chat_template.startswith(RENDERER_PREFIX):
        return None
    name = chat_template[len(RENDERER_PREFIX) :].strip()
    try:
        return RENDERERS[name]
    except KeyError:
        raise ValueError(f"unknown family renderer {name!r}; known: {', '.join(sorted(RENDERERS))}") from None
