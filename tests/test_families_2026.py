"""The 2026 families on text their real chat templates render (GLM-4.7, Kimi K3, MiniMax M2, Gemma 4, Step 3.5,
Nemotron 3, Qwen3.5, Kimi K2.5/K2-Thinking), format cases from SGLang 0.5.23's detectors and unit tests,
malformed and truncated output, streaming split at every boundary, and a two-turn round trip through the
provider and the emulator.

Only the Qwen tokenizer is available offline, so the templates run as ``chat_template`` overrides over it:
what is checked is each family's markup end to end.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import litellm
import pytest
from test_families import PARIS, TOKYO, TOOLS
from transformers.utils.chat_template_utils import render_jinja_template

import sglang_native_provider
from sglang_native_provider.parsers import (
    REASONING_PARSERS,
    TOOL_CALL_PARSERS,
    detect_reasoning_parser,
    detect_tool_call_parser,
)

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

TEMPLATES = Path(__file__).parent / "fixtures" / "chat_templates_2026"
THOUGHT = "Let me look."


@dataclass(frozen=True)
class Family:
    tool: str
    reasoning: str
    template: str
    ends: tuple[str, ...] = ()
    """End-of-turn markers (the stop tokens SGLang does not return)."""
    kwargs: dict = field(default_factory=dict)
    kimi_ids: bool = False
    """Call ids as Kimi writes them (``functions.NAME:INDEX``), which its templates render verbatim."""
    detected: tuple[str | None, str | None] | None = None
    """(tool, reasoning) parser names detection must give, where the template's markup is unambiguous."""
    answer: str | None = None
    """The model's reply after the tool result, where the template cannot give it (Kimi K2.x re-renders the
    earlier turns once a reply without calls follows them)."""


FAMILIES = [
    Family("glm47", "glm45", "zai-org-GLM-4.7-Flash.jinja", detected=("glm47", None)),
    Family(
        "kimi_k3",
        "kimi_k3",
        "moonshotai-Kimi-K3.COMMUNITY-llamacpp.jinja",
        ("<|end_of_msg|>",),
        detected=("kimi_k3", "kimi_k3"),
    ),
    Family("minimax-m2", "minimax", "MiniMaxAI-MiniMax-M2.jinja", ("[e~[",), detected=("minimax-m2", "minimax")),
    Family(
        "gemma4",
        "gemma4",
        "google-gemma-4-31B-it.jinja",
        ("<|tool_response>", "<turn|>"),
        kwargs={"enable_thinking": True},
        detected=("gemma4", "gemma4"),
    ),
    Family("step3p5", "step3p5", "stepfun-ai-Step-3.5-Flash.jinja", ("<|im_end|>",)),
    Family("qwen3_coder", "nemotron_3", "nvidia-NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja", ("<|im_end|>",)),
    Family("qwen3_coder", "qwen3", "Qwen-Qwen3.5-4B.jinja", ("<|im_end|>",), detected=("qwen3_coder", "qwen3")),
    Family(
        "kimi_k2",
        "kimi_k2",
        "moonshotai-Kimi-K2.5.jinja",
        ("<|im_end|>",),
        kimi_ids=True,
        answer=f"{THOUGHT}</think>It is sunny.",
    ),
    Family(
        "kimi_k2",
        "kimi_k2",
        "moonshotai-Kimi-K2-Thinking.jinja",
        ("<|im_end|>",),
        kimi_ids=True,
        answer=f"<think>{THOUGHT}</think>It is sunny.",
    ),
]
IDS = [f"{f.tool}:{f.template.split('.jinja')[0]}" for f in FAMILIES]
USER = [{"role": "user", "content": "Weather in Paris, time in Tokyo?"}]


def template_of(family: Family) -> str:
    return (TEMPLATES / family.template).read_text()


def render(family: Family, messages: list[dict], **kwargs) -> str:
    extra = {"bos_token": "<s>", "eos_token": "</s>", **family.kwargs, **kwargs}
    rendered, _ = render_jinja_template(
        conversations=[messages], tools=TOOLS, chat_template=template_of(family), **extra
    )
    return rendered[0]


def assistant_message(family: Family, calls, content: str = "", reasoning: str | None = None) -> dict:
    message: dict = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = [
            {
                "id": f"functions.{name}:{i}" if family.kimi_ids else f"call{i}abcd",
                "type": "function",
                "function": {"name": name, "arguments": args},
            }
            for i, (name, args) in enumerate(calls)
        ]
    return message


def model_output(family: Family, calls, content: str = "", reasoning: str | None = None, history=USER) -> str:
    """What the template renders for one assistant turn after the generation prompt: the model's output."""
    before = render(family, history, add_generation_prompt=True)
    after = render(family, [*history, assistant_message(family, calls, content, reasoning)])
    cut = next((i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b), len(before))
    if after.rfind("<", 0, cut) > after.rfind(">", 0, cut):  # do not cut a marker in two
        cut = after.rfind("<", 0, cut)
    text = after[cut:]
    for end in family.ends:
        text = text.split(end)[0]
    return text.rstrip()


def prompt_opens_block(family: Family) -> bool:
    tag = REASONING_PARSERS[family.reasoning].open_tag
    return render(family, USER, add_generation_prompt=True).rstrip().endswith(tag)


def split(family: Family, text: str):
    """(reasoning, content, calls) as the provider splits a completed output."""
    reasoning = REASONING_PARSERS[family.reasoning]().parse(text, opened=prompt_opens_block(family))
    parsed = TOOL_CALL_PARSERS[family.tool]().parse(reasoning.content, TOOLS)
    return reasoning.reasoning, parsed.content, [(call.name, json.loads(call.arguments)) for call in parsed.calls]


def streamed(family: Family, pieces: list[str], opened: bool):
    """(reasoning, content, calls) streamed: reasoning deltas, then each content delta fed to the call parser."""
    reasoning_stream = REASONING_PARSERS[family.reasoning]().stream(opened=opened)
    tool_stream = TOOL_CALL_PARSERS[family.tool]().stream(TOOLS)
    reasoning, content, calls = "", "", []
    for piece in [*pieces, None]:
        thought, answer = reasoning_stream.feed(piece) if piece is not None else reasoning_stream.finish()
        more, new = tool_stream.feed(answer)
        if piece is None:
            last, newer = tool_stream.finish()
            more, new = more + last, new + newer
        reasoning, content, calls = reasoning + thought, content + more, calls + new
    return reasoning, content, [(call.name, call.arguments) for call in calls]


def one_shot(family: Family, text: str, opened: bool):
    reasoning = REASONING_PARSERS[family.reasoning]().parse(text, opened=opened)
    parsed = TOOL_CALL_PARSERS[family.tool]().parse(reasoning.content, TOOLS)
    return reasoning.reasoning or "", parsed.content, [(call.name, call.arguments) for call in parsed.calls]


# ---- every family on its template ----


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
def test_template_is_detected(family):
    template = template_of(family)
    tool_class = TOOL_CALL_PARSERS[detect_tool_call_parser(template)]
    assert tool_class is TOOL_CALL_PARSERS[family.tool]
    if family.detected is not None:
        tool, reasoning = family.detected
        assert detect_tool_call_parser(template) == tool
        if reasoning is not None:
            assert detect_reasoning_parser(template) == reasoning


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
def test_single_call(family):
    _, content, calls = split(family, model_output(family, [PARIS]))
    assert calls == [PARIS]
    assert "get_weather" not in content and "Paris" not in content


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
def test_parallel_calls_with_reasoning_and_content(family):
    text = model_output(family, [PARIS, TOKYO], content="Checking.", reasoning=THOUGHT)
    reasoning, content, calls = split(family, text)
    assert calls == [PARIS, TOKYO]
    assert reasoning == THOUGHT
    assert content.strip() == "Checking."


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
def test_no_call_is_content(family):
    text = model_output(family, [], content="It is sunny in Paris.", reasoning=THOUGHT)
    reasoning, content, calls = split(family, text)
    assert calls == [] and content.strip() == "It is sunny in Paris."
    # Gemma renders a thought only before calls, Kimi K2.x an empty block for a reply without calls.
    assert (reasoning or None) == (THOUGHT if THOUGHT in text else None)


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
def test_truncated_output_never_crashes_nor_invents_a_call(family):
    text = model_output(family, [PARIS, TOKYO], content="Checking.", reasoning=THOUGHT)
    for cut in range(len(text)):
        _, _, calls = split(family, text[:cut])
        assert calls == [PARIS, TOKYO][: len(calls)]  # only calls complete in the prefix


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
def test_streaming_at_every_boundary_equals_one_shot(family):
    text = model_output(family, [PARIS, TOKYO], content="Checking.", reasoning=THOUGHT)
    opened = prompt_opens_block(family)
    expected = one_shot(family, text, opened)
    assert len(expected[2]) == 2, "the rendered calls must parse"
    assert streamed(family, list(text), opened) == expected
    for cut in range(len(text) + 1):
        assert streamed(family, [text[:cut], text[cut:]], opened) == expected


# ---- format cases from SGLang's detectors and unit tests ----


def calls_of(name: str, text: str, tools=TOOLS):
    result = TOOL_CALL_PARSERS[name]().parse(text, tools)
    return result.content, [(call.name, json.loads(call.arguments)) for call in result.calls]


TODO_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "todo_write",
            "parameters": {"type": "object", "properties": {"todos": {"type": "array"}, "title": {"type": "string"}}},
        },
    },
    {"type": "function", "function": {"name": "list_files", "parameters": {"type": "object", "properties": {}}}},
]


def test_glm47_format():
    text = (
        "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Beijing</arg_value>"
        "<arg_key>days</arg_key><arg_value>2</arg_value></tool_call>"
        "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Shanghai</arg_value></tool_call>"
    )
    beijing, shanghai = ("get_weather", {"city": "Beijing", "days": 2}), ("get_weather", {"city": "Shanghai"})
    assert calls_of("glm47", text) == ("", [beijing, shanghai])
    assert calls_of("glm47", "<tool_call>list_files</tool_call>", TODO_TOOLS)[1] == [("list_files", {})]
    # A structured value written JSON-escaped, and a literal backslash-n between the pairs.
    escaped = r"<tool_call>todo_write<arg_key>todos</arg_key>"
    escaped += r"<arg_value>[{\"id\": \"1\", \"task\": \"C:\\\\x\"}]</arg_value>"
    escaped += r"\n<arg_key>title</arg_key><arg_value>say \"hi\"</arg_value></tool_call>"
    assert calls_of("glm47", escaped, TODO_TOOLS)[1] == [
        ("todo_write", {"todos": [{"id": "1", "task": "C:\\x"}], "title": 'say \\"hi\\"'})
    ]
    # GLM-4.5's layout is not GLM-4.7's parser's concern, but it reads too (whitespace between the tags).
    glm45_layout = "<tool_call>get_time\n<arg_key>zone</arg_key>\n<arg_value>CET</arg_value>\n</tool_call>"
    assert calls_of("glm47", glm45_layout)[1] == [("get_time", {"zone": "CET"})]
    assert TOOL_CALL_PARSERS["glm47"] is not TOOL_CALL_PARSERS["glm45"]


K3_CALL = (
    '<|open|>call tool="get_weather" index="1"<|sep|>'
    '<|open|>argument key="city" type="string"<|sep|>Paris<|close|>argument<|sep|>'
    '<|open|>argument key="days" type="number"<|sep|>3<|close|>argument<|sep|>'
    "<|close|>call<|sep|>"
)


def test_kimi_k3_format():
    opts = (
        '<|open|>call tool="a&amp;b" index="2"<|sep|>'
        '<|open|>argument key="q" type="string"<|sep|>say &quot;hi&quot;<|close|>argument<|sep|>'
        '<|open|>argument key="opts" type="object"<|sep|>{"a": 1}<|close|>argument<|sep|>'
        '<|open|>argument key="bad" type="object"<|sep|>{not json<|close|>argument<|sep|>'
        "<|close|>call<|sep|>"
    )
    text = f"Let me run it.<|open|>tools<|sep|>{K3_CALL}{opts}<|close|>tools<|sep|>"
    content, calls = calls_of("kimi_k3", text)
    assert content == "Let me run it."
    assert calls == [
        ("get_weather", {"city": "Paris", "days": 3}),
        ("a&b", {"q": "say &quot;hi&quot;", "opts": {"a": 1}, "bad": "{not json"}),  # only attributes are escaped
    ]
    json_block = (
        '<|open|>call tool="get_time" index="1"<|sep|>'
        '<|open|>json type="object"<|sep|>{"zone": "CET"}<|close|>json<|sep|><|close|>call<|sep|>'
    )
    section = f"<|open|>tools<|sep|>{json_block}<|close|>tools<|sep|>"
    assert calls_of("kimi_k3", section)[1] == [("get_time", {"zone": "CET"})]


def test_kimi_k3_reasoning_channels():
    parser = REASONING_PARSERS["kimi_k3"]()
    tools = f"<|open|>tools<|sep|>{K3_CALL}<|close|>tools<|sep|>"
    reply = "<|open|>response<|sep|>hi there<|close|>response<|sep|>"
    # Opened by the prompt (thinking on): reasoning up to the think channel's close, the reply unwrapped.
    parsed = parser.parse(f"weighing<|close|>think<|sep|>{reply}{tools}<|close|>message<|sep|>", opened=True)
    assert (parsed.reasoning, parsed.content) == ("weighing", f"hi there{tools}")
    # The model may go straight from thinking to the reply or to the tools channel.
    assert parser.parse(f"weighing{reply}", opened=True).content == "hi there"
    assert parser.parse(f"weighing{tools}", opened=True).content == tools
    # Thinking off: the prompt opened the response channel.
    parsed = parser.parse("hi there<|close|>response<|sep|><|close|>message<|sep|>")
    assert (parsed.reasoning, parsed.content) == (None, "hi there")
    # Cut off inside the think channel: all reasoning.
    assert parser.parse("still weighing", opened=True).reasoning == "still weighing"
    assert parser.parse(f"<|open|>think<|sep|>a<|close|>think<|sep|>{reply}").reasoning == "a"


def test_minimax_m2_format():
    text = (
        'Checking.\n<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Paris</parameter>\n'
        '<parameter name="days">3</parameter>\n<parameter name="metric">true</parameter>\n</invoke>\n'
        '<invoke name="get_time">\n<parameter name="zone">Asia/Tokyo</parameter>\n</invoke>\n</minimax:tool_call>'
    )
    assert calls_of("minimax-m2", text) == ("Checking.", [PARIS, TOKYO])
    multiline = '<minimax:tool_call><invoke name="get_time"><parameter name="zone">\nline one\nline two\n'
    multiline += "</parameter></invoke></minimax:tool_call>"
    assert calls_of("minimax-m2", multiline)[1] == [("get_time", {"zone": "line one\nline two"})]


def test_minimax_reasoning_parsers():
    text = "I should look.\n</think>\n\n<minimax:tool_call>"
    split_off = REASONING_PARSERS["minimax"]().parse(text, opened=True)
    assert (split_off.reasoning, split_off.content) == ("I should look.", "<minimax:tool_call>")
    # A call the model starts before closing the block ends it.
    unclosed = REASONING_PARSERS["minimax"]().parse('I should look.\n<minimax:tool_call><invoke name="f">', opened=True)
    assert unclosed.content.startswith("<minimax:tool_call>")
    inline = REASONING_PARSERS["minimax-append-think"]()
    assert inline.parse(text, opened=True) == type(split_off)(reasoning=None, content="<think>" + text)
    stream = inline.stream(opened=True)
    pieces = [stream.feed("I should"), stream.feed(" look.</think>ok"), stream.finish()]
    assert "".join(content for _, content in pieces) == "<think>I should look.</think>ok"
    assert all(not reasoning for reasoning, _ in pieces)


NS = "]<]minimax[>["
ORDER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "create_order",
            "parameters": {
                "type": "object",
                "properties": {
                    "user_id": {"type": "integer"},
                    "note": {"type": "string"},
                    "shipping": {"type": "object"},
                    "items": {"type": "array"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "gift": {"type": ["boolean", "null"]},
                },
            },
        },
    }
]
M3_ORDER = (
    f'{NS}<invoke name="create_order">{NS}<user_id>42{NS}</user_id>{NS}<note>two books{NS}</note>'
    f"{NS}<shipping>{NS}<city>Singapore{NS}</city>{NS}<zip>018956{NS}</zip>{NS}</shipping>"
    f"{NS}<items>{NS}<item>{NS}<sku>book-001{NS}</sku>{NS}<qty>2{NS}</qty>{NS}</item>{NS}</items>"
    f"{NS}<tags>{NS}<item>a{NS}</item>{NS}<item>b{NS}</item>{NS}</tags>{NS}<gift>null{NS}</gift>{NS}</invoke>\n"
)
ORDER = {
    "user_id": 42,
    "note": "two books",
    "shipping": {"city": "Singapore", "zip": "018956"},  # no schema below "object": leaves stay text
    "items": [{"sku": "book-001", "qty": "2"}],
    "tags": ["a", "b"],
    "gift": None,
}


def m3_block(invokes: str) -> str:
    return f"{NS}<tool_call>\n{invokes}{NS}</tool_call>"


def test_minimax_m3_format():
    weather = f'{NS}<invoke name="get_time">{NS}<zone>\nCET{NS}</zone>\n{NS}</invoke>\n'
    text = "I'll place the order." + m3_block(M3_ORDER + weather)
    assert calls_of("minimax-m3", text, [*ORDER_TOOLS, *TOOLS]) == (
        "I'll place the order.",
        [("create_order", ORDER), ("get_time", {"zone": "\nCET"})],
    )
    assert calls_of("minimax-m3", m3_block(f'{NS}<invoke name="get_time">{NS}</invoke>'))[1] == [("get_time", {})]
    assert detect_tool_call_parser("{{ ']<]minimax[>[<tool_call>' }}") == "minimax-m3"
    assert detect_reasoning_parser("{{ '<mm:think>' }}") == "minimax-m3"


def test_minimax_m3_reasoning():
    parser = REASONING_PARSERS["minimax-m3"]()
    assert parser.parse("</mm:think>Hello").content == "Hello"  # an earlier turn's closing tag, repeated
    parsed = parser.parse("<mm:think>plan</mm:think>Hi")
    assert (parsed.reasoning, parsed.content) == ("plan", "Hi")
    assert parser.parse("plan</mm:think>Hi", opened=True).reasoning == "plan"
    parsed = parser.parse(f"plan{m3_block('')}", opened=True)
    assert (parsed.reasoning, parsed.content) == ("plan", m3_block(""))


def test_minimax_m3_streaming_at_every_boundary_equals_one_shot():
    family = Family("minimax-m3", "minimax-m3", "")
    text = "</mm:think>Sure." + m3_block(M3_ORDER)
    expected = one_shot(family, text, False)
    assert (expected[1], [name for name, _ in expected[2]]) == ("Sure.", ["create_order"])
    for cut in range(len(text) + 1):
        assert streamed(family, [text[:cut], text[cut:]], False) == expected


def test_gemma4_format():
    text = (
        '<|tool_call>call:search{filters:{tags:[<|"|>a, b<|"|>,<|"|>c:d<|"|>],max:-2.5,exact:false,extra:null},'
        'query:<|"|>Use {braces} and [brackets]<|"|>}<tool_call|>'
    )
    assert calls_of("gemma4", text)[1] == [
        (
            "search",
            {
                "filters": {"tags": ["a, b", "c:d"], "max": -2.5, "exact": False, "extra": None},
                "query": "Use {braces} and [brackets]",
            },
        )
    ]
    assert calls_of("gemma4", "<|tool_call>call:get_time{}<tool_call|>")[1] == [("get_time", {})]


def test_gemma4_reasoning():
    parser = REASONING_PARSERS["gemma4"]()
    parsed = parser.parse("<|channel>thought\nStep one.\n<channel|>The answer.")
    assert (parsed.reasoning, parsed.content) == ("Step one.", "The answer.")
    parsed = parser.parse("<|channel>thought\nStep one.<|tool_call>call:get_time{}<tool_call|>")
    assert (parsed.reasoning, parsed.content) == ("Step one.", "<|tool_call>call:get_time{}<tool_call|>")
    assert parser.parse("No thought.").reasoning is None


def test_step3_format():
    text = (
        "Checking.<｜tool_calls_begin｜>\n<｜tool_call_begin｜>function<｜tool_sep｜>"
        '<steptml:invoke name="get_weather">\n<steptml:parameter name="city">Paris</steptml:parameter>\n'
        '<steptml:parameter name="days">3</steptml:parameter>\n'
        '<steptml:parameter name="metric">true</steptml:parameter>\n'
        "</steptml:invoke><｜tool_call_end｜>\n<｜tool_call_begin｜>function<｜tool_sep｜>"
        '<steptml:invoke name="get_time"><steptml:parameter name="zone">Asia/Tokyo</steptml:parameter></steptml:invoke>'
        "<｜tool_call_end｜>\n<｜tool_calls_end｜>"
    )
    assert calls_of("step3", text) == ("Checking.", [PARIS, TOKYO])
    assert detect_tool_call_parser('{{ "<steptml:invoke name=" }}') == "step3"


@pytest.mark.parametrize("name", ["step3", "step3p5"])
def test_step_reasoning(name):
    parser = REASONING_PARSERS[name]()
    parsed = parser.parse("Thinking.\n</think>\nAnswer.", opened=True)  # the Step templates open the block
    assert (parsed.reasoning, parsed.content) == ("Thinking.", "Answer.")
    step3_call = "<｜tool_calls_begin｜><｜tool_call_begin｜>function<｜tool_sep｜>"
    parsed = parser.parse(f"Thinking.\n{step3_call}", opened=True)  # a call before the block is closed ends it
    assert (parsed.reasoning, parsed.content) == ("Thinking.", step3_call)


@pytest.mark.parametrize("name", ["nanbeige", "step3p5"])
def test_qwen3_coder_aliases(name):
    assert TOOL_CALL_PARSERS[name] is TOOL_CALL_PARSERS["qwen3_coder"]


@pytest.mark.parametrize("name", ["nemotron_3", "qwen3-thinking", "nanbeige"])
def test_think_reasoning_names(name):
    parser = REASONING_PARSERS[name]()
    parsed = parser.parse("<think>\nPlan.\n</think>\n\nDone.")
    assert (parsed.reasoning, parsed.content) == ("Plan.", "Done.")
    assert parser.parse("Plan.</think>Done.", opened=True).reasoning == "Plan."
    # As SGLang's Nemotron 3 and Qwen3 detectors: a call at the start of a line ends the block.
    parsed = parser.parse("Plan.\n<tool_call>\n<function=f>\n</function>\n</tool_call>", opened=True)
    assert (parsed.reasoning, parsed.content) == ("Plan.", "<tool_call>\n<function=f>\n</function>\n</tool_call>")


# ---- malformed output ----

MALFORMED = {
    "glm47": [
        "<tool_call>get weather<arg_key>city</arg_key><arg_value>Paris</arg_value></tool_call>",
        "<tool_call>get_weather<arg_key>city</arg_key>Paris</tool_call>",
        "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value>",
        "<tool_call></tool_call>",
    ],
    "kimi_k3": [
        f"<|open|>tools<|sep|>{K3_CALL}",  # never closed
        '<|open|>tools<|sep|><|open|>call index="1"<|sep|><|close|>call<|sep|><|close|>tools<|sep|>',  # no name
        f"<|open|>tools<|sep|>junk{K3_CALL}<|close|>tools<|sep|>",
        "<|open|>tools<|sep|><|close|>tools<|sep|>",
        '<|open|>tools<|sep|><|open|>call tool="f"<|sep|><|open|>json<|sep|>[1]<|close|>json<|sep|>'
        "<|close|>call<|sep|><|close|>tools<|sep|>",  # arguments not an object
    ],
    "minimax-m2": [
        '<minimax:tool_call><invoke name="get_time"><parameter name="zone">CET</parameter>',
        '<minimax:tool_call><invoke name="get_time">zone=CET</invoke></minimax:tool_call>',
        "<minimax:tool_call></minimax:tool_call>",
        '<minimax:tool_call><invoke name="get_time"><parameter name="zone">CET</invoke></minimax:tool_call>',
    ],
    "gemma4": [
        '<|tool_call>call:get_time{zone:<|"|>CET}<tool_call|>',
        "<|tool_call>call:get_time{zone:[1,2}<tool_call|>",
        "<|tool_call>get_time{}<tool_call|>",
        "<|tool_call>call:get_time{zone CET}<tool_call|>",
        '<|tool_call>call:get_time{zone:<|"|>CET<|"|>',
    ],
    "minimax-m3": [
        m3_block(f'{NS}<invoke name="get_time">{NS}<zone>CET{NS}</town>{NS}</invoke>'),  # mismatched tags
        m3_block(f'{NS}<invoke name="get_time">{NS}<zone>CET{NS}</zone>'),  # invoke never closed
        m3_block(f"{NS}<zone>CET{NS}</zone>"),  # no invoke
        m3_block(f'{NS}<invoke name="get_time">text{NS}<zone>CET{NS}</zone>{NS}</invoke>'),  # text and tags mixed
        f'{NS}<tool_call>\n{NS}<invoke name="get_time">{NS}<zone>CET',  # cut off
        m3_block(""),
    ],
    "step3": [
        '<｜tool_calls_begin｜><｜tool_call_begin｜>function<｜tool_sep｜><steptml:invoke name="f">'
        "<｜tool_call_end｜><｜tool_calls_end｜>",
        '<｜tool_calls_begin｜><｜tool_call_begin｜>function<｜tool_sep｜><steptml:invoke name="f"></steptml:invoke>',
        "<｜tool_calls_begin｜><｜tool_calls_end｜>",
    ],
}


@pytest.mark.parametrize(("name", "text"), [(name, text) for name, texts in MALFORMED.items() for text in texts])
def test_malformed_markup_is_no_call_and_keeps_its_text(name, text):
    parser = TOOL_CALL_PARSERS[name]()
    for piece in (text, f"Before. {text}", f"{text} After."):
        result = parser.parse(piece, TOOLS)
        assert result.calls == []
        rest = piece  # the text is reported as content, or as unparsed markup
        for markup in getattr(result, "metadata", {}).get("unparsed_tool_markup", []):
            assert markup in rest
            rest = rest.replace(markup, "", 1)
        assert "".join(rest.split()) == "".join(result.content.split())
        stream = parser.stream(TOOLS)
        parts = [stream.feed(piece[:5]), stream.feed(piece[5:]), stream.finish()]
        assert ("".join(content for content, _ in parts), [c for _, calls in parts for c in calls]) == (
            result.content,
            [],
        )


def test_mentioned_markers_are_content():
    for name, mention in [
        ("gemma4", "Gemma writes <|tool_call> before a call."),
        ("minimax-m2", "Use <minimax:tool_call> tags."),
        ("kimi_k3", "The tools channel opens with <|open|>tools<|sep|>."),
        ("glm47", "I will use <tool_call> soon."),
    ]:
        content, calls = calls_of(name, mention)
        assert calls == []
        assert "".join(content.split()) in "".join(mention.split())


# ---- two turns through the provider and the emulator ----


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
async def test_two_turn_round_trip(emulator, qwen3_tokenizer, family):
    sglang_native_provider.register()
    output = model_output(family, [PARIS], reasoning=THOUGHT)
    history = [*USER, assistant_message(family, [PARIS], reasoning=THOUGHT), {"role": "tool", "content": "sunny"}]
    history[-1]["tool_call_id"] = history[1]["tool_calls"][0]["id"]
    answer = family.answer or model_output(family, [], content="It is sunny.", reasoning=THOUGHT, history=history)
    emulator.script(output, answer)
    settings = {
        "model": "sglang_native/qwen3",
        "api_base": emulator.url,
        "tokenizer": "offline:qwen3",
        "chat_template": template_of(family),
        "chat_template_kwargs": {"bos_token": "<s>", "eos_token": "</s>", **family.kwargs},
        "tool_call_parser": family.tool,
        "reasoning_parser": family.reasoning,
        "tools": TOOLS,
        "max_tokens": 1024,  # Kimi K3's markup takes many Qwen tokens
    }
    messages = [*USER]
    first = await litellm.acompletion(messages=messages, **settings)
    message = first.choices[0].message
    assert [(call.function.name, json.loads(call.function.arguments)) for call in message.tool_calls] == [PARIS]
    assert message.reasoning_content == THOUGHT
    assert first.choices[0].finish_reason == "tool_calls"
    messages += [message, {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny"}]
    second = await litellm.acompletion(messages=messages, **settings)
    assert second.choices[0].message.content.strip() == "It is sunny."
    second_prompt = qwen3_tokenizer.decode(emulator.requests[-1]["input_ids"])
    # The model's turn, markup and all, is in the next prompt as it wrote it, followed by the tool's result.
    assert second_prompt.index(output) < second_prompt.rindex("sunny")


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
async def test_streamed_turn_adds_up_to_the_whole_answer(emulator, family):
    sglang_native_provider.register()
    output = model_output(family, [PARIS, TOKYO], content="Checking.", reasoning=THOUGHT)
    emulator.script(output, output)
    settings = {
        "model": "sglang_native/qwen3",
        "api_base": emulator.url,
        "tokenizer": "offline:qwen3",
        "chat_template": template_of(family),
        "chat_template_kwargs": {"bos_token": "<s>", "eos_token": "</s>", **family.kwargs},
        "tool_call_parser": family.tool,
        "reasoning_parser": family.reasoning,
        "tools": TOOLS,
        "max_tokens": 1024,
        "messages": [*USER],
    }
    whole = (await litellm.acompletion(**settings)).choices[0].message
    content, reasoning, calls = "", "", {}
    async for chunk in await litellm.acompletion(stream=True, **settings):
        for choice in chunk.choices:
            content += choice.delta.content or ""
            reasoning += getattr(choice.delta, "reasoning_content", None) or ""
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, ["", ""])
                entry[0] += call.function.name or ""
                entry[1] += call.function.arguments or ""
    assert [(name, json.loads(arguments)) for name, arguments in calls.values()] == [PARIS, TOKYO]
    assert [(call.function.name, json.loads(call.function.arguments)) for call in whole.tool_calls] == [PARIS, TOKYO]
    assert (content, reasoning) == (whole.content, whole.reasoning_content)
    assert (content.strip(), reasoning) == ("Checking.", THOUGHT)
