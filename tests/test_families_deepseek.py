"""DeepSeek V3.2, V4 and V4.1: DSML tool calls, ``<think>`` reasoning, and the family renderers (our own code
written from DeepSeek's reference encoders) checked against the community Jinja ports."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import MappingProxyType

import litellm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers.utils.chat_template_utils import render_jinja_template

from sglang_native_provider.messages import normalize_messages
from sglang_native_provider.parsers import (
    REASONING_PARSERS,
    TOOL_CALL_PARSERS,
    detect_reasoning_parser,
    detect_tool_call_parser,
)
from sglang_native_provider.parsers.deepseek_v32 import DSML
from sglang_native_provider.renderers import RENDERERS, family_renderer
from sglang_native_provider.templating import render_prompt

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

PORTS = Path(__file__).parent / "fixtures" / "chat_templates_2026"
V32_PORT = "deepseek-ai-DeepSeek-V3.2.COMMUNITY-llamacpp.jinja"
V4_PORT = "deepseek-ai-DeepSeek-V4.COMMUNITY-llamacpp.jinja"
V4_SGLANG_PORT = "deepseek-ai-DeepSeek-V4.COMMUNITY-sglang.jinja"
BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
FAMILIES = {"deepseekv32": "deepseek-v3", "deepseekv4": "deepseek-v4", "deepseekv41": "deepseek-v41"}

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather forecast for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}},
        },
    },
    {
        "type": "function",
        "function": {"name": "get_time", "description": "Now", "parameters": {"type": "object", "properties": {}}},
    },
]
PARIS = ("get_weather", {"city": "Paris", "days": 3, "units": {"metric": True}, "note": " 2 spaces "})
NOON = ("get_time", {"zone": "CET"})
EMPTY = ("get_time", {})


def call(index: int, name: str, arguments: dict) -> dict:
    return {"id": f"call_{index}", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def rendered(family: str, messages: list[dict], **kwargs) -> str:
    render = RENDERERS[family]
    return render(normalize_messages(messages, "m"), tools=TOOLS, **kwargs)


def model_output(family: str, calls=(), content: str = "", reasoning: str | None = None, *, thinking=False) -> str:
    """What the model writes for one assistant turn, as the family's renderer renders that turn."""
    user = [{"role": "user", "content": "Weather in Paris? Time?"}]
    turn = {"role": "assistant", "content": content, "reasoning_content": reasoning}
    if calls:
        turn["tool_calls"] = [call(i, name, args) for i, (name, args) in enumerate(calls)]
    before = rendered(family, user, add_generation_prompt=True, thinking=thinking)
    after = rendered(family, [*user, turn], add_generation_prompt=False, thinking=thinking)
    assert after.startswith(before) and after.endswith(EOS)
    return after[len(before) : -len(EOS)]


def parse(family: str, text: str):
    result = TOOL_CALL_PARSERS[family]().parse(text, TOOLS)
    return result.content, [(c.name, json.loads(c.arguments)) for c in result.calls]


def stream_calls(family: str, pieces: list[str]):
    stream = TOOL_CALL_PARSERS[family]().stream(TOOLS)
    content, calls = "", []
    for piece in [*pieces, None]:
        more, new = stream.feed(piece) if piece is not None else stream.finish()
        content, calls = content + more, calls + [(c.name, c.arguments) for c in new]
    return content, calls


def one_shot_calls(family: str, text: str):
    result = TOOL_CALL_PARSERS[family]().parse(text, TOOLS)
    return result.content, [(c.name, c.arguments) for c in result.calls]


# --- tool calls -------------------------------------------------------------------------------------------


def test_registered_under_sglangs_names():
    for tool_parser, reasoning_parser in FAMILIES.items():
        assert TOOL_CALL_PARSERS[tool_parser]().names == (tool_parser,)
        assert reasoning_parser in REASONING_PARSERS[reasoning_parser]().names
    assert REASONING_PARSERS["deepseek-v3"] is REASONING_PARSERS["deepseek-v4"]  # SGLang: the same detector


@pytest.mark.parametrize("family", FAMILIES)
def test_calls_as_the_renderer_writes_them(family):
    text = model_output(family, [PARIS, NOON, EMPTY], content="Let me check.")
    assert parse(family, text) == ("Let me check.", [PARIS, NOON, EMPTY])


@pytest.mark.parametrize(("family", "port"), [("deepseekv32", V32_PORT), ("deepseekv4", V4_PORT)])
def test_calls_as_the_jinja_port_writes_them(family, port):
    user = [{"role": "user", "content": "Weather?"}]
    turn = {"role": "assistant", "content": "", "tool_calls": [call(0, *PARIS), call(1, *NOON)]}
    template = (PORTS / port).read_text()
    text, _ = render_jinja_template(
        conversations=[normalize_messages([*user, turn], "m")], tools=TOOLS, chat_template=template, bos_token=BOS
    )
    output = text[0].split("<｜Assistant｜></think>", 1)[1].removesuffix(EOS)
    assert parse(family, output) == ("", [PARIS, NOON])


def test_string_values_are_verbatim_and_others_json():
    block = (
        "<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"f\">\n"
        '<｜DSML｜parameter name="code" string="true">\nif a < b:\n    x = "</p>"\n</｜DSML｜parameter>\n'
        '<｜DSML｜parameter name="n" string="false">NaN</｜DSML｜parameter>\n'
        '<｜DSML｜parameter name="word" string="false">Paris</｜DSML｜parameter>\n'
        '<｜DSML｜parameter name="list" string="false">[1, "a"]</｜DSML｜parameter>\n'
        "</｜DSML｜invoke>\n</｜DSML｜function_calls>"
    )
    assert parse("deepseekv32", block)[1] == [
        ("f", {"code": '\nif a < b:\n    x = "</p>"\n', "n": "NaN", "word": "Paris", "list": [1, "a"]})
    ]


def test_json_body_and_self_closing_invoke():
    block = (
        '<｜DSML｜tool_calls>\n<｜DSML｜invoke name="get_weather">\n{"city": "Paris"}\n</｜DSML｜invoke>\n'
        '<｜DSML｜invoke name="get_time"/>\n</｜DSML｜tool_calls>'
    )
    result = TOOL_CALL_PARSERS["deepseekv4"]().parse(block, TOOLS)
    assert [(c.name, c.arguments) for c in result.calls] == [("get_weather", '{"city": "Paris"}'), ("get_time", "{}")]


PARAMETER = '<｜DSML｜parameter name="a" string="true">1</｜DSML｜parameter>'
V4_CALL = f'<｜DSML｜invoke name="f">\n{PARAMETER}\n</｜DSML｜invoke>'
MALFORMED = {
    "unclosed parameter": '<｜DSML｜invoke name="f">\n<｜DSML｜parameter name="a" string="true">1\n</｜DSML｜invoke>',
    "repeated parameter": V4_CALL.replace("</｜DSML｜invoke>", f"{PARAMETER}\n</｜DSML｜invoke>"),
    "stray text": V4_CALL.replace("</｜DSML｜invoke>", "and so on\n</｜DSML｜invoke>"),
    "no string attribute": V4_CALL.replace(' string="true"', ""),
    "unclosed invoke": '<｜DSML｜invoke name="f">\n<｜DSML｜parameter name="a" string="true">1</｜DSML｜parameter>\n',
    "no name": '<｜DSML｜invoke>\n</｜DSML｜invoke>',
    "JSON that is not an object": '<｜DSML｜invoke name="f">\n{"a": 1}}\n</｜DSML｜invoke>',
    "other dialect": V4_CALL.replace("｜DSML｜", "｜DSML｜ "),
    "empty block": "",
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_block_is_no_call(case):
    text = f"Before.\n\n<｜DSML｜tool_calls>\n{MALFORMED[case]}\n</｜DSML｜tool_calls>"
    content, calls = parse("deepseekv4", text)
    assert calls == [] and content.startswith("Before.")


def test_a_good_block_next_to_a_malformed_one_still_calls():
    good = f"<｜DSML｜tool_calls>\n{V4_CALL}\n</｜DSML｜tool_calls>"
    bad = f"<｜DSML｜tool_calls>\n{MALFORMED['stray text']}\n</｜DSML｜tool_calls>"
    assert parse("deepseekv4", f"{bad}\n{good}")[1] == [("f", {"a": "1"})]


def test_a_mention_of_the_markup_is_content():
    for family in FAMILIES:
        opening = TOOL_CALL_PARSERS[family].open
        for text in ('Write <｜DSML｜invoke name="f"> inside a calls block.', f"Open with {opening} and then"):
            assert parse(family, text) == (text, [])
            assert stream_calls(family, list(text)) == (text, [])


def invoke_end(family: str) -> str:
    return f"</{DSML}{TOOL_CALL_PARSERS[family].invoke_tag}>"


@pytest.mark.parametrize("family", FAMILIES)
def test_truncated_output_never_invents_a_call(family):
    """A prefix holds no call until the call is complete (its invoke closed), whether or not the calls block
    around it was closed too (issue 20, item 2: a complete call is returned, a half-written one never)."""
    text = model_output(family, [PARIS], content="Checking.")
    complete = text.index(invoke_end(family)) + len(invoke_end(family))
    for cut in range(len(text)):
        content, calls = parse(family, text[:cut])
        assert calls == ([PARIS] if cut >= complete else []) and content.startswith(text[:cut][: len("Checking.")])


@pytest.mark.parametrize("family", FAMILIES)
def test_streaming_at_every_split_equals_one_shot(family):
    text = model_output(family, [PARIS, EMPTY], content="Checking.")
    expected = one_shot_calls(family, text)
    assert len(expected[1]) == 2
    assert stream_calls(family, list(text)) == expected
    for cut in range(len(text) + 1):
        assert stream_calls(family, [text[:cut], text[cut:]]) == expected


MARKUP = st.sampled_from(
    sorted({m for f in FAMILIES for m in TOOL_CALL_PARSERS[f].markers} | {'name="f"', 'string="true"', ">", "\n", "{}"})
)


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(st.one_of(MARKUP, st.text(max_size=6)), max_size=14), data=st.data())
def test_arbitrary_text_never_raises_and_streams_like_one_shot(parts, data):
    text = "".join(parts)
    for family in FAMILIES:
        expected = one_shot_calls(family, text)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=4)))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert stream_calls(family, pieces) == expected


# --- reasoning --------------------------------------------------------------------------------------------


def reason(name: str, text: str, *, opened: bool):
    result = REASONING_PARSERS[name]().parse(text, opened=opened)
    return result.reasoning, result.content


def stream_reasoning(name: str, pieces: list[str], *, opened: bool):
    stream = REASONING_PARSERS[name]().stream(opened=opened)
    reasoning, content = "", ""
    for piece in [*pieces, None]:
        more_reasoning, more_content = stream.feed(piece) if piece is not None else stream.finish()
        reasoning, content = reasoning + more_reasoning, content + more_content
    return reasoning, content


@pytest.mark.parametrize("family", FAMILIES)
def test_reasoning_the_prompt_opened(family):
    text = model_output(family, [PARIS], content="Checking.", reasoning="Need the weather.", thinking=True)
    reasoning, content = reason(FAMILIES[family], text, opened=True)
    assert reasoning == "Need the weather."
    assert parse(family, content) == ("Checking.", [PARIS])


def test_chat_mode_output_is_content():
    assert reason("deepseek-v4", "Hello </think> there", opened=False) == (None, "Hello </think> there")


@pytest.mark.parametrize("family", FAMILIES)
def test_a_calls_block_ends_unclosed_reasoning(family):
    calls = model_output(family, [PARIS])
    reasoning, content = reason(FAMILIES[family], "I should look it up." + calls, opened=True)
    assert reasoning == "I should look it up." and parse(family, content) == ("", [PARIS])


@pytest.mark.parametrize("family", FAMILIES)
def test_reasoning_streams_like_one_shot_at_every_split(family):
    name = FAMILIES[family]
    for text, opened in (
        ("Think.\n\nMore." + model_output(family, [NOON]), True),
        (model_output(family, [NOON], reasoning="Think.", content="Sure.", thinking=True), True),
        ("<think>x</think>\n\nAnswer.", False),
        ("Answer <｜DSML｜ mention.", False),
    ):
        expected = reason(name, text, opened=opened)
        expected = (expected[0] or "", expected[1])
        assert stream_reasoning(name, list(text), opened=opened) == expected
        for cut in range(len(text) + 1):
            assert stream_reasoning(name, [text[:cut], text[cut:]], opened=opened) == expected


# --- renderers against the Jinja ports --------------------------------------------------------------------

CONVERSATIONS = {
    "system and user": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}],
    "multi-turn with reasoning": [
        {"role": "system", "content": "Think first."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!", "reasoning_content": "Greet back."},
        {"role": "user", "content": "2+2?"},
    ],
    "tool calls and results": [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Weather in Paris, time in Berlin?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "reasoning_content": "Two tools.",
            "tool_calls": [call(1, *PARIS), call(2, *NOON)],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
    ],
    "answer after tool results, then a user turn": [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "tool_calls": [call(1, *PARIS)]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "assistant", "content": "Sunny.", "reasoning_content": "Easy."},
        {"role": "user", "content": "Thanks"},
    ],
}
SETTINGS = [
    {},
    {"thinking": True},
    {"thinking": True, "drop_thinking": False},
    {"thinking": True, "reasoning_effort": "max"},
]


def port(template: str, messages: list[dict], **kwargs) -> str:
    text, _ = render_jinja_template(
        conversations=[normalize_messages(messages, "m")],
        tools=TOOLS,
        chat_template=(PORTS / template).read_text(),
        add_generation_prompt=True,
        bos_token=BOS,
        **kwargs,
    )
    return text[0]


@pytest.mark.parametrize("conversation", CONVERSATIONS)
@pytest.mark.parametrize("kwargs", SETTINGS, ids=lambda kwargs: ",".join(kwargs) or "chat")
def test_v4_renderer_equals_the_llamacpp_port(conversation, kwargs):
    messages = CONVERSATIONS[conversation]
    assert rendered("deepseekv4", messages, add_generation_prompt=True, **kwargs) == port(V4_PORT, messages, **kwargs)


@pytest.mark.parametrize("conversation", CONVERSATIONS)
@pytest.mark.parametrize("kwargs", SETTINGS, ids=lambda kwargs: ",".join(kwargs) or "chat")
def test_v32_renderer_equals_the_llamacpp_port_but_for_the_chat_mode_header(conversation, kwargs):
    """Deliberate difference: in chat mode the encoder opens the answer with ``</think>``, as it renders every
    earlier answer; the port writes ``<think></think>`` for the answer being generated."""
    messages = CONVERSATIONS[conversation]
    ours = rendered("deepseekv32", messages, add_generation_prompt=True, **kwargs)
    theirs = port(V32_PORT, messages, **kwargs)
    if not kwargs.get("thinking"):
        assert theirs.endswith("<think></think>")
        theirs = theirs.removesuffix("<think></think>") + "</think>"
    assert ours == theirs


def test_v4_renderer_and_the_sglang_port_differ_only_by_the_ports_missing_think():
    """The SGLang port writes kept reasoning without the ``<think>`` before it (the encoder's user turn ends
    with ``<｜Assistant｜><think>``) and history calls as one ``arguments`` parameter; elsewhere it agrees. It
    needs ``list.append``, so it is rendered in a plain sandbox with transformers' ``tojson``."""
    from jinja2.sandbox import SandboxedEnvironment

    environment = SandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    environment.filters["tojson"] = lambda value: json.dumps(value, ensure_ascii=False)
    template = environment.from_string((PORTS / V4_SGLANG_PORT).read_text())
    for key in ("system and user", "multi-turn with reasoning"):
        messages = normalize_messages(CONVERSATIONS[key], "m")
        for kwargs in ({}, {"thinking": True}):
            theirs = template.render(
                messages=messages, tools=TOOLS, add_generation_prompt=True, bos_token=BOS, **kwargs
            )
            ours = rendered("deepseekv4", messages, add_generation_prompt=True, **kwargs)
            assert ours.replace("<｜Assistant｜><think>Greet back.", "<｜Assistant｜>Greet back.") == theirs


DIFFERENCES = {
    # tools without a system message: the encoder hosts them in an empty system message (SGLang adds one)
    "tools, no system": ([{"role": "user", "content": "Hi"}], "\n\n## Tools", "## Tools"),
    # several system messages: the encoder writes each where it is, joined by nothing; the ports join them
    "two system messages": (
        [{"role": "system", "content": "A"}, {"role": "system", "content": "B"}, {"role": "user", "content": "Hi"}],
        "AB<｜User｜>",
        "A\n\nB<｜User｜>",
    ),
}


@pytest.mark.parametrize("case", DIFFERENCES)
@pytest.mark.parametrize(("family", "template"), [("deepseekv32", V32_PORT), ("deepseekv4", V4_PORT)])
def test_deliberate_differences_from_the_ports(case, family, template):
    messages, ours, theirs = DIFFERENCES[case]
    tools = TOOLS if "tools" in case else None
    text = RENDERERS[family](normalize_messages(messages, "m"), tools=tools, add_generation_prompt=True, thinking=True)
    ported, _ = render_jinja_template(
        conversations=[normalize_messages(messages, "m")],
        tools=tools,
        chat_template=(PORTS / template).read_text(),
        add_generation_prompt=True,
        bos_token=BOS,
        thinking=True,
    )
    assert ours in text and theirs in ported[0]
    assert text.replace(ours, theirs) == ported[0]


def test_v32_zero_argument_call_keeps_the_encoders_blank_line():
    text = model_output("deepseekv32", [EMPTY])
    assert '<｜DSML｜invoke name="get_time">\n\n</｜DSML｜invoke>' in text  # the port writes no blank line


def test_v41_dialect_system_token_and_effort():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "", "tool_calls": [call(1, *NOON)]},
        {"role": "tool", "tool_call_id": "call_1", "content": "noon"},
        {"role": "system", "content": "Reminder."},
    ]
    chat = rendered("deepseekv41", messages, add_generation_prompt=True)
    assert chat.startswith(BOS + "<｜System｜>Be brief.\n\n## Tools")
    assert '<｜DSML｜ calls>\n<｜DSML｜ invoke name="get_time">\n' in chat
    assert '<｜DSML｜ parameter name="zone" string="true">CET</｜DSML｜ parameter>' in chat
    assert chat.endswith("<｜User｜><tool_result>noon</tool_result><｜System｜>Reminder.<｜Assistant｜></think>")
    thinking = rendered("deepseekv41", messages[:2], add_generation_prompt=True, thinking=True, reasoning_effort=80)
    assert thinking.startswith(BOS + "<｜System｜>Reasoning Effort: 80 (range 1-100, ")
    assert thinking.endswith("\n\nBe brief.\n\n" + thinking.split("\n\nBe brief.\n\n", 1)[1])
    assert "Reasoning Effort: 50 " in rendered("deepseekv41", messages[:2], thinking=True)
    with pytest.raises(ValueError, match="reasoning_effort"):
        rendered("deepseekv41", messages[:2], thinking=True, reasoning_effort="extreme")


def test_v4_tool_results_follow_the_order_of_the_calls():
    messages = [
        {"role": "user", "content": "Both?"},
        {"role": "assistant", "content": "", "tool_calls": [call(1, *PARIS), call(2, *NOON)]},
        {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "user", "content": "And?"},
    ]
    text = rendered("deepseekv4", messages, add_generation_prompt=True)
    results = "<tool_result>sunny</tool_result>\n\n<tool_result>noon</tool_result>"
    assert text.endswith(f"<｜User｜>{results}\n\nAnd?<｜Assistant｜></think>")


@pytest.mark.parametrize("family", RENDERERS)
def test_generation_prompt_and_continued_final_message(family):
    user = [{"role": "user", "content": "Hi"}]
    prompted = rendered(family, user, add_generation_prompt=True)
    bare = rendered(family, user, add_generation_prompt=False)
    assert prompted == bare + "<｜Assistant｜></think>"
    prefill = rendered(family, [*user, {"role": "assistant", "content": "Sure"}], continue_final_message=True)
    assert prefill == prompted + "Sure"


def test_a_tool_result_without_a_call_is_refused():
    with pytest.raises(ValueError, match="without a matching tool call"):
        rendered("deepseekv32", [{"role": "user", "content": "Hi"}, {"role": "tool", "content": "x"}])


NO_KWARGS = {"chat_template_kwargs": {}, "model": "m"}


class _NoTemplateTokenizer:
    chat_template = None
    added_tokens_decoder = MappingProxyType({})

    def encode(self, text, add_special_tokens=False):
        return [ord(c) for c in text]


def test_renderer_is_chosen_by_chat_template_and_detected():
    for family, reasoning in FAMILIES.items():
        assert detect_tool_call_parser(f"renderer:{family}") == family
        assert detect_reasoning_parser(f"renderer:{family}") == reasoning
    for template, family in ((V32_PORT, "deepseekv32"), (V4_PORT, "deepseekv4"), (V4_SGLANG_PORT, "deepseekv4")):
        assert detect_tool_call_parser((PORTS / template).read_text()) == family
    assert family_renderer("{{ messages }}") is None
    messages = normalize_messages([{"role": "user", "content": "Hi"}], "m")
    tokenizer = _NoTemplateTokenizer()
    ids = render_prompt(tokenizer, messages, tools=TOOLS, chat_template="renderer:deepseekv4", **NO_KWARGS)
    assert "".join(map(chr, ids)) == RENDERERS["deepseekv4"](messages, tools=TOOLS, add_generation_prompt=True)
    with pytest.raises(litellm.BadRequestError, match="unknown family renderer 'deepseekv9'"):
        render_prompt(tokenizer, messages, tools=None, chat_template="renderer:deepseekv9", **NO_KWARGS)


# --- two-turn round trips through the provider and the emulator -------------------------------------------


@pytest.fixture(scope="module")
def deepseek_emulator():
    from sglang_native_provider.emulator import Emulator

    with Emulator("deepseek-v4") as emu:
        yield emu


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("thinking", [False, True], ids=["chat", "thinking"])
@pytest.mark.parametrize("family", FAMILIES)
async def test_two_turn_round_trip(deepseek_emulator, family, thinking, stream):
    """DeepSeek V4's real tokenizer (standing in for V3.2's and V4.1's, which share its markup tokens), the
    family renderer, and the family's parsers picked from ``chat_template`` alone."""
    import sglang_native_provider

    sglang_native_provider.register()
    emulator, tokenizer = deepseek_emulator, deepseek_emulator.tokenizer
    reasoning = "The user wants the weather." if thinking else None
    output = model_output(family, [PARIS], content="Let me check.", reasoning=reasoning, thinking=thinking)
    emulator.script(output, ("Report it.</think>" if thinking else "") + "It is sunny.")
    settings = {
        "model": "sglang_native/deepseek",
        "api_base": emulator.url,
        "tokenizer": "offline:deepseek-v4",
        "chat_template": f"renderer:{family}",
        "chat_template_kwargs": {"thinking": thinking},
        "tools": TOOLS,
    }
    messages = [{"role": "user", "content": "Weather in Paris? Time?"}]
    if stream:
        chunks = [chunk async for chunk in await litellm.acompletion(messages=messages, stream=True, **settings)]
        message = litellm.stream_chunk_builder(chunks).choices[0].message
    else:
        message = (await litellm.acompletion(messages=messages, **settings)).choices[0].message
    first_prompt = emulator.requests[-1]["input_ids"]
    assert tokenizer.decode(first_prompt) == rendered(family, messages, add_generation_prompt=True, thinking=thinking)
    assert [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [PARIS]
    assert message.content == "Let me check."
    assert getattr(message, "reasoning_content", None) == reasoning
    messages += [message, {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny"}]
    second = await litellm.acompletion(messages=messages, **settings)
    assert second.choices[0].message.content == "It is sunny."
    assert getattr(second.choices[0].message, "reasoning_content", None) == ("Report it." if thinking else None)
    fields = second.choices[0].message.provider_specific_fields
    completion = message.provider_specific_fields["completion_token_ids"]
    assert emulator.requests[-1]["input_ids"][: len(first_prompt) + len(completion)] == first_prompt + completion
    assert fields["template_drift"]["detected"] is False  # the renderer re-renders the model's turn exactly


# --- against SGLang 0.5.23's own DSML detectors -----------------------------------------------------------

_SGLANG_MODULES = ("core_types", "utils", "base_format_detector", "deepseekv32_detector", "deepseekv4_detector")
_SGLANG_MODULES += ("deepseekv41_detector",)


@pytest.fixture(scope="module")
def sglang_detectors(tmp_path_factory):
    """SGLang's DeepSeek detectors loaded from the pinned wheel by path, with stubs for what they import but
    never use on this path (request types, settings, the partial-JSON parser of streamed JSON calls)."""
    import sys
    import types
    import zipfile

    from _support import pinned_sglang_wheel

    root = tmp_path_factory.mktemp("sglang")
    with zipfile.ZipFile(pinned_sglang_wheel()) as wheel:
        for module in _SGLANG_MODULES:
            wheel.extract(f"sglang/srt/function_call/{module}.py", root)

    def stub(name: str, **attributes) -> types.ModuleType:
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        return module

    setting = types.SimpleNamespace(get=lambda: False)
    stubs = {
        "sglang": stub("sglang", __path__=[str(root / "sglang")]),
        "sglang.srt": stub("sglang.srt", __path__=[str(root / "sglang/srt")]),
        "sglang.srt.function_call": stub("sglang.srt.function_call", __path__=[str(root / "sglang/srt/function_call")]),
        "sglang.srt.entrypoints": stub("sglang.srt.entrypoints", __path__=[]),
        "sglang.srt.entrypoints.openai": stub("sglang.srt.entrypoints.openai", __path__=[]),
        "sglang.srt.entrypoints.openai.protocol": stub("protocol", Tool=object, ToolChoice=object),
        "sglang.srt.environ": stub("environ", envs=types.SimpleNamespace(SGLANG_FORWARD_UNKNOWN_TOOLS=setting)),
        "partial_json_parser": stub("partial_json_parser", __path__=[], loads=None),
        "partial_json_parser.core": stub("partial_json_parser.core", __path__=[]),
        "partial_json_parser.core.exceptions": stub("exceptions", MalformedJSON=ValueError),
        "partial_json_parser.core.options": stub("options", Allow=types.SimpleNamespace(ALL=0, STR=1)),
    }
    saved = {name: sys.modules.get(name) for name in stubs}
    sys.modules.update(stubs)
    try:
        import importlib

        modules = {
            family: importlib.import_module(f"sglang.srt.function_call.{family}_detector") for family in FAMILIES
        }
        yield {
            "deepseekv32": modules["deepseekv32"].DeepSeekV32Detector,
            "deepseekv4": modules["deepseekv4"].DeepSeekV4Detector,
            "deepseekv41": modules["deepseekv41"].DeepSeekV41Detector,
        }
    finally:
        for name in [*stubs, *(f"sglang.srt.function_call.{module}" for module in _SGLANG_MODULES)]:
            sys.modules.pop(name, None)
        sys.modules.update({name: module for name, module in saved.items() if module is not None})


def sglang_parse(detectors, family: str, text: str):
    from types import SimpleNamespace

    names = ("get_weather", "get_time", "f")
    tools = [SimpleNamespace(function=SimpleNamespace(name=name, parameters={})) for name in names]
    result = detectors[family]().detect_and_parse(text, tools)
    return result.normal_text, [(call.name, json.loads(call.parameters)) for call in result.calls]


def _differential_cases():
    for family in FAMILIES:
        for calls in ([NOON], [NOON, EMPTY], []):
            text = model_output(family, calls, content="Let me check." if calls else "Sunny.")
            yield family, "rendered", text
            yield from ((family, f"cut at {cut}", text[:cut]) for cut in range(0, len(text), 3))
    for case, payload in MALFORMED.items():
        if case not in ("repeated parameter", "stray text"):
            yield "deepseekv4", case, f"Before.\n\n<｜DSML｜tool_calls>\n{payload}\n</｜DSML｜tool_calls>"


def complete_calls_of_a_cut_block(family: str, text: str):
    """The calls complete in ``text`` when it was cut off inside a calls block after at least one invoke closed
    (the block's closing tag never came), else None: we return those calls, SGLang none (issue 20, item 2)."""
    parser = TOOL_CALL_PARSERS[family]
    opening, end = text.rfind(parser.open), text.rfind(invoke_end(family))
    if opening == -1 or parser.close in text[opening:] or end < opening:
        return None
    return parse(family, text[: end + len(invoke_end(family))] + parser.close)[1]


def test_dsml_parsing_agrees_with_sglangs_detectors(sglang_detectors):
    """On calls as the renderer writes them, on every 3rd prefix of those and on malformed blocks, our parsers
    and SGLang's agree, but for prefixes cut inside the calls block after a complete call: SGLang drops the
    block, we return the complete calls; the other deliberate differences are the next test's."""
    cases = list(_differential_cases())
    assert len(cases) > 300
    disagreements, cut_blocks = [], 0
    for family, case, text in cases:
        ours, sglangs = parse(family, text), sglang_parse(sglang_detectors, family, text)
        complete = complete_calls_of_a_cut_block(family, text)
        if complete:
            cut_blocks += 1
            assert sglangs[1] == [] and ours == (sglangs[0], complete), (family, case)
        elif ours != sglangs:
            disagreements.append((family, case))
    assert disagreements == []
    assert cut_blocks > 50


V4_BLOCK = "<｜DSML｜tool_calls>\n{}\n</｜DSML｜tool_calls>"
DIFFERENCES_FROM_SGLANG = {
    # a string value is kept exactly as written (the encoder writes it so); SGLang strips it
    "string value": (V4_BLOCK.format(V4_CALL.replace(">1<", "> 1 <")), [("f", {"a": " 1 "})], [("f", {"a": "1"})]),
    # DeepSeek's own parser refuses a repeated parameter and stray text; SGLang keeps the last / skips the text
    "repeated parameter": (V4_BLOCK.format(MALFORMED["repeated parameter"]), [], [("f", {"a": "1"})]),
    "stray text": (V4_BLOCK.format(MALFORMED["stray text"]), [], [("f", {"a": "1"})]),
    # an invoke outside a calls block is a mention; SGLang reads it as a call
    "bare invoke": (f"See {V4_CALL}", [], [("f", {"a": "1"})]),
}


@pytest.mark.parametrize("case", DIFFERENCES_FROM_SGLANG)
def test_deliberate_differences_from_sglang(sglang_detectors, case):
    text, ours, sglangs = DIFFERENCES_FROM_SGLANG[case]
    assert parse("deepseekv4", text)[1] == ours
    assert sglang_parse(sglang_detectors, "deepseekv4", text)[1] == sglangs
