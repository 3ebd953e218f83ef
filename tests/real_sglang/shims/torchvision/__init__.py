"""Stand-in for ``torchvision`` (ours, not torchvision): PyPI's wheel does not load with the CPU torch build.

SGLang imports torchvision at module load for multimodal models (``srt/multimodal/internvl_utils.py``) and
transformers imports ``torchvision.io`` / ``torchvision.transforms.v2`` once it finds the package. Every
``torchvision.*`` module here is generated on import; its names are placeholder classes (attribute access,
hashing and subclassing work) whose construction or call raises, so no text-only path can use one silently.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

__version__ = "0.28.0"  # transformers compares it; torch 2.13's torchvision line


class _PlaceholderMeta(type):
    def __getattr__(cls, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _placeholder(f"{cls.__qualname__}.{name}")

    def __call__(cls, *args, **kwargs):
        raise NotImplementedError(f"{cls.__qualname__} is a torchvision stand-in in the real-SGLang test tier")


def _placeholder(qualname: str) -> type:
    return _PlaceholderMeta(qualname.rsplit(".", 1)[-1], (), {"__qualname__": qualname, "__module__": __name__})


def _module_getattr(module_name: str):
    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _placeholder(f"{module_name}.{name}")

    return __getattr__


class _StandInLoader(importlib.abc.Loader):
    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = _module_getattr(spec.name)
        return module

    def exec_module(self, module) -> None:
        return None


class _StandInFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(f"{__name__}."):
            return importlib.machinery.ModuleSpec(fullname, _StandInLoader(), is_package=True)
        return None


sys.meta_path.insert(0, _StandInFinder())
__getattr__ = _module_getattr(__name__)
