"""SGLang's OpenAI-compatible ``POST /v1/chat/completions``, emulated so that what users would otherwise pick
(LiteLLM's ``openai/`` or ``hosted_vllm/`` provider against SGLang's OpenAI server) can be measured against
the native path on the same engine, tokenizer and outputs.

As SGLang's ``srt/entrypoints/openai/serving_chat.py`` does, the server renders the chat template itself,
generates, and parses reasoning and tool calls server-side; ``return_prompt_token_ids`` and
``return_token_ids`` add ``prompt_token_ids``/``response_token_ids`` to each choice. Covered: text messages,
tools, ``max_tokens``/``max_completion_tokens``, ``temperature``, ``top_p``, ``stop``, ``seed``, ``logprobs``,
``top_logprobs``, ``chat_template_kwargs``, streaming with ``stream_options.include_usage``.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..contract import ContractError, check_generate_request
from .engine import Engine
from .openai_logprobs import openai_logprobs
from .requests import GenerateError, Job, plan_jobs

if TYPE_CHECKING:
    from ..parsers import ToolCall

__all__ = ["ServerParsers", "chat_completions"]

_SAMPLING_KEYS = {"temperature": "temperature", "top_p": "top_p", "stop": "stop", "seed": "sampling_seed"}


def _error(message: str, status: int = 400) -> Response:
    body = {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": status}
    return Response(json.dumps(body), status_code=status, media_type="application/json")


def _generate_body(body: dict[str, Any], prompt_ids: list[int], stream: bool) -> dict[str, Any]:
    """The native request the chat request becomes; with tools (and ``tool_choice`` not ``none``) special tokens
    stay in the text, as SGLang's ``_process_messages`` sets ``skip_special_tokens=False`` for the parsers."""
    sampling = {ours: body[theirs] for theirs, ours in _SAMPLING_KEYS.items() if body.get(theirs) is not None}
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens is not None:
        sampling["max_new_tokens"] = max_tokens
    if body.get("tools") and body.get("tool_choice") != "none":
        sampling["skip_special_tokens"] = False
    generate: dict[str, Any] = {"input_ids": prompt_ids, "sampling_params": sampling, "stream": stream}
    if body.get("logprobs"):
        top = body.get("top_logprobs") or 0
        generate.update(return_logprob=True, top_logprobs_num=top, return_text_in_logprobs=True)
    return generate


class ServerParsers:
    """The server-side reasoning and tool-call parsers (``--reasoning-parser``/``--tool-call-parser``), else the
    ones the chat template implies; made (and the parsers imported) by the first chat completion, not at start."""

    def __init__(self, engine: Engine, tool_call_parser: str | None, reasoning_parser: str | None) -> None:
        self._template = engine.model.tokenizer.chat_template or ""
        self._tool_call_parser = tool_call_parser
        self._reasoning_parser = reasoning_parser

    @functools.cached_property
    def tool(self) -> Any:
        from ..parsers import TOOL_CALL_PARSERS, detect_tool_call_parser

        name = self._tool_call_parser or detect_tool_call_parser(self._template)
        return TOOL_CALL_PARSERS[name]() if name else None

    @functools.cached_property
    def reasoning(self) -> Any:
        from ..parsers import REASONING_PARSERS, detect_reasoning_parser

        name = self._reasoning_parser or detect_reasoning_parser(self._template)
        return REASONING_PARSERS[name]() if name else None


def _calls(calls: list[ToolCall], first_index: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "index": first_index + offset,
            "id": call.id or f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        for offset, call in enumerate(calls)
    ]


def _logprobs(tokenizer, meta_info: dict[str, Any], top_logprobs: int, since: int = 0) -> dict[str, Any] | None:
    """OpenAI ``logprobs`` of the output tokens from ``since`` on."""
    entries = meta_info.get("output_token_logprobs")
    if entries is None:
        return None
    tops = meta_info.get("output_top_logprobs")
    return openai_logprobs(tokenizer, entries[since:], tops[since:] if tops else None, top_logprobs)


def _usage(meta_info: dict[str, Any]) -> dict[str, Any]:
    prompt, completion = meta_info["prompt_tokens"], meta_info["completion_tokens"]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": meta_info.get("cached_tokens", 0)},
    }


def _finish(meta_info: dict[str, Any], has_calls: bool) -> str:
    kind = (meta_info.get("finish_reason") or {}).get("type")
    return "length" if kind == "length" else "abort" if kind == "abort" else "tool_calls" if has_calls else "stop"


async def chat_completions(request: Request, engine: Engine, model_name: str, parsers: ServerParsers) -> Response:
    """Handle one ``/v1/chat/completions`` request."""
    import litellm  # the provider's message checks raise LiteLLM's errors; only this endpoint needs them

    from ..messages import normalize_messages

    try:
        body = json.loads(await request.body())
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error("messages must be a list")
        tools = body.get("tools") if body.get("tool_choice") != "none" else None
        prompt_ids = engine.model.tokenizer.apply_chat_template(
            normalize_messages(body["messages"], model_name),
            tools=body.get("tools"),
            add_generation_prompt=True,
            tokenize=True,
            return_dict=False,
            **(body.get("chat_template_kwargs") or {}),
        )
        stream = body.get("stream") is True
        generate = _generate_body(body, list(prompt_ids), stream)
        check_generate_request(generate)
        _single, jobs = plan_jobs(
            generate,
            encode=engine.model.encode,
            vocab_size=engine.model.vocab_size,
            context_length=engine.context_length,
        )
    except (ValueError, ContractError, GenerateError, litellm.BadRequestError) as exc:
        return _error(str(exc))
    chat_id = f"chatcmpl-{uuid.uuid4().hex}"
    if stream:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = _stream(engine, jobs[0], chat_id, model_name, parsers, tools, include_usage)
        return StreamingResponse(events, media_type="text/event-stream")
    outputs = [output async for output in engine.run(jobs[0])]
    output = outputs[-1]
    message = _message(output["text"], parsers, tools)
    meta_info = output["meta_info"]
    choice: dict[str, Any] = {
        "index": 0,
        "message": message,
        "logprobs": _logprobs(engine.model.tokenizer, meta_info, jobs[0].top_logprobs_num),
        "finish_reason": _finish(meta_info, "tool_calls" in message),
        "matched_stop": (meta_info.get("finish_reason") or {}).get("matched"),
    }
    if body.get("return_prompt_token_ids"):
        choice["prompt_token_ids"] = list(jobs[0].prompt_ids)
    if body.get("return_token_ids"):
        choice["response_token_ids"] = output["output_ids"]
    answer = {
        "id": chat_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [choice],
        "usage": _usage(meta_info),
    }
    return Response(json.dumps(answer, ensure_ascii=False), media_type="application/json")


def _message(text: str, parsers: ServerParsers, tools: list | None) -> dict[str, Any]:
    reasoning = None
    if parsers.reasoning is not None:
        parsed = parsers.reasoning.parse(text)
        reasoning, text = parsed.reasoning, parsed.content
    message: dict[str, Any] = {"role": "assistant", "content": text, "reasoning_content": reasoning}
    if tools and parsers.tool is not None:
        parsed_calls = parsers.tool.parse(text, tools)
        if parsed_calls.calls:
            message["content"] = parsed_calls.content or None
            message["tool_calls"] = _calls(parsed_calls.calls)
    return message


def _chunk(chat_id: str, model: str, choices: list[dict[str, Any]], usage: dict | None = None) -> bytes:
    chunk: dict[str, Any] = {
        "id": chat_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        chunk["usage"] = usage
    return b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n"


async def _stream(
    engine: Engine,
    job: Job,
    chat_id: str,
    model: str,
    parsers: ServerParsers,
    tools: list | None,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    reasoning_stream = parsers.reasoning.stream() if parsers.reasoning is not None else None
    tool_stream = parsers.tool.stream(tools) if tools and parsers.tool is not None else None
    yield _chunk(chat_id, model, [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
    text, tokens, call_count, meta_info = "", 0, 0, {}
    async for output in engine.run(job):
        meta_info = output["meta_info"]
        new_text = output["text"] if engine.incremental_streaming_output else output["text"][len(text) :]
        text += new_text
        finished = meta_info.get("finish_reason") is not None
        reasoning, content = reasoning_stream.feed(new_text) if reasoning_stream else ("", new_text)
        if finished and reasoning_stream:
            more_reasoning, more_content = reasoning_stream.finish()
            reasoning, content = reasoning + more_reasoning, content + more_content
        calls: list[ToolCall] = []
        if tool_stream is not None:
            content, calls = tool_stream.feed(content)
            if finished:
                more_content, more_calls = tool_stream.finish()
                content, calls = content + more_content, calls + more_calls
        delta: dict[str, Any] = {}
        if reasoning:
            delta["reasoning_content"] = reasoning
        if content:
            delta["content"] = content
        if calls:
            delta["tool_calls"] = _calls(calls, call_count)
            call_count += len(calls)
        since = 0 if engine.incremental_streaming_output else tokens
        logprobs = _logprobs(engine.model.tokenizer, meta_info, job.top_logprobs_num, since)
        tokens = meta_info["completion_tokens"]
        finish = _finish(meta_info, call_count > 0) if finished else None
        if delta or finish:
            yield _chunk(chat_id, model, [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}])
    if include_usage and meta_info:
        yield _chunk(chat_id, model, [], usage=_usage(meta_info))
    yield b"data: [DONE]\n\n"
