"""sglang-native-provider: a LiteLLM provider for SGLang's native ``/generate`` API.

``register()`` makes ``sglang_native/<model>`` models available to ``litellm.completion``,
``litellm.acompletion`` and ``Router``.
"""

from .config import DeploymentConfig
from .provider import SGLangNativeProvider, handler, register

__all__ = ["DeploymentConfig", "SGLangNativeProvider", "handler", "register"]

__version__ = "0.1.0"
