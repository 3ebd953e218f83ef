"""Model-native structural tags (xgrammar's ``{"type": "structural_tag", "format": {...}}``) for a forced call.

For the families whose SGLang 0.5.23 detector names a model-native tag (``get_structural_tag_name()``, which
our parser classes declare as ``structural_tag_name``), SGLang's OpenAI server constrains a
forced call (``tool_choice`` "required" or a named function) with what xgrammar 0.2.7's
``get_model_structural_tag(model=..., tools=..., tool_choice=..., reasoning=False, parallel_tool_calls=...)``
returns (``parallel_tool_calls`` being the request's, True unless it says False), sent as
``model_dump(by_alias=True)`` (every field, defaults included). The builders here write that same JSON without
depending on xgrammar; ``tests/fixtures/xgrammar_structural_tags.json`` (regenerated from the real library by
``tests/real_sglang/dump_structural_tags.py``) holds them to it.

The tag covers only the output after any reasoning (``reasoning=False``): like SGLang with a reasoning parser,
the request's ``require_reasoning`` lets the server apply it once the reasoning block has closed.

Each builder takes the forced functions (the ``function`` objects of the tools, only the named one for a named
choice), whether the choice named one and ``parallel_tool_calls``, and returns the tag's ``format``. With
``parallel_tool_calls=False`` xgrammar caps the calls at one: a repeating group of calls gets
``stop_after_first``; a named call, already a single tag, is unchanged (Harmony's aside).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .parsers import TOOL_CALL_PARSERS

__all__ = ["NATIVE_TAGS", "XGRAMMAR_MODELS", "arguments_schema", "native_structural_tag"]

Functions = Sequence[Mapping[str, Any]]
Format = dict[str, Any]

_THINK_TOKENS = ["<think>", "</think>"]


def arguments_schema(function: Mapping[str, Any]) -> dict[str, Any] | bool:
    """The schema a call's arguments follow, as xgrammar reads a tool: ``true`` (any JSON) for a function
    marked ``strict: false`` or without parameters, else its parameters (also when ``strict`` is unset)."""
    if function.get("strict") is False or function.get("parameters") is None:
        return True
    return function["parameters"]


def _const(value: str) -> Format:
    return {"type": "const_string", "value": value}


def _arguments(function: Mapping[str, Any], style: str = "json") -> Format:
    return {
        "type": "json_schema",
        "json_schema": arguments_schema(function),
        "style": style,
        "any_order": False,
        "max_whitespace_cnt": None,
    }


def _tag(begin: str, content: Format, end: str) -> Format:
    return {"type": "tag", "begin": begin, "content": content, "end": end}


def _sequence(*elements: Format) -> Format:
    return {"type": "sequence", "elements": list(elements)}


def _separated(tags: list[Format], separator: str, *, at_least_one: bool, single: bool = False) -> Format:
    """``tags`` joined by ``separator``; ``single`` (``stop_after_first``) ends the group after its first tag."""
    return {
        "type": "tags_with_separator",
        "tags": tags,
        "separator": separator,
        "at_least_one": at_least_one,
        "stop_after_first": single,
    }


def _triggered(trigger: str, tags: list[Format], excludes: list[str], *, single: bool) -> Format:
    return {
        "type": "triggered_tags",
        "triggers": [trigger],
        "tags": tags,
        "at_least_one": True,
        "stop_after_first": single,
        "excludes": excludes,
    }


def qwen_3_coder(functions: Functions, named: bool, parallel_tool_calls: bool = True) -> Format:
    """Qwen3-Coder / Qwen3.5 XML (``qwen_3_coder``): ``<tool_call>\\n<function=NAME>\\n`` + ``<parameter=KEY>``
    arguments + ``\\n</function>\\n</tool_call>``; a named call is that one tag, "required" at least one."""
    tags = [
        _tag(f"<tool_call>\n<function={f['name']}>\n", _arguments(f, "qwen_xml"), "\n</function>\n</tool_call>")
        for f in functions
    ]
    if named:
        return tags[0]
    return _triggered("<tool_call>\n<function=", tags, list(_THINK_TOKENS), single=not parallel_tool_calls)


def glm_4_7(functions: Functions, named: bool, parallel_tool_calls: bool = True) -> Format:
    """GLM-4.7 / GLM-5 (``glm_4_7``): ``<tool_call>NAME`` + ``<arg_key>/<arg_value>`` pairs + ``</tool_call>``;
    between calls the free text may not hold the other control tokens."""
    tags = [_tag(f"<tool_call>{f['name']}", _arguments(f, "glm_xml"), "</tool_call>") for f in functions]
    excludes = [*_THINK_TOKENS, "</tool_call>", "<arg_key>", "</arg_key>", "<arg_value>", "</arg_value>"]
    return tags[0] if named else _triggered("<tool_call>", tags, excludes, single=not parallel_tool_calls)


def _dsml(functions: Functions, named: bool, parallel: bool, *, invoke: str, calls: str, style: str) -> Format:
    """DeepSeek's DSML block: ``\\n\\n<｜DSML｜CALLS>\\n``, invokes (each ending in a newline), the block's end."""
    tags = [
        _tag(f'<｜DSML｜{invoke} name="{f["name"]}">\n', _arguments(f, style), f"</｜DSML｜{invoke}>\n")
        for f in functions
    ]
    body = tags[0] if named else _separated(tags, "", at_least_one=True, single=not parallel)
    return _sequence(_const(f"\n\n<｜DSML｜{calls}>\n"), body, _const(f"</｜DSML｜{calls}>"))


def deepseek_v3_2(functions: Functions, named: bool, parallel_tool_calls: bool = True) -> Format:
    """DeepSeek-V3.2 (``deepseek_v3_2``): ``<｜DSML｜function_calls>`` with ``deepseek_xml`` parameters."""
    return _dsml(functions, named, parallel_tool_calls, invoke="invoke", calls="function_calls", style="deepseek_xml")


def deepseek_v4(functions: Functions, named: bool, parallel_tool_calls: bool = True) -> Format:
    """DeepSeek-V4 (``deepseek_v4``): as V3.2, in a ``<｜DSML｜tool_calls>`` block."""
    return _dsml(functions, named, parallel_tool_calls, invoke="invoke", calls="tool_calls", style="deepseek_xml")


def deepseek_v4_1(functions: Functions, named: bool, parallel_tool_calls: bool = True) -> Format:
    """DeepSeek-V4.1 (``deepseek_v4_1``): ``<｜DSML｜ calls>`` with space-prefixed ``invoke``/``parameter`` tags."""
    return _dsml(functions, named, parallel_tool_calls, invoke=" invoke", calls=" calls", style="deepseek_v4_1_xml")


def harmony(functions: Functions, named: bool, parallel_tool_calls: bool = True) -> Format:
    """gpt-oss Harmony (``harmony``): messages joined by ``<|start|>assistant``, a call being a commentary
    message to ``functions.NAME`` (in the three header orders the model writes) ending in ``<|call|>``.
    Without reasoning there is no analysis message to admit, so the messages are calls only. With
    ``parallel_tool_calls=False`` (named or not) xgrammar caps the call messages alone: an optional group of at
    least one call that stops after the first."""
    tags = []
    for function in functions:
        name, content = function["name"], _arguments(function)
        tags += [
            _tag(f"<|channel|>commentary to=functions.{name}<|constrain|>json<|message|>", content, "<|call|>"),
            _tag(f" to=functions.{name}<|channel|>commentary <|constrain|>json<|message|>", content, "<|call|>"),
            _tag(f" to=functions.{name}<|channel|>commentary json<|message|>", content, "<|call|>"),
        ]
    if parallel_tool_calls:
        return _separated(tags, "<|start|>assistant", at_least_one=False)
    return {"type": "optional", "content": _separated(tags, "<|start|>assistant", at_least_one=True, single=True)}


def kimi(functions: Functions, named: bool, parallel_tool_calls: bool = True) -> Format:
    """Kimi K2 / K2.5 (``kimi``): a tool-calls section of ``<|tool_call_begin|>functions.NAME:INDEX`` calls with
    JSON arguments. As SGLang's Kimi detector, arguments of a function not marked strict are any JSON object
    (Kimi's parser reads objects only), not the function's schema."""

    def call(function: Mapping[str, Any]) -> Format:
        if not function.get("strict"):
            function = {**function, "strict": True, "parameters": {"type": "object"}}
        content = _sequence(
            {"type": "regex", "pattern": r"\d+"}, _const("<|tool_call_argument_begin|>"), _arguments(function)
        )
        return _tag(f"<|tool_call_begin|>functions.{function['name']}:", content, "<|tool_call_end|>")

    tags = [call(function) for function in functions]
    body = tags[0] if named else _separated(tags, "", at_least_one=True, single=not parallel_tool_calls)
    return _sequence(_const("<|tool_calls_section_begin|>"), body, _const("<|tool_calls_section_end|>"))


Builder = Callable[[Functions, bool, bool], Format]

XGRAMMAR_MODELS: dict[str, Builder] = {
    "qwen_3_coder": qwen_3_coder,
    "glm_4_7": glm_4_7,
    "deepseek_v3_2": deepseek_v3_2,
    "deepseek_v4": deepseek_v4,
    "deepseek_v4_1": deepseek_v4_1,
    "harmony": harmony,
    "kimi": kimi,
}
"""xgrammar's model names (``get_model_structural_tag(model=...)``) -> the builder of that model's tag."""

NATIVE_TAGS: dict[str, Builder] = {
    name: XGRAMMAR_MODELS[parser.structural_tag_name]
    for name, parser in TOOL_CALL_PARSERS.items()
    if parser.structural_tag_name is not None
}
"""Our parser names -> the builder of the tag SGLang 0.5.23 sends for them (the xgrammar model each parser
class names as its ``structural_tag_name``)."""


def native_structural_tag(
    parser_name: str, functions: Functions, *, named: bool, parallel_tool_calls: bool = True
) -> dict[str, Any] | None:
    """The structural tag forcing one of ``functions`` in the family's markup (at most one call when
    ``parallel_tool_calls`` is False), or None without a native tag."""
    parser = TOOL_CALL_PARSERS.get(parser_name)
    if parser is None or parser.structural_tag_name is None:
        return None
    builder = XGRAMMAR_MODELS[parser.structural_tag_name]
    return {"type": "structural_tag", "format": builder(functions, named, parallel_tool_calls)}
