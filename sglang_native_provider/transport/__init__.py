"""The HTTP transport to SGLang's ``POST /generate``: one job per module.

- ``client``: :class:`GenerateClient` (generate, stream, abort, probe; sync and async) and :class:`Probe`.
- ``sessions``: aiohttp sessions per event loop and TLS setting, the background loop of sync calls.
- ``deadlines``: one deadline per request (a resend included), a stream's event clock, the abandon watchdog.
- ``sse``: SSE lines under a size cap and SGLang's stream events.
- ``answers``: a 200 answer read within bounds and checked for shape.
- ``errors``: error answers and aiohttp failures as LiteLLM exceptions.

It imports no LiteLLM response types, parsers, templating or emulator: only ``errors``, ``config`` and
``protocol`` of this package.
"""

from __future__ import annotations

from .client import PROBE_TIMEOUT, GenerateClient, Probe
from .errors import error_message
from .sse import DONE, LineSplitter, sse_event

__all__ = ["DONE", "PROBE_TIMEOUT", "GenerateClient", "LineSplitter", "Probe", "error_message", "sse_event"]
