"""The emulator's "model": a real tokenizer, a deterministic token generator and a prefix cache.

Nothing here is a neural network. Completions are either scripted by a test (a queue of texts or
token ids, tokenized with the real tokenizer) or produced by a seeded generator that writes short
English sentences; logprobs are plausible numbers (<= 0, top-k sorted, the sampled token among them)
derived deterministically from the context, so equal requests get equal answers.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = ["FakeModel", "LogprobRow", "PrefixCache", "ScriptedCompletion"]

# fmt: off
_WORDS = (
    "the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven", "small", "agents",
    "plan", "their", "next", "tool", "call", "carefully", "and", "tokenizer", "counts", "every", "byte",
    "that", "model", "writes", "into", "its", "answer", "about", "weather", "in", "paris", "or", "tokyo",
    "with", "rain", "sun", "clouds", "wind", "today", "tomorrow", "later", "soon",
)
# fmt: on


@dataclass(frozen=True)
class ScriptedCompletion:
    """One scripted completion: a text (tokenized with the real tokenizer) or exact token ids.

    ``end_with_eos`` appends the tokenizer's EOS id, as a model ends its turn.
    """

    text: str | None = None
    token_ids: tuple[int, ...] | None = None
    end_with_eos: bool = True

    def __post_init__(self) -> None:
        if (self.text is None) == (self.token_ids is None):
            raise ValueError("a scripted completion has exactly one of text or token_ids")


@dataclass(frozen=True)
class LogprobRow:
    """The sampled token's logprob and the top alternatives at one position (sorted, best first)."""

    logprob: float
    top: tuple[tuple[float, int], ...]


def _stable_seed(*parts: object) -> int:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class PrefixCache:
    """Token-id trie standing in for SGLang's radix cache: how much of a prompt is already cached."""

    def __init__(self, max_nodes: int = 2_000_000) -> None:
        self._root: dict[int, dict] = {}
        self._nodes = 0
        self._max_nodes = max_nodes
        self._lock = threading.Lock()

    def match(self, token_ids: Sequence[int]) -> int:
        """Length of the longest cached prefix of ``token_ids``."""
        with self._lock:
            node, length = self._root, 0
            for token in token_ids:
                child = node.get(token)
                if child is None:
                    break
                node, length = child, length + 1
            return length

    def insert(self, token_ids: Sequence[int]) -> None:
        """Cache ``token_ids`` (evicting everything once the cache is full, as a crude LRU)."""
        with self._lock:
            if self._nodes + len(token_ids) > self._max_nodes:
                self._root, self._nodes = {}, 0
            node = self._root
            for token in token_ids:
                child = node.get(token)
                if child is None:
                    child = node[token] = {}
                    self._nodes += 1
                node = child

    def clear(self) -> None:
        with self._lock:
            self._root, self._nodes = {}, 0


class FakeModel:
    """Generates token ids and logprobs for the emulator with a real Hugging Face tokenizer."""

    def __init__(self, tokenizer, *, eos_token_ids: Sequence[int] | None = None, seed: int = 0) -> None:
        self.tokenizer = tokenizer
        self.vocab_size = len(tokenizer)
        if eos_token_ids is None:
            eos_token_ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        self.eos_token_ids = frozenset(eos_token_ids)
        self._eos = min(self.eos_token_ids) if tokenizer.eos_token_id is None else tokenizer.eos_token_id
        self._seed = seed
        self._script: deque[ScriptedCompletion] = deque()
        self._script_lock = threading.Lock()
        # Alternatives in top-logprob rows are drawn from ordinary (non-added) tokens.
        self._plain_vocab = min(tokenizer.vocab_size, self.vocab_size)

    # ---- scripting ----
    def script(self, *completions: str | Sequence[int] | ScriptedCompletion) -> None:
        """Queue completions; each sampled sequence takes the next one (texts get EOS appended)."""
        with self._script_lock:
            for item in completions:
                if isinstance(item, ScriptedCompletion):
                    self._script.append(item)
                elif isinstance(item, str):
                    self._script.append(ScriptedCompletion(text=item))
                else:
                    self._script.append(ScriptedCompletion(token_ids=tuple(item)))

    def _next_scripted(self) -> ScriptedCompletion | None:
        with self._script_lock:
            return self._script.popleft() if self._script else None

    # ---- generation ----
    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def completion(
        self, prompt_ids: Sequence[int], *, sample_index: int, seed: int | None, greedy: bool, forced: str | None = None
    ):
        """An endless token stream for one sampled sequence: the completion, EOS, then more text.

        The completion is the next scripted one, else ``forced`` (a call a grammar forces), else seeded text.
        What follows the first EOS is only reached with ``ignore_eos``.
        """
        scripted = self._next_scripted() or (ScriptedCompletion(text=forced) if forced is not None else None)
        rng = random.Random(self._context_seed(prompt_ids, sample_index, seed, greedy))
        return self._stream(scripted, rng)

    def _stream(self, scripted: ScriptedCompletion | None, rng: random.Random) -> Iterator[int]:
        if scripted is not None:
            ids = scripted.token_ids if scripted.token_ids is not None else self.encode(scripted.text or "")
            yield from ids
            if scripted.end_with_eos:
                yield self._eos
        else:
            yield from self._sentence(rng)
            yield self._eos
        while True:
            yield from self._sentence(rng)
            yield self._eos

    def _sentence(self, rng: random.Random) -> list[int]:
        words = [rng.choice(_WORDS) for _ in range(rng.randint(4, 24))]
        return self.encode(" ".join(words).capitalize() + ".")

    def _context_seed(self, prompt_ids: Sequence[int], sample_index: int, seed: int | None, greedy: bool):
        if greedy:
            return _stable_seed(self._seed, tuple(prompt_ids))
        return _stable_seed(self._seed, tuple(prompt_ids), sample_index, seed)

    def logprob_row(self, context: int, position: int, token_id: int, *, greedy: bool, top_k: int) -> LogprobRow:
        """Plausible logprobs at one position: the chosen token is rank 0 (greedy) or rank 0/1."""
        rng = random.Random(_stable_seed(context, position, token_id))
        probabilities = [rng.uniform(0.3, 0.97)]
        rank = 0 if greedy or rng.random() < 0.85 else 1
        remaining = 1.0 - probabilities[0]
        needed = max(top_k, rank + 1)
        while len(probabilities) < needed:
            p = min(probabilities[-1], remaining * rng.uniform(0.2, 0.7))
            probabilities.append(p)
            remaining -= p
        alternatives = self._alternatives(rng, token_id, needed - 1)
        ids = [*alternatives[:rank], token_id, *alternatives[rank:]]
        top = tuple((math.log(p), tid) for p, tid in zip(probabilities[:top_k], ids[:top_k], strict=True))
        return LogprobRow(logprob=math.log(probabilities[rank]), top=top)

    def _alternatives(self, rng: random.Random, token_id: int, count: int) -> list[int]:
        chosen: list[int] = []
        seen = {token_id}
        while len(chosen) < count:
            candidate = rng.randrange(self._plain_vocab)
            if candidate not in seen:
                seen.add(candidate)
                chosen.append(candidate)
        return chosen

    @staticmethod
    def context_id(prompt_ids: Sequence[int], sample_index: int) -> int:
        """A stable key for one sampled sequence, used to derive its logprobs."""
        return _stable_seed(tuple(prompt_ids), sample_index)
