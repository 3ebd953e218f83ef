"""Info, health, cache and auth endpoints (SGLang 0.5.23 ``srt/entrypoints/http_server.py``,
``srt/utils/auth.py``)."""

from __future__ import annotations

import logging

import httpx
import pytest

from sglang_native_provider.emulator import Emulator

SECRET = "sk-emulator-secret-123"


@pytest.mark.parametrize("path", ["/health", "/health_generate", "/ready"])
async def test_health_endpoints_answer_200_with_no_body(client, path):
    response = await client.get(path)
    assert response.status_code == 200 and response.content == b""


@pytest.mark.parametrize("path", ["/model_info", "/get_model_info"])
async def test_model_info(client, path):
    info = (await client.get(path)).json()
    assert info["model_path"] == "qwen3" and info["served_model_name"] == "qwen3"
    assert info["is_generation"] is True and info["weight_version"] == "default"
    assert {"tokenizer_path", "preferred_sampling_params", "tool_call_parser", "reasoning_parser"} <= set(info)


@pytest.mark.parametrize("path", ["/server_info", "/get_server_info"])
async def test_server_info(client, emulator, path):
    info = (await client.get(path)).json()
    assert info["version"] == "0.5.23"
    assert info["port"] == int(emulator.url.rsplit(":", 1)[1])
    assert info["incremental_streaming_output"] is False
    # Real SGLang reports the --context-length argument (none given) and has no max_context_length key.
    assert info["context_length"] is None and "max_context_length" not in info


async def test_models_list(client):
    listing = (await client.get("/v1/models")).json()
    assert listing["object"] == "list"
    (card,) = listing["data"]
    assert card["id"] == "qwen3" and card["owned_by"] == "sglang" and card["max_model_len"] == 40960


async def test_flush_cache_text(client):
    response = await client.get("/flush_cache")
    assert response.status_code == 200 and response.text.startswith("Cache flushed.\n")


async def test_served_model_name_and_parsers_are_reported():
    async with (
        Emulator(
            "qwen3", served_model_name="Qwen/Qwen3-8B", tool_call_parser="qwen25", reasoning_parser="qwen3"
        ) as emu,
        httpx.AsyncClient(base_url=emu.url) as http,
    ):
        info = (await http.get("/model_info")).json()
    assert info["served_model_name"] == "Qwen/Qwen3-8B"
    assert (info["tool_call_parser"], info["reasoning_parser"]) == ("qwen25", "qwen3")


async def test_api_key_is_enforced_like_sglang(caplog):
    caplog.set_level(logging.DEBUG)
    async with Emulator("qwen3", api_key=SECRET) as emu, httpx.AsyncClient(base_url=emu.url) as http:
        body = {"text": "x", "sampling_params": {"max_new_tokens": 1}}
        missing = await http.post("/generate", json=body)
        wrong = await http.post("/generate", json=body, headers={"Authorization": "Bearer nope"})
        not_bearer = await http.post("/generate", json=body, headers={"Authorization": SECRET})
        right = await http.post("/generate", json=body, headers={"Authorization": f"Bearer {SECRET}"})
        info = await http.get("/model_info")
        health = await http.get("/health")
        assert SECRET not in repr(emu)
    for response in (missing, wrong, not_bearer, info):
        assert response.status_code == 401 and response.json() == {"error": "Unauthorized"}
    assert right.status_code == 200 and health.status_code == 200
    assert SECRET not in caplog.text
