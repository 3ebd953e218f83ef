"""An RL rollout with exact tokens: a tool-using conversation recorded as a JSONL trajectory.

Runs against the embedded SGLang emulator (scripted model output) unless SGLANG_API_BASE is set:

    python examples/rl_rollout.py rollouts.jsonl
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import litellm

import sglang_native_provider
from sglang_native_provider import Trajectory
from sglang_native_provider.demo import WEATHER_TOOL, get_weather
from sglang_native_provider.emulator import Emulator

SCRIPT = (
    '<think>\nI need the weather first.\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": '
    '{"city": "Paris"}}\n</tool_call>',
    "<think>\nIt is sunny.\n</think>\n\nPack sunglasses: Paris is sunny, 24 °C.",
)


async def rollout(api_base: str, output: str) -> Trajectory:
    sglang_native_provider.register()
    trajectory = Trajectory([{"role": "user", "content": "What should I pack for Paris today?"}])
    for _ in range(8):
        response = await litellm.acompletion(
            model="sglang_native/qwen3",
            api_base=api_base,
            tokenizer=os.environ.get("TOKENIZER", "offline:qwen3"),
            messages=trajectory.messages,
            tools=[WEATHER_TOOL],
        )
        message = trajectory.add_response(response)
        if not message.tool_calls:
            break
        trajectory.add_messages(
            *(
                {
                    "role": "tool",
                    "tool_call_id": call.id,
                    "content": json.dumps(get_weather(**json.loads(call.function.arguments))),
                }
                for call in message.tool_calls
            )
        )
    trajectory.write_jsonl(output)
    return trajectory


def main(output: str) -> None:
    api_base = os.environ.get("SGLANG_API_BASE")
    if api_base:
        trajectory = asyncio.run(rollout(api_base, output))
    else:
        with Emulator("qwen3") as emulator:
            emulator.script(*SCRIPT)
            trajectory = asyncio.run(rollout(emulator.url, output))
    print(
        f"{len(trajectory.turns)} turns, {len(trajectory.token_ids)} tokens, {sum(trajectory.loss_mask)} sampled"
        f" (loss mask 1), written to {output}"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "rollouts.jsonl")
