"""langchain-litellm's ChatLiteLLM with bind_tools, in LangChain's own tool loop: the AIMessage keeps our
metadata in ``additional_kwargs`` but is sent back as content + tool calls (arguments re-serialized) only."""

from __future__ import annotations

import pytest
from _frameworks import (
    MODEL,
    TOKENIZER,
    after_blank_line,
    assert_exact_session,
    assert_rerender_differs,
    session_metadata,
)

langchain_litellm = pytest.importorskip("langchain_litellm", reason="pip install -c constraints.txt -e '.[agents]'")
from langchain_core.messages import HumanMessage, ToolMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402

SCRIPT = [
    after_blank_line("I will look it up.", "get_weather", city="Paris"),
    after_blank_line("And the time.", "get_time", zone="CET"),
    "Sunny in Paris; it is noon.",
]


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


@tool
def get_time(zone: str) -> str:
    """Current time in a time zone."""
    return "12:00"


TOOLS = {t.name: t for t in (get_weather, get_time)}


def test_chat_litellm_tool_loop_continues_on_the_exact_tokens(emulator, spy, session):
    emulator.script(*SCRIPT)
    # model_kwargs reach litellm.completion as they are (LangChain's own RunnableConfig metadata does not)
    model_kwargs = {"tokenizer": TOKENIZER, **session_metadata(session)}
    llm = langchain_litellm.ChatLiteLLM(model=MODEL, api_base=emulator.url, model_kwargs=model_kwargs)
    llm = llm.bind_tools(list(TOOLS.values()))
    messages = [HumanMessage("Weather and time in Paris?")]
    for _ in range(len(SCRIPT)):
        answer = llm.invoke(messages)
        messages.append(answer)
        if not answer.tool_calls:
            break
        messages += [ToolMessage(TOOLS[c["name"]].invoke(c["args"]), tool_call_id=c["id"]) for c in answer.tool_calls]

    assert messages[-1].content == "Sunny in Paris; it is noon."
    assert "provider_specific_fields" in messages[1].additional_kwargs  # kept, but never sent back
    assert spy.named() == [session] * 3
    sent_back = [m for m in spy.calls[2].kwargs["messages"] if m["role"] == "assistant"]
    assert [set(m) for m in sent_back] == [{"role", "content", "tool_calls"}] * 2
    assert_exact_session(emulator, spy.recorded_session(session), SCRIPT)
    for call in spy.calls[1:]:
        assert_rerender_differs(call)
    assert spy.continuations()[1:] == ["ledger", "ledger"]
    assert spy.warnings() == [None] * 3
