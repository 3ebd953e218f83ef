"""Hermes/Qwen tool-call and ``<think>`` reasoning parsers on completed output."""

from __future__ import annotations

import json

import pytest
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


def test_malformed_block_is_reported_not_content_next_to_a_good_one():
    good = block('{"name": "g", "arguments": {}}')
    bad = block('{"name": "f", "arguments": {')
    parsed = hermes.parse(f"{bad}\n{good}", tools=None)
    assert [call.name for call in parsed.calls] == ["g"]
    assert parsed.content == ""
    assert parsed.metadata == {"unparsed_tool_markup": [bad]}


def test_truncated_call_is_reported_not_content():
    text = 'Sure. <tool_call>\n{"name": "f", "argu'
    parsed = hermes.parse(text, tools=None)
    assert (parsed.content, parsed.calls) == ("Sure.", [])
    assert parsed.metadata == {"unparsed_tool_markup": ['<tool_call>\n{"name": "f", "argu']}


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


@pytest.mark.parametrize("registry", [TOOL_CALL_PARSERS, REASONING_PARSERS], ids=["tool_call", "reasoning"])
def test_the_registry_is_the_one_place_names_are_given_and_signs_name_their_own_class(registry):
    """A class answers to the names its registry lines give it; each template sign a class declares itself names
    one of those (a subclass's inherited signs name its parent's, and detection skips them for it)."""
    for name, parser in registry.items():
        assert parser.names == tuple(other for other, registered in registry.items() if registered is parser)
        assert name in parser().names
        for sign in vars(parser).get("template_signs", ()):
            implied, *markup = sign
            assert registry[implied] is parser and markup, (parser.__name__, sign)


def test_detection_follows_the_registry_order_most_specific_markup_first():
    assert detect_tool_call_parser("<tool_call>{function-name}<arg_key>") == "glm47"
    assert detect_tool_call_parser("<tool_call><arg_key>") == "glm45"
    assert detect_tool_call_parser("<tool_call><function=") == "qwen3_coder"
    assert detect_tool_call_parser("renderer:deepseekv41") == "deepseekv41"
    assert detect_tool_call_parser("｜DSML｜function_calls>") == "deepseekv32"
    assert detect_tool_call_parser("｜DSML｜tool_calls>") == "deepseekv4"
    assert detect_tool_call_parser("```json") is None  # only with DeepSeek's calls marker
    assert detect_tool_call_parser("<｜tool▁calls▁begin｜>```json") == "deepseekv3"
    assert detect_reasoning_parser("<|tool_calls_section_begin|></think>") == "kimi_k2"
    assert detect_reasoning_parser("renderer:deepseekv32") == "deepseek-v3"


markup = st.sampled_from(
    ["<tool_call>", "</tool_call>", "<think>", "</think>", '{"name": "f"', "}", "\n", '"arguments":']
)


@given(st.lists(markup | st.text(max_size=8), max_size=12).map("".join))
def test_parsers_never_raise_and_keep_text(text):
    parsed = hermes.parse(text, tools=None)
    unparsed = parsed.metadata.get("unparsed_tool_markup", [])
    if not parsed.calls and not unparsed:
        assert parsed.content == text
    if not parsed.calls:  # nothing is lost: what is not content is reported
        assert sorted("".join(text.split())) == sorted("".join((parsed.content + "".join(unparsed)).split()))
    reasoning = think.parse(text)
    assert reasoning.content in text


SAMPLES = [
    "<think>\nplan\n</think>\n\nAnswer." + block('{"name": "f", "arguments": {"x": [1, {"y": 2}]}}'),
    "Before.\n" + block('{"name": "f", "arguments": {}}') + "\n" + block('{"name": "g", "arguments": {"a": "}"}}'),
    "Broken " + block('{"name": "f", "arguments": {'),
    'Unclosed <tool_call>\n{"name": "f"',
    "  leading and trailing  \n",
    "<thi not a tag",
    "",
]


def _streamed(text: str, pieces: list[str], *, opened: bool = False):
    """Feed ``pieces`` through the reasoning stream, then its content through the tool-call stream."""
    reasoning_stream, tool_stream = think.stream(opened=opened), hermes.stream(tools=None)
    reasoning, content, calls = "", "", []
    for piece in pieces:
        r, c = reasoning_stream.feed(piece)
        c, new_calls = tool_stream.feed(c)
        reasoning, content, calls = reasoning + r, content + c, calls + new_calls
    r, c = reasoning_stream.finish()
    c, new_calls = tool_stream.feed(c)
    more, final_calls = tool_stream.finish()
    return reasoning + r, content + c + more, calls + new_calls + final_calls


def _whole(text: str, *, opened: bool = False):
    parsed_reasoning = think.parse(text, opened=opened)
    parsed = hermes.parse(parsed_reasoning.content, tools=None)
    return parsed_reasoning.reasoning or "", parsed.content, parsed.calls


@pytest.mark.parametrize("text", SAMPLES)
@pytest.mark.parametrize("opened", [False, True])
def test_streaming_split_at_every_boundary_equals_one_shot(text, opened):
    expected = _whole(text, opened=opened)
    assert _streamed(text, list(text), opened=opened) == expected  # one character at a time
    for cut in range(len(text) + 1):
        assert _streamed(text, [text[:cut], text[cut:]], opened=opened) == expected


@given(st.lists(markup | st.text(max_size=6), max_size=10), st.data())
def test_streaming_equals_one_shot_on_arbitrary_text(parts, data):
    text = "".join(parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert _streamed(text, pieces) == _whole(text)
