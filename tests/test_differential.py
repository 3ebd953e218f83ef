"""Our parsers against SGLang 0.5.23's own, run from the pinned wheel (tests/_sglang_parsers.py).

For every family both sides register, each input is split by both, one-shot and streamed in chunks, and the
results are normalized to (content, reasoning, [(name, arguments as a JSON value)]). The inputs are SGLang's own
unit-test inputs (tests/fixtures/sglang_parser_cases.json, with their provenance) and the outputs our family
tests render with each model's real chat template (tests/test_families*.py). Every disagreement found must be
one listed in :data:`DELIBERATE_DIFFERENCES` with the reason we differ, and every listed one must still be
found: a new disagreement and a fixed one both fail the test. The "Where we differ from SGLang" section of
docs/differences.md (linked from the README) is this table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import test_families
import test_families_2026
import test_families_deepseek
import test_families_more
from _sglang_parsers import SGLangParsers, sglang_parsers

from sglang_native_provider.parsers import REASONING_PARSERS, TOOL_CALL_PARSERS

pytestmark = pytest.mark.conformance

FIXTURE = Path(__file__).parent / "fixtures" / "sglang_parser_cases.json"
README = Path(__file__).parent.parent / "README.md"
DIFFERENCES = Path(__file__).parent.parent / "docs" / "differences.md"
CHUNK = 4
"""Streamed inputs arrive in pieces of this many characters."""

ALWAYS_FORCED = {"k2_horizon"}
"""Reasoning parsers SGLang refuses to build without ``force_reasoning`` (its server always forces them)."""
DECIDED_BY_SGLANG = {"iquest_q1"}
"""Reasoning parsers whose ``force_reasoning`` SGLang's server derives itself (from the chat-template kwargs)."""
Split = tuple[str, str, list[tuple[str, Any]]]
"""(content, reasoning, [(name, arguments)]), whitespace around content and reasoning stripped."""


@dataclass(frozen=True)
class Case:
    """One model output for one family: its tool-call parser and/or reasoning parser (``None``: not run)."""

    source: str
    id: str
    tool: str | None
    reasoning: str | None
    text: str
    opened: bool = False
    """The prompt opened the reasoning block (SGLang's ``force_reasoning``)."""
    tools: tuple[dict[str, Any], ...] = tuple(test_families.TOOLS)

    @property
    def family(self) -> str:
        if self.tool and self.reasoning:
            return f"{self.reasoning} + {self.tool}"
        return f"tool {self.tool}" if self.tool else f"reasoning {self.reasoning}"

    @property
    def key(self) -> tuple[str, str]:
        return self.family, f"{self.source}:{self.id}"


# --- the inputs -------------------------------------------------------------------------------------------


def fixture_cases() -> Iterator[Case]:
    """SGLang's own unit-test inputs, as tests/fixtures/sglang_parser_cases.json keeps them."""
    data = json.loads(FIXTURE.read_text())
    for case in data["cases"]:
        yield Case(
            source="sglang",
            id=case["id"],
            tool=case.get("tool"),
            reasoning=case.get("reasoning"),
            text=case["text"],
            opened=case.get("opened", False),
            tools=tuple(data["tools"][case["tools"]]) if "tools" in case else (),
        )


def rendered_cases() -> Iterator[Case]:
    """What our family tests render with each model's own chat template, and their hand-written outputs."""
    paris, tokyo = test_families.PARIS, test_families.TOKYO
    for family, template_id in zip(test_families.FAMILIES, test_families.IDS, strict=True):
        turns = {"one call": [paris], "no call": []}
        if family.parallel:
            turns["two calls"] = [paris, tokyo]
        for name, calls in turns.items():
            content = "It is sunny in Paris." if not calls else "Checking."
            text = test_families.assistant_text(family, calls, content=content)
            yield Case("rendered", f"{template_id}:{name}", family.parser, None, text)

    module = test_families_2026
    for family, template_id in zip(module.FAMILIES, module.IDS, strict=True):
        opened = module.prompt_opens_block(family)
        for name, calls, content, reasoning in (
            ("one call", [paris], "", None),
            ("two calls, reasoning, content", [paris, tokyo], "Checking.", module.THOUGHT),
            ("no call, reasoning", [], "It is sunny.", module.THOUGHT),
        ):
            text = module.model_output(family, calls, content, reasoning)
            yield Case("rendered", f"{template_id}:{name}", family.tool, family.reasoning, text, opened)
    for parser, texts in module.MALFORMED.items():
        for index, text in enumerate(texts):
            yield Case("malformed", f"{parser}:{index}", parser, None, text)

    module = test_families_deepseek
    for tool, reasoning in module.FAMILIES.items():
        for name, calls in (("one call", [module.NOON]), ("two calls", [module.NOON, module.EMPTY]), ("no call", [])):
            text = module.model_output(tool, calls, content="Let me check." if calls else "Sunny.")
            yield Case("rendered", f"{tool}:{name}", tool, None, text, tools=tuple(module.TOOLS))
        thinking = module.model_output(tool, [module.NOON], "Checking.", "Let me look.", thinking=True)
        yield Case("rendered", f"{tool}:thinking, one call", tool, reasoning, thinking, True, tuple(module.TOOLS))

    module = test_families_more
    for index, case in enumerate(module.TOOL_CASES):
        yield Case("written", f"{case.parser}:{index}", case.parser, None, case.text, tools=tuple(module.TOOLS))
    for index, (parser, text) in enumerate(module.MALFORMED):
        yield Case("malformed", f"{parser}:{index}", parser, None, text, tools=tuple(module.TOOLS))
    for index, case in enumerate(module.REASONING_CASES):
        yield Case("written", f"{case.parser}:{index}", None, case.parser, case.text, case.opened)
    for index, (family, text, *_) in enumerate(module.PIPELINES):
        yield Case("written", f"{family}:{index}", family, family, text, tools=tuple(module.TOOLS))


def both_register(case: Case, sglang: SGLangParsers) -> bool:
    tool_ok = case.tool is None or (
        case.tool in TOOL_CALL_PARSERS and case.tool in sglang.function_call_parser.ToolCallParserEnum
    )
    reasoning_ok = case.reasoning is None or (
        case.reasoning in REASONING_PARSERS and case.reasoning in sglang.reasoning_parser.DetectorMap
    )
    return tool_ok and reasoning_ok


# --- both sides, normalized --------------------------------------------------------------------------------


def _arguments(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return {"<not JSON>": raw}


def _normal(content: str | None, reasoning: str | None, calls: list[tuple[str, str]]) -> Split:
    return (content or "").strip(), (reasoning or "").strip(), [(name, _arguments(args)) for name, args in calls]


def ours(case: Case, pieces: list[str] | None = None) -> Split:
    """Our split: the reasoning parser first, its content to the tool-call parser (as the provider does)."""
    tools = list(case.tools)
    if pieces is None:
        reasoning, content = None, case.text
        if case.reasoning:
            parsed = REASONING_PARSERS[case.reasoning]().parse(case.text, opened=case.opened)
            reasoning, content = parsed.reasoning, parsed.content
        calls = []
        if case.tool:
            result = TOOL_CALL_PARSERS[case.tool]().parse(content, tools)
            content, calls = result.content, [(call.name, call.arguments) for call in result.calls]
        return _normal(content, reasoning, calls)
    reasoning_stream = REASONING_PARSERS[case.reasoning]().stream(opened=case.opened) if case.reasoning else None
    tool_stream = TOOL_CALL_PARSERS[case.tool]().stream(tools) if case.tool else None
    reasoning, content, calls = "", "", []
    for piece in [*pieces, None]:
        if reasoning_stream is None:
            thought, answer = "", piece or ""
        else:
            thought, answer = reasoning_stream.feed(piece) if piece is not None else reasoning_stream.finish()
        new = []
        if tool_stream is not None:
            answer, new = tool_stream.feed(answer)
            if piece is None:
                last, newer = tool_stream.finish()
                answer, new = answer + last, new + newer
        reasoning, content, calls = reasoning + thought, content + answer, calls + new
    return _normal(content, reasoning, [(call.name, call.arguments) for call in calls])


def theirs(sglang: SGLangParsers, case: Case, pieces: list[str] | None = None) -> Split:
    """SGLang's split as its chat server makes it: ``ReasoningParser`` (``force_reasoning`` when the prompt
    opened the block), then ``FunctionCallParser`` on the normal text; streamed through ``parse_stream_chunk``
    and ``parse_stream_end``, call deltas joined by tool index."""
    reasoning_parser = None
    if case.reasoning:
        forced = case.opened or case.reasoning in ALWAYS_FORCED
        reasoning_parser = sglang.reasoning_parser(
            case.reasoning,
            stream_reasoning=True,
            force_reasoning=None if case.reasoning in DECIDED_BY_SGLANG else forced,
            tool_call_parser_active=bool(case.tool),
        )
    tool_parser = sglang.function_call_parser(sglang.tools(list(case.tools)), case.tool) if case.tool else None
    if pieces is None:
        reasoning, content = None, case.text
        if reasoning_parser is not None:
            reasoning, content = reasoning_parser.parse_non_stream(case.text)
        calls = []
        if tool_parser is not None:
            content, items = tool_parser.parse_non_stream(content or "")
            calls = [(item.name, item.parameters) for item in items]
        return _normal(content, reasoning, calls)
    reasoning, content, joined = "", "", {}
    for piece in [*pieces, None]:
        if reasoning_parser is None:
            thought, answer = "", piece or ""
        else:
            thought, answer = (
                reasoning_parser.parse_stream_chunk(piece) if piece is not None else reasoning_parser.parse_stream_end()
            )
        items = []
        if tool_parser is not None:
            answer, items = tool_parser.parse_stream_chunk(answer or "") if answer else ("", [])
            if piece is None:
                last, more = tool_parser.parse_stream_end()
                answer, items = (answer or "") + (last or ""), [*items, *more]
        for item in items:
            name, arguments = joined.get(item.tool_index, (None, ""))
            joined[item.tool_index] = (item.name or name, arguments + (item.parameters or ""))
        reasoning, content = reasoning + (thought or ""), content + (answer or "")
    return _normal(content, reasoning, [joined[index] for index in sorted(joined)])


def chunks(case: Case) -> list[str]:
    """The text as a server streams it: each marker of the family's parsers whole (they are special tokens,
    which SGLang's detectors expect in one delta), the text between them in pieces of :data:`CHUNK`."""
    markers = set()
    if case.tool:
        markers.update(TOOL_CALL_PARSERS[case.tool]().markers)
    if case.reasoning:
        markers.update(REASONING_PARSERS[case.reasoning]().markers)
    pattern = "|".join(re.escape(marker) for marker in sorted(markers, key=len, reverse=True) if marker)
    pieces = []
    for index, part in enumerate(re.split(f"({pattern})", case.text) if pattern else [case.text]):
        if index % 2:
            pieces.append(part)
        else:
            pieces.extend(part[start : start + CHUNK] for start in range(0, len(part), CHUNK))
    return pieces


# --- the comparison ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sglang():
    with sglang_parsers() as parsers:
        yield parsers


@pytest.fixture(scope="module")
def cases(sglang) -> list[Case]:
    found = [case for case in [*fixture_cases(), *rendered_cases()] if both_register(case, sglang)]
    keys = [case.key for case in found]
    assert len(keys) == len(set(keys)), "case ids must be unique"
    return found


def _safely(function, *args) -> Split | tuple[str, str]:
    try:
        return function(*args)
    except Exception as error:  # SGLang's parsers may raise on odd input; that is a result to compare too
        return ("raised", type(error).__name__)


@pytest.fixture(scope="module")
def disagreements(sglang, cases) -> dict[tuple[str, str, str], tuple[Any, Any]]:
    found = {}
    for case in cases:
        for mode, pieces in (("one-shot", None), ("streamed", chunks(case))):
            mine = ours(case, pieces)
            sglangs = _safely(theirs, sglang, case, pieces)
            if mine != sglangs:
                found[(*case.key, mode)] = (sglangs, mine)
    return found


# --- the deliberate differences ------------------------------------------------------------------------------

ONE_SHOT, STREAMED, BOTH = "one-shot", "streamed", "both"


@dataclass(frozen=True)
class Reason:
    sglang: str
    """What SGLang does."""
    ours: str
    """What we do."""
    why: str


REASONS = {
    "invented_call": Reason(
        "makes a call out of malformed or cut-off markup (partial, guessed or empty arguments)",
        "no call; the markup's raw text is reported in metadata `unparsed_tool_markup`",
        "a call is never invented, nor its arguments (issue 14, item 8)",
    ),
    "unparsed_markup": Reason(
        "keeps malformed or cut-off call markup in the content",
        "leaves it out of the content and reports its raw text in metadata `unparsed_tool_markup`",
        "markup is not the answer; nothing is lost either (issue 14, item 8)",
    ),
    "sglang_drops": Reason(
        "drops markup it cannot read (neither content nor a call)",
        "keeps it as content: it is not a call",
        "text the model wrote is never silently lost",
    ),
    "marker_in_string": Reason(
        "ends the call at a closing marker written inside a JSON string value, losing the rest",
        "reads the JSON string through: the marker is part of the value",
        "a payload ends where its JSON does (issue 14, item 6)",
    ),
    "sglang_stream": Reason(
        "its streamed result differs from its own one-shot result (which agrees with ours)",
        "streams exactly what one-shot parsing gives",
        "SGLang's incremental detectors lose or leak text at chunk boundaries (GLM-4.5's also streams a quoted"
        " number as a string); ours equal one-shot at every split",
    ),
    "forced": Reason(
        "`qwen3-thinking` and `minimax` always force reasoning: output without `</think>` is all reasoning, "
        "calls included",
        "reasoning starts where the prompt or the output opens the block",
        "the provider knows from the rendered prompt whether the block is open; MiniMax M2's template does not open it",
    ),
    "mistral_call_id": Reason(
        "finds no call in `[TOOL_CALLS]name[CALL_ID]id[ARGS]{...}` (the form the Mistral templates render)",
        "reads the call and its id",
        "it is the model's own format",
    ),
    "gpt_oss": Reason(
        "the tool parser alone keeps harmony channel markup as content and reads no call whose recipient is in the "
        "role header (`<|start|>assistant to=functions.f<|channel|>commentary json`)",
        "the final channel is the content; a recipient in the role header is a call",
        "issue 14, items 2 and 3",
    ),
    "text_after_calls": Reason(
        "drops text written after the calls (Gemma 4)",
        "keeps it as content",
        "text the model wrote is never silently lost",
    ),
    "mimo_values": Reason(
        "keeps the template's newlines around a value and reads `true` as false for a boolean (MiMo)",
        "strips the framing newlines and types the value by the schema",
        "the values are the ones the template rendered",
    ),
    "spark25_layout": Reason(
        "drops the arguments of GLM-4.5's newline-separated layout (spark25)",
        "reads them",
        "the layout is the one GLM-4.5's template writes",
    ),
    "beam_channels": Reason(
        "the tool parser alone keeps the analysis/final channel framing in the content",
        "drops the framing",
        "no markup reaches the content even without the reasoning parser",
    ),
    "k2_effort": Reason(
        "reads only the think delimiters of the request's reasoning effort (default high: `<ifm|think>`)",
        "reads the delimiters of every effort",
        "the output itself says which effort the model used",
    ),
    "muse_eom": Reason(
        "the reasoning parser alone drops the `<|eom|>` that ends a call's message",
        "the reasoning parser leaves it for the tool-call parser, which consumes it",
        "with tools the tool-call parser consumes it; without tools both sides leave the call's markup in the content",
    ),
    "glm45_no_newline": Reason(
        "no call from `<tool_call>get_weather</tool_call>` (no newline after the name)",
        "a call of the declared tool with no arguments",
        "the block holds a declared tool's name and nothing else",
    ),
    "unknown_tool": Reason(
        "drops a call to a tool the request did not declare (MiniMax M2)",
        "returns the call",
        "the client sees what the model called and can answer it; a dropped call is silent",
    ),
}

DELIBERATE_DIFFERENCES: dict[str, list[tuple[str, str, str]]] = {
    "invented_call": [
        ("tool apertus2509", "malformed:apertus2509:19", BOTH),
        ("tool apertus2509", "malformed:apertus2509:20", BOTH),
        ("tool dots", "malformed:dots:12", BOTH),
        ("tool gemma4", "malformed:gemma4:0", BOTH),
        ("tool gemma4", "malformed:gemma4:1", BOTH),
        ("tool gemma4", "malformed:gemma4:3", BOTH),
        ("tool gemma4", "malformed:gemma4:4", STREAMED),
        ("tool gigachat3", "malformed:gigachat3:16", STREAMED),
        ("tool gigachat35", "malformed:gigachat35:18", BOTH),
        ("tool glm47", "malformed:glm47:0", STREAMED),
        ("tool glm47", "malformed:glm47:1", BOTH),
        ("tool glm47", "malformed:glm47:2", STREAMED),
        ("tool hunyuan", "malformed:hunyuan:14", BOTH),
        ("tool inkling", "malformed:inkling:24", BOTH),
        ("tool kimi_k3", "malformed:kimi_k3:0", BOTH),
        ("tool kimi_k3", "malformed:kimi_k3:2", BOTH),
        ("tool kimi_k3", "malformed:kimi_k3:4", BOTH),
        ("tool ling3", "malformed:ling3:4", STREAMED),
        ("tool mimo", "malformed:mimo:1", BOTH),
        ("tool minimax-m2", "malformed:minimax-m2:0", STREAMED),
        ("tool minimax-m2", "malformed:minimax-m2:1", BOTH),
        ("tool minimax-m2", "malformed:minimax-m2:3", BOTH),
        ("tool minimax-m2", "sglang:minimax_m2:test_incomplete_block_no_closing_tag", STREAMED),
        ("tool minimax-m3", "malformed:minimax-m3:0", STREAMED),
        ("tool minimax-m3", "malformed:minimax-m3:3", BOTH),
        ("tool minimax-m3", "malformed:minimax-m3:4", STREAMED),
        ("tool poolside_v1", "malformed:poolside_v1:2", BOTH),
    ],
    "unparsed_markup": [
        ("tool gemma4", "malformed:gemma4:2", ONE_SHOT),
        ("tool gemma4", "malformed:gemma4:4", ONE_SHOT),
        ("tool gigachat3", "malformed:gigachat3:16", ONE_SHOT),
        ("tool glm47", "malformed:glm47:2", ONE_SHOT),
        ("tool hermes", "sglang:qwen25:test_malformed_json", ONE_SHOT),
        ("tool inkling", "malformed:inkling:25", BOTH),
        ("tool iquest_q1", "malformed:iquest_q1:5", BOTH),
        ("tool k2_horizon", "malformed:k2_horizon:22", BOTH),
        ("tool k2_horizon", "malformed:k2_horizon:23", BOTH),
        ("tool minicpm5", "malformed:minicpm5:10", ONE_SHOT),
        ("tool minicpm5", "malformed:minicpm5:11", ONE_SHOT),
        ("tool minicpm5", "malformed:minicpm5:9", ONE_SHOT),
        ("tool minimax-m2", "malformed:minimax-m2:0", ONE_SHOT),
        ("tool minimax-m2", "sglang:minimax_m2:test_incomplete_block_no_closing_tag", ONE_SHOT),
        ("tool minimax-m3", "malformed:minimax-m3:0", ONE_SHOT),
        ("tool minimax-m3", "malformed:minimax-m3:4", ONE_SHOT),
        ("tool step3", "malformed:step3:1", ONE_SHOT),
        ("tool trinity", "malformed:trinity:0", BOTH),
    ],
    "sglang_drops": [
        ("tool dots", "malformed:dots:13", BOTH),
        ("tool gigachat3", "malformed:gigachat3:17", BOTH),
        ("tool glm47", "malformed:glm47:0", ONE_SHOT),
        ("tool glm47", "malformed:glm47:3", BOTH),
        ("tool ling3", "malformed:ling3:4", ONE_SHOT),
        ("tool minimax-m2", "malformed:minimax-m2:2", BOTH),
        ("tool muse", "malformed:muse:26", BOTH),
    ],
    "marker_in_string": [
        ("tool cohere_command4", "written:cohere_command4:19", BOTH),
        ("tool dots", "written:dots:17", BOTH),
        ("tool interns1", "written:interns1:16", BOTH),
        ("tool lfm2", "written:lfm2:15", BOTH),
    ],
    "sglang_stream": [
        ("reasoning cohere_command4", "written:cohere_command4:31", STREAMED),
        ("tool apertus2509", "written:apertus2509:18", STREAMED),
        ("tool gigachat3", "malformed:gigachat3:15", STREAMED),
        ("tool gigachat3", "written:gigachat3:29", STREAMED),
        ("tool gigachat3", "written:gigachat3:30", STREAMED),
        ("tool gigachat3", "written:gigachat3:31", STREAMED),
        ("tool glm45", "sglang:glm4_moe:test_schema_type_coercion", STREAMED),
        ("tool hermes", "sglang:qwen25:test_has_tool_call_partial_tag", STREAMED),
        ("tool kimi_k2", "sglang:kimik2:test_invalid_tool_call", STREAMED),
        ("tool kimi_k2", "sglang:kimik2:test_no_leak_in_non_tool_text", STREAMED),
        ("tool kimi_k2", "sglang:kimik2:test_no_leak_of_argument_begin_token", STREAMED),
        ("tool kimi_k2", "sglang:kimik2:test_partial_tool_call_keeps_incomplete_json", STREAMED),
        ("tool minicpm5", "written:minicpm5:20", STREAMED),
        ("tool minimax-m3", "malformed:minimax-m3:1", STREAMED),
        ("tool mistral", "sglang:mistral:test_json_array_multiple_tool_calls", STREAMED),
        ("tool qwen3_coder", "written:qwen3_coder:48", STREAMED),
        ("tool trinity", "written:trinity:1", STREAMED),
        ("tool trinity", "written:trinity:2", STREAMED),
    ],
    "forced": [
        ("minimax + minimax-m2", "rendered:minimax-m2:MiniMaxAI-MiniMax-M2:one call", BOTH),
        ("reasoning minimax", "sglang:reasoning:test_detect_and_parse_normal_text", BOTH),
        ("reasoning qwen3-thinking", "sglang:reasoning:test_detect_and_parse_normal_text", BOTH),
    ],
    "mistral_call_id": [
        ("tool mistral", "rendered:mistral:Mistral-Small-3.2-24B-Instruct-2506:one call", BOTH),
        ("tool mistral", "rendered:mistral:Mistral-Small-3.2-24B-Instruct-2506:two calls", BOTH),
        ("tool mistral", "rendered:mistral:mistralai-Mistral-Nemo-Instruct-2407:one call", BOTH),
        ("tool mistral", "rendered:mistral:mistralai-Mistral-Nemo-Instruct-2407:two calls", BOTH),
    ],
    "gpt_oss": [
        ("tool gpt-oss", "rendered:gpt-oss:openai-gpt-oss-120b:no call", ONE_SHOT),
        ("tool gpt-oss", "rendered:gpt-oss:openai-gpt-oss-120b:one call", BOTH),
    ],
    "text_after_calls": [
        ("gemma4 + gemma4", "rendered:gemma4:google-gemma-4-31B-it:two calls, reasoning, content", ONE_SHOT),
    ],
    "mimo_values": [
        ("tool mimo", "written:mimo:3", BOTH),
    ],
    "spark25_layout": [
        ("tool spark25", "written:spark25:5", BOTH),
    ],
    "beam_channels": [
        ("tool beam", "malformed:beam:30", BOTH),
        ("tool beam", "malformed:beam:31", BOTH),
        ("tool beam", "written:beam:40", BOTH),
        ("tool beam", "written:beam:42", BOTH),
    ],
    "k2_effort": [
        ("reasoning k2_horizon", "written:k2_horizon:12", BOTH),
        ("reasoning k2_horizon", "written:k2_horizon:14", BOTH),
    ],
    "muse_eom": [
        ("reasoning muse", "written:muse:18", BOTH),
    ],
    "glm45_no_newline": [
        ("tool glm45", "sglang:glm4_moe:test_missing_name_separator_yields_no_calls", BOTH),
    ],
    "unknown_tool": [
        ("tool minimax-m2", "sglang:minimax_m2:test_unknown_function_name_is_dropped", BOTH),
    ],
}
OUR_BUGS: dict[str, list[tuple[str, str, str]]] = {}
"""Disagreements that are our own bugs, listed (with a reason) until fixed; none is known."""


def _expanded(table: dict[str, list[tuple[str, str, str]]]) -> dict[tuple[str, str, str], str]:
    expanded = {}
    for reason, entries in table.items():
        for family, case, mode in entries:
            for one in (ONE_SHOT, STREAMED) if mode == BOTH else (mode,):
                assert (family, case, one) not in expanded, (family, case, one)
                expanded[(family, case, one)] = reason
    return expanded


def test_every_disagreement_is_a_listed_difference(cases, disagreements):
    assert len(cases) > 300
    expected = _expanded(DELIBERATE_DIFFERENCES) | _expanded(OUR_BUGS)
    new = {key: disagreements[key] for key in sorted(set(disagreements) - set(expected))}
    gone = sorted(set(expected) - set(disagreements))
    report = "".join(f"\n{key}\n  sglang: {sglangs!r}\n  ours:   {mine!r}" for key, (sglangs, mine) in new.items())
    assert not new, f"disagreements with SGLang not in the table:{report}"
    assert not gone, f"listed differences no longer found (fixed? remove them from the table): {gone}"


def test_listed_stream_quirks_are_sglangs_own(sglang, cases):
    """Where the reason given is SGLang's streaming, SGLang's one-shot result agrees with ours."""
    by_key = {case.key: case for case in cases}
    for family, case_id, _ in DELIBERATE_DIFFERENCES["sglang_stream"]:
        case = by_key[(family, case_id)]
        one_shot = theirs(sglang, case)
        assert one_shot == ours(case) == ours(case, chunks(case)) != theirs(sglang, case, chunks(case)), case.key


def test_every_reason_is_used_and_in_the_differences_page():
    used = set(DELIBERATE_DIFFERENCES) | set(OUR_BUGS)
    assert used == set(REASONS)
    assert "docs/differences.md" in README.read_text(), "README.md lost its link to docs/differences.md"
    page = DIFFERENCES.read_text()
    assert "## Where we differ from SGLang" in page
    section = re.split(r"\n##+ ", page.split("## Where we differ from SGLang", 1)[1], maxsplit=1)[0]
    for reason in DELIBERATE_DIFFERENCES:
        assert f"`{reason}`" in section, f"docs/differences.md's 'Where we differ from SGLang' lacks the row `{reason}`"
