"""The ``sglang-native`` command as a user runs it."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time

import httpx

from sglang_native_provider.cli import main
from sglang_native_provider.demo import DEMO_MESSAGES, SCRIPTED_ANSWER, render_prompt_ids, run_demo
from sglang_native_provider.emulator import Emulator

ENV = {**os.environ, "TRANSFORMERS_VERBOSITY": "error"}


def test_demo_prints_prompt_ids_completion_and_logprobs(qwen3_tokenizer):
    out = io.StringIO()
    assert run_demo(api_base=None, api_key=None, out=out) == 0
    text = out.getvalue()
    prompt_ids = render_prompt_ids(qwen3_tokenizer, DEMO_MESSAGES)
    assert f"Prompt token ids ({len(prompt_ids)}): {prompt_ids}" in text
    assert f"Completion text: {SCRIPTED_ANSWER!r}" in text
    answer_ids = [*qwen3_tokenizer.encode(SCRIPTED_ANSWER, add_special_tokens=False), 151645]
    assert f"Completion token ids ({len(answer_ids)}): {answer_ids}" in text
    assert "'<|im_end|>'" in text and "151645" in text  # the EOS row of the logprob table


def test_demo_against_a_given_server_with_api_key():
    with Emulator("qwen3", api_key="sk-demo") as emu:
        emu.script("Remote answer.")
        out = io.StringIO()
        assert run_demo(api_base=emu.url, api_key="sk-demo", out=out) == 0
        assert "Completion text: 'Remote answer.'" in out.getvalue()
        assert "embedded SGLang emulator" not in out.getvalue()
        refused = io.StringIO()
        assert run_demo(api_base=emu.url, api_key="sk-wrong", out=refused) == 1
        assert "SGLang answered 401" in refused.getvalue()


def test_demo_reports_an_unreachable_server():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = io.StringIO()
    assert run_demo(api_base=f"http://127.0.0.1:{port}", api_key=None, out=out) == 1
    assert "Could not reach SGLang" in out.getvalue()


def test_build_tokenizer_prints_its_directory(capsys):
    assert main(["build-tokenizer", "qwen3"]) == 0
    directory = capsys.readouterr().out.strip()
    assert os.path.isfile(os.path.join(directory, "tokenizer.json"))


def test_emulate_command_serves_sglang_on_the_given_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "sglang_native_provider.cli", "emulate", "--tokenizer", "qwen3", "--port", str(port)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "emulator did not come up"
            time.sleep(0.2)
        answer = httpx.post(
            f"http://127.0.0.1:{port}/generate", json={"text": "hi", "sampling_params": {"max_new_tokens": 3}}
        ).json()
        assert answer["meta_info"]["completion_tokens"] == 3
    finally:
        process.terminate()
        process.wait(timeout=20)
