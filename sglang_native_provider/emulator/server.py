"""The emulator's HTTP surface: SGLang's native endpoints on Starlette, served by uvicorn.

Routes, status codes and bodies follow SGLang 0.5.23 ``srt/entrypoints/http_server.py``. Bodies are parsed with
orjson and validated against ``GenerateReqInput`` as FastAPI does there (see :mod:`.request_model`), so malformed
JSON and wrongly-typed fields get the same texts; the HTTP details (errors, SSE, CORS, API key) are in
:mod:`.wire`, the info bodies in :mod:`.server_info`.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..contract import ContractError, check_generate_request
from .engine import Engine
from .openai_chat import ServerParsers, chat_completions
from .requests import GenerateError, Job, plan_jobs
from .server_info import SGLANG_VERSION, ServerInfo
from .vision import with_images
from .wire import (
    ABORT,
    GENERATE,
    ApiKeyMiddleware,
    VaryOriginMiddleware,
    dumps,
    error_then_done,
    json_response,
    parse_body,
    sse,
    stream_error_event,
    validation_error,
)

__all__ = ["SGLANG_VERSION", "ServerInfo", "create_app", "json_response"]

_FLUSH_OK = (
    "Cache flushed.\nPlease check backend logs for more details. "
    "(When there are running or waiting requests, the operation will not be performed.)\n"
)
# (paths, handler method, HTTP methods)
_ROUTES = (
    (("/generate",), "generate", ("POST", "PUT")),
    (("/health", "/health_generate", "/ready"), "health", ("GET",)),
    (("/model_info", "/get_model_info"), "model_info", ("GET",)),
    (("/server_info", "/get_server_info"), "server_info", ("GET",)),
    (("/v1/models",), "models", ("GET",)),
    (("/v1/chat/completions",), "openai_chat", ("POST",)),
    (("/abort_request",), "abort_request", ("POST",)),
    (("/v1/tokenize", "/tokenize"), "tokenize", ("POST",)),
    (("/flush_cache",), "flush_cache", ("GET", "POST")),
)


class _Handlers:
    """The route handlers of one app, one job each, over the emulator's engine and what it reports."""

    def __init__(
        self,
        engine: Engine,
        info: ServerInfo,
        *,
        recorded: list[dict],
        injected: deque[Response],
        recorded_headers: list[dict[str, str]] | None,
    ) -> None:
        self.engine = engine
        self.info = info
        self.recorded = recorded
        self.injected = injected
        self.recorded_headers = recorded_headers
        self.parsers = ServerParsers(engine, info.tool_call_parser, info.reasoning_parser)

    # ---- /generate ----
    async def generate(self, request: Request) -> Response:
        """``POST /generate``: an injected answer, else validate, record and generate."""
        raw = await request.body()
        if self.injected:
            return self.injected.popleft()
        body, invalid = self._validated(raw)
        if invalid is not None:
            return invalid
        self.recorded.append(body)
        if self.recorded_headers is not None:
            self.recorded_headers.append(dict(request.headers))
        try:
            check_generate_request(body)
        except ContractError as exc:
            return json_response({"error": str(exc)}, 400)
        aborted = request.scope.get("state", {}).get("fault") == "abort"
        return await self._answer(body, aborted=aborted)

    @staticmethod
    def _validated(raw: bytes) -> tuple[Any, Response | None]:
        """The body, or FastAPI's validation error for it (malformed JSON, or not a ``GenerateReqInput``)."""
        body, invalid = parse_body(raw, GENERATE)
        if invalid is not None:
            return None, invalid
        from .request_model import body_errors  # pydantic: imported by the first /generate, not at start

        errors = body_errors(body)
        return body, validation_error(errors, GENERATE) if errors else None

    async def _answer(self, body: dict[str, Any], *, aborted: bool) -> Response:
        """Plan the body's jobs and answer: an event stream, one output, or a list of outputs."""
        engine = self.engine
        stream = body.get("stream") is True
        try:
            single, jobs = plan_jobs(
                with_images(body, engine.image_tokens, engine.model.tokenizer),
                encode=engine.model.encode,
                vocab_size=engine.model.vocab_size,
                context_length=engine.context_length,
            )
            engine.reserve(jobs)
            engine.prefill_shared_prompts(jobs)
        except GenerateError as exc:
            if stream:
                return sse(error_then_done(exc))
            return json_response({"error": {"message": str(exc)}}, exc.status_code)
        if stream:
            return sse(_stream_events(engine, jobs, batched=not single, aborted=aborted))
        try:
            outputs = await asyncio.gather(*(_final_output(engine, job, aborted) for job in jobs))
        except GenerateError as exc:
            return json_response({"error": {"message": str(exc)}}, exc.status_code)
        return json_response(outputs[0] if single else outputs)

    # ---- the others ----
    async def openai_chat(self, request: Request) -> Response:
        """``POST /v1/chat/completions`` (see :mod:`.openai_chat`)."""
        return await chat_completions(request, self.engine, self.info.served_model_name, self.parsers)

    async def health(self, request: Request) -> Response:
        """``/health``, ``/health_generate``, ``/ready``: 200 with no body."""
        return Response(status_code=200)

    async def model_info(self, request: Request) -> Response:
        """``/model_info`` (and the deprecated ``/get_model_info``)."""
        return json_response(self.info.model_info(self.engine))

    async def server_info(self, request: Request) -> Response:
        """``/server_info`` (and the deprecated ``/get_server_info``)."""
        return json_response(self.info.server_info(self.engine))

    async def models(self, request: Request) -> Response:
        """``/v1/models``."""
        return json_response(self.info.models(self.engine))

    async def tokenize(self, request: Request) -> Response:
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
        tokens = [self.engine.model.tokenizer.encode(text, add_special_tokens=special) for text in texts]
        limit = self.engine.context_length
        if isinstance(prompt, str):
            return json_response({"tokens": tokens[0], "count": len(tokens[0]), "max_model_len": limit})
        return json_response({"tokens": tokens, "count": [len(ids) for ids in tokens], "max_model_len": limit})

    async def abort_request(self, request: Request) -> Response:
        """``POST /abort_request``: end a running request (or all); unknown rids are ignored."""
        body, invalid = parse_body(await request.body(), ABORT)
        if invalid is not None:
            return invalid
        if not isinstance(body, dict):
            return validation_error(_not_an_abort_req(body), ABORT)
        self.engine.abort(rid=str(body.get("rid") or ""), abort_all=bool(body.get("abort_all")))
        return Response(status_code=200)

    async def flush_cache(self, request: Request) -> Response:
        """``/flush_cache``: empty the prefix cache unless requests are running."""
        if self.engine.running_rids:
            return Response("Flush cache failed.\n", status_code=400)
        self.engine.cache.clear()
        return Response(_FLUSH_OK, status_code=200)


def _not_an_abort_req(body: Any) -> list[dict[str, Any]]:
    """FastAPI's errors for an ``/abort_request`` body that is not an object."""
    return [
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
    ]


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return json_response({"detail": exc.detail}, exc.status_code)


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
    handlers = _Handlers(engine, info, recorded=recorded, injected=injected, recorded_headers=recorded_headers)
    routes = [
        Route(path, getattr(handlers, handler), methods=list(methods))
        for paths, handler, methods in _ROUTES
        for path in paths
    ]
    app = Starlette(exception_handlers={HTTPException: _http_error}, routes=routes)
    app.add_middleware(VaryOriginMiddleware)
    if api_key:  # outside the CORS layer, as in SGLang: a 401 has no vary header
        app.add_middleware(ApiKeyMiddleware, api_key=api_key)
    return app


async def _final_output(engine: Engine, job: Job, aborted: bool) -> dict[str, Any]:
    outputs = [output async for output in engine.run(job, aborted=aborted)]
    return outputs[-1]


async def _stream_events(engine: Engine, jobs: list[Job], *, batched: bool, aborted: bool) -> AsyncIterator[bytes]:
    """SSE events of all jobs as they come (each tagged with its ``index`` in a batch), then [DONE]; jobs streamed
    together may merge their last events (see :class:`~.engine.Engine`)."""
    queue: asyncio.Queue[tuple[int, dict[str, Any] | GenerateError | None]] = asyncio.Queue()
    several = len(jobs) > 1

    async def pump(index: int, job: Job) -> None:
        try:
            async for output in engine.run(job, aborted=aborted, batched=several):
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
                yield stream_error_event(item)
            else:
                if batched:
                    item["index"] = index
                yield b"data: " + dumps(item) + b"\n\n"
        yield b"data: [DONE]\n\n"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
