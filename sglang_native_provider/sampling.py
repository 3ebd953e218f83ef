"""OpenAI request parameters -> SGLang ``sampling_params`` and ``/generate`` request fields.

SGLang rejects unknown sampling keys, so only keys it knows are sent. An OpenAI parameter this provider
cannot honour is a ``BadRequestError`` unless LiteLLM's ``drop_params`` says to drop it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .contract import GRAMMAR_FIELDS, SAMPLING_PARAM_FIELDS
from .errors import bad_request

__all__ = ["LOGPROB_PARAMS", "SamplingRequest", "build_sampling_request", "recorded_sampling"]

logger = logging.getLogger(__name__)

_OPENAI_TO_SGLANG = {
    "max_tokens": "max_new_tokens",
    "max_completion_tokens": "max_new_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "stop": "stop",
    "seed": "sampling_seed",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "n": "n",
    "logit_bias": "logit_bias",
}
# Common names of SGLang's extras as other OpenAI-compatible servers spell them.
_EXTRA_ALIASES = {"min_tokens": "min_new_tokens", "stop_token_ids": "stop_token_ids"}
# Parameters LiteLLM or the caller pass that do not change sampling (the provider reads parallel_tool_calls for a
# forced call's structural tag, see tool_choice.py).
_NOT_SAMPLING = frozenset({"stream", "stream_options", "max_retries", "parallel_tool_calls", "extra_body", "user"})


LOGPROB_PARAMS = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "logit_bias",
    "frequency_penalty",
    "presence_penalty",
    "repetition_penalty",
    "min_new_tokens",
)
"""The ``sampling_params`` that change what SGLang samples from or the logprob it returns (a turn records them)."""


def recorded_sampling(sampling_params: Mapping[str, Any]) -> dict[str, Any]:
    """How a turn was sampled, as a trainer needs it to recompute its logprobs: the keys of
    :data:`LOGPROB_PARAMS` the request set (absent keys are SGLang's defaults), and ``constrained``, the grammar
    field (``json_schema``, ``regex``, ``ebnf``, ``structural_tag``) that masked the logits, if any."""
    recorded = {name: sampling_params[name] for name in LOGPROB_PARAMS if sampling_params.get(name) is not None}
    grammar = next((name for name in GRAMMAR_FIELDS if sampling_params.get(name)), None)
    if grammar is not None:
        recorded["constrained"] = grammar
    return recorded


@dataclass
class SamplingRequest:
    """What the OpenAI parameters ask of SGLang."""

    sampling_params: dict[str, Any] = field(default_factory=dict)
    logprobs: bool = False
    top_logprobs: int = 0

    @property
    def n(self) -> int:
        return int(self.sampling_params.get("n") or 1)


def _response_format(value: Any, model: str) -> str | None:
    if not isinstance(value, Mapping):
        example = "{'type': 'json_object'}"
        raise bad_request(f"response_format must be an object such as {example}, got {_shown(value)}", model)
    kind = value.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return json.dumps({"type": "object"})
    if kind == "json_schema":
        json_schema = value.get("json_schema")
        schema = json_schema.get("schema") if isinstance(json_schema, Mapping) else None
        if not isinstance(schema, Mapping):
            raise bad_request("response_format.json_schema.schema must be a JSON schema object", model)
        return json.dumps(schema)
    raise bad_request(f"response_format type {kind!r} is not supported", model)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _count(name: str, value: Any, minimum: int, model: str) -> int:
    """An integer parameter (not a bool, not a float) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise bad_request(f"{name} must be an integer of at least {minimum}, got {_shown(value)}", model)
    return value


def _logit_bias(value: Any, model: str) -> dict[str, float]:
    """OpenAI's ``logit_bias``: token ids (as strings, or ints) to biases from -100 to 100."""
    if not isinstance(value, Mapping):
        raise bad_request(f"logit_bias must be an object mapping token ids to biases, got {_shown(value)}", model)
    for key, bias in value.items():
        if not (isinstance(key, str) and key.isascii() and key.isdigit()) and (type(key) is not int or key < 0):
            raise bad_request(f"logit_bias keys must be token ids, got {_shown(key)}", model)
        if isinstance(bias, bool) or not isinstance(bias, (int, float)) or not -100 <= bias <= 100:
            raise bad_request(f"logit_bias[{key!r:.20}] must be a number from -100 to 100, got {_shown(bias)}", model)
    return {str(key): bias for key, bias in value.items()}


def build_sampling_request(
    params: Mapping[str, Any], defaults: Mapping[str, Any], *, drop_params: bool, model: str
) -> SamplingRequest:
    """Map OpenAI parameters (and SGLang extras given directly or in ``extra_body``) onto SGLang's."""
    request = SamplingRequest(sampling_params=dict(defaults))
    sampling = request.sampling_params
    extra_body = params.get("extra_body") or {}
    if not isinstance(extra_body, Mapping):
        raise bad_request("extra_body must be an object", model)
    for name, value in [*params.items(), *extra_body.items()]:
        if value is None or name in _NOT_SAMPLING:
            continue
        if name in _OPENAI_TO_SGLANG:
            if name == "stop" and value == []:
                continue
            sampling[_OPENAI_TO_SGLANG[name]] = _logit_bias(value, model) if name == "logit_bias" else value
        elif name == "logprobs":
            if not isinstance(value, bool):
                raise bad_request(f"logprobs must be true or false, got {_shown(value)}", model)
            request.logprobs = value
        elif name == "top_logprobs":
            request.top_logprobs = _count("top_logprobs", value, 0, model)
        elif name == "response_format":
            schema = _response_format(value, model)
            if schema is not None:
                sampling["json_schema"] = schema
        elif name in _EXTRA_ALIASES:
            sampling[_EXTRA_ALIASES[name]] = value
        elif name in SAMPLING_PARAM_FIELDS:
            sampling[name] = value
        elif drop_params:
            logger.warning("sglang_native: dropping unsupported parameter %r (drop_params=True)", name)
        else:
            raise bad_request(
                f"Unsupported parameter {name!r} for sglang_native model {model!r}; pass drop_params=True to drop it",
                model,
            )
    if "n" in sampling:
        _count("n", sampling["n"], 1, model)
    if request.top_logprobs and not request.logprobs:
        raise bad_request("top_logprobs requires logprobs=True", model)
    return request
