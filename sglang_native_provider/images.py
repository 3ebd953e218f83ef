"""Image parts of chat messages: where an image may come from, its decoding, and the deployment's limits.

An image is a data URL (``data:image/png;base64,...``), or a local file (``file://`` URL or plain path) when
the deployment names a ``local_image_root`` it lies under. ``http(s)`` URLs are refused: the provider does not
fetch. Each image is decoded with Pillow (the ``vision`` extra) before anything is sent, and is sent to SGLang
as a data URL. A bad image or one over a limit is a ``litellm.BadRequestError`` naming its part
(``messages[2].content[1]``).
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from .config import DeploymentConfig
from .errors import bad_request

__all__ = ["LoadedImage", "image_parts", "load_images"]


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image: its size, and the data URL SGLang receives."""

    where: str
    width: int
    height: int
    data_url: str


def image_parts(messages: Sequence[Mapping[str, Any]]) -> Iterator[tuple[str, str]]:
    """``(where, url)`` of every image part of normalized messages, in prompt order."""
    for index, message in enumerate(messages):
        content = message.get("content")
        if isinstance(content, list):
            for position, part in enumerate(content):
                if part.get("type") == "image":
                    yield f"messages[{index}].content[{position}]", part["image"]


def _pillow(model: str) -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise bad_request("image parts need Pillow: pip install 'sglang-native-provider[vision]'", model) from None
    return Image


def _data_url_bytes(url: str, where: str, config: DeploymentConfig, model: str) -> bytes:
    header, comma, payload = url.partition(",")
    if not comma or not header.endswith(";base64"):
        raise bad_request(f"{where}: a data URL must be base64 (data:image/...;base64,...)", model)
    if len(payload) * 3 // 4 > config.max_image_bytes + 2:
        raise bad_request(f"{where}: the image is larger than max_image_bytes ({config.max_image_bytes})", model)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(f"{where}: the data URL is not valid base64", model) from None


def _local_path(url: str, where: str, config: DeploymentConfig, model: str) -> Path:
    """The file a ``file://`` URL or plain path names, inside ``local_image_root`` (links resolved)."""
    if config.local_image_root is None:
        raise bad_request(
            f"{where}: local image files are not allowed (the deployment sets no local_image_root)", model
        )
    path = Path(unquote(urlparse(url).path) if url.startswith("file://") else url)
    root = Path(config.local_image_root).resolve()
    resolved = (root / path).resolve()
    if not resolved.is_relative_to(root) or not resolved.is_file():
        raise bad_request(f"{where}: no image file under local_image_root at {url[:200]!r}", model)
    if resolved.stat().st_size > config.max_image_bytes:
        raise bad_request(f"{where}: the image is larger than max_image_bytes ({config.max_image_bytes})", model)
    return resolved


def _image_bytes(url: Any, where: str, config: DeploymentConfig, model: str) -> tuple[bytes, bool]:
    """The image's bytes, and whether ``url`` is a data URL (sent as it is)."""
    if not isinstance(url, str) or not url:
        raise bad_request(f"{where}: image_url.url must be a non-empty string", model)
    if url.startswith("data:"):
        return _data_url_bytes(url, where, config, model), True
    if url.startswith(("http://", "https://")):
        raise bad_request(f"{where}: http(s) image URLs are not fetched; send the image as a data URL", model)
    return _local_path(url, where, config, model).read_bytes(), False


def _decoded(data: bytes, where: str, config: DeploymentConfig, model: str) -> tuple[int, int, str]:
    """(width, height, MIME type) of the image in ``data``, decoded fully (a truncated file is refused); its size
    is checked before its pixels are decoded."""
    image_module = _pillow(model)
    errors = (OSError, ValueError, SyntaxError, image_module.DecompressionBombError)
    try:
        image = image_module.open(io.BytesIO(data))
    except errors as exc:
        raise bad_request(f"{where}: the image cannot be decoded ({type(exc).__name__})", model) from None
    with image:
        width, height = image.size
        if width * height > config.max_image_pixels:
            limit = config.max_image_pixels
            raise bad_request(f"{where}: {width}x{height} pixels is more than max_image_pixels ({limit})", model)
        try:
            image.load()
        except errors as exc:
            raise bad_request(f"{where}: the image cannot be decoded ({type(exc).__name__})", model) from None
        return width, height, image_module.MIME.get(image.format or "", "application/octet-stream")


def load_image(url: Any, where: str, config: DeploymentConfig, model: str) -> LoadedImage:
    """One image part, checked and decoded."""
    data, is_data_url = _image_bytes(url, where, config, model)
    if len(data) > config.max_image_bytes:
        raise bad_request(f"{where}: the image is larger than max_image_bytes ({config.max_image_bytes})", model)
    width, height, mime = _decoded(data, where, config, model)
    sent = url if is_data_url else f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return LoadedImage(where, width, height, sent)


def load_images(messages: Sequence[Mapping[str, Any]], config: DeploymentConfig, model: str) -> list[LoadedImage]:
    """Every image of the conversation, in prompt order, within the deployment's limits."""
    parts = list(image_parts(messages))
    if len(parts) > config.max_images_per_request:
        limit = config.max_images_per_request
        raise bad_request(f"{parts[limit][0]}: more than max_images_per_request ({limit}) images", model)
    return [load_image(url, where, config, model) for where, url in parts]
