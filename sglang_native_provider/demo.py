"""``sglang-native demo`` and ``chat``: a two-turn tool-using conversation through a LiteLLM Router.

``demo`` loads the Router from ``examples/router_config.yaml`` and, unless ``--api-base`` is given, answers
from the embedded SGLang emulator with scripted model output. ``chat`` builds the same Router for any
model and tokenizer against a real SGLang server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from .provider import register
from .tokenizer_loading import tokenizers

EXAMPLE_ROUTER_CONFIG = Path(__file__).resolve().parent.parent / "examples" / "router_config.yaml"
QUESTION = "What is the weather like in Paris today?"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
SCRIPTED_TURNS = (
    "<think>\nThe user wants the weather in Paris; I should call get_weather.\n</think>\n\n"
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
    "<think>\nThe tool says sunny and 24 °C.\n</think>\n\nIt is sunny in Paris today, about 24 °C.",
)


def get_weather(city: str) -> dict[str, Any]:
    """The demo's tool: a fixed forecast."""
    return {"city": city, "condition": "sunny", "temperature_c": 24}


def _token_table(out: TextIO, tokenizer, fields: dict[str, Any]) -> None:
    out.write(f"  {'token':<24} {'id':>7} {'logprob':>9}\n")
    logprobs = fields.get("completion_logprobs") or [None] * len(fields["completion_token_ids"])
    for token_id, logprob in zip(fields["completion_token_ids"], logprobs, strict=True):
        token = tokenizer.decode([token_id])
        shown = f"{logprob:9.4f}" if logprob is not None else f"{'-':>9}"
        out.write(f"  {token!r:<24} {token_id:>7} {shown}\n")


async def run_conversation(router, model_name: str, tokenizer, out: TextIO) -> None:
    """Ask, run the tool the model calls, ask again; print prompt, calls, answer and tokens."""
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    first = await router.acompletion(model=model_name, messages=messages, tools=[WEATHER_TOOL])
    message = first.choices[0].message
    fields = message.provider_specific_fields
    out.write("Rendered prompt (the model's own chat template):\n")
    out.write(tokenizer.decode(fields["prompt_token_ids"]) + "\n")
    out.write(f"Prompt token ids: {len(fields['prompt_token_ids'])} ids, sent to /generate as they are\n\n")
    if getattr(message, "reasoning_content", None):  # LiteLLM omits the attribute when there is none
        out.write(f"Reasoning: {message.reasoning_content}\n")
    if not message.tool_calls:
        out.write(f"Answer (no tool call): {message.content}\n")
        _token_table(out, tokenizer, fields)
        return
    messages.append(message)
    for call in message.tool_calls:
        arguments = json.loads(call.function.arguments)
        out.write(f"Tool call: {call.function.name}({arguments})\n")
        result = get_weather(**arguments) if call.function.name == "get_weather" else {"error": "unknown tool"}
        out.write(f"Tool result: {result}\n")
        messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
    second = await router.acompletion(model=model_name, messages=messages, tools=[WEATHER_TOOL])
    answer = second.choices[0].message
    fields = answer.provider_specific_fields
    out.write(f"\nSecond turn: {len(fields['prompt_token_ids'])} prompt ids, {fields['cached_tokens']} cached\n")
    if getattr(answer, "reasoning_content", None):
        out.write(f"Reasoning: {answer.reasoning_content}\n")
    out.write(f"Answer: {answer.content}\n")
    out.write(f"Finish reason: {second.choices[0].finish_reason}; SGLang: {fields['sglang_finish_reason']}\n\n")
    out.write("Completion tokens of the answer:\n")
    _token_table(out, tokenizer, fields)


def _router(model_list: list[dict[str, Any]]):
    import litellm

    register()
    return litellm.Router(model_list=model_list)


def run_demo(*, api_base: str | None, api_key: str | None, config: Path | None = None, out: TextIO = sys.stdout) -> int:
    """The example Router against the embedded emulator (or the SGLang server at ``api_base``)."""
    if api_base is None:
        from .emulator import Emulator  # the emulator extra's: without it, the cli names the extra
    config = config or EXAMPLE_ROUTER_CONFIG
    if not config.is_file():
        out.write(f"Router config {config} not found; pass --config PATH (see examples/router_config.yaml)\n")
        return 2
    import yaml  # the emulator extra's (LiteLLM brings it too)

    model_list = yaml.safe_load(config.read_text())["model_list"]
    deployment = model_list[0]
    if api_key:
        deployment["litellm_params"]["api_key"] = api_key
    with contextlib.ExitStack() as stack:
        if api_base is None:
            emulator = stack.enter_context(Emulator("qwen3", served_model_name=deployment["model_name"]))
            emulator.script(*SCRIPTED_TURNS)
            api_base = emulator.url
            out.write(f"Started the embedded SGLang emulator at {api_base}\n\n")
        os.environ["SGLANG_API_BASE"] = api_base
        params = deployment["litellm_params"]
        tokenizer = tokenizers.get(
            params.get("tokenizer") or params["model"].split("/", 1)[1],
            revision=None,
            trust_remote_code=False,
            model=params["model"],
        )
        return _run(_router(model_list), deployment["model_name"], tokenizer, out)


def run_chat(*, api_base: str, api_key: str | None, model: str, tokenizer: str | None, out: TextIO = sys.stdout) -> int:
    """The same conversation against a real SGLang server serving ``model``."""
    params = {"model": f"sglang_native/{model}", "api_base": api_base, "tokenizer": tokenizer or model}
    if api_key:
        params["api_key"] = api_key
    loaded = tokenizers.get(params["tokenizer"], revision=None, trust_remote_code=False, model=model)
    return _run(_router([{"model_name": model, "litellm_params": params}]), model, loaded, out)


def _run(router, model_name: str, tokenizer, out: TextIO) -> int:
    asyncio.run(run_conversation(router, model_name, tokenizer, out))
    return 0
