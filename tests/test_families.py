"""Every tool-call family on text its real chat template renders: single, parallel, no call, malformed,
and streaming split at every character boundary."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from transformers.utils.chat_template_utils import render_jinja_template

from sglang_native_provider.parsers import (
    TOOL_CALL_PARSERS,
    detect_reasoning_parser,
    detect_tool_call_parser,
)

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

TEMPLATES = Path(__file__).parent / "fixtures" / "chat_templates"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather forecast for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "metric": {"type": "boolean"}},
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Current time in a zone",
            "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
        },
    },
]
PARIS = ("get_weather", {"city": "Paris", "days": 3, "metric": True})
TOKYO = ("get_time", {"zone": "Asia/Tokyo"})


@dataclass(frozen=True)
class Family:
    parser: str
    template: str
    end_of_turn: str
    parallel: bool = True


FAMILIES = [
    Family("qwen25", "Qwen-Qwen3-0.6B.jinja", "<|im_end|>"),
    Family("hermes", "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "<|im_end|>"),
    Family("qwen3_coder", "Qwen3-Coder.jinja", "<|im_end|>"),
    Family("glm45", "GLM-4.6.jinja", ""),
    Family("kimi_k2", "moonshotai-Kimi-K2.jinja", "<|im_end|>"),
    Family("deepseekv31", "deepseek-ai-DeepSeek-V3.1.jinja", "<｜end▁of▁sentence｜>"),
    Family("deepseekv3", "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "<｜end▁of▁sentence｜>"),
    Family("llama3", "meta-llama-Llama-3.1-8B-Instruct.jinja", "<|eot_id|>", parallel=False),
    Family("mistral", "Mistral-Small-3.2-24B-Instruct-2506.jinja", "</s>"),
    Family("mistral", "mistralai-Mistral-Nemo-Instruct-2407.jinja", "</s>"),
    Family("gpt-oss", "openai-gpt-oss-120b.jinja", "", parallel=False),
]
IDS = [f"{f.parser}:{f.template.split('.jinja')[0]}" for f in FAMILIES]


def render(family: Family, messages: list[dict], **kwargs) -> str:
    template = (TEMPLATES / family.template).read_text()
    extra = {"bos_token": "<s>", "eos_token": "</s>", **kwargs}
    rendered, _ = render_jinja_template(conversations=[messages], tools=TOOLS, chat_template=template, **extra)
    return rendered[0]


def assistant_text(family: Family, calls, content: str = "") -> str:
    """What the template renders for one assistant turn (the model's own output for that turn)."""
    user = [{"role": "user", "content": "Weather in Paris, time in Tokyo?"}]
    message = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {"id": f"call{i}abcd", "type": "function", "function": {"name": name, "arguments": args}}
            for i, (name, args) in enumerate(calls)
        ]
    before = render(family, user, add_generation_prompt=True)
    after = render(family, [*user, message])
    cut = next((i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b), len(before))
    if after.rfind("<", 0, cut) > after.rfind(">", 0, cut):  # do not cut a marker in two
        cut = after.rfind("<", 0, cut)
    text = after[cut:]
    if family.end_of_turn:
        text = text.split(family.end_of_turn)[0]
    return text.rstrip()


def parsed(family: Family, text: str):
    result = TOOL_CALL_PARSERS[family.parser]().parse(text, TOOLS)
    return result.content, [(call.name, json.loads(call.arguments)) for call in result.calls]


def streamed(family: Family, pieces: list[str]):
    stream = TOOL_CALL_PARSERS[family.parser]().stream(TOOLS)
    content, calls = "", []
    for piece in pieces:
        more, new = stream.feed(piece)
        content, calls = content + more, calls + new
    more, new = stream.finish()
    return content + more, [(call.name, call.arguments) for call in calls + new]


def one_shot(family: Family, text: str):
    result = TOOL_CALL_PARSERS[family.parser]().parse(text, TOOLS)
    return result.content, [(call.name, call.arguments) for call in result.calls]


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
def test_template_is_detected(family):
    template = (TEMPLATES / family.template).read_text()
    expected = "qwen25" if family.parser == "hermes" else family.parser
    assert detect_tool_call_parser(template) == expected


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
def test_single_call(family):
    text = assistant_text(family, [PARIS])
    content, calls = parsed(family, text)
    assert calls == [PARIS]
    assert "get_weather" not in content and "Paris" not in content  # no markup or arguments left over


PARALLEL = [family for family in FAMILIES if family.parallel]


@pytest.mark.parametrize("family", PARALLEL, ids=[IDS[FAMILIES.index(family)] for family in PARALLEL])
def test_parallel_calls(family):
    text = assistant_text(family, [PARIS, TOKYO])
    assert parsed(family, text)[1] == [PARIS, TOKYO]


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
def test_no_call_is_content(family):
    text = assistant_text(family, [], content="It is sunny in Paris.")
    content, calls = parsed(family, text)
    assert calls == [] and "It is sunny in Paris." in content


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
def test_truncated_call_is_content_not_a_crash(family):
    text = assistant_text(family, [PARIS])
    for cut in range(len(text)):
        result = TOOL_CALL_PARSERS[family.parser]().parse(text[:cut], TOOLS)
        calls = [(call.name, json.loads(call.arguments)) for call in result.calls]
        assert calls in ([], [PARIS])  # a prefix is either not a call yet, or (markerless tails) the whole call
        unparsed = result.metadata.get("unparsed_tool_markup", [])
        if not calls and not unparsed:
            assert result.content == text[:cut]
        if unparsed:  # a call cut off is not content: its raw text is reported, after the content before it
            (markup,) = unparsed
            assert text[:cut].endswith(markup) and text[:cut].startswith(result.content)
            assert not text[:cut][len(result.content) : len(text[:cut]) - len(markup)].strip()


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
def test_streaming_at_every_boundary_equals_one_shot(family):
    text = assistant_text(family, [PARIS, TOKYO] if family.parallel else [PARIS], content="Checking.")
    expected = one_shot(family, text)
    assert expected[1], "the rendered calls must parse"
    assert streamed(family, list(text)) == expected
    for cut in range(len(text) + 1):
        assert streamed(family, [text[:cut], text[cut:]]) == expected


def test_llama3_parallel_calls_with_semicolons():
    family = FAMILIES[7]
    text = '{"name": "get_weather", "parameters": {"city": "Paris"}}; {"name": "get_time", "parameters": {}}'
    assert parsed(family, text)[1] == [("get_weather", {"city": "Paris"}), ("get_time", {})]
    assert parsed(family, "<|python_tag|>" + text)[1][0] == ("get_weather", {"city": "Paris"})


def test_pythonic_calls():
    parser = TOOL_CALL_PARSERS["pythonic"]()
    result = parser.parse('[get_weather(city="Paris", days=3), get_time(zone="CET")]', TOOLS)
    assert [(c.name, json.loads(c.arguments)) for c in result.calls] == [
        ("get_weather", {"city": "Paris", "days": 3}),
        ("get_time", {"zone": "CET"}),
    ]
    for text in ("[__import__('os').system('x')]", "[f(*a)]", "[1, 2]", "[f(x=y)]", "not a list"):
        assert parser.parse(text, TOOLS).calls == [] and parser.parse(text, TOOLS).content == text


def test_reasoning_detection():
    template = (TEMPLATES / "GLM-4.6.jinja").read_text()
    assert detect_reasoning_parser(template) == "qwen3"
    assert detect_reasoning_parser("[THINK]...[/THINK]") == "mistral"
    assert detect_reasoning_parser("◁think▷...◁/think▷") == "kimi"


MARKUP = st.sampled_from(
    sorted(
        # (response_template's markers come from the template at run time: a property, not a class tuple)
        {m for parser in set(TOOL_CALL_PARSERS.values()) if isinstance(parser.markers, tuple) for m in parser.markers}
        | {"{", "}", "[", "]", '"name"', ":"}
    )
)


# Formats whose output is a sequence of framed messages (harmony and its relatives): the content is the
# answer message's body, so framing markup is dropped rather than kept or reported.
FRAMED_MESSAGES = ("gpt-oss", "muse", "inkling")


@pytest.mark.parametrize("name", sorted(TOOL_CALL_PARSERS))
@given(parts=st.lists(MARKUP | st.text(max_size=5), max_size=10))
def test_arbitrary_text_never_raises_and_never_loses_text(name, parts):
    text = "".join(parts)
    parser = TOOL_CALL_PARSERS[name]()
    result = parser.parse(text, TOOLS)
    unparsed = result.metadata.get("unparsed_tool_markup", [])
    framed = name in FRAMED_MESSAGES  # the answer is a message's body, its framing removed
    if not result.calls and not unparsed and not framed:
        assert result.content == text
    if not result.calls and not framed:  # markup that does not parse is reported instead of content
        assert sorted("".join(text.split())) == sorted("".join((result.content + "".join(unparsed)).split()))
    streamed_content, streamed_calls = "", []
    stream = parser.stream(TOOLS)
    for piece in parts:
        more, new = stream.feed(piece)
        streamed_content, streamed_calls = streamed_content + more, streamed_calls + new
    more, new = stream.finish()
    assert (streamed_content + more, streamed_calls + new) == (result.content, result.calls)


def test_mistral_call_ids_render_back_through_its_template():
    family = FAMILIES[8]
    call_id = TOOL_CALL_PARSERS["mistral"]().new_call_id()
    assert len(call_id) == 9 and call_id.isalnum()
    message = {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": call_id, "type": "function", "function": {"name": "get_time", "arguments": {}}}],
    }
    rendered = render(family, [{"role": "user", "content": "time?"}, message])
    assert f"[CALL_ID]{call_id}" in rendered


def test_gpt_oss_reasoning_and_answer():
    from sglang_native_provider.parsers import REASONING_PARSERS

    reasoning_parser, tool_parser = REASONING_PARSERS["gpt-oss"](), TOOL_CALL_PARSERS["gpt-oss"]()
    text = "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>Sunny."
    reasoning = reasoning_parser.parse(text)
    assert reasoning.reasoning == "Think."
    assert tool_parser.parse(reasoning.content, TOOLS).content == "Sunny."
    plain = "No harmony markup at all."
    assert reasoning_parser.parse(plain).content == plain and tool_parser.parse(plain, TOOLS).content == plain


@pytest.mark.parametrize("name", ["gpt-oss", "qwen3", "kimi", "mistral"])
def test_reasoning_streams_equal_one_shot_at_every_boundary(name):
    from sglang_native_provider.parsers import REASONING_PARSERS

    parser = REASONING_PARSERS[name]()
    open_tag, close_tag = {
        "gpt-oss": ("<|channel|>analysis<|message|>", "<|end|><|start|>assistant<|channel|>final<|message|>"),
        "qwen3": ("<think>", "</think>"),
        "kimi": ("◁think▷", "◁/think▷"),
        "mistral": ("[THINK]", "[/THINK]"),
    }[name]
    text = f"{open_tag}\nStep one.\nStep two.\n{close_tag}\n\nThe answer."
    whole = parser.parse(text)
    for cut in range(len(text) + 1):
        stream = parser.stream()
        first, second, last = stream.feed(text[:cut]), stream.feed(text[cut:]), stream.finish()
        reasoning = first[0] + second[0] + last[0]
        content = first[1] + second[1] + last[1]
        assert (reasoning, content) == (whole.reasoning or "", whole.content)
