"""The emulator's own tokenizer (``emulator/tokenizer.py``, no transformers) against transformers' for every
offline recipe: the same ids, texts, added tokens, special tokens and, over the recipes' and the fixtures'
chat templates, byte-equal renders. The emulator is held to real SGLang by golden tests, so it must tokenize,
detokenize and render exactly as the tokenizer SGLang loads would."""

from __future__ import annotations

import dataclasses
import enum
import json
import random
from pathlib import Path

import jinja2
import pytest

from sglang_native_provider.emulator import load_emulator_tokenizer
from sglang_native_provider.emulator.tokenizer import FastTokenizer
from sglang_native_provider.offline_tokenizers import RECIPES, build_tokenizer, load_tokenizer

FIXTURES = Path(__file__).parent / "fixtures"
TEMPLATES = sorted([*FIXTURES.glob("chat_templates/*.jinja"), *FIXTURES.glob("chat_templates_2026/*.jinja")])

CORPUS = [
    "",
    "Hello world",
    "Hello, world! I'm fine, you're not; they'll see. We'd've",
    "  one\t two\n\nthree  \n",
    "     leading and trailing     ",
    "\n\n\n\n",
    "\t\t \r\n \r\n\r\n  \u00a0\u2003 ",
    "中文测试：こんにちは。한국어 텍스트",
    "مرحبا بالعالم שלום עולם",
    "café e\u0301 cafe\u0301 Å Å ﬁ ① ǅ",  # composed and decomposed: Qwen normalizes to NFC
    "क्षत्रिय தமிழ் ภาษาไทย",
    "👩‍💻 🇫🇷 👍🏽 🏳️‍🌈 😀😃😄 \U0001f9d1\u200d\U0001f680",
    "1234567890 3.14159 -42 1e10 0x1F",
    'def f(x: int) -> str:\n    return f"{x=}"\n',
    '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "°C"}}',
    "<b>html &amp; entities</b> \\n \\t \\\\",
    "\x00\x01\x7f control \x1b[0m",
    "word" * 200,
    " ".join(["antidisestablishmentarianism"] * 20),
]


def _random_texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    pool = "ab Z9 \n\t.,;:'\"!?-_()[]{}<>|/\\@#$%^&*éüß中文字ひらカナ한글🙂👩‍🔥\u0301\u200d\u00a0"
    return ["".join(rng.choice(pool) for _ in range(rng.randint(1, 60))) for _ in range(count)]


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city (°C).",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name, e.g. Paris"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    },
    {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}},
]


class Role(str, enum.Enum):
    USER = "user"


@dataclasses.dataclass
class Note:  # a message object, as frameworks pass them
    role: str
    content: str


CONVERSATIONS = {
    "user": [{"role": "user", "content": "Hi there 👋"}],
    "system": [{"role": "system", "content": "Be brief.\n\n"}, {"role": "user", "content": "  What is 2+2?  "}],
    "tools": [
        {"role": "system", "content": "You help."},
        {"role": "user", "content": "Weather in Paris and Tokyo?"},
        {
            "role": "assistant",
            "content": "",
            "reasoning_content": "Two cities, two calls.",
            "tool_calls": [
                {
                    "id": "call_abcdefghi",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                },
                {
                    "id": "call_jklmnopqr",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": {"city": "Tokyo", "unit": "celsius"}},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_abcdefghi", "name": "get_weather", "content": "18°C, sunny"},
        {"role": "tool", "tool_call_id": "call_jklmnopqr", "name": "get_weather", "content": '{"temp": 21}'},
        {"role": "assistant", "content": "Paris 18°C, Tokyo 21°C.", "reasoning_content": None},
        {"role": "user", "content": "Thanks <|im_end|> </s> [INST]"},
    ],
    "string_arguments": [
        {"role": "user", "content": "Call noop."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "abcdefghi", "type": "function", "function": {"name": "noop", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "abcdefghi", "content": "done"},
    ],
    "reasoning": [  # reasoning under its older name: templates read it as reasoning_content (or thinking)
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4", "reasoning": "2+2 is 4."},
        {"role": "user", "content": "And 3+3?"},
        {"role": "assistant", "content": "6", "thinking": "3+3 is 6."},
        {"role": "user", "content": "Thanks."},
    ],
    "prefill": [
        {"role": "user", "content": "Count to three."},
        {"role": "assistant", "content": "One, two, "},
    ],
    "objects": [Note("user", "As a dataclass.")],
    "rich": [  # what templates see is rebuilt from JSON types: a str enum is its text, other objects placeholders
        {
            "role": Role.USER,
            "content": [{"type": "text", "text": "Look:"}, {"type": "image", "image": bytearray(b"x")}],
        },
        {"role": "assistant", "content": Role.USER},
        {"role": "user", "content": "ok"},
    ],
}
VARIANTS = [
    {"add_generation_prompt": True, "tools": TOOLS},
    {"add_generation_prompt": False},
    {"add_generation_prompt": True, "enable_thinking": False},
    {"add_generation_prompt": True, "tools": TOOLS, "thinking": True, "custom_variable": {"nested": [1, "two"]}},
]


@pytest.fixture(scope="module", params=sorted(RECIPES))
def pair(request):
    """(transformers' tokenizer, ours) for one recipe."""
    return load_tokenizer(request.param), load_emulator_tokenizer(request.param)


def _outcome(tokenizer, *args, **kwargs):
    """What ``tokenizer.apply_chat_template(*args, **kwargs)`` returns, or the kind of error it raises (and a
    template error's message)."""
    try:
        return "ok", tokenizer.apply_chat_template(*args, **kwargs)
    except jinja2.TemplateError as exc:
        return type(exc).__name__, str(exc)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        return type(exc).__name__, None


def test_the_emulator_loads_a_recipe_without_transformers_and_once():
    tokenizer = load_emulator_tokenizer("qwen3")
    assert isinstance(tokenizer, FastTokenizer)
    assert load_emulator_tokenizer("qwen3") is tokenizer


def test_a_tokenizer_directory_still_loads_with_transformers():
    from transformers import PreTrainedTokenizerBase

    directory = str(build_tokenizer("qwen3"))
    tokenizer = load_emulator_tokenizer(directory)
    assert isinstance(tokenizer, PreTrainedTokenizerBase)
    assert tokenizer.encode("Hello world", add_special_tokens=False) == [9707, 1879]


def test_built_tokenizer_json_is_compact():
    """An unindented tokenizer.json parses faster: the emulator's start is mostly that parse."""
    with (build_tokenizer("qwen3") / "tokenizer.json").open("rb") as file:
        head = file.read(1 << 16)
    assert b"\n" not in head and head.startswith(b'{"version":')


def test_vocabulary_and_special_tokens_match(pair):
    theirs, ours = pair
    assert ours.clean_up_tokenization_spaces == theirs.clean_up_tokenization_spaces is False
    assert ours.response_template == theirs.response_template
    assert ours.all_special_tokens == theirs.all_special_tokens
    assert (ours.vocab_size, len(ours), ours.model_max_length) == (
        theirs.vocab_size,
        len(theirs),
        theirs.model_max_length,
    )
    assert ours.special_tokens_map == theirs.special_tokens_map
    for name in ("bos_token", "eos_token", "pad_token", "unk_token"):
        assert (getattr(ours, name), getattr(ours, f"{name}_id")) == (
            getattr(theirs, name),
            getattr(theirs, f"{name}_id"),
        )
    assert ours.chat_template == theirs.chat_template
    assert ours.get_vocab() == theirs.get_vocab()
    assert {i: repr(t) for i, t in ours.added_tokens_decoder.items()} == {
        i: repr(t) for i, t in theirs.added_tokens_decoder.items()
    }
    assert ours.added_tokens_encoder == theirs.added_tokens_encoder
    assert sorted(ours.all_special_ids) == sorted(theirs.all_special_ids)
    added = [token.content for token in theirs.added_tokens_decoder.values()]
    assert ours.convert_tokens_to_ids(added) == theirs.convert_tokens_to_ids(added)
    assert ours.convert_tokens_to_ids("<no such token>") == theirs.convert_tokens_to_ids("<no such token>")
    some = [0, 1, 100, ours.vocab_size - 1, *theirs.added_tokens_decoder]
    assert ours.convert_ids_to_tokens(some) == theirs.convert_ids_to_tokens(some)
    assert ours.convert_ids_to_tokens(some, skip_special_tokens=True) == theirs.convert_ids_to_tokens(
        some, skip_special_tokens=True
    )
    assert ours.convert_ids_to_tokens(42) == theirs.convert_ids_to_tokens(42)


def test_encode_and_decode_match(pair):
    theirs, ours = pair
    added = [token.content for token in theirs.added_tokens_decoder.values()]
    rng = random.Random(7)
    with_special = (
        ["".join(f"{rng.choice(added)}{word}" for word in ("a", " b", "\n", "", "🙂")) for _ in range(10)]
        + [f"text {token} more" for token in added[:40]]
        + ["".join(added[:60])]
    )
    for text in [*CORPUS, *_random_texts(3, 60), *with_special]:
        for add_special_tokens in (False, True):
            ids = theirs.encode(text, add_special_tokens=add_special_tokens)
            assert ours.encode(text, add_special_tokens=add_special_tokens) == ids, (text, add_special_tokens)
            for skip in (False, True):
                assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(ids, skip_special_tokens=skip)
    # any id sequence, cut UTF-8 and special tokens included; one id; a batch
    special_ids = list(theirs.added_tokens_decoder)
    for _ in range(150):
        ids = [rng.randrange(len(theirs)) for _ in range(rng.randint(1, 12))]
        ids += rng.sample(special_ids, k=min(2, len(special_ids)))
        rng.shuffle(ids)
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(ids, skip_special_tokens=skip)
            options = {"skip_special_tokens": skip, "spaces_between_special_tokens": False}  # as validation.py
            assert ours.decode(ids, **options) == theirs.decode(ids, **options)
            cleaned = {"skip_special_tokens": skip, "clean_up_tokenization_spaces": True}
            assert ours.decode(ids, **cleaned) == theirs.decode(ids, **cleaned)
        assert ours.decode(ids[0]) == theirs.decode(ids[0])
    for texts in (CORPUS[2], CORPUS[:6]):
        assert ours(texts) == {key: list(value) for key, value in theirs(texts).items()}
        assert ours(texts, add_special_tokens=False) == dict(theirs(texts, add_special_tokens=False))
    batch = [theirs.encode(text) for text in CORPUS[:5]]
    assert ours.decode(batch, skip_special_tokens=True) == theirs.decode(batch, skip_special_tokens=True)
    for token_id in special_ids:
        assert ours.decode([token_id]) == theirs.decode([token_id])


def _templates() -> list[tuple[str, str | None]]:
    return [("own", None), *((path.stem, path.read_text(encoding="utf-8")) for path in TEMPLATES)]


def test_chat_templates_render_byte_equal(pair):
    """The recipe's own template and every fixture template, over conversations with tools, tool results,
    reasoning, prefills and message objects, with and without a generation prompt and extra variables."""
    theirs, ours = pair
    rendered = 0
    for name, template in _templates():
        for conversation_name, conversation in CONVERSATIONS.items():
            for variant in VARIANTS:
                kwargs = {"chat_template": template, **variant}
                expected = _outcome(theirs, conversation, tokenize=False, **kwargs)
                got = _outcome(ours, conversation, tokenize=False, **kwargs)
                assert got == expected, (name, conversation_name, variant)
                rendered += expected[0] == "ok"
            if conversation_name == "prefill":
                kwargs = {"chat_template": template, "continue_final_message": True}
                expected = _outcome(theirs, conversation, tokenize=False, **kwargs)
                assert _outcome(ours, conversation, tokenize=False, **kwargs) == expected
    assert rendered >= len(TEMPLATES) * len(VARIANTS) * 2  # most templates render most conversations


def test_chat_template_ids_match(pair):
    """Tokenized renders (ids, and the dict form) of the recipe's own template, batched too."""
    theirs, ours = pair
    for conversation in CONVERSATIONS.values():
        for variant in VARIANTS:
            expected = _outcome(theirs, conversation, return_dict=False, **variant)
            assert _outcome(ours, conversation, return_dict=False, **variant) == expected
    conversation = CONVERSATIONS["system"]
    expected = theirs.apply_chat_template(conversation, tools=TOOLS, add_generation_prompt=True)
    got = ours.apply_chat_template(conversation, tools=TOOLS, add_generation_prompt=True)
    assert got == {key: list(value) for key, value in expected.items()}
    batch = [CONVERSATIONS["user"], CONVERSATIONS["system"]]
    assert ours.apply_chat_template(batch, return_dict=False) == theirs.apply_chat_template(batch, return_dict=False)
    assert ours.apply_chat_template(batch, tokenize=False) == theirs.apply_chat_template(batch, tokenize=False)


def test_template_errors_and_sandbox_match(qwen3_tokenizer):
    theirs = load_tokenizer("qwen3")
    message = [{"role": "user", "content": "x"}]
    cases = [
        "{{ raise_exception('no ' + messages[0].role) }}",
        "{{ messages[0].__class__ }}",
        "{% set ns = namespace(_hidden=1) %}{{ ns._hidden }}",
        "{% set ns = namespace(a=1) %}{% set ns._b = 2 %}{{ ns.a }}",
        "{{ dict(a=1, b=[2]) | tojson }}{{ dict.fromkeys(['x'], 0) | tojson(indent=2) }}",
        "{{ '<&>' | tojson }}{{ {'b': 1, 'a': 'é'} | tojson(sort_keys=true, separators=(',', ':')) }}",
        "{% for m in messages %}{% if loop.first %}{% continue %}{% endif %}{% break %}{% endfor %}ok",
        "{% generation %}{{ messages[0].content }}{% endgeneration %}",
        "{{ strftime_now('%Y') }} {{ bos_token }} {{ eos_token }} {{ pad_token }}",
        "{{ messages.append(1) }}",
        "{{ unknown_variable.attribute }}",
        "  {% if true %}\n  lstrip and trim\n  {% endif %}\n",
        "{{ documents | tojson }}{{ tools | tojson }}",
    ]
    for template in cases:
        for extra in ({}, {"documents": [{"title": "t", "text": "body"}], "tools": TOOLS}):
            call = {"chat_template": template, "tokenize": False, **extra}
            expected = _outcome(theirs, message, **call)
            assert _outcome(qwen3_tokenizer, message, **call) == expected, template
    for bad in ([], [{"role": "user", "content": "x"}, "not a message"]):
        assert _outcome(qwen3_tokenizer, bad)[0] == _outcome(theirs, bad)[0]
    both = {"add_generation_prompt": True, "continue_final_message": True}
    assert _outcome(qwen3_tokenizer, CONVERSATIONS["prefill"], **both)[0] == "ValueError"


def test_what_it_does_not_implement_it_refuses(qwen3_tokenizer, tmp_path):
    with pytest.raises(NotImplementedError, match="return_assistant_tokens_mask"):
        qwen3_tokenizer.apply_chat_template(CONVERSATIONS["user"], return_assistant_tokens_mask=True)
    with pytest.raises(NotImplementedError, match="return_tensors"):
        qwen3_tokenizer.apply_chat_template(CONVERSATIONS["user"], return_tensors="np")
    source = build_tokenizer("qwen3")
    (tmp_path / "tokenizer.json").write_bytes((source / "tokenizer.json").read_bytes())
    config = json.loads((source / "tokenizer_config.json").read_text())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({**config, "add_bos_token": True}))
    with pytest.raises(ValueError, match="AutoTokenizer"):
        FastTokenizer.from_directory(tmp_path)
