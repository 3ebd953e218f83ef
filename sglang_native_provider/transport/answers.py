"""A 200 answer read within bounds and checked for shape: the identity encoding and the content type asked for,
at most ``max_response_bytes``, and a non-streamed body that is one or more outputs with indexes 0..n-1."""

from __future__ import annotations

import json

import aiohttp
from pydantic import ValidationError

from ..errors import error_for_status, invalid_output
from ..protocol import GenerateOutput
from .errors import check_size, foreign_encoding

__all__ = ["check_event_stream", "outputs", "read_body", "refuse_encoding"]


def refuse_encoding(response: aiohttp.ClientResponse, model: str) -> None:
    """A 502 for a compressed answer (never asked for: a decompression bomb is not unpacked)."""
    encoding = foreign_encoding(response)
    if encoding is not None:
        raise error_for_status(
            502, f"SGLang answered with Content-Encoding {encoding!r}, not the identity encoding asked for", model
        )


def check_event_stream(response: aiohttp.ClientResponse, model: str) -> None:
    """A 502 for a streamed answer that is compressed or not ``text/event-stream``."""
    refuse_encoding(response, model)
    content_type = response.headers.get("Content-Type")
    if content_type is not None and content_type.split(";")[0].strip().lower() != "text/event-stream":
        raise error_for_status(
            502,
            f"SGLang answered a streamed request with Content-Type {content_type[:80]!r}, not text/event-stream",
            model,
        )


async def read_body(response: aiohttp.ClientResponse, cap: int, model: str) -> bytes:
    """The whole body, refusing a compressed one and raising ``ResponseTooLarge`` past ``cap`` bytes (announced
    or not)."""
    refuse_encoding(response, model)
    if response.content_length is not None:
        check_size(response.content_length, cap)
    content = bytearray()
    while chunk := await response.content.readany():
        content += chunk
        check_size(len(content), cap)
    return bytes(content)


def outputs(content: bytes, model: str) -> list[GenerateOutput]:
    """A non-streamed ``/generate`` answer (one output or a list of them) as outputs in ``index`` order; a 502
    naming what is wrong when it is not JSON, holds no outputs, or an output is malformed."""
    try:
        data = json.loads(content)
    except ValueError:
        preview = content[:200].decode("utf-8", "replace")
        raise error_for_status(502, f"SGLang's /generate answer is not JSON: {preview!r}", model) from None
    items = data if isinstance(data, list) else [data]
    odd = [item for item in items if not isinstance(item, dict)]
    if not items or odd:
        kind = "an empty list" if not items else f"a {type(odd[0]).__name__}"
        if items and isinstance(data, list):
            kind = f"a list holding {kind}"
        raise error_for_status(502, f"SGLang's /generate answer is {kind}, not one or more outputs", model)
    try:
        parsed = [GenerateOutput.model_validate(item) for item in items]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)[:5]
        )
        raise error_for_status(502, f"malformed /generate response: {problems}", model) from None
    return in_index_order(parsed, model)


def in_index_order(parsed: list[GenerateOutput], model: str) -> list[GenerateOutput]:
    """The outputs ordered by ``index`` (one without it stands for its place in the answer), which must be
    exactly 0..count-1, each once, as a stream event's must be 0..n-1: an invalid-output 502 names the first
    out of range or repeated one. (``validation.check_output_count`` then holds the count to ``n``.)"""
    indexes = [place if output.index is None else output.index for place, output in enumerate(parsed)]
    count = len(parsed)
    if indexes == list(range(count)):
        return parsed
    seen: set[int] = set()
    for place, index in enumerate(indexes):
        if not 0 <= index < count:
            raise invalid_output(
                f"output {place}'s index {index} is outside 0..{count - 1} (the answer holds {count} outputs)", model
            )
        if index in seen:
            raise invalid_output(f"output {place}'s index {index} is given to another output too", model)
        seen.add(index)
    return [output for _, output in sorted(zip(indexes, parsed, strict=True), key=lambda pair: pair[0])]
