"""What importing the package costs: the emulator and the CLI never import LiteLLM, and the provider never
makes network calls at import (LiteLLM's cost map comes from its local copy). Each check runs in a fresh
interpreter, since this test process has imported everything already."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# Any DNS lookup or connection attempt in the child is recorded and refused.
_NO_NETWORK = """
import socket, sys
attempts = []
def _refuse(*args, **kwargs):
    attempts.append(args[:1])
    raise OSError("network disabled by the test")
socket.getaddrinfo = _refuse
socket.create_connection = _refuse
socket.socket.connect = lambda self, *args: _refuse(*args)
"""


def _run(code: str, *, no_network: bool = True) -> str:
    env = {key: value for key, value in os.environ.items() if key != "LITELLM_LOCAL_MODEL_COST_MAP"}
    completed = subprocess.run(
        [sys.executable, "-c", (_NO_NETWORK if no_network else "import sys\n") + textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def test_the_emulator_imports_neither_litellm_nor_the_provider():
    out = _run(
        """
        import sglang_native_provider.emulator
        from sglang_native_provider.emulator import Emulator, Faults
        loaded = sorted(name for name in sys.modules if name.split(".")[0] == "litellm")
        provider = [name for name in ("provider", "response", "streaming", "errors", "templating", "client")
                    if f"sglang_native_provider.{name}" in sys.modules]
        print(len(loaded), provider, attempts)
        """
    )
    assert out.split() == ["0", "[]", "[]"]


def test_a_running_emulator_answers_generate_without_litellm():
    out = _run(
        """
        import json, urllib.request
        from sglang_native_provider.emulator import Emulator
        with Emulator("qwen3") as emu:
            emu.script("Hi.")
            body = json.dumps({"input_ids": [151644, 872, 198], "sampling_params": {"max_new_tokens": 4}}).encode()
            request = urllib.request.Request(f"{emu.url}/generate", data=body, method="POST")
            text = json.loads(urllib.request.urlopen(request, timeout=30).read())["text"]
        print(text, "litellm" in sys.modules)
        """,
        no_network=False,
    )
    assert out.split() == ["Hi.", "False"]


def test_cli_help_imports_no_litellm():
    out = _run(
        """
        import contextlib, io
        from sglang_native_provider.cli import main
        for argv in (["--help"], ["emulate", "--help"], ["chat", "--help"]):
            with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
                main(argv)
        print("litellm" in sys.modules, attempts)
        """
    )
    assert out.split() == ["False", "[]"]


def test_the_provider_imports_litellm_without_network_calls_and_registers():
    out = _run(
        """
        import os
        import sglang_native_provider
        assert "litellm" not in sys.modules
        handler = sglang_native_provider.register()
        import litellm
        registered = [entry["provider"] for entry in litellm.custom_provider_map]
        same = handler is sglang_native_provider.handler
        print(os.environ["LITELLM_LOCAL_MODEL_COST_MAP"], registered, attempts, same)
        """
    )
    assert out.split() == ["True", "['sglang_native']", "[]", "True"]


def test_public_names_resolve_lazily():
    out = _run(
        """
        import sglang_native_provider as package
        names = [name for name in package.__all__ if getattr(package, name) is not None]
        print(names == package.__all__, set(package.__all__) <= set(dir(package)))
        try:
            package.nothing_here
        except AttributeError as error:
            print("AttributeError", "nothing_here" in str(error))
        """
    )
    assert out.split() == ["True", "True", "AttributeError", "True"]
