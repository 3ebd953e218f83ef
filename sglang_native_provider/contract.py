"""SGLang's JSON contract for ``POST /generate`` bodies: field names the provider sends, checks the emulator runs.

SGLang 0.5.23 checks every ``/generate`` body against the schema generated into
``sglang/api/v1/api_types.py`` (``generate_contract_error`` in ``srt/entrypoints/api_contract.py``)
and answers ``400 {"error": "<serde-style text>"}`` on a violation. Top-level unknown keys are ignored;
unknown ``sampling_params`` keys are rejected. The texts below follow serde's wording as that file
does, so a client sees the same message from the emulator as from SGLang.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["GRAMMAR_FIELDS", "SAMPLING_PARAM_FIELDS", "ContractError", "check_generate_request"]


class ContractError(ValueError):
    """The body violates SGLang's JSON contract (HTTP 400 ``{"error": str(exc)}``)."""


def _unexpected(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f'string "{value}"'
    if isinstance(value, list):
        return "sequence"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__


def _invalid(value: Any, expected: str) -> ContractError:
    return ContractError(f"invalid type: {_unexpected(value)}, expected {expected}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


Check = Callable[[Any], None]


def _scalar(accepts: Callable[[Any], bool], expected: str) -> Check:
    """A JSON scalar of one type; anything else is serde's "invalid type"."""

    def check(value: Any) -> None:
        if not accepts(value):
            raise _invalid(value, expected)

    return check


def _bool() -> Check:
    return _scalar(lambda value: isinstance(value, bool), "a boolean")


def _int() -> Check:
    return _scalar(_is_int, "i64")


def _float() -> Check:
    return _scalar(_is_number, "f64")


def _str() -> Check:
    return _scalar(lambda value: isinstance(value, str), "a string")


def _uint(expected: str) -> Check:
    def check(value: Any) -> None:
        _scalar(_is_int, expected)(value)
        if value < 0:
            raise ContractError(f"invalid value: integer `{value}`, expected {expected}")

    return check


def _seq(item: Check) -> Check:
    def check(value: Any) -> None:
        if not isinstance(value, list):
            raise _invalid(value, "a sequence")
        for element in value:
            item(element)

    return check


def _one_or_list(item: Check, list_check: Check, alias: str) -> Check:
    """serde's untagged "one value or an array of values" (StringOrList, BoolOrList, ...)."""

    def check(value: Any) -> None:
        if isinstance(value, list):
            list_check(value)
        else:
            try:
                item(value)
            except ContractError:
                raise _invalid(value, f"a value or an array of values for {alias}") from None

    return check


def _token_ids_or_list(value: Any) -> None:
    # [] and [number, ...] are one flat list of ids; anything else is a batch of lists.
    if not isinstance(value, list):
        raise _invalid(value, "a value or an array of values for TokenIdsOrList")
    if not value or _is_number(value[0]):
        _seq(_int())(value)
    else:
        _seq(_seq(_int()))(value)


def _map_of(item: Check) -> Check:
    def check(value: Any) -> None:
        if not isinstance(value, dict):
            raise _invalid(value, "a map")
        for element in value.values():
            item(element)

    return check


def _optional(check: Check) -> Check:
    def optional(value: Any) -> None:
        if value is not None:
            check(value)

    return optional


def _struct(name: str, fields: dict[str, Check], deny_unknown: bool) -> Check:
    names = tuple(fields)

    def check(value: Any) -> None:
        if not isinstance(value, dict):
            raise _invalid(value, f"struct {name}")
        for key, element in value.items():
            field = fields.get(key)
            if field is None:
                if deny_unknown:
                    raise _unknown_field(key, names)
                continue
            field(element)

    return check


def _unknown_field(key: str, fields: tuple[str, ...]) -> ContractError:
    listed = ", ".join(f"`{field}`" for field in fields)
    return ContractError(f"unknown field `{key}`, expected one of {listed}")


_STRING_OR_LIST = _one_or_list(_str(), _seq(_str()), "StringOrList")
_OPTIONAL_STRING_OR_LIST = _one_or_list(_str(), _seq(_optional(_str())), "OptionalStringOrList")
_BOOL_OR_LIST = _one_or_list(_bool(), _seq(_bool()), "BoolOrList")
_INT_OR_LIST = _one_or_list(_int(), _seq(_int()), "Int64OrList")

_WATERMARK = _struct(
    "WatermarkRequestConfig",
    {"enabled": _optional(_bool()), "key": _optional(_str()), "context_window": _optional(_int())},
    deny_unknown=True,
)

# Field order is the contract's: serde lists the expected fields in it.
_SAMPLING_PARAMS_FIELDS: dict[str, Check] = {
    "max_new_tokens": _optional(_int()),
    "stop": _optional(_STRING_OR_LIST),
    "stop_token_ids": _optional(_seq(_int())),
    "stop_regex": _optional(_STRING_OR_LIST),
    "temperature": _optional(_float()),
    "top_p": _optional(_float()),
    "top_k": _optional(_int()),
    "min_p": _optional(_float()),
    "frequency_penalty": _optional(_float()),
    "presence_penalty": _optional(_float()),
    "repetition_penalty": _optional(_float()),
    "min_new_tokens": _optional(_int()),
    "n": _optional(_int()),
    "json_schema": _optional(_str()),
    "regex": _optional(_str()),
    "ebnf": _optional(_str()),
    "structural_tag": _optional(_str()),
    "ignore_eos": _optional(_bool()),
    "skip_special_tokens": _optional(_bool()),
    "spaces_between_special_tokens": _optional(_bool()),
    "no_stop_trim": _optional(_bool()),
    "stream_interval": _optional(_int()),
    "logit_bias": _optional(_map_of(_float())),
    "sampling_seed": _optional(_int()),
    "custom_params": lambda value: None,
    "beam_width": _optional(_int()),
    "watermark": _optional(_WATERMARK),
    "choice": _optional(_seq(_str())),
}

SAMPLING_PARAM_FIELDS: tuple[str, ...] = tuple(_SAMPLING_PARAMS_FIELDS)
GRAMMAR_FIELDS = ("json_schema", "regex", "ebnf", "structural_tag")
"""The sampling parameters that constrain decoding to a grammar; SGLang admits at most one."""
"""Every ``sampling_params`` key SGLang accepts; any other key is a 400."""

_SAMPLING_PARAMS = _struct("SamplingParams", _SAMPLING_PARAMS_FIELDS, deny_unknown=True)


def _sampling_params_or_list(value: Any) -> None:
    if isinstance(value, list):
        _seq(_SAMPLING_PARAMS)(value)
    elif isinstance(value, dict):
        _SAMPLING_PARAMS(value)
    else:
        raise _invalid(value, "a value or an array of values for SamplingParamsOrList")


# The GenerateRequest fields the emulator understands or tolerates; the others are ignored as
# unknown keys (the contract ignores unknown top-level keys).
_GENERATE_REQUEST = _struct(
    "GenerateRequest",
    {
        "rid": _optional(_STRING_OR_LIST),
        "text": _optional(_STRING_OR_LIST),
        "input_ids": _optional(_token_ids_or_list),
        "stream": _optional(_bool()),
        "sampling_params": _optional(_sampling_params_or_list),
        "return_logprob": _optional(_BOOL_OR_LIST),
        "logprob_start_len": _optional(_INT_OR_LIST),
        "top_logprobs_num": _optional(_INT_OR_LIST),
        "token_ids_logprob": _optional(_token_ids_or_list),
        "return_hidden_states": _optional(_BOOL_OR_LIST),
        "return_text_in_logprobs": _optional(_bool()),
        "routed_dp_rank": _optional(_int()),
        "extra_key": _optional(_STRING_OR_LIST),
        "priority": _optional(_int()),
        "cache_salt": _optional(_STRING_OR_LIST),
        "require_reasoning": _optional(_bool()),
        "lora_path": _optional(_OPTIONAL_STRING_OR_LIST),
        "routing_key": _optional(_str()),
        "max_thinking_tokens": _optional(_uint("u64")),
        "session_id": _optional(_str()),
        "custom_logit_processor": _optional(_OPTIONAL_STRING_OR_LIST),
        "custom_labels": _optional(_map_of(_str())),
        "return_prompt_token_ids": _bool(),  # not optional: null is a type error
        "routed_experts_start_len": _int(),
        "return_sampling_mask": _optional(_BOOL_OR_LIST),
    },
    deny_unknown=False,
)


def check_generate_request(body: Any) -> None:
    """Raise :class:`ContractError` with SGLang's text if ``body`` violates the /generate contract."""
    _GENERATE_REQUEST(body)
