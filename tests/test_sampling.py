"""OpenAI parameters -> SGLang sampling parameters."""

from __future__ import annotations

import json

import litellm
import pytest

from sglang_native_provider.sampling import build_sampling_request, recorded_sampling


def build(params, defaults=None, drop_params=False):
    return build_sampling_request(params, defaults or {}, drop_params=drop_params, model="m")


def test_json_schema_response_format():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    request = build({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}})
    assert json.loads(request.sampling_params["json_schema"]) == schema


def test_text_response_format_adds_nothing():
    assert build({"response_format": {"type": "text"}}).sampling_params == {}


def test_defaults_are_overridden_by_the_request():
    request = build({"max_tokens": 5}, defaults={"max_new_tokens": 512, "top_k": 20})
    assert request.sampling_params == {"max_new_tokens": 5, "top_k": 20}


def test_router_and_stream_bookkeeping_is_not_sent():
    params = {"stream": False, "max_retries": 0, "stream_options": None, "parallel_tool_calls": True}
    assert build(params).sampling_params == {}


def test_logprobs_and_n():
    request = build({"logprobs": True, "top_logprobs": 4, "n": 3})
    assert (request.logprobs, request.top_logprobs, request.n) == (True, 4, 3)


def test_sglang_keys_in_extra_body_pass_through():
    request = build({"extra_body": {"regex": "[0-9]+", "repetition_penalty": 1.1, "no_stop_trim": True}})
    assert request.sampling_params == {"regex": "[0-9]+", "repetition_penalty": 1.1, "no_stop_trim": True}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"extra_body": {"not_a_sampling_key": 1}}, "Unsupported parameter 'not_a_sampling_key'"),
        ({"extra_body": "x"}, "extra_body must be an object"),
        ({"response_format": {"type": "grammar"}}, "response_format type 'grammar'"),
        ({"response_format": {"type": "json_schema", "json_schema": {}}}, "json_schema.schema must be"),
    ],
)
def test_rejections(params, fragment):
    with pytest.raises(litellm.BadRequestError, match=fragment):
        build(params)


def test_drop_params_drops_unknown_names(caplog):
    assert build({"functions": [{"name": "f"}]}, drop_params=True).sampling_params == {}
    assert "dropping unsupported parameter 'functions'" in caplog.text


def test_a_turn_records_what_changes_its_logprobs_and_nothing_else():
    request = build(
        {
            "temperature": 0.5,
            "top_p": 0.9,
            "logit_bias": {"151645": -5},
            "presence_penalty": 0.25,
            "max_tokens": 8,
            "seed": 3,
            "stop": ["x"],
            "extra_body": {"top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1, "min_tokens": 2},
            "response_format": {"type": "json_object"},
        },
        defaults={"frequency_penalty": 0.5},
    )
    assert recorded_sampling(request.sampling_params) == {
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 20,
        "min_p": 0.05,
        "logit_bias": {"151645": -5},
        "frequency_penalty": 0.5,
        "presence_penalty": 0.25,
        "repetition_penalty": 1.1,
        "min_new_tokens": 2,
        "constrained": "json_schema",
    }
    assert recorded_sampling(build({"max_tokens": 8}).sampling_params) == {}
