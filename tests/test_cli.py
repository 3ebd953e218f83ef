"""The ``sglang-native`` command as a user runs it."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import httpx
from _support import free_port, wait_until_serving

from sglang_native_provider.cli import main
from sglang_native_provider.demo import SCRIPTED_TURNS, run_chat, run_demo
from sglang_native_provider.emulator import Emulator

ENV = {**os.environ, "TRANSFORMERS_VERBOSITY": "error", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def test_demo_runs_a_two_turn_tool_conversation_through_the_router(monkeypatch):
    monkeypatch.delenv("SGLANG_API_BASE", raising=False)
    out = io.StringIO()
    assert run_demo(api_base=None, api_key=None, out=out) == 0
    text = out.getvalue()
    assert "<|im_start|>user\nWhat is the weather like in Paris today?<|im_end|>" in text
    assert "Tool call: get_weather({'city': 'Paris'})" in text
    assert "Answer: It is sunny in Paris today, about 24 °C." in text
    assert "Reasoning: The tool says sunny and 24 °C." in text
    assert "'<|im_end|>'" in text and "151645" in text  # the EOS row of the token table


def test_demo_against_a_given_server_with_api_key():
    with Emulator("qwen3", api_key="sk-demo") as emu:
        emu.script(*SCRIPTED_TURNS)
        out = io.StringIO()
        assert run_demo(api_base=emu.url, api_key="sk-demo", out=out) == 0
        assert "embedded SGLang emulator" not in out.getvalue()
        assert "Answer: It is sunny in Paris today" in out.getvalue()
        assert len(emu.requests) == 2


def test_demo_with_a_wrong_key_reports_the_error():
    with Emulator("qwen3", api_key="sk-demo") as emu:
        result = subprocess.run(
            [sys.executable, "-m", "sglang_native_provider.cli", "demo", "--api-base", emu.url, "--api-key", "sk-bad"],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert "AuthenticationError" in result.stderr and "sk-bad" not in result.stderr


def test_chat_against_a_real_server_without_a_tool_call(qwen3_tokenizer):
    from sglang_native_provider.offline_tokenizers import build_tokenizer

    with Emulator("qwen3", served_model_name="Qwen/Qwen3-8B") as emu:
        emu.script("I cannot check the weather.")
        out = io.StringIO()
        code = run_chat(
            api_base=emu.url, api_key=None, model="Qwen/Qwen3-8B", tokenizer=str(build_tokenizer("qwen3")), out=out
        )
    assert code == 0
    assert "Answer (no tool call): I cannot check the weather." in out.getvalue()


def test_chat_reports_an_unreachable_server():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sglang_native_provider.cli",
            "chat",
            "--api-base",
            f"http://127.0.0.1:{free_port()}",
            "--model",
            "qwen3",
            "--tokenizer",
            "offline:qwen3",
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "APIConnectionError" in result.stderr and "Could not reach SGLang" in result.stderr


def test_build_tokenizer_prints_its_directory(capsys):
    assert main(["build-tokenizer", "qwen3"]) == 0
    directory = capsys.readouterr().out.strip()
    assert os.path.isfile(os.path.join(directory, "tokenizer.json"))


def test_emulate_command_serves_sglang_on_the_given_port_with_faults():
    port = free_port()
    command = ["emulate", "--tokenizer", "qwen3", "--port", str(port), "--fault", "unavailable=0.5"]
    process = subprocess.Popen(
        [sys.executable, "-m", "sglang_native_provider.cli", *command],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/health", process, timeout=60)
        answers = [
            httpx.post(
                f"http://127.0.0.1:{port}/generate", json={"text": "hi", "sampling_params": {"max_new_tokens": 3}}
            )
            for _ in range(20)
        ]
        assert {answer.status_code for answer in answers} == {200, 503}
        assert all(a.json()["meta_info"]["completion_tokens"] == 3 for a in answers if a.status_code == 200)
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_emulate_command_refuses_unknown_faults(capsys):
    assert main(["emulate", "--fault", "gremlins=0.1"]) == 2
    assert "unknown fault kind(s) ['gremlins']" in capsys.readouterr().err
