"""Which tokens end generation, and which of those the detokenizer keeps instead of trimming.

SGLang 0.5.23 stops on a token in the request's ``stop_token_ids``, the model config's and
``generation_config.json``'s ``eos_token_id``, the tokenizer's ``eos_token_id`` or its
``additional_stop_token_ids`` (``Req._check_token_based_finish``, ``srt/managers/schedule_batch.py``; the last are
``<|eom_id|>``, ``<|content_model_end_sampling|>`` and ``<|ifm|im_end|>`` when the tokenizer has them,
``attach_additional_stop_token_ids`` in ``srt/utils/hf_transformers/common.py``). ``output_ids`` always end with the
matched stop token. The detokenizer (``DetokenizerManager.trim_matched_stop``, ``srt/managers/detokenizer_manager.py``)
then drops it from the ids it decodes into ``text``, unless ``no_stop_trim`` is set or the server's
``--tool-call-parser`` keeps it:

* ``gpt-oss``: token id 200012 (gpt-oss's ``<|call|>``; the id, whatever the tokenizer);
* a response-template parser (``response_template``, ``beam``): every single-token closer of the template's
  ``tool_calls`` field (``tool_close_token_ids``, ``srt/parser/response_template.py``), the tokenizer's
  ``response_template`` else Beam's built-in one.

A kept token is then decoded like any other: ``skip_special_tokens`` (true by default) still drops a special one
from ``text``. ``--reasoning-parser`` plays no part in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["GPT_OSS_CALL_ID", "kept_stop_token_ids", "stop_token_ids"]

GPT_OSS_CALL_ID = 200012
"""gpt-oss's ``<|call|>``, which the detokenizer keeps under ``--tool-call-parser gpt-oss``."""

_ADDITIONAL_STOP_TOKEN_TEXTS = ("<|eom_id|>", "<|content_model_end_sampling|>", "<|ifm|im_end|>")
_BEAM_TOOL_CLOSERS = ("<|end|><|start|>assistant", "<|call|>")
"""The ``close`` of the ``tool_calls`` field of SGLang's built-in Beam template (``srt/parser/beam.py``)."""
_RESPONSE_TEMPLATE_PARSERS = {"response_template": (), "beam": _BEAM_TOOL_CLOSERS}


def stop_token_ids(tokenizer: Any, config_eos_ids: Iterable[int] = ()) -> frozenset[int]:
    """The tokens that end generation by default: the tokenizer's EOS and additional stop tokens, and the model
    config's EOS ids."""
    added = tokenizer.added_tokens_encoder
    ids = {added[text] for text in _ADDITIONAL_STOP_TOKEN_TEXTS if text in added}
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return frozenset(ids | set(config_eos_ids))


def _tool_closers(tool_call_parser: str, tokenizer: Any) -> tuple[str, ...]:
    """The literal closers of the ``tool_calls`` field of the parser's response template (none for a pattern)."""
    template = getattr(tokenizer, "response_template", None)
    if not isinstance(template, Mapping):
        template = (getattr(tokenizer, "init_kwargs", None) or {}).get("response_template")
    if not isinstance(template, Mapping):
        return _RESPONSE_TEMPLATE_PARSERS[tool_call_parser]
    close = ((template.get("fields") or {}).get("tool_calls") or {}).get("close")
    if isinstance(close, str):
        return (close,)
    return tuple(close) if isinstance(close, list) else ()


def kept_stop_token_ids(tool_call_parser: str | None, tokenizer: Any) -> frozenset[int]:
    """The matched stop tokens the detokenizer leaves in the ids it decodes under this ``--tool-call-parser``."""
    if tool_call_parser == "gpt-oss":
        return frozenset({GPT_OSS_CALL_ID})
    if tool_call_parser not in _RESPONSE_TEMPLATE_PARSERS:
        return frozenset()
    kept = set()
    for literal in _tool_closers(tool_call_parser, tokenizer):
        ids = tokenizer.encode(literal, add_special_tokens=False)
        if len(ids) == 1:
            kept.add(ids[0])
    return frozenset(kept)
