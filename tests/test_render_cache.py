"""Render once (``render_cache.py``): every kept or extended prompt equals a fresh rendering, for every fixture
template, over conversations that grow the way chats and agent loops grow; a conversation sent again renders
nothing, a growing one renders only its window, and the cache keeps to its budget."""

from __future__ import annotations

import datetime
import json
import random
from pathlib import Path

import litellm
import pytest

from sglang_native_provider import render_cache as cache_module
from sglang_native_provider import templating
from sglang_native_provider.fingerprints import common_prefix_length
from sglang_native_provider.offline_tokenizers import load_tokenizer
from sglang_native_provider.render_cache import RenderCache, render_cache, render_prompt

FIXTURES = Path(__file__).parent / "fixtures"
TEMPLATES = sorted([*FIXTURES.glob("chat_templates/*.jinja"), *FIXTURES.glob("chat_templates_2026/*.jinja")])
FAMILY_TOKENIZERS = {
    "meta-llama": "llama3.1",
    "NousResearch": "llama3.1",
    "mistralai": "mistral-nemo",
    "Mistral": "mistral-nemo",
    "deepseek": "deepseek-v4",
    "Qwen-Qwen3.5": "qwen3.5",
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


def _call(number: int, city: str) -> dict:
    arguments = {"city": city}
    return {"id": f"call{number:05d}", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}


def _chat(turns: int, *, system: bool = True, reasoning: bool = False) -> list[dict]:
    """A user/assistant chat (assistant turns with reasoning when asked)."""
    messages = [{"role": "system", "content": "You are terse."}] if system else []
    for turn in range(turns):
        messages.append({"role": "user", "content": f"Question {turn}: what next?"})
        answer = {"role": "assistant", "content": f"Answer {turn}."}
        if reasoning:
            answer["reasoning_content"] = f"Thinking about {turn}."
        messages.append(answer)
    return messages


def _agent(rounds: int) -> list[dict]:
    """User turns, each answered by tool calls, their results and a final answer (reasoning on some)."""
    messages = [{"role": "system", "content": "You check the weather."}]
    number = 0
    for turn in range(rounds):
        messages.append({"role": "user", "content": f"Weather in city {turn}?"})
        for step in range(2):
            number += 1
            call = {"role": "assistant", "content": "", "tool_calls": [_call(number, f"City {turn}.{step}")]}
            if step == 0:
                call["reasoning_content"] = "I should look it up."
            messages += [call, {"role": "tool", "tool_call_id": f"call{number:05d}", "content": '{"sky": "clear"}'}]
        messages.append({"role": "assistant", "content": f"Clear in city {turn}.", "reasoning_content": "Done."})
    return messages


CONVERSATIONS = {
    "chat": (_chat(6), None),
    "chat without system": (_chat(5, system=False), None),
    "reasoning chat": (_chat(5, reasoning=True), None),
    "agent": (_agent(4), TOOLS),
}


def _tokenizer_for(template: Path):
    name = next((recipe for prefix, recipe in FAMILY_TOKENIZERS.items() if template.name.startswith(prefix)), "qwen3")
    return load_tokenizer(name)


def _outcome(render, tokenizer, messages, tools, template: str):
    try:
        return render(tokenizer, messages, tools=tools, chat_template=template, chat_template_kwargs={}, model="m")
    except litellm.BadRequestError as error:
        return ("refused", str(error).split(":")[-1])


@pytest.fixture(autouse=True)
def empty_cache():
    render_cache.clear()
    yield
    render_cache.clear()


@pytest.fixture
def extensions(monkeypatch):
    """How many prompts were built on a kept one (not rendered whole)."""
    built: list[int] = []
    original = cache_module._extended

    def counting(*args):
        kept = original(*args)
        built.append(kept is not None)
        return kept

    monkeypatch.setattr(cache_module, "_extended", counting)
    return built


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.stem)
def test_kept_and_extended_prompts_equal_a_fresh_rendering(template, extensions):
    """Each conversation grown one message at a time, a prompt at each step a model would answer; asked twice
    (the second from the cache)."""
    tokenizer = _tokenizer_for(template)
    source = template.read_text(encoding="utf-8")
    compared = 0
    for name, (conversation, tools) in CONVERSATIONS.items():
        render_cache.clear()
        for end in range(1, len(conversation) + 1):
            messages = conversation[:end]
            if messages[-1]["role"] == "assistant":
                continue
            fresh = _outcome(templating.render_prompt, tokenizer, messages, tools, source)
            for _ in range(2):
                assert _outcome(render_prompt, tokenizer, messages, tools, source) == fresh, (name, end)
            compared += 1
    assert compared >= 20
    if template.name.startswith(("Qwen", "meta-llama", "Mistral")):
        assert sum(extensions) >= 5  # the family's own tokenizer: most growing prompts were built on kept ones


def test_a_conversation_sent_again_renders_nothing_and_a_growing_one_only_its_window(qwen3_tokenizer, monkeypatch):
    rendered: list[int] = []
    original = templating.render_text

    def counting(tokenizer, messages, **kwargs):
        rendered.append(len(messages))
        return original(tokenizer, messages, **kwargs)

    monkeypatch.setattr(templating, "render_text", counting)
    conversation = _chat(25)
    render = {"tools": None, "chat_template": None, "chat_template_kwargs": {}, "model": "qwen3"}
    for end in range(2, 50, 2):
        render_prompt(qwen3_tokenizer, conversation[:end], **render)
    rendered.clear()
    render_prompt(qwen3_tokenizer, conversation[:48], **render)
    assert rendered == []
    render_prompt(qwen3_tokenizer, conversation[:50], **render)
    # the opening (system, first user), then the last exchange with and without the new one: 50 messages, 6 rendered
    assert rendered and max(rendered) <= 6
    fresh = templating.render_prompt(qwen3_tokenizer, conversation[:50], **render)
    assert render_prompt(qwen3_tokenizer, conversation[:50], **render) == fresh


def test_settings_that_change_the_rendering_are_part_of_the_key(qwen3_tokenizer):
    messages = [*_chat(2)[:3], {"role": "user", "content": "And then?"}]
    render = {"chat_template": None, "model": "qwen3"}
    plain = render_prompt(qwen3_tokenizer, messages, tools=None, chat_template_kwargs={}, **render)
    with_tools = render_prompt(qwen3_tokenizer, messages, tools=TOOLS, chat_template_kwargs={}, **render)
    no_thinking = render_prompt(
        qwen3_tokenizer, messages, tools=None, chat_template_kwargs={"enable_thinking": False}, **render
    )
    assert len({json.dumps(ids) for ids in (plain, with_tools, no_thinking)}) == 3
    assert no_thinking == templating.render_prompt(
        qwen3_tokenizer, messages, tools=None, chat_template_kwargs={"enable_thinking": False}, **render
    )


def test_a_template_that_prints_the_date_is_rendered_again_the_next_day(qwen3_tokenizer, monkeypatch):
    template = "{{ strftime_now('%Y-%m-%d') }}{% for m in messages %}<|im_start|>{{ m.content }}<|im_end|>{% endfor %}"
    messages = [{"role": "user", "content": "Today?"}]
    render = {"tools": None, "chat_template": template, "chat_template_kwargs": {}, "model": "qwen3"}
    today = render_prompt(qwen3_tokenizer, messages, **render)

    class Tomorrow(datetime.date):
        @classmethod
        def today(cls):
            return datetime.date(2031, 1, 2)

    monkeypatch.setattr(cache_module.datetime, "date", Tomorrow)
    key_today = render_cache.size_bytes
    render_prompt(qwen3_tokenizer, messages, **render)
    assert render_cache.size_bytes > key_today  # a second entry: tomorrow's key differs
    assert today == templating.render_prompt(qwen3_tokenizer, messages, **render)


def test_the_cache_keeps_to_its_budget_least_recently_used_first_out():
    cache = RenderCache(budget_bytes=100)
    for number in range(5):
        cache.put((number,), f"text {number}", 30)
    assert cache.size_bytes <= 100
    assert cache.get((0,)) is None and cache.get((1,)) is None
    assert cache.get((4,)) == "text 4"
    cache.get((2,))  # used: kept over 3
    cache.put((5,), "text 5", 30)
    assert cache.get((2,)) == "text 2" and cache.get((3,)) is None
    cache.put((6,), "too big", 101)
    assert cache.get((6,)) is None and cache.size_bytes <= 100


def test_a_template_error_is_not_kept(qwen3_tokenizer):
    template = (
        "{% if messages|length > 1 %}{{ raise_exception('one message only') }}{% endif %}{{ messages[0].content }}"
    )
    render = {"tools": None, "chat_template": template, "chat_template_kwargs": {}, "model": "qwen3"}
    messages = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    for _ in range(2):
        with pytest.raises(litellm.BadRequestError, match="one message only"):
            render_prompt(qwen3_tokenizer, messages, **render)


def test_common_prefix_length_of_texts_and_token_ids():
    def shared(x, y):
        length = min(len(x), len(y))
        return next((i for i in range(length) if x[i] != y[i]), length)

    rng = random.Random(7)
    for _ in range(500):
        a = [rng.randint(-1, 200_000) for _ in range(rng.randint(0, 40))]
        b = a[: rng.randint(0, len(a))] + [rng.randint(-1, 200_000) for _ in range(rng.randint(0, 4))]
        assert common_prefix_length(a, b) == shared(a, b)
        text_a, text_b = ("".join(chr(32 + value % 500) for value in ids) for ids in (a, b))
        assert common_prefix_length(text_a, text_b) == shared(text_a, text_b)
