"""FastAPI's validation of a ``/generate`` body against SGLang's ``GenerateReqInput``, before its JSON contract.

Real SGLang 0.5.23 declares ``POST /generate``'s body as the dataclass ``GenerateReqInput``
(``srt/managers/io_struct.py``), so FastAPI validates it with pydantic (lax mode) first: a body that is not an
object, or a field of the wrong type (``"text": 5``, ``"rid": 7``, ``"return_prompt_token_ids": null``), is a
400 with pydantic's errors before SGLang's own contract check runs. The fields below carry SGLang's annotations
(``input_ids`` with its ``validate_optional_list_i64_1d_2d`` messages); fields the emulator does not model are
typed ``Any``. Pydantic itself produces the error texts, as it does inside SGLang.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import PlainValidator, TypeAdapter, ValidationError

__all__ = ["body_errors"]


def _i64_row(value: Any) -> list[int]:
    if value is None:
        raise ValueError("must not be None")
    if not isinstance(value, list):
        raise ValueError(f"must be list; got {type(value).__name__}")
    if value and not isinstance(value[0], int):
        raise ValueError(f"elements must be int; got {type(value[0]).__name__}")
    try:
        array("q", value)
    except (TypeError, OverflowError) as exc:
        raise ValueError(f"contains non-int64 element: {exc}") from None
    return value


def _input_ids(value: Any) -> Any:
    """SGLang's ``validate_optional_list_i64_1d_2d`` (``srt/utils/field_validators.py``)."""
    if value is None or value == []:
        return value
    if not isinstance(value, list):
        raise ValueError(f"must be list or null; got {type(value).__name__}")
    if isinstance(value[0], int):
        return _i64_row(value)
    if isinstance(value[0], list):
        for index, row in enumerate(value):
            try:
                _i64_row(row)
            except ValueError as exc:
                raise ValueError(f"row {index}: {exc}") from None
        return value
    raise ValueError(f"elements must be int or list; got {type(value[0]).__name__}")


# Field names and types as SGLang declares them; pydantic reports a union's errors member by member in this order.
# SGLang declares ``text`` as ``Union[List[str], str]``, but typing caches that union as ``rid``'s
# ``Union[str, List[str]]`` (equal sets), so real SGLang reports ``str`` first: so does this order.
@dataclass
class GenerateReqInput:
    rid: str | list[str] | None = None
    session_id: str | None = None
    text: str | list[str] | None = None
    input_ids: Annotated[list[list[int]] | list[int] | None, PlainValidator(_input_ids)] = None
    sampling_params: list[dict[str, Any]] | dict[str, Any] | None = None
    return_logprob: list[bool] | bool | None = None
    logprob_start_len: list[int] | int | None = None
    top_logprobs_num: list[int] | int | None = None
    token_ids_logprob: list[list[int]] | list[int] | None = None
    return_text_in_logprobs: bool = False
    stream: bool = False
    log_metrics: bool = True
    background: bool = False
    require_reasoning: bool = False
    max_thinking_tokens: int | None = None
    priority: int | None = None
    extra_key: str | list[str] | None = None
    no_logs: bool = False
    custom_labels: dict[str, str] | None = None
    return_bytes: bool = False
    return_entropy: bool = False
    return_prompt_token_ids: bool = False
    return_routed_experts: bool = False
    routed_experts_start_len: int = 0
    routing_key: str | None = None
    conversation_id: str | None = None
    cache_salt: str | list[str] | None = None
    image_data: Any = None


_ADAPTER = TypeAdapter(GenerateReqInput)


def body_errors(body: Any) -> list[dict[str, Any]]:
    """FastAPI's errors for ``body`` (locations under ``"body"``), or none when it validates."""
    try:
        _ADAPTER.validate_python(body)
    except ValidationError as exc:
        return [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
    return []
