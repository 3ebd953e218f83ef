"""A recipe's source file converted to a ``PreTrainedTokenizerFast``: its BPE, added tokens and chat template."""

from __future__ import annotations

import json
import tempfile
from importlib.resources import files
from pathlib import Path
from typing import Any

from .packages import require_module
from .recipes import TokenizerRecipe

__all__ = ["chat_template", "convert"]


def chat_template(recipe: TokenizerRecipe) -> str:
    """The recipe's chat template, as shipped in ``templates/``."""
    return (files(__package__) / "templates" / recipe.template).read_text(encoding="utf-8")


def _tekken_backend(recipe: TokenizerRecipe, path: Path) -> Any:
    """A byte-level BPE from a tekken file: its first ranks shifted past the control tokens, which take the
    first ids."""
    from tokenizers import Tokenizer
    from tokenizers.models import BPE
    from transformers.convert_slow_tokenizer import TikTokenConverter

    tekken = json.loads(path.read_text(encoding="utf-8"))
    controls = len(recipe.added_tokens)
    size = (recipe.vocab_size or tekken["config"]["default_vocab_size"]) - controls
    with tempfile.TemporaryDirectory() as scratch:
        ranks = Path(scratch) / "ranks.tiktoken"
        ranks.write_text("".join(f"{entry['token_bytes']} {entry['rank']}\n" for entry in tekken["vocab"][:size]))
        converter = TikTokenConverter(vocab_file=str(ranks), pattern=tekken["config"]["pattern"])
        vocab, merges = converter.extract_vocab_merges_from_model(str(ranks))
        backend = converter.converted()  # for its pre-tokenizer, decoder and post-processor
    vocab = {token: rank + controls for token, rank in vocab.items()}
    vocab.update({content: token_id for token_id, (content, _) in enumerate(recipe.added_tokens)})
    shifted = Tokenizer(BPE(vocab, merges, fuse_unk=False, ignore_merges=True))
    shifted.pre_tokenizer, shifted.decoder, shifted.post_processor = (
        backend.pre_tokenizer,
        backend.decoder,
        backend.post_processor,
    )
    return shifted


def _backend(recipe: TokenizerRecipe, source: Path) -> Any:
    from tokenizers import Tokenizer
    from transformers.convert_slow_tokenizer import TikTokenConverter

    if recipe.source == "tokenizer.json":
        return Tokenizer.from_file(str(source))
    # transformers reads tiktoken and tekken ranks with the tiktoken package.
    require_module(recipe.name, "tiktoken", "tiktoken")
    if recipe.source == "tekken":
        return _tekken_backend(recipe, source)
    return TikTokenConverter(vocab_file=str(source), pattern=recipe.pattern).converted()


def convert(recipe: TokenizerRecipe, ranks: Path) -> Any:
    """The recipe's tokenizer built from its source file ``ranks`` (a ``PreTrainedTokenizerFast``)."""
    from tokenizers import AddedToken, normalizers, processors
    from transformers import PreTrainedTokenizerFast

    backend = _backend(recipe, ranks)
    if recipe.nfc_normalize:
        backend.normalizer = normalizers.NFC()
    # Added tokens take the next free id, so adding them one by one in id order gives the real ids.
    for content, special in recipe.added_tokens:
        token = AddedToken(content, special=special, normalized=False)
        if special:
            backend.add_special_tokens([token])
        else:
            backend.add_tokens([token])
    if recipe.prepend_bos:
        bos = recipe.bos_token
        backend.post_processor = processors.Sequence(
            [
                processors.ByteLevel(trim_offsets=False),
                processors.TemplateProcessing(
                    single=f"{bos} $A",
                    pair=f"{bos} $A {bos} $B",
                    special_tokens=[(bos, backend.token_to_id(bos))],
                ),
            ]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=recipe.bos_token,
        eos_token=recipe.eos_token,
        pad_token=recipe.pad_token,
        model_max_length=recipe.model_max_length,
        clean_up_tokenization_spaces=False,
        chat_template=chat_template(recipe),
    )
