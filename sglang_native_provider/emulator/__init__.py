"""An SGLang-compatible test server: SGLang's native HTTP API with a real tokenizer and a fake model.

See :class:`Emulator`. The wire format follows SGLang 0.5.23 (``SGLANG_VERSION``).
"""

from .faults import FAULT_KINDS, Faults
from .model import ScriptedCompletion
from .routing import FakeMoe
from .runner import Emulator, load_emulator_tokenizer
from .server_info import SGLANG_VERSION

__all__ = [
    "FAULT_KINDS",
    "SGLANG_VERSION",
    "Emulator",
    "FakeMoe",
    "Faults",
    "ScriptedCompletion",
    "load_emulator_tokenizer",
]
