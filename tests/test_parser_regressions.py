"""Regression tests for issue 14's parser bugs (items 1-8), each checked one-shot and streamed at every split."""

from __future__ import annotations

import json
from pathlib import Path

import litellm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sglang_native_provider
from sglang_native_provider.demo import WEATHER_TOOL
from sglang_native_provider.parsers import REASONING_PARSERS, TOOL_CALL_PARSERS, detect_reasoning_parser
from sglang_native_provider.parsers.json_calls import json_end
from sglang_native_provider.parsers.typed import typed_arguments
from sglang_native_provider.response import ResponseContext

UNPARSED = "unparsed_tool_markup"
TEMPLATES_2026 = Path(__file__).parent / "fixtures" / "chat_templates_2026"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "run",
            "parameters": {"type": "object", "properties": {"code": {"type": "string"}}},
        },
    },
]
PARIS = ("get_weather", {"city": "Paris"})


def pipeline(reasoning_name: str | None, tool_name: str | None, text: str, *, opened: bool = False, tools=TOOLS):
    """One-shot (reasoning, content, calls, metadata) of ``text``, as the provider splits a response."""
    context = ResponseContext(
        model="m",
        prompt_ids=[],
        tokenizer=None,
        tools=tools,
        tool_parser=TOOL_CALL_PARSERS[tool_name]() if tool_name else None,
        reasoning_parser=REASONING_PARSERS[reasoning_name]() if reasoning_name else None,
        reasoning_opened=opened,
        logprobs=False,
        top_logprobs=0,
    )
    content, reasoning, calls, metadata = context.parse_output(text)
    return reasoning or "", content, [(call.name, json.loads(call.arguments)) for call in calls], metadata


def streamed(reasoning_name: str | None, tool_name: str | None, pieces: list[str], *, opened=False, tools=TOOLS):
    """(reasoning, content, calls) of ``pieces`` fed through the parsers' streams, as streaming.py does."""
    reasoning_stream = REASONING_PARSERS[reasoning_name]().stream(opened=opened) if reasoning_name else None
    tool_stream = TOOL_CALL_PARSERS[tool_name]().stream(tools) if tool_name and tools else None
    reasoning, content, calls = "", "", []

    def push(r: str, c: str, final: bool) -> None:
        nonlocal reasoning, content, calls
        reasoning += r
        if tool_stream is not None:
            c, new = tool_stream.feed(c)
            calls += new
            if final:
                more, new = tool_stream.finish()
                c, calls = c + more, calls + new
        content += c

    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        r, c = reasoning_stream.feed(piece) if reasoning_stream else ("", piece)
        if last and reasoning_stream is not None:
            more_r, more_c = reasoning_stream.finish()
            r, c = r + more_r, c + more_c
        push(r, c, last)
    if not pieces:
        push(*(reasoning_stream.finish() if reasoning_stream else ("", "")), True)
    return reasoning, content, [(call.name, json.loads(call.arguments)) for call in calls]


def assert_streams_like_one_shot(reasoning_name, tool_name, text, *, opened=False, tools=TOOLS):
    """Streamed one character at a time and split in two at every boundary, the deltas add up to one-shot."""
    expected = pipeline(reasoning_name, tool_name, text, opened=opened, tools=tools)[:3]
    assert streamed(reasoning_name, tool_name, list(text), opened=opened, tools=tools) == expected
    for cut in range(len(text) + 1):
        pieces = [text[:cut], text[cut:]]
        assert streamed(reasoning_name, tool_name, pieces, opened=opened, tools=tools) == expected, cut
    return expected


# 1. kimi_k2 reasoning is <think>, ended by the tool-call section; kimi keeps ◁think▷.

KIMI_CALL = (
    "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>"
    '{"city": "Paris"}<|tool_call_end|><|tool_calls_section_end|>'
)


def test_kimi_k2_reasoning_is_think_tags():
    assert pipeline("kimi_k2", "kimi_k2", "<think>Plan.</think>It is sunny.")[:2] == ("Plan.", "It is sunny.")
    assert pipeline("kimi_k2", "kimi_k2", "Plan.</think>It is sunny.", opened=True)[:2] == ("Plan.", "It is sunny.")
    assert pipeline("kimi", None, "◁think▷Plan.◁/think▷Sunny.")[:2] == ("Plan.", "Sunny.")
    assert pipeline("kimi", None, "<think>Plan.</think>Sunny.")[:2] == ("", "<think>Plan.</think>Sunny.")


@pytest.mark.parametrize("opened", [True, False])
def test_kimi_k2_reasoning_ends_at_the_tool_section(opened):
    text = ("" if opened else "<think>") + "I need the weather." + KIMI_CALL
    expected = assert_streams_like_one_shot("kimi_k2", "kimi_k2", text, opened=opened)
    assert expected == ("I need the weather.", "", [PARIS])


def test_kimi_k2_thinking_templates_detect_kimi_k2_reasoning():
    for name in ("moonshotai-Kimi-K2-Thinking.jinja", "moonshotai-Kimi-K2.5.jinja"):
        assert detect_reasoning_parser((TEMPLATES_2026 / name).read_text()) == "kimi_k2"


# 2. gpt-oss without tools (or tool_choice none): the final channel is the content, analysis the reasoning.

HARMONY_ANSWER = "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>Sunny."


@pytest.mark.parametrize("tools", [None, TOOLS], ids=["no tools", "tools"])
def test_gpt_oss_answer_without_a_tool_parser(tools):
    expected = assert_streams_like_one_shot("gpt-oss", "gpt-oss", HARMONY_ANSWER, tools=tools)
    assert expected == ("Think.", "Sunny.", [])
    assert pipeline("gpt-oss", None, HARMONY_ANSWER + "<|return|>", tools=None)[:3] == ("Think.", "Sunny.", [])


# 3. gpt-oss calls: streamed without leaking the recipient, text after them kept, on any channel; built-in tools.

FIRST_CALL = ' to=functions.get_weather<|channel|>commentary json<|message|>{"city": "Paris"}<|call|>'


def test_gpt_oss_streamed_call_leaks_no_recipient_and_keeps_what_follows():
    text = FIRST_CALL + "<|start|>assistant<|channel|>final<|message|>Done."
    assert assert_streams_like_one_shot("gpt-oss", "gpt-oss", text) == ("", "Done.", [PARIS])
    text = "<|channel|>analysis<|message|>Need it.<|end|><|start|>assistant" + FIRST_CALL
    assert assert_streams_like_one_shot("gpt-oss", "gpt-oss", text) == ("Need it.", "", [PARIS])
    assert assert_streams_like_one_shot(None, "gpt-oss", FIRST_CALL) == ("", "", [PARIS])


@pytest.mark.parametrize(
    "text",
    [
        '<|channel|>analysis to=functions.get_weather<|message|>{"city": "Paris"}<|call|>',
        '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}<|call|>',
        '<|start|>assistant to=functions.get_weather<|channel|>commentary<|message|>{"city": "Paris"}<|call|>',
    ],
    ids=["analysis channel", "recipient after the channel", "recipient in the role header"],
)
def test_gpt_oss_calls_wherever_the_recipient_is_written(text):
    assert assert_streams_like_one_shot("gpt-oss", "gpt-oss", text) == ("", "", [PARIS])


def test_gpt_oss_builtin_tool_message_is_neither_content_nor_a_call():
    text = (
        "<|channel|>analysis<|message|>Compute it.<|end|>"
        "<|start|>assistant<|channel|>analysis to=python code<|message|>print(6 * 7)<|call|>"
    )
    reasoning, content, calls, metadata = pipeline("gpt-oss", "gpt-oss", text)
    assert (reasoning, content, calls) == ("Compute it.", "", [])
    assert metadata["builtin_tool_messages"] == [
        {"recipient": "python", "channel": "analysis", "content": "print(6 * 7)"}
    ]
    assert assert_streams_like_one_shot("gpt-oss", "gpt-oss", text) == ("Compute it.", "", [])
    browser = ' to=browser.search<|channel|>commentary json<|message|>{"query": "Paris"}<|call|>'
    assert pipeline(None, "gpt-oss", browser)[1:] == (
        "",
        [],
        {
            "builtin_tool_messages": [
                {"recipient": "browser.search", "channel": "commentary", "content": '{"query": "Paris"}'}
            ]
        },
    )


# 4. A tool call inside a reasoning block never closed ends the reasoning.

QWEN_CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
GLM_CALL = "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n</tool_call>"


@pytest.mark.parametrize(
    ("reasoning_name", "tool_name", "call"),
    [("qwen3", "qwen25", QWEN_CALL), ("qwen3", "qwen3_coder", None), ("glm45", "glm45", GLM_CALL)],
)
@pytest.mark.parametrize("opened", [True, False])
def test_unclosed_reasoning_ends_at_the_tool_call(reasoning_name, tool_name, call, opened):
    call = (
        call or "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>"
    )
    text = ("" if opened else "<think>") + "I should look it up.\n\n" + call
    expected = assert_streams_like_one_shot(reasoning_name, tool_name, text, opened=opened)
    assert expected == ("I should look it up.", "", [PARIS])


def test_a_tool_call_tag_mentioned_mid_sentence_stays_in_the_reasoning():
    text = "<think>I will write a <tool_call> block next.\nDone thinking.</think>Answer."
    assert assert_streams_like_one_shot("qwen3", "qwen25", text) == (
        "I will write a <tool_call> block next.\nDone thinking.",
        "Answer.",
        [],
    )


# 5. Argument typing through anyOf/oneOf/$ref/type lists.

TYPED_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "plan",
            "parameters": {
                "type": "object",
                "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "integer"}}}},
                "definitions": {"Count": {"type": "integer"}},
                "properties": {
                    "tags": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
                    "point": {"$ref": "#/$defs/Point"},
                    "count": {"$ref": "#/definitions/Count"},
                    "limit": {"type": ["integer", "null"]},
                    "ratio": {"oneOf": [{"type": "number"}, {"type": "string"}]},
                    "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "level": {"enum": [1, 2, 3]},
                },
            },
        },
    }
]
TYPED = {"tags": ["a", "b"], "point": {"x": 1}, "count": 3, "limit": None, "ratio": 0.5, "note": "123", "level": 2}
TEXTS = {
    "tags": '["a", "b"]',
    "point": '{"x": 1}',
    "count": "3",
    "limit": "null",
    "ratio": "0.5",
    "note": "123",
    "level": "2",
}


def test_schema_typing_reads_unions_references_and_type_lists():
    assert json.loads(typed_arguments("plan", TEXTS.items(), TYPED_TOOLS)) == TYPED


def test_structured_values_written_escaped_or_as_python_literals():
    written = [("point", "{'x': 1}"), ("tags", r"[\"a\"]"), ("note", "{'x': 1}"), ("count", "{1, 2}")]
    typed = {"point": {"x": 1}, "tags": ["a"], "note": "{'x': 1}", "count": "{1, 2}"}
    assert json.loads(typed_arguments("plan", written, TYPED_TOOLS)) == typed


@pytest.mark.parametrize("tool_name", ["qwen3_coder", "glm45"])
def test_xml_families_type_optional_lists(tool_name):
    if tool_name == "qwen3_coder":
        body = "".join(f"<parameter={key}>\n{value}\n</parameter>\n" for key, value in TEXTS.items())
        text = f"<tool_call>\n<function=plan>\n{body}</function>\n</tool_call>"
    else:
        body = "".join(f"<arg_key>{key}</arg_key>\n<arg_value>{value}</arg_value>\n" for key, value in TEXTS.items())
        text = f"<tool_call>plan\n{body}</tool_call>"
    assert pipeline(None, tool_name, text, tools=TYPED_TOOLS)[2] == [("plan", TYPED)]


# 6. Marker text inside a JSON string or a parameter value is text.


def test_json_end_skips_markers_inside_strings():
    assert json_end('{"a": "</x>"} tail</x>', 0, ("</x>",)) == (13, True)
    assert json_end('{"a": </x>', 0, ("</x>",)) == (6, False)
    assert json_end('{"a": "</x>', 0, ("</x>",)) is None


@pytest.mark.parametrize(
    ("tool_name", "text", "code"),
    [
        (
            "qwen25",
            '<tool_call>\n{"name": "run", "arguments": {"code": "Use <tool_call> tags, then </tool_call>."}}\n'
            "</tool_call>\nDone.",
            "Use <tool_call> tags, then </tool_call>.",
        ),
        (
            "qwen3_coder",
            "<tool_call>\n<function=run>\n<parameter=code>\nx = '</parameter>' + '</tool_call>'\n</parameter>\n"
            "</function>\n</tool_call>\nDone.",
            "x = '</parameter>' + '</tool_call>'",
        ),
        (
            "glm45",
            "<tool_call>run\n<arg_key>code</arg_key>\n<arg_value>s = '</arg_value>' + '</tool_call>'</arg_value>\n"
            "</tool_call>\nDone.",
            "s = '</arg_value>' + '</tool_call>'",
        ),
        (
            "kimi_k2",
            "<|tool_calls_section_begin|><|tool_call_begin|>functions.run:0<|tool_call_argument_begin|>"
            '{"code": "<|tool_call_end|><|tool_calls_section_end|>"}<|tool_call_end|><|tool_calls_section_end|>\nDone.',
            "<|tool_call_end|><|tool_calls_section_end|>",
        ),
        (
            "gpt-oss",
            ' to=functions.run<|channel|>commentary json<|message|>{"code": "a<|call|>b"}<|call|>'
            "<|start|>assistant<|channel|>final<|message|>\nDone.",
            "a<|call|>b",
        ),
        ("mistral", '[TOOL_CALLS]run[ARGS]{"code": "[TOOL_CALLS]x[ARGS]{}"}', "[TOOL_CALLS]x[ARGS]{}"),
    ],
    ids=["hermes", "qwen3_coder", "glm45", "kimi_k2", "gpt-oss", "mistral"],
)
def test_markers_inside_values_do_not_end_the_call(tool_name, text, code):
    reasoning_name = "gpt-oss" if tool_name == "gpt-oss" else None
    _, content, calls = assert_streams_like_one_shot(reasoning_name, tool_name, text)
    assert calls == [("run", {"code": code})]
    assert content in ("\nDone.", "")


# 7. Minor cases.


@pytest.mark.parametrize("opened", [True, False])
def test_repeated_opening_tag_is_not_reasoning(opened):
    text = "<think>\n<think>\nPlan.\n</think>\n\nAnswer."
    assert assert_streams_like_one_shot("qwen3", None, text, opened=opened) == ("Plan.", "Answer.", [])


def kimi_section(call_id: str, arguments: str) -> str:
    return (
        f"<|tool_calls_section_begin|><|tool_call_begin|>{call_id}<|tool_call_argument_begin|>{arguments}"
        "<|tool_call_end|><|tool_calls_section_end|>"
    )


def test_kimi_bare_counter_id_is_the_one_tool_its_arguments_fit():
    assert pipeline(None, "kimi_k2", kimi_section("0", '{"city": "Paris"}'))[2] == [PARIS]
    assert pipeline(None, "kimi_k2", kimi_section("functions.get_weather:0", '{"city": "Paris"}'))[2] == [PARIS]
    assert assert_streams_like_one_shot(None, "kimi_k2", "Checking." + kimi_section("3", '{"code": "1"}')) == (
        "",
        "Checking.",
        [("run", {"code": "1"})],
    )


@pytest.mark.parametrize("arguments", ['{"zone": "CET"}', "{}"], ids=["no tool fits", "two tools fit"])
def test_kimi_bare_counter_id_is_never_a_function_named_after_it(arguments):
    section = kimi_section("0", arguments)
    _, content, calls, metadata = pipeline(None, "kimi_k2", "Checking." + section)
    assert (content, calls, metadata) == ("Checking.", [], {UNPARSED: [section]})


def test_empty_kimi_tool_section_is_not_content():
    text = "It is sunny.<|tool_calls_section_begin|><|tool_calls_section_end|>"
    assert assert_streams_like_one_shot(None, "kimi_k2", text) == ("", "It is sunny.", [])


def test_glm_values_escaped_or_separated_by_a_literal_backslash_n():
    tools = [
        {
            "type": "function",
            "function": {
                "name": "todo",
                "parameters": {"type": "object", "properties": {"items": {"type": "array"}, "city": {}}},
            },
        }
    ]
    text = r"<tool_call>todo\n<arg_key>items</arg_key>\n<arg_value>[{\"id\": 1}]</arg_value>\n"
    text += r"<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n</tool_call>"
    assert pipeline(None, "glm45", text, tools=tools)[2] == [("todo", {"items": [{"id": 1}], "city": "Paris"})]


def test_llama4_python_start_wrapped_pythonic_calls():
    text = '<|python_start|>[get_weather(city="Paris")]<|python_end|>'
    assert assert_streams_like_one_shot(None, "pythonic", text) == ("", "", [PARIS])


def test_llama3_calls_each_after_a_python_tag():
    text = '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}'
    text += '<|python_tag|>{"name": "run", "parameters": {"code": "1"}}'
    assert assert_streams_like_one_shot(None, "llama3", text) == ("", "", [PARIS, ("run", {"code": "1"})])


# 8. Markup that does not parse is reported, not content; a mere mention stays content.


QWEN_CUT = '<tool_call>\n{"name": "get_weather", "argu'
CODER_CUT = "<tool_call>\n<function=get_weather>\n<parameter=ci"
GLM_CUT = "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_val"
KIMI_CUT = "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0"
HARMONY_CUT = ' to=functions.get_weather<|channel|>commentary json<|message|>{"city": "Pa'


@pytest.mark.parametrize(
    ("tool_name", "text", "content", "markup"),
    [
        ("qwen25", "Sure. " + QWEN_CUT, "Sure.", QWEN_CUT),
        ("qwen25", "Sure.\n<tool_call>", "Sure.", "<tool_call>"),
        ("qwen25", 'Sure.\n<tool_call>\n{"name": 1}\n</tool_call>', "Sure.", '<tool_call>\n{"name": 1}\n</tool_call>'),
        ("qwen3_coder", "Sure.\n" + CODER_CUT, "Sure.", CODER_CUT),
        ("glm45", "Sure.\n" + GLM_CUT, "Sure.", GLM_CUT),
        ("kimi_k2", "Sure." + KIMI_CUT, "Sure.", KIMI_CUT),
        ("mistral", 'Sure.[TOOL_CALLS]get_weather[ARGS]{"city": ', "Sure.", '[TOOL_CALLS]get_weather[ARGS]{"city": '),
        (
            "llama3",
            'Sure.<|python_tag|>{"name": "f", "parameters": {',
            "Sure.",
            '<|python_tag|>{"name": "f", "parameters": {',
        ),
        ("gpt-oss", HARMONY_CUT, "", HARMONY_CUT),
        ("gpt-oss", "<|channel|>analysis<|message|>Hm.<|end|><|start|>assistant<|chan", "", "<|start|>assistant<|chan"),
        ("gpt-oss", " to=functions.get_weather", "", " to=functions.get_weather"),
    ],
)
def test_unparsed_markup_is_reported_not_content(tool_name, text, content, markup):
    reasoning_name = "gpt-oss" if tool_name == "gpt-oss" else None
    _, parsed_content, calls, metadata = pipeline(reasoning_name, tool_name, text)
    assert (parsed_content, calls, metadata) == (content, [], {UNPARSED: [markup]})
    assert assert_streams_like_one_shot(reasoning_name, tool_name, text)[1] == content


@pytest.mark.parametrize(
    ("tool_name", "text"),
    [
        ("qwen25", "I could use <tool_call> here but will not."),
        ("qwen25", "Wrap calls in <tool_call>"),
        ("qwen3_coder", "The <tool_call> tag opens a call."),
        ("glm45", "Write <tool_call> then the name."),
        ("llama3", '{"answer": 42}'),
        ("pythonic", "[1, 2, 3"),
    ],
)
def test_mere_mentions_and_markerless_text_stay_content(tool_name, text):
    assert pipeline(None, tool_name, text) == ("", text, [], {})
    assert assert_streams_like_one_shot(None, tool_name, text) == ("", text, [])


TRUNCATED = 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Par'


@pytest.fixture
def registered():
    sglang_native_provider.register()


async def test_unparsed_markup_in_the_response_metadata(emulator, registered):
    emulator.script(TRUNCATED, TRUNCATED)
    settings = {
        "model": "sglang_native/qwen3",
        "api_base": emulator.url,
        "tokenizer": "offline:qwen3",
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [WEATHER_TOOL],
    }
    message = (await litellm.acompletion(**settings)).choices[0].message
    assert message.content == "Let me check." and not message.tool_calls
    markup = ['<tool_call>\n{"name": "get_weather", "arguments": {"city": "Par']
    assert message.provider_specific_fields[UNPARSED] == markup
    stream = await litellm.acompletion(stream=True, **settings)
    content, fields = "", {}
    async for chunk in stream:
        delta = chunk.choices[0].delta
        content += delta.content or ""
        fields = getattr(delta, "provider_specific_fields", None) or fields
    assert content == "Let me check." and fields[UNPARSED] == markup


PIPELINES = [
    ("qwen3", "qwen25"),
    ("qwen3", "qwen3_coder"),
    ("glm45", "glm45"),
    ("kimi_k2", "kimi_k2"),
    ("deepseek-r1", "deepseekv31"),
    ("mistral", "mistral"),
    ("gpt-oss", "gpt-oss"),
]
PIPELINE_MARKUP = st.sampled_from(
    sorted(
        {m for name in {t for _, t in PIPELINES} for m in TOOL_CALL_PARSERS[name].markers}
        | {m for name in {r for r, _ in PIPELINES} for m in REASONING_PARSERS[name]().markers}
        | {"{", "}", '"', '{"name": "run", "arguments": {}}', " to=functions.run", "analysis", "final", "\n", "run"}
    )
)


@pytest.mark.parametrize(("reasoning_name", "tool_name"), PIPELINES)
@settings(max_examples=150, deadline=None)
@given(parts=st.lists(PIPELINE_MARKUP | st.text(max_size=4), max_size=10), opened=st.booleans(), data=st.data())
def test_reasoning_then_tool_streams_equal_one_shot_on_arbitrary_markup(reasoning_name, tool_name, parts, opened, data):
    text = "".join(parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=5)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    expected = pipeline(reasoning_name, tool_name, text, opened=opened)
    assert streamed(reasoning_name, tool_name, pieces, opened=opened) == expected[:3]
    assert streamed(reasoning_name, tool_name, parts, opened=opened) == expected[:3]


@pytest.mark.parametrize("tool_choice", [None, "none"], ids=["no tools", "tool_choice none"])
async def test_gpt_oss_answer_through_the_provider_streamed_and_not(emulator, registered, tool_choice):
    template = (Path(__file__).parent / "fixtures" / "chat_templates" / "openai-gpt-oss-120b.jinja").read_text()
    emulator.script(HARMONY_ANSWER, HARMONY_ANSWER)
    settings = {
        "model": "sglang_native/gpt-oss",
        "api_base": emulator.url,
        "tokenizer": "offline:qwen3",
        "chat_template": template,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
    }
    if tool_choice:
        settings.update(tools=[WEATHER_TOOL], tool_choice=tool_choice)
    message = (await litellm.acompletion(**settings)).choices[0].message
    assert (message.content, message.reasoning_content) == ("Sunny.", "Think.")
    stream = await litellm.acompletion(stream=True, **settings)
    content, reasoning = "", ""
    async for chunk in stream:
        delta = chunk.choices[0].delta
        content += delta.content or ""
        reasoning += getattr(delta, "reasoning_content", None) or ""
    assert (content, reasoning) == ("Sunny.", "Think.")


# 9. Differential-test findings: a drifted Qwen3-Coder end tag, a GLM-4.5 number written as a JSON string.

CODER_FAMILIES = ["qwen3_coder", "nanbeige", "step3p5", "mimo"]
DRIFTED = ["</parameter1>", "</parameter_function>", "</parameter"]


def coder_call(*parameters: str) -> str:
    return "<tool_call>\n<function=get_weather>\n" + "".join(parameters) + "</function>\n</tool_call>"


@pytest.mark.parametrize("tool_name", CODER_FAMILIES)
@pytest.mark.parametrize("drifted", DRIFTED)
def test_a_drifted_end_tag_ends_its_value_at_the_next_parameter(tool_name, drifted):
    text = "Checking.\n" + coder_call(f"<parameter=city>\nShanghai\n{drifted}\n", "<parameter=days>\n3\n</parameter>\n")
    expected = ("", "Checking.", [("get_weather", {"city": f"Shanghai\n{drifted}", "days": 3})])
    assert assert_streams_like_one_shot(None, tool_name, text) == expected
    assert pipeline(None, tool_name, text)[3] == {}


@pytest.mark.parametrize("tool_name", CODER_FAMILIES)
def test_a_drifted_end_tag_on_the_last_value_ends_it_at_the_function_end(tool_name):
    text = coder_call("<parameter=days>\n3\n</parameter>\n", "<parameter=city>\nShanghai\n</parameter1>\n")
    expected = ("", "", [("get_weather", {"days": 3, "city": "Shanghai\n</parameter1>"})])
    assert assert_streams_like_one_shot(None, tool_name, text) == expected


def test_a_drifted_value_keeps_marker_text_that_ends_nothing():
    value = "a '</parameter>' b '</tool_call>' c <parameter=x> d"
    text = coder_call(f"<parameter=city>\n{value}\n</parameter1>\n", "<parameter=days>\n3\n</parameter>\n") + "\nDone."
    expected = ("", "\nDone.", [("get_weather", {"city": f"{value}\n</parameter1>", "days": 3})])
    assert assert_streams_like_one_shot(None, "qwen3_coder", text) == expected


def test_a_drifted_value_double_spaced_keeps_one_newline():
    text = coder_call("<parameter=city>\nShanghai\n</parameter1>\n\n", "<parameter=days>\n3\n</parameter>\n")
    expected = ("", "", [("get_weather", {"city": "Shanghai\n</parameter1>\n", "days": 3})])
    assert assert_streams_like_one_shot(None, "qwen3_coder", text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "<tool_call>\n<function=get_weather>\n<parameter=city>\nShanghai</parameter1></function>\n</tool_call>",
        "<tool_call>\n<function=get_weather>\n<parameter=city>\nShanghai\n</parameter1>\n</function>\n",
        coder_call("<parameter=city>\nShanghai\n</parameter1>\n", "<parameter=days\n3\n</parameter>\n"),
    ],
    ids=["no line break before the function end", "block never closed", "next parameter malformed"],
)
def test_a_drifted_value_without_a_next_tag_or_function_end_is_no_call(text):
    _, content, calls, metadata = pipeline(None, "qwen3_coder", text)
    assert (content, calls, metadata) == ("", [], {UNPARSED: [text]})
    assert assert_streams_like_one_shot(None, "qwen3_coder", text) == ("", "", [])


NUMBER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "count": {"type": "number"},
                    "days": {"type": "integer"},
                    "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                    "ratio": {"type": ["number", "string"]},
                },
            },
        },
    }
]


@pytest.mark.parametrize("tool_name", ["glm45", "poolside_v1", "spark25"])
def test_glm45_number_written_as_a_json_string_is_that_number(tool_name):
    written = {"city": '"Paris"', "count": '"42"', "days": '"3"', "limit": '"2.0"', "ratio": '"0.5"'}
    body = "".join(f"<arg_key>{key}</arg_key>\n<arg_value>{value}</arg_value>\n" for key, value in written.items())
    text = f"<tool_call>get_weather\n{body}</tool_call>"
    typed = {"city": '"Paris"', "count": 42, "days": 3, "limit": 2, "ratio": "0.5"}
    assert assert_streams_like_one_shot(None, tool_name, text, tools=NUMBER_TOOLS) == ("", "", [("get_weather", typed)])


def test_a_quoted_value_that_is_no_number_of_the_schema_stays_as_written():
    written = [("count", '"many"'), ("days", '"2.5"'), ("limit", '"true"'), ("ratio", '"NaN"')]
    typed = {"count": '"many"', "days": '"2.5"', "limit": '"true"', "ratio": "NaN"}
    assert json.loads(typed_arguments("get_weather", written, NUMBER_TOOLS)) == typed
    assert json.loads(typed_arguments("get_weather", [("count", '"NaN"')], NUMBER_TOOLS)) == {"count": '"NaN"'}
    assert json.loads(typed_arguments("get_weather", [("count", '"-1.5e2"')], NUMBER_TOOLS)) == {"count": -150.0}


# Issue 20, items 2 to 8: every complete tool call is returned; a half-written call is never shown.

WEATHER_IN = {"city": "Tokyo"}
V31_CALL = '<｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Tokyo"}<｜tool▁call▁end｜>'
KIMI_OPEN_CALL = (
    '<|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{"city": "Tokyo"}<|tool_call_end|>'
)
HERMES_JSON = '{"name": "get_weather", "arguments": {"city": "Tokyo"}}'
CODER_FUNCTION = "<function=get_weather>\n<parameter=city>\nTokyo\n</parameter>\n</function>"


def dsml_calls(family: str, *invokes: str) -> str:
    """A DSML calls block of ``family`` holding ``invokes``, never closed."""
    parser = TOOL_CALL_PARSERS[family]
    return "Checking.\n\n" + parser.open + "\n" + "\n".join(invokes)


def dsml_invoke(family: str, name: str, value: str, *, closed: bool = True) -> str:
    """One DSML invoke with one string parameter; ``closed=False``: cut off inside the value."""
    parser = TOOL_CALL_PARSERS[family]
    dsml = "｜DSML｜"
    parameter = f'<{dsml}{parser.parameter_tag} name="city" string="true">{value}'
    end = f"</{dsml}{parser.parameter_tag}>\n</{dsml}{parser.invoke_tag}>" if closed else ""
    return f'<{dsml}{parser.invoke_tag} name="{name}">\n{parameter}{end}'


CUT_BLOCKS = [
    # (parser, text, content, unparsed markup, the same cut before the call was complete), the block's closing
    # marker never written
    ("deepseekv31", "Sure.<｜tool▁calls▁begin｜>" + V31_CALL, "Sure.", [], "<｜tool▁call▁end｜>"),
    ("deepseekv31", "Sure.<｜tool▁calls▁begin｜>" + V31_CALL + "<｜tool▁calls▁e", "Sure.", [], "nd｜><｜tool▁calls▁e"),
    ("kimi_k2", "Sure.<|tool_calls_section_begin|>" + KIMI_OPEN_CALL, "Sure.", [], "<|tool_call_end|>"),
    ("qwen25", f"Sure.\n<tool_call>\n{HERMES_JSON}\n</tool_call", "Sure.", [], "}\n</tool_call"),
    ("qwen25", f"Sure.\n<tool_call>\n{HERMES_JSON}", "Sure.", [], "}"),
    ("qwen3_coder", f"Sure.\n<tool_call>\n{CODER_FUNCTION[:-6]}", "Sure.", [], "</fun"),
    ("qwen3_coder", f"Sure.\n<tool_call>\n{CODER_FUNCTION}\n</tool_", "Sure.", [], "/function>\n</tool_"),
    *(
        (
            family,
            dsml_calls(
                family, dsml_invoke(family, "get_weather", "Tokyo"), dsml_invoke(family, "run", "x", closed=False)
            ),
            "Checking.",
            [dsml_invoke(family, "run", "x", closed=False)],
            ">\n" + dsml_invoke(family, "run", "x", closed=False),
        )
        for family in ("deepseekv32", "deepseekv4", "deepseekv41")
    ),
]


@pytest.mark.parametrize(("tool_name", "text", "content", "markup", "unfinished"), CUT_BLOCKS)
def test_a_complete_call_in_a_block_cut_off_is_returned(tool_name, text, content, markup, unfinished):
    """Item 2: a call whose payload is complete (its per-call end marker written, its JSON closed, its values
    each closed and its function's end begun) is returned whatever is missing after it (the block's closing
    marker, a sibling cut off); only the broken part is unparsed markup. The same block cut before the call
    was complete (less its ``unfinished`` end) holds no call: a half-written call is never shown."""
    _, parsed_content, calls, metadata = pipeline(None, tool_name, text)
    assert (parsed_content, calls, metadata) == (
        content,
        [("get_weather", WEATHER_IN)],
        {UNPARSED: markup} if markup else {},
    )
    assert assert_streams_like_one_shot(None, tool_name, text) == ("", content, [("get_weather", WEATHER_IN)])
    half = text.removesuffix(unfinished)
    assert half != text
    _, half_content, calls, metadata = pipeline(None, tool_name, half)
    assert (half_content, calls, metadata) == (content, [], {UNPARSED: [half[len(content) :].lstrip()]})
    assert assert_streams_like_one_shot(None, tool_name, half) == ("", content, [])


SIBLINGS = [
    (
        "deepseekv3",
        "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
        '{"city": "Tokyo"}\n```<｜tool▁call▁end｜>',
        "<｜tool▁call▁begin｜>function<｜tool▁sep｜>search\n```json\n{bad json\n```<｜tool▁call▁end｜>",
        "<｜tool▁calls▁end｜>",
    ),
    ("deepseekv31", "<｜tool▁calls▁begin｜>" + V31_CALL, V31_CALL.replace('{"city"', "{bad"), "<｜tool▁calls▁end｜>"),
    (
        "kimi_k2",
        "<|tool_calls_section_begin|>" + KIMI_OPEN_CALL,
        KIMI_OPEN_CALL.replace('{"city"', "{bad"),
        "<|tool_calls_section_end|>",
    ),
    (
        "deepseekv4",
        "<｜DSML｜tool_calls>\n" + dsml_invoke("deepseekv4", "get_weather", "Tokyo") + "\n",
        dsml_invoke("deepseekv4", "run", "x").replace("</｜DSML｜invoke>", "stray\n</｜DSML｜invoke>"),
        "\n</｜DSML｜tool_calls>",
    ),
]


@pytest.mark.parametrize(("tool_name", "good", "bad", "close"), SIBLINGS)
@pytest.mark.parametrize("order", ["good first", "bad first"])
def test_a_malformed_sibling_costs_a_valid_call_nothing(tool_name, good, bad, close, order):
    """Item 3: the valid call is returned, the malformed one is unparsed markup."""
    opening = TOOL_CALL_PARSERS[tool_name].open
    good_call = good.removeprefix(opening)
    calls_text = good_call + bad if order == "good first" else bad + "\n" + good_call
    text = "Checking." + opening + calls_text + close
    _, content, calls, metadata = pipeline(None, tool_name, text)
    assert (content, calls, metadata) == ("Checking.", [("get_weather", WEATHER_IN)], {UNPARSED: [bad]})
    assert assert_streams_like_one_shot(None, tool_name, text) == ("", "Checking.", [("get_weather", WEATHER_IN)])


@pytest.mark.parametrize(
    ("text", "content", "calls", "markup"),
    [
        ("Sure. <|python_start|>[get_weather(city='Paris')]<|python_end|> Done.", "Sure.  Done.", [PARIS], {}),
        ("<|python_start|>[get_weather(city='Paris')]<|python_end|>\nDone.", "\nDone.", [PARIS], {}),
        (
            "Sure. <|python_start|>[get_weather(city=]<|python_end|> Done.",
            "Sure.  Done.",
            [],
            {UNPARSED: ["<|python_start|>[get_weather(city=]<|python_end|>"]},
        ),
    ],
)
def test_a_delimited_pythonic_call_followed_by_prose(text, content, calls, markup):
    """Item 4: the calls end at ``<|python_end|>``; the prose after it is content (as SGLang's pythonic
    detector: the text before and after the list)."""
    assert pipeline(None, "pythonic", text) == ("", content, calls, markup)
    assert assert_streams_like_one_shot(None, "pythonic", text) == ("", content, calls)


GLM_INLINE = "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value></tool_call>"


@pytest.mark.parametrize("tool_name", ["glm45", "glm47"])
@pytest.mark.parametrize("opened", [True, False])
def test_glm_reasoning_ends_at_a_call_written_mid_line(tool_name, opened):
    """Item 5: GLM's unclosed ``<think>`` ends at ``<tool_call>`` when a GLM call follows it, even mid-line (as
    SGLang's GLM detector); a mere mention does not end it, nor does Qwen3's rule change."""
    text = ("" if opened else "<think>") + "The user wants the weather." + GLM_INLINE
    assert assert_streams_like_one_shot("glm45", tool_name, text, opened=opened) == (
        "The user wants the weather.",
        "",
        [PARIS],
    )
    mention = ("" if opened else "<think>") + "I could write <tool_call> or <tool_call>get_weather then stop"
    assert assert_streams_like_one_shot("glm45", tool_name, mention, opened=opened) == (
        mention[7 * (not opened) :],
        "",
        [],
    )
    assert pipeline("qwen3", "qwen25", "<think>The user wants the weather." + GLM_INLINE)[:3] == (
        "The user wants the weather." + GLM_INLINE,
        "",
        [],
    )


def gemma_rendered_call(arguments: dict) -> str:
    """The call as Gemma 4's own chat template writes it back (keys bare, as they are)."""
    from transformers.utils.chat_template_utils import render_jinja_template

    template = (TEMPLATES_2026 / "google-gemma-4-31B-it.jinja").read_text()
    call = {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "", "tool_calls": [call]}]
    rendered, _ = render_jinja_template(conversations=[messages], chat_template=template, bos_token="", eos_token="")
    start = rendered[0].index("<|tool_call>")
    return rendered[0][start : rendered[0].rindex("<tool_call|>") + len("<tool_call|>")]


@pytest.mark.parametrize(
    "arguments",
    [{"key with space": 1}, {"city": "a<tool_call|>b<|tool_call>c"}, {"nested": {"inner key": [1, "x<tool_call|>"]}}],
    ids=["key with a space", "markers inside a string", "both, nested"],
)
def test_gemma4_keys_as_its_template_writes_them_and_opaque_strings(arguments):
    """Item 6: a bare key with a space is a key; a ``<|"|>`` string is opaque (marker text inside it is text)."""
    text = "Checking." + gemma_rendered_call(arguments) + "Done."
    assert pipeline(None, "gemma4", text) == ("", "Checking.Done.", [("get_weather", arguments)], {})
    assert assert_streams_like_one_shot(None, "gemma4", text) == ("", "Checking.Done.", [("get_weather", arguments)])


@pytest.mark.parametrize(
    ("tool_name", "text", "city"),
    [
        ("llama3", '{"name": "get_weather", "parameters": {"city": "a<|python_tag|>b"}}', "a<|python_tag|>b"),
        (
            "llama3",
            ' {"name": "get_weather", "parameters": {"city": "<|python_tag|>{\\"x\\": 1}"}}',
            '<|python_tag|>{"x": 1}',
        ),
        ("pythonic", "[get_weather(city='a<|python_start|>b')]", "a<|python_start|>b"),
    ],
)
def test_a_start_marker_inside_a_string_of_calls_written_without_one_is_text(tool_name, text, city):
    """Item 7: calls written with no marker are scanned as a value; the marker inside one of its strings is
    text, not the start of other calls."""
    assert pipeline(None, tool_name, text) == ("", "", [("get_weather", {"city": city})], {})
    assert assert_streams_like_one_shot(None, tool_name, text) == ("", "", [("get_weather", {"city": city})])


@pytest.mark.parametrize("reasoning_name", ["mistral", "kimi_k2", "deepseek-r1"])
def test_a_tool_call_marker_inside_a_closed_reasoning_block_is_reasoning(reasoning_name):
    """Item 8: a tool-call marker written inside the reasoning block (closed later) is reasoning text; the
    block ends at its closing tag, and the call after it is read."""
    marker, call, tool_name = {
        "mistral": ("[TOOL_CALLS]", '[TOOL_CALLS]write_file[ARGS]{"path": "a.txt"}', "mistral"),
        "kimi_k2": (
            "<|tool_calls_section_begin|>",
            "<|tool_calls_section_begin|><|tool_call_begin|>functions.write_file:0<|tool_call_argument_begin|>"
            '{"path": "a.txt"}<|tool_call_end|><|tool_calls_section_end|>',
            "kimi_k2",
        ),
        "deepseek-r1": (
            "<｜tool▁calls▁begin｜>",
            '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>write_file<｜tool▁sep｜>{"path": "a.txt"}<｜tool▁call▁end｜>'
            "<｜tool▁calls▁end｜>",
            "deepseekv31",
        ),
    }[reasoning_name]
    open_tag, close_tag = ("[THINK]", "[/THINK]") if reasoning_name == "mistral" else ("<think>", "</think>")
    text = f"{open_tag}a {marker} b{close_tag}{call}"
    expected = (f"a {marker} b", "", [("write_file", {"path": "a.txt"})])
    assert assert_streams_like_one_shot(reasoning_name, tool_name, text) == expected
