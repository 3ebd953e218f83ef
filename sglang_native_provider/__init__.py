"""sglang-native-provider: a LiteLLM provider for SGLang's native ``/generate`` API."""

__version__ = "0.1.0"
