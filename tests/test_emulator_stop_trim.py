"""Which matched stop token stays in ``text``, with and without the server's parser flags, as in SGLang 0.5.23.

``DetokenizerManager.trim_matched_stop`` (``srt/managers/detokenizer_manager.py``) drops the matched stop token
from the ids it decodes unless ``no_stop_trim`` is set, or the server runs ``--tool-call-parser gpt-oss`` and the
token is 200012 (gpt-oss's ``<|call|>``), or a response-template parser whose tool-call closer it is;
``skip_special_tokens`` then still drops a special token. ``output_ids`` always end with the matched token, and
``--reasoning-parser`` changes nothing. The gpt-oss-style tokenizer here is a character-level one with
gpt-oss's special tokens at their real ids.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from _harmony import HARMONY_SPECIALS, write_harmony_tokenizer

from sglang_native_provider.emulator import Emulator, ScriptedCompletion
from sglang_native_provider.emulator.stop_tokens import kept_stop_token_ids, stop_token_ids
from sglang_native_provider.emulator.tokenizer import FastTokenizer

CALL, RETURN = HARMONY_SPECIALS["<|call|>"], HARMONY_SPECIALS["<|return|>"]
TOOL_CALL = '<|channel|>commentary to=functions.get_weather<|message|>{"city": "Paris"}'
TOOL_CALL_TEXT = 'commentary to=functions.get_weather{"city": "Paris"}'  # its special tokens skipped
ANSWER = "<|channel|>final<|message|>Sunny."
MODEL_CONFIG = Path(__file__).parent / "fixtures" / "real_sglang" / "tiny-qwen3"


@pytest.fixture(scope="module")
def harmony(tmp_path_factory) -> str:
    return str(write_harmony_tokenizer(tmp_path_factory.mktemp("harmony")))


def _generate(emulator: Emulator, completion: ScriptedCompletion, **sampling) -> dict:
    emulator.script(completion)
    body = {"input_ids": [10, 11, 12], "sampling_params": {"max_new_tokens": 200, **sampling}}
    return httpx.post(f"{emulator.url}/generate", json=body, timeout=30).json()


def _ends_on_call() -> ScriptedCompletion:
    return ScriptedCompletion(text=TOOL_CALL + "<|call|>", end_with_eos=False)


# (server flags, sampling params, the text)
BOTH_GPT_OSS = {"tool_call_parser": "gpt-oss", "reasoning_parser": "gpt-oss"}
GPT_OSS_CALL_CASES = [
    ({}, {}, TOOL_CALL_TEXT),
    ({}, {"skip_special_tokens": False}, TOOL_CALL),
    ({}, {"skip_special_tokens": False, "no_stop_trim": True}, TOOL_CALL + "<|call|>"),
    ({"reasoning_parser": "gpt-oss"}, {"skip_special_tokens": False}, TOOL_CALL),
    ({"tool_call_parser": "gpt-oss"}, {}, TOOL_CALL_TEXT),
    ({"tool_call_parser": "gpt-oss"}, {"skip_special_tokens": False}, TOOL_CALL + "<|call|>"),
    (BOTH_GPT_OSS, {"skip_special_tokens": False}, TOOL_CALL + "<|call|>"),
    ({"tool_call_parser": "gpt-oss"}, {"skip_special_tokens": False, "no_stop_trim": True}, TOOL_CALL + "<|call|>"),
    ({"tool_call_parser": "beam"}, {"skip_special_tokens": False}, TOOL_CALL + "<|call|>"),  # a one-token closer
    ({"tool_call_parser": "qwen25"}, {"skip_special_tokens": False}, TOOL_CALL),
]


@pytest.mark.parametrize(("flags", "sampling", "text"), GPT_OSS_CALL_CASES)
def test_the_call_stop_token_stays_in_text_only_under_the_gpt_oss_tool_parser(harmony, flags, sampling, text):
    with Emulator(harmony, **flags) as emulator:
        answer = _generate(emulator, _ends_on_call(), **sampling)
    assert answer["text"] == text
    assert answer["output_ids"][-1] == CALL  # the ids always keep the matched stop token
    assert answer["meta_info"]["finish_reason"] == {"type": "stop", "matched": CALL}


@pytest.mark.parametrize("flags", [{}, BOTH_GPT_OSS])
@pytest.mark.parametrize(
    ("sampling", "text"),
    [({}, "finalSunny."), ({"skip_special_tokens": False}, ANSWER), ({"no_stop_trim": True}, "finalSunny.")],
)
def test_an_ordinary_eos_is_trimmed_under_either_server_setup(harmony, flags, sampling, text):
    with Emulator(harmony, **flags) as emulator:
        answer = _generate(emulator, ScriptedCompletion(text=ANSWER), **sampling)
        kept = _generate(emulator, ScriptedCompletion(text=ANSWER), skip_special_tokens=False, no_stop_trim=True)
    assert answer["text"] == text and answer["output_ids"][-1] == RETURN
    assert answer["meta_info"]["finish_reason"] == {"type": "stop", "matched": RETURN}
    assert kept["text"] == ANSWER + "<|return|>"


@pytest.mark.parametrize("flags", [{}, {"tool_call_parser": "gpt-oss"}])
def test_a_stream_ends_with_the_same_text(harmony, flags):
    with Emulator(harmony, **flags) as emulator:
        whole = _generate(emulator, _ends_on_call(), skip_special_tokens=False)
        emulator.script(_ends_on_call())
        body = {"input_ids": [10, 11, 12], "sampling_params": {"skip_special_tokens": False}, "stream": True}
        with httpx.stream("POST", f"{emulator.url}/generate", json=body, timeout=30) as response:
            events = [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]
    last = json.loads(events[-2])
    assert events[-1] == "[DONE]"
    assert (last["text"], last["output_ids"]) == (whole["text"], whole["output_ids"])


@pytest.mark.parametrize("flags", [{}, {"tool_call_parser": "qwen25", "reasoning_parser": "qwen3"}])
@pytest.mark.parametrize(
    ("sampling", "suffix"),
    [
        ({}, ""),
        ({"skip_special_tokens": False}, ""),
        ({"no_stop_trim": True}, ""),  # kept, then skipped as a special token
        ({"skip_special_tokens": False, "no_stop_trim": True}, "<|im_end|>"),
    ],
)
def test_qwen3_eos_is_trimmed_with_and_without_parsers(qwen3_tokenizer, flags, sampling, suffix):
    call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    with Emulator("qwen3", **flags) as emulator:
        answer = _generate(emulator, ScriptedCompletion(text=call), **sampling)
    assert answer["text"] == call + suffix
    assert answer["output_ids"][-1] == qwen3_tokenizer.eos_token_id


def test_kept_stop_tokens_by_tool_call_parser(harmony, tmp_path):
    tokenizer = FastTokenizer.from_directory(harmony)
    assert kept_stop_token_ids("gpt-oss", tokenizer) == {CALL}
    assert kept_stop_token_ids("beam", tokenizer) == {CALL}  # Beam's built-in template: <|call|> is one token
    assert kept_stop_token_ids("response_template", tokenizer) == set()  # no template, no detector
    for parser in (None, "qwen25", "hermes", "kimi_k2"):
        assert kept_stop_token_ids(parser, tokenizer) == set()
    template = {"fields": {"tool_calls": {"open": "<|start|>", "close": ["<|end|>", "<|end|><|start|>assistant"]}}}
    with_template = FastTokenizer.from_directory(
        write_harmony_tokenizer(tmp_path / "templated", {"response_template": template})
    )
    assert kept_stop_token_ids("response_template", with_template) == {HARMONY_SPECIALS["<|end|>"]}
    assert kept_stop_token_ids("beam", with_template) == {HARMONY_SPECIALS["<|end|>"]}  # the tokenizer's wins
    # gpt-oss's rule is the id, not the token: a tokenizer without id 200012 keeps nothing else
    assert kept_stop_token_ids("gpt-oss", with_template) == {CALL}


def test_generation_stops_on_the_model_configs_eos_ids_too(harmony, qwen3_tokenizer, llama_tokenizer):
    """SGLang stops on the tokenizer's EOS, its additional stop tokens and the config's and generation config's
    EOS ids."""
    assert stop_token_ids(FastTokenizer.from_directory(harmony), [RETURN, 199999, CALL]) == {RETURN, 199999, CALL}
    with Emulator(harmony) as emulator:  # the tokenizer directory's own config.json and generation_config.json
        assert emulator.model.eos_token_ids == {RETURN, 199999, CALL}
    end_of_text = qwen3_tokenizer.convert_tokens_to_ids("<|endoftext|>")
    hello = qwen3_tokenizer.encode("Hello", add_special_tokens=False)
    completion = ScriptedCompletion(token_ids=(*hello, end_of_text, *hello), end_with_eos=False)
    with Emulator("qwen3", model_config=MODEL_CONFIG) as emulator:  # generation_config.json: [151645, 151643]
        answer = _generate(emulator, completion)
    assert answer["output_ids"] == [*hello, end_of_text] and answer["text"] == "Hello"
    assert answer["meta_info"]["finish_reason"] == {"type": "stop", "matched": end_of_text}
    with Emulator("qwen3") as emulator:  # the recipe alone: only <|im_end|>
        assert emulator.model.eos_token_ids == {qwen3_tokenizer.eos_token_id}
    eom = llama_tokenizer.convert_tokens_to_ids("<|eom_id|>")
    with Emulator("llama3.1") as emulator:  # <|eom_id|> is one of SGLang's additional stop tokens
        assert emulator.model.eos_token_ids == {llama_tokenizer.eos_token_id, eom}
