"""The LiteLLM custom provider ``sglang_native``: chat completions over SGLang's native ``/generate``.

``register()`` adds it to ``litellm.custom_provider_map``; the LiteLLM proxy can point its
``custom_provider_map`` at ``sglang_native_provider.provider.handler`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import litellm
from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import ModelResponse, ModelResponseStream

from .capabilities import register_models
from .capture_check import CaptureChecks
from .config import PROVIDER
from .parsers import REASONING_PARSERS, TOOL_CALL_PARSERS
from .request import PreparedCall, prepare
from .responses_bridge import install as install_responses_bridge
from .server_check import ServerChecks
from .transport import GenerateClient

__all__ = ["SGLangNativeProvider", "handler", "register"]


class SGLangNativeProvider(CustomLLM):
    """Renders the chat client-side, sends exact token ids to ``/generate``, parses what comes back."""

    def __init__(self) -> None:
        super().__init__()
        self._client = GenerateClient()
        self._checks = ServerChecks(
            self._client, {"tool_call_parser": TOOL_CALL_PARSERS, "reasoning_parser": REASONING_PARSERS}
        )
        self._captures = CaptureChecks(self._client)

    async def _acheck_server(self, call: PreparedCall) -> None:
        if call.server_check is not None:
            warnings = await self._checks.acheck(call.config, call.server_check, call.context.tokenizer)
            call.report_server_warnings(warnings)

    def _check_server(self, call: PreparedCall) -> None:
        if call.server_check is not None:
            call.report_server_warnings(self._checks.check(call.config, call.server_check, call.context.tokenizer))

    def completion(self, *, model_response: ModelResponse, **kwargs: Any) -> ModelResponse:
        call = prepare(**kwargs)
        self._captures.check(call.config, call.signals_asked, call.model)
        self._check_server(call)
        return call.response(model_response, self._client.generate(call.config, call.body(), call.model))

    async def acompletion(self, *, model_response: ModelResponse, **kwargs: Any) -> ModelResponse:
        # In a worker thread: rendering is CPU work and a session store may do I/O. (LiteLLM already calls
        # ``astreaming`` from one, and ``acompletion`` only to make this coroutine, awaited on the loop.)
        call = await asyncio.to_thread(prepare, **kwargs)
        await self._captures.acheck(call.config, call.signals_asked, call.model)
        await self._acheck_server(call)
        return await call.aresponse(model_response, await self._client.agenerate(call.config, call.body(), call.model))

    def astreaming(self, **kwargs: Any) -> AsyncIterator[ModelResponseStream]:  # type: ignore[override]
        """Validate and render now, so bad input raises its own exception from ``acompletion`` (LiteLLM wraps
        whatever a stream raises in ``MidStreamFallbackError``); stream when iterated."""
        call = prepare(**kwargs)
        self._captures.check(call.config, call.signals_asked, call.model)
        return self._astream(call)

    async def _astream(self, call: PreparedCall) -> AsyncIterator[ModelResponseStream]:
        await self._acheck_server(call)
        assembler = call.stream_assembler()
        finished = False
        try:
            # Closed at once when this stream is (not when collected): the connection closes, SGLang stops.
            events = self._client.astream(call.config, call.body(stream=True), call.model)
            async with contextlib.aclosing(events):
                async for event in events:
                    for chunk in assembler.event(event):
                        yield chunk
            assembler.done()
            finished = True
        finally:
            if not finished:  # cancelled, abandoned or failed: do not let the GPU generate for nobody
                await self._client.aabort(call.config, call.rid)
        if call.session is not None:
            await call.session.arecord(assembler.finished_choices())

    def streaming(self, **kwargs: Any) -> Iterator[ModelResponseStream]:
        """As :meth:`astreaming`, synchronously."""
        call = prepare(**kwargs)
        self._captures.check(call.config, call.signals_asked, call.model)
        return self._stream(call)

    def _stream(self, call: PreparedCall) -> Iterator[ModelResponseStream]:
        self._check_server(call)
        assembler = call.stream_assembler()
        finished = False
        try:
            with contextlib.closing(self._client.stream(call.config, call.body(stream=True), call.model)) as events:
                for event in events:
                    yield from assembler.event(event)
            assembler.done()
            finished = True
        finally:
            if not finished:
                self._client.abort(call.config, call.rid)
        if call.session is not None:
            call.session.record(assembler.finished_choices())


handler = SGLangNativeProvider()
"""The provider instance; the proxy's ``custom_provider_map`` can name it directly."""
install_responses_bridge()  # here, not in register(): the proxy names ``handler`` without calling register()


def register(*models: str) -> SGLangNativeProvider:
    """Make ``sglang_native/<model>`` available to LiteLLM (idempotent); call before building a Router.

    Models named here are also registered in LiteLLM's model map with what they support (function
    calling, reasoning...) at zero cost, so frameworks that ask LiteLLM first use native tool calls; any
    other model is registered at its first call."""
    entries = [entry for entry in litellm.custom_provider_map if entry.get("provider") != PROVIDER]
    litellm.custom_provider_map = [*entries, {"provider": PROVIDER, "custom_handler": handler}]
    register_models(*models)
    return handler
