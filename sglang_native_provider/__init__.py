"""sglang-native-provider: a LiteLLM provider for SGLang's native ``/generate`` API.

``register()`` makes ``sglang_native/<model>`` models available to ``litellm.completion``,
``litellm.acompletion`` and ``Router``.
"""

from .config import DeploymentConfig
from .provider import SGLangNativeProvider, handler, register
from .trajectory import Trajectory, TrajectoryError

__all__ = ["DeploymentConfig", "SGLangNativeProvider", "Trajectory", "TrajectoryError", "handler", "register"]

__version__ = "0.1.0"
