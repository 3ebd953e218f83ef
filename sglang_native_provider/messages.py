"""OpenAI chat messages and tools, checked and normalized into what Hugging Face chat templates expect.

Bad input is a ``litellm.BadRequestError`` naming the message (or tool) and the problem.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import bad_request

__all__ = ["normalize_messages", "normalize_tools"]

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}
_KEPT_KEYS = ("name", "tool_call_id", "reasoning_content")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _as_dict(message: Any) -> Mapping[str, Any]:
    """A message (or tool call, or function) as a mapping. Pydantic objects (LiteLLM's) are read from their
    field storage, far cheaper than serializing them: earlier messages are read again at every turn."""
    if isinstance(message, Mapping):
        return message
    if hasattr(message, "model_dump"):
        return {**vars(message), **(getattr(message, "__pydantic_extra__", None) or {})}
    raise TypeError(type(message).__name__)


def _image_part(part: Mapping[str, Any], where: str, model: str) -> dict[str, Any]:
    """An OpenAI ``image_url`` part as the ``{"type": "image"}`` part VLM chat templates render a placeholder
    for; the image itself is checked and decoded later (:mod:`.images`)."""
    image_url = part.get("image_url")
    url = image_url.get("url") if isinstance(image_url, Mapping) else image_url
    if not isinstance(url, str) or not url:
        raise bad_request(f"{where}: image_url must be {{'url': 'data:image/...;base64,...'}}", model)
    return {"type": "image", "image": url}


def _content_part(part: Any, where: str, role: str, model: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
    if kind == "text" and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind == "image_url" and role == "user":
        return _image_part(part, where, model)
    if kind == "image_url":
        raise bad_request(f"{where}: image parts are accepted in user messages only", model)
    raise bad_request(f"{where}: content part of type {kind!r} is not supported (text and image_url only)", model)


def _content(content: Any, where: str, role: str, model: str) -> str | list[dict[str, Any]]:
    """A message's content: text (text parts joined by newlines), or, when it has images, its parts in order
    (``{"type": "text", "text": ...}`` and ``{"type": "image", "image": url}``)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [_content_part(part, f"{where}.content[{index}]", role, model) for index, part in enumerate(content)]
        if any(part["type"] == "image" for part in parts):
            return parts
        return "\n".join(part["text"] for part in parts)
    raise bad_request(f"{where}: content must be a string or a list of content parts", model)


def _tool_call(call: Any, where: str, model: str) -> dict[str, Any]:
    try:
        call = _as_dict(call)
    except TypeError:
        raise bad_request(f"{where}: each tool call must be an object", model) from None
    function = call.get("function")
    if function is not None and not isinstance(function, Mapping) and hasattr(function, "model_dump"):
        function = _as_dict(function)
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise bad_request(f"{where}: each tool call needs a function with a name", model)
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        # Templates expect a mapping; unparsable text is kept as written (templates taking strings render it).
        with contextlib.suppress(json.JSONDecodeError):
            arguments = json.loads(arguments) if arguments.strip() else {}
    normalized: dict[str, Any] = {
        "type": "function",
        "function": {"name": function["name"], "arguments": arguments if arguments is not None else {}},
    }
    if call.get("id"):
        normalized["id"] = call["id"]
    return normalized


def normalize_messages(messages: Sequence[Any], model: str) -> list[dict[str, Any]]:
    """OpenAI chat messages as the dicts Hugging Face chat templates expect."""
    if not messages:
        raise bad_request("messages must be a non-empty list", model)
    normalized = []
    for index, raw in enumerate(messages):
        where = f"messages[{index}]"
        try:
            message = _as_dict(raw)
        except TypeError as exc:
            raise bad_request(f"{where} must be an object, got {exc}", model) from None
        role = _ROLES.get(message.get("role"))
        if role is None:
            raise bad_request(f"{where} has unknown role {message.get('role')!r}", model)
        entry: dict[str, Any] = {"role": role, "content": _content(message.get("content"), where, role, model)}
        for key in _KEPT_KEYS:
            if message.get(key) is not None:
                entry[key] = message[key]
        if role == "assistant" and message.get("tool_calls"):
            if not isinstance(message["tool_calls"], list):
                raise bad_request(f"{where}: tool_calls must be a list", model)
            entry["tool_calls"] = [_tool_call(call, where, model) for call in message["tool_calls"]]
        for key, value in entry.items():
            _refuse_lone_surrogates(value, f"{where}.{key}", model)
        normalized.append(entry)
    return normalized


def _refuse_lone_surrogates(value: Any, where: str, model: str) -> None:
    """Tokenizers cannot encode lone surrogates (text cut out of UTF-16, or decoded with ``surrogateescape``)."""
    if isinstance(value, str):
        found = None if value.isascii() else _LONE_SURROGATE.search(value)
        if found is not None:
            code = f"U+{ord(found.group()):04X}"
            raise bad_request(f"{where} contains a lone surrogate ({code}) at character {found.start()}", model)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _refuse_lone_surrogates(key, where, model)
            _refuse_lone_surrogates(item, where, model)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _refuse_lone_surrogates(item, where, model)


def normalize_tools(tools: Any, model: str) -> list[dict[str, Any]] | None:
    """OpenAI ``tools``, checked: each a function with a name and an object schema."""
    if not tools:
        return None
    if not isinstance(tools, list):
        raise bad_request("tools must be a list", model)
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not (isinstance(tool, Mapping) and tool.get("type") == "function" and isinstance(function, Mapping)):
            raise bad_request(f"tools[{index}] must be {{'type': 'function', 'function': {{...}}}}", model)
        if not isinstance(function.get("name"), str) or not function["name"]:
            raise bad_request(f"tools[{index}].function.name must be a non-empty string", model)
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, Mapping):
            raise bad_request(f"tools[{index}].function.parameters must be a JSON schema object", model)
        _refuse_lone_surrogates(tool, f"tools[{index}]", model)
    return tools
