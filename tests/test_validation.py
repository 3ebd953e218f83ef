"""Responses and stream events that do not hold together are refused with a 502 naming the field and index;
SGLang's ``text`` is compared with the ids decoded locally."""

from __future__ import annotations

import http.server
import json
import math
import threading

import litellm
import openai
import pytest
from litellm.types.utils import ModelResponse

import sglang_native_provider
from sglang_native_provider.demo import WEATHER_TOOL
from sglang_native_provider.parsers import REASONING_PARSERS, TOOL_CALL_PARSERS
from sglang_native_provider.protocol import GenerateOutput
from sglang_native_provider.response import ResponseContext, build_model_response
from sglang_native_provider.validation import text_mismatch

litellm.suppress_debug_info = True

HI_IDS = [13048, 0, 151645]  # "Hi", "!", <|im_end|>


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


def _output(ids=HI_IDS, text="Hi!", *, logprobs=True, tops=0, finish=None, **meta):
    meta_info = {
        "id": "r",
        "finish_reason": finish or {"type": "stop", "matched": 151645},
        "prompt_tokens": 9,
        "completion_tokens": len(ids),
        "cached_tokens": 0,
        **meta,
    }
    if logprobs:
        meta_info["output_token_logprobs"] = [[-0.5, token_id, None] for token_id in ids]
    if tops:
        meta_info["output_top_logprobs"] = [
            [[-0.5 - rank, token_id + rank, None] for rank in range(tops)] for token_id in ids
        ]
    return {"text": text, "output_ids": ids, "meta_info": meta_info}


def _context(tokenizer, *, logprobs=True, top_logprobs=0, **sampling_params):
    return ResponseContext(
        model="qwen3",
        prompt_ids=list(range(9)),
        tokenizer=tokenizer,
        tools=[WEATHER_TOOL],
        tool_parser=TOOL_CALL_PARSERS["qwen25"](),
        reasoning_parser=REASONING_PARSERS["qwen3"](),
        reasoning_opened=False,
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        sampling_params=sampling_params,
    )


def _build(tokenizer, items, **context):
    outputs = [GenerateOutput.model_validate(item) for item in items]
    return build_model_response(ModelResponse(), outputs, _context(tokenizer, **context))


def _with(change, **output):
    item = _output(**output)
    change(item)
    return item


def _set_logprob(index, value):
    return lambda item: item["meta_info"]["output_token_logprobs"][index].__setitem__(0, value)


SIX = [13048, 0, 1234, 5678, 91, 151645]
BAD_OUTPUTS = {
    "4 logprobs for 6 ids": (
        _with(lambda item: item["meta_info"]["output_token_logprobs"].__delitem__(slice(4, None)), ids=SIX),
        "output_token_logprobs has 4 entries for 6 output_ids",
    ),
    "8 logprobs for 6 ids": (
        _with(lambda item: item["meta_info"]["output_token_logprobs"].extend([[-1.0, 5, None]] * 2), ids=SIX),
        "output_token_logprobs has 8 entries for 6 output_ids",
    ),
    "entry for another token": (
        _with(lambda item: item["meta_info"]["output_token_logprobs"][1].__setitem__(1, 42)),
        "output_token_logprobs[1] is for token 42, output_ids[1] is 0",
    ),
    "NaN logprob": (_with(_set_logprob(2, math.nan)), "output_token_logprobs[2] logprob = nan"),
    "inf logprob": (_with(_set_logprob(0, math.inf)), "output_token_logprobs[0] logprob = inf"),
    "positive logprob": (_with(_set_logprob(1, 0.7)), "output_token_logprobs[1] logprob = 0.7"),
    "null logprob": (_with(_set_logprob(1, None)), "output_token_logprobs[1] logprob = None"),
    "negative id": (_output(ids=[13048, -1, 151645]), "output_ids[1] = -1 is not a token id"),
    "huge id": (_output(ids=[10**12, 0, 151645]), "output_ids[0] = 1000000000000 is not a token id"),
    "id past the vocabulary": (_output(ids=[13048, 151669]), "output_ids[1] = 151669 is not a token id (0 to 151668)"),
    "unknown finish type": (_output(finish={"type": "weird"}), "finish_reason.type 'weird' is not one of"),
    "negative prompt_tokens": (_output(prompt_tokens=-3), "meta_info.prompt_tokens = -3 is negative"),
    "negative completion_tokens": (
        _with(lambda item: item["meta_info"].update(completion_tokens=-1)),
        "meta_info.completion_tokens = -1 is negative",
    ),
    "negative cached_tokens": (_output(cached_tokens=-1), "meta_info.cached_tokens = -1 is negative"),
    "more cached than prompt": (_output(cached_tokens=10), "cached_tokens = 10 exceeds prompt_tokens = 9"),
    "completion_tokens disagree": (
        _with(lambda item: item["meta_info"].update(completion_tokens=7)),
        "completion_tokens = 7 for 3 output_ids",
    ),
    "logprobs missing": (_output(logprobs=False), "output_token_logprobs is missing (logprobs were asked)"),
}


@pytest.mark.parametrize("case", list(BAD_OUTPUTS))
def test_an_inconsistent_output_is_a_502_naming_the_field(qwen3_tokenizer, case):
    item, fragment = BAD_OUTPUTS[case]
    with pytest.raises(litellm.InternalServerError) as caught:
        _build(qwen3_tokenizer, [item])
    assert caught.value.status_code == 502
    assert fragment in str(caught.value)


def _top_rows(change):
    return _with(change, tops=2)


BAD_TOP_ROWS = {
    "one row short": (
        _top_rows(lambda item: item["meta_info"]["output_top_logprobs"].pop()),
        "output_top_logprobs has 2 rows for 3 output_ids",
    ),
    "a row too short": (
        _top_rows(lambda item: item["meta_info"]["output_top_logprobs"][1].pop()),
        "output_top_logprobs[1] has 1 entries, 2 were asked",
    ),
    "a missing row": (
        _top_rows(lambda item: item["meta_info"]["output_top_logprobs"].__setitem__(2, None)),
        "output_top_logprobs[2] has no row",
    ),
    "unsorted": (
        _top_rows(lambda item: item["meta_info"]["output_top_logprobs"][0].reverse()),
        "output_top_logprobs[0] is not sorted best first",
    ),
    "an unknown id": (
        _top_rows(lambda item: item["meta_info"]["output_top_logprobs"][0][1].__setitem__(1, -5)),
        "output_top_logprobs[0] token id[1] = -5",
    ),
    "missing": (_output(tops=0), "output_top_logprobs is missing (top_logprobs were asked)"),
}


@pytest.mark.parametrize("case", list(BAD_TOP_ROWS))
def test_misaligned_top_logprob_rows_are_refused(qwen3_tokenizer, case):
    item, fragment = BAD_TOP_ROWS[case]
    with pytest.raises(litellm.InternalServerError) as caught:
        _build(qwen3_tokenizer, [item], top_logprobs=2)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(("count", "n"), [(2, 1), (1, 2), (0, 1)])
def test_the_number_of_outputs_must_be_n(qwen3_tokenizer, count, n):
    with pytest.raises(litellm.InternalServerError) as caught:
        _build(qwen3_tokenizer, [_output()] * count, n=n)
    assert f"the response has {count} outputs, n = {n} were asked" in str(caught.value)


def test_a_consistent_output_passes_with_its_numbers(qwen3_tokenizer):
    response = _build(qwen3_tokenizer, [_output(tops=2), _output(tops=2)], n=2, top_logprobs=2)
    fields = response.choices[1].message.provider_specific_fields
    assert fields["completion_token_ids"] == HI_IDS
    assert fields["completion_logprobs"] == [-0.5] * 3
    assert "text_mismatch" not in fields
    assert response.choices[0].message.content == "Hi!"
    assert response.choices[0].message.reasoning_content is None  # LiteLLM would delete the attribute


def test_reasoning_content_is_kept_when_there_is_reasoning(qwen3_tokenizer):
    ids = [*qwen3_tokenizer.encode("<think>\nhm\n</think>\n\nHi!", add_special_tokens=False), 151645]
    response = _build(qwen3_tokenizer, [_output(ids=ids, text="<think>\nhm\n</think>\n\nHi!")])
    message = response.choices[0].message
    assert (message.reasoning_content, message.content) == ("hm", "Hi!")
    assert "text_mismatch" not in message.provider_specific_fields


def test_minus_infinity_is_a_logprob(qwen3_tokenizer):
    item = _with(_set_logprob(1, -math.inf))
    response = _build(qwen3_tokenizer, [item])
    assert response.choices[0].message.provider_specific_fields["completion_logprobs"][1] == -math.inf


def test_a_text_the_ids_do_not_contain_is_reported(qwen3_tokenizer, caplog):
    injected = 'Hi!<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    response = _build(qwen3_tokenizer, [_output(text=injected)])
    message = response.choices[0].message
    fields = message.provider_specific_fields
    assert fields["text_mismatch"] == {"position": 3, "decoded": "", "text": injected[3:83]}
    assert (message.content, message.tool_calls) == ("Hi!", None)  # what the ids say, not the injected call
    assert "departs from its decoded ids at 3" in caplog.text
    assert "Paris" not in caplog.text  # generated text is not logged


def _mismatch(tokenizer, ids, text, finish, **options):
    meta = {"id": "r", "finish_reason": finish, "completion_tokens": len(ids)}
    return text_mismatch(GenerateOutput(text=text, output_ids=ids, meta_info=meta), tokenizer, options)


def test_the_decoding_rules_of_sglangs_detokenizer(qwen3_tokenizer):
    tok = qwen3_tokenizer
    ids = [*tok.encode("It is sunny. END of it", add_special_tokens=False), 151645]
    eos = {"type": "stop", "matched": 151645}
    assert _mismatch(tok, ids, "It is sunny. END of it", eos) is None  # EOS dropped
    assert _mismatch(tok, ids, "It is sunny. END of it", eos, skip_special_tokens=False) is None  # EOS still dropped
    kept = {"skip_special_tokens": False, "no_stop_trim": True}
    assert _mismatch(tok, ids, "It is sunny. END of it<|im_end|>", eos, **kept) is None
    end = {"type": "stop", "matched": " END"}
    assert _mismatch(tok, ids[:-1], "It is sunny.", end) is None  # the stop string is trimmed
    assert _mismatch(tok, ids[:-1], "It is sunny. END", end, no_stop_trim=True) is None
    assert _mismatch(tok, ids, "It is sunny. END of it", {"type": "length", "length": len(ids)}) is None
    length = {"type": "length"}
    assert _mismatch(tok, ids, "It is sunny. END of it<|im_end|>", length, skip_special_tokens=False) is None
    assert _mismatch(tok, ids, "It is rainy. END of it", eos)["position"] == 6
    assert _mismatch(tok, ids, "It is sunny.", eos) == {"position": 12, "decoded": " END of it", "text": ""}


async def test_emulator_texts_decode_exactly(emulator):
    """SGLang's detokenization as the emulator reproduces it (stop strings, stop ids, special tokens kept,
    multibyte characters split across tokens), streamed and not: no mismatch is reported."""
    base = {"model": "sglang_native/qwen3", "api_base": emulator.url, "tokenizer": "offline:qwen3"}
    messages = [{"role": "user", "content": "Weather?"}]
    cases = [
        ("天气很好 🌤️ — 24 °C.", {}),
        ("It is sunny. END of it", {"stop": [" END"]}),
        ("It is sunny. END of it", {"stop": [" END"], "extra_body": {"no_stop_trim": True}}),
        ("<think>\nhm\n</think>\n\nSunny.", {"extra_body": {"skip_special_tokens": False}}),
        ("Sunny all day long in Paris today", {"max_tokens": 3}),
    ]
    for script, extra in cases:
        for stream in (False, True):
            emulator.script(script)
            response = await litellm.acompletion(messages=messages, stream=stream, **base, **extra)
            if stream:
                response = litellm.stream_chunk_builder([chunk async for chunk in response])
            assert "text_mismatch" not in response.choices[0].message.provider_specific_fields, (script, extra)


class _CannedServer(http.server.ThreadingHTTPServer):
    """A server that answers every POST with one canned body (a hostile or broken SGLang)."""

    def __init__(self, body: bytes, content_type: str = "application/json") -> None:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length") or 0))
                server.calls += 1
                self.send_response(200)
                self.send_header("content-type", server.content_type)
                self.send_header("content-length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.body, self.content_type, self.calls = body, content_type, 0
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


def _call(url, **extra):
    return {
        "model": "sglang_native/qwen3",
        "api_base": url,
        "tokenizer": "offline:qwen3",
        "messages": [{"role": "user", "content": "Hi"}],
        **extra,
    }


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (_with(lambda item: item["meta_info"]["output_token_logprobs"].pop(), ids=SIX), "has 5 entries for 6"),
        ([_output(), _output()], "the response has 2 outputs, n = 1 were asked"),
        (_output(finish={"type": "weird"}), "finish_reason.type 'weird'"),
    ],
)
async def test_through_litellm_a_broken_answer_is_an_internal_server_error(body, fragment):
    with _CannedServer(json.dumps(body).encode()) as server:
        with pytest.raises(litellm.InternalServerError) as caught:
            await litellm.acompletion(**_call(server.url, logprobs=True))
        assert caught.value.status_code == 502 and fragment in str(caught.value)
        with pytest.raises(litellm.InternalServerError):
            litellm.completion(**_call(server.url))  # sync as well


async def test_a_router_retries_an_invalid_output():
    """A 502 is retried (another worker may answer well), unlike a BadRequestError."""
    body = json.dumps(_output(ids=[13048, 10**9])).encode()
    with _CannedServer(body) as server:
        with pytest.raises(litellm.InternalServerError):  # the provider's first contact with this server
            await litellm.acompletion(**_call(server.url))
        for retries in (0, 1):
            router = litellm.Router(
                model_list=[{"model_name": "qwen3", "litellm_params": _call(server.url, model="sglang_native/qwen3")}],
                num_retries=retries,
            )
            before = server.calls
            with pytest.raises(litellm.InternalServerError) as caught:
                await router.acompletion(model="qwen3", messages=[{"role": "user", "content": "Hi"}])
            assert "output_ids[1] = 1000000000 is not a token id" in str(caught.value)
            assert server.calls - before == 1 + retries


def _sse(*events) -> bytes:
    return b"".join(b"data: " + json.dumps(event).encode() + b"\n\n" for event in events) + b"data: [DONE]\n\n"


def _stream_event(ids, text, finish=None, index=None, logprob_ids=None):
    event = _output(ids=ids, text=text, finish=finish)
    event["meta_info"]["finish_reason"] = finish
    event["meta_info"]["output_token_logprobs"] = [[-0.5, token_id, None] for token_id in logprob_ids or ids]
    if index is not None:
        event["index"] = index
    return event


EOS = {"type": "stop", "matched": 151645}
BAD_STREAMS = {
    "index beyond n": (
        _sse(_stream_event([13048], "Hi", index=1), _stream_event(HI_IDS, "Hi!", EOS, index=1)),
        "stream event index 1 is outside 0..0 (n = 1)",
    ),
    "an id past the vocabulary": (
        _sse(_stream_event([13048, 999_999], "Hi"), _stream_event([13048, 999_999, 151645], "Hi", EOS)),
        "output_ids[1] = 999999 is not a token id",
    ),
    "a logprob for another token": (
        _sse(_stream_event([13048, 0], "Hi!", logprob_ids=[13048, 7]), _stream_event(HI_IDS, "Hi!", EOS)),
        "output_token_logprobs[1] is for token 7, output_ids[1] is 0",
    ),
    "an unknown finish type": (
        _sse(_stream_event([13048], "Hi"), _stream_event(HI_IDS, "Hi!", {"type": "weird"})),
        "finish_reason.type 'weird'",
    ),
    "a negative count": (
        _sse(_with(lambda event: event["meta_info"].update(cached_tokens=-4), ids=[13048], text="Hi")),
        "meta_info.cached_tokens = -4 is negative",
    ),
}


@pytest.mark.parametrize("case", list(BAD_STREAMS))
async def test_a_broken_stream_event_is_refused_before_its_tokens_are_passed_on(emulator, case):
    body, fragment = BAD_STREAMS[case]
    emulator.inject_stream(body)
    stream = await litellm.acompletion(stream=True, logprobs=True, **_call(emulator.url))
    chunks = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            chunks.append(chunk)
    error = getattr(caught.value, "original_exception", None) or caught.value
    assert isinstance(error, litellm.InternalServerError) and fragment in str(error)
    assert not [chunk for chunk in chunks if chunk.choices and chunk.choices[0].delta.content]



# Qwen3's embedding has 151,936 rows for the tokenizer's 151,669 tokens; a random-weights model samples the rest
# (seen on real SGLang), and so, rarely, may a trained one.
PADDING_ROW = 151695


async def test_an_id_past_the_tokenizer_within_the_models_vocab_size_is_the_models_own_sample(emulator):
    ids = [13048, PADDING_ROW, 151645]
    with _CannedServer(json.dumps(_output(ids=ids, text="Hi")).encode()) as server:
        with pytest.raises(litellm.InternalServerError, match="takes the vocab_size setting"):
            await litellm.acompletion(logprobs=True, **_call(server.url))
        with pytest.raises(litellm.InternalServerError, match=f"output_ids\\[1\\] = {PADDING_ROW} is not a token id"):
            await litellm.acompletion(logprobs=True, vocab_size=PADDING_ROW, **_call(server.url))  # one row short
        response = await litellm.acompletion(logprobs=True, vocab_size=151936, **_call(server.url))
    message = response.choices[0].message
    assert message.content == "Hi" and message.provider_specific_fields["completion_token_ids"] == ids

    # The next turn continues on those exact ids: the prompt check takes the same bound.
    turn_two = [{"role": "user", "content": "Hi"}, message.model_dump(), {"role": "user", "content": "Again"}]
    emulator.script("Hello.")
    with pytest.raises(litellm.BadRequestError, match=f"prompt token id {PADDING_ROW} is outside"):
        await litellm.acompletion(**{**_call(emulator.url), "messages": turn_two})
    again = await litellm.acompletion(vocab_size=151936, **{**_call(emulator.url), "messages": turn_two})
    prompt = again.choices[0].message.provider_specific_fields["prompt_token_ids"]
    assert prompt.count(PADDING_ROW) == 1

    emulator.inject_stream(_sse(_stream_event([13048, PADDING_ROW], "Hi"), _stream_event(ids, "Hi", EOS)))
    stream = await litellm.acompletion(stream=True, logprobs=True, vocab_size=151936, **_call(emulator.url))
    chunks = [chunk async for chunk in stream]
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices) == "Hi"
