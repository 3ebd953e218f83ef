"""Non-streaming ``POST /generate`` against the emulator: shapes, stops, logprobs, n, batch, errors.

Shapes come from SGLang 0.5.23: ``srt/managers/tokenizer_manager.py`` (``_handle_batch_output`` builds
``meta_info``; ``add_logprob_to_meta_info``/``detokenize_logprob_tokens`` the logprob triples),
``srt/managers/schedule_batch.py`` (finish reasons) and ``srt/entrypoints/http_server.py`` (errors).
"""

from __future__ import annotations

import json
import math

import pytest

EOS = 151645  # <|im_end|>

# Keys and order of meta_info for a finished non-streaming request without logprobs
# (tokenizer_manager._handle_batch_output, then e2e_latency, then _stream_one_response's timestamp).
BASE_META_KEYS = [
    "id",
    "finish_reason",
    "prompt_tokens",
    "weight_version",
    "num_retractions",
    "reasoning_tokens",
    "completion_tokens",
    "cached_tokens",
    "weight_versions",
    "cached_tokens_details",
    "dp_rank",
    "e2e_latency",
    "response_sent_to_client_ts",
]
LOGPROB_KEYS = ["input_token_logprobs", "output_token_logprobs", "output_token_logprobs_length"]


async def generate(client, **body):
    response = await client.post("/generate", json=body)
    return response.status_code, response.json()


async def test_response_shape_and_eos_kept_in_ids_not_text(client, emulator, qwen3_tokenizer):
    emulator.script("Hello there.")
    status, out = await generate(client, input_ids=[9707, 1879], rid="req-1")
    assert status == 200
    assert list(out) == ["text", "output_ids", "meta_info"]
    assert list(out["meta_info"]) == BASE_META_KEYS
    expected_ids = [*qwen3_tokenizer.encode("Hello there.", add_special_tokens=False), EOS]
    assert out["output_ids"] == expected_ids
    assert out["text"] == "Hello there."
    meta = out["meta_info"]
    assert meta["id"] == "req-1"
    assert meta["finish_reason"] == {"type": "stop", "matched": EOS}
    assert meta["prompt_tokens"] == 2
    assert meta["completion_tokens"] == len(expected_ids)
    assert meta["weight_version"] == "default"
    assert meta["e2e_latency"] >= 0


async def test_text_prompt_is_tokenized_with_the_real_tokenizer(client, emulator):
    emulator.script("ok")
    _, out = await generate(client, text="Hello world")
    assert out["meta_info"]["prompt_tokens"] == 2
    assert len(out["meta_info"]["id"]) == 32  # uuid4().hex when no rid is given


async def test_input_ids_win_when_text_is_also_given(client, emulator):
    emulator.script("ok")
    _, out = await generate(client, text="one two three four five", input_ids=[1, 2])
    assert out["meta_info"]["prompt_tokens"] == 2


async def test_max_new_tokens_gives_length_finish(client):
    _, out = await generate(client, text="hi", sampling_params={"max_new_tokens": 5, "temperature": 0})
    assert out["meta_info"]["finish_reason"] == {"type": "length", "length": 5}
    assert len(out["output_ids"]) == 5


async def test_default_max_new_tokens_is_128(client):
    _, out = await generate(client, text="hi", sampling_params={"ignore_eos": True})
    assert out["meta_info"]["finish_reason"] == {"type": "length", "length": 128}


async def test_stop_string_is_trimmed_from_text_but_not_ids(client, emulator, qwen3_tokenizer):
    emulator.script("The answer is 42. END of story")
    _, out = await generate(client, text="q", sampling_params={"stop": ["END"]})
    assert out["meta_info"]["finish_reason"] == {"type": "stop", "matched": "END"}
    assert out["text"] == "The answer is 42. "
    assert qwen3_tokenizer.decode(out["output_ids"]).endswith("END")


async def test_no_stop_trim_keeps_the_stop_string(client, emulator):
    emulator.script("The answer is 42. END of story")
    _, out = await generate(client, text="q", sampling_params={"stop": "END", "no_stop_trim": True})
    assert out["text"] == "The answer is 42. END"


async def test_stop_token_ids_match(client, emulator, qwen3_tokenizer):
    dot = qwen3_tokenizer.encode(".", add_special_tokens=False)[0]
    emulator.script("First. Second.")
    _, out = await generate(client, text="q", sampling_params={"stop_token_ids": [dot]})
    assert out["meta_info"]["finish_reason"] == {"type": "stop", "matched": dot}
    assert out["output_ids"][-1] == dot
    assert out["text"] == "First"


async def test_ignore_eos_runs_to_the_length_limit(client, emulator):
    emulator.script("Short.")
    _, out = await generate(client, text="q", sampling_params={"ignore_eos": True, "max_new_tokens": 12})
    assert out["meta_info"]["finish_reason"] == {"type": "length", "length": 12}
    assert EOS in out["output_ids"]


async def test_min_new_tokens_suppresses_early_eos(client, emulator):
    emulator.script("Hi.")
    _, out = await generate(client, text="q", sampling_params={"min_new_tokens": 6, "max_new_tokens": 6})
    assert len(out["output_ids"]) == 6
    assert EOS not in out["output_ids"][:5]


async def test_skip_special_tokens_false_keeps_special_text(client, emulator):
    emulator.script([151644, 9707], [151644, 9707])  # <|im_start|>Hello, no EOS, twice
    _, out = await generate(client, text="q", sampling_params={"max_new_tokens": 2, "skip_special_tokens": False})
    assert out["text"] == "<|im_start|>Hello"
    _, out = await generate(client, text="q", sampling_params={"max_new_tokens": 2})
    assert out["text"] == "Hello"


async def test_output_logprobs_align_with_ids(client):
    _, out = await generate(
        client,
        text="hello",
        sampling_params={"max_new_tokens": 10, "temperature": 0.7},
        return_logprob=True,
        top_logprobs_num=4,
    )
    meta = out["meta_info"]
    assert LOGPROB_KEYS[0] in meta and list(meta).index("input_token_logprobs") == 5
    assert meta["input_token_logprobs"] == []  # logprob_start_len defaults to "output only"
    entries = meta["output_token_logprobs"]
    assert [entry[1] for entry in entries] == out["output_ids"]
    assert meta["output_token_logprobs_length"] == len(entries)
    assert all(len(e) == 3 and e[0] <= 0 and e[2] is None for e in entries)
    assert len(meta["output_top_logprobs"]) == len(entries)
    for (logprob, token_id, _), top in zip(entries, meta["output_top_logprobs"], strict=False):
        assert len(top) == 4
        values = [row[0] for row in top]
        assert values == sorted(values, reverse=True)
        assert math.fsum(math.exp(v) for v in values) <= 1.0 + 1e-9
        assert [logprob, token_id, None] in top


async def test_logprob_text_when_asked(client, qwen3_tokenizer):
    _, out = await generate(
        client,
        text="hello",
        sampling_params={"max_new_tokens": 4},
        return_logprob=True,
        top_logprobs_num=2,
        return_text_in_logprobs=True,
    )
    for _, token_id, text in out["meta_info"]["output_token_logprobs"]:
        assert text == qwen3_tokenizer.decode([token_id])
    assert all(isinstance(entry[2], str) for row in out["meta_info"]["output_top_logprobs"] for entry in row)


async def test_input_logprobs_from_logprob_start_len(client):
    prompt = [9707, 1879, 11, 1879, 13]
    _, out = await generate(
        client,
        input_ids=prompt,
        sampling_params={"max_new_tokens": 2},
        return_logprob=True,
        logprob_start_len=1,
        top_logprobs_num=2,
    )
    inputs = out["meta_info"]["input_token_logprobs"]
    assert [entry[1] for entry in inputs] == prompt[1:]
    assert inputs[0][0] is None and all(entry[0] <= 0 for entry in inputs[1:])
    tops = out["meta_info"]["input_top_logprobs"]
    assert tops[0] is None and all(len(row) == 2 for row in tops[1:])


async def test_logprob_start_len_beyond_prompt_is_rejected(client):
    status, out = await generate(client, input_ids=[1, 2], return_logprob=True, logprob_start_len=5)
    assert status == 400
    assert "is higher than the number of input tokens" in out["error"]["message"]


async def test_greedy_is_deterministic_and_seeded_sampling_reproducible(client):
    first = (await generate(client, text="x", sampling_params={"temperature": 0, "max_new_tokens": 8}))[1]
    again = (await generate(client, text="x", sampling_params={"temperature": 0, "max_new_tokens": 8}))[1]
    assert first["output_ids"] == again["output_ids"]
    seeded = {"temperature": 1.0, "sampling_seed": 7, "max_new_tokens": 8}
    a = (await generate(client, text="x", sampling_params=seeded))[1]
    b = (await generate(client, text="x", sampling_params=seeded))[1]
    assert a["output_ids"] == b["output_ids"]


async def test_n_samples_answer_as_a_list_with_fresh_rids(client):
    status, out = await generate(
        client, text="x", rid="mine", sampling_params={"n": 3, "temperature": 1.0, "max_new_tokens": 6}
    )
    assert status == 200 and isinstance(out, list) and len(out) == 3
    rids = [item["meta_info"]["id"] for item in out]
    assert len(set(rids)) == 3 and "mine" not in rids
    assert all("index" not in item for item in out)
    assert len({tuple(item["output_ids"]) for item in out}) > 1


async def test_greedy_n_samples_are_identical(client):
    _, out = await generate(client, text="x", sampling_params={"n": 2, "temperature": 0, "max_new_tokens": 6})
    assert out[0]["output_ids"] == out[1]["output_ids"]


async def test_batch_of_prompts_answers_in_order(client, emulator):
    emulator.script("one", "two")
    status, out = await generate(client, input_ids=[[1, 2], [3, 4, 5]], rid=["a", "b"])
    assert status == 200
    assert [item["meta_info"]["id"] for item in out] == ["a", "b"]
    assert [item["meta_info"]["prompt_tokens"] for item in out] == [2, 3]
    assert [item["text"] for item in out] == ["one", "two"]


async def test_return_prompt_token_ids(client):
    _, out = await generate(
        client, input_ids=[5, 6, 7], return_prompt_token_ids=True, sampling_params={"max_new_tokens": 1}
    )
    assert list(out) == ["text", "output_ids", "meta_info", "prompt_token_ids"]
    assert out["prompt_token_ids"] == [5, 6, 7]


async def test_cached_tokens_follow_the_shared_prefix(client, emulator):
    prompt = list(range(1000, 1040))
    _, first = await generate(client, input_ids=prompt, sampling_params={"max_new_tokens": 4, "temperature": 0})
    assert first["meta_info"]["cached_tokens"] == 0
    follow_up = prompt + first["output_ids"][:-1] + [77, 78]
    _, second = await generate(client, input_ids=follow_up, sampling_params={"max_new_tokens": 2})
    assert second["meta_info"]["cached_tokens"] == len(prompt) + len(first["output_ids"]) - 1
    _, same = await generate(client, input_ids=prompt, sampling_params={"max_new_tokens": 1})
    assert same["meta_info"]["cached_tokens"] == len(prompt) - 1  # the last token is always computed
    assert (await client.post("/flush_cache")).status_code == 200
    _, flushed = await generate(client, input_ids=prompt, sampling_params={"max_new_tokens": 1})
    assert flushed["meta_info"]["cached_tokens"] == 0


async def test_recorded_requests(client, emulator):
    body = {"input_ids": [1, 2, 3], "sampling_params": {"max_new_tokens": 1}, "rid": "r"}
    await client.post("/generate", json=body)
    assert emulator.requests == [body]


# ---- errors: status and body as SGLang answers them ----


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"sampling_params": {"max_new_tokens": 1}}, "Either text, input_ids or input_embeds should be provided."),
        ({"input_ids": []}, "input_ids cannot be empty."),
        (
            {"text": "x", "sampling_params": {"temperature": -1}},
            "temperature must be a non-negative finite number, got -1.",
        ),
        ({"text": "x", "sampling_params": {"top_p": 0}}, "top_p must be in (0, 1], got 0."),
        ({"text": "x", "sampling_params": {"top_k": 0}}, "top_k must be -1 (disable) or at least 1, got 0."),
        ({"text": "x", "sampling_params": {"min_p": 2}}, "min_p must be in [0, 1], got 2."),
        ({"text": "x", "sampling_params": {"frequency_penalty": 3}}, "frequency_penalty must be in [-2, 2], got 3."),
        (
            {"text": "x", "sampling_params": {"repetition_penalty": 0}},
            "repetition_penalty must be in (0, 2] (1.0 = no penalty), got 0.",
        ),
        ({"text": "x", "sampling_params": {"max_new_tokens": -1}}, "max_new_tokens must be at least 0, got -1."),
        (
            {"text": "x", "sampling_params": {"min_new_tokens": 5, "max_new_tokens": 2}},
            "min_new_tokens must be in [0, max_new_tokens(2)], got 5.",
        ),
        (
            {"text": "x", "sampling_params": {"logit_bias": {"999999": 1.0}}},
            "logit_bias must has keys in [0, 151668], got 999999.",
        ),
        (
            {"text": "x", "sampling_params": {"regex": "a", "ebnf": "b"}},
            "Only one of json_schema, regex, ebnf, or structural_tag can be set.",
        ),
        ({"text": ["a", "b"], "rid": ["same", "same"]}, "Duplicate request IDs detected within the request: ['same']"),
    ],
)
async def test_value_errors(client, body, message):
    status, out = await generate(client, **body)
    assert status == 400
    assert out == {"error": {"message": message}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"text": "x", "sampling_params": {"foo": 1}}, "unknown field `foo`, expected one of `max_new_tokens`, "),
        ({"text": "x", "sampling_params": {"temperature": "hot"}}, 'invalid type: string "hot", expected f64'),
        ({"text": "x", "stream": "yes"}, 'invalid type: string "yes", expected a boolean'),
        # ("input_ids": "abc" and "text": 5 fail FastAPI's validation first, as in real SGLang: test_emulator_golden)
        ({"text": "x", "stream": 1}, "invalid type: integer `1`, expected a boolean"),
        ({"text": "x", "sampling_params": {"stop": 3}}, "invalid type: integer `3`, expected "),
        ({"text": "x", "sampling_params": {"max_new_tokens": 1.5}}, "invalid type: floating point `1.5`, expected i64"),
    ],
)
async def test_contract_errors(client, body, message):
    status, out = await generate(client, **body)
    assert status == 400
    assert list(out) == ["error"] and out["error"].startswith(message)


async def test_malformed_json_is_a_validation_error(client):
    response = await client.post("/generate", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    body = response.json()
    assert body["object"] == "error" and body["type"] == "Bad Request" and body["code"] == 400
    assert "json_invalid" in body["message"] and "JSON decode error" in body["message"]


async def test_prompt_longer_than_context(qwen3_tokenizer):
    import httpx

    from sglang_native_provider.emulator import Emulator

    async with Emulator("qwen3", context_length=16) as emu, httpx.AsyncClient(base_url=emu.url) as http:
        response = await http.post("/generate", json={"input_ids": list(range(20))})
        assert response.status_code == 400
        assert response.json()["error"]["message"] == (
            "The input (20 tokens) is longer than the model's context length (16 tokens)."
        )
        response = await http.post("/generate", json={"input_ids": [1] * 10, "sampling_params": {"max_new_tokens": 8}})
        assert response.status_code == 400
        assert "exceeds the model's maximum context length of 16 tokens" in response.json()["error"]["message"]


async def test_a_structural_tag_forcing_a_call_is_what_the_unscripted_model_writes(client):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "unit": {"enum": ["C", "F"]}},
        "required": ["city", "unit"],
    }
    structures = [{"begin": '<tool_call>\n{"name":"f", "arguments":', "schema": schema, "end": "}\n</tool_call>"}]
    tag = {"type": "structural_tag", "structures": structures, "triggers": ["<tool_call>"], "at_least_one": True}
    _, forced = await generate(client, text="x", sampling_params={"structural_tag": json.dumps(tag)})
    assert forced["text"] == '<tool_call>\n{"name":"f", "arguments":{"city": "", "unit": "C"}}\n</tool_call>'
    # A tag that does not force a call leaves free text as it was.
    free = {**tag, "at_least_one": False}
    _, unforced = await generate(client, text="x", sampling_params={"structural_tag": json.dumps(free)})
    _, plain = await generate(client, text="x")
    assert unforced["text"] == plain["text"] != forced["text"]
