"""sglang-native-provider: a LiteLLM provider for SGLang's native ``/generate`` API.

``register()`` makes ``sglang_native/<model>`` models available to ``litellm.completion``,
``litellm.acompletion`` and ``Router``.

The public names load on first use (PEP 562), so that the emulator and the ``sglang-native`` command do not
import LiteLLM. Before this package first imports LiteLLM, ``LITELLM_LOCAL_MODEL_COST_MAP`` defaults to true:
LiteLLM would otherwise fetch its model cost map from the network at import.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

if TYPE_CHECKING:
    from .config import DeploymentConfig
    from .provider import SGLangNativeProvider, handler, register
    from .trajectory import Trajectory, TrajectoryError

__all__ = ["DeploymentConfig", "SGLangNativeProvider", "Trajectory", "TrajectoryError", "handler", "register"]

__version__ = "0.1.0"

_HOMES = {
    "DeploymentConfig": "config",
    "SGLangNativeProvider": "provider",
    "handler": "provider",
    "register": "provider",
    "Trajectory": "trajectory",
    "TrajectoryError": "trajectory",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
