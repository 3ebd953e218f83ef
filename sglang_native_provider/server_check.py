"""Once per deployment: does the server run the model this provider renders for?

The provider sends token ids, so a tokenizer that is not the server's does not fail: it makes the model read
other tokens than the ones rendered. Before a deployment's first request, SGLang is asked to tokenize a probe
text (``POST /v1/tokenize``) and the ids are compared with the provider's tokenizer; ``GET /model_info`` tells
which parsers the server itself runs with, compared with the ones this provider parses with. Each
disagreement is logged once and reported on every response of the deployment (``server_warnings``). A server
that cannot answer (no such endpoint, a router in front) is not checked; nothing fails because of the check.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .transport import GenerateClient, Probe

__all__ = ["PROBE_TEXT", "ServerChecks"]

logger = logging.getLogger(__name__)

PROBE_TEXT = "Hello world! Ünïcödé façade, 12345 🙂\n\tdef f(x): return x ** 2"


@dataclass(frozen=True)
class _Deployment:
    api_base: str
    tokenizer: str
    revision: str | None
    tool_call_parser: str | None
    reasoning_parser: str | None


def _tokenizer_warning(probe: Probe | None, tokenizer, source: str) -> str | None:
    if probe is None or probe.status != 200 or not isinstance(probe.answer, Mapping):
        return None
    served = probe.answer.get("tokens")
    if not isinstance(served, list):
        return None
    ours = tokenizer.encode(PROBE_TEXT)
    if served == ours:
        return None
    first = next((i for i, (a, b) in enumerate(zip(served, ours, strict=False)) if a != b), min(len(served), len(ours)))
    return (
        f"the server tokenizes a probe text differently from tokenizer {source!r} (first difference at token "
        f"{first}): it may serve another model, and the token ids this provider sends mean other text to it"
    )


def _parser_warnings(probe: Probe | None, deployment: _Deployment, registries: Mapping[str, dict]) -> list[str]:
    if probe is None or probe.status != 200 or not isinstance(probe.answer, Mapping):
        return []
    warnings = []
    for kind, ours in (
        ("tool_call_parser", deployment.tool_call_parser),
        ("reasoning_parser", deployment.reasoning_parser),
    ):
        served = probe.answer.get(kind)
        if not isinstance(served, str) or not served:
            continue
        if ours is None or not _same_parsing(registries[kind].get(served), registries[kind].get(ours)):
            warnings.append(
                f"the server runs --{kind.replace('_', '-')} {served}, this provider parses with {ours!r}: "
                f"set {kind}={served!r} to read outputs as the server's OpenAI API does"
            )
    return warnings


def _same_parsing(served: type | None, ours: type | None) -> bool:
    """Whether two parser classes read output alike (their forced-call frames may differ)."""
    def reads_as(parser: type | None) -> type | None:
        return parser.reads_as() if parser is not None and hasattr(parser, "reads_as") else parser

    return served is not None and reads_as(served) is reads_as(ours)


class ServerChecks:
    """The checks' results, per deployment (server, tokenizer, parsers), made once each."""

    def __init__(self, client: GenerateClient, registries: Mapping[str, dict]) -> None:
        self._client = client
        self._registries = registries
        self._results: dict[_Deployment, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def deployment(config, tool_call_parser: str | None, reasoning_parser: str | None, model: str) -> _Deployment:
        return _Deployment(
            config.api_base,
            config.tokenizer_source(model),
            config.tokenizer_revision,
            tool_call_parser,
            reasoning_parser,
        )

    def forget(self) -> None:
        """Drop every result, so each deployment is checked again at its next request."""
        with self._lock:
            self._results.clear()

    def known(self, deployment: _Deployment) -> tuple[str, ...] | None:
        """The warnings of a deployment already checked, or None."""
        return self._results.get(deployment)

    def _finish(self, deployment: _Deployment, probes: tuple[Probe | None, Probe | None], tokenizer) -> tuple[str, ...]:
        tokenized, info = probes
        warnings = [
            warning
            for warning in (_tokenizer_warning(tokenized, tokenizer, deployment.tokenizer),)
            if warning is not None
        ] + _parser_warnings(info, deployment, self._registries)
        if tokenized is None and info is None:
            return ()  # the server did not answer: checked again at the next request
        with self._lock:
            if deployment not in self._results:
                for warning in warnings:
                    logger.warning("sglang_native: %s: %s", deployment.api_base, warning)
            self._results[deployment] = tuple(warnings)
        return tuple(warnings)

    async def acheck(self, config, deployment: _Deployment, tokenizer) -> tuple[str, ...]:
        known = self.known(deployment)
        if known is not None:
            return known
        probes = await asyncio.gather(
            self._client.aprobe(config, "/v1/tokenize", _tokenize_body()),
            self._client.aprobe(config, "/model_info"),
        )
        return self._finish(deployment, (probes[0], probes[1]), tokenizer)

    def check(self, config, deployment: _Deployment, tokenizer) -> tuple[str, ...]:
        known = self.known(deployment)
        if known is not None:
            return known
        probes = (
            self._client.probe(config, "/v1/tokenize", _tokenize_body()),
            self._client.probe(config, "/model_info"),
        )
        return self._finish(deployment, probes, tokenizer)


def _tokenize_body() -> dict[str, Any]:
    return {"prompt": PROBE_TEXT, "add_special_tokens": True}
