"""Chat templates rendered as transformers 5 renders them, without ``transformers``.

The template runs in Jinja's immutable sandbox with ``trim_blocks``/``lstrip_blocks``, a ``tojson`` that does
not escape HTML, ``raise_exception``, ``strftime_now``, a restricted ``dict`` and ``namespace``, the
``{% generation %}`` tag and loop controls. Messages lose their ``None`` fields, what the template sees is rebuilt
from plain JSON types, reasoning is aliased under ``reasoning_content``/``thinking``, and the special tokens
(``bos_token``, ``eos_token``, ...) are template variables that keyword arguments override. ``continue_final_message``
cuts the render where the final message ends, as transformers does. :class:`~.tokenizer.FastTokenizer` calls
:func:`normalize_conversation` and :func:`render_chat`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

__all__ = ["normalize_conversation", "render_chat"]

_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")
_CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "


def _message_dicts(value: Any) -> Any:
    """Message objects (dataclasses, pydantic models) and everything inside them as dicts and lists."""
    if isinstance(value, Mapping):
        return {key: _message_dicts(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_message_dicts(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_message_dicts(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _message_dicts(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):
        return _message_dicts(value.model_dump())
    return value


def normalize_conversation(conversation: Any) -> list[dict]:
    """Messages as dicts without their ``None`` fields (templates handle a missing key, not a None)."""
    messages = _message_dicts(getattr(conversation, "messages", conversation))
    normalized = []
    for message in messages:
        if not isinstance(message, dict):
            raise TypeError(f"Chat messages should be dicts, dataclasses or pydantic models, but got {message!r}.")
        normalized.append({key: value for key, value in message.items() if value is not None})
    return normalized


def _plain(value: Any) -> Any:
    """What a template may see: plain JSON types rebuilt from ``value``; other objects become ``"<TypeName>"``."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, Mapping):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_plain(item) for item in value)
    numpy = sys.modules.get("numpy")  # a numpy scalar exists only once numpy is imported
    if numpy is not None and isinstance(value, numpy.generic):
        return _plain(value.item())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):
        return _plain(value.model_dump())
    return f"<{type(value).__name__}>"


def _alias_reasoning(chat: list[dict]) -> list[dict]:
    """A message's reasoning under any of its names is also ``reasoning_content`` and ``thinking``."""
    aliased = []
    for message in chat:
        if isinstance(message, dict):
            reasoning = next((message[key] for key in _REASONING_FIELDS if message.get(key) is not None), None)
            if reasoning is not None:
                message = {"thinking": reasoning, **message, "reasoning_content": reasoning}
        aliased.append(message)
    return aliased


def _tool_schemas(tools: list | None) -> list | None:
    if tools is None:
        return None
    schemas = []
    for tool in tools:
        if isinstance(tool, dict):
            schemas.append(tool)
        elif callable(tool):  # a Python function: transformers derives its JSON schema from hints and docstring
            from transformers.utils import get_json_schema

            schemas.append(get_json_schema(tool))
        else:
            raise ValueError("Tools should either be a JSON schema, or a callable function with type hints")
    return schemas


def render_chat(
    template: str,
    chat: list[dict],
    *,
    tools: list | None = None,
    documents: list | None = None,
    add_generation_prompt: bool = False,
    continue_final_message: bool | str = False,
    variables: Mapping[str, Any] | None = None,
) -> str:
    """One normalized conversation rendered with ``template`` (see the module docstring)."""
    compiled = _compile(template)
    if documents is not None and not all(isinstance(document, dict) for document in documents):
        raise TypeError("Documents should be a list of dicts with 'title' and 'text' keys!")
    tools, documents, variables = _plain(_tool_schemas(tools)), _plain(documents), _plain(dict(variables or {}))
    chat = _alias_reasoning(_plain(chat))
    final_message = None
    if continue_final_message:
        field = continue_final_message if isinstance(continue_final_message, str) else "content"
        final_message = _tag_final_message(template, chat, field)
    rendered = compiled.render(
        messages=chat, tools=tools, documents=documents, add_generation_prompt=add_generation_prompt, **variables
    )
    if final_message is None:
        return rendered
    tag = _CONTINUE_TAG.strip()
    if final_message.strip() not in rendered or tag not in rendered:
        raise ValueError(
            "continue_final_message is set but the final message does not appear in the chat after applying the "
            f"chat template! Final message to continue: {final_message.strip()}"
        )
    at = rendered.rindex(tag)
    if rendered[at : at + len(_CONTINUE_TAG)] == _CONTINUE_TAG:
        return rendered[:at]
    return rendered[:at].rstrip()  # the template trimmed the message's trailing space


def _tag_final_message(template: str, chat: list[dict], field: str) -> str:
    """Mark where the final message's ``field`` ends (the render is cut there); its original text."""
    if not chat:
        raise ValueError("continue_final_message is set but the conversation is empty!")
    final_message = chat[-1].get(field)
    if final_message is None:
        raise ValueError(f'continue_final_message is set but the final message has no "{field}" to continue!')
    fields = [field]
    if field in _REASONING_FIELDS:
        fields = [name for name in _REASONING_FIELDS if chat[-1].get(name) == final_message]
    if not any(name in template for name in fields):
        raise ValueError(
            f'continue_final_message is set to "{field}" but this is not an accepted field in the chat_template'
        )
    if isinstance(final_message, (list, tuple)):
        for block in reversed(final_message):
            if "text" in block:
                final_message = block["text"]
                block["text"] = block["text"] + _CONTINUE_TAG
                return final_message
        raise ValueError(
            "continue_final_message is set but we could not find any text to continue in the final message!"
        )
    for name in fields:
        chat[-1][name] = chat[-1][name] + _CONTINUE_TAG
    return final_message


@functools.lru_cache(maxsize=64)
def _compile(template: str):
    return _environment().from_string(template)


def _tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False) -> str:
    """The templates' ``tojson`` filter (not Jinja's own, which escapes HTML characters)."""
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(format: str) -> str:
    """The templates' ``strftime_now``."""
    return datetime.now().strftime(format)


class _TemplateDict:
    """``dict(...)`` and ``dict.fromkeys(...)``, without the type itself."""

    def __call__(self, *args, **kwargs) -> dict:
        return dict(*args, **kwargs)

    def fromkeys(self, *args, **kwargs) -> dict:
        return dict.fromkeys(*args, **kwargs)


@functools.lru_cache(maxsize=1)
def _environment():
    """The sandboxed Jinja environment chat templates render in (imported on first use)."""
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    if tuple(int(part) for part in jinja2.__version__.split(".")[:3] if part.isdigit()) < (3, 1, 6):
        # as transformers: older versions have known sandbox escapes
        raise ImportError(f"chat templates need jinja2>=3.1.6, not {jinja2.__version__}")

    class GenerationTag(jinja2.ext.Extension):
        """``{% generation %}...{% endgeneration %}`` (an assistant-mask marker) renders its body."""

        tags = frozenset({"generation"})

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        def _body(self, caller):
            return caller()

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    class TemplateNamespace(jinja2.utils.Namespace):
        """A namespace that refuses underscore-prefixed attributes."""

        def __init__(*args, **kwargs):
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                TemplateNamespace._check(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name, value):
            TemplateNamespace._check(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check(name):
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(
                    f"Chat templates cannot store underscore-prefixed attributes on a namespace, but got {name!r}. "
                    "Please rename the attribute."
                )

    environment = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, jinja2.ext.loopcontrols]
    )
    environment.filters["tojson"] = _tojson
    environment.globals.update(
        raise_exception=raise_exception, strftime_now=_strftime_now, dict=_TemplateDict(), namespace=TemplateNamespace
    )
    return environment
