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
* the chat template is rendered as transformers renders it (:mod:`.chat_template`).

Only the directories the offline recipes build are loaded here (:meth:`FastTokenizer.from_directory` refuses
settings it does not implement); any other tokenizer directory or hub id goes through ``AutoTokenizer``.
``tests/test_emulator_tokenizer.py`` holds it byte-equal to transformers for every recipe.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Tokenizer, processors

from .chat_template import normalize_conversation, render_chat

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
        _refuse_unsupported(
            sanitize_control_tokens=sanitize_control_tokens,
            return_assistant_tokens_mask=return_assistant_tokens_mask,
            padding=padding,
            truncation=truncation,
            max_length=max_length is not None,
            return_tensors=return_tensors is not None,
            tokenizer_kwargs=bool(tokenizer_kwargs),
        )
        template = self.get_chat_template(chat_template, tools)
        if isinstance(conversation, (list, tuple)) and len(conversation) == 0:
            raise ValueError("Cannot apply chat template to an empty conversation. Provide at least one message.")
        batched = isinstance(conversation, (list, tuple)) and (
            isinstance(conversation[0], (list, tuple)) or hasattr(conversation[0], "messages")
        )
        conversations = [normalize_conversation(chat) for chat in (conversation if batched else [conversation])]
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


def _refuse_unsupported(**used: Any) -> None:
    """Refuse the ``apply_chat_template`` options only transformers' tokenizer implements."""
    if any(used.values()):
        names = ", ".join(name for name, value in used.items() if value)
        raise NotImplementedError(f"apply_chat_template({names}) needs transformers' tokenizer")


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
