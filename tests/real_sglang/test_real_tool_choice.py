"""Real tier: every structural tag a forced call (``tool_choice`` "required" or a named function) sends compiles
with real SGLang 0.5.23's xgrammar backend, and the grammar accepts the call the emulator writes under it (and
no plain answer instead).

The tags are built here, by the provider's code; SGLang's ``XGrammarGrammarBackend.dispatch_structural_tag``
(what the server runs for ``sampling_params.structural_tag``) compiles them inside the real-SGLang venv, with the
tiny Qwen3's tokenizer, and a fresh matcher per text reports whether the text is accepted and complete.
"""

from __future__ import annotations

import json
import subprocess

import environment
import pytest

from sglang_native_provider.emulator.grammar import forced_call_text
from sglang_native_provider.tool_choice import resolve_tool_choice, supported_parsers

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
SEARCH = {
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
PING = {"type": "function", "function": {"name": "ping"}}
TOOLS = [WEATHER, SEARCH, PING]  # non-strict, strict, without parameters: one set, as each compile takes seconds
CHOICES = {"required": "required", "named": {"type": "function", "function": {"name": "search"}}}

# Runs in the real-SGLang venv: {"model": dir, "checks": [{"tag": str, "texts": [str]}]} on stdin, per check
# {"error": str | None, "accepted": [[accepted, completed] per text]} on stdout.
CHECKER = r"""
import json, sys
from pathlib import Path
from transformers import AutoTokenizer
from sglang.srt.constrained.xgrammar_backend import XGrammarGrammarBackend

request = json.load(sys.stdin)
tokenizer = AutoTokenizer.from_pretrained(request["model"])
vocab_size = json.loads((Path(request["model"]) / "config.json").read_text())["vocab_size"]
backend = XGrammarGrammarBackend(tokenizer, vocab_size=vocab_size)
results = []
for check in request["checks"]:
    grammar = backend.dispatch_structural_tag(check["tag"])
    matcher = getattr(grammar, "matcher", None)
    if matcher is None:
        results.append({"error": repr(getattr(grammar, "error_message", grammar)), "accepted": []})
        continue
    accepted = []
    for text in check["texts"]:
        matcher.reset()
        ok = matcher.accept_string(text)
        accepted.append([ok, ok and matcher.is_completed()])
    results.append({"error": None, "accepted": accepted})
print(json.dumps(results))
"""


def _cases():
    for parser_name in supported_parsers():
        for choice_name, choice in CHOICES.items():
            tag = resolve_tool_choice(choice, TOOLS, parser_name, drop_params=False, model="m").structural_tag
            yield f"{parser_name}:{choice_name}", tag


@pytest.fixture(scope="module")
def compiled():
    """{case id: (tag, emulator's call, result)} for every case, compiled in one venv process."""
    python, model = environment.ensure()
    cases = list(_cases())
    checks = [{"tag": tag, "texts": [forced_call_text(tag) or "", "It is sunny."]} for _, tag in cases]
    out = subprocess.run(
        [str(python), "-c", CHECKER],
        input=json.dumps({"model": str(model), "checks": checks}),
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    ).stdout
    results = json.loads(out.strip().splitlines()[-1])
    return {
        case_id: (tag, check["texts"][0], result)
        for (case_id, tag), check, result in zip(cases, checks, results, strict=True)
    }


@pytest.mark.parametrize("case_id", [case_id for case_id, _ in _cases()])
def test_each_forced_call_tag_compiles_and_admits_the_emulators_call_only(compiled, case_id):
    tag, call, result = compiled[case_id]
    assert result["error"] is None, f"{case_id}: {tag} does not compile: {result['error']}"
    assert call, f"{case_id}: the emulator writes no call under {tag}"
    (call_accepted, call_complete), (answer_accepted, _) = result["accepted"]
    assert call_accepted and call_complete, f"{case_id}: the grammar rejects the emulator's call {call!r}"
    assert not answer_accepted, f"{case_id}: the grammar admits a plain answer, so it forces no call"
