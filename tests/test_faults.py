"""Each fault a worker can produce reaches the caller as its LiteLLM exception, and Router retries it."""

from __future__ import annotations

import litellm
import openai
import pytest

import sglang_native_provider
from sglang_native_provider.emulator import FAULT_KINDS, Emulator, Faults

EXPECTED = {
    "unavailable": litellm.ServiceUnavailableError,
    "server_error": litellm.InternalServerError,
    "slow": litellm.Timeout,
    "reset": litellm.APIConnectionError,
    "stream_drop": litellm.APIConnectionError,
    "malformed": litellm.InternalServerError,
    "abort": litellm.InternalServerError,
}
TIMEOUT = {"slow": 0.3}
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


def settings(emulator: Emulator, kind: str | None = None) -> dict:
    return {
        "model": "sglang_native/qwen3",
        "api_base": emulator.url,
        "tokenizer": "offline:qwen3",
        "max_tokens": 4,
        "timeout": TIMEOUT.get(kind, 10),
        # No probes first: each test's /generate then goes out on a new connection, where a reset is not
        # resent (on a kept-alive one the client resends it once, see test_hostile_server.py), so the calls
        # counted at the worker are exactly the caller's and the Router's.
        "server_check": False,
    }


async def _consume(response, stream: bool):
    if stream:
        return [chunk async for chunk in response]
    return response


def _unwrapped(error: Exception) -> Exception:
    """LiteLLM delivers what a stream raises as MidStreamFallbackError, keeping the provider's exception."""
    if isinstance(error, litellm.exceptions.MidStreamFallbackError):
        return error.original_exception
    return error


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("kind", FAULT_KINDS)
async def test_each_fault_reaches_the_caller_as_its_exception(kind, stream):
    async with Emulator("qwen3", faults=Faults({kind: 1.0}, slow_seconds=1.0)) as emulator:
        if kind == "stream_drop" and not stream:  # only streams can be cut between events
            response = await litellm.acompletion(messages=MESSAGES, **settings(emulator, kind))
            assert response.choices[0].finish_reason in ("stop", "length")
            assert emulator.faults.injected == {}
            return
        with pytest.raises(openai.APIError) as caught:
            await _consume(
                await litellm.acompletion(messages=MESSAGES, stream=stream, **settings(emulator, kind)), stream
            )
        error = _unwrapped(caught.value)
        assert type(error) is EXPECTED[kind], f"{kind}: {type(error).__name__}: {error}"
        assert emulator.faults.injected == {kind: 1}
        assert error.llm_provider == "sglang_native"


@pytest.mark.parametrize("kind", [kind for kind in FAULT_KINDS if kind != "stream_drop"])
async def test_router_retries_each_fault(kind):
    """One worker failing every call: Router tries once more, then raises the same exception."""
    async with Emulator("qwen3", faults=Faults({kind: 1.0}, slow_seconds=1.0)) as emulator:
        params = settings(emulator, kind)
        router = litellm.Router(
            model_list=[
                {"model_name": "qwen3", "litellm_params": {k: v for k, v in params.items() if k != "max_tokens"}}
            ],
            num_retries=1,
        )
        with pytest.raises(openai.APIError) as caught:
            await router.acompletion(model="qwen3", messages=MESSAGES, max_tokens=4)
        assert type(caught.value) is EXPECTED[kind]
        assert emulator.faults.calls == 2 == emulator.faults.injected[kind]


async def test_router_retries_a_stream_cut_before_its_end():
    async with Emulator("qwen3", faults=Faults({"stream_drop": 1.0})) as emulator:
        router = litellm.Router(
            model_list=[{"model_name": "qwen3", "litellm_params": settings(emulator)}], num_retries=1
        )
        with pytest.raises(openai.APIError) as caught:
            await _consume(await router.acompletion(model="qwen3", messages=MESSAGES, stream=True), True)
        assert type(_unwrapped(caught.value)) is litellm.APIConnectionError
        assert emulator.faults.calls == 2


async def test_bad_input_on_a_stream_is_a_bad_request_not_a_stream_failure(emulator):
    with pytest.raises(litellm.BadRequestError, match="tool_choice 'required' needs tools"):
        await litellm.acompletion(messages=MESSAGES, stream=True, tool_choice="required", **settings(emulator))
    assert emulator.faults.calls == 0


async def test_a_worker_that_dies_and_comes_back():
    async with Emulator("qwen3") as emulator:
        assert (await litellm.acompletion(messages=MESSAGES, **settings(emulator))).choices[0].message.content
        emulator.stop()
        with pytest.raises(litellm.APIConnectionError, match="Could not reach SGLang"):
            await litellm.acompletion(messages=MESSAGES, **settings(emulator))
        emulator.start()
        assert (await litellm.acompletion(messages=MESSAGES, **settings(emulator))).choices[0].message.content
        assert emulator.faults.calls == 2


def test_fault_rates_are_validated_and_seeded():
    with pytest.raises(ValueError, match="unknown fault kind"):
        Faults({"gremlins": 0.1})
    with pytest.raises(ValueError, match="sum to at most 1"):
        Faults({"reset": 0.7, "slow": 0.7})
    assert Faults.parse(["reset=0.25", "slow=0.5"]).rates == {"reset": 0.25, "slow": 0.5}
    twins = [Faults({"reset": 0.3, "abort": 0.3}, seed=7) for _ in range(2)]
    assert [twins[0].draw(stream=False) for _ in range(50)] == [twins[1].draw(stream=False) for _ in range(50)]
    faults = Faults({"reset": 0.2, "unavailable": 0.1}, seed=1)
    drawn = [faults.draw(stream=False) for _ in range(2000)]
    assert 300 < drawn.count("reset") < 500 and 120 < drawn.count("unavailable") < 280
    assert sum(faults.injected.values()) == sum(kind is not None for kind in drawn)
