"""Run by test_google_adk.py in Google ADK's own venv: one ``LlmAgent`` episode per session against a running
emulator, through ``InMemoryRunner`` and ``google.adk.models.lite_llm.LiteLlm``.

``python google_adk_task.py SPEC.json``; SPEC names ``api_base``, the ``session_store`` URL, the ``session_id`` (null:
name none),
``streamed`` (ADK's ``StreamingMode.SSE``) and the ``out`` file, where the calls LiteLLM received, the tool's
invocations, the events' texts and the final answer are written.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")

import litellm

import sglang_native_provider

MODEL = "sglang_native/qwen3"
KEPT_FIELDS = ("continuation", "continuation_warning", "template_drift", "session_id", "conversation_id")
TOOL_RUNS: list[dict] = []


def get_weather(city: str) -> str:
    """Current weather for a city."""
    TOOL_RUNS.append({"city": city})
    return f"sunny in {city}"


class RecordedStream:
    """LiteLLM's stream as ADK reads it, keeping our metadata from the deltas that carry it."""

    def __init__(self, stream, fields: dict, call: dict) -> None:
        self._stream, self._fields, self._call = stream, fields, call

    def __getattr__(self, name):
        return getattr(self._stream, name)

    async def __aiter__(self):
        async for chunk in self._stream:
            if chunk.choices:
                self._fields.update(getattr(chunk.choices[0].delta, "provider_specific_fields", None) or {})
                self._call.update({key: self._fields.get(key) for key in KEPT_FIELDS})
            yield chunk


def spy_on_acompletion(calls: list[dict]) -> None:
    """Record each ``litellm.acompletion`` call ADK makes. ADK binds ``litellm.acompletion`` into its module the
    first time it imports LiteLLM (``_ensure_litellm_imported``), so the spy is installed before any agent runs."""
    acompletion = litellm.acompletion

    async def spied(*args, **kwargs):
        fields: dict = {}  # our metadata on the answer (the message, or the deltas of a stream)
        call = {
            # as sent: LiteLLM then writes its hidden params into this dict, which ADK passes again next call
            "metadata": copy.deepcopy(kwargs.get("metadata")),
            "tokenizer": kwargs.get("tokenizer"),
            "stream": bool(kwargs.get("stream")),
            "tools": [tool["function"]["name"] for tool in kwargs.get("tools") or []],
            "messages": json.loads(json.dumps(kwargs["messages"], default=dict)),
        }
        calls.append(call)
        response = await acompletion(*args, **kwargs)
        if kwargs.get("stream"):
            return RecordedStream(response, fields, call)
        fields.update(response.choices[0].message.provider_specific_fields or {})
        call.update({key: fields.get(key) for key in KEPT_FIELDS})
        return response

    litellm.acompletion = spied


async def run_episode(api_base: str, store: str, session_id: str | None, streamed: bool) -> dict:
    from google.adk.agents import LlmAgent
    from google.adk.agents.run_config import RunConfig, StreamingMode
    from google.adk.models.lite_llm import LiteLlm
    from google.adk.runners import InMemoryRunner
    from google.genai import types

    # LiteLlm's extra kwargs reach litellm.acompletion as they are (completion_args.update(_additional_args))
    model = LiteLlm(
        model=MODEL,
        api_base=api_base,
        tokenizer="offline:qwen3",
        session_store=store,
        **({} if session_id is None else {"metadata": {"session_id": session_id}}),
    )
    agent = LlmAgent(name="weather", model=model, instruction="Answer with the weather.", tools=[get_weather])
    runner = InMemoryRunner(agent=agent, app_name="weather-app")
    session = await runner.session_service.create_session(app_name="weather-app", user_id="user")
    config = RunConfig(streaming_mode=StreamingMode.SSE if streamed else StreamingMode.NONE)
    message = types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])
    final, partial_texts = None, []
    async for event in runner.run_async(user_id="user", session_id=session.id, new_message=message, run_config=config):
        text = "".join(part.text or "" for part in (event.content.parts or [])) if event.content else ""
        if event.partial:
            partial_texts.append(text)
        elif event.is_final_response():
            final = text
    await runner.close()
    return {"final": final, "partial_texts": partial_texts}


async def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as file:
        spec = json.load(file)
    report: dict = {"calls": [], "tool_runs": TOOL_RUNS}
    spy_on_acompletion(report["calls"])
    report.update(await run_episode(spec["api_base"], spec["session_store"], spec["session_id"], spec["streamed"]))
    report["adk_version"] = __import__("google.adk", fromlist=["__version__"]).__version__
    report["add_function_to_prompt"] = litellm.add_function_to_prompt
    with open(spec["out"], "w", encoding="utf-8") as file:
        json.dump(report, file)


if __name__ == "__main__":
    sglang_native_provider.register("qwen3")
    asyncio.run(main())
