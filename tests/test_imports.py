"""What importing the package costs: the emulator and the CLI never import LiteLLM, and the provider never
makes network calls at import (LiteLLM's cost map comes from its local copy). Each check runs in a fresh
interpreter, since this test process has imported everything already."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

# Any DNS lookup or connection attempt in the child, except to loopback, is recorded and refused.
_NO_NETWORK = """
import socket, sys
attempts = []
_LOOPBACK = ("127.0.0.1", "localhost")
def _guard(original):
    def guarded(*args, **kwargs):
        target = args[0] if args else None
        host = target[0] if isinstance(target, tuple) else target
        if host in _LOOPBACK:
            return original(*args, **kwargs)
        attempts.append(host)
        raise OSError("network disabled by the test")
    return guarded
socket.getaddrinfo = _guard(socket.getaddrinfo)
socket.create_connection = _guard(socket.create_connection)
_connect = socket.socket.connect
socket.socket.connect = lambda self, *args: _guard(lambda *a: _connect(self, *a))(*args)
"""


def _run(code: str, *, no_network: bool = True) -> str:
    """Run ``code`` in a fresh interpreter (without ``LITELLM_LOCAL_MODEL_COST_MAP``); its stdout and stderr."""
    env = {key: value for key, value in os.environ.items() if key != "LITELLM_LOCAL_MODEL_COST_MAP"}
    completed = subprocess.run(
        [sys.executable, "-c", (_NO_NETWORK if no_network else "import sys\n") + textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout + completed.stderr


def test_the_emulator_imports_neither_litellm_nor_the_provider():
    out = _run(
        """
        import sglang_native_provider.emulator
        from sglang_native_provider.emulator import Emulator, Faults
        loaded = sorted(name for name in sys.modules if name.split(".")[0] == "litellm")
        provider = [name for name in ("provider", "request", "response", "streaming", "errors", "templating",
                                      "messages", "tokenizer_loading", "session", "client", "transport")
                    if f"sglang_native_provider.{name}" in sys.modules]
        print(len(loaded), provider, attempts)
        """
    )
    assert out.split() == ["0", "[]", "[]"]


def test_the_emulator_and_an_offline_recipe_load_without_transformers():
    """Importing transformers takes seconds; the emulator's offline tokenizers do without it (a built recipe
    is loaded with ``tokenizers`` and its template rendered with Jinja). The emulator starts in about a second."""
    from sglang_native_provider.offline_tokenizers import build_tokenizer

    build_tokenizer("qwen3")  # built (with transformers) once, here, not in the child
    out = _run(
        """
        import sglang_native_provider.emulator
        from sglang_native_provider.emulator import Emulator, load_emulator_tokenizer
        tokenizer = load_emulator_tokenizer("qwen3")
        ids = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True,
                                            return_dict=False)
        emulator = Emulator("qwen3")
        text = tokenizer.decode(ids, skip_special_tokens=True).split()
        late = [name for name in ("transformers", "litellm", "pydantic") if name in sys.modules]
        print(late, text, attempts)
        """
    )
    # pydantic (FastAPI's body validation) is imported by the first /generate, not at start
    assert out.split() == ["[]", "['user',", "'hi',", "'assistant']", "[]"]


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


README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_snippet_runs_as_written_offline(emulator, qwen3_tokenizer):
    """The "Use it" snippet, pasted into a script: asyncio.run, an offline tokenizer, no network but the server,
    ``reasoning_content`` readable when there is none, and nothing printed by LiteLLM."""
    snippet = re.search(r"<!-- use-it -->\n```python\n(.+?)```\n<!-- /use-it -->", README.read_text(), re.S)
    assert snippet, "README.md lost its use-it block"
    assert "http://127.0.0.1:30000" in snippet.group(1)
    emulator.script("It is sunny.")
    code = snippet.group(1).replace("http://127.0.0.1:30000", emulator.url) + "\nprint('attempts', attempts)\n"
    out = _run(code)
    ids = [*qwen3_tokenizer.encode("It is sunny.", add_special_tokens=False), 151645]
    assert out.splitlines()[:3] == ["It is sunny. None", str(ids), "attempts []"], out
    assert "Provider List" not in out and "cost map" not in out


def test_chat_help_names_offline_tokenizers():
    out = _run(
        """
        from sglang_native_provider.cli import main
        try:
            main(["chat", "--help"])
        except SystemExit:
            pass
        """
    )
    assert "offline:qwen3" in " ".join(out.split())
