"""``tool_choice``: "required" and a named function force a call through SGLang's structural tag, written in the
family's own markup (a legacy frame, or the model-native xgrammar tag SGLang sends for the family), and the
constrained output parses with the family's parser."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import litellm
import pytest
from _support import chat

import sglang_native_provider
from sglang_native_provider.demo import WEATHER_TOOL
from sglang_native_provider.emulator import Emulator
from sglang_native_provider.emulator.grammar import forced_call_text
from sglang_native_provider.parsers import TOOL_CALL_PARSERS
from sglang_native_provider.structural_tags import NATIVE_TAGS, XGRAMMAR_MODELS
from sglang_native_provider.tool_choice import CALL_FRAMES, resolve_tool_choice, supported_parsers

TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": True,
    },
}
QWEN_CALL = '<tool_call>\n{"name":"get_weather", "arguments":{"city": "Paris"}}\n</tool_call>'
QWEN_BEGIN = '<tool_call>\n{"name":"get_weather", "arguments":'
XGRAMMAR_TAGS = json.loads((Path(__file__).parent / "fixtures" / "xgrammar_structural_tags.json").read_text())


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


def sent_tag(emulator: Emulator) -> dict:
    return json.loads(emulator.requests[-1]["sampling_params"]["structural_tag"])


@pytest.mark.parametrize("parser_name", sorted(CALL_FRAMES))
def test_a_forced_call_in_each_familys_frame_parses_with_its_parser(parser_name):
    frame = CALL_FRAMES[parser_name]
    structure = frame.structure(WEATHER_TOOL)
    assert structure["begin"].startswith(frame.trigger_for(WEATHER_TOOL))
    output = structure["begin"] + '{"city": "Paris"}' + structure["end"]
    parsed = TOOL_CALL_PARSERS[parser_name]().parse(output, [WEATHER_TOOL])
    assert [(call.name, json.loads(call.arguments)) for call in parsed.calls] == [("get_weather", {"city": "Paris"})]
    assert parsed.content == ""


def test_the_frames_are_sglangs_for_every_parser_it_frames_and_only_those():
    """The parsers whose SGLang 0.5.23 detector writes a legacy frame (``structure_info``, ``supports_structural_tag``
    and no model-native tag); V3.1 differs on purpose (SGLang's frame omits the calls section its parser needs).
    Kimi K2 has a frame in SGLang too, but a forced call there takes its native tag."""
    assert set(CALL_FRAMES) == {
        *("qwen25", "qwen", "trinity", "hermes", "llama3", "mistral", "deepseekv3", "deepseekv31"),
        *("apertus2509", "interns1", "inkling"),
    }
    assert CALL_FRAMES["apertus2509"].structure(WEATHER_TOOL)["begin"] == '<|tools_prefix|>[{"get_weather": '
    assert CALL_FRAMES["interns1"].structure(WEATHER_TOOL) == {
        "begin": '<|action_start|> <|plugin|>\n{"name": "get_weather", "parameters": ',
        "schema": {},
        "end": "}<|action_end|>",
    }


def test_each_parser_class_declares_how_sglang_forces_its_calls():
    """The frames and native tags are the registered parsers' own (``call_frame``, ``structural_tag_name``):
    a name's frame is its class's, and its native tag the builder of the xgrammar model its class names."""
    for name, parser in TOOL_CALL_PARSERS.items():
        assert CALL_FRAMES.get(name) is parser.call_frame
        model = parser.structural_tag_name
        assert NATIVE_TAGS.get(name) is (XGRAMMAR_MODELS[model] if model is not None else None)
    assert {parser.structural_tag_name for parser in TOOL_CALL_PARSERS.values()} - {None} == set(XGRAMMAR_MODELS)
    assert TOOL_CALL_PARSERS["trinity"].call_frame is TOOL_CALL_PARSERS["qwen25"].call_frame  # inherited
    assert TOOL_CALL_PARSERS["mimo"].structural_tag_name is None  # not Qwen3-Coder's: SGLang's MiMo names none


@pytest.mark.parametrize(
    ("parser_name", "output"),
    [
        ("apertus2509", '<|tools_prefix|>[{"get_time": {"city": "Paris"}}]<|tools_suffix|>'),
        (
            "interns1",
            '<|action_start|> <|plugin|>\n{"name": "get_time", "parameters": {"city": "Paris"}}<|action_end|>',
        ),
        ("trinity", '<tool_call>\n{"name":"get_time", "arguments":{"city": "Paris"}}\n</tool_call>'),
        (
            "inkling",
            '<|message_model|>get_time<|content_invoke_tool_json|>{"name":"get_time","args":{"city": "Paris"}}'
            "<|end_message|>",
        ),
    ],
)
async def test_the_new_legacy_frames_force_a_call_end_to_end(emulator, parser_name, output):
    emulator.script(output)
    response = await chat(
        emulator, tools=[WEATHER_TOOL, TIME_TOOL], tool_choice="required", tool_call_parser=parser_name
    )
    tag = sent_tag(emulator)
    assert [structure["begin"] for structure in tag["structures"]] == [
        CALL_FRAMES[parser_name].structure(tool)["begin"] for tool in (WEATHER_TOOL, TIME_TOOL)
    ]
    assert tag["at_least_one"] is True
    message = response.choices[0].message
    assert [(call.function.name, json.loads(call.function.arguments)) for call in message.tool_calls] == [
        ("get_time", {"city": "Paris"})
    ]


def test_a_frame_whose_trigger_names_the_function_has_one_trigger_per_forced_tool():
    choice = resolve_tool_choice("required", [WEATHER_TOOL, TIME_TOOL], "inkling", drop_params=False, model="m")
    assert json.loads(choice.structural_tag)["triggers"] == [
        "<|message_model|>get_weather<|content_invoke_tool_json|>",
        "<|message_model|>get_time<|content_invoke_tool_json|>",
    ]
    choice = resolve_tool_choice("required", [WEATHER_TOOL, TIME_TOOL], "hermes", drop_params=False, model="m")
    assert json.loads(choice.structural_tag)["triggers"] == ["<tool_call>"]


async def test_required_forces_a_call_to_any_tool_after_the_reasoning(emulator):
    emulator.script("<think>\nThe user wants weather.\n</think>\n\n" + QWEN_CALL)
    response = await chat(emulator, tools=[WEATHER_TOOL, TIME_TOOL], tool_choice="required")
    assert sent_tag(emulator) == {
        "type": "structural_tag",
        "structures": [
            {"begin": QWEN_BEGIN, "schema": {}, "end": "}\n</tool_call>"},  # not strict: any JSON arguments
            {
                "begin": '<tool_call>\n{"name":"get_time", "arguments":',
                "schema": TIME_TOOL["function"]["parameters"],
                "end": "}\n</tool_call>",
            },
        ],
        "triggers": ["<tool_call>"],
        "at_least_one": True,
    }
    # Qwen3 thinks first by default: SGLang applies the grammar after </think>
    assert emulator.requests[-1]["require_reasoning"] is True
    message = response.choices[0].message
    assert message.reasoning_content == "The user wants weather."
    assert [(call.function.name, json.loads(call.function.arguments)) for call in message.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert response.choices[0].finish_reason == "tool_calls"


async def test_a_named_function_forces_that_function_with_every_tool_still_in_the_prompt(emulator, qwen3_tokenizer):
    emulator.script('<tool_call>\n{"name":"get_time", "arguments":{"city": "Paris"}}\n</tool_call>')
    named = {"type": "function", "function": {"name": "get_time"}}
    messages = [{"role": "user", "content": "Time in Paris?"}]
    response = await chat(
        emulator,
        messages=messages,
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice=named,
        reasoning_effort="none",
        allowed_openai_params=["reasoning_effort"],
    )
    assert [structure["begin"] for structure in sent_tag(emulator)["structures"]] == [
        '<tool_call>\n{"name":"get_time", "arguments":'
    ]
    assert "require_reasoning" not in emulator.requests[-1]  # thinking off: the prompt closed the block
    prompt = qwen3_tokenizer.decode(emulator.requests[-1]["input_ids"])
    assert '"name": "get_weather"' in prompt and '"name": "get_time"' in prompt
    assert response.choices[0].message.tool_calls[0].function.name == "get_time"


async def test_a_forced_call_streams(emulator):
    emulator.script(QWEN_CALL)
    stream = await chat(
        emulator,
        tools=[WEATHER_TOOL],
        tool_choice="required",
        stream=True,
        chat_template_kwargs={"enable_thinking": False},
    )
    chunks = [chunk async for chunk in stream]
    assert sent_tag(emulator)["structures"][0]["begin"] == QWEN_BEGIN
    assert emulator.requests[-1]["stream"] is True
    calls = [call for chunk in chunks for call in (chunk.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "get_weather"
    assert json.loads("".join(call.function.arguments or "" for call in calls)) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_auto_and_none_send_no_constraint_and_keep_the_tools_in_the_prompt(emulator, qwen3_tokenizer):
    for choice in ("auto", "none", None):
        emulator.script("Sunny.")
        await chat(emulator, tools=[WEATHER_TOOL], tool_choice=choice)
        assert "structural_tag" not in emulator.requests[-1]["sampling_params"]
        assert "require_reasoning" not in emulator.requests[-1]
        assert '"name": "get_weather"' in qwen3_tokenizer.decode(emulator.requests[-1]["input_ids"])


async def test_a_family_without_a_frame_is_refused_or_dropped_with_a_warning(emulator, caplog):
    emulator.script("Sunny.")
    with caplog.at_level(logging.WARNING, logger="sglang_native_provider"):
        await chat(
            emulator, tools=[WEATHER_TOOL], tool_choice="required", tool_call_parser="pythonic", drop_params=True
        )
    assert "structural_tag" not in emulator.requests[-1]["sampling_params"]
    assert "the pythonic tool-call parser has none" in caplog.text


@pytest.fixture
def llama_emulator():
    with Emulator("llama3.1", eos_token_ids=[128009, 128008]) as emulator:  # <|eot_id|>, <|eom_id|>
        yield emulator


async def test_llama_forced_call_uses_the_python_tag_frame(llama_emulator, llama_tokenizer):
    call = '{"name":"get_weather", "arguments":{"city": "Paris"}}'
    python_tag, eom = llama_tokenizer.convert_tokens_to_ids(["<|python_tag|>", "<|eom_id|>"])
    llama_emulator.script([python_tag, *llama_tokenizer.encode(call, add_special_tokens=False), eom])
    response = await litellm.acompletion(
        model="sglang_native/llama3.1",
        api_base=llama_emulator.url,
        tokenizer="offline:llama3.1",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    sent = llama_emulator.requests[-1]
    assert sent_tag(llama_emulator)["structures"] == [
        {"begin": '<|python_tag|>{"name":"get_weather", "arguments":', "schema": {}, "end": "}"}
    ]
    assert sent["sampling_params"]["skip_special_tokens"] is False and "require_reasoning" not in sent
    assert response.choices[0].message.tool_calls[0].function.name == "get_weather"


async def test_unscripted_the_emulator_writes_the_call_the_structural_tag_forces(emulator):
    response = await chat(
        emulator,
        tools=[TIME_TOOL, WEATHER_TOOL],
        tool_choice="required",
        reasoning_effort="none",
        allowed_openai_params=["reasoning_effort"],
    )
    (call,) = response.choices[0].message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_time", {"city": ""})  # strict schema
    named = {"type": "function", "function": {"name": "get_weather"}}
    response = await chat(emulator, tools=[TIME_TOOL, WEATHER_TOOL], tool_choice=named)
    (call,) = response.choices[0].message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {})  # any arguments


# ---- model-native structural tags (xgrammar's formats), as SGLang 0.5.23 sends them ----


def _fixture_cases(*, native: bool):
    return [
        pytest.param(case, id=f"{case['parser']}:{case['tools']}:{case['tool_choice']}:{case['parallel_tool_calls']}")
        for case in XGRAMMAR_TAGS["cases"]
        if (case["parser"] in NATIVE_TAGS) == native and "tag" in case
    ]


def _our_tag(case: dict) -> dict:
    tools = XGRAMMAR_TAGS["tool_sets"][case["tools"]]
    choice = XGRAMMAR_TAGS["tool_choices"][case["tool_choice"]]
    resolved = resolve_tool_choice(
        choice, tools, case["parser"], drop_params=False, model="m", parallel_tool_calls=case["parallel_tool_calls"]
    )
    return json.loads(resolved.structural_tag)


def test_the_fixture_was_dumped_from_real_sglang_and_xgrammar():
    assert XGRAMMAR_TAGS["provenance"].startswith("SGLang 0.5.23 with xgrammar 0.2.7:")
    assert "parallel_tool_calls=case['parallel_tool_calls']" in XGRAMMAR_TAGS["provenance"]
    assert {case["parser"] for case in XGRAMMAR_TAGS["cases"] if "tag" in case} == set(supported_parsers())
    # every parser, tool set and choice with both values of parallel_tool_calls
    keyed = {(c["parser"], c["tools"], c["tool_choice"], c["parallel_tool_calls"]) for c in XGRAMMAR_TAGS["cases"]}
    assert len(keyed) == len(XGRAMMAR_TAGS["cases"])
    assert {key[:3] for key in keyed if key[3]} == {key[:3] for key in keyed if not key[3]}


def _by_parallel(parser_name: str, tools: str, choice: str) -> dict[bool, dict]:
    return {
        case["parallel_tool_calls"]: case.get("tag")
        for case in XGRAMMAR_TAGS["cases"]
        if (case["parser"], case["tools"], case["tool_choice"]) == (parser_name, tools, choice)
    }


def test_parallel_tool_calls_false_caps_sglangs_native_tags_at_one_call_and_leaves_legacy_frames():
    """What the fixture shows of real SGLang: False sets ``stop_after_first`` on every native "required" tag
    (a named call is one tag already, except Harmony's, which becomes an optional single call); the legacy
    frames are the same either way."""
    for parser_name in supported_parsers():
        required = _by_parallel(parser_name, "weather_time", "required")
        named = _by_parallel(parser_name, "weather_time", "named")
        if parser_name not in NATIVE_TAGS:
            assert required[False] == required[True] and named[False] == named[True]
            continue
        assert '"stop_after_first": true' not in json.dumps(required[True])
        capped = json.dumps(required[True]).replace('"stop_after_first": false', '"stop_after_first": true')
        assert (json.dumps(required[False]) == capped) == (parser_name != "gpt-oss")
        assert (named[False] == named[True]) == (parser_name != "gpt-oss")
    harmony = _by_parallel("gpt-oss", "weather_time", "required")[False]["format"]
    assert harmony["type"] == "optional"
    assert (harmony["content"]["at_least_one"], harmony["content"]["stop_after_first"]) == (True, True)


@pytest.mark.parametrize("case", _fixture_cases(native=True))
def test_native_tags_are_the_json_sglang_gets_from_xgrammar(case):
    assert _our_tag(case) == case["tag"]


@pytest.mark.parametrize("case", _fixture_cases(native=False))
def test_legacy_frames_are_sglangs_but_a_named_function_frames_only_that_function(case):
    """Where we differ on purpose: SGLang frames every tool even for a named function (we frame the named one),
    and its DeepSeek V3.1 frame lacks the calls section V3.1's parser reads. Trigger order is a set's there."""
    ours, sglang = _our_tag(case), dict(case["tag"])
    if case["tool_choice"] != "required":
        named = XGRAMMAR_TAGS["tool_choices"][case["tool_choice"]]["function"]["name"]
        sglang["structures"] = [s for s in sglang["structures"] if named in s["begin"]]
        sglang["triggers"] = [
            t for t in sglang["triggers"] if any(s["begin"].startswith(t) for s in sglang["structures"])
        ]
    if case["parser"] == "deepseekv31":
        opener, closer = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
        ours["structures"] = [
            {**s, "begin": s["begin"].removeprefix(opener), "end": s["end"].removesuffix(closer)}
            for s in ours["structures"]
        ]
        ours["triggers"] = ["<｜tool▁call▁begin｜>"]
    assert {**ours, "triggers": sorted(ours["triggers"])} == {**sglang, "triggers": sorted(sglang["triggers"])}


def test_glm47_keeps_the_native_tag_where_sglang_uses_its_own_grammar():
    """With no strict tool SGLang forces GLM-4.7's call through its full-assistant EBNF (reasoning included);
    we send xgrammar's glm_4_7 tag, which SGLang sends as soon as a tool is strict."""
    cases = [case for case in XGRAMMAR_TAGS["cases"] if "tag" not in case]
    assert {(case["parser"], case["constraint"]) for case in cases} == {("glm47", "full_assistant_ebnf")}
    tag = _our_tag(cases[0])
    assert tag["format"]["triggers"] == ["<tool_call>"] and tag["format"]["at_least_one"] is True


STRICT_SEARCH = {
    "type": "function",
    "function": {
        "name": "search",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}, "exact": {"type": "boolean"}},
            "required": ["query", "limit"],
        },
        "strict": True,
    },
}


@pytest.mark.parametrize("parallel", [True, False], ids=["parallel", "single"])
@pytest.mark.parametrize("parser_name", sorted(NATIVE_TAGS))
@pytest.mark.parametrize("tools", [[WEATHER_TOOL, TIME_TOOL], [STRICT_SEARCH, WEATHER_TOOL]], ids=["strings", "typed"])
def test_the_emulators_call_under_a_native_tag_parses_back_into_the_forced_call(parser_name, tools, parallel):
    for choice in ("required", {"type": "function", "function": {"name": tools[1]["function"]["name"]}}):
        resolved = resolve_tool_choice(
            choice, tools, parser_name, drop_params=False, model="m", parallel_tool_calls=parallel
        )
        tag = resolved.structural_tag
        text = forced_call_text(tag)
        forced = tools[0] if choice == "required" else tools[1]
        parsed = TOOL_CALL_PARSERS[parser_name]().parse(text, tools)
        (call,) = parsed.calls
        expected = {"city": ""} if "city" in json.dumps(forced) else {"query": "", "limit": 0}
        if parser_name == "kimi_k2" and not forced["function"].get("strict"):
            expected = {}  # as SGLang, Kimi's arguments of a function not marked strict: any object
        assert (call.name, json.loads(call.arguments), parsed.content.strip()) == (
            forced["function"]["name"],
            expected,
            "",
        )


def test_the_emulator_writes_no_call_for_a_native_tag_that_admits_free_text():
    auto = {
        "type": "structural_tag",
        "format": {
            "type": "triggered_tags",
            "triggers": ["<tool_call>"],
            "tags": [{"type": "tag", "begin": "<tool_call>f", "content": {"type": "const_string", "value": ""}}],
            "at_least_one": False,
        },
    }
    assert forced_call_text(json.dumps(auto)) is None
    assert forced_call_text(json.dumps({"type": "structural_tag", "format": {"type": "any_text"}})) is None
    unknown_style = {"type": "json_schema", "json_schema": True, "style": "cohere_xml"}
    tag = {"type": "tag", "begin": "<a>", "content": unknown_style, "end": "</a>"}
    assert forced_call_text(json.dumps({"type": "structural_tag", "format": tag})) is None
    # A reasoning block before the call (xgrammar's tags with reasoning) is written empty.
    think = {"type": "tag", "begin": "", "content": {"type": "any_text", "excludes": []}, "end": "</think>"}
    call = {"type": "tag", "begin": "<c>", "content": {"type": "json_schema", "json_schema": True}, "end": "</c>"}
    sequence = {"type": "sequence", "elements": [think, call]}
    assert forced_call_text(json.dumps({"type": "structural_tag", "format": sequence})) == "</think><c>{}</c>"


NEW_FAMILIES = [*sorted(NATIVE_TAGS), "apertus2509", "interns1", "trinity", "inkling"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("parser_name", NEW_FAMILIES)
async def test_a_forced_call_end_to_end_in_each_newly_supported_family(emulator, parser_name, stream):
    """The Qwen3 tokenizer and template stand in for each family's (the tag and the output are the family's): the
    unscripted emulator writes the call the tag forces, and the provider returns it parsed."""
    named = {"type": "function", "function": {"name": "get_time"}}
    native = parser_name in NATIVE_TAGS
    # Native tags hold a function not marked strict to its schema (xgrammar reads an unset strict so), except
    # Kimi's (any object, as SGLang's detector sets it); the legacy frames let its arguments be any JSON.
    weather_arguments = {"city": ""} if native and parser_name != "kimi_k2" else {}
    for choice, expected in (("required", ("get_weather", weather_arguments)), (named, ("get_time", {"city": ""}))):
        settings = {"tools": [WEATHER_TOOL, TIME_TOOL], "tool_choice": choice, "tool_call_parser": parser_name}
        if stream:
            chunks = [chunk async for chunk in await chat(emulator, stream=True, **settings)]
            message = litellm.stream_chunk_builder(chunks).choices[0].message
            finish_reason = chunks[-1].choices[0].finish_reason
        else:
            response = await chat(emulator, **settings)
            message, finish_reason = response.choices[0].message, response.choices[0].finish_reason
        tag = sent_tag(emulator)
        assert ("format" in tag) == native
        assert [(call.function.name, json.loads(call.function.arguments)) for call in message.tool_calls] == [expected]
        assert not (message.content or "").strip()
        assert finish_reason == "tool_calls"


@pytest.mark.parametrize("parser_name", ["pythonic", "glm45", "minimax-m2", "mimo"])
async def test_a_family_sglang_cannot_constrain_is_a_bad_request_listing_the_supported_ones(emulator, parser_name):
    with pytest.raises(litellm.BadRequestError) as caught:
        await chat(emulator, tools=[WEATHER_TOOL], tool_choice="required", tool_call_parser=parser_name)
    assert f"the {parser_name} tool-call parser has none (supported: {', '.join(supported_parsers())})" in str(
        caught.value
    )
    assert {"qwen3_coder", "glm47", "gpt-oss", "deepseekv41", "apertus2509", "hermes"} <= set(supported_parsers())
    assert emulator.requests == []


# ---- parallel_tool_calls ----

SINGLE_CALL_FAMILIES = ["qwen3_coder", "glm47", "deepseekv4", "kimi_k2"]


@pytest.mark.parametrize("parser_name", SINGLE_CALL_FAMILIES)
async def test_parallel_tool_calls_false_sends_the_single_call_tag_and_the_default_is_unchanged(emulator, parser_name):
    """Through litellm.acompletion: False reaches the provider in optional_params and the forced call's native tag
    stops after the first call, as SGLang's; True and an absent parallel_tool_calls send the repeating tag."""
    settings = {"tools": [WEATHER_TOOL, TIME_TOOL], "tool_choice": "required", "tool_call_parser": parser_name}
    expected = {
        False: resolve_tool_choice("required", settings["tools"], parser_name, drop_params=False, model="m"),
        True: resolve_tool_choice(
            "required", settings["tools"], parser_name, drop_params=False, model="m", parallel_tool_calls=False
        ),
    }
    sent = {}
    for given in ({}, {"parallel_tool_calls": True}, {"parallel_tool_calls": False}):
        response = await chat(emulator, **settings, **given)
        single = given.get("parallel_tool_calls") is False
        sent[single] = emulator.requests[-1]["sampling_params"]["structural_tag"]
        assert sent[single] == expected[single].structural_tag
        assert (
            '"stop_after_first": true' in sent[single],
            '"stop_after_first": false' in sent[single],
        ) == (single, not single)
        (call,) = response.choices[0].message.tool_calls  # the emulator writes the first call the tag admits
        assert call.function.name == "get_weather"
    assert sent[True] == sent[False].replace('"stop_after_first": false', '"stop_after_first": true')


async def test_parallel_tool_calls_false_leaves_legacy_frames_and_auto_as_sglang_does(emulator):
    """SGLang's legacy frames carry no call count, and an ``auto`` turn is not constrained: with False the frame
    sent is the same, and every call the model writes is still parsed and returned (SGLang drops none)."""
    await chat(emulator, tools=[WEATHER_TOOL, TIME_TOOL], tool_choice="required")
    default = sent_tag(emulator)
    await chat(emulator, tools=[WEATHER_TOOL, TIME_TOOL], tool_choice="required", parallel_tool_calls=False)
    assert sent_tag(emulator) == default and default["structures"][0]["begin"] == QWEN_BEGIN
    emulator.script(f"{QWEN_CALL}\n{QWEN_CALL.replace('Paris', 'Tokyo')}")
    response = await chat(emulator, tools=[WEATHER_TOOL], parallel_tool_calls=False)
    assert "structural_tag" not in emulator.requests[-1]["sampling_params"]
    cities = [json.loads(call.function.arguments)["city"] for call in response.choices[0].message.tool_calls]
    assert cities == ["Paris", "Tokyo"]


@pytest.mark.parametrize("value", ["false", 0, [False]])
async def test_a_parallel_tool_calls_that_is_not_a_boolean_is_a_bad_request(emulator, value):
    with pytest.raises(litellm.BadRequestError) as caught:
        await chat(emulator, tools=[WEATHER_TOOL], tool_choice="required", parallel_tool_calls=value)
    assert f"parallel_tool_calls must be true or false, got {value!r}" in str(caught.value)
    assert emulator.requests == []
    with pytest.raises(litellm.BadRequestError, match="parallel_tool_calls must be true or false"):
        resolve_tool_choice("auto", [WEATHER_TOOL], "qwen25", drop_params=True, model="m", parallel_tool_calls=value)
