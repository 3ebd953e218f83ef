"""Once per deployment: does the server run the model this provider renders for?

The provider sends token ids, so a tokenizer that is not the server's does not fail: it makes the model read
other tokens than the ones rendered. Before a deployment's first request, SGLang is asked to tokenize a probe
text (``POST /v1/tokenize``) and the ids are compared with the provider's tokenizer; ``GET /model_info`` tells
which parsers the server itself runs with, compared with the ones this provider parses with. Each
disagreement is logged once and reported on every response of the deployment (``server_warnings``).

Behind SGLang's model gateway (``smg``) ``/model_info`` is unknown (404) and ``/v1/tokenize`` is the gateway's
own (it wants a ``model`` and a tokenizer of its own): the check then asks ``/get_model_info`` (passed through to
a worker) and has a worker prefill the probe text through ``/generate`` (``max_new_tokens`` 0), whose input
logprobs carry the ids it tokenized. smg is recognized by its answer to an unknown path, and that it drops
``structural_tag`` and ``logit_bias`` is reported. A server that cannot be reached is not checked (and is asked
again at the next request); nothing fails because of the check. Concurrent first calls of a deployment share one
check.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .transport import PROBE_TIMEOUT, GenerateClient, Probe

__all__ = ["PROBE_TEXT", "ServerChecks"]

logger = logging.getLogger(__name__)

PROBE_TEXT = "Hello world! Ünïcödé façade, 12345 🙂\n\tdef f(x): return x ** 2"
_WAIT_PROBES = 4  # the longest chain of probes a check runs in a row (sync: tokenize, prefill, two model infos)


_TOKENIZE, _MODEL_INFO, _LEGACY_MODEL_INFO, _GENERATE = "/v1/tokenize", "/model_info", "/get_model_info", "/generate"
_PREFILL = {  # a worker tokenizes the probe text and returns each prompt id with its logprob, generating nothing
    "text": PROBE_TEXT,
    "sampling_params": {"max_new_tokens": 0},
    "return_logprob": True,
    "logprob_start_len": 0,
}


@dataclass(frozen=True)
class _Deployment:
    api_base: str
    model: str
    tokenizer: str
    revision: str | None
    tool_call_parser: str | None
    reasoning_parser: str | None


def _served_ids(probe: Probe | None) -> list[int] | None:
    """The ids the server tokenized the probe text to: ``/v1/tokenize``'s ``tokens`` or, from a ``/generate``
    prefill, the ids of ``meta_info.input_token_logprobs``; None when the answer holds neither."""
    if probe is None or probe.status != 200 or not isinstance(probe.answer, Mapping):
        return None
    tokens = probe.answer.get("tokens")
    if isinstance(tokens, list) and all(isinstance(token, int) for token in tokens):
        return tokens
    meta_info = probe.answer.get("meta_info")
    entries = meta_info.get("input_token_logprobs") if isinstance(meta_info, Mapping) else None
    if not isinstance(entries, list) or not all(isinstance(e, list) and len(e) > 1 for e in entries):
        return None
    ids = [entry[1] for entry in entries]
    return ids if all(isinstance(token, int) for token in ids) else None


def _needs_prefill(probe: Probe | None) -> bool:
    """A server that answered ``/v1/tokenize`` without ids (a gateway's own endpoint) is asked for a prefill."""
    return probe is not None and _served_ids(probe) is None


def _needs_legacy_info(probe: Probe | None) -> bool:
    """A server that does not know ``/model_info`` (the gateway) is asked its deprecated ``/get_model_info``."""
    return probe is not None and probe.status == 404


def _behind_gateway(probe: Probe | None) -> bool:
    """smg's answer to a path it does not route: 404 with ``{"error": {"code": "unknown_url"}}``."""
    if probe is None or probe.status != 404 or not isinstance(probe.answer, Mapping):
        return False
    error = probe.answer.get("error")
    return isinstance(error, Mapping) and error.get("code") == "unknown_url"


_GATEWAY_WARNING = (
    "the server is SGLang's model gateway (smg), which drops sampling_params.structural_tag and logit_bias on "
    "the way to its workers (smg 1.13): a forced tool_choice and logit_bias are not enforced through it"
)


def _tokenizer_warning(probe: Probe | None, tokenizer, source: str) -> str | None:
    served = _served_ids(probe)
    if served is None:
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
        self._running: dict[_Deployment, concurrent.futures.Future] = {}
        self._lock = threading.Lock()

    @staticmethod
    def deployment(config, tool_call_parser: str | None, reasoning_parser: str | None, model: str) -> _Deployment:
        return _Deployment(
            config.api_base,
            model,
            config.tokenizer_source(model),
            config.tokenizer_revision,
            tool_call_parser,
            reasoning_parser,
        )

    def forget(self) -> None:
        """Drop every result, so each deployment is checked again at its next request."""
        with self._lock:
            self._results.clear()
            self._running.clear()

    def known(self, deployment: _Deployment) -> tuple[str, ...] | None:
        """The warnings of a deployment already checked, or None."""
        return self._results.get(deployment)

    def _finish(
        self, deployment: _Deployment, tokenized: Probe | None, infos: tuple[Probe | None, Probe | None], tokenizer
    ) -> tuple[str, ...]:
        """Record the warnings of the probes' answers (``infos``: ``/model_info``'s and the one read)."""
        asked, info = infos
        warnings = [
            warning
            for warning in (_tokenizer_warning(tokenized, tokenizer, deployment.tokenizer),)
            if warning is not None
        ] + _parser_warnings(info, deployment, self._registries)
        if _behind_gateway(asked):
            warnings.append(_GATEWAY_WARNING)
        if tokenized is None and info is None:
            return ()  # the server did not answer: checked again at the next request
        with self._lock:
            if deployment not in self._results:
                for warning in warnings:
                    logger.warning("sglang_native: %s: %s", deployment.api_base, warning)
            self._results[deployment] = tuple(warnings)
        return tuple(warnings)

    def _claim(self, deployment: _Deployment) -> tuple[concurrent.futures.Future, bool]:
        """The deployment's check under way (or just finished) and False, or a new one for the caller to run and
        True."""
        with self._lock:
            running = self._running.get(deployment)
            if running is None and deployment in self._results:  # finished since the caller looked
                running = concurrent.futures.Future()
                running.set_result(self._results[deployment])
            if running is not None:
                return running, False
            running = self._running[deployment] = concurrent.futures.Future()
            running.set_running_or_notify_cancel()  # a waiter that gives up cannot cancel it for the others
            return running, True

    def _settle(self, deployment: _Deployment, running: concurrent.futures.Future, warnings: tuple[str, ...]) -> None:
        """Hand the check's warnings to every caller waiting on it (empty if it was cut short)."""
        with self._lock:
            if self._running.get(deployment) is running:
                del self._running[deployment]
        running.set_result(warnings)

    async def acheck(self, config, deployment: _Deployment, tokenizer) -> tuple[str, ...]:
        known = self.known(deployment)
        if known is not None:
            return known
        running, mine = self._claim(deployment)
        if not mine:  # another call of this deployment is checking, on this event loop or another, or a thread
            return await asyncio.wrap_future(running)
        warnings: tuple[str, ...] = ()
        try:
            tokenized, infos = await asyncio.gather(self._atokenized(config, deployment), self._amodel_info(config))
            warnings = self._finish(deployment, tokenized, infos, tokenizer)
        finally:
            self._settle(deployment, running, warnings)
        return warnings

    async def _atokenized(self, config, deployment: _Deployment) -> Probe | None:
        probe = await self._client.aprobe(config, _TOKENIZE, _tokenize_body(deployment.model))
        return await self._client.aprobe(config, _GENERATE, _PREFILL) if _needs_prefill(probe) else probe

    async def _amodel_info(self, config) -> tuple[Probe | None, Probe | None]:
        """``/model_info``'s answer and the one to read (``/get_model_info``'s when the first is a 404)."""
        probe = await self._client.aprobe(config, _MODEL_INFO)
        return probe, await self._client.aprobe(config, _LEGACY_MODEL_INFO) if _needs_legacy_info(probe) else probe

    def check(self, config, deployment: _Deployment, tokenizer) -> tuple[str, ...]:
        known = self.known(deployment)
        if known is not None:
            return known
        running, mine = self._claim(deployment)
        if not mine:  # bounded: a thread blocking the event loop its check runs on must not wait forever
            try:
                return running.result(timeout=_WAIT_PROBES * min(config.timeout, PROBE_TIMEOUT))
            except concurrent.futures.TimeoutError:
                return ()
        warnings: tuple[str, ...] = ()
        try:
            tokenized = self._client.probe(config, _TOKENIZE, _tokenize_body(deployment.model))
            if _needs_prefill(tokenized):
                tokenized = self._client.probe(config, _GENERATE, _PREFILL)
            asked = self._client.probe(config, _MODEL_INFO)
            info = self._client.probe(config, _LEGACY_MODEL_INFO) if _needs_legacy_info(asked) else asked
            warnings = self._finish(deployment, tokenized, (asked, info), tokenizer)
        finally:
            self._settle(deployment, running, warnings)
        return warnings


def _tokenize_body(model: str) -> dict[str, Any]:
    """SGLang ignores ``model`` here; a gateway refuses the body without it."""
    return {"model": model, "prompt": PROBE_TEXT, "add_special_tokens": True}
