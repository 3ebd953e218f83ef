"""Run by test_crewai.py in CrewAI's own venv: one Crew per session against a running emulator.

``python crewai_task.py SPEC.json``; SPEC names ``api_base``, the ``sessions`` (one crew each, in order; null:
the crew names none), the ``session_stores`` (the ledger's URL for each crew) and the ``out`` file, where the
calls LiteLLM received and their metadata are written.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")

import litellm

import sglang_native_provider

MODEL = "sglang_native/qwen3"
KEPT_FIELDS = ("continuation", "continuation_warning", "template_drift", "session_id", "conversation_id")


def spy_on_completion(calls: list[dict]) -> None:
    """Record each ``litellm.completion`` call CrewAI makes: the session it names, the tools and assistant
    messages it sends, and our metadata on the answer."""
    completion = litellm.completion

    def spied(*args, **kwargs):
        metadata = dict(kwargs.get("metadata") or {})  # before LiteLLM adds its hidden params to it
        response = completion(*args, **kwargs)
        fields = response.choices[0].message.provider_specific_fields or {}
        calls.append(
            {
                "named": metadata.get("session_id"),
                "tools": [tool["function"]["name"] for tool in kwargs.get("tools") or []],
                "assistant_messages": [dict(m) for m in kwargs["messages"] if m.get("role") == "assistant"],
                **{key: fields.get(key) for key in KEPT_FIELDS},
            }
        )
        return response

    litellm.completion = spied


def run_crew(api_base: str, store: str, session_id: str | None) -> str:
    from crewai import LLM, Agent, Crew, Task
    from crewai.tools import tool

    @tool("get_weather")
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"sunny in {city}"

    # LLM's extra kwargs (additional_params) reach litellm.completion as they are
    llm = LLM(
        model=MODEL,
        api_base=api_base,
        tokenizer="offline:qwen3",
        session_store=store,
        **({} if session_id is None else {"metadata": {"session_id": session_id}}),
    )
    agent = Agent(
        role="forecaster",
        goal="tell the weather",
        backstory="a weather bot",
        tools=[get_weather],
        llm=llm,
        max_iter=3,
        verbose=False,
    )
    task = Task(description="Weather in Paris?", expected_output="one sentence", agent=agent)
    return str(Crew(agents=[agent], tasks=[task], verbose=False).kickoff())


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as file:
        spec = json.load(file)
    # CrewAI asks litellm.utils.supports_function_calling before its first call: name the model ahead
    sglang_native_provider.register("qwen3")
    report: dict = {"function_calling": litellm.utils.supports_function_calling(MODEL), "calls": [], "results": []}
    spy_on_completion(report["calls"])
    for session_id, store in zip(spec["sessions"], spec["session_stores"], strict=True):
        report["results"].append(run_crew(spec["api_base"], store, session_id))
    report["crewai_version"] = __import__("crewai").__version__
    with open(spec["out"], "w", encoding="utf-8") as file:
        json.dump(report, file)


if __name__ == "__main__":
    main()
