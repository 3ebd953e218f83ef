"""The remaining SGLang 0.5.23 tool-call and reasoning formats, on inputs written from each SGLang detector's
docstring and unit tests: calls and content, malformed and truncated markup (never a crash, never an invented
call), and streaming equal to one-shot parsing at every split."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from _support import chat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sglang_native_provider
from sglang_native_provider.parsers import REASONING_PARSERS, TOOL_CALL_PARSERS
from sglang_native_provider.parsers.inkling import CONTROL_TOKENS as INKLING_CONTROL_TOKENS

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "metric": {"type": "boolean"}},
            },
        },
    },
    {
        "type": "function",
        "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}},
    },
]
PARIS = ("get_weather", {"city": "Paris", "days": 3, "metric": True})
TOKYO = ("get_time", {"zone": "Asia/Tokyo"})


@dataclass(frozen=True)
class Case:
    parser: str
    text: str
    content: str
    calls: tuple = ()

    def __str__(self) -> str:
        return self.parser


GLM_PARIS = (
    "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n"
    "<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n<arg_key>metric</arg_key>\n<arg_value>true</arg_value>\n"
    "</tool_call>"
)
GLM_TOKYO = "<tool_call>get_time\n<arg_key>zone</arg_key>\n<arg_value>Asia/Tokyo</arg_value>\n</tool_call>"
CODER_PARIS = (
    "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n"
    "<parameter=metric>\ntrue\n</parameter>\n</function>\n</tool_call>"
)
HERMES_PARIS = (
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 3, "metric": true}}\n</tool_call>'
)
HERMES_TOKYO = '<tool_call>\n{"name": "get_time", "arguments": {"zone": "Asia/Tokyo"}}\n</tool_call>'
ZONE = "<arg_key>zone</arg_key><arg_value>Asia/Tokyo</arg_value>"
ACTION = "<|action_start|> <|plugin|>\n"
LFM = "<|tool_call_start|>{}<|tool_call_end|>"
HUNYUAN_PARIS = (
    "<tool_call>get_weather<tool_sep>\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n"
    "<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n<arg_key>metric</arg_key>\n<arg_value>true</arg_value>\n"
    "</tool_call>"
)
GCML_PARIS = (
    '<｜GCML｜invoke name="get_weather">\n<｜GCML｜parameter name="city" string="true">Paris</｜GCML｜parameter>\n'
    '<｜GCML｜parameter name="days" string="false">3</｜GCML｜parameter>\n'
    '<｜GCML｜parameter name="metric" string="false">true</｜GCML｜parameter>\n</｜GCML｜invoke>'
)
GCML_TOKYO = (
    '<｜GCML｜invoke name="get_time"><｜GCML｜parameter name="zone" string="true">Asia/Tokyo</｜GCML｜parameter>'
    "</｜GCML｜invoke>"
)
DOTS_PARIS = (
    '<invoke name="get_weather">\n<parameter name="city">Paris</parameter>\n<parameter name="days">3</parameter>\n'
    '<parameter name="metric">true</parameter>\n</invoke>'
)

V31_TOKYO = '<｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{"zone": "Asia/Tokyo"}<｜tool▁call▁end｜>'
KIMI_TOKYO = (
    '<|tool_call_begin|>functions.get_time:0<|tool_call_argument_begin|>{"zone": "Asia/Tokyo"}<|tool_call_end|>'
)
GLM_INLINE_TOKYO = "<tool_call>get_time<arg_key>zone</arg_key><arg_value>Asia/Tokyo</arg_value></tool_call>"

BEAM_THINK = "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant"
BEAM_CALL = (
    " to=get_weather<|channel|>analysis <|constrain|>xml<|message|>"
    '<rfl:parameter name="city">\nParis\n</rfl:parameter><rfl:parameter name="days">\n3\n</rfl:parameter>'
    '<rfl:parameter name="metric">\ntrue\n</rfl:parameter><|call|>'
)
BEAM_TOKYO = (
    ' to=get_time<|channel|>analysis <|constrain|>xml<|message|><rfl:parameter name="zone">\nAsia/Tokyo\n'
    "</rfl:parameter><|end|><|start|>assistant"
)
BEAM_ANSWER = "<|channel|>final<|message|>It is sunny.<|return|>"
DOUBLED = "get_weather.get_weather"
MUSE_CALL = (
    f'<|start|>assistant to={DOUBLED}<|message|><atem:function_calls>\n<atem:invoke name="{DOUBLED}">\n'
    '<atem:parameter name="city">Paris</atem:parameter>\n<atem:parameter name="days">3</atem:parameter>\n'
    '<atem:parameter name="metric">true</atem:parameter>\n</atem:invoke>\n</atem:function_calls>'
)
MUSE_REASONING = " to=self<|message|>Need weather.<|eom|>"
# Families whose last call ends with a stop token, which SGLang trims from the text: a call cut off after a
# complete argument cannot be told from a finished one.
ENDS_WITH_A_STOP_TOKEN = {"beam"}
DROPPED_MARKUP = {
    "trinity": re.compile(r"</?think>"),
    "inkling": re.compile("|".join(re.escape(token) for token in INKLING_CONTROL_TOKENS)),
    "beam": re.compile(r"<\|channel\|>(?:analysis|final)<\|message\|>|<\|end\|><\|start\|>assistant|<\|return\|>"),
    "muse": re.compile(r"(?:<\|start\|>[^<]*)?\bto=[^\s<]+[^<]*<\|message\|>|<\|eom\|>|<\|eot\|>"),
}
ATEM_TOKYO = (
    '<atem:function_calls><atem:invoke name="get_time"><atem:parameter name="zone">Asia/Tokyo</atem:parameter>'
    "</atem:invoke></atem:function_calls>"
)
INKLING_THINK = "<|message_model|><|content_thinking|>Need the weather.<|end_message|>"
INKLING_CALL = (
    '<|message_model|>get_weather<|content_invoke_tool_json|>{"name": "get_weather", "args": '
    '{"city": "Paris", "days": 3, "metric": true}}<|end_message|>'
)

TOOL_CASES = [
    # Trinity: Hermes calls, also from inside a think block (its tags are dropped).
    Case("trinity", "Checking. " + HERMES_PARIS, "Checking.", (PARIS,)),
    Case("trinity", "<think>Need the weather.</think>" + HERMES_PARIS, "Need the weather.", (PARIS,)),
    Case("trinity", "<think>" + HERMES_PARIS + "</think>", "", (PARIS,)),
    Case("mimo", "Let me look. " + CODER_PARIS, "Let me look.", (PARIS,)),
    Case("poolside_v1", GLM_PARIS + "\n" + GLM_TOKYO, "", (PARIS, TOKYO)),
    Case("spark25", "Sure.\n" + GLM_PARIS, "Sure.", (PARIS,)),
    Case(
        "ling3",
        "<tool_call>get_time\\n<arg_key>zone</arg_key><arg_value>Asia/Tokyo</arg_value></tool_call>",
        "",
        (TOKYO,),
    ),
    Case(
        "ling3", "<tool_call>get_time<arg_key>zone</arg_key><arg_value>Asia/Tokyo</arg_value></tool_call>", "", (TOKYO,)
    ),
    Case("ling3", "<tool_call>get_time</tool_call>", "", (("get_time", {}),)),
    # SGLang's iquest_q1 test: string values verbatim (spaces and newline kept), others typed.
    Case(
        "iquest_q1",
        'Running now. <iquest_tool_call>get_weather\n<arg_key>city</arg_key><arg_value>  "123"\n</arg_value>'
        "<arg_key>days</arg_key> <arg_value>42</arg_value>\n</iquest_tool_call>",
        "Running now.",
        (("get_weather", {"city": '  "123"\n', "days": 42}),),
    ),
    Case("iquest_q1", "<iquest_tool_call>get_time</iquest_tool_call>", "", (("get_time", {}),)),
    Case(
        "interns1",
        "Let me check." + ACTION + '{"name": "get_weather", "parameters": {"city": "Paris", "days": 3, "metric": true}}'
        "<|action_end|>" + ACTION + '{"name": "get_time", "arguments": {"zone": "Asia/Tokyo"}}<|action_end|>',
        "Let me check.",
        (PARIS, TOKYO),
    ),
    Case("lfm2", LFM.format('[get_weather(city="Paris", days=3, metric=True)]'), "", (PARIS,)),
    Case(
        "lfm2",
        "Sure! " + LFM.format('[get_weather(city="Paris", days=3, metric=True), get_time(zone="Asia/Tokyo")]'),
        "Sure!",
        (PARIS, TOKYO),
    ),
    Case("lfm2", LFM.format(json.dumps([{"name": "get_time", "arguments": {"zone": "Asia/Tokyo"}}])), "", (TOKYO,)),
    # A closing marker inside a JSON string value is text: the block ends where the JSON does.
    Case(
        "lfm2",
        LFM.format(json.dumps([{"name": "get_time", "arguments": {"zone": "a <|tool_call_end|> b"}}])),
        "",
        (("get_time", {"zone": "a <|tool_call_end|> b"}),),
    ),
    Case(
        "interns1",
        ACTION + '{"name": "get_time", "parameters": {"zone": "<|action_end|>"}}<|action_end|>',
        "",
        (("get_time", {"zone": "<|action_end|>"}),),
    ),
    Case(
        "dots",
        '<dots_function_call>{"name": "get_time", "arguments": {"zone": "</dots_function_call>"}}'
        "</dots_function_call> done",
        " done",
        (("get_time", {"zone": "</dots_function_call>"}),),
    ),
    Case(
        "apertus2509",
        '<|tools_prefix|>[{"get_time": {"zone": "<|tools_suffix|>"}}]<|tools_suffix|>',
        "",
        (("get_time", {"zone": "<|tools_suffix|>"}),),
    ),
    Case(
        "cohere_command4",
        '<|START_ACTION|>[{"tool_name": "get_time", "parameters": {"zone": "<|END_ACTION|>"}}]<|END_ACTION|>',
        "",
        (("get_time", {"zone": "<|END_ACTION|>"}),),
    ),
    Case(
        "minicpm5",
        'Intro before.\n<function name="get_weather"><param name="city">上海</param><param name="days">3</param>'
        "</function>\nOutro after.",
        "Intro before.\n\nOutro after.",
        (("get_weather", {"city": "上海", "days": 3}),),
    ),
    Case(
        "minicpm5",
        '<function name="get_weather"><param name="city"><![CDATA[北\n京]]></param></function>'
        '<function name="get_time"><param name="zone">A &amp; B</param></function>',
        "",
        (("get_weather", {"city": "北\n京"}), ("get_time", {"zone": "A & B"})),
    ),
    Case("minicpm5", '<function name="get_time"></function>', "", (("get_time", {}),)),
    Case("dots", "<dots_function_call>\n" + DOTS_PARIS + "\n</dots_function_call>", "", (PARIS,)),
    Case(
        "dots",
        "On it.\n<dots_function_call>\n" + DOTS_PARIS + '\n<invoke name="get_time">\n<parameter name="zone">Asia/Tokyo'
        "</parameter>\n</invoke>\n</dots_function_call>",
        "On it.",
        (PARIS, TOKYO),
    ),
    Case(
        "dots",
        '<dots_function_call>{"name": "get_time", "arguments": {"zone": "Asia/Tokyo"}}</dots_function_call>',
        "",
        (TOKYO,),
    ),
    Case("hunyuan", "Checking.<tool_calls>\n" + HUNYUAN_PARIS + "\n</tool_calls>", "Checking.", (PARIS,)),
    Case(
        "hunyuan",
        "<tool_calls><tool_call>get_time<tool_sep></tool_call>"
        "<tool_call>get_time<arg_key>zone</arg_key><arg_value>Asia/Tokyo</arg_value></tool_call></tool_calls>",
        "",
        (("get_time", {}), TOKYO),
    ),
    Case(
        "gigachat3",
        'Checking.<|message_sep|>function call<|role_sep|>\n{"name": "get_time", "arguments": {"zone": "Asia/Tokyo"}}',
        "Checking.",
        (TOKYO,),
    ),
    Case("gigachat3", '<|function_call|>{"name": "get_time", "arguments": {"zone": "Asia/Tokyo"}}</s>', "", (TOKYO,)),
    Case("gigachat3", "Just an answer.<|message_sep|>", "Just an answer.<|message_sep|>"),
    # SGLang's GigaChat 3 test input: the answer, the end of the message, blank lines, the call, EOS.
    Case(
        "gigachat3",
        "I'll remember that.<|message_sep|>\n\nfunction call<|role_sep|>\n"
        '{"name": "get_time", "arguments": {"zone": "Asia/Tokyo"}}</s>',
        "I'll remember that.",
        (TOKYO,),
    ),
    Case(
        "gigachat35",
        "Looking.\n<｜GCML｜tool_calls>" + GCML_PARIS + "\n" + GCML_TOKYO + "</｜GCML｜tool_calls>",
        "Looking.",
        (PARIS, TOKYO),
    ),
    Case(
        "apertus2509",
        'Sure. <|tools_prefix|>[{"get_weather": {"city": "Paris", "days": 3, "metric": true}}, '
        '{"get_time": {"zone": "Asia/Tokyo"}}]<|tools_suffix|>',
        "Sure.",
        (PARIS, TOKYO),
    ),
    Case(
        "k2_horizon",
        "<ifm|tool_calls>\n<ifm|tool_call>get_weather\n<ifm|arg_key>city</ifm|arg_key>\n"
        "<ifm|arg_type>string</ifm|arg_type>\n<ifm|arg_value>  Boston  </ifm|arg_value>\n"
        "<ifm|arg_key>days</ifm|arg_key>\n<ifm|arg_type>integer</ifm|arg_type>\n<ifm|arg_value>3</ifm|arg_value>\n"
        "</ifm|tool_call>\n<ifm|tool_call>"
        '{"name":"get_time","arguments":{"zone":"Asia/Tokyo"}}</ifm|tool_call>\n</ifm|tool_calls>',
        "",
        (("get_weather", {"city": "  Boston  ", "days": 3}), TOKYO),
    ),
    Case(
        "k2_horizon",
        "Sure.<ifm|tool_call>get_time<ifm|arg_key>zone</ifm|arg_key><ifm|arg_value>Asia/Tokyo</ifm|arg_value>"
        "</ifm|tool_call>",
        "Sure.",
        (TOKYO,),
    ),
    Case("inkling", INKLING_CALL + "It is sunny.", "It is sunny.", (PARIS,)),
    # Muse, raw output (no reasoning parser): every channel unwrapped, the tool channel a call.
    Case(
        "muse",
        MUSE_REASONING + MUSE_CALL + "<|eom|><|start|>assistant to=user<|message|>It is sunny.<|eot|>",
        "Need weather.It is sunny.",
        (PARIS,),
    ),
    # ... and the content the muse reasoning parser leaves: a tool channel after an end marker.
    Case("muse", "Let me check.<|eom|>" + MUSE_CALL + "<|eom|>" + MUSE_CALL, "Let me check.", (PARIS, PARIS)),
    Case("muse", " to=get_time<|message|>" + ATEM_TOKYO, "", (TOKYO,)),
    # Beam (SGLang's response template for it): reasoning on the analysis channel, calls as messages to the tool.
    Case("beam", BEAM_THINK + BEAM_CALL, "Need weather.", (PARIS,)),
    Case("beam", BEAM_TOKYO + BEAM_CALL, "", (TOKYO, PARIS)),
    Case("beam", BEAM_THINK + BEAM_ANSWER, "Need weather.It is sunny.", ()),
    Case("inkling", INKLING_THINK + INKLING_CALL, "Need the weather.", (PARIS,)),
    Case(
        "cohere_command4",
        '<|START_ACTION|>[\n    {"tool_call_id": "0", "tool_name": "get_weather", "parameters": '
        '{"city": "Paris", "days": 3, "metric": true}},\n    {"tool_call_id": "1", "tool_name": "get_time", '
        '"parameters": {"zone": "Asia/Tokyo"}}\n]<|END_ACTION|>',
        "",
        (PARIS, TOKYO),
    ),
    # Issue 20: a complete call in a block cut off is returned (item 2), as SGLang does for these.
    Case("deepseekv31", "Sure.<｜tool▁calls▁begin｜>" + V31_TOKYO, "Sure.", (TOKYO,)),
    Case("kimi_k2", "Sure.<|tool_calls_section_begin|>" + KIMI_TOKYO, "Sure.", (TOKYO,)),
    Case("qwen3_coder", "Sure.\n" + CODER_PARIS.removesuffix("call>"), "Sure.", (PARIS,)),
    Case("qwen3_coder", "Sure.\n" + CODER_PARIS.removesuffix("ion>\n</tool_call>"), "Sure.", (PARIS,)),
    # ... a delimited pythonic call followed by prose (item 4), and Gemma 4's bare key with a space (item 6).
    Case(
        "pythonic", "Sure. <|python_start|>[get_time(zone='Asia/Tokyo')]<|python_end|> Done.", "Sure.  Done.", (TOKYO,)
    ),
    Case(
        "gemma4",
        '<|tool_call>call:get_time{time zone:<|"|>Asia/Tokyo<|"|>}<tool_call|>',
        "",
        (("get_time", {"time zone": "Asia/Tokyo"}),),
    ),
]

# Markup that must stay content: no call may be invented from it.
MALFORMED = [
    ("trinity", '<tool_call>{"name": "get_time", "arguments": [1]}</tool_call>'),
    ("mimo", "<tool_call>\n<function=get_time>\nzone=Asia/Tokyo\n</function>\n</tool_call>"),
    ("poolside_v1", "<tool_call>get_time\n<arg_key>zone</arg_key>\n</tool_call>"),
    ("spark25", "<tool_call>\n</tool_call>"),
    ("ling3", "<tool_call>get time now\nplease</tool_call>"),
    ("iquest_q1", "<iquest_tool_call>get_time<arg_key>zone</arg_key><arg_value>1</iquest_tool_call>"),
    ("interns1", ACTION + '{"name": "get_time", "parameters": {"zone": }<|action_end|>'),
    ("lfm2", LFM.format("[get_time(zone=os.system('x'))]")),
    ("lfm2", LFM.format('[{"arguments": {"zone": "CET"}}]')),
    ("minicpm5", '<function name="get_weather"><param>北京</param><param name="days">3</param></function>'),
    ("minicpm5", '<function name="get_weather"><param name="city">A</param><param name="city">B</param></function>'),
    ("minicpm5", '<function name="get_weather"><param name="City">北京</param></function>'),
    ("dots", '<dots_function_call><invoke name="get_time">zone</invoke></dots_function_call>'),
    ("dots", "<dots_function_call>[1, 2]</dots_function_call>"),
    ("hunyuan", "<tool_calls><tool_call>get_time<tool_sep><arg_key>zone</arg_key></tool_call></tool_calls>"),
    ("gigachat3", '<|function_call|>{"name": "get_time", "arguments": "zone"}'),
    ("gigachat3", '<|message_sep|>\n\nfunction call<|role_sep|>\n{"name": "f", "arguments": {invalid json}}'),
    ("gigachat3", '<|message_sep|>\n\nfunction call<|role_sep|>\n{"arguments": {"action": "create"}}'),
    ("gigachat35", '<｜GCML｜tool_calls><｜GCML｜invoke name="get_time">zone</｜GCML｜invoke></｜GCML｜tool_calls>'),
    ("apertus2509", '<|tools_prefix|>[{"get_time": {"zone": "CET"}, "extra": {}}]<|tools_suffix|>'),
    ("apertus2509", '<|tools_prefix|>[{"get_time": "CET"}]<|tools_suffix|>'),
    ("cohere_command4", '<|START_ACTION|>[{"tool_call_id": "0", "parameters": {}}]<|END_ACTION|>'),
    ("k2_horizon", "prefix<ifm|tool_call>get_weather<ifm|arg_key>city</ifm|arg_key></ifm|tool_call>suffix"),
    ("k2_horizon", '<ifm|tool_call>{"name":123,"arguments":{}}</ifm|tool_call>'),
    ("inkling", '<|message_model|>f<|content_invoke_tool_json|>{"name": "f", "args": {"x": NaN}}<|end_message|>'),
    ("inkling", '<|message_model|>f<|content_invoke_tool_json|>{"name": "f", "args": []}<|end_message|>'),
    ("muse", "<|start|>assistant to=get_time<|message|><atem:invoke>zone</atem:invoke><|eom|>"),
    # Quoted inside an answer or in reasoning (no end marker before the header): text, never a call.
    ("muse", " to=user<|message|>You would write:\n" + MUSE_CALL),
    ("muse", " to=self<|message|>I could call " + MUSE_CALL + " but no.<|eom|>"),
    ("muse", "after prose:\n" + MUSE_CALL),
    ("beam", " to=get_time<|channel|>analysis <|constrain|>xml<|message|>zone: CET<|call|>"),
    ("beam", ' to=get_time<|channel|>analysis <|constrain|>xml<|message|><rfl:parameter name="zone">\nCE<|call|>'),
]


def _calls(calls) -> list[tuple[str, dict]]:
    return [(call.name, json.loads(call.arguments)) for call in calls]


def one_shot(parser: str, text: str):
    result = TOOL_CALL_PARSERS[parser]().parse(text, TOOLS)
    return result.content, [(call.name, call.arguments) for call in result.calls]


def streamed(parser: str, pieces: list[str]):
    stream = TOOL_CALL_PARSERS[parser]().stream(TOOLS)
    content, calls = "", []
    for piece in pieces:
        more, new = stream.feed(piece)
        content, calls = content + more, calls + new
    more, new = stream.finish()
    return content + more, [(call.name, call.arguments) for call in calls + new]


@pytest.mark.parametrize("case", TOOL_CASES, ids=str)
def test_calls_and_content(case):
    result = TOOL_CALL_PARSERS[case.parser]().parse(case.text, TOOLS)
    assert result.content == case.content
    assert _calls(result.calls) == list(case.calls)


@pytest.mark.parametrize("case", TOOL_CASES, ids=str)
def test_streaming_at_every_split_equals_one_shot(case):
    expected = one_shot(case.parser, case.text)
    assert streamed(case.parser, list(case.text)) == expected
    for cut in range(len(case.text) + 1):
        assert streamed(case.parser, [case.text[:cut], case.text[cut:]]) == expected


def _visible(parser: str, text: str) -> str:
    """``text`` less the markup the parser always drops from content, whitespace ignored."""
    if parser in DROPPED_MARKUP:
        text = DROPPED_MARKUP[parser].sub("", text)
    return "".join(text.split())


def assert_nothing_lost(parser: str, text: str) -> None:
    """No call is taken from ``text``, and none of it is lost: the content is the text less the markup reported
    as unparsed (when the parser reports it) and the tags the parser always drops."""
    result = TOOL_CALL_PARSERS[parser]().parse(text, TOOLS)
    assert result.calls == []
    for piece in getattr(result, "metadata", {}).get("unparsed_tool_markup", []):
        assert piece in text
        text = text.replace(piece, "", 1)
    assert _visible(parser, result.content) == _visible(parser, text)


@pytest.mark.parametrize("case", TOOL_CASES, ids=str)
def test_truncated_output_never_invents_a_call(case):
    """Every prefix parses; its calls are complete calls of the whole output, in order; with no call, no text
    is lost (it is content, or markup reported as unparsed)."""
    whole = _calls(TOOL_CALL_PARSERS[case.parser]().parse(case.text, TOOLS).calls)
    for cut in range(len(case.text)):
        prefix = case.text[:cut]
        calls = _calls(TOOL_CALL_PARSERS[case.parser]().parse(prefix, TOOLS).calls)
        if case.parser in ENDS_WITH_A_STOP_TOKEN and calls:
            # the last call may lack the arguments not written yet, but has none that were not written
            *done, (name, arguments) = calls
            assert done == whole[: len(done)] and name == whole[len(done)][0]
            assert arguments.items() <= whole[len(done)][1].items()
            continue
        assert calls == whole[: len(calls)]
        if not calls:
            assert_nothing_lost(case.parser, prefix)


@pytest.mark.parametrize(("parser", "text"), MALFORMED, ids=[parser for parser, _ in MALFORMED])
def test_malformed_markup_is_never_a_call(parser, text):
    assert_nothing_lost(parser, text)
    assert streamed(parser, list(text)) == one_shot(parser, text)
    assert one_shot(parser, text)[1] == []


@pytest.mark.parametrize(
    ("parser", "text"),
    [
        ("minicpm5", "Use the <function keyword, or <functions>, to define one."),
        ("minicpm5", "a <function"),
        ("gigachat3", "No call here: function call"),
        ("dots", "Wrap calls in <dots_function_call> tags."),
        ("hunyuan", "The <tool_calls> section comes last."),
        ("gigachat35", "A <｜GCML｜tool_calls> block holds invokes."),
        ("apertus2509", "Calls follow <|tools_prefix|> as a list."),
        ("cohere_command4", "After <|START_ACTION|> comes JSON."),
        ("interns1", "After <|action_start|> <|plugin|> comes JSON."),
        ("lfm2", "Calls sit between <|tool_call_start|> and its end."),
    ],
)
def test_marker_like_prose_is_content(parser, text):
    assert one_shot(parser, text) == (text, [])
    assert streamed(parser, list(text)) == (text, [])


def test_a_call_to_an_undeclared_parameter_is_typed_as_text():
    text = '<function name="get_time"><param name="zone">3</param></function>'
    assert _calls(TOOL_CALL_PARSERS["minicpm5"]().parse(text, None).calls) == [("get_time", {"zone": "3"})]


@dataclass(frozen=True)
class ReasoningCase:
    parser: str
    text: str
    reasoning: str | None
    content: str
    opened: bool = False

    def __str__(self) -> str:
        return self.parser


REASONING_CASES = [
    ReasoningCase("dots", "<think>step one</think>answer", "step one", "answer"),
    ReasoningCase("mimo", "plain answer", None, "plain answer"),
    ReasoningCase("interns1", "still thinking", "still thinking", "", opened=True),
    # Qwen3.5-style: the call opens before the block is closed; the call is content for the tool parser.
    ReasoningCase("poolside_v1", "<think>I need the weather\n" + GLM_PARIS, "I need the weather", GLM_PARIS),
    ReasoningCase("ling3", "weighing it</think>\n" + GLM_TOKYO, "weighing it", GLM_TOKYO, opened=True),
    ReasoningCase("granite_thinking_parser", "<think>hmm\n</think>\n\nThe answer.", "hmm", "The answer."),
    ReasoningCase("hunyuan", "<think>plan</think>\nanswer", "plan", "answer"),
    ReasoningCase(
        "hunyuan",
        "<think>plan\n<tool_calls><tool_call>get_time<tool_sep></tool_call></tool_calls>",
        "plan",
        "<tool_calls><tool_call>get_time<tool_sep></tool_call></tool_calls>",
    ),
    # Opened by the template whatever the prompt says (DeepSeek-R1 style), an echoed tag dropped.
    ReasoningCase("gigachat35", "thinking</think>answer", "thinking", "answer"),
    ReasoningCase("iquest_q1", "<think>thinking</think>answer", "thinking", "answer"),
    ReasoningCase("iquest_q1", "cut off while thinking", "cut off while thinking", ""),
    ReasoningCase("k2_horizon", "deep thought</ifm|think>answer", "deep thought", "answer"),
    ReasoningCase("k2_horizon", "quick thought</ifm|think_fast>answer", "quick thought", "answer"),
    ReasoningCase("k2_horizon", "plan\n<ifm|tool_call>x</ifm|tool_call>", "plan", "<ifm|tool_call>x</ifm|tool_call>"),
    # SGLang's K2-v3 test: a call mentioned inside the reasoning is reasoning.
    ReasoningCase(
        "k2_horizon",
        "<ifm|think_fast>Consider <ifm|tool_call>get_time</ifm|tool_call> as text.</ifm|think_fast>\nThe answer.",
        "Consider <ifm|tool_call>get_time</ifm|tool_call> as text.",
        "The answer.",
    ),
    ReasoningCase(
        "inkling",
        INKLING_THINK + INKLING_CALL + "<|message_model|><|content_text|>It is sunny.<|end_message|>"
        "<|content_model_end_sampling|>",
        "Need the weather.",
        INKLING_CALL + "It is sunny.",
    ),
    ReasoningCase("inkling", "plain text, no control tokens", None, "plain text, no control tokens"),
    ReasoningCase(
        "muse",
        MUSE_REASONING + "<|start|>assistant to=user<|message|>Hello there.<|eot|>",
        "Need weather.",
        "Hello there.",
    ),
    ReasoningCase(
        "muse",
        MUSE_REASONING + MUSE_CALL + "<|eom|><|start|>assistant to=user<|message|>It is sunny.",
        "Need weather.",
        "<|eom|>" + MUSE_CALL + "<|eom|>It is sunny.",
    ),
    ReasoningCase("muse", "to=x is the syntax.", None, "to=x is the syntax."),
    ReasoningCase("muse", " to=self<|message|>cut off", "cut off", ""),
    ReasoningCase("beam", BEAM_THINK + BEAM_ANSWER, "Need weather.", "It is sunny."),
    ReasoningCase("beam", BEAM_THINK + BEAM_CALL, "Need weather.", BEAM_CALL),
    ReasoningCase("beam", "<|channel|>analysis<|message|>cut off", "cut off", ""),
    ReasoningCase("inkling", INKLING_THINK[:-15] + "cut", "Need the weather.cut", ""),
    ReasoningCase("apertus2509", "<|inner_prefix|>Let me think.<|inner_suffix|>Paris.", "Let me think.", "Paris."),
    ReasoningCase(
        "apertus2509",
        '<|inner_prefix|>first<|tools_prefix|>[{"get_time": {}}]<|tools_suffix|>second<|inner_suffix|>done'
        "<|inner_prefix|>third<|inner_suffix|>",
        "firstsecondthird",
        '<|tools_prefix|>[{"get_time": {}}]<|tools_suffix|>done',
    ),
    ReasoningCase("apertus2509", "no reasoning here", None, "no reasoning here"),
    # Cohere's template opens the thinking block; the text block's markers are dropped.
    ReasoningCase(
        "cohere_command4", "thinking<|END_THINKING|><|START_TEXT|>The answer.<|END_TEXT|>", "thinking", "The answer."
    ),
    ReasoningCase("cohere_command4", "<|START_TEXT|>No thinking.<|END_TEXT|>", None, "No thinking."),
    ReasoningCase(
        "cohere_command4",
        "plan<|END_THINKING|><|START_ACTION|>[]<|END_ACTION|>",
        "plan",
        "<|START_ACTION|>[]<|END_ACTION|>",
    ),
    ReasoningCase("cohere_command4", "<|START_THINKING|>cut off", "cut off", ""),
    # Issue 20, item 5: GLM's unclosed block ends at a call written mid-line, as SGLang's GLM detector ends it.
    ReasoningCase(
        "glm45", "<think>The user wants the time." + GLM_INLINE_TOKYO, "The user wants the time.", GLM_INLINE_TOKYO
    ),
]


def reasoning_one_shot(case: ReasoningCase):
    parsed = REASONING_PARSERS[case.parser]().parse(case.text, opened=case.opened)
    return parsed.reasoning or "", parsed.content


def reasoning_streamed(case: ReasoningCase, pieces: list[str]):
    stream = REASONING_PARSERS[case.parser]().stream(opened=case.opened)
    reasoning, content = "", ""
    for piece in [*pieces, None]:
        more_reasoning, more_content = stream.finish() if piece is None else stream.feed(piece)
        reasoning, content = reasoning + more_reasoning, content + more_content
    return reasoning, content


@pytest.mark.parametrize("case", REASONING_CASES, ids=str)
def test_reasoning_and_content(case):
    parsed = REASONING_PARSERS[case.parser]().parse(case.text, opened=case.opened)
    assert (parsed.reasoning, parsed.content) == (case.reasoning, case.content)


@pytest.mark.parametrize("case", REASONING_CASES, ids=str)
def test_reasoning_streaming_at_every_split_equals_one_shot(case):
    expected = reasoning_one_shot(case)
    assert reasoning_streamed(case, list(case.text)) == expected
    for cut in range(len(case.text) + 1):
        assert reasoning_streamed(case, [case.text[:cut], case.text[cut:]]) == expected


@pytest.mark.parametrize("case", REASONING_CASES, ids=str)
def test_reasoning_prefixes_parse(case):
    """A cut-off output parses into reasoning and content that the whole output extends."""
    whole_reasoning, whole_content = reasoning_one_shot(case)
    for cut in range(len(case.text)):
        stream = REASONING_PARSERS[case.parser]().stream(opened=case.opened)
        reasoning, content = stream.feed(case.text[:cut])
        assert whole_reasoning.startswith(reasoning) and whole_content.startswith(content)


def test_reasoning_tags_are_markers_for_special_token_handling():
    assert "<|inner_suffix|>" in REASONING_PARSERS["apertus2509"]().markers
    assert "<|END_THINKING|>" in REASONING_PARSERS["cohere_command4"]().markers
    assert "</ifm|think_fast>" in REASONING_PARSERS["k2_horizon"]().markers
    assert "<tool_calls>" in REASONING_PARSERS["hunyuan"]().markers
    # A response template's delimiters are made of special tokens: each is listed for the special-token check.
    assert {"<|channel|>", "<|message|>", "<|constrain|>", "<|call|>"} <= set(TOOL_CALL_PARSERS["beam"]().markers)


PIPELINES = [
    # (family, raw output, reasoning, content, calls): the reasoning parser first, its content to the tool parser.
    (
        "muse",
        MUSE_REASONING + MUSE_CALL + "<|eom|><|start|>assistant to=user<|message|>It is sunny in Paris.",
        "Need weather.",
        "It is sunny in Paris.",
        [PARIS],
    ),
    (
        "muse",
        " to=self<|message|>r<|eom|><|start|>assistant to=user<|message|>Let me check.<|eom|>" + MUSE_CALL,
        "r",
        "Let me check.",
        [PARIS],
    ),
    # SGLang's test: a header quoted in the answer, at its start or after prose, is not a call.
    ("muse", " to=self<|message|>r<|eom|><|start|>assistant to=user<|message|>" + MUSE_CALL, "r", MUSE_CALL, []),
    (
        "muse",
        " to=self<|message|>r<|eom|><|start|>assistant to=user<|message|>after prose:\n" + MUSE_CALL,
        "r",
        "after prose:\n" + MUSE_CALL,
        [],
    ),
    ("beam", BEAM_THINK + BEAM_TOKYO + BEAM_CALL, "Need weather.", "", [TOKYO, PARIS]),
    ("beam", BEAM_THINK + BEAM_ANSWER, "Need weather.", "It is sunny.", []),
    (
        "inkling",
        INKLING_THINK + INKLING_CALL + "<|message_model|><|content_text|>It is sunny.<|end_message|>",
        "Need the weather.",
        "It is sunny.",
        [PARIS],
    ),
    (
        "cohere_command4",
        "I should look it up.<|END_THINKING|><|START_ACTION|>[\n"
        '{"tool_call_id": "0", "tool_name": "get_time", "parameters": {"zone": "Asia/Tokyo"}}\n]<|END_ACTION|>',
        "I should look it up.",
        "",
        [TOKYO],
    ),
    (
        "apertus2509",
        '<|inner_prefix|>Weather first.<|tools_prefix|>[{"get_time": {"zone": "Asia/Tokyo"}}]<|tools_suffix|>'
        "<|inner_suffix|>Done.",
        "Weather first.",
        "Done.",
        [TOKYO],
    ),
    # Issue 20, item 8: a call marker inside a closed reasoning block is reasoning text.
    (
        "mistral",
        '[THINK]a [TOOL_CALLS] b[/THINK][TOOL_CALLS]get_time[ARGS]{"zone": "Asia/Tokyo"}',
        "a [TOOL_CALLS] b",
        "",
        [TOKYO],
    ),
]


def _pipeline(family: str, pieces: list[str]):
    reasoning_stream = REASONING_PARSERS[family]().stream()
    tool_stream = TOOL_CALL_PARSERS[family]().stream(TOOLS)
    reasoning, content, calls = "", "", []
    for piece in [*pieces, None]:
        more_reasoning, more_content = reasoning_stream.finish() if piece is None else reasoning_stream.feed(piece)
        text, new_calls = tool_stream.feed(more_content)
        reasoning, content, calls = reasoning + more_reasoning, content + text, calls + new_calls
    text, new_calls = tool_stream.finish()
    return reasoning, content + text, _calls(calls + new_calls)


@pytest.mark.parametrize(("family", "raw", "reasoning", "content", "calls"), PIPELINES, ids=[p[0] for p in PIPELINES])
def test_reasoning_then_tool_calls(family, raw, reasoning, content, calls):
    parsed_reasoning = REASONING_PARSERS[family]().parse(raw)
    parsed = TOOL_CALL_PARSERS[family]().parse(parsed_reasoning.content, TOOLS)
    assert (parsed_reasoning.reasoning, parsed.content, _calls(parsed.calls)) == (reasoning, content, calls)
    assert _pipeline(family, list(raw)) == (reasoning, content, calls)
    for cut in range(len(raw) + 1):
        assert _pipeline(family, [raw[:cut], raw[cut:]]) == (reasoning, content, calls)


QWEN_STYLE_TEMPLATE = {
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "thinking": {"open": "<think>", "close": "</think>"},
        "content": {},
        "tool_calls": {"open": "<tool_call>", "close": "</tool_call>", "repeats": True, "content": "json"},
    },
}


def test_response_template_reads_the_tokenizers_own_template():
    tokenizer = SimpleNamespace(response_template=QWEN_STYLE_TEMPLATE)
    reasoning_parser = REASONING_PARSERS["response_template"].for_tokenizer(tokenizer)
    tool_parser = TOOL_CALL_PARSERS["response_template"].for_tokenizer(tokenizer)
    raw = '<think>plan</think>Sure.<tool_call>{"name": "get_time", "arguments": {"zone": "Asia/Tokyo"}}</tool_call>'
    reasoning = reasoning_parser.parse(raw)
    parsed = tool_parser.parse(reasoning.content, TOOLS)
    assert (reasoning.reasoning, parsed.content, _calls(parsed.calls)) == ("plan", "Sure.", [TOKYO])
    assert reasoning_parser.parse("still thinking", opened=True).reasoning == "still thinking"
    assert (reasoning_parser.open_tag, reasoning_parser.close_tag) == ("<think>", "</think>")


def test_response_template_without_a_template_is_all_content():
    raw = '<think>plan</think><tool_call>{"name": "get_time", "arguments": {}}</tool_call>'
    tokenizer = SimpleNamespace()
    assert TOOL_CALL_PARSERS["response_template"].for_tokenizer(tokenizer).parse(raw, TOOLS).content == raw
    assert REASONING_PARSERS["response_template"].for_tokenizer(tokenizer).parse(raw).content == raw


def test_beam_uses_a_tokenizers_template_when_it_has_one():
    tokenizer = SimpleNamespace(response_template=QWEN_STYLE_TEMPLATE)
    parsed = TOOL_CALL_PARSERS["beam"].for_tokenizer(tokenizer).parse('<tool_call>{"name": "f"}</tool_call>', TOOLS)
    assert _calls(parsed.calls) == [("f", {})]
    assert _calls(TOOL_CALL_PARSERS["beam"]().parse(BEAM_CALL, TOOLS).calls) == [PARIS]


async def test_beam_through_the_provider(emulator):
    """The provider hands its tokenizer to the template-reading parsers (the Qwen3 one has no template: Beam's)."""
    sglang_native_provider.register()
    emulator.script(BEAM_THINK + BEAM_CALL)
    response = await chat(emulator, tools=TOOLS, tool_call_parser="beam", reasoning_parser="beam")
    message = response.choices[0].message
    assert message.reasoning_content == "Need weather."
    assert [(call.function.name, json.loads(call.function.arguments)) for call in message.tool_calls] == [PARIS]


# Property test: text assembled from each family's own markup and arbitrary characters never crashes a parser,
# and streaming it in two pieces gives the one-shot result.
def _alphabet(parser) -> list[str]:
    markers = [marker for marker in parser.markers if marker]
    return [*markers, "{", "}", '"', "\n", " ", "x", "get_time", '{"name": "f", "arguments": {}}']


MORE_TOOL_PARSERS = sorted({case.parser for case in TOOL_CASES})
MORE_REASONING_PARSERS = sorted({case.parser for case in REASONING_CASES})


@pytest.mark.parametrize("name", MORE_TOOL_PARSERS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_markup_soup_never_crashes_and_streams_as_one_shot(name, data):
    pieces = data.draw(st.lists(st.sampled_from(_alphabet(TOOL_CALL_PARSERS[name]())), max_size=12))
    text = "".join(pieces)
    cut = data.draw(st.integers(0, len(text)))
    assert streamed(name, [text[:cut], text[cut:]]) == one_shot(name, text)


@pytest.mark.parametrize("name", MORE_REASONING_PARSERS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_reasoning_markup_soup_streams_as_one_shot(name, data):
    pieces = data.draw(st.lists(st.sampled_from(_alphabet(REASONING_PARSERS[name]())), max_size=12))
    case = ReasoningCase(name, "".join(pieces), None, "", opened=data.draw(st.booleans()))
    cut = data.draw(st.integers(0, len(case.text)))
    assert reasoning_streamed(case, [case.text[:cut], case.text[cut:]]) == reasoning_one_shot(case)
