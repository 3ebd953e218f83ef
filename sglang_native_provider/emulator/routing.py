"""A fake mixture-of-experts router: which experts each token of a sequence was routed to, as SGLang returns it.

SGLang 0.5.23 (``--enable-return-routed-experts``, ``srt/state_capturer/routed_experts.py`` and
``BatchResultProcessor._maybe_collect_routed_experts``) captures, for every position of a finished request, the
``top_k`` experts of each of the model's ``num_hidden_layers`` layers, and returns the rows of positions
``[routed_experts_start_len, seqlen - 1)`` (seqlen = prompt + output tokens; the last sampled token was never run
through the model) as base64 of a C-ordered int32 array (``DetokenizerManager._b64_encode_per_request``). Here the
routing of position ``p`` is a deterministic function of the ids ``[0, p]`` (a rolling hash of the prefix), so
continued turns read the same routing for the positions they share, as a real server's prefix cache gives.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["FakeMoe"]


@dataclass(frozen=True)
class FakeMoe:
    """The fake model's mixture of experts: ``layers`` MoE layers of ``experts`` experts, ``top_k`` per token."""

    layers: int = 4
    experts: int = 16
    top_k: int = 2

    def __post_init__(self) -> None:
        if min(self.layers, self.experts, self.top_k) < 1 or self.top_k > self.experts:
            raise ValueError(f"a MoE needs layers, experts >= top_k >= 1; got {self}")

    def rows(self, ids: Sequence[int], start: int) -> np.ndarray:
        """int32 ``(len(ids) - 1 - start, layers, top_k)``: the routing of positions ``[start, len(ids) - 1)``."""
        end = max(len(ids) - 1, start)
        out = np.empty((end - start, self.layers, self.top_k), dtype=np.int32)
        digest = b""
        for position, token in enumerate(ids[:end]):
            digest = hashlib.blake2b(digest + int(token).to_bytes(8, "little", signed=True), digest_size=8).digest()
            if position >= start:
                scores = np.random.default_rng(int.from_bytes(digest, "little")).random((self.layers, self.experts))
                out[position - start] = np.argsort(scores, axis=1)[:, : self.top_k]
        return out

    def encoded(self, ids: Sequence[int], start: int) -> str:
        """``meta_info["routed_experts"]``: base64 of the int32 rows."""
        return base64.b64encode(self.rows(ids, start).tobytes()).decode("ascii")
