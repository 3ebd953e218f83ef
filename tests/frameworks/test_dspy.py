"""DSPy's ReActV2 with native tool calling: each turn sends back its own rendering of what the model wrote (its
output fields, the tool calls by name and re-serialized arguments, the results as tool messages), without our
metadata and without the reasoning. DSPy asks LiteLLM ``supports_function_calling`` before its first call and
silently falls back to tool calls written as text when it answers False: the model is named to ``register``."""

from __future__ import annotations

import pytest
from _frameworks import (
    MODEL,
    TOKENIZER,
    assert_exact_session,
    assert_rerender_differs,
    compact_tool_call,
    session_metadata,
    tool_messages_sent,
)

import sglang_native_provider

dspy = pytest.importorskip("dspy", reason="pip install -c constraints.txt -e '.[agents]'")


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


def fields(**values: str) -> str:
    """Output fields in DSPy's ChatAdapter format, as its prompt asks the model to write them."""
    return "".join(f"[[ ## {name} ## ]]\n{value}\n\n" for name, value in values.items()) + "[[ ## completed ## ]]"


def script(native_reasoning: bool) -> list[str]:
    thoughts = ["I need the weather in Paris.", "It is sunny; submit."]
    if native_reasoning:  # the thought is the model's reasoning, not an output field
        heads = [f"<think>\n{thought}\n</think>\n" for thought in thoughts]
    else:
        heads = [fields(next_thought=thought) for thought in thoughts]
    # DSPy writes its fields back with a final newline, which Qwen3's template follows with one more: the blank
    # line before the call re-renders exactly, the arguments (sent back as json.dumps writes them) do not
    return [
        f"{heads[0]}\n\n{compact_tool_call('get_weather', city='Paris')}",
        f"{heads[1]}\n\n{compact_tool_call('submit', answer='Sunny in Paris.')}",
    ]


def test_react_v2_with_native_tool_calls_continues_on_the_exact_tokens(emulator, spy, session):
    sglang_native_provider.register("qwen3")  # declares function calling and reasoning to LiteLLM ahead
    lm = dspy.LM(
        MODEL,
        api_base=emulator.url,
        tokenizer=TOKENIZER,
        **session_metadata(session),
        cache=False,  # DSPy's cache would answer a repeated prompt without calling the model
        num_retries=0,
        # with reasoning declared, DSPy sends reasoning_effort="low", which LiteLLM refuses for a custom
        # provider unless it is named here
        allowed_openai_params=["reasoning_effort"],
    )
    assert lm.supports_function_calling
    texts = script(lm.supports_reasoning)
    emulator.script(*texts)
    agent = dspy.ReActV2("question -> answer", tools=[get_weather], max_iters=3)
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter(use_native_function_calling=True)):
        result = agent(question="Weather in Paris?")

    assert result.answer == "Sunny in Paris."
    assert spy.named() == [session] * 2
    assert [[tool["function"]["name"] for tool in call.kwargs["tools"]] for call in spy.calls] == [
        ["get_weather", "submit"]
    ] * 2
    assert tool_messages_sent(spy.calls[1]) == [
        {
            "role": "tool",
            "tool_call_id": spy.calls[0].response.choices[0].message.tool_calls[0].id,
            "name": "get_weather",
            "content": "sunny in Paris",
        }
    ]
    assert_exact_session(emulator, spy.recorded_session(session), texts)
    assert_rerender_differs(spy.calls[1])
    assert [call.kwargs.get("reasoning_effort") for call in spy.calls] == ["low" if lm.supports_reasoning else None] * 2
    assert spy.continuations()[1] == "ledger"
    assert spy.warnings() == [None, None]
