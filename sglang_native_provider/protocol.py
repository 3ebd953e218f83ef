"""Pydantic models of what SGLang's ``/generate`` answers (SGLang 0.5.23, ``sglang/api/v1/api_types.py``).

Only the fields the provider reads are typed; everything else SGLang sends is kept (``extra="allow"``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["FinishReason", "GenerateOutput", "MetaInfo"]

LogprobEntry = tuple[float | None, int, str | None]
"""``[logprob, token_id, text or null]``."""


class FinishReason(BaseModel):
    """``{"type": "stop", "matched": ...}``, ``{"type": "length", "length": N}`` or an ``abort``."""

    model_config = ConfigDict(extra="allow")

    type: str
    matched: int | str | list[int] | None = None
    length: int | None = None
    message: str | None = None
    status_code: int | None = None
    err_type: str | None = None


class MetaInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    finish_reason: FinishReason | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    weight_version: str | None = None
    e2e_latency: float | None = None
    output_token_logprobs: list[LogprobEntry] | None = None
    output_top_logprobs: list[list[LogprobEntry] | None] | None = None
    routed_experts: str | None = None
    """Base64 of int32 ``(rows, layers, top_k)`` when ``return_routed_experts`` was asked (finished outputs)."""


class GenerateOutput(BaseModel):
    """One sampled sequence as ``/generate`` returns it."""

    model_config = ConfigDict(extra="allow")

    text: str = ""
    output_ids: list[int]
    meta_info: MetaInfo
    index: int | None = None
