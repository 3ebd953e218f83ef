"""What the emulator reports about itself: ``/model_info``, ``/server_info`` and ``/v1/models``.

Bodies follow SGLang 0.5.23 ``srt/entrypoints/http_server.py`` (``get_model_info``, ``get_server_info``) and the
OpenAI model card of ``srt/entrypoints/openai/serving_base.py``; ``model_type`` and ``architectures`` come from the
model config (:mod:`.model_config`) as real SGLang's ``hf_config`` gives them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .engine import Engine
from .model_config import ModelConfig

__all__ = ["SGLANG_VERSION", "ServerInfo"]

SGLANG_VERSION = "0.5.23"
"""The SGLang release whose wire format the emulator reproduces."""

# What real SGLang's /model_info reports as the embedding plan of a generation model.
_NO_EMBEDDING = {
    "family": "none",
    "task": "none",
    "execution": "none",
    "attention": "none",
    "pooling": "model_defined",
    "normalize": False,
    "postprocessor": "none",
    "tokenizer_special_tokens": "model_default",
    "supports_dimensions": False,
    "supports_token_embeddings": False,
    "supports_multimodal": False,
    "requires_embedding_flag": False,
    "auto_enable_embedding": False,
    "bcg_eligibility": "disabled",
    "safe_disable_kv_cache": False,
    "safe_disable_radix_cache": False,
    "safe_disable_chunked_prefill": False,
    "enabled": False,
    "matryoshka_dimensions": [],
    "bcg": {
        "prefill_backend": "disabled",
        "enabled": False,
        "capture_token_budget": 4096,
        "capture_batch_sizes": [
            *range(4, 33, 4),
            *range(48, 257, 16),
            *range(288, 513, 32),
            *range(576, 1025, 64),
            *range(1280, 4097, 256),
        ],
    },
    "cache": {"kv_cache_disabled": False, "radix_cache_disabled": False, "chunked_prefill_disabled": False},
}


def _rl_args(engine: Engine) -> dict[str, Any]:
    """The server args RL clients read: which rollout signals the server captures (SGLang's defaults else)."""
    return {
        "enable_return_routed_experts": engine.moe is not None,
        "enable_return_indexer_topk": False,
        "sampling_mask_max_tokens": 4096,
        "rl_on_policy_target": None,
        "enable_deterministic_inference": False,
    }


@dataclass(kw_only=True)
class ServerInfo:
    """What the emulator reports about itself on the info endpoints."""

    model_path: str
    served_model_name: str
    host: str
    tool_call_parser: str | None = None
    reasoning_parser: str | None = None
    model_config: ModelConfig | None = None
    context_length_arg: int | None = None
    """The ``--context-length`` given, if any (real SGLang reports the argument, not the derived length)."""
    port: int = 0
    startup_seconds: float = 0.0
    """How long the server took to start (``startup_time.tokenizer_e2e``)."""

    def model_info(self, engine: Engine) -> dict[str, Any]:
        """The ``/model_info`` body."""
        config = self.model_config
        return {
            "model_path": self.model_path,
            "served_model_name": self.served_model_name,
            "tokenizer_path": self.model_path,
            "is_generation": True,
            "preferred_sampling_params": None,
            "weight_version": engine.weight_version,
            "load_format": "auto",
            "reasoning_parser": self.reasoning_parser,
            "tool_call_parser": self.tool_call_parser,
            "disaggregation_mode": "null",
            "has_image_understanding": False,
            "has_audio_understanding": False,
            "model_type": config.model_type if config else None,
            "architectures": list(config.architectures) if config and config.architectures else None,
            "embedding": _NO_EMBEDDING,
        }

    def server_info(self, engine: Engine) -> dict[str, Any]:
        """The ``/server_info`` body: real SGLang dumps all ~550 server args (the API key among them); these are
        the ones the emulator has."""
        server_args = {
            "model_path": self.model_path,
            "tokenizer_path": self.model_path,
            "context_length": self.context_length_arg,
            "host": self.host,
            "port": self.port,
            "served_model_name": self.served_model_name,
            "weight_version": engine.weight_version,
            "reasoning_parser": self.reasoning_parser,
            "tool_call_parser": self.tool_call_parser,
            "stream_interval": engine.stream_interval,
            "incremental_streaming_output": engine.incremental_streaming_output,
            "disaggregation_mode": "null",
            **_rl_args(engine),
        }
        return {
            **server_args,
            "status": "ready",
            "startup_time": {"tokenizer_e2e": self.startup_seconds},
            "internal_states": [{**server_args, "world_size": 1}],
            "version": SGLANG_VERSION,
            "frontend": "python",
        }

    def models(self, engine: Engine) -> dict[str, Any]:
        """The ``/v1/models`` body: one card for the served model."""
        card = {
            "id": self.served_model_name,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "sglang",
            "root": self.served_model_name,
            "parent": None,
            "max_model_len": engine.context_length,
        }
        return {"object": "list", "data": [card]}
