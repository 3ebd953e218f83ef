"""The emulator's HTTP surface: SGLang's native endpoints on Starlette, served by uvicorn.

Routes, status codes and bodies follow SGLang 0.5.23 ``srt/entrypoints/http_server.py``; the API-key
rule follows ``srt/utils/auth.py`` (``decide_request_auth``: health/readiness paths are always open,
everything else needs ``Authorization: Bearer <api_key>`` when a key is set, else 401
``{"error": "Unauthorized"}``).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .contract import ContractError, check_generate_request
from .engine import Engine
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


def dumps(content: Any) -> bytes:
    """Compact UTF-8 JSON, as SGLang's orjson responses are."""
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(dumps(content), status_code=status_code, media_type="application/json")


def _validation_error(errors: list[dict[str, Any]]) -> Response:
    """FastAPI's RequestValidationError as SGLang reshapes it (400 ``ErrorResponse``)."""
    listed = "".join(f"  {error}\n" for error in errors)
    message = f"{len(errors)} validation error{'s' if len(errors) != 1 else ''}:\n{listed}".rstrip()
    return json_response(
        {"object": "error", "message": f"{message} {errors}", "type": "Bad Request", "param": None, "code": 400},
        400,
    )


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
    ) -> None:
        self.model_path = model_path
        self.served_model_name = served_model_name
        self.host = host
        self.port = 0
        self.tool_call_parser = tool_call_parser
        self.reasoning_parser = reasoning_parser
        self.startup_time = time.time()


def create_app(
    engine: Engine,
    info: ServerInfo,
    *,
    api_key: str | None,
    recorded: list[dict],
    injected: deque[Response],
) -> Starlette:
    """The Starlette app; ``recorded`` receives every parsed ``/generate`` body, and each response queued
    in ``injected`` answers one ``/generate`` call instead of generating (fault injection for tests)."""

    async def generate(request: Request) -> Response:
        raw = await request.body()
        if injected:
            return injected.popleft()
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return _validation_error(
                [
                    {
                        "type": "json_invalid",
                        "loc": ("body", getattr(exc, "pos", 0)),
                        "msg": "JSON decode error",
                        "input": {},
                        "ctx": {"error": getattr(exc, "msg", str(exc))},
                    }
                ]
            )
        if not isinstance(body, dict):
            return _validation_error(
                [
                    {
                        "type": "dataclass_type",
                        "loc": ("body",),
                        "msg": "Input should be a dictionary or an instance of GenerateReqInput",
                        "input": body,
                        "ctx": {"class_name": "GenerateReqInput"},
                    }
                ]
            )
        recorded.append(body)
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
                "model_type": None,
                "architectures": None,
            }
        )

    async def server_info(request: Request) -> Response:
        return json_response(
            {
                "model_path": info.model_path,
                "served_model_name": info.served_model_name,
                "tokenizer_path": info.model_path,
                "host": info.host,
                "port": info.port,
                "context_length": engine.context_length,
                "max_context_length": engine.context_length,
                "incremental_streaming_output": engine.incremental_streaming_output,
                "disaggregation_mode": "null",
                "tool_call_parser": info.tool_call_parser,
                "reasoning_parser": info.reasoning_parser,
                "weight_version": engine.weight_version,
                "startup_time": info.startup_time,
                "internal_states": [{"num_running_reqs": len(engine.running_rids)}],
                "version": SGLANG_VERSION,
                "frontend": "python",
                "emulated_by": "sglang-native-provider",
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

    async def abort_request(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _validation_error(
                [{"type": "model_attributes_type", "loc": ("body",), "msg": "Input should be a valid dictionary"}]
            )
        engine.abort(rid=str(body.get("rid") or ""), abort_all=bool(body.get("abort_all")))
        return Response(status_code=200)

    async def flush_cache(request: Request) -> Response:
        if engine.running_rids:
            return Response("Flush cache failed.\n", status_code=400)
        engine.cache.clear()
        return Response(_FLUSH_OK, status_code=200)

    app = Starlette(
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
            Route("/flush_cache", flush_cache, methods=["GET", "POST"]),
        ]
    )
    if api_key:
        app.add_middleware(_ApiKeyMiddleware, api_key=api_key)
    return app


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
