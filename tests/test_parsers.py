"""Hermes/Qwen tool-call and ``<think>`` reasoning parsers on completed output."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from sglang_native_provider.parsers import (
    REASONING_PARSERS,
    TOOL_CALL_PARSERS,
    detect_reasoning_parser,
    detect_tool_call_parser,
)
from sglang_native_provider.parsers.hermes import HermesToolCallParser
from sglang_native_provider.parsers.think import ThinkReasoningParser

hermes = HermesToolCallParser()
think = ThinkReasoningParser()


def block(payload: str) -> str:
    return f"<tool_call>\n{payload}\n</tool_call>"


def test_registered_under_sglangs_names():
    assert {"hermes", "qwen25", "qwen"} <= set(TOOL_CALL_PARSERS)
    assert {"qwen3", "deepseek-r1"} <= set(REASONING_PARSERS)


def test_single_call_arguments_are_a_json_string():
    parsed = hermes.parse(block('{"name": "f", "arguments": {"x": 1, "y": "é"}}'), tools=None)
    assert parsed.content == ""
    (call,) = parsed.calls
    assert call.name == "f" and json.loads(call.arguments) == {"x": 1, "y": "é"}


def test_arguments_given_as_a_string_or_as_parameters():
    as_string = hermes.parse(block('{"name": "f", "arguments": "{\\"x\\": 2}"}'), tools=None)
    as_parameters = hermes.parse(block('{"name": "f", "parameters": {"x": 3}}'), tools=None)
    assert json.loads(as_string.calls[0].arguments) == {"x": 2}
    assert json.loads(as_parameters.calls[0].arguments) == {"x": 3}


def test_no_call_and_a_mere_mention_stay_content():
    for text in ("Just text.", "I could use <tool_call> here but will not.", ""):
        parsed = hermes.parse(text, tools=None)
        assert parsed.calls == [] and parsed.content == text


def test_malformed_block_stays_content_next_to_a_good_one():
    good = block('{"name": "g", "arguments": {}}')
    bad = block('{"name": "f", "arguments": {')
    parsed = hermes.parse(f"{bad}\n{good}", tools=None)
    assert [call.name for call in parsed.calls] == ["g"]
    assert parsed.content == bad


def test_truncated_call_is_content():
    text = 'Sure. <tool_call>\n{"name": "f", "argu'
    assert hermes.parse(text, tools=None).content == text


def test_think_split():
    parsed = think.parse("<think>\nstep one\n</think>\n\nanswer")
    assert (parsed.reasoning, parsed.content) == ("step one", "answer")


def test_think_opened_by_the_prompt():
    parsed = think.parse("reasoning only\n</think>\n\nanswer", opened=True)
    assert (parsed.reasoning, parsed.content) == ("reasoning only", "answer")
    # without an opened block, a stray closing tag is just text
    assert think.parse("text </think> more").content == "text </think> more"


def test_think_cut_off_is_all_reasoning():
    parsed = think.parse("<think>\nstill thinking")
    assert (parsed.reasoning, parsed.content) == ("still thinking", "")


def test_no_think_is_content():
    parsed = think.parse("plain answer")
    assert (parsed.reasoning, parsed.content) == (None, "plain answer")


def test_detection_from_templates():
    assert detect_tool_call_parser("... <tool_call> ...") == "qwen25"
    assert detect_tool_call_parser("{{ bos_token }}") is None
    assert detect_reasoning_parser("... </think> ...") == "qwen3"
    assert detect_reasoning_parser("{{ bos_token }}") is None


markup = st.sampled_from(
    ["<tool_call>", "</tool_call>", "<think>", "</think>", '{"name": "f"', "}", "\n", '"arguments":']
)


@given(st.lists(markup | st.text(max_size=8), max_size=12).map("".join))
def test_parsers_never_raise_and_keep_text(text):
    parsed = hermes.parse(text, tools=None)
    if not parsed.calls:
        assert parsed.content == text
    reasoning = think.parse(text)
    assert reasoning.content in text
