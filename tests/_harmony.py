"""A gpt-oss-style tokenizer without the hub: character-level, with gpt-oss's special tokens at their real ids
(``<|call|>`` is 200012, the id SGLang's detokenizer keeps under ``--tool-call-parser gpt-oss``) and gpt-oss's
end-of-sequence ids in its model and generation configs."""

from __future__ import annotations

import json
import string
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

HARMONY_SPECIALS = {
    "<|startoftext|>": 199998,
    "<|endoftext|>": 199999,
    "<|return|>": 200002,
    "<|constrain|>": 200003,
    "<|channel|>": 200005,
    "<|start|>": 200006,
    "<|end|>": 200007,
    "<|message|>": 200008,
    "<|call|>": 200012,
}
GPT_OSS_TEMPLATE = Path(__file__).parent / "fixtures" / "chat_templates" / "openai-gpt-oss-120b.jinja"


def write_harmony_tokenizer(directory: Path, tokenizer_config: dict | None = None) -> Path:
    """Write the tokenizer (with gpt-oss's chat template) and its configs into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    characters = string.printable[:100]
    vocab = {character: index for index, character in enumerate(characters)}
    vocab["[UNK]"] = len(characters)
    tokenizer = Tokenizer(models.WordLevel({**vocab, **HARMONY_SPECIALS}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    tokenizer.add_special_tokens([AddedToken(text, special=True) for text in HARMONY_SPECIALS])
    tokenizer.save(str(directory / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": "<|return|>",
        "chat_template": GPT_OSS_TEMPLATE.read_text(),
        **(tokenizer_config or {}),
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config))
    end, call = HARMONY_SPECIALS["<|return|>"], HARMONY_SPECIALS["<|call|>"]
    model = {"model_type": "gpt_oss", "architectures": ["GptOssForCausalLM"], "eos_token_id": end}
    (directory / "config.json").write_text(json.dumps({**model, "max_position_embeddings": 131072}))
    (directory / "generation_config.json").write_text(json.dumps({"eos_token_id": [end, 199999, call]}))
    return directory
