"""The emulator's tokenizer for the offline recipes: ``tokenizers.Tokenizer`` plus the chat template, without
``transformers``.

Importing ``transformers`` takes seconds (it scans its whole package to build its lazy import table), while
the emulator only needs what a ``PreTrainedTokenizerFast`` loaded from an offline recipe's directory
(``tokenizer.json``, ``tokenizer_config.json``, ``chat_template.jinja``) does with it: ``encode``, ``decode``,
the added tokens, the special tokens and ``apply_chat_template``. :class:`FastTokenizer` does exactly that, as
transformers 5 does it:

* ``encode``/``decode`` are the backend's ``encode(...).ids``/``decode`` (transformers calls the same backend with
  truncation and padding off and special-token splitting off; ``clean_up_tokenization_spaces`` is false in
  every recipe);
* the chat template is rendered by Jinja in an immutable sandbox with ``trim_blocks``/``lstrip_blocks``, a
  ``tojson`` that does not escape HTML, ``raise_exception``, ``strftime_now``, a restricted ``dict`` and
  ``namespace``, the ``{% generation %}`` tag and loop controls; messages lose their ``None`` fields, what the
  template sees is rebuilt from plain JSON types, reasoning is aliased under ``reasoning_content``/``thinking``,
  and the special tokens (``bos_token``, ``eos_token``, ...) are template variables that keyword arguments
  override.

Only the directories the offline recipes build are loaded here (:meth:`FastTokenizer.from_directory` refuses
settings it does not implement); any other tokenizer directory or hub id goes through ``AutoTokenizer``.
``tests/test_emulator_tokenizer.py`` holds it byte-equal to transformers for every recipe.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Tokenizer, processors

__all__ = ["FastTokenizer"]

# transformers' defaults: no model_max_length means "unbounded" (VERY_LARGE_INTEGER).
_UNBOUNDED = int(1e30)
_SPECIAL_TOKEN_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
# tokenizer_config.json keys this class implements; a directory with any other key is not loaded here.
_KNOWN_CONFIG = {
    *_SPECIAL_TOKEN_NAMES,
    "backend",
    "tokenizer_class",
    "model_max_length",
    "clean_up_tokenization_spaces",
    "chat_template",
    "added_tokens_decoder",
    "name_or_path",
    "response_template",
}
_TOKENIZER_CLASSES = {"TokenizersBackend", "PreTrainedTokenizerFast"}
_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")
_CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "


def _token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json stores it: a string or a serialized AddedToken."""
    if isinstance(value, Mapping):
        return value.get("content")
    return value


class FastTokenizer:
    """The subset of ``PreTrainedTokenizerFast`` the emulator (and the provider's helpers) use, over a
    ``tokenizers.Tokenizer``."""

    def __init__(
        self,
        backend: Tokenizer,
        *,
        special_tokens: Mapping[str, str | None],
        model_max_length: int | None,
        chat_template: str | dict[str, str] | None,
        name_or_path: str = "",
        response_template: Any = None,
    ) -> None:
        self._backend = backend
        self.name_or_path = name_or_path
        self.clean_up_tokenization_spaces = False  # from_directory refuses a directory that sets it
        self.response_template = response_template
        self.model_max_length = model_max_length if model_max_length is not None else _UNBOUNDED
        self.chat_template = chat_template
        self.special_tokens_map = {
            name: special_tokens[name] for name in _SPECIAL_TOKEN_NAMES if special_tokens.get(name) is not None
        }
        # As transformers does on load: the backend encodes special tokens' texts as those tokens, named special
        # tokens missing from the added vocabulary are added, and a missing post-processor becomes a plain one.
        backend.no_truncation()
        backend.no_padding()
        backend.encode_special_tokens = False
        present = {token.content for token in backend.get_added_tokens_decoder().values()}
        missing = [text for text in self.special_tokens_map.values() if text not in present]
        if missing:
            backend.add_tokens([AddedToken(text, special=True) for text in dict.fromkeys(missing)])
        if backend.post_processor is None:
            backend.post_processor = processors.TemplateProcessing(single="$A:0", pair="$A:0 $B:1", special_tokens=[])
        self._added_decoder = dict(sorted(backend.get_added_tokens_decoder().items()))

    @classmethod
    def from_directory(cls, directory: str | Path) -> FastTokenizer:
        """Load a tokenizer directory that holds ``tokenizer.json`` and a plain ``tokenizer_config.json``."""
        directory = Path(directory)
        config_path = directory / "tokenizer_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        unknown = sorted(set(config) - _KNOWN_CONFIG)
        if unknown or config.get("tokenizer_class", "TokenizersBackend") not in _TOKENIZER_CLASSES:
            raise ValueError(f"{directory} needs transformers' AutoTokenizer (tokenizer_config.json: {unknown})")
        if config.get("clean_up_tokenization_spaces"):
            raise ValueError(f"{directory}: clean_up_tokenization_spaces is not implemented here")
        backend = Tokenizer.from_file(str(directory / "tokenizer.json"))
        if backend.truncation is not None or backend.padding is not None:
            raise ValueError(f"{directory}: tokenizer.json truncation and padding are not implemented here")
        special = {name: _token_text(config.get(name)) for name in _SPECIAL_TOKEN_NAMES}
        return cls(
            backend,
            special_tokens=special,
            model_max_length=config.get("model_max_length"),
            chat_template=_directory_chat_template(directory, config),
            name_or_path=str(directory),
            response_template=config.get("response_template"),
        )

    def __repr__(self) -> str:
        return f"FastTokenizer(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, len={len(self)})"

    # ---- vocabulary ----
    @property
    def backend_tokenizer(self) -> Tokenizer:
        return self._backend

    @property
    def is_fast(self) -> bool:
        return True

    @property
    def vocab_size(self) -> int:
        """The base vocabulary's size (without added tokens)."""
        return self._backend.get_vocab_size(with_added_tokens=False)

    def __len__(self) -> int:
        return self._backend.get_vocab_size(with_added_tokens=True)

    def __bool__(self) -> bool:
        return True

    def get_vocab(self) -> dict[str, int]:
        return self._backend.get_vocab(with_added_tokens=True)

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        return dict(self._added_decoder)

    @property
    def added_tokens_encoder(self) -> dict[str, int]:
        return {token.content: token_id for token_id, token in self._added_decoder.items()}

    @property
    def all_special_tokens(self) -> list[str]:
        return list(dict.fromkeys(self.special_tokens_map.values()))

    @property
    def all_special_ids(self) -> list[int]:
        return [self.convert_tokens_to_ids(token) for token in self.all_special_tokens]

    def convert_tokens_to_ids(self, tokens: str | Sequence[str] | None) -> int | list[int] | None:
        if tokens is None:
            return None
        if isinstance(tokens, str):
            return self._token_id(tokens)
        return [self._token_id(token) for token in tokens]

    def _token_id(self, token: str) -> int | None:
        token_id = self._backend.token_to_id(token)
        if token_id is None and self.unk_token is not None:
            return self._backend.token_to_id(self.unk_token)
        return token_id

    def convert_ids_to_tokens(self, ids: int | Sequence[int], skip_special_tokens: bool = False):
        if isinstance(ids, int):
            return self._backend.id_to_token(ids)
        skip = set(self.all_special_ids) if skip_special_tokens else set()
        return [self._backend.id_to_token(int(index)) for index in ids if int(index) not in skip]

    def __getattr__(self, name: str) -> Any:
        # bos_token/eos_token/... and their *_id, as transformers exposes them (None when unset)
        if name in _SPECIAL_TOKEN_NAMES:
            return self.special_tokens_map.get(name)
        if name.endswith("_id") and name[:-3] in _SPECIAL_TOKEN_NAMES:
            return self.convert_tokens_to_ids(self.special_tokens_map.get(name[:-3]))
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ---- encoding ----
    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        return self._backend.encode(text, add_special_tokens=add_special_tokens).ids

    def __call__(self, text: str | Sequence[str], add_special_tokens: bool = True) -> dict[str, list]:
        """``{"input_ids", "attention_mask"}`` of a text (lists of them for a batch of texts)."""
        if isinstance(text, str):
            ids = self.encode(text, add_special_tokens=add_special_tokens)
            return {"input_ids": ids, "attention_mask": [1] * len(ids)}
        batch = [self.encode(one, add_special_tokens=add_special_tokens) for one in text]
        return {"input_ids": batch, "attention_mask": [[1] * len(ids) for ids in batch]}

    def decode(
        self,
        token_ids: int | Sequence[int] | Sequence[Sequence[int]],
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        spaces_between_special_tokens: bool = True,
    ):
        """The text of ``token_ids`` (a list of texts for a batch of sequences).

        As transformers 5's fast tokenizers, ``spaces_between_special_tokens`` changes nothing and the clean-up
        of spaces is skipped for a BPE model (every recipe's).
        """
        del spaces_between_special_tokens
        if clean_up_tokenization_spaces and type(self._backend.model).__name__ != "BPE":
            raise NotImplementedError("clean_up_tokenization_spaces needs transformers' tokenizer")
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        elif isinstance(token_ids, Mapping):
            token_ids = token_ids["input_ids"]
        token_ids = list(token_ids)
        if token_ids and isinstance(token_ids[0], (list, tuple)):
            return [self._backend.decode(list(ids), skip_special_tokens=skip_special_tokens) for ids in token_ids]
        return self._backend.decode(token_ids, skip_special_tokens=skip_special_tokens)

    # ---- chat template ----
    def get_chat_template(self, chat_template: str | None = None, tools: list | None = None) -> str:
        """``chat_template`` (a template or, for a tokenizer with several, a template's name), else the
        tokenizer's (``tool_use`` when there are tools and it has one, else ``default``)."""
        templates = self.chat_template
        if isinstance(templates, dict):
            if chat_template is not None and chat_template in templates:
                return templates[chat_template]
            if chat_template is None:
                if tools is not None and "tool_use" in templates:
                    return templates["tool_use"]
                if "default" in templates:
                    return templates["default"]
                raise ValueError(
                    "This tokenizer has several chat templates and no default; pass one of "
                    f"{sorted(templates)} as chat_template"
                )
        elif chat_template is None:
            if templates is None:
                raise ValueError("Cannot use chat template functions: tokenizer.chat_template is not set")
            return templates
        return chat_template

    def apply_chat_template(
        self,
        conversation,
        tools: list | None = None,
        documents: list | None = None,
        chat_template: str | None = None,
        add_generation_prompt: bool = False,
        continue_final_message: bool | str = False,
        tokenize: bool = True,
        return_dict: bool = True,
        sanitize_control_tokens: bool = False,
        return_assistant_tokens_mask: bool = False,
        padding: bool | str = False,
        truncation: bool = False,
        max_length: int | None = None,
        return_tensors: str | None = None,
        tokenizer_kwargs: dict | None = None,
        **kwargs,
    ):
        """The conversation (or a batch of them) rendered, then, with ``tokenize``, encoded without special
        tokens (``return_dict``: ``{"input_ids", "attention_mask"}``); other keyword arguments are template
        variables."""
        unsupported = {
            "sanitize_control_tokens": sanitize_control_tokens,
            "return_assistant_tokens_mask": return_assistant_tokens_mask,
            "padding": padding,
            "truncation": truncation,
            "max_length": max_length is not None,
            "return_tensors": return_tensors is not None,
            "tokenizer_kwargs": bool(tokenizer_kwargs),
        }
        if any(unsupported.values()):
            names = ", ".join(name for name, used in unsupported.items() if used)
            raise NotImplementedError(f"apply_chat_template({names}) needs transformers' tokenizer")
        template = self.get_chat_template(chat_template, tools)
        if isinstance(conversation, (list, tuple)) and len(conversation) == 0:
            raise ValueError("Cannot apply chat template to an empty conversation. Provide at least one message.")
        batched = isinstance(conversation, (list, tuple)) and (
            isinstance(conversation[0], (list, tuple)) or hasattr(conversation[0], "messages")
        )
        conversations = [_normalize_messages(chat) for chat in (conversation if batched else [conversation])]
        if continue_final_message and add_generation_prompt:
            raise ValueError("continue_final_message and add_generation_prompt are not compatible")
        rendered = [
            render_chat(
                template,
                chat,
                tools=tools,
                documents=documents,
                add_generation_prompt=add_generation_prompt,
                continue_final_message=continue_final_message,
                variables={**self.special_tokens_map, **kwargs},
            )
            for chat in conversations
        ]
        if not tokenize:
            return rendered if batched else rendered[0]
        ids = [self.encode(text, add_special_tokens=False) for text in rendered]
        if not return_dict:
            return ids if batched else ids[0]
        masks = [[1] * len(one) for one in ids]
        return (
            {"input_ids": ids, "attention_mask": masks}
            if batched
            else {"input_ids": ids[0], "attention_mask": masks[0]}
        )


def _directory_chat_template(directory: Path, config: Mapping[str, Any]) -> str | dict[str, str] | None:
    """``chat_template.jinja`` (plus ``additional_chat_templates/*.jinja``), else tokenizer_config's own."""
    templates: dict[str, str] = {}
    default = directory / "chat_template.jinja"
    if default.is_file():
        templates["default"] = default.read_text(encoding="utf-8")
    extra = directory / "additional_chat_templates"
    if extra.is_dir():
        for path in sorted(extra.glob("*.jinja")):
            templates[path.stem] = path.read_text(encoding="utf-8")
    if not templates:
        configured = config.get("chat_template")
        if isinstance(configured, list):
            return {entry["name"]: entry["template"] for entry in configured}
        return configured
    if list(templates) == ["default"]:
        return templates["default"]
    return templates


# ---- rendering ----
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


def _normalize_messages(conversation: Any) -> list[dict]:
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

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        # not Jinja's own filter, which escapes HTML characters
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    class TemplateDict:
        """``dict(...)`` and ``dict.fromkeys(...)``, without the type itself."""

        def __call__(self, *args, **kwargs):
            return dict(*args, **kwargs)

        def fromkeys(self, *args, **kwargs):
            return dict.fromkeys(*args, **kwargs)

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
    environment.filters["tojson"] = tojson
    environment.globals.update(
        raise_exception=raise_exception, strftime_now=strftime_now, dict=TemplateDict(), namespace=TemplateNamespace
    )
    return environment
