"""Regenerate ``tests/fixtures/xgrammar_structural_tags.json``: the structural tags real SGLang 0.5.23 sends for a
forced call (``tool_choice`` "required" or a named function), per tool-call parser, tool set and
``parallel_tool_calls`` (the request's, which SGLang's OpenAI server passes on; False caps the call count at one).

Run from the dev venv: ``python tests/real_sglang/dump_structural_tags.py`` (it builds or reuses the real-SGLang
venv, see ``environment.py``, and re-runs itself there with ``--inside``). Inside, each tag comes from SGLang's own
``FunctionCallParser(tools, parser).get_structure_constraint(choice, parallel_tool_calls=parallel,
thinking_mode=False)`` (for native tags that is xgrammar's ``get_model_structural_tag(..., reasoning=False,
parallel_tool_calls=parallel)``, with the preparation SGLang's detector does first), dumped as SGLang sends it:
``model_dump(by_alias=True)``.
``thinking_mode=False`` is what SGLang's OpenAI server passes when a reasoning parser owns the reasoning block.
A case whose constraint is not a structural tag (GLM-4.7 with no strict tool gets SGLang's full-assistant EBNF)
keeps only the constraint's type.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "xgrammar_structural_tags.json"

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": True,
    },
}
PING = {"type": "function", "function": {"name": "ping", "description": "No arguments"}}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}, "exact": {"type": "boolean"}},
            "required": ["query", "limit"],
        },
        "strict": False,
    },
}
TOOL_SETS = {"weather_time": [WEATHER, TIME], "ping_search": [PING, SEARCH]}
CHOICES = {
    "required": "required",
    "named": {"type": "function", "function": {"name": "get_time"}},
    "named_search": {"type": "function", "function": {"name": "search"}},
}
CASES = [
    ("weather_time", "required"),
    ("weather_time", "named"),
    ("ping_search", "required"),
    ("ping_search", "named_search"),
]
PARALLEL = [True, False]  # the request's parallel_tool_calls (SGLang's default True)
# Parsers whose SGLang detector names an xgrammar model (native tags), and those with a legacy frame.
NATIVE = [
    "qwen3_coder",
    "step3p5",
    "nanbeige",
    "glm47",
    "deepseekv32",
    "deepseekv4",
    "deepseekv41",
    "gpt-oss",
    "kimi_k2",
]
LEGACY = ["qwen25", "qwen", "trinity", "hermes", "llama3", "mistral", "deepseekv3", "deepseekv31"]
LEGACY += ["apertus2509", "interns1", "inkling"]


def _inside() -> dict:
    from sglang.srt.entrypoints.openai.protocol import Tool, ToolChoice
    from sglang.srt.function_call.function_call_parser import FunctionCallParser

    cases = []
    for parser_name in NATIVE + LEGACY:
        for (tools_name, choice_name), parallel in itertools.product(CASES, PARALLEL):
            choice = CHOICES[choice_name]
            tools = [Tool.model_validate(tool) for tool in TOOL_SETS[tools_name]]
            parsed_choice = choice if isinstance(choice, str) else ToolChoice.model_validate(choice)
            constraint = FunctionCallParser(tools, parser_name).get_structure_constraint(
                parsed_choice, parallel_tool_calls=parallel, thinking_mode=False
            )
            case = {"parser": parser_name, "tools": tools_name, "tool_choice": choice_name}
            case["parallel_tool_calls"] = parallel
            case["constraint"] = None if constraint is None else constraint[0]
            if case["constraint"] == "structural_tag":  # else (GLM-4.7 without strict tools: its own EBNF) not kept
                case["tag"] = constraint[1].model_dump(by_alias=True)
            cases.append(case)
    return {
        "provenance": (
            f"SGLang {version('sglang')} with xgrammar {version('xgrammar')}: FunctionCallParser(tools, parser)"
            ".get_structure_constraint(tool_choice, parallel_tool_calls=case['parallel_tool_calls'], "
            "thinking_mode=False)[1]"
            ".model_dump(by_alias=True); regenerate with python tests/real_sglang/dump_structural_tags.py"
        ),
        "tool_sets": TOOL_SETS,
        "tool_choices": CHOICES,
        "cases": cases,
    }


def main() -> int:
    if "--inside" in sys.argv:
        print(json.dumps(_inside(), ensure_ascii=False))
        return 0
    sys.path.insert(0, str(Path(__file__).parent))
    import environment

    python, _model = environment.ensure()
    # SGLang's legacy triggers come from a set: a fixed hash seed keeps their order, and the fixture's diffs, stable.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    command = [str(python), __file__, "--inside"]
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    FIXTURE.write_text(json.dumps(json.loads(out), ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {FIXTURE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
