"""SGLang 0.5.23's own tool-call detectors and reasoning parsers, loaded from the pinned wheel without torch.

``sglang/__init__.py`` and ``sglang/srt/__init__.py`` pull in torch, so the package tree is built by hand: each
package SGLang's parser modules import from is an empty module whose ``__path__`` points at the extracted wheel
(its ``__init__`` never runs), and the two heavy modules they import but never use while parsing are stubbed:
xgrammar (grammar-constrained decoding) and ``sglang.utils`` (one JSON-schema helper). Everything else
(``environ``, the OpenAI protocol types, the detectors, the reasoning parsers) is SGLang's own code, run unchanged;
it needs only packages the test extra installs (pydantic, openai, msgspec, orjson, partial-json-parser,
transformers).

:func:`sglang_parsers` installs the tree in ``sys.modules`` for the duration of a ``with`` block and removes it
afterwards, so other tests that stub the same names (tests/test_families_deepseek.py) are not disturbed.
"""

from __future__ import annotations

import contextlib
import json
import sys
import types
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _support import pinned_sglang_wheel

from sglang_native_provider.emulator import SGLANG_VERSION
from sglang_native_provider.offline_tokenizers import cache_root

_EXTRACTED = (
    "sglang/srt/function_call/",
    "sglang/srt/parser/",
    "sglang/srt/entrypoints/openai/protocol.py",
    "sglang/srt/environ.py",
)
_PACKAGES = (
    "sglang",
    "sglang.srt",
    "sglang.srt.function_call",
    "sglang.srt.parser",
    "sglang.srt.parser.chat_parsing",
    "sglang.srt.entrypoints",
    "sglang.srt.entrypoints.openai",
)


def extracted_source() -> Path:
    """The wheel's parser sources, extracted once into the offline cache (only ``.py`` files)."""
    root = cache_root() / "sglang-wheel" / f"parsers-{SGLANG_VERSION}"
    done = root / ".complete"
    if not done.is_file():
        with zipfile.ZipFile(pinned_sglang_wheel()) as wheel:
            for member in wheel.namelist():
                if member.endswith(".py") and member.startswith(_EXTRACTED):
                    wheel.extract(member, root)
        done.write_text(SGLANG_VERSION)
    return root


class _Anything:
    """Stands for a heavy object SGLang only touches when building grammars: any call or attribute is itself."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> _Anything:
        return self

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything


def _stub(name: str, *, package: bool = False, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    if package:
        module.__path__ = []

    def missing(attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return _Anything

    module.__getattr__ = missing  # type: ignore[method-assign]
    return module


def _modules(root: Path) -> dict[str, types.ModuleType]:
    packages = {}
    for name in _PACKAGES:
        package = types.ModuleType(name)
        package.__path__ = [str(root.joinpath(*name.split(".")))]
        packages[name] = package
    import pydantic

    class StructuralTag(pydantic.BaseModel):  # the protocol types name it as a field type
        model_config = pydantic.ConfigDict(extra="allow")

    def schema_to_str(schema: Any) -> str:
        return schema if isinstance(schema, str) else json.dumps(schema)

    stubs = {
        "xgrammar": _stub("xgrammar", package=True, StructuralTag=StructuralTag),
        "xgrammar.structural_tag": _stub("xgrammar.structural_tag"),
        "sglang.utils": _stub("sglang.utils", convert_json_schema_to_str=schema_to_str),
    }
    return {**packages, **stubs}


@dataclass(frozen=True)
class SGLangParsers:
    """SGLang's serving-side entry points: ``FunctionCallParser`` (one per request: tools, parser name) and
    ``ReasoningParser`` (model type, ``force_reasoning``), with the protocol module for its ``Tool`` type."""

    function_call_parser: type
    reasoning_parser: type
    protocol: types.ModuleType

    def tools(self, tools: list[dict[str, Any]]) -> list[Any]:
        """OpenAI tool dicts as SGLang's request type."""
        return [self.protocol.Tool.model_validate(tool) for tool in tools]


@contextlib.contextmanager
def sglang_parsers() -> Iterator[SGLangParsers]:
    """SGLang's parsers, importable while the block runs (their lazy imports too); ``sys.modules`` is
    restored afterwards."""
    import importlib

    modules = _modules(extracted_source())
    saved = {name: module for name, module in sys.modules.items() if _owned(name, modules)}
    for name in saved:
        del sys.modules[name]
    sys.modules.update(modules)
    try:
        yield SGLangParsers(
            function_call_parser=importlib.import_module(
                "sglang.srt.function_call.function_call_parser"
            ).FunctionCallParser,
            reasoning_parser=importlib.import_module("sglang.srt.parser.reasoning_parser").ReasoningParser,
            protocol=importlib.import_module("sglang.srt.entrypoints.openai.protocol"),
        )
    finally:
        for name in [name for name in sys.modules if _owned(name, modules)]:
            del sys.modules[name]
        sys.modules.update(saved)


def _owned(name: str, modules: dict[str, types.ModuleType]) -> bool:
    return name in modules or name.startswith(("sglang.", "xgrammar."))
