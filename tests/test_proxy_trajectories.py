"""Trajectories out of a real ``litellm --config examples/proxy_config.yaml`` proxy: its ledger defaults to an
SQLite file that outlives it (read by ``sglang-native sessions export`` after the proxy stopped), and the proxy
serves a session's trajectories as JSONL behind its own key check."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from _support import litellm_proxy

from sglang_native_provider import proxy_export
from sglang_native_provider.emulator import Emulator
from sglang_native_provider.sessions import LedgerTurn, UnknownSessionError, open_store

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SESSION = f"proxy-export-{uuid.uuid4().hex[:8]}"
ROUTE = f"/sglang_native/sessions/{SESSION}/trajectories"


def _conversation(client: httpx.Client) -> list[dict]:
    """Two turns in one session; the assistant message goes back as a plain dict (no metadata): the ledger
    continues it. The provider_specific_fields of each answer."""
    messages = [{"role": "user", "content": "Where should I go?"}]
    fields = []
    for follow_up in ("And then?", None):
        answer = client.post("/v1/chat/completions", json={"model": "qwen3", "messages": messages})
        assert answer.status_code == 200, answer.text[:300]
        message = answer.json()["choices"][0]["message"]
        fields.append(message["provider_specific_fields"])
        messages += [{"role": "assistant", "content": message["content"]}, {"role": "user", "content": follow_up}]
    return fields


def _exports(base: str, key: str) -> dict[str, httpx.Response]:
    """The export routes as each kind of caller sees them."""
    master = {"Authorization": f"Bearer {key}"}
    calls = {
        "master": (ROUTE, master),
        "no key": (ROUTE, {}),
        "wrong key": (ROUTE, {"Authorization": f"Bearer sk-{uuid.uuid4().hex}"}),
        "unknown session": ("/sglang_native/sessions/no-such-session/trajectories", master),
        "listing": ("/sglang_native/sessions", master),
        "listing without key": ("/sglang_native/sessions", {}),
    }
    return {name: httpx.get(base + path, headers=headers, timeout=60) for name, (path, headers) in calls.items()}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One proxy run with the example config and nothing naming a store, started in a fresh directory: the
    two-turn conversation, the export routes' answers; the proxy has stopped when the tests look."""
    directory = tmp_path_factory.mktemp("proxy-cwd")
    unset = os.environ.pop(proxy_export.STORE_VARIABLE, None)
    try:
        with contextlib.chdir(directory), Emulator("qwen3") as emulator:
            emulator.script("Go to Paris.", "Then Tokyo.")
            with litellm_proxy(EXAMPLES / "proxy_config.yaml", {"SGLANG_API_BASE": emulator.url}) as (base, key):
                headers = {"Authorization": f"Bearer {key}", "X-Session-ID": SESSION}
                with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                    fields = _conversation(client)
                answers = _exports(base, key)
            prompts = [body["input_ids"] for body in emulator.requests]
    finally:
        if unset is not None:
            os.environ[proxy_export.STORE_VARIABLE] = unset
    return {"directory": directory, "fields": fields, "prompts": prompts, "answers": answers}


def test_the_master_key_reads_the_sessions_trajectory_as_jsonl(served):
    answer = served["answers"]["master"]
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    (line,) = answer.text.splitlines()
    trajectory = json.loads(line)
    first, second = served["fields"]
    assert served["prompts"] == [first["prompt_token_ids"], second["prompt_token_ids"]]
    turn = first["prompt_token_ids"] + first["completion_token_ids"]
    assert second["prompt_token_ids"][: len(turn)] == turn  # continued on the first turn's exact tokens
    assert trajectory["token_ids"] == second["prompt_token_ids"] + second["completion_token_ids"]
    assert sum(trajectory["loss_mask"]) == len(first["completion_token_ids"]) + len(second["completion_token_ids"])
    assert trajectory["session_id"] == SESSION
    assert [t["continuation"] for t in trajectory["turns"]] == ["new", "ledger"]


@pytest.mark.parametrize("caller", ["no key", "wrong key", "listing without key"])
def test_a_caller_without_a_valid_key_is_refused(served, caller):
    answer = served["answers"][caller]
    assert answer.status_code == 401, answer.text[:300]  # also without a database, where LiteLLM says 400
    assert SESSION not in answer.text


def test_an_unknown_session_is_a_404(served):
    answer = served["answers"]["unknown session"]
    assert answer.status_code == 404, answer.text[:300]
    assert "no-such-session" in answer.json()["error"]["message"]


def test_the_master_key_lists_the_sessions(served):
    answer = served["answers"]["listing"]
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json() == {"sessions": [SESSION]}


def test_the_default_ledger_outlives_the_proxy_and_the_cli_exports_it(served):
    """The example's default store, in the directory the proxy started in, read by another process after the
    proxy stopped: the same JSONL as the route gave."""
    directory = served["directory"]
    assert (directory / "sglang-native-ledger.db").is_file()
    command = [str(Path(sys.executable).with_name("sglang-native")), "sessions", "export", SESSION]
    command += ["--out", "exported.jsonl", "--store", proxy_export.DEFAULT_PROXY_STORE]
    done = subprocess.run(command, cwd=directory, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (directory / "exported.jsonl").read_text() == served["answers"]["master"].text


def _turn(session: str, number: int, owner: str | None) -> LedgerTurn:
    """A one-turn conversation of ``session`` recorded with the key ``owner`` (None: no key recorded)."""
    fields = {"prompt_token_ids": [1, 2, number], "completion_token_ids": [7, number], "sglang_request_id": str(number)}
    message = {"content": "", "reasoning": None, "tool_calls": []}
    return LedgerTurn(session, str(number), f"h{number}", message, fields, "new", user_api_key_hash=owner)


def test_a_key_reads_only_the_turns_recorded_with_it():
    session = f"owned-{uuid.uuid4().hex[:8]}"
    store = open_store("memory")
    for number, owner in enumerate(["hash-a", "hash-b", None, "hash-a"]):
        store.add(_turn(session, number, owner))
    everything = proxy_export.session_jsonl(session, ["memory"])
    assert len(everything.splitlines()) == 4  # four unrelated conversations
    owned = [json.loads(line) for line in proxy_export.session_jsonl(session, ["memory"], "hash-a").splitlines()]
    assert [line["turns"][0]["turn_id"] for line in owned] == ["0", "3"]
    with pytest.raises(UnknownSessionError):
        proxy_export.session_jsonl(session, ["memory"], "hash-c")  # as if the session did not exist
    with pytest.raises(UnknownSessionError):
        proxy_export.session_jsonl(f"{session}-other", ["memory"])


def test_the_proxy_stores_are_the_deployments_then_the_environment(monkeypatch):
    monkeypatch.setenv(proxy_export.STORE_VARIABLE, "sqlite:///tmp/from-env.db")
    deployments = [
        {"litellm_params": {"model": "sglang_native/a", "session_store": "redis://h:6379/0"}},
        {"litellm_params": {"model": "sglang_native/b"}},
        {"litellm_params": {"model": "openai/gpt", "session_store": "sqlite:///ignored.db"}},
    ]
    assert proxy_export.proxy_store_urls(deployments) == ["redis://h:6379/0", "sqlite:///tmp/from-env.db"]
    assert proxy_export.proxy_store_urls() == ["sqlite:///tmp/from-env.db"]
    monkeypatch.delenv(proxy_export.STORE_VARIABLE)
    assert proxy_export.proxy_store_urls() == ["memory"]


def test_the_master_key_reads_everything_and_a_virtual_key_its_own_turns():
    """The identity the route filters on is what LiteLLM writes as ``user_api_key_hash`` into a request's
    metadata: the hash of the virtual key."""
    from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth
    from litellm.proxy.utils import hash_token

    assert proxy_export._owner(UserAPIKeyAuth(api_key="litellm_proxy_master_key", user_role="proxy_admin")) is None
    virtual = UserAPIKeyAuth(api_key="sk-virtual-1", user_role=LitellmUserRoles.INTERNAL_USER)
    assert proxy_export._owner(virtual) == hash_token("sk-virtual-1")


def test_importing_the_module_outside_a_proxy_changes_nothing():
    code = (
        "import os, sys\nimport sglang_native_provider.proxy_export\n"
        "print(os.environ.get('SGLANG_NATIVE_SESSION_STORE'), 'fastapi' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != proxy_export.STORE_VARIABLE}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["None", "False"]
