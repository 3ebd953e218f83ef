"""Per-deployment settings: where SGLang is, which tokenizer and template render the chat, which parsers.

Settings come from call kwargs or Router ``litellm_params`` (both reach the provider mixed into LiteLLM's
``optional_params``), with environment variables for the defaults. Unknown or invalid settings are a
``BadRequestError`` naming the setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from .contract import SAMPLING_PARAM_FIELDS
from .errors import PROVIDER, bad_request

__all__ = [
    "CLIENT_SETTINGS",
    "PROVIDER",
    "SETTING_NAMES",
    "DeploymentConfig",
    "MoeLayout",
    "deployment_for_call",
    "load_config",
]

DEFAULT_API_BASE = "http://127.0.0.1:30000"


class MoeLayout(BaseModel):
    """A mixture-of-experts model's routing shape: ``layers`` (SGLang captures ``num_hidden_layers``), ``top_k``
    experts per token (``num_experts_per_tok``) and, when known, ``experts`` (routed experts per layer)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    layers: int = Field(gt=0)
    top_k: int = Field(gt=0)
    experts: int | None = Field(default=None, gt=0)


class DeploymentConfig(BaseModel):
    """How one ``sglang_native/<model>`` deployment is reached and rendered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_base: str = Field(default_factory=lambda: os.environ.get("SGLANG_API_BASE", DEFAULT_API_BASE))
    api_key: SecretStr | None = Field(default_factory=lambda: _secret_from_env("SGLANG_API_KEY"))
    tokenizer: str | None = None
    """Tokenizer directory, hub id, or ``offline:<recipe>``; defaults to the model name."""
    tokenizer_revision: str | None = None
    chat_template: str | None = None
    """A Jinja template, or a path to a file holding one, used instead of the tokenizer's; or ``renderer:<name>``,
    a family renderer (``sglang_native_provider.renderers``) for families that publish no template."""
    chat_template_kwargs: dict[str, Any] = Field(default_factory=dict)
    tool_call_parser: str | None = None
    reasoning_parser: str | None = None
    trust_remote_code: bool = False
    vocab_size: int | None = Field(default=None, gt=0)
    """The model's vocabulary (its embedding rows) when it has more than the tokenizer's tokens, as Qwen3 has
    (151,936 rows, 151,669 tokens): output ids below it are the model's own samples, not a server fault."""
    timeout: float = Field(default=600.0, gt=0)
    """Seconds: the deadline for a whole non-streamed request (connecting, sending, the whole answer)."""
    stream_first_event_timeout: float | None = Field(default=None, gt=0)
    """Seconds from sending a streamed request to its first event (default: ``timeout``)."""
    stream_idle_timeout: float = Field(default=120.0, gt=0)
    """The longest a stream may go without an event (``: ping`` comments and partial lines do not count)."""
    stream_abandon_timeout: float = Field(default=60.0, ge=0)
    """A stream its caller has not asked for the next chunk of for this long is closed, which stops the
    generation on the server (0: never)."""
    default_sampling_params: dict[str, Any] = Field(default_factory=dict)
    """SGLang ``sampling_params`` applied under every request's own."""
    continuation: Literal["exact", "rerender"] = "exact"
    """How a conversation continues after an assistant message carrying this provider's token metadata:
    its exact ids plus the new messages' rendered ids (default), or a fresh re-render."""
    drift_check: Literal["incremental", "full", "off"] = "incremental"
    """How continued prompts are checked against the template and reported as ``template_drift``: what each
    turn adds, at a cost that does not grow with the conversation (default; ``true``); a fresh full re-render
    of the whole conversation every turn (catches every rewrite of history, costs a full render); or not at
    all (``false``)."""
    ssl_verify: bool | str = True
    """Verify the server's TLS certificate (default), not (False), or against this CA bundle file."""
    max_response_bytes: int = Field(default=256 * 2**20, gt=0)
    """The most an untrusted server may send: a response body, or one line of a stream."""
    incremental_streaming_output: bool = False
    """Whether the server runs with ``--incremental-streaming-output`` (stream events carry deltas)."""
    special_tokens_in_content: Literal["keep", "escape"] = "keep"
    """How added-token text (``<|im_end|>``, ``<tool_call>``...) inside message and tool strings is tokenized:
    as those tokens, as ``apply_chat_template(tokenize=True)`` does (default), or as plain text, so that
    content cannot forge the template's markup (assistant messages are kept as they are)."""
    session_store: str = Field(default_factory=lambda: os.environ.get("SGLANG_NATIVE_SESSION_STORE", "memory"))
    """Where the session ledger keeps turns: ``memory``, ``sqlite:///path.db`` or ``redis://host:port/db``."""
    server_check: bool = True
    """Before a deployment's first request, check that the server tokenizes as this tokenizer does and runs
    the same parsers (``POST /v1/tokenize``, ``GET /model_info``); disagreements become ``server_warnings``."""
    routing_key: str | None = None
    """Sent as ``/generate``'s ``routing_key`` and the ``X-SMG-Routing-Key`` header that SGLang's router reads,
    so related requests reach the worker holding their prefix; defaults to the request's session id."""
    routed_experts: bool = False
    """Ask SGLang for each token's routed experts (``return_routed_experts``; the server runs with
    ``--enable-return-routed-experts``), for routing replay in training: see docs/routing-replay.md."""
    moe_layout: MoeLayout | None = None
    """The model's routing shape; default: read from ``config.json`` in the tokenizer's directory."""
    session_store_errors: Literal["fail", "rerender"] = "fail"
    """An unreachable session store fails the request (``APIConnectionError`` naming the store), or is
    logged and the request goes on without the ledger (re-rendering what it cannot continue)."""
    image_processor: str | dict[str, Any] | None = None
    """The model's ``preprocessor_config.json`` (a path, or its content): how many tokens each image takes.
    Without it, image parts are refused. Only Qwen2-VL's image processor is understood (Qwen2-VL, Qwen2.5-VL)."""
    local_image_root: str | None = None
    """A directory whose files messages may name as images (``file://`` URLs or plain paths); by default no
    local file is read."""
    max_image_bytes: int = Field(default=20 * 2**20, gt=0)
    """The largest image a message may carry (decoded bytes)."""
    max_image_pixels: int = Field(default=40_000_000, gt=0)
    """The most pixels (width x height) an image may have before it is decoded."""
    max_images_per_request: int = Field(default=32, gt=0)
    """The most images one request's messages may carry (the whole conversation's)."""

    @field_validator("api_base")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("drift_check", mode="before")
    @classmethod
    def _drift_check_switch(cls, value: Any) -> Any:
        return {True: "incremental", False: "off"}.get(value, value) if isinstance(value, bool) else value

    @field_validator("ssl_verify")
    @classmethod
    def _ca_bundle_exists(cls, value: bool | str) -> bool | str:
        if isinstance(value, str) and not os.path.isfile(value):
            raise ValueError(f"CA bundle {value!r} is not a file")
        return value

    @field_validator("default_sampling_params")
    @classmethod
    def _known_sampling_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(SAMPLING_PARAM_FIELDS))
        if unknown:
            raise ValueError(f"unknown SGLang sampling parameter(s) {unknown}")
        return value

    def tokenizer_source(self, model: str) -> str:
        return self.tokenizer or model

    def headers(self) -> dict[str, str]:
        headers = {"X-SMG-Routing-Key": self.routing_key} if self.routing_key else {}
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key.get_secret_value()}"
        return headers


SETTING_NAMES = frozenset(DeploymentConfig.model_fields)
CLIENT_SETTINGS = frozenset(
    {
        "chat_template_kwargs",
        "continuation",
        "drift_check",
        "reasoning_parser",
        "routed_experts",
        "routing_key",
        "stream_abandon_timeout",
        "stream_first_event_timeout",
        "stream_idle_timeout",
        "timeout",
        "tool_call_parser",
    }
)
"""The settings a client of the LiteLLM proxy may give per request (in the request body); the others are the
deployment's: which server, tokenizer, template, store, TLS checks and limits."""


def _secret_from_env(name: str) -> SecretStr | None:
    value = os.environ.get(name)
    return SecretStr(value) if value else None


def load_config(model: str, settings: dict[str, Any]) -> DeploymentConfig:
    """Validate the deployment's settings; a bad one is a ``BadRequestError`` naming it."""
    values = {key: value for key, value in settings.items() if value is not None}
    try:
        return DeploymentConfig(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors(include_input=False)
        )
        raise bad_request(f"Invalid {PROVIDER} setting(s) for model {model!r}: {problems}", model) from None


def deployment_for_call(
    model: str,
    params: dict[str, Any],
    api_base: str | None,
    api_key: str | None,
    timeout: Any,
    litellm_params: Mapping[str, Any] | None = None,
) -> DeploymentConfig:
    """The deployment's settings for one call: those mixed into ``params`` (taken out of it) and LiteLLM's own
    arguments (``ssl_verify``, a call kwarg or Router ``litellm_params``, is consumed by LiteLLM into
    ``litellm_params``); a setting a proxy client may not give is a ``BadRequestError``."""
    litellm_params = litellm_params or {}
    _refuse_client_settings(litellm_params, model)
    settings = {name: params.pop(name) for name in list(params) if name in SETTING_NAMES}
    call_values = {
        "api_base": api_base,
        "api_key": api_key,
        "timeout": getattr(timeout, "read", timeout),  # an httpx.Timeout's read deadline, or seconds
        "ssl_verify": litellm_params.get("ssl_verify"),
    }
    settings.update({key: value for key, value in call_values.items() if value is not None})
    return load_config(model, settings)


def _refuse_client_settings(litellm_params: Mapping[str, Any], model: str) -> None:
    """Through the LiteLLM proxy, a request body's keys reach the provider mixed with the deployment's own
    settings: a client could choose the tokenizer (and remote code), read a file as a chat template, point
    the session store anywhere or switch TLS checks off. Only ``CLIENT_SETTINGS`` may come from a client."""
    request = litellm_params.get("proxy_server_request")
    body = request.get("body") if isinstance(request, Mapping) else None
    if not isinstance(body, Mapping):
        return
    refused = sorted((set(body) & (SETTING_NAMES | {"ssl_verify"})) - CLIENT_SETTINGS)
    if refused:
        raise bad_request(
            f"{', '.join(refused)}: deployment setting(s) a request through the proxy cannot set "
            f"(a client may set only {', '.join(sorted(CLIENT_SETTINGS))})",
            model,
        )
