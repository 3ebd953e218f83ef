"""Prompts with images: each image's placeholder expanded to the tokens the model sees, in exact ids.

The chat template renders one placeholder per image (Qwen2-VL and Qwen2.5-VL:
``<|vision_start|><|image_pad|><|vision_end|>``). The model sees ``<|image_pad|>`` repeated once per merged
patch of the resized image: ``grid_h * grid_w / merge_size**2`` with the grid from the image processor's
smart-resize rule and its ``min_pixels``/``max_pixels`` (the deployment's ``image_processor``, the model's
``preprocessor_config.json``). The prompt ids the provider reports, records and continues from are the
expanded ones.

SGLang 0.5.23 (``SGLANG_MM_AVOID_RETOKENIZE``, on by default) keeps ``input_ids`` as sent and expands each
single placeholder itself; a prompt with any other number of placeholders than images makes it fall back to
decoding and re-tokenizing the prompt. So ``/generate`` receives the ids with one placeholder per image and the
images as data URLs in ``image_data``, in order (:class:`ImagePrompt`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import DeploymentConfig
from .continuation import Prompt
from .errors import bad_request
from .images import LoadedImage, image_parts, load_images

__all__ = ["ImageProcessor", "ImagePrompt", "VisionRequest", "collapse_placeholders", "smart_resize"]

_QWEN2_VL_PROCESSORS = ("Qwen2VLImageProcessor", "Qwen2VLImageProcessorFast")
_PLACEHOLDER = "<|image_pad|>"
_MAX_ASPECT_RATIO = 200


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """The size Qwen2-VL's image processor resizes an image to: both sides multiples of ``factor``, the area
    within ``[min_pixels, max_pixels]``, the aspect ratio kept as closely as that allows."""
    if max(height, width) / min(height, width) > _MAX_ASPECT_RATIO:
        raise ValueError(f"its aspect ratio is more than {_MAX_ASPECT_RATIO}")
    resized_height = round(height / factor) * factor
    resized_width = round(width / factor) * factor
    if resized_height * resized_width > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        resized_height = max(factor, math.floor(height / beta / factor) * factor)
        resized_width = max(factor, math.floor(width / beta / factor) * factor)
    elif resized_height * resized_width < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        resized_height = math.ceil(height * beta / factor) * factor
        resized_width = math.ceil(width * beta / factor) * factor
    return resized_height, resized_width


@dataclasses.dataclass(frozen=True)
class ImageProcessor:
    """Qwen2-VL's image processor, as far as token counts go."""

    patch_size: int
    merge_size: int
    min_pixels: int
    max_pixels: int

    @classmethod
    def of(cls, config: Mapping[str, Any], model: str) -> ImageProcessor:
        """From a ``preprocessor_config.json``: ``min_pixels``/``max_pixels`` override ``size``'s
        ``shortest_edge``/``longest_edge``, as in transformers."""
        kind = config.get("image_processor_type")
        if kind not in _QWEN2_VL_PROCESSORS:
            raise bad_request(
                f"image_processor {kind!r} is not supported (only {', '.join(_QWEN2_VL_PROCESSORS)})", model
            )
        size = config.get("size") or {}
        try:
            return cls(
                patch_size=int(config["patch_size"]),
                merge_size=int(config["merge_size"]),
                min_pixels=int(config.get("min_pixels") or size["shortest_edge"]),
                max_pixels=int(config.get("max_pixels") or size["longest_edge"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise bad_request(f"image_processor lacks a valid {exc}", model) from None

    def tokens(self, height: int, width: int) -> int:
        """How many ``<|image_pad|>`` tokens an image of this size becomes."""
        factor = self.patch_size * self.merge_size
        resized_height, resized_width = smart_resize(height, width, factor, self.min_pixels, self.max_pixels)
        grid_h, grid_w = resized_height // self.patch_size, resized_width // self.patch_size
        return grid_h * grid_w // self.merge_size**2


@functools.lru_cache(maxsize=16)
def _processor_file(path: str, model: str) -> ImageProcessor:
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise bad_request(f"image_processor {path!r} cannot be read: {type(exc).__name__}", model) from None
    return ImageProcessor.of(config, model)


def _processor(config: DeploymentConfig, where: str, model: str) -> ImageProcessor:
    setting = config.image_processor
    if setting is None:
        raise bad_request(
            f"{where}: {model!r} takes no images: set image_processor (its preprocessor_config.json)", model
        )
    return _processor_file(setting, model) if isinstance(setting, str) else ImageProcessor.of(setting, model)


def _runs(ids: Sequence[int], pad_id: int) -> list[tuple[int, int]]:
    """(start, length) of each run of ``pad_id`` in ``ids``: one run per image."""
    runs: list[tuple[int, int]] = []
    for position, token in enumerate(ids):
        if token != pad_id:
            continue
        if runs and sum(runs[-1]) == position:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((position, 1))
    return runs


def collapse_placeholders(ids: Sequence[int], pad_id: int) -> list[int]:
    """``ids`` with each run of ``pad_id`` as one token: what SGLang expands itself."""
    return [
        token for position, token in enumerate(ids) if token != pad_id or not position or ids[position - 1] != pad_id
    ]


@dataclasses.dataclass(frozen=True)
class ImagePrompt:
    """What ``/generate`` receives for a prompt with images."""

    input_ids: list[int]
    """The prompt with one placeholder per image."""
    image_data: list[str]
    """The images as data URLs, in prompt order."""


@dataclasses.dataclass(frozen=True)
class VisionRequest:
    """A conversation's images, checked, with the token count of each."""

    images: list[LoadedImage]
    counts: list[int]
    pad_id: int

    @classmethod
    def of(
        cls, messages: list[dict[str, Any]], config: DeploymentConfig, tokenizer: Any, template: str, model: str
    ) -> VisionRequest | None:
        """None for a conversation without images; a ``BadRequestError`` when the deployment, its template or an
        image cannot take them (before anything is rendered or sent)."""
        first = next(image_parts(messages), None)
        if first is None:
            return None
        processor = _processor(config, first[0], model)
        if _PLACEHOLDER not in template:
            raise bad_request(f"{first[0]}: the chat template of {model!r} has no image placeholder", model)
        pad_id = tokenizer.convert_tokens_to_ids(_PLACEHOLDER)
        if not isinstance(pad_id, int) or pad_id == tokenizer.unk_token_id:
            raise bad_request(f"{first[0]}: the tokenizer of {model!r} has no {_PLACEHOLDER} token", model)
        images = load_images(messages, config, model)
        counts = []
        for image in images:
            try:
                counts.append(processor.tokens(image.height, image.width))
            except ValueError as exc:
                raise bad_request(f"{image.where}: {image.width}x{image.height} image: {exc}", model) from None
        return cls(images, counts, pad_id)

    def apply(self, prompt: Prompt, model: str) -> tuple[Prompt, ImagePrompt]:
        """The prompt with every image's placeholder expanded (those of a continued turn's exact ids already
        are), and what ``/generate`` receives."""
        runs = _runs(prompt.ids, self.pad_id)
        if len(runs) != len(self.images):
            raise bad_request(
                f"the prompt has {len(runs)} image placeholders ({_PLACEHOLDER}) for {len(self.images)} images "
                "(message text naming the token? special_tokens_in_content='escape' keeps it text)",
                model,
            )
        expanded: list[int] = []
        position = 0
        for (start, length), count, image in zip(runs, self.counts, self.images, strict=True):
            if length not in (1, count):
                raise bad_request(
                    f"{image.where}: the earlier turn's ids hold {length} image tokens, not {count}", model
                )
            expanded += [*prompt.ids[position:start], *[self.pad_id] * count]
            position = start + length
        expanded += prompt.ids[position:]
        sent = ImagePrompt(collapse_placeholders(expanded, self.pad_id), [image.data_url for image in self.images])
        return dataclasses.replace(prompt, ids=expanded), sent
