"""Run in the plain-install venv: a stream, a tool call and a two-turn continuation through ``sglang_native/``.

Usage: ``python rollout.py API_BASE TOKENIZER_DIR``; prints one JSON report. Only the base install is used.
"""

from __future__ import annotations  # noqa: I001 (sglang_native_provider goes before litellm)

import json
import sys

import sglang_native_provider  # before litellm, as the README says
import litellm

sglang_native_provider.register()

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def main(api_base: str, tokenizer: str) -> dict:
    common = {"model": "sglang_native/qwen3", "api_base": api_base, "tokenizer": tokenizer}
    stream = litellm.completion(**common, messages=[{"role": "user", "content": "Hi"}], stream=True)
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream)

    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = litellm.completion(**common, messages=messages, tools=[WEATHER_TOOL])
    message = first.choices[0].message
    call = message.tool_calls[0]
    messages += [
        message.model_dump(),
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"condition": "sunny"})},
    ]
    second = litellm.completion(**common, messages=messages, tools=[WEATHER_TOOL])
    before, after = message.provider_specific_fields, second.choices[0].message.provider_specific_fields
    first_turn = [*before["prompt_token_ids"], *before["completion_token_ids"]]
    return {
        "streamed": streamed,
        "call": [call.function.name, json.loads(call.function.arguments)],
        "finish_reason": first.choices[0].finish_reason,
        "answer": second.choices[0].message.content,
        "continues_exactly": after["prompt_token_ids"][: len(first_turn)] == first_turn,
        "continuation_warning": after.get("continuation_warning"),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
