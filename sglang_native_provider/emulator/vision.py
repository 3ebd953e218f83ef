"""``image_data`` on an ``input_ids`` ``/generate`` request, as SGLang 0.5.23 handles it for Qwen2-VL-style models.

What is emulated (``srt/managers/tokenizer_manager.py``, ``srt/multimodal/processors/base_processor.py`` and
``qwen_vl.py``, ``srt/utils/common.py`` ``load_image``):

- A server without an image processor (a text model) ignores ``image_data``: SGLang runs no multimodal processor.
- ``image_data`` is one item or a list; each item is a data URL, plain base64, or a file path (``file://`` too).
  ``http(s)`` URLs, which SGLang downloads, are refused here (the emulator makes no outside calls). An item that
  does not decode as an image is an error (a 400 here; the status real SGLang gives is not verified).
- ``SGLANG_MM_AVOID_RETOKENIZE`` (default on): the caller's ids are kept and the i-th ``<|image_pad|>`` becomes the
  i-th image's token count (Qwen2-VL's smart-resize grid / ``merge_size**2``). With any other number of
  placeholders than images SGLang logs a warning and falls back to decoding the ids and re-tokenizing the text,
  each ``<|vision_start|>(<|image_pad|>)+<|vision_end|>`` block counting as one image; so does the emulator, and a
  block count that still differs from the image count is an error.
- The expanded ids are the prompt: ``meta_info.prompt_tokens`` and ``return_prompt_token_ids`` report them.

The token count is computed independently of the provider's (the emulator imports nothing of it).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from .requests import GenerateError

__all__ = ["ImageTokens", "with_images"]

logger = logging.getLogger(__name__)

_BLOCK = re.compile(r"<\|vision_start\|>(?:<\|image_pad\|>)+<\|vision_end\|>")
_NATIVE_BLOCK = "<|vision_start|><|image_pad|><|vision_end|>"


def _image_bytes(item: Any) -> bytes:
    """``get_image_bytes`` of SGLang, but for URLs."""
    if not isinstance(item, str):
        raise GenerateError(f"Invalid image: {type(item).__name__}")
    if item.startswith(("http://", "https://")):
        raise GenerateError("the emulator does not download images; send a data URL or base64")
    try:
        if item.startswith(("file://", "/")):
            return Path(unquote(urlparse(item).path) if item.startswith("file://") else item).read_bytes()
        payload = item.split(",", 1)[1] if item.startswith("data:") else item
        return base64.b64decode(payload, validate=True)
    except (OSError, binascii.Error, ValueError, IndexError) as exc:
        raise GenerateError(f"Failed to load image: {type(exc).__name__}: {exc}") from None


def _image_size(item: Any) -> tuple[int, int]:
    """(height, width) of an ``image_data`` item, decoded fully."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(_image_bytes(item))) as image:
            image.load()
            return image.height, image.width
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise GenerateError(f"Failed to load image: {type(exc).__name__}: {exc}") from None


@dataclass(frozen=True)
class ImageTokens:
    """A Qwen2-VL-style model's image tokens: the placeholder and how many tokens an image becomes."""

    pad_id: int
    patch_size: int
    merge_size: int
    min_pixels: int
    max_pixels: int

    @classmethod
    def of(cls, tokenizer: Any, preprocessor: str | Path | dict[str, Any]) -> ImageTokens:
        """From the model's ``preprocessor_config.json`` (a path or its content)."""
        config = preprocessor if isinstance(preprocessor, dict) else json.loads(Path(preprocessor).read_text())
        size = config.get("size") or {}
        return cls(
            pad_id=tokenizer.convert_tokens_to_ids("<|image_pad|>"),
            patch_size=config["patch_size"],
            merge_size=config["merge_size"],
            min_pixels=config.get("min_pixels") or size["shortest_edge"],
            max_pixels=config.get("max_pixels") or size["longest_edge"],
        )

    def count(self, height: int, width: int) -> int:
        """``grid_h * grid_w / merge_size**2`` after transformers' ``smart_resize``."""
        factor = self.patch_size * self.merge_size
        if max(height, width) / min(height, width) > 200:
            raise GenerateError("absolute aspect ratio must be smaller than 200")
        h_bar, w_bar = round(height / factor) * factor, round(width / factor) * factor
        if h_bar * w_bar > self.max_pixels:
            beta = math.sqrt(height * width / self.max_pixels)
            h_bar = max(factor, math.floor(height / beta / factor) * factor)
            w_bar = max(factor, math.floor(width / beta / factor) * factor)
        elif h_bar * w_bar < self.min_pixels:
            beta = math.sqrt(self.min_pixels / (height * width))
            h_bar, w_bar = math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
        return (h_bar // self.patch_size) * (w_bar // self.patch_size) // self.merge_size**2

    def prompt(self, input_ids: list[int], image_data: Any, tokenizer: Any) -> list[int]:
        """The prompt the model runs on for ``input_ids`` with ``image_data``."""
        items = image_data if isinstance(image_data, list) else [image_data]
        counts = [self.count(*_image_size(item)) for item in items]
        placeholders = input_ids.count(self.pad_id)
        if placeholders == len(counts):
            return self._expanded(input_ids, counts)
        logger.warning(
            "Due to prompt has %d image placeholder token(s) but %d image(s) were provided, falling back to "
            "decode+retokenize, which may change prompt length (token drift).",
            placeholders,
            len(counts),
        )
        text, blocks = _BLOCK.subn(_NATIVE_BLOCK, tokenizer.decode(input_ids, skip_special_tokens=False))
        if blocks != len(counts):
            raise GenerateError(f"Mismatch: the prompt has {blocks} image blocks but {len(counts)} images")
        return self._expanded(list(tokenizer.encode(text, add_special_tokens=False)), counts)

    def _expanded(self, input_ids: list[int], counts: list[int]) -> list[int]:
        expanded: list[int] = []
        images = iter(counts)
        for token in input_ids:
            expanded += [token] * next(images) if token == self.pad_id else [token]
        return expanded


def with_images(body: dict[str, Any], image_tokens: ImageTokens | None, tokenizer: Any) -> dict[str, Any]:
    """``body`` with ``input_ids`` the prompt the model runs on when it carries ``image_data``."""
    image_data = body.get("image_data")
    if image_tokens is None or image_data is None or image_data == []:
        return body
    input_ids = body.get("input_ids")
    if not input_ids or not isinstance(input_ids[0], int):
        raise GenerateError("the emulator emulates image_data on single input_ids requests only")
    return {**body, "input_ids": image_tokens.prompt(list(input_ids), image_data, tokenizer)}
