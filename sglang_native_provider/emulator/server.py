"""The emulator's HTTP surface: SGLang's native endpoints on Starlette, served by uvicorn.

Routes, status codes and bodies follow SGLang 0.5.23 ``srt/entrypoints/http_server.py``; the API-key
rule follows ``srt/utils/auth.py`` (``decide_request_auth``: health/readiness paths are always open,
everything else needs ``Authorization: Bearer <api_key>`` when a key is set, else 401
``{"error": "Unauthorized"}``). Bodies are parsed with orjson and validated against ``GenerateReqInput`` as
FastAPI does there (see :mod:`.request_model`), so malformed JSON and wrongly-typed fields get the same
texts; every response but a 401 carries SGLang's CORS middleware's ``vary: Origin``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..contract import ContractError, check_generate_request
from .engine import Engine
from .model_config import ModelConfig
from .openai_chat import ServerParsers, chat_completions
from .requests import GenerateError, Job, plan_jobs

__all__ = ["SGLANG_VERSION", "ServerInfo", "create_app"]

SGLANG_VERSION = "0.5.23"
"""The SGLang release whose wire format the emulator reproduces."""

_OPEN_PATH_PREFIXES = ("/health", "/ready", "/metrics")
_FLUSH_OK = (
    "Cache flushed.\nPlease check backend logs for more details. "
    "(When there are running or waiting requests, the operation will not be performed.)\n"
)


# What real SGLang's /model_info reports as the embedding plan of a generation model.
_NO_EMBEDDING = {
    "family": "none",
    "task": "none",
    "execution": "none",
    "attention": "none",
    "pooling": "model_defined",
    "normalize": False,
    "postprocessor": "none",
    "tokenizer_special_tokens": "model_default",
    "supports_dimensions": False,
    "supports_token_embeddings": False,
    "supports_multimodal": False,
    "requires_embedding_flag": False,
    "auto_enable_embedding": False,
    "bcg_eligibility": "disabled",
    "safe_disable_kv_cache": False,
    "safe_disable_radix_cache": False,
    "safe_disable_chunked_prefill": False,
    "enabled": False,
    "matryoshka_dimensions": [],
    "bcg": {
        "prefill_backend": "disabled",
        "enabled": False,
        "capture_token_budget": 4096,
        "capture_batch_sizes": [
            *range(4, 33, 4),
            *range(48, 257, 16),
            *range(288, 513, 32),
            *range(576, 1025, 64),
            *range(1280, 4097, 256),
        ],
    },
    "cache": {"kv_cache_disabled": False, "radix_cache_disabled": False, "chunked_prefill_disabled": False},
}


def dumps(content: Any) -> bytes:
    """Compact UTF-8 JSON, as SGLang's orjson responses are."""
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(dumps(content), status_code=status_code, media_type="application/json")


@dataclass(frozen=True)
class _Endpoint:
    """Where FastAPI says a validation error happened: SGLang's handler, its source line and route."""

    function: str
    line: int
    route: str


_GENERATE = _Endpoint("generate_request", 928, "POST /generate")
_ABORT = _Endpoint("abort_request", 1721, "POST /abort_request")
_HTTP_SERVER_SOURCE = "sglang/srt/entrypoints/http_server.py"


def _validation_error(errors: list[dict[str, Any]], endpoint: _Endpoint) -> Response:
    """FastAPI's RequestValidationError text (errors, then the endpoint's source location) as SGLang reshapes
    it (400 ``ErrorResponse``)."""
    listed = "".join(f"  {error}\n" for error in errors)
    message = (
        f"{len(errors)} validation error{'s' if len(errors) != 1 else ''}:\n{listed}\n"
        f'  File "{_HTTP_SERVER_SOURCE}", line {endpoint.line}, in {endpoint.function}\n'
        f"    {endpoint.route} {errors}"
    )
    return json_response(
        {"object": "error", "message": message, "type": "Bad Request", "param": None, "code": 400}, 400
    )


def _parse_body(raw: bytes, endpoint: _Endpoint) -> tuple[Any, Response | None]:
    """(body, None), or (None, the validation error FastAPI gives for a missing or malformed JSON body)."""
    if not raw:
        return None, _validation_error(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}], endpoint
        )
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError as exc:
        error = {
            "type": "json_invalid",
            "loc": ("body", exc.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": exc.msg},
        }
        return None, _validation_error([error], endpoint)


def _stream_error_event(error: GenerateError) -> bytes:
    event = {
        "error": {
            "message": str(error),
            "type": "invalid_request_error",
            "code": error.status_code,
            "retryable": False,
        }
    }
    return b"data: " + dumps(event) + b"\n\n"


class ServerInfo:
    """What the emulator reports about itself on the info endpoints."""

    def __init__(
        self,
        *,
        model_path: str,
        served_model_name: str,
        host: str,
        tool_call_parser: str | None = None,
        reasoning_parser: str | None = None,
        model_config: ModelConfig | None = None,
        context_length_arg: int | None = None,
    ) -> None:
        self.model_path = model_path
        self.model_config = model_config
        self.context_length_arg = context_length_arg
        """The ``--context-length`` given, if any (real SGLang reports the argument, not the derived length)."""
        self.served_model_name = served_model_name
        self.host = host
        self.port = 0
        self.tool_call_parser = tool_call_parser
        self.reasoning_parser = reasoning_parser
        self.startup_seconds = 0.0
        """How long the server took to start (``startup_time.tokenizer_e2e``)."""


def create_app(
    engine: Engine,
    info: ServerInfo,
    *,
    api_key: str | None,
    recorded: list[dict],
    injected: deque[Response],
    recorded_headers: list[dict[str, str]] | None = None,
) -> Starlette:
    """The Starlette app; ``recorded`` receives every parsed ``/generate`` body (and ``recorded_headers`` its
    headers), and each response queued in ``injected`` answers one ``/generate`` call instead of generating
    (fault injection for tests)."""

    async def generate(request: Request) -> Response:
        raw = await request.body()
        if injected:
            return injected.popleft()
        body, invalid = _parse_body(raw, _GENERATE)
        if invalid is not None:
            return invalid
        from .request_model import body_errors  # pydantic: imported by the first /generate, not at start

        errors = body_errors(body)
        if errors:
            return _validation_error(errors, _GENERATE)
        recorded.append(body)
        if recorded_headers is not None:
            recorded_headers.append(dict(request.headers))
        try:
            check_generate_request(body)
        except ContractError as exc:
            return json_response({"error": str(exc)}, 400)
        stream = body.get("stream") is True
        try:
            single, jobs = plan_jobs(
                body,
                encode=engine.model.encode,
                vocab_size=engine.model.vocab_size,
                context_length=engine.context_length,
            )
            engine.reserve(jobs)
            engine.prefill_shared_prompts(jobs)
        except GenerateError as exc:
            if stream:
                return _sse(_error_then_done(exc))
            return json_response({"error": {"message": str(exc)}}, exc.status_code)
        aborted = request.scope.get("state", {}).get("fault") == "abort"
        if stream:
            return _sse(_stream_events(engine, jobs, batched=not single, aborted=aborted))
        try:
            outputs = await asyncio.gather(*(_final_output(engine, job, aborted) for job in jobs))
        except GenerateError as exc:
            return json_response({"error": {"message": str(exc)}}, exc.status_code)
        return json_response(outputs[0] if single else outputs)

    parsers = ServerParsers(engine, info.tool_call_parser, info.reasoning_parser)

    async def openai_chat(request: Request) -> Response:
        return await chat_completions(request, engine, info.served_model_name, parsers)

    async def health(request: Request) -> Response:
        return Response(status_code=200)

    async def model_info(request: Request) -> Response:
        config = info.model_config
        return json_response(
            {
                "model_path": info.model_path,
                "served_model_name": info.served_model_name,
                "tokenizer_path": info.model_path,
                "is_generation": True,
                "preferred_sampling_params": None,
                "weight_version": engine.weight_version,
                "load_format": "auto",
                "reasoning_parser": info.reasoning_parser,
                "tool_call_parser": info.tool_call_parser,
                "disaggregation_mode": "null",
                "has_image_understanding": False,
                "has_audio_understanding": False,
                "model_type": config.model_type if config else None,
                "architectures": list(config.architectures) if config and config.architectures else None,
                "embedding": _NO_EMBEDDING,
            }
        )

    async def server_info(request: Request) -> Response:
        # Real SGLang dumps all ~550 server args (the API key among them); these are the ones the emulator has.
        server_args = {
            "model_path": info.model_path,
            "tokenizer_path": info.model_path,
            "context_length": info.context_length_arg,
            "host": info.host,
            "port": info.port,
            "served_model_name": info.served_model_name,
            "weight_version": engine.weight_version,
            "reasoning_parser": info.reasoning_parser,
            "tool_call_parser": info.tool_call_parser,
            "stream_interval": engine.stream_interval,
            "incremental_streaming_output": engine.incremental_streaming_output,
            "disaggregation_mode": "null",
        }
        return json_response(
            {
                **server_args,
                "status": "ready",
                "startup_time": {"tokenizer_e2e": info.startup_seconds},
                "internal_states": [{**server_args, "world_size": 1}],
                "version": SGLANG_VERSION,
                "frontend": "python",
            }
        )

    async def models(request: Request) -> Response:
        card = {
            "id": info.served_model_name,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "sglang",
            "root": info.served_model_name,
            "parent": None,
            "max_model_len": engine.context_length,
        }
        return json_response({"object": "list", "data": [card]})

    async def tokenize(request: Request) -> Response:
        """SGLang's ``/v1/tokenize`` for a ``prompt`` (text or texts); chat ``messages`` are not emulated."""
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        prompt = body.get("prompt") if isinstance(body, dict) else None
        texts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
            return json_response({"object": "error", "message": "Invalid prompt type: expected str or List[str]."}, 400)
        special = body.get("add_special_tokens", True) is not False
        tokens = [engine.model.tokenizer.encode(text, add_special_tokens=special) for text in texts]
        if isinstance(prompt, str):
            return json_response({"tokens": tokens[0], "count": len(tokens[0]), "max_model_len": engine.context_length})
        counts = [len(ids) for ids in tokens]
        return json_response({"tokens": tokens, "count": counts, "max_model_len": engine.context_length})

    async def abort_request(request: Request) -> Response:
        body, invalid = _parse_body(await request.body(), _ABORT)
        if invalid is not None:
            return invalid
        if not isinstance(body, dict):
            return _validation_error(
                [
                    {
                        "type": "is_instance_of",
                        "loc": ("body", "is-instance[AbortReq]"),
                        "msg": "Input should be an instance of AbortReq",
                        "input": body,
                        "ctx": {"class": "AbortReq"},
                    },
                    {
                        "type": "dict_type",
                        "loc": ("body", "function-after[build_struct(), AbortReq]"),
                        "msg": "Input should be a valid dictionary",
                        "input": body,
                    },
                ],
                _ABORT,
            )
        engine.abort(rid=str(body.get("rid") or ""), abort_all=bool(body.get("abort_all")))
        return Response(status_code=200)

    async def flush_cache(request: Request) -> Response:
        if engine.running_rids:
            return Response("Flush cache failed.\n", status_code=400)
        engine.cache.clear()
        return Response(_FLUSH_OK, status_code=200)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return json_response({"detail": exc.detail}, exc.status_code)

    app = Starlette(
        exception_handlers={HTTPException: http_error},
        routes=[
            Route("/generate", generate, methods=["POST", "PUT"]),
            Route("/health", health, methods=["GET"]),
            Route("/health_generate", health, methods=["GET"]),
            Route("/ready", health, methods=["GET"]),
            Route("/model_info", model_info, methods=["GET"]),
            Route("/get_model_info", model_info, methods=["GET"]),
            Route("/server_info", server_info, methods=["GET"]),
            Route("/get_server_info", server_info, methods=["GET"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", openai_chat, methods=["POST"]),
            Route("/abort_request", abort_request, methods=["POST"]),
            Route("/v1/tokenize", tokenize, methods=["POST"]),
            Route("/tokenize", tokenize, methods=["POST"]),
            Route("/flush_cache", flush_cache, methods=["GET", "POST"]),
        ],
    )
    app.add_middleware(_VaryOriginMiddleware)
    if api_key:  # outside the CORS layer, as in SGLang: a 401 has no vary header
        app.add_middleware(_ApiKeyMiddleware, api_key=api_key)
    return app


class _VaryOriginMiddleware:
    """``vary: Origin`` on every response, as SGLang's CORS middleware (any origin allowed) sends."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_vary(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"vary", b"Origin")]}
            await send(message)

        await self.app(scope, receive, send_with_vary)


class _ApiKeyMiddleware:
    """Bearer-token check on every path but health/readiness/metrics (pure ASGI keeps disconnects)."""

    def __init__(self, app, *, api_key: str) -> None:
        self.app = app
        self._api_key = api_key

    def __repr__(self) -> str:
        return "_ApiKeyMiddleware(api_key=***)"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or scope["path"].startswith(_OPEN_PATH_PREFIXES):
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token and secrets.compare_digest(token, self._api_key):
            await self.app(scope, receive, send)
            return
        await json_response({"error": "Unauthorized"}, 401)(scope, receive, send)


def _sse(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream")


async def _error_then_done(error: GenerateError) -> AsyncIterator[bytes]:
    yield _stream_error_event(error)
    yield b"data: [DONE]\n\n"


async def _final_output(engine: Engine, job: Job, aborted: bool) -> dict[str, Any]:
    outputs = [output async for output in engine.run(job, aborted=aborted)]
    return outputs[-1]


async def _stream_events(engine: Engine, jobs: list[Job], *, batched: bool, aborted: bool) -> AsyncIterator[bytes]:
    """SSE events of all jobs as they come (each tagged with its ``index`` in a batch), then [DONE]."""
    queue: asyncio.Queue[tuple[int, dict[str, Any] | GenerateError | None]] = asyncio.Queue()

    async def pump(index: int, job: Job) -> None:
        try:
            async for output in engine.run(job, aborted=aborted):
                await queue.put((index, output))
        except GenerateError as exc:
            await queue.put((index, exc))
        finally:
            await queue.put((index, None))

    tasks = [asyncio.create_task(pump(index, job)) for index, job in enumerate(jobs)]
    try:
        remaining = len(tasks)
        while remaining:
            index, item = await queue.get()
            if item is None:
                remaining -= 1
            elif isinstance(item, GenerateError):
                yield _stream_error_event(item)
            else:
                if batched:
                    item["index"] = index
                yield b"data: " + dumps(item) + b"\n\n"
        yield b"data: [DONE]\n\n"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
