"""Google ADK's ``LlmAgent`` over ``google.adk.models.lite_llm.LiteLlm``, run and streamed (``StreamingMode.SSE``),
in a venv of its own: google-adk 2.13 needs opentelemetry-api<=1.44 and tenacity<9.2, which conflict with
constraints.txt. ADK keeps the conversation as its own events (text and function-call parts, results as
function-response parts) and converts them back to chat messages on each turn, without our metadata; the ledger
(a SQLite file, read back by this process) continues on the exact tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _frameworks import TOKENIZER, after_blank_line, assert_exact_session, prompts_of, recorded_session
from _venvs import framework_venv, run_task

from sglang_native_provider.sessions import open_store

HERE = Path(__file__).parent
ADK = "google-adk==2.13.0"
SCRIPT = [after_blank_line("I will look it up.", "get_weather", city="Paris"), "It is sunny in Paris."]


def run_agent(emulator, tmp_path: Path, session_id: str | None, streamed: bool) -> dict:
    python = framework_venv("google-adk", HERE / "google-adk-constraints.txt", ADK)
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    spec = {"api_base": emulator.url, "session_store": store, "session_id": session_id, "streamed": streamed}
    return {**run_task(python, HERE / "google_adk_task.py", spec, tmp_path), "store": open_store(store)}


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "sse"])
def test_llm_agent_continues_on_the_exact_tokens(emulator, tmp_path, session, streamed):
    emulator.script(*SCRIPT)

    report = run_agent(emulator, tmp_path, session, streamed)

    assert report["adk_version"] == "2.13.0"
    # the tool ran once, with the arguments parsed from the sampled call, and the answer is the model's last turn
    assert report["tool_runs"] == [{"city": "Paris"}]
    assert report["final"] == "It is sunny in Paris."
    # SSE goes through LiteLLM's streaming: ADK yields the deltas as partial events, then the whole turns
    assert "".join(report["partial_texts"]) == ("I will look it up.It is sunny in Paris." if streamed else "")
    calls = report["calls"]
    assert [call["stream"] for call in calls] == [streamed] * 2
    assert [body["stream"] for body in emulator.requests] == [streamed] * 2
    # LiteLlm's extra kwargs reach litellm.acompletion as they are
    assert [(call["metadata"] or {}).get("session_id") for call in calls] == [session] * 2
    assert [call["tokenizer"] for call in calls] == [TOKENIZER] * 2
    assert [call["tools"] for call in calls] == [["get_weather"]] * 2

    # ADK sets litellm.add_function_to_prompt for the whole process; the tools are still rendered by Qwen3's
    # template, not pasted into the system prompt by LiteLLM
    assert report["add_function_to_prompt"] is True
    first_prompt = emulator.tokenizer.decode(prompts_of(emulator)[0])
    assert "<tools>\n" in first_prompt and '"name": "get_weather"' in first_prompt
    assert "reply with JSON ONLY" not in first_prompt

    # what ADK sends back: its own rebuilt assistant message (text and the call, arguments re-serialized) and
    # the tool's result as a tool message; none of our metadata
    messages = calls[1]["messages"]
    assert [message["role"] for message in messages] == ["system", "user", "assistant", "tool"]
    sent_back, result_sent = messages[2], messages[3]
    assert sent_back["content"] == "I will look it up." and "provider_specific_fields" not in sent_back
    (sent_call,) = sent_back["tool_calls"]
    assert sent_call["function"]["name"] == "get_weather"
    assert json.loads(sent_call["function"]["arguments"]) == {"city": "Paris"}
    assert result_sent["tool_call_id"] == sent_call["id"]
    assert json.loads(result_sent["content"]) == {"result": "sunny in Paris"}

    # the ledger finds the turn ADK's message came from and continues on its exact tokens
    assert_exact_session(emulator, recorded_session(session, calls, report["store"]), SCRIPT, store=report["store"])
    assert [call["continuation"] for call in calls] == ["new", "ledger"]
    assert [call["continuation_warning"] for call in calls] == [None, None]
    assert calls[1]["template_drift"]["detected"] is True  # a re-render would differ from the sampled tokens
