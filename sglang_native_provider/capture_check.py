"""Once per server: can it capture the rollout signals a request asks for?

SGLang returns routed experts only when it runs with ``--enable-return-routed-experts``; without it a request
asking for them is answered without them, silently. So before a server's first request that asks, its
``GET /server_info`` is read once (SGLang reports every server argument there): a server that says the flag is
off makes the request a ``BadRequestError`` naming the flag, before anything is generated. A server that does
not say (no such endpoint, a router in front) is not refused; its answers then report ``routed_experts_missing``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from .errors import bad_request
from .transport import GenerateClient, Probe

__all__ = ["CaptureChecks"]

_FLAGS = {"routed_experts": ("enable_return_routed_experts", "--enable-return-routed-experts")}
"""A signal -> the ``/server_info`` field saying whether the server captures it, and the server flag."""


def _capabilities(probe: Probe | None) -> dict[str, bool]:
    """What ``/server_info`` says the server captures (a signal it does not mention is left out)."""
    if probe is None or probe.status != 200 or not isinstance(probe.answer, Mapping):
        return {}
    return {
        signal: probe.answer[field]
        for signal, (field, _) in _FLAGS.items()
        if isinstance(probe.answer.get(field), bool)
    }


class CaptureChecks:
    """What each server (by ``api_base``) captures, read once from its ``/server_info``."""

    def __init__(self, client: GenerateClient) -> None:
        self._client = client
        self._known: dict[str, dict[str, bool]] = {}
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Read every server again at its next request that asks for a signal."""
        with self._lock:
            self._known.clear()

    def _remember(self, api_base: str, probe: Probe | None) -> dict[str, bool]:
        capabilities = _capabilities(probe)
        if probe is not None:  # an unreachable server is read again next time
            with self._lock:
                self._known[api_base] = capabilities
        return capabilities

    @staticmethod
    def _require(capabilities: Mapping[str, bool], asked: list[str], api_base: str, model: str) -> None:
        for signal in asked:
            if capabilities.get(signal) is False:
                flag = _FLAGS[signal][1]
                raise bad_request(f"{signal} were asked, but the server {api_base} runs without {flag}", model)

    def check(self, config: Any, asked: list[str], model: str) -> None:
        """Raise ``BadRequestError`` when the server says it cannot capture an ``asked`` signal."""
        if not asked:
            return
        capabilities = self._known.get(config.api_base)
        if capabilities is None:
            capabilities = self._remember(config.api_base, self._client.probe(config, "/server_info"))
        self._require(capabilities, asked, config.api_base, model)

    async def acheck(self, config: Any, asked: list[str], model: str) -> None:
        """As :meth:`check`, without blocking the event loop."""
        if not asked:
            return
        capabilities = self._known.get(config.api_base)
        if capabilities is None:
            capabilities = self._remember(config.api_base, await self._client.aprobe(config, "/server_info"))
        self._require(capabilities, asked, config.api_base, model)
