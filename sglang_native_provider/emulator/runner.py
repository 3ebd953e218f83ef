"""Run the emulator: in a background thread (tests, demo) or in the foreground (CLI)."""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response

from ..offline_tokenizers import RECIPES, build_tokenizer
from .engine import Engine
from .faults import FaultInjector, Faults
from .model import FakeModel, ScriptedCompletion
from .model_config import ModelConfig, load_model_config, recipe_model_config
from .routing import FakeMoe
from .server import ServerInfo, create_app, json_response
from .stop_tokens import kept_stop_token_ids, stop_token_ids
from .tokenizer import FastTokenizer
from .vision import ImageTokens

__all__ = ["Emulator", "load_emulator_tokenizer"]


def _model_config(tokenizer: str, model_config: str | Path | None) -> ModelConfig | None:
    """The model config given, else a tokenizer directory's own ``config.json`` if it has one, else what an offline
    recipe's model family is known to be."""
    if model_config is not None:
        return load_model_config(model_config)
    if tokenizer in RECIPES:
        return recipe_model_config(tokenizer)
    if (Path(tokenizer) / "config.json").is_file():
        return load_model_config(tokenizer)
    return None


def _derived_context_length(tokenizer, config: ModelConfig | None) -> int:
    """The model config's context length, else the tokenizer's ``model_max_length`` (at most 2**20)."""
    if config is not None and config.context_length:
        return config.context_length
    return min(tokenizer.model_max_length, 1 << 20)


@functools.lru_cache(maxsize=8)
def load_emulator_tokenizer(tokenizer: str, *, trust_remote_code: bool = False):
    """An offline recipe name (``qwen3``, ``qwen2.5``, ``llama3.1``) or a tokenizer directory / hub id.

    Loaded once per process: emulators, the demo and tests share the (read-only) tokenizer. A recipe's built
    directory is loaded without ``transformers`` (:class:`~.tokenizer.FastTokenizer`, seconds faster to start);
    anything else with ``AutoTokenizer``.
    """
    if tokenizer in RECIPES:
        return FastTokenizer.from_directory(build_tokenizer(tokenizer))
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer, trust_remote_code=trust_remote_code)


class Emulator:
    """An SGLang-compatible server on 127.0.0.1 with a real tokenizer and scripted or seeded output.

    Use it as a context manager (``with Emulator() as emu:`` or ``async with``); ``emu.url`` is the
    base URL, ``emu.requests`` the ``/generate`` bodies received, ``emu.script(...)`` queues the next
    completions and ``emu.running_rids`` lists requests still generating. ``faults`` makes calls fail at
    given rates (see :mod:`.faults`); :meth:`stop` then :meth:`start` is a worker that dies and comes back
    on the same port.

    The context length is ``context_length`` if given, else the model config's (``model_config``: a model
    directory or its ``config.json``; a tokenizer directory's own ``config.json`` is used too), as real SGLang
    derives it, else the tokenizer's ``model_max_length``. ``stream_interval`` and ``merge_last_events`` shape
    stream events as described on :class:`~.engine.Engine` (by default the last event of each stream of a batch
    or ``n > 1`` request carries two tokens). Generation stops on ``eos_token_ids`` if given, else as real SGLang
    does on the tokenizer's EOS and additional stop tokens and the model config's EOS ids; ``tool_call_parser``
    decides which matched stop tokens stay in ``text`` (see :mod:`.stop_tokens`). ``enable_return_routed_experts``
    is SGLang's flag: requests may then ask for the routing of the fake mixture of experts ``moe`` (default
    :class:`~.routing.FakeMoe`: 4 layers, 16 experts, top 2), see :mod:`.routing`. ``image_processor`` (a Qwen2-VL
    ``preprocessor_config.json``, path or content) makes it a vision model taking ``image_data`` (see :mod:`.vision`).
    """

    def __init__(
        self,
        tokenizer: str = "qwen3",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        served_model_name: str | None = None,
        context_length: int | None = None,
        model_config: str | Path | None = None,
        weight_version: str = "default",
        token_delay: float = 0.0,
        incremental_streaming_output: bool = False,
        stream_interval: int = 1,
        merge_last_events: bool | None = None,
        eos_token_ids: Sequence[int] | None = None,
        tool_call_parser: str | None = None,
        reasoning_parser: str | None = None,
        seed: int = 0,
        enable_return_routed_experts: bool = False,
        moe: FakeMoe | None = None,
        faults: Faults | None = None,
        keep_alive_seconds: float = 5.0,
        image_processor: str | Path | dict | None = None,
    ) -> None:
        self.tokenizer = load_emulator_tokenizer(tokenizer)
        config = _model_config(tokenizer, model_config)
        if eos_token_ids is None:
            eos_token_ids = sorted(stop_token_ids(self.tokenizer, config.eos_token_ids if config else ()))
        self.model = FakeModel(self.tokenizer, eos_token_ids=eos_token_ids, seed=seed)
        self.engine = Engine(
            self.model,
            context_length=context_length or _derived_context_length(self.tokenizer, config),
            weight_version=weight_version,
            token_delay=token_delay,
            incremental_streaming_output=incremental_streaming_output,
            stream_interval=stream_interval,
            merge_last_events=merge_last_events,
            kept_stop_ids=kept_stop_token_ids(tool_call_parser, self.tokenizer),
            moe=(moe or FakeMoe()) if enable_return_routed_experts else None,
            image_tokens=ImageTokens.of(self.tokenizer, image_processor) if image_processor is not None else None,
        )
        self.info = ServerInfo(
            model_path=tokenizer,
            served_model_name=served_model_name or Path(tokenizer).name,
            host=host,
            tool_call_parser=tool_call_parser,
            reasoning_parser=reasoning_parser,
            model_config=config,
            context_length_arg=context_length,
        )
        self.requests: list[dict] = []
        self.request_headers: list[dict[str, str]] = []
        """The headers of each ``/generate`` call (lower-case names), aligned with :attr:`requests`."""
        self._injected: deque[Response] = deque()
        self.faults = faults or Faults()
        self.app = FaultInjector(self._create_app(api_key), self.faults)
        self._host, self._port = host, port
        self._keep_alive_seconds = keep_alive_seconds  # uvicorn's (and SGLang's) idle keep-alive: 5 s
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def _create_app(self, api_key: str | None) -> Starlette:
        """The app recording into :attr:`requests` and answering from the injected responses first."""
        return create_app(
            self.engine,
            self.info,
            api_key=api_key,
            recorded=self.requests,
            injected=self._injected,
            recorded_headers=self.request_headers,
        )

    def __repr__(self) -> str:
        return f"Emulator(url={self.url!r}, model={self.info.served_model_name!r})"

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.info.port or self._port}"

    @property
    def running_rids(self) -> list[str]:
        return self.engine.running_rids

    def script(self, *completions: str | Sequence[int] | ScriptedCompletion) -> None:
        """Queue the next completions (texts end with EOS; token-id lists are emitted as they are)."""
        self.model.script(*completions)

    def inject_error(self, status_code: int, message: str = "injected error") -> None:
        """Answer the next ``/generate`` with ``status_code`` and SGLang's ``{"error": {"message"}}`` body."""
        self._injected.append(json_response({"error": {"message": message}}, status_code))

    def inject_stream(self, body: bytes) -> None:
        """Answer the next ``/generate`` with a 200 event stream whose bytes are exactly ``body``."""
        self._injected.append(Response(body, media_type="text/event-stream"))

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self.info.port or self._port))
        self.info.port = sock.getsockname()[1]
        return sock

    def _uvicorn(self) -> uvicorn.Server:
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_keep_alive=self._keep_alive_seconds,
        )
        return uvicorn.Server(config)

    def start(self) -> Emulator:
        """Serve in a background thread until :meth:`stop`."""
        started = time.perf_counter()
        sock = self._bind()
        self._server = self._uvicorn()
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="sglang-emulator", daemon=True
        )
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the SGLang emulator failed to start")
            time.sleep(0.01)
        self.info.startup_seconds = time.perf_counter() - started
        return self

    def stop(self) -> None:
        """Stop serving (a later :meth:`start` serves on the same port again)."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def serve_forever(self) -> None:
        """Serve in the foreground (the CLI's ``emulate``) until interrupted."""
        sock = self._bind()
        self._uvicorn().run(sockets=[sock])

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    async def __aenter__(self) -> Emulator:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc_info) -> None:
        await asyncio.to_thread(self.stop)
