"""Two-turn tool conversations for every family's template through the provider and the emulator.

Only Qwen and Llama tokenizers can be built offline, so the other families' templates run as
``chat_template`` overrides over the Qwen tokenizer: what is checked is the family's markup end to end (the
model's call parsed, the assistant message sent back re-rendering exactly what the model wrote).
"""

from __future__ import annotations

import litellm
import pytest
from test_families import FAMILIES, IDS, PARIS, TEMPLATES, TOOLS, assistant_text

import sglang_native_provider
from sglang_native_provider.emulator import Emulator
from sglang_native_provider.parsers.think import ThinkReasoningParser


@pytest.mark.parametrize("parser_flags", [False, True], ids=["no-parser-flags", "server-parser-flags"])
@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
async def test_two_turn_round_trip(qwen3_tokenizer, family, parser_flags):
    """Through a server started without parser flags (as most users start SGLang for /generate) and with the
    family's ``--tool-call-parser``: the answer must not depend on it."""
    sglang_native_provider.register()
    flags = {"tool_call_parser": family.parser} if parser_flags else {}
    with Emulator("qwen3", **flags) as emulator:
        await _round_trip(emulator, qwen3_tokenizer, family)


async def _round_trip(emulator, qwen3_tokenizer, family):
    template = (TEMPLATES / family.template).read_text()
    model_output = assistant_text(family, [PARIS])
    emulator.script(model_output, "It is sunny.")
    settings = {
        "model": "sglang_native/qwen3",
        "api_base": emulator.url,
        "tokenizer": "offline:qwen3",
        "chat_template": template,
        "chat_template_kwargs": {"bos_token": "<s>", "eos_token": "</s>"},
        "tools": TOOLS,
    }
    messages = [{"role": "user", "content": "Weather in Paris, time in Tokyo?"}]
    first = await litellm.acompletion(messages=messages, **settings)
    message = first.choices[0].message
    assert [(call.function.name, call.function.arguments) for call in message.tool_calls]
    assert message.tool_calls[0].function.name == PARIS[0]
    messages += [message, {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny"}]
    second = await litellm.acompletion(messages=messages, **settings)
    assert second.choices[0].message.content == "It is sunny."
    second_prompt = qwen3_tokenizer.decode(emulator.requests[-1]["input_ids"])
    # The call re-renders exactly as the model wrote it (templates drop past reasoning, so compare without it).
    answer = ThinkReasoningParser().parse(model_output).content
    assert answer in second_prompt
